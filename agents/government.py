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
   raise their R&D propensity to threshold + margin (with
   ``groups.rd_raise_graded_only``, a subsidiary of a grading group only while
   its group grades it A: ``decides_own_rd``).

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

from agents import kernels
from agents.criteria_names import METRICS, TIERS
from agents.firms import DESIGNATED, KEY_LITTLE_GIANT, FirmPopulation, Phase, Tier

INSTRUMENTS = ("grants", "key_grants", "tax_expenditure", "interest_subsidy", "talent_subsidy")
# firm columns holding a benefit while a title is held, each named as its field of BenefitConfig (conf/policy benefits)
BENEFIT_COLUMNS = ("interest_subsidy", "credit_bonus", "ipo_fast_track", "talent_subsidy", "procurement_discount")


# --------------------------------------------------------------------------
# Firm metrics and rule evaluation
# --------------------------------------------------------------------------
EQUITY_YEARS = 3  # "new equity financing in the last three years" (innovation-type SME direct route, MIIT 2022 measures annex 1)


def _growth(now: np.ndarray, before: np.ndarray) -> np.ndarray:
    """Revenue growth: now / before - 1 (-1 where nothing came before: no growth credited)."""
    out = np.divide(now, before, out=np.zeros(len(now)), where=before > 1e-12)
    out -= 1.0
    return out


def _profit_growth(now: np.ndarray, before: np.ndarray) -> np.ndarray:
    """Profit growth relative to |profit before| (-1 where profit before was nil)."""
    size = np.abs(before)
    return np.divide(now - before, size, out=np.full(len(now), -1.0), where=size > 1e-12)


def _mean_with(now: np.ndarray, before: np.ndarray, unknown: np.ndarray) -> np.ndarray:
    """0.5 x (now + before) (``before`` overwritten with it), ``now`` where ``unknown``: as np.where(unknown, now, 0.5 x (now + before))."""
    before += now
    before *= 0.5
    np.copyto(before, now, where=unknown)
    return before


def yuan_price_level(world, year: float) -> float:
    """The price level of the year ``year`` relative to the world's start year, (1 + ``world.price_level_growth``) ^
    (year - start_year): a yuan amount written for that year (a criterion's threshold, a budget, a grant: nominal) is
    worth 1 / this of it in the model's money, which is at the start year's prices (docs/ODD.md 7.9)."""
    return (1.0 + world.price_level_growth) ** (year - world.start_year)


def firm_metrics(
    pop: FirmPopulation,
    T,
    step: int,
    usd_per_cny: float,
    niches_per_stage: np.ndarray,
    year_before: tuple[np.ndarray, np.ndarray] | None = None,
    strategic_stage: np.ndarray | None = None,
    equity_before: np.ndarray | None = None,
    niche_share: np.ndarray | None = None,
    price_level_growth: float = 0.0,
    rd_booked: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Every criteria metric (METRICS) for every row, from the last completed quarters.

    ``year_before``: (revenue, profit) per row of the four quarters before the previous four, M USD (NaN: not
    known), which the firm histories no longer hold; the government keeps them from its last round. Without
    it (or where NaN) the two-year growth metrics are the one-year ones. ``strategic_stage``: (S,) 1 where a
    stage's product is in the Strategic Emerging Industries Classification (None: no stage is). ``equity_before``:
    per row, the outside equity raised since entry three years before, M USD (NaN: not known, then all equity
    since entry counts; None: none known). ``niche_share``: each row's share of its own niche where the world has
    niche markets (None: capacity over the stage's average niche, the rare-earth world's measure).
    ``price_level_growth`` (``world.price_level_growth``): the criteria's yuan are nominal and the model's money is at
    the start year's prices, so each window's flows are raised to the prices of its own year: the last four quarters
    by (1 + g) ^ (their mid-point in years since the start), the four before by a year's less, the year before that
    by two (growth rates are then nominal: (1 + real growth) x (1 + g) - 1); money stocks (equity raised) at the last
    four quarters' prices. 0: the model's money as it is (the rule before). ``rd_booked``: per row, R&D as booked in the
    accounts the criteria read per unit of R&D spent (relabelled expense included; None: R&D as spent)."""
    myuan = 1.0 / usd_per_cny  # M USD -> M yuan
    rev4 = pop.trailing(pop.rev_hist, step, 4)
    rev_prev4 = pop.trailing(pop.rev_hist, step, 4, lag=4)
    rd4 = pop.trailing(pop.rd_hist, step, 4)
    rd_prev4 = pop.trailing(pop.rd_hist, step, 4, lag=4)
    prof4 = pop.trailing(pop.prof_hist, step, 4)
    prof_prev4 = pop.trailing(pop.prof_hist, step, 4, lag=4)
    inflate = 1.0 + price_level_growth
    level = inflate ** ((step + 1) / 4.0 - 0.5)  # the last four quarters' price level (at their mid-point) over the start year's
    # nominal flows, each window at its own year's prices (exact at g = 0: every factor is then 1.0); in place, as
    # trailing() returns new arrays, so a million-firm round allocates nothing more
    for x in (rev4, rd4, prof4):
        x *= level
    for x in (rev_prev4, rd_prev4, prof_prev4):
        x *= level / inflate
    if rd_booked is not None:  # the criteria read R&D as booked
        rd4 *= rd_booked
        rd_prev4 *= rd_booked
    rev8, rd8 = rev4 + rev_prev4, rd_prev4
    np.add(rd4, rd8, out=rd8)
    rev_growth, prof_growth = _growth(rev4, rev_prev4), _profit_growth(prof4, prof_prev4)
    rev_growth_2y, prof_growth_2y = rev_growth, prof_growth
    if year_before is not None:
        rev_yb, prof_yb = (x * (level / inflate**2) for x in year_before)
        # 0.5 x (this year's growth + the year before's), this year's alone where the year before is not known; in place
        rev_growth_2y = _mean_with(rev_growth, _growth(rev_prev4, np.nan_to_num(rev_yb)), np.isnan(rev_yb))
        prof_growth_2y = _mean_with(prof_growth, _profit_growth(prof_prev4, np.nan_to_num(prof_yb)), np.isnan(prof_yb))
    eq_before = np.zeros(len(pop)) if equity_before is None else np.nan_to_num(equity_before)
    strategic = np.zeros(len(pop)) if strategic_stage is None else np.asarray(strategic_stage, dtype=float)[pop.stage]
    assets = pop.cash + pop.book_assets
    assets += pop.cip
    assets += pop.working_capital
    equity_3y = np.subtract(pop.equity_raised, eq_before, out=eq_before)  # eq_before is this function's own copy
    np.maximum(equity_3y, 0.0, out=equity_3y)
    stock_myuan = myuan * level  # money stocks at the last four quarters' prices
    equity_3y *= stock_myuan
    if niche_share is None:
        cap = np.where(pop.operating, pop.capacity_t, 0.0)
        bs_cap = T.bs_sum(pop.bloc, pop.stage, cap)
        niche_cap = bs_cap[pop.bloc, pop.stage] / niches_per_stage[pop.stage]
        niche_share = np.divide(cap, niche_cap, out=np.zeros(len(pop)), where=niche_cap > 0)
    m = {
        "revenue_myuan": rev4 * myuan,
        "employees": pop.employees,
        "rd_intensity": np.divide(rd4, rev4, out=np.zeros(len(pop)), where=rev4 > 1e-12),
        "rd_intensity_2y": np.divide(rd8, rev8, out=np.zeros(len(pop)), where=rev8 > 1e-12),
        "rd_myuan": rd4 * myuan,
        "rd_myuan_2y": rd8 * myuan,
        "revenue_growth": rev_growth,
        "profit_growth": prof_growth,
        "revenue_growth_2y": rev_growth_2y,
        "profit_growth_2y": prof_growth_2y,
        "debt_ratio": np.divide(pop.debt, assets, out=np.ones(len(pop)), where=assets > 1e-12),
        "years_in_niche": (step + 1 - pop.niche_start_step) / 4.0,
        "invention_patents": pop.patents_invention.astype(float),
        "utility_patents": pop.patents_utility.astype(float),
        "niche_share": niche_share,
        "rd_staff_share": pop.rd_staff_share,
        "equity_raised_myuan": pop.equity_raised * stock_myuan,
        "equity_raised_3y_myuan": equity_3y,
        "main_business_share": np.ones(len(pop)),
        "strategic_emerging_field": strategic,
    }
    assert set(m) == set(METRICS)
    return m


def _id_width(max_id: int) -> int:
    """Columns of a by-firm-id table that must hold ``max_id``: a quarter more (as FirmPopulation grows), so that the
    ids of a few years' entrants fit without copying the table at every round."""
    return int(1.25 * max_id) + 1


def _by_id(table: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """(k, n) the columns of a (k, firm ids) table for the rows' firm ids, NaN for ids beyond it (firms that entered
    since it was recorded): one gather along the ids instead of a masked one."""
    width = table.shape[1]
    out = np.full((table.shape[0], len(ids)), np.nan)
    if width == 0 or not len(ids):
        return out
    known = ids < width
    if known.all():
        np.take(table, ids, axis=1, out=out)
    else:
        at = np.flatnonzero(known)
        out[:, at] = table.take(ids[at], axis=1)
    return out


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


def _item_points(item: dict, m: dict[str, np.ndarray]) -> np.ndarray:
    """Points of one parsed score item: the best band reached (best_of: the best of its items)."""
    if "best_of" in item:
        return np.max([_item_points(x, m) for x in item["best_of"]], axis=0)
    x = m[item["metric"]]
    op = item.get("op", "<" if item["below"] else ">=")
    pts = np.zeros(len(x))
    for threshold, points in reversed(item["bands"]):  # best band first in the list: worst first here, a better band overwrites
        np.copyto(pts, points, where=_compare(x, op, threshold))
    return pts


def score(items: list[dict], m: dict[str, np.ndarray]) -> np.ndarray:
    """Points of score items: per item, the points of the best band reached."""
    total = np.zeros(len(next(iter(m.values()))))
    for item in items:
        total += _item_points(item, m)
    return total


def category_scores(items: list[dict], m: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Points per category (items without a category are left out)."""
    cats: dict[str, list[dict]] = {}
    for item in items:
        if item.get("category") is not None:
            cats.setdefault(item["category"], []).append(item)
    return {c: score(its, m) for c, its in cats.items()}


def score_passes(tc, m: dict[str, np.ndarray]) -> np.ndarray:
    """Where a tier's score is met: ``min_score`` points in all and each category's ``category_min_score`` from its
    items, or one of the tier's ``direct_routes`` holds entirely (True everywhere for a tier without score items)."""
    n = len(next(iter(m.values())))
    if not tc.score:
        return np.ones(n, dtype=bool)
    points = [_item_points(item, m) for item in tc.score]  # each item once (score and category_scores, summed the same way)
    total = np.zeros(n)
    for p in points:
        total += p
    ok = total >= tc.min_score
    if tc.category_min_score:
        by_cat: dict[str, np.ndarray] = {}
        for item, p in zip(tc.score, points):
            if item.get("category") is not None:
                if item["category"] in by_cat:
                    by_cat[item["category"]] += p
                else:
                    by_cat[item["category"]] = p + 0.0  # as np.zeros(n) + p (x + 0.0 is 0.0 + x), one array fewer
        for cat, need in tc.category_min_score.items():
            ok &= by_cat[cat] >= need
    for alt in tc.direct_routes:
        ok |= rules_hold(alt, m)
    return ok


def meets_tier(criteria, tier: Tier, m: dict[str, np.ndarray], held: np.ndarray, sme: bool = True) -> np.ndarray:
    """Where a firm meets a tier: SME eligibility (unless ``sme`` is false), holds the required lower tier
    (``held``: tier values held before the round), the tier's rules, and its score (``score_passes``: points in
    all and by category, or a direct route)."""
    tc = criteria.tiers[tier.label]
    ok = np.ones(len(held), dtype=bool) if tc.requires_tier is None else held >= Tier.of(tc.requires_tier)
    # every criterion holds row by row: each test is read on the rows the tests before it let through (the metrics it
    # reads only) once they are fewer than half, the cheap ones first
    tests = [(tc.rules, lambda mm: rules_hold(tc.rules, mm))]
    if sme:
        tests.append((criteria.sme, lambda mm: rules_hold(criteria.sme, mm)))
    if tc.score:
        tests.append((None, lambda mm: score_passes(tc, mm)))
    for rules, test in tests:
        if rules is not None and not rules:
            continue
        at = np.flatnonzero(ok)
        if 2 * len(at) < len(ok):
            used = _rule_metrics(rules) if rules is not None else _score_metrics(tc)
            ok[at] = test({k: v[at] for k, v in m.items() if k in used}) if len(at) else np.zeros(0, dtype=bool)
        else:
            ok &= test(m)
    return ok


def _leaf_rules(rules: list[dict], conditions: bool = True):
    """The comparisons of parsed rules, inside any_of and when too (a when's condition only with ``conditions``)."""
    for r in rules:
        if "any_of" in r:
            for alt in r["any_of"]:
                yield from _leaf_rules(alt, conditions)
        elif "when" in r:
            yield from _leaf_rules([r["when"], *r["then"]] if conditions else r["then"], conditions)
        else:
            yield r


def _score_items(items: list[dict]):
    """Score items, each best_of's items (at any depth) in its place."""
    for item in items:
        if "best_of" in item:
            yield from _score_items(item["best_of"])
        else:
            yield item


def _rule_metrics(rules: list[dict], out: set[str] | None = None) -> set[str]:
    """The metrics parsed rules read."""
    out = set() if out is None else out
    out.update(r["metric"] for r in _leaf_rules(rules))
    return out


def _score_metrics(tc) -> set[str]:
    """The metrics a tier's score items and direct routes read."""
    out = {item["metric"] for item in _score_items(tc.score)}
    for alt in tc.direct_routes:
        _rule_metrics(alt, out)
    return out


_RD_METRICS = frozenset({"rd_intensity", "rd_intensity_2y", "rd_myuan", "rd_myuan_2y"})


def _tier_metrics(criteria, tier: Tier) -> set[str]:
    """The metrics ``meets_tier`` reads for ``tier``: its rules, the SME rules, its score items and direct routes."""
    tc = criteria.tiers[tier.label]
    return _rule_metrics(tc.rules, _rule_metrics(criteria.sme or [], _score_metrics(tc)))


def rd_threshold_values(criteria, tier: Tier) -> np.ndarray:
    """Every R&D-intensity threshold of ``tier`` (rules, inside any_of and when too, and score bands), ascending."""
    rd_metrics = ("rd_intensity", "rd_intensity_2y")
    tc = criteria.tiers[tier.label]
    out = {float(r["value"]) for r in _leaf_rules(tc.rules, conditions=False) if r["metric"] in rd_metrics and r["op"] in (">=", ">")}
    for item in _score_items(tc.score):
        if item["metric"] in rd_metrics and not item["below"]:
            out.update(float(t) for t, _ in item["bands"])
    return np.array(sorted(out))


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
    for item in [x for it in tc.score for x in it.get("best_of", [it])]:
        if item["metric"] in rd_metrics and not item["below"]:
            for threshold, _ in item["bands"]:
                above = m[item["metric"]] < threshold
                best = np.where(above, np.minimum(best, threshold), best)
    return best


# --------------------------------------------------------------------------
# The national Little Giant round
# --------------------------------------------------------------------------
def scheduled(first_year: int, values: list, year: int):
    """The value of ``year`` in a yearly schedule from ``first_year``: values[year - first_year], the last repeating
    after the list; None before ``first_year`` (or for an empty schedule)."""
    if year < first_year or not values:
        return None
    return values[min(year - first_year, len(values) - 1)]


def yearly_quota(first_year: int, batches: list[int], year: int, share: float, carry: float) -> tuple[int, float]:
    """(quota, carry): the chain's Little Giant quota of ``year`` and the fraction carried to the next round.

    quota = floor(carry + batch(year) x share), batch(year) = ``scheduled(first_year, batches, year)`` (none
    before ``first_year``: the national programme had not started); the fraction left by rounding down carries
    over, so the quotas add up to the chain's share of the batches over the years."""
    due = carry + (scheduled(first_year, batches, year) or 0) * share
    quota = int(np.floor(due + 1e-9))
    return quota, max(due - quota, 0.0)


def recommendation_caps(srdi_holders: np.ndarray, share: float, carry: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(caps, carry) per region, rounding with a carry: cap = floor(carry + share x the region's SRDI holders), the
    fraction left carried to the next round, so that over the rounds a region recommends its share of its holders (as
    ``yearly_quota`` does for the national quota) rather than at least one a year while it holds any."""
    due = carry + share * srdi_holders
    cap = np.floor(due + 1e-9)
    return cap.astype(int), np.maximum(due - cap, 0.0)


def recommend(region: np.ndarray, merit: np.ndarray, srdi_holders: np.ndarray, share: float, cap: np.ndarray | None = None) -> np.ndarray:
    """Indices (ascending) of the candidates the provinces recommend: each region its best by ``merit`` (the
    designation's ``candidate_rank`` metric: R&D intensity or niche share; ties: the earlier candidate), at most
    ceil(share x the region's SRDI holders, ``srdi_holders[region]``), or at most ``cap[region]`` when given
    (``recommendation_caps``)."""
    if cap is None:
        cap = np.ceil(share * srdi_holders - 1e-9).astype(int)
    order = np.lexsort((np.arange(len(region)), -merit, region))  # by region, best merit first
    place = np.zeros(len(region), dtype=int)  # each candidate's place within its region's ranking
    for r in np.unique(region):
        mine = order[region[order] == r]
        place[mine] = np.arange(len(mine))
    return np.flatnonzero(place < cap[region])


def rank(merit: np.ndarray, gap: np.ndarray) -> np.ndarray:
    """Order of the candidates of a round under a quota: the larger planned gap of the firm's stage first, then the
    higher ``merit`` (the designation's ``candidate_rank`` metric), then the earlier candidate (pass a zero gap to rank
    by merit alone)."""
    return np.lexsort((np.arange(len(gap)), -merit, -gap))


# --------------------------------------------------------------------------
# The provinces' plans for the lower tiers
# --------------------------------------------------------------------------
def plan_stock(points: dict[int, float], year: int) -> float | None:
    """The national stock a tier's plan aims at in ``year``: linear between the years given, the last held after them,
    None before the first (no plan yet) or for an empty plan."""
    if not points:
        return None
    years = sorted(points)
    if year < years[0]:
        return None
    return float(np.interp(year, years, [float(points[y]) for y in years]))


def plan_shares(weights: np.ndarray, own_share: np.ndarray) -> np.ndarray:
    """(R,) each region's share of the national plan: its own target's share where given (``own_share`` not NaN), the rest
    of the whole shared among the other regions in proportion to ``weights`` (their firms)."""
    given = ~np.isnan(own_share)
    rest = max(1.0 - float(own_share[given].sum()), 0.0)
    w = np.where(given, 0.0, np.asarray(weights, dtype=float))
    total = w.sum()
    return np.where(given, np.nan_to_num(own_share), rest * w / total if total > 0 else 0.0)


def plan_room(plan: np.ndarray, holders: np.ndarray) -> np.ndarray:
    """(R,) whole titles a region may still grant, or must still find, under its plan: floor(plan - holders), at least 0."""
    return np.maximum(np.floor(plan - holders + 1e-9), 0).astype(int)


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
        self.quota_carry = 0.0  # national quota: the fraction of a Little Giant left by rounding down, carried to the next round
        self.recommend_carry = np.zeros(len(T.regions))  # by region: the fraction of a candidate left by rounding down (rounding: carry)
        # by firm id: revenue and profit (M USD) of the four quarters before the last four at the last round, i.e. the year
        # before the previous one at this round (the two-year growth metrics); NaN: not recorded
        self.year_before = np.full((2, 0), np.nan)
        # by firm id: outside equity raised since entry (M USD) as recorded at each of the last EQUITY_YEARS rounds, the
        # latest first (the equity_raised_3y_myuan metric); NaN: not recorded
        self.equity_rounds = np.full((EQUITY_YEARS, 0), np.nan)
        self.strategic = self.strategic_emerging(model)  # (S,) 1 where the stage's product is a strategic emerging industry's
        self.fiscal = {k: 0.0 for k in INSTRUMENTS}  # cumulative M USD
        self.fiscal_q = {k: 0.0 for k in INSTRUMENTS}  # this quarter, M USD
        self.counts = {k: 0 for k in ("designated", "review_passed", "review_failed", "key_designated")}
        self.policy_rng = model.policy_rng(f"government:{T.blocs[bloc]}")
        self._rounds = None
        self.retired = False

    def strategic_emerging(self, model) -> np.ndarray:
        """(S,) 1.0 where a stage's product is in the Strategic Emerging Industries Classification (NBS 2018), from
        ``designation.strategic_emerging_stages`` (absent: 0, another field)."""
        flags = self.policy.designation.strategic_emerging_stages
        return np.array([1.0 if flags.get(s, False) else 0.0 for s in model.tables.stages])

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
        if isinstance(rows, np.ndarray) and rows.dtype == bool:  # a mask: written in place, without gathering its rows
            np.copyto(pop.tax_rate, self.model.tables.tax_rate[self.bloc], where=rows)
            for col in BENEFIT_COLUMNS:
                np.copyto(getattr(pop, col), 0.0, where=rows)
            return
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
        m_, pop = self.model, self.model.pop
        q = m_.quarter + 1  # the quarter the decisions act in
        metrics = self.round_metrics()
        self._record_year()
        here = pop.alive & (pop.bloc == self.bloc) & (pop.phase == Phase.OPERATING)
        held = pop.tier.astype(int).copy()
        self._reviews(q, metrics, here, held)
        year = m_.world.start_year + q // 4
        # designation rounds, bottom tier first; the required tier must be held from before the round (unless it does not
        # exist yet: designation.tier_first_year)
        for t in DESIGNATED:
            if not self.tier_exists(t, year):
                continue
            rows = np.flatnonzero(here & (pop.tier < t))
            if not len(rows):
                continue
            h = self._held_for(t, held, year)
            if 2 * len(rows) > len(pop):  # most rows: the criteria hold row by row, so read them on every row, no copies
                rows = rows[meets_tier(d.criteria, t, metrics, h)[rows]]
            else:
                sub = {k: metrics[k][rows] for k in _tier_metrics(d.criteria, t)}  # what meets_tier reads, on these rows
                rows = rows[meets_tier(d.criteria, t, sub, h[rows])]
            if t == Tier.LITTLE_GIANT:
                rows = self._national_round(rows, q, metrics, held)
            rows = self._plan_cap(t, rows, q, metrics)
            quota = d.quota_per_year.get(t.label)
            if quota is not None and len(rows) > quota:
                order = np.argsort(-metrics["rd_intensity"][rows], kind="stable")
                rows = rows[order[:quota]]
            pop.tier[rows] = t
            pop.designation_step[rows] = q
            pop.review_step[rows] = q + int(round(d.validity_years * 4))
            m_.log_rows("designated", rows, detail=t.label, quarter=q)
            self.counts["designated"] += len(rows)
        self._key_little_giants(q, metrics, year)
        if d.rd_raise.enabled:
            self._raise_rd(metrics, here & self.decides_own_rd(), year)

    def tier_exists(self, t: Tier, year: int) -> bool:
        """Whether tier ``t``'s titles are granted in ``year`` (designation.tier_first_year; absent: from the start)."""
        first = self.policy.designation.tier_first_year.get(t.label)
        return first is None or year >= first

    def tier_below(self, t: Tier, year: int) -> Tier:
        """The tier a firm holds to climb to ``t`` in ``year``: the one below it, or the next one down that exists (a tier
        that does not exist yet is passed over; Tier.NONE at the bottom)."""
        below = Tier(int(t) - 1)
        while below != Tier.NONE and not self.tier_exists(below, year):
            below = Tier(int(below) - 1)
        return below

    def _held_for(self, t: Tier, held: np.ndarray, year: int) -> np.ndarray:
        """``held`` as tier ``t``'s rule of a required tier reads it in ``year``: where that tier does not exist yet, every
        firm is taken to hold it (the rule waits for the tier; designation.tier_first_year), else ``held`` itself."""
        req = self.policy.designation.criteria.tiers[t.label].requires_tier
        if req is None or self.tier_exists(Tier.of(req), year):
            return held
        return np.maximum(held, int(Tier.of(req)))

    def round_metrics(self) -> dict[str, np.ndarray]:
        """The criteria metrics of every row for this quarter's round, the two-year growth from the year recorded at
        the last round (``firm_metrics``)."""
        m_, pop = self.model, self.model.pop
        ids = pop.firm_id
        yb = _by_id(self.year_before, ids)
        eq = _by_id(self.equity_rounds[-1:], ids)[0]
        w = m_.world
        return firm_metrics(
            pop,
            m_.tables,
            m_.quarter,
            w.usd_per_cny,
            self.niches,
            (yb[0], yb[1]),
            self.strategic,
            eq,
            self.niche_shares(),
            w.price_level_growth,
            self.rd_booked(),
        )

    def rd_booked(self) -> np.ndarray | None:
        """Per row, R&D as booked in the accounts the criteria read per unit of R&D spent (``firm_metrics``); None
        here: the rare-earth world's R&D propensities are the programme's own figures of reported R&D (MODEL.md 5.3),
        so the criteria read R&D as spent."""
        return None

    def niche_shares(self) -> np.ndarray | None:
        """Each row's share of its own niche, where the world has niche markets (None here: ``firm_metrics`` reads
        capacity over the stage's average niche)."""
        return None

    def _record_year(self) -> None:
        """Record, by firm id, revenue and profit of the four quarters before the last four (next round's year before),
        and the equity raised since entry (``equity_rounds``: the equity raised in the last three years, three rounds on)."""
        m_, pop = self.model, self.model.pop
        ids = pop.firm_id
        if len(ids) and ids.max() >= self.year_before.shape[1]:  # grown by a quarter beyond the largest id (NaN: not recorded), not every round
            grown = np.full((2, _id_width(int(ids.max()))), np.nan)
            grown[:, : self.year_before.shape[1]] = self.year_before
            self.year_before = grown
        self.year_before[0, ids] = pop.trailing(pop.rev_hist, m_.quarter, 4, lag=4)
        self.year_before[1, ids] = pop.trailing(pop.prof_hist, m_.quarter, 4, lag=4)
        # equity raised since entry, by firm id, now: the oldest record drops out, this round's comes first
        if len(ids) and ids.max() >= self.equity_rounds.shape[1]:
            grown = np.full((EQUITY_YEARS, _id_width(int(ids.max()))), np.nan)
            grown[:, : self.equity_rounds.shape[1]] = self.equity_rounds
            self.equity_rounds = grown
        self.equity_rounds[1:] = self.equity_rounds[:-1].copy()
        self.equity_rounds[0] = np.nan
        self.equity_rounds[0, ids] = pop.equity_raised

    def _reviews(self, q: int, metrics, here: np.ndarray, held: np.ndarray) -> None:
        """Re-examination of titles whose validity ran out, against the criteria in force: the tier's own rules and
        score (its required lower tier counts as held) and, unless ``outgrown_sme`` is keep, the SME rules. A title
        that passes is valid another ``validity_years``; one that fails lapses (``held`` is set to none)."""
        d, pop = self.policy.designation, self.model.pop
        due = here & (pop.tier > Tier.NONE) & (pop.review_step >= 0) & (pop.review_step <= q)
        for t in DESIGNATED:
            rows = np.flatnonzero(due & (pop.tier == t))
            if not len(rows):
                continue
            sub = {k: metrics[k][rows] for k in _tier_metrics(d.criteria, t)}  # what meets_tier reads, on these rows
            ok = meets_tier(d.criteria, t, sub, np.full(len(rows), int(t)), sme=d.outgrown_sme == "revoke")
            passed, failed = rows[ok], rows[~ok]
            pop.review_step[passed] = q + int(round(d.validity_years * 4))
            self.model.log_rows("review_passed", passed, detail=t.label, quarter=q)
            self.model.log_rows("review_failed", failed, detail=t.label, quarter=q)
            self.counts["review_passed"] += len(passed)
            self.counts["review_failed"] += len(failed)
            self._revoke(failed, q, t)
            held[failed] = Tier.NONE

    def _national_round(self, rows: np.ndarray, q: int, metrics, held: np.ndarray) -> np.ndarray:
        """The national Little Giant round among ``rows`` (the firms meeting the criteria): the provinces recommend
        (``recommended`` events), then the plan's yearly quota for the chain (a ``national_quota`` event of the bloc
        with the quota as value) takes the best ranked. Either step is skipped when not configured; with a national
        quota there is no round before its ``first_year``."""
        d, pop = self.policy.designation, self.model.pop
        merit, nq = metrics[d.candidate_rank], d.national_quota
        year = self.model.world.start_year + q // 4
        if nq is not None and year < nq.first_year:  # no national programme yet
            return rows[:0]
        here = pop.alive & (pop.bloc == self.bloc)
        srdi = np.bincount(pop.region[here & (held == Tier.SRDI)], minlength=len(self.model.tables.regions))  # by region
        pr = d.provincial_recommendation
        if pr is not None:
            cap = None
            if pr.rounding == "carry":
                cap, self.recommend_carry = recommendation_caps(srdi, pr.share_of_srdi, self.recommend_carry)
            rows = rows[recommend(pop.region[rows], merit[rows], srdi, pr.share_of_srdi, cap)]
            self.model.log_rows("recommended", rows, detail=Tier.LITTLE_GIANT.label, quarter=q)
        if nq is None:
            return rows
        if nq.national_srdi:  # the chain's share of the national pool of SRDI SMEs the batch is drawn from
            share = srdi.sum() / scheduled(nq.first_year, nq.national_srdi, year)
        else:
            share = nq.chain_share * self.model.world.scale
        quota, self.quota_carry = yearly_quota(nq.first_year, nq.batches, year, share, self.quota_carry)
        self.model.event_log.add("national_quota", bloc=self.bloc, detail=Tier.LITTLE_GIANT.label, value=quota, quarter=q)
        gap = self.gap[pop.stage[rows]] if nq.priority_gap_stages else np.zeros(len(rows))
        return rows[rank(merit[rows], gap)[:quota]]

    def plan_by_region(self, tier: Tier, year: int) -> np.ndarray | None:
        """(R,) the stock of holders of ``tier`` or a higher one that each region's plan aims at in ``year`` (None: no plan
        for the tier, or none yet): the national stock (``provincial_plans.tiers``) x ``scope_share`` x world scale, shared
        among the regions by their own published targets and, for the others, by their firms (``plan_shares``)."""
        pp = self.policy.designation.provincial_plans
        tp = None if pp is None else pp.tiers.get(tier.label)
        nat = None if tp is None else plan_stock(tp.national, year)
        if nat is None:
            return None
        pop, regions = self.model.pop, self.model.tables.regions
        here = pop.alive & (pop.bloc == self.bloc)
        weights = np.bincount(pop.region[here], minlength=len(regions))
        last = float(tp.national[max(tp.national)])
        own = np.full(len(regions), np.nan)
        for name, v in tp.provinces.items():
            own[regions.index(name)] = float(v) / last if last > 0 else 0.0
        return nat * plan_shares(weights, own) * pp.scope_share * self.model.world.scale

    def _holders_by_region(self, tier: Tier) -> np.ndarray:
        """(R,) the bloc's live firms holding ``tier`` or a higher one, by region."""
        pop = self.model.pop
        here = pop.alive & (pop.bloc == self.bloc) & (pop.tier >= tier)
        return np.bincount(pop.region[here], minlength=len(self.model.tables.regions))

    def _plan_cap(self, tier: Tier, rows: np.ndarray, q: int, metrics) -> np.ndarray:
        """With ``provincial_plans.cap``: each region designates at most its plan's stock of the year less its holders of
        the tier or a higher one, its candidates with the highest R&D intensity first; every candidate otherwise."""
        pp = self.policy.designation.provincial_plans
        if pp is None or not pp.cap or not len(rows):
            return rows
        plan = self.plan_by_region(tier, self.model.world.start_year + q // 4)
        if plan is None:
            return rows
        room = plan_room(plan, self._holders_by_region(tier))
        region = self.model.pop.region[rows]
        return rows[recommend(region, metrics["rd_intensity"][rows], np.zeros(len(room)), 0.0, cap=room)]

    def _revoke(self, rows: np.ndarray, q: int, tier: Tier) -> None:
        pop = self.model.pop
        pop.tier[rows] = Tier.NONE
        pop.key_lg[rows] = False
        pop.designation_step[rows] = -1
        pop.review_step[rows] = -1
        self.model.log_rows("revoked", rows, detail=tier.label, quarter=q)

    def _key_little_giants(self, q: int, metrics, year: int) -> None:
        """The central budget's key Little Giants: a term of ``term_years`` from the first round at or after
        ``first_year`` (null: the first round), renewed when it ends; each round the Little Giants without the key flag
        are taken in order (plan's gap stages first where ``priority_gap_stages``, then R&D intensity) while the term's
        budget lasts; the flag lapses with the Little Giant title or at the term's end."""
        k = self.policy.designation.key_little_giant
        pop = self.model.pop
        if not k.enabled:
            return
        if k.first_year is not None and year < k.first_year:
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

    def decides_own_rd(self) -> np.ndarray:
        """(n,) rows whose R&D the R&D lever may raise: every firm, except that with ``groups.rd_raise_graded_only`` a
        subsidiary of a group that grades its subsidiaries (active, ``grading_top_share`` > 0) counts only while graded A:
        its parent sets its R&D budget and directs it to the subsidiaries it grades best (MODEL.md 5.7; assumption)."""
        pop = self.model.pop
        if not self.policy.groups.rd_raise_graded_only:
            return np.ones(len(pop), dtype=bool)
        grading = np.zeros(len(self.model.tables.groups), dtype=bool)
        for g in self.model.policy.groups:
            grading[g.index] = g.active and g.cfg.grading_top_share > 0
        graded_group = (pop.group >= 0) & grading[np.maximum(pop.group, 0)]
        return ~graded_group | pop.group_grade_a

    def _raise_rd(self, metrics, here: np.ndarray, year: int) -> None:
        """Firms for which R&D is what keeps them from the next tier raise their R&D propensity to cross it.

        A firm holding tier t-1 raises R&D when (a) its R&D intensity is within ``window`` below the lowest
        R&D threshold of tier t that applies to it and (b) with R&D at that threshold + margin (one and two
        years) it would meet every criterion of tier t. Criteria are public, so the reaction needs no
        guessing (MODEL.md 4). With ``rd_raise.lowest_qualifying`` every R&D threshold of tier t
        (``rd_threshold_values``) is tried in turn, lowest first, each within the window: the firm aims at the
        first at which it would meet tier t."""
        r = self.policy.designation.rd_raise
        pop = self.model.pop
        crit = self.policy.designation.criteria
        rd_tax = self.model.rd_tax_now()
        booked = self.rd_booked()
        for t in DESIGNATED:
            if not self.tier_exists(t, year):
                continue
            rows = np.flatnonzero(here & (pop.tier == self.tier_below(t, year)))
            if not len(rows):
                continue
            level = np.minimum(metrics["rd_intensity"][rows], metrics["rd_intensity_2y"][rows])  # thresholds may be one- or two-year
            if r.lowest_qualifying:  # each threshold of the tier in turn, lowest first: the first at which the firm would qualify
                options = [np.full(len(rows), x) for x in rd_threshold_values(crit, t)]
            else:  # the lowest threshold above the firm's level that applies to it
                used = _tier_metrics(crit, t) | _RD_METRICS  # every metric rd_thresholds reads (its rules and score items)
                options = [rd_thresholds(crit, t, {k: v[rows] for k, v in metrics.items() if k in used})]
            go, target = self._lever(t, metrics, rows, level, options, r.window, np.zeros(len(rows), dtype=bool))
            go, target = self._coach(t, rows, metrics, level, options, go, target)
            rr = rows[go]
            if rd_tax is not None:  # R&D is propensity x the tax factor (agents.firms.account): the propensity that reaches the aim
                target = target / rd_tax[0][self.bloc]
            if booked is not None:  # the aim is R&D as booked: the spending that books it
                target = target / booked[rows]
            pop.rd_propensity[rr] = np.maximum(pop.rd_propensity[rr], target[go])

    def _lever(self, t: Tier, metrics, rows: np.ndarray, level: np.ndarray, options, window: float, go: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(go, target): the firms (``rows`` of ``metrics``, not yet in ``go``) within ``window`` below one of the R&D
        thresholds ``options`` (in turn) that would meet tier ``t`` with R&D at threshold + margin, and that level."""
        r, crit = self.policy.designation.rd_raise, self.policy.designation.criteria
        n = len(level)
        go, target = go.copy(), np.zeros(n)
        for thr in options:
            near = ~go & np.isfinite(thr) & (level < thr) & (level >= thr * (1.0 - window))
            if not near.any():
                continue
            aim = thr + r.margin
            # the criteria hold row by row: read them on the near rows only (the other rows would not move)
            at = np.flatnonzero(near)
            sel = rows[at]
            what_if = {k: metrics[k][sel] for k in _tier_metrics(crit, t) | _RD_METRICS}  # what meets_tier reads, and the R&D it raises
            boost, lv = aim[at], level[at]
            what_if["rd_intensity"] = np.maximum(what_if["rd_intensity"], boost)
            what_if["rd_intensity_2y"] = np.maximum(what_if["rd_intensity_2y"], boost)
            scale = np.divide(what_if["rd_intensity"], lv, out=np.ones(len(at)), where=lv > 0)
            what_if["rd_myuan"] = what_if["rd_myuan"] * scale
            what_if["rd_myuan_2y"] = what_if["rd_myuan_2y"] * scale
            would = at[meets_tier(crit, t, what_if, np.full(len(at), int(t) - 1))]
            target[would] = aim[would]
            go[would] = True
        return go, target

    def _coach(self, t: Tier, rows: np.ndarray, metrics, level, options, go: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """With ``provincial_plans.coach``: a region whose holders of tier ``t`` or higher, with the firms the R&D lever
        already lifts toward it, fall short of its plan for next year coaches as many of its holders of the tier below as
        it is short (best R&D intensity first) among those within ``coaching_window`` below one of the tier's R&D
        thresholds that would meet every criterion of tier ``t`` with R&D at threshold + margin: they raise R&D to it
        (provinces recruit and coach candidates toward the criteria of their plans)."""
        pp = self.policy.designation.provincial_plans
        if pp is None or not pp.coach:
            return go, target
        plan = self.plan_by_region(t, self.model.world.start_year + (self.model.quarter + 1) // 4 + 1)
        if plan is None:
            return go, target
        region = self.model.pop.region[rows]
        lifted = np.bincount(region[go], minlength=len(plan))
        short = plan_room(plan, self._holders_by_region(t) + lifted)
        if not short.any():
            return go, target
        skip = go | (short[region] == 0)
        more, aim = self._lever(t, metrics, rows, level, options, pp.coaching_window, skip)
        cand = np.flatnonzero(more & ~skip)
        take = cand[recommend(region[cand], level[cand], np.zeros(len(short)), 0.0, cap=short)]
        go, target = go.copy(), target.copy()
        go[take] = True
        target[take] = aim[take]
        return go, target

    # ------------------------------------------------------------------ quarterly
    def apply_benefits(self) -> None:
        """Set this bloc's benefit columns from titles held and pay this quarter's grants (next accounts).

        For each live row of the bloc, in this order: the quarter's tax expenditure (profit before tax, if positive,
        times the standard rate less the firm's) and interest subsidy (debt x the subsidy, at most the loan rate, a
        quarter's) at the rates of the quarter just booked; benefits reset to none (standard tax); the benefits of
        the tier it holds (``policy.benefits``; the interest subsidy, credit bonus and grant x 1 + ``gap_tilt`` in a
        gap stage) and, for a key Little Giant, the key entry's added to them; the talent refund (its talent
        subsidy x R&D, x R&D as booked where the world books relabelled expense: :meth:`rd_booked`); the tier and key
        grants are earmarked for R&D (the special funds for SRDI firms and Little Giants support technological
        innovation; assumption), the talent refund is a plain grant; a key Little Giant's central grant on top.
        Every row on its own, in one compiled pass (agents.kernels.benefit_rows; tests/test_kernels.py checks its
        numbers bit for bit against the array code it replaced)."""
        m_, pop, T = self.model, self.model.pop, self.model.tables
        b = self.bloc
        here = pop.alive & (pop.bloc == b)
        to_usd = m_.world.usd_per_cny / yuan_price_level(m_.world, m_.current_year)  # the benefits table's yuan are this year's (nominal)
        tables = benefit_tables(self.policy.benefits, to_usd)
        k = self.policy.designation.key_little_giant
        key_grant = k.grant_myuan_per_firm_term / max(k.term_years * 4.0, 1.0) * to_usd if k.enabled else 0.0
        booked = self.rd_booked()
        n = len(pop)
        tax_expenditure, interest_cost, grant, talent = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
        n_key = kernels.benefit_rows(
            here, pop.stage, pop.tier, pop.key_lg, pop.revenue, pop.costs, pop.depreciation, pop.debt, pop.rd_spend,
            np.zeros(0) if booked is None else np.ascontiguousarray(booked, dtype=np.float64), booked is not None,
            np.ascontiguousarray(self.gap_stage, dtype=np.bool_), 1.0 + self.policy.coordination.gap_tilt,
            float(T.tax_rate[b]), float(T.interest_rate[b]), *tables, float(key_grant),
            pop.tax_rate, pop.interest_subsidy, pop.credit_bonus, pop.ipo_fast_track, pop.talent_subsidy,
            pop.procurement_discount, pop.grants, pop.rd_grants, tax_expenditure, interest_cost, grant, talent,
        )  # fmt: skip
        self.fiscal_q["tax_expenditure"] = float(np.sum(tax_expenditure))
        self.fiscal_q["interest_subsidy"] = float(np.sum(interest_cost))
        self.fiscal_q["grants"] = float(grant[here].sum())
        self.fiscal_q["talent_subsidy"] = float(talent.sum())
        self.fiscal_q["key_grants"] = key_grant * n_key
        for key, v in self.fiscal_q.items():
            self.fiscal[key] += v


def benefit_tables(benefits: dict, to_usd: float) -> tuple[np.ndarray, ...]:
    """The benefits table (``policy.benefits``: tier label -> BenefitConfig) as the arrays agents.kernels.benefit_rows
    reads, each indexed by tier (Tier.NONE's entry unused) with the key Little Giants' entry last: whether the entry
    exists, whether it sets a tax rate, the rate, the interest subsidy, credit bonus, IPO fast track, talent subsidy,
    procurement discount, and the grant in M USD a quarter (M yuan a year x ``to_usd`` / 4)."""
    n = len(Tier) + 1
    has, has_tax = np.zeros(n, dtype=np.bool_), np.zeros(n, dtype=np.bool_)
    values = np.zeros((7, n))
    for j, label in [(int(t), t.label) for t in DESIGNATED] + [(n - 1, KEY_LITTLE_GIANT)]:
        ben = benefits.get(label)
        if ben is None:
            continue
        has[j] = True
        if ben.tax_rate is not None:
            has_tax[j] = True
            values[0, j] = ben.tax_rate
        values[1:6, j] = ben.interest_subsidy, ben.credit_bonus, ben.ipo_fast_track, ben.talent_subsidy, ben.procurement_discount
        values[6, j] = ben.grant_myuan_per_year * to_usd / 4.0
    return (has, has_tax, *values)


__all__ = [
    "Government",
    "firm_metrics",
    "meets_tier",
    "rule_holds",
    "rules_hold",
    "score",
    "category_scores",
    "score_passes",
    "rd_thresholds",
    "rd_threshold_values",
    "scheduled",
    "yearly_quota",
    "recommend",
    "recommendation_caps",
    "rank",
    "plan_stock",
    "plan_shares",
    "plan_room",
    "TIERS",
]
