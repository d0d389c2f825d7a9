"""The CaloGAN HDF5 format: showers in a 3-layer Pb/LAr calorimeter.

One file holds N showers as root datasets: `energy` (N, 1) incident energy in
GeV, `layer_0` (N, 3, 96), `layer_1` (N, 12, 12), `layer_2` (N, 12, 6) cell
energies in MeV and, optionally, `overflow` (N, 3) energy per layer outside the
cell window in MeV. The original files are float64 and uncompressed, some
forks store `energy` as (N,) or leave out `overflow`; all of these are read.
We write float32, gzip-compressed and chunked along the events, `energy` as
(N, 1) like the original.

A particles.yaml (the original's ACGAN input) maps particle names to files:
`eplus: eplus.h5`, one line per particle.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from physgan.cli import run_command
from physgan.data.hdf5_writer import AtomicHDF5Writer
from physgan.errors import ConfigError, DataError
from physgan.fileio import open_hdf5

LAYER_SHAPES = ((3, 96), (12, 12), (12, 6))
LAYER_NAMES = ("layer_0", "layer_1", "layer_2")
PARTICLES = ("eplus", "gamma")  # names of the bundled samples
ENERGY_NAME, OVERFLOW_NAME = "energy", "overflow"
OVERFLOW_SHAPE = (3,)
# Float rounding in the simulation's sums leaves cells a hair below zero; such
# values are clipped to 0, anything further below is an error.
NEGATIVE_TOLERANCE_MEV = 1e-3
DEFAULT_COMPRESSION_LEVEL = 6
SAMPLE_COMPRESSION_LEVEL = 9
SAMPLE_EVENTS = 2000


# === Showers in memory ===

@dataclass
class CaloShowers:
    """N showers: incident_energy (N,) float32 GeV; layers: tuple of 3 float32 arrays
    (N, 3, 96), (N, 12, 12), (N, 12, 6) in MeV; overflow (N, 3) MeV or None.

    Arrays are converted to float32; `incident_energy` may be given as (N, 1)
    and the layers with a trailing channel axis (N, r, c, 1).
    """

    incident_energy: np.ndarray
    layers: tuple
    overflow: np.ndarray | None = None

    def __post_init__(self):
        energy = np.asarray(self.incident_energy, dtype="float32")
        if energy.ndim == 2 and energy.shape[1] == 1:
            energy = energy[:, 0]
        if energy.ndim != 1:
            raise DataError(f"physgan: CaloShowers: incident_energy has shape {energy.shape}, "
                            f"expected (N,) or (N, 1)")
        self.incident_energy = energy
        n = len(energy)
        layers = list(self.layers)
        if len(layers) != len(LAYER_SHAPES):
            raise DataError(f"physgan: CaloShowers: layers must hold {len(LAYER_SHAPES)} arrays "
                            f"({', '.join(LAYER_NAMES)}), got {len(layers)}")
        for i, (layer, shape) in enumerate(zip(layers, LAYER_SHAPES)):
            layer = np.asarray(layer, dtype="float32")
            if layer.ndim == 4 and layer.shape[-1] == 1:
                layer = layer[..., 0]
            if layer.shape != (n, *shape):
                raise DataError(f"physgan: CaloShowers: layers[{i}] ({LAYER_NAMES[i]}) has shape "
                                f"{layer.shape}, expected {(n, *shape)}")
            layers[i] = layer
        self.layers = tuple(layers)
        if self.overflow is not None:
            overflow = np.asarray(self.overflow, dtype="float32")
            if overflow.shape != (n, *OVERFLOW_SHAPE):
                raise DataError(f"physgan: CaloShowers: overflow has shape {overflow.shape}, "
                                f"expected {(n, *OVERFLOW_SHAPE)}")
            self.overflow = overflow

    @property
    def n_events(self) -> int:
        """Returns the number of showers."""
        return len(self.incident_energy)

    def __len__(self) -> int:
        return self.n_events

    def __getitem__(self, index) -> CaloShowers:
        """Returns the showers selected by a slice, an index array or a boolean mask (an int keeps one)."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        return CaloShowers(
            incident_energy=self.incident_energy[index],
            layers=tuple(layer[index] for layer in self.layers),
            overflow=None if self.overflow is None else self.overflow[index],
        )

    @classmethod
    def concatenate(cls, showers: list[CaloShowers]) -> CaloShowers:
        """Returns the showers of all items in order; overflow is None unless every item has it."""
        showers = list(showers)
        if not showers:
            raise DataError("physgan: CaloShowers.concatenate needs at least one CaloShowers")
        with_overflow = all(s.overflow is not None for s in showers)
        return cls(
            incident_energy=np.concatenate([s.incident_energy for s in showers]),
            layers=tuple(np.concatenate([s.layers[i] for s in showers]) for i in range(len(LAYER_SHAPES))),
            overflow=np.concatenate([s.overflow for s in showers]) if with_overflow else None,
        )

    @property
    def layer_energies(self) -> np.ndarray:
        """Returns float64 (N, 3): the energy deposited in the cells of each layer, in MeV."""
        return np.stack([layer.sum(axis=(1, 2), dtype="float64") for layer in self.layers], axis=1)

    @property
    def total_energy(self) -> np.ndarray:
        """Returns float64 (N,): the energy deposited in all cells (without overflow), in MeV."""
        return self.layer_energies.sum(axis=1)


# === Validation ===

def _shape_text(shape: tuple) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _value_problem(name: str, values: np.ndarray, first_event: int) -> str | None:
    """Returns what is wrong with the values of dataset `name` (rows = events from `first_event`), or None."""
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


def _check_values(prefix: str, arrays: dict[str, np.ndarray], first_event: int) -> None:
    """Raises DataError `prefix` + the first problem found in `arrays`; returns None."""
    for name, values in arrays.items():
        problem = _value_problem(name, values, first_event)
        if problem:
            raise DataError(f"{prefix}{problem}")


def _clip_noise(values: np.ndarray) -> np.ndarray:
    """Returns `values` with the tiny negative float noise set to 0 (in place when float32)."""
    return np.maximum(values, 0.0, out=values if values.dtype == np.float32 else None)


def _check_positive_int(name: str, value, minimum: int = 1) -> int:
    """Returns `value` as int; raises DataError unless it is an integer >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise DataError(f"physgan: {name} must be {kind}, got {value!r}")
    return int(value)


def _open_calogan(path: Path):
    """Returns the open CaloGAN file at `path` (a context manager); DataError if missing or not HDF5."""
    return open_hdf5(path, "CaloGAN", f"datasets energy, {', '.join(LAYER_NAMES)}")


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
            want = _shape_text((n if n is not None else "N", *shape))
        if not ok:
            raise DataError(f"physgan: {label}: dataset {where + key!r} has shape "
                            f"{_shape_text(dataset.shape)}, expected {want}")
        counts[key] = n
    if len(set(counts.values())) > 1:
        listed = ", ".join(f"{where}{key}: {n}" for key, n in counts.items())
        raise DataError(f"physgan: {label}: datasets hold different numbers of events ({listed})")
    n = next(iter(counts.values()))
    if n == 0:
        raise DataError(f"physgan: {label} holds no events")
    return n


def _layout(f: h5py.File, name: str) -> tuple[int, bool]:
    """Returns (number of events, whether the file has `overflow`); raises DataError on a bad layout."""
    found = ", ".join(sorted(f.keys())) or "nothing"
    expected = {ENERGY_NAME: None, **dict(zip(LAYER_NAMES, LAYER_SHAPES))}
    has_overflow = OVERFLOW_NAME in f
    if has_overflow:
        expected[OVERFLOW_NAME] = OVERFLOW_SHAPE
    for key in expected:
        if key not in f:
            raise DataError(f"physgan: data file {name} has no dataset {key!r} (found: {found})")
    n = check_event_datasets(f, f"data file {name}", expected)
    return n, has_overflow


def _read_range(f: h5py.File, name: str, start: int, stop: int, has_overflow: bool) -> CaloShowers:
    """Returns events [start, stop) of the open file, value-checked, tiny negatives clipped."""
    keys = [ENERGY_NAME, *LAYER_NAMES] + ([OVERFLOW_NAME] if has_overflow else [])
    try:
        arrays = {key: np.asarray(f[key][start:stop], dtype="float32") for key in keys}
    except OSError as err:
        raise DataError(f"physgan: cannot read events {start}..{stop - 1} of data file {name}: {err}") from None
    _check_values(f"physgan: data file {name}: ", arrays, start)
    return CaloShowers(
        incident_energy=arrays[ENERGY_NAME].reshape(-1),
        layers=tuple(_clip_noise(arrays[key]) for key in LAYER_NAMES),
        overflow=_clip_noise(arrays[OVERFLOW_NAME]) if has_overflow else None,
    )


# === Reading ===

def read_calogan(path: str | Path, max_events: int | None = None, start: int = 0) -> CaloShowers:
    """Returns the showers of the CaloGAN file `path`, validated (float32; cells in MeV, energy in GeV).

    Reads events [start, start + max_events) (all from `start` when
    max_events is None or larger than what is left). Raises DataError naming
    the file and dataset of any problem: missing file or dataset, a shape
    that is not the CaloGAN layout, different event counts, NaN/inf, negative
    cell energies (beyond float noise of 1e-3 MeV, which is clipped to 0) or
    an incident energy <= 0.
    """
    path = Path(path)
    if max_events is not None:
        max_events = _check_positive_int("max_events", max_events)
    start = _check_positive_int("start", start, minimum=0)
    with _open_calogan(path) as f:
        n, has_overflow = _layout(f, path.name)
        if start >= n:
            raise DataError(f"physgan: start={start} is beyond the {n} events of data file {path.name}")
        stop = n if max_events is None else min(n, start + max_events)
        return _read_range(f, path.name, start, stop, has_overflow)


def iter_calogan_chunks(path: str | Path, chunk_size: int = 10000, max_events: int | None = None):
    """Returns an iterator of CaloShowers of up to `chunk_size` events each, read from disk one at a time.

    For files bigger than memory. The layout is checked now (DataError as
    read_calogan), the values of each chunk when it is read.
    """
    path = Path(path)
    chunk_size = _check_positive_int("chunk_size", chunk_size)
    if max_events is not None:
        max_events = _check_positive_int("max_events", max_events)
    with _open_calogan(path) as f:
        n, has_overflow = _layout(f, path.name)
    stop = n if max_events is None else min(n, max_events)

    def chunks():
        with _open_calogan(path) as f:
            for first in range(0, stop, chunk_size):
                yield _read_range(f, path.name, first, min(stop, first + chunk_size), has_overflow)

    return chunks()


def validate_calogan_file(path: str | Path, chunk_size: int = 10000) -> int:
    """Returns the number of events of the CaloGAN file `path`; raises DataError on any problem.

    The checks of read_calogan, with the values read `chunk_size` events at a
    time so that a file bigger than memory can be checked.
    """
    path = Path(path)
    chunk_size = _check_positive_int("chunk_size", chunk_size)
    with _open_calogan(path) as f:
        n, has_overflow = _layout(f, path.name)
        for first in range(0, n, chunk_size):
            _read_range(f, path.name, first, min(n, first + chunk_size), has_overflow)
    return n


# === Writing ===

class CaloGANWriter(AtomicHDF5Writer):
    """Writes showers to a CaloGAN file in pieces: `with CaloGANWriter(path) as w: w.append(showers)`.

    The datasets are resizable, chunked, gzip-compressed float32; `energy` is
    (N, 1). Everything goes to a temporary file beside `path`, renamed onto
    `path` only when the with-block ends without an exception (which leaves no
    file, or the old one, at `path`). `n_written` counts the events appended.
    Showers with NaN/inf, negative cells or incident energies <= 0 are refused
    (DataError), so the file always passes validate_calogan_file.
    """

    def __init__(self, path: str | Path, attrs: dict | None = None,
                 compression_level: int = DEFAULT_COMPRESSION_LEVEL):
        super().__init__(path, attrs, compression_level)
        self._has_overflow = None

    def _create(self, has_overflow: bool) -> None:
        self._has_overflow = has_overflow
        shapes = {ENERGY_NAME: (1,), **dict(zip(LAYER_NAMES, LAYER_SHAPES))}
        if has_overflow:
            shapes[OVERFLOW_NAME] = OVERFLOW_SHAPE
        self._create_datasets(self._file, shapes, ENERGY_NAME)

    def append(self, showers: CaloShowers) -> None:
        """Appends `showers` to the file; returns None."""
        self._check_open()
        has_overflow = showers.overflow is not None
        if self._has_overflow is None:
            self._create(has_overflow)
        elif has_overflow != self._has_overflow:
            raise DataError(f"physgan: cannot write {self.path.name}: showers "
                            f"{'with' if has_overflow else 'without'} overflow appended to a file "
                            f"{'without' if has_overflow else 'with'} it")
        arrays = {ENERGY_NAME: showers.incident_energy.reshape(-1, 1), **dict(zip(LAYER_NAMES, showers.layers))}
        if has_overflow:
            arrays[OVERFLOW_NAME] = showers.overflow
        self._append_arrays(self._file, arrays, ENERGY_NAME)

    def _on_exit(self) -> None:
        if self._has_overflow is None:
            self._create(False)


def write_calogan(path: str | Path, showers: CaloShowers, attrs: dict | None = None,
                  compression_level: int = DEFAULT_COMPRESSION_LEVEL) -> Path:
    """Returns `path` after writing `showers` there as a CaloGAN file, atomically.

    Float32, gzip (`compression_level`) with the shuffle filter, chunked along
    the events; `attrs` become file attributes, plus `n_events`.
    """
    with CaloGANWriter(path, attrs=attrs, compression_level=compression_level) as writer:
        writer.append(showers)
    return Path(path)


# === Bundled samples and particles.yaml ===

def bundled_sample_path(particle: str = "eplus") -> Path:
    """Returns the path of the bundled CaloGAN sample of `particle` (2,000 Geant4 showers, 1-100 GeV)."""
    if particle not in PARTICLES:
        raise ConfigError(f"physgan: unknown particle {particle!r} for the bundled CaloGAN sample "
                          f"(choose from: {', '.join(PARTICLES)})")
    return Path(__file__).resolve().parent / "samples" / f"calogan_{particle}.h5"


def read_particles_yaml(path: str | Path) -> dict[str, Path]:
    """Returns {particle name: HDF5 path} of a CaloGAN particles.yaml (`eplus: eplus.h5` per line).

    Relative paths are taken from the yaml's folder. Raises DataError naming
    the yaml (and the entry) when it is missing, not a mapping, empty, or lists
    a file that does not exist.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise DataError(f"physgan: particles file {path} does not exist")
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise DataError(f"physgan: cannot read particles file {path}: {err}") from None
    if content is None or content == {}:
        raise DataError(f"physgan: particles file {path.name} lists no particles "
                        f"(expected lines like `eplus: eplus.h5`)")
    if not isinstance(content, dict):
        raise DataError(f"physgan: particles file {path.name} must map particle names to HDF5 files "
                        f"(lines like `eplus: eplus.h5`), got a {type(content).__name__}")
    files = {}
    for particle, file in content.items():
        if not isinstance(file, str) or not file.strip():
            raise DataError(f"physgan: particles file {path.name}, entry {particle!r}: expected the path "
                            f"of an HDF5 file, got {file!r}")
        resolved = Path(file.strip()).expanduser()
        if not resolved.is_absolute():
            resolved = path.parent / resolved
        if not resolved.is_file():
            raise DataError(f"physgan: particles file {path.name}, entry {particle!r}: file {resolved} "
                            f"does not exist")
        files[str(particle)] = resolved
    return files


def make_bundled_samples(source_dir: str | Path, out_dir: str | Path | None = None,
                         n_events: int = SAMPLE_EVENTS) -> list[Path]:
    """Returns the paths of the samples written: the first `n_events` of source_dir/calogan_<particle>.h5.

    Cuts the project's own Geant4 files (shared/data) into
    `out_dir`/calogan_<particle>.h5 (default: the package's samples folder),
    keeping their attributes and adding `source` and `events`; gzip level 9.
    """
    source_dir = Path(source_dir)
    out_dir = bundled_sample_path().parent if out_dir is None else Path(out_dir)
    n_events = _check_positive_int("n_events", n_events)
    written = []
    for particle in PARTICLES:
        source = source_dir / f"calogan_{particle}.h5"
        showers = read_calogan(source, max_events=n_events)
        with h5py.File(source, "r") as f:
            attrs = dict(f.attrs)
        attrs.update(source=source.name, events=f"first {len(showers)}")
        written.append(write_calogan(out_dir / source.name, showers, attrs=attrs,
                                     compression_level=SAMPLE_COMPRESSION_LEVEL))
    return written


def build_parser() -> argparse.ArgumentParser:
    """Returns the command-line parser of `python -m physgan.data.calogan`."""
    parser = argparse.ArgumentParser(
        prog="python -m physgan.data.calogan",
        description="Check CaloGAN HDF5 files, or re-cut the bundled samples.",
    )
    parser.add_argument("files", nargs="*", help="CaloGAN files to validate")
    parser.add_argument("--make-samples", metavar="SOURCE_DIR",
                        help="write the bundled samples from SOURCE_DIR/calogan_{eplus,gamma}.h5")
    parser.add_argument("--out", help="folder of the samples (default: the package's samples folder)")
    parser.add_argument("--events", type=int, default=SAMPLE_EVENTS,
                        help=f"events per sample (default: {SAMPLE_EVENTS})")
    return parser


def _run(args: argparse.Namespace) -> None:
    if not args.files and not args.make_samples:
        raise ConfigError("give CaloGAN files to validate or --make-samples SOURCE_DIR")
    for file in args.files:
        print(f"physgan: {file}: {validate_calogan_file(file)} events, valid")
    if args.make_samples:
        for path in make_bundled_samples(args.make_samples, args.out, args.events):
            print(f"physgan: wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


def main(argv: list[str] | None = None) -> int:
    """Runs the command line; returns the exit code."""
    return run_command(build_parser(), argv, _run)


if __name__ == "__main__":
    raise SystemExit(main())
