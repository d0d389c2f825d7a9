"""Single-channel image sets: scikit-learn's handwritten digits, local MNIST files, LArCV-style
image files, and their normalisation to a generator's tanh range.

The LArCV particle generator (kseuro/particle_generator) trained on grey PNG crops read
with torchvision's ToTensor ([0, 1]) and Normalize(0.5, 0.5), i.e. on [-1, 1]; MNIST was
its proof of concept. Here images stay in physical units (digit ink 0-16, MNIST grey
0-255, LArCV charge in MeV) until `normalise_images` maps them, dividing by a fixed
scale (16, 255) or, for charge, by the largest pixel of the whole data set.

Nothing is ever downloaded: the digits ship with scikit-learn (1,797 8x8 images), MNIST
must be a file the user has.

Image files (`read_images`), any H x W:
- HDF5 (.h5/.hdf5): the dataset `images`, the only 3D/4D dataset, or `key`;
- .npy: the array; .npz: the array `images`, the only array, or `key`;
- the sparse .npz of `physgan.data.larcv_sim.write_sparse` (`image_shape`, `n_pixels`,
  `pixel_index`, `charge`);
laid out (N, H, W), (N, H, W, 1) or (N, 1, H, W).

`ImageEvents` are the events of the image data sets (`physgan.data.digits`, `mnist`,
`larcv`): images in physical units with optional labels. They are written (`write_images`)
as a compressed .npz (or .h5) holding `images`, `labels` and `kind`, the data set's name,
by which a file is recognised.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from physgan.data.base import Events, check_positive_int, shape_text
from physgan.errors import ConfigError, DataError
from physgan.fileio import atomic_path, load_numpy, open_hdf5

NORMALISE_MODES = ("tanh", "unit", "none")
DIGITS_MAX_INK = 16.0   # sklearn digits: on-pixels of 4x4 blocks of a 32x32 bitmap, 0..16
MNIST_MAX_GREY = 255.0
SKLEARN_DIGITS_FILE = "digits.csv.gz"  # in sklearn/datasets/data/
IMAGES_NAME, LABELS_NAME, KIND_NAME = "images", "labels", "kind"
SPARSE_KEYS = ("image_shape", "n_pixels", "pixel_index", "charge")
IMAGE_SUFFIXES = (".h5", ".hdf5", ".npy", ".npz")
MNIST_SPLITS = ("train", "test", "all")
IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC = 0x00000803, 0x00000801  # unsigned bytes, 3 and 1 dimensions


@dataclass
class ImageSet:
    """Images (N, H, W) float32 in physical units, their labels (N,) int64 or None, and the file they came from."""

    images: np.ndarray
    labels: np.ndarray | None
    source: Path

    def __len__(self) -> int:
        return len(self.images)


@dataclass
class ImageEvents(Events):
    """N single-channel images (N, H, W) float32 in physical units (digit ink, grey level,
    charge in MeV) and their labels (N,) int64 or None. Subclasses name their data set."""

    per_event = ("images", "labels")

    images: np.ndarray
    labels: np.ndarray | None = None

    def __post_init__(self):
        images = np.asarray(self.images)
        if images.ndim == 4 and images.shape[-1] == 1:
            images = images[..., 0]
        if images.ndim != 3:
            raise DataError(f"physgan: {type(self).__name__}: images has shape {shape_text(images.shape)}, "
                            f"expected (N, H, W)")
        self.images = images.astype("float32", copy=False)
        if self.labels is not None:
            labels = np.asarray(self.labels).reshape(-1)
            if len(labels) != len(images):
                raise DataError(f"physgan: {type(self).__name__}: {len(labels)} labels for {len(images)} images")
            self.labels = labels.astype("int64", copy=False)

    @property
    def image_shape(self) -> tuple[int, int]:
        return tuple(self.images.shape[1:])


def write_images(path: str | Path, events: ImageEvents) -> Path:
    """Returns `path` after writing `events` there atomically: a compressed .npz (or .h5/.hdf5)
    with `images` (N, H, W) float32, `labels` when known and `kind`, the data set's name."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".h5", ".hdf5"):
        raise ConfigError(f"physgan: images are written as .npz or .h5 files, not {path.name}")
    arrays = {IMAGES_NAME: events.images}
    if events.labels is not None:
        arrays[LABELS_NAME] = events.labels
    with atomic_path(path) as tmp:
        if suffix == ".npz":
            with open(tmp, "wb") as f:
                np.savez_compressed(f, **arrays, **{KIND_NAME: np.array(events.dataset)})
        else:
            with h5py.File(tmp, "w") as f:
                for name, array in arrays.items():
                    f.create_dataset(name, data=array, compression="gzip")
                f.attrs[KIND_NAME] = events.dataset
    return path


def image_file_kind(path: str | Path) -> str | None:
    """Returns the data-set name a file written by `write_images` records, else None."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                return str(npz[KIND_NAME]) if KIND_NAME in npz.files else None
        if path.suffix.lower() in (".h5", ".hdf5"):
            with h5py.File(path, "r") as f:
                kind = f.attrs.get(KIND_NAME)
                return None if kind is None else str(kind)
    except (OSError, ValueError, EOFError):
        return None
    return None


def read_image_events(events_type: type, path: str | Path, max_events: int | None = None) -> ImageEvents:
    """Returns the images (and labels, when the file holds `labels`) of an image file as `events_type`."""
    images = read_images(path, max_events=max_events)
    return events_type(images, _stored_labels(Path(path), len(images)))


def _stored_labels(path: Path, n: int) -> np.ndarray | None:
    try:
        if path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                labels = npz[LABELS_NAME] if LABELS_NAME in npz.files else None
        elif path.suffix.lower() in (".h5", ".hdf5"):
            with h5py.File(path, "r") as f:
                labels = f[LABELS_NAME][:] if LABELS_NAME in f else None
        else:
            labels = None
    except (OSError, ValueError, EOFError) as err:
        raise DataError(f"physgan: cannot read the labels of image file {path}: {err}") from None
    return None if labels is None else np.asarray(labels).reshape(-1)[:n]


# === Normalisation ===

def _check_mode(mode: str) -> str:
    if mode not in NORMALISE_MODES:
        raise ConfigError(f"physgan: unknown image normalisation {mode!r}; expected one of {', '.join(NORMALISE_MODES)}")
    return mode


def normalise_images(images, mode: str = "tanh", scale: float | None = None) -> np.ndarray:
    """Returns float32 images mapped from [0, scale] to [-1, 1] ("tanh": 2 x / scale - 1, the
    original's Normalize(0.5, 0.5) of ToTensor's [0, 1]), to [0, 1] ("unit") or unchanged ("none").

    `scale` None: the largest pixel of the whole array (one scale per data set, not per
    image, so relative brightness between images survives).
    """
    _check_mode(mode)
    images = np.asarray(images, dtype="float32")
    if mode == "none":
        return images
    if scale is None:
        scale = float(images.max(initial=0.0))
        if scale <= 0:
            raise DataError("physgan: cannot normalise images whose pixels are all <= 0; pass scale")
    elif not (np.isfinite(scale) and scale > 0):
        raise ConfigError(f"physgan: the image scale must be a finite number > 0, got {scale!r}")
    unit = images / np.float32(scale)
    return unit if mode == "unit" else 2.0 * unit - 1.0


def denormalise(images, mode: str = "tanh", scale: float = 1.0) -> np.ndarray:
    """Returns float32 images in physical units: the inverse of `normalise_images(..., mode, scale)`."""
    _check_mode(mode)
    images = np.asarray(images, dtype="float32")
    if mode == "none":
        return images
    unit = (images + 1.0) / 2.0 if mode == "tanh" else images
    return unit * np.float32(scale)


def resize_images(images, size: int) -> np.ndarray:
    """Returns float32 (N, size, size): `images` (N, H, W) resized by bilinear interpolation
    (scipy.ndimage.zoom, order 1, pixels as areas: grid_mode, edges repeated)."""
    from scipy.ndimage import zoom

    size = check_positive_int("size", size)
    images = np.asarray(images, dtype="float32")
    if images.shape[1:] == (size, size):
        return images.copy()
    factors = (1.0, size / images.shape[1], size / images.shape[2])
    out = zoom(images, factors, order=1, grid_mode=True, mode="nearest")
    return out.astype("float32", copy=False)


# === scikit-learn digits ===

def _sklearn_digits():
    try:
        from sklearn import datasets
    except ImportError:
        raise ConfigError("physgan: the digits data set needs scikit-learn (pip install scikit-learn); "
                          "it ships the 1,797 images, nothing is downloaded") from None
    return datasets


def digits_source() -> Path:
    """Returns the path of scikit-learn's bundled digits file (sklearn/datasets/data/digits.csv.gz)."""
    datasets = _sklearn_digits()
    path = Path(datasets.__file__).resolve().parent / "data" / SKLEARN_DIGITS_FILE
    if not path.is_file():
        raise DataError(f"physgan: scikit-learn's digits file {path} is missing; reinstall scikit-learn")
    return path


def load_digits_with_labels(size: int | None = None, normalise: str = "tanh") -> ImageSet:
    """Returns scikit-learn's 1,797 handwritten digits (8 x 8, ink 0-16) with their labels 0-9,
    optionally resized to `size` x `size` (`resize_images`, on the ink), normalised with
    scale 16 (`normalise_images`)."""
    _check_mode(normalise)
    bunch = _sklearn_digits().load_digits()
    images = np.asarray(bunch.images, dtype="float32")
    if size is not None:
        images = resize_images(images, size)
    images = normalise_images(images, normalise, DIGITS_MAX_INK)
    return ImageSet(images, np.asarray(bunch.target, dtype="int64"), digits_source())


def load_digits(size: int | None = None, normalise: str = "tanh") -> np.ndarray:
    """Returns float32 (1797, 8, 8) (or (1797, size, size)) scikit-learn digits; see `load_digits_with_labels`."""
    return load_digits_with_labels(size, normalise).images


# === Image files ===

def _as_layout(name: str, shape: tuple, dtype) -> tuple[int, int, int]:
    """Returns (N, H, W) of an array of `shape`; DataError unless it is (N, H, W), (N, H, W, 1) or (N, 1, H, W) numbers."""
    expected = "expected (N, H, W), (N, H, W, 1) or (N, 1, H, W)"
    if np.dtype(dtype).kind not in "biuf":
        raise DataError(f"physgan: image file {name} holds {dtype} values, expected numbers")
    if len(shape) == 3:
        n, h, w = shape
    elif len(shape) == 4 and shape[-1] == 1:
        n, h, w = shape[:3]
    elif len(shape) == 4 and shape[1] == 1:
        n, h, w = shape[0], shape[2], shape[3]
    else:
        raise DataError(f"physgan: image file {name} has images of shape {shape_text(shape)}; {expected}")
    if n == 0 or h == 0 or w == 0:
        raise DataError(f"physgan: image file {name} holds no images (shape {shape_text(shape)})")
    return n, h, w


def _checked(name: str, array: np.ndarray) -> np.ndarray:
    """Returns `array` as float32 (N, H, W) after checking its values are finite."""
    n, h, w = _as_layout(name, array.shape, array.dtype)
    images = np.asarray(array, dtype="float32").reshape(n, h, w)
    bad = ~np.isfinite(images)
    if bad.any():
        first = int(np.argmax(bad.reshape(n, -1).any(axis=1)))
        raise DataError(f"physgan: image file {name} holds {int(bad.sum())} NaN or infinite pixel value(s) "
                        f"(first in image {first})")
    return images


def _cut(n: int, max_events: int | None) -> int:
    return n if max_events is None else min(n, max_events)


def _from_sparse(name: str, arrays, max_events: int | None) -> np.ndarray:
    """Returns the dense images of the sparse layout (`SPARSE_KEYS`) of file `name`."""
    shape = np.asarray(arrays["image_shape"]).reshape(-1)
    n_pixels = np.asarray(arrays["n_pixels"]).reshape(-1)
    index, charge = np.asarray(arrays["pixel_index"]).reshape(-1), np.asarray(arrays["charge"]).reshape(-1)
    if shape.size != 2 or (shape <= 0).any() or len(n_pixels) == 0 or (n_pixels < 0).any() \
            or n_pixels.sum() != len(index) or len(index) != len(charge) \
            or (len(index) and (index.min() < 0 or index.max() >= shape.prod())):
        raise DataError(f"physgan: sparse image file {name} is inconsistent: image_shape {shape.tolist()}, "
                        f"{len(n_pixels)} images, {int(n_pixels.sum())} pixel counts, {len(index)} indices, "
                        f"{len(charge)} charges")
    n = _cut(len(n_pixels), max_events)
    stop = int(n_pixels[:n].sum())
    rows = np.repeat(np.arange(n), n_pixels[:n])
    images = np.zeros((n, int(shape.prod())), dtype="float32")
    images[rows, index[:stop].astype(np.int64)] = charge[:stop]
    return _checked(name, images.reshape(n, int(shape[0]), int(shape[1])))


def _image_key(file_name: str, kind: str, names, candidates: list, key: str | None, found: str,
               otherwise: str) -> str:
    """Returns the name of the images in a file: `key`, else 'images', else the only candidate."""
    if key is not None:
        if key not in names:
            raise DataError(f"physgan: image file {file_name} has no {kind} {key!r} (found: {found})")
        return key
    if IMAGES_NAME in names:
        return IMAGES_NAME
    if len(candidates) == 1:
        return candidates[0]
    if len(candidates) > 1 and kind == "dataset":
        raise DataError(f"physgan: image file {file_name} has several image {kind}s "
                        f"({', '.join(sorted(candidates))}); choose one with key=")
    raise DataError(f"physgan: image file {file_name} has no {kind} 'images' and {otherwise} "
                    f"(found: {found}); choose one with key=")


def _hdf5_images(path: Path, max_events: int | None, key: str | None) -> np.ndarray:
    with open_hdf5(path, "image", "a dataset 'images' (N, H, W)") as f:
        datasets = {}
        f.visititems(lambda k, v: datasets.__setitem__(k, v) if isinstance(v, h5py.Dataset) else None)
        found = ", ".join(f"{k} {shape_text(v.shape)}" for k, v in sorted(datasets.items())) or "nothing"
        key = _image_key(path.name, "dataset", datasets, [k for k, v in datasets.items() if v.ndim in (3, 4)],
                         key, found, "no other 3D or 4D dataset")
        data = datasets[key]
        n, _, _ = _as_layout(f"{path.name}:{key}", data.shape, data.dtype)
        return _checked(f"{path.name}:{key}", data[:_cut(n, max_events)])


def _npz_images(path: Path, npz, max_events: int | None, key: str | None) -> np.ndarray:
    files = list(npz.files)
    found = ", ".join(sorted(files)) or "nothing"
    if key is None and set(SPARSE_KEYS) <= set(files):
        return _from_sparse(path.name, npz, max_events)
    key = _image_key(path.name, "array", files, files, key, found, "is not one array")
    array = npz[key]
    n, _, _ = _as_layout(f"{path.name}:{key}", array.shape, array.dtype)
    return _checked(f"{path.name}:{key}", array[:_cut(n, max_events)])


def read_images(path: str | Path, max_events: int | None = None, key: str | None = None) -> np.ndarray:
    """Returns float32 (N, H, W) images of file `path` (.h5/.hdf5, .npy, .npz; see the module), validated.

    Reads the first `max_events` (all when None). Raises DataError naming the file and the
    problem: missing file, unknown suffix, no image dataset (listing what exists), a shape
    that is not (N, H, W), (N, H, W, 1) or (N, 1, H, W), no images, NaN/inf values (counted).
    """
    path = Path(path)
    if max_events is not None:
        max_events = check_positive_int("max_events", max_events)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise DataError(f"physgan: image file {path} has an unknown suffix {path.suffix!r}; "
                        f"expected {', '.join(IMAGE_SUFFIXES)}")
    if suffix in (".h5", ".hdf5"):
        return _hdf5_images(path, max_events, key)
    loaded = load_numpy(path, "image", mmap=True)
    if suffix == ".npy":
        if key is not None:
            raise ConfigError(f"physgan: image file {path.name} is one .npy array; key={key!r} applies to .h5/.npz")
        n, _, _ = _as_layout(path.name, loaded.shape, loaded.dtype)
        return _checked(path.name, loaded[:_cut(n, max_events)])
    with loaded:
        return _npz_images(path, loaded, max_events, key)


# === MNIST ===

def _open_bytes(path: Path) -> bytes:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            return f.read()
    except (OSError, EOFError) as err:
        raise DataError(f"physgan: cannot read MNIST file {path}: {err}") from None


def _read_idx(path: Path, magic: int, ndim: int) -> np.ndarray:
    """Returns the uint8 array of an idx file (the MNIST distribution format)."""
    raw = _open_bytes(path)
    header = 4 + 4 * ndim
    if len(raw) < header or int.from_bytes(raw[:4], "big") != magic:
        found = f"0x{int.from_bytes(raw[:4], 'big'):08x}" if len(raw) >= 4 else "too short"
        raise DataError(f"physgan: MNIST file {path.name} is not an idx file of {ndim}D unsigned bytes "
                        f"(magic number expected 0x{magic:08x}, found {found})")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if len(raw) - header != int(np.prod(shape)):
        raise DataError(f"physgan: MNIST file {path.name} says shape {shape_text(shape)} "
                        f"({int(np.prod(shape))} bytes) but holds {len(raw) - header} bytes")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _labels_beside(path: Path) -> Path | None:
    name = path.name.replace("images", "labels").replace("idx3", "idx1")
    candidates = [path.with_name(name)]
    candidates.append(path.with_name(name[:-3]) if name.endswith(".gz") else path.with_name(name + ".gz"))
    return next((p for p in candidates if p.is_file()), None)


def read_mnist(path: str | Path, split: str = "train") -> ImageSet:
    """Returns MNIST images (N, 28, 28) float32 grey 0-255 with labels from a local file: the
    `mnist.npz` of keras.datasets (x_train, y_train, x_test, y_test; `split` "train", "test"
    or "all") or an idx file `*-images-idx3-ubyte[.gz]` (labels from the `*-labels-idx1-ubyte[.gz]`
    beside it, None without one). Nothing is downloaded."""
    path = Path(path)
    if split not in MNIST_SPLITS:
        raise ConfigError(f"physgan: unknown MNIST split {split!r}; expected one of {', '.join(MNIST_SPLITS)}")
    how = ("expected the mnist.npz of keras.datasets.mnist.load_data() (in ~/.keras/datasets/) or a "
           "train-images-idx3-ubyte[.gz] file")
    if not path.exists():
        raise DataError(f"physgan: MNIST file {path} does not exist ({how}; physgan never downloads it)")
    if path.is_dir():
        raise DataError(f"physgan: MNIST file {path} is a folder; {how}")
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as npz:
                contents = {k: npz[k] for k in npz.files}
        except (OSError, ValueError, EOFError) as err:
            raise DataError(f"physgan: cannot read MNIST file {path}: {err}") from None
        parts = ("train", "test") if split == "all" else (split,)
        missing = [k for p in parts for k in (f"x_{p}", f"y_{p}") if k not in contents]
        if missing:
            raise DataError(f"physgan: MNIST file {path.name} has no {', '.join(missing)} "
                            f"(found: {', '.join(sorted(contents)) or 'nothing'}); {how}")
        images = np.concatenate([contents[f"x_{p}"] for p in parts])
        labels = np.concatenate([np.asarray(contents[f"y_{p}"]).reshape(-1) for p in parts]).astype("int64")
        if len(labels) != len(images):
            raise DataError(f"physgan: MNIST file {path.name} has {len(images)} images but {len(labels)} labels")
        return ImageSet(_checked(path.name, images), labels, path)
    if "idx3" not in path.name:
        raise DataError(f"physgan: {path.name} is not an MNIST file; {how}")
    images = _read_idx(path, IDX_IMAGES_MAGIC, 3)
    labels_path = _labels_beside(path)
    labels = None
    if labels_path is not None:
        labels = _read_idx(labels_path, IDX_LABELS_MAGIC, 1).astype("int64")
        if len(labels) != len(images):
            raise DataError(f"physgan: MNIST file {labels_path.name} has {len(labels)} labels for the "
                            f"{len(images)} images of {path.name}")
    return ImageSet(_checked(path.name, images), labels, path)


# === Training data and registration helpers of the image data sets ===

def image_training_data(events: ImageEvents, source: Path, scale: float, max_events: int | None = None):
    """Returns `TrainingData` of image events: inputs {"image": (N, H, W, 1)} mapped from
    [0, scale] to [-1, 1] (the original's tanh range), the events as reference, and the
    model options `image_shape`, `image_scale` and `dataset` (what `sample()` returns)."""
    from physgan.datasets import TrainingData

    if max_events is not None:
        events = events[:check_positive_int("max_events", max_events)]
    inputs = {"image": normalise_images(events.images, "tanh", scale)[..., None]}
    options = {"image_shape": list(events.image_shape), "image_scale": float(scale), "dataset": events.dataset}
    return TrainingData(events.dataset, Path(source), inputs, events, None, options)


def image_dataset(events: type, description: str, file_kinds: str, recognise, read, training_data,
                  sparse: bool | None = None):
    """Returns the `DataSet` of an image data set whose events type is `events`: files
    written by `write_images`, 64 samples drawn after every training epoch, the image
    figures (`sparse`: charge on a log colour scale)."""
    from physgan.datasets import DataSet
    from physgan.metrics.images import image_evaluation

    return DataSet(
        name=events.dataset,
        description=description,
        events=events,
        file_kinds=file_kinds,
        recognise=recognise,
        read=read,
        validate=lambda path: len(read(path)),
        write=write_images,
        training_data=training_data,
        output_suffixes=(".npz", ".h5", ".hdf5"),
        figures=lambda reference, generated, out_dir: image_figures(reference, generated, out_dir, sparse=sparse),
        evaluation=image_evaluation(),
        epoch_samples=64,
    )


def no_particle(dataset: str, particle: str | None) -> None:
    """Raises ConfigError when a --particle is given for an image data set."""
    if particle is not None:
        raise ConfigError(f"the {dataset} data set has no --particle; got {particle!r}")


def image_figures(reference: ImageEvents, generated: ImageEvents, out_dir, sparse: bool | None = None) -> list:
    """Returns the PNGs of real vs generated images (grids, pixel and image observables);
    `sparse` draws charge on a log scale (None: decided from the images)."""
    from physgan.plots.images import plot_images

    return plot_images(reference.images, generated.images, out_dir, sparse=sparse)
