"""Export a trained model into `saved_models/`: weights only (no optimizer
state), optionally with an int8 generator, plus an entry in the index.

    python -m physgan.export runs/calogan-eplus-.../ --quantize int8 \\
        --out saved_models/calogan_eplus_int8.keras --metrics eval/metrics.json

The index (`index.json` beside the exported file) records, per file, the
model and its config, the training data (path, SHA-256, events), the held-out
events (train.py --holdout), the run it started from (--init-from), epochs,
steps, training wall time, backend and versions from the run's config.json,
the file size, and the
evaluation metrics of `python -m physgan.evaluate` when `--metrics` is given.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from physgan.cli import run_command


def _metrics_without_figures(path) -> dict | None:
    if path is None:
        return None
    metrics = json.loads(Path(path).read_text())
    metrics.pop("figures", None)  # paths on the exporting machine
    return metrics


def export_model(run_dir: str | Path, out: str | Path, quantize: str | None = None,
                 metrics: str | Path | None = None) -> Path:
    """Returns `out` after writing the run's final model there and indexing it."""
    import physgan
    from physgan.artifacts import read_run_config, save_model, write_json
    from physgan.datasets import file_sha256
    from physgan.errors import ConfigError

    run_dir, out = Path(run_dir), Path(out)
    config = read_run_config(run_dir)
    model = physgan.load(run_dir / f"{config['model']}.keras", compile=False)
    if quantize:
        if not hasattr(model, "quantize_generator"):
            raise ConfigError(f"model {config['model']!r} has no generator quantization")
        model.quantize_generator(quantize)
    save_model(model, out)
    index_path = out.parent / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    index[out.name] = {
        "model": config["model"],
        "dataset": config.get("dataset"),
        "particle": config.get("flags", {}).get("particle"),
        "model_config": model.get_config(),
        "data": {"file": Path(config["data_path"]).name, "sha256": config["data_sha256"],
                 "n_events": config["n_events"]},
        "epochs": config.get("epochs_done"),
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
        "metrics": _metrics_without_figures(metrics),
    }
    write_json(index_path, index)
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m physgan.export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", help="finished training run directory (holds config.json and MODEL.keras)")
    parser.add_argument("--out", required=True, help="the .keras file to write (its folder gets index.json)")
    parser.add_argument("--quantize", choices=("int8", "float8"), help="quantize the generator's Dense layers")
    parser.add_argument("--metrics", help="metrics.json of `python -m physgan.evaluate` to store in the index")
    parser.add_argument("--backend", choices=("tensorflow", "jax", "torch"), help="Keras backend used for the export")
    return parser


def _run(args: argparse.Namespace) -> None:
    path = export_model(args.run_dir, args.out, args.quantize, args.metrics)
    print(f"physgan: exported {path} ({path.stat().st_size / 1e6:.1f} MB)")


def main(argv=None) -> int:
    return run_command(build_parser(), argv, _run)


if __name__ == "__main__":
    sys.exit(main())
