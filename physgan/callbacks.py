"""Callbacks that make a run directory: crash-consistent checkpoints for `--resume`,
samples saved every epoch."""

from __future__ import annotations

import csv
import json
import shutil
import time
from pathlib import Path

import keras
import numpy as np

from physgan.artifacts import last_checkpoints, latest_checkpoint, read_run_config, save_model, write_json
from physgan.errors import DataError
from physgan.fileio import atomic_path


class RunCheckpoint(keras.callbacks.Callback):
    """Saves the whole model at the end of every epoch, crash-consistently.

    Writes `checkpoints/last-NNNN.keras` (N finished epochs) atomically: the epoch
    count travels with the weights and optimizer state in the file's name, so a
    kill at any moment resumes from a file whose weights hold exactly the epochs
    its name says (`resume_point`). Then `checkpoints/state.json` with the
    wall-clock seconds of the finished epochs, summed over resumes (after a kill
    between the two it lags by one epoch), and only then removes the previous
    `last-*.keras`. Keeps `checkpoints/epoch-NNNN.keras` every `keep_every` epochs.
    """

    def __init__(self, run_dir: str | Path, keep_every: int = 0):
        super().__init__()
        self.checkpoint_dir = Path(run_dir) / "checkpoints"
        self.keep_every = keep_every
        self.train_seconds = training_seconds(run_dir)
        self._epoch_start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()

    def after(self, stage: str, epochs_done: int) -> None:
        """Called after each write ("checkpoint", "kept", "state", "cleanup"); a test hook."""

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if self._epoch_start is not None:
            self.train_seconds += time.perf_counter() - self._epoch_start
        checkpoint = save_model(self.model, self.checkpoint_dir / f"last-{done:04d}.keras")
        self.after("checkpoint", done)
        if self.keep_every and done % self.keep_every == 0:
            with atomic_path(self.checkpoint_dir / f"epoch-{done:04d}.keras") as tmp:
                shutil.copyfile(checkpoint, tmp)
            self.after("kept", done)
        write_json(self.checkpoint_dir / "state.json",
                   {"epochs_done": done, "train_seconds": round(self.train_seconds, 1)})
        self.after("state", done)
        for older in last_checkpoints(self.checkpoint_dir)[:-1]:
            older.unlink()
        (self.checkpoint_dir / "last.keras").unlink(missing_ok=True)  # a run resumed from before last-NNNN
        self.after("cleanup", done)


def trim_history(run_dir: str | Path, epochs_done: int) -> None:
    """Drops the rows of `history.csv` after the first `epochs_done` epochs (a run killed
    after logging an epoch but before its checkpoint logged it already), atomically."""
    path = Path(run_dir) / "history.csv"
    if not path.exists():
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    epoch_column = rows[0].index("epoch")
    kept = [rows[0]] + [row for row in rows[1:] if int(row[epoch_column]) < epochs_done]
    if len(kept) < len(rows):
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
            csv.writer(f).writerows(kept)


def training_seconds(run_dir: str | Path) -> float:
    """Returns the wall-clock seconds of a run's finished epochs (0 before the first)."""
    state = Path(run_dir) / "checkpoints" / "state.json"
    return float(json.loads(state.read_text()).get("train_seconds", 0.0)) if state.exists() else 0.0


class EpochSamples(keras.callbacks.Callback):
    """Writes `samples/epoch_NNNN.npy` after every epoch: the images (or code vectors) of
    `model.sample(n, seed=seed)` (the same latent draws every epoch, so the files
    show how one set of samples evolves; watch_results.py draws them over epochs)."""

    def __init__(self, run_dir: str | Path, n_samples: int = 64, seed: int = 0):
        super().__init__()
        self.samples_dir = Path(run_dir) / "samples"
        self.n_samples = n_samples
        self.seed = seed

    def on_epoch_end(self, epoch, logs=None):
        events = self.model.sample(self.n_samples, seed=self.seed)
        samples = np.asarray(getattr(events, "images", getattr(events, "codes", events)), dtype="float32")
        self.samples_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.samples_dir / f"epoch_{epoch + 1:04d}.npy") as tmp:
            np.save(tmp, samples)


def resume_point(run_dir: str | Path) -> tuple[Path, int]:
    """Returns `(checkpoint path, epochs already done)` of an interrupted run."""
    read_run_config(run_dir)  # raises a clear error if this is no run directory
    latest = latest_checkpoint(run_dir)
    if latest is None:
        raise DataError(f"physgan: {run_dir} has no checkpoint to resume from (no epoch finished)")
    return latest
