"""What the chunked HDF5 shower writers share: atomic files, attributes, resizable datasets."""

from __future__ import annotations

import contextlib
from pathlib import Path

import h5py
import numpy as np

from physgan.data.base import check_values
from physgan.errors import DataError
from physgan.fileio import atomic_path


CHUNK_BYTES = 1 << 20  # about 1 MiB of raw float32 per HDF5 chunk
MAX_CHUNK_EVENTS = 16384


def _chunk_events(event_shape: tuple) -> int:
    """Returns the events per HDF5 chunk for one event of `event_shape` float32 values."""
    return int(max(1, min(MAX_CHUNK_EVENTS, CHUNK_BYTES // (4 * int(np.prod(event_shape, dtype="int64"))))))


class AtomicHDF5Writer:
    """Base of the `with Writer(path) as w: w.append(showers)` writers.

    Everything goes to a temporary file beside `path`, renamed onto `path` only
    when the with-block ends without an exception (which leaves no file, or
    the old one, at `path`). Subclasses call `_create_datasets` and
    `_append_arrays`; `_on_exit` runs before the file is closed successfully.
    """

    def __init__(self, path: str | Path, attrs: dict | None, compression_level: int):
        self.path = Path(path)
        self.attrs = dict(attrs or {})
        if isinstance(compression_level, bool) or not isinstance(compression_level, (int, np.integer)) \
                or not 0 <= compression_level <= 9:
            raise DataError(f"physgan: compression_level must be an integer 0..9, got {compression_level!r}")
        self.compression_level = int(compression_level)
        self.n_written = 0
        self._file = None
        self._stack = None

    def _on_enter(self) -> None:
        """Creates what the file holds before the first append (subclasses)."""

    def _on_exit(self) -> None:
        """Completes the file after the last append (subclasses)."""

    def __enter__(self):
        self._stack = contextlib.ExitStack()
        tmp = self._stack.enter_context(atomic_path(self.path))
        try:
            self._file = h5py.File(tmp, "w")
            self._write_attrs()
            self._on_enter()
        except BaseException as err:
            self._close(err)
            raise
        return self

    def _write_attrs(self) -> None:
        for key, value in self.attrs.items():
            try:
                self._file.attrs[key] = value
            except (TypeError, ValueError) as err:
                raise DataError(f"physgan: cannot write {self.path.name}: attribute {key!r} = {value!r} "
                                f"cannot be stored in HDF5 ({err})") from None

    def _create_datasets(self, holder, shapes: dict, energy_name: str) -> None:
        """Creates resizable, chunked, gzip float32 datasets (name -> event shape) in `holder`."""
        for key, shape in shapes.items():
            holder.create_dataset(
                key, shape=(0, *shape), maxshape=(None, *shape), dtype="float32",
                chunks=(_chunk_events(shape), *shape), compression="gzip",
                compression_opts=self.compression_level, shuffle=key != energy_name, track_times=False,
            )

    def _append_arrays(self, holder, arrays: dict, energy_name: str) -> None:
        """Appends the value-checked `arrays` (name -> (n, ...)); cells clipped at 0."""
        check_values(f"physgan: cannot write {self.path.name}: ", arrays, self.n_written)
        n = len(arrays[energy_name])
        if n == 0:
            return
        for key, values in arrays.items():
            dataset = holder[key]
            dataset.resize(self.n_written + n, axis=0)
            dataset[self.n_written:] = values if key == energy_name else np.maximum(values, 0.0)
        self.n_written += n

    def _check_open(self) -> None:
        if self._file is None:
            raise DataError(f"physgan: {type(self).__name__}.append called outside its with-block")

    def _close(self, err: BaseException | None) -> None:
        """Closes the file; renames it onto `path` when `err` is None, else deletes it."""
        stack, self._stack = self._stack, None
        try:
            if self._file is not None:
                self._file.close()
        finally:
            self._file = None
            if err is None:
                stack.close()
            else:
                with contextlib.suppress(BaseException):
                    stack.__exit__(type(err), err, err.__traceback__)

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is None:
            try:
                self._on_exit()
                self._write_attrs()  # with what the block added to `attrs`
                self._file.attrs["n_events"] = np.int64(self.n_written)
            except BaseException as err:
                self._close(err)
                raise
        self._close(exc)
        return False
