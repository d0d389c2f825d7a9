"""Shower observables of the ILD-like Si-W calorimeter of "Getting High"
(arXiv:2005.05334): 30 x 30 x 30 photon showers.

Showers are `layers` (N, 30, 30, 30) in MeV indexed [layer (z, depth), x, y]
with 5.088333 mm square cells, and an incident energy (N,) in GeV. As in the
paper, only cells at or above `HIT_THRESHOLD_MEV` (half a MIP) count: cells
below it are ignored by every function here. Positions are in mm from the
window centre (between cells 14 and 15), which is also the shower axis; depth
is the layer index. Work is done in chunks of `CHUNK` showers, so 10^5
showers (or an h5py dataset, read chunk by chunk) fit in memory.
"""

from __future__ import annotations

import numpy as np

from physgan.metrics.calo import Observable, _safe_divide

HIT_THRESHOLD_MEV = 0.1
CELL_SIZE_MM = 5.088333
N_LAYERS = N_CELLS = 30
CHUNK = 500

ILD_OBSERVABLES = {
    "energy_sum": Observable("visible energy sum of hits [MeV]", log_y=False),
    "n_hits": Observable("number of hits (cells >= 0.1 MeV)", log_y=False),
    "energy_ratio": Observable("E_sum / E_incident (sampling fraction)", log_y=True),
    "cog_z": Observable("centre of gravity z [layer]", log_y=False),
    "cog_x": Observable("centre of gravity x [mm]", log_y=True),
    "cog_y": Observable("centre of gravity y [mm]", log_y=True),
    "longitudinal_width": Observable("longitudinal width (std of layer index)", log_y=False),
    "radial_width": Observable("radial width (mean hit radius) [mm]", log_y=False),
    "max_cell": Observable("max cell energy [MeV]", log_x=True, log_y=True),
}

# Cell centres in mm from the window centre (between cells 14 and 15), and the
# radius of every (x, y) cell centre from the shower axis.
CELL_CENTRES_MM = (np.arange(N_CELLS) - (N_CELLS - 1) / 2.0) * CELL_SIZE_MM
CELL_RADII_MM = np.hypot(CELL_CENTRES_MM[:, None], CELL_CENTRES_MM[None, :])


def _unpack(showers, incident_energy=None):
    """Returns (layers, incident_energy) of an array or of an object with
    `.layers` and `.incident_energy` (an explicit `incident_energy` wins)."""
    if hasattr(showers, "layers"):
        if incident_energy is None:
            incident_energy = getattr(showers, "incident_energy", None)
        showers = showers.layers
    if incident_energy is not None:
        incident_energy = np.asarray(incident_energy, dtype="float64").reshape(-1)
    return showers, incident_energy


def _hit_chunks(layers, threshold_mev: float):
    """Yields (start, (n, 30, 30, 30) float64 cells with those below threshold zeroed),
    `CHUNK` showers at a time."""
    chunk = CHUNK
    for start in range(0, len(layers), chunk):
        cells = np.asarray(layers[start:start + chunk], dtype="float64")
        if cells.ndim != 4 or cells.shape[1:] != (N_LAYERS, N_CELLS, N_CELLS):
            raise ValueError(f"ILD showers are (N, {N_LAYERS}, {N_CELLS}, {N_CELLS}); got {cells.shape}")
        yield start, np.where(cells >= threshold_mev, cells, 0.0)


def _moments(profile: np.ndarray, position: np.ndarray, total: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Returns the energy-weighted (mean, std) of `position` over the (n, k) `profile`."""
    mean = _safe_divide(profile @ position, total)
    second = _safe_divide(profile @ position**2, total)
    return mean, np.sqrt(np.clip(second - mean**2, 0.0, None))


def ild_observables(layers, incident_energy=None, threshold_mev: float = HIT_THRESHOLD_MEV) -> dict[str, np.ndarray]:
    """Returns `{name: (N,) float64}` of every observable in `ILD_OBSERVABLES`
    (`energy_ratio` only when an incident energy is known).

    `layers` is the (N, 30, 30, 30) array in MeV (or an h5py dataset), or an
    object with `.layers` and `.incident_energy` (GeV). Showers without a hit
    get 0 for every observable.
    """
    layers, incident_energy = _unpack(layers, incident_energy)
    n = len(layers)
    if incident_energy is not None and len(incident_energy) != n:
        raise ValueError(f"{n} showers but {len(incident_energy)} incident energies")
    names = [name for name in ILD_OBSERVABLES if name != "energy_ratio" or incident_energy is not None]
    out = {name: np.zeros(n) for name in names}
    z = np.arange(N_LAYERS, dtype="float64")
    for start, hits in _hit_chunks(layers, threshold_mev):
        part = slice(start, start + len(hits))
        per_layer = hits.sum(axis=(2, 3))  # (n, z)
        total = per_layer.sum(axis=1)
        out["energy_sum"][part] = total
        out["n_hits"][part] = np.count_nonzero(hits, axis=(1, 2, 3))
        out["cog_z"][part], out["longitudinal_width"][part] = _moments(per_layer, z, total)
        out["cog_x"][part] = _moments(hits.sum(axis=(1, 3)), CELL_CENTRES_MM, total)[0]
        out["cog_y"][part] = _moments(hits.sum(axis=(1, 2)), CELL_CENTRES_MM, total)[0]
        transverse = hits.sum(axis=1).reshape(len(hits), -1)  # (n, x * y)
        out["radial_width"][part] = _safe_divide(transverse @ CELL_RADII_MM.ravel(), total)
        out["max_cell"][part] = hits.reshape(len(hits), -1).max(axis=1)
    if incident_energy is not None:
        out["energy_ratio"] = _safe_divide(out["energy_sum"], incident_energy * 1000.0)
    return out


def ild_observable_matrix(observables: dict[str, np.ndarray]) -> np.ndarray:
    """Returns the observables as one (N, k) float64 array in `ILD_OBSERVABLES`
    order, skipping those absent (`energy_ratio` without incident energy)."""
    return np.stack([np.asarray(observables[name], "float64") for name in ILD_OBSERVABLES if name in observables],
                    axis=1)


def longitudinal_profile(layers, threshold_mev: float = HIT_THRESHOLD_MEV) -> np.ndarray:
    """Returns the (N, 30) hit energy per layer in MeV."""
    layers, _ = _unpack(layers)
    out = np.zeros((len(layers), N_LAYERS))
    for start, hits in _hit_chunks(layers, threshold_mev):
        out[start:start + len(hits)] = hits.sum(axis=(2, 3))
    return out


def radial_bin_edges(bin_mm: float = CELL_SIZE_MM, n_bins: int = 21) -> np.ndarray:
    """Returns the (n_bins + 1) ring edges in mm of `radial_profile`."""
    return bin_mm * np.arange(n_bins + 1.0)


def radial_profile(layers, threshold_mev: float = HIT_THRESHOLD_MEV, bin_mm: float = CELL_SIZE_MM,
                   n_bins: int = 21) -> np.ndarray:
    """Returns the (N, n_bins) hit energy in MeV in rings of `bin_mm` around the
    shower axis (the window centre), by the radius of each cell centre. The
    default 21 rings reach 106.9 mm and hold every cell of the window (the
    corners are at 104.3 mm); cells beyond the last ring are left out."""
    layers, _ = _unpack(layers)
    ring = np.floor(CELL_RADII_MM.ravel() / bin_mm).astype(int)
    inside = ring < n_bins
    assign = np.zeros((N_CELLS * N_CELLS, n_bins))
    assign[np.flatnonzero(inside), ring[inside]] = 1.0
    out = np.zeros((len(layers), n_bins))
    for start, hits in _hit_chunks(layers, threshold_mev):
        out[start:start + len(hits)] = hits.sum(axis=1).reshape(len(hits), -1) @ assign
    return out


def hit_energies(layers, threshold_mev: float = HIT_THRESHOLD_MEV, max_hits: int | None = None) -> np.ndarray:
    """Returns the energies in MeV of all hits (cells >= threshold) as one flat
    float64 array, in shower order; with `max_hits`, only the first `max_hits`."""
    layers, _ = _unpack(layers)
    parts, count = [], 0
    for _, hits in _hit_chunks(layers, threshold_mev):
        energies = hits[hits > 0]  # hits are >= threshold > 0, or zeroed
        parts.append(energies)
        count += len(energies)
        if max_hits is not None and count >= max_hits:
            break
    flat = np.concatenate(parts) if parts else np.zeros(0)
    return flat if max_hits is None else flat[:max_hits]


def average_shower(layers, threshold_mev: float = HIT_THRESHOLD_MEV) -> np.ndarray:
    """Returns the (30, 30, 30) mean over showers of the hit energies in MeV."""
    layers, _ = _unpack(layers)
    total = np.zeros((N_LAYERS, N_CELLS, N_CELLS))
    for _, hits in _hit_chunks(layers, threshold_mev):
        total += hits.sum(axis=0)
    return total / max(len(layers), 1)
