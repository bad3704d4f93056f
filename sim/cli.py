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

# Hydra flags after which there is nothing to validate or run here (help, config printing, multirun handled per job).
_SKIP_PREFLIGHT = ("--help", "-h", "--hydra-help", "--cfg", "-c", "--info", "--multirun", "-m", "--shell-completion", "-sc",
                   "--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd", "--resolve", "--package", "-p",
                   "--run", "-r", "--version")


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


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not any(a.split("=")[0] in _SKIP_PREFLIGHT for a in argv):
        try:
            compose(argv)
        except ConfigError as err:
            fail(err)
    sys.argv = [sys.argv[0]] + argv
    hydra_main()
