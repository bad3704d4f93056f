"""Insolvency sale (finance.insolvency_sale; sim/engine/entry_exit.py sell_plants, docs/ODD.md 7.5).

A failing firm's operating plant that is worth running passes to a new firm free of the old debts; a plant that does
not cover its cash costs, or has no going-concern value, closes with its firm; with the lever off every plant closes.
Checked on one quarter of a laissez-faire run (no state groups to rescue anyone first).
"""

from __future__ import annotations

import numpy as np
import pytest
from _rule_helpers import fresh_config, one_quarter_model

from agents.firms import Phase, mothball, processing_cost
from sim.engine import entry_exit
from sim.engine.model import ChainModel

_BASE = fresh_config("years=2")


def _model(sale: bool = True) -> ChainModel:
    return one_quarter_model(_BASE, world__finance__insolvency_sale=sale)


def _running_plants(m: ChainModel, n: int) -> list[int]:
    """The n largest operating plants whose sales covered their variable cost this quarter and that have a going-concern
    value, largest first (the first of equals first)."""
    pop = m.pop
    covered = pop.revenue + pop.grants - pop.input_cost - pop.opex > 0
    rows = np.flatnonzero(pop.operating & (pop.capacity_t > 0) & covered & (pop.opex > 0))
    rows = rows[entry_exit.plant_value(m, rows) > 0]
    assert len(rows) >= n, f"{n} running plants needed to test on, {len(rows)} found"
    return [int(r) for r in rows[np.argsort(-pop.capacity_t[rows], kind="stable")[:n]]]


def _running_plant(m: ChainModel) -> int:
    """The largest of them (:func:`_running_plants`)."""
    return _running_plants(m, 1)[0]


def _fail(m: ChainModel, r: int) -> None:
    m.pop.cash[r] = -1.0  # insolvent
    m.pop.debt[r] = 1e4


def test_plant_value_is_the_annuity_of_expected_operating_cash_after_tax():
    m = _model()
    pop, T, E, w = m.pop, m.tables, m.investor_view, m.world
    r = _running_plant(m)
    b, s = pop.bloc[r], pop.stage[r]
    margin = E.price[b, s] - T.input_per_t[s] * E.input_price[b, s] - processing_cost(pop, T)[r]
    kt = pop.capacity_t[r] / 1000.0
    util = min(E.utilisation[b, s], w.markets.max_utilisation)
    cf = (margin * util * pop.quality[r] * kt - T.fixed_cost_share[b, s] * T.capex_musd_per_kt[b, s] * kt) * (1 - E.tax_rate[b])
    rate = E.discount_rate[b, s]
    want = cf * (1 - (1 + rate) ** -w.investment.horizon_years) / rate
    assert want > 0
    assert entry_exit.plant_value(m, np.array([r]))[0] == pytest.approx(want, rel=1e-12)
    E.price[b, s] = 0.0  # at no price the plant is worth nothing to a buyer (never negative)
    assert entry_exit.plant_value(m, np.array([r]))[0] == 0.0


def test_a_failing_plant_worth_running_passes_to_a_new_firm_free_of_debt():
    m = _model()
    pop, T, w = m.pop, m.tables, m.world
    r = _running_plant(m)
    _fail(m, r)
    value = min(entry_exit.plant_value(m, np.array([r]))[0], entry_exit.replacement_cost(m, np.array([r]))[0])  # the price paid
    plant = {c: np.copy(getattr(pop, c)[r]) for c in entry_exit.PLANT_COLUMNS}
    old_id, revenue, fixed_q, n_before = int(pop.firm_id[r]), float(pop.revenue[r]), float(pop.fixed_cost[r]), len(pop)
    entry_exit.exit_failing(m)
    assert pop.phase[r] == Phase.EXITED and pop.capacity_t[r] == 0.0
    assert len(pop) == n_before + 1
    new = n_before
    assert pop.firm_id[new] > old_id and pop.phase[new] == Phase.OPERATING
    for c, v in plant.items():
        np.testing.assert_array_equal(getattr(pop, c)[new], v, err_msg=c)
    assert pop.debt[new] == 0.0 and pop.tier[new] == 0 and pop.group[new] == -1 and not pop.state_owned[new]
    assert pop.book_assets[new] == pytest.approx(value) and pop.plant_life_left[new] == 1.0
    assert fixed_q == pytest.approx(
        T.fixed_cost_share[plant["bloc"], plant["stage"]] * T.capex_musd_per_kt[plant["bloc"], plant["stage"]] * plant["capacity_t"] / 4000.0
    )
    # the accounts' buffer and the working capital they will hold against the plant's sales: working_capital_share x
    # the quarter's revenue at an annual rate, as agents.firms.account ties up (a quarter's revenue before: the buyer
    # then had to borrow three-quarters of it in its first quarter, or failed)
    want_cash = w.finance.min_cash_quarters_of_fixed_cost * fixed_q + w.finance.working_capital_share * 4.0 * revenue
    assert pop.cash[new] == pytest.approx(want_cash)
    assert pop.equity_raised[new] == pytest.approx(value + want_cash)
    ev = m.recorder.events()
    sold = ev[ev["kind"] == "acquired"]
    assert list(sold["firm_id"]) == [int(pop.firm_id[new])] and sold["value"].iloc[0] == pytest.approx(value)
    assert ((ev["kind"] == "exit") & (ev["firm_id"] == old_id)).sum() == 1
    assert m.counters["acquired"].sum() == 1 and m.counters["exits"].sum() == 1


def test_a_plant_whose_sales_do_not_cover_their_variable_cost_closes():
    m = _model()
    r = _running_plant(m)
    _fail(m, r)
    m.pop.revenue[r] = 0.5 * (m.pop.input_cost[r] + m.pop.opex[r])  # sold below variable cost: the plant itself loses money
    n = len(m.pop)
    entry_exit.exit_failing(m)
    assert m.pop.phase[r] == Phase.EXITED and len(m.pop) == n and m.counters["acquired"].sum() == 0


def test_an_idle_plant_worth_running_is_sold():
    """A plant that sold nothing this quarter (idle: no revenue, no inputs, no processing) fails on its fixed costs and
    debts; a buyer who expects to run it at investors' expected prices still takes it."""
    m = _model()
    r = _running_plant(m)
    _fail(m, r)
    for col in ("revenue", "input_cost", "opex", "output_t"):
        getattr(m.pop, col)[r] = 0.0
    n = len(m.pop)
    entry_exit.exit_failing(m)
    assert m.pop.phase[r] == Phase.EXITED and len(m.pop) == n + 1 and m.counters["acquired"].sum() == 1


def test_a_plant_without_going_concern_value_closes():
    m = _model()
    r = _running_plant(m)
    _fail(m, r)
    m.investor_view.price[m.pop.bloc[r], m.pop.stage[r]] = 0.0
    n = len(m.pop)
    entry_exit.exit_failing(m)
    assert m.pop.phase[r] == Phase.EXITED and len(m.pop) == n


def test_with_the_lever_off_every_failing_plant_closes():
    m = _model(sale=False)
    r = _running_plant(m)
    _fail(m, r)
    n = len(m.pop)
    entry_exit.exit_failing(m)
    assert m.pop.phase[r] == Phase.EXITED and len(m.pop) == n and m.counters["acquired"].sum() == 0


@pytest.mark.parametrize("cap", [True, False])
def test_the_price_paid_is_at_most_a_new_plant_of_the_same_nameplate(cap):
    """finance.sale_at_most_replacement: a plant whose going-concern value exceeds what building its nameplate new would
    cost in its bloc (capex per kt x nameplate) is sold at that cost; off (the rule before), at its value."""
    m = _model()
    m.world.finance.sale_at_most_replacement = cap
    pop, T = m.pop, m.tables
    r = _running_plant(m)
    _fail(m, r)
    m.investor_view.price[pop.bloc[r], pop.stage[r]] *= 20.0  # investors expect a price that makes the plant worth more than new
    value = entry_exit.plant_value(m, np.array([r]))[0]
    new_cost = T.capex_musd_per_kt[pop.bloc[r], pop.stage[r]] * pop.capacity_t[r] / 1000.0
    assert value > new_cost
    n_before = len(pop)
    entry_exit.exit_failing(m)
    assert pop.book_assets[n_before] == pytest.approx(new_cost if cap else value, rel=1e-12)


def test_a_plant_on_care_and_maintenance_stays_there_under_its_buyer_and_its_glut_count_carries_on():
    """The plant's care and maintenance (``mothballed``) and the quarters its cash cost has gone uncovered
    (``uncovered_q``) pass with it: a buyer does not restart a mothballed plant the bloc's price does not cover, and a
    glut's count does not start again with the owner. Before (December 2026) both were reset by the sale, so a plant
    sold in a glut ran four more quarters at the cost floor (export_quota_2010 seed 1: the rest of the world's magnet
    index at its cost floor for 6 quarters, 2036-2037)."""
    m = _model()
    pop, T, mk = m.pop, m.tables, m.world.markets
    idle, glut = _running_plants(m, 2)
    pop.mothballed[idle] = True  # on care and maintenance: sells nothing, spends nothing on inputs or processing
    for col in ("revenue", "input_cost", "opex", "output_t"):
        getattr(pop, col)[idle] = 0.0
    pop.uncovered_q[glut] = mk.mothball_after_quarters - 1  # one quarter short of care and maintenance
    cap = (float(pop.capacity_t[idle]), float(pop.capacity_t[glut]))
    for r in (idle, glut):
        _fail(m, r)
    n = len(pop)
    entry_exit.exit_failing(m)
    assert len(pop) == n + 2 and m.counters["acquired"].sum() == 2
    new_row = {o: n + i for i, o in enumerate(sorted((idle, glut)))}  # buyers are added in the order of the failing rows
    new = {"idle": new_row[idle], "glut": new_row[glut]}
    assert all(pop.capacity_t[new[k]] == pop_cap for k, pop_cap in (("idle", cap[0]), ("glut", cap[1])))
    assert pop.mothballed[new["idle"]] and not pop.mothballed[new["glut"]]
    assert pop.uncovered_q[new["glut"]] == mk.mothball_after_quarters - 1
    # one more quarter below its cash cost takes the bought plant to care and maintenance, as it would have its seller
    shut, restart = mothball(pop, T, np.zeros((T.B, T.S)), mk.mothball_after_quarters, mk.mothball_fixed_cost_saved, mk.target_utilisation)
    assert new["glut"] in shut and new["idle"] not in restart


@pytest.mark.parametrize("share", [0.33, 1.0])
def test_a_mothballed_plant_sells_at_most_its_share_of_a_new_plant_and_a_running_one_at_the_cap(share):
    """finance.idle_sale_replacement_share: of two failing plants whose going-concern values exceed a new plant's cost,
    the one on care and maintenance is sold at that share of the cost, the running one at the cost itself (1: both at the
    cost, the rule before)."""
    m = _model()
    m.world.finance.idle_sale_replacement_share = share
    pop, T = m.pop, m.tables
    idle, running = _running_plants(m, 2)
    pop.mothballed[idle] = True
    for col in ("revenue", "input_cost", "opex", "output_t"):
        getattr(pop, col)[idle] = 0.0
    for r in (idle, running):
        m.investor_view.price[pop.bloc[r], pop.stage[r]] *= 20.0  # worth more than new, so both caps bind
        _fail(m, r)
    rows = np.array([idle, running])
    new_cost = T.capex_musd_per_kt[pop.bloc[rows], pop.stage[rows]] * pop.capacity_t[rows] / 1000.0
    assert (entry_exit.plant_value(m, rows) > new_cost).all()
    n = len(pop)
    entry_exit.exit_failing(m)
    new_row = {o: n + i for i, o in enumerate(sorted((idle, running)))}
    assert pop.book_assets[new_row[idle]] == pytest.approx(share * new_cost[0], rel=1e-12)
    assert pop.book_assets[new_row[running]] == pytest.approx(new_cost[1], rel=1e-12)
