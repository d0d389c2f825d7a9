"""Figures of CaloGAN-layout showers, real (Geant4) vs generated: the paper's
average shower images and observable distributions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from physgan.metrics.calo import HALF_WIDTH_MM, OBSERVABLES, shower_observables
from physgan.metrics.distances import common_bins, separation_power
from physgan.plots.history import save_figure

# The paper's figures first: energies, then shapes, then per-layer positions.
FIGURE_GROUPS = {
    "energies": ["total_energy", "energy_response", "energy_layer_0", "energy_layer_1", "energy_layer_2",
                 "fraction_layer_0", "fraction_layer_1", "fraction_layer_2"],
    "shapes": ["shower_depth", "depth_weighted_width", "energy_ratio_layer_0", "sparsity_layer_0",
               "sparsity_layer_1", "sparsity_layer_2", "width_x_layer_0", "width_x_layer_1",
               "width_x_layer_2", "max_cell_layer_0", "max_cell_layer_1", "max_cell_layer_2"],
    "positions": [f"{kind}_{axis}_layer_{i}" for kind in ("centre",) for axis in ("x", "y") for i in range(3)]
    + ["width_y_layer_0", "width_y_layer_1", "width_y_layer_2"],
}


def plot_average_showers(reference, generated, out_dir: str | Path) -> Path:
    """Returns the PNG of the average shower per layer (MeV), reference above generated."""
    fig = Figure(figsize=(15, 6.5))
    for row, (label, showers) in enumerate((("Geant4", reference), ("generated", generated))):
        for i, layer in enumerate(showers.layers):
            ax = fig.add_subplot(2, 3, row * 3 + i + 1)
            mean = layer.mean(axis=0)
            positive = np.concatenate([l.mean(axis=0).ravel() for l in (reference.layers[i], generated.layers[i])])
            positive = positive[positive > 0]
            vmin = max(float(positive.min()) if positive.size else 1e-3, 1e-3)
            vmax = max(float(positive.max()) if positive.size else 1.0, vmin * 10)
            image = ax.imshow(np.where(mean > 0, mean, np.nan), aspect="auto", origin="lower",
                              extent=(-HALF_WIDTH_MM, HALF_WIDTH_MM, -HALF_WIDTH_MM, HALF_WIDTH_MM),
                              norm=LogNorm(vmin, vmax), cmap="inferno")
            ax.set_title(f"{label}: layer {i}, average of {len(layer)}")
            ax.set_xlabel("x [mm]")
            ax.set_ylabel("y [mm]")
            fig.colorbar(image, ax=ax, label="energy per cell [MeV]")
    fig.tight_layout()
    return save_figure(fig, Path(out_dir) / "average_showers.png")


def draw_distribution(ax, style, reference: np.ndarray, generated: np.ndarray) -> float:
    """Draws the normalised histograms of one observable (Geant4 filled,
    generated as a line) with its separation power; returns that power.
    `style` is a catalogue entry (`physgan.metrics.calo.Observable`)."""
    bins = common_bins(reference, generated, 50, log=style.log_x)
    power = separation_power(reference, generated, bins)
    for values, kwargs in ((reference, dict(histtype="stepfilled", alpha=0.35, label="Geant4")),
                           (generated, dict(histtype="step", linewidth=1.5, label="generated"))):
        ax.hist(np.clip(values, bins[0], bins[-1]), bins=bins, weights=np.full(len(values), 1.0 / max(len(values), 1)),
                **kwargs)
    if style.log_x:
        ax.set_xscale("log")
    if style.log_y:
        ax.set_yscale("log")
    ax.set_xlabel(style.label)
    ax.set_ylabel("fraction of showers")
    ax.text(0.97, 0.95, f"sep. power {power:.3f}", transform=ax.transAxes, ha="right", va="top", fontsize=8)
    return power


def _draw_observable(ax, name: str, reference: np.ndarray, generated: np.ndarray) -> float:
    return draw_distribution(ax, OBSERVABLES[name], reference, generated)


def plot_calo_observables(reference, generated, out_dir: str | Path) -> list[Path]:
    """Returns the PNGs of the observable distributions (energies, shapes, positions),
    each panel with its separation power."""
    real, fake = shower_observables(reference), shower_observables(generated)
    paths = []
    for group, names in FIGURE_GROUPS.items():
        cols = 4
        rows = -(-len(names) // cols)
        fig = Figure(figsize=(4.2 * cols, 3.4 * rows))
        for k, name in enumerate(names):
            ax = fig.add_subplot(rows, cols, k + 1)
            _draw_observable(ax, name, real[name], fake[name])
            if k == 0:
                ax.legend(loc="upper left", fontsize=8)
        fig.suptitle(f"CaloGAN showers ({group}): {len(reference)} Geant4 vs {len(generated)} generated")
        fig.tight_layout()
        paths.append(save_figure(fig, Path(out_dir) / f"observables_{group}.png"))
    return paths
