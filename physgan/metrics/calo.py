"""Shower observables of the CaloGAN 3-layer calorimeter (arXiv:1705.02355).

`shower_observables(showers)` returns one value per shower and observable;
`OBSERVABLES` gives each a label with its unit and whether physicists plot it
on a log scale. Plain numpy on `CaloShowers` (cells in MeV, incident energy in
GeV); 10k showers take well under a second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Cell pitch in mm [rows (y), cols (x)] of the three layers; the window spans
# +-240 mm in both directions (shared/data/README.md).
CELL_SIZES_MM = ((160.0, 5.0), (40.0, 40.0), (40.0, 80.0))
HALF_WIDTH_MM = 240.0


@dataclass(frozen=True)
class Observable:
    """How an observable is labelled and binned in the figures."""

    label: str
    log_x: bool = False
    log_y: bool = True


def _build_catalogue() -> dict[str, Observable]:
    catalogue = {"total_energy": Observable("deposited energy E_tot [GeV]"),
                 "energy_response": Observable("E_tot / E_incident", log_y=True)}
    for i in range(3):
        catalogue[f"energy_layer_{i}"] = Observable(f"E layer {i} [GeV]", log_x=i == 2)
        catalogue[f"fraction_layer_{i}"] = Observable(f"E layer {i} / E_tot", log_x=i == 2)
        catalogue[f"sparsity_layer_{i}"] = Observable(f"sparsity layer {i} (fraction of cells > 0)")
        catalogue[f"hits_layer_{i}"] = Observable(f"hits above threshold, layer {i}")
        catalogue[f"max_cell_layer_{i}"] = Observable(f"max cell energy layer {i} [MeV]", log_x=True)
        for axis in ("x", "y"):
            catalogue[f"centre_{axis}_layer_{i}"] = Observable(f"centre of energy {axis}, layer {i} [mm]")
            catalogue[f"width_{axis}_layer_{i}"] = Observable(f"width {axis}, layer {i} [mm]")
    catalogue["shower_depth"] = Observable("shower depth (energy-weighted layer index)")
    catalogue["depth_weighted_width"] = Observable("depth-weighted width (std of layer index)")
    catalogue["energy_ratio_layer_0"] = Observable("layer 0 (E_1st - E_2nd) / (E_1st + E_2nd)")
    return catalogue


OBSERVABLES = _build_catalogue()


def cell_centres_mm(layer: int) -> tuple[np.ndarray, np.ndarray]:
    """Returns the (y of each row, x of each column) cell centres of `layer` in mm."""
    rows, cols = ((3, 96), (12, 12), (12, 6))[layer]
    dy, dx = CELL_SIZES_MM[layer]
    y = -HALF_WIDTH_MM + dy * (np.arange(rows) + 0.5)
    x = -HALF_WIDTH_MM + dx * (np.arange(cols) + 0.5)
    return y, x


def _safe_divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros_like(a, dtype="float64"), where=b > 0)


def shower_observables(showers, hit_threshold_mev: float = 0.0) -> dict[str, np.ndarray]:
    """Returns `{name: (N,) array}` of every observable in `OBSERVABLES`.

    Energies in GeV except `max_cell_*` (MeV); positions and widths in mm
    (energy-weighted mean and standard deviation of the cell centres);
    showers with no energy in a layer get 0 for its centre and width. A hit
    is a cell above `hit_threshold_mev`; sparsity counts cells above 0.
    """
    layers = [np.asarray(layer, dtype="float64") for layer in showers.layers]
    energies = np.stack([layer.sum(axis=(1, 2)) for layer in layers], axis=1)  # MeV
    total = energies.sum(axis=1)
    out = {
        "total_energy": total / 1000.0,
        "energy_response": _safe_divide(total / 1000.0, np.asarray(showers.incident_energy, "float64")),
    }
    for i, layer in enumerate(layers):
        cells = layer.reshape(len(layer), -1)
        out[f"energy_layer_{i}"] = energies[:, i] / 1000.0
        out[f"fraction_layer_{i}"] = _safe_divide(energies[:, i], total)
        out[f"sparsity_layer_{i}"] = (cells > 0).mean(axis=1)
        out[f"hits_layer_{i}"] = (cells > hit_threshold_mev).sum(axis=1).astype("float64")
        out[f"max_cell_layer_{i}"] = cells.max(axis=1)
        y, x = cell_centres_mm(i)
        for axis, profile, position in (("x", layer.sum(axis=1), x), ("y", layer.sum(axis=2), y)):
            mean = _safe_divide(profile @ position, energies[:, i])
            second = _safe_divide(profile @ position**2, energies[:, i])
            out[f"centre_{axis}_layer_{i}"] = mean
            out[f"width_{axis}_layer_{i}"] = np.sqrt(np.clip(second - mean**2, 0.0, None))
    index = np.arange(3.0)
    depth = _safe_divide(energies @ index, total)
    out["shower_depth"] = depth
    out["depth_weighted_width"] = np.sqrt(np.clip(_safe_divide(energies @ index**2, total) - depth**2, 0.0, None))
    top_two = np.sort(layers[0].reshape(len(layers[0]), -1), axis=1)[:, -2:]
    out["energy_ratio_layer_0"] = _safe_divide(top_two[:, 1] - top_two[:, 0], top_two[:, 1] + top_two[:, 0])
    return out


def observable_matrix(observables: dict[str, np.ndarray]) -> np.ndarray:
    """Returns the observables as one (N, n_observables) array in `OBSERVABLES` order."""
    return np.stack([observables[name] for name in OBSERVABLES], axis=1)
