"""`train.py --resume RUN`: the run's flags come back, flags that would change the run
are refused, and so is a data file that is not the run's."""

import json

import pytest

from physgan.errors import ConfigError
from physgan.resume import resumed_flags
from tests.test_cli import run

pytestmark = pytest.mark.backend_free

DEFAULTS = {"model": None, "resume": None, "epochs": None, "batch_size": None, "keep_every": None,
            "set": [], "out": "runs", "quiet": False, "allow_different_data": None, "data": None}
SAVED = {**DEFAULTS, "model": "mpd_wgan", "epochs": 5, "batch_size": 64, "keep_every": 3,
         "set": ["critic_steps=2"], "allow_different_data": True, "data": "/data/digits.csv"}


def test_every_saved_flag_comes_back_and_the_run_length_may_change():
    given = {**DEFAULTS, "resume": "RUN", "epochs": 9}
    flags = resumed_flags(given, DEFAULTS, SAVED)
    assert flags["epochs"] == 9 and flags["resume"] == "RUN"
    assert flags["batch_size"] == 64 and flags["keep_every"] == 3 and flags["set"] == ["critic_steps=2"]
    assert flags["allow_different_data"] is None  # allowed once, never inherited


def test_a_flag_given_again_with_the_same_value_is_fine():
    flags = resumed_flags({**DEFAULTS, "resume": "RUN", "model": "mpd_wgan", "batch_size": 64}, DEFAULTS, SAVED)
    assert flags["model"] == "mpd_wgan"


@pytest.mark.parametrize("key, value, message", [
    ("model", "calogan", "--model calogan differs from the run's mpd_wgan"),
    ("batch_size", 128, "--batch-size 128 differs from the run's 64"),
    ("data", "other.csv", "--data other.csv differs from the run's /data/digits.csv"),
    ("set", ["critic_steps=5"], "--set ['critic_steps=5'] differs"),
])
def test_a_flag_that_changes_the_run_is_refused(key, value, message):
    with pytest.raises(ConfigError, match="^--resume: " + message.replace("[", r"\[").replace("]", r"\]")):
        resumed_flags({**DEFAULTS, "resume": "RUN", key: value}, DEFAULTS, SAVED)


def test_resume_refuses_a_data_file_that_is_not_the_runs(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    flags = {"model": "mpd_wgan", "max_events": 128, "batch_size": 64}
    (run_dir / "config.json").write_text(json.dumps({"flags": flags, "data_sha256": "0" * 64}))
    refused = run("train.py", "--resume", run_dir)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "is not the file this run trained on" in refused.stderr and "--allow-different-data" in refused.stderr
    allowed = run("train.py", "--resume", run_dir, "--allow-different-data")
    assert allowed.returncode == 2 and "has no checkpoint to resume from" in allowed.stderr
