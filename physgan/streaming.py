"""Training batches read from disk, for CaloGAN files bigger than memory.

`CaloGANStream` is a `keras.utils.PyDataset`: `fit` asks it for batch i, it
reads that batch's events (one contiguous range of the HDF5 file, validated
like every read) and converts them to training units. The order of the
batches is shuffled every epoch; memory holds a few batches, never the file.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import keras
import numpy as np

from physgan.data.calogan import read_calogan
from physgan.datasets import calogan_training_inputs
from physgan.errors import ConfigError


class CaloGANStream(keras.utils.PyDataset):
    """Shuffled batches of `batch_size` showers of one CaloGAN file, read on demand.

    Args:
        path: CaloGAN HDF5 file.
        batch_size: showers per batch (the last incomplete batch is dropped).
        max_events: use only the first events of the file.
        seed: seed of the batch order.
    """

    def __init__(self, path: str | Path, batch_size: int, max_events: int | None = None,
                 seed: int | None = 0, **kwargs):
        super().__init__(**kwargs)
        self.path = Path(path)
        read_calogan(self.path, max_events=1)  # the layout, with read_calogan's errors
        with h5py.File(self.path, "r") as f:
            n = len(f["energy"])
            self.energies = np.asarray(f["energy"][: max_events or n], dtype="float32").reshape(-1)
        self.batch_size = int(batch_size)
        self.n_batches = len(self.energies) // self.batch_size
        if self.n_batches < 1:
            raise ConfigError(f"{len(self.energies)} events of {self.path.name} are fewer than one batch "
                              f"of {self.batch_size}")
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(self.n_batches)

    @property
    def energy_range(self) -> list[float]:
        """Returns [floor(min E), ceil(max E)] of the streamed events, in GeV."""
        return [float(np.floor(self.energies.min())), float(np.ceil(self.energies.max()))]

    def __len__(self) -> int:
        return self.n_batches

    def __getitem__(self, index: int) -> dict:
        start = int(self.order[index % self.n_batches]) * self.batch_size
        return calogan_training_inputs(read_calogan(self.path, max_events=self.batch_size, start=start))

    def on_epoch_end(self) -> None:
        self.order = self.rng.permutation(self.n_batches)
