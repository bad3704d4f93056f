"""The C allocator's settings for large worlds (docs/ODD.md 7.15, "Speed"; README "Benchmark").

A quarter of a large world allocates and frees many column-sized temporaries: a float64 column of a million firms is
8 MB, of a hundred thousand 0.8 MB. With glibc's defaults such blocks come from fresh ``mmap`` pages, or from the top
of a heap that is trimmed back to the operating system as soon as a few hundred kB are free there, so the next
quarter's temporaries fault their pages in again (the kernel zeroes every page it hands out). :func:`tune` asks glibc
(``mallopt``) to serve blocks up to 32 MiB (the largest it allows for that setting on 64-bit Linux) from the heap, to
keep up to 1 GiB of freed heap for reuse instead of trimming it, and to grow the heap 64 MiB at a time. Only the
place of memory changes: every number a run computes is the same (tests/test_allocator.py), and the peak resident
memory rises by about 7% at 1:1 national scale (docs/ODD.md 7.15). Memory freed after a run stays with the process
(up to 1 GiB) until it exits.

It is done once per process, when a model is built (sim.engine.model.ChainModel, sim.engine.national.NationalModel),
on Linux with glibc only: elsewhere (macOS, Windows, musl) nothing changes. The environment variable
``LITTLE_GIANTS_MALLOC`` chooses: ``tuned`` (the default) or ``system`` (glibc's own settings, as before December
2026; so do glibc's own ``MALLOC_*_`` variables, which this module then leaves alone).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

from sim.checks import ConfigError

ENV = "LITTLE_GIANTS_MALLOC"
CHOICES = ("tuned", "system")
# mallopt parameters (glibc malloc.h) and the values set
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
SETTINGS = (
    (M_MMAP_THRESHOLD, 32 * 2**20),  # blocks below 32 MiB from the heap (glibc's maximum for this setting on 64-bit)
    (M_TRIM_THRESHOLD, 2**30),  # keep up to 1 GiB of free heap for reuse
    (M_TOP_PAD, 64 * 2**20),  # grow the heap 64 MiB at a time
)
GLIBC_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")

_done: str | None = None  # what tune() did in this process: "tuned", "system", "unavailable", "partial"


def choice() -> str:
    """``LITTLE_GIANTS_MALLOC`` as given (default ``tuned``); a value not in CHOICES is a ConfigError."""
    value = os.environ.get(ENV, "tuned").strip().lower() or "tuned"
    if value not in CHOICES:
        raise ConfigError(ENV, f"environment variable must be one of {', '.join(CHOICES)}, got '{os.environ.get(ENV)}'")
    return value


def _mallopt():
    """glibc's ``mallopt`` or None (not Linux, or a C library without it)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        fn = libc.mallopt
    except (OSError, AttributeError):
        return None
    fn.argtypes = (ctypes.c_int, ctypes.c_int)
    fn.restype = ctypes.c_int
    return fn


def tune() -> str:
    """Set the allocator once per process (module docstring); returns what was done: ``tuned``, ``system`` (asked for,
    or glibc's own variables set), ``unavailable`` (no glibc ``mallopt``, or one that refused every setting) or
    ``partial`` (some settings refused)."""
    global _done
    wanted = choice()
    if _done is not None:
        return _done
    if wanted == "system" or any(v in os.environ for v in GLIBC_VARIABLES):
        _done = "system"
        return _done
    fn = _mallopt()
    if fn is None:
        _done = "unavailable"
        return _done
    ok = [fn(param, value) == 1 for param, value in SETTINGS]  # each setting tried; glibc accepts all three
    _done = "tuned" if all(ok) else "unavailable" if not any(ok) else "partial"
    return _done


def record() -> str | None:
    """What :func:`tune` did in this process (None: not yet), for a run's manifest."""
    return _done
