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

Nothing here imports a model or a backend library.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from physgan.errors import DataError
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
