"""File helpers: atomic writes (a temporary sibling renamed into place) and
HDF5 opening with one-line errors."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yields a temporary path beside `path`; on success it replaces `path`.

    A crash mid-write leaves the old file (or none), never a partial one. The
    temporary file has the suffix of `path` (Keras and h5py look at it) and
    the permissions a normal `open` would give.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix="".join(path.suffixes))
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextlib.contextmanager
def open_hdf5(path: Path, kind: str, expected: str):
    """Yields the h5py.File at `path` open for reading; raises DataError naming
    the `kind` of file (e.g. "CaloGAN") if it is missing, a folder, or not HDF5
    (`expected` describes the datasets it should hold)."""
    import h5py

    from physgan.errors import DataError

    path = Path(path)
    if not path.exists():
        raise DataError(f"physgan: {kind} file {path} does not exist")
    if path.is_dir():
        raise DataError(f"physgan: {kind} file {path} is a folder, expected an HDF5 file")
    try:
        is_hdf5 = h5py.is_hdf5(path)
    except OSError as err:
        raise DataError(f"physgan: cannot read {kind} file {path}: {err}") from None
    if not is_hdf5:
        raise DataError(f"physgan: {kind} file {path} is not an HDF5 file (expected {expected})")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise DataError(f"physgan: cannot read {kind} file {path}: {err}") from None
    with f:
        yield f


def load_numpy(path: Path, kind: str, mmap: bool = False):
    """Returns `np.load(path)`: an array for .npy, an open NpzFile for .npz.

    Raises DataError naming the `kind` of file if it is missing, a folder,
    unreadable, or a .npz archive named .npy (or the reverse). `mmap` maps a
    .npy file instead of reading it.
    """
    import numpy as np

    from physgan.errors import DataError

    path = Path(path)
    suffix = path.suffix.lower()
    if not path.exists():
        raise DataError(f"physgan: {kind} file {path} does not exist")
    if path.is_dir():
        raise DataError(f"physgan: {kind} file {path} is a folder, expected a {suffix} file")
    try:
        loaded = np.load(path, allow_pickle=False, mmap_mode="r" if mmap and suffix == ".npy" else None)
    except (OSError, ValueError, EOFError) as err:
        raise DataError(f"physgan: cannot read {kind} file {path}: {err}") from None
    if suffix == ".npy" and not isinstance(loaded, np.ndarray):
        loaded.close()
        raise DataError(f"physgan: {kind} file {path.name} is a .npz archive, expected a .npy array")
    if suffix != ".npy" and not hasattr(loaded, "files"):
        raise DataError(f"physgan: {kind} file {path.name} is a .npy array, expected a .npz archive")
    return loaded
