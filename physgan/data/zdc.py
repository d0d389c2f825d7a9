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
responses, 2.7 MB) is `physgan.data.zdc_simulator.simulate_zdc(13000, seed=0)` with its
properties; the counts are stored as uint16 (they are integers < 65536).

    python -m physgan.data zdc simulate --n 10000 --out zdc.npz --seed 1
    python -m physgan.data zdc properties zdc.npz
    python -m physgan.data zdc make-sample
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from physgan.data.base import Events, bundled_sample, check_positive_int, shape_text
from physgan.datasets import DataSet, TrainingData, register_dataset
from physgan.errors import ConfigError, DataError
from physgan.fileio import atomic_path, load_numpy, open_hdf5

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

# === Properties ===

def _as_images(images, name: str = "images") -> np.ndarray:
    """Returns `images` as an (N, 44, 44) array; (N, 1, 44, 44) and (N, 44, 44, 1) are accepted."""
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    elif images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise DataError(f"physgan: {name} has shape {shape_text(images.shape)}, "
                        f"expected {shape_text(('N', *IMAGE_SHAPE))} or {shape_text(('N', 1, *IMAGE_SHAPE))}")
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
    The definitions of the CorrVAE README (centre = "energy distribution center", sum =
    "total deposited energy"); its prepare_data.py computes centre, sum and max on the log
    image, a side effect of reusing the log-transformed array (see zoo/corrvae.py).
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
        raise DataError(f"physgan: {name} has shape {shape_text(properties.shape)}, "
                        f"expected {shape_text(('N', len(PROPERTY_NAMES)))}")
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
class ZdcData(Events):
    """N responses: images (N, 44, 44) float32 photon counts; properties (N, 9) float64
    physical (computed when None). Images may be given as (N, 1, 44, 44)."""

    dataset = "zdc"
    per_event = ("images", "properties")

    images: np.ndarray
    properties: np.ndarray | None = None

    def __post_init__(self):
        self.images = _as_images(self.images).astype("float32", copy=False)
        if self.properties is None:
            self.properties = zdc_properties(self.images)
        properties = np.asarray(self.properties, dtype="float64")
        if properties.shape != (len(self.images), len(PROPERTY_NAMES)):
            raise DataError(f"physgan: ZdcData: properties has shape {shape_text(properties.shape)}, "
                            f"expected {shape_text((len(self.images), len(PROPERTY_NAMES)))}")
        self.properties = properties

    @property
    def log_images(self) -> np.ndarray:
        """Returns float32 (N, 44, 44, 1): log(1 + counts), the model input (channels last)."""
        return np.log1p(self.images)[..., None]


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
        raise DataError(f"physgan: ZDC file {name}: 'images' has shape {shape_text(shape)} "
                        f"({images.dtype}), expected numbers of shape {shape_text(('N', *IMAGE_SHAPE))} "
                        f"or {shape_text(('N', 1, *IMAGE_SHAPE))}")
    if shape[0] == 0:
        raise DataError(f"physgan: ZDC file {name} holds no events")
    if properties is not None and (tuple(properties.shape) != (shape[0], len(PROPERTY_NAMES))
                                   or properties.dtype.kind not in "fiu"):
        raise DataError(f"physgan: ZDC file {name}: 'properties' has shape {shape_text(properties.shape)} "
                        f"({properties.dtype}), expected numbers of shape "
                        f"{shape_text((shape[0], len(PROPERTY_NAMES)))}, one row per image")
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
        max_events = check_positive_int("max_events", max_events)
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
    loaded = load_numpy(path, "ZDC")
    if suffix == ".npy":
        return _from_arrays(path.name, loaded, None, None, max_events)
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


def check_writable(path: str | Path) -> Path:
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
    path = check_writable(path)
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
    return bundled_sample(__file__, SAMPLE_NAME, "ZDC", "python -m physgan.data zdc make-sample")


# === The data set ===

def is_zdc_file(path: str | Path) -> bool:
    """Returns True if `path` is a .npz/.npy file, or an HDF5 file with a dataset `images` at its root."""
    path = Path(path)
    if path.suffix.lower() in (".npz", ".npy"):
        return True
    try:
        with h5py.File(path, "r") as f:
            return IMAGES_NAME in f
    except OSError:
        return False


def zdc_training_data(path, max_events: int | None, particle: str | None) -> TrainingData:
    """Returns ZDC responses (a .h5/.npz/.npy file, or the bundled simulated neutrons) for CorrVAE:
    log(1 + counts) images and the 9 properties scaled to [0, 1]. The model options carry the
    scaler, the number of responses (CorrVAE's minibatch-stratified sampling) and the scaled
    medians of the properties (the defaults of properties a generation request leaves out)."""
    if particle not in (None, "neutron"):
        raise ConfigError(f"the zdc data set holds neutron responses; --particle {particle!r} is not available")
    source = Path(path) if path else bundled_sample_path()
    data = read_zdc(source, max_events=max_events)
    scaler = PropertyScaler().fit(data.properties)
    scaled = scaler.transform(data.properties).astype("float32")
    options = {"scaler": scaler.to_dict(), "dataset_size": len(data),
               "reference_properties": [float(v) for v in np.median(scaled, axis=0)]}
    return TrainingData("zdc", source, {"image": data.log_images, "properties": scaled}, data,
                        data.properties.astype("float32"), options)


def _evaluation():
    from physgan.metrics.zdc import zdc_evaluation

    return zdc_evaluation()


def _figures(reference: ZdcData, generated: ZdcData, out_dir) -> list[Path]:
    from physgan.plots.zdc import plot_zdc

    return plot_zdc(reference, generated, out_dir)


DATASET = register_dataset(DataSet(
    name="zdc",
    description="ALICE ZDC (neutron ZN) responses, 44x44 photon counts with 9 properties (CorrVAE)",
    events=ZdcData,
    file_kinds="NumPy (.npz, .npy) or HDF5 (.h5) with images (N, 44, 44)[, properties (N, 9)]",
    recognise=is_zdc_file,
    read=read_zdc,
    validate=lambda path: len(read_zdc(path)),
    write=write_zdc,
    training_data=zdc_training_data,
    output_suffixes=(".npz", ".h5", ".hdf5"),
    figures=_figures,
    evaluation=_evaluation(),
))


if __name__ == "__main__":  # the command line lives in physgan.data.commands
    import sys

    from physgan.data.commands import main

    raise SystemExit(main(["zdc", *sys.argv[1:]]))
