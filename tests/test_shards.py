"""python -m physgan.generate --shards: shard files written once each, resumable, presented
as one file (an HDF5 virtual dataset, or a merged CSV) that the evaluation CLI reads."""

from pathlib import Path

import h5py
import numpy as np
import pytest

from physgan import evaluate, generate
from physgan.datasets import read_events
from physgan.errors import ConfigError
from physgan.shards import shard_path, shard_sizes


@pytest.mark.backend_free
def test_shards_split_the_events_and_are_named_beside_the_output():
    assert shard_sizes(10, 3) == [4, 3, 3]
    assert shard_path(Path("out/tpc.csv.gz"), (".csv", ".csv.gz"), 2, 12).name == "tpc.shard-0002-of-0012.csv.gz"
    assert shard_path(Path("Showers.H5"), (".h5",), 0, 1).name == "Showers.shard-0000-of-0001.H5"
    with pytest.raises(ConfigError, match="--shards 5: choose 1 to --n \\(4\\) shards"):
        shard_sizes(4, 5)
    with pytest.raises(ConfigError, match="--shard 3: choose 0 to 2 \\(--shards 3\\)"):
        shard_sizes(9, 3, 3)


def layers(path):
    events = read_events(path)
    cells = [layer.reshape(len(layer), -1) for layer in events.layers]
    return np.concatenate([events.incident_energy.reshape(-1, 1), *cells], axis=1)


@pytest.mark.backend_free
def test_calorimeter_shards_resume_and_read_as_one_file(tmp_path, shared_data, capsys):
    out = tmp_path / "showers.h5"
    common = ["calo_flow_eplus", "--n", "90", "--shards", "3", "--steps", "2", "--out", str(out)]
    assert generate.main([*common, "--shard", "1"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["showers.shard-0001-of-0003.h5"]
    one = tmp_path / "showers.shard-0001-of-0003.h5"
    written = one.stat().st_mtime_ns
    assert generate.main(common) == 0
    assert "shard 1 of 3 is there (showers.shard-0001-of-0003.h5); skipped" in capsys.readouterr().out
    assert one.stat().st_mtime_ns == written
    with h5py.File(out) as f:
        assert f["layer_1"].is_virtual and f["layer_1"].shape == (90, 12, 12) and f.attrs["n_events"] == 90
    shards = sorted(tmp_path.glob("showers.shard-*.h5"))
    merged = layers(out)
    np.testing.assert_array_equal(merged, np.concatenate([layers(p) for p in shards]))
    # A lost shard is made again with the same events (each shard has its own seed stream).
    shards[0].unlink()
    assert generate.main(common) == 0
    np.testing.assert_allclose(layers(out), merged, rtol=1e-5, atol=1e-4)
    assert evaluate.main([str(out), str(shared_data / "calogan_eplus.h5"), "--max-events", "90",
                          "--no-classifier"]) == 0
    assert "FPD" in capsys.readouterr().out


@pytest.mark.backend_free
def test_csv_shards_are_merged_into_one_file(tmp_path):
    out = tmp_path / "tpc.csv.gz"
    assert generate.main(["mpd_wgan_tpc", "--n", "30", "--shards", "2", "--out", str(out)]) == 0
    events = read_events(out)
    assert len(events.amplitudes) == 30
    firsts = [read_events(tmp_path / f"tpc.shard-000{i}-of-0002.csv.gz").amplitudes for i in (0, 1)]
    np.testing.assert_allclose(events.amplitudes, np.concatenate(firsts))
