"""``python -m sim.sensitivity``: Sobol and Morris sensitivity studies (the command; the code is sim.research.sensitivity)."""

import sys

from sim.research.sensitivity import main

if __name__ == "__main__":
    sys.exit(main())
