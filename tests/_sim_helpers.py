"""Helpers shared by the test modules (configs, ``python -m sim`` subprocesses, run directories).

Composing with Hydra takes about half a second, so composed configs are cached per override
tuple and handed out as deep copies (safe to modify).
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

from sim.config import Config, compose

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHORT_YEARS = 5  # ~0.1-0.3 s per run
RUN_FILES = {"config.yaml", "timeseries.parquet", "firms.parquet", "events.parquet", "policy.parquet", "summary.json", "manifest.json"}


@lru_cache(maxsize=None)
def _composed(overrides: tuple[str, ...]) -> Config:
    return compose(list(overrides))


def make_config(*overrides: str, root: str | Path | None = None) -> Config:
    """A validated config with ``progress=false`` (a deep copy: safe to modify).

    ``root`` sets ``output.root``; without it nothing is written (``output.write=false``).
    """
    cfg = copy.deepcopy(_composed(("progress=false",) + tuple(overrides)))
    if root is None:
        cfg.output.write = False
    else:
        cfg.output.root = str(root)
    return cfg


def sim_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("HYDRA_FULL_ERROR", None)  # the one-line error contract holds without it
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_sim(*args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    """``python -m sim *args`` in a fresh process, working directory ``cwd``."""
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run([sys.executable, "-m", "sim", *args], cwd=cwd, env=sim_env(), capture_output=True, text=True, timeout=timeout)


def start_sim(*args: str, cwd: Path) -> subprocess.Popen:
    """Like :func:`run_sim` but returns at once (``.communicate()`` to wait)."""
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([sys.executable, "-m", "sim", *args], cwd=cwd, env=sim_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_dirs(root: Path) -> list[Path]:
    """Run directories under ``root/runs`` (sorted)."""
    base = Path(root) / "runs"
    return sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []


def tree(path: Path) -> list[str]:
    """Every file and directory under ``path`` (relative, sorted); [] if it does not exist."""
    path = Path(path)
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []
