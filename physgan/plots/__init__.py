"""Matplotlib figures for watch_results.py: loss curves, real vs generated.

Figures are drawn on `matplotlib.figure.Figure` objects (no pyplot state) and
written atomically as PNG.
"""

from __future__ import annotations

from pathlib import Path


def plot_samples(dataset: str, reference, generated, out_dir: str | Path) -> list[Path]:
    """Returns the PNGs comparing `generated` with `reference` events of `dataset` (its declared figures)."""
    from physgan.datasets import get_dataset
    from physgan.errors import ConfigError

    declared = get_dataset(dataset)
    if declared.figures is None:
        raise ConfigError(f"no figures are defined for data set {dataset!r}")
    return declared.figures(reference, generated, Path(out_dir))
