"""ALICE Zero Degree Calorimeter (neutron ZN) responses: 44x44 photon counts, their 9 properties,
files, and a small simulator that makes the bundled default data.

The ZN is a spaghetti calorimeter: a W-alloy block 8.7 interaction lengths deep with
1936 quartz fibres parallel to the beam, read out here as a 44 x 44 grid (1.6 mm pitch,
7.04 cm face). A response is the number of Cherenkov photons per fibre; the CorrVAE
(arXiv:2210.01796) generates it as log(1 + counts), controlled by 9 properties
(`PROPERTY_NAMES`, computed by `zdc_properties`).

Files hold a dataset `images` (N, 44, 44) or (N, 1, 44, 44) of counts and, optionally,
`properties` (N, 9): HDF5 (.h5/.hdf5), NumPy .npz (same keys) or .npy (images only).
No public ZDC data exists offline, so the bundled sample (samples/zdc_neutrons.npz, 13000
responses, 2.7 MB) is `simulate_zdc(13000, seed=0)` with its properties; the counts are stored
as uint16 (they are integers < 65536).

    python -m physgan.data.zdc simulate --n 10000 --out zdc.npz --seed 1
    python -m physgan.data.zdc properties zdc.npz
    python -m physgan.data.zdc make-sample
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from scipy.special import gammainc, ndtr, ndtri

from physgan.cli import run_command
from physgan.data.calogan import _check_positive_int, _shape_text
from physgan.errors import ConfigError, DataError
from physgan.fileio import atomic_path, open_hdf5

IMAGE_SHAPE = (44, 44)  # [row = y, column = x]
PROPERTY_NAMES = ("max_x", "max_y", "centre_x", "centre_y", "n_nonzero", "nonzero_category",
                  "n_above_1_log", "sum", "max")
IMAGES_NAME, PROPERTIES_NAME, NAMES_NAME = "images", "properties", "property_names"
# An empty image has its centre of mass at the centre of the face, in pixel-index units.
EMPTY_CENTRE = ((IMAGE_SHAPE[1] - 1) / 2, (IMAGE_SHAPE[0] - 1) / 2)
# nonzero_category = number of these edges <= n_nonzero (0..4): the 20/40/60/80 % quantiles of
# n_nonzero in the bundled sample, so its events fall about evenly into the 5 categories.
NONZERO_CATEGORY_EDGES = (65.0, 121.0, 163.0, 206.0)
SAMPLE_NAME = "zdc_neutrons.npz"
SAMPLE_EVENTS = 13000  # 2.7 MB as uint16 in a compressed .npz
SAMPLE_SEED = 0
UINT16_MAX = 65535

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


# === Properties ===

def _as_images(images, name: str = "images") -> np.ndarray:
    """Returns `images` as an (N, 44, 44) array; (N, 1, 44, 44) and (N, 44, 44, 1) are accepted."""
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    elif images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise DataError(f"physgan: {name} has shape {_shape_text(images.shape)}, "
                        f"expected {_shape_text(('N', *IMAGE_SHAPE))} or {_shape_text(('N', 1, *IMAGE_SHAPE))}")
    return images


def nonzero_category(n_nonzero) -> np.ndarray:
    """Returns float64 categories 0..4 of the numbers of non-zero pixels (`NONZERO_CATEGORY_EDGES`)."""
    return np.searchsorted(np.asarray(NONZERO_CATEGORY_EDGES), np.asarray(n_nonzero), side="right").astype("float64")


def zdc_properties(images) -> np.ndarray:
    """Returns float64 (N, 9): the `PROPERTY_NAMES` of photon-count images (N, 44, 44) or (N, 1, 44, 44).

    max_x, max_y: column and row of the brightest pixel (the first in np.argmax order on
    ties); centre_x, centre_y: the intensity-weighted column and row (pixel-index units;
    `EMPTY_CENTRE` for an empty image, whose max pixel is (0, 0)); n_nonzero: pixels > 0; nonzero_category: its bin
    0..4; n_above_1_log: pixels with log(1 + count) > 1; sum, max: of the counts.
    """
    images = _as_images(images).astype("float64", copy=False)
    n, rows, cols = images.shape
    flat = images.reshape(n, -1)
    brightest = np.argmax(flat, axis=1)
    total = flat.sum(axis=1)
    weight = np.where(total > 0, total, 1.0)
    centre_x = np.where(total > 0, images.sum(axis=1) @ np.arange(cols) / weight, EMPTY_CENTRE[0])
    centre_y = np.where(total > 0, images.sum(axis=2) @ np.arange(rows) / weight, EMPTY_CENTRE[1])
    n_nonzero = (flat > 0).sum(axis=1)
    return np.stack([brightest % cols, brightest // cols, centre_x, centre_y, n_nonzero,
                     nonzero_category(n_nonzero), (np.log1p(flat) > 1).sum(axis=1), total,
                     flat.max(axis=1, initial=0.0)], axis=1).astype("float64")


def _as_properties(properties, name: str = "properties") -> np.ndarray:
    """Returns float64 (N, 9) `properties` (or (9,) kept as given); DataError for another last axis."""
    properties = np.asarray(properties, dtype="float64")
    if properties.ndim not in (1, 2) or properties.shape[-1] != len(PROPERTY_NAMES):
        raise DataError(f"physgan: {name} has shape {_shape_text(properties.shape)}, "
                        f"expected {_shape_text(('N', len(PROPERTY_NAMES)))}")
    return properties


# PropertyScaler().fit(properties of the bundled sample), stored so that import needs no file.
DEFAULT_SCALER_MINIMUM = (0.0, 0.0, 0.9439252336448598, 1.1037037037037036, 0.0, 0.0, 0.0, 0.0, 0.0)
DEFAULT_SCALER_MAXIMUM = (43.0, 43.0, 42.022222222222226, 41.916666666666664, 525.0, 4.0, 275.0, 1627.0, 167.0)


@dataclass
class PropertyScaler:
    """Min-max scaling of the 9 properties to [0, 1] (the model's condition), per column."""

    minimum: tuple = (0.0,) * len(PROPERTY_NAMES)
    maximum: tuple = (1.0,) * len(PROPERTY_NAMES)

    def __post_init__(self):
        for name in ("minimum", "maximum"):
            values = np.asarray(getattr(self, name), dtype="float64")
            if values.shape != (len(PROPERTY_NAMES),) or not np.isfinite(values).all():
                raise ConfigError(f"physgan: PropertyScaler {name} must be {len(PROPERTY_NAMES)} finite "
                                  f"numbers, got {getattr(self, name)!r}")
            setattr(self, name, tuple(float(v) for v in values))
        if any(hi < lo for lo, hi in zip(self.minimum, self.maximum)):
            raise ConfigError("physgan: PropertyScaler maximum must be >= minimum in every column")

    def _range(self) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = np.asarray(self.minimum), np.asarray(self.maximum)
        return lo, np.where(hi > lo, hi - lo, 1.0)  # a constant column maps to 0

    def fit(self, properties) -> PropertyScaler:
        """Returns self, set to the min and max of each column of `properties` (N, 9)."""
        properties = _as_properties(properties).reshape(-1, len(PROPERTY_NAMES))
        if len(properties) == 0 or not np.isfinite(properties).all():
            raise DataError("physgan: PropertyScaler.fit needs at least one row of finite properties")
        self.minimum = tuple(float(v) for v in properties.min(axis=0))
        self.maximum = tuple(float(v) for v in properties.max(axis=0))
        return self

    def transform(self, properties) -> np.ndarray:
        """Returns float64 `properties` (N, 9) or (9,) scaled to [0, 1], clipped."""
        lo, span = self._range()
        return np.clip((_as_properties(properties) - lo) / span, 0.0, 1.0)

    def inverse_transform(self, scaled) -> np.ndarray:
        """Returns float64 physical properties from scaled ones (N, 9) or (9,)."""
        lo, span = self._range()
        return lo + _as_properties(scaled, "scaled properties") * span

    def to_dict(self) -> dict:
        """Returns a JSON-able dict (for a model's config)."""
        return {"names": list(PROPERTY_NAMES), "minimum": list(self.minimum), "maximum": list(self.maximum)}

    @classmethod
    def from_dict(cls, config: dict) -> PropertyScaler:
        """Returns the scaler of `to_dict()`; ConfigError if the property names differ."""
        if not isinstance(config, dict) or not {"minimum", "maximum"} <= set(config):
            raise ConfigError(f"physgan: a PropertyScaler config needs 'minimum' and 'maximum', got {config!r}")
        names = tuple(config.get("names", PROPERTY_NAMES))
        if names != PROPERTY_NAMES:
            raise ConfigError(f"physgan: PropertyScaler config is for properties {names}, expected {PROPERTY_NAMES}")
        return cls(tuple(config["minimum"]), tuple(config["maximum"]))

    @classmethod
    def default(cls) -> PropertyScaler:
        """Returns the scaler fitted on the bundled sample (stored values)."""
        return cls(DEFAULT_SCALER_MINIMUM, DEFAULT_SCALER_MAXIMUM)


# === Responses in memory ===

@dataclass
class ZdcData:
    """N responses: images (N, 44, 44) float32 photon counts; properties (N, 9) float64
    physical (computed when None). Images may be given as (N, 1, 44, 44)."""

    images: np.ndarray
    properties: np.ndarray | None = None

    def __post_init__(self):
        self.images = _as_images(self.images).astype("float32", copy=False)
        if self.properties is None:
            self.properties = zdc_properties(self.images)
        properties = np.asarray(self.properties, dtype="float64")
        if properties.shape != (len(self.images), len(PROPERTY_NAMES)):
            raise DataError(f"physgan: ZdcData: properties has shape {_shape_text(properties.shape)}, "
                            f"expected {_shape_text((len(self.images), len(PROPERTY_NAMES)))}")
        self.properties = properties

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index) -> ZdcData:
        """Returns the responses selected by a slice, an index array or a mask (an int keeps one)."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        return ZdcData(self.images[index], self.properties[index])

    @property
    def log_images(self) -> np.ndarray:
        """Returns float32 (N, 44, 44, 1): log(1 + counts), the model input (channels last)."""
        return np.log1p(self.images)[..., None]


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
                          f"got shape {_shape_text(values.shape)}")
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
                              f"got shape {_shape_text(np.shape(impact))}")
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
    n = _check_positive_int("n", n)
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


# === Files ===

def _check_counts(prefix: str, images: np.ndarray, first_event: int = 0) -> None:
    """Raises DataError `prefix` + the first event holding NaN/inf or a negative count."""
    flat = images.reshape(len(images), -1)
    bad = ~np.isfinite(flat).all(axis=1)
    if bad.any():
        raise DataError(f"{prefix}event {first_event + int(np.argmax(bad))} holds NaN or inf")
    lowest = flat.min(axis=1, initial=0.0)
    if (lowest < 0).any():
        row = int(np.argmax(lowest < 0))
        raise DataError(f"{prefix}event {first_event + row} holds a negative count ({lowest[row]:g}); "
                        f"counts must be >= 0")


def _check_layout(name: str, images, properties) -> int:
    """Returns the number of events; raises DataError unless `images` (array or HDF5 dataset) is
    (N, 44, 44) or (N, 1, 44, 44) numbers and `properties` (if not None) is (N, 9)."""
    shape = tuple(images.shape)
    if images.dtype.kind not in "fiu" or len(shape) not in (3, 4) or shape[-2:] != IMAGE_SHAPE \
            or (len(shape) == 4 and shape[1] != 1):
        raise DataError(f"physgan: ZDC file {name}: 'images' has shape {_shape_text(shape)} "
                        f"({images.dtype}), expected numbers of shape {_shape_text(('N', *IMAGE_SHAPE))} "
                        f"or {_shape_text(('N', 1, *IMAGE_SHAPE))}")
    if shape[0] == 0:
        raise DataError(f"physgan: ZDC file {name} holds no events")
    if properties is not None and (tuple(properties.shape) != (shape[0], len(PROPERTY_NAMES))
                                   or properties.dtype.kind not in "fiu"):
        raise DataError(f"physgan: ZDC file {name}: 'properties' has shape {_shape_text(properties.shape)} "
                        f"({properties.dtype}), expected numbers of shape "
                        f"{_shape_text((shape[0], len(PROPERTY_NAMES)))}, one row per image")
    return shape[0]


def _from_arrays(name: str, images, properties, names, max_events: int | None) -> ZdcData:
    """Returns the validated ZdcData of the first `max_events` of arrays (or HDF5 datasets) of file `name`."""
    n = _check_layout(name, images, properties)
    if names is not None:
        names = [s.decode() if isinstance(s, bytes) else str(s) for s in np.asarray(names).reshape(-1)]
        if tuple(names) != PROPERTY_NAMES:
            raise DataError(f"physgan: ZDC file {name}: 'property_names' is {names}, expected {list(PROPERTY_NAMES)}")
    n = n if max_events is None else min(n, max_events)
    images = np.asarray(images[:n], dtype="float32").reshape(n, *IMAGE_SHAPE)
    _check_counts(f"physgan: ZDC file {name}: 'images' ", images)
    if properties is not None:
        properties = np.asarray(properties[:n], dtype="float64")
        bad = ~np.isfinite(properties).all(axis=1)
        if bad.any():
            raise DataError(f"physgan: ZDC file {name}: 'properties' event {int(np.argmax(bad))} holds NaN or inf")
    return ZdcData(images, properties)


def read_zdc(path: str | Path, max_events: int | None = None) -> ZdcData:
    """Returns the responses of the ZDC file `path` (.h5/.hdf5, .npz or .npy), validated.

    Reads the first `max_events` (all when None). `properties` are computed when the file
    has none. Raises DataError naming the file and the problem: missing file, unknown
    suffix, no `images`, wrong shapes, NaN/inf or negative counts (with the first bad event).
    """
    path = Path(path)
    if max_events is not None:
        max_events = _check_positive_int("max_events", max_events)
    suffix = path.suffix.lower()
    if suffix not in (".h5", ".hdf5", ".npz", ".npy"):
        raise DataError(f"physgan: ZDC file {path} has an unknown suffix {path.suffix!r}; "
                        f"expected .h5, .hdf5, .npz or .npy")
    if suffix in (".h5", ".hdf5"):
        with open_hdf5(path, "ZDC", "a dataset 'images' (N, 44, 44) and optionally 'properties' (N, 9)") as f:
            if IMAGES_NAME not in f:
                raise DataError(f"physgan: ZDC file {path.name} has no dataset 'images' "
                                f"(found: {', '.join(sorted(f.keys())) or 'nothing'})")
            for key in (IMAGES_NAME, PROPERTIES_NAME):
                if key in f and not isinstance(f[key], h5py.Dataset):
                    raise DataError(f"physgan: ZDC file {path.name}: {key!r} is a group, expected a dataset")
            return _from_arrays(path.name, f[IMAGES_NAME], f.get(PROPERTIES_NAME), f.attrs.get(NAMES_NAME),
                                max_events)
    if not path.exists():
        raise DataError(f"physgan: ZDC file {path} does not exist")
    if path.is_dir():
        raise DataError(f"physgan: ZDC file {path} is a folder, expected a {suffix} file")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise DataError(f"physgan: cannot read ZDC file {path}: {err}") from None
    if suffix == ".npy":
        if not isinstance(loaded, np.ndarray):
            loaded.close()
            raise DataError(f"physgan: ZDC file {path.name} is a .npz archive, expected a .npy array")
        return _from_arrays(path.name, loaded, None, None, max_events)
    if not hasattr(loaded, "files"):
        raise DataError(f"physgan: ZDC file {path.name} is a .npy array, expected a .npz archive")
    with loaded:
        if IMAGES_NAME not in loaded.files:
            raise DataError(f"physgan: ZDC file {path.name} has no array 'images' "
                            f"(found: {', '.join(sorted(loaded.files)) or 'nothing'})")
        return _from_arrays(path.name, loaded[IMAGES_NAME],
                            loaded[PROPERTIES_NAME] if PROPERTIES_NAME in loaded.files else None,
                            loaded[NAMES_NAME] if NAMES_NAME in loaded.files else None, max_events)


def _stored_images(images: np.ndarray) -> np.ndarray:
    """Returns the counts as uint16 when they are all integers <= 65535, else as float32."""
    if images.size and images.max() <= UINT16_MAX and np.array_equal(images, np.round(images)):
        return images.astype("uint16")
    return images.astype("float32")


def _writable(path: str | Path) -> Path:
    """Returns `path` as a Path; DataError unless its suffix is one write_zdc writes."""
    path = Path(path)
    if path.suffix.lower() not in (".npz", ".h5", ".hdf5"):
        raise DataError(f"physgan: cannot write ZDC file {path}: unknown suffix {path.suffix!r}; "
                        f"expected .npz, .h5 or .hdf5")
    return path


def write_zdc(path: str | Path, data: ZdcData) -> Path:
    """Returns `path` after writing `data` there atomically: .npz (compressed) or .h5/.hdf5 (gzip).

    Datasets `images` (N, 44, 44), uint16 when the counts are integers < 65536 else float32,
    `properties` (N, 9) float64, and the property names.
    """
    path = _writable(path)
    suffix = path.suffix.lower()
    _check_counts(f"physgan: cannot write ZDC file {path.name}: ", data.images)
    images = _stored_images(data.images)
    with atomic_path(path) as tmp:
        if suffix == ".npz":
            with open(tmp, "wb") as f:
                np.savez_compressed(f, **{IMAGES_NAME: images, PROPERTIES_NAME: data.properties,
                                          NAMES_NAME: np.array(PROPERTY_NAMES)})
        else:
            with h5py.File(tmp, "w") as f:
                f.create_dataset(IMAGES_NAME, data=images, chunks=(min(len(images), 256), *IMAGE_SHAPE),
                                 compression="gzip", compression_opts=6, shuffle=True, track_times=False)
                f.create_dataset(PROPERTIES_NAME, data=data.properties, track_times=False)
                f.attrs[NAMES_NAME] = list(PROPERTY_NAMES)
    return path


# === Bundled sample ===

def bundled_sample_path() -> Path:
    """Returns the path of the bundled simulated sample, samples/zdc_neutrons.npz."""
    path = Path(__file__).resolve().parent / "samples" / SAMPLE_NAME
    if not path.is_file():
        raise DataError(f"physgan: the bundled ZDC sample {path} is missing; rebuild it with "
                        f"`python -m physgan.data.zdc make-sample`")
    return path


def make_bundled_sample(out: str | Path | None = None, n: int = SAMPLE_EVENTS, seed: int = SAMPLE_SEED) -> Path:
    """Returns the path written: `n` simulated neutron responses (default mix) with their properties.

    Default `out`: the package's samples/zdc_neutrons.npz (counts as uint16, <= 3 MB).
    """
    out = Path(__file__).resolve().parent / "samples" / SAMPLE_NAME if out is None else Path(out)
    return write_zdc(out, ZdcData(simulate_zdc(n, seed=seed)))


# === Command line ===

def build_parser() -> argparse.ArgumentParser:
    """Returns the command-line parser of `python -m physgan.data.zdc`."""
    parser = argparse.ArgumentParser(prog="python -m physgan.data.zdc",
                                     description="Simulate ALICE ZN responses, summarise ZDC files, "
                                                 "or rebuild the bundled sample.")
    commands = parser.add_subparsers(dest="command", required=True)
    simulate = commands.add_parser("simulate", help="write N simulated responses with their properties")
    simulate.add_argument("--n", type=int, required=True, help="number of responses")
    simulate.add_argument("--out", required=True, help="the file to write, .npz or .h5")
    simulate.add_argument("--seed", type=int, default=None, help="random seed (default: fresh)")
    simulate.add_argument("--particle", choices=PARTICLES, default="neutron", help="default: neutron")
    simulate.add_argument("--energy", type=float, nargs="+", metavar="GEV",
                          help="one energy, or LO HI (log-uniform); default: the spectator mix")
    props = commands.add_parser("properties", help="print the mean/std/min/max of the 9 properties of FILE")
    props.add_argument("file", metavar="FILE", help="a ZDC file (.h5, .npz, .npy)")
    sample = commands.add_parser("make-sample", help="rebuild the bundled sample")
    sample.add_argument("--out", help=f"the file to write (default: the package's samples/{SAMPLE_NAME})")
    sample.add_argument("--n", type=int, default=SAMPLE_EVENTS, help=f"responses (default: {SAMPLE_EVENTS})")
    sample.add_argument("--seed", type=int, default=SAMPLE_SEED, help=f"random seed (default: {SAMPLE_SEED})")
    return parser


def _run(args: argparse.Namespace) -> None:
    if args.command == "simulate":
        if args.energy is not None and len(args.energy) > 2:
            raise ConfigError(f"physgan: --energy takes one value or LO HI, got {len(args.energy)} values")
        _writable(args.out)  # before simulating
        energy = None if args.energy is None else (args.energy[0] if len(args.energy) == 1 else tuple(args.energy))
        path = write_zdc(args.out, ZdcData(simulate_zdc(args.n, args.particle, energy, args.seed)))
        print(f"physgan: wrote {args.n} responses to {path}")
    elif args.command == "properties":
        p = read_zdc(args.file).properties
        print(f"{'property':<18}{'mean':>12}{'std':>12}{'min':>12}{'max':>12}")
        for name, column in zip(PROPERTY_NAMES, p.T):
            print(f"{name:<18}{column.mean():>12.4g}{column.std():>12.4g}{column.min():>12.4g}{column.max():>12.4g}")
    else:
        path = make_bundled_sample(args.out, args.n, args.seed)
        print(f"physgan: wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


def main(argv: list[str] | None = None) -> int:
    """Runs the command line; returns the exit code."""
    return run_command(build_parser(), argv, _run)


if __name__ == "__main__":
    raise SystemExit(main())
