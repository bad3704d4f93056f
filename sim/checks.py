"""ConfigError and the checks every configuration schema uses: the world and policy schemas
(sim.config) and the scenario events' own parameters (scenarios.events). The bottom of the import
layers: it imports nothing of the project, so the scenarios can use it while sim.config checks them.
Also the two wordings every command shares: a YAML parse error as one line (:func:`yaml_problem`) and a
whole-number option (:func:`whole_number`, argparse's ``type=``)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable


class ConfigError(ValueError):
    """A user mistake in the configuration; the message is one line."""

    def __init__(self, key: str, problem: str):
        self.key = key
        self.problem = problem
        super().__init__(f"config error at '{key}': {problem}" if key else f"config error: {problem}")

    def __reduce__(self):
        """Picklable with its key and problem: a worker process's config error reaches the parent whole."""
        return type(self), (self.key, self.problem)


def check_number(key: str, value: Any, meta: dict) -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(key, f"must be a finite number, got {value}")
        lo, hi = meta.get("min"), meta.get("max")
        if lo is not None and value < lo:
            raise ConfigError(key, f"must be >= {lo}, got {value}")
        if hi is not None and value > hi:
            raise ConfigError(key, f"must be <= {hi}, got {value}")


def check_fields(obj: Any, prefix: str) -> None:
    """Walk a dataclass tree and apply the range metadata of every field."""
    for fld in dataclasses.fields(obj):
        key = f"{prefix}.{fld.name}" if prefix else fld.name
        value = getattr(obj, fld.name)
        meta = dict(fld.metadata)
        if dataclasses.is_dataclass(value):
            check_fields(value, key)
        elif isinstance(value, dict):
            for k, v in value.items():
                if dataclasses.is_dataclass(v):
                    check_fields(v, f"{key}.{k}")
        elif isinstance(value, list):
            if meta.get("pair"):
                if len(value) != 2:
                    raise ConfigError(key, f"must be a [low, high] pair, got {value}")
                if value[0] > value[1]:
                    raise ConfigError(key, f"low must not exceed high, got {value}")
            for i, v in enumerate(value):
                if dataclasses.is_dataclass(v):
                    check_fields(v, f"{key}[{i}]")
                else:
                    check_number(f"{key}[{i}]", v, meta)
        else:
            check_number(key, value, meta)


def require_name(key: str, name: Any, allowed: list[str], what: str) -> None:
    if name not in allowed:
        raise ConfigError(key, f"unknown {what} '{name}'; allowed: {', '.join(map(str, allowed)) or '(none defined)'}")


def omegaconf_error(ex: Exception, prefix: str = "", unknown_key: Callable[[str], ConfigError] | None = None) -> ConfigError:
    """Turn an OmegaConf/Hydra exception into a one-line ConfigError (keys below ``prefix``).
    ``unknown_key(key)`` words the error for a key the schema lacks (sim.config lists the allowed keys)."""
    key = getattr(ex, "full_key", None) or ""
    key = f"{prefix}.{key}" if prefix and key else (key or prefix)
    msg = str(ex).strip().splitlines()[0] if str(ex).strip() else type(ex).__name__
    name = type(ex).__name__
    if name == "ConfigKeyError" or "not in struct" in msg or "Key '" in msg and "not in" in msg:
        return unknown_key(key) if unknown_key else ConfigError(key, "unknown key")
    if name == "MissingMandatoryValue":
        return ConfigError(key, "a value is required and none was given")
    value = getattr(ex, "value", None)
    if "is not a ListConfig, list or tuple" in msg:
        return ConfigError(key, f"must be a list such as [1, 2], got {value!r}")
    if "is not Optional" in msg:
        return ConfigError(key, "must not be null (None): a value is required here")
    return ConfigError(key, msg)


def yaml_problem(ex: Exception) -> str:
    """A YAML parse error as one line: ``line N, column M: <problem>`` (PyYAML's marked errors), else its first line."""
    mark = getattr(ex, "problem_mark", None) or getattr(ex, "context_mark", None)
    problem = getattr(ex, "problem", None) or (str(ex).strip().splitlines() or [type(ex).__name__])[0]
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark is not None else problem


def shown(value) -> str:
    """A value as a one-line message shows it: its repr, cut short at 80 characters."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def path_argument(value, key: str, what: str):
    """A path a Python caller passes for ``key``, as a ``Path``: a non-empty str or a path-like, else one ConfigError
    saying ``what`` it must be (an empty string was the working folder, None or a number a TypeError from pathlib)."""
    import os
    from pathlib import Path

    if not isinstance(value, (str, os.PathLike)) or isinstance(value, str) and not value.strip():
        raise ConfigError(key, f"must be {what} (a non-empty str or Path), got {shown(value)}")
    return Path(value)


def read_text(path, key: str) -> str:
    """The text of a file a user names at ``key`` (an option, an argument): one ConfigError naming it when it cannot be
    read or is not UTF-8 (it was a UnicodeDecodeError or OSError traceback)."""
    from pathlib import Path

    try:
        data = Path(path).read_bytes()
    except OSError as ex:
        raise ConfigError(key, f"{path} cannot be read ({ex.strerror or ex}); allowed: a readable file") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as ex:
        line = data[: ex.start].count(b"\n") + 1
        raise ConfigError(
            key, f"{path} is not UTF-8 text (byte 0x{data[ex.start]:02x} on line {line}); allowed: UTF-8 text (save the file as UTF-8)"
        ) from None


def read_yaml_list(path, option: str, key: str, example: str, missing: str = "", items: str = "a list of mappings") -> list:
    """The list under ``key`` of a YAML file named by a command's ``option`` (a targets or history file), or one
    ConfigError naming the option: a directory, a missing file (``missing``: what to say beside it), invalid YAML, or no
    list of mappings there (``items``: how the message names what is wanted). The caller checks the items."""
    import yaml

    if path.is_dir():
        raise ConfigError(option, f"{path} is a directory; give a file such as {example}")
    if not path.is_file():
        raise ConfigError(option, f"file not found: {path}{missing}")
    try:
        data = yaml.safe_load(read_text(path, option))
    except yaml.YAMLError as ex:
        raise ConfigError(option, f"{path} is not valid YAML: {yaml_problem(ex)}") from None
    found = data.get(key) if isinstance(data, dict) else None
    if not isinstance(found, list) or not all(isinstance(x, dict) for x in found):
        raise ConfigError(option, f"{path} must hold '{key}:', {items}")
    return found


def whole_number(text: str) -> int:
    """argparse ``type=`` of a whole-number option: ``--seeds abc`` is one line naming the option and the value."""
    import argparse

    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got '{text}'") from None
