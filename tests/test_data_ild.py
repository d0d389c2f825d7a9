"""The ILD "Getting High" HDF5 format and its ROOT conversion: real file, validation, writing, the sample."""

import h5py
import numpy as np
import pytest

from physgan.data import ild
from physgan.data.commands import main as data_main
from physgan.data.ild import (
    CELL_SIZE_MM, MIP_THRESHOLD_MEV, SHOWER_SHAPE, IldShowers, IldWriter, apply_mip_threshold,
    bundled_sample_path, ild_event_count, iter_ild_chunks, make_bundled_sample, read_ild, write_ild,
)
from physgan.data import ild_root  # imports uproot only when it reads a file
from physgan.data.ild_root import LAYER_Y_MM, X_EDGES_MM, Z_EDGES_MM, bin_hits, root_to_ild
from physgan.errors import ConfigError, DataError

pytestmark = pytest.mark.backend_free  # runs once, not per backend (tests/run_all.sh)

try:
    import awkward as ak
    import uproot
except ImportError:  # the optional extra physgan[root]
    ak = uproot = None
needs_uproot = pytest.mark.skipif(uproot is None, reason="needs uproot: pip install physgan[root]")

N_READ = 1000  # showers of the shared file read by the tests (108 MB as float32)


@pytest.fixture(scope="module")
def shared_file(shared_data):
    return shared_data / "ild_photons.h5"


@pytest.fixture(scope="module")
def photons(shared_file):
    return read_ild(shared_file, max_events=N_READ)


def make_showers(n: int, seed: int = 0) -> IldShowers:
    rng = np.random.default_rng(seed)
    layers = rng.exponential(1.0, (n, *SHOWER_SHAPE)) * (rng.random((n, *SHOWER_SHAPE)) < 0.02)
    return IldShowers(rng.uniform(10, 100, (n, 1)), layers)


def write_raw(path, n: int = 6, group: str | None = "30x30", skip=(), **override):
    """Writes a small ILD-like file with h5py, datasets replaced by `override`, those in `skip` left out."""
    showers = make_showers(n)
    arrays = {"energy": showers.incident_energy[:, None], "layers": showers.layers, **override}
    with h5py.File(path, "w") as f:
        holder = f if group is None else f.create_group(group)
        for key, value in arrays.items():
            if key not in skip:
                holder[key] = value
    return path


def assert_same(a: IldShowers, b: IldShowers):
    np.testing.assert_array_equal(a.incident_energy, b.incident_energy)
    np.testing.assert_array_equal(a.layers, b.layers)


# === The real file ===

def test_reads_the_shared_geant4_file(photons, shared_file):
    assert ild_event_count(shared_file) == 5000
    with h5py.File(shared_file) as f:
        assert "30x30" not in f and f["layers"].shape == (5000, *SHOWER_SHAPE)  # datasets at the root
        all_energies = f["energy"][:, 0]
    assert 10.0 <= all_energies.min() and all_energies.max() <= 100.0
    assert len(photons) == N_READ and photons.incident_energy.shape == (N_READ,)
    assert photons.incident_energy.dtype == np.float32 and photons.layers.dtype == np.float32
    assert photons.layers.shape == (N_READ, 30, 30, 30)
    np.testing.assert_array_equal(photons.incident_energy, all_energies[:N_READ])


def test_physics_of_the_real_showers(photons):
    # Energy in GeV, cells in MeV of silicon: a sampling fraction of a few percent.
    assert np.all(photons.total_energy > 0) and photons.total_energy.dtype == np.float64
    fraction = photons.total_energy / (1000.0 * photons.incident_energy)
    assert 0.015 < fraction.mean() < 0.045
    assert np.corrcoef(photons.total_energy, photons.incident_energy)[0, 1] > 0.95
    hits = (photons.layers > 0).sum(axis=(1, 2, 3))
    assert 450 < hits.mean() < 750  # about 600 non-zero cells per shower
    assert photons.layers.min() >= 0.0
    depth = (photons.layers.sum(axis=(2, 3)) * np.arange(30)).sum(axis=1) / photons.total_energy
    assert 10 < depth.mean() < 18  # shower maximum near layer 14
    x = (photons.layers.sum(axis=(1, 3)) * np.arange(30)).sum(axis=1) / photons.total_energy
    assert abs(x.mean() - 14.5) < 1.0  # centred in the 30 x 30 window


def test_max_events_start_and_chunks(photons, shared_file):
    assert_same(read_ild(shared_file, max_events=10, start=100), photons[100:110])
    assert len(read_ild(shared_file, max_events=10**6, start=4990)) == 10
    chunks = list(iter_ild_chunks(shared_file, chunk_size=300, max_events=N_READ))
    assert [len(c) for c in chunks] == [300, 300, 300, 100]
    assert_same(IldShowers.concatenate(chunks), photons)
    assert sum(len(c) for c in iter_ild_chunks(shared_file, chunk_size=2000)) == 5000
    for bad in (0, -3, 2.5, "10", True):
        with pytest.raises(DataError, match="max_events must be a positive integer"):
            read_ild(shared_file, max_events=bad)
    with pytest.raises(DataError, match="start must be an integer >= 0, got -1"):
        read_ild(shared_file, start=-1)
    with pytest.raises(DataError, match="start=5000 is beyond the 5000 events of ILD file ild_photons.h5"):
        read_ild(shared_file, start=5000)
    with pytest.raises(DataError, match="chunk_size must be a positive integer"):
        iter_ild_chunks(shared_file, chunk_size=0)


# === IldShowers, MIP threshold ===

def test_showers_container():
    s = make_showers(5)
    assert s.incident_energy.shape == (5,) and s.layers.dtype == np.float32 and s.n_events == 5
    assert IldShowers(s.incident_energy, s.layers[..., None]).layers.shape == (5, 30, 30, 30)
    assert_same(s[3], s[3:4])
    assert len(s[[0, 2]]) == 2 and len(s[s.incident_energy > 50]) == (s.incident_energy > 50).sum()
    np.testing.assert_allclose(s.total_energy, s.layers.reshape(5, -1).sum(axis=1), rtol=1e-6)
    assert_same(IldShowers.concatenate([s[:2], s[2:]]), s)
    with pytest.raises(DataError, match=r"layers has shape \(5, 30, 30, 29\), expected \(5, 30, 30, 30\)"):
        IldShowers(s.incident_energy, s.layers[..., :29])
    with pytest.raises(DataError, match=r"layers has shape \(4, 30, 30, 30\), expected \(5, 30, 30, 30\)"):
        IldShowers(s.incident_energy, s.layers[:4])
    with pytest.raises(DataError, match="incident_energy has shape"):
        IldShowers(np.ones((5, 2)), s.layers)
    with pytest.raises(DataError, match="at least one"):
        IldShowers.concatenate([])


def test_mip_threshold(photons):
    assert MIP_THRESHOLD_MEV == 0.1 and abs(CELL_SIZE_MM - 5.088333) < 1e-9
    layers = photons.layers[:50]
    before = layers.copy()
    cut = apply_mip_threshold(layers)
    np.testing.assert_array_equal(layers, before)  # the input is left alone
    assert cut.dtype == np.float32 and cut.shape == layers.shape
    assert cut[(cut > 0)].min() >= 0.1
    np.testing.assert_array_equal(cut[layers >= 0.1], layers[layers >= 0.1])
    assert 0 < (cut > 0).sum() < (layers > 0).sum()  # Geant4 leaves many cells below half a MIP
    small = np.array([[0.05, 0.1, 0.2], [np.nan, -1.0, 3.0]], dtype="float64")
    out = apply_mip_threshold(small, threshold_mev=0.15)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.array([[0, 0, 0.2], [np.nan, 0, 3.0]], dtype="float32"))
    with pytest.raises(DataError, match="threshold_mev must be a number >= 0"):
        apply_mip_threshold(small, threshold_mev=-1)


# === Writing ===

@pytest.mark.parametrize("group", ["30x30", None])
def test_write_read_round_trip(tmp_path, group):
    showers = make_showers(20, seed=1)
    path = write_ild(tmp_path / "out.h5", showers, group=group, attrs={"particle": "gamma", "seeds": [1, 2]})
    assert_same(read_ild(path), showers)
    assert ild_event_count(path) == 20
    with h5py.File(path) as f:
        holder = f if group is None else f["30x30"]
        assert ("30x30" in f) == (group is not None)
        assert holder["energy"].shape == (20, 1) and holder["layers"].dtype == np.float32
        assert holder["layers"].compression == "gzip" and holder["layers"].shuffle
        assert 1 <= holder["layers"].chunks[0] <= 16 and holder["layers"].maxshape[0] is None
        assert f.attrs["particle"] == "gamma" and f.attrs["n_events"] == 20


def test_writer_in_pieces_equals_one_write(tmp_path):
    showers = make_showers(25, seed=2)
    path = tmp_path / "pieces.h5"
    with IldWriter(path) as writer:
        for first, stop in ((0, 7), (7, 8), (8, 8), (8, 25)):
            writer.append(showers[first:stop])
        writer.attrs["note"] = "added in the block"
        assert not path.exists()  # only the temporary file, until the with-block ends
    assert writer.n_written == 25
    assert_same(read_ild(path), showers)
    with h5py.File(path) as f:
        assert f.attrs["note"] == "added in the block" and f.attrs["n_events"] == 25
    with pytest.raises(DataError, match="outside its with-block"):
        writer.append(showers)


def test_writer_leaves_no_file_when_the_block_fails(tmp_path):
    path = tmp_path / "failed.h5"
    with pytest.raises(RuntimeError, match="model crashed"):
        with IldWriter(path) as writer:
            writer.append(make_showers(3))
            raise RuntimeError("model crashed")
    assert list(tmp_path.iterdir()) == []
    bad = make_showers(4)
    bad.layers[2, 5, 1, 1] = np.nan
    with pytest.raises(DataError, match="cannot write failed.h5: dataset 'layers' event 2 holds NaN"):
        write_ild(path, bad)
    assert list(tmp_path.iterdir()) == []
    # an existing file stays as it was
    write_ild(path, make_showers(2))
    with pytest.raises(RuntimeError):
        with IldWriter(path) as writer:
            writer.append(make_showers(5))
            raise RuntimeError("stop")
    assert ild_event_count(path) == 2 and [p.name for p in tmp_path.iterdir()] == ["failed.h5"]


# === Bad files ===

BAD_LAYOUTS = [
    (dict(skip=("layers",)),
     r"physgan: ILD file bad.h5 has no dataset 'layers' in group '30x30', and the file root does not "
     r"hold both either \(found: 30x30, 30x30/energy\)"),
    (dict(group=None, skip=("energy", "layers"), extra=np.zeros(3)),
     r"has no dataset 'energy' and 'layers' at the file root, and there is no group '30x30' \(found: extra\)"),
    (dict(layers=np.zeros((6, 30, 30, 32))),
     r"dataset '30x30/layers' has shape \(6, 30, 30, 32\), expected \(6, 30, 30, 30\)"),
    (dict(group=None, layers=np.zeros((6, 30, 900))),
     r"dataset 'layers' has shape \(6, 30, 900\), expected \(6, 30, 30, 30\)"),
    (dict(energy=np.ones((6, 2))), r"dataset '30x30/energy' has shape \(6, 2\), expected \(6, 1\) or \(6,\)"),
    (dict(layers=np.zeros((5, 30, 30, 30))),
     r"different numbers of events \(30x30/energy: 6, 30x30/layers: 5\)"),
    (dict(layers=np.where(np.arange(6)[:, None, None, None] == 4, np.nan, np.zeros((6, 30, 30, 30)))),
     "ILD file bad.h5: dataset 'layers' event 4 holds NaN or inf"),
    (dict(group=None, energy=np.array([[20.0], [30.0], [np.inf], [1], [2], [3]])),
     "dataset 'energy' event 2 holds NaN or inf"),
    (dict(layers=np.where(np.arange(6)[:, None, None, None] == 3, -0.5, np.zeros((6, 30, 30, 30)))),
     r"dataset 'layers' event 3 holds a negative energy \(-0.5 MeV\)"),
    (dict(energy=np.array([5.0, 1.0, 0.0, 3, 4, 5])), "dataset 'energy' event 2: incident energy 0 GeV"),
    (dict(energy=np.zeros((0, 1)), layers=np.zeros((0, 30, 30, 30))), "holds no events"),
    (dict(layers=np.full((6, 30, 30, 30), "x", dtype="S1")), "dataset '30x30/layers' holds |S1 values"),
]


@pytest.mark.parametrize("kwargs, message", BAD_LAYOUTS)
def test_bad_layouts_are_named(tmp_path, kwargs, message):
    path = write_raw(tmp_path / "bad.h5", **kwargs)
    with pytest.raises(DataError, match=message):
        read_ild(path)
    with pytest.raises(DataError, match=message):
        ild.validate_ild_file(path)


def test_group_first_then_root_and_float_noise(tmp_path):
    path = write_raw(tmp_path / "both.h5", n=4)
    with h5py.File(path, "a") as f:  # the root holds other showers: the group wins
        f["energy"], f["layers"] = np.ones((2, 1)), np.zeros((2, 30, 30, 30))
        f["30x30/layers"][1, 0, 0, 0] = -1e-7  # float noise of the simulation's sums: clipped to 0
    showers = read_ild(path)
    assert len(showers) == 4 and showers.layers[1, 0, 0, 0] == 0.0
    empty_group = write_raw(tmp_path / "empty_group.h5", n=3, group=None)
    with h5py.File(empty_group, "a") as f:
        f.create_group("30x30")
    assert len(read_ild(empty_group)) == 3  # falls back to the root
    as_vector = write_raw(tmp_path / "vector.h5", n=3, energy=np.array([10, 20, 30], dtype="int32"))
    assert read_ild(as_vector).incident_energy.tolist() == [10.0, 20.0, 30.0]


def test_late_bad_event_found_by_chunks(tmp_path):
    layers = np.zeros((30, 30, 30, 30))
    layers[27, 1, 2, 3] = np.nan
    path = write_raw(tmp_path / "late.h5", n=30, layers=layers)
    assert ild_event_count(path) == 30 and len(read_ild(path, max_events=20)) == 20
    chunks = iter_ild_chunks(path, chunk_size=10)
    assert len(next(chunks)) == 10 and len(next(chunks)) == 10
    with pytest.raises(DataError, match="late.h5: dataset 'layers' event 27 holds NaN"):
        next(chunks)


def test_missing_and_non_hdf5_files(tmp_path):
    with pytest.raises(DataError, match=r"physgan: ILD file .*nothere.h5 does not exist"):
        read_ild(tmp_path / "nothere.h5")
    with pytest.raises(DataError, match="does not exist"):
        ild_event_count(tmp_path / "nothere.h5")
    with pytest.raises(DataError, match="is a folder"):
        read_ild(tmp_path)
    text = tmp_path / "notes.h5"
    text.write_text("energy,layers\n1,2\n")
    with pytest.raises(DataError, match=r"physgan: ILD file .*notes.h5 is not an HDF5 file"):
        read_ild(text)
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(write_raw(tmp_path / "good.h5").read_bytes()[:3000])
    with pytest.raises(DataError, match="truncated.h5"):
        read_ild(truncated)


# === The bundled sample, command line ===

def test_bundled_sample_is_the_first_shared_events(photons, shared_file):
    path = bundled_sample_path()
    assert path.name == "ild_photons.h5" and path.parent.name == "samples"
    assert path.stat().st_size <= 5e6
    sample = read_ild(path)
    assert len(sample) == ild.SAMPLE_EVENTS == 1090 >= N_READ
    assert_same(sample, read_ild(shared_file, max_events=len(sample)))
    with h5py.File(path) as f, h5py.File(shared_file) as source:
        layers = f["30x30/layers"]
        assert layers.compression_opts == 9 and layers.shuffle and layers.dtype == np.float32
        assert f.attrs["source"] == "ild_photons.h5" and f.attrs["events"] == "first 1090"
        assert f.attrs["particle"] == source.attrs["particle"] and f.attrs["n_events"] == 1090


def test_sample_can_be_recut_and_cli(tmp_path, shared_file, capsys):
    out = make_bundled_sample(shared_file, tmp_path / "small.h5", n_events=12)
    assert_same(read_ild(out), read_ild(bundled_sample_path(), max_events=12))
    assert data_main(["ild", "make-sample", str(shared_file), "--out", str(tmp_path / "cli.h5"), "--n", "3"]) == 0
    assert data_main(["ild", "validate", str(tmp_path / "cli.h5"), str(out)]) == 0
    printed = capsys.readouterr().out
    assert "cli.h5: 3 events, valid" in printed and "small.h5: 12 events, valid" in printed
    (tmp_path / "bad.h5").write_text("not hdf5")
    assert data_main(["ild", "validate", str(tmp_path / "bad.h5")]) == 2
    assert "bad.h5 is not an HDF5 file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        data_main(["ild"])


def test_missing_bundled_sample_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(ild, "__file__", str(tmp_path / "ild.py"))
    with pytest.raises(DataError, match="bundled ILD sample .* is missing.*make-sample"):
        bundled_sample_path()


# === ROOT -> HDF5 (ild_root) ===


BRANCH_TYPES = {"scpox": "var * float64", "scpoy": "var * float64", "scpoz": "var * float64",
                "scene": "var * float32", "mcpdg": "var * int32", "mcene": "var * float32"}


def cell_x(i):  # the centre of the original's x cell i (0..31)
    return X_EDGES_MM[i] + CELL_SIZE_MM / 2


def cell_z(i):  # the centre of the original's z cell i (0..29)
    return Z_EDGES_MM[i] + CELL_SIZE_MM / 2


def write_root(path, events, tree="photonSIM", types=BRANCH_TYPES):
    """Writes a TTree of `events` (dicts of hit lists, one per branch) with jagged branches."""
    with uproot.recreate(path) as f:
        t = f.mktree(tree, types)
        t.extend({name: ak.Array([e[name] for e in events]) for name in types})
    return path


def hit_event(energy_gev, hits, n_mc=1):
    """Returns one event: `hits` as (x, y, z, GeV) tuples, `n_mc` MC particles, the first of `energy_gev`."""
    x, y, z, e = (list(v) for v in zip(*hits)) if hits else ([], [], [], [])
    return dict(scpox=x, scpoy=y, scpoz=z, scene=e, mcpdg=[22] + [11] * (n_mc - 1),
                mcene=[energy_gev] + [0.5] * (n_mc - 1))


HAND_MADE = [
    hit_event(50.0, [
        (cell_x(10), LAYER_Y_MM[5] + 0.5, cell_z(3), 0.002),     # -> [5, 9, 3]
        (cell_x(10) + 2.0, LAYER_Y_MM[5] + 0.9, cell_z(3) - 2.0, 0.001),  # same cell
        (cell_x(0), LAYER_Y_MM[0] + 0.5, cell_z(0), 0.005),      # first x cell: cropped
        (cell_x(31), LAYER_Y_MM[0] + 0.5, cell_z(0), 0.005),     # last x cell: cropped
        (cell_x(15), LAYER_Y_MM[0] + 1.5, cell_z(15), 0.004),    # between layers 0 and 1
        (cell_x(15), LAYER_Y_MM[2] + 0.0001, cell_z(15), 0.004),  # on the lower edge: no layer
        (cell_x(20), LAYER_Y_MM[3] + 0.9999, cell_z(7), 0.003),  # on the upper edge: layer 3
        (cell_x(30), LAYER_Y_MM[29] + 0.5, cell_z(29), 0.0007),  # -> [29, 29, 29]
        (200.0, LAYER_Y_MM[8] + 0.5, 0.0, 0.01),                 # outside the window
    ]),
    hit_event(80.0, [(cell_x(12), LAYER_Y_MM[10] + 0.5, cell_z(12), 0.05)], n_mc=8),  # skipped
    hit_event(10.0, [], n_mc=7),                                  # kept: 7 MC particles, no hits
    hit_event(30.0, [(cell_x(16), LAYER_Y_MM[14] + 0.5, Z_EDGES_MM[-1], 0.25)]),  # last z edge -> z cell 29
]


def test_binning_facts_of_the_original():
    assert len(X_EDGES_MM) - 1 == 32 and len(Z_EDGES_MM) - 1 == 30  # hence the x crop to 30
    assert len(LAYER_Y_MM) == 30 and np.all(np.diff(LAYER_Y_MM) >= 3)


def original_binning(x, y, z, e):
    """The original's per-event, per-layer np.histogram2d (create_hdf5.py), then corrections.py's x crop."""
    layers = []
    for j in range(30):
        inside = (y <= LAYER_Y_MM[j] + 0.9999) & (y > LAYER_Y_MM[j] + 0.0001)
        layers.append(np.histogram2d(x[inside], z[inside], bins=[X_EDGES_MM, Z_EDGES_MM],
                                     weights=e[inside] * 1000.0)[0])
    return np.asarray(layers)[:, 1:-1]


def test_vectorised_binning_equals_the_original_histograms():
    rng = np.random.default_rng(7)
    n, hits = 6, 4000
    event = np.sort(rng.integers(0, n, hits))
    x, z = rng.uniform(-90, 90, hits), rng.uniform(-85, 85, hits)
    y = rng.choice(LAYER_Y_MM, hits) + rng.uniform(-0.5, 1.5, hits)
    e = rng.exponential(1e-3, hits)
    z[:5], x[5:10], x[10:15] = Z_EDGES_MM[-1], X_EDGES_MM[1], X_EDGES_MM[-1]  # hits on the edges
    binned = bin_hits(event, x, y, z, e, n)
    assert binned.shape == (n, 30, 30, 30) and binned.dtype == np.float32
    for i in range(n):
        mask = event == i
        np.testing.assert_allclose(binned[i], original_binning(x[mask], y[mask], z[mask], e[mask]), rtol=1e-6)


@needs_uproot
def test_root_to_ild_puts_known_hits_in_known_cells(tmp_path):
    root = write_root(tmp_path / "showers.root", HAND_MADE)
    out = root_to_ild(root, tmp_path / "showers.h5")
    showers = read_ild(out)
    np.testing.assert_array_equal(showers.incident_energy, [50.0, 10.0, 30.0])  # 8 MC particles: skipped
    first = showers.layers[0]
    assert first[5, 9, 3] == pytest.approx(3.0)  # 0.002 + 0.001 GeV in MeV
    assert first[3, 19, 7] == pytest.approx(3.0)
    assert first[29, 29, 29] == pytest.approx(0.7)
    assert np.count_nonzero(first) == 3 and showers.total_energy[0] == pytest.approx(6.7, rel=1e-6)
    assert showers.total_energy[1] == 0.0
    assert showers.layers[2, 14, 15, 29] == pytest.approx(250.0) and np.count_nonzero(showers.layers[2]) == 1
    with h5py.File(out) as f:
        assert set(f) == {"30x30"} and f["30x30/energy"].shape == (3, 1)
        assert f.attrs["n_skipped_entries"] == 1 and f.attrs["tree"] == "photonSIM"
        assert f.attrs["source"] == "showers.root" and f.attrs["max_mc_particles"] == 7
    with h5py.File(root_to_ild(root, tmp_path / "all.h5", max_mc_particles=8)) as f:
        assert f["30x30/energy"][:, 0].tolist() == [50.0, 80.0, 10.0, 30.0]


@needs_uproot
def test_root_to_ild_streams_in_chunks(tmp_path):
    rng = np.random.default_rng(3)
    events, expected = [], []
    for i in range(11):
        k = int(rng.integers(0, 300))
        x, z = rng.normal(0, 20, k), rng.normal(0, 20, k)
        y = rng.choice(LAYER_Y_MM, k) + rng.uniform(0.01, 0.99, k)
        e = rng.exponential(1e-4, k).astype("float32")
        n_mc = 9 if i in (4, 5) else 1
        events.append(hit_event(float(10 + i), list(zip(x, y, z, e)), n_mc=n_mc))
        if n_mc == 1:
            expected.append(original_binning(x, y, z, e.astype("float64")))
    root = write_root(tmp_path / "many.root", events)
    one = read_ild(root_to_ild(root, tmp_path / "one.h5"))
    chunked = read_ild(root_to_ild(root, tmp_path / "chunked.h5", chunk_size=3))
    assert_same(one, chunked)
    assert len(one) == 9
    np.testing.assert_allclose(one.layers, np.asarray(expected), rtol=1e-6)
    assert one.total_energy.min() > 0


@needs_uproot
def test_root_tree_in_a_folder_and_the_command_line(tmp_path, capsys):
    root = write_root(tmp_path / "folder.root", HAND_MADE, tree="photonSIM/LCTuple")
    assert ild_event_count(root_to_ild(root, tmp_path / "a.h5")) == 3  # the folder holds one tree
    assert ild_event_count(root_to_ild(root, tmp_path / "b.h5", tree=None)) == 3  # the only tree
    assert ild_root.main([str(root), str(tmp_path / "c.h5"), "--tree", "photonSIM/LCTuple",
                          "--max-mc-particles", "8"]) == 0
    assert "c.h5: 4 showers" in capsys.readouterr().out
    assert ild_root.main([str(tmp_path / "gone.root"), str(tmp_path / "d.h5")]) == 2
    assert "gone.root does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ild_root.main(["--help"])
    assert "--max-mc-particles" in capsys.readouterr().out


@needs_uproot
def test_root_errors(tmp_path):
    good = write_root(tmp_path / "good.root", HAND_MADE)
    out = tmp_path / "out.h5"
    with pytest.raises(DataError, match=r"ROOT file .*nothere.root does not exist"):
        root_to_ild(tmp_path / "nothere.root", out)
    text = tmp_path / "text.root"
    text.write_text("not a ROOT file\n" * 10)
    with pytest.raises(DataError, match=r"text.root is not a readable ROOT file"):
        root_to_ild(text, out)
    with pytest.raises(DataError, match=r"good.root has no tree 'events' \(found: photonSIM\)"):
        root_to_ild(good, out, tree="events")
    types = {k: v for k, v in BRANCH_TYPES.items() if k != "scene"}
    no_energy = write_root(tmp_path / "no_scene.root", [{k: e[k] for k in types} for e in HAND_MADE], types=types)
    with pytest.raises(DataError, match=r"no_scene.root, tree 'photonSIM' has no branch 'scene' \(found: .*scpox"):
        root_to_ild(no_energy, out)
    crowded = write_root(tmp_path / "crowded.root", [hit_event(20.0, [], n_mc=9)] * 3)
    with pytest.raises(DataError, match="no entries kept \\(3 read, 3 with more than 7 MC particles\\)"):
        root_to_ild(crowded, out)
    nan_hit = write_root(tmp_path / "nan.root", [HAND_MADE[0], HAND_MADE[1],
                                                 hit_event(20.0, [(0.0, LAYER_Y_MM[3] + 0.5, 0.0, np.nan)])])
    with pytest.raises(DataError, match="nan.root, tree 'photonSIM': entry 2: branch 'scene' holds a NaN"):
        root_to_ild(nan_hit, out)
    zero = write_root(tmp_path / "zero.root", [HAND_MADE[0], hit_event(0.0, [])])
    with pytest.raises(DataError, match=r"entry 1: incident energy mcene\[0\] = 0 GeV"):
        root_to_ild(zero, out)
    with pytest.raises(DataError, match="max_mc_particles must be a positive integer"):
        root_to_ild(good, out, max_mc_particles=0)
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.suffix == ".h5"]


def test_missing_uproot_is_explained(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_uproot(name, *args, **kwargs):
        if name == "uproot":
            raise ImportError("No module named 'uproot'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_uproot)
    with pytest.raises(ConfigError, match=r"pip install physgan\[root\]"):
        root_to_ild("x.root", "x.h5")
