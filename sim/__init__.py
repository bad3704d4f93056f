"""little-giants: an agent-based model of state-directed industrial clustering on the
rare-earth mine-to-magnet chain. Entry points: ``python -m sim`` and :func:`sim.run.run`."""

__version__ = "0.1.0"
