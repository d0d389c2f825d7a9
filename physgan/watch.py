"""What `watch_results.py` does: figures of a run directory."""

from __future__ import annotations

from pathlib import Path

import physgan
from physgan.artifacts import newest_run_dir, read_run_config
from physgan.datasets import load_training_data
from physgan.errors import DataError
from physgan.plots import plot_samples
from physgan.plots.history import plot_history


def _model_file(run_dir: Path, config: dict) -> Path:
    final = run_dir / f"{config['model']}.keras"
    if final.exists():
        return final
    last = run_dir / "checkpoints" / "last.keras"
    if last.exists():
        return last
    raise DataError(f"physgan: {run_dir} has no model yet (no epoch finished)")


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
    model = physgan.load(_model_file(run_dir, config), compile=False)
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
