"""``python -m sim.validate``: every validation target met or missed over N seeds (the command; the code is sim.research.validate)."""

import sys

from sim.research.validate import main

if __name__ == "__main__":
    sys.exit(main())
