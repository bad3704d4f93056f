"""``python -m sim.calibrate``: calibration against the public targets up to 2025 (the command; the code is sim.research.calibrate)."""

import sys

from sim.research.calibrate import main

if __name__ == "__main__":
    sys.exit(main())
