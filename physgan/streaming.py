"""Training batches read from disk, for files bigger than memory.

`ShowerStream` is a `keras.utils.PyDataset`: `fit` asks it for batch i, it
reads that batch's events (one contiguous range of the file, validated like
every read) and converts them to training units. The order of the batches is
shuffled every epoch; memory holds a few batches, never the file (the ILD
training set of the paper is ~200 GB). It streams every data set that declares
a `Stream` (CaloGAN and ILD HDF5 files); `workers=N, use_multiprocessing=...`
read batches ahead as for any PyDataset (train.py --workers), and `shard` gives
each process of a multi-process run its own part of the file.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from physgan.datasets import DataSet, get_dataset
from physgan.errors import ConfigError


class ShowerStream(keras.utils.PyDataset):
    """Shuffled batches of `batch_size` events of one file of `dataset`, read on demand.

    Args:
        dataset: a data-set name (or `DataSet`) that declares a `Stream`.
        path: the data file.
        batch_size: events per batch (the last incomplete batch is dropped).
        max_events: use only the first events of the file.
        seed: seed of the batch order.
        shard: (index, count): serve only the index-th of `count` equal contiguous
            blocks of the file's batches (one process's share of a multi-process
            run, `physgan.distribute`); every shard has the same number of batches.
        **kwargs: `keras.utils.PyDataset`'s `workers`, `use_multiprocessing`,
            `max_queue_size` (batches read ahead while the model trains).
    """

    def __init__(self, dataset: str | DataSet, path: str | Path, batch_size: int,
                 max_events: int | None = None, seed: int | None = 0, shard: tuple[int, int] = (0, 1),
                 **kwargs):
        super().__init__(**kwargs)
        self.dataset = dataset if isinstance(dataset, DataSet) else get_dataset(dataset)
        if self.dataset.stream is None:
            raise ConfigError(f"the {self.dataset.name} data set cannot be streamed from disk; load it instead")
        self.path = Path(path)
        conditions = self.dataset.stream.read_conditions(self.path, max_events)
        self.energies = np.asarray(conditions, dtype="float32").reshape(-1)
        self.batch_size = int(batch_size)
        index, count = shard
        self.n_batches = len(self.energies) // self.batch_size // count
        if self.n_batches < 1:
            raise ConfigError(f"{len(self.energies)} events of {self.path.name} are fewer than one batch "
                              f"of {self.batch_size}" + (f" for each of {count} processes" if count > 1 else ""))
        self.batches = np.arange(index * self.n_batches, (index + 1) * self.n_batches)  # this shard's batches
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(self.batches)

    @property
    def energy_range(self) -> list[float]:
        """Returns [floor(min E), ceil(max E)] of the streamed events, in GeV."""
        return [float(np.floor(self.energies.min())), float(np.ceil(self.energies.max()))]

    def __len__(self) -> int:
        return self.n_batches

    def __getitem__(self, index: int) -> dict:
        start = int(self.order[index % self.n_batches]) * self.batch_size
        stream = self.dataset.stream
        return stream.inputs(stream.read(self.path, max_events=self.batch_size, start=start))

    def on_epoch_end(self) -> None:
        self.order = self.rng.permutation(self.batches)
