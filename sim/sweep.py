"""``python -m sim.sweep``: the sweep table of a finished sweep (the command; the code is sim.research.sweep)."""

import sys

from sim.research.sweep import main

if __name__ == "__main__":
    sys.exit(main())
