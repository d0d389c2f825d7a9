"""Matplotlib figures for watch_results.py: loss curves, real vs generated.

Figures are drawn on `matplotlib.figure.Figure` objects (no pyplot state) and
written atomically as PNG.
"""

from __future__ import annotations

from pathlib import Path


def plot_samples(dataset: str, reference, generated, out_dir: str | Path) -> list[Path]:
    """Returns the PNGs comparing `generated` with `reference` events of `dataset`."""
    out_dir = Path(out_dir)
    if dataset == "mpd_tpc":
        from physgan.plots.mpd import plot_tpc_images, plot_tpc_observables

        return [
            plot_tpc_observables(reference, generated, out_dir / "observables.png"),
            plot_tpc_images(reference, generated, out_dir / "examples.png"),
        ]
    if dataset == "calogan":
        from physgan.plots.calo import plot_average_showers, plot_calo_observables

        return [plot_average_showers(reference, generated, out_dir), *plot_calo_observables(reference, generated, out_dir)]
    if dataset == "ild":
        from physgan.plots.ild import plot_ild

        return plot_ild(reference, generated, out_dir)
    raise ValueError(f"no figures are defined for data set {dataset!r}")
