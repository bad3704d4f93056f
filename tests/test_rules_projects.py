"""Unit tests of the investment rules (MODEL.md 5.4-5.5): agents.investment on a handful of firms."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from _rule_helpers import bloc, fresh_config, make_pop, stage, tables

from agents.firms import Phase, ProjectPhase, account, set_potential
from agents.investment import (
    Expectations,
    advance_projects,
    entrants,
    finance_gate,
    lead_years,
    phase_quarters,
    profitability_index,
    project_reserve,
    start_projects,
)

# Fixed phase durations (years) so that quarters can be counted.
FIXED = (
    "world.blocs.west.stages.magnet.planning_years=[1.0,1.0]",
    "world.blocs.west.stages.magnet.permitting_years=[0.5,0.5]",
    "world.blocs.west.stages.magnet.construction_years=[1.0,1.0]",
    "world.blocs.west.stages.magnet.rampup_years=[1.0,1.0]",
    "world.blocs.west.stages.magnet.qualification_years=[0.75,0.75]",
    "world.blocs.west.stages.mining.planning_years=[0.25,0.25]",
    "world.blocs.west.stages.mining.permitting_years=[2.0,2.0]",
    "world.blocs.west.stages.mining.construction_years=[2.0,2.0]",
    "world.blocs.west.stages.mining.rampup_years=[0.5,0.5]",
    "world.finance.financing_max_wait_years=1.0",
)


@pytest.fixture(scope="module")
def cfg():
    return fresh_config(*FIXED)


@pytest.fixture(scope="module")
def T():
    return tables(*FIXED)


def _pi(pop, value):
    return np.full(len(pop), float(value))


def _simulate(pop, T, fin, rows, nameplate, greenfield, quarters, pi=1.0, min_pi=0.0):
    """Quarter 0: commit; each later quarter: advance then the finance gate (the model's order)."""
    rng = np.random.default_rng(0)
    start_projects(pop, rows, T, rng, 0, nameplate, greenfield)
    phases, caps, quality, qualified = [pop.proj_phase.copy()], [pop.capacity_t.copy()], [pop.quality.copy()], [pop.qualified.copy()]
    for q in range(1, quarters):
        advance_projects(pop, T, q)
        finance_gate(pop, T, rng, _pi(pop, pi), min_pi, fin, np.zeros(len(pop)))
        phases.append(pop.proj_phase.copy())
        caps.append(pop.capacity_t.copy())
        quality.append(pop.quality.copy())
        qualified.append(pop.qualified.copy())
    return np.array(phases), np.array(caps), np.array(quality), np.array(qualified)


def _quarters_in(phases, phase):
    return int((phases == phase).sum())


# ---------------------------------------------------------------------------
# Phases and durations
# ---------------------------------------------------------------------------
def test_greenfield_magnet_project_passes_every_phase(T, cfg):
    """West magnet greenfield: planning 4 q, permitting 2 q, financing 0 q (funded at once), construction 4 q,
    ramp-up 4 q, qualification 3 q, then no project; the plant operates from the end of construction."""
    b, s = bloc(T, "west"), stage(T, "magnet")
    pop = make_pop(1, bloc=b, stage=s, phase=Phase.PROJECT, capacity_t=0.0, qualified=False, quality=0.6, cash=1e4)
    phases, caps, quality, qualified = _simulate(pop, T, cfg.world.finance, np.array([0]), 2000.0, True, 24)
    seq = phases[:, 0]
    expected = (
        [ProjectPhase.PLANNING] * 4
        + [ProjectPhase.PERMITTING] * 2
        + [ProjectPhase.CONSTRUCTION] * 4
        + [ProjectPhase.RAMPUP] * 4
        + [ProjectPhase.QUALIFICATION] * 3
        + [ProjectPhase.NONE] * 7
    )
    np.testing.assert_array_equal(seq, expected)
    # the plant starts operating when construction completes, at new-plant quality, not yet qualified
    first_ramp = int(np.argmax(seq == ProjectPhase.RAMPUP))
    assert pop.phase[0] == Phase.OPERATING
    assert quality[first_ramp, 0] == pytest.approx(T.new_plant_quality[b, s])
    qualified_from = first_ramp + 4 + 3  # after ramp-up and qualification
    assert not qualified[:qualified_from, 0].any()
    assert qualified[qualified_from:, 0].all()
    # capacity comes on line in four equal steps totalling the nameplate
    steps = np.diff(caps[:, 0])
    np.testing.assert_allclose(steps[steps > 0], [500.0] * 4)
    assert caps[-1, 0] == pytest.approx(2000.0)
    assert pop.proj_added_t[0] == pytest.approx(2000.0)


def test_unqualified_new_magnet_plant_offers_nothing(T, cfg):
    b, s = bloc(T, "west"), stage(T, "magnet")
    pop = make_pop(1, bloc=b, stage=s, phase=Phase.PROJECT, capacity_t=0.0, qualified=False, cash=1e4, unit_cost_usd_per_kg=1.0)
    rng = np.random.default_rng(0)
    start_projects(pop, np.array([0]), T, rng, 0, np.array([1000.0]), True)
    price = np.full((T.B, T.S), 1e3)
    offered = []
    for q in range(1, 24):
        advance_projects(pop, T, q)
        finance_gate(pop, T, rng, _pi(pop, 1.0), 0.0, cfg.world.finance, np.zeros(1))
        set_potential(pop, T, 1.0, price)
        offered.append((pop.proj_phase[0], pop.capacity_t[0], pop.potential_t[0]))
    for ph, cap, pot in offered:
        if ph in (ProjectPhase.RAMPUP, ProjectPhase.QUALIFICATION):
            assert cap > 0 and pot == 0.0
    assert offered[-1][2] > 0  # qualified: it sells


def test_brownfield_mining_expansion_durations_and_capacity(T, cfg):
    """West mining expansion: planning 1 q, permitting 8 q (the 2-year override), construction 8 q,
    ramp-up 2 q; no qualification; existing capacity stays and the nameplate is added."""
    b, s = bloc(T, "west"), stage(T, "mining")
    pop = make_pop(1, bloc=b, stage=s, capacity_t=5000.0, cash=1e4)
    phases, caps, _, qualified = _simulate(pop, T, cfg.world.finance, np.array([0]), 3000.0, False, 24)
    seq = phases[:, 0]
    assert _quarters_in(seq, ProjectPhase.PLANNING) == 1
    assert _quarters_in(seq, ProjectPhase.PERMITTING) == 8
    assert _quarters_in(seq, ProjectPhase.FINANCING) == 0
    assert _quarters_in(seq, ProjectPhase.CONSTRUCTION) == 8
    assert _quarters_in(seq, ProjectPhase.RAMPUP) == 2
    assert _quarters_in(seq, ProjectPhase.QUALIFICATION) == 0
    assert seq[-1] == ProjectPhase.NONE
    np.testing.assert_allclose(np.diff(caps[:, 0])[np.diff(caps[:, 0]) > 0], [1500.0, 1500.0])
    assert caps[-1, 0] == pytest.approx(8000.0)
    assert qualified.all()


BROWNFIELD = (
    "world.investment.brownfield_planning_factor=0.5",
    "world.investment.brownfield_permitting_factor=0.25",
    "world.investment.brownfield_construction_factor=0.5",
)


def test_brownfield_factors_shorten_an_expansion_not_a_new_plant(cfg):
    """With investment.brownfield_*_factor an expansion of an operating plant takes those shares of planning (0.25 y x 0.5
    rounds to 0 q), permitting (8 q -> 2 q) and construction (8 q -> 4 q); ramp-up is unchanged (2 q) and the nameplate
    is added as before. A greenfield mine of the same bloc and stage keeps every duration."""
    T = tables(*FIXED, *BROWNFIELD)
    fin = cfg.world.finance
    b, s = bloc(T, "west"), stage(T, "mining")
    pop = make_pop(1, bloc=b, stage=s, capacity_t=5000.0, cash=1e4)
    phases, caps, _, _ = _simulate(pop, T, fin, np.array([0]), 3000.0, False, 24)
    seq = phases[:, 0]
    assert seq[0] == ProjectPhase.PLANNING  # committed this quarter; the zero-length planning ends at the next advance
    assert _quarters_in(seq, ProjectPhase.PERMITTING) == 2
    assert _quarters_in(seq, ProjectPhase.CONSTRUCTION) == 4
    assert _quarters_in(seq, ProjectPhase.RAMPUP) == 2
    assert seq[-1] == ProjectPhase.NONE
    assert caps[-1, 0] == pytest.approx(8000.0)
    green = make_pop(1, bloc=b, stage=s, phase=Phase.PROJECT, capacity_t=0.0, cash=1e4)
    gphases, _, _, _ = _simulate(green, T, fin, np.array([0]), 3000.0, True, 30)
    assert _quarters_in(gphases[:, 0], ProjectPhase.PERMITTING) == 8
    assert _quarters_in(gphases[:, 0], ProjectPhase.CONSTRUCTION) == 8


def test_brownfield_factors_of_one_are_the_old_durations(T):
    """The default factors (1) draw exactly a new plant's durations for an expansion (the rule before the lever)."""
    assert (T.brownfield_factor == 1.0).all()
    n = 50
    pop = make_pop(n, bloc=bloc(T, "west"), stage=stage(T, "metal"))
    pop.proj_u[:] = np.linspace(0.0, 1.0, n)[:, None]
    for phase in (ProjectPhase.PLANNING, ProjectPhase.PERMITTING, ProjectPhase.CONSTRUCTION):
        pop.proj_greenfield[:] = True
        green = phase_quarters(pop, np.arange(n), T, phase)
        pop.proj_greenfield[:] = False
        np.testing.assert_array_equal(phase_quarters(pop, np.arange(n), T, phase), green)


def test_brownfield_lead_years_and_pi():
    """An expansion's lead time: planning, permitting and construction mid-points times the factors, half the ramp-up,
    no qualification (an operating magnet plant is qualified); a permitting reform scales its permitting too. The PI of
    a brownfield row is discounted over it, so it exceeds a new plant's at the same expectations."""
    T = tables(*FIXED, *BROWNFIELD)
    mid = lambda a: a.mean(axis=2)  # noqa: E731
    brown = lead_years(T, brownfield=True)
    expected = 0.5 * mid(T.planning_years) + 0.25 * mid(T.permitting_years) + 0.5 * mid(T.construction_years) + 0.5 * mid(T.rampup_years)
    np.testing.assert_allclose(brown, expected)
    b, s = bloc(T, "west"), stage(T, "magnet")
    assert brown[b, s] == pytest.approx(0.5 + 0.125 + 0.5 + 0.5)  # qualification (0.75 y) left out
    factor = np.full((T.B, T.S), 0.5)
    np.testing.assert_allclose(lead_years(T, factor, brownfield=True) - brown, -0.5 * 0.25 * mid(T.permitting_years))
    E = dataclasses.replace(_expect(T, price=80.0, input_price=30.0, util=0.8, rate=0.1, lead=4.0), brownfield_lead_years=np.full((T.B, T.S), 1.0))
    rows = np.array([b, b]), np.array([s, s])
    pi = profitability_index(*rows, np.array([20.0, 20.0]), T, E, 15.0, 15.0, brownfield=np.array([False, True]))
    assert pi[1] > pi[0] > 0
    assert pi[0] == pytest.approx(profitability_index(*rows, np.array([20.0, 20.0]), T, E, 15.0, 15.0)[0])


def test_zero_length_phases_pass_straight_through():
    T0 = tables(
        "world.blocs.china.stages.metal.planning_years=[0.0,0.0]",
        "world.blocs.china.stages.metal.permitting_years=[0.0,0.0]",
        "world.blocs.china.stages.metal.rampup_years=[0.0,0.0]",
    )
    fin = fresh_config().world.finance
    pop = make_pop(1, bloc=0, stage=stage(T0, "metal"), capacity_t=100.0, cash=1e4)
    phases, caps, _, _ = _simulate(pop, T0, fin, np.array([0]), 50.0, False, 16)
    seq = phases[:, 0]
    assert seq[0] == ProjectPhase.PLANNING
    assert seq[1] == ProjectPhase.CONSTRUCTION  # permitting and financing pass within quarter 1
    assert _quarters_in(seq, ProjectPhase.RAMPUP) == 0
    assert caps[-1, 0] == pytest.approx(150.0)


def test_phase_durations_from_bloc_stage_ranges():
    T0 = tables()
    b, s = bloc(T0, "west"), stage(T0, "mining")
    lo, hi = T0.permitting_years[b, s]
    n = 200
    pop = make_pop(n, bloc=b, stage=s)
    pop.proj_u[:, 1] = np.linspace(0.0, 1.0, n)
    q = phase_quarters(pop, np.arange(n), T0, ProjectPhase.PERMITTING)
    np.testing.assert_array_equal(q, np.round((lo + np.linspace(0, 1, n) * (hi - lo)) * 4.0))
    assert q.min() == round(lo * 4) and q.max() == round(hi * 4)
    factor = np.ones((T0.B, T0.S))
    factor[b, s] = 0.5  # a permitting reform halves the durations
    q_half = phase_quarters(pop, np.arange(n), T0, ProjectPhase.PERMITTING, factor)
    np.testing.assert_array_equal(q_half, np.round(0.5 * (lo + np.linspace(0, 1, n) * (hi - lo)) * 4.0))


def test_start_projects_fixes_capex_and_draws(T):
    b, s = bloc(T, "west"), stage(T, "magnet")
    pop = make_pop(3, bloc=b, stage=s)
    rng = np.random.default_rng(9)
    start_projects(pop, np.array([0, 2]), T, rng, 7, np.array([1000.0, 2500.0]), False)
    np.testing.assert_array_equal(pop.proj_phase, [ProjectPhase.PLANNING, ProjectPhase.NONE, ProjectPhase.PLANNING])
    np.testing.assert_allclose(pop.proj_capex_musd[[0, 2]], T.capex_musd_per_kt[b, s] * np.array([1.0, 2.5]))
    np.testing.assert_allclose(pop.proj_capex_left, pop.proj_capex_musd)
    assert (pop.proj_start_step[[0, 2]] == 7).all() and pop.proj_start_step[1] == -1
    assert ((pop.proj_u[[0, 2]] >= 0) & (pop.proj_u[[0, 2]] < 1)).all()
    np.testing.assert_array_equal(pop.proj_remaining_q[[0, 2]], [4.0, 4.0])  # planning fixed at 1 year


def test_projects_of_exited_firms_do_not_advance(T):
    pop = make_pop(1, bloc=bloc(T, "west"), stage=stage(T, "magnet"))
    start_projects(pop, np.array([0]), T, np.random.default_rng(0), 0, np.array([1000.0]), False)
    pop.phase[0] = Phase.EXITED
    for q in range(1, 10):
        advance_projects(pop, T, q)
    assert pop.proj_phase[0] == ProjectPhase.PLANNING and pop.capacity_t[0] == 1000.0


# ---------------------------------------------------------------------------
# Finance gate
# ---------------------------------------------------------------------------
def _at_gate(T, n=1, **cols):
    b, s = bloc(T, "west"), stage(T, "magnet")
    values = dict(bloc=b, stage=s, proj_phase=ProjectPhase.FINANCING, proj_capex_musd=10.0, proj_capex_left=10.0, cash=0.0, debt=0.0, book_assets=0.0)
    values.update(cols)
    return make_pop(n, **values)


def test_gate_funds_worthwhile_fundable_project(T, cfg):
    pop = _at_gate(T, cash=100.0)
    out = finance_gate(pop, T, np.random.default_rng(0), _pi(pop, 0.5), 0.0, cfg.world.finance, np.zeros(1))
    assert list(out["financed"]) == [0]
    assert pop.proj_phase[0] == ProjectPhase.CONSTRUCTION
    assert pop.proj_remaining_q[0] == 4.0  # construction fixed at 1 year
    assert pop.proj_capex_left[0] == 10.0
    assert pop.equity_in[0] == 0.0  # own funds sufficed
    assert not pop.finance_constrained[0]


def test_gate_own_funds_and_debt_room_edges(T, cfg):
    """Own funds above the buffer must cover the equity share; lenders the rest within leverage."""
    b = bloc(T, "west")
    share, lev = T.equity_share_required[b], T.leverage_max[b]
    reserve = cfg.world.finance.startup_reserve_share
    capex = 10.0
    need = (share + reserve) * capex  # equity share plus the start-up reserve
    no_appetite = dataclasses.replace(T, investor_appetite=np.zeros(T.B), private_investor_appetite=np.zeros(T.B))
    # debt room = lev x (book + cip + capex) - debt must cover capex + reserve - own funds (own = need here)
    debt_exact = lev * capex - (capex + reserve * capex - need)
    cash = [need + 1.0, need + 1.0 - 1e-3, need + 1.0, need + 1.0]
    debt = [0.0, 0.0, debt_exact, debt_exact + 1e-3]
    pop = _at_gate(no_appetite, n=4, cash=cash, debt=debt)
    buffer = np.ones(4)
    out = finance_gate(pop, no_appetite, np.random.default_rng(0), _pi(pop, 1.0), 0.0, cfg.world.finance, buffer)
    assert sorted(out["financed"]) == [0, 2]
    assert sorted(out["constrained"]) == [1, 3]
    np.testing.assert_array_equal(pop.finance_constrained, [False, True, False, True])


@pytest.mark.parametrize("wc_share", [0.0, 0.2])
def test_gate_expansion_raises_the_equity_share_of_its_working_capital(T, cfg, wc_share):
    """An expansion's investment is its capex plus the working capital its output will tie up (the firm's sales per t
    of capacity x nameplate x working_capital_share): own funds must cover the equity share of both plus the start-up
    reserve. Firm 0 holds exactly that, firm 1 a little less; without working capital both hold enough."""
    b = bloc(T, "china")
    fin = dataclasses.replace(cfg.world.finance, working_capital_share=wc_share)
    no_appetite = dataclasses.replace(T, investor_appetite=np.zeros(T.B), private_investor_appetite=np.zeros(T.B))
    capex, revenue_q = 10.0, 12.5  # 1,000 t/yr selling 50 M USD a year; a 500 t expansion
    wc_new = 0.2 * 4.0 * revenue_q / 1000.0 * 500.0
    need = T.equity_share_required[b] * (capex + wc_new) + fin.startup_reserve_share * capex
    pop = _at_gate(no_appetite, n=2, bloc=b, proj_nameplate_t=500.0, revenue=revenue_q, cash=[need, need - 1e-3], book_assets=100.0)
    out = finance_gate(pop, no_appetite, np.random.default_rng(0), _pi(pop, 0.5), 0.0, fin, np.zeros(2))
    assert sorted(out["financed"]) == ([0] if wc_share else [0, 1])
    assert sorted(out["constrained"]) == ([1] if wc_share else [])


def test_gate_marks_projects_that_need_outside_money(T, cfg):
    """At the gate a project worth doing whose cost (capex + start-up reserve) exceeds the firm's cash above the buffer
    marks the firm ``outside_finance``, funded or not; one paid from own cash, or not worth doing, does not."""
    cost = 10.0 * (1.0 + cfg.world.finance.startup_reserve_share)
    pop = _at_gate(T, n=4, cash=[cost + 1.0, cost - 0.5, cost - 0.5, 0.0], book_assets=100.0)
    pi = np.array([0.5, 0.5, -0.5, 0.5])
    buffer = np.array([0.0, 0.0, 0.0, 0.0])
    finance_gate(pop, T, np.random.default_rng(0), pi, 0.0, cfg.world.finance, buffer)
    np.testing.assert_array_equal(pop.outside_finance, [False, True, False, True])
    assert pop.proj_phase[1] == ProjectPhase.CONSTRUCTION  # debt pays the rest: outside money, no constraint


def test_borrowing_for_construction_marks_outside_finance(T, cfg):
    """A firm whose construction spend this quarter is paid partly by new borrowing needed outside money to build;
    a rich builder, and a poor firm that borrows without building, are not marked."""
    b, s = bloc(T, "west"), stage(T, "magnet")
    pop = make_pop(
        3,
        bloc=b,
        stage=s,
        output_t=0.0,
        cash=[1e3, 0.0, -5.0],
        book_assets=100.0,
        proj_phase=[ProjectPhase.CONSTRUCTION, ProjectPhase.CONSTRUCTION, ProjectPhase.NONE],
        proj_capex_left=[8.0, 8.0, 0.0],
        proj_remaining_q=4.0,
    )
    account(pop, T, 0, cfg.world.finance, np.tile(T.reference_price_usd_per_kg, (T.B, 1)).astype(float))
    assert pop.capex[1] == pytest.approx(2.0) and pop.net_borrowing[1] > 0 and pop.net_borrowing[2] > 0
    np.testing.assert_array_equal(pop.outside_finance, [False, True, False])


def test_gate_worth_but_unfundable_is_constrained_and_waits(T, cfg):
    no_appetite = dataclasses.replace(T, investor_appetite=np.zeros(T.B), private_investor_appetite=np.zeros(T.B))
    pop = _at_gate(no_appetite)
    out = finance_gate(pop, no_appetite, np.random.default_rng(0), _pi(pop, 0.3), 0.0, cfg.world.finance, np.zeros(1))
    assert list(out["constrained"]) == [0] and len(out["financed"]) == 0 and len(out["stalled"]) == 0
    assert pop.finance_constrained[0]
    assert pop.proj_phase[0] == ProjectPhase.FINANCING and pop.proj_wait_q[0] == 1.0


@pytest.mark.parametrize("pi", [0.0, -0.5])
def test_gate_stalls_when_npv_not_above_threshold(T, cfg, pi):
    pop = _at_gate(T, cash=1e4)
    out = finance_gate(pop, T, np.random.default_rng(0), _pi(pop, pi), 0.0, cfg.world.finance, np.zeros(1))
    assert list(out["stalled"]) == [0] and len(out["financed"]) == 0 and len(out["constrained"]) == 0
    assert not pop.finance_constrained[0]
    assert pop.proj_phase[0] == ProjectPhase.FINANCING and pop.proj_wait_q[0] == 1.0


def test_gate_abandons_after_max_wait(T, cfg):
    """financing_max_wait_years = 1: four failed quarters wait, the fifth abandons."""
    no_appetite = dataclasses.replace(T, investor_appetite=np.zeros(T.B), private_investor_appetite=np.zeros(T.B))
    pop = _at_gate(no_appetite, n=2)
    pi = np.array([0.5, -0.5])  # one unfundable, one no longer worth doing: both wait, both are abandoned
    rng = np.random.default_rng(0)
    abandoned_at = {}
    for q in range(1, 10):
        out = finance_gate(pop, no_appetite, rng, pi, 0.0, cfg.world.finance, np.zeros(2))
        for r in out["abandoned"]:
            abandoned_at.setdefault(int(r), q)
    max_wait_q = cfg.world.finance.financing_max_wait_years * 4
    assert abandoned_at == {0: max_wait_q + 1, 1: max_wait_q + 1}
    np.testing.assert_array_equal(pop.proj_phase, ProjectPhase.NONE)
    np.testing.assert_array_equal(pop.proj_capex_left, 0.0)


def test_gate_outside_equity_with_appetite(T, cfg):
    full = dataclasses.replace(T, investor_appetite=np.ones(T.B), private_investor_appetite=np.ones(T.B))
    b = bloc(T, "west")
    pop = _at_gate(full, n=2)
    out = finance_gate(pop, full, np.random.default_rng(0), np.array([0.5, -0.1]), 0.0, cfg.world.finance, np.zeros(2))
    assert list(out["financed"]) == [0]
    raised = (full.equity_share_required[b] + cfg.world.finance.startup_reserve_share) * 10.0
    assert pop.equity_in[0] == pytest.approx(raised)
    assert pop.cash[0] == pytest.approx(raised) and pop.equity_raised[0] == pytest.approx(raised)  # paid in at close
    assert pop.equity_in[1] == 0.0  # investors do not back a project that is not worth doing


def test_gate_outside_equity_probability_is_appetite(T, cfg):
    n = 4000
    pop = _at_gate(T, n=n)
    out = finance_gate(pop, T, np.random.default_rng(3), _pi(pop, 0.5), 0.0, cfg.world.finance, np.zeros(n))
    p = T.investor_appetite[bloc(T, "west")]
    assert len(out["financed"]) / n == pytest.approx(p, abs=5 * np.sqrt(p * (1 - p) / n))


def test_gate_ipo_fast_track_adds_to_appetite(T, cfg):
    """A title holder's IPO fast track (the benefit ipo_fast_track, in the firm column of that name) adds to
    the bloc's investor appetite; the chance of outside equity is at most 1."""
    n = 4000
    pop = _at_gate(T, n=n, ipo_fast_track=0.3)
    out = finance_gate(pop, T, np.random.default_rng(3), _pi(pop, 0.5), 0.0, cfg.world.finance, np.zeros(n))
    p = T.investor_appetite[bloc(T, "west")] + 0.3
    assert p < 1.0
    assert len(out["financed"]) / n == pytest.approx(p, abs=5 * np.sqrt(p * (1 - p) / n))
    sure = _at_gate(T, n=50, ipo_fast_track=1.0)
    out = finance_gate(sure, T, np.random.default_rng(3), _pi(sure, 0.5), 0.0, cfg.world.finance, np.zeros(50))
    assert len(out["financed"]) == 50


def test_gate_ignores_projects_not_at_the_gate(T, cfg):
    pop = _at_gate(T, n=3, cash=1e4, proj_phase=[ProjectPhase.PLANNING, ProjectPhase.CONSTRUCTION, ProjectPhase.FINANCING])
    pop.phase[2] = Phase.EXITED
    out = finance_gate(pop, T, np.random.default_rng(0), _pi(pop, 1.0), 0.0, cfg.world.finance, np.zeros(3))
    assert all(len(v) == 0 for v in out.values())
    np.testing.assert_array_equal(pop.proj_phase, [ProjectPhase.PLANNING, ProjectPhase.CONSTRUCTION, ProjectPhase.FINANCING])


# ---------------------------------------------------------------------------
# Profitability index
# ---------------------------------------------------------------------------
def _expect(T, price=None, input_price=None, util=0.8, rate=0.08, lead=2.0):
    shape = (T.B, T.S)
    return Expectations(
        price=np.tile(T.reference_price_usd_per_kg, (T.B, 1)) if price is None else np.broadcast_to(price, shape).astype(float),
        input_price=np.zeros(shape) if input_price is None else np.broadcast_to(input_price, shape).astype(float),
        utilisation=np.full(shape, util),
        discount_rate=np.full(shape, rate),
        lead_years=np.full(shape, lead),
        tax_rate=T.tax_rate,
    )


def test_profitability_index_formula(T):
    b, s = bloc(T, "china"), stage(T, "metal")
    E = _expect(T, price=70.0, input_price=40.0, util=0.8, rate=0.1, lead=2.0)
    proc = 5.0
    pi = profitability_index(np.array([b]), np.array([s]), np.array([proc]), T, E, 15.0, 15.0)[0]
    capex = T.capex_musd_per_kt[b, s]
    margin = 70.0 - T.input_per_t[s] * 40.0 - proc
    fixed = T.fixed_cost_share[b, s] * capex
    tax = T.tax_rate[b]
    cf = (margin * 0.8 - fixed) * (1 - tax) + tax * capex / 15.0
    annuity = (1 - 1.1**-15) / 0.1
    npv = -capex + cf * annuity * 1.1**-2.0
    assert pi == pytest.approx(npv / capex)


def test_profitability_index_monotone(T):
    b, s = np.array([bloc(T, "west")]), np.array([stage(T, "magnet")])
    proc = np.array([20.0])

    def pi(**kw):
        return profitability_index(b, s, proc, T, _expect(T, **kw), 15.0, 15.0)[0]

    prices = [40.0, 50.0, 80.0, 120.0]
    assert np.all(np.diff([pi(price=p) for p in prices]) > 0)
    assert np.all(np.diff([pi(price=80.0, rate=r) for r in (0.02, 0.06, 0.12, 0.3)]) < 0)
    assert np.all(np.diff([pi(price=80.0, lead=L) for L in (0.0, 1.0, 3.0, 8.0)]) < 0)
    assert np.all(np.diff([pi(price=80.0, input_price=x) for x in (10.0, 50.0, 100.0)]) < 0)
    assert pi(price=1.0) < 0


def test_lead_years_is_sum_of_midpoints(T):
    mid = lambda a: a.mean(axis=2)  # noqa: E731
    expected = mid(T.planning_years) + mid(T.permitting_years) + mid(T.construction_years) + 0.5 * mid(T.rampup_years)
    expected = expected + mid(T.qualification_years)  # a new magnet plant sells only after buyer qualification
    np.testing.assert_allclose(lead_years(T), expected)
    b, s = bloc(T, "west"), stage(T, "mining")
    assert lead_years(T)[b, s] == pytest.approx(0.25 + 2.0 + 2.0 + 0.25)  # mining: no qualification
    assert mid(T.qualification_years)[b, stage(T, "magnet")] > 0  # so the magnet lead is longer by its mean


# ---------------------------------------------------------------------------
# Entry
# ---------------------------------------------------------------------------
def test_no_entrants_when_pi_not_positive(T):
    rng = np.random.default_rng(0)
    for pi in (0.0, -0.1, -5.0):
        for _ in range(200):
            assert entrants(T, rng, np.full((T.B, T.S), pi), 1.0).sum() == 0


def test_entrant_rate_follows_clipped_pi(T):
    rng = np.random.default_rng(1)
    n = 4000
    for pi, scale in ((0.5, 1.0), (3.0, 2.0), (10.0, 2.0)):
        draws = np.stack([entrants(T, rng, np.full((T.B, T.S), pi), scale) for _ in range(n)])
        rate = T.entry_rate_per_year * min(pi, 3.0) / 4.0 * scale
        np.testing.assert_allclose(draws.mean(axis=0), rate, atol=5 * np.sqrt(rate.max() / n))
    extra = np.full((T.B, T.S), 0.5)
    draws = np.stack([entrants(T, rng, np.zeros((T.B, T.S)), 1.0, extra) for _ in range(n)])
    np.testing.assert_allclose(draws.mean(axis=0), 0.5, atol=5 * np.sqrt(0.5 / n))


# ---------------------------------------------------------------------------
# In the model: entrants' milestones follow the configured durations
# ---------------------------------------------------------------------------
def test_model_project_milestones_follow_fixed_durations():
    """China magnet projects with fixed durations: planning 2 q, permitting 1 q, construction 4 q, ramp-up 2 q,
    qualification 2 q, counted from the commitment (project_start or entry) and the investment decision (fid)."""
    from sim.engine.model import ChainModel

    P, M, C, R, Q = 2, 1, 4, 2, 2
    fixed = (
        "planning_years=[0.5,0.5]",
        "permitting_years=[0.25,0.25]",
        "construction_years=[1.0,1.0]",
        "rampup_years=[0.5,0.5]",
        "qualification_years=[0.5,0.5]",
    )
    cfg = fresh_config("years=5", "seed=3", *(f"world.blocs.china.stages.magnet.{o}" for o in fixed))
    m = ChainModel(cfg).run()
    ev = m.recorder.events()
    ev = ev[(ev.bloc == "china") & (ev.stage == "magnet")]
    ramped = 0
    for _, firm_events in ev.groupby("firm_id", sort=False):
        q0 = f = None
        for q, kind in zip(firm_events.quarter_index, firm_events.kind):
            if kind in ("project_start", "entry"):
                q0, f = q, None
            elif kind == "permitting":
                assert q == q0 + P
            elif kind == "financing":
                assert q == q0 + P + M
            elif kind == "fid":
                assert q >= q0 + P + M
                f = q
            elif kind == "construction_complete":
                assert q == f + C
            elif kind == "ramped_up":
                assert q == f + C + R
                ramped += 1
            elif kind == "qualified":
                assert q == f + C + R + Q
    assert ramped >= 3, "the run must bring a few projects through ramp-up"


def test_project_funded_at_gate_can_pay_its_construction():
    """Model order per quarter: accounts, then (investment) equity_in reset, projects advance, gate."""
    T = tables()
    fin = fresh_config().world.finance
    b, s = bloc(T, "china"), stage(T, "magnet")
    full = dataclasses.replace(T, investor_appetite=np.ones(T.B), private_investor_appetite=np.ones(T.B))
    pop = make_pop(
        1,
        bloc=b,
        stage=s,
        phase=Phase.PROJECT,
        capacity_t=0.0,
        qualified=False,
        cash=0.0,
        proj_phase=ProjectPhase.FINANCING,
        proj_capex_musd=22.0,
        proj_capex_left=22.0,
    )
    out = finance_gate(pop, full, np.random.default_rng(0), _pi(pop, 0.5), 0.0, fin, np.zeros(1))
    assert list(out["financed"]) == [0]
    cash = []
    for q in range(1, 16):
        account(pop, full, q, fin, np.tile(T.reference_price_usd_per_kg, (T.B, 1)))
        cash.append(pop.cash[0])
        pop.equity_in = 0.0
        advance_projects(pop, full, q)
        if pop.proj_phase[0] != ProjectPhase.CONSTRUCTION:
            break
    assert pop.proj_phase[0] == ProjectPhase.RAMPUP
    assert min(cash) >= -1e-9, f"cash during construction: {np.round(cash, 3)}"


def test_some_entrants_reach_first_output_in_default_world():
    """Entrants' plants, once built, produce (they used to exit insolvent in the quarter construction completed).

    The default world without policy, under the export control of 2025: without policy or shock, entry is rare
    (three to five entrants in 30 years over seeds 1-5: prices sit near the investment-neutral price and the
    incumbents' expansions, at lower cost, meet growth); the control draws Western and rest-of-world entrants in
    numbers from 2027, and their plants come on line before 2035."""
    from sim.engine.model import ChainModel

    m = ChainModel(fresh_config("scenario=export_control_shock", "years=20", "seed=1")).run()
    ev = m.recorder.events()
    entrants_ = set(ev.firm_id[ev.kind == "entry"])
    completed = ev[(ev.kind == "construction_complete") & ev.firm_id.isin(entrants_)]
    assert len(completed) >= 3  # entrants do build plants
    producing = ev[(ev.kind == "first_output") & ev.firm_id.isin(entrants_)]
    assert len(producing) > 0, f"{len(completed)} entrant plants completed, none produced"


# ---------------------------------------------------------------------------
# Projects under construction at the start (world.firms.NAME.first_output_year)
# ---------------------------------------------------------------------------
PROJECT_COHORT = (
    "+world.firms.test_project={bloc:west,stage:mining,region:us,count:2,capacity_t:[5000.0,5000.0],first_output_year:2016.5}",
    *FIXED,
)


def test_a_project_cohort_starts_in_construction_financed_as_the_gate_finances():
    """Two Western mines of 5,000 t/yr whose construction ends in 2016 Q3 (quarter 6): at the start they hold no
    capacity, are in construction with all their capex to spend (6 quarters left of a 2-year construction: 3/4 of it,
    1/4 spent as construction in progress), own funds for the equity share of what is left plus the start-up reserve,
    and debt for the rest of what was spent."""
    from agents.investment import project_reserve
    from sim.engine.model import ChainModel

    m = ChainModel(fresh_config(*PROJECT_COHORT))
    pop, T, fin = m.pop, m.tables, m.world.finance
    rows = np.flatnonzero(pop.proj_nameplate_t == 5000.0)
    assert len(rows) == 2
    b, s = T.blocs.index("west"), T.stages.index("mining")
    capex = T.capex_musd_per_kt[b, s] * 5.0
    eq = T.equity_share_required[b]
    assert (pop.phase[rows] == Phase.PROJECT).all() and (pop.proj_phase[rows] == ProjectPhase.CONSTRUCTION).all()
    assert (pop.capacity_t[rows] == 0.0).all() and (pop.proj_remaining_q[rows] == 7.0).all()
    np.testing.assert_allclose(pop.proj_capex_left[rows], 0.75 * capex)
    np.testing.assert_allclose(pop.cip[rows], 0.25 * capex)
    np.testing.assert_allclose(pop.debt[rows], (1 - eq) * 0.25 * capex)
    np.testing.assert_allclose(pop.cash[rows], eq * 0.75 * capex + project_reserve(pop, T, rows, np.full(2, capex), fin))
    equity = pop.cash + pop.book_assets + pop.cip + pop.working_capital - pop.debt
    np.testing.assert_allclose(equity[rows], eq * capex + project_reserve(pop, T, rows, np.full(2, capex), fin))


def test_a_project_cohort_first_produces_in_its_quarter_and_ramps_up():
    from sim.engine.model import ChainModel

    m = ChainModel(fresh_config(*PROJECT_COHORT))
    ids = m.pop.firm_id[m.pop.proj_nameplate_t == 5000.0].copy()
    for _ in range(9):
        m.step()
    ev = m.recorder.events()
    done = ev[(ev.kind == "construction_complete") & ev.firm_id.isin(ids)]
    assert sorted(done.quarter_index) == [6, 6]  # 2016 Q3
    ramped = ev[(ev.kind == "ramped_up") & ev.firm_id.isin(ids)]
    assert sorted(ramped.quarter_index) == [8, 8]  # half a year of ramp-up (FIXED)


def test_without_project_cohorts_the_start_is_the_operating_incumbents():
    """The shipped 2015 world has no project cohort: every firm starts operating, without a project."""
    from sim.engine.model import ChainModel

    m = ChainModel(fresh_config())
    assert all(c.first_output_year is None for c in m.world.firms.values())
    assert (m.pop.phase[m.pop.alive] == Phase.OPERATING).all() and (m.pop.proj_phase[m.pop.alive] == ProjectPhase.NONE).all()


def test_the_qualification_reserve_is_for_a_new_plant_in_hand_not_for_the_next_expansion(T, cfg):
    """A magnet firm whose plant was a greenfield project keeps that project's flag after it ends; the expansion it then
    weighs is brownfield and needs no qualification reserve (an operating plant is qualified): only the start-up share
    of its capex. A greenfield project in hand carries the qualification reserve."""
    b, s = bloc(T, "west"), stage(T, "magnet")
    fin = cfg.world.finance
    pop = make_pop(2, bloc=b, stage=s, cash=1e4)
    pop.proj_greenfield[:] = True  # both built their plant as a greenfield project
    pop.proj_phase[1] = ProjectPhase.PLANNING  # the second has a new plant in hand
    capex = np.array([100.0, 100.0])
    reserve = project_reserve(pop, T, np.array([0, 1]), capex, fin)
    assert reserve[0] == pytest.approx(fin.startup_reserve_share * 100.0)
    assert reserve[1] > reserve[0]
