"""Keep freed memory in the process heap on glibc (Linux), for torch on a CPU.

PyTorch's CPU allocator takes every tensor from `malloc`. glibc serves a
request above 32 MB (an ILD activation at batch 32 is 110-440 MB) with a
fresh `mmap` and returns it to the system on `free`, so every such tensor
pays for zero-filled pages again: a 440 MB `x + 1` costs 132 ms instead of
39 ms, a 1x1x1 convolution of 128 channels over 30^3 cells 475 ms instead
of 192 ms (2 cores). Turning off mmap for large blocks and the heap trimming
(`mallopt(M_MMAP_MAX, 0)`, `mallopt(M_TRIM_THRESHOLD, ...)`) keeps freed
blocks for reuse, as TensorFlow's and XLA's own allocators do; the price is
that the process keeps its peak heap until it exits.

Set `PHYSGAN_KEEP_HEAP=0` to leave glibc's defaults alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_LARGEST_TRIM_THRESHOLD = 2**31 - 1  # mallopt takes an int


def keep_freed_memory() -> bool:
    """Sets glibc's malloc to keep freed blocks (see the module docstring);
    returns whether it did (False off glibc or with PHYSGAN_KEEP_HEAP=0)."""
    if os.environ.get("PHYSGAN_KEEP_HEAP", "1") == "0":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (macOS, musl without mallopt, Windows)
        return False
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, _LARGEST_TRIM_THRESHOLD))
