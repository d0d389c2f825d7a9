"""What `watch_results.py` does: figures of a run directory, and the summaries
and figures of the shipped models."""

from __future__ import annotations

from pathlib import Path

import physgan
from physgan.artifacts import newest_run_dir, read_run_config, run_model_file
from physgan.datasets import load_training_data
from physgan.errors import ConfigError
from physgan.plots import plot_samples
from physgan.plots.history import plot_history
from physgan.presets import describe_entry, list_presets


def watch_run(
    run_dir: str | Path | None = None,
    runs_root: str | Path = "runs",
    n_events: int = 5000,
    reference: str | Path | None = None,
    seed: int = 0,
) -> list[Path]:
    """Returns the PNGs written into RUN_DIR/plots: history and real vs generated."""
    run_dir = Path(run_dir) if run_dir else newest_run_dir(runs_root)
    config = read_run_config(run_dir)
    out_dir = run_dir / "plots"
    out_dir.mkdir(exist_ok=True)
    paths = []
    history = run_dir / "history.csv"
    if history.exists() and history.stat().st_size > 0:
        paths.append(plot_history(history, out_dir / "history.png"))
    flags = config.get("flags", {})
    data = load_training_data(
        config["dataset"],
        reference or config["data_path"],
        max_events=n_events,
        particle=flags.get("particle"),
    )
    model = physgan.load(run_model_file(run_dir, config), compile=False)
    condition = data.condition[:n_events] if data.condition is not None else None
    n = len(data.reference) if condition is None else len(condition)
    generated = model.sample(n, condition=condition, seed=seed)
    paths += plot_samples(config["dataset"], data.reference, generated, out_dir)
    paths += model.model_figures(data.reference, out_dir)
    from physgan.plots.images import plot_samples_over_epochs, sample_files

    files = sample_files(run_dir)
    if files:
        paths.append(plot_samples_over_epochs(files, out_dir / "samples_over_epochs.png"))
    return paths


def shipped_models(saved_dir: str | Path = "saved_models", name: str | None = None) -> list[tuple[str, list[Path]]]:
    """Returns (description, figure paths) of each model in saved_dir/index.json, or of the one named."""
    presets = list_presets(saved_dir)
    if name is not None:
        match = [p for p in presets if name in (p.path.name, p.name)]
        if not match:
            raise ConfigError(f"no shipped model {name!r} in {Path(saved_dir) / 'index.json'}; "
                              f"there are: {', '.join(p.path.name for p in presets)}")
        presets = match[:1]
    return [(describe_entry(p.path.name, p.entry), [Path(saved_dir) / f for f in p.entry.get("figures", [])])
            for p in presets]
