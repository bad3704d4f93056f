"""Writing a run directory, and checking one before it is trusted.

A run is written into a hidden temporary sibling of its directory (``.<name>.tmp-<host>-<pid>-<random>``)
and renamed into place only when complete (:class:`RunWriter`), so a killed run never sits beside or
inside a complete one, and an explicit directory that already holds a run is refused (or replaced, with
``output.overwrite=true``, once the new run is complete). Inside it every file is written whole (temp
file + rename) and manifest.json comes last; the manifest records the SHA-256 of config.yaml and the
size of every file, which :func:`verify_run` (the loaders' check) compares with what is on disk.

:func:`check_writable` and :func:`check_free_space` (together: :func:`check_output`) are the output checks
every command makes before its first run (sim/cli.py ``preflight`` for ``python -m sim``; each driver for its own).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import math
import os
import platform
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from sim.checks import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("little-giants", "mesa", "numpy", "numba", "scipy", "pandas", "pyarrow", "hydra-core", "omegaconf", "matplotlib")


def new_run_dir(root: str | Path, scenario: str, seed: int) -> Path:
    """A fresh directory under root/runs, unique even for runs started in the same second."""
    return unique_dir(Path(root) / "runs", f"{scenario}-seed{seed}")


def unique_dir(base: str | Path, name: str) -> Path:
    """A fresh directory ``base/<date>-<time>-<name>-<random>``, created here (``tempfile.mkdtemp``: unique across
    processes), readable by others like any results directory (mkdtemp alone would make it private)."""
    base = Path(base)
    base.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    d = Path(tempfile.mkdtemp(prefix=f"{stamp}-{name}-", dir=base))
    d.chmod(0o755)
    return d


def _atomic(path: Path, write) -> None:
    """Write ``path`` whole: into ``.<name>.tmp`` beside it, then rename; a failed write leaves neither."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def entries_of(out: Path, key: str, own: str) -> list[str]:
    """The visible entries (not hidden) of a directory a command writes into, sorted; [] where it does not exist or is
    empty. ConfigError at ``key`` where it is not a directory (``own``: the directory the command may resume, e.g.
    "this experiment's")."""
    if not out.exists():
        return []
    if not out.is_dir():
        raise ConfigError(key, f"'{out}' exists and is not a directory; allowed: a new directory, or {own} to resume")
    return sorted(p.name for p in out.iterdir() if not p.name.startswith("."))


def json_ready(obj: Any) -> Any:
    """``obj`` as standard JSON holds it (RFC 8259 has no NaN or Infinity): a float that is not finite becomes None
    (null: no value, as the summaries write a measure a run cannot take, such as patents per Little Giant in a year
    without one), and numpy scalars their Python numbers; dicts, lists and tuples are converted item by item."""
    if isinstance(obj, dict):
        return {k: json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        return x if math.isfinite(x) else None
    return obj


def read_json_object(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """A JSON file of a run as ``(object, None)``; ``(None, None)`` when there is no such file; ``(None, reason)`` when
    it cannot be read as a JSON object, the reason naming the file (``summary.json: unreadable JSON (...)``,
    ``manifest.json: expected a JSON object, got list``): how the sweep table and the analysis API read a run."""
    if not path.exists():
        return None, None
    try:
        data = json.loads(path.read_text())
    except OSError as err:
        return None, f"{path.name}: cannot be read ({err.strerror or type(err).__name__})"
    except ValueError as err:  # not JSON, or not text (UnicodeDecodeError)
        return None, f"{path.name}: unreadable JSON ({(str(err).strip().splitlines() or [type(err).__name__])[0]})"
    if not isinstance(data, dict):
        return None, f"{path.name}: expected a JSON object, got {type(data).__name__}"
    return data, None


def write_json(path: Path, obj: Any) -> None:
    """``obj`` as standard JSON (:func:`json_ready`; anything else JSON has no type for as its text), written whole."""
    text = json.dumps(json_ready(obj), indent=2, sort_keys=False, default=str, allow_nan=False) + "\n"
    _atomic(path, lambda p: p.write_text(text))


def write_parquet(path: Path, df: pd.DataFrame) -> None:
    _atomic(path, lambda p: df.to_parquet(p, index=False))


def config_yaml(cfg: Any) -> str:
    """The validated config (plain dataclasses) as YAML, in schema order: what config.yaml holds.
    The same text OmegaConf would write once loaded, ten times faster (it matters in sweeps); emitted by libyaml
    where PyYAML has it (the same text as PyYAML's own emitter, 15 ms against 90 ms for the default config: tests/test_outputs.py)."""
    import dataclasses

    return yaml_text(dataclasses.asdict(cfg))


def yaml_text(obj: Any) -> str:
    """``obj`` as YAML in the order given, as ``yaml.safe_dump(obj, sort_keys=False, allow_unicode=True)`` writes it,
    with libyaml's emitter (``CSafeDumper``) where PyYAML was built with it."""
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(obj, Dumper=dumper, sort_keys=False, allow_unicode=True)


def dotted(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A run's nested config or summary as ``{"a.b.c": leaf}``, the names the sweep table and the analyses give its
    values: what ``pandas.json_normalize(obj, sep=".")`` gives for one mapping, without building its frame (about 80 ms
    for a config of 1,200 keys, against 1 ms here; tests/test_outputs.py compares the two). The top level's own leaves
    come first, then the nested mappings' leaves in order; a nested key is written with ``str``; an empty nested
    mapping gives no key; lists and every other value are leaves, kept as they are."""
    flat = {k: v for k, v in obj.items() if not isinstance(v, dict)}

    def walk(node: Mapping[Any, Any], prefix: str) -> None:
        for k, v in node.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, dict):
                walk(v, key)
            else:
                flat[key] = v

    walk({k: v for k, v in obj.items() if isinstance(v, dict)}, "")
    return flat


def write_text(path: Path, text: str) -> None:
    _atomic(path, lambda p: p.write_text(text))


def git_commit() -> dict[str, Any]:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10)
        if head.returncode == 0:
            return {"commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        pass
    return {"commit": None, "dirty": None}


@functools.cache
def _versions() -> tuple[tuple[str, str | None], ...]:
    """Read once per process: each package's metadata read costs about 2 ms, 23 ms a manifest."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = None
    return tuple(out.items())


def versions() -> dict[str, str | None]:
    """Python's and the packages' versions (PACKAGES; None for one not installed), as the manifest records them."""
    return dict(_versions())


def peak_rss_mb() -> float | None:
    """Peak resident memory of this process so far, MB (``ru_maxrss``: Linux reports KB, macOS bytes; None where the
    platform has no ``resource`` module). In a worker that ran earlier jobs it is the largest of them so far."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(r / 1024.0 / (1024.0 if platform.system() == "Darwin" else 1.0), 1)


def manifest(seed: int, scenario: str, overrides: list[str], started: float, status: str, extra: dict | None = None) -> dict[str, Any]:
    m = {
        "status": status,
        "seed": seed,
        "scenario": scenario,
        "overrides": list(overrides),
        "started_at": datetime.fromtimestamp(started, timezone.utc).isoformat(),
        "finished_at": datetime.now(timezone.utc).isoformat(),
        "wall_time_s": round(time.time() - started, 3),
        "versions": versions(),
        "git": git_commit(),
        "host": platform.node(),
        "peak_rss_mb": peak_rss_mb(),
    }
    if extra:
        m.update(extra)
    return m


# --------------------------------------------------------------------------
# Run directories: written in a hidden sibling, renamed into place when complete
# --------------------------------------------------------------------------
RUN_FILES = (
    "config.yaml",
    "timeseries.parquet",
    "firms.parquet",
    "events.parquet",
    "policy.parquet",
    "summary.json",
    "manifest.json",
    # a national run's own (sim.engine.run._run_national)
    "national.parquet",
    "provinces.parquet",
    "sectors.parquet",
    "reviews.parquet",
)
STAGING = ".tmp-"  # a run being written: <parent>/.<name>.tmp-<host>-<pid>-<random>
_HOST = socket.gethostname().replace("/", "_")


def is_staging(path: Path) -> bool:
    """A hidden directory in which a run is (or was, if killed) being written."""
    return path.name.startswith(".") and STAGING in path.name


def staging_target(path: Path) -> Path:
    """The run directory a staging directory is written for."""
    return path.with_name(path.name[1:].rsplit(STAGING, 1)[0])


def _run_file(name: str) -> bool:
    return name in RUN_FILES or any(name == f".{f}.tmp" for f in RUN_FILES)


def holds_run(path: Path) -> bool:
    """A directory a run wrote (complete, failed or interrupted): a manifest.json or config.yaml, and only run files."""
    try:
        names = {p.name for p in Path(path).iterdir()}
    except OSError:
        return False
    return bool(names & {"manifest.json", "config.yaml"}) and all(_run_file(n) for n in names)


def _describe(path: Path) -> str:
    """A few words on the run in ``path`` for a refusal: its scenario, seed and status."""
    try:
        m = json.loads((path / "manifest.json").read_text())
        return f"{m.get('scenario')} seed {m.get('seed')}, {m.get('status')}"
    except (OSError, ValueError, AttributeError):
        return "no manifest: interrupted"


def check_run_target(final: str | Path, overwrite: bool = False, key: str = "output.dir") -> Path:
    """``final`` may receive a run: new, an empty directory, or (with ``overwrite``) a directory that holds a run;
    and its nearest existing ancestor can be written. ConfigError naming ``key`` otherwise. Returns the absolute path."""
    final = Path(os.path.abspath(final))
    if final.is_symlink():  # a link to a directory: the run goes where it points (a rename onto the link would fail)
        if not final.is_dir():
            raise ConfigError(key, f"'{final}' is a symbolic link to no directory ({os.readlink(final)}); allowed: a new or empty directory")
        final = Path(os.path.realpath(final))
    if final.is_dir():
        try:
            names = sorted(p.name for p in final.iterdir())
        except OSError as ex:
            raise ConfigError(key, f"'{final}' cannot be read ({ex.strerror}); allowed: a new or empty directory") from None
        if names and not holds_run(final):
            shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
            raise ConfigError(key, f"'{final}' is not empty and holds no run ({shown}); allowed: a new or empty directory")
        if names and not overwrite:
            raise ConfigError(
                key, f"'{final}' holds a run already ({_describe(final)}); allowed: another {key}, or output.overwrite=true to replace that run"
            )
    elif final.exists() or final.is_symlink():
        raise ConfigError(key, f"'{final}' exists and is not a directory; allowed: a new or empty directory")
    check_writable(final.parent, key, shown=final)
    return final


OLD = ".old-"  # a run stepping aside for its replacement: <parent>/.<name>.old-<host>-<pid>-<random>


def _owner_gone(path: Path, marker: str = STAGING) -> bool:
    """A staging (or stepped-aside) directory whose writer ran on this host in a process that has ended (killed)."""
    rest = path.name[1:].rsplit(marker, 1)[-1]
    parts = rest.rsplit("-", 2)  # host, pid, mkdtemp's random part (letters, digits, _)
    if len(parts) != 3 or parts[0] != _HOST or not parts[1].isdigit() or int(parts[1]) == os.getpid():
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def clear_stale_staging(final: Path) -> None:
    """Tidy what killed runs of ``final`` left in its parent (only those whose process is gone): remove their
    staging directories; and if a run was killed while replacing another (between the two renames of
    :meth:`RunWriter.commit`), put the old run back where it was, or remove it if the new one made it in."""
    final = Path(final)
    try:
        siblings = sorted(final.parent.glob(f".{final.name}.*"), key=lambda p: p.name)
    except OSError:
        return
    for d in siblings:
        if not d.is_dir():
            continue
        if is_staging(d) and staging_target(d) == final and _owner_gone(d):
            shutil.rmtree(d, ignore_errors=True)
        elif d.name.startswith(f".{final.name}{OLD}") and _owner_gone(d, OLD):
            if final.exists() or final.is_symlink():
                shutil.rmtree(d, ignore_errors=True)
            else:
                os.replace(d, final)


def _step_aside(final: Path, new: Path) -> Path:
    """Put the complete directory ``new`` in the place of the directory ``final``: ``final`` steps aside into a hidden
    sibling ``.<name>.old-<host>-<pid>-<random>`` only now, and comes back if the rename of ``new`` fails. Returns the
    sibling, for the caller to empty (a process killed between the two renames leaves it for
    :func:`clear_stale_staging`, which puts it back)."""
    old = Path(tempfile.mkdtemp(prefix=f".{final.name}{OLD}{_HOST}-{os.getpid()}-", dir=final.parent))
    os.replace(final, old)
    try:
        os.replace(new, final)
    except BaseException:
        os.replace(old, final)
        raise
    return old


def _keep_mode(final: Path, staged: Path) -> None:
    """A directory written beside ``final`` to replace it takes ``final``'s permissions and group where ``final``
    exists (an empty directory the user made for the run, say with a shared group's setgid bit): the rename that
    puts it in place must not change them."""
    try:
        st = final.stat()
    except OSError:
        return
    try:
        staged.chmod(stat.S_IMODE(st.st_mode))
        if staged.stat().st_gid != st.st_gid:
            os.chown(staged, -1, st.st_gid)
    except OSError:
        pass  # a group this user may not give: the directory keeps its own


class RunWriter:
    """Where one run is written. ``path``, a hidden temporary sibling of ``final``, receives the files while the
    run goes on; :meth:`commit` renames it to ``final`` once the run is complete (with ``overwrite``, a run already
    there is replaced only then); :meth:`discard` removes it after a failure. So ``final`` holds either nothing,
    or the old run, or the new complete run: never a mix, never a run cut short."""

    def __init__(self, final: str | Path, overwrite: bool = False, key: str = "output.dir", reserved: bool = False):
        clear_stale_staging(Path(os.path.abspath(final)))  # first: a run killed mid-replacement gets its old run back
        self.final = check_run_target(final, overwrite, key)
        self.overwrite, self.key = overwrite, key
        self.reserved = reserved  # final is an empty directory made for this run (new_run_dir): removed on discard
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=f".{self.final.name}{STAGING}{_HOST}-{os.getpid()}-", dir=self.final.parent))
        self.path.chmod(0o755)
        _keep_mode(self.final, self.path)

    def commit(self) -> Path:
        """Rename the written run into place (onto a missing or empty directory, or replacing a run with ``overwrite``)."""
        try:
            os.replace(self.path, self.final)
        except OSError as ex:
            if ex.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not (self.overwrite and holds_run(self.final)):
                self.discard()
                if ex.errno in (errno.ENOTEMPTY, errno.EEXIST):
                    raise ConfigError(self.key, f"'{self.final}' received another run while this one ran; this run was not kept") from None
                raise
            shutil.rmtree(_step_aside(self.final, self.path), ignore_errors=True)
        return self.final

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        if self.reserved:
            try:
                self.final.rmdir()  # only if still empty
            except OSError:
                pass

    @classmethod
    def for_config(cls, cfg: Any) -> RunWriter:
        """The writer of a run's directory: ``output.dir`` (checked: new, empty, or a run to replace with
        ``output.overwrite``), or a new unique directory under ``output.root``/runs."""
        if cfg.output.dir:
            return cls(cfg.output.dir, cfg.output.overwrite)
        check_writable(Path(cfg.output.root) / "runs", "output.root")
        return cls(new_run_dir(cfg.output.root, cfg.scenario.name, cfg.seed), key="output.root", reserved=True)


@contextlib.contextmanager
def staged_dir(final: str | Path, own: Callable[[str], bool]) -> Iterator[Path]:
    """Write the directory ``final`` whole, as :class:`RunWriter` writes a run: the block writes into a hidden
    temporary sibling, which takes ``final``'s place when the block ends without error; if the block fails or is
    interrupted, the sibling is removed and ``final`` is as it was (a report whose figures fail halfway keeps the old
    report, never a mix of old and new files). Entries of the old ``final`` that the writer does not own (``own(name)``
    false for the top-level name: a note a user put there) move into the new directory, so nothing of theirs is lost."""
    final = Path(os.path.abspath(final))
    clear_stale_staging(final)  # a writer killed mid-swap: its old directory back first
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}{STAGING}{_HOST}-{os.getpid()}-", dir=final.parent))
    try:
        yield tmp
        tmp.chmod(0o755)
        _keep_mode(final, tmp)
        if not final.is_dir():
            os.replace(tmp, final)
            return
        old = _step_aside(final, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for p in old.iterdir():
        if not own(p.name) and not (final / p.name).exists():
            os.replace(p, final / p.name)
    shutil.rmtree(old, ignore_errors=True)


RESULTS = "results"  # the hidden folder of :func:`staged_files`: <out>/.results.tmp-<host>-<pid>-<random>


@contextlib.contextmanager
def staged_files(out: str | Path, stale: Callable[[str], bool] | None = None, key: str = "--out") -> Iterator[Path]:
    """Write a set of result files into the folder ``out`` together (a study's tables, figures and report beside its
    runs): the block writes them, sub-folders too, into a hidden folder inside ``out``; when it ends without error
    each file moves into place by a rename, replacing the one before only then, and the visible entries of ``out``
    for which ``stale(name)`` holds and that the block did not write (a figure of an outcome no longer analysed) are
    removed. If the block fails or is interrupted the hidden folder is removed and ``out`` is as it was: never the
    tables of one analysis beside the figures of another. A folder (or a file) where a result file (or its folder) goes
    is one ConfigError at ``key`` before any file moves (a rename failed halfway: the first files new, the rest old)."""
    out = Path(os.path.abspath(out))
    out.mkdir(parents=True, exist_ok=True)
    for d in out.glob(f".{RESULTS}{STAGING}*"):  # what a killed writer left
        if d.is_dir() and _owner_gone(d):
            shutil.rmtree(d, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{RESULTS}{STAGING}{_HOST}-{os.getpid()}-", dir=out))
    try:
        yield tmp
        written = sorted(p.relative_to(tmp) for p in tmp.rglob("*") if not p.is_dir())
        tops = {p.parts[0] for p in written}
        for rel in written:
            blocked = next((p for p in (rel, *list(rel.parents)[:-1]) if (out / p).exists() and (out / p).is_dir() != (p != rel)), None)
            if blocked is not None:
                kind, want = ("a folder", "file") if blocked == rel else ("a file", "folder")
                raise ConfigError(
                    key,
                    f"'{out / blocked}' is {kind} where the results' {want} {blocked} goes, so no result was written; "
                    "allowed: move it away and run the same command again (complete runs are kept)",
                )
        for rel in written:
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp / rel, out / rel)
        for p in out.iterdir():
            if stale is not None and not p.name.startswith(".") and p.name not in tops and stale(p.name) and p.is_file():
                p.unlink()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------
# Checking a run directory before trusting it (the loaders)
# --------------------------------------------------------------------------
def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _file_sizes(run_dir: Path) -> dict[str, int]:
    """The run files in ``run_dir`` other than the manifest, by name, with their sizes in bytes."""
    return {p.name: p.stat().st_size for p in sorted(Path(run_dir).iterdir()) if p.is_file() and p.name in RUN_FILES and p.name != "manifest.json"}


def file_record(run_dir: Path) -> dict[str, Any]:
    """What the manifest records of the files written before it: config.yaml's SHA-256 and every file's size."""
    return {"config_sha256": sha256_file(Path(run_dir) / "config.yaml"), "files": _file_sizes(run_dir)}


def verify_run(run_dir: Path, manifest: dict[str, Any]) -> str | None:
    """Why a run directory cannot be trusted as its manifest describes it, or None: config.yaml must have the
    SHA-256 the manifest records, and the run files present must be exactly those it lists, with their sizes.
    (Manifests written before these records have neither; such runs are taken as they are.)"""
    run_dir = Path(run_dir)
    want = manifest.get("config_sha256")
    if want is not None:
        try:
            if sha256_file(run_dir / "config.yaml") != want:
                return "config.yaml is not the one the manifest records: it changed since the run wrote it (edited, cut short, or another run's)"
        except OSError:
            return "config.yaml is missing"
    files = manifest.get("files")
    if isinstance(files, dict):
        present = _file_sizes(run_dir)
        extra, missing = sorted(set(present) - set(files)), sorted(set(files) - set(present))
        if extra or missing:
            return (
                "files differ from the manifest's list ("
                + "; ".join(x for x in (f"not listed: {', '.join(extra)}" if extra else "", f"missing: {', '.join(missing)}" if missing else "") if x)
                + ")"
            )
        changed = sorted(n for n, size in present.items() if size != files[n])
        if changed:
            return f"files changed since the manifest was written: {', '.join(changed)}"
    return None


# --------------------------------------------------------------------------
# Output checks before the first run
# --------------------------------------------------------------------------
def existing_ancestor(path: str | Path) -> Path:
    """``path`` itself if it exists, or its nearest existing ancestor."""
    p = Path(os.path.abspath(path))
    while not (p.exists() or p.is_symlink()) and p != p.parent:
        p = p.parent
    return p


def _probe_write(directory: Path) -> None:
    """Create a file in ``directory`` and let it go; OSError if this process cannot. An unnamed file (O_TMPFILE, Linux)
    where the file system has them, so a process killed mid-check leaves nothing behind; else a named one, removed."""
    flag = getattr(os, "O_TMPFILE", 0)
    if flag:
        try:
            os.close(os.open(directory, flag | os.O_WRONLY, 0o600))
            return
        except OSError as ex:
            if ex.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                raise
    fd, name = tempfile.mkstemp(prefix=".write-check-", dir=directory)
    os.close(fd)
    os.unlink(name)


def check_writable(path: str | Path, key: str, shown: str | Path | None = None) -> Path:
    """``path`` (a directory, which may not exist yet) can be created and written: its nearest existing ancestor is a
    directory in which this process can create a file (tried, then removed). ConfigError naming ``key``, with the
    path (``shown`` if given), otherwise. Returns that ancestor."""
    shown = path if shown is None else shown
    probe = existing_ancestor(path)
    if not probe.is_dir():
        raise ConfigError(key, f"'{shown}' cannot be created: '{probe}' is not a directory; allowed: a path under a directory this user can write")
    try:
        _probe_write(probe)
    except OSError as ex:
        raise ConfigError(
            key, f"'{shown}' cannot be written ({ex.strerror} in '{probe}'); allowed: a path under a directory this user can write"
        ) from None
    return probe


def check_free_space(path: str | Path, key: str, need_bytes: float, what: str = "the run") -> None:
    """The disk of ``path`` has ``need_bytes`` free (``shutil.disk_usage``); ConfigError naming ``key`` with both numbers."""
    free = shutil.disk_usage(existing_ancestor(path)).free
    if free < need_bytes:
        raise ConfigError(
            key,
            f"'{path}' has {free / 1e6:,.1f} MB free and {what} need(s) about {need_bytes / 1e6:,.1f} MB; "
            "allowed: a disk with room, or fewer, shorter or smaller runs (output.firm_panel=false writes less)",
        )


MANY_RUNS = 10_000  # runs from which a command checks their count against the disk before listing them (check_run_count)


def check_run_count(path: str | Path, key: str, runs: int, what: str) -> None:
    """Before a command lists and composes its runs: the disk of ``path`` holds ``runs`` runs at the least a run writes
    (:data:`sim.config.sizes.BASE_DISK`, doubled as in :func:`check_output`). A count mistyped by orders of magnitude
    (``--seeds 100000000``) is one line at once, where building the job list took minutes or ran out of memory; the
    exact check (:func:`check_output`) follows once the runs are composed, and is quick below :data:`MANY_RUNS` runs, where
    it alone answers (so a read-only or missing ``path`` is named as such). ``what`` says where the count comes from."""
    from sim.config.sizes import BASE_DISK

    if runs < MANY_RUNS:
        return
    free = shutil.disk_usage(existing_ancestor(path)).free
    need = 2 * BASE_DISK * runs
    if free < need:
        raise ConfigError(
            key,
            f"'{path}' has {free / 1e6:,.1f} MB free and {runs:,} runs ({what}) need at least {need / 1e6:,.1f} MB; "
            "allowed: fewer runs, or a disk with room",
        )


def check_output(path: str | Path, key: str, cfgs: Sequence[Any], what: str | None = None) -> Path:
    """Before the first run of a command: ``path`` can be written and its disk holds every run of ``cfgs``
    (:func:`sim.config.sizes.run_bytes`, doubled while a run is written beside the one it replaces)."""
    from sim.config.sizes import run_bytes

    probe = check_writable(path, key)
    need = 2 * sum(run_bytes(c) for c in cfgs)
    check_free_space(path, key, need, what or (f"{len(cfgs)} runs" if len(cfgs) != 1 else "the run"))
    return probe
