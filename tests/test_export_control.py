"""Export control (scenarios/export_control.py, MODEL.md 5.1 and 5.9): paired runs with common random numbers.

Each controlled run is compared with the run of the same seed without the event; both are
identical before the control starts (2017 Q1 = quarter 8 here). The world has three blocs: the West
also imports magnets from the rest of the world, which the control does not touch, so what the
licence limits is read from the flows between China and the West (``Spied.flow``), not from the
West's total imports.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import pytest
from _rule_helpers import fresh_config

import sim.engine.clearing as clearing_mod
import sim.engine.metrics as metrics_mod
from sim.engine.run import RunResult, run

YEARS = 5
L = 0.2
START_Q = 8  # 2017.0 with start_year 2015
CHINA, WEST, REST_OF_WORLD, MAGNET = 0, 1, 2, 3


def _ec(start=2017, end="null", share=L, delay=0, stages="[magnet]"):
    return (
        f"+scenario.events.ec={{kind:export_control,start_year:{start},end_year:{end},exporter:china,"
        f"stages:{stages},licensed_share:{share},licence_delay_quarters:{delay}}}"
    )


class Spied(NamedTuple):
    """A run with what the spies saw: the clearings under an export licence and, per quarter, the tonnes each
    bloc's buyers ordered from (``ordered``) and were delivered by (``delivered``) each bloc's suppliers, arrays
    (quarter, supplier bloc, buyer bloc, stage)."""

    result: RunResult
    calls: list
    ordered: np.ndarray
    delivered: np.ndarray

    def flow(self, what: str = "delivered", origin: int = CHINA, buyer: int = WEST, stage: int = MAGNET) -> np.ndarray:
        """Quarterly tonnes of ``stage`` from ``origin``'s suppliers to ``buyer``'s buyer classes."""
        return getattr(self, what)[:, origin, buyer, stage]


def _ordered_between_blocs(m) -> np.ndarray:
    """(supplier bloc, buyer bloc, stage) tonnes the quarter's clearings allocated (orders), like trade_t for deliveries."""
    B, S = m.tables.B, m.tables.S
    out = np.zeros((B, B, S))
    for s, cl in m.last_clearing.items():
        sup_bloc = m.pop.bloc[cl.suppliers]
        for b in range(B):
            out[:, b, s] = np.bincount(sup_bloc, weights=cl.alloc[cl.class_bloc == b].sum(axis=0), minlength=B)
    return out


def _run_spied(*overrides) -> Spied:
    """Run and record every market clearing that had an export licence in force, and each quarter's orders and
    deliveries between blocs (taken where the recorder builds its trade series)."""
    calls, ordered, delivered = [], [], []
    real = clearing_mod.allocate
    real_trade = metrics_mod.trade_series

    def spy(demand, avail, pref, rounds, supplier_bloc=None, licensed=None, **kw):
        res = real(demand, avail, pref, rounds, supplier_bloc, licensed, **kw)
        if licensed is not None:
            calls.append((np.array(demand), np.array(avail), np.array(pref), np.array(supplier_bloc), np.array(licensed), res))
        return res

    def trade_spy(m):
        series, trade_t = real_trade(m)
        ordered.append(_ordered_between_blocs(m))
        delivered.append(trade_t.copy())
        return series, trade_t

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(clearing_mod, "allocate", spy)  # the markets clear in sim.engine.clearing
        mp.setattr(metrics_mod, "trade_series", trade_spy)  # called once a quarter by the recorder
        result = run(fresh_config(f"years={YEARS}", *overrides))
    assert list(result.model.tables.blocs) == ["china", "west", "rest_of_world"]  # CHINA, WEST, REST_OF_WORLD
    assert len(delivered) == YEARS * 4  # one per recorded quarter: row q is quarter_index q
    return Spied(result, calls, np.array(ordered), np.array(delivered))


def _series(result, var, bloc="west", stage="magnet"):
    ts = result.timeseries()
    return ts[(ts.bloc == bloc) & (ts.stage == stage)].set_index("quarter_index")[var].to_numpy()


@pytest.fixture(scope="module")
def base():
    return _run_spied()


@pytest.fixture(scope="module")
def controlled():
    return _run_spied(_ec())


def test_runs_identical_before_the_control(base, controlled):
    a, b = base.result.timeseries(), controlled.result.timeseries()
    before_a, before_b = a[a.quarter_index < START_Q], b[b.quarter_index < START_Q]
    pd.testing.assert_frame_equal(before_a.reset_index(drop=True), before_b.reset_index(drop=True))
    after_a, after_b = a[a.quarter_index == START_Q], b[b.quarter_index == START_Q]
    assert not after_a.reset_index(drop=True).equals(after_b.reset_index(drop=True))


def test_control_flag_on_from_start(controlled):
    flag = _series(controlled.result, "export_controlled", bloc="china")
    np.testing.assert_array_equal(flag, [0.0] * START_Q + [1.0] * (YEARS * 4 - START_Q))
    for stage in ("mining", "separation", "metal"):
        assert (_series(controlled.result, "export_controlled", bloc="china", stage=stage) == 0).all()
    assert (_series(controlled.result, "export_controlled", bloc="west") == 0).all()


def test_first_controlled_quarter_imports_at_most_licensed_share_of_uncontrolled(base, controlled):
    """In the first controlled quarter both runs start from the same state: the West's magnet orders on China's
    suppliers are at most the licensed share of what the same seed orders there without the control, and the
    West is delivered at most what it ordered. The licence is a share of purchases (docs/ODD.md 7.2): deliveries
    are not compared with the uncontrolled run's, since China's magnet plants, selling less abroad, are less
    short of metal and fill a larger share of their orders."""
    ord0, ord1 = base.flow("ordered")[START_Q], controlled.flow("ordered")[START_Q]
    imp1 = controlled.flow()[START_Q]
    assert ord0 > 0
    assert ord1 <= L * ord0 * (1 + 1e-9)
    assert ord1 > 0.5 * L * ord0  # the licensed share is granted, not everything refused
    assert 0 < imp1 <= ord1 * (1 + 1e-9)


def test_imports_fall_during_control(base, controlled):
    imp0 = _series(base.result, "imports_t")
    imp1 = _series(controlled.result, "imports_t")
    assert (imp1[START_Q:] < 0.5 * imp0[START_Q:]).all()
    assert (imp1[START_Q:] > 0).all()


def test_every_controlled_clearing_respects_the_licence(controlled):
    """Each quarter, a West class obtains from China's suppliers at most the licensed share of its
    first-round would-be purchase there (the rule of markets.allocate, checked inside the model)."""
    calls = controlled.calls
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
    p0 = _series(base.result, "price_usd_per_kg")
    p1 = _series(controlled.result, "price_usd_per_kg")
    np.testing.assert_array_equal(p0[:START_Q], p1[:START_Q])
    assert (p1[START_Q:] > p0[START_Q:]).all()
    assert p1[-1] > 1.5 * p0[-1]  # the gap widens while the control lasts


def test_importer_shortage_under_control(base, controlled):
    s0 = _series(base.result, "shortage_t")
    s1 = _series(controlled.result, "shortage_t")
    assert (s1[START_Q:] > s0[START_Q:]).all()


def test_licence_delay_blocks_all_exports_first():
    """No licence is granted during the delay: China exports no magnets to any bloc, then the West imports the
    licensed share from China (docs/ODD.md 7.2)."""
    delay = 2
    spied = _run_spied(_ec(delay=delay))
    imp = spied.flow()  # West magnets from China
    assert imp[START_Q - 1] > 0
    np.testing.assert_array_equal(imp[START_Q : START_Q + delay], 0.0)
    np.testing.assert_array_equal(_series(spied.result, "exports_t", bloc="china")[START_Q : START_Q + delay], 0.0)
    assert (imp[START_Q + delay :] > 0).all()
    shares = [lic[lic < 1].max() for *_, lic, _ in spied.calls]
    assert shares[:delay] == [0.0] * delay and all(s == pytest.approx(L) for s in shares[delay:])


def test_zero_licensed_share_blocks_all_exports():
    """A zero licence stops China's magnet exports to every bloc; the West's magnet imports that remain come
    from the rest of the world, which the control does not touch."""
    spied = _run_spied(_ec(share=0.0))
    np.testing.assert_array_equal(spied.flow()[START_Q:], 0.0)
    np.testing.assert_array_equal(spied.flow("ordered")[START_Q:], 0.0)
    np.testing.assert_array_equal(_series(spied.result, "exports_t", bloc="china")[START_Q:], 0.0)
    from_row = spied.flow(origin=REST_OF_WORLD)[START_Q:]
    assert (from_row > 0).all()
    np.testing.assert_allclose(_series(spied.result, "imports_t")[START_Q:], from_row, rtol=1e-12)


def test_end_year_ends_the_control(base, controlled):
    """Control from 2017 to 2018: quarters 8-11 controlled, flows resume from quarter 12."""
    spied = _run_spied(_ec(end=2018))
    ended, calls = spied.result, spied.calls
    end_q = 12
    flag = _series(ended, "export_controlled", bloc="china")
    np.testing.assert_array_equal(flag, [0.0] * START_Q + [1.0] * (end_q - START_Q) + [0.0] * (YEARS * 4 - end_q))
    assert len(calls) == end_q - START_Q
    assert ended.model.markets.licensed_share(3, np.array([0, 1])) is None
    imp_end = _series(ended, "imports_t")
    imp_on = _series(controlled.result, "imports_t")
    imp_base = _series(base.result, "imports_t")
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
