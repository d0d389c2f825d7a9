"""Callbacks that make a run directory: atomic checkpoints for `--resume`,
samples saved every epoch."""

from __future__ import annotations

import json
import time
from pathlib import Path

import keras
import numpy as np

from physgan.artifacts import read_run_config, save_model, write_json
from physgan.errors import DataError
from physgan.fileio import atomic_path


class RunCheckpoint(keras.callbacks.Callback):
    """Saves the whole model at the end of every epoch, atomically.

    Writes `checkpoints/last.keras` (replaced each epoch, so a crash loses at
    most the epoch in progress) and `checkpoints/state.json` with the number of
    finished epochs and the wall-clock seconds they took, summed over resumes;
    keeps `checkpoints/epoch-NNNN.keras` every `keep_every` epochs.
    """

    def __init__(self, run_dir: str | Path, keep_every: int = 0):
        super().__init__()
        self.checkpoint_dir = Path(run_dir) / "checkpoints"
        self.keep_every = keep_every
        self.train_seconds = training_seconds(run_dir)
        self._epoch_start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        save_model(self.model, self.checkpoint_dir / "last.keras")
        if self.keep_every and (epoch + 1) % self.keep_every == 0:
            save_model(self.model, self.checkpoint_dir / f"epoch-{epoch + 1:04d}.keras")
        if self._epoch_start is not None:
            self.train_seconds += time.perf_counter() - self._epoch_start
        write_json(self.checkpoint_dir / "state.json",
                   {"epochs_done": epoch + 1, "train_seconds": round(self.train_seconds, 1)})


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
    checkpoint_dir = Path(run_dir) / "checkpoints"
    read_run_config(run_dir)  # raises a clear error if this is no run directory
    state = checkpoint_dir / "state.json"
    last = checkpoint_dir / "last.keras"
    if not (state.exists() and last.exists()):
        raise DataError(f"physgan: {run_dir} has no checkpoint to resume from (no epoch finished)")
    return last, int(json.loads(state.read_text())["epochs_done"])
