"""What every data format shares: argument, shape and value checks, and the base class of
the in-memory events (`CaloShowers`, `IldShowers`, `TPCEvents`, `ZdcData`).

Nothing here knows a particular format; the format modules import from here, never from
each other.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import ClassVar

import h5py
import numpy as np

from physgan.errors import DataError

ENERGY_NAME = "energy"  # the incident-energy dataset of the calorimeter layouts, in GeV
# Float rounding in the simulation's sums leaves cells a hair below zero; such
# values are clipped to 0, anything further below is an error.
NEGATIVE_TOLERANCE_MEV = 1e-3


# === Arguments and shapes ===

def shape_text(shape: tuple) -> str:
    """Returns `shape` written as Python writes a tuple: (3,), (N, 44, 44)."""
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def bundled_sample(module_file: str, file_name: str, what: str, rebuild: str) -> Path:
    """Returns the path of samples/`file_name` beside the format module `module_file`;
    DataError saying how to `rebuild` the bundled `what` sample when it is missing."""
    path = Path(module_file).resolve().parent / "samples" / file_name
    if not path.is_file():
        raise DataError(f"physgan: the bundled {what} sample {path} is missing; rebuild it with `{rebuild}`")
    return path


def check_positive_int(name: str, value, minimum: int = 1) -> int:
    """Returns `value` as int; raises DataError unless it is an integer >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise DataError(f"physgan: {name} must be {kind}, got {value!r}")
    return int(value)


# === Values of calorimeter files ===

def value_problem(name: str, values: np.ndarray, first_event: int) -> str | None:
    """Returns what is wrong with the values of dataset `name` (rows = events from
    `first_event`), or None: NaN/inf anywhere, an incident energy <= 0 (dataset
    `energy`), a cell energy below -1e-3 MeV (any other dataset)."""
    if len(values) == 0:
        return None
    flat = values.reshape(len(values), -1)
    bad = ~np.isfinite(flat).all(axis=1)
    if bad.any():
        row = int(np.argmax(bad))
        return f"dataset {name!r} event {first_event + row} holds NaN or inf"
    lowest = flat.min(axis=1)
    if name == ENERGY_NAME:
        bad = lowest <= 0
        if bad.any():
            row = int(np.argmax(bad))
            return (f"dataset 'energy' event {first_event + row}: incident energy "
                    f"{lowest[row]:g} GeV, it must be > 0")
        return None
    bad = lowest < -NEGATIVE_TOLERANCE_MEV
    if bad.any():
        row = int(np.argmax(bad))
        return (f"dataset {name!r} event {first_event + row} holds a negative energy "
                f"({lowest[row]:g} MeV); energies must be >= 0")
    return None


def check_values(prefix: str, arrays: dict[str, np.ndarray], first_event: int) -> None:
    """Raises DataError `prefix` + the first problem `value_problem` finds in `arrays`."""
    for name, values in arrays.items():
        problem = value_problem(name, values, first_event)
        if problem:
            raise DataError(f"{prefix}{problem}")


def clip_noise(values: np.ndarray) -> np.ndarray:
    """Returns `values` with the tiny negative float noise set to 0 (in place when float32)."""
    return np.maximum(values, 0.0, out=values if values.dtype == np.float32 else None)


def check_event_datasets(holder, label: str, shapes: dict, where: str = "") -> int:
    """Returns the number of events of the datasets `shapes` (name -> per-event
    shape; None for the incident energy, (N,) or (N, 1)) in the HDF5 group
    `holder`; raises DataError naming `label` (e.g. "data file x.h5") and the
    dataset (prefixed by `where`) when one is a group, not numeric, of the wrong
    shape, or when they hold different numbers of events or none."""
    counts = {}
    for key, shape in shapes.items():
        dataset = holder[key]
        if not isinstance(dataset, h5py.Dataset):
            raise DataError(f"physgan: {label}: {where + key!r} is a group, expected a dataset")
        if dataset.dtype.kind not in "fiu":
            raise DataError(f"physgan: {label}: dataset {where + key!r} holds {dataset.dtype} values, "
                            f"expected numbers")
        n = dataset.shape[0] if dataset.ndim else None
        if shape is None:
            ok = dataset.ndim == 1 or (dataset.ndim == 2 and dataset.shape[1] == 1)
            want = f"({n}, 1) or ({n},)" if n is not None else "(N, 1) or (N,)"
        else:
            ok = dataset.ndim >= 1 and dataset.shape[1:] == tuple(shape)
            want = shape_text((n if n is not None else "N", *shape))
        if not ok:
            raise DataError(f"physgan: {label}: dataset {where + key!r} has shape "
                            f"{shape_text(dataset.shape)}, expected {want}")
        counts[key] = n
    if len(set(counts.values())) > 1:
        listed = ", ".join(f"{where}{key}: {n}" for key, n in counts.items())
        raise DataError(f"physgan: {label}: datasets hold different numbers of events ({listed})")
    n = next(iter(counts.values()))
    if n == 0:
        raise DataError(f"physgan: {label} holds no events")
    return n


# === Events in memory ===

def _take(value, index):
    if value is None:
        return None
    if isinstance(value, tuple):
        return tuple(part[index] for part in value)
    return value[index]


def _join(values: list):
    if any(v is None for v in values):
        return None
    if isinstance(values[0], tuple):
        return tuple(np.concatenate(parts) for parts in zip(*values))
    return np.concatenate(values)


class Events:
    """Base of the events of one data set: a dataclass whose fields named in
    `per_event` hold one row per event (an array, a tuple of arrays, or None).

    Gives `len()`, `n_events`, selection by slice / index array / mask (an int
    keeps one event) and `concatenate`; subclasses check their arrays in
    `__post_init__` and set `dataset` to the name of their data set.
    """

    dataset: ClassVar[str] = ""
    per_event: ClassVar[tuple[str, ...]] = ()

    @property
    def n_events(self) -> int:
        """Returns the number of events."""
        first = getattr(self, self.per_event[0])
        return len(first[0] if isinstance(first, tuple) else first)

    def __len__(self) -> int:
        return self.n_events

    def __getitem__(self, index):
        """Returns the events selected by a slice, an index array or a boolean mask (an int keeps one)."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        return dataclasses.replace(self, **{name: _take(getattr(self, name), index) for name in self.per_event})

    @classmethod
    def concatenate(cls, items: list):
        """Returns the events of all items in order; a field is None unless every item has it."""
        items = list(items)
        if not items:
            raise DataError(f"physgan: {cls.__name__}.concatenate needs at least one {cls.__name__}")
        return dataclasses.replace(items[0], **{name: _join([getattr(i, name) for i in items])
                                                for name in cls.per_event})

    def write(self, path, **options):
        """Returns `path` after writing the events there in their data set's format, atomically."""
        from physgan.datasets import get_dataset

        return get_dataset(self.dataset).write(path, self, **options)
