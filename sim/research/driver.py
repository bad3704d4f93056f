"""What the drivers of many runs share (python -m sim.experiment, sim.sensitivity, sim.validate, sim.sweep).

- :class:`CommandParser` / :func:`command_parser`: the argument-parser base. ``prog`` is the command a
  user types; a usage mistake is one line ``error: ... (see <prog> --help)`` and exit code 2; its
  ``parse_intermixed_args`` takes the overrides anywhere among the options, subcommands included; the common
  options ``--seeds``, ``--workers``, ``--out`` and the positional config overrides are built here, and
  :func:`check_counts` refuses counts below 1 with one line naming the option, and :func:`refuse_seed` a
  ``seed=K`` override (the seeds of a batch come from ``--seeds``).
- :func:`default_workers`: the cores this process may use.
- :func:`text_table`: a table of formatted cells for the terminal or a Markdown report.
- :func:`batch_progress`: the progress display of a batch of runs (sim/progress.py), off when the user
  passes ``progress=false`` among the overrides.

The worker pool is :func:`sim.research.sweep.map_jobs` (run directories: :func:`sim.research.sweep.run_jobs`);
the study-file schema is :mod:`sim.research.study`.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Any, Sequence

import numpy as np
import pandas as pd

from sim.checks import whole_number
from sim.config import ConfigError, check_count
from sim.progress import Progress


class CommandParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line naming the command's help, exit 2."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    _intermixed = False  # set on a subcommand's parser by parse_known_intermixed_args

    def parse_known_intermixed_args(self, args: Any = None, namespace: Any = None) -> tuple[argparse.Namespace, list[str]]:
        """argparse's (the overrides among the options, in any order: ``--seeds 2 years=2 --out X progress=false``),
        and for a command with subcommands too, which argparse's refuses: each subcommand's parser takes its own
        positionals among its options (``run --out X years=15 --workers 1 progress=false``)."""
        subcommands = [a for a in self._actions if isinstance(a, argparse._SubParsersAction)]
        if not subcommands:
            return super().parse_known_intermixed_args(args, namespace)
        for action in subcommands:
            for parser in action.choices.values():
                if isinstance(parser, CommandParser):
                    parser._intermixed = True
        return self.parse_known_args(args, namespace)  # the subcommand's parser is called with parse_known_args

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> tuple[argparse.Namespace, list[str]]:
        if not self._intermixed:
            return super().parse_known_args(args, namespace)
        self._intermixed = False  # argparse's intermixed parsing calls parse_known_args itself
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixed = True

    def add_overrides(self, help: str = "config overrides applied to every run (e.g. years=20)") -> None:
        """The positional config overrides (``args.overrides``); add other positionals before them."""
        self.add_argument("overrides", nargs="*", help=help)

    def error(self, message: str) -> None:  # argparse would print the usage too
        if message.startswith("the following arguments are required: "):
            message = self._required_message(message)
        elif message.startswith("unrecognized arguments: "):
            options = sorted({o for a in self._actions for o in a.option_strings if o.startswith("--") and o != "--help"})
            message += f"; options: {', '.join(options)}" if options else ""
        root = self.prog.split(" ")
        prog = " ".join(root[:3]) if root[:2] == ["python", "-m"] else self.prog  # a subcommand points to the command's help
        print(f"error: {message} (see {prog} --help)", file=sys.stderr)
        sys.exit(2)

    def _required_message(self, message: str) -> str:
        """'required: method, overrides' -> 'required: method (one of sobol, morris)': the missing arguments with
        their choices; optional positionals (the overrides, ``nargs="*"``) are left out."""
        actions = {a.dest: a for a in self._actions}
        named = []
        for name in message.split(": ", 1)[1].split(", "):
            a = actions.get(name)
            if a is not None and a.nargs in ("*", "?"):
                continue
            named.append(f"{name} (one of {', '.join(a.choices)})" if a is not None and a.choices else name)
        return f"the following arguments are required: {', '.join(named)}" if named else message


def command_parser(
    prog: str,
    description: str,
    *,
    overrides: str | None = None,
    seeds: str | None = None,
    workers: str | None = None,
    out: str | None = None,
    seeds_default: Any = None,
    workers_default: Any = None,
    out_default: Any = None,
) -> CommandParser:
    """A :class:`CommandParser` with the common options whose help text is given (None: option left out).

    ``overrides``: positional config overrides applied to every run (``args.overrides``; a command with
    another positional adds it first, then calls :meth:`CommandParser.add_overrides`); ``seeds``:
    ``--seeds N`` (replications, seeds 1..N); ``workers``: ``--workers N`` (worker processes); ``out``:
    ``--out PATH``. Check the counts with :func:`check_counts` after parsing."""
    ap = CommandParser(prog=prog, description=description)
    if overrides is not None:
        ap.add_overrides(overrides)
    if seeds is not None:
        ap.add_argument("--seeds", type=whole_number, default=seeds_default, help=seeds)
    if workers is not None:
        ap.add_argument("--workers", type=whole_number, default=workers_default, help=workers)
    if out is not None:
        ap.add_argument("--out", type=path_text, default=out_default, help=out)
    return ap


def path_text(text: str) -> str:
    """argparse ``type=`` of a path option (``--out``, ``--root``): an empty one (``--out ''``, an unset shell variable)
    is one line naming the option, where it was taken for the default or the working directory."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"an empty path ({text!r}); allowed: a path (an option left out takes its default)")
    return text


def check_counts(args: argparse.Namespace) -> None:
    """``--seeds``, ``--workers`` and ``--trials`` (when the parser has them and they are given) must be >= 1:
    ConfigError naming the option."""
    for name in ("seeds", "workers", "trials"):
        check_count(f"--{name}", getattr(args, name, None))


def error_line(err: ConfigError, study: Any = None, study_keys: Sequence[str] = ()) -> str:
    """The one line a command prints for a config error; an error at a key of the study file names the file, one way
    in every command: ``error: config error at 'KEY' (study FILE): PROBLEM`` (sim.research.study.StudyError, which the
    reader raises for every mistake it finds; a later error at a key of the file, ``study_keys``, becomes one here)."""
    from sim.research.study import in_study

    if study is not None and re.split(r"[.\[]", str(err.key))[0] in study_keys:
        err = in_study(err, getattr(study, "source", ""))
    return f"error: {err}"


def refuse_seed(overrides: Sequence[str], key: str = "seed", seeds: str = "--seeds") -> None:
    """A ``seed=K`` among the overrides would be ignored (or make every replication the same run): the
    seeds of a batch come from ``seeds`` (1..N). ConfigError at ``key``, one line."""
    for o in overrides:
        if o.split("=", 1)[0].lstrip("+~") == "seed":
            raise ConfigError(key, f"'{o}': seeds come from {seeds} (seeds 1..N, the same in every scenario); remove seed from the overrides")


def default_workers() -> int:
    """The cores this process may run on (at least 1)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # pragma: no cover - not Linux
        return max(os.cpu_count() or 1, 1)


def progress_wanted(overrides: Sequence[str]) -> bool:
    """False when the user's overrides switch progress off (``progress=false``, as for a single run)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    for text in overrides:
        try:
            o = parser.parse_override(text)
        except HydraException:  # compose() reports a bad override; it switches nothing off here
            continue
        if o.key_or_group == "progress" and o.value() is False:
            return False
    return True


def batch_progress(total: int, desc: str, overrides: Sequence[str] = (), stream: Any = None) -> Progress:
    """The display of a batch of ``total`` runs: lines as before, and a bar of the runs done on a terminal."""
    return Progress(total=total, desc=desc, unit="run", enabled=progress_wanted(overrides), stream=stream if stream is not None else sys.stdout)


def text_table(frame: pd.DataFrame, markdown: bool = False, left: int = 1) -> str:
    """A frame of formatted cells as a table (``DataFrame.to_markdown``): GitHub Markdown for a report, or a
    plain terminal table (header, a rule, rows); the first ``left`` columns are left-aligned, the others right."""
    align = ["left"] * left + ["right"] * (frame.shape[1] - left)
    return frame.to_markdown(index=False, tablefmt="github" if markdown else "simple", colalign=align, disable_numparse=True)


def no_key(at: str, key: str, keys: Sequence[Any], where: str = "these runs", what: str = "summary key") -> ConfigError:
    """The error of a study or experiment entry (``at``) naming a ``key`` that ``keys`` (the runs' dotted names) lack,
    with the names closest to it (or, if none is close, those beginning alike)."""
    import difflib

    keys = [str(k) for k in keys]
    near = difflib.get_close_matches(key, keys, n=4, cutoff=0.8) or [k for k in keys if k.split(".")[0] == key.split(".")[0]][:6]
    return ConfigError(at, f"no {what} '{key}' in {where}" + (f"; keys like it: {', '.join(near)}" if near else "; see python -m sim.sweep table"))


def summary_keys(run_dir: Any) -> list[str] | None:
    """The dotted names of the values in the summary.json of the run in ``run_dir`` (as the sweep table names them),
    or None where it cannot be read (the loaders report that run)."""
    from pathlib import Path

    from sim.engine import output

    summary, _ = output.read_json_object(Path(run_dir) / "summary.json")
    return None if summary is None else list(output.dotted(summary))


FIRST_RUN = "the first run's summary ({}); the runs done so far are kept: fix it and run the same command to resume"


#: resamples of the seeds behind each verdict's support (:func:`median_support`)
RESAMPLES = 2000


def median_support(values: Sequence[float | None], accept: Sequence[float], never_later: bool = False) -> float | None:
    """The share of ``RESAMPLES`` resamples of the seeds (drawn with replacement, as many as there are) whose median lies
    in ``accept`` (lo, hi): how firmly this many seeds decide a verdict taken on the median (near 1, met firmly; near 0,
    missed firmly; near a half, a coin flip that more seeds would settle), for the validation's targets and its history
    checks. None values are left out, as the median leaves them out, or with ``never_later`` count as later than any
    value (a timeline never reached). The generator is fixed, so the same values give the same share in any run. None
    where no seed has a value."""
    if never_later:
        x = np.array([np.inf if v is None else v for v in values], dtype=float)
    else:
        x = np.array([v for v in values if v is not None], dtype=float)
    if not len(x):
        return None
    idx = np.random.default_rng(0).integers(0, len(x), size=(RESAMPLES, len(x)))
    med = np.median(x[idx], axis=1)
    return float(np.mean((med >= accept[0]) & (med <= accept[1])))
