"""Investors counting supply at what it can sell (``investment.sellable_supply``, docs/ODD.md 7.7): a plant still
ramping up to specification sells capacity x quality (agents.firms.set_potential), so investors count it so, and the
committed pipeline at a new plant's quality of its bloc-stage. Off (the default): nameplate, the rule before. On a
handful of hand-made firms in a model before its first quarter (tests/test_rules_aggregates.py's fixture)."""

from __future__ import annotations

import numpy as np
from test_rules_aggregates import CHINA, MAGNET, METAL, WEST, _model, _same

from sim.engine import investment


def test_off_investors_count_nameplate():
    m = _model()
    cap, pipe, committed = investment.supply_now(m)
    cap0, pipe0, committed0 = m.supply()
    assert _same(cap, cap0) and _same(pipe, pipe0) and _same(committed, committed0)


def test_on_a_ramping_plant_counts_at_its_quality_and_the_pipeline_at_a_new_plants():
    m = _model()
    m.world.investment.sellable_supply = True
    T = m.tables
    cap, pipe, committed = investment.supply_now(m)
    assert cap[WEST, METAL] == 1000.0 * 0.8  # quality 0.8
    assert cap[WEST, MAGNET] == 10_000.0 + 7000.0 * 0.9
    assert cap[CHINA, MAGNET] == 20_000.0  # at specification: as nameplate
    assert committed[WEST, METAL] == 5500.0 * T.new_plant_quality[WEST, METAL]
    assert pipe[WEST, MAGNET] == 4000.0 * T.new_plant_quality[WEST, MAGNET]
    cap0, _, _ = m.supply()
    assert (cap <= cap0).all()


def test_on_a_bloc_whose_plants_ramp_up_expects_more_of_its_sales_uncovered():
    """The same sales within reach: the West's metal stage, a plant at quality 0.8 and a project at a new plant's
    quality, leaves more to new plants (expected utilisation of capacity and pipeline higher) when counted as sold."""
    views = []
    for on in (False, True):
        m = _model()
        m.world.investment.input_feasible_supply = False
        m.world.investment.sellable_supply = on
        m.sales_expected[WEST, METAL] = 1000.0  # t a quarter: below what capacity and pipeline can sell either way
        m.sales_expected_quarter = m.quarter  # smoothed already this quarter
        views.append(investment.expectations(m))
    off, on = views
    assert on.utilisation[WEST, METAL] > off.utilisation[WEST, METAL]
    assert on.utilisation[CHINA, MAGNET] == off.utilisation[CHINA, MAGNET]  # plants at specification, no pipeline


def test_licence_room_counts_quality_once():
    room = []
    for on in (False, True):
        m = _model()
        m.world.investment.sellable_supply = on
        m.instruments.output_cap_t = np.full((m.tables.B, m.tables.S), np.inf)
        mu = m.world.markets.max_utilisation
        m.instruments.output_cap_t[WEST, MAGNET] = (10_000.0 + 7000.0 * 0.9) * mu * 1.001  # just above the sellable output
        room.append(investment.licence_room(m)[WEST, MAGNET])
    assert room == [True, True]
