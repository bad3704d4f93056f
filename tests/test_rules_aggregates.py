"""A quarter's aggregates read once and passed down (docs/ODD.md 7.7): the same bits as reading them at each use.

Investors' capacity, pipeline and committed pipeline (``investment.supply_now``) are read once after the projects
advance and passed to every use in the quarter's expectations and licensing; an insolvency sale reads the own-demand
share once for the plants' values and their slack; the recorder's sums over firms are taken in one pass
(``firm_sums``). Each on a handful of hand-made firms in a model before its first quarter.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from _rule_helpers import bloc, fresh_config, make_pop, stage, tables

from agents.firms import Phase, ProjectPhase
from sim.config import validate
from sim.engine import entry_exit, investment
from sim.engine.metrics import firm_sums
from sim.engine.model import ChainModel

T = tables()
CHINA, WEST = bloc(T, "china"), bloc(T, "west")
MINING, SEPARATION, METAL, MAGNET = (stage(T, s) for s in ("mining", "separation", "metal", "magnet"))


def _model() -> ChainModel:
    """West and China metal and magnet plants, two projects (one past its final investment decision, one in
    planning), an exited plant; China licenses 20% of its metal and magnet exports; quarter 0."""
    m = ChainModel(validate(fresh_config("years=1")))
    m.pop = make_pop(
        6,
        bloc=[WEST, WEST, WEST, CHINA, CHINA, WEST],
        stage=[METAL, MAGNET, MAGNET, METAL, MAGNET, SEPARATION],
        capacity_t=[1000.0, 10_000.0, 7000.0, 5000.0, 20_000.0, 3000.0],
        quality=[0.8, 1.0, 0.9, 1.0, 1.0, 1.0],
    )
    m.pop.proj_phase[0], m.pop.proj_nameplate_t[0], m.pop.proj_added_t[0] = ProjectPhase.CONSTRUCTION, 6000.0, 500.0
    m.pop.proj_phase[2], m.pop.proj_nameplate_t[2] = ProjectPhase.PLANNING, 4000.0
    m.pop.phase[5] = Phase.EXITED
    m.last_clearing = {}
    m.recorder.series["imports_t"] = [np.zeros((T.B, T.S))]
    m.markets.set_export_control("test", "china", ["metal", "magnet"], 0.2)
    m.world.investment.input_feasible_supply = True
    m.world.investment.pipeline_aware_prices = True
    m.sales_expected = np.full((T.B, T.S), 3000.0)
    m.quarter = 0
    return m


def _same(a, b) -> bool:
    """Whether two arrays (or None) hold the same bits."""
    if a is None or b is None:
        return a is None and b is None
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def test_supply_now_is_capacity_pipeline_and_committed_pipeline():
    m = _model()
    cap, pipe, committed = investment.supply_now(m)
    cap0, pipe0 = m.capacity_and_pipeline()
    assert _same(cap, cap0) and _same(pipe, pipe0) and _same(committed, m.committed_pipeline())
    assert committed[WEST, METAL] == 5500.0 and pipe[WEST, MAGNET] == 4000.0 and committed[WEST, MAGNET] == 0.0
    assert _same(investment.fed_nameplate(m), investment.fed_nameplate(m, cap, committed))


def test_expectations_with_the_quarters_supply_passed_down_are_those_read_at_each_use():
    for smooth_quarter in (-1, 0):  # sales within reach smoothed in the call, or already this quarter
        views = []
        for passed in (False, True):
            m = _model()
            m.sales_expected_quarter = smooth_quarter
            views.append(investment.expectations(m, investment.supply_now(m) if passed else None))
            views[-1] = (views[-1], m.sales_expected.copy(), m.input_feed)
        (read, sales_r, feed_r), (passed, sales_p, feed_p) = views
        for f in dataclasses.fields(read):
            assert _same(getattr(read, f.name), getattr(passed, f.name)), f.name
        assert _same(sales_r, sales_p) and all(_same(a, b) for a, b in zip(feed_r, feed_p))


def test_licence_room_with_the_quarters_supply_is_the_room_read_now():
    m = _model()
    cap, _, committed = investment.supply_now(m)
    m.instruments.output_cap_t = np.full((T.B, T.S), np.inf)
    m.instruments.output_cap_t[WEST, MAGNET] = 10.0  # t/yr: far below the plants' output
    room = investment.licence_room(m)
    assert _same(room, investment.licence_room(m, cap, committed))
    assert not room[WEST, MAGNET] and room[WEST, METAL]


def test_an_insolvency_sale_reads_the_own_demand_share_once_with_the_same_values():
    m = _model()
    m.investor_view = investment.expectations(m)
    m.world.finance.sale_values_own_demand = True
    rows = np.array([0, 1, 3])
    share = entry_exit.own_demand_share(m)
    assert share[WEST, METAL] > 0.0
    assert _same(entry_exit.plant_value(m, rows), entry_exit.plant_value(m, rows, share))
    assert _same(entry_exit.own_demand_price(m, m.investor_view), entry_exit.own_demand_price(m, m.investor_view, share))


def test_the_recorders_sums_equal_fresh_sums_over_their_selections():
    """The recorder's one-pass sums (``firm_sums``) are the bincount sums over each series' own selection of firms:
    stocks over the firms live at the end of the quarter, flows also over a firm that exited in it."""
    m = _model()
    pop = m.pop
    pop.output_t[:] = [10.0, 20.0, 0.0, 30.0, 40.0, 5.0]
    pop.unit_cost_usd_per_kg[:] = [3.0, 40.0, 41.0, 2.5, 35.0, 20.0]
    pop.phase[5], pop.exit_step[5] = Phase.EXITED, m.quarter  # exited in this quarter: its flows count, its stocks not
    pop.mothballed[1] = True
    sums = firm_sums(m)
    fresh = lambda v, sel: T.bs_sum(pop.bloc[sel], pop.stage[sel], v[sel])  # noqa: E731
    live, op = pop.alive, pop.operating
    in_q = pop.live_in(m.quarter)
    assert _same(sums["capacity_t"], fresh(pop.capacity_t, live & op))
    assert _same(sums["mothballed_t"], fresh(pop.capacity_t, live & op & pop.mothballed))
    assert _same(sums["firms"], fresh(np.ones(len(pop)), live & op))
    assert _same(sums["output_t"], fresh(pop.output_t, in_q))
    assert _same(sums["unit_cost_x_output"], fresh(pop.unit_cost_usd_per_kg * pop.output_t, in_q))
    assert sums["capacity_t"][WEST, SEPARATION] == 0.0  # the exited plant is not live
    assert sums["output_t"][WEST, SEPARATION] == 5.0  # but it produced in the quarter it left
    assert sums["capacity_t"][WEST, MAGNET] == 17_000.0 and sums["mothballed_t"][WEST, MAGNET] == 10_000.0
    assert sums["pipeline_t"][WEST, METAL] == 5500.0 and sums["pipeline_t"][WEST, MAGNET] == 4000.0
