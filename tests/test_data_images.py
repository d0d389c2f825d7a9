"""Image sets: sklearn digits, normalisation, image and MNIST files, the LArCV simulator, the loaders."""

import gzip
import time

import h5py
import numpy as np
import pytest
from scipy import ndimage

from physgan.data import larcv_sim
from physgan.data.images import (
    denormalise, digits_source, load_digits, load_digits_with_labels, normalise_images, read_images, read_mnist,
    resize_images,
)
from physgan.data.larcv_sim import EVENT_TYPES, simulate_larcv, simulate_larcv_events
from physgan.data.digits import DigitImages
from physgan.data.larcv import LArCVImages
from physgan.data.mnist import MnistImages
from physgan.datasets import dataset_of_file, load_training_data, read_events
from physgan.errors import ConfigError, DataError

pytestmark = pytest.mark.backend_free  # runs once, not per backend (tests/run_all.sh)


@pytest.fixture(scope="module")
def events():
    return simulate_larcv_events(400, seed=5)


def _of_type(events, name):
    return np.flatnonzero(events.labels == EVENT_TYPES.index(name))


# === Digits and normalisation ===

def test_digits_are_sklearns_real_images_with_labels():
    digits = load_digits_with_labels(normalise="none")
    assert digits.images.shape == (1797, 8, 8) and digits.images.dtype == np.float32
    assert digits.images.min() == 0 and digits.images.max() == 16
    assert digits.labels.shape == (1797,) and set(np.unique(digits.labels)) == set(range(10))
    assert digits.source == digits_source() and digits.source.name == "digits.csv.gz" and digits.source.is_file()
    # Zeros have an empty centre, ones ink down the middle: these are real digits.
    zeros, ones = digits.images[digits.labels == 0], digits.images[digits.labels == 1]
    assert zeros[:, 3:5, 3:5].mean() < 3 < ones[:, 3:5, 3:5].mean()


def test_tanh_normalisation_round_trips():
    ink = load_digits(normalise="none")
    tanh = load_digits()
    assert tanh.min() == -1 and tanh.max() == 1
    np.testing.assert_allclose(tanh, ink / 8 - 1, atol=1e-6)
    np.testing.assert_allclose(denormalise(tanh, "tanh", 16.0), ink, atol=1e-5)
    unit = normalise_images(ink, "unit")  # scale: the data set's largest pixel (16)
    assert unit.max() == 1 and unit.min() == 0
    np.testing.assert_allclose(denormalise(unit, "unit", 16.0), ink, atol=1e-5)
    np.testing.assert_array_equal(normalise_images(ink, "none"), ink)
    with pytest.raises(ConfigError, match="unknown image normalisation 'log'"):
        normalise_images(ink, "log")
    with pytest.raises(DataError, match="all <= 0"):
        normalise_images(np.zeros((2, 3, 3)))


def test_resize_is_bilinear_and_keeps_the_ink():
    ink = load_digits(normalise="none")
    big = load_digits(size=28, normalise="none")
    assert big.shape == (1797, 28, 28) and big.dtype == np.float32
    assert 0 <= big.min() and big.max() <= 16
    # Area-like interpolation: the mean ink is about the same, the picture the same at 8x8.
    np.testing.assert_allclose(big.mean(axis=(1, 2)), ink.mean(axis=(1, 2)), rtol=0.1, atol=0.2)
    back = resize_images(big, 8)
    assert np.corrcoef(back.ravel(), ink.ravel())[0, 1] > 0.95
    tanh = load_digits(size=28)
    assert tanh.min() >= -1 and tanh.max() <= 1


# === Image files ===

@pytest.mark.parametrize("layout", ["nhw", "nhw1", "n1hw"])
@pytest.mark.parametrize("suffix", [".h5", ".npy", ".npz"])
def test_read_images_in_every_layout(tmp_path, suffix, layout):
    images = np.random.default_rng(0).uniform(0, 5, (6, 5, 7)).astype("float32")
    stored = {"nhw": images, "nhw1": images[..., None], "n1hw": images[:, None]}[layout]
    path = tmp_path / f"imgs{suffix}"
    if suffix == ".h5":
        with h5py.File(path, "w") as f:
            f["charge"] = stored  # not called 'images': the only 3D/4D dataset
            f["energy"] = np.ones(6)
    elif suffix == ".npy":
        np.save(path, stored)
    else:
        np.savez(path, images=stored, labels=np.arange(6))
    out = read_images(path)
    assert out.shape == (6, 5, 7) and out.dtype == np.float32
    np.testing.assert_array_equal(out, images)
    np.testing.assert_array_equal(read_images(path, max_events=2), images[:2])


def test_read_images_keys(tmp_path):
    a, b = np.zeros((2, 4, 4)), np.ones((3, 4, 4))
    with h5py.File(tmp_path / "two.h5", "w") as f:
        f["a"], f["group/b"] = a, b
    with pytest.raises(DataError, match=r"several image datasets \(a, group/b\); choose one with key="):
        read_images(tmp_path / "two.h5")
    assert read_images(tmp_path / "two.h5", key="group/b").shape == (3, 4, 4)
    with pytest.raises(DataError, match=r"no dataset 'c' \(found: a \(2, 4, 4\), group/b \(3, 4, 4\)\)"):
        read_images(tmp_path / "two.h5", key="c")
    np.savez(tmp_path / "two.npz", x=a, y=b)
    with pytest.raises(DataError, match=r"two.npz has no array 'images' .*found: x, y"):
        read_images(tmp_path / "two.npz")
    assert read_images(tmp_path / "two.npz", key="y").shape == (3, 4, 4)
    np.savez(tmp_path / "one.npz", whatever=b)
    assert read_images(tmp_path / "one.npz").shape == (3, 4, 4)


def test_read_images_rejects_bad_files(tmp_path):
    with pytest.raises(DataError, match="missing.npz does not exist"):
        read_images(tmp_path / "missing.npz")
    with pytest.raises(DataError, match="missing.h5 does not exist"):
        read_images(tmp_path / "missing.h5")
    (tmp_path / "x.png").write_bytes(b"")
    with pytest.raises(DataError, match=r"x.png has an unknown suffix '.png'; expected .h5, .hdf5, .npy, .npz"):
        read_images(tmp_path / "x.png")
    with h5py.File(tmp_path / "flat.h5", "w") as f:
        f["energy"] = np.ones(4)
    with pytest.raises(DataError, match=r"flat.h5 has no dataset 'images' and no other 3D or 4D dataset "
                                        r"\(found: energy \(4,\)\)"):
        read_images(tmp_path / "flat.h5")
    np.save(tmp_path / "vectors.npy", np.ones((4, 3)))
    with pytest.raises(DataError, match=r"vectors.npy has images of shape \(4, 3\); expected \(N, H, W\)"):
        read_images(tmp_path / "vectors.npy")
    np.save(tmp_path / "rgb.npy", np.ones((4, 5, 5, 3)))
    with pytest.raises(DataError, match=r"rgb.npy has images of shape \(4, 5, 5, 3\)"):
        read_images(tmp_path / "rgb.npy")
    np.save(tmp_path / "empty.npy", np.ones((0, 5, 5)))
    with pytest.raises(DataError, match="empty.npy holds no images"):
        read_images(tmp_path / "empty.npy")
    bad = np.ones((4, 5, 5))
    bad[2, 1, 1], bad[3, 0, 0], bad[3, 0, 1] = np.nan, np.inf, -np.inf
    np.savez(tmp_path / "bad.npz", images=bad)
    with pytest.raises(DataError, match=r"bad.npz:images holds 3 NaN or infinite pixel value\(s\) \(first in image 2\)"):
        read_images(tmp_path / "bad.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="cannot read image file"):
        read_images(tmp_path / "junk.npz")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(DataError, match="junk.h5 is not an HDF5 file"):
        read_images(tmp_path / "junk.h5")
    with pytest.raises(DataError, match="max_events must be a positive integer"):
        read_images(tmp_path / "bad.npz", max_events=0)


# === MNIST files ===

def _idx(array: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    return header + array.astype(np.uint8).tobytes()


def test_read_mnist_npz_and_idx(tmp_path):
    rng = np.random.default_rng(1)
    x_train, x_test = rng.integers(0, 256, (5, 28, 28)), rng.integers(0, 256, (3, 28, 28))
    y_train, y_test = rng.integers(0, 10, 5), rng.integers(0, 10, 3)
    np.savez(tmp_path / "mnist.npz", x_train=x_train.astype(np.uint8), y_train=y_train.astype(np.uint8),
             x_test=x_test.astype(np.uint8), y_test=y_test.astype(np.uint8))
    mnist = read_mnist(tmp_path / "mnist.npz")
    assert mnist.images.shape == (5, 28, 28) and mnist.images.dtype == np.float32
    np.testing.assert_array_equal(mnist.images, x_train)
    np.testing.assert_array_equal(mnist.labels, y_train)
    assert len(read_mnist(tmp_path / "mnist.npz", split="all")) == 8
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(x_train, 0x803)))
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx(y_train, 0x801)))
    idx = read_mnist(tmp_path / "train-images-idx3-ubyte.gz")
    np.testing.assert_array_equal(idx.images, x_train)
    np.testing.assert_array_equal(idx.labels, y_train)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(_idx(x_test, 0x803))  # no labels beside it
    alone = read_mnist(tmp_path / "t10k-images-idx3-ubyte")
    assert alone.labels is None and alone.images.shape == (3, 28, 28)


def test_read_mnist_errors(tmp_path):
    with pytest.raises(DataError, match="mnist.npz does not exist .*never downloads"):
        read_mnist(tmp_path / "mnist.npz")
    np.savez(tmp_path / "other.npz", images=np.zeros((2, 28, 28)))
    with pytest.raises(DataError, match=r"has no x_train, y_train \(found: images\)"):
        read_mnist(tmp_path / "other.npz")
    (tmp_path / "x-images-idx3-ubyte").write_bytes(_idx(np.zeros(4), 0x801))
    with pytest.raises(DataError, match="not an idx file of 3D unsigned bytes"):
        read_mnist(tmp_path / "x-images-idx3-ubyte")
    (tmp_path / "cut-images-idx3-ubyte").write_bytes(_idx(np.zeros((2, 4, 4)), 0x803)[:-3])
    with pytest.raises(DataError, match=r"says shape \(2, 4, 4\) \(32 bytes\) but holds 29 bytes"):
        read_mnist(tmp_path / "cut-images-idx3-ubyte")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(DataError, match="notes.txt is not an MNIST file"):
        read_mnist(tmp_path / "notes.txt")
    with pytest.raises(ConfigError, match="unknown MNIST split 'val'"):
        read_mnist(tmp_path / "other.npz", split="val")


# === The LArCV simulator ===

def test_simulator_is_deterministic_sparse_and_fast():
    start = time.perf_counter()
    images, labels = simulate_larcv(1000, seed=3)
    seconds = time.perf_counter() - start
    assert images.shape == (1000, 64, 64) and images.dtype == np.float32 and labels.dtype == np.int64
    assert images.min() == 0 and (images == 0).mean() > 0.9
    lit = (images > 0).sum(axis=(1, 2))
    assert (lit > 0).mean() > 0.97 and (images[images > 0] >= larcv_sim.THRESHOLD_MEV).all()
    assert set(np.unique(labels)) == set(range(len(EVENT_TYPES)))
    again, labels_again = simulate_larcv(1000, seed=3)
    np.testing.assert_array_equal(again, images)
    np.testing.assert_array_equal(labels_again, labels)
    assert not np.array_equal(simulate_larcv(20, seed=4)[0], images[:20])
    assert seconds < 5, f"1000 images took {seconds:.1f} s"
    small, _ = simulate_larcv(3, image_size=32, seed=0, event_types=["muon"])
    assert small.shape == (3, 32, 32)
    with pytest.raises(ConfigError, match="unknown LArCV event type"):
        simulate_larcv(3, event_types=["pion"])
    with pytest.raises(ConfigError, match="n must be an integer >= 1"):
        simulate_larcv(0)


def test_muons_are_connected_straight_mip_tracks(events):
    for i in _of_type(events, "muon"):
        image = events.images[i]
        labelled, n = ndimage.label(image > 0, structure=np.ones((3, 3)))
        charge = ndimage.sum(image, labelled, range(1, n + 1))
        assert charge.max() > 0.85 * charge.sum(), f"muon image {i} falls apart in {n} pieces"
    # A MIP in 1 cm pixels: the median lit pixel holds 2.1 MeV per cm of projected path, >= 2.1 MeV.
    lit = np.concatenate([events.images[i][events.images[i] > 0] for i in _of_type(events, "muon")])
    assert 1.8 < np.median(lit) < 4.0


def test_stopping_muons_peak_at_their_end(events):
    near_end = []
    for kind in ("stopping_muon", "muon"):
        distances = []
        for i in _of_type(events, kind):
            row, col = np.unravel_index(np.argmax(events.images[i]), events.images[i].shape)
            distances.append(np.hypot(col + 0.5 - events.vertex[i, 0], row + 0.5 - events.vertex[i, 1]))
        near_end.append(np.mean(np.array(distances) < 2.5))
    # The Bragg peak: the brightest pixel is at the stopping point, not at a through-going muon's entry.
    assert near_end[0] > 0.9 and near_end[1] < 0.2


def _transverse_width(image):
    rows, cols = np.nonzero(image)
    cov = np.cov(np.stack([cols, rows]), aweights=image[rows, cols])
    return np.sqrt(np.linalg.eigvalsh(cov)[0])


def test_showers_are_wider_than_tracks_and_photons_leave_a_gap(events):
    width = {kind: np.median([_transverse_width(events.images[i]) for i in _of_type(events, kind)
                              if (events.images[i] > 0).sum() > 3]) for kind in ("muon", "electron")}
    assert width["electron"] > 2.5 * width["muon"]
    vertex_share = {}
    for kind in ("electron", "photon"):
        shares = []
        for i in _of_type(events, kind):
            image = events.images[i]
            labelled, _ = ndimage.label(image > 0, structure=np.ones((3, 3)))
            x, y = np.minimum(events.vertex[i].astype(int), 63)
            shares.append(image[labelled == labelled[y, x]].sum() / image.sum() if labelled[y, x] else 0.0)
        vertex_share[kind] = np.median(shares)
    # An electron shower starts at the vertex; a photon converts away from it.
    assert vertex_share["electron"] > 0.8 and vertex_share["photon"] < 0.4
    gaps = [np.hypot(*(events.start[i] - events.vertex[i])) for i in _of_type(events, "photon")]
    assert np.median(gaps) > 5


def test_bundled_sample_is_small_and_reproduces_make_bundled_sample(tmp_path):
    path = larcv_sim.bundled_sample_path()
    assert path.stat().st_size < 1_000_000
    bundled = read_images(path)
    assert bundled.shape == (larcv_sim.SAMPLE_EVENTS, 64, 64) and bundled.dtype == np.float32
    remade = read_images(larcv_sim.make_bundled_sample(tmp_path / "again.npz"))
    np.testing.assert_array_equal(remade, bundled)
    images, labels = simulate_larcv(larcv_sim.SAMPLE_EVENTS, seed=larcv_sim.SAMPLE_SEED)
    np.testing.assert_allclose(bundled, images, rtol=1e-3)  # float16 charges
    with np.load(path) as npz:
        np.testing.assert_array_equal(npz["labels"], labels)
    np.testing.assert_array_equal(read_images(path, max_events=5), bundled[:5])


# === Loaders ===

def test_image_loaders_return_tanh_images_and_physical_reference(tmp_path):
    digits = load_training_data("digits", max_events=100)
    assert digits.source.name == "digits.csv.gz" and digits.source.is_file()
    image = digits.inputs["image"]
    assert image.shape == (100, 8, 8, 1) and image.dtype == np.float32 and image.min() == -1 and image.max() == 1
    assert isinstance(digits.reference, DigitImages) and digits.reference.images.max() == 16
    assert digits.reference.labels.shape == (100,) and digits.condition is None
    assert digits.model_options == {"image_shape": [8, 8], "image_scale": 16.0, "dataset": "digits"}
    larcv = load_training_data("larcv", max_events=50)
    reference = larcv.reference.images
    assert isinstance(larcv.reference, LArCVImages) and reference.shape == (50, 64, 64)
    assert larcv.inputs["image"].shape == (50, 64, 64, 1)
    assert larcv.inputs["image"].min() == -1 and larcv.inputs["image"].max() == 1
    np.testing.assert_allclose((larcv.inputs["image"][..., 0] + 1) / 2 * reference.max(), reference, atol=1e-4)
    assert larcv.model_options["image_shape"] == [64, 64] and larcv.source == larcv_sim.bundled_sample_path()
    np.save(tmp_path / "crops.npy", np.random.default_rng(0).uniform(0, 3, (7, 1, 16, 12)))
    user = load_training_data("larcv", tmp_path / "crops.npy")
    assert user.inputs["image"].shape == (7, 16, 12, 1) and user.model_options["image_shape"] == [16, 12]
    np.save(tmp_path / "negative.npy", -np.ones((2, 4, 4)))
    with pytest.raises(DataError, match="32 negative pixel value"):
        load_training_data("larcv", tmp_path / "negative.npy")
    np.savez(tmp_path / "mnist.npz", x_train=np.full((4, 28, 28), 255, np.uint8), y_train=np.arange(4),
             x_test=np.zeros((1, 28, 28), np.uint8), y_test=np.arange(1))
    mnist = load_training_data("mnist", tmp_path / "mnist.npz", max_events=3)
    assert mnist.inputs["image"].shape == (3, 28, 28, 1) and (mnist.inputs["image"] == 1).all()
    assert isinstance(mnist.reference, MnistImages) and mnist.reference.images.max() == 255
    assert mnist.model_options == {"image_shape": [28, 28], "image_scale": 255.0, "dataset": "mnist"}


@pytest.mark.parametrize("events_type", [DigitImages, MnistImages, LArCVImages])
@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_image_events_write_themselves_and_are_recognised(tmp_path, events_type, suffix):
    images = np.random.default_rng(1).uniform(0, 9, (5, 6, 7)).astype("float32")
    events = events_type(images, np.arange(5))
    path = events.write(tmp_path / f"out{suffix}")
    assert dataset_of_file(path).name == events_type.dataset
    back = read_events(path)
    assert type(back) is events_type
    np.testing.assert_array_equal(back.images, images)
    np.testing.assert_array_equal(back.labels, np.arange(5))
    assert len(read_events(path, max_events=2)) == 2


def test_the_bundled_larcv_sample_is_recognised_with_its_labels():
    events = read_events(larcv_sim.bundled_sample_path(), max_events=10)
    assert isinstance(events, LArCVImages) and events.images.shape == (10, 64, 64)
    assert set(events.labels) <= set(range(len(EVENT_TYPES)))


def test_loaders_reject_bad_requests(tmp_path):
    for name in ("digits", "mnist", "larcv"):
        with pytest.raises(ConfigError, match=f"the {name} data set has no --particle"):
            load_training_data(name, particle="muon")
    with pytest.raises(ConfigError, match="mnist data set needs the path of a local MNIST file.*does not download"):
        load_training_data("mnist")
    with pytest.raises(ConfigError, match="digits data set is scikit-learn's bundled digits"):
        load_training_data("digits", tmp_path / "x.npz")
    with pytest.raises(DataError, match="missing.npz does not exist"):
        load_training_data("larcv", tmp_path / "missing.npz")
    with pytest.raises(DataError, match="max_events must be a positive integer"):
        load_training_data("digits", max_events=0)
    with pytest.raises(DataError, match="negative pixel"):
        LArCVImages(-np.ones((1, 2, 2)))
