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

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from physgan.data.base import (
    ENERGY_NAME,
    Events,
    check_event_datasets,
    check_positive_int,
    check_values,
    clip_noise,
)
from physgan.data.hdf5_writer import AtomicHDF5Writer
from physgan.datasets import Condition, DataSet, Evaluation, Stream, TrainingData, energy_range, register_dataset
from physgan.errors import ConfigError, DataError
from physgan.fileio import open_hdf5

LAYER_SHAPES = ((3, 96), (12, 12), (12, 6))
LAYER_NAMES = ("layer_0", "layer_1", "layer_2")
PARTICLES = ("eplus", "gamma")  # names of the bundled samples
OVERFLOW_NAME = "overflow"
OVERFLOW_SHAPE = (3,)
DEFAULT_COMPRESSION_LEVEL = 6
SAMPLE_COMPRESSION_LEVEL = 9
SAMPLE_EVENTS = 2000
RESPONSE_QUANTILES = 65  # E_tot / E quantiles the energy-normalised CaloGAN draws its response from


# === Showers in memory ===

@dataclass
class CaloShowers(Events):
    """N showers: incident_energy (N,) float32 GeV; layers: tuple of 3 float32 arrays
    (N, 3, 96), (N, 12, 12), (N, 12, 6) in MeV; overflow (N, 3) MeV or None.

    Arrays are converted to float32; `incident_energy` may be given as (N, 1)
    and the layers with a trailing channel axis (N, r, c, 1).
    """

    dataset = "calogan"
    per_event = ("incident_energy", "layers", "overflow")

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
    def layer_energies(self) -> np.ndarray:
        """Returns float64 (N, 3): the energy deposited in the cells of each layer, in MeV."""
        return np.stack([layer.sum(axis=(1, 2), dtype="float64") for layer in self.layers], axis=1)

    @property
    def total_energy(self) -> np.ndarray:
        """Returns float64 (N,): the energy deposited in all cells (without overflow), in MeV."""
        return self.layer_energies.sum(axis=1)


# === Validation ===

def _open_calogan(path: Path):
    """Returns the open CaloGAN file at `path` (a context manager); DataError if missing or not HDF5."""
    return open_hdf5(path, "CaloGAN", f"datasets energy, {', '.join(LAYER_NAMES)}")


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
    check_values(f"physgan: data file {name}: ", arrays, start)
    return CaloShowers(
        incident_energy=arrays[ENERGY_NAME].reshape(-1),
        layers=tuple(clip_noise(arrays[key]) for key in LAYER_NAMES),
        overflow=clip_noise(arrays[OVERFLOW_NAME]) if has_overflow else None,
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
        max_events = check_positive_int("max_events", max_events)
    start = check_positive_int("start", start, minimum=0)
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
    chunk_size = check_positive_int("chunk_size", chunk_size)
    if max_events is not None:
        max_events = check_positive_int("max_events", max_events)
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
    chunk_size = check_positive_int("chunk_size", chunk_size)
    with _open_calogan(path) as f:
        n, has_overflow = _layout(f, path.name)
        for first in range(0, n, chunk_size):
            _read_range(f, path.name, first, min(n, first + chunk_size), has_overflow)
    return n


def read_calogan_energies(path: str | Path, max_events: int | None = None) -> np.ndarray:
    """Returns the incident energies (N,) GeV of the CaloGAN file `path` (layout checked, cells not read)."""
    path = Path(path)
    with _open_calogan(path) as f:
        _layout(f, path.name)
        return np.asarray(f[ENERGY_NAME][:max_events], dtype="float32").reshape(-1)


def is_calogan_file(path: str | Path) -> bool:
    """Returns True if `path` is an HDF5 file with the datasets of the CaloGAN layout at its root."""
    try:
        with h5py.File(path, "r") as f:
            return all(key in f for key in (ENERGY_NAME, *LAYER_NAMES))
    except OSError:
        return False


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
    n_events = check_positive_int("n_events", n_events)
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


# === The data set ===

def calogan_training_inputs(showers: CaloShowers) -> dict:
    """Returns CaloGAN's training arrays of `showers`: energy (N, 1) GeV, layer_i (N, r, c, 1) in GeV."""
    inputs = {"energy": showers.incident_energy.reshape(-1, 1).astype("float32")}
    for i, layer in enumerate(showers.layers):
        inputs[f"layer_{i}"] = (layer[..., None] / 1000.0).astype("float32")  # MeV -> GeV, as the original
    return inputs


def _response_ratios(showers: CaloShowers) -> np.ndarray:
    total_gev = sum(layer.reshape(len(layer), -1).sum(axis=1, dtype="float64") for layer in showers.layers) / 1000.0
    return total_gev / showers.incident_energy.reshape(-1)


def energy_response(showers: CaloShowers) -> list[float]:
    """Returns the mean and standard deviation of E_tot / E_incident of `showers`."""
    ratio = _response_ratios(showers)
    return [float(ratio.mean()), float(ratio.std())]


def energy_quantiles(showers: CaloShowers, n: int = RESPONSE_QUANTILES) -> list[float]:
    """Returns E_tot / E_incident of `showers` at `n` probabilities evenly spaced
    from 0 to 1 (the minimum and maximum included)."""
    ratio = _response_ratios(showers)
    return [float(q) for q in np.quantile(ratio, np.linspace(0.0, 1.0, n))]


def calogan_training_data(path, max_events: int | None, particle: str | None) -> TrainingData:
    """Returns the CaloGAN showers of one particle (a .h5 file, or the bundled sample of
    `particle`), or of several (a particles.yaml: name -> file) for an ACGAN."""
    if path is not None and Path(path).suffix in (".yaml", ".yml"):
        files = read_particles_yaml(path)
        source = Path(path)
    else:
        name = particle or "eplus"
        files = {name: Path(path) if path else bundled_sample_path(name)}
        source = files[name]
    per_particle = [read_calogan(f, max_events=max_events) for f in files.values()]
    showers = CaloShowers.concatenate(per_particle)
    inputs = calogan_training_inputs(showers)
    if len(files) > 1:
        labels = np.concatenate([np.full(len(s), i) for i, s in enumerate(per_particle)])
        inputs["particle"] = labels.reshape(-1, 1).astype("int32")
    options = {"particles": list(files), "energy_range": energy_range(showers.incident_energy),
               "energy_response": energy_response(showers), "energy_quantiles": energy_quantiles(showers)}
    reference = per_particle[0]
    return TrainingData("calogan", source, inputs, reference, reference.incident_energy, options)


def _figures(reference: CaloShowers, generated: CaloShowers, out_dir) -> list[Path]:
    from physgan.plots.calo import plot_average_showers, plot_calo_observables

    return [plot_average_showers(reference, generated, out_dir), *plot_calo_observables(reference, generated, out_dir)]


def _evaluation() -> Evaluation:
    from physgan.metrics.calo import OBSERVABLES, observable_matrix, shower_observables
    from physgan.metrics.classifier import low_level_features

    return Evaluation(shower_observables, OBSERVABLES, observable_matrix, low_level_features)


DATASET = register_dataset(DataSet(
    name="calogan",
    description="CaloGAN 3-layer Pb/LAr calorimeter showers (e+, gamma, ...), arXiv:1705.02355",
    events=CaloShowers,
    file_kinds="HDF5 (.h5) with energy, layer_0, layer_1, layer_2 at the root",
    recognise=is_calogan_file,
    read=read_calogan,
    validate=validate_calogan_file,
    write=write_calogan,
    training_data=calogan_training_data,
    output_suffixes=(".h5", ".hdf5"),
    writer=CaloGANWriter,
    condition=Condition("incident energy", "GeV", "energy"),
    stream=Stream(read_calogan, read_calogan_energies, calogan_training_inputs),
    figures=_figures,
    evaluation=_evaluation(),
))


if __name__ == "__main__":  # the command line lives in physgan.data.commands
    import sys

    from physgan.data.commands import main

    raise SystemExit(main(["calogan", *sys.argv[1:]]))
