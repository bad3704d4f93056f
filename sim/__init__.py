"""little-giants: an agent-based model of state-directed industrial clustering on the
rare-earth mine-to-magnet chain. Entry points: ``python -m sim`` and :func:`sim.engine.run.run`.

Importing this package before numpy pins numpy's CPU dispatch (see :mod:`sim.engine.numerics`): numpy
chooses its float64 ``exp``, ``log`` and ``power`` kernels by CPU, and its AVX-512 kernels round
differently in the last bit from the AVX2 ones. In an agent-based model a last-bit difference flips
a threshold decision (a designation, an entry, an exit) and the run diverges, so a seed would give
one result on a machine with AVX-512 and another without. With the AVX-512 kernels switched off,
every x86-64 machine with AVX2 and FMA computes the same numbers.
"""

import os as _os
import sys as _sys

__version__ = "0.1.0"

#: numpy dispatch targets switched off for reproducibility (numpy >= 2.4 names; names a machine
#: lacks are ignored by numpy, so the same value serves machines with and without AVX-512).
NUMPY_DISABLED_FEATURES = "X86_V4 AVX512_ICL AVX512_SPR"

if "numpy" not in _sys.modules and not _os.environ.get("NPY_ENABLE_CPU_FEATURES"):
    _os.environ.setdefault("NPY_DISABLE_CPU_FEATURES", NUMPY_DISABLED_FEATURES)
