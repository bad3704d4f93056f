"""Command line: ``python -m sim [overrides]`` runs one simulation (a Hydra app).

Before Hydra runs, the overrides are composed and validated once, so that a
user mistake ends with one line naming the key and what is allowed, exit code
2, and nothing written under results/.
"""

from __future__ import annotations

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from sim.config import CONF_DIR, ConfigError, compose, register_configs, to_config

register_configs()

# Hydra flags after which there is nothing to validate or run here (help, config printing, ...).
_SKIP_PREFLIGHT = ("--help", "-h", "--hydra-help", "--cfg", "-c", "--info", "--shell-completion", "-sc",
                   "--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd", "--resolve", "--package", "-p",
                   "--run", "-r", "--version")
_MULTIRUN = ("--multirun", "-m")


def fail(err: ConfigError) -> None:
    print(f"error: {err}", file=sys.stderr)
    sys.exit(2)


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def hydra_main(dcfg: DictConfig) -> None:
    from sim.run import run, summary_table

    try:
        cfg = to_config(dcfg)
    except ConfigError as err:
        fail(err)
    try:
        overrides = list(HydraConfig.get().overrides.task)
    except ValueError:
        overrides = []
    result = run(cfg, overrides=overrides)
    print(summary_table(result))


def sweep_variants(overrides: list[str]) -> list[list[str]]:
    """Override lists that together use every value of every enumerable sweep at least once.

    The first list takes the first value of each sweep; each further list changes one sweep
    to one of its other values. Interval sweeps (continuous) are checked at both ends.
    Raises ConfigError for overrides that do not parse.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    parsed = []
    for text in overrides:
        try:
            parsed.extend(parser.parse_overrides([text]))
        except HydraException as ex:
            raise ConfigError(text.split("=", 1)[0], f"cannot parse '{text}': {str(ex).strip().splitlines()[0]}") from None
    custom_sweeper = any(t.startswith("hydra/sweeper=") for t in overrides)
    values: list[list[str]] = []
    for text, o in zip(overrides, parsed):
        prefix = text[: len(text) - len(text.lstrip("+~"))]
        key = f"{prefix}{o.key_or_group}" + (f"@{o.package}" if o.package else "")
        if not o.is_sweep_override():
            values.append([text])
            continue
        try:
            options = [str(v) for v in o.sweep_string_iterator()]
        except Exception:  # noqa: BLE001 - interval and glob sweeps are not enumerable
            sweep = o.value()
            if hasattr(sweep, "start") and not custom_sweeper:
                raise ConfigError(o.key_or_group, "interval(...) needs an optimisation sweeper (hydra/sweeper=...); "
                                  "Hydra's basic sweeper takes lists (a,b,c), range(start,stop,step) and choice(...)") from None
            options = [str(getattr(sweep, "start", "")), str(getattr(sweep, "end", ""))] if hasattr(sweep, "start") else []
        values.append([f"{key}={v}" for v in options] or [])
    first = [opts[0] if opts else None for opts in values]  # one slot per override (None: nothing to check)
    variants = [first]
    for i, opts in enumerate(values):
        for v in opts[1:]:
            variants.append(first[:i] + [v] + first[i + 1:])
    return [[o for o in variant if o is not None] for variant in variants]


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not any(a.split("=")[0] in _SKIP_PREFLIGHT for a in argv):
        overrides = [a for a in argv if a not in _MULTIRUN]
        try:
            variants = sweep_variants(overrides)  # also reports an override that does not parse, with its key
            for variant in (variants if len(overrides) < len(argv) else [overrides]):
                compose(variant)
        except ConfigError as err:
            fail(err)
    sys.argv = [sys.argv[0]] + argv
    hydra_main()
