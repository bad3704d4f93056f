"""Rules that carry scarcity along the chain and bound an importing bloc's price (docs/ODD.md 7.1, 7.4).

- markets.shortage_moves_whole_price: excess demand moves the whole price, a glut only the margin
  (sim.engine.prices.moving_base);
- markets.import_parity: an importing bloc's index reverts to, and may fall to, the landed price of
  uncontrolled imports (sim.engine.prices.import_parity);
- a state price floor that covers a producer's unit cost removes the cost floor of its index
  (sim.engine.prices.cost_floor) and lets investors expect to sell what they make
  (sim.engine.investment.floor_covered_utilisation);
- investment.netback_share: while final buyers are short, upstream investors expect part of the downstream
  netback (sim.engine.investment.with_netback).
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.engine.investment import floor_covered_utilisation, with_netback
from sim.engine.markets import update_price
from sim.engine.prices import cost_floor, import_parity, moving_base
from tests._sim_helpers import make_config

RULE = dict(kappa=0.3, target_utilisation=0.85, max_change=0.15)


def _quarter(price, input_cost, short, whole):
    """One quarter of a thin-margin stage's index with ``short`` of its buyers' demand unmet (utilisation at target)."""
    base = moving_base(price, input_cost, 8 * price, short, True, whole)
    return base + update_price(price - base, 0.85, short, -np.inf, 8 * price - base, **RULE)


# -- moving_base -------------------------------------------------------------------------------------------------


def test_a_glut_moves_only_the_margin():
    assert moving_base(62.0, 55.0, 500.0, -0.2, True, True) == 55.0
    assert moving_base(62.0, 55.0, 500.0, -0.2, True, False) == 55.0


def test_a_shortage_moves_the_whole_price_with_the_lever():
    assert moving_base(62.0, 55.0, 500.0, 0.3, True, True) == 0.0
    assert moving_base(62.0, 55.0, 500.0, 0.3, True, False) == 55.0  # lever off: the margin rule as before


def test_the_whole_price_moves_without_the_margin_rule_or_below_the_input_cost():
    assert moving_base(62.0, 55.0, 500.0, -0.2, False, True) == 0.0
    assert moving_base(50.0, 55.0, 500.0, -0.2, True, True) == 0.0  # price below its input cost
    assert moving_base(62.0, 0.0, 500.0, -0.2, True, True) == 0.0  # a stage without input


def test_a_downstream_shortage_lifts_a_thin_margin_stage_at_the_rules_speed():
    """Metal at 62 USD/kg on 55 USD/kg of oxide, 60% of its buyers short: one quarter raises the whole price by the
    clip (15%) with the lever, only 15% of the 7 USD/kg margin without it."""
    whole = _quarter(62.0, 55.0, 0.6, True)
    margin = _quarter(62.0, 55.0, 0.6, False)
    assert whole == pytest.approx(62.0 * 1.15)
    assert margin == pytest.approx(55.0 + 7.0 * 1.15)
    assert whole - 62.0 > 8 * (margin - 62.0)


def test_a_glut_takes_the_same_path_with_or_without_the_lever():
    assert _quarter(62.0, 55.0, 0.0, True) == _quarter(62.0, 55.0, 0.0, False)  # at target: still
    low = [moving_base(62.0, 55.0, 500.0, -0.3, True, w) for w in (True, False)]
    assert low[0] == low[1] == 55.0


# -- import parity --------------------------------------------------------------------------------------------------


def test_import_parity_below_every_plants_cost_replaces_the_cost_floor():
    floor, normal, at_parity = import_parity(30.0, 40.0, 25.0)
    assert (floor, normal, at_parity) == (25.0, 25.0, True)


def test_import_parity_above_the_cost_floor_caps_only_the_long_run_price():
    assert import_parity(30.0, 40.0, 35.0) == (30.0, 35.0, False)
    assert import_parity(30.0, 40.0, 45.0) == (30.0, 40.0, False)


def test_without_uncontrolled_imports_nothing_changes():
    assert import_parity(30.0, 40.0, np.inf) == (30.0, 40.0, False)
    assert import_parity(-np.inf, np.nan, 20.0)[0] == -np.inf  # no producer: no floor to replace


def test_an_index_at_import_parity_keeps_falling_only_to_parity():
    floor, normal, _ = import_parity(30.0, 40.0, 25.0)
    p = 32.0
    for _ in range(40):  # idle suppliers (utilisation 0.3): the index falls, at most to parity
        p = update_price(p, 0.3, 0.0, floor, 400.0, **RULE, normal=normal, reversion=0.05)
    assert p == pytest.approx(25.0)


# -- state price floors ----------------------------------------------------------------------------------------------


def test_a_covering_state_floor_removes_the_cost_floor():
    costs = np.array([60.0, 80.0])
    assert cost_floor(costs, 0.0) == 60.0
    assert cost_floor(costs, 50.0) == 60.0  # a floor below every cost covers nobody
    assert cost_floor(costs, 110.0) == 0.0


def test_floor_covered_plants_expect_to_sell_what_they_make():
    util = np.array([[0.3, 0.2], [0.4, 0.5]])
    floor = np.array([[0.0, 110.0], [0.0, 30.0]])
    unit = np.array([[50.0, 60.0], [50.0, 60.0]])
    out = floor_covered_utilisation(util, floor, unit, 0.95)
    np.testing.assert_array_equal(out, [[0.3, 0.95], [0.4, 0.5]])


# -- netback ---------------------------------------------------------------------------------------------------------


def _chain():
    """Two blocs, three stages: input per t 0, 5, 0.3; normal prices with input at 3 and 45 USD/kg."""
    ipt = np.array([0.0, 5.0, 0.3])
    inp = np.array([[0.0, 3.0, 45.0]] * 2)
    normal = np.array([[3.0, 45.0, 50.0]] * 2)
    return ipt, inp, normal


def test_netback_leaves_prices_alone_when_no_bloc_is_short():
    ipt, inp, normal = _chain()
    price = np.array([[3.0, 45.0, 200.0]] * 2)
    out = with_netback(price, normal, inp, ipt, np.array([False, False]), 0.5)
    np.testing.assert_array_equal(out, price)


def test_a_downstream_price_at_its_long_run_level_passes_nothing_upstream():
    ipt, inp, normal = _chain()
    out = with_netback(normal.copy(), normal, inp, ipt, np.array([True, True]), 0.5)
    np.testing.assert_allclose(out, normal)


def test_a_downstream_boom_raises_upstream_expectations_in_the_short_bloc_only():
    ipt, inp, normal = _chain()
    price = np.array([[3.0, 45.0, 80.0], [3.0, 45.0, 80.0]])  # magnets 30 USD/kg above their long-run price
    out = with_netback(price, normal, inp, ipt, np.array([False, True]), 0.5)
    np.testing.assert_array_equal(out[0], price[0])
    # oxide: netback 45 + 30 / 0.3 = 145, half the gap of 100; ore: netback 3 + (95 - 45) / 5 = 13, half the gap of 10
    assert out[1, 1] == pytest.approx(95.0)
    assert out[1, 0] == pytest.approx(8.0)
    assert out[1, 2] == 80.0


def test_a_price_above_its_netback_stays():
    ipt, inp, normal = _chain()
    price = np.array([[20.0, 120.0, 40.0]] * 2)  # oxide netback 45 - 10 / 0.3 = 11.7, ore netback 3 + 75 / 5 = 18
    out = with_netback(price, normal, inp, ipt, np.array([True, True]), 1.0)
    np.testing.assert_array_equal(out, price)


# -- in a run --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("years", [13])
def test_an_export_control_lifts_the_western_metal_price_faster_with_whole_price_scarcity(years):
    """Under export_controls_full Western magnet makers are short of metal: with the lever the West's metal index is
    higher two years into the control than with the margin-only rule."""
    from sim.engine.run import run

    def metal_price(whole: bool) -> float:
        cfg = make_config(
            "scenario=export_controls_full", "seed=1", f"years={years}", f"world.markets.shortage_moves_whole_price={str(whole).lower()}"
        )
        m = run(cfg).model
        return float(m.markets.price[m.tables.blocs.index("west"), m.tables.stages.index("metal")])

    assert metal_price(True) > 1.2 * metal_price(False)
