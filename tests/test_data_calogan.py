"""The CaloGAN HDF5 format: real files, validation, writing, particles.yaml, the bundled samples."""

import h5py
import numpy as np
import pytest

from physgan.data.calogan import (
    LAYER_NAMES, LAYER_SHAPES, PARTICLES, CaloGANWriter, CaloShowers, bundled_sample_path,
    iter_calogan_chunks, make_bundled_samples, read_calogan, read_particles_yaml,
    validate_calogan_file, write_calogan,
)
from physgan.errors import ConfigError, DataError

pytestmark = pytest.mark.backend_free  # runs once, not per backend (tests/run_all.sh)


@pytest.fixture(scope="module")
def eplus(shared_data):
    return read_calogan(shared_data / "calogan_eplus.h5")


def make_showers(n: int, seed: int = 0, overflow: bool = True) -> CaloShowers:
    rng = np.random.default_rng(seed)
    layers = [rng.exponential(10.0, (n, *shape)) * (rng.random((n, *shape)) < 0.3) for shape in LAYER_SHAPES]
    return CaloShowers(rng.uniform(1, 100, (n, 1)), layers, rng.exponential(5.0, (n, 3)) if overflow else None)


def write_raw(path, n: int = 8, skip=(), **override):
    """Writes a small CaloGAN-like file with h5py, datasets replaced by `override`, those in `skip` left out."""
    showers = make_showers(n)
    arrays = {"energy": showers.incident_energy[:, None], **dict(zip(LAYER_NAMES, showers.layers)),
              "overflow": showers.overflow, **override}
    with h5py.File(path, "w") as f:
        for key, value in arrays.items():
            if key not in skip:
                f[key] = value
    return path


def assert_same(a: CaloShowers, b: CaloShowers):
    np.testing.assert_array_equal(a.incident_energy, b.incident_energy)
    for x, y in zip(a.layers, b.layers):
        np.testing.assert_array_equal(x, y)
    if a.overflow is None or b.overflow is None:
        assert a.overflow is None and b.overflow is None
    else:
        np.testing.assert_array_equal(a.overflow, b.overflow)


# === Real files ===

def test_reads_the_shared_geant4_files(eplus, shared_data):
    assert len(eplus) == 6238 and eplus.n_events == 6238
    assert eplus.incident_energy.dtype == np.float32 and eplus.incident_energy.shape == (6238,)
    assert [layer.shape[1:] for layer in eplus.layers] == list(LAYER_SHAPES)
    assert eplus.overflow.shape == (6238, 3)
    assert 1.0 <= eplus.incident_energy.min() and eplus.incident_energy.max() <= 100.0
    assert validate_calogan_file(shared_data / "calogan_gamma.h5") == 6265


@pytest.mark.parametrize("name, n", [("hepcat_test.h5", 51), ("cargicar_eplus.h5", 10)])
def test_reads_the_public_original_format_files(shared_data, name, n):
    path = shared_data / "real/calogan" / name
    with h5py.File(path) as f:
        assert f["energy"].dtype == np.float64 and f["energy"].shape == (n, 1)  # the original layout
    showers = read_calogan(path)
    assert len(showers) == n == validate_calogan_file(path)
    assert all(layer.dtype == np.float32 for layer in showers.layers)
    ratio = showers.total_energy / (1000.0 * showers.incident_energy)
    assert 0.97 < ratio.mean() < 1.01


def test_physics_of_the_real_showers(eplus, shared_data):
    # energy is in GeV, cells in MeV: the cells hold (nearly) the whole incident energy.
    ratio = eplus.total_energy / (1000.0 * eplus.incident_energy)
    assert 0.95 < ratio.mean() < 1.02
    fractions = (eplus.layer_energies / eplus.total_energy[:, None]).mean(axis=0)
    np.testing.assert_allclose(fractions, [0.2, 0.8, 0.0015], rtol=0.1)
    hepcat = read_calogan(shared_data / "real/calogan/hepcat_test.h5")
    public = (hepcat.layer_energies / hepcat.total_energy[:, None]).mean(axis=0)
    np.testing.assert_allclose(fractions, public, rtol=0.15)  # same physics as the public Geant4 10.5 events
    assert np.all(eplus.overflow >= 0) and eplus.overflow.sum() < 0.01 * eplus.total_energy.sum()


def test_max_events_start_and_chunks(eplus, shared_data):
    path = shared_data / "calogan_eplus.h5"
    assert_same(read_calogan(path, max_events=10, start=100), eplus[100:110])
    assert len(read_calogan(path, max_events=10**6, start=6200)) == 38
    chunks = list(iter_calogan_chunks(path, chunk_size=2500, max_events=6000))
    assert [len(c) for c in chunks] == [2500, 2500, 1000]
    assert_same(CaloShowers.concatenate(chunks), eplus[:6000])
    for bad in (0, -3, 2.5, "10", True):
        with pytest.raises(DataError, match="max_events must be a positive integer"):
            read_calogan(path, max_events=bad)
    with pytest.raises(DataError, match="start must be an integer >= 0, got -1"):
        read_calogan(path, start=-1)
    with pytest.raises(DataError, match="start=6238 is beyond the 6238 events"):
        read_calogan(path, start=6238)
    with pytest.raises(DataError, match="chunk_size must be a positive integer"):
        iter_calogan_chunks(path, chunk_size=0)


# === CaloShowers ===

def test_showers_container():
    s = make_showers(6)
    assert s.incident_energy.shape == (6,) and s.layers[0].dtype == np.float32
    assert isinstance(CaloShowers(s.incident_energy, list(s.layers)).layers, tuple)
    channel = CaloShowers(s.incident_energy, [layer[..., None] for layer in s.layers])
    assert channel.layers[2].shape == (6, 12, 6)
    assert len(s[[0, 2]]) == 2 and len(s[s.incident_energy > 50]) == (s.incident_energy > 50).sum()
    assert_same(s[3], s[3:4])
    np.testing.assert_allclose(s.layer_energies.sum(axis=1), s.total_energy)
    np.testing.assert_allclose(s.total_energy, sum(layer.sum(axis=(1, 2)) for layer in s.layers), rtol=1e-6)
    both = CaloShowers.concatenate([s, make_showers(4, overflow=False)])
    assert len(both) == 10 and both.overflow is None
    assert CaloShowers.concatenate([s, s]).overflow.shape == (12, 3)
    with pytest.raises(DataError, match=r"layers\[1\] \(layer_1\) has shape \(6, 12, 11\), expected \(6, 12, 12\)"):
        CaloShowers(s.incident_energy, (s.layers[0], s.layers[1][:, :, :11], s.layers[2]))
    with pytest.raises(DataError, match=r"layers\[0\] .*shape \(5, 3, 96\), expected \(6, 3, 96\)"):
        CaloShowers(s.incident_energy, (s.layers[0][:5], *s.layers[1:]))
    with pytest.raises(DataError, match="overflow has shape"):
        CaloShowers(s.incident_energy, s.layers, np.zeros((6, 2)))
    with pytest.raises(DataError, match="layers must hold 3 arrays"):
        CaloShowers(s.incident_energy, s.layers[:2])
    with pytest.raises(DataError, match="incident_energy has shape"):
        CaloShowers(np.ones((6, 2)), s.layers)


# === Writing ===

def test_write_read_round_trip(tmp_path):
    showers = make_showers(30, seed=1)
    path = write_calogan(tmp_path / "out.h5", showers, attrs={"particle": "e+", "seeds": [1, 2]})
    assert_same(read_calogan(path), showers)
    with h5py.File(path) as f:
        assert f["energy"].shape == (30, 1) and f["layer_0"].dtype == np.float32
        assert f["layer_0"].compression == "gzip" and f["layer_0"].chunks is not None
        assert f.attrs["particle"] == "e+" and f.attrs["n_events"] == 30
    no_overflow = make_showers(5, overflow=False)
    assert_same(read_calogan(write_calogan(tmp_path / "b.h5", no_overflow)), no_overflow)


def test_writer_in_pieces_equals_one_write(tmp_path):
    showers = make_showers(40, seed=2)
    path = tmp_path / "pieces.h5"
    with CaloGANWriter(path) as writer:
        for first, stop in ((0, 7), (7, 8), (8, 8), (8, 40)):
            writer.append(showers[first:stop])
        assert not path.exists()  # only the temporary file, until the with-block ends
    assert writer.n_written == 40
    assert_same(read_calogan(path), read_calogan(write_calogan(tmp_path / "one.h5", showers)))
    with pytest.raises(DataError, match="without overflow appended to a file with it"):
        with CaloGANWriter(tmp_path / "mixed.h5") as writer:
            writer.append(showers[:2])
            writer.append(make_showers(2, overflow=False))
    assert not (tmp_path / "mixed.h5").exists()


def test_writer_leaves_no_file_when_the_block_fails(tmp_path):
    path = tmp_path / "failed.h5"
    with pytest.raises(RuntimeError, match="model crashed"):
        with CaloGANWriter(path) as writer:
            writer.append(make_showers(5))
            raise RuntimeError("model crashed")
    assert list(tmp_path.iterdir()) == []
    bad = make_showers(5)
    bad.layers[0][3, 0, 0] = np.nan
    with pytest.raises(DataError, match="cannot write failed.h5: dataset 'layer_0' event 3 holds NaN"):
        write_calogan(path, bad)
    assert list(tmp_path.iterdir()) == []


# === Validation of bad files ===

BAD_LAYOUTS = [
    (dict(skip=("layer_1", "layer_2", "overflow")),
     r"physgan: data file bad.h5 has no dataset 'layer_1' \(found: energy, layer_0\)"),
    (dict(layer_1=np.zeros((8, 12, 11))),
     r"dataset 'layer_1' has shape \(8, 12, 11\), expected \(8, 12, 12\)"),
    (dict(energy=np.ones((8, 2))), r"dataset 'energy' has shape \(8, 2\), expected \(8, 1\) or \(8,\)"),
    (dict(overflow=np.zeros((8, 4))), r"dataset 'overflow' has shape \(8, 4\), expected \(8, 3\)"),
    (dict(layer_2=np.zeros((7, 12, 6))),
     r"different numbers of events \(energy: 8, layer_0: 8, layer_1: 8, layer_2: 7, overflow: 8\)"),
    (dict(layer_0=np.where(np.arange(8)[:, None, None] == 5, np.nan, np.zeros((8, 3, 96)))),
     "dataset 'layer_0' event 5 holds NaN or inf"),
    (dict(overflow=np.where(np.arange(8)[:, None] == 2, np.inf, np.zeros((8, 3)))),
     "dataset 'overflow' event 2 holds NaN or inf"),
    (dict(layer_1=np.where(np.arange(8)[:, None, None] == 6, -0.5, np.zeros((8, 12, 12)))),
     r"dataset 'layer_1' event 6 holds a negative energy \(-0.5 MeV\)"),
    (dict(energy=np.array([5.0, 1.0, 0.0, 3, 4, 5, 6, 7])), "dataset 'energy' event 2: incident energy 0 GeV"),
    (dict(energy=np.zeros((0, 1)), layer_0=np.zeros((0, 3, 96)), layer_1=np.zeros((0, 12, 12)),
          layer_2=np.zeros((0, 12, 6)), overflow=np.zeros((0, 3))), "holds no events"),
    (dict(layer_0=np.full((8, 3, 96), "x", dtype="S1")), "dataset 'layer_0' holds |S1 values"),
]


@pytest.mark.parametrize("kwargs, message", BAD_LAYOUTS)
def test_bad_layouts_are_named(tmp_path, kwargs, message):
    path = write_raw(tmp_path / "bad.h5", **kwargs)
    with pytest.raises(DataError, match=message):
        validate_calogan_file(path)
    with pytest.raises(DataError, match=message):
        read_calogan(path)


def test_validation_checks_every_chunk(tmp_path):
    layer_0 = np.zeros((30, 3, 96))
    layer_0[27, 1, 5] = np.nan
    path = write_raw(tmp_path / "late.h5", n=30, layer_0=layer_0)
    with pytest.raises(DataError, match="event 27 holds NaN"):
        validate_calogan_file(path, chunk_size=4)
    assert len(read_calogan(path, max_events=20)) == 20  # the bad event lies outside
    chunks = iter_calogan_chunks(path, chunk_size=10)
    assert len(next(chunks)) == 10 and len(next(chunks)) == 10
    with pytest.raises(DataError, match="event 27"):
        next(chunks)


def test_accepts_every_variant_of_the_originals(tmp_path):
    noise = np.zeros((8, 12, 12))
    noise[1, 0, 0] = -1e-4  # float noise of the simulation's sums: clipped to 0
    path = write_raw(tmp_path / "variant.h5", skip=("overflow",), energy=np.arange(1, 9).astype("int32"),
                     layer_1=noise)
    showers = read_calogan(path)
    assert showers.overflow is None and showers.incident_energy.tolist() == list(range(1, 9))
    assert showers.layers[1].min() == 0.0 and validate_calogan_file(path) == 8


def test_missing_and_non_hdf5_files(tmp_path):
    with pytest.raises(DataError, match=r"physgan: CaloGAN file .*nothere.h5 does not exist"):
        read_calogan(tmp_path / "nothere.h5")
    with pytest.raises(DataError, match="does not exist"):
        validate_calogan_file(tmp_path / "nothere.h5")
    text = tmp_path / "notes.h5"
    text.write_text("energy,layer_0\n1,2\n")
    with pytest.raises(DataError, match=r"physgan: CaloGAN file .*notes.h5 is not an HDF5 file"):
        validate_calogan_file(text)
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes((write_raw(tmp_path / "good.h5")).read_bytes()[:3000])
    with pytest.raises(DataError, match="truncated.h5"):
        validate_calogan_file(truncated)


# === particles.yaml ===

def test_particles_yaml(tmp_path, shared_data):
    (tmp_path / "data").mkdir()
    write_raw(tmp_path / "data/gamma.h5")
    yaml_file = tmp_path / "particles.yaml"
    yaml_file.write_text(f"eplus: {shared_data / 'calogan_eplus.h5'}\ngamma: data/gamma.h5\n")
    files = read_particles_yaml(yaml_file)
    assert list(files) == ["eplus", "gamma"]
    assert files["gamma"] == tmp_path / "data/gamma.h5" and files["eplus"] == shared_data / "calogan_eplus.h5"


@pytest.mark.parametrize("text, message", [
    (None, r"particles file .*missing.yaml does not exist"),
    ("", "particles.yaml lists no particles"),
    ("- eplus.h5\n- gamma.h5\n", "particles.yaml must map particle names to HDF5 files.*got a list"),
    ("eplus: [a, b]\n", r"particles.yaml, entry 'eplus': expected the path of an HDF5 file"),
    ("eplus: data/gone.h5\n", r"particles.yaml, entry 'eplus': file .*data/gone.h5 does not exist"),
    ("eplus: [unclosed\n", "cannot read particles file"),
])
def test_particles_yaml_errors(tmp_path, text, message):
    path = tmp_path / ("missing.yaml" if text is None else "particles.yaml")
    if text is not None:
        path.write_text(text)
    with pytest.raises(DataError, match=message):
        read_particles_yaml(path)


# === Bundled samples ===

def test_bundled_samples_are_the_first_2000_shared_events(shared_data):
    paths = [bundled_sample_path(p) for p in PARTICLES]
    assert bundled_sample_path() == paths[0]
    assert sum(p.stat().st_size for p in paths) <= 5e6
    for particle, path in zip(PARTICLES, paths):
        sample = read_calogan(path)
        assert len(sample) == 2000 == validate_calogan_file(path)
        assert_same(sample, read_calogan(shared_data / f"calogan_{particle}.h5", max_events=2000))
        with h5py.File(path) as f, h5py.File(shared_data / f"calogan_{particle}.h5") as source:
            assert f.attrs["source"] == f"calogan_{particle}.h5" and f.attrs["events"] == "first 2000"
            assert f.attrs["particle"] == source.attrs["particle"] and f.attrs["n_events"] == 2000
            assert f["layer_0"].compression_opts == 9 and f["layer_0"].shuffle
    with pytest.raises(ConfigError, match="unknown particle 'piplus'.*eplus, gamma"):
        bundled_sample_path("piplus")


def test_samples_can_be_recut(tmp_path, shared_data):
    paths = make_bundled_samples(shared_data, tmp_path, n_events=20)
    assert [p.name for p in paths] == ["calogan_eplus.h5", "calogan_gamma.h5"]
    assert_same(read_calogan(paths[1]), read_calogan(bundled_sample_path("gamma"), max_events=20))
