"""Figures of code vectors (the `codes` data set): real vs generated, per code dimension."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from physgan.plots.history import hist_real_vs_generated, save_figure


def plot_codes(reference, generated, path: str | Path, n_dims: int = 8) -> Path:
    """Returns the PNG of real vs generated codes (N, code_dim): the distributions of
    the first `n_dims` dimensions, and the mean and standard deviation of every one."""
    real, gen = np.asarray(reference, "float32"), np.asarray(generated, "float32")
    shown = min(n_dims, real.shape[1])
    cols = 4
    rows = -(-shown // cols) + 1
    fig = Figure(figsize=(3.4 * cols, 2.8 * rows))
    for d in range(shown):
        ax = fig.add_subplot(rows, cols, d + 1)
        both = np.concatenate([real[:, d], gen[:, d]])
        low, high = np.quantile(both, [0.001, 0.999])
        hist_real_vs_generated(ax, real[:, d], gen[:, d], np.linspace(low, max(high, low + 1e-6), 41))
        ax.set_xlabel(f"code {d}")
        if d == 0:
            ax.set_ylabel("fraction of codes")
            ax.legend()
    ax = fig.add_subplot(rows, 1, rows)
    dims = np.arange(real.shape[1])
    for values, label, style in ((real, "real", "o"), (gen, "generated", "x")):
        ax.errorbar(dims, values.mean(0), yerr=values.std(0), fmt=style, capsize=2, label=label)
    ax.set_xlabel("code dimension")
    ax.set_ylabel("mean +- std")
    ax.legend()
    fig.suptitle(f"code vectors: {len(real)} real vs {len(gen)} generated")
    fig.tight_layout()
    return save_figure(fig, path)
