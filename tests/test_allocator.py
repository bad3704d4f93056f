"""The C allocator's settings (sim.engine.allocator): they change where memory comes from, never a number; a bad
choice is one line naming the variable, before anything is written."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from sim.engine import allocator
from tests._sim_helpers import run_dirs, sim_env, tree


def _run(tmp_path, name: str, choice: str, *overrides: str) -> subprocess.CompletedProcess:
    env = sim_env()
    for v in allocator.GLIBC_VARIABLES:  # glibc's own variables would turn the tuning off in both runs
        env.pop(v, None)
    env[allocator.ENV] = choice
    cwd = tmp_path / name
    cwd.mkdir()
    return subprocess.run([sys.executable, "-m", "sim", "progress=false", *overrides], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param(("years=5", "seed=3"), id="rare_earth"),
        pytest.param(("scenario=national_programme", "national.scale=0.002", "years=4", "seed=2"), id="national", marks=pytest.mark.slow),
    ],
)
def test_tuned_and_system_allocators_give_the_same_numbers(tmp_path, overrides):
    """The same seed under glibc's own settings and under the tuned ones: every table of the run directory equal, the
    summary equal but for the wall time, and each manifest saying which allocator ran (on Linux with glibc: tuned)."""
    tables = {}
    for choice in allocator.CHOICES:
        done = _run(tmp_path, choice, choice, *overrides)
        assert done.returncode == 0, done.stderr
        (run,) = run_dirs(tmp_path / choice / "results")
        manifest = json.loads((run / "manifest.json").read_text())
        expected = {"system": {"system"}, "tuned": {"tuned", "unavailable", "partial"}}[choice]  # the last two: not glibc
        assert manifest["allocator"] in expected
        if sys.platform.startswith("linux") and choice == "tuned":
            assert manifest["allocator"] == "tuned"
        summary = json.loads((run / "summary.json").read_text())
        summary.pop("wall_time_s", None)
        tables[choice] = summary, {p.name: pd.read_parquet(p) for p in sorted(run.glob("*.parquet"))}
    (s1, t1), (s2, t2) = tables["tuned"], tables["system"]
    assert s1 == s2
    assert t1.keys() == t2.keys() and len(t1) >= 3
    for name in t1:
        pd.testing.assert_frame_equal(t1[name], t2[name], check_exact=True, obj=name)


def test_a_bad_choice_is_one_line_and_writes_nothing(tmp_path):
    done = _run(tmp_path, "bad", "fast", "years=1")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and allocator.ENV in lines[0] and "tuned, system" in lines[0] and "'fast'" in lines[0]
    assert tree(tmp_path / "bad") == []


def test_choice_reads_the_variable(monkeypatch):
    monkeypatch.delenv(allocator.ENV, raising=False)
    assert allocator.choice() == "tuned"
    monkeypatch.setenv(allocator.ENV, " System ")
    assert allocator.choice() == "system"
    monkeypatch.setenv(allocator.ENV, "")
    assert allocator.choice() == "tuned"
    monkeypatch.setenv(allocator.ENV, "off")
    with pytest.raises(allocator.ConfigError, match="LITTLE_GIANTS_MALLOC"):
        allocator.choice()


def test_tune_sets_glibc_once_and_leaves_its_own_variables_alone(monkeypatch):
    """tune() calls mallopt with the three settings once per process; with one of glibc's MALLOC_*_ variables set, or
    with the system choice, it calls nothing."""
    calls = []

    def fake(param, value):
        calls.append((param, value))
        return 1

    monkeypatch.setattr(allocator, "_mallopt", lambda: fake)
    monkeypatch.delenv(allocator.ENV, raising=False)
    for v in allocator.GLIBC_VARIABLES:
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setattr(allocator, "_done", None)
    assert allocator.tune() == "tuned" and calls == list(allocator.SETTINGS)
    assert allocator.tune() == "tuned" and len(calls) == 3  # once per process
    assert allocator.record() == "tuned"
    monkeypatch.setattr(allocator, "_done", None)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    assert allocator.tune() == "system" and len(calls) == 3
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_")
    monkeypatch.setattr(allocator, "_done", None)
    monkeypatch.setenv(allocator.ENV, "system")
    assert allocator.tune() == "system" and len(calls) == 3
    monkeypatch.setattr(allocator, "_done", None)
    monkeypatch.delenv(allocator.ENV)
    monkeypatch.setattr(allocator, "_mallopt", lambda: None)  # not glibc
    assert allocator.tune() == "unavailable"
    answers = iter([1, 0, 1])  # a C library that refuses one setting: the others are still tried
    monkeypatch.setattr(allocator, "_mallopt", lambda: lambda param, value: next(answers))
    monkeypatch.setattr(allocator, "_done", None)
    assert allocator.tune() == "partial" and next(answers, None) is None
    monkeypatch.setattr(allocator, "_mallopt", lambda: lambda param, value: 0)  # one that refuses all (musl's stub)
    monkeypatch.setattr(allocator, "_done", None)
    assert allocator.tune() == "unavailable"
