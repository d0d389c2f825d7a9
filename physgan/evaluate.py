"""Evaluate generated calorimeter showers against a Geant4 reference (CaloChallenge-style).

    python -m physgan.evaluate GENERATED.h5 REFERENCE.h5 --out eval/
    python -m physgan.evaluate showers.h5 ../shared/data/calogan_eplus.h5 --max-events 10000
    python -m physgan.evaluate --run runs/calogan-eplus-... --out eval/

With --run, the reference is the run's held-out events (train.py --holdout N: the
last N of its data file, never trained on) and the run's model generates as many
events for the same conditions (incident energies).

Prints a table of the separation power of every observable, FPD and KPD on
the observables (with uncertainties), and the classifier AUCs (low-level on
cells / E_incident, high-level on the observables); writes metrics.json and
the figures into --out. Both files are of one data set with an evaluation suite:
- calogan: the CaloGAN HDF5 layout (the paper's shower shapes);
- ild: the ILD Getting High layout (30x30x30 showers; 3D observables and profiles);
- mpd_tpc: MPD TPC digits CSV (8x8 pad x time responses; the original notebooks'
  observables and the mean response);
- zdc: ZDC responses (44x44 photon counts; CorrVAE's 9 properties, the mean response);
- digits, mnist, larcv: single-channel images (intensity, hits, centroids and widths,
  the mean image; for labelled digits a digit classifier's confidence and diversity).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from physgan.cli import run_command
from physgan.errors import ConfigError, DataError


def _suite(reference, generated):
    """Returns (data set, its Evaluation) of two event sets of one data set; DataError otherwise."""
    from physgan.datasets import dataset_of, list_datasets

    dataset, other = dataset_of(reference), dataset_of(generated)
    if other is not dataset:
        raise DataError(f"generated and reference events are of different data sets "
                        f"({other.name} vs {dataset.name})")
    if dataset.evaluation is None:
        suites = ", ".join(d.name for d in list_datasets() if d.evaluation is not None)
        raise DataError(f"the {dataset.name} data set has no evaluation suite yet (available for: {suites})")
    return dataset, dataset.evaluation


def evaluate(generated, reference, out_dir: str | Path | None = None, classifier: bool = True,
             seed: int = 0, log=print) -> dict:
    """Returns the metrics of `generated` against `reference` (events of one data set
    with an evaluation suite: CaloShowers, IldShowers, TPCEvents, ZdcData, images); with `out_dir`, also writes
    metrics.json and the figures there."""
    from physgan.metrics.classifier import classifier_auc
    from physgan.metrics.distances import (
        common_bins,
        frechet_physics_distance,
        kernel_physics_distance,
        separation_power,
    )

    dataset, suite = _suite(reference, generated)
    start = time.perf_counter()
    real, fake = suite.observables(reference), suite.observables(generated)
    metrics = {"dataset": dataset.name, "n_reference": len(reference), "n_generated": len(generated),
               "separation_power": {}}
    for name, style in suite.catalogue.items():
        if name in real and name in fake:
            bins = common_bins(real[name], fake[name], 50, log=style.log_x)
            metrics["separation_power"][name] = separation_power(real[name], fake[name], bins)
    real_matrix, fake_matrix = suite.matrix(real), suite.matrix(fake)
    metrics["fpd"], metrics["fpd_error"] = frechet_physics_distance(real_matrix, fake_matrix, seed=seed)
    metrics["kpd"], metrics["kpd_error"] = kernel_physics_distance(real_matrix, fake_matrix, seed=seed)
    if suite.extra_metrics is not None:
        metrics["extra"] = suite.extra_metrics(reference, generated)
    log(f"physgan: observables, FPD, KPD in {time.perf_counter() - start:.1f} s")
    if classifier:
        for level, (a, b) in {
            "low_level": (suite.low_level(reference), suite.low_level(generated)),
            "high_level": (real_matrix, fake_matrix),
        }.items():
            tick = time.perf_counter()
            metrics[f"classifier_{level}"] = classifier_auc(a, b, seed=seed).to_dict()
            log(f"physgan: {level} classifier AUC {metrics[f'classifier_{level}']['auc']:.3f} "
                f"in {time.perf_counter() - tick:.1f} s")
    metrics["seconds"] = time.perf_counter() - start
    if out_dir is not None:
        from physgan.artifacts import write_json

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        metrics["figures"] = [str(p) for p in dataset.figures(reference, generated, out_dir)]
        write_json(out_dir / "metrics.json", metrics)
    return metrics


def format_table(metrics: dict) -> str:
    """Returns the printed summary of `evaluate`'s metrics."""
    lines = [f"{'observable':<26} separation power"]
    for name, value in sorted(metrics["separation_power"].items(), key=lambda kv: -kv[1]):
        lines.append(f"{name:<26} {value:.4f}")
    lines.append(f"FPD = {metrics['fpd']:.4f} +- {metrics['fpd_error']:.4f}   "
                 f"KPD = {metrics['kpd']:.5f} +- {metrics['kpd_error']:.5f}")
    for name, value in metrics.get("extra", {}).items():
        lines.append(f"{name} = {value:.4f}")
    for level in ("low_level", "high_level"):
        result = metrics.get(f"classifier_{level}")
        if result:
            lines.append(f"classifier ({level.replace('_', '-')}): AUC = {result['auc']:.3f}, "
                         f"JSD = {result['jsd']:.3f} on {result['n_test']} test events")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m physgan.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("generated", nargs="?", help="generated showers (CaloGAN or ILD HDF5, e.g. from python -m physgan.generate)")
    parser.add_argument("reference", nargs="?", help="reference Geant4 showers (the same layout)")
    parser.add_argument("--run", metavar="RUN_DIR", help="instead of two files: a training run made with --holdout; its model against its held-out events")
    parser.add_argument("--epoch", type=int, help="with --run: the checkpoint kept after this epoch (train.py --keep-every) instead of the final model")
    parser.add_argument("--model", metavar="FILE", help="instead of two files: an exported model (a preset name such as mpd_wgan_tpc, or a file such as saved_models/calogan_eplus.keras) against the held-out events its index.json entry records")
    parser.add_argument("--data", help="with --model: the data file it was trained on (default: the file of that name in $PHYSGAN_SHARED_DATA or a folder below it)")
    parser.add_argument("--out", help="folder for metrics.json and the figures (default: print only)")
    parser.add_argument("--max-events", type=int, help="use at most this many showers of each file")
    parser.add_argument("--no-classifier", action="store_true", help="skip the two classifier trainings")
    parser.add_argument("--seed", type=int, default=0, help="seed of bootstraps and classifier (default: 0)")
    parser.add_argument("--backend", choices=("tensorflow", "jax", "torch"), help="Keras backend for the classifier")
    return parser


def read_showers(path: str | Path, max_events: int | None = None):
    """Returns the events of a data file in any registered layout (CaloGAN or ILD HDF5, ...)."""
    from physgan.datasets import read_events

    return read_events(path, max_events=max_events)


def held_out_comparison(run_dir: str | Path, max_events: int | None = None, seed: int = 0,
                        epoch: int | None = None, sample_options: dict | None = None):
    """Returns (generated, reference): the held-out events of a run made with
    `train.py --holdout N` and as many generated by its model (or by the checkpoint it
    kept after `epoch`) for the same conditions, with `sample_options` (e.g. a flow
    model's `steps`) passed to its sample()."""
    from physgan.artifacts import read_run_config, run_model_file

    config = read_run_config(run_dir)
    if not config.get("holdout"):
        raise ConfigError(f"run {run_dir} holds out no events: train it with --holdout N")
    return _held_out_samples(run_model_file(run_dir, config, epoch), config["dataset"], config["data_path"], config["data_sha256"],
                             config["holdout"], config["flags"].get("particle"), max_events, seed, sample_options)


def shipped_entry(model: str | Path, data: str | Path | None = None) -> tuple[Path, dict, Path]:
    """Returns (model file, index entry, data file) of a model exported by `python -m
    physgan.export` (a path, or a preset name): `data` by default is the file of the
    entry's name that physgan bundles (its own samples, scikit-learn's digits) or that
    $PHYSGAN_SHARED_DATA or a folder below it holds."""
    from physgan.presets import get_preset, is_preset_name

    model_path = Path(model)
    if not model_path.exists() and is_preset_name(str(model)):
        model_path = get_preset(str(model)).path
    index_path = model_path.parent / "index.json"
    entry = json.loads(index_path.read_text()).get(model_path.name) if index_path.exists() else None
    if entry is None:
        raise ConfigError(f"{model_path.name} has no entry in {index_path}: export it with python -m physgan.export")
    if not entry.get("held_out"):
        raise ConfigError(f"{model_path.name} was trained without held-out events (train.py --holdout N)")
    if not data:
        data = _bundled_data(entry)
    if not data:
        shared = os.environ.get("PHYSGAN_SHARED_DATA")
        found = sorted(Path(shared).rglob(entry["data"]["file"])) if shared else []
        if not found:
            raise ConfigError(f"give --data: the {entry['data']['file']} {model_path.name} was trained on "
                              "(or set PHYSGAN_SHARED_DATA to a folder holding it)")
        data = min(found, key=lambda p: len(p.parts))
    return model_path, entry, Path(data)


def _bundled_data(entry: dict) -> Path | None:
    """Returns the data file of the data set's bundled sample when the entry was trained on
    it (the same name and SHA-256: the bundled calogan_eplus.h5 is a slice of the shared one)."""
    from physgan.datasets import file_sha256, get_dataset

    source = get_dataset(entry["dataset"]).training_data(None, 1, entry.get("particle")).source
    same = source.name == entry["data"]["file"] and file_sha256(source) == entry["data"]["sha256"]
    return source if same else None


def shipped_comparison(model: str | Path, data: str | Path | None = None, max_events: int | None = None,
                       seed: int = 0, sample_options: dict | None = None):
    """Returns (generated, reference) for a model exported by `python -m physgan.export`
    (a path or a preset name): the held-out events its index entry records (of `data`,
    see `shipped_entry`) and as many generated by it (`sample_options` as for
    `held_out_comparison`)."""
    model_path, entry, data = shipped_entry(model, data)
    return _held_out_samples(model_path, entry["dataset"], data, entry["data"]["sha256"], entry["held_out"],
                             entry.get("particle"), max_events, seed, sample_options)


def _held_out_samples(model_path: Path, dataset: str, data_path, sha256: str, split: dict,
                      particle: str | None, max_events: int | None, seed: int, sample_options: dict | None):
    import physgan
    from physgan.datasets import file_sha256, load_training_data

    if not Path(data_path).exists():
        raise DataError(f"physgan: {data_path} (the data {model_path.name} was trained on) does not exist")
    if file_sha256(data_path) != sha256:
        raise DataError(f"physgan: {data_path} is not the file {model_path.name} was trained on (SHA-256 differs)")
    stop = split["of"] if max_events is None else min(split["of"], split["first_event"] + max_events)
    data = load_training_data(dataset, data_path, stop, particle)
    held = slice(split["first_event"], stop)
    reference = data.reference[held]
    condition = None if data.condition is None else data.condition[held]
    model = physgan.load(model_path, compile=False)
    print(f"physgan: {model_path} against its {len(reference)} held-out events "
          f"({split['first_event']}..{stop - 1} of {Path(data_path).name})")
    return model.sample(len(reference), condition=condition, seed=seed, **(sample_options or {})), reference


def _run(args: argparse.Namespace) -> None:
    if args.run and args.model:
        raise ConfigError("give --run RUN_DIR or --model FILE, not both")
    if args.epoch is not None and not args.run:
        raise ConfigError("--epoch N picks a checkpoint of a run: give --run RUN_DIR")
    if args.run or args.model:
        if args.generated or args.reference:
            raise ConfigError("give either --run/--model or the GENERATED and REFERENCE files, not both")
        if args.run:
            generated, reference = held_out_comparison(args.run, args.max_events, args.seed, args.epoch)
        else:
            generated, reference = shipped_comparison(args.model, args.data, args.max_events, args.seed)
    elif not (args.generated and args.reference):
        raise ConfigError("give the GENERATED and REFERENCE files, --run RUN_DIR or --model FILE")
    else:
        generated = read_showers(args.generated, max_events=args.max_events)
        reference = read_showers(args.reference, max_events=args.max_events)
    metrics = evaluate(generated, reference, out_dir=args.out, classifier=not args.no_classifier, seed=args.seed)
    print(format_table(metrics))
    if args.out:
        print(f"physgan: wrote {Path(args.out) / 'metrics.json'} and {len(metrics['figures'])} figures")


def main(argv=None) -> int:
    return run_command(build_parser(), argv, _run)


if __name__ == "__main__":
    sys.exit(main())
