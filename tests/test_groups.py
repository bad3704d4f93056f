"""Tests of the state-owned groups (MODEL.md 5.7): agents.groups.SOEGroup under the coordinated
regime (rescue within a yearly budget, grading and the R&D fund, incubation into gap stages) and
without policy (inactive)."""

from __future__ import annotations

import numpy as np
import pytest
from _rule_helpers import fresh_config

from agents.firms import Phase, ProjectPhase
from agents.government import yuan_price_level
from agents.groups import SOEGroup
from sim.engine.model import ChainModel

COORD = ("scenario=laissez_faire", "policy@policy.china=coordinated", "years=10")
NONE = ("scenario=laissez_faire", "years=10")
CHINA = 0


def model(*overrides, steps: int = 0, scale: float | None = None, **groups) -> ChainModel:
    cfg = fresh_config(*(overrides or COORD))
    if scale is not None:
        cfg.world.scale = scale
    for k, v in groups.items():
        setattr(cfg.policy["china"].groups, k, v)
    m = ChainModel(cfg)
    for _ in range(steps):
        m.step()
    return m


def members(m, g: SOEGroup, operating: bool = True) -> np.ndarray:
    pop = m.pop
    sel = pop.alive & (pop.group == g.index)
    if operating:
        sel &= pop.phase == Phase.OPERATING
    return np.flatnonzero(sel)


def test_groups_are_active_only_with_a_policy():
    m = model()
    assert [g.name for g in m.policy.groups] == ["northern_group", "southern_group", "chalco_group"]
    assert all(g.active and g.bloc == CHINA for g in m.policy.groups)
    n = model(*NONE, steps=5)
    assert not any(g.active for g in n.policy.groups)
    assert all(g.rescue_left == 0.0 and g.rd_fund_q == 0.0 for g in n.policy.groups)
    assert not n.pop.group_grade_a.any()
    kinds = {e.kind for e in n.event_log}
    assert not kinds & {"graded_a", "rescued", "incubated"}


def test_new_year_renews_the_rescue_budget_in_usd_and_scale():
    m = model(scale=0.5, steps=2)
    g = m.policy.groups[0]
    c = g.cfg
    g.rescue_left = 0.0
    g.new_year()
    level = yuan_price_level(m.world, m.current_year)  # the budget's yuan are this year's (nominal)
    assert g.rescue_left == pytest.approx(c.rescue_budget_myuan_per_year * m.world.usd_per_cny * 0.5 / level)


def test_rescue_recapitalises_to_zero_cash_and_zero_equity_within_the_budget():
    m = model(steps=2)
    g, other = m.policy.groups[:2]
    pop = m.pop
    a, b = members(m, g)[:2]
    o = members(m, other)[0]
    for r in (a, b, o):
        pop.cash[r], pop.book_assets[r], pop.cip[r], pop.debt[r], pop.working_capital[r] = -5.0, 10.0, 0.0, 20.0, 0.0
        pop.neg_equity_quarters[r] = 3
    pop.book_assets[o] = 20.0  # the other group's firm would need 5 only: what is left after one rescue
    # each needs 5 (cash back to zero) + 10 (equity back to zero) = 15 M USD; the budget covers one
    g.rescue_left = 20.0
    spent0, n0 = g.spent["rescue"], len(m.event_log)
    rows = np.array(sorted([a, b, o]))
    out = g.rescue(rows)
    first, second = sorted([a, b])
    assert sorted(out.tolist()) == sorted([second, o])  # the other group's firm is not this group's business
    assert pop.cash[first] == pytest.approx(10.0) and pop.equity[first] == pytest.approx(0.0)
    assert pop.neg_equity_quarters[first] == 0
    assert pop.cash[second] == -5.0 and pop.cash[o] == -5.0
    assert g.rescue_left == pytest.approx(5.0) and g.spent["rescue"] - spent0 == pytest.approx(15.0)
    assert [(e.kind, e.firm_id, e.detail, e.value) for e in m.event_log.where(start=n0)] == [
        ("rescued", int(pop.firm_id[first]), g.name, pytest.approx(15.0))
    ]
    # no budget left for a 15 M USD rescue: nothing happens
    assert g.rescue(np.array([second])).tolist() == [second] and g.rescue_left == pytest.approx(5.0)


def test_a_rescued_subsidiary_does_not_exit():
    m = model(steps=3)
    g = m.policy.groups[0]
    r = members(m, g)[0]
    fid = int(m.pop.firm_id[r])
    m.pop.cash[r] = -1000.0  # insolvent after the next accounts unless rescued
    g.rescue_left = 1e6
    m.step()
    assert any(e.kind == "rescued" and e.firm_id == fid for e in m.event_log)
    assert not any(e.kind == "exit" and e.firm_id == fid for e in m.event_log)
    assert m.pop.alive[m.pop.row_of(fid)]


def test_grading_top_share_and_rd_fund_split():
    m = model(steps=4)  # the next new year falls at the start of the next step
    pop = m.pop
    for g in m.policy.groups:
        g.new_year()
        ops = members(m, g)
        graded = np.flatnonzero(pop.group_grade_a & (pop.group == g.index))
        n_a = max(int(round(g.cfg.grading_top_share * len(ops))), 1)
        assert len(graded) == n_a and set(graded) <= set(ops)
        # the best by R&D intensity + invention patents per M USD of revenue / 100
        step = m.quarter
        rev = pop.trailing(pop.rev_hist, step, 4)[ops]
        rd = pop.trailing(pop.rd_hist, step, 4)[ops]
        perf = np.where(rev > 1e-12, rd / np.where(rev > 1e-12, rev, 1.0) + pop.patents_invention[ops] / np.where(rev > 1e-12, rev, 1.0) / 100.0, 0.0)
        assert perf[np.isin(ops, graded)].min() >= perf[~np.isin(ops, graded)].max()
        fund = g.cfg.rd_fund_myuan_per_year * m.world.usd_per_cny * m.world.scale / yuan_price_level(m.world, m.current_year)
        assert g.rd_fund_q == pytest.approx(fund / 4.0 / n_a)
        pop.grants[:] = 0.0
        pop.rd_grants[:] = 0.0
        before = g.spent["rd_fund"]
        g.pay_rd_fund()
        np.testing.assert_allclose(pop.grants[graded], g.rd_fund_q)
        np.testing.assert_allclose(pop.rd_grants[graded], g.rd_fund_q)
        assert g.spent["rd_fund"] - before == pytest.approx(fund / 4.0)
        others = np.setdiff1d(np.arange(len(pop)), graded)
        assert (pop.grants[others] == 0.0).all()


def test_incubation_enters_the_largest_gap_stage_as_state_owned_subsidiaries():
    m = model(steps=2, incubation_per_year=20.0)
    g = m.policy.groups[0]
    coord = m.policy.governments[CHINA].policy.coordination
    pop = m.pop
    # China's 2015 capacity covers its planned need at every stage: no gap above the threshold, nothing to incubate into
    assert (m.stage_gap(CHINA, coord.plan_horizon_years) <= coord.gap_threshold).all()
    n0, incubated0 = len(pop), g.counts["incubated"]
    g._incubate()
    assert len(m.pop) == n0 and g.counts["incubated"] == incubated0
    # China's metal capacity falls to a fifth and its metal projects stop: metal becomes the largest gap, above the threshold
    metal = m.tables.stages.index("metal")
    here = (pop.bloc == CHINA) & (pop.stage == metal)
    pop.capacity_t[here] *= 0.2
    pop.proj_phase[here] = ProjectPhase.NONE
    gap = m.stage_gap(CHINA, coord.plan_horizon_years)
    assert int(np.argmax(gap)) == metal and gap[metal] > coord.gap_threshold
    ev0 = len(m.event_log)
    spent0 = g.spent["incubation"]
    g._incubate()
    new = np.arange(n0, len(m.pop))
    assert len(new) > 0 and g.counts["incubated"] - incubated0 == len(new)
    pop = m.pop
    assert (pop.group[new] == g.index).all() and pop.state_owned[new].all()
    assert (pop.stage[new] == metal).all() and (pop.bloc[new] == g.bloc).all()
    assert (pop.region[new] == g.region).all() and (pop.phase[new] == Phase.PROJECT).all()
    inc = m.event_log.where(kind="incubated", start=ev0)
    assert sorted(e.firm_id for e in inc) == pop.firm_id[new].tolist()
    assert g.spent["incubation"] - spent0 == pytest.approx(sum(e.value for e in inc))
    assert all(e.value > 0 for e in inc)


def test_knowledge_sharing_override():
    m = model(*LISTED, knowledge_sharing=0.7)  # the policy's sharing reaches the state groups; a private group keeps the world's
    state = m.tables.group_state_owned
    np.testing.assert_array_equal(m.group_sharing[state], 0.7)
    np.testing.assert_array_equal(m.group_sharing[~state], m.world.innovation.group_sharing)
    d = model()
    np.testing.assert_array_equal(d.group_sharing, d.world.innovation.group_sharing)


# ---------------------------------------------------------------------------
# Regime changes (cfg.policy_change): the groups act under the bloc's policy in force
# ---------------------------------------------------------------------------
SWITCH_YEAR, SWITCH_Q = 2018.0, 12  # 2018 Q1 is quarter index 12 of a run from 2015


def switched(before: str, after: str) -> ChainModel:
    m = ChainModel(
        fresh_config(
            "scenario=laissez_faire",
            f"policy@policy.china={before}",
            f"+policy@policy_change.china.policy={after}",
            f"+policy_change.china.year={SWITCH_YEAR}",
            "years=8",
        )
    )
    m.run()
    assert [(e.quarter, e.detail) for e in m.event_log if e.kind == "policy_change"] == [(SWITCH_Q, after)]
    return m


GROUP_ACTIONS = ("graded_a", "incubated", "rescued")


def test_groups_stop_acting_after_a_switch_to_no_policy():
    m = switched("coordinated", "none")
    before = [e for e in m.event_log if e.kind in GROUP_ACTIONS and e.quarter < SWITCH_Q]
    after = [e for e in m.event_log if e.kind in GROUP_ACTIONS and e.quarter > SWITCH_Q]
    assert before  # they acted under the coordinated regime
    assert after == []


def test_groups_start_acting_after_a_switch_to_the_coordinated_regime():
    m = switched("none", "coordinated")
    assert not [e for e in m.event_log if e.kind in GROUP_ACTIONS and e.quarter < SWITCH_Q]
    assert [e for e in m.event_log if e.kind == "graded_a" and e.quarter > SWITCH_Q]


# ---------------------------------------------------------------------------
# Private groups (world.groups.<g>.state_owned false): the listed makers and their plant subsidiaries
# ---------------------------------------------------------------------------
LISTED = (*COORD, "world=rare_earth_2015_listed_groups")  # the listed makers as private groups of plants


def _listed(m) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the private groups' plants and of the state groups' firms."""
    T, pop = m.tables, m.pop
    in_group = pop.group >= 0
    private = in_group & ~T.group_state_owned[np.maximum(pop.group, 0)]
    return np.flatnonzero(private), np.flatnonzero(in_group & ~private)


def test_private_groups_get_no_state_support_and_count_as_private_firms():
    """A private group is no SOEGroup agent (no rescue, grading or incubation); its plants are private firms outside the
    state groups (investors' private appetite, output quotas for firms outside the state groups). The default world has
    no private group."""
    assert model().tables.group_state_owned.all()
    m = model(*LISTED)
    T, pop = m.tables, m.pop
    private_groups = [g for g, so in zip(T.groups, T.group_state_owned) if not so]
    assert len(private_groups) == 6 and all(T.group_bloc[T.groups.index(g)] == CHINA for g in private_groups)
    assert {g.name for g in m.policy.groups}.isdisjoint(private_groups)
    listed, state = _listed(m)
    assert len(listed) == 18 and not pop.state_owned[listed].any()
    outside = T.private_outside_state_groups(pop.group, pop.state_owned)
    assert outside[listed].all() and not outside[state].any()
    assert outside[(pop.group < 0) & ~pop.state_owned].all()


def test_investors_treat_a_private_groups_plant_as_a_private_firm():
    """At the finance gate investors provide outside equity with the bloc's appetite to a state group's firm and with
    its private appetite to a private group's plant: a draw between the two gives equity to the first only."""
    from agents.investment import funding

    m = model(*LISTED)
    T, pop = m.tables, m.pop
    listed, state = _listed(m)
    rows = np.array([listed[0], state[0]])
    assert T.private_investor_appetite[CHINA] < T.investor_appetite[CHINA]
    pop.cash[rows] = 0.0
    u = np.full(2, 0.5 * (T.private_investor_appetite[CHINA] + T.investor_appetite[CHINA]))
    raised, _, _ = funding(pop, T, rows, np.full(2, 10.0), np.ones(2, dtype=bool), m.world.finance, np.zeros(len(pop)), u)
    assert raised[0] == 0.0 and raised[1] > 0.0


def test_a_private_group_with_a_little_giant_counts_whole_in_the_control_share():
    """lg_control: a group with a Little Giant holds its whole magnet capacity, a private group as a state group."""
    from agents.firms import Tier

    m = model(*LISTED, steps=1)
    T, pop = m.tables, m.pop
    pop.tier[pop.bloc == CHINA] = Tier.NONE
    listed, _ = _listed(m)
    g = pop.group[listed[0]]
    mine = np.flatnonzero(pop.alive & (pop.group == g) & (pop.phase == Phase.OPERATING))
    mag = pop.alive & (pop.phase == Phase.OPERATING) & (pop.bloc == CHINA) & (pop.stage == T.stages.index("magnet"))

    def magnet_share() -> float:
        rows = m.recorder.policy.rows
        n0 = len(rows)
        m.recorder.policy.record_quarter()
        return [r[4] for r in rows[n0:] if r[1] == CHINA and r[2] == "lg_control" and r[3] == "magnet"][0]

    assert magnet_share() == 0.0
    pop.tier[mine[0]] = Tier.LITTLE_GIANT
    assert magnet_share() == pytest.approx(pop.capacity_t[mine].sum() / pop.capacity_t[mag].sum())
