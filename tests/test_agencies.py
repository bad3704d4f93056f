"""Western funding agencies (agents/agencies.py, MODEL.md 5.8).

Runs use the composed config ``scenario=laissez_faire`` with the fragmented regime for the West
(the command-line policy override wins over the scenario's ``none``) and a higher Western demand
path, so that Western projects are worth doing and agencies have applicants to fund.
"""

from __future__ import annotations

import copy
import dataclasses
from collections import Counter, defaultdict
from functools import lru_cache

import numpy as np
import pytest
from mesa.time import Priority, Schedule

from agents import investment as inv
from agents.agencies import Award, FundingAgency, create_agencies, fit_awards, lag_quarters, selection_order
from agents.firms import Phase, ProjectPhase, processing_cost
from sim.config import compose
from sim.config.policy import AgencyConfig
from sim.engine.event_log import Event, EventLog
from sim.engine.model import ChainModel

YEARS = 12
BASE = ("scenario=laissez_faire", f"years={YEARS}", "policy@policy.west=fragmented", "progress=false", "output.write=false")
RICH_WEST = "world.blocs.west.demand_t_per_year=[[2015,100000.0],[2045,400000.0]]"


@lru_cache(maxsize=None)
def _composed(extra: tuple[str, ...]):
    return compose(list(BASE + extra))


def config(*extra: str, rich: bool = True):
    """A composed config (deep copy: safe to modify)."""
    return copy.deepcopy(_composed(((RICH_WEST,) if rich else ()) + tuple(extra)))


def west(cfg_or_model) -> int:
    w = cfg_or_model.world
    return list(w.blocs).index("west")


def build(cfg) -> tuple[ChainModel, list[FundingAgency]]:
    """A model and the West's agencies (created by the model when it wires them, else here)."""
    m = ChainModel(cfg)
    b = west(m)
    agencies = list(m.policy.agencies.get(b, []))
    if not agencies:
        agencies = create_agencies(m, b, cfg.policy["west"])
        for a in agencies:
            a.install(m)
    return m, agencies


def run(m: ChainModel, quarters: int | None = None) -> ChainModel:
    for _ in range(m.n_steps if quarters is None else quarters):
        m.step()
    return m


def events(m: ChainModel, *kinds: str) -> list[Event]:
    return m.event_log.where(kind=kinds)


class Snapshots:
    """Firm state just before every between-quarter instant (model time q + 0.5, high priority, so before
    the agencies' calls): firm_id -> (bloc, region, stage, proj_phase, proj_start_step, PI, project capex M USD)."""

    def __init__(self, m: ChainModel):
        self.m = m
        self.at: dict[int, dict[int, tuple]] = {}
        m.schedule_recurring(self.snap, Schedule(interval=1.0, start=0.5), priority=Priority.HIGH)

    def snap(self) -> None:
        m = self.m
        pop, T, w = m.pop, m.tables, m.world
        pi = inv.profitability_index(
            pop.bloc, pop.stage, processing_cost(pop, T), T, m.expectations(), w.investment.horizon_years, w.finance.depreciation_years
        )
        alive = pop.alive
        self.at[m.quarter + 1] = {
            int(f): (int(b), int(r), int(s), int(ph), int(st), float(p), float(c))
            for f, b, r, s, ph, st, p, c, a in zip(
                pop.firm_id, pop.bloc, pop.region, pop.stage, pop.proj_phase, pop.proj_start_step, pi, pop.proj_capex_musd, alive
            )
            if a
        }


@pytest.fixture(scope="module")
def fragmented_run():
    cfg = config()
    m, agencies = build(cfg)
    snaps = Snapshots(m)
    run(m)
    return cfg, m, agencies, snaps


# ---------------------------------------------------------------------- configuration
def test_config_composes_with_fragmented_west():
    cfg = config(rich=False)
    assert cfg.policy["west"].regime == "fragmented"
    assert cfg.policy["china"].regime == "none"
    assert set(cfg.policy["west"].agencies) == {"defence_fund", "energy_department", "eu_instrument", "australian_lender", "japanese_agency"}
    assert all(isinstance(a, AgencyConfig) for a in cfg.policy["west"].agencies.values())


def test_create_agencies_maps_names_to_indices():
    cfg = config(rich=False)
    m = ChainModel(cfg)
    T = m.tables
    b = west(m)
    pol = dataclasses.replace(
        cfg.policy["west"],
        agencies={
            "a": AgencyConfig(regions=["eu"], stages=["magnet", "metal"], budget_musd_per_year=1.0),
            "b": AgencyConfig(budget_musd_per_year=1.0),
        },
    )
    a, b_all = create_agencies(m, b, pol)
    assert a.name == "a" and a.bloc == b
    assert list(a.regions) == [T.regions.index("eu")] and sorted(a.stages) == sorted([T.stages.index("magnet"), T.stages.index("metal")])
    assert sorted(b_all.regions) == sorted(np.flatnonzero(T.region_bloc == b)) and list(b_all.stages) == list(range(T.S))
    with pytest.raises(ValueError):
        FundingAgency(m, "c", b, AgencyConfig(regions=["jiangxi"]))


# ---------------------------------------------------------------------- pure rules
def test_selection_orders():
    pi = np.array([0.5, 2.0, 0.1, 2.0, 1.0])
    start = np.array([8, 3, 5, 1, 3])
    capex = np.array([10.0, 50.0, 200.0, 5.0, 50.0])
    assert list(selection_order("best_return", pi, start, capex)) == [1, 3, 4, 0, 2]  # ties keep firm order
    assert list(selection_order("first_come", pi, start, capex)) == [3, 1, 4, 2, 0]
    assert list(selection_order("largest", pi, start, capex)) == [2, 1, 4, 0, 3]
    r1 = selection_order("random", pi, start, capex, np.random.default_rng(7))
    r2 = selection_order("random", pi, start, capex, np.random.default_rng(7))
    assert sorted(r1) == list(range(5)) and list(r1) == list(r2)
    orders = {tuple(selection_order("random", pi, start, capex, np.random.default_rng(s))) for s in range(20)}
    assert len(orders) > 5  # really random
    gap = np.array([0.1, -0.2, 0.1, 0.6, 0.6])  # gap of each applicant's stage
    assert list(selection_order("best_return", pi, start, capex, gap=gap)) == [3, 4, 0, 2, 1]
    assert list(selection_order("largest", pi, start, capex, gap=gap)) == [4, 3, 2, 0, 1]
    with pytest.raises(ValueError):
        selection_order("lottery", pi, start, capex)
    with pytest.raises(ValueError):
        selection_order("random", pi, start, capex)


def test_fit_awards_skips_what_does_not_fit():
    assert list(fit_awards(np.array([6.0, 5.0, 4.0]), 10.0)) == [True, False, True]
    assert list(fit_awards(np.array([11.0, 10.0]), 10.0)) == [False, True]
    assert list(fit_awards(np.array([0.0, 3.0]), 10.0)) == [False, True]  # no zero awards
    assert not fit_awards(np.array([1.0, 2.0]), 0.0).any()


def test_lag_rounds_to_whole_quarters_at_least_one():
    assert list(lag_quarters(np.array([0.0, 0.1, 0.125, 1.0, 1.37, 1.38, 3.0]))) == [1, 1, 1, 4, 5, 6, 12]


# ---------------------------------------------------------------------- runs
def test_calls_are_yearly_just_before_the_call_quarter(fragmented_run):
    cfg, m, agencies, _ = fragmented_run
    start = m.world.start_year
    assert len(agencies) == 5
    for a in agencies:
        assert sorted(a.by_year) == list(range(start, start + YEARS))
        assert all(book["n_calls"] == 1 for book in a.by_year.values())
        for aw in a.awards:
            assert aw.commit_quarter % 4 == a.cfg.call_quarter - 1
            assert aw.year == start + aw.commit_quarter // 4
    for e in events(m, "award"):
        cq = cfg.policy["west"].agencies[e.detail].call_quarter
        assert e.quarter % 4 == cq - 1


def test_budget_never_exceeded(fragmented_run):
    _, m, agencies, _ = fragmented_run
    committed = defaultdict(float)
    for e in events(m, "award"):
        committed[(e.detail, m.world.start_year + e.quarter // 4)] += e.value
    assert sum(a.totals()["n_awards"] for a in agencies) >= 10  # the run really funds projects
    for a in agencies:
        for year, book in a.by_year.items():
            assert book["committed_musd"] <= book["budget_musd"] + 1e-9, (a.name, year)
            assert committed[(a.name, year)] == pytest.approx(book["committed_musd"])
            assert book["budget_musd"] >= 0.0
            if book["n_cancelled"]:
                assert book["budget_musd"] == 0.0 and book["n_awards"] == 0
        for aw in a.awards:
            assert aw.amount_musd <= a.cfg.cap_musd + 1e-12  # the cap is per award and not scaled
        tot = a.totals()
        assert tot["committed_musd"] == pytest.approx(tot["paid_musd"] + tot["lapsed_musd"] + tot["pending_musd"])


def test_budget_rule_without_stop_go():
    cfg = config("world.scale=2.0", rich=False)
    cfg.policy["west"].agencies = {
        "steady": AgencyConfig(budget_musd_per_year=40.0, stop_go_sd=0.0, stop_probability=0.0, call_quarter=2, capex_share=0.5, cap_musd=10.0)
    }
    m, (a,) = build(cfg)
    run(m, 10)  # calls at model times 1.5, 5.5 and 9.5 (just before quarters 1, 5 and 9)
    assert [round(b["budget_musd"], 9) for b in a.by_year.values()] == [80.0, 80.0, 80.0]  # x world.scale


def test_stop_go_budget_has_mean_one():
    cfg = config(rich=False)
    m = ChainModel(cfg)
    a = FundingAgency(m, "stopgo", west(m), AgencyConfig(budget_musd_per_year=1.0, stop_go_sd=0.6, stop_probability=0.2))
    draws = np.array([a.draw_budget() for _ in range(20000)])
    assert (draws == 0).mean() == pytest.approx(0.2, abs=0.015)
    assert draws[draws > 0].mean() == pytest.approx(1.0, abs=0.03)
    assert np.log(draws[draws > 0]).std() == pytest.approx(0.6, abs=0.02)


def test_awards_paid_only_after_the_lag(fragmented_run):
    _, m, agencies, _ = fragmented_run
    settled = Counter((e.kind, e.detail, e.firm_id, e.quarter, round(e.value, 9)) for e in events(m, "award_paid", "award_lapsed"))
    made = Counter((e.detail, e.firm_id, e.quarter, round(e.value, 9)) for e in events(m, "award"))
    n_settled = 0
    for a in agencies:
        lo, hi = lag_quarters(np.array(a.cfg.award_lag_years))
        for aw in a.awards:
            assert made[(a.name, aw.firm_id, aw.commit_quarter, round(aw.amount_musd, 9))] >= 1
            assert lo <= aw.due_quarter - aw.commit_quarter <= hi
            if aw.status == "pending":
                assert aw.due_quarter > m.quarter  # not yet due at the end of the run
                continue
            n_settled += 1
            assert aw.settled_quarter == aw.due_quarter
            kind = "award_paid" if aw.status == "paid" else "award_lapsed"
            assert settled[(kind, a.name, aw.firm_id, aw.due_quarter, round(aw.amount_musd, 9))] >= 1
    assert n_settled > 0
    assert sum(settled.values()) == n_settled


def test_only_eligible_projects_receive_awards(fragmented_run):
    _, m, agencies, snaps = fragmented_run
    T = m.tables
    min_pi = m.world.investment.min_profitability_index
    b = west(m)
    unfunded = {int(p) for p in (ProjectPhase.PLANNING, ProjectPhase.PERMITTING, ProjectPhase.FINANCING)}
    for a in agencies:
        regions = {T.regions.index(r) for r in a.cfg.regions} or set(np.flatnonzero(T.region_bloc == b).tolist())
        stages = {T.stages.index(s) for s in a.cfg.stages} or set(range(T.S))
        projects = set()
        for aw in a.awards:
            before = snaps.at[aw.commit_quarter][aw.firm_id]  # the firm as it stood when the call fired
            fb, fr, fs, phase, start, pi, capex = before
            assert fb == b and fr in regions and fs in stages, (a.name, before)
            assert phase in unfunded and start == aw.proj_start_step
            assert pi > min_pi and pi == pytest.approx(aw.pi)
            assert (aw.firm_id, aw.proj_start_step) not in projects  # one award per project and agency
            projects.add((aw.firm_id, aw.proj_start_step))
            assert aw.amount_musd == pytest.approx(min(a.cfg.capex_share * capex, a.cfg.cap_musd))


def test_projects_not_worth_doing_are_not_funded():
    cfg = config("world.investment.min_profitability_index=1.5")
    m, agencies = build(cfg)
    snaps = Snapshots(m)
    run(m)
    n_app = sum(a.totals()["n_applicants"] for a in agencies)
    n_elig = sum(a.totals()["n_eligible"] for a in agencies)
    assert n_elig < n_app  # the threshold really excluded applicants
    n = 0
    for a in agencies:
        for aw in a.awards:
            assert snaps.at[aw.commit_quarter][aw.firm_id][5] > 1.5
            n += 1
    assert n > 0


def test_cancelled_calls_award_nothing():
    cfg = config()
    for name, ac in list(cfg.policy["west"].agencies.items()):
        cfg.policy["west"].agencies[name] = dataclasses.replace(ac, stop_probability=1.0)
    m, agencies = build(cfg)
    run(m)
    assert not events(m, "award", "award_paid", "award_lapsed")
    for a in agencies:
        assert a.awards == []
        tot = a.totals()
        assert tot["budget_musd"] == 0.0 and tot["committed_musd"] == 0.0 and tot["n_cancelled"] == YEARS == tot["n_calls"]
    assert (m.pop.grants == 0).all()


def test_same_seed_same_awards_and_own_random_stream():
    def awards_of(cfg):
        m, agencies = build(cfg)
        run(m)
        return m, agencies, events(m, "award", "award_paid", "award_lapsed")

    m1, ag1, ev1 = awards_of(config())
    m2, ag2, ev2 = awards_of(config())
    assert ev1 and ev1 == ev2
    assert [a.by_year for a in ag1] == [a.by_year for a in ag2]
    # common random numbers: an agency's budget path depends on the seed and its name only, not on the world
    m3, ag3, _ = awards_of(config(rich=False))
    assert [[b["budget_musd"] for b in a.by_year.values()] for a in ag1] == [[b["budget_musd"] for b in a.by_year.values()] for a in ag3]
    # and agencies that never award leave every other stream, hence the whole run, untouched
    off = config()
    off.policy["west"].agencies = {k: dataclasses.replace(v, stop_probability=1.0) for k, v in off.policy["west"].agencies.items()}
    none = config("policy@policy.west=none")
    m_off, _, _ = awards_of(off)
    m_none, _, _ = awards_of(none)
    assert _comparable(m_off.event_log) == _comparable(m_none.event_log)
    assert np.array_equal(m_off.pop.cash, m_none.pop.cash)


def _comparable(log: EventLog) -> list[Event]:
    """Event log with NaN values replaced (NaN != NaN)."""
    return [e._replace(value=None if e.value != e.value else e.value) for e in log]


def _single_agency_model(lag=(1.0, 1.0)):
    """A model whose West has one generous agency for every Western project, paying after ``lag`` years."""
    cfg = config()
    cfg.policy["west"].agencies = {
        "solo": AgencyConfig(
            budget_musd_per_year=5000.0, call_quarter=1, award_lag_years=list(lag), capex_share=0.3, cap_musd=1000.0, selection="first_come"
        )
    }
    m, (a,) = build(cfg)
    return m, a


def test_award_to_abandoned_project_lapses_and_others_are_paid_into_grants():
    m, a = _single_agency_model()
    run(m, 4 * 5)
    while not any(aw.status == "pending" for aw in a.awards):
        m.step()
    pending = [aw for aw in a.awards if aw.status == "pending"]  # paid at model time due_quarter + 0.5, still ahead
    pop = m.pop
    victim = pending[0]
    r = pop.row_of(victim.firm_id)
    pop.proj_phase[r] = ProjectPhase.NONE  # the project is abandoned ...
    pop.phase[r] = Phase.OPERATING  # ... while the firm carries on (it does not exit)
    pop.proj_added_t[r] = 0.0
    # grants in the firms' columns just after the payments of that instant (low priority: after the agency)
    seen: dict[int, float] = {}

    def peek() -> None:
        for aw in pending:
            try:
                seen[aw.firm_id] = float(m.pop.grants[m.pop.row_of(aw.firm_id)])
            except KeyError:
                seen[aw.firm_id] = float("nan")

    m.schedule_event(peek, at=victim.due_quarter + 0.5, priority=Priority.LOW)
    while m.quarter < victim.due_quarter:
        m.step()
    assert victim.status == "lapsed" and victim.settled_quarter == victim.due_quarter
    assert ("award_lapsed", victim.firm_id, victim.due_quarter) in {(e.kind, e.firm_id, e.quarter) for e in m.event_log}
    assert seen[victim.firm_id] == 0.0
    paid = [aw for aw in pending if aw.status == "paid" and aw.due_quarter == victim.due_quarter]
    assert paid
    for aw in paid:
        assert seen[aw.firm_id] == pytest.approx(aw.amount_musd)  # the grant enters the next quarter's accounts
    assert a.totals()["lapsed_musd"] >= victim.amount_musd


def test_still_due_rules():
    m, a = _single_agency_model()
    run(m, 30)
    pop = m.pop
    rows = np.flatnonzero(pop.alive & (pop.proj_phase != ProjectPhase.NONE))
    r = int(rows[0])
    fid, start = int(pop.firm_id[r]), int(pop.proj_start_step[r])
    aw = Award("solo", fid, start, int(pop.bloc[r]), int(pop.stage[r]), int(pop.region[r]), 1.0, 0.5, 2020, 0, 4)
    assert a.still_due(aw) == r
    pop.proj_phase[r] = ProjectPhase.NONE
    pop.proj_added_t[r] = pop.proj_nameplate_t[r]  # the project reached operation: paid
    assert a.still_due(aw) == r
    pop.proj_added_t[r] = 0.0  # abandoned before construction: lapses
    assert a.still_due(aw) is None
    assert a.still_due(dataclasses.replace(aw, proj_start_step=start - 1)) is None  # another project
    pop.proj_phase[r] = ProjectPhase.PLANNING
    pop.phase[r] = Phase.EXITED
    assert a.still_due(aw) is None
    assert a.still_due(dataclasses.replace(aw, firm_id=int(pop.next_id) + 5)) is None  # no such live firm


def test_retire_stops_calls_and_honours_or_lapses_pending_awards():
    m, a = _single_agency_model(lag=(2.0, 2.0))
    run(m, 4 * 6)
    while not any(aw.status == "pending" for aw in a.awards):
        m.step()
    n_calls = a.totals()["n_calls"]
    a.retire()
    run(m, 12)
    assert a.totals()["n_calls"] == n_calls
    assert not any(aw.status == "pending" for aw in a.awards)  # honoured: paid (or lapsed) when due
    m2, a2 = _single_agency_model(lag=(2.0, 2.0))
    run(m2, m.quarter - 11)
    pend = [aw for aw in a2.awards if aw.status == "pending"]
    assert pend
    a2.retire(honour_pending=False)
    assert all(aw.status == "lapsed" for aw in pend)
    run(m2, 12)
    assert not events(m2, "award_paid") or max(e.quarter for e in events(m2, "award_paid")) <= m2.quarter - 12


def test_coordinated_west_pooled_fund_targets_gaps():
    cfg = config("policy@policy.west=coordinated_west")
    cfg.policy["west"].coordination.incubation_per_year = 0.0  # sponsored entrants at the call would move the gaps after look()
    m, agencies = build(cfg)
    (pooled,) = [a for a in agencies if a.name == "pooled_fund"]
    assert pooled.cfg.gap_targeting and pooled.plan_horizon_years == cfg.policy["west"].coordination.plan_horizon_years
    gaps = {}

    def look() -> None:
        gaps[m.quarter + 1] = m.stage_gap(pooled.bloc, pooled.plan_horizon_years)

    m.schedule_recurring(look, Schedule(interval=4.0, start=0.5), priority=Priority.HIGH)
    run(m)
    assert pooled.awards
    by_call = defaultdict(list)
    for aw in pooled.awards:
        by_call[aw.commit_quarter].append(aw)
    for q, aws in by_call.items():
        g = [gaps[q][aw.stage] for aw in aws]
        assert g == sorted(g, reverse=True)  # awards go down the gap ranking
