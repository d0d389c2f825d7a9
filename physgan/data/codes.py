"""Code vectors: a data set encoded by a trained autoencoder, one `.npz` file.

This is the hand-over between the LArCV autoencoder's deploy step and the EWM
generator that learns the code distribution. The original project
(kseuro/particle_generator, deploy_analysis/02_...Code_Vector_Target_Generation)
wrote one `target_<i>.npy` per image into `code_vectors_<im_dim>_<l_dim>/`; here
all codes of a data set go into one file with the facts needed to use them:

- `codes`: float32 array (n_images, code_dim);
- `metadata`: a JSON object (image shape, code dimension, the model that
  encoded them, ... whatever the writer passes);
- `format`: the string `physgan.codes/1`.

The codes are a data set of the registry (`codes`): `CodeVectors` are its events,
the training inputs are `{"code": (N, code_dim)}` in the units the encoder gave
(no normalisation: a generator of codes has a linear output), so
`train.py --model ewm --data codes.npz` learns them.

Nothing here imports a model or a backend library.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from physgan.data.base import Events, check_positive_int, shape_text
from physgan.datasets import DataSet, TrainingData, register_dataset
from physgan.errors import ConfigError, DataError
from physgan.fileio import atomic_path

FORMAT = "physgan.codes/1"


def _checked_codes(codes, where: str) -> np.ndarray:
    """Returns `codes` as a float32 (n, code_dim) array; DataError if it is not one."""
    try:
        array = np.asarray(codes, dtype="float32")
    except (TypeError, ValueError):
        raise DataError(f"physgan: {where}: code vectors must be numbers, got {type(codes).__name__}") from None
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise DataError(
            f"physgan: {where}: code vectors must be a non-empty (n_images, code_dim) array, "
            f"got shape {array.shape}"
        )
    bad = ~np.isfinite(array)
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0])
        raise DataError(
            f"physgan: {where}: {len(rows)} code vector(s) hold NaN or infinite values "
            f"(first at row {int(rows[0])})"
        )
    return array


def write_codes(path: str | Path, codes, **metadata) -> Path:
    """Returns `path` after writing `codes` (n_images, code_dim) and `metadata`
    (JSON-serialisable keyword values) there as `.npz`, atomically."""
    path = Path(path)
    if path.suffix != ".npz":
        raise DataError(f"physgan: code vectors are written as .npz files, got {path.name!r}")
    array = _checked_codes(codes, f"writing {path.name}")
    try:
        text = json.dumps(metadata, sort_keys=True)
    except (TypeError, ValueError) as err:
        raise DataError(f"physgan: metadata of {path.name} must be JSON-serialisable: {err}") from None
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to a path
            np.savez(f, codes=array, metadata=np.array(text), format=np.array(FORMAT))
    return path


def read_codes(path: str | Path) -> tuple[np.ndarray, dict]:
    """Returns `(codes, metadata)` of a code-vector file written by `write_codes`."""
    path = Path(path)
    if not path.is_file():
        problem = "is a folder, expected an .npz file" if path.is_dir() else "does not exist"
        raise DataError(f"physgan: code-vector file {path} {problem}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            contents = {key: npz[key] for key in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        raise DataError(
            f"physgan: {path.name} is not a code-vector file (expected an .npz written by write_codes)"
        ) from None
    missing = [key for key in ("codes", "metadata", "format") if key not in contents]
    if missing:
        raise DataError(
            f"physgan: {path.name} has no {', '.join(missing)} (found: {', '.join(sorted(contents)) or 'nothing'}); "
            "expected a code-vector file written by write_codes"
        )
    if str(contents["format"]) != FORMAT:
        raise DataError(f"physgan: {path.name} is in format {str(contents['format'])!r}, this reader reads {FORMAT!r}")
    try:
        metadata = json.loads(str(contents["metadata"]))
    except json.JSONDecodeError:
        raise DataError(f"physgan: the metadata of {path.name} is not valid JSON") from None
    if not isinstance(metadata, dict):
        raise DataError(f"physgan: the metadata of {path.name} is not a JSON object")
    codes = _checked_codes(contents["codes"], path.name)
    if "code_dim" in metadata and metadata["code_dim"] != codes.shape[1]:
        raise DataError(
            f"physgan: {path.name} says code_dim {metadata['code_dim']} but holds vectors of {codes.shape[1]}"
        )
    return codes, metadata


# === The `codes` data set ===


@dataclass
class CodeVectors(Events):
    """Code vectors (N, code_dim) float32 of an autoencoder, and the metadata of their file."""

    dataset = "codes"
    per_event = ("codes",)

    codes: np.ndarray
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        codes = np.asarray(self.codes, dtype="float32")
        if codes.ndim != 2:
            raise DataError(f"physgan: CodeVectors: codes has shape {shape_text(codes.shape)}, "
                            f"expected (N, code_dim)")
        self.codes = codes

    @property
    def code_dim(self) -> int:
        return int(self.codes.shape[1])


def read_code_vectors(path: str | Path, max_events: int | None = None) -> CodeVectors:
    """Returns the (first `max_events`) code vectors of a file of `write_codes`, with its metadata."""
    codes, metadata = read_codes(path)
    if max_events is not None:
        codes = codes[:check_positive_int("max_events", max_events)]
    return CodeVectors(codes, metadata)


def write_code_vectors(path: str | Path, events: CodeVectors) -> Path:
    """Returns `path` after writing `events` (codes and metadata) with `write_codes`."""
    return write_codes(path, events.codes, **events.metadata)


def is_codes_file(path: str | Path) -> bool:
    """Returns whether `path` is an .npz whose `format` is this module's."""
    path = Path(path)
    if path.suffix.lower() != ".npz":
        return False
    try:
        with np.load(path, allow_pickle=False) as npz:
            return "format" in npz.files and str(npz["format"]) == FORMAT
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        return False


def codes_training_data(path, max_events: int | None, particle: str | None) -> TrainingData:
    """Returns the code vectors of a `write_codes` file as training inputs {"code": (N, code_dim)},
    with the model options `target_shape` and `dataset`."""
    if particle is not None:
        raise ConfigError(f"the codes data set has no --particle; got {particle!r}")
    if path is None:
        raise ConfigError("the codes data set has no bundled sample: give --data CODES.npz, written by "
                          "`python -m physgan.deploy AE.keras --dataset ... --out CODES.npz`")
    events = read_code_vectors(path, max_events)
    options = {"target_shape": [events.code_dim], "dataset": "codes"}
    return TrainingData("codes", Path(path), {"code": events.codes}, events, None, options)


def code_figures(reference: CodeVectors, generated: CodeVectors, out_dir) -> list:
    """Returns the PNG of real vs generated code distributions (`physgan.plots.codes`)."""
    from physgan.plots.codes import plot_codes

    return [plot_codes(reference.codes, generated.codes, Path(out_dir) / "codes.png")]


DATASET = register_dataset(DataSet(
    name="codes",
    description="code vectors of a data set encoded by an autoencoder (larcv_ae deploy), targets of EWM",
    events=CodeVectors,
    file_kinds="code vectors .npz written by physgan.deploy (format physgan.codes/1)",
    recognise=is_codes_file,
    read=read_code_vectors,
    validate=lambda path: len(read_codes(path)[0]),
    write=write_code_vectors,
    training_data=codes_training_data,
    output_suffixes=(".npz",),
    figures=code_figures,
))
