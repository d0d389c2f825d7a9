"""Loss curves of a training run (its history.csv)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from physgan.fileio import atomic_path


def read_history(path: str | Path) -> dict[str, np.ndarray]:
    """Returns history.csv as {column: values per epoch}."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    columns = {}
    for key in rows[0] if rows else []:
        values = [r[key] for r in rows]
        if all(v in ("", "NA") for v in values):
            continue  # e.g. the val_* columns Keras' CSVLogger writes without validation data
        columns[key] = np.array([np.nan if v in ("", "NA") else float(v) for v in values])
    return columns


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Returns `path` after writing `fig` there as PNG, atomically."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format=Path(path).suffix.lstrip(".") or "png")
    return Path(path)


def hist_real_vs_generated(ax, real, generated, bins, labels=("real", "generated")) -> None:
    """Draws `real` (filled) and `generated` (outline) as fractions of their events on `ax`."""
    for values, style in ((real, dict(histtype="stepfilled", alpha=0.35, label=labels[0])),
                          (generated, dict(histtype="step", linewidth=1.5, label=labels[1]))):
        values = np.asarray(values)
        ax.hist(values, bins=bins, weights=np.full(len(values), 1.0 / max(len(values), 1)), **style)


def plot_history(history_csv: str | Path, out_path: str | Path) -> Path:
    """Returns the PNG of every logged metric against the epoch."""
    history = read_history(history_csv)
    epochs = history.pop("epoch", None)
    names = [k for k in history if k != "learning_rate"]
    if not names:
        raise ValueError(f"{history_csv} holds no finished epoch yet")
    epochs = np.arange(1, len(history[names[0]]) + 1) if epochs is None else epochs + 1
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig = Figure(figsize=(4.2 * cols, 3.0 * rows))
    for i, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.plot(epochs, history[name], marker="o", markersize=3)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name.replace("_", " "))
        ax.grid(alpha=0.3)
    fig.suptitle("training history")
    fig.tight_layout()
    return save_figure(fig, out_path)
