"""A small, physically motivated simulator of ALICE ZN responses: the bundled ZDC data.

A neutron (or photon) from the interaction point hits the neutron Zero Degree
Calorimeter, a W-alloy spaghetti calorimeter read out by 44 x 44 quartz fibres;
its shower gives Cherenkov light mostly from the electromagnetic core, with
Poisson fluctuations per fibre. `simulate_zdc(n)` returns photon counts
(n, 44, 44); `make_bundled_sample()` writes the package's samples/zdc_neutrons.npz.

    python -m physgan.data zdc simulate --n 10000 --out zdc.npz --seed 1
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.special import gammainc, ndtr, ndtri

from physgan.data.base import check_positive_int, shape_text
from physgan.data.zdc import EMPTY_CENTRE, IMAGE_SHAPE, SAMPLE_EVENTS, SAMPLE_NAME, SAMPLE_SEED, ZdcData, write_zdc
from physgan.errors import ConfigError

# === Simulator constants (lengths in mm, depths in interaction lengths, energies in GeV) ===

FIBRE_PITCH_MM = 1.6            # 1936 fibres = 44 x 44 over the 7.04 cm ZN face
ZN_DEPTH_LAMBDA = 8.7           # W-alloy depth: showers start anywhere in it, the late ones leak
BEAM_ENERGY_GEV = 2510.0        # Pb-Pb at sqrt(s_NN) = 5.02 TeV: 2.51 TeV per spectator nucleon
NUCLEON_MASS_GEV = 0.9396
FERMI_SIGMA_GEV = 0.11          # per momentum component: p_F ~ 0.25 GeV/c, sigma ~ p_F / sqrt(5)
ZN_DISTANCE_MM = 112_500.0      # the ZN sits 112.5 m from the interaction point
SPECTATOR_FRACTION = 0.5        # default mix: half spectators, half neutrons of lower energy
LOW_ENERGY_RANGE_GEV = (100.0, BEAM_ENERGY_GEV)
PHOTONS_PER_GEV = 0.5           # photons per GeV of EM-equivalent deposit: a 2.51 TeV neutron gives
                                # ~1000, over a few hundred of the 1936 fibres (sparse responses)
H_OVER_E = 0.25                 # quartz fibres see almost only the EM part: h/e ~ 0.2-0.3
FEM_SIGMA = 0.1                 # event-by-event fluctuation of the EM (pi0) fraction
CORE_SIGMA_MM = 4.0             # EM core: Gaussian, about half a Moliere radius of W (9.3 mm)
HALO_LENGTH_MM = 15.0           # hadronic halo exp(-r / L): 95 % within 4.7 L = 7 cm, ~ lambda_I of W
WIDTH_LOG_SIGMA = 0.25          # log-normal event-by-event spread of both widths
LONGITUDINAL_SHAPE = 3.0        # Gamma profile in depth from the first interaction
PARTICLES = ("neutron", "photon")
CHUNK_EVENTS = 1024             # events per vectorised block (about 16 MB of float64 per array)


# === Simulator ===

def _energies(rng: np.random.Generator, n: int, energy_gev) -> np.ndarray:
    """Returns (n,) neutron energies: the default spectator mix, a fixed value, a log-uniform
    (lo, hi) range or one value per event."""
    if energy_gev is None:
        # Spectators: 2.51 TeV boosted Fermi motion, sigma_E ~ gamma * sigma_pz (~ 290 GeV);
        # the rest (fragmentation, secondaries) log-uniform below the beam energy.
        gamma = BEAM_ENERGY_GEV / NUCLEON_MASS_GEV
        spectator = BEAM_ENERGY_GEV + gamma * rng.normal(0.0, FERMI_SIGMA_GEV, n)
        lo, hi = np.log(LOW_ENERGY_RANGE_GEV)
        other = np.exp(rng.uniform(lo, hi, n))
        return np.where(rng.uniform(size=n) < SPECTATOR_FRACTION, spectator, other)
    values = np.asarray(energy_gev, dtype="float64")
    if values.ndim == 0:
        energy = np.full(n, float(values))
    elif isinstance(energy_gev, tuple) and values.shape == (2,):
        if not 0 < values[0] <= values[1]:
            raise ConfigError(f"physgan: energy_gev range must be 0 < lo <= hi, got {energy_gev!r}")
        energy = np.exp(rng.uniform(np.log(values[0]), np.log(values[1]), n))
    elif values.shape == (n,):
        energy = values
    else:
        raise ConfigError(f"physgan: energy_gev must be None, a number, a (lo, hi) tuple or {n} values, "
                          f"got shape {shape_text(values.shape)}")
    if not (np.isfinite(energy).all() and (energy > 0).all()):
        raise ConfigError("physgan: energy_gev must be finite and > 0")
    return energy


def _impacts(rng: np.random.Generator, energy: np.ndarray, impact) -> tuple[np.ndarray, np.ndarray]:
    """Returns the impact columns and rows (n,) in pixel-index units (the face spans -0.5..43.5)."""
    n = len(energy)
    if impact is not None:
        xy = np.broadcast_to(np.asarray(impact, dtype="float64"), (n, 2)) if np.ndim(impact) == 1 \
            else np.asarray(impact, dtype="float64")
        if xy.shape != (n, 2) or not np.isfinite(xy).all():
            raise ConfigError(f"physgan: impact must be (x, y) or {n} rows of (x, y) pixel coordinates, "
                              f"got shape {shape_text(np.shape(impact))}")
        return xy[:, 0].copy(), xy[:, 1].copy()
    # A transverse Fermi kick sigma_pT over 112.5 m: ~5 mm at 2.5 TeV, beyond the face below
    # ~300 GeV. A Gaussian truncated to the face (only neutrons hitting the ZN are kept).
    sigma = FERMI_SIGMA_GEV / energy * ZN_DISTANCE_MM / FIBRE_PITCH_MM
    centres = np.array(EMPTY_CENTRE)
    coords = []
    for axis, size in enumerate((IMAGE_SHAPE[1], IMAGE_SHAPE[0])):
        lo = ndtr((-0.5 - centres[axis]) / sigma)
        hi = ndtr((size - 0.5 - centres[axis]) / sigma)
        u = np.clip(lo + rng.uniform(size=n) * (hi - lo), 1e-12, 1 - 1e-12)
        coords.append(np.clip(centres[axis] + sigma * ndtri(u), -0.5, size - 0.5))
    return coords[0], coords[1]


def _gaussian_cells(centre: np.ndarray, sigma: np.ndarray, size: int) -> np.ndarray:
    """Returns (n, size): the fraction of a 1D Gaussian in each pixel [j - 0.5, j + 0.5)."""
    edges = ndtr((np.arange(size + 1) - 0.5 - centre[:, None]) / sigma[:, None])
    return np.diff(edges, axis=1)


def _mean_counts(rng, energy, x, y, photon: bool) -> np.ndarray:
    """Returns float64 (n, 44, 44): the expected photons per fibre of one block of events."""
    n = len(energy)
    rows, cols = IMAGE_SHAPE
    core_sigma = CORE_SIGMA_MM / FIBRE_PITCH_MM * np.exp(rng.normal(0.0, WIDTH_LOG_SIGMA, n))
    if photon:  # an EM shower: all light in the core, contained (251 X0)
        visible, core_fraction = energy, np.ones(n)
    else:
        # EM fraction (Groom, PDG): f_em = 1 - (E / E0)^(m - 1), E0 ~ 1 GeV, m ~ 0.82, fluctuating
        # event by event (the source of hadronic resolution).
        f_em = np.clip(1.0 - (energy / 0.96) ** -0.184 + rng.normal(0.0, FEM_SIGMA, n), 0.02, 0.98)
        # First interaction ~ Exp(1 lambda); the shower (Gamma in depth, maximum at 0.2 ln E + 0.7)
        # beyond the ZN's back is lost, and a late start leaves a young, narrower shower (a neutron
        # crossing all 8.7 lambda without interacting, p ~ 2e-4, leaves an empty response).
        start = rng.exponential(1.0, n)
        t_max = 0.2 * np.log(energy) + 0.7
        contained = gammainc(LONGITUDINAL_SHAPE, np.maximum(ZN_DEPTH_LAMBDA - start, 0.0)
                             * (LONGITUDINAL_SHAPE - 1.0) / t_max)
        light = f_em + H_OVER_E * (1.0 - f_em)  # Cherenkov: EM part at full weight, hadrons at h/e
        visible = energy * contained * light
        core_fraction = f_em / light
        halo_length = (HALO_LENGTH_MM / FIBRE_PITCH_MM * np.sqrt(np.maximum(contained, 0.01))
                       * np.exp(rng.normal(0.0, WIDTH_LOG_SIGMA, n)))
    expected = (PHOTONS_PER_GEV * visible * core_fraction)[:, None, None] * (
        _gaussian_cells(y, core_sigma, rows)[:, :, None] * _gaussian_cells(x, core_sigma, cols)[:, None, :])
    if not photon:
        # exp(-sqrt(r^2 + s^2) / L) / (2 pi L (L + s) e^(-s/L)) is a normalised 2D exponential
        # softened by s = half a pixel; its value at a cell centre stands for the cell's integral.
        soft = 0.5
        dx2 = (np.arange(cols) - x[:, None]) ** 2
        dy2 = (np.arange(rows) - y[:, None]) ** 2
        r = np.sqrt(dy2[:, :, None] + dx2[:, None, :] + soft ** 2)
        length = halo_length[:, None, None]
        norm = PHOTONS_PER_GEV * visible * (1.0 - core_fraction) * np.exp(soft / halo_length) / (
            2 * np.pi * halo_length * (halo_length + soft))
        expected += norm[:, None, None] * np.exp(-r / length)
    return expected


def simulate_zdc(n: int, particle: str = "neutron", energy_gev=None, seed: int | None = None,
                 impact=None) -> np.ndarray:
    """Returns float32 (n, 44, 44) simulated ZN photon counts (integers >= 0).

    `energy_gev`: None (the default mix: half spectator neutrons at 2.51 TeV smeared by
    Fermi motion, half log-uniform 0.1-2.51 TeV), a number, a (lo, hi) tuple (log-uniform)
    or n values. `impact`: None (a beam spot truncated to the face), or (x, y) / (n, 2)
    pixel coordinates (column, row; the face spans -0.5..43.5). `particle`: "neutron"
    (hadronic shower: EM core + halo) or "photon" (EM core only).
    """
    n = check_positive_int("n", n)
    if particle not in PARTICLES:
        raise ConfigError(f"physgan: unknown ZDC particle {particle!r}; expected one of {', '.join(PARTICLES)}")
    rng = np.random.default_rng(seed)
    energy = _energies(rng, n, energy_gev)
    x, y = _impacts(rng, energy, impact)
    images = np.empty((n, *IMAGE_SHAPE), dtype="float32")
    for first in range(0, n, CHUNK_EVENTS):
        block = slice(first, first + CHUNK_EVENTS)
        expected = _mean_counts(rng, energy[block], x[block], y[block], particle == "photon")
        images[block] = rng.poisson(expected)
    return images


# === Bundled sample ===

def make_bundled_sample(out: str | Path | None = None, n: int = SAMPLE_EVENTS, seed: int = SAMPLE_SEED) -> Path:
    """Returns the path written: `n` simulated neutron responses (default mix) with their properties.

    Default `out`: the package's samples/zdc_neutrons.npz (counts as uint16, <= 3 MB).
    """
    out = Path(__file__).resolve().parent / "samples" / SAMPLE_NAME if out is None else Path(out)
    return write_zdc(out, ZdcData(simulate_zdc(n, seed=seed)))
