"""Refusals of output paths, sizes, a reused --out and overwriting, as data (run by tests/test_io_cases.py).

One row per case: the command (``argv[0]`` is the module after ``python -m``: ``sim``, ``sim.experiment``,
``sim.validate``, ``sim.sensitivity``, ``sim.sweep``, ``sim.calibrate``, ``sim.explore``; or ``api:run`` / ``api:run_sweep``
for a call from Python, whose ConfigError counts as exit code 2), the expected exit code and a substring of
the one line the command prints (for an API call: of the ConfigError). Every case must also leave every file
that existed before it as it was and write nothing new.

Placeholders, made by the test before the cases run: ``{tmp}`` a scratch directory; ``{run}`` a directory
holding a complete run (years=2, seed 1); ``{junk}`` a non-empty directory that holds no run; ``{file}`` a
plain file; ``{exp}`` a tiny experiment's --out (experiment file ``{exp_file}``, years=2, seeds 1..2);
``{sweep}`` a sweep directory with one complete run; ``{ro}`` a read-only directory and ``{full}`` a
directory on a full disk (made where the machine allows: a read-only or tiny tmpfs mounted by the test, or
a chmod when not root; cases that need them are skipped with the reason otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class IoCase:
    id: str
    argv: tuple[str, ...]  # argv[0]: the module run with python -m, or api:run / api:run_sweep
    code: int  # the exit code (2: a user's mistake)
    line: str  # a substring of the one line printed (or of the ConfigError)
    needs: str = ""  # "ro" or "full": a read-only or full directory the test has to make first

    def param(self):
        return pytest.param(self, id=self.id)


SHORT = ("years=2", "progress=false")

IO_CASES: list[IoCase] = [
    # --- python -m sim: one run ---------------------------------------------------------------
    IoCase(
        "run-into-a-run", ("sim", "seed=2", *SHORT, "output.dir={run}"), 2, "'output.dir': '{run}' holds a run already (baseline seed 1, complete)"
    ),
    IoCase(
        "run-into-a-run-says-overwrite", ("sim", "seed=2", *SHORT, "output.dir={run}"), 2, "allowed: another output.dir, or output.overwrite=true"
    ),
    IoCase("run-into-a-non-run", ("sim", *SHORT, "output.dir={junk}"), 2, "'{junk}' is not empty and holds no run (notes.txt)"),
    IoCase("overwrite-a-non-run", ("sim", *SHORT, "output.dir={junk}", "output.overwrite=true"), 2, "is not empty and holds no run"),
    IoCase("run-into-a-file", ("sim", *SHORT, "output.dir={file}"), 2, "'output.dir': '{file}' exists and is not a directory"),
    IoCase("run-under-a-file", ("sim", *SHORT, "output.dir={file}/x"), 2, "'{file}/x' cannot be created: '{file}' is not a directory"),
    IoCase("run-under-dev-null", ("sim", *SHORT, "output.dir=/dev/null/x"), 2, "'/dev/null/x' cannot be created: '/dev/null' is not a directory"),
    IoCase(
        "root-under-a-file",
        ("sim", *SHORT, "output.root={file}/results"),
        2,
        "config error at 'output.root': '{file}/results/runs' cannot be created",
    ),
    IoCase("run-read-only", ("sim", *SHORT, "output.dir={ro}/x"), 2, "'output.dir': '{ro}/x' cannot be written", needs="ro"),
    IoCase("root-read-only", ("sim", *SHORT, "output.root={ro}"), 2, "'output.root': '{ro}/runs' cannot be written", needs="ro"),
    IoCase("run-on-a-full-disk", ("sim", *SHORT, "output.dir={full}/x"), 2, "MB free and the run need(s) about", needs="full"),
    IoCase("config-dir-missing", ("sim", "--config-dir", "{tmp}/nope", "+calibrated=best"), 2, "'--config-dir': '{tmp}/nope' is not a directory"),
    IoCase("config-dir-a-file", ("sim", "--config-dir={file}", "+calibrated=best"), 2, "'--config-dir': '{file}' is not a directory"),
    # --- sizes ----------------------------------------------------------------------------------
    IoCase("scale-too-small", ("sim", *SHORT, "world.scale=0.01"), 2, "'world.scale': 0.01 leaves stage 'mining' without firms"),
    IoCase("scale-too-small-names-the-lowest", ("sim", *SHORT, "world.scale=0.1"), 2, "allowed: world.scale above 0.125"),
    IoCase("scale-beyond-memory", ("sim", *SHORT, "world.scale=1e6"), 2, "of memory over 2 years; this machine has"),
    IoCase("scale-too-small-in-a-sweep", ("sim", "-m", *SHORT, "world.scale=1,0.05", "hydra.sweep.dir={tmp}/s"), 2, "'world.scale': 0.05 leaves"),
    IoCase(
        "scale-too-small-in-an-experiment",
        ("sim.experiment", "--experiment", "{exp_file}", "--out", "{tmp}/e", "world.scale=0.01"),
        2,
        "'world.scale'",
    ),
    IoCase("scale-api", ("api:run", "world.scale=0.001", *SHORT), 2, "without firms"),
    # --- python -m sim -m: a multirun -----------------------------------------------------------
    IoCase(
        "sweep-dir-under-a-file", ("sim", "-m", "seed=1,2", *SHORT, "hydra.sweep.dir={file}/s"), 2, "'hydra.sweep.dir': '{file}/s' cannot be created"
    ),
    IoCase(
        "sweep-dir-read-only",
        ("sim", "-m", "seed=1,2", *SHORT, "hydra.sweep.dir={ro}/s"),
        2,
        "'hydra.sweep.dir': '{ro}/s' cannot be written",
        needs="ro",
    ),
    IoCase(
        "sweep-root-read-only", ("sim", "-m", "seed=1,2", *SHORT, "output.root={ro}"), 2, "'output.root': '{ro}/sweeps' cannot be written", needs="ro"
    ),
    IoCase("sweep-on-a-full-disk", ("sim", "-m", "seed=1,2", *SHORT, "hydra.sweep.dir={full}/s"), 2, "need(s) about", needs="full"),
    IoCase(
        "sweep-no-workers",
        ("sim", "-m", "seed=1,2", *SHORT, "hydra/launcher=joblib", "hydra.launcher.n_jobs=0", "hydra.sweep.dir={tmp}/s"),
        2,
        "'hydra.launcher.n_jobs': must be a whole number other than 0",
    ),
    IoCase("api-sweep-under-a-file", ("api:run_sweep", "{file}/s", *SHORT), 2, "'sweep_dir': '{file}/s' cannot be created"),
    # --- python -m sim.experiment ---------------------------------------------------------------
    IoCase(
        "experiment-other-overrides",
        ("sim.experiment", "--experiment", "{exp_file}", "--out", "{exp}", "years=3"),
        2,
        "holds 4 run(s) of another design",
    ),
    IoCase(
        "experiment-fewer-seeds",
        ("sim.experiment", "--experiment", "{exp_file}", "--out", "{exp}", "--seeds", "1"),
        2,
        "holds 2 run(s) of another design",
    ),
    IoCase(
        "experiment-other-file", ("sim.experiment", "--experiment", "main", "--out", "{exp}", "--seeds", "1", "years=2"), 2, "allowed: another --out"
    ),
    IoCase("experiment-out-a-non-experiment", ("sim.experiment", "--experiment", "{exp_file}", "--out", "{junk}"), 2, "holds no experiment"),
    IoCase("experiment-out-a-file", ("sim.experiment", "--experiment", "{exp_file}", "--out", "{file}"), 2, "exists and is not a directory"),
    IoCase(
        "experiment-out-read-only",
        ("sim.experiment", "--experiment", "{exp_file}", "--out", "{ro}/e"),
        2,
        "'--out': '{ro}/e' cannot be written",
        needs="ro",
    ),
    IoCase("experiment-root-read-only", ("sim.experiment", "--experiment", "{exp_file}", "--root", "{ro}"), 2, "'--root'", needs="ro"),
    IoCase(
        "experiment-on-a-full-disk",
        ("sim.experiment", "--experiment", "{exp_file}", "--out", "{full}/e"),
        2,
        "MB free and 4 runs need(s)",
        needs="full",
    ),
    # --- python -m sim.validate, sim.sensitivity, sim.sweep table, sim.calibrate -----------------
    IoCase(
        "validate-out-read-only", ("sim.validate", "--seeds", "1", "--out", "{ro}/v.json"), 2, "'--out': '{ro}/v.json' cannot be written", needs="ro"
    ),
    IoCase("validate-out-a-directory", ("sim.validate", "--seeds", "1", "--out", "{junk}"), 2, "'{junk}' is a directory"),
    IoCase("validate-out-under-a-file", ("sim.validate", "--seeds", "1", "--out", "{file}/v.json"), 2, "'{file}' is not a directory"),
    IoCase(
        "sensitivity-out-read-only",
        ("sim.sensitivity", "morris", "--study", "quick", "--out", "{ro}/s"),
        2,
        "'--out': '{ro}/s' cannot be written",
        needs="ro",
    ),
    IoCase("sensitivity-out-a-file", ("sim.sensitivity", "morris", "--study", "quick", "--out", "{file}"), 2, "exists and is not a directory"),
    IoCase(
        "sensitivity-out-a-non-study", ("sim.sensitivity", "morris", "--study", "quick", "--out", "{junk}"), 2, "is not a sensitivity study directory"
    ),
    IoCase(
        "table-out-read-only",
        ("sim.sweep", "table", "{sweep}", "--out", "{ro}/t.parquet"),
        2,
        "--out: '{ro}/t.parquet' cannot be written",
        needs="ro",
    ),
    IoCase("calibrate-out-under-a-file", ("sim.calibrate", "--study", "quick", "--out", "{file}/c"), 2, "'--out': '{file}/c' cannot be created"),
    IoCase("calibrate-on-a-full-disk", ("sim.calibrate", "--study", "quick", "--out", "{full}/c"), 2, "need(s) about", needs="full"),
    # --- python -m sim.explore --------------------------------------------------------------------
    IoCase("explore-out-a-file", ("sim.explore", "run", "--study", "quick", "--out", "{file}"), 2, "'--out': {file} exists and is not a directory"),
    IoCase("explore-out-a-non-exploration", ("sim.explore", "run", "--study", "quick", "--out", "{junk}"), 2, "is not an exploration directory"),
    IoCase("explore-out-under-a-file", ("sim.explore", "run", "--study", "quick", "--out", "{file}/x"), 2, "'--out': '{file}/x' cannot be created"),
    IoCase(
        "explore-out-read-only", ("sim.explore", "run", "--study", "quick", "--out", "{ro}/x"), 2, "'--out': '{ro}/x' cannot be written", needs="ro"
    ),
    IoCase("explore-on-a-full-disk", ("sim.explore", "run", "--study", "quick", "--out", "{full}/x"), 2, "need(s) about", needs="full"),
    IoCase("explore-analyse-a-run", ("sim.explore", "analyse", "{run}"), 2, "is not an exploration directory"),
]
