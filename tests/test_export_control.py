"""Export control (scenarios/export_control.py, MODEL.md 5.1 and 5.9): paired runs with common random numbers.

Each controlled run is compared with the run of the same seed without the event; both are
identical before the control starts (2017 Q1 = quarter 8 here).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _rule_helpers import fresh_config

import sim.engine.clearing as clearing_mod
from sim.engine.run import run

YEARS = 5
L = 0.2
START_Q = 8  # 2017.0 with start_year 2015


def _ec(start=2017, end="null", share=L, delay=0, stages="[magnet]"):
    return (
        f"+scenario.events.ec={{kind:export_control,start_year:{start},end_year:{end},exporter:china,"
        f"stages:{stages},licensed_share:{share},licence_delay_quarters:{delay}}}"
    )


def _run_spied(*overrides):
    """Run and record every market clearing that had an export licence in force."""
    calls = []
    real = clearing_mod.allocate

    def spy(demand, avail, pref, rounds, supplier_bloc=None, licensed=None):
        res = real(demand, avail, pref, rounds, supplier_bloc, licensed)
        if licensed is not None:
            calls.append((np.array(demand), np.array(avail), np.array(pref), np.array(supplier_bloc), np.array(licensed), res))
        return res

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(clearing_mod, "allocate", spy)  # the markets clear in sim.engine.clearing
        result = run(fresh_config(f"years={YEARS}", *overrides))
    return result, calls


def _series(result, var, bloc="west", stage="magnet"):
    ts = result.timeseries()
    return ts[(ts.bloc == bloc) & (ts.stage == stage)].set_index("quarter_index")[var].to_numpy()


@pytest.fixture(scope="module")
def base():
    return run(fresh_config(f"years={YEARS}"))


@pytest.fixture(scope="module")
def controlled():
    return _run_spied(_ec())


def test_runs_identical_before_the_control(base, controlled):
    a, b = base.timeseries(), controlled[0].timeseries()
    before_a, before_b = a[a.quarter_index < START_Q], b[b.quarter_index < START_Q]
    pd.testing.assert_frame_equal(before_a.reset_index(drop=True), before_b.reset_index(drop=True))
    after_a, after_b = a[a.quarter_index == START_Q], b[b.quarter_index == START_Q]
    assert not after_a.reset_index(drop=True).equals(after_b.reset_index(drop=True))


def test_control_flag_on_from_start(controlled):
    flag = _series(controlled[0], "export_controlled", bloc="china")
    np.testing.assert_array_equal(flag, [0.0] * START_Q + [1.0] * (YEARS * 4 - START_Q))
    for stage in ("mining", "separation", "metal"):
        assert (_series(controlled[0], "export_controlled", bloc="china", stage=stage) == 0).all()
    assert (_series(controlled[0], "export_controlled", bloc="west") == 0).all()


def test_first_controlled_quarter_imports_at_most_licensed_share_of_uncontrolled(base, controlled):
    """In the first controlled quarter both runs start from the same state: West magnet imports from
    China are at most the licensed share of what the same seed imports without the control."""
    imp0 = _series(base, "imports_t")
    imp1 = _series(controlled[0], "imports_t")
    assert imp0[START_Q] > 0
    assert imp1[START_Q] <= L * imp0[START_Q] * (1 + 1e-9)
    assert imp1[START_Q] > 0.5 * L * imp0[START_Q]  # the licensed share is granted, not everything refused


def test_imports_fall_during_control(base, controlled):
    imp0 = _series(base, "imports_t")
    imp1 = _series(controlled[0], "imports_t")
    assert (imp1[START_Q:] < 0.5 * imp0[START_Q:]).all()
    assert (imp1[START_Q:] > 0).all()


def test_every_controlled_clearing_respects_the_licence(controlled):
    """Each quarter, a West class obtains from China's suppliers at most the licensed share of its
    first-round would-be purchase there (the rule of markets.allocate, checked inside the model)."""
    _, calls = controlled
    assert len(calls) == YEARS * 4 - START_Q  # one controlled stage, every quarter from the start
    for demand, avail, pref, sup_bloc, licensed, res in calls:
        w = pref * avail[None, :]
        tot = w.sum(axis=1, keepdims=True)
        desired = np.divide(w, tot, out=np.zeros_like(w), where=tot > 0) * demand[:, None]
        for k in range(len(demand)):
            for b in range(licensed.shape[1]):
                if licensed[k, b] < 1.0:
                    would = desired[k, sup_bloc == b].sum()
                    got = res.alloc[k, sup_bloc == b].sum()
                    assert got <= licensed[k, b] * would + 1e-9
        china_classes = licensed[:, 0] == 1.0
        assert china_classes.any() and (licensed[~china_classes, 0] == L).all()


def test_importer_price_higher_under_control(base, controlled):
    p0 = _series(base, "price_usd_per_kg")
    p1 = _series(controlled[0], "price_usd_per_kg")
    np.testing.assert_array_equal(p0[:START_Q], p1[:START_Q])
    assert (p1[START_Q:] > p0[START_Q:]).all()
    assert p1[-1] > 1.5 * p0[-1]  # the gap widens while the control lasts


def test_importer_shortage_under_control(base, controlled):
    s0 = _series(base, "shortage_t")
    s1 = _series(controlled[0], "shortage_t")
    assert (s1[START_Q:] > s0[START_Q:]).all()


def test_licence_delay_blocks_all_exports_first():
    delay = 2
    result, calls = _run_spied(_ec(delay=delay))
    imp = _series(result, "imports_t")
    assert imp[START_Q - 1] > 0
    np.testing.assert_array_equal(imp[START_Q : START_Q + delay], 0.0)
    assert (imp[START_Q + delay :] > 0).all()
    shares = [lic[lic < 1].max() for *_, lic, _ in calls]
    assert shares[:delay] == [0.0] * delay and all(s == pytest.approx(L) for s in shares[delay:])


def test_zero_licensed_share_blocks_all_exports():
    result, _ = _run_spied(_ec(share=0.0))
    np.testing.assert_array_equal(_series(result, "imports_t")[START_Q:], 0.0)
    np.testing.assert_array_equal(_series(result, "exports_t", bloc="china")[START_Q:], 0.0)


def test_end_year_ends_the_control(base, controlled):
    """Control from 2017 to 2018: quarters 8-11 controlled, flows resume from quarter 12."""
    ended, calls = _run_spied(_ec(end=2018))
    end_q = 12
    flag = _series(ended, "export_controlled", bloc="china")
    np.testing.assert_array_equal(flag, [0.0] * START_Q + [1.0] * (end_q - START_Q) + [0.0] * (YEARS * 4 - end_q))
    assert len(calls) == end_q - START_Q
    assert ended.model.markets.licensed_share(3, np.array([0, 1])) is None
    imp_end = _series(ended, "imports_t")
    imp_on = _series(controlled[0], "imports_t")
    imp_base = _series(base, "imports_t")
    np.testing.assert_array_equal(imp_end[:end_q], imp_on[:end_q])  # identical while both are in force
    assert (imp_end[end_q:] > 2 * imp_on[end_q:]).all()
    assert (imp_end[end_q:] > 0.5 * imp_base[end_q:]).all()


def test_export_control_scenario_file_composes_and_runs():
    cfg = fresh_config("scenario=export_control_shock", "years=11")
    assert cfg.scenario.name == "export_control_shock"
    ev = cfg.scenario.events["licensing_2025"]
    assert ev["kind"] == "export_control" and ev["exporter"] == "china"
    result = run(cfg)
    q0 = 41  # 2025.25
    for stage in ev["stages"]:
        flag = _series(result, "export_controlled", bloc="china", stage=stage)
        np.testing.assert_array_equal(flag, [0.0] * q0 + [1.0] * (44 - q0))
    # licence delay of one quarter: no controlled exports from China in 2025 Q2, the licensed share after
    for stage in ev["stages"]:
        assert _series(result, "exports_t", bloc="china", stage=stage)[q0] == 0.0
    for stage in ("metal", "magnet"):  # stages China exports in this world
        exports = _series(result, "exports_t", bloc="china", stage=stage)
        assert exports[q0 - 1] > 0 and 0 < exports[q0 + 1] < exports[q0 - 1]
    assert "licensing_2025" in result.summary["shocks"]
