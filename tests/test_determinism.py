"""Determinism: one seed fixes a run exactly (all draws come from the model's generator).

Same seed -> identical time series, firm panel, event log and summary, in the same process and
from a fresh process; different seeds differ; the order in which seeds run in one process and the
state of Python's and numpy's global generators do not matter.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _sim_helpers import make_config, run_dirs, run_sim
from pandas.testing import assert_frame_equal

from sim.engine.run import run

YEARS = 6


def _frames(result) -> dict[str, pd.DataFrame]:
    return {"timeseries": result.timeseries(), "firms": result.firms(), "events": result.events()}


def _summary(result) -> dict:
    s = dict(result.summary)
    s.pop("wall_time_s")  # the only field that may differ
    return s


def _run(seed: int, *overrides: str, years: int = YEARS):
    return run(make_config(f"seed={seed}", f"years={years}", *overrides))


def _assert_same_run(a, b, what: str = "") -> None:
    fa, fb = _frames(a), _frames(b)
    for name in fa:
        assert len(fa[name]) > 0, f"{name} is empty"
        assert_frame_equal(fa[name], fb[name], check_exact=True, obj=f"{what}{name}")
    assert _summary(a) == _summary(b)


@pytest.mark.parametrize("scenario", ["laissez_faire", "export_control_shock"])
def test_same_seed_twice_in_process_is_identical(scenario):
    # 12 years: the export control starts in 2025 Q2; without policy, entry is rare (0-3 entrants in the first 6 years
    # over seeds 1-10, 1-7 in 12 years), and the run should show firms entering
    years = 12
    a = _run(4, f"scenario={scenario}", years=years)
    b = _run(4, f"scenario={scenario}", years=years)
    _assert_same_run(a, b)
    # the run is not trivially constant: firms enter, exit and prices move
    ts = a.timeseries()
    assert ts["price_usd_per_kg"].nunique() > 10
    assert a.summary["entries"] > 0


def test_different_seeds_differ():
    a, b = _run(1), _run(2)
    ta, tb = a.timeseries(), b.timeseries()
    assert_frame_equal(ta[["quarter_index", "bloc", "stage"]], tb[["quarter_index", "bloc", "stage"]])
    for col in ("capacity_t", "output_t", "price_usd_per_kg", "revenue_musd"):
        assert not np.allclose(ta[col].to_numpy(), tb[col].to_numpy(), equal_nan=True), f"{col} is the same for seeds 1 and 2"
    assert not a.firms()["capacity_t"].equals(b.firms()["capacity_t"])
    assert _summary(a) != _summary(b)


def test_seed_order_and_global_generators_do_not_matter():
    """Seeds [1, 2] then [2, 1] in one process give identical per-seed results: no state leaks between runs,
    and reseeding or drawing from Python's and numpy's global generators changes nothing."""
    first = {seed: _run(seed) for seed in (1, 2)}
    random.seed(12345)
    np.random.seed(54321)
    random.random(), np.random.random(100)
    second = {seed: _run(seed) for seed in (2, 1)}
    for seed in (1, 2):
        _assert_same_run(first[seed], second[seed], what=f"seed {seed}: ")


def test_fresh_process_gives_identical_outputs(tmp_path):
    """``python -m sim`` in a new interpreter writes the same tables and summary as run() in this one."""
    overrides = ("seed=3", f"years={YEARS}", "progress=false")
    proc = run_sim(*overrides, f"output.root={tmp_path / 'cli'}", cwd=tmp_path / "work")
    assert proc.returncode == 0, proc.stderr[-3000:]
    (cli_dir,) = run_dirs(tmp_path / "cli")
    local = run(make_config(*overrides, root=tmp_path / "local"))
    for name, frame in _frames(local).items():
        from_cli = pd.read_parquet(cli_dir / f"{name}.parquet")
        assert_frame_equal(from_cli, pd.read_parquet(local.run_dir / f"{name}.parquet"), check_exact=True, obj=f"{name}.parquet")
        assert_frame_equal(from_cli, frame, check_exact=True, obj=f"{name} (in memory)")
    cli_summary = json.loads((cli_dir / "summary.json").read_text())
    cli_summary.pop("wall_time_s")
    assert cli_summary == json.loads(json.dumps(_summary(local)))


def _python(code: str, env_extra: dict[str, str | None]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("NPY_DISABLE_CPU_FEATURES", "NPY_ENABLE_CPU_FEATURES")}
    env.update({k: v for k, v in env_extra.items() if v is not None})
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_import_sim_first_switches_numpy_avx512_kernels_off():
    """`import sim` before numpy pins numpy's dispatch (README "Reproducibility"); numpy first keeps the
    machine's kernels, and a model built then warns (on a machine without AVX-512 there is nothing to warn of)."""
    from sim import NUMPY_DISABLED_FEATURES
    from sim.engine.numerics import active_kernels

    probe = "from sim.engine.numerics import avx512_active, active_kernels; print(avx512_active(), ' '.join(active_kernels()))"
    first = _python(f"import sim, numpy\n{probe}", {})
    assert first.returncode == 0, first.stderr
    assert first.stdout.split()[0] == "False", first.stdout
    assert not set(first.stdout.split()[1:]) & set(NUMPY_DISABLED_FEATURES.split())
    late = _python(
        "import numpy, warnings\nwarnings.simplefilter('error')\nfrom sim.engine.numerics import check_dispatch\n"
        "try:\n    print(check_dispatch())\nexcept RuntimeWarning as w:\n    print('warned', w)",
        {},
    )
    assert late.returncode == 0, late.stderr
    machine_has_avx512 = bool(
        set(NUMPY_DISABLED_FEATURES.split())
        & set(_python("import numpy\nfrom sim.engine.numerics import active_kernels; print(' '.join(active_kernels()))", {}).stdout.split())
    )
    assert late.stdout.startswith("warned" if machine_has_avx512 else "True"), late.stdout
    assert not set(active_kernels()) & set(NUMPY_DISABLED_FEATURES.split()), "this test process runs AVX-512 kernels"


def test_makefile_pins_the_same_kernels_as_the_package():
    from sim import NUMPY_DISABLED_FEATURES

    makefile = (Path(__file__).resolve().parent.parent / "Makefile").read_text()
    assert f"export NPY_DISABLE_CPU_FEATURES ?= {NUMPY_DISABLED_FEATURES}\n" in makefile
