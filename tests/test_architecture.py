"""The architecture contract (pyproject.toml [tool.importlinter]): layers, forbidden imports and no
import cycles, checked with import-linter (CONTRIBUTING.md "Layers")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")


def lint(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT), "--no-cache", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_the_import_contracts_are_kept():
    proc = lint()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "Contracts: 3 kept, 0 broken." in proc.stdout


def test_a_broken_contract_is_reported(tmp_path):
    """The checker can fail: the engine does import the agents, so forbidding it breaks the contract."""
    cfg = tmp_path / "contracts.ini"
    cfg.write_text(
        "[importlinter]\nroot_packages =\n    sim\n    agents\n    scenarios\n\n"
        "[importlinter:contract:probe]\nname = probe\ntype = forbidden\n"
        "source_modules = sim.engine.model\nforbidden_modules = agents\n"
    )
    proc = lint("--config", str(cfg))
    assert proc.returncode == 1 and "BROKEN" in proc.stdout, proc.stdout[-2000:]


def test_the_configuration_layer_composes_without_mesa():
    """Composing and validating a config imports no Mesa (nor pandas, which Mesa brings), nor numba (which the firms'
    compiled rules load): ``python -m sim`` answers a mistake in its overrides in about half the time it took when the
    config layer pulled in the agents' Mesa classes, and in about 0.7 of the time again since it stopped loading the
    kernels. agents/criteria_names.py and agents/codes.py hold what the config checks against; every name of the agents
    package is imported on first use."""
    probe = (
        "import sys; from sim.config import compose; compose(['seed=3']); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'mesa', 'pandas', 'numba'}))"
    )
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]", proc.stdout
