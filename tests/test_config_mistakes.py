"""User mistakes in the configuration of ``python -m sim``, each through ``sim.cli.main(argv)`` in this process.

Every mistake must give exactly one line on stderr, ``error: config error at '<key>': <problem>; allowed: ...``,
exit code 2, no traceback, and nothing written: neither the run's ``output.dir`` nor anything in the working
directory (the default results root is relative to it). The cases are the audit's: config groups set to null or
removed, files of a ``--config-dir`` that cannot be read or parsed or are never read, mappings given as lists or
numbers (on the command line or in a file), a map entry or bloc that is not there, a scenario file without its
``# @package _global_`` header, a scenario name that cannot name a directory.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from _sim_helpers import PROJECT_ROOT, tree

CONF = PROJECT_ROOT / "conf"
WORLDS = ("rare_earth_2010", "rare_earth_2015", "rare_earth_2015_listed_groups")
BLOCS = ("china", "west", "rest_of_world")
REGIMES = ("coordinated", "coordinated_west", "fragmented", "none")
GROUPS = ("criteria", "national", "policy", "scenario", "world")
KINDS = ("export_control", "tariff", "technology_export_ban")


# --------------------------------------------------------------------------
# What a --config-dir holds for a case (written under tmp_path/cd)
# --------------------------------------------------------------------------
def _world_with_duplicate(d: Path) -> None:
    lines = (CONF / "world" / "rare_earth_2015.yaml").read_text().splitlines()
    i = next(n for n, ln in enumerate(lines) if ln.startswith("start_year:"))
    lines.insert(i + 1, "start_year: 2016")
    (d / "world").mkdir(parents=True)
    (d / "world" / "mine.yaml").write_text("\n".join(lines) + "\n")


def _latin1_file(d: Path) -> None:
    (d / "world").mkdir(parents=True)
    shutil.copy(CONF / "world" / "rare_earth_2015.yaml", d / "world" / "mine.yaml")
    (d / "world" / "latin.yaml").write_bytes("# caf\u00e9\nname: latin\n".encode("latin-1"))


def _folder_named_yaml(d: Path) -> None:
    (d / "world" / "x.yaml").mkdir(parents=True)


def _broken_link(d: Path) -> None:
    (d / "world").mkdir(parents=True)
    (d / "world" / "broken.yaml").symlink_to(d / "nowhere.yaml")


def _top_file(name: str) -> Callable[[Path], None]:
    def write(d: Path) -> None:
        (d / "world").mkdir(parents=True)
        (d / name).write_text("years: 3\n")

    return write


def _file(rel: str, text: str) -> Callable[[Path], None]:
    def write(d: Path) -> None:
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_text(text)

    return write


def _copy_world(d: Path) -> None:
    (d / "world").mkdir(parents=True)
    shutil.copy(CONF / "world" / "rare_earth_2015.yaml", d / "world" / "mine.yaml")


def _national_with_firms_a_number(d: Path) -> None:
    text = (CONF / "national" / "china_sme_2015.yaml").read_text()
    assert re.search(r"^firms:\s*(#.*)?$", text, re.M), "the shipped national file has a firms: mapping"
    text = re.sub(r"^firms:\s*(#.*)?$", "firms: 5\nold_firms:", text, count=1, flags=re.M)  # its entries move under old_firms
    (d / "national").mkdir(parents=True)
    (d / "national" / "bad.yaml").write_text(text)


@dataclass(frozen=True)
class Mistake:
    id: str
    args: tuple[str, ...]  # arguments after years=2 progress=false output.dir=...; '{cd}' is the --config-dir
    key: str  # the key the line names
    says: tuple[str, ...]  # what the line must contain besides: the file, the value, what is allowed
    files: Callable[[Path], None] | None = None  # fills the --config-dir

    def param(self):
        return pytest.param(self, id=self.id)


SCENARIO = "# @package _global_\nscenario:\n  name: {name}\n"
MISTAKES = [
    # 1: a config group set to null
    Mistake("world-null", ("world=null",), "world", ("null", *WORLDS)),
    Mistake("scenario-null", ("scenario=null",), "scenario", ("null", "baseline", "laissez_faire")),
    Mistake("national-null", ("national=null",), "national", ("null", "china_sme_2015", "~national")),
    Mistake("policy-null", ("policy@policy.china=null",), "policy@policy.china", ("null", *REGIMES)),
    Mistake("world-null-config-dir", ("--config-dir", "{cd}", "world=null"), "world", ("null", "mine", *WORLDS), _copy_world),
    # 2, 3: files of a --config-dir that cannot be composed (even when not selected)
    Mistake(
        "duplicate-key",
        ("--config-dir", "{cd}", "world=mine"),
        "--config-dir",
        ("mine.yaml", "line 8", "duplicate key start_year"),
        _world_with_duplicate,
    ),
    Mistake(
        "not-utf8", ("--config-dir", "{cd}", "world=mine"), "--config-dir", ("latin.yaml", "not UTF-8", "line 1", "allowed: UTF-8"), _latin1_file
    ),
    Mistake("folder-named-yaml", ("--config-dir", "{cd}"), "--config-dir", ("x.yaml", "is a folder", "allowed: files"), _folder_named_yaml),
    Mistake("broken-link", ("--config-dir", "{cd}"), "--config-dir", ("broken.yaml", "broken link", "allowed:"), _broken_link),
    # 7: a scenario name that cannot name a run directory
    Mistake("scenario-name-slash", ("scenario.name=a/b",), "scenario.name", ("'a/b'", "letters, digits", "allowed: e.g. baseline")),
    # 8: an empty --config-dir
    Mistake("config-dir-empty", ("--config-dir", ""), "--config-dir", ("needs a directory, got ''", "world/", "scenario/")),
    Mistake("config-dir-equals-empty", ("--config-dir=",), "--config-dir", ("needs a directory, got ''", "world/")),
    Mistake("cd-equals-empty", ("-cd=",), "--config-dir", ("needs a directory, got ''", "world/")),
    # 9: a primary config in a --config-dir, never read
    Mistake(
        "top-config-yaml",
        ("--config-dir", "{cd}"),
        "--config-dir",
        ("config.yaml is not read", "conf/config.yaml", *GROUPS, "years=3"),
        _top_file("config.yaml"),
    ),
    Mistake("top-schema-yaml", ("--config-dir", "{cd}"), "--config-dir", ("schema.yaml is not read", "world/", "years=3"), _top_file("schema.yaml")),
    # 14: a file with a list or a number where a mapping belongs
    Mistake(
        "world-file-a-list",
        ("--config-dir", "{cd}", "world=lst"),
        "world",
        ("lst.yaml", "got a list", "a mapping of world settings {name"),
        _file("world/lst.yaml", "- a\n"),
    ),
    Mistake(
        "national-firms-a-number",
        ("--config-dir", "{cd}", "scenario=national_programme", "national=bad"),
        "national.firms",
        ("bad.yaml", "got the number 5", "a mapping of firms settings {count"),
        _national_with_firms_a_number,
    ),
    Mistake(
        "events-a-list-in-a-file",
        ("--config-dir", "{cd}", "scenario=evl"),
        "scenario.events",
        ("evl.yaml", "got a list", "a mapping of event name -> {kind, start_year"),
        _file("scenario/evl.yaml", SCENARIO.format(name="evl") + "  events:\n    - kind: tariff\n"),
    ),
    # 15: a key below a bloc that is not there
    Mistake("unknown-bloc", ("+world.blocs.mars.stages.mining.capacity=1",), "world.blocs.mars", ("unknown bloc 'mars'", *BLOCS)),
    # 16: a mapping given as a list, a number or a name on the command line
    Mistake("stages-a-list", ("world.stages=[1,2]",), "world.stages", ("a mapping of stage -> {product", "got a list [1, 2]", "mining", "magnet")),
    Mistake("events-a-list", ("scenario.events=[]",), "scenario.events", ("a mapping of event name -> {kind", "got a list []", "{} for none")),
    Mistake(
        "quota-a-list",
        ("policy.china.designation.quota_per_year=[1,2]",),
        "policy.china.designation.quota_per_year",
        ("a mapping of tier -> a whole number", "got a list [1, 2]", "innovation_type", "srdi", "little_giant"),
    ),
    Mistake("stage-a-number", ("world.stages.mining=5",), "world.stages.mining", ("a mapping of the stage's settings {product", "got the number 5")),
    Mistake("buyers-a-number", ("world.buyers=5",), "world.buyers", ("a mapping of buyer -> {bloc, share", "got the number 5", "china_ev")),
    Mistake("policy-a-name", ("policy.china=nosuch",), "policy.china", ("got the text 'nosuch'", "policy@policy.china=nosuch", *REGIMES)),
    # 17: '=' with a mapping on a map that does not hold its key yet
    Mistake(
        "quota-a-new-entry",
        ("policy.china.designation.quota_per_year={little_giant: 5}",),
        "policy.china.designation.quota_per_year",
        ("+policy.china.designation.quota_per_year={little_giant: 5}", "little_giant", "srdi"),
    ),
    # 18, 19: a scenario file's defaults name no group; a scenario file without its header
    Mistake(
        "defaults-unknown-group",
        ("--config-dir", "{cd}", "scenario=sd2"),
        "scenario/sd2",
        ("sd2.yaml", "no config group 'wrld'", *GROUPS),
        _file("scenario/sd2.yaml", "# @package _global_\ndefaults:\n  - override /wrld: rare_earth_2010\nscenario:\n  name: sd2\n"),
    ),
    Mistake(
        "scenario-without-header",
        ("--config-dir", "{cd}", "scenario=nohdr"),
        "scenario.scenario",
        ("nohdr.yaml", "# @package _global_", "conf/scenario/baseline.yaml", "name, question, events"),
        _file("scenario/nohdr.yaml", "scenario:\n  name: nohdr\n"),
    ),
    # 20a, 20d: an event without its kind; the world removed
    Mistake(
        "event-without-kind",
        ("+scenario.events.x.start_year=2016",),
        "scenario.events.x.kind",
        ("needs its kind", "+scenario.events.x.kind=NAME", *KINDS),
    ),
    Mistake("world-removed", ("~world",), "world", ("a world must be chosen: world=NAME", *WORLDS)),
]


def _main(argv: list[str], cwd: Path, monkeypatch) -> tuple[object, str, str]:
    """``sim.cli.main(argv)`` in ``cwd``: (exit code, stdout, stderr); an exception's traceback goes to stderr."""
    import sim.cli

    monkeypatch.setattr(sys, "argv", [sys.argv[0]])  # sim.cli.main sets it for Hydra
    monkeypatch.chdir(cwd)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = sim.cli.main(argv)
        except SystemExit as ex:
            code = ex.code
        except BaseException:  # noqa: BLE001 - what a mistake must not give
            code = "raised"
            err.write(traceback.format_exc())
    return code, out.getvalue(), err.getvalue()


def _refused(case: Mistake, tmp_path: Path, monkeypatch) -> str:
    """Run the case and check the contract; the line."""
    cwd, cd, out_dir = tmp_path / "work", tmp_path / "cd", tmp_path / "out"
    cwd.mkdir()
    if case.files is not None:
        case.files(cd)
    args = [a.replace("{cd}", str(cd)) for a in case.args]
    code, stdout, stderr = _main(["years=2", "progress=false", f"output.dir={out_dir}", *args], cwd, monkeypatch)
    text = stdout + stderr
    assert "Traceback" not in text, text
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and stdout.strip() == "", f"expected one line on stderr, got:\n{text}"
    line = lines[0]
    assert code == 2, f"exit code {code}: {line}"
    assert line.startswith(f"error: config error at '{case.key}': "), line
    missing = [s for s in case.says if s not in line]
    assert not missing, f"the line lacks {missing}: {line}"
    assert not out_dir.exists(), f"written: {tree(out_dir)}"
    assert tree(cwd) == [], f"written in the working directory: {tree(cwd)}"
    return line


@pytest.mark.parametrize("case", [c.param() for c in MISTAKES])
def test_a_config_mistake_is_one_line_exit_2_and_nothing_written(case: Mistake, tmp_path, monkeypatch):
    _refused(case, tmp_path, monkeypatch)


def test_the_map_form_the_line_suggests_composes(tmp_path, monkeypatch):
    """The '+KEY={...}' the line for 'KEY={little_giant: 5}' suggests sets the entry (docs/ODD.md's lever)."""
    from sim.config import compose

    (case,) = [c for c in MISTAKES if c.id == "quota-a-new-entry"]
    line = _refused(case, tmp_path, monkeypatch)
    m = re.search(r"(\+policy\.china\.designation\.quota_per_year=\{[^}]*\})", line)
    assert m, line
    cfg = compose(["years=2", m.group(1)])
    assert cfg.policy["china"].designation.quota_per_year == {"little_giant": 5}
