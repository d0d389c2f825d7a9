"""The ILD "Getting High" HDF5 format: photon showers in a 30-layer Si-W calorimeter.

One file holds N showers as two datasets: `energy` (N, 1) incident energy in
GeV and `layers` (N, 30, 30, 30) cell energies in MeV indexed [layer, x, y]
(arXiv:2005.05334). The original files keep both inside a group `30x30`; the
project's Geant4 file has them at the file root. Readers look in the group
first, then at the root. Writers write float32, gzip-compressed and chunked
along the events, into the group `30x30` unless told group=None.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from physgan.data.base import (
    Events, bundled_sample, check_event_datasets, check_positive_int, check_values, clip_noise,
)
from physgan.data.hdf5_writer import AtomicHDF5Writer
from physgan.datasets import Condition, DataSet, Evaluation, Stream, TrainingData, energy_range, register_dataset
from physgan.errors import ConfigError, DataError
from physgan.fileio import open_hdf5

SHOWER_SHAPE = (30, 30, 30)  # [layer, x, y]
# The original sets generated cells below half a MIP (0.1 MeV in the silicon) to 0.
MIP_THRESHOLD_MEV = 0.1
CELL_SIZE_MM = 5.088333  # the bin width of the original create_hdf5.py
GROUP = "30x30"
ENERGY_NAME, LAYERS_NAME = "energy", "layers"
DEFAULT_COMPRESSION_LEVEL = 6
SAMPLE_COMPRESSION_LEVEL = 9
# The largest sample of the first events of shared/data/ild_photons.h5 that stays <= 5 MB.
SAMPLE_EVENTS = 1090
SAMPLE_NAME = "ild_photons.h5"


# === Showers in memory ===

@dataclass
class IldShowers(Events):
    """N showers: incident_energy (N,) float32 GeV; layers (N, 30, 30, 30) float32 MeV [layer, x, y].

    Arrays are converted to float32; `incident_energy` may be given as (N, 1)
    and `layers` with a trailing channel axis (N, 30, 30, 30, 1).
    """

    dataset = "ild"
    per_event = ("incident_energy", "layers")

    incident_energy: np.ndarray  # (N,) float32 GeV
    layers: np.ndarray  # (N, 30, 30, 30) float32 MeV

    def __post_init__(self):
        energy = np.asarray(self.incident_energy, dtype="float32")
        if energy.ndim == 2 and energy.shape[1] == 1:
            energy = energy[:, 0]
        if energy.ndim != 1:
            raise DataError(f"physgan: IldShowers: incident_energy has shape {energy.shape}, "
                            f"expected (N,) or (N, 1)")
        layers = np.asarray(self.layers, dtype="float32")
        if layers.ndim == 5 and layers.shape[-1] == 1:
            layers = layers[..., 0]
        if layers.shape != (len(energy), *SHOWER_SHAPE):
            raise DataError(f"physgan: IldShowers: layers has shape {layers.shape}, "
                            f"expected {(len(energy), *SHOWER_SHAPE)}")
        self.incident_energy, self.layers = energy, layers

    @property
    def total_energy(self) -> np.ndarray:
        """Returns float64 (N,): the energy deposited in all cells, in MeV."""
        return self.layers.sum(axis=(1, 2, 3), dtype="float64")


def apply_mip_threshold(layers: np.ndarray, threshold_mev: float = MIP_THRESHOLD_MEV) -> np.ndarray:
    """Returns float32 `layers` with the cells below `threshold_mev` set to 0 (a new array)."""
    if isinstance(threshold_mev, bool) or not isinstance(threshold_mev, (int, float, np.number)) \
            or not np.isfinite(threshold_mev) or threshold_mev < 0:
        raise DataError(f"physgan: threshold_mev must be a number >= 0, got {threshold_mev!r}")
    layers = np.asarray(layers, dtype="float32")
    return np.where(layers < threshold_mev, np.float32(0.0), layers)  # NaN stays NaN, to be seen


# === Layout ===

def _open_ild(path: Path):
    """Returns the open ILD file at `path` (a context manager); DataError if missing or not HDF5."""
    return open_hdf5(path, "ILD", f"datasets energy, layers, in a group {GROUP!r} or at the root")


def _contents(f: h5py.File, limit: int = 20) -> str:
    """Returns the paths of the groups and datasets in `f`, comma-separated (the first `limit`)."""
    names = []
    f.visit(names.append)
    shown = ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")
    return shown or "nothing"


def _places(f: h5py.File) -> list:
    """Returns where the datasets may be, in the order they are looked for: the group 30x30, the root."""
    return ([f[GROUP]] if isinstance(f.get(GROUP), h5py.Group) else []) + [f]


def _holder(f: h5py.File):
    """Returns the first of `_places(f)` holding both energy and layers, or None."""
    return next((g for g in _places(f) if ENERGY_NAME in g and LAYERS_NAME in g), None)


def _layout(f: h5py.File, name: str) -> tuple[h5py.Group, int]:
    """Returns (the group holding energy and layers, number of events); raises DataError on a bad layout."""
    places = _places(f)
    holder = _holder(f)
    if holder is None:
        first = places[0]
        missing = " and ".join(repr(k) for k in (ENERGY_NAME, LAYERS_NAME) if k not in first)
        if first is not f:
            where = f"in group {GROUP!r}, and the file root does not hold both either"
        else:
            where = f"at the file root, and there is no group {GROUP!r}"
        raise DataError(f"physgan: ILD file {name} has no dataset {missing} {where} (found: {_contents(f)})")
    where = f"{GROUP}/" if holder is not f else ""
    n = check_event_datasets(holder, f"ILD file {name}", {ENERGY_NAME: None, LAYERS_NAME: SHOWER_SHAPE}, where)
    return holder, n


def _read_range(holder: h5py.Group, name: str, start: int, stop: int) -> IldShowers:
    """Returns events [start, stop) of the open file, value-checked, tiny negatives clipped."""
    try:
        arrays = {key: np.asarray(holder[key][start:stop], dtype="float32") for key in (ENERGY_NAME, LAYERS_NAME)}
    except OSError as err:
        raise DataError(f"physgan: cannot read events {start}..{stop - 1} of ILD file {name}: {err}") from None
    check_values(f"physgan: ILD file {name}: ", arrays, start)
    return IldShowers(arrays[ENERGY_NAME].reshape(-1), clip_noise(arrays[LAYERS_NAME]))


# === Reading ===

def read_ild(path: str | Path, max_events: int | None = None, start: int = 0) -> IldShowers:
    """Returns the showers of the ILD file `path`, validated (float32; cells in MeV, energy in GeV).

    Reads events [start, start + max_events) (all from `start` when
    max_events is None or larger than what is left), from the group `30x30`
    or the file root. Raises DataError naming the file and dataset of any
    problem: missing file or datasets, wrong shapes, different event counts,
    NaN/inf, negative cells (beyond float noise of 1e-3 MeV, which is clipped
    to 0, as for CaloGAN files) or an incident energy <= 0.
    """
    path = Path(path)
    if max_events is not None:
        max_events = check_positive_int("max_events", max_events)
    start = check_positive_int("start", start, minimum=0)
    with _open_ild(path) as f:
        holder, n = _layout(f, path.name)
        if start >= n:
            raise DataError(f"physgan: start={start} is beyond the {n} events of ILD file {path.name}")
        stop = n if max_events is None else min(n, start + max_events)
        return _read_range(holder, path.name, start, stop)


def ild_event_count(path: str | Path) -> int:
    """Returns the number of showers of the ILD file `path` (layout checked, values not read)."""
    path = Path(path)
    with _open_ild(path) as f:
        return _layout(f, path.name)[1]


def read_ild_energies(path: str | Path, max_events: int | None = None) -> np.ndarray:
    """Returns the incident energies (N,) GeV of the ILD file `path` (layout checked, cells not read)."""
    path = Path(path)
    with _open_ild(path) as f:
        holder, _ = _layout(f, path.name)
        return np.asarray(holder[ENERGY_NAME][:max_events], dtype="float32").reshape(-1)


def iter_ild_chunks(path: str | Path, chunk_size: int = 1000, max_events: int | None = None):
    """Returns an iterator of IldShowers of up to `chunk_size` events each, read from disk one at a time.

    For files bigger than memory (the original trained on 950k showers,
    about 200 GB). The layout is checked now, the values of each chunk when
    it is read (DataError as read_ild).
    """
    path = Path(path)
    chunk_size = check_positive_int("chunk_size", chunk_size)
    if max_events is not None:
        max_events = check_positive_int("max_events", max_events)
    stop = ild_event_count(path)
    stop = stop if max_events is None else min(stop, max_events)

    def chunks():
        with _open_ild(path) as f:
            holder, _ = _layout(f, path.name)
            for first in range(0, stop, chunk_size):
                yield _read_range(holder, path.name, first, min(stop, first + chunk_size))

    return chunks()


def validate_ild_file(path: str | Path, chunk_size: int = 1000) -> int:
    """Returns the number of showers of the ILD file `path`; raises DataError on any problem.

    The checks of read_ild, `chunk_size` events at a time.
    """
    n = 0
    for chunk in iter_ild_chunks(path, chunk_size=chunk_size):
        n += len(chunk)
    return n


def is_ild_file(path: str | Path) -> bool:
    """Returns True if `path` is an HDF5 file with energy and layers in a group 30x30 or at the
    root (where `read_ild` looks)."""
    try:
        with h5py.File(path, "r") as f:
            return _holder(f) is not None
    except OSError:
        return False


# === Writing ===

class IldWriter(AtomicHDF5Writer):
    """Writes showers to an ILD file in pieces: `with IldWriter(path) as w: w.append(showers)`.

    Datasets `energy` (N, 1) and `layers` (N, 30, 30, 30) go into `group`
    (None: the file root); they are resizable, chunked (a few events per
    chunk), gzip-compressed float32. Everything goes to a temporary file
    beside `path`, renamed onto `path` only when the with-block ends without
    an exception (which leaves no file, or the old one, at `path`).
    `attrs` become file attributes (also what the block adds to
    `writer.attrs`), plus `n_events`; `n_written` counts the events appended. Showers with NaN/inf, negative
    cells or incident energies <= 0 are refused (DataError).
    """

    def __init__(self, path: str | Path, group: str | None = GROUP, attrs: dict | None = None,
                 compression_level: int = DEFAULT_COMPRESSION_LEVEL):
        if group is not None and (not isinstance(group, str) or not group.strip("/")):
            raise DataError(f"physgan: group must be a group name or None (the file root), got {group!r}")
        super().__init__(path, attrs, compression_level)
        self.group = group
        self._holder = None

    def _on_enter(self) -> None:
        holder = self._file if self.group is None else self._file.create_group(self.group)
        self._create_datasets(holder, {ENERGY_NAME: (1,), LAYERS_NAME: SHOWER_SHAPE}, ENERGY_NAME)
        self._holder = holder

    def append(self, showers: IldShowers) -> None:
        """Appends `showers` to the file; returns None."""
        self._check_open()
        arrays = {ENERGY_NAME: showers.incident_energy.reshape(-1, 1), LAYERS_NAME: showers.layers}
        self._append_arrays(self._holder, arrays, ENERGY_NAME)


def write_ild(path: str | Path, showers: IldShowers, group: str | None = GROUP, attrs: dict | None = None,
              compression_level: int = DEFAULT_COMPRESSION_LEVEL) -> Path:
    """Returns `path` after writing `showers` there as an ILD file, atomically.

    Into `group` (None: the file root); float32, gzip (`compression_level`)
    with the shuffle filter on `layers`; `attrs` become file attributes, plus
    `n_events`.
    """
    with IldWriter(path, group=group, attrs=attrs, compression_level=compression_level) as writer:
        writer.append(showers)
    return Path(path)


# === Bundled sample ===

def bundled_sample_path() -> Path:
    """Returns the path of the bundled ILD sample (the first Geant4 photon showers, 10-100 GeV)."""
    return bundled_sample(__file__, SAMPLE_NAME, "ILD",
                          "python -m physgan.data ild make-sample ../shared/data/ild_photons.h5")


def make_bundled_sample(source: str | Path, out: str | Path | None = None,
                        n_events: int = SAMPLE_EVENTS) -> Path:
    """Returns the path written: the first `n_events` showers of `source` as an ILD file.

    Default `out`: the package's samples/ild_photons.h5. Group `30x30`,
    float32, gzip level 9 with shuffle; keeps the source's attributes and
    adds `source` and `events`.
    """
    source = Path(source)
    n_events = check_positive_int("n_events", n_events)
    out = Path(__file__).resolve().parent / "samples" / SAMPLE_NAME if out is None else Path(out)
    showers = read_ild(source, max_events=n_events)
    with h5py.File(source, "r") as f:
        attrs = {key: value for key, value in f.attrs.items() if key != "n_events"}
    attrs.update(source=source.name, events=f"first {len(showers)}")
    return write_ild(out, showers, attrs=attrs, compression_level=SAMPLE_COMPRESSION_LEVEL)


# === The data set ===

def ild_training_inputs(showers: IldShowers) -> dict:
    """Returns the ILD models' training arrays: energy (N, 1) GeV, layers (N, 30, 30, 30, 1) MeV (raw, as the original)."""
    return {
        "energy": showers.incident_energy.reshape(-1, 1).astype("float32", copy=False),
        "layers": showers.layers[..., None].astype("float32", copy=False),  # a view: no copy of the cells
    }


def ild_training_data(path, max_events: int | None, particle: str | None) -> TrainingData:
    """Returns ILD-like 30x30x30 photon showers (a .h5 file in the Getting High layout, or the bundled sample)."""
    if particle not in (None, "gamma", "photon"):
        raise ConfigError(f"the ild data set holds photon showers; --particle {particle!r} is not available")
    source = Path(path) if path else bundled_sample_path()
    showers = read_ild(source, max_events=max_events)
    energy = showers.incident_energy
    return TrainingData("ild", source, ild_training_inputs(showers), showers, energy,
                        {"energy_range": energy_range(energy)})


def _figures(reference: IldShowers, generated: IldShowers, out_dir) -> list[Path]:
    from physgan.plots.ild import plot_ild

    return plot_ild(reference, generated, out_dir)


def _evaluation() -> Evaluation:
    from physgan.metrics.classifier import low_level_features
    from physgan.metrics.ild import ILD_OBSERVABLES, ild_observable_matrix, ild_observables

    return Evaluation(ild_observables, ILD_OBSERVABLES, ild_observable_matrix, low_level_features)


DATASET = register_dataset(DataSet(
    name="ild",
    description="ILD-like 30x30x30 photon showers in a Si-W calorimeter (Getting High), arXiv:2005.05334",
    events=IldShowers,
    file_kinds="HDF5 (.h5) with energy and layers (N, 30, 30, 30) in a group 30x30 or at the root",
    recognise=is_ild_file,
    read=read_ild,
    validate=validate_ild_file,
    write=write_ild,
    training_data=ild_training_data,
    output_suffixes=(".h5", ".hdf5"),
    writer=IldWriter,
    condition=Condition("incident energy", "GeV", "energy"),
    stream=Stream(read_ild, read_ild_energies, ild_training_inputs),
    figures=_figures,
    evaluation=_evaluation(),
))


if __name__ == "__main__":  # the command line lives in physgan.data.commands
    import sys

    from physgan.data.commands import main

    raise SystemExit(main(["ild", *sys.argv[1:]]))
