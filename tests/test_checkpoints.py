"""Crash-consistent run checkpoints: a run killed at any point of its epoch-end writes
resumes from a checkpoint whose weights hold exactly the epochs it claims, and its
history continues without a gap or a repeated row."""

import csv
from pathlib import Path

import keras
import numpy as np
import pytest

import physgan
from physgan.callbacks import RunCheckpoint, resume_point, trim_history

STAGES = ("checkpoint", "kept", "state", "cleanup")
EPOCHS, STEPS = 3, 2  # 128 events in batches of 64


class Killed(Exception):
    pass


class KilledCheckpoint(RunCheckpoint):
    """Raises right after `stage` of the epoch-end writes of epoch `at` (1-based)."""

    def __init__(self, run_dir, stage, at):
        super().__init__(run_dir, keep_every=1)
        self.stage, self.at = stage, at

    def after(self, stage, epochs_done):
        if (stage, epochs_done) == (self.stage, self.at):
            raise Killed(stage)


def _fit(model, images, run_dir, checkpoint, initial_epoch=0):
    logger = keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=initial_epoch > 0)
    model.fit(images, batch_size=64, epochs=EPOCHS, initial_epoch=initial_epoch, verbose=0,
              shuffle=False, callbacks=[logger, checkpoint])


@pytest.mark.parametrize("stage", ["before the save", *STAGES])
def test_a_run_killed_at_any_point_resumes_with_a_continuous_history(stage, mpd_images, tmp_path):
    (tmp_path / "config.json").write_text("{}")
    model = physgan.get_model("mpd_wgan", seed=0)
    model.compile()
    if stage == "before the save":  # killed while writing epoch 2's checkpoint
        checkpoint = KilledCheckpoint(tmp_path, "never", at=0)
        save = model.save

        def save_then_die(path, *args, **kwargs):
            if Path(path).name.startswith(".last-0002-"):  # atomic_path's temporary file
                Path(path).write_bytes(b"half a checkpoint")
                raise Killed("during the save")
            return save(path, *args, **kwargs)

        model.save = save_then_die
    else:
        checkpoint = KilledCheckpoint(tmp_path, stage, at=2)
    with pytest.raises(Killed):
        _fit(model, mpd_images, tmp_path, checkpoint)

    path, done = resume_point(tmp_path)
    assert done == (1 if stage == "before the save" else 2)
    resumed = physgan.load(path)
    assert int(resumed.generator_optimizer.iterations) == done * STEPS  # the weights hold exactly `done` epochs
    trim_history(tmp_path, done)
    _fit(resumed, mpd_images, tmp_path, RunCheckpoint(tmp_path), initial_epoch=done)
    with open(tmp_path / "history.csv") as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["0", "1", "2"]
    path, done = resume_point(tmp_path)
    assert done == EPOCHS and path.name == "last-0003.keras"
    assert [p.name for p in (tmp_path / "checkpoints").glob("last-*.keras")] == ["last-0003.keras"]
    assert not [p for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith(".")]  # no temporary left
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(physgan.load(path).generator_optimizer.iterations),
                                  EPOCHS * STEPS)


@pytest.mark.backend_free
def test_runs_checkpointed_before_numbered_files_still_resume(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.keras").write_bytes(b"model")
    (tmp_path / "checkpoints" / "state.json").write_text('{"epochs_done": 7, "train_seconds": 3.0}')
    assert resume_point(tmp_path) == (tmp_path / "checkpoints" / "last.keras", 7)
