"""The data-set registry: one declaration per data set, dispatched through by every command."""

import ast
from pathlib import Path

import numpy as np
import pytest

import physgan
from physgan import datasets
from physgan.data.calogan import CaloShowers, read_calogan
from physgan.data.codes import CodeVectors
from physgan.data.mpd import TPCEvents, read_digits_csv
from physgan.data.zdc import ZdcData
from physgan.errors import ConfigError, DataError
from physgan.evaluate import evaluate, read_showers
from physgan.generate import main as generate_main

pytestmark = pytest.mark.backend_free

DATA_PACKAGE = Path(physgan.__file__).parent / "data"
SAMPLES = DATA_PACKAGE / "samples"


def test_every_data_set_is_registered_by_its_format_module():
    names = datasets.dataset_names()
    assert names == ["calogan", "codes", "digits", "ild", "larcv", "mnist", "mpd_tpc", "zdc"]
    for name in names:
        declared = datasets.get_dataset(name)
        assert declared.events.dataset == name  # the events type names its data set
        assert declared.events.__module__ == f"physgan.data.{'mpd' if name == 'mpd_tpc' else name}"


def test_unknown_data_set_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown data set 'lhc'; available: calogan, codes, digits, ild, larcv, mnist, mpd_tpc, zdc"):
        datasets.load_training_data("lhc")


@pytest.mark.parametrize("name, file", [("calogan", "calogan_gamma.h5"), ("ild", "ild_photons.h5"),
                                        ("mpd_tpc", "mpd_tpc_simulated.csv.gz"), ("zdc", "zdc_neutrons.npz"),
                                        ("larcv", "larcv_tracks.npz")])
def test_files_are_recognised_read_written_and_read_back(name, file, tmp_path):
    declared = datasets.dataset_of_file(SAMPLES / file)
    assert declared.name == name
    # The digits format places events relative to the file's lowest pad and time: all or nothing.
    events = datasets.read_events(SAMPLES / file, max_events=None if name == "mpd_tpc" else 6)
    assert isinstance(events, declared.events)
    out = events.write(tmp_path / f"copy{declared.output_suffixes[-1]}")
    assert datasets.dataset_of_file(out) is declared
    again = declared.read(out)
    assert len(again) == len(events) and declared.validate(out) == len(events)
    for field in declared.events.per_event:
        ours, theirs = getattr(events, field), getattr(again, field)
        for a, b in zip(*(v if isinstance(v, tuple) else (v,) for v in (ours, theirs))):
            np.testing.assert_allclose(a, b, rtol=1e-6, err_msg=f"{name}.{field}")


def test_the_shared_geant4_files_are_recognised(shared_data):
    assert datasets.dataset_of_file(shared_data / "calogan_eplus.h5").name == "calogan"
    assert datasets.dataset_of_file(shared_data / "ild_photons.h5").name == "ild"  # datasets at the root
    assert datasets.dataset_of_file(shared_data / "real/physgan/digits_unparameterized.csv").name == "mpd_tpc"


def test_a_file_of_no_known_layout_gets_one_error_listing_the_known_kinds(tmp_path):
    import h5py

    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(DataError, match=r"other.h5 is in no known data-set layout \(known: calogan: HDF5"):
        read_showers(tmp_path / "other.h5")
    with pytest.raises(DataError, match="does not exist"):
        read_showers(tmp_path / "missing.h5")
    with pytest.raises(ConfigError, match="CaloGANEvents|not the events of a data set"):
        datasets.dataset_of(np.zeros((2, 8, 8)))


def test_events_select_and_concatenate_the_same_way_for_every_data_set():
    showers = read_calogan(SAMPLES / "calogan_eplus.h5", max_events=5)
    both = CaloShowers.concatenate([showers[:2], showers[2:]])
    np.testing.assert_array_equal(both.layers[2], showers.layers[2])
    assert both.overflow is not None and len(showers[3]) == 1
    assert CaloShowers.concatenate([showers[:2], CaloShowers(showers.incident_energy[2:],
                                                             showers[2:].layers)]).overflow is None
    events = read_digits_csv(SAMPLES / "mpd_tpc_simulated.csv.gz", max_events=4)
    picked = events[np.array([True, False, True, False])]
    np.testing.assert_array_equal(picked.crossing_angle, events.crossing_angle[[0, 2]])
    zdc = ZdcData(np.ones((3, 44, 44)))
    assert len(ZdcData.concatenate([zdc, zdc[1:]])) == 5
    with pytest.raises(DataError, match="at least one TPCEvents"):
        TPCEvents.concatenate([])


def test_zdc_is_a_data_set_declared_in_one_module():
    data = datasets.load_training_data("zdc", max_events=16)
    assert data.inputs["image"].shape == (16, 44, 44, 1)
    assert data.inputs["properties"].shape == (16, 9) and data.inputs["properties"].max() <= 1
    assert isinstance(data.reference, ZdcData) and "scaler" in data.model_options
    codes = CodeVectors(np.zeros((4, 3)))
    with pytest.raises(DataError, match="codes data set has no evaluation suite yet .*zdc"):
        evaluate(codes, codes)


def test_format_modules_import_no_other_format_module():
    """Readers share physgan.data.base (checks, events), hdf5_writer, images (the image
    data sets' reading and events) and larcv_sim (the bundled LArCV sample); no import cycle."""
    shared = {"physgan.data.base", "physgan.data.hdf5_writer", "physgan.data.images", "physgan.data.larcv_sim"}
    allowed = shared | {"physgan.data.commands"}  # under `if __name__ == "__main__":` only
    readers = [d.events.__module__ for d in datasets.list_datasets()]
    for module in [*readers, *shared]:
        tree = ast.parse((DATA_PACKAGE / f"{module.rsplit('.', 1)[1]}.py").read_text())
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        others = {m for m in imported if m.startswith("physgan.data.") and m not in allowed}
        assert not others, f"{module} imports {others}"
        if module in shared:
            assert not imported & set(readers), f"{module} imports a reader"


def test_generate_writes_the_data_set_of_the_model_and_refuses_other_conditions(shared_data, tmp_path, capsys):
    model = shared_data / "real/physgan/parameterize_3.h5"
    out = tmp_path / "tpc.csv.gz"
    assert generate_main([str(model), "--n", "50", "--chunk-size", "20", "--angle", "2:4", "--out", str(out)]) == 0
    events = read_digits_csv(out)
    assert len(events) <= 50 and np.all((events.crossing_angle >= 2) & (events.crossing_angle <= 4))
    assert generate_main([str(model), "--n", "5", "--energy", "1:10", "--out", str(out)]) == 2
    assert "--energy does not apply to a model of the mpd_tpc data set (its condition is --angle)" \
        in capsys.readouterr().err
    assert generate_main([str(model), "--n", "5", "--out", str(tmp_path / "tpc.h5")]) == 2
    assert "mpd_tpc events are written as .csv or .csv.gz files, not tpc.h5" in capsys.readouterr().err
    assert generate_main([str(model), "--n", "5", "--particle", "gamma", "--out", str(out)]) == 2
    assert "--particle does not apply" in capsys.readouterr().err
    assert generate_main([str(model), "--n", "5", "--steps", "4", "--out", str(out)]) == 2
    assert "--steps does not apply to LegacyGenerator models (mpd_tpc data set); it applies to flow models" \
        in capsys.readouterr().err
    decoder = shared_data / "real/zdc/gen_vae_175_1_proton.h5"
    assert generate_main([str(decoder), "--n", "5", "--out", str(tmp_path / "z.npz")]) == 2
    assert "generates no events of a known data set" in capsys.readouterr().err


def test_validate_command_detects_the_layout_of_each_file(tmp_path, capsys):
    from physgan.data.commands import main as data_main

    files = [SAMPLES / "calogan_gamma.h5", SAMPLES / "zdc_neutrons.npz"]
    assert data_main(["validate", *map(str, files)]) == 0
    out = capsys.readouterr().out
    assert "2000 events, valid (calogan)" in out and "13000 events, valid (zdc)" in out
    (tmp_path / "notes.txt").write_text("not data")
    assert data_main(["validate", str(tmp_path / "notes.txt")]) == 2
    assert "notes.txt is in no known data-set layout" in capsys.readouterr().err


def test_generate_says_when_an_unparametrized_model_gets_a_condition(shared_data, tmp_path, capsys):
    model = shared_data / "real/physgan/best_unparameterized.h5"
    assert generate_main([str(model), "--n", "5", "--angle", "3", "--out", str(tmp_path / "t.csv")]) == 2
    assert "unparametrized: it takes no condition" in capsys.readouterr().err


def test_an_ild_file_is_recognised_wherever_read_ild_finds_its_datasets(tmp_path):
    import h5py

    from physgan.data.ild import read_ild

    showers = read_showers(SAMPLES / "ild_photons.h5", max_events=2)
    with h5py.File(tmp_path / "root.h5", "w") as f:  # an empty group 30x30, the datasets at the root
        f.create_group("30x30")
        f["energy"], f["layers"] = showers.incident_energy[:, None], showers.layers
    assert datasets.dataset_of_file(tmp_path / "root.h5").name == "ild"
    assert len(read_ild(tmp_path / "root.h5")) == 2
