"""LArCV-like images: a small simulator of 2D projections of particle interactions in a
liquid-argon TPC, and the bundled sample it makes.

An image is one plane of a LArTPC seen as wire (column, x) x drift time (row, y), one
charge value per pixel: the energy deposited there, in MeV. The pixel pitch is
`PIXEL_CM` = 1 cm, so a 64 x 64 crop spans 64 cm, about 4.6 radiation lengths of argon,
and an electromagnetic shower fits in it (the 3 mm wire pitch of MicroBooNE, downsampled
as the LArCV1 event displays the original project cropped). Four event types
(`EVENT_TYPES`, the labels):

- `muon`: a through-going muon (0.5-5 GeV/c): a straight MIP track (dE/dx 2.1 MeV/cm
  with Landau fluctuations), bent slightly by multiple scattering (Highland/Rossi
  theta0 = 13.6 MeV / (beta c p) sqrt(x / X0)), with delta rays;
- `stopping_muon`: a muon entering the crop and stopping inside it: dE/dx rises as the
  Bragg-Kleeman law dE/dx = 6.8 MeV/cm (R / cm)^-0.42 of the residual range R (the
  proton law 17 R^-0.42 at the muon's mass), scattering grows as it slows down, and in
  60 % of the events a Michel electron (spectrum x^2 (3 - 2x), up to 52.8 MeV) starts at
  the stopping point;
- `electron`: a neutrino-like vertex (a short stopping proton) with an electron
  shower starting at it (one MIP-wide trunk);
- `photon`: the same vertex with a photon shower that starts after a gap (the photon
  converts after an exponential distance of mean 9/7 X0 = 18 cm) into an e+ e- pair
  (a trunk two MIPs wide).

Showers are a stochastic cascade of short straight segments: electrons lose
2.1 MeV/cm by ionisation and radiate photons (fraction y ~ 1/y above 0.05) after
exponential distances, scattering at each step (radiation equals ionisation at the
critical energy, 32 MeV); under 10 MeV they range out along a few scattered segments; photons pair-convert above 10 MeV and
Compton-scatter below, and are lost under 1 MeV. Tracks are traced in 3D and projected
(a steep track is short and bright), cascades directly in the plane. Every pixel gets
Gaussian noise (0.1 MeV) and pixels under `THRESHOLD_MEV` (0.5 MeV, a quarter of a MIP)
are set to exactly 0, so images are sparse.

The bundled sample (samples/larcv_tracks.npz) is `simulate_larcv(2000, seed=0)` stored
sparse (see `write_sparse`): the non-zero pixels' flat indices and charges (float16,
relative precision 5e-4), 0.36 MB; `physgan.data.images.read_images` reads it.

    python -m physgan.data.larcv_sim simulate --n 5000 --out larcv.npz --seed 1
    python -m physgan.data.larcv_sim make-sample
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from physgan.cli import run_command
from physgan.data.base import bundled_sample
from physgan.errors import ConfigError, DataError
from physgan.fileio import atomic_path

EVENT_TYPES = ("muon", "stopping_muon", "electron", "photon")
SAMPLE_NAME = "larcv_tracks.npz"
SAMPLE_EVENTS = 2000
SAMPLE_SEED = 0
IMAGE_SIZE = 64
# Keys of the sparse .npz layout (read by physgan.data.images.read_images).
SPARSE_KEYS = ("image_shape", "n_pixels", "pixel_index", "charge")

# === Physics constants (lengths in cm = pixels, energies in MeV) ===

PIXEL_CM = 1.0
X0_CM = 14.0                  # radiation length of liquid argon
MIP_MEV_PER_CM = 2.1          # minimum-ionising dE/dx (1.396 g/cm3 x 1.5 MeV cm2/g)
CRITICAL_MEV = 32.0           # electron critical energy of argon: radiation = ionisation losses
RANGE_OUT_MEV = 10.0          # electrons radiate (E / X0 per cm) down to here, then range out
MUON_MASS, ELECTRON_MASS, PROTON_MASS = 105.66, 0.511, 938.27
BRAGG_EXPONENT = 0.42         # Bragg-Kleeman: dE/dx = A R^-0.42
MUON_BRAGG_A = 6.8            # MeV/cm at R = 1 cm: 17 (proton) x (m_p / m_mu)^-0.42
PROTON_BRAGG_A = 17.0
LANDAU_WIDTH = 0.1            # per step: dE x (1 + w (Moyal - mean)); Moyal sd is pi / sqrt(2)
STEP_CM = 0.25                # tracking step, a quarter pixel
MIN_PROJECTION = 0.3          # tracks closer than 17 deg to the drift/wire normal are re-drawn
DELTA_MIN_MEV, DELTA_MAX_MEV = 3.0, 50.0
DELTA_PER_CM_MEV = 0.0965     # dN/dx = 0.1535 (Z/A) rho / T_min: 0.032 delta rays / cm above 3 MeV
MICHEL_MAX_MEV = 52.8
MICHEL_PROBABILITY = 0.6      # mu+ always decay, ~75 % of mu- are captured in argon
BREM_Y_MIN = 0.05             # radiated fraction y ~ 1/y on [0.05, 1], mean 0.317 ...
BREM_MEAN_CM = 0.317 * X0_CM  # ... so emissions every 0.317 X0 radiate E per X0 on average
PAIR_MEAN_CM = 9.0 / 7.0 * X0_CM
PAIR_MIN_MEV = 10.0           # pair production dominates above ~10 MeV in argon
PHOTON_CUT_MEV = 1.0
RANGE_OUT_SEGMENTS = 3
MAX_GENERATIONS = 40
NOISE_MEV = 0.1
THRESHOLD_MEV = 0.5
MUON_MOMENTUM_MEV = (500.0, 5000.0)  # log-uniform
SHOWER_ENERGY_MEV = (100.0, 600.0)   # log-uniform
PROTON_RANGE_CM = (1.5, 6.0)


# === Events in memory ===

@dataclass
class LarcvEvents:
    """Simulated images (n, H, W) float32 MeV >= 0, labels (n,) int64 indices into
    `EVENT_TYPES`, and the truth: `vertex` (n, 2) the (x, y) pixel coordinates where the
    event starts (muon: its entry; stopping muon: its stopping point; electron/photon:
    the vertex) and `start` (n, 2) where the charge of the main object starts (muons:
    as vertex; electron: the vertex; photon: the conversion point)."""

    images: np.ndarray
    labels: np.ndarray
    vertex: np.ndarray
    start: np.ndarray

    def __len__(self) -> int:
        return len(self.images)


class _Deposits:
    """Collects energy deposits (event, x, y, MeV) as lists of arrays."""

    def __init__(self):
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(self, event, x, y, energy):
        self.parts.append((np.asarray(event), np.asarray(x), np.asarray(y), np.asarray(energy)))

    def image(self, n: int, size: int) -> np.ndarray:
        """Returns float64 (n, size, size): the deposits summed per pixel."""
        if not self.parts:
            return np.zeros((n, size, size))
        event, x, y, energy = (np.concatenate(column) for column in zip(*self.parts))
        inside = (x >= 0) & (x < size) & (y >= 0) & (y < size)
        flat = (event[inside] * size + y[inside].astype(np.int64)) * size + x[inside].astype(np.int64)
        return np.bincount(flat, weights=energy[inside], minlength=n * size * size).reshape(n, size, size)


def _landau(rng: np.random.Generator, shape) -> np.ndarray:
    """Returns factors of mean 1: 1 + w (X - E[X]) with X Moyal (-ln Z^2), a Landau-like tail."""
    z2 = np.maximum(rng.standard_normal(shape) ** 2, 1e-12)
    return np.maximum(1.0 + LANDAU_WIDTH * (-np.log(z2) - (np.euler_gamma + np.log(2.0))), 0.0)


# === Tracks ===

def _kinetic_energy(residual_range, bragg_a: float) -> np.ndarray:
    """Returns the kinetic energy (MeV) at residual range R (cm): the integral of
    dE/dx = max(MIP, A R^-b) from 0 to R."""
    b = BRAGG_EXPONENT
    r_mip = (bragg_a / MIP_MEV_PER_CM) ** (1.0 / b)
    r = np.asarray(residual_range, dtype="float64")
    bragg = bragg_a / (1.0 - b) * np.minimum(r, r_mip) ** (1.0 - b)
    return bragg + MIP_MEV_PER_CM * np.maximum(r - r_mip, 0.0)


def _projection(rng: np.random.Generator, n: int) -> np.ndarray:
    """Returns (n,) projected lengths per unit 3D length of isotropic directions, >= MIN_PROJECTION."""
    f = np.sqrt(1.0 - rng.uniform(-1.0, 1.0, n) ** 2)  # sin of an isotropic polar angle
    while (low := f < MIN_PROJECTION).any():
        f[low] = np.sqrt(1.0 - rng.uniform(-1.0, 1.0, int(low.sum())) ** 2)
    return f


def _tracks(rng, deposits, event, x0, y0, phi, projection, n_steps, energy_per_step, theta0):
    """Deposits tracks stepping from (x0, y0) at plane angle phi: energy_per_step and
    theta0 (rad per step) are (n, steps); steps past `n_steps` (n,) are empty. Returns the
    (n, steps) x, y, phi of the steps' midpoints."""
    n, steps = energy_per_step.shape
    kicks = rng.standard_normal((n, steps)) * theta0 / projection[:, None]
    angle = phi[:, None] + np.cumsum(kicks, axis=1) - kicks / 2
    ds = STEP_CM / PIXEL_CM * projection[:, None]
    dx, dy = ds * np.cos(angle), ds * np.sin(angle)
    x = x0[:, None] + np.cumsum(dx, axis=1) - dx / 2
    y = y0[:, None] + np.cumsum(dy, axis=1) - dy / 2
    live = np.arange(steps)[None, :] < n_steps[:, None]
    energy = energy_per_step * _landau(rng, (n, steps))
    deposits.add(np.broadcast_to(event[:, None], (n, steps))[live], x[live], y[live], energy[live])
    return x, y, angle


def _highland(momentum, beta) -> np.ndarray:
    """Returns theta0 (rad) of one STEP_CM step for momentum (MeV/c) and velocity beta (Rossi)."""
    return np.minimum(13.6 / (beta * momentum) * np.sqrt(STEP_CM / X0_CM), 0.5)


def _stopping(rng, deposits, event, end_x, end_y, phi, residual_range, bragg_a, mass, projection=None):
    """Deposits tracks that stop at (end_x, end_y), arriving along plane angle phi, of 3D
    length `residual_range` (n,) cm. Returns the (n, steps) x, y of the steps (from the end)."""
    n = len(event)
    projection = _projection(rng, n) if projection is None else projection
    steps = int(np.ceil(residual_range.max() / STEP_CM))
    r_lo = np.arange(steps)[None, :] * STEP_CM
    kinetic_lo = _kinetic_energy(r_lo, bragg_a)
    kinetic_hi = _kinetic_energy(r_lo + STEP_CM, bragg_a)
    kinetic = (kinetic_lo + kinetic_hi) / 2
    momentum = np.sqrt(kinetic ** 2 + 2 * kinetic * mass)
    theta0 = np.broadcast_to(_highland(momentum, momentum / (kinetic + mass)), (n, steps))
    energy = np.broadcast_to(kinetic_hi - kinetic_lo, (n, steps))
    # Traced backwards from the stopping point: the statistics of scattering are the same.
    n_steps = np.ceil(residual_range / STEP_CM).astype(int)
    x, y, _ = _tracks(rng, deposits, event, end_x, end_y, phi + np.pi, projection, n_steps, energy, theta0)
    return x, y


def _delta_rays(rng, event, x, y, angle, live) -> tuple[np.ndarray, ...]:
    """Returns (event, x, y, angle, energy) of delta-ray electrons knocked out along tracks
    whose (n, steps) midpoints are x, y, angle (where `live`)."""
    rate = DELTA_PER_CM_MEV * (1.0 / DELTA_MIN_MEV - 1.0 / DELTA_MAX_MEV) * STEP_CM
    hit = live & (rng.uniform(size=x.shape) < rate)
    u = rng.uniform(size=int(hit.sum()))
    energy = 1.0 / (1.0 / DELTA_MIN_MEV - u * (1.0 / DELTA_MIN_MEV - 1.0 / DELTA_MAX_MEV))  # dN/dT ~ 1/T^2
    # A fast heavy particle gives a delta ray of kinetic energy T at cos(theta) = sqrt(T / (T + 2 m_e)).
    theta = np.arccos(np.sqrt(energy / (energy + 2 * ELECTRON_MASS)))
    side = np.where(rng.uniform(size=len(u)) < 0.5, -1.0, 1.0)
    rows = np.broadcast_to(event[:, None], x.shape)[hit]
    return rows, x[hit], y[hit], angle[hit] + side * theta, energy


# === Showers ===

def _segments(rng, deposits, event, x, y, angle, length, energy):
    """Deposits `energy` spread evenly (with Landau factors) along straight segments; returns their end points."""
    n_points = np.maximum(np.ceil(length / (STEP_CM / PIXEL_CM)).astype(np.int64), 1)
    which = np.repeat(np.arange(len(event)), n_points)
    first = np.cumsum(n_points) - n_points
    t = (np.arange(len(which)) - first[which] + 0.5) / n_points[which]
    reach = length[which] * t
    deposits.add(event[which], x[which] + reach * np.cos(angle[which]), y[which] + reach * np.sin(angle[which]),
                 energy[which] / n_points[which] * _landau(rng, len(which)))
    return x + length * np.cos(angle), y + length * np.sin(angle)


def _scatter(rng, energy, length) -> np.ndarray:
    """Returns plane scattering angles of electrons (MeV, beta = 1) over `length` cm (Rossi)."""
    return rng.standard_normal(len(energy)) * np.minimum(13.6 / np.maximum(energy, 0.1)
                                                         * np.sqrt(length * PIXEL_CM / X0_CM), 1.0)


def _cascade(rng, deposits, size, event, x, y, angle, energy, photon):
    """Deposits the electromagnetic cascades of electrons and photons (arrays of equal length)."""
    margin = 0.5 * size
    for _ in range(MAX_GENERATIONS):
        keep = (energy > PHOTON_CUT_MEV) & (x > -margin) & (x < size + margin) & (y > -margin) & (y < size + margin)
        event, x, y, angle, energy, photon = (a[keep] for a in (event, x, y, angle, energy, photon))
        if not len(event):
            return
        new = []
        # Slow electrons range out along a few scattered segments.
        low = ~photon & (energy <= RANGE_OUT_MEV)
        if low.any():
            ev, px, py, pa, pe = event[low], x[low], y[low], angle[low], energy[low]
            piece = pe / MIP_MEV_PER_CM / RANGE_OUT_SEGMENTS
            for k in range(RANGE_OUT_SEGMENTS):
                left = pe * (1.0 - k / RANGE_OUT_SEGMENTS)
                pa = pa + _scatter(rng, left, piece)
                px, py = _segments(rng, deposits, ev, px, py, pa, piece, pe / RANGE_OUT_SEGMENTS)
        # Faster ones ionise over an exponential distance, then radiate a photon: radiation
        # outweighs ionisation above the critical energy and goes on (less) below it.
        high = ~photon & (energy > RANGE_OUT_MEV)
        if high.any():
            ev, px, py, pa, pe = event[high], x[high], y[high], angle[high], energy[high]
            length = np.minimum(rng.exponential(BREM_MEAN_CM, len(ev)), pe / MIP_MEV_PER_CM) / PIXEL_CM
            lost = length * PIXEL_CM * MIP_MEV_PER_CM
            px, py = _segments(rng, deposits, ev, px, py, pa, length, lost)
            pa = pa + _scatter(rng, pe, length)
            left = pe - lost
            y_frac = BREM_Y_MIN ** (1.0 - rng.uniform(size=len(ev)))
            gamma_angle = pa + rng.standard_normal(len(ev)) * ELECTRON_MASS / np.maximum(left, 1.0)
            new.append((ev, px, py, pa, left * (1.0 - y_frac), np.zeros(len(ev), bool)))
            new.append((ev, px, py, gamma_angle, left * y_frac, np.ones(len(ev), bool)))
        # Photons travel unseen, then pair-convert or Compton-scatter.
        if photon.any():
            ev, pa, pe = event[photon], angle[photon], energy[photon]
            distance = rng.exponential(PAIR_MEAN_CM, len(ev)) / PIXEL_CM
            px, py = x[photon] + distance * np.cos(pa), y[photon] + distance * np.sin(pa)
            pair = pe > PAIR_MIN_MEV
            share = rng.uniform(size=len(ev))
            opening = np.abs(rng.standard_normal(len(ev))) * ELECTRON_MASS / pe * 4.0
            kinetic = np.maximum(pe - 2 * ELECTRON_MASS, 0.0)
            # Pairs: e- and e+ share the kinetic energy uniformly (a flat approximation of Bethe-Heitler).
            new.append((ev[pair], px[pair], py[pair], (pa + opening)[pair], (share * kinetic)[pair],
                        np.zeros(int(pair.sum()), bool)))
            new.append((ev[pair], px[pair], py[pair], (pa - opening)[pair], ((1 - share) * kinetic)[pair],
                        np.zeros(int(pair.sum()), bool)))
            # Compton: the electron takes a uniform fraction, the scattered photon goes on.
            c = ~pair
            nc = int(c.sum())
            new.append((ev[c], px[c], py[c], pa[c] + 0.3 * rng.standard_normal(nc), (share * pe)[c], np.zeros(nc, bool)))
            new.append((ev[c], px[c], py[c], pa[c] + rng.standard_normal(nc), ((1 - share) * pe)[c], np.ones(nc, bool)))
        if not new:
            return
        event, x, y, angle, energy, photon = (np.concatenate(column) for column in zip(*new))


# === Event types ===

def _uniform_points(rng, n: int, size: int, margin: float) -> tuple[np.ndarray, np.ndarray]:
    return rng.uniform(margin, size - margin, n), rng.uniform(margin, size - margin, n)


def _through_muons(rng, deposits, size, event):
    """Through-going muons crossing a random point of the crop; returns their (x, y) entry points."""
    n = len(event)
    cx, cy = _uniform_points(rng, n, size, size / 4)
    phi = rng.uniform(0, 2 * np.pi, n)
    projection = _projection(rng, n)
    steps = int(np.ceil(1.5 * size * PIXEL_CM / MIN_PROJECTION / STEP_CM))
    half = steps * STEP_CM / PIXEL_CM * projection / 2
    x0, y0 = cx - half * np.cos(phi), cy - half * np.sin(phi)
    momentum = np.exp(rng.uniform(*np.log(MUON_MOMENTUM_MEV), n))
    beta = momentum / np.sqrt(momentum ** 2 + MUON_MASS ** 2)
    theta0 = np.broadcast_to(_highland(momentum, beta)[:, None], (n, steps))
    energy = np.full((n, steps), MIP_MEV_PER_CM * STEP_CM)
    x, y, angle = _tracks(rng, deposits, event, x0, y0, phi, projection, np.full(n, steps), energy, theta0)
    inside = (x >= 0) & (x < size) & (y >= 0) & (y < size)
    _add_delta_rays(rng, deposits, size, event, x, y, angle, inside)
    first = np.argmax(inside, axis=1)
    rows = np.arange(n)
    return np.stack([x[rows, first], y[rows, first]], axis=1)


def _add_delta_rays(rng, deposits, size, event, x, y, angle, live):
    ev, dx, dy, da, de = _delta_rays(rng, event, x, y, angle, live)
    _cascade(rng, deposits, size, ev, dx, dy, da, de, np.zeros(len(ev), bool))


def _michel_energies(rng, n: int) -> np.ndarray:
    """Returns n Michel-electron energies (MeV) of spectrum x^2 (3 - 2x), x = E / 52.8 MeV."""
    out = np.empty(0)
    while len(out) < n:
        x = rng.uniform(size=2 * n + 16)
        out = np.concatenate([out, x[rng.uniform(size=len(x)) < x ** 2 * (3 - 2 * x)]])
    return out[:n] * MICHEL_MAX_MEV


def _stopping_muons(rng, deposits, size, event):
    """Muons stopping inside the crop (a Michel electron in some); returns their stopping points."""
    n = len(event)
    ex, ey = _uniform_points(rng, n, size, 6.0)
    phi = rng.uniform(0, 2 * np.pi, n)
    length = np.full(n, 1.5 * size * PIXEL_CM / MIN_PROJECTION)
    x, y = _stopping(rng, deposits, event, ex, ey, phi, length, MUON_BRAGG_A, MUON_MASS)
    inside = (x >= 0) & (x < size) & (y >= 0) & (y < size)
    # No delta rays in the last 20 cm (T < 70 MeV): there T_max = 2 m_e (beta gamma)^2 < 3 MeV.
    residual = (np.arange(x.shape[1]) + 0.5) * STEP_CM
    angle = np.arctan2(np.gradient(y, axis=1), np.gradient(x, axis=1)) + np.pi
    _add_delta_rays(rng, deposits, size, event, x, y, angle, inside & (residual[None, :] > 20.0))
    michel = rng.uniform(size=n) < MICHEL_PROBABILITY
    k = int(michel.sum())
    _cascade(rng, deposits, size, event[michel], ex[michel], ey[michel], rng.uniform(0, 2 * np.pi, k),
             _michel_energies(rng, k), np.zeros(k, bool))
    return np.stack([ex, ey], axis=1)


def _showers(rng, deposits, size, event, photon: bool):
    """Vertices (a short proton) with an electron or photon shower; returns (vertex, shower start)."""
    n = len(event)
    vx, vy = _uniform_points(rng, n, size, size / 6)
    # The proton, stopping PROTON_RANGE_CM from the vertex.
    p_phi = rng.uniform(0, 2 * np.pi, n)
    p_range = rng.uniform(*PROTON_RANGE_CM, n)
    p_proj = _projection(rng, n)
    _stopping(rng, deposits, event, vx + p_range * p_proj * np.cos(p_phi), vy + p_range * p_proj * np.sin(p_phi),
              p_phi, p_range, PROTON_BRAGG_A, PROTON_MASS, p_proj)
    energy = np.exp(rng.uniform(*np.log(SHOWER_ENERGY_MEV), n))
    # The shower points away from the proton, into the crop's half that contains its centre.
    phi = np.arctan2(size / 2 - vy, size / 2 - vx) + rng.uniform(-np.pi / 2, np.pi / 2, n)
    sx, sy = vx.copy(), vy.copy()
    if photon:
        # Conversion distance: exponential of mean 9/7 X0, truncated to stay in the crop.
        reach = _distance_to_edge(vx, vy, phi, size) * PIXEL_CM
        u = rng.uniform(size=n)
        distance = -PAIR_MEAN_CM * np.log1p(-u * (1.0 - np.exp(-reach / PAIR_MEAN_CM))) / PIXEL_CM
        sx, sy = vx + distance * np.cos(phi), vy + distance * np.sin(phi)
        share = rng.uniform(size=n)
        kinetic = energy - 2 * ELECTRON_MASS
        opening = np.abs(rng.standard_normal(n)) * ELECTRON_MASS / energy * 4.0
        _cascade(rng, deposits, size, np.concatenate([event, event]), np.concatenate([sx, sx]),
                 np.concatenate([sy, sy]), np.concatenate([phi + opening, phi - opening]),
                 np.concatenate([share * kinetic, (1 - share) * kinetic]), np.zeros(2 * n, bool))
    else:
        _cascade(rng, deposits, size, event, vx, vy, phi, energy, np.zeros(n, bool))
    return np.stack([vx, vy], axis=1), np.stack([sx, sy], axis=1)


def _distance_to_edge(x, y, phi, size) -> np.ndarray:
    """Returns the distance from (x, y) inside the crop to its edge along angle phi (pixels)."""
    c, s = np.cos(phi), np.sin(phi)
    with np.errstate(divide="ignore"):
        tx = np.where(c > 0, (size - x) / c, np.where(c < 0, -x / c, np.inf))
        ty = np.where(s > 0, (size - y) / s, np.where(s < 0, -y / s, np.inf))
    return np.minimum(tx, ty)


# === Public simulator ===

def _event_type_indices(event_types) -> np.ndarray:
    if event_types is None:
        return np.arange(len(EVENT_TYPES))
    names = [event_types] if isinstance(event_types, str) else list(event_types)
    unknown = [t for t in names if t not in EVENT_TYPES]
    if unknown or not names:
        raise ConfigError(f"physgan: unknown LArCV event type(s) {unknown or names!r}; "
                          f"expected some of {', '.join(EVENT_TYPES)}")
    return np.array([EVENT_TYPES.index(t) for t in names])


def simulate_larcv_events(n: int, image_size: int = IMAGE_SIZE, seed: int | None = 0,
                          event_types=None) -> LarcvEvents:
    """Returns `n` simulated events with their truth (`LarcvEvents`), types drawn uniformly
    from `event_types` (names of `EVENT_TYPES`; None: all four)."""
    for name, value, low in (("n", n, 1), ("image_size", image_size, 8)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ConfigError(f"physgan: {name} must be an integer >= {low}, got {value!r}")
    n, size = int(n), int(image_size)
    allowed = _event_type_indices(event_types)
    rng = np.random.default_rng(seed)
    labels = allowed[rng.integers(0, len(allowed), n)].astype(np.int64)
    vertex = np.zeros((n, 2))
    start = np.zeros((n, 2))
    deposits = _Deposits()
    for label, name in enumerate(EVENT_TYPES):
        event = np.flatnonzero(labels == label)
        if not len(event):
            continue
        if name == "muon":
            vertex[event] = start[event] = _through_muons(rng, deposits, size, event)
        elif name == "stopping_muon":
            vertex[event] = start[event] = _stopping_muons(rng, deposits, size, event)
        else:
            vertex[event], start[event] = _showers(rng, deposits, size, event, photon=name == "photon")
    images = deposits.image(n, size) + rng.normal(0.0, NOISE_MEV, (n, size, size))
    images[images < THRESHOLD_MEV] = 0.0
    return LarcvEvents(images.astype("float32"), labels, vertex, start)


def simulate_larcv(n: int, image_size: int = IMAGE_SIZE, seed: int | None = 0,
                   event_types=None) -> tuple[np.ndarray, np.ndarray]:
    """Returns (images float32 (n, image_size, image_size) MeV per pixel >= 0, labels (n,) int64
    indices into `EVENT_TYPES`); the same `seed` gives the same images."""
    events = simulate_larcv_events(n, image_size, seed, event_types)
    return events.images, events.labels


# === Files ===

def write_sparse(path: str | Path, images, labels=None) -> Path:
    """Returns `path` after writing `images` (N, H, W) >= 0 there as a compressed sparse .npz:
    `image_shape` (H, W), `n_pixels` (N,) non-zero pixels per image, `pixel_index` their
    row-major flat indices (uint16 when H W <= 65536), `charge` their values (float16),
    and `labels` (N,) with `event_types` when given."""
    path = Path(path)
    if path.suffix.lower() != ".npz":
        raise DataError(f"physgan: cannot write {path}: sparse LArCV images are written as .npz")
    images = np.asarray(images)
    if images.ndim != 3 or not np.isfinite(images).all() or (images < 0).any():
        raise DataError(f"physgan: cannot write {path.name}: images must be finite (N, H, W) values >= 0, "
                        f"got shape {images.shape}")
    flat = images.reshape(len(images), -1)
    rows, index = np.nonzero(flat)
    index_dtype = "uint16" if flat.shape[1] <= 65536 else "uint32"
    arrays = {"image_shape": np.array(images.shape[1:], dtype="int64"),
              "n_pixels": np.bincount(rows, minlength=len(images)).astype("int64"),
              "pixel_index": index.astype(index_dtype), "charge": flat[rows, index].astype("float16")}
    if labels is not None:
        arrays["labels"] = np.asarray(labels, dtype="int64")
        arrays["event_types"] = np.array(EVENT_TYPES)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
    return path


def bundled_sample_path() -> Path:
    """Returns the path of the bundled simulated sample, samples/larcv_tracks.npz."""
    return bundled_sample(__file__, SAMPLE_NAME, "LArCV",
                          "python -m physgan.data.larcv_sim make-sample")


def make_bundled_sample(path: str | Path | None = None, n: int = SAMPLE_EVENTS, seed: int = SAMPLE_SEED) -> Path:
    """Returns the path written: `simulate_larcv(n, seed=seed)` as a sparse .npz with the labels
    (default: the package's samples/larcv_tracks.npz, under 1 MB)."""
    path = Path(__file__).resolve().parent / "samples" / SAMPLE_NAME if path is None else Path(path)
    images, labels = simulate_larcv(n, seed=seed)
    return write_sparse(path, images, labels)


# === Command line ===

def build_parser() -> argparse.ArgumentParser:
    """Returns the command-line parser of `python -m physgan.data.larcv_sim`."""
    parser = argparse.ArgumentParser(prog="python -m physgan.data.larcv_sim",
                                     description="Simulate LArCV-like LArTPC images or rebuild the bundled sample.")
    commands = parser.add_subparsers(dest="command", required=True)
    simulate = commands.add_parser("simulate", help="write N simulated images (sparse .npz)")
    simulate.add_argument("--n", type=int, required=True, help="number of images")
    simulate.add_argument("--out", required=True, help="the .npz file to write")
    simulate.add_argument("--seed", type=int, default=None, help="random seed (default: fresh)")
    simulate.add_argument("--size", type=int, default=IMAGE_SIZE, help=f"pixels per side (default: {IMAGE_SIZE})")
    simulate.add_argument("--types", nargs="+", choices=EVENT_TYPES, help="event types (default: all)")
    sample = commands.add_parser("make-sample", help="rebuild the bundled sample")
    sample.add_argument("--out", help=f"the file to write (default: the package's samples/{SAMPLE_NAME})")
    return parser


def _run(args: argparse.Namespace) -> None:
    if args.command == "simulate":
        images, labels = simulate_larcv(args.n, args.size, args.seed, args.types)
        path = write_sparse(args.out, images, labels)
        print(f"physgan: wrote {args.n} images to {path}")
    else:
        path = make_bundled_sample(args.out)
        print(f"physgan: wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


def main(argv: list[str] | None = None) -> int:
    """Runs the command line; returns the exit code."""
    return run_command(build_parser(), argv, _run)


if __name__ == "__main__":
    raise SystemExit(main())
