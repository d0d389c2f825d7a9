"""Trained presets: lookup by name, the unknown-name error, the listing, the index entries."""

import json

import pytest

import physgan
from physgan.errors import ConfigError, DataError
from physgan.presets import describe_entry, describe_presets, get_preset, is_preset_name, list_presets, presets_dir
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.backend_free  # runs once, not per backend (tests/run_all.sh)


def test_presets_are_the_shipped_models_with_provenance_and_metrics():
    assert presets_dir() == REPO_ROOT / "saved_models"
    presets = list_presets()
    assert {"calogan_eplus", "calogan_gamma"} <= {p.name for p in presets}
    for preset in presets:
        entry = preset.entry
        assert preset.path.is_file() and preset.path.stat().st_size == entry["bytes"] <= 60e6
        assert len(entry["data"]["sha256"]) == 64 and entry["data"]["n_events"] > 0
        assert entry["held_out"]["events"] > 0 and entry["train_seconds"] > 0
        assert 0.5 <= entry["metrics"]["classifier_low_level"]["auc"] <= 1.0
        assert preset.name in describe_presets() and preset.headline().startswith("AUC low")


def test_names_and_paths_are_told_apart():
    assert is_preset_name("mpd_wgan_tpc")
    assert not is_preset_name("mpd_wgan_tpc.keras") and not is_preset_name("saved_models/mpd_wgan_tpc")


def test_an_unknown_preset_is_refused_with_the_known_names():
    with pytest.raises(ConfigError, match="no model file or preset named 'calogan_pion'; presets: .*calogan_eplus"):
        physgan.load("calogan_pion")
    with pytest.raises(DataError, match="no model file"):
        physgan.load("calogan_pion.keras")  # a file name is not looked up as a preset


def test_the_presets_folder_can_be_moved(tmp_path, monkeypatch):
    monkeypatch.setenv("PHYSGAN_PRESETS", str(tmp_path))
    with pytest.raises(DataError, match="set PHYSGAN_PRESETS"):
        list_presets()
    assert "set PHYSGAN_PRESETS" in describe_presets()
    entry = json.loads((REPO_ROOT / "saved_models" / "index.json").read_text())["calogan_eplus.keras"]
    (tmp_path / "index.json").write_text(json.dumps({"shower.keras": entry}))
    assert [p.name for p in list_presets()] == ["shower"]
    with pytest.raises(DataError, match="indexed but .*shower.keras is missing"):
        get_preset("shower")


def test_an_entry_is_described_in_a_few_lines():
    entry = json.loads((REPO_ROOT / "saved_models" / "index.json").read_text())["calogan_eplus.keras"]
    text = describe_entry("calogan_eplus", entry)
    assert text.startswith("calogan_eplus: calogan on calogan_eplus.h5 (eplus)")
    assert f"the {entry['held_out']['events']} held-out events" in text and "classifier AUC" in text
    assert len(text.splitlines()) == 4
    digits = {**entry, "metrics": {**entry["metrics"], "extra": {"mean_image_l1": 0.0738, "digit_diversity": 9.6965}}}
    assert "  mean image l1 0.0738, digit diversity 9.7" in describe_entry("x", digits).splitlines()


def test_a_kept_checkpoint_is_found_by_epoch(tmp_path):
    from physgan.artifacts import run_model_file

    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "epoch-0050.keras").write_bytes(b"")
    config = {"model": "mpd_wgan"}
    assert run_model_file(tmp_path, config, 50) == tmp_path / "checkpoints" / "epoch-0050.keras"
    with pytest.raises(DataError, match="kept no checkpoint of epoch 60 \\(kept: 50\\)"):
        run_model_file(tmp_path, config, 60)
    entry = json.loads((REPO_ROOT / "saved_models" / "index.json").read_text())["calogan_eplus.keras"]
    assert "(picked of 90)" in describe_entry("x", {**entry, "epochs": 30, "epochs_trained": 90})


def test_exported_checkpoints_are_averaged_weight_by_weight(tmp_path):
    import numpy as np

    from physgan.export import averaged_checkpoints, parse_epochs

    assert parse_epochs(["700:720:10", "5"]) == [5, 700, 710, 720]
    with pytest.raises(ConfigError, match="--epoch 9:1:1: a range is FIRST:LAST:STEP"):
        parse_epochs(["9:1:1"])
    (tmp_path / "checkpoints").mkdir()
    models = [physgan.get_model("mpd_wgan", seed=seed) for seed in (1, 2)]
    for epoch, model in enumerate(models, start=1):
        physgan.save_model(model, tmp_path / "checkpoints" / f"epoch-{epoch:04d}.keras")
    average = averaged_checkpoints(tmp_path, {"model": "mpd_wgan"}, [1, 2])
    for got, a, b in zip(average.generator.get_weights(), *(m.generator.get_weights() for m in models)):
        np.testing.assert_allclose(got, (a + b) / 2, rtol=1e-6, atol=1e-7)
