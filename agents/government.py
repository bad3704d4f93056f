"""The coordinated regime's government agent (MODEL.md 5.6).

Yearly, as a Mesa scheduled event in the configured quarter:
1. plan: each stage's gap (``ChainModel.stage_gap``: 1 - usable capacity and
   pipeline / need ``plan_horizon_years`` ahead); stages with a gap above the
   threshold are gap stages;
2. reviews: titles whose validity ran out are re-evaluated against SME
   eligibility and the held tier's own rules and score (the lower tier counts as
   held); a firm that fails loses the title (tier back to none) and may be
   designated again in the same round from the bottom tier;
3. designation rounds, tier by tier (innovation_type, srdi, little_giant): firms
   that hold the required tier from before the round and meet the criteria are
   designated (at most the tier's yearly quota, best R&D intensity first);
4. key Little Giants: Little Giants without the key flag, ranked by the plan's
   stage gaps (priority stages first, when so configured) and then by R&D
   intensity, chosen while the term's central budget lasts; the flag lasts one
   term;
5. the R&D-raising lever: firms within ``window`` below an R&D-intensity
   threshold of the next tier, for which R&D is the only missing criterion,
   raise their R&D propensity to threshold + margin.

Quarterly (``apply_benefits``, the module's ``quarter`` action, sim.engine.policy): the
benefits table by tier is applied to title holders only - grants (tilted toward
gap stages), corporate tax rate, interest subsidy, credit bonus, procurement
preference, IPO fast track (an extra chance of outside equity) and talent subsidy
(a refund of a share of R&D) - and every other firm of the bloc is set back to none.
Fiscal costs are booked by instrument in M USD.

Criteria are data (conf/criteria/*.yaml, parsed by sim.config.policy); this
module only computes firm metrics and evaluates the rule lists on them.
"""

from __future__ import annotations

import mesa
import numpy as np
from mesa.time import Schedule

from agents.firms import DESIGNATED, KEY_LITTLE_GIANT, FirmPopulation, Phase, Tier

INSTRUMENTS = ("grants", "key_grants", "tax_expenditure", "interest_subsidy", "talent_subsidy")
# firm columns holding a benefit while a title is held, each named as its field of BenefitConfig (conf/policy benefits)
BENEFIT_COLUMNS = ("interest_subsidy", "credit_bonus", "ipo_fast_track", "talent_subsidy", "procurement_discount")


# --------------------------------------------------------------------------
# Firm metrics and rule evaluation
# --------------------------------------------------------------------------
# Criteria metrics: what firm_metrics computes for every row; criteria rules name them (conf/criteria/*.yaml)
METRICS = {
    "revenue_myuan": "revenue of the last four quarters, M yuan",
    "employees": "headcount",
    "rd_intensity": "R&D / revenue over the last four quarters",
    "rd_intensity_2y": "R&D / revenue over the last eight quarters",
    "rd_myuan": "R&D of the last four quarters, M yuan",
    "rd_myuan_2y": "R&D of the last eight quarters, M yuan",
    "revenue_growth": "revenue of the last four quarters / the four before - 1",
    "profit_growth": "profit of the last four quarters over the four before - 1 (relative to |profit before|)",
    "debt_ratio": "debt / (cash + book assets + construction in progress)",
    "years_in_niche": "years since the firm entered its stage",
    "invention_patents": "class I (invention) patents in force",
    "utility_patents": "utility and design patents in force",
    "niche_share": "the firm's share of its niche: capacity / (bloc capacity at its stage / niches_per_stage)",
    "rd_staff_share": "share of staff in R&D",
    "equity_raised_myuan": "outside equity raised since entry, M yuan",
}
TIERS = tuple(t.label for t in DESIGNATED)  # the designated tiers as config names them: innovation_type, srdi, little_giant


def firm_metrics(pop: FirmPopulation, T, step: int, usd_per_cny: float, niches_per_stage: np.ndarray) -> dict[str, np.ndarray]:
    """Every criteria metric (METRICS) for every row, from the last completed quarters."""
    myuan = 1.0 / usd_per_cny  # M USD -> M yuan
    rev4 = pop.trailing(pop.rev_hist, step, 4)
    rev_prev4 = pop.trailing(pop.rev_hist, step, 4, lag=4)
    rd4 = pop.trailing(pop.rd_hist, step, 4)
    rev8, rd8 = rev4 + rev_prev4, rd4 + pop.trailing(pop.rd_hist, step, 4, lag=4)
    prof4 = pop.trailing(pop.prof_hist, step, 4)
    prof_prev4 = pop.trailing(pop.prof_hist, step, 4, lag=4)
    assets = pop.cash + pop.book_assets + pop.cip
    cap = np.where(pop.operating, pop.capacity_t, 0.0)
    bs_cap = T.bs_sum(pop.bloc, pop.stage, cap)
    niche_cap = bs_cap[pop.bloc, pop.stage] / niches_per_stage[pop.stage]
    m = {
        "revenue_myuan": rev4 * myuan,
        "employees": pop.employees,
        "rd_intensity": np.divide(rd4, rev4, out=np.zeros(len(pop)), where=rev4 > 1e-12),
        "rd_intensity_2y": np.divide(rd8, rev8, out=np.zeros(len(pop)), where=rev8 > 1e-12),
        "rd_myuan": rd4 * myuan,
        "rd_myuan_2y": rd8 * myuan,
        "revenue_growth": np.divide(rev4, rev_prev4, out=np.zeros(len(pop)), where=rev_prev4 > 1e-12) - 1.0,
        "profit_growth": np.divide(prof4 - prof_prev4, np.abs(prof_prev4), out=np.full(len(pop), -1.0), where=np.abs(prof_prev4) > 1e-12),
        "debt_ratio": np.divide(pop.debt, assets, out=np.ones(len(pop)), where=assets > 1e-12),
        "years_in_niche": (step + 1 - pop.niche_start_step) / 4.0,
        "invention_patents": pop.patents_invention.astype(float),
        "utility_patents": pop.patents_utility.astype(float),
        "niche_share": np.divide(cap, niche_cap, out=np.zeros(len(pop)), where=niche_cap > 0),
        "rd_staff_share": pop.rd_staff_share,
        "equity_raised_myuan": pop.equity_raised * myuan,
    }
    assert set(m) == set(METRICS)
    return m


def _compare(x: np.ndarray, op: str, v: float) -> np.ndarray:
    if op == ">=":
        return x >= v
    if op == ">":
        return x > v
    if op == "<=":
        return x <= v
    return x < v


def rule_holds(rule: dict, m: dict[str, np.ndarray]) -> np.ndarray:
    """Boolean array: where a parsed rule (sim.config.policy.parse_rule) holds."""
    if "any_of" in rule:
        out = np.zeros(len(next(iter(m.values()))), dtype=bool)
        for alt in rule["any_of"]:
            out |= rules_hold(alt, m)
        return out
    if "when" in rule:
        return ~rule_holds(rule["when"], m) | rules_hold(rule["then"], m)
    return _compare(m[rule["metric"]], rule["op"], rule["value"])


def rules_hold(rules: list[dict], m: dict[str, np.ndarray]) -> np.ndarray:
    out = np.ones(len(next(iter(m.values()))), dtype=bool)
    for r in rules:
        out &= rule_holds(r, m)
    return out


def score(items: list[dict], m: dict[str, np.ndarray]) -> np.ndarray:
    """Points of score items: per item, the points of the best band reached."""
    total = np.zeros(len(next(iter(m.values()))))
    for item in items:
        x = m[item["metric"]]
        pts = np.zeros(len(x))
        got = np.zeros(len(x), dtype=bool)
        for threshold, points in item["bands"]:  # best band first
            hit = ~got & (x < threshold if item["below"] else x >= threshold)
            pts[hit] = points
            got |= hit
        total += pts
    return total


def meets_tier(criteria, tier: Tier, m: dict[str, np.ndarray], held: np.ndarray) -> np.ndarray:
    """Where a firm meets a tier: SME eligibility, holds the required lower tier (``held``: tier values
    held before the round), and the tier's rules and score."""
    tc = criteria.tiers[tier.label]
    ok = rules_hold(criteria.sme, m) & rules_hold(tc.rules, m)
    if tc.score:
        ok &= score(tc.score, m) >= tc.min_score
    if tc.requires_tier is not None:
        ok &= held >= Tier.of(tc.requires_tier)
    return ok


def rd_thresholds(criteria, tier: Tier, m: dict[str, np.ndarray]) -> np.ndarray:
    """(n,) the lowest R&D-intensity threshold of ``tier`` that applies to each firm (inf: none).

    Rules on rd_intensity / rd_intensity_2y count; inside any_of, an alternative counts where the
    firm meets its other (non-R&D) rules; score items count their bands above the firm's level."""
    n = len(next(iter(m.values())))
    best = np.full(n, np.inf)
    rd_metrics = ("rd_intensity", "rd_intensity_2y")

    def visit(rules, applies):
        nonlocal best
        for r in rules:
            if "any_of" in r:
                for alt in r["any_of"]:
                    other = [x for x in alt if not ("metric" in x and x["metric"] in rd_metrics)]
                    visit(alt, applies & rules_hold(other, m))
            elif "when" in r:
                visit(r["then"], applies & rule_holds(r["when"], m))
            elif r["metric"] in rd_metrics and r["op"] in (">=", ">"):
                best = np.where(applies, np.minimum(best, r["value"]), best)

    tc = criteria.tiers[tier.label]
    visit(tc.rules, np.ones(n, dtype=bool))
    for item in tc.score:
        if item["metric"] in rd_metrics and not item["below"]:
            for threshold, _ in item["bands"]:
                above = m[item["metric"]] < threshold
                best = np.where(above, np.minimum(best, threshold), best)
    return best


# --------------------------------------------------------------------------
# The agent
# --------------------------------------------------------------------------
class Government(mesa.Agent):
    """A coordinated bloc's government: plan, designation, reviews, benefits (MODEL.md 5.6).

    A policy module (sim.engine.policy.PolicyModule): ``install`` sets the output quotas and schedules
    the yearly round, ``quarter`` applies benefits, ``retire`` clears titles, benefits and quotas."""

    order = 10  # acts first in the policy step; its books come first

    def __init__(self, model, bloc: int, policy):
        super().__init__(model)
        self.bloc = bloc
        self.policy = policy
        T = model.tables
        d = policy.designation
        self.niches = np.array([float(d.niches_per_stage.get(s, 1.0)) for s in T.stages])
        self.gap = np.zeros(T.S)
        self.gap_stage = np.zeros(T.S, dtype=bool)
        self.key_budget_left = 0.0  # M yuan left in the current key-Little-Giant term
        self.key_term_end = -1  # quarter index at which the current term ends
        self.fiscal = {k: 0.0 for k in INSTRUMENTS}  # cumulative M USD
        self.fiscal_q = {k: 0.0 for k in INSTRUMENTS}  # this quarter, M USD
        self.counts = {k: 0 for k in ("designated", "review_passed", "review_failed", "key_designated")}
        self.policy_rng = model.policy_rng(f"government:{T.blocs[bloc]}")
        self._rounds = None
        self.retired = False

    def install(self, model) -> None:
        """Take office: output quotas held by the state groups; the yearly round scheduled."""
        c, T = self.policy.coordination, model.tables
        for s in c.quota_stages:
            model.instruments.quota_outside_groups[self.bloc, T.stages.index(s)] = c.quota_outside_groups
        # just before the round quarter of each year: an event at time x.5 acts from quarter index floor(x) on
        start = model.next_yearly_time(self.policy.designation.round_quarter - 1 + 0.5)
        self._rounds = model.schedule_recurring(self.yearly_round, Schedule(interval=4.0, start=start))

    def quarter(self, model) -> None:
        self.apply_benefits()

    def year(self, model) -> None:
        self.yearly_round()

    def fiscal_musd(self) -> dict[tuple[int, str], float]:
        # a retired government's books keep counting: what it paid stays paid (cumulative totals never fall)
        return {(self.bloc, k): v for k, v in self.fiscal.items()}

    def retire(self, model=None) -> None:
        """The regime ends: no more rounds; titles, key flags, benefit columns and output quotas of the bloc are cleared."""
        self._rounds.stop()
        self.retired = True
        pop = self.model.pop
        here = pop.alive & (pop.bloc == self.bloc)
        self._reset_benefits(here)
        pop.tier[here] = Tier.NONE
        pop.key_lg[here] = False
        self.model.instruments.quota_outside_groups[self.bloc, :] = 1.0
        self.remove()

    def _reset_benefits(self, rows) -> None:
        """Standard tax rate and no benefits for the given rows (mask or indices)."""
        pop = self.model.pop
        pop.tax_rate[rows] = self.model.tables.tax_rate[self.bloc]
        for col in BENEFIT_COLUMNS:
            getattr(pop, col)[rows] = 0.0

    # ------------------------------------------------------------------ yearly
    def plan(self) -> None:
        c = self.policy.coordination
        self.gap = self.model.stage_gap(self.bloc, c.plan_horizon_years)
        self.gap_stage = self.gap > c.gap_threshold

    def yearly_round(self) -> None:
        """Plan, reviews, designations, key Little Giants and the R&D lever (before the round quarter)."""
        self.plan()
        d = self.policy.designation
        if not d.enabled:
            return
        m_, pop, T = self.model, self.model.pop, self.model.tables
        q = m_.quarter + 1  # the quarter the decisions act in
        crit = d.criteria
        metrics = firm_metrics(pop, T, m_.quarter, m_.world.usd_per_cny, self.niches)
        here = pop.alive & (pop.bloc == self.bloc) & (pop.phase == Phase.OPERATING)
        held = pop.tier.astype(int).copy()
        # reviews of titles whose validity ran out
        due = here & (pop.tier > Tier.NONE) & (pop.review_step >= 0) & (pop.review_step <= q)
        for t in DESIGNATED:
            rows = np.flatnonzero(due & (pop.tier == t))
            if not len(rows):
                continue
            # the tier's own criteria; the required lower tier counts as held by the holder of a higher one
            sub = {k: v[rows] for k, v in metrics.items()}
            ok = meets_tier(crit, t, sub, np.full(len(rows), int(t)))
            passed, failed = rows[ok], rows[~ok]
            pop.review_step[passed] = q + int(round(d.validity_years * 4))
            m_.log_rows("review_passed", passed, detail=t.label, quarter=q)
            m_.log_rows("review_failed", failed, detail=t.label, quarter=q)
            self.counts["review_passed"] += len(passed)
            self.counts["review_failed"] += len(failed)
            self._revoke(failed, q, t)
            held[failed] = Tier.NONE
        # designation rounds, bottom tier first; the required tier must be held from before the round
        for t in DESIGNATED:
            cand = here & (pop.tier < t)
            rows = np.flatnonzero(cand)
            if not len(rows):
                continue
            sub = {k: v[rows] for k, v in metrics.items()}
            ok = meets_tier(crit, t, sub, held[rows])
            rows = rows[ok]
            quota = d.quota_per_year.get(t.label)
            if quota is not None and len(rows) > quota:
                order = np.argsort(-metrics["rd_intensity"][rows], kind="stable")
                rows = rows[order[:quota]]
            pop.tier[rows] = t
            pop.designation_step[rows] = q
            pop.review_step[rows] = q + int(round(d.validity_years * 4))
            m_.log_rows("designated", rows, detail=t.label, quarter=q)
            self.counts["designated"] += len(rows)
        self._key_little_giants(q, metrics)
        if d.rd_raise.enabled:
            self._raise_rd(metrics, here)

    def _revoke(self, rows: np.ndarray, q: int, tier: Tier) -> None:
        pop = self.model.pop
        pop.tier[rows] = Tier.NONE
        pop.key_lg[rows] = False
        pop.designation_step[rows] = -1
        pop.review_step[rows] = -1
        self.model.log_rows("revoked", rows, detail=tier.label, quarter=q)

    def _key_little_giants(self, q: int, metrics) -> None:
        k = self.policy.designation.key_little_giant
        pop = self.model.pop
        if not k.enabled:
            return
        here = pop.alive & (pop.bloc == self.bloc)
        if q >= self.key_term_end:  # a new term: flags lapse, the budget is renewed
            pop.key_lg[here] = False
            self.key_budget_left = k.budget_myuan_per_term * self.model.world.scale
            self.key_term_end = q + int(round(k.term_years * 4))
        pop.key_lg[here & (pop.tier != Tier.LITTLE_GIANT)] = False
        cand = here & (pop.tier == Tier.LITTLE_GIANT) & ~pop.key_lg
        rows = np.flatnonzero(cand)
        if k.priority_gap_stages:  # the plan's priority: stages with the larger gap first, then R&D intensity
            rows = rows[np.lexsort((-metrics["rd_intensity"][rows], -self.gap[pop.stage[rows]]))]
        else:
            rows = rows[np.argsort(-metrics["rd_intensity"][rows], kind="stable")]
        n_afford = int(self.key_budget_left // k.grant_myuan_per_firm_term) if k.grant_myuan_per_firm_term > 0 else len(rows)
        rows = rows[: max(n_afford, 0)]
        pop.key_lg[rows] = True
        self.key_budget_left -= len(rows) * k.grant_myuan_per_firm_term
        self.model.log_rows("key_designated", rows, quarter=q)
        self.counts["key_designated"] += len(rows)

    def _raise_rd(self, metrics, here: np.ndarray) -> None:
        """Firms for which R&D is what keeps them from the next tier raise their R&D propensity to cross it.

        A firm holding tier t-1 raises R&D when (a) its R&D intensity is within ``window`` below the lowest
        R&D threshold of tier t that applies to it and (b) with R&D at that threshold + margin (one and two
        years) it would meet every criterion of tier t. Criteria are public, so the reaction needs no
        guessing (MODEL.md 4)."""
        r = self.policy.designation.rd_raise
        pop = self.model.pop
        crit = self.policy.designation.criteria
        for t in DESIGNATED:
            rows = np.flatnonzero(here & (pop.tier == t - 1))
            if not len(rows):
                continue
            sub = {k: v[rows] for k, v in metrics.items()}
            thr = rd_thresholds(crit, t, sub)
            level = np.minimum(sub["rd_intensity"], sub["rd_intensity_2y"])  # thresholds may be one- or two-year
            target = thr + r.margin
            near = np.isfinite(thr) & (level < thr) & (level >= thr * (1.0 - r.window))
            if not near.any():
                continue
            what_if = dict(sub)
            boost = np.where(near, target, level)
            what_if["rd_intensity"] = np.maximum(sub["rd_intensity"], boost)
            what_if["rd_intensity_2y"] = np.maximum(sub["rd_intensity_2y"], boost)
            scale = np.divide(what_if["rd_intensity"], level, out=np.ones(len(rows)), where=level > 0)
            what_if["rd_myuan"] = sub["rd_myuan"] * scale
            what_if["rd_myuan_2y"] = sub["rd_myuan_2y"] * scale
            would = meets_tier(crit, t, what_if, np.full(len(rows), int(t) - 1))
            go = near & would
            rr = rows[go]
            pop.rd_propensity[rr] = np.maximum(pop.rd_propensity[rr], target[go])

    # ------------------------------------------------------------------ quarterly
    def apply_benefits(self) -> None:
        """Set this bloc's benefit columns from titles held and pay this quarter's grants (next accounts)."""
        m_, pop, T = self.model, self.model.pop, self.model.tables
        b = self.bloc
        here = pop.alive & (pop.bloc == b)
        to_usd = m_.world.usd_per_cny
        for k in self.fiscal_q:
            self.fiscal_q[k] = 0.0
        # tax expenditure and interest subsidy of the quarter just booked (at the rates then in force)
        pbt = pop.revenue + pop.grants - pop.costs - pop.depreciation
        std = T.tax_rate[b]
        self.fiscal_q["tax_expenditure"] = float(np.sum(np.where(here, np.maximum(pbt, 0.0) * np.maximum(std - pop.tax_rate, 0.0), 0.0)))
        self.fiscal_q["interest_subsidy"] = float(np.sum(np.where(here, pop.debt * np.minimum(pop.interest_subsidy, T.interest_rate[b]) / 4.0, 0.0)))
        # reset, then apply the table tier by tier
        self._reset_benefits(here)
        tilt = np.where(self.gap_stage[pop.stage], 1.0 + self.policy.coordination.gap_tilt, 1.0)
        grant = np.zeros(len(pop))
        for t in DESIGNATED:
            ben = self.policy.benefits.get(t.label)
            if ben is None:
                continue
            rows = np.flatnonzero(here & (pop.tier == t))
            self._apply(rows, ben, tilt, grant, to_usd)
        ben = self.policy.benefits.get(KEY_LITTLE_GIANT)
        if ben is not None:
            self._apply(np.flatnonzero(here & pop.key_lg), ben, tilt, grant, to_usd, add=True)
        k = self.policy.designation.key_little_giant
        key_rows = np.flatnonzero(here & pop.key_lg)
        key_grant = k.grant_myuan_per_firm_term / max(k.term_years * 4.0, 1.0) * to_usd if k.enabled else 0.0
        talent = np.where(here, pop.talent_subsidy * pop.rd_spend, 0.0)
        # tier and key grants are earmarked for R&D (the special funds for SRDI firms and Little Giants support
        # technological innovation; assumption), the talent refund is a plain grant
        pop.grants[here] += grant[here] + talent[here]
        pop.rd_grants[here] += grant[here]
        pop.grants[key_rows] += key_grant
        pop.rd_grants[key_rows] += key_grant
        self.fiscal_q["grants"] = float(grant[here].sum())
        self.fiscal_q["talent_subsidy"] = float(talent.sum())
        self.fiscal_q["key_grants"] = key_grant * len(key_rows)
        for key, v in self.fiscal_q.items():
            self.fiscal[key] += v

    def _apply(self, rows, ben, tilt, grant, to_usd, add: bool = False) -> None:
        pop = self.model.pop
        if not len(rows):
            return
        if ben.tax_rate is not None:
            pop.tax_rate[rows] = np.minimum(pop.tax_rate[rows], ben.tax_rate)
        op = np.add if add else (lambda a, b: b)
        pop.interest_subsidy[rows] = op(pop.interest_subsidy[rows], ben.interest_subsidy * tilt[rows])
        pop.credit_bonus[rows] = op(pop.credit_bonus[rows], ben.credit_bonus * tilt[rows])
        pop.ipo_fast_track[rows] = op(pop.ipo_fast_track[rows], ben.ipo_fast_track)
        pop.talent_subsidy[rows] = op(pop.talent_subsidy[rows], ben.talent_subsidy)
        pop.procurement_discount[rows] = op(pop.procurement_discount[rows], ben.procurement_discount)
        grant[rows] += ben.grant_myuan_per_year * to_usd / 4.0 * tilt[rows]


__all__ = ["Government", "firm_metrics", "meets_tier", "rule_holds", "rules_hold", "score", "rd_thresholds", "TIERS"]
