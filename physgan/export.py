"""Export a trained model into `saved_models/`: weights only (no optimizer
state), optionally with an int8 generator, plus an entry in the index.

    python -m physgan.export runs/calogan-eplus-.../ --quantize int8 \\
        --out saved_models/calogan_eplus.keras --metrics eval/metrics.json
    python -m physgan.export RUN --epoch 700:800:10 --out saved_models/mpd_wgan_tpc.keras
        # the average of the 11 checkpoints kept after epochs 700, 710, ..., 800

The index (`index.json` beside the exported file) records, per file, the
model and its config, the training data (path, SHA-256, events), the held-out
events (train.py --holdout), the run it started from (--init-from), epochs,
steps, training wall time, backend and versions from the run's config.json,
the file size, and, when `--metrics` is given, the evaluation metrics of
`python -m physgan.evaluate --run RUN --out DIR` with its figures, copied into
`figures/` beside the exported file as `<name>_<figure>.png`
(`python watch_results.py --shipped` lists them).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from physgan.cli import run_command


def _shipped_metrics(path, out: Path) -> tuple[dict | None, list[str]]:
    """Returns (metrics, figure paths relative to out's folder) after copying the
    evaluation's figures into out's folder/figures as <out stem>_<figure>."""
    from physgan.errors import DataError
    from physgan.fileio import atomic_path

    if path is None:
        return None, []
    metrics = json.loads(Path(path).read_text())
    figures = []
    for figure in map(Path, metrics.pop("figures", [])):  # paths on the evaluating machine
        if not figure.exists():
            figure = Path(path).parent / figure.name
        if not figure.exists():
            raise DataError(f"physgan: {figure.name}, a figure of {path}, is neither where it says nor beside it")
        relative = Path("figures") / f"{out.stem}_{figure.name}"
        with atomic_path(out.parent / relative) as tmp:
            shutil.copyfile(figure, tmp)
        figures.append(relative.as_posix())
    return metrics, figures


def parse_epochs(specs: list[str]) -> list[int]:
    """Returns the epochs of `--epoch` arguments: numbers, or FIRST:LAST:STEP ranges (LAST included)."""
    from physgan.errors import ConfigError

    epochs = []
    for spec in specs:
        try:
            parts = [int(p) for p in spec.split(":")]
        except ValueError:
            raise ConfigError(f"--epoch {spec}: give epoch numbers or FIRST:LAST:STEP") from None
        if len(parts) == 1:
            epochs.append(parts[0])
        elif len(parts) == 3 and parts[2] > 0 and parts[1] >= parts[0]:
            epochs += list(range(parts[0], parts[1] + 1, parts[2]))
        else:
            raise ConfigError(f"--epoch {spec}: a range is FIRST:LAST:STEP with LAST >= FIRST and STEP > 0")
    return sorted(set(epochs))


def averaged_checkpoints(run_dir: Path, config: dict, epochs: list[int]):
    """Returns the model of the first kept checkpoint of `epochs` with every float weight
    replaced by its mean over all of them (Polyak averaging of GAN checkpoints,
    arXiv:1806.04498: it damps the epoch-to-epoch swings of adversarial training)."""
    import keras
    import numpy as np

    import physgan
    from physgan.artifacts import run_model_file

    models = [physgan.load(run_model_file(run_dir, config, epoch), compile=False) for epoch in epochs]
    for i, variable in enumerate(models[0].weights):
        if "float" in str(variable.dtype):
            variable.assign(np.mean([keras.ops.convert_to_numpy(m.weights[i]) for m in models], axis=0))
    return models[0]


def export_model(run_dir: str | Path, out: str | Path, quantize: str | None = None,
                 metrics: str | Path | None = None, epochs: list[int] | None = None,
                 sample_steps: int | None = None) -> Path:
    """Returns `out` after writing the run's final model there and indexing it; with
    `epochs`, the checkpoint kept after that epoch, or the average of several; with
    `sample_steps`, a flow model's default ODE steps of generation set to it."""
    import physgan
    from physgan.artifacts import read_run_config, save_model, write_json
    from physgan.datasets import file_sha256
    from physgan.errors import ConfigError

    run_dir, out = Path(run_dir), Path(out)
    config = read_run_config(run_dir)
    if epochs:
        model = averaged_checkpoints(run_dir, config, epochs)
    else:
        model = physgan.load(run_dir / f"{config['model']}.keras", compile=False)
    if quantize:
        if not hasattr(model, "quantize_generator"):
            raise ConfigError(f"model {config['model']!r} has no generator quantization")
        model.quantize_generator(quantize)
    if sample_steps is not None:
        if not hasattr(model, "steps"):
            raise ConfigError(f"--sample-steps applies to flow models (calo_flow), not {config['model']!r}")
        model.steps = model._checked_steps(sample_steps)
    save_model(model, out)
    metrics, figures = _shipped_metrics(metrics, out)
    index_path = out.parent / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    index[out.name] = {
        "model": config["model"],
        "dataset": config.get("dataset"),
        "particle": config.get("flags", {}).get("particle"),
        "model_config": model.get_config(),
        "data": {"file": Path(config["data_path"]).name, "sha256": config["data_sha256"],
                 "n_events": config["n_events"]},
        "epochs": max(epochs) if epochs else config.get("epochs_done"),
        "epochs_trained": config.get("epochs_done"),
        "averaged_epochs": epochs if epochs and len(epochs) > 1 else None,
        "batch_size": config.get("batch_size"),
        "steps_per_epoch": config.get("steps_per_epoch"),
        "held_out": config.get("holdout"),
        "init_from": config.get("init_from"),
        "train_seconds": config.get("train_seconds"),
        "trained_with": config.get("versions"),
        "started": config.get("started"),
        "finished": config.get("finished"),
        "generator_quantization": quantize,
        "bytes": out.stat().st_size,
        "sha256": file_sha256(out),
        "metrics": metrics,
        "figures": figures,
    }
    write_json(index_path, index)
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m physgan.export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", help="finished training run directory (holds config.json and MODEL.keras)")
    parser.add_argument("--out", required=True, help="the .keras file to write (its folder gets index.json)")
    parser.add_argument("--quantize", choices=("int8", "float8"), help="quantize the generator's Dense layers")
    parser.add_argument("--epoch", nargs="+", metavar="N", help="export the checkpoint kept after epoch N (train.py --keep-every) instead of the final model; several epochs, or FIRST:LAST:STEP, export the average of their weights (Polyak averaging, arXiv:1806.04498)")
    parser.add_argument("--metrics", help="metrics.json of `python -m physgan.evaluate` to store in the index")
    parser.add_argument("--sample-steps", type=int, help="flow models (calo_flow): the ODE steps the exported model's sample() takes by default (benchmarks/flow_generation.py measures the fidelity cost)")
    parser.add_argument("--backend", choices=("tensorflow", "jax", "torch"), help="Keras backend used for the export")
    return parser


def _run(args: argparse.Namespace) -> None:
    path = export_model(args.run_dir, args.out, args.quantize, args.metrics, parse_epochs(args.epoch or []),
                        args.sample_steps)
    print(f"physgan: exported {path} ({path.stat().st_size / 1e6:.1f} MB)")


def main(argv=None) -> int:
    return run_command(build_parser(), argv, _run)


if __name__ == "__main__":
    sys.exit(main())
