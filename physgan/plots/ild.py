"""Figures of ILD-like 30x30x30 photon showers ("Getting High", arXiv:2005.05334),
real (Geant4) vs generated: observable distributions, mean profiles, the hit
energy spectrum and the average shower. `reference` and `generated` are any
objects with `.layers` (N, 30, 30, 30) MeV and `.incident_energy` (N,) GeV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure


from physgan.metrics.ild import (
    CELL_CENTRES_MM,
    CELL_SIZE_MM,
    HIT_THRESHOLD_MEV,
    ILD_OBSERVABLES,
    N_LAYERS,
    average_shower,
    hit_energies,
    ild_observables,
    longitudinal_profile,
    radial_bin_edges,
    radial_profile,
)
from physgan.plots.calo import draw_distribution
from physgan.plots.history import save_figure

SAMPLES = (("Geant4", dict(histtype="stepfilled", alpha=0.35)), ("generated", dict(histtype="step", linewidth=1.5)))
MAX_SPECTRUM_HITS = 2_000_000


def plot_ild_observables(reference, generated, out_dir: str | Path) -> list[Path]:
    """Returns [ild_observables.png]: every catalogue observable, Geant4 vs
    generated, each panel with its separation power."""
    real, fake = ild_observables(reference), ild_observables(generated)
    names = [name for name in ILD_OBSERVABLES if name in real and name in fake]
    cols = 3
    rows = -(-len(names) // cols)
    fig = Figure(figsize=(4.2 * cols, 3.4 * rows))
    for k, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, k + 1)
        draw_distribution(ax, ILD_OBSERVABLES[name], real[name], fake[name])
        if k == 0:
            ax.legend(loc="upper left", fontsize=8)
    fig.suptitle(f"ILD photon showers: {len(reference.layers)} Geant4 vs {len(generated.layers)} generated")
    fig.tight_layout()
    return [save_figure(fig, Path(out_dir) / "ild_observables.png")]


def plot_ild_profiles(reference, generated, out_dir: str | Path) -> Path:
    """Returns ild_profiles.png: mean longitudinal and radial profiles and the
    hit energy spectrum, Geant4 vs generated."""
    edges = radial_bin_edges()
    spectra = [hit_energies(s, max_hits=MAX_SPECTRUM_HITS) for s in (reference, generated)]
    top = max([float(s.max()) for s in spectra if s.size] + [HIT_THRESHOLD_MEV * 10])
    spectrum_bins = np.geomspace(HIT_THRESHOLD_MEV, top, 61)
    fig = Figure(figsize=(15, 4.2))
    axes = [fig.add_subplot(1, 3, k + 1) for k in range(3)]
    for showers, spectrum, (label, kwargs) in zip((reference, generated), spectra, SAMPLES):
        axes[0].hist(np.arange(N_LAYERS), bins=np.arange(N_LAYERS + 1) - 0.5,
                     weights=longitudinal_profile(showers).mean(axis=0), label=label, **kwargs)
        axes[1].hist(edges[:-1], bins=edges, weights=radial_profile(showers).mean(axis=0), label=label, **kwargs)
        axes[2].hist(spectrum, bins=spectrum_bins, weights=np.full(len(spectrum), 1.0 / max(len(spectrum), 1)),
                     label=label, **kwargs)
    axes[0].set(xlabel="layer", ylabel="mean energy per layer [MeV]", title="longitudinal profile")
    axes[1].set(xlabel="radius [mm]", ylabel="mean energy per ring [MeV]", yscale="log", title="radial profile")
    axes[2].set(xlabel="hit energy [MeV]", ylabel="fraction of hits", xscale="log", yscale="log",
                title="hit energy spectrum")
    axes[2].axvline(HIT_THRESHOLD_MEV, color="grey", linestyle="--", label=f"threshold {HIT_THRESHOLD_MEV} MeV")
    for ax in axes:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, Path(out_dir) / "ild_profiles.png")


def plot_ild_average_showers(reference, generated, out_dir: str | Path) -> Path:
    """Returns ild_average_showers.png: the average shower (hit energies in MeV)
    summed over z onto (x, y) and over y onto (z, x), Geant4 above generated."""
    means = [average_shower(s) for s in (reference, generated)]
    projections = [(m.sum(axis=0), m.sum(axis=2)) for m in means]  # (x, y), (z, x)
    half = CELL_CENTRES_MM[-1] + CELL_SIZE_MM / 2
    fig = Figure(figsize=(11, 9))
    for column, (title, extent, xlabel, ylabel) in enumerate((
            ("projection on (x, y)", (-half, half, -half, half), "x [mm]", "y [mm]"),
            ("projection on (z, x)", (-0.5, N_LAYERS - 0.5, -half, half), "layer z", "x [mm]"))):
        both = np.concatenate([p[column].ravel() for p in projections])
        positive = both[both > 0]
        vmin = max(float(positive.min()) if positive.size else 1e-3, 1e-3)
        vmax = max(float(positive.max()) if positive.size else 1.0, vmin * 10)
        for row, ((label, _), showers, projection) in enumerate(zip(SAMPLES, (reference, generated), projections)):
            ax = fig.add_subplot(2, 2, row * 2 + column + 1)
            image = projection[column].T  # rows: the vertical axis (y, resp. x)
            shown = ax.imshow(np.where(image > 0, image, np.nan), origin="lower", aspect="auto", extent=extent,
                              norm=LogNorm(vmin, vmax), cmap="inferno")
            ax.set(title=f"{label}: {title}, average of {len(showers.layers)}", xlabel=xlabel, ylabel=ylabel)
            fig.colorbar(shown, ax=ax, label="energy per cell column [MeV]")
    fig.tight_layout()
    return save_figure(fig, Path(out_dir) / "ild_average_showers.png")


def plot_ild(reference, generated, out_dir: str | Path) -> list[Path]:
    """Returns the PNGs of every ILD figure: observables, profiles, average showers."""
    return [*plot_ild_observables(reference, generated, out_dir), plot_ild_profiles(reference, generated, out_dir),
            plot_ild_average_showers(reference, generated, out_dir)]
