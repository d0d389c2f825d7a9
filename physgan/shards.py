"""Generation split into shards (`python -m physgan.generate --shards K`).

Shard i of K holds `shard_sizes(n, K)[i]` events in its own file beside the
output (`showers.shard-0003-of-0008.h5`), written atomically, so a file that
exists is complete and a rerun skips it. When every shard exists, `merge`
presents them as the one output file: for HDF5 layouts an HDF5 virtual dataset
(no copy; the shards must stay beside it), for other formats (MPD's CSV) the
events read back and written again.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from physgan.errors import ConfigError, DataError
from physgan.fileio import atomic_path


def shard_sizes(n: int, count: int, index: int | None = None) -> list[int]:
    """Returns the events of each of `count` shards of `n` (the first `n % count` get one more);
    ConfigError for a count or a shard `index` (if given) out of range."""
    if not 1 <= count <= n:
        raise ConfigError(f"--shards {count}: choose 1 to --n ({n}) shards")
    if index is not None and not 0 <= index < count:
        raise ConfigError(f"--shard {index}: choose 0 to {count - 1} (--shards {count})")
    return [n // count + (i < n % count) for i in range(count)]


def shard_path(out: Path, suffixes: tuple[str, ...], index: int, count: int) -> Path:
    """Returns the file of shard `index` of `count` beside `out`: its name with
    `.shard-IIII-of-CCCC` before the output suffix (the longest of `suffixes` it ends in)."""
    suffix = max((s for s in suffixes if out.name.lower().endswith(s)), key=len, default="")
    stem = out.name[: len(out.name) - len(suffix)]
    return out.with_name(f"{stem}.shard-{index:04d}-of-{count:04d}{out.name[len(stem):]}")


def merge(dataset, shards: list[Path], sizes: list[int], out: Path) -> Path:
    """Writes `out`, the events of `shards` (of `sizes` events) in order, in `dataset`'s format."""
    import h5py

    if h5py.is_hdf5(shards[0]):
        return write_virtual_hdf5(shards, sizes, out)
    events = dataset.events.concatenate([dataset.read(path) for path in shards])
    return dataset.write(out, events)


def write_virtual_hdf5(sources: list[Path], sizes: list[int], out: Path) -> Path:
    """Writes `out`: the HDF5 layout of `sources[0]` (groups, attributes) whose per-event
    datasets (first axis of `sizes[i]` events in source i) are virtual datasets over all
    sources in order; other datasets and the attribute `n_events` are set once."""
    import h5py

    names, groups = [], []
    with h5py.File(sources[0], "r") as first:
        first.visititems(lambda name, item: (names if isinstance(item, h5py.Dataset) else groups).append(name))
        attributes = {name: dict(first[name].attrs) for name in ["/", *groups, *names]}
        shapes = {name: (first[name].shape, first[name].dtype) for name in names}
        per_event = [name for name in names if shapes[name][0] and shapes[name][0][0] == sizes[0]]
        copied = {name: first[name][()] for name in names if name not in per_event}  # set once
    for source, size in zip(sources, sizes):
        with h5py.File(source, "r") as f:
            for name in per_event:
                if name not in f or f[name].shape != (size, *shapes[name][0][1:]):
                    raise DataError(f"physgan: shard {source.name} has no {name} of {size} events "
                                    f"(shape {(size, *shapes[name][0][1:])}); delete it and generate it again")
    total = sum(sizes)
    with atomic_path(out) as tmp, h5py.File(tmp, "w", libver="latest") as f:
        for group in groups:
            f.require_group(group)
        for name in names:
            shape, dtype = shapes[name]
            if name in copied:
                f.create_dataset(name, data=copied[name])
                continue
            layout = h5py.VirtualLayout(shape=(total, *shape[1:]), dtype=dtype)
            start = 0
            for source, size in zip(sources, sizes):
                relative = os.path.relpath(source, out.parent)  # found beside the file wherever it is read
                layout[start:start + size] = h5py.VirtualSource(relative, name, shape=(size, *shape[1:]))
                start += size
            f.create_virtual_dataset(name, layout)
        for name, attrs in attributes.items():
            for key, value in attrs.items():
                f[name].attrs[key] = value
        if "n_events" in f.attrs:
            f.attrs["n_events"] = np.int64(total)
    return out
