"""Policy outputs (MODEL.md 7): a tidy quarterly table per bloc and the policy part of the summary.

``policy.parquet`` has one row per quarter, bloc, measure and key:

| measure | key | value |
|---|---|---|
| firms | tier (none, innovation_type, srdi, little_giant, key_little_giant) | live operating firms holding it |
| rd_spend_musd, revenue_musd | tier | flows of the quarter of the operating firms and of those that exited in it (at the tier they held), M USD |
| patents_invention, patents_utility | tier | patents in force |
| finance_constrained | tier | firms flagged this year (wanted to build but could not fund it) |
| scaling_finance_difficulty | tier | firms that this year wanted to build and needed outside money for it (``outside_finance``: more than ``finance.outside_finance_share`` of the cost) or could not fund it (``finance_constrained``) |
| fiscal_musd | instrument (grants, key_grants, tax_expenditure, interest_subsidy, talent_subsidy, group_rescue, group_rd_fund, group_incubation, sponsored_projects, agency:NAME, price_floor) | public money of the quarter, M USD |
| lg_control | processing (separation + metal), magnet | share of the bloc's capacity held by Little Giants and by firms of groups that have a Little Giant |
| stockpile_purchases_musd | stockpile | what the bloc's state stockpile paid for the magnets it bought in the quarter (agents.buyers; a bloc with a stockpile only), M USD: public money for a stock the state holds, not a subsidy, so apart from ``fiscal_musd`` |
| group_firms | GROUP:tier, GROUP:all | the group's operating subsidiaries holding the tier, and all of them (Q4 only) |

Designations, reviews, revocations, awards and rescues are in the event log; the summary counts the Little Giant
rounds per year from it (``little_giant_rounds``: quota, recommended, designated, reviews passed and failed).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import pandas as pd

from agents import kernels
from agents.firms import DESIGNATED, KEY_LITTLE_GIANT, Phase, Tier

if TYPE_CHECKING:  # pragma: no cover
    from sim.engine.model import ChainModel

TIER_NAMES = tuple(t.label for t in Tier)  # none, innovation_type, srdi, little_giant
TIER_KEYS = TIER_NAMES + (KEY_LITTLE_GIANT,)  # the tier keys of policy.parquet, in the order of the bincount columns
LG = Tier.LITTLE_GIANT.label  # the Little Giant tier key
# the measures per tier key, in the row order of policy.parquet
TIER_MEASURES = (
    "firms",
    "rd_spend_musd",
    "revenue_musd",
    "patents_invention",
    "patents_utility",
    "finance_constrained",
    "scaling_finance_difficulty",
)
POLICY_EVENTS = (
    "designated",
    "review_passed",
    "review_failed",
    "revoked",
    "key_designated",
    "award",
    "award_paid",
    "award_lapsed",
    "rescued",
    "incubated",
)


CAPITAL_WINDOW = (2020, 2025)  # years whose year-end Little Giants the firm-level capital-constraint shares read (the keys name them)
CAPITAL_FLAGS = ("finance_constrained", "scaling_finance_difficulty")


class PolicyRecorder:
    def __init__(self, model: "ChainModel"):
        self.model = model
        self.rows: list[tuple] = []
        self._fiscal_seen: dict[tuple[int, str], float] = {}
        # per bloc: ids of the firms holding the Little Giant title at a year's end in CAPITAL_WINDOW, and of those among
        # them flagged that year (the firm-level capital-constraint shares of the summary)
        self._lg_window: dict[int, dict[str, set[int]]] = {}

    def _by_bloc_and_tier(
        self, op: np.ndarray, exited_now: np.ndarray, patents: tuple[np.ndarray, np.ndarray] | None = None
    ) -> dict[str, np.ndarray]:
        """(B, 5) sums per bloc and tier key (TIER_KEYS order), in one pass over the population per quarter
        (agents.kernels.tier_sum_rows), whatever the number of blocs. Counts and stocks are over the operating firms ``op``;
        the quarter's flows (R&D, revenue) also over the firms that exited in it (``exited_now``, at the tier they
        held), which sold and spent this quarter before they left (a project firm has neither). ``patents``: each firm's
        invention and utility patents in force, when the caller has read them."""
        m = self.model
        pop, B = m.pop, m.tables.B
        K = len(Tier)
        invention, utility = (pop.patents_invention, pop.patents_utility) if patents is None else patents
        tiers, key = np.zeros((len(kernels.TIER_SUMS), B * K)), np.zeros((len(kernels.TIER_SUMS), B))
        kernels.tier_sum_rows(
            pop.bloc, pop.tier, K, op, exited_now, pop.key_lg, invention, utility,
            pop.finance_constrained, pop.outside_finance, pop.rd_spend, pop.revenue, tiers, key,
        )  # fmt: skip
        out = {measure: np.column_stack([tiers[i].reshape(B, K), key[i]]) for i, measure in enumerate(kernels.TIER_SUMS)}
        return {measure: out[measure] for measure in TIER_MEASURES}

    def record_quarter(self, patents: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """The quarter's policy rows. ``patents``: each firm's invention and utility patents in force, when the caller
        (the recorder) has read them this quarter."""
        m = self.model
        pop, T = m.pop, m.tables
        q = m.quarter
        out = self.rows
        op = pop.alive & (pop.phase == Phase.OPERATING)
        stage_names = list(T.stages)
        processing = np.zeros(len(pop.stage), dtype=bool)
        for name in ("separation", "metal"):
            if name in stage_names:
                processing |= pop.stage == stage_names.index(name)
        magnet = pop.stage == (stage_names.index("magnet") if "magnet" in stage_names else -1)
        sums = {measure: v.tolist() for measure, v in self._by_bloc_and_tier(op, pop.exit_step == q, patents).items()}  # Python floats
        piles_of = [by for by in m.buyers if by.stockpile]
        for b in range(T.B):
            here = op & (pop.bloc == b)
            for k, key in enumerate(TIER_KEYS):
                for measure, v in sums.items():
                    out.append((q, b, measure, key, v[b][k]))
            lg = here & (pop.tier == Tier.LITTLE_GIANT)
            lg_groups = np.unique(pop.group[lg & (pop.group >= 0)])
            if len(lg_groups):  # rows of the groups holding a Little Giant here: a lookup by group + 1 (0: none, group -1)
                with_lg = np.zeros(len(T.groups) + 1, dtype=bool)
                with_lg[lg_groups + 1] = True
                held = lg | (here & with_lg[pop.group + 1])
            else:
                held = lg
            for key, sel in (("processing", processing), ("magnet", magnet)):
                tot = pop.capacity_t[here & sel].sum()
                out.append((q, b, "lg_control", key, float(pop.capacity_t[held & sel].sum() / tot) if tot > 0 else np.nan))
            piles = [by for by in piles_of if by.bloc == b]
            if piles:  # paid at the class's average price (sim.engine.clearing); releases to short buyers are free
                out.append((q, b, "stockpile_purchases_musd", "stockpile", float(sum(by.spend_musd for by in piles))))
        year = int(m.world.start_year) + q // 4
        if q % 4 == 3 and CAPITAL_WINDOW[0] <= year <= CAPITAL_WINDOW[1]:
            self._note_little_giants(op)
        if q % 4 == 3:  # the state groups' pyramids at the end of each year
            for g, gname in enumerate(T.groups):
                if not T.group_state_owned[g]:
                    continue
                mine = op & (pop.group == g)
                b = int(T.group_bloc[g])
                out.append((q, b, "group_firms", f"{gname}:all", float(mine.sum())))
                for t in DESIGNATED:
                    out.append((q, b, "group_firms", f"{gname}:{t.label}", float((mine & (pop.tier == t)).sum())))
        for (b, instrument), total in m.policy.fiscal_totals().items():
            prev = self._fiscal_seen.get((b, instrument), 0.0)
            out.append((q, b, "fiscal_musd", instrument, float(total - prev)))
            self._fiscal_seen[(b, instrument)] = total

    def _note_little_giants(self, op: np.ndarray) -> None:
        """At a year's end in CAPITAL_WINDOW: note each bloc's operating Little Giants, and those flagged this year."""
        pop = self.model.pop
        lg = op & (pop.tier == Tier.LITTLE_GIANT)
        flags = {"finance_constrained": pop.finance_constrained, "scaling_finance_difficulty": pop.finance_constrained | pop.outside_finance}
        for b in np.unique(pop.bloc[lg]):
            here = lg & (pop.bloc == b)
            seen = self._lg_window.setdefault(int(b), {"little_giant": set(), **{k: set() for k in CAPITAL_FLAGS}})
            seen["little_giant"].update(pop.firm_id[here].tolist())
            for k in CAPITAL_FLAGS:
                seen[k].update(pop.firm_id[here & flags[k]].tolist())

    def _firm_shares(self, b: int) -> dict[str, float | None]:
        """The firm-level capital-constraint shares of bloc b: of the firms that held the Little Giant title at a year's
        end in CAPITAL_WINDOW, the share flagged in such a year while holding it."""
        seen = self._lg_window.get(b, {})
        n = len(seen.get("little_giant", ()))
        share = lambda k: len(seen[k]) / n if n else None  # noqa: E731
        return {
            "capital_constraint_lg_firms_2020_2025": share("finance_constrained"),
            "scaling_finance_difficulty_lg_firms_2020_2025": share("scaling_finance_difficulty"),
        }

    def frame(self) -> pd.DataFrame:
        m = self.model
        T = m.tables
        df = pd.DataFrame(self.rows, columns=["quarter_index", "bloc", "measure", "key", "value"])
        df.insert(1, "year", (m.world.start_year + df["quarter_index"] // 4).astype(np.int32))
        df.insert(2, "quarter", (df["quarter_index"] % 4 + 1).astype(np.int8))
        df.insert(3, "time", m.world.start_year + df["quarter_index"] / 4.0)
        df["bloc"] = pd.Categorical.from_codes(df["bloc"].astype(int), T.blocs)
        return df

    # ------------------------------------------------------------------ summary
    def summary(self) -> dict[str, Any]:
        """Policy scalars per bloc: tiers at the end of each reference year, designation flows,
        Little Giant control shares, R&D intensity by tier, patents per Little Giant, capital
        constraint, group pyramids and fiscal cost (MODEL.md 7)."""
        m = self.model
        T, w = m.tables, m.world
        df = self.frame()
        counts = Counter(zip(m.event_log.kind, m.event_log.bloc))  # (kind, bloc index) of every logged event
        out: dict[str, Any] = {}
        years = [y for y in w.reference_years if w.start_year <= y < w.start_year + m.cfg.years]
        q4 = df[df["quarter"] == 4]
        for b, bloc in enumerate(T.blocs):
            full = df[df["bloc"] == bloc]
            res: dict[str, Any] = {"regime": getattr(m.policy.regimes.get(b), "regime", "none")}
            res.update(_year_end_tiers(q4[q4["bloc"] == bloc], years))
            res.update(_rd_and_capital(full, years))
            res.update(self._firm_shares(b))
            res["events"] = {k: counts[(k, b)] for k in POLICY_EVENTS}
            res["little_giant_rounds"] = _little_giant_rounds(m.event_log, b, w.start_year)
            res.update(self._fiscal_cost(b, full))
            out[bloc] = res
        out = _no_nan(out)
        out["pyramids"] = _pyramids(q4[q4["measure"] == "group_firms"], [g for g, so in zip(T.groups, T.group_state_owned) if so], years)
        return out

    def _fiscal_cost(self, b: int, full: pd.DataFrame) -> dict[str, Any]:
        """Public money per instrument and in total, and per tonne of domestic capacity: the bloc's weakest stage
        in magnet-equivalent t/yr at the end."""
        m = self.model
        T, pop = m.tables, m.pop
        fis = full[full["measure"] == "fiscal_musd"].groupby("key", observed=True)["value"].sum()
        total = float(fis.sum()) if len(fis) else 0.0
        op = pop.alive & (pop.phase == Phase.OPERATING) & (pop.bloc == b)
        cap = np.bincount(pop.stage[op], weights=pop.capacity_t[op], minlength=T.S) * T.magnet_eq_per_t
        piles = full[full["measure"] == "stockpile_purchases_musd"]["value"]
        return {
            "fiscal_cost_musd": {str(k): float(v) for k, v in fis.items()},
            "fiscal_cost_total_musd": total,
            "fiscal_cost_usd_per_t_capacity": total * 1e6 / cap.min() if cap.min() > 0 else None,
            # the state stockpile's purchases: public money for a stock it holds, apart from the programme's cost
            "stockpile_purchases_musd": float(piles.sum()) if len(piles) else None,
        }


def _year_end_tiers(d: pd.DataFrame, years: list[int]) -> dict[str, Any]:
    """From one bloc's Q4 rows: firms by tier, Little Giant control and patents per Little Giant at each year's end."""

    first: dict[tuple[str, str, int], float] = {}  # the value of the first row of each (measure, key, year), as a mask found it
    for measure, key, year, value in zip(d["measure"], d["key"], d["year"].tolist(), d["value"].tolist()):
        first.setdefault((measure, key, year), value)

    def at(measure, key, year):
        v = first.get((measure, key, int(year)))
        return None if v is None else float(v)

    patents, invention = {}, {}
    for y in years:
        n = at("firms", LG, y)
        p = at("patents_invention", LG, y)
        u = at("patents_utility", LG, y)
        patents[str(y)] = (p + u) / n if n else None
        invention[str(y)] = p / n if n else None
    return {
        "firms_by_tier": {str(y): {k: at("firms", k, y) for k in TIER_KEYS} for y in years},
        "lg_control": {str(y): {k: at("lg_control", k, y) for k in ("processing", "magnet")} for y in years},
        "patents_per_little_giant": patents,
        "invention_patents_per_little_giant": invention,  # class I only: the count the programme's statistics give
    }


def _little_giant_rounds(log, b: int, start_year: int) -> dict[str, Any]:
    """Per calendar year of bloc b's Little Giant rounds: the national quota announced (None: no national quota),
    the firms the provinces recommended, the firms designated, and the reviews passed and failed (docs/ODD.md 7.9)."""
    out: dict[str, Any] = {}
    kinds = ("national_quota", "recommended", "designated", "review_passed", "review_failed")
    for q, kind, bloc, detail, value in zip(log.quarter, log.kind, log.bloc, log.detail, log.value):
        if bloc != b or kind not in kinds or detail != LG:
            continue
        y = out.setdefault(str(start_year + q // 4), {"quota": None, "recommended": 0, "designated": 0, "review_passed": 0, "review_failed": 0})
        if kind == "national_quota":
            y["quota"] = int(value)
        else:
            y[kind] += 1
    return dict(sorted(out.items()))


def _rd_and_capital(full: pd.DataFrame, years: list[int]) -> dict[str, Any]:
    """From all of one bloc's rows: R&D intensity by tier per reference year, the share of Little Giants held back
    by finance in 2020-2025 (wanted to expand but could not fund it), the share that met a difficulty of scaling
    for want of capital in 2020-2025 (needed outside money for it, or could not fund it: docs/ODD.md 7.8), and R&D
    intensity by tier over 2020-2030. Both shares count Little Giant-years (Q4 rows) in the window."""
    rows = _by_measure_and_key(full)
    by_year = {}
    for k in TIER_KEYS:
        rd = rows("rd_spend_musd", k).groupby("year")["value"].sum()
        rev = rows("revenue_musd", k).groupby("year")["value"].sum()
        by_year[k] = {str(int(y)): (float(rd[y] / rev[y]) if rev[y] > 0 else None) for y in rev.index if y in years}
    lg_n = rows("firms", LG)
    lg_n = lg_n[lg_n["quarter"] == 4]
    win = (lg_n["year"] >= 2020) & (lg_n["year"] <= 2025)
    n_lg = lg_n[win]["value"].sum()

    def lg_share(measure: str) -> float | None:
        v = rows(measure, LG)
        v = v[v["quarter"] == 4]
        return float(v[(v["year"] >= 2020) & (v["year"] <= 2025)]["value"].sum() / n_lg) if n_lg else None

    span = {}
    for k in TIER_KEYS:
        rd, rev = rows("rd_spend_musd", k), rows("revenue_musd", k)
        rd = rd[(rd["year"] >= 2020) & (rd["year"] <= 2030)]["value"].sum()
        rev = rev[(rev["year"] >= 2020) & (rev["year"] <= 2030)]["value"].sum()
        span[k] = float(rd / rev) if rev > 0 else None
    return {
        "rd_intensity_by_tier": by_year,
        "capital_constraint_lg_2020_2025": lg_share("finance_constrained"),
        "scaling_finance_difficulty_lg_2020_2025": lg_share("scaling_finance_difficulty"),
        "rd_intensity_2020_2030": span,
    }


def _by_measure_and_key(frame: pd.DataFrame) -> Callable[[str, str], pd.DataFrame]:
    """``rows(measure, key)``: the rows of ``frame`` with that measure and key (their year, quarter and value), in the
    frame's order, as a mask of both selects them (an empty frame where there are none), found by one grouping instead
    of two comparisons of every row per selection. The same rows in the same order, so every sum of them is the same
    number."""
    groups = frame.groupby(["measure", "key"], sort=False).indices
    frame = frame[["year", "quarter", "value"]]  # what the selections read
    empty = frame.iloc[:0]

    def rows(measure: str, key: str) -> pd.DataFrame:
        at = groups.get((measure, key))
        return empty if at is None else frame.iloc[at]

    return rows


def _pyramids(gf: pd.DataFrame, groups, years: list[int]) -> dict[str, Any]:
    """Per group and reference year: its operating subsidiaries in all and by tier above none (Q4 rows). The counts
    are whole numbers, so their sum by key and year is exact in any order."""
    count: dict[tuple[str, int], float] = {}
    for key, year, value in zip(gf["key"], gf["year"].tolist(), gf["value"].tolist()):
        count[(key, year)] = count.get((key, year), 0.0) + value
    return {
        g: {str(y): {name: int(count.get((f"{g}:{name}", int(y)), 0.0)) for name in ("all",) + tuple(t.label for t in DESIGNATED)} for y in years}
        for g in groups
    }


def _no_nan(obj):
    """JSON-friendly: NaN becomes None (no value), recursively."""
    if isinstance(obj, dict):
        return {k: _no_nan(v) for k, v in obj.items()}
    if isinstance(obj, float) and obj != obj:
        return None
    return obj
