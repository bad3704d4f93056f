"""Scrapping long-idle plants (markets.scrap_after_mothballed_quarters; sim/engine/entry_exit.py scrapped_plants,
agents/firms.py mothball, docs/ODD.md 7.7).

A plant on care and maintenance counts its quarters there (``idle_q``); when the count reaches the set number the plant
is scrapped and its firm exits, whether or not it is failing (a failing firm's plant due for scrapping is not sold).
The count restarts at 0 when the plant restarts and passes with the plant in a sale. 0: never (the rule before).
With ``markets.scrap_spread_quarters`` each plant draws its own count when it goes on care and maintenance
(``scrap_q``, entry_exit.draw_scrap_counts).
Checked on one quarter of a short run.
"""

from __future__ import annotations

import numpy as np
import pytest
from _rule_helpers import fresh_config, one_quarter_model

from agents.firms import Phase, mothball
from sim.engine import clearing, entry_exit
from sim.engine.model import ChainModel

_BASE = fresh_config("years=2")


def _model(after: int = 8) -> ChainModel:
    return one_quarter_model(_BASE, world__markets__scrap_after_mothballed_quarters=after)


def _operating(m: ChainModel, n: int) -> list[int]:
    """Up to n operating plants not on care and maintenance (at least 2), in row order."""
    rows = np.flatnonzero(m.pop.operating & (m.pop.capacity_t > 0) & ~m.pop.mothballed)
    assert len(rows) >= min(n, 3)
    return [int(r) for r in rows[:n]]


def _idle(m: ChainModel, r: int, quarters: int) -> None:
    pop = m.pop
    pop.mothballed[r] = True
    pop.idle_q[r] = quarters
    for col in ("revenue", "input_cost", "opex", "output_t"):
        getattr(pop, col)[r] = 0.0


def _log(m: ChainModel):
    T = m.tables
    return m.event_log.frame(list(T.blocs), list(T.stages), m.world.start_year)


def test_mothball_counts_quarters_on_care_and_maintenance_and_a_restart_clears_the_count():
    m = _model()
    pop, T, mk = m.pop, m.tables, m.world.markets
    rows = _operating(m, len(pop))
    a = rows[0]
    b, c = [r for r in rows if (pop.bloc[r], pop.stage[r]) != (pop.bloc[a], pop.stage[a])][:2]
    _idle(m, a, 5)
    _idle(m, b, 5)
    price = np.full((T.B, T.S), 1e6)  # covers every cash cost: every mothballed plant restarts
    price[pop.bloc[a], pop.stage[a]] = 0.0  # except in a's bloc-stage
    mothball(pop, T, price, mk.mothball_after_quarters, mk.mothball_fixed_cost_saved, mk.target_utilisation)
    assert pop.mothballed[a] and pop.idle_q[a] == 6
    assert not pop.mothballed[b] and pop.idle_q[b] == 0
    assert not pop.mothballed[c] and pop.idle_q[c] == 0


@pytest.mark.parametrize("quarters, scrapped", [(7, False), (8, True), (30, True)])
def test_a_plant_idle_for_the_set_quarters_is_scrapped_and_its_firm_exits(quarters, scrapped):
    m = _model(after=8)
    pop = m.pop
    r, other = _operating(m, 2)
    _idle(m, r, quarters)
    cap, n = float(pop.capacity_t[r]), len(pop)
    entry_exit.exit_failing(m)
    assert len(pop) == n, "a scrapped plant is not sold"
    assert (pop.phase[r] == Phase.EXITED) == scrapped
    assert pop.phase[other] == Phase.OPERATING
    exits = _log(m)
    mine = exits[(exits.kind == "exit") & (exits.firm_id == pop.firm_id[r])]
    if scrapped:
        assert pop.capacity_t[r] == 0.0 and list(mine.detail) == ["scrapped"] and mine.value.iloc[0] == pytest.approx(cap)
    else:
        assert pop.capacity_t[r] == cap and mine.empty


def test_a_failing_firms_plant_due_for_scrapping_is_scrapped_not_sold_and_one_not_due_is_sold():
    m = _model(after=8)
    pop = m.pop
    m.world.finance.idle_sale_replacement_share = 1.0
    due, young = _operating(m, 2)
    _idle(m, due, 8)
    _idle(m, young, 3)
    pop.scrap_q[young] = 17
    for r in (due, young):
        m.investor_view.price[pop.bloc[r], pop.stage[r]] *= 20.0  # worth buying
        pop.cash[r], pop.debt[r] = -1.0, 1e4  # insolvent
    n, cap = len(pop), float(pop.capacity_t[young])
    entry_exit.exit_failing(m)
    assert len(pop) == n + 1, "one buyer: for the plant not yet due"
    assert pop.mothballed[n] and pop.capacity_t[n] == cap > 0
    assert pop.idle_q[n] == 3 and pop.scrap_q[n] == 17, "the count and the count it is scrapped at pass with the plant"
    log = _log(m)
    why = dict(zip(log[log.kind == "exit"].firm_id, log[log.kind == "exit"].detail))
    assert why[pop.firm_id[due]] == "scrapped" and why[pop.firm_id[young]] == "insolvent"


def test_with_zero_nothing_is_scrapped():
    m = _model(after=0)
    pop = m.pop
    r = _operating(m, 1)[0]
    _idle(m, r, 400)
    entry_exit.exit_failing(m)
    assert pop.phase[r] == Phase.OPERATING and pop.capacity_t[r] > 0


def _spread_model(after: int = 8, spread: int = 3) -> ChainModel:
    return one_quarter_model(_BASE, world__markets__scrap_after_mothballed_quarters=after, world__markets__scrap_spread_quarters=spread)


def test_with_a_spread_the_plants_a_price_fall_idles_draw_their_counts_within_it():
    m = _spread_model(after=8, spread=3)
    pop, mk = m.pop, m.world.markets
    rows = np.flatnonzero(pop.operating & pop.qualified & ~pop.mothballed & (pop.capacity_t > 0))
    assert len(rows) >= 20
    pop.uncovered_q[rows] = mk.mothball_after_quarters  # a quarter more below cost sends them all to care and maintenance
    m.markets.price[:] = 0.0
    clearing._offer(m)
    shut = np.flatnonzero(pop.mothballed)
    assert set(rows) <= set(shut)
    drawn = pop.scrap_q[rows]
    assert drawn.min() >= 5 and drawn.max() <= 11, "within 3 quarters either side of 8"
    assert len(np.unique(drawn)) > 1, "plants idled together are not all scrapped together"


@pytest.mark.parametrize("idle, scrapped", [(11, False), (12, True)])
def test_with_a_spread_a_plant_is_scrapped_at_its_own_count(idle, scrapped):
    m = _spread_model(after=8, spread=6)
    pop = m.pop
    r = _operating(m, 1)[0]
    _idle(m, r, idle)
    pop.scrap_q[r] = 12
    entry_exit.exit_failing(m)
    assert (pop.phase[r] == Phase.EXITED) == scrapped


def test_without_a_spread_nothing_is_drawn_and_every_plant_counts_to_the_set_number():
    m = _spread_model(after=8, spread=0)
    pop = m.pop
    r, s = _operating(m, 2)
    state = m.scrap_rng.bit_generator.state
    entry_exit.draw_scrap_counts(m, np.array([r, s]))
    assert m.scrap_rng.bit_generator.state == state and pop.scrap_q[r] == pop.scrap_q[s] == 0
    _idle(m, r, 8)
    _idle(m, s, 7)
    pop.scrap_q[r] = pop.scrap_q[s] = 7  # ignored without a spread
    entry_exit.exit_failing(m)
    assert pop.phase[r] == Phase.EXITED and pop.phase[s] == Phase.OPERATING
