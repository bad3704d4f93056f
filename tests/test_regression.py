"""Seeded regression baseline of summary outputs (tests/baseline/).

Reruns the baseline configuration for every seed with a file tests/baseline/summary_seed<N>.json
and compares every summary scalar: floats within 1e-9 relative, ints, strings and nulls exactly.
When a change is meant to change model results, regenerate the baseline on purpose with
``python tests/baseline/regenerate.py`` (see its docstring) and say why in the commit message.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parent / "baseline" / "regenerate.py"
_spec = importlib.util.spec_from_file_location("baseline_regenerate", _PATH)
baseline = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = baseline
_spec.loader.exec_module(baseline)

SEEDS = baseline.baseline_seeds()
MAX_LISTED = 40


def test_baseline_files_exist():
    assert set(baseline.SEEDS) <= set(SEEDS), f"missing baseline files; create them with {baseline.COMMAND}"
    for seed in SEEDS:
        doc = json.loads(baseline.baseline_path(seed).read_text())
        assert doc["seed"] == seed and doc["values"], baseline.baseline_path(seed)
        assert doc["values"]["seed"] == seed and doc["values"]["scenario"] == "baseline"  # the default scenario


def test_numpy_runs_the_portable_kernels():
    """The test process computes what machines without AVX-512 compute (sim pins numpy's dispatch);
    otherwise the baseline below would pass on one kind of CPU and fail on the other."""
    assert baseline.portable(), "numpy was imported before sim with AVX-512 kernels active (see sim/engine/numerics.py)"


@pytest.mark.parametrize("seed", SEEDS)
def test_summary_matches_the_seeded_baseline(seed):
    expected = baseline.load(seed)
    actual = baseline.compute(seed)
    diffs = baseline.compare(expected, actual)
    if diffs:
        listed = "\n  ".join(diffs[:MAX_LISTED]) + (f"\n  ... and {len(diffs) - MAX_LISTED} more" if len(diffs) > MAX_LISTED else "")
        pytest.fail(
            f"summary of seed {seed} differs from {baseline.baseline_path(seed).relative_to(baseline.PROJECT_ROOT)} "
            f"in {len(diffs)} of {len(expected)} values:\n  {listed}\n"
            f"If this change of model results is intended, regenerate the baseline on purpose:\n"
            f"    {baseline.COMMAND}\n"
            f"and say why in the commit message. Otherwise the change broke something.",
            pytrace=False,
        )


def test_baseline_pins_the_headline_outcomes():
    """The flattened summary covers the timelines and shares the model exists to report."""
    values = baseline.load(baseline.SEEDS[0])
    for key in (
        "years_to_first_output.west.magnet",
        "years_to_independence.china.magnet",
        "self_sufficiency_final.west.mining",
        "price_final_usd_per_kg.west.magnet",
        "shares.2030.china.magnet.capacity",
        "max_shortage_share.west",
        "firms_final.china",
        "entries",
        "exits",
        "years",
        "start_year",
    ):
        assert key in values, key
    assert "wall_time_s" not in values
    assert values["years"] == 30


def test_comparison_is_strict_enough_to_fail():
    """The comparer flags real changes and tolerates only float noise below 1e-9 relative."""
    same, compare = baseline.same, baseline.compare
    assert same(1.0, 1.0 + 1e-12) and same(0.0, 0.0) and same(None, None) and same(3, 3) and same("a", "a")
    assert not same(1.0, 1.0 + 1e-7)
    assert not same(None, 0.0) and not same(0.0, None)
    assert not same(3, 4) and not same(3, 3.5)
    assert not same("laissez_faire", "export_control_shock")
    base = {"a": 1.0, "b": None, "c": 2}
    assert compare(base, dict(base)) == []
    assert compare(base, {**base, "a": 1.001}) == ["a: baseline 1.0, now 1.001"]
    assert compare(base, {"a": 1.0, "c": 2, "d": 5}) == ["b: missing now (baseline None)", "d: new key (now 5)"]
    assert baseline.flatten({"x": {"y": 1, "z": {"w": None}}, "e": {}}) == {"x.y": 1, "x.z.w": None, "e": {}}
