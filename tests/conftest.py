"""Shared fixtures: short composed configs and a temporary results root.

Nothing here writes under the repository's results/: in-process runs get ``output.root`` = a
temporary directory, and subprocess runs (tests/_sim_helpers.py run_sim) use a temporary working
directory, against which the default relative ``output.root`` resolves.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _sim_helpers import SHORT_YEARS, make_config

from sim.config import Config


@pytest.fixture
def results_root(tmp_path: Path) -> Path:
    """A results root that does not exist yet (runs create it)."""
    return tmp_path / "results"


@pytest.fixture
def short_config(results_root: Path):
    """Factory: ``short_config(*overrides, years=5, write=True)`` -> a validated short-run config
    (``progress=false``; written runs go under ``results_root``)."""

    def factory(*overrides: str, years: int = SHORT_YEARS, write: bool = True) -> Config:
        return make_config(f"years={years}", *overrides, root=results_root if write else None)

    return factory
