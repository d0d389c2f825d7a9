"""Figures of MPD TPC responses: observables and example images, real vs generated."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from physgan.metrics.mpd import LOG_SCALE, OBSERVABLE_LABELS, tpc_observables
from physgan.plots.history import hist_real_vs_generated, save_figure


def plot_tpc_observables(real_amplitudes, generated_amplitudes, path: str | Path) -> Path:
    """Returns the PNG of every observable's distribution, real vs generated."""
    real, generated = tpc_observables(real_amplitudes), tpc_observables(generated_amplitudes)
    names = list(OBSERVABLE_LABELS)
    fig = Figure(figsize=(16, 7.5))
    for i, name in enumerate(names):
        ax = fig.add_subplot(2, 4, i + 1)
        both = np.concatenate([real[name], generated[name]])
        low, high = np.quantile(both, [0.001, 0.999])
        if name in LOG_SCALE:
            low = max(low, 1.0)
            bins = np.geomspace(low, max(high, low * 10), 40)
            ax.set_xscale("log")
        elif name == "n_cells":
            bins = np.arange(low - 0.5, high + 1.5)
        else:
            bins = np.linspace(low, high if high > low else low + 1, 40)
        hist_real_vs_generated(ax, real[name], generated[name], bins)
        ax.set_xlabel(OBSERVABLE_LABELS[name])
        ax.set_ylabel("fraction of events")
        if i == 0:
            ax.legend()
    fig.suptitle(f"MPD TPC response: {len(real['n_cells'])} real vs {len(generated['n_cells'])} generated events")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_tpc_images(real, generated, path: str | Path, n: int = 8) -> Path:
    """Returns the PNG of `n` real and `n` generated events as ln(amplitude) images."""
    fig = Figure(figsize=(2.0 * n, 4.6))
    vmax = float(np.log(max(np.max(real[:n]), np.max(generated[:n]), 2.0)))
    for row, (label, events) in enumerate((("real", real), ("generated", generated))):
        for i in range(min(n, len(events))):
            ax = fig.add_subplot(2, n, row * n + i + 1)
            image = np.where(events[i] > 0, np.log(np.where(events[i] > 0, events[i], 1.0)), 0.0)
            im = ax.imshow(image.T, origin="lower", vmin=0, vmax=vmax, cmap="viridis")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_ylabel(f"{label}\ntime bin")
            if row == 1:
                ax.set_xlabel("pad")
    fig.colorbar(im, ax=fig.axes, shrink=0.8, label="ln(amplitude)")
    return save_figure(fig, path)
