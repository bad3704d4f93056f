"""``python -m sim.experiment``: the main experiment and its report (make run) (the command; the code is sim.research.experiment)."""

import sys

from sim.research.experiment import main

if __name__ == "__main__":
    sys.exit(main())
