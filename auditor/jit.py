"""Compiled kernels where numba is installed: the one rule every numba kernel of the project is
compiled by. numba is imported on first use, so that importing a module that holds a kernel
stays light; a caller without numba gets None and runs its numpy path."""

from __future__ import annotations

import functools
from collections.abc import Callable


@functools.cache
def compiled(kernel: Callable) -> Callable | None:
    """`kernel` compiled by numba (no GIL, no bounds checks), once per process, or None
    without numba. `cache=True` keeps the machine code in the package's __pycache__ across
    processes; where that folder cannot be written, each process compiles its own."""
    try:
        import numba
    except ImportError:
        return None
    try:
        return numba.njit(cache=True, nogil=True, boundscheck=False)(kernel)
    except RuntimeError:  # no writable cache directory
        return numba.njit(cache=False, nogil=True, boundscheck=False)(kernel)
