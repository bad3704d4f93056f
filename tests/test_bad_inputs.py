"""Every row of the bad-input table (tests/_bad_inputs.py): one clear line, exit code 2, nothing written.

A command row runs the command's ``main(argv)`` in this process (stdout and stderr captured, SystemExit
caught), or ``python -m <command>`` in a new one; both in a temporary working directory holding the row's
files, which must be unchanged afterwards (the default results root is relative to it). In this process
nothing may get as far as a run: the worker pool and the Hydra app are replaced by a stub that fails the
row. An API row calls the function and expects one ConfigError with a one-line message.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import subprocess
import sys
import traceback
from pathlib import Path

import pytest
from _bad_inputs import BAD_INPUTS, Bad
from _sim_helpers import sim_env

from sim.checks import ConfigError

MODULES = {
    "sim": "sim.cli",
    "sim.validate": "sim.research.validate",
    "sim.experiment": "sim.research.experiment",
    "sim.sensitivity": "sim.research.sensitivity",
    "sim.calibrate": "sim.research.calibrate",
    "sim.sweep": "sim.research.sweep",
    "sim.explore": "sim.research.explore",
}


class GotThrough(Exception):
    """A bad input reached a run (the worker pool or the Hydra app)."""


def _stop(*args, **kwargs):
    raise GotThrough("the bad input was not refused: a run was about to start")


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and directory (None) under ``root``."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def _write_files(case: Bad, cwd: Path) -> None:
    """The row's files in the working directory: text, or bytes as they are (a file that is not UTF-8)."""
    cwd.mkdir(parents=True, exist_ok=True)
    for rel, data in case.files:
        p = cwd / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data if isinstance(data, bytes) else data.encode())


def _in_process(case: Bad, cwd: Path, monkeypatch) -> tuple[int, str]:
    import sim.cli
    import sim.research.calibrate
    import sim.research.sweep

    monkeypatch.setattr(sim.research.sweep, "map_jobs", _stop)
    monkeypatch.setattr(sim.research.calibrate, "map_jobs", _stop)
    monkeypatch.setattr(sim.cli, "hydra_main", _stop)
    monkeypatch.setattr(sim.cli, "run_single", _stop)  # a plain run starts here, without Hydra's second composition
    monkeypatch.setattr(sys, "argv", [sys.argv[0]])  # sim.cli.main sets it for Hydra
    monkeypatch.chdir(cwd)
    main = importlib.import_module(MODULES[case.cmd]).main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(case.argv))
        except SystemExit as ex:
            code = ex.code
        except BaseException:  # noqa: BLE001 - an uncaught exception is what the row must not give
            code = "raised"
            err.write(traceback.format_exc())
    return code, out.getvalue() + err.getvalue()


def _subprocess(case: Bad, cwd: Path) -> tuple[int, str]:
    proc = subprocess.run([sys.executable, "-m", case.cmd, *case.argv], cwd=cwd, env=sim_env(), capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


def _assert_one_line(text: str, case: Bad) -> str:
    assert "Traceback" not in text, text
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line, got {len(lines)}:\n{text}"
    line = lines[0]
    missing = [s for s in case.says if s not in line]
    assert not missing, f"the line lacks {missing}: {line}"
    return line


COMMAND_CASES = [pytest.param(c, id=c.id) for c in BAD_INPUTS if c.cmd != "api"]
API_CASES = [pytest.param(c, id=c.id) for c in BAD_INPUTS if c.cmd == "api"]


def test_the_table_has_at_least_120_rows_across_every_command_and_the_api():
    assert len(BAD_INPUTS) >= 120
    assert {c.cmd for c in BAD_INPUTS} == {*MODULES, "api"}
    for cmd in MODULES:  # the real process of every command, not only its main()
        assert any(c.subprocess for c in BAD_INPUTS if c.cmd == cmd), cmd


def check_command_row(case: Bad, tmp_path: Path, monkeypatch) -> None:
    """A command row (here and in tests/test_mistakes_audit.py): one line starting 'error: ' that says what the row says,
    its exit code, and nothing written in the working directory."""
    cwd = tmp_path / "work"
    _write_files(case, cwd)
    before = snapshot(cwd)
    code, text = _subprocess(case, cwd) if case.subprocess else _in_process(case, cwd, monkeypatch)
    line = _assert_one_line(text, case)
    assert code == case.code, f"exit code {code}: {line}"
    assert line.startswith("error: "), line
    assert snapshot(cwd) == before, f"written in the working directory: {sorted(set(snapshot(cwd)) ^ set(before))}"


@pytest.mark.parametrize("case", COMMAND_CASES)
def test_bad_command_input_gives_one_line_exit_2_and_writes_nothing(case: Bad, tmp_path, monkeypatch):
    check_command_row(case, tmp_path, monkeypatch)


@pytest.mark.parametrize("case", API_CASES)
def test_bad_api_call_raises_one_config_error_with_one_line(case: Bad, tmp_path, monkeypatch):
    cwd = tmp_path / "work"
    _write_files(case, cwd)
    monkeypatch.chdir(cwd)
    before = snapshot(cwd)
    with pytest.raises(ConfigError) as ei:
        case.call()
    msg = str(ei.value)
    assert "\n" not in msg.strip(), msg
    assert ei.value.__cause__ is None or ei.value.__suppress_context__, "a ConfigError stands alone (raise ... from None)"
    missing = [s for s in case.says if s not in msg]
    assert not missing, f"the message lacks {missing}: {msg}"
    assert snapshot(cwd) == before
    assert os.getcwd() == str(cwd)
