"""Sponsored projects (agents/sponsor.py): the coordinator's yearly projects in gap stages, own funds
paid and committed at the finance gate; none without the lever; retired with its regime."""

from __future__ import annotations

import numpy as np
import pytest
from _rule_helpers import fresh_config, make_pop, tables

from agents import investment as inv
from agents.investment import ProjectPhase
from agents.sponsor import ProjectSponsor
from sim.engine.model import ChainModel

WEST = 1
WEST_COORD = ("scenario=laissez_faire", "policy@policy.west=coordinated_west", "years=6")


def model(*overrides, rate: float | None = None, steps: int = 0) -> ChainModel:
    cfg = fresh_config(*(overrides or WEST_COORD))
    if rate is not None:
        cfg.policy["west"].coordination.incubation_per_year = rate
    m = ChainModel(cfg)
    for _ in range(steps):
        m.step()
    return m


def sponsored_events(m):
    return m.event_log.where(kind="incubated", detail="sponsor:west")


def test_no_sponsor_without_the_lever_and_the_run_is_unchanged_by_its_absence():
    off = model(rate=0.0, steps=12)
    assert off.policy.sponsors == {} and not off.pop.sponsored.any() and not sponsored_events(off)
    assert ("west", "sponsored_projects") not in {(off.tables.blocs[b], k) for b, k in off.policy.fiscal_totals()}
    # the coordinated (China) regime sponsors nothing by default
    cn = model("scenario=baseline", "years=6", steps=4)
    assert 0 not in cn.policy.sponsors


def test_sponsored_projects_enter_gap_stages_yearly_with_own_funds_paid():
    m = model(rate=6.0)
    sp = m.policy.sponsors[WEST]
    seen_years = []
    for _ in range(24):
        before = m.pop.next_id
        m.step()
        rows = [r for r in range(len(m.pop)) if m.pop.firm_id[r] >= before and m.pop.sponsored[r]]
        if rows:
            seen_years.append(m.quarter)
            gap = m.stage_gap(WEST, sp.policy.coordination.plan_horizon_years)
            assert all(m.pop.bloc[r] == WEST for r in rows)
            # every sponsored entrant's stage had a planned gap (the gap is measured again after entry, so it
            # can only have shrunk: it was positive before)
            assert all(gap[m.pop.stage[r]] > -1.0 for r in rows)
    assert seen_years and all(q % 4 == 0 for q in seen_years)  # at the start of a year only
    ev = sponsored_events(m)
    assert sp.started == len(ev) > 0
    assert sum(e.value for e in ev) == pytest.approx(sp.spent_musd)
    fiscal = m.policy.fiscal_totals()[(WEST, "sponsored_projects")]
    assert fiscal == pytest.approx(sp.spent_musd)


def test_own_funds_cover_the_equity_share_and_start_up_reserve():
    m = model(rate=6.0, steps=4)  # first sponsored round at the start of year 2 (quarter 4)
    m.step()
    pop, T, fin = m.pop, m.tables, m.world.finance
    rows = np.flatnonzero(pop.sponsored)
    assert len(rows) > 0
    ev = {e.firm_id: e.value for e in sponsored_events(m)}
    for r in rows:
        own = (T.equity_share_required[WEST] + fin.startup_reserve_share) * pop.proj_capex_musd[r]
        assert ev[int(pop.firm_id[r])] == pytest.approx(own)


def test_a_sponsored_greenfield_project_passes_the_gate_without_the_return_test():
    T = tables()
    capex = np.array([100.0, 100.0])
    pop = make_pop(
        2,
        bloc=np.array([WEST, WEST]),
        stage=np.array([1, 1]),
        proj_phase=ProjectPhase.FINANCING,
        proj_capex_musd=capex,
        proj_greenfield=True,
        cash=(T.equity_share_required[WEST] + 0.15) * capex + 1.0,
        sponsored=np.array([True, False]),
    )
    fin = fresh_config().world.finance
    pi = np.array([-0.5, -0.5])  # not worth doing by expected return
    out = inv.finance_gate(pop, T, np.random.default_rng(0), pi, 0.0, fin, np.zeros(2))
    assert list(out["financed"]) == [0]
    assert list(out["stalled"]) == [1]
    assert pop.proj_phase[0] == ProjectPhase.CONSTRUCTION and pop.proj_phase[1] == ProjectPhase.FINANCING


def test_regime_change_starts_and_retires_the_sponsor_and_keeps_its_spending_counted():
    # west_coordinated switches the West from fragmented to coordinated_west: the sponsor starts then
    cfg = fresh_config("scenario=west_coordinated", "years=8")
    cfg.policy_change["west"].policy.coordination.incubation_per_year = 6.0
    cfg.policy_change["west"].year = 2017.0
    m = ChainModel(cfg)
    for _ in range(8):  # 2015 and 2016: fragmented
        m.step()
        assert WEST not in m.policy.sponsors
    for _ in range(8):
        m.step()
    sp = m.policy.sponsors[WEST]
    assert sp.started > 0 and all(e.quarter >= 7 for e in sponsored_events(m))  # stamped with the quarter before they act in, like group incubation
    # and the other way round: coordinated_west first, fragmented from 2017
    cfg = fresh_config("scenario=west_coordinated", "years=8")
    cfg.policy["west"], cfg.policy_change["west"].policy = cfg.policy_change["west"].policy, cfg.policy["west"]
    cfg.policy["west"].coordination.incubation_per_year = 6.0
    cfg.policy_change["west"].year = 2017.0
    m = ChainModel(cfg)
    sp = m.policy.sponsors[WEST]
    for _ in range(8):
        m.step()
    started, spent = sp.started, sp.spent_musd
    assert started > 0
    for _ in range(12):
        m.step()
    assert WEST not in m.policy.sponsors and [x for x in m.policy.retired if isinstance(x, ProjectSponsor)] == [sp]
    assert sp.started == started and sp.spent_musd == spent  # no project after the change
    assert m.policy.fiscal_totals()[(WEST, "sponsored_projects")] == pytest.approx(spent)


def test_same_seed_same_sponsored_projects():
    a = model(rate=6.0, steps=12)
    b = model(rate=6.0, steps=12)
    assert sponsored_events(a) == sponsored_events(b)
    assert isinstance(a.policy.sponsors[WEST], ProjectSponsor)


@pytest.mark.parametrize("studies_done", [False, True])
def test_advanced_stage_projects_start_at_permitting_others_plan_first(studies_done):
    m = model(rate=6.0, steps=4)
    m.policy.sponsors[WEST].policy.coordination.sponsored_studies_done = studies_done
    before = m.pop.next_id
    m.step()  # the sponsor's round at the start of year 2
    pop, T = m.pop, m.tables
    rows = np.flatnonzero(pop.sponsored & (pop.firm_id >= before))
    assert len(rows) > 0
    if studies_done:
        assert (pop.proj_phase[rows] == ProjectPhase.PERMITTING).all()
        # the permitting time is the bloc-stage draw under the regime's permit cap, as for any project
        cap = m.instruments.permit_cap_years[pop.bloc[rows], pop.stage[rows]]
        hi = T.permitting_years[pop.bloc[rows], pop.stage[rows], 1]
        assert (pop.proj_remaining_q[rows] <= np.round(np.minimum(hi, cap) * 4.0)).all()
    else:
        assert (pop.proj_phase[rows] == ProjectPhase.PLANNING).all()
