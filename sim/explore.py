"""``python -m sim.explore``: scenario discovery over levers and uncertainties (the command; the code is sim.research.explore)."""

import sys

from sim.research.explore import main

if __name__ == "__main__":
    sys.exit(main())
