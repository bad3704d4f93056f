"""Policy configuration schema (MODEL.md 5.6-5.8): one ``PolicyConfig`` per bloc.

conf/policy/*.yaml are the options of the ``policy`` config group, assigned per
bloc in conf/config.yaml (``policy@policy.china: coordinated``) and switched by
scenarios. Designation criteria are data too (conf/criteria/*.yaml), composed
into ``designation.criteria``.

Criteria rules (checked in :func:`validate_policy`):
    {metric: NAME, op: OP, value: NUMBER}      OP one of >=, >, <=, <
    {any_of: [[rule, ...], [rule, ...]]}       at least one list holds entirely
    {when: rule, then: [rule, ...]}           the rules apply only where ``when`` holds
Score items (innovation_type): {metric: NAME, bands: [[threshold, points], ...]}:
the firm gets the points of the highest threshold it reaches (metric >= threshold);
with ``below: true`` the points of the lowest threshold it stays under (metric < threshold);
``op`` names the comparison instead (>= or > reach a threshold, <= or < stay under it;
``below: true`` is ``op: "<"``). {best_of: [item, ...]}: the points of the best of
its items (one published item read from several metrics). An item may name its
``category``; the tier's ``category_min_score`` (category -> points) asks at least
that many points from each category's items besides ``min_score`` in all.
A tier's ``direct_routes`` ([[rule, ...], ...], like any_of) are alternatives to the
score: where one of them holds entirely the score is not needed (its rules, the
required tier and the SME rules still are).
Metric names are listed in agents.criteria_names.METRICS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from agents.codes import KEY_LITTLE_GIANT, Tier
from agents.criteria_names import METRICS, TIERS
from sim.checks import ConfigError, require_name
from sim.config.fields import f

BENEFIT_TIERS = TIERS + (KEY_LITTLE_GIANT,)  # benefits are given by tier and to key Little Giants
OPS = (">=", ">", "<=", "<")


@dataclass
class TierCriteriaConfig:
    requires_tier: Optional[str] = None  # tier the firm must already hold (or a higher one)
    rules: list[Any] = field(default_factory=list)  # every rule must hold
    score: list[Any] = field(default_factory=list)  # points items (see module docstring)
    min_score: float = f(0.0, lo=0.0)  # points needed (when score items are given)
    category_min_score: dict[str, float] = field(default_factory=dict)  # category -> points needed from its items ({}: none)
    direct_routes: list[Any] = field(default_factory=list)  # alternatives to the score, each a list of rules ([]: none)


@dataclass
class CriteriaConfig:
    name: str = ""
    source: str = ""
    sme: list[Any] = field(default_factory=list)  # SME eligibility rules, required for every tier
    tiers: dict[str, TierCriteriaConfig] = field(default_factory=dict)  # innovation_type, srdi, little_giant


@dataclass
class KeyLittleGiantConfig:
    enabled: bool = False
    budget_myuan_per_term: float = f(0.0, lo=0.0)  # central budget available to this chain per term, M yuan
    grant_myuan_per_firm_term: float = f(0.0, lo=0.0)  # grant per key firm over one term, M yuan
    term_years: float = f(3.0, lo=0.25)
    priority_gap_stages: bool = True  # firms in stages with the larger planned gap are chosen first
    # first year of the central budget's terms (no key firm before it); null: from the first Little Giant round
    first_year: Optional[int] = f(None, lo=1900, hi=2200)


@dataclass
class RdRaiseConfig:
    enabled: bool = False  # firms near a tier's R&D threshold raise R&D to cross it (MODEL.md 4)
    window: float = f(0.5, lo=0.0)  # relative distance below the threshold within which firms react
    margin: float = f(0.005, lo=0.0)  # target this much above the threshold (R&D / revenue)
    # true: a firm aims at the lowest of the tier's R&D thresholds at which it would meet the tier (every rule and score band
    # above its level, each within the window); false: only the lowest threshold above its level, however short that leaves it
    lowest_qualifying: bool = False


@dataclass
class NationalQuotaConfig:
    """The national Little Giant rounds under the plan's yearly quota (docs/ODD.md 7.9)."""

    first_year: int = f(2019, lo=1900, hi=2300)  # calendar year of the first national batch (no national round before)
    batches: list[int] = f([], lo=0)  # Little Giants the ministry designates nationally, one a year from first_year (the last repeats)
    # the chain's share of a batch: its SRDI holders over the national SRDI SMEs not yet Little Giants (one a year from first_year),
    # or, with national_srdi empty, the fixed chain_share x world.scale
    national_srdi: list[int] = f([], lo=1)
    chain_share: float = f(0.0, lo=0.0, hi=1.0)  # fixed share of each batch for this chain at world.scale 1 (when national_srdi is empty)
    priority_gap_stages: bool = True  # candidates in stages with the larger planned gap first, then R&D intensity


@dataclass
class ProvincialRecommendationConfig:
    """Provinces (the bloc's regions) recommend Little Giant candidates before the national round (docs/ODD.md 7.9)."""

    share_of_srdi: float = f(0.11, lo=0.0, hi=1.0)  # a region recommends at most this share of its SRDI holders (rounded as below)
    # up: ceil(share x holders) each round; carry: floor(carry + share x holders), the fraction left carried to the next round
    rounding: str = "up"


@dataclass
class TierPlanConfig:
    """One tier's plan (docs/ODD.md 7.9): the national stock of holders aimed at by year, and provinces' own targets."""

    # calendar year -> national stock of firms holding the tier or a higher one that the plans aim at, all sectors: linear
    # between the years given, no plan before the first, the last held after it
    national: dict[int, float] = field(default_factory=dict)
    # region (province) -> its own published target for the last year of ``national``; the other regions share the rest of
    # the national figure in proportion to their firms ({}: every region by its firms)
    provinces: dict[str, float] = field(default_factory=dict)


@dataclass
class ProvincialPlansConfig:
    """Provinces' plans for the lower tiers, each province its own yearly round under its plan (docs/ODD.md 7.9)."""

    tiers: dict[str, TierPlanConfig] = field(default_factory=dict)  # tier -> its plan (innovation_type, srdi)
    scope_share: float = f(1.0, lo=0.0, hi=1.0)  # share of the plans' firms that are of the model's population (national: manufacturers)
    cap: bool = False  # true: a region designates at most its plan's stock of the year less its holders (best R&D intensity first)
    coach: bool = True  # true: a region short of next year's plan coaches holders of the tier below toward the tier's R&D rules
    coaching_window: float = f(1.0, lo=0.0, hi=1.0)  # how far below an R&D threshold a coached firm may be (1: any), as rd_raise.window


RECOMMENDATION_ROUNDING = ("up", "carry")  # how a region's share of its SRDI holders becomes a whole number of candidates
OUTGROWN_SME = ("revoke", "keep")  # what a review does with a title holder that no longer meets the SME rules
CANDIDATE_RANK = ("rd_intensity", "niche_share")  # the metric by which provinces and the national round rank Little Giant candidates


@dataclass
class DesignationConfig:
    enabled: bool = False
    criteria: CriteriaConfig = field(default_factory=CriteriaConfig)
    round_quarter: int = f(2, lo=1, hi=4)  # quarter of the year in which rounds and reviews happen
    validity_years: float = f(3.0, lo=0.25)  # a title is valid this long, then reviewed
    quota_per_year: dict[str, int] = field(default_factory=dict)  # tier -> max new titles per year (absent: none)
    # tier -> the first year its titles are granted (absent: from the start of the run); before it the tier does not exist:
    # no titles, and a tier above it does not require it (docs/ODD.md 7.9)
    tier_first_year: dict[str, int] = field(default_factory=dict)
    national_quota: Optional[NationalQuotaConfig] = None  # null: no national Little Giant quota
    provincial_recommendation: Optional[ProvincialRecommendationConfig] = None  # null: every eligible firm is a candidate
    provincial_plans: Optional[ProvincialPlansConfig] = None  # null: the lower tiers take every eligible firm, no province plans
    outgrown_sme: str = "revoke"  # revoke: reviews apply the SME rules (the title lapses); keep: reviews skip them
    # the metric by which the provinces' recommendation and the national quota rank Little Giant candidates that meet the
    # criteria (after the plan's gap stages where national_quota.priority_gap_stages): rd_intensity (the firm's R&D over
    # revenue) or niche_share (its share of its national niche, the measures' market-position criterion); docs/ODD.md 7.9
    candidate_rank: str = "rd_intensity"
    niches_per_stage: dict[str, float] = field(default_factory=dict)  # stage -> product niches (niche_share metric; absent: 1)
    # stage -> its product is in the Strategic Emerging Industries Classification (strategic_emerging_field metric; absent: false)
    strategic_emerging_stages: dict[str, bool] = field(default_factory=dict)
    key_little_giant: KeyLittleGiantConfig = field(default_factory=KeyLittleGiantConfig)
    rd_raise: RdRaiseConfig = field(default_factory=RdRaiseConfig)


@dataclass
class BenefitConfig:
    grant_myuan_per_year: float = f(0.0, lo=0.0)  # direct subsidy while the title is held, M yuan / yr
    tax_rate: Optional[float] = f(None, lo=0.0, hi=1.0)  # corporate income tax rate while held (null: standard)
    interest_subsidy: float = f(0.0, lo=0.0, hi=1.0)  # points off the loan rate, per year
    credit_bonus: float = f(0.0, lo=0.0, hi=1.0)  # extra debt / assets lenders allow
    procurement_discount: float = f(0.0, lo=0.0, hi=0.95)  # price advantage perceived by state buyers
    ipo_fast_track: float = f(0.0, lo=0.0, hi=1.0)  # extra probability per quarter of outside equity
    talent_subsidy: float = f(0.0, lo=0.0, hi=1.0)  # share of R&D cost refunded (R&D staff subsidy)


@dataclass
class CoordinationConfig:
    plan_horizon_years: float = f(5.0, lo=0.0)  # gap = projected demand this far ahead - capacity - pipeline
    gap_tilt: float = f(0.0, lo=0.0, hi=5.0)  # benefits in gap stages x (1 + tilt); others x 1
    gap_threshold: float = f(0.0, lo=-1.0, hi=1.0)  # a stage is a gap when gap / demand exceeds this
    permit_factor: float = f(1.0, lo=0.05, hi=5.0)  # permitting durations x this (fast permits < 1)
    quota_stages: list[str] = field(default_factory=list)  # output quotas held by the state groups
    quota_outside_groups: float = f(1.0, lo=0.0, hi=1.0)  # share of capacity firms outside groups may use there
    incubation_per_year: float = f(0.0, lo=0.0)  # projects the coordinator sponsors per year in gap stages (Poisson mean; agents/sponsor.py)
    sponsored_studies_done: bool = False  # the coordinator picks projects whose studies are done: they start at permitting (agents/sponsor.py)


@dataclass
class GroupPolicyConfig:
    rescue_budget_myuan_per_year: float = f(0.0, lo=0.0)  # per group: failing subsidiaries recapitalised
    grading_top_share: float = f(0.0, lo=0.0, hi=1.0)  # share of subsidiaries graded best each year
    rd_fund_myuan_per_year: float = f(0.0, lo=0.0)  # per group, split among the best-graded
    incubation_per_year: float = f(0.0, lo=0.0)  # per group: new subsidiaries into its gap stages (Poisson mean)
    knowledge_sharing: Optional[float] = f(None, lo=0.0, hi=1.0)  # null: world.innovation.group_sharing
    # true: a subsidiary raises R&D toward the next tier (designation.rd_raise) only while its group grades it A
    rd_raise_graded_only: bool = False


@dataclass
class AgencyConfig:
    regions: list[str] = field(default_factory=list)  # jurisdiction (empty: the whole bloc)
    stages: list[str] = field(default_factory=list)  # stage focus (empty: every stage)
    budget_musd_per_year: float = f(0.0, lo=0.0)
    stop_go_sd: float = f(0.0, lo=0.0, hi=3.0)  # sd of the log of the yearly budget multiplier
    stop_probability: float = f(0.0, lo=0.0, hi=1.0)  # chance that a year's call is cancelled
    call_quarter: int = f(1, lo=1, hi=4)  # quarter of the yearly call
    award_lag_years: list[float] = f([1.0, 3.0], lo=0.0, pair=True)  # application -> award, drawn uniform
    capex_share: float = f(0.0, lo=0.0, hi=1.0)  # award as a share of project capex
    cap_musd: float = f(0.0, lo=0.0)  # largest single award
    selection: str = "best_return"  # best_return | first_come | random | largest
    gap_targeting: bool = False  # rank applicants by the bloc's stage gaps first (pooled, coordinated West)


@dataclass
class InstrumentsConfig:
    price_floor_usd_per_kg: dict[str, float] = field(default_factory=dict)  # stage -> floor paid to domestic producers
    floor_offtake_t_per_year: dict[str, float] = field(default_factory=dict)  # stage -> output the state buys at the floor
    floor_years: float = f(10.0, lo=0.0)
    floor_per_plant: bool = False  # false: one floor for floor_years from the policy's start; true: each plant's agreement runs
    # floor_years from its first output while the policy is in force (incumbents from the start)
    floor_capacity_t_per_year: dict[str, float] = field(default_factory=dict)  # stage -> nameplate (t/yr) per-plant agreements may
    # cover at once (first come, first served; empty: no cap)
    floor_domestic_only: bool = False  # the floor tops up only what a plant sells to its own bloc's buyers and the state (false: all
    # it sells, exports too)
    floor_home_first: bool = False  # with floor_domestic_only: a plant whose floor is above the index serves its own bloc's buyers
    # first, at no more than imports cost them (scenarios.price_floor.reserve_home); false: the logit spreads its output
    floor_renew_below: float = f(0.0, lo=0.0, hi=10.0)  # with floor_per_plant: a plant whose agreement has ended signs another
    # floor_years while the bloc's own output at the stage covers less than this share of its final need (self-sufficiency,
    # magnet-equivalent); 0: agreements are never renewed
    permit_cap_years: dict[str, float] = field(default_factory=dict)  # stage -> longest permitting time
    knowhow_ramp_factor: float = f(1.0, lo=0.05, hi=1.0)  # quality ramp time x this (know-how programme)
    defence_mandate_share: float = f(0.0, lo=0.0, hi=1.0)  # domestic share required of defence and state-owned buyers
    # trade and content rules (docs/ODD.md 7.11); empty: off
    import_tariff: dict[str, float] = field(default_factory=dict)  # stage -> ad valorem tariff on imports from every other bloc, added to the world's
    production_credit_usd_per_kg: dict[str, float] = field(default_factory=dict)  # stage -> credit per kg of the bloc's output, USD/kg
    production_credit_cost_share: dict[str, float] = field(default_factory=dict)  # stage -> credit as share of production cost (45X: 0.10)
    export_ban_stages: list[str] = field(default_factory=list)  # stages whose product the bloc's producers do not sell abroad (a standing rule)
    # national output quota (docs/ODD.md 7.9): stage -> the bloc's total output allowed in the base year, t/yr of the stage's
    # product; it grows with the bloc's configured final-demand path (the plan's projection); empty: none
    output_quota_t_per_year: dict[str, float] = field(default_factory=dict)
    output_quota_base_year: float = f(2015.0, lo=1900.0, hi=2300.0)  # the year of output_quota_t_per_year
    output_quota_unofficial_share: float = f(0.0, lo=0.0, hi=0.9)  # share of output produced beyond the quota (tolerated): cap = quota / (1 - share)
    # the quotas as announced, year by year: stage -> [[year, t/yr], ...] (years strictly increasing), each in force from its
    # year to the next point's; after the last point it grows with the demand path (as above); before the first point, the
    # first; a stage given here ignores output_quota_t_per_year; {}: none
    output_quota_schedule: dict[str, list[Any]] = field(default_factory=dict)
    # [[year, share], ...]: output beyond the quota as a share of the total, linear between the points and flat outside them
    # (years strictly increasing, shares in [0, 0.9]); []: output_quota_unofficial_share in every year
    output_quota_unofficial_schedule: list[Any] = field(default_factory=list)
    # [[year, share], ...]: the additional deduction of R&D expense from taxable profit from each year on (0.75: 175% of R&D
    # deducted), a step schedule read at the start of the run; [] none: no deduction and R&D at its drawn propensity (the rule before)
    rd_extra_deduction: list[Any] = field(default_factory=list)


@dataclass
class PolicyConfig:
    regime: str = "none"  # none | coordinated | fragmented | coordinated_west (a label; what acts is configured below)
    description: str = ""
    designation: DesignationConfig = field(default_factory=DesignationConfig)
    benefits: dict[str, BenefitConfig] = field(default_factory=dict)  # tier -> benefits while held
    coordination: CoordinationConfig = field(default_factory=CoordinationConfig)
    groups: GroupPolicyConfig = field(default_factory=GroupPolicyConfig)
    agencies: dict[str, AgencyConfig] = field(default_factory=dict)
    instruments: InstrumentsConfig = field(default_factory=InstrumentsConfig)


@dataclass
class PolicyChangeConfig:
    year: float = f(lo=1900.0, hi=2300.0)  # fractional calendar year from which ``policy`` replaces the bloc's policy
    policy: PolicyConfig = field(default_factory=PolicyConfig)


SELECTIONS = ("best_return", "first_come", "random", "largest")
REGIMES = ("none", "coordinated", "fragmented", "coordinated_west")


def parse_rule(key: str, rule: Any) -> dict:
    """Check one criteria rule and return it in canonical form (see module docstring)."""

    if not isinstance(rule, dict):
        raise ConfigError(key, f"a rule must be {{metric, op, value}}, {{any_of: [...]}} or {{when, then}}; got {rule!r}")
    if "any_of" in rule:
        if set(rule) != {"any_of"} or not isinstance(rule["any_of"], list) or not rule["any_of"]:
            raise ConfigError(key, "any_of must be the only key and hold a non-empty list of rule lists")
        return {
            "any_of": [
                [parse_rule(f"{key}.any_of[{i}][{j}]", r) for j, r in enumerate(_as_list(f"{key}.any_of[{i}]", alt))]
                for i, alt in enumerate(rule["any_of"])
            ]
        }
    if "when" in rule:
        if set(rule) != {"when", "then"}:
            raise ConfigError(key, "a conditional rule has exactly the keys when and then")
        return {
            "when": parse_rule(f"{key}.when", rule["when"]),
            "then": [parse_rule(f"{key}.then[{j}]", r) for j, r in enumerate(_as_list(f"{key}.then", rule["then"]))],
        }
    extra = set(rule) - {"metric", "op", "value", "note"}
    if extra or not {"metric", "op", "value"} <= set(rule):
        raise ConfigError(key, f"a rule has the keys metric, op, value (and an optional note); got {sorted(rule)}")
    if rule["metric"] not in METRICS:
        raise ConfigError(f"{key}.metric", f"unknown metric '{rule['metric']}'; allowed: {', '.join(METRICS)}")
    if rule["op"] not in OPS:
        raise ConfigError(f"{key}.op", f"unknown operator '{rule['op']}'; allowed: {', '.join(OPS)}")
    v = rule["value"]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ConfigError(f"{key}.value", f"must be a number, got {v!r}")
    return {"metric": rule["metric"], "op": rule["op"], "value": float(v)}


def parse_score_item(key: str, item: Any) -> dict:
    """Check one score item and return it in canonical form: {metric, op, below, bands (best band first), category}
    or {best_of: [items], category} (see module docstring)."""

    if isinstance(item, dict) and "best_of" in item:
        if set(item) - {"best_of", "category", "note"} or not isinstance(item["best_of"], list) or not item["best_of"]:
            raise ConfigError(key, f"a best_of item is {{best_of: [item, ...], category: NAME}}; got {item!r}")
        parts = [parse_score_item(f"{key}.best_of[{i}]", x) for i, x in enumerate(item["best_of"])]
        if any("best_of" in x or x["category"] is not None for x in parts):
            raise ConfigError(f"{key}.best_of", "the items of best_of are plain items without a category of their own")
        return {"best_of": parts, "category": _category(key, item)}
    keys = {"metric", "bands", "below", "op", "category", "note"}
    if not isinstance(item, dict) or set(item) - keys or not {"metric", "bands"} <= set(item):
        raise ConfigError(key, f"a score item is {{metric, bands: [[threshold, points], ...], below: false}}; got {item!r}")
    below = item.get("below", False)
    if not isinstance(below, bool):
        raise ConfigError(f"{key}.below", f"must be true or false, got {below!r}")
    op = item.get("op", "<" if below else ">=")
    if op not in OPS:
        raise ConfigError(f"{key}.op", f"unknown operator '{op}'; allowed: {', '.join(OPS)}")
    if "op" in item and "below" in item and below != (op in ("<=", "<")):
        raise ConfigError(f"{key}.below", f"contradicts op '{op}' (give one of them)")
    below = op in ("<=", "<")
    if item["metric"] not in METRICS:
        raise ConfigError(f"{key}.metric", f"unknown metric '{item['metric']}'; allowed: {', '.join(METRICS)}")
    bands = item["bands"]
    ok = (
        isinstance(bands, list)
        and bands
        and all(isinstance(b, list) and len(b) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in b) for b in bands)
    )
    if not ok:
        raise ConfigError(f"{key}.bands", f"must be a non-empty list of [threshold, points] pairs; got {bands!r}")
    if any(b[1] < 0 for b in bands):
        raise ConfigError(f"{key}.bands", "points must be >= 0")
    # best band first: the highest threshold reached (or, with below, the lowest threshold not reached)
    return {
        "metric": item["metric"],
        "op": op,
        "below": below,
        "bands": sorted(([float(a), float(b)] for a, b in bands), key=lambda x: x[0] if below else -x[0]),
        "category": _category(key, item),
    }


def _category(key: str, item: dict) -> Optional[str]:
    c = item.get("category")
    if c is not None and (not isinstance(c, str) or not c):
        raise ConfigError(f"{key}.category", f"must be a name, got {c!r}")
    return c


def item_max_points(item: dict) -> float:
    """The most points a parsed score item can give."""
    if "best_of" in item:
        return max(item_max_points(x) for x in item["best_of"])
    return max(b[1] for b in item["bands"])


def _as_list(key: str, value: Any) -> list:

    if not isinstance(value, list):
        raise ConfigError(key, f"must be a list of rules; got {value!r}")
    return value


def _check_names(key: str, names, allowed, what: str) -> None:

    for n in names:
        require_name(key, n, list(allowed), what)


def check_policy(key: str, bloc: str, p: PolicyConfig, cfg) -> None:
    """Names and rules of one bloc's policy (raises ConfigError)."""

    w = cfg.world
    stages, regions = list(w.stages), list(w.blocs[bloc].regions)
    _check_names(f"{key}.regime", [p.regime], REGIMES, "regime")
    d = p.designation
    if d.enabled:
        c = d.criteria
        ck = f"{key}.designation.criteria"
        _check_names(f"{ck}.tiers", list(c.tiers), TIERS, "tier")
        missing = [t for t in TIERS if t not in c.tiers]
        if missing:
            raise ConfigError(f"{ck}.tiers", f"criteria for {', '.join(missing)} are missing; every tier needs criteria: {', '.join(TIERS)}")
        c.sme = [parse_rule(f"{ck}.sme[{i}]", r) for i, r in enumerate(_as_list(f"{ck}.sme", c.sme))]
        for t, tc in c.tiers.items():
            tk = f"{ck}.tiers.{t}"
            if tc.requires_tier is not None:
                _check_names(f"{tk}.requires_tier", [tc.requires_tier], TIERS, "tier")
                if Tier.of(tc.requires_tier) >= Tier.of(t):
                    raise ConfigError(f"{tk}.requires_tier", f"must be a lower tier than '{t}'")
            tc.rules = [parse_rule(f"{tk}.rules[{i}]", r) for i, r in enumerate(_as_list(f"{tk}.rules", tc.rules))]
            tc.score = [parse_score_item(f"{tk}.score[{i}]", r) for i, r in enumerate(_as_list(f"{tk}.score", tc.score))]
            top = sum(item_max_points(item) for item in tc.score)
            if tc.score and tc.min_score > top:
                raise ConfigError(f"{tk}.min_score", f"no firm can reach {tc.min_score:g} points; the items give at most {top:g}")
            for cat, need in tc.category_min_score.items():
                ck_ = f"{tk}.category_min_score.{cat}"
                if isinstance(need, bool) or not isinstance(need, (int, float)) or need < 0:
                    raise ConfigError(ck_, f"must be a number >= 0, got {need!r}")
                cat_items = [item for item in tc.score if item["category"] == cat]
                if not cat_items:
                    cats = sorted({str(item["category"]) for item in tc.score if item["category"] is not None})
                    raise ConfigError(ck_, f"no score item has category '{cat}'; categories: {', '.join(cats) or 'none'}")
                cat_top = sum(item_max_points(item) for item in cat_items)
                if need > cat_top:
                    raise ConfigError(ck_, f"no firm can reach {need:g} points; the category's items give at most {cat_top:g}")
            if tc.direct_routes:
                if not tc.score:
                    raise ConfigError(f"{tk}.direct_routes", "direct routes are alternatives to a score: the tier has no score items")
                tc.direct_routes = parse_rule(f"{tk}.direct_routes", {"any_of": tc.direct_routes})["any_of"]
        _check_names(f"{key}.designation.niches_per_stage", list(d.niches_per_stage), stages, "stage")
        _check_names(f"{key}.designation.strategic_emerging_stages", list(d.strategic_emerging_stages), stages, "stage")
        for s_, v in d.strategic_emerging_stages.items():
            if not isinstance(v, bool):
                raise ConfigError(f"{key}.designation.strategic_emerging_stages.{s_}", f"must be true or false, got {v!r}")
        for s_, v in d.niches_per_stage.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 1:
                raise ConfigError(f"{key}.designation.niches_per_stage.{s_}", f"must be a number >= 1, got {v!r}")
        _check_names(f"{key}.designation.quota_per_year", list(d.quota_per_year), TIERS, "tier")
        for t, q in d.quota_per_year.items():
            if isinstance(q, bool) or not isinstance(q, int) or q < 0:
                raise ConfigError(f"{key}.designation.quota_per_year.{t}", f"must be a whole number >= 0, got {q!r}")
        _check_names(f"{key}.designation.tier_first_year", list(d.tier_first_year), TIERS, "tier")
        for t, y in d.tier_first_year.items():
            if isinstance(y, bool) or not isinstance(y, int) or not 1900 <= y <= 2200:
                raise ConfigError(f"{key}.designation.tier_first_year.{t}", f"must be a whole year between 1900 and 2200, got {y!r}")
        _check_names(f"{key}.designation.outgrown_sme", [d.outgrown_sme], OUTGROWN_SME, "rule for outgrown SMEs")
        _check_names(f"{key}.designation.candidate_rank", [d.candidate_rank], CANDIDATE_RANK, "ranking metric")
        if d.provincial_recommendation is not None:
            _check_names(
                f"{key}.designation.provincial_recommendation.rounding",
                [d.provincial_recommendation.rounding],
                RECOMMENDATION_ROUNDING,
                "rounding",
            )
        pp = d.provincial_plans
        if pp is not None:
            plan_regions = [x.name for x in cfg.national.provinces] if getattr(cfg, "national", None) is not None else regions
            _check_names(f"{key}.designation.provincial_plans.tiers", list(pp.tiers), TIERS[:-1], "tier below Little Giant")
            for t, tp in pp.tiers.items():
                tk = f"{key}.designation.provincial_plans.tiers.{t}"
                if not tp.national:
                    raise ConfigError(f"{tk}.national", "must give the national stock aimed at for at least one year, e.g. {2025: 100000}")
                for y, v in tp.national.items():
                    if isinstance(y, bool) or not isinstance(y, int) or isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                        raise ConfigError(f"{tk}.national", f"must map years to stocks >= 0, got {y!r}: {v!r}")
                _check_names(f"{tk}.provinces", list(tp.provinces), plan_regions, f"region of bloc '{bloc}'")
                last = tp.national[max(tp.national)]
                for r_, v in tp.provinces.items():
                    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                        raise ConfigError(f"{tk}.provinces.{r_}", f"must be a number >= 0, got {v!r}")
                if sum(tp.provinces.values()) > last:
                    raise ConfigError(f"{tk}.provinces", f"the provinces' targets add up to more than the national {last:g}")
        nq = d.national_quota
        if nq is not None and not nq.batches:
            raise ConfigError(
                f"{key}.designation.national_quota.batches",
                "must list one batch a year from first_year, e.g. [248, 1744] (or set national_quota: null)",
            )
        if nq is not None and nq.national_srdi and len(nq.national_srdi) != len(nq.batches):
            raise ConfigError(
                f"{key}.designation.national_quota.national_srdi",
                f"must give one number a year like batches ({len(nq.batches)}), got {len(nq.national_srdi)} (or [] to use chain_share)",
            )
    _check_names(f"{key}.benefits", list(p.benefits), BENEFIT_TIERS, "tier")
    _check_names(f"{key}.coordination.quota_stages", p.coordination.quota_stages, stages, "stage")
    for name, a in p.agencies.items():
        ak = f"{key}.agencies.{name}"
        _check_names(f"{ak}.regions", a.regions, regions, f"region of bloc '{bloc}'")
        _check_names(f"{ak}.stages", a.stages, stages, "stage")
        _check_names(f"{ak}.selection", [a.selection], SELECTIONS, "selection rule")
    ins = p.instruments
    for fname in (
        "price_floor_usd_per_kg",
        "floor_offtake_t_per_year",
        "floor_capacity_t_per_year",
        "permit_cap_years",
        "import_tariff",
        "production_credit_usd_per_kg",
        "production_credit_cost_share",
        "output_quota_t_per_year",
    ):
        values = getattr(ins, fname)
        _check_names(f"{key}.instruments.{fname}", list(values), stages, "stage")
        for s, v in values.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                raise ConfigError(f"{key}.instruments.{fname}.{s}", f"must be a number >= 0, got {v!r}")
    _check_names(f"{key}.instruments.export_ban_stages", ins.export_ban_stages, stages, "stage")
    for s, v in ins.production_credit_cost_share.items():
        if v > 1.0:
            raise ConfigError(f"{key}.instruments.production_credit_cost_share.{s}", f"must be <= 1, got {v!r}")
        if s in ins.production_credit_usd_per_kg:
            raise ConfigError(f"{key}.instruments.production_credit_cost_share.{s}", "a stage has a credit per kg or a cost share, not both")
    check_points(f"{key}.instruments.rd_extra_deduction", ins.rd_extra_deduction, "share", 0.0, 3.0, "[[2018, 0.75]] (0.75: 175% of R&D deducted)")
    _check_names(f"{key}.instruments.output_quota_schedule", list(ins.output_quota_schedule), stages, "stage")
    for s, sched in ins.output_quota_schedule.items():
        check_points(
            f"{key}.instruments.output_quota_schedule.{s}", sched, "t/yr", 0.0, float("inf"), "[[2015, 105000], [2018, 120000]]",
            empty="needs at least one [year, t/yr] point; leave the stage out for no quota",
        )  # fmt: skip
    unofficial = ins.output_quota_unofficial_schedule
    check_points(f"{key}.instruments.output_quota_unofficial_schedule", unofficial, "share", 0.0, 0.9, "[[2015, 0.3], [2020, 0.1]]")


def check_points(key: str, points: Any, what: str, lo: float, hi: float, example: str, empty: str | None = None) -> None:
    """[[year, value], ...] with values in [lo, hi] and years strictly increasing ([]: none, unless ``empty`` is given:
    then [] is refused with that message)."""
    bound = f"{what} >= {lo:g}" if hi == float("inf") else f"{what} in [{lo:g}, {hi:g}]"
    allowed = f"a list of [year, {what}] points with {bound}, e.g. {example}"
    if not isinstance(points, (list, tuple)):
        raise ConfigError(key, f"must be {allowed}; got {points!r}")
    if not points and empty is not None:
        raise ConfigError(key, empty)
    for i, pt in enumerate(points):
        if not (
            isinstance(pt, (list, tuple))
            and len(pt) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and v == v for v in pt)
            and lo <= pt[1] <= hi
        ):
            raise ConfigError(f"{key}[{i}]", f"must be [year, {what}] with {bound}, got {pt!r}")
    years = [pt[0] for pt in points]
    if any(b <= a for a, b in zip(years, years[1:])):
        raise ConfigError(key, f"years must be strictly increasing, got {years}")


def validate_policy(cfg) -> None:
    """Policy per bloc and policy changes: names exist in the world, rules parse, years lie in the run."""

    blocs = list(cfg.world.blocs)
    _check_names("policy", list(cfg.policy), blocs, "bloc")
    for b in blocs:  # every bloc names its regime, 'none' included (conf/config.yaml: policy@policy.<bloc>)
        if b not in cfg.policy:
            allowed = ", ".join(REGIMES)
            raise ConfigError(f"policy.{b}", f"bloc '{b}' has no policy; add policy@policy.{b}: none (or one of {allowed}) to conf/config.yaml")
    for b, p in cfg.policy.items():
        check_policy(f"policy.{b}", b, p, cfg)
    _check_names("policy_change", list(cfg.policy_change), blocs, "bloc")
    first = cfg.world.start_year
    for b, ch in cfg.policy_change.items():
        if ch.year < first:  # a change after the horizon never happens
            raise ConfigError(f"policy_change.{b}.year", f"must not be before the start of the run ({first}); got {ch.year:g}")
        check_policy(f"policy_change.{b}.policy", b, ch.policy, cfg)
