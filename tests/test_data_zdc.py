"""ALICE ZDC (neutron ZN) responses: properties, the simulator, the scaler, files, the bundled sample."""

import json
import time

import h5py
import numpy as np
import pytest

from physgan.data import zdc
from physgan.data.commands import main as data_main
from physgan.data.zdc import (
    IMAGE_SHAPE, NONZERO_CATEGORY_EDGES, PROPERTY_NAMES, PropertyScaler, ZdcData, bundled_sample_path,
    read_zdc, write_zdc, zdc_properties,
)
from physgan.data.zdc_simulator import make_bundled_sample, simulate_zdc
from physgan.errors import ConfigError, DataError

pytestmark = pytest.mark.backend_free  # runs once, not per backend (tests/run_all.sh)

COLUMN = {name: i for i, name in enumerate(PROPERTY_NAMES)}


@pytest.fixture(scope="module")
def sample():
    return read_zdc(bundled_sample_path())


def small_data(n: int = 5, seed: int = 3) -> ZdcData:
    return ZdcData(simulate_zdc(n, seed=seed))


# === Properties ===

def test_properties_of_hand_made_images():
    images = np.zeros((3, *IMAGE_SHAPE), dtype="float32")
    images[0, 10, 30] = 5.0  # row 10 (y), column 30 (x)
    images[0, 12, 30] = 1.0
    images[1, 2, 3] = images[1, 40, 41] = 7.0  # a tie: the first in argmax (row-major) order wins
    images[1, 20, 20] = 1.0
    p = zdc_properties(images)  # image 2 is empty
    assert p.shape == (3, 9) and p.dtype == np.float64
    np.testing.assert_array_equal(p[0], [30, 10, 30.0, (10 * 5 + 12) / 6, 2, 0, 1, 6, 5])
    np.testing.assert_array_equal(p[1, :2], [3, 2])
    assert p[1, COLUMN["centre_x"]] == pytest.approx((3 * 7 + 41 * 7 + 20) / 15)
    assert p[1, COLUMN["centre_y"]] == pytest.approx((2 * 7 + 40 * 7 + 20) / 15)
    # log(1 + 1) = 0.69 is not > 1, log(1 + 7) = 2.08 is.
    np.testing.assert_array_equal(p[1, 4:], [3, 0, 2, 15, 7])
    np.testing.assert_array_equal(p[2], [0, 0, 21.5, 21.5, 0, 0, 0, 0, 0])
    # The (N, 1, 44, 44) and channels-last layouts give the same.
    np.testing.assert_array_equal(zdc_properties(images[:, None]), p)
    np.testing.assert_array_equal(zdc_properties(images[..., None]), p)
    with pytest.raises(DataError, match=r"expected \(N, 44, 44\)"):
        zdc_properties(np.zeros((2, 44, 40)))


def test_log_threshold_and_nonzero_categories():
    images = np.zeros((1, *IMAGE_SHAPE))
    images[0, 0, :3] = [1.0, 1.7, 1.8]  # e - 1 = 1.718
    assert zdc_properties(images)[0, COLUMN["n_above_1_log"]] == 1
    edges = np.asarray(NONZERO_CATEGORY_EDGES)
    counts = np.array([0, edges[0] - 1, edges[0], edges[1], edges[2], edges[3], 1936])
    np.testing.assert_array_equal(zdc.nonzero_category(counts), [0, 0, 1, 2, 3, 4, 4])
    assert list(edges) == sorted(edges) and len(edges) == 4


# === Simulator ===

def test_simulator_output_is_sparse_integer_counts_and_reproducible():
    images = simulate_zdc(200, seed=5)
    assert images.shape == (200, 44, 44) and images.dtype == np.float32
    assert (images >= 0).all() and np.array_equal(images, np.round(images))
    assert (images == 0).mean() > 0.5 and images.sum() > 0
    np.testing.assert_array_equal(images, simulate_zdc(200, seed=5))
    assert not np.array_equal(images, simulate_zdc(200, seed=6))
    photons = simulate_zdc(50, particle="photon", energy_gev=1000.0, seed=1)
    neutrons = simulate_zdc(50, energy_gev=1000.0, seed=1)
    # An EM shower has no hadronic halo: fewer lit fibres for the same energy.
    assert (photons > 0).sum() < (neutrons > 0).sum()


def test_impact_point_moves_the_centre_and_energy_raises_the_sum():
    left = zdc_properties(simulate_zdc(100, energy_gev=2510.0, impact=(10.0, 30.0), seed=1))
    right = zdc_properties(simulate_zdc(100, energy_gev=2510.0, impact=(33.0, 12.0), seed=1))
    cx, cy = COLUMN["centre_x"], COLUMN["centre_y"]
    assert abs(np.median(left[:, cx]) - 10) < 1.5 and abs(np.median(left[:, cy]) - 30) < 1.5
    assert abs(np.median(right[:, cx]) - 33) < 1.5 and abs(np.median(right[:, cy]) - 12) < 1.5
    per_event = np.tile([[5.0, 5.0], [38.0, 38.0]], (10, 1))
    p = zdc_properties(simulate_zdc(20, energy_gev=2510.0, impact=per_event, seed=2))
    assert (p[::2, cx] < 15).all() and (p[1::2, cx] > 28).all()
    low, high = (zdc_properties(simulate_zdc(200, energy_gev=e, impact=(21.5, 21.5), seed=3))[:, COLUMN["sum"]]
                 for e in (200.0, 2000.0))
    assert high.mean() > 5 * low.mean()


def test_simulator_rejects_bad_options():
    with pytest.raises(ConfigError, match="unknown ZDC particle 'pion'"):
        simulate_zdc(3, particle="pion")
    with pytest.raises(ConfigError, match="energy_gev"):
        simulate_zdc(3, energy_gev=(100.0, 10.0))
    with pytest.raises(ConfigError, match="energy_gev must be finite and > 0"):
        simulate_zdc(3, energy_gev=-5.0)
    with pytest.raises(ConfigError, match="impact"):
        simulate_zdc(3, impact=np.zeros((2, 2)))
    with pytest.raises(DataError, match="n must be a positive integer"):
        simulate_zdc(0)


def test_simulator_speed_is_reported():
    simulate_zdc(200, seed=0)  # warm-up
    n = 5000
    start = time.perf_counter()
    simulate_zdc(n, seed=0)
    rate = n / (time.perf_counter() - start)
    print(f"\nZDC simulator: {rate:.0f} images/s")
    assert rate > 0


# === The bundled sample ===

def test_bundled_sample_is_small_and_matches_recomputation(sample):
    path = bundled_sample_path()
    assert path.name == "zdc_neutrons.npz" and path.stat().st_size <= 3_000_000
    with np.load(path) as f:
        assert f["images"].dtype == np.uint16 and f["images"].shape == (zdc.SAMPLE_EVENTS, 44, 44)
    assert len(sample) == zdc.SAMPLE_EVENTS
    np.testing.assert_array_equal(sample.properties, zdc_properties(sample.images))


def test_sample_properties_span_a_wide_range(sample):
    p = sample.properties
    categories = np.bincount(p[:, COLUMN["nonzero_category"]].astype(int), minlength=5)
    assert len(categories) == 5 and (categories > 0.15 * len(p)).all()
    # The edges are the 20/40/60/80 % quantiles of n_nonzero in the sample.
    np.testing.assert_allclose(NONZERO_CATEGORY_EDGES,
                               np.quantile(p[:, COLUMN["n_nonzero"]], [0.2, 0.4, 0.6, 0.8]), atol=1.0)
    n_nonzero = p[:, COLUMN["n_nonzero"]]
    assert n_nonzero.min() < 30 and n_nonzero.max() > 300
    assert p[:, COLUMN["centre_x"]].min() < 5 and p[:, COLUMN["centre_x"]].max() > 38
    assert p[:, COLUMN["sum"]].max() > 20 * np.quantile(p[:, COLUMN["sum"]], 0.05)


# === Scaler ===

def test_scaler_round_trips_and_default_is_fitted_on_the_sample(sample):
    p = sample.properties
    scaler = PropertyScaler().fit(p)
    scaled = scaler.transform(p)
    assert scaled.min() == 0.0 and scaled.max() == 1.0
    np.testing.assert_allclose(scaler.inverse_transform(scaled), p, atol=1e-9)
    assert scaler == PropertyScaler.default()
    again = PropertyScaler.from_dict(json.loads(json.dumps(scaler.to_dict())))
    assert again == scaler
    np.testing.assert_array_equal(again.transform(p[:10]), scaled[:10])
    # Outside the fitted range: clipped.
    beyond = p[:2].copy()
    beyond[:, COLUMN["sum"]] = 1e9
    assert (scaler.transform(beyond)[:, COLUMN["sum"]] == 1.0).all()
    assert scaler.transform(p[0]).shape == (9,)
    with pytest.raises(ConfigError, match="properties"):
        PropertyScaler.from_dict({"names": ["a"], "minimum": [0.0], "maximum": [1.0]})
    with pytest.raises(DataError, match=r"expected \(N, 9\)"):
        scaler.transform(np.zeros((3, 8)))


# === Files ===

@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_write_read_round_trip(tmp_path, suffix):
    data = small_data()
    path = write_zdc(tmp_path / f"zdc{suffix}", data)
    again = read_zdc(path)
    np.testing.assert_array_equal(again.images, data.images)
    np.testing.assert_array_equal(again.properties, data.properties)
    assert again.images.dtype == np.float32 and again.log_images.shape == (5, 44, 44, 1)
    np.testing.assert_allclose(again.log_images[..., 0], np.log1p(data.images))
    assert len(read_zdc(path, max_events=2)) == 2
    # Non-integer counts are kept as float32.
    fractional = ZdcData(data.images * 0.5)
    np.testing.assert_array_equal(read_zdc(write_zdc(tmp_path / f"half{suffix}", fractional)).images,
                                  fractional.images)


def test_reads_channel_first_layout_and_computes_missing_properties(tmp_path):
    data = small_data(4)
    with h5py.File(tmp_path / "raw.h5", "w") as f:
        f["images"] = data.images[:, None]
    np.savez(tmp_path / "raw.npz", images=data.images[:, None])
    np.save(tmp_path / "raw.npy", data.images.astype("float64"))
    for name in ("raw.h5", "raw.npz", "raw.npy"):
        again = read_zdc(tmp_path / name)
        np.testing.assert_array_equal(again.images, data.images)
        np.testing.assert_array_equal(again.properties, data.properties)
    assert len(read_zdc(tmp_path / "raw.npy", max_events=3)) == 3


def test_read_errors_name_the_file_and_the_problem(tmp_path):
    good = small_data(4).images
    with pytest.raises(DataError, match="nothing.h5 does not exist"):
        read_zdc(tmp_path / "nothing.h5")
    with pytest.raises(DataError, match="nothing.npz does not exist"):
        read_zdc(tmp_path / "nothing.npz")
    with pytest.raises(DataError, match="unknown suffix '.csv'"):
        read_zdc(tmp_path / "file.csv")
    np.savez(tmp_path / "noimages.npz", pictures=good)
    with pytest.raises(DataError, match="noimages.npz has no array 'images' .found: pictures"):
        read_zdc(tmp_path / "noimages.npz")
    with h5py.File(tmp_path / "noimages.h5", "w") as f:
        f["pictures"] = good
    with pytest.raises(DataError, match="noimages.h5 has no dataset 'images'"):
        read_zdc(tmp_path / "noimages.h5")
    np.save(tmp_path / "shape.npy", np.zeros((3, 40, 44)))
    with pytest.raises(DataError, match=r"shape.npy: 'images' has shape \(3, 40, 44\).*expected .*\(N, 44, 44\)"):
        read_zdc(tmp_path / "shape.npy")
    bad = good.copy()
    bad[2, 5, 5] = np.nan
    np.savez(tmp_path / "nan.npz", images=bad)
    with pytest.raises(DataError, match="nan.npz: 'images' event 2 holds NaN or inf"):
        read_zdc(tmp_path / "nan.npz")
    bad = good.copy()
    bad[3, 0, 0] = -1.0
    with h5py.File(tmp_path / "negative.h5", "w") as f:
        f["images"] = bad
    with pytest.raises(DataError, match="negative.h5: 'images' event 3 holds a negative count"):
        read_zdc(tmp_path / "negative.h5")
    np.savez(tmp_path / "props.npz", images=good, properties=np.zeros((4, 8)))
    with pytest.raises(DataError, match=r"props.npz: 'properties' has shape \(4, 8\).*\(4, 9\)"):
        read_zdc(tmp_path / "props.npz")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(DataError, match="text.h5 is not an HDF5 file"):
        read_zdc(tmp_path / "text.h5")
    with pytest.raises(DataError, match="unknown suffix '.npy'"):
        write_zdc(tmp_path / "out.npy", small_data(2))
    assert not (tmp_path / "out.npy").exists()


# === Command line ===

def test_command_line(tmp_path, capsys):
    out = tmp_path / "sim.h5"
    assert data_main(["zdc", "simulate", "--n", "20", "--out", str(out), "--seed", "4", "--energy", "500"]) == 0
    data = read_zdc(out)
    np.testing.assert_array_equal(data.images, simulate_zdc(20, energy_gev=500.0, seed=4))
    assert data_main(["zdc", "properties", str(out)]) == 0
    printed = capsys.readouterr().out
    assert all(name in printed for name in PROPERTY_NAMES) and "mean" in printed
    assert data_main(["zdc", "properties", str(tmp_path / "missing.npz")]) == 2
    assert "missing.npz does not exist" in capsys.readouterr().err
    sample = make_bundled_sample(tmp_path / "s.npz", n=30, seed=0)
    assert data_main(["zdc", "make-sample", "--out", str(tmp_path / "c.npz"), "--n", "30"]) == 0
    np.testing.assert_array_equal(read_zdc(tmp_path / "c.npz").images, read_zdc(sample).images)
