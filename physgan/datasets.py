"""The data-set registry: one declaration per data set, which everything else dispatches through.

A data set is declared once, at the end of its format module in `physgan.data`, with
`register_dataset(DataSet(...))`: its name, its events type (what a model's `sample()`
returns), how a file is recognised, read, validated and written, how events become
training arrays, and optionally how training batches are streamed from disk, how its
events are conditioned at generation, its figures and its evaluation suite.
`train.py`, `watch_results.py`, `python -m physgan.generate` and `python -m
physgan.evaluate` know data sets only through this registry.

For training, a data set turns a file (or its bundled sample) into a `TrainingData`:
- `inputs`: the dict of arrays a model's `train_step` receives (training units),
- `reference`: the same events in physical units (the events type), for plots and evaluation,
- `condition`: the physical condition of each reference event (crossing angle,
  incident energy, ...) so generated samples can be drawn for the same ones,
- `model_options`: constructor options the model takes from the data (ranges).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from physgan.discovery import import_package_modules
from physgan.errors import ConfigError, DataError


@dataclass
class TrainingData:
    """Arrays of one data set, ready for `fit`, with their physical twin."""

    dataset: str
    source: Path
    inputs: dict
    reference: object
    condition: np.ndarray | None = None
    model_options: dict = field(default_factory=dict)

    @property
    def n_events(self) -> int:
        return len(next(iter(self.inputs.values())))


@dataclass(frozen=True)
class Condition:
    """What `model.sample(n, condition=...)` takes for a data set: e.g. the incident
    energy in GeV, set on the generate command line with `--energy LOW:HIGH`."""

    name: str
    unit: str
    flag: str


@dataclass(frozen=True)
class Stream:
    """How training batches of a data set are read from disk (`physgan.streaming.ShowerStream`).

    Args:
        read: (path, max_events, start) -> events of [start, start + max_events).
        read_conditions: (path, max_events) -> (N,) conditions of the first events
            (layout checked, cells not read).
        inputs: events -> the training arrays (as `TrainingData.inputs`).
    """

    read: Callable
    read_conditions: Callable
    inputs: Callable


@dataclass(frozen=True)
class Evaluation:
    """The CaloChallenge-style evaluation suite of a data set (`physgan.evaluate`).

    Args:
        observables: events -> {name: (N,) values}.
        catalogue: {name: style with .label, .log_x, .log_y} of the observables.
        matrix: observables -> (N, k) matrix for FPD/KPD and the high-level classifier.
        low_level: events -> (N, f) features of the low-level classifier.
        extra_metrics: (reference, generated) -> {name: value} of metrics particular
            to the data set (e.g. the MPD mean 8x8 response); None: none.
    """

    observables: Callable
    catalogue: dict
    matrix: Callable
    low_level: Callable
    extra_metrics: Callable | None = None


@dataclass(frozen=True)
class DataSet:
    """One data set: its name, events type, file format and what can be done with it.

    Args:
        name: the name train.py's --dataset and the model registry use.
        description: one line for listings.
        events: the `physgan.data.base.Events` subclass that readers and `sample()` return.
        file_kinds: the files it reads, for error messages ("HDF5 (.h5): energy, layer_0..2").
        recognise: path -> True when the file is in this data set's layout (checks little).
        read: (path, max_events=None) -> events, validated.
        validate: path -> number of events; DataError on any problem.
        write: (path, events, **options) -> path, atomically.
        training_data: (path or None, max_events, particle) -> TrainingData.
        output_suffixes: file name endings that `write` produces (".h5", ".csv.gz").
        writer: path -> a context manager with `append(events)` that writes in chunks;
            None: generated events are collected and written with `write`.
        condition: what `sample(condition=...)` means; None: unconditioned.
        stream: how training batches are read from disk; None: the file is loaded.
        figures: (reference, generated, out_dir) -> PNG paths (watch_results.py, evaluate).
        evaluation: the evaluation suite; None: `physgan.evaluate` does not apply.
        epoch_samples: events a training run draws after every epoch by default
            (RUN/samples/, shown over epochs by watch_results.py; train.py --sample-size).
    """

    name: str
    description: str
    events: type
    file_kinds: str
    recognise: Callable
    read: Callable
    validate: Callable
    write: Callable
    training_data: Callable
    output_suffixes: tuple[str, ...]
    writer: Callable | None = None
    condition: Condition | None = None
    stream: Stream | None = None
    figures: Callable | None = None
    evaluation: Evaluation | None = None
    epoch_samples: int = 0

    def check_output(self, path: str | Path) -> Path:
        """Returns `path`; ConfigError unless its name ends in one of `output_suffixes`."""
        path = Path(path)
        if not path.name.lower().endswith(self.output_suffixes):
            raise ConfigError(f"{self.name} events are written as {' or '.join(self.output_suffixes)} "
                              f"files, not {path.name}")
        return path


_DATASETS: dict[str, DataSet] = {}


def register_dataset(dataset: DataSet) -> DataSet:
    """Returns `dataset` after registering it under its name (called by the format modules)."""
    existing = _DATASETS.get(dataset.name)
    if existing is not None and existing.events.__qualname__ != dataset.events.__qualname__:
        raise ConfigError(f"data set name {dataset.name!r} is registered twice")
    _DATASETS[dataset.name] = dataset
    return dataset


def _import_formats() -> None:
    # Importing the format modules registers their data sets; done once, lazily.
    import_package_modules("physgan.data")


def list_datasets() -> list[DataSet]:
    """Returns every registered data set, sorted by name."""
    _import_formats()
    return [_DATASETS[k] for k in sorted(_DATASETS)]


def dataset_names() -> list[str]:
    """Returns the names of the registered data sets, sorted."""
    return [d.name for d in list_datasets()]


def get_dataset(name: str) -> DataSet:
    """Returns the data set `name`; ConfigError listing the known names otherwise."""
    _import_formats()
    if name not in _DATASETS:
        raise ConfigError(f"unknown data set {name!r}; available: {', '.join(sorted(_DATASETS))}")
    return _DATASETS[name]


def dataset_of(events) -> DataSet:
    """Returns the data set whose events type `events` is; ConfigError for anything else."""
    _import_formats()
    for dataset in _DATASETS.values():
        if isinstance(events, dataset.events):
            return dataset
    known = ", ".join(f"{d.events.__name__} ({d.name})" for d in list_datasets())
    raise ConfigError(f"{type(events).__name__} are not the events of a data set; known: {known}")


def dataset_of_file(path: str | Path) -> DataSet:
    """Returns the data set whose layout the file `path` has; DataError naming the
    file and the known file kinds when it is missing or of no known layout."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"physgan: file {path} does not exist")
    if path.is_dir():
        raise DataError(f"physgan: {path} is a folder, expected a data file")
    for dataset in list_datasets():
        if dataset.recognise(path):
            return dataset
    kinds = "; ".join(f"{d.name}: {d.file_kinds}" for d in list_datasets())
    raise DataError(f"physgan: {path.name} is in no known data-set layout (known: {kinds})")


def read_events(path: str | Path, max_events: int | None = None):
    """Returns the events of the data file `path`, in whichever registered layout it has."""
    return dataset_of_file(path).read(path, max_events=max_events)


def load_training_data(
    dataset: str,
    path: str | Path | None = None,
    max_events: int | None = None,
    particle: str | None = None,
) -> TrainingData:
    """Returns data set `dataset` read from `path` (None: the bundled sample)."""
    return get_dataset(dataset).training_data(path, max_events, particle)


def energy_range(energies: np.ndarray) -> list[float]:
    """Returns [floor(min), ceil(max)] of incident energies in GeV (a model's `energy_range`)."""
    return [float(np.floor(np.min(energies))), float(np.ceil(np.max(energies)))]


def file_sha256(path: str | Path) -> str:
    """Returns the hex SHA-256 of a file (for run provenance)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
