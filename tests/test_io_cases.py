"""Every refusal of tests/_io_cases.py: one line naming the key, the bad value and what is allowed, exit code 2,
no traceback, and nothing already written changed or anything new written. The commands run in this process
(their ``main``), a few of them again as real processes."""

from __future__ import annotations

import contextlib
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from _io_cases import IO_CASES, IoCase
from _sim_helpers import make_config, sim_env

from sim.config import ConfigError, compose
from sim.engine.run import run
from sim.research import experiment as ex
from sim.research import sweep

TINY_EXPERIMENT = {
    "name": "tiny_io",
    "scenarios": ["baseline", "china_without_tiers"],
    "reference": "baseline",
    "seeds": 2,
    "overrides": ["years=2"],
    "differences": [{"label": "China public money", "key": "policy.china.fiscal_cost_total_musd", "unit": "M USD"}],
}


def _mount(path: Path, options: str) -> bool:
    """Mount a tmpfs at ``path`` (root only); False where the machine does not allow it."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _fill(path: Path) -> None:
    """Write into ``path`` until its disk is full."""
    with contextlib.suppress(OSError), open(path / "filler", "wb") as f:
        while True:
            f.write(b"\0" * 4096)
            f.flush()


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    """The placeholders of the cases, made once: see tests/_io_cases.py."""
    base = tmp_path_factory.mktemp("io")
    p: dict[str, str | None] = {"tmp": str(base)}
    run_dir = base / "run"
    cfg = make_config("years=2", "seed=1", root=base / "unused")
    cfg.output.dir = str(run_dir)
    run(cfg)
    p["run"] = str(run_dir)
    (base / "junk").mkdir()
    (base / "junk" / "notes.txt").write_text("not a run\n")
    p["junk"] = str(base / "junk")
    (base / "file.txt").write_text("a file\n")
    p["file"] = str(base / "file.txt")
    exp_file = base / "tiny.yaml"
    exp_file.write_text(yaml.safe_dump(TINY_EXPERIMENT))
    p["exp_file"] = str(exp_file)
    ex.run_experiment(ex.load_experiment(str(exp_file)), base / "exp", workers=1, say=lambda s: None)
    p["exp"] = str(base / "exp")
    sweep.run_sweep([["seed=1", "years=2", "progress=false"]], base / "sweep")
    p["sweep"] = str(base / "sweep")
    mounts = []
    ro, full = base / "ro", base / "full"
    p["ro"] = p["full"] = None
    try:
        if os.geteuid() == 0:
            if _mount(ro, "ro,size=64k"):
                mounts.append(ro)
                p["ro"] = str(ro)
            if _mount(full, "size=128k"):
                mounts.append(full)
                _fill(full)
                p["full"] = str(full)
        else:  # permissions stop anyone but root
            ro.mkdir()
            ro.chmod(0o555)
            p["ro"] = str(ro)
    except BaseException:
        _unmount(mounts)
        raise
    (base / "cwd").mkdir()
    p["_why"] = "mounting a tmpfs needs root with CAP_SYS_ADMIN; a chmod does not stop root"
    yield p
    _unmount(mounts)


def _unmount(mounts: list[Path]) -> None:
    for m in mounts:
        subprocess.run(["umount", "-l", str(m)], capture_output=True, timeout=20)


def _fill_in(text: str, places: dict) -> str:
    return text.format(**{k: v for k, v in places.items() if v is not None and not k.startswith("_")})


def _state(base: Path) -> dict[str, tuple[int, int]]:
    """Every file and directory under base, a file with its size and modification time (what a case must not change;
    a directory's own time changes when the write check creates and removes its probe file)."""
    out = {}
    for p in sorted(base.rglob("*")):
        st = p.lstat()
        out[str(p.relative_to(base))] = (st.st_size, st.st_mtime_ns) if p.is_file() else (0, 0)
    return out


def _call(argv: list[str]) -> int:
    """Run a case's command or API call in this process; its exit code (ConfigError from Python: 2)."""
    what, args = argv[0], argv[1:]
    if what == "api:run":
        try:
            run(compose(args))
        except ConfigError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        return 0
    if what == "api:run_sweep":
        try:
            sweep.run_sweep([args[1:]], args[0])
        except ConfigError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        return 0
    module = importlib.import_module("sim.cli" if what == "sim" else f"sim.research.{what.split('.', 1)[1]}")
    try:
        code = module.main(args)
    except SystemExit as ex_:
        code = ex_.code
    return 0 if code is None else code


@pytest.mark.parametrize("case", [c.param() for c in IO_CASES])
def test_io_refusal_is_one_line_exit_2_and_changes_nothing(case: IoCase, places, capsys, monkeypatch):
    if case.needs and places[case.needs] is None:
        pytest.skip(f"no {'read-only' if case.needs == 'ro' else 'full'} directory here: {places['_why']}")
    base = Path(places["tmp"])
    monkeypatch.chdir(base / "cwd")  # default output roots resolve here
    argv = [_fill_in(a, places) for a in case.argv]
    before = _state(base)
    code = _call(argv)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == case.code, f"exit code {code}; stderr: {err[-2000:]}"
    assert len(lines) == 1, f"not one line: {err[-2000:]}"
    assert lines[0].startswith("error: ") and _fill_in(case.line, places) in lines[0], lines[0]
    assert "Traceback" not in out + err
    assert _state(base) == before, "the refusal changed or wrote files"


SUBPROCESS_CASES = ("run-into-a-run", "scale-beyond-memory", "experiment-other-overrides", "sweep-dir-under-a-file")


@pytest.mark.parametrize("case", [c.param() for c in IO_CASES if c.id in SUBPROCESS_CASES])
def test_io_refusal_in_a_real_process(case: IoCase, places):
    """The same refusals from ``python -m ...``: stderr is the one line, nothing else (no Hydra traceback)."""
    base = Path(places["tmp"])
    argv = [_fill_in(a, places) for a in case.argv]
    before = _state(base)
    proc = subprocess.run([sys.executable, "-m", *argv], cwd=base / "cwd", env=sim_env(), capture_output=True, text=True, timeout=180)
    assert proc.returncode == case.code, proc.stderr[-2000:]
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ") and _fill_in(case.line, places) in proc.stderr, proc.stderr
    assert _state(base) == before
