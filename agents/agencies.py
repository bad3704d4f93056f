"""Western funding agencies of the fragmented regime (MODEL.md 5.8).

Each agency is a ``mesa.Agent`` with its own yearly budget (M USD), stop-go
variation, jurisdiction (regions of its bloc), stage focus, a yearly call, an
application-to-award lag, awards as a share of project capex with a cap, and
its own selection rule. Agencies do not coordinate: two agencies may fund the
same project, and an agency may fund a mine while no separation capacity
exists. The "coordinated West" counterfactual is the same machinery with one
pooled agency whose applicants are ranked by the bloc's stage gaps first
(``gap_targeting``).

Money is in M USD throughout. Timing (Mesa event scheduling): the model's step
at integer time ``t`` simulates quarter index ``t - 1``; the agency's events
fire between quarters at ``q + 0.5``, i.e. just before quarter index ``q``, and
log that quarter. A grant paid at ``q + 0.5`` is added to ``pop.grants`` and so
enters the firm's accounts (cash and profit) in quarter ``q``.

Randomness: each agency draws only from ``model.policy_rng("agency:<name>")``
(common random numbers, MODEL.md 4). Every call first draws a fixed pair
(stop-go uniform, budget normal), so the budget path of an agency depends only
on the seed and its name; the draws whose number depends on the applicants
(random ordering, award lags) come from a child generator spawned per call.

Events logged: ``award`` (at commitment), ``award_paid`` / ``award_lapsed`` (at
payment time), each with the agency's name as detail and the amount in M USD as
value.

Each agency is a policy module (sim.engine.policy.PolicyModule): ``install``
schedules the yearly call (``year``), ``retire`` stops the calls; its books:
``agency:<name>`` (payments made).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mesa
import numpy as np
from mesa.time import Schedule

from agents import investment as inv
from agents.firms import Phase, ProjectPhase, processing_cost

# projects an agency can fund: not yet past the final investment decision
UNFUNDED = (ProjectPhase.PLANNING, ProjectPhase.PERMITTING, ProjectPhase.FINANCING)
BOOK_KEYS = ("budget_musd", "committed_musd", "paid_musd", "lapsed_musd", "n_awards", "n_applicants", "n_eligible", "n_calls", "n_cancelled")
_KEY_SHIFT = 1 << 24  # firm_id x shift + proj_start_step + 1 identifies one project of one firm


@dataclass
class Award:
    """One award of one agency to one project (money in M USD, quarters as model quarter indices)."""

    agency: str
    firm_id: int
    proj_start_step: int  # identifies the project (a firm has one project at a time)
    bloc: int
    stage: int
    region: int
    amount_musd: float
    pi: float  # profitability index of the project at the call
    year: int  # calendar year of the call
    commit_quarter: int  # quarter the call acted in (fired just before it)
    due_quarter: int  # quarter in which the payment is made (commit_quarter + lag)
    status: str = "pending"  # pending | paid | lapsed
    settled_quarter: int = -1  # quarter of payment or lapse


def project_key(firm_id, proj_start_step) -> np.ndarray:
    """One integer per project of a firm (a firm has one project at a time; its start quarter tells them apart)."""
    return np.asarray(firm_id, dtype=np.int64) * _KEY_SHIFT + (np.asarray(proj_start_step, dtype=np.int64) + 1)


def lag_quarters(lag_years: np.ndarray) -> np.ndarray:
    """Award lag in whole quarters: years x 4 rounded half up, at least one quarter."""
    return np.maximum(np.floor(np.asarray(lag_years, dtype=float) * 4.0 + 0.5), 1.0).astype(int)


def selection_order(
    rule: str, pi: np.ndarray, start_step: np.ndarray, capex_musd: np.ndarray, rng: np.random.Generator | None = None, gap: np.ndarray | None = None
) -> np.ndarray:
    """Order in which applicants are considered (indices into the applicant arrays), MODEL.md 5.8.

    Rules: ``best_return`` highest profitability index (NPV / capex) first; ``first_come`` earliest
    project start (quarter index) first; ``random`` a random order drawn from ``rng``; ``largest``
    largest project capex (M USD) first. With ``gap`` (the bloc's planned gap of each applicant's
    stage, 1 - usable capacity / need) applicants are ranked by gap first (larger gap first) and by
    the rule within a gap. Remaining ties keep the applicants' given order (firm id order).
    """
    n = len(pi)
    if rule == "best_return":
        key = -np.asarray(pi, dtype=float)
    elif rule == "first_come":
        key = np.asarray(start_step, dtype=float)
    elif rule == "largest":
        key = -np.asarray(capex_musd, dtype=float)
    elif rule == "random":
        if rng is None:
            raise ValueError("the random selection rule needs a generator")
        key = rng.random(n)
    else:
        raise ValueError(f"unknown selection rule '{rule}'; allowed: best_return, first_come, random, largest")
    keys = [np.arange(n), key]  # np.lexsort: the last key is the primary one
    if gap is not None:
        keys.append(-np.asarray(gap, dtype=float))
    return np.lexsort(keys)


def fit_awards(amounts_musd: np.ndarray, budget_musd: float) -> np.ndarray:
    """Which awards (in the given order) the budget covers: going down the list, an award is committed
    only when the remaining budget covers it entirely; awards that do not fit are skipped and smaller
    ones further down may still be funded. Zero awards are never made. Returns a boolean mask."""
    take = np.zeros(len(amounts_musd), dtype=bool)
    left = float(budget_musd)
    for i, a in enumerate(np.asarray(amounts_musd, dtype=float)):
        if 0.0 < a <= left:
            take[i] = True
            left -= a
    return take


def decide_awards(
    cfg, pi: np.ndarray, start_step: np.ndarray, capex_musd: np.ndarray, budget_musd: float, rng: np.random.Generator, gap: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A call's decision over its eligible applicants: their order (:func:`selection_order`), the award each
    would get in that order (min(``capex_share`` x project capex, ``cap_musd``), M USD) and which of them
    the budget covers (:func:`fit_awards`)."""
    order = selection_order(cfg.selection, pi, start_step, capex_musd, rng, gap)
    amounts = np.minimum(cfg.capex_share * capex_musd[order], cfg.cap_musd)
    return order, amounts, fit_awards(amounts, budget_musd)


def support_share(cfg, typical_capex_musd: np.ndarray) -> np.ndarray:
    """(S,) share of a typical plant's capex (M USD) an award of this agency pays: ``capex_share``, at most ``cap_musd``."""
    capped = np.divide(cfg.cap_musd, typical_capex_musd, out=np.full(len(typical_capex_musd), cfg.capex_share), where=typical_capex_musd > 0)
    return np.minimum(cfg.capex_share, capped)


class FundingAgency(mesa.Agent):
    """One Western funding agency (MODEL.md 5.8): yearly call, stop-go budget, lagged capped awards.

    Yearly call, just before the first quarter of ``cfg.call_quarter`` each year (first year included):

    * budget (M USD) = ``budget_musd_per_year`` x ``world.scale`` x m, where the call is cancelled
      (m = 0) with probability ``stop_probability`` and otherwise m ~ lognormal with mean 1 and
      sd of log m = ``stop_go_sd`` (mu = -sd^2 / 2). Unspent budget lapses at the next call.
    * applicants: live firms of the agency's bloc, in its regions and stages (empty lists: all), with a
      project before its final investment decision (planning, permitting or financing) that has no
      pending or paid award of this agency; eligible if the project is worth doing
      (profitability index > ``world.investment.min_profitability_index``, computed as in
      ``sim.engine.investment.do_investment``).
    * eligible applicants are ranked by ``cfg.selection`` (see :func:`selection_order`; with
      ``gap_targeting`` by stage gap first, ``model.stage_gap`` at ``plan_horizon_years``) and awarded
      min(``capex_share`` x project capex, ``cap_musd``) M USD while the remaining budget covers an
      award entirely (see :func:`fit_awards`); the agency never commits more than the year's budget.
    * each award is paid ``lag`` later, lag ~ U(``award_lag_years``) rounded to whole quarters (at
      least one), into the firm's grants of that quarter, if the firm is still alive with the same
      project and the project was not abandoned; otherwise the award lapses unpaid.
    """

    order = 40

    def __init__(self, model, name: str, bloc: int, cfg, plan_horizon_years: float = 5.0):
        super().__init__(model)
        T = model.tables
        self.name = name
        self.bloc = int(bloc)
        self.cfg = cfg
        self.plan_horizon_years = float(plan_horizon_years)
        self.stream = model.policy_rng(f"agency:{model.tables.blocs[bloc]}:{name}")  # the agency's only randomness (mesa.Agent.rng is the model's)
        bloc_regions = np.flatnonzero(T.region_bloc == self.bloc)
        self.regions = np.array([T.regions.index(r) for r in cfg.regions], dtype=int) if cfg.regions else bloc_regions
        if not np.isin(self.regions, bloc_regions).all():
            raise ValueError(f"agency '{name}': regions {list(cfg.regions)} are not all regions of bloc '{T.blocs[self.bloc]}'")
        self.stages = np.array([T.stages.index(s) for s in cfg.stages], dtype=int) if cfg.stages else np.arange(T.S)
        lo, hi = float(cfg.award_lag_years[0]), float(cfg.award_lag_years[1])
        if hi < lo:
            raise ValueError(f"agency '{name}': award_lag_years must be [low, high] with low <= high")
        self.lag_years = (lo, hi)
        self.awards: list[Award] = []
        self.by_year: dict[int, dict[str, float]] = {}
        self.cumulative: dict[str, float] = dict.fromkeys(BOOK_KEYS, 0.0)
        self.budget_musd = 0.0  # this year's budget, M USD
        self.budget_left_musd = 0.0  # uncommitted part of it (lapses at the next call)
        self._awarded: set[int] = set()  # project keys with a pending or paid award
        self._due: dict[float, list[Award]] = {}  # model time of payment -> awards due then
        self.retired = False
        self._calls = None

    # ------------------------------------------------------------------ policy module
    def install(self, model) -> None:
        """First call: the first time 4k + call_quarter - 0.5 (before quarter index 4k + call_quarter - 1) not past."""
        first = self.cfg.call_quarter - 0.5
        if model.time > first:
            first += 4.0 * math.ceil((model.time - first) / 4.0)
        self._calls = model.schedule_recurring(self.call, Schedule(interval=4.0, start=first))

    def quarter(self, model) -> None:
        """Nothing quarterly: calls and payments are scheduled events."""

    def year(self, model) -> None:
        self.call()

    def fiscal_musd(self) -> dict[tuple[int, str], float]:
        return {(self.bloc, f"agency:{self.name}"): float(self.totals().get("paid_musd", 0.0))}

    def retire(self, model=None, honour_pending: bool = True) -> None:
        """The regime ends (policy change): no further calls. Awards already committed are still paid when
        due (the agent stays registered with the model so that its payment events fire); with
        ``honour_pending=False`` they lapse now and the agent is removed from the model."""
        self._calls.stop()
        self.retired = True
        if honour_pending:
            return
        for t in sorted(self._due):
            for award in self._due[t]:
                self._settle(award, self.model.quarter + 1, None)
        self._due.clear()  # the scheduled payment events find nothing due (and die with the agent)
        self.remove()

    # ------------------------------------------------------------------ bookkeeping
    def _year_book(self, year: int) -> dict[str, float]:
        if year not in self.by_year:
            self.by_year[year] = dict.fromkeys(BOOK_KEYS, 0.0)
        return self.by_year[year]

    def _book(self, year: int, key: str, value: float) -> None:
        self._year_book(year)[key] += value
        self.cumulative[key] += value

    def totals(self) -> dict[str, float]:
        """Cumulative figures over the run: budgets, commitments, payments, lapses and pending awards
        in M USD; counts of awards, applicants, eligible applicants, calls and cancelled calls."""
        out = dict(self.cumulative)
        out["pending_musd"] = sum(a.amount_musd for a in self.awards if a.status == "pending")
        return out

    def expected_support(self) -> np.ndarray:
        """(S,) share of a new plant's capex that an investor expects from this agency: capex share
        (bounded by the cap on a typical plant) x the award rate of its calls in past years (awards /
        eligible applicants; 0 before its first year with applicants). Regional jurisdiction is not priced in:
        the share counts for every project of the bloc at the agency's stages."""
        m = self.model
        T = m.tables
        out = np.zeros(T.S)
        this_year = m.world.start_year + (m.quarter + 1) // 4  # only completed years count (no order effects within a year)
        past = [book for y, book in self.by_year.items() if y < this_year]
        n_eligible = sum(book["n_eligible"] for book in past)
        if n_eligible <= 0:
            return out
        rate = min(sum(book["n_awards"] for book in past) / n_eligible, 1.0)
        typical = T.capex_musd_per_kt[self.bloc] * T.bloc_plant_size_t[self.bloc].mean(axis=1) / 1000.0  # M USD of a mid-size plant
        out[self.stages] = support_share(self.cfg, typical)[self.stages] * rate
        return out

    def year_rows(self) -> list[dict]:
        """One row per calendar year (agency, bloc, year and the yearly figures), for outputs."""
        bloc = self.model.tables.blocs[self.bloc]
        return [{"agency": self.name, "bloc": bloc, "year": y, **book} for y, book in sorted(self.by_year.items())]

    # ------------------------------------------------------------------ the yearly call
    def draw_budget(self) -> float:
        """This year's budget, M USD: 0 with probability stop_probability, else nominal x scale x lognormal(mean 1)."""
        cfg = self.cfg
        u, z = self.stream.random(), self.stream.standard_normal()  # always both: the stream does not depend on outcomes
        if u < cfg.stop_probability:
            return 0.0
        sd = cfg.stop_go_sd
        return cfg.budget_musd_per_year * self.model.world.scale * math.exp(sd * z - 0.5 * sd * sd)

    def applicants(self) -> np.ndarray:
        """Rows of firms that may apply: live, of the bloc, in the agency's regions and stages, with an
        unfunded project (planning, permitting, financing) not already awarded by this agency."""
        pop = self.model.pop
        mask = (
            pop.alive
            & (pop.bloc == self.bloc)
            & np.isin(pop.region, self.regions)
            & np.isin(pop.stage, self.stages)
            & np.isin(pop.proj_phase, UNFUNDED)
        )
        rows = np.flatnonzero(mask)
        if len(rows) and self._awarded:
            keys = project_key(pop.firm_id[rows], pop.proj_start_step[rows])
            rows = rows[~np.isin(keys, np.fromiter(self._awarded, dtype=np.int64, count=len(self._awarded)))]
        return rows

    def profitability(self, rows: np.ndarray) -> np.ndarray:
        """Profitability index (NPV / capex) of the rows' projects, as ``sim.engine.investment.do_investment`` computes it."""
        m = self.model
        T, pop, w = m.tables, m.pop, m.world
        E = m.expectations()
        proc = processing_cost(pop, T, rows)
        return inv.profitability_index(pop.bloc[rows], pop.stage[rows], proc, T, E, w.investment.horizon_years, w.finance.depreciation_years)

    def call(self) -> None:
        """The yearly call (a scheduled event between quarters): budget, applicants, ranking, awards."""
        m, cfg = self.model, self.cfg
        pop = m.pop
        q = m.quarter + 1  # the quarter this call acts in
        year = int(m.world.start_year + q // 4)
        budget = self.draw_budget()
        call_rng = self.stream.spawn(1)[0]  # draws whose number depends on the applicants
        self.budget_musd = self.budget_left_musd = budget  # last year's unspent budget lapses
        self._book(year, "budget_musd", budget)
        self._book(year, "n_calls", 1)
        if budget <= 0.0:
            self._book(year, "n_cancelled", 1)
        rows = self.applicants()
        self._book(year, "n_applicants", len(rows))
        if len(rows) == 0:
            return
        pi = self.profitability(rows)
        ok = pi > m.world.investment.min_profitability_index
        rows, pi = rows[ok], pi[ok]
        self._book(year, "n_eligible", len(rows))
        if len(rows) == 0 or budget <= 0.0:
            return
        gap = m.stage_gap(self.bloc, self.plan_horizon_years)[pop.stage[rows]] if cfg.gap_targeting else None
        order, amounts, take = decide_awards(cfg, pi, pop.proj_start_step[rows], pop.proj_capex_musd[rows], budget, call_rng, gap)
        rows, pi = rows[order], pi[order]
        lags = lag_quarters(call_rng.uniform(self.lag_years[0], self.lag_years[1], len(rows)))  # one per applicant, in order
        committed = float(amounts[take].sum())
        assert committed <= budget * (1.0 + 1e-12) + 1e-12, (self.name, committed, budget)
        self.budget_left_musd = budget - committed
        for r, a, p, lag in zip(rows[take], amounts[take], pi[take], lags[take]):
            firm = (int(pop.firm_id[r]), int(pop.proj_start_step[r]), self.bloc, int(pop.stage[r]), int(pop.region[r]))
            self._commit(Award(self.name, *firm, float(a), float(p), year, q, q + int(lag)), int(lag))
        self._book(year, "committed_musd", committed)
        self._book(year, "n_awards", int(take.sum()))

    # ------------------------------------------------------------------ payments
    def still_due(self, award: Award) -> int | None:
        """Row of the award's firm if the award is to be paid now, else None (it lapses).

        The award lapses when the firm has exited (or its row was dropped), when the firm's current project
        is another one (different start quarter), or when the project was abandoned (no project phase and
        its nameplate never came on line). A project that reached operation is paid.
        """
        pop = self.model.pop
        try:
            r = pop.row_of(award.firm_id)
        except KeyError:
            return None
        if pop.phase[r] == Phase.EXITED or pop.proj_start_step[r] != award.proj_start_step:
            return None
        if pop.proj_phase[r] == ProjectPhase.NONE and pop.proj_added_t[r] < pop.proj_nameplate_t[r] * (1.0 - 1e-9):
            return None
        return r

    def _commit(self, award: Award, lag: int) -> None:
        """Record a new award, schedule its payment ``lag`` quarters on and log it."""
        m = self.model
        self.awards.append(award)
        self._awarded.add(int(project_key(award.firm_id, award.proj_start_step)))
        due_time = m.time + lag
        if due_time not in self._due:
            self._due[due_time] = []
            m.schedule_event(self.pay_due, at=due_time)
        self._due[due_time].append(award)
        m.log_event("award", award.firm_id, self.bloc, award.stage, detail=self.name, value=award.amount_musd, quarter=award.commit_quarter)

    def pay_due(self) -> None:
        """Payments due now (a scheduled event between quarters): grant into the firm's grants of the next
        quarter (M USD), or the award lapses."""
        for award in self._due.pop(self.model.time, []):
            self._settle(award, self.model.quarter + 1, self.still_due(award))

    def _settle(self, award: Award, q: int, row: int | None) -> None:
        """Pay the award into the grants of the firm's ``row`` in quarter ``q``, or (row None) let it lapse; book and log it."""
        m = self.model
        award.settled_quarter = q
        if row is None:
            award.status, book, kind = "lapsed", "lapsed_musd", "award_lapsed"
        else:
            award.status, book, kind = "paid", "paid_musd", "award_paid"
            m.pop.grants[row] += award.amount_musd
        self._book(int(m.world.start_year + q // 4), book, award.amount_musd)
        m.log_event(kind, award.firm_id, award.bloc, award.stage, detail=self.name, value=award.amount_musd, quarter=q)

    def __repr__(self) -> str:
        return f"<FundingAgency {self.name} bloc={self.bloc} selection={self.cfg.selection}>"


def create_agencies(model, bloc: int, policy) -> list[FundingAgency]:
    """One :class:`FundingAgency` per entry of ``policy.agencies`` (name -> AgencyConfig), MODEL.md 5.8.

    Gap targeting uses the policy's plan horizon (``policy.coordination.plan_horizon_years``, years).
    """
    horizon = policy.coordination.plan_horizon_years
    return [FundingAgency(model, name, bloc, a, plan_horizon_years=horizon) for name, a in policy.agencies.items()]
