"""Training batches read from disk, for shower files bigger than memory.

`ShowerStream` is a `keras.utils.PyDataset`: `fit` asks it for batch i, it
reads that batch's events (one contiguous range of the HDF5 file, validated
like every read) and converts them to training units. The order of the
batches is shuffled every epoch; memory holds a few batches, never the file
(the ILD training set of the paper is ~200 GB). `CaloGANStream` and
`IldStream` are the streams of the two calorimeter layouts; pass
`workers=N, use_multiprocessing=...` as for any PyDataset.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import keras
import numpy as np

from physgan.errors import ConfigError


class ShowerStream(keras.utils.PyDataset):
    """Shuffled batches of `batch_size` showers of one HDF5 file, read on demand.

    Subclasses set `read(path, max_events, start)` (returns showers),
    `to_inputs(showers)` (the training dict) and `read_energies(path,
    max_events)` (the incident energies, layout checked, cells not read).

    Args:
        path: HDF5 file.
        batch_size: showers per batch (the last incomplete batch is dropped).
        max_events: use only the first events of the file.
        seed: seed of the batch order.
    """

    def __init__(self, path: str | Path, batch_size: int, max_events: int | None = None,
                 seed: int | None = 0, **kwargs):
        super().__init__(**kwargs)
        self.path = Path(path)
        self.energies = np.asarray(self.read_energies(self.path, max_events), dtype="float32").reshape(-1)
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
        return self.to_inputs(self.read(self.path, max_events=self.batch_size, start=start))

    def on_epoch_end(self) -> None:
        self.order = self.rng.permutation(self.n_batches)


class CaloGANStream(ShowerStream):
    """Batches of a CaloGAN-layout file (energy, layer_0..2) in CaloGAN's training units."""

    @staticmethod
    def read(path, max_events, start):
        from physgan.data.calogan import read_calogan

        return read_calogan(path, max_events=max_events, start=start)

    @staticmethod
    def to_inputs(showers):
        from physgan.datasets import calogan_training_inputs

        return calogan_training_inputs(showers)

    @staticmethod
    def read_energies(path, max_events):
        from physgan.data.calogan import read_calogan

        read_calogan(path, max_events=1)  # the layout, with the reader's errors
        with h5py.File(path, "r") as f:
            return f["energy"][:max_events]


class IldStream(ShowerStream):
    """Batches of an ILD Getting High file (group 30x30 or root: energy, layers)."""

    @staticmethod
    def read(path, max_events, start):
        from physgan.data.ild import read_ild

        return read_ild(path, max_events=max_events, start=start)

    @staticmethod
    def to_inputs(showers):
        from physgan.datasets import ild_training_inputs

        return ild_training_inputs(showers)

    @staticmethod
    def read_energies(path, max_events):
        from physgan.data.ild import read_ild_energies

        return read_ild_energies(path, max_events)


STREAMS = {"calogan": CaloGANStream, "ild": IldStream}
