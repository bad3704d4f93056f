"""Whether this process computes the numbers a seed promises on every machine (README "Reproducibility").

numpy dispatches SIMD kernels by CPU at import time. Its AVX-512 kernels of the float64
transcendental functions (``exp``, ``log``, ``log1p``, ``power`` and others) give results that differ
in the last bit from the AVX2/libm kernels that machines without AVX-512 run; a run that crosses a
threshold decision on such a bit then diverges. ``import sim`` before numpy switches those kernels
off (``NPY_DISABLE_CPU_FEATURES``, set in ``sim/__init__.py``); this module tells whether that took
effect and says so once when it did not (numpy imported first, or the variable set otherwise).
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from sim import NUMPY_DISABLED_FEATURES


def active_kernels() -> list[str]:
    """numpy's dispatched CPU features in use in this process (e.g. ['X86_V3'])."""
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    except ImportError:  # pragma: no cover - a numpy without the private names
        return []
    return [f for f in __cpu_dispatch__ if __cpu_features__.get(f)]


def avx512_active() -> bool:
    """True when numpy runs any AVX-512 kernel in this process (results then differ from AVX2 machines)."""
    return bool(set(active_kernels()) & set(NUMPY_DISABLED_FEATURES.split()))


def dispatch_record() -> dict:
    """What a run's manifest records about numpy's kernels."""
    return {
        "numpy": np.__version__,
        "kernels": active_kernels(),
        "avx512": avx512_active(),
        "NPY_DISABLE_CPU_FEATURES": os.environ.get("NPY_DISABLE_CPU_FEATURES"),
    }


_warned = False


def check_dispatch() -> bool:
    """Warn once per process when AVX-512 kernels are active; return whether results are portable."""
    global _warned
    if not avx512_active():
        return True
    if not _warned:
        _warned = True
        warnings.warn(
            "numpy uses AVX-512 kernels in this process (numpy was imported before sim, or "
            "NPY_DISABLE_CPU_FEATURES was set otherwise): seeded results here can differ from other machines. "
            f'Import sim before numpy, or start Python with NPY_DISABLE_CPU_FEATURES="{NUMPY_DISABLED_FEATURES}".',
            RuntimeWarning,
            stacklevel=3,
        )
    return False
