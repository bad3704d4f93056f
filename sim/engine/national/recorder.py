"""Outputs of a national run, without per-firm bulk (docs/ODD.md 7.15).

Yearly (at each year's Q4): firms and title holders by tier, nationally, by province and by sector (with each sector's
demand, operating capacity, unserved demand and price index); titles granted
in the year by tier; R&D intensity (R&D / revenue of the year) and patents in force per firm by tier; the share of
Little Giants recorded finance-constrained in the year; the government's fiscal cost by instrument (cumulative);
entrants, exits and expansions; the firms above designated size and the Little Giants among them (number, revenue,
profit). Reviews by tier and cohort (the year of the designation) as they happen. Per firm id,
the yearly R&D intensity (float32; the designation difference-in-differences of the summary) and, for a fixed random
sample of ``national.sample_firms`` firm ids, a yearly panel (firms.parquet).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from agents.firms import Tier
from agents.government import yuan_price_level

if TYPE_CHECKING:  # pragma: no cover
    from sim.engine.national.model import NationalModel

TIER_LABELS = ("none", "innovation_type", "srdi", "little_giant")
PANEL_COLUMNS = ("region", "stage", "niche", "tier", "key_lg", "employees", "capacity_t", "cash", "debt", "rd_propensity", "finance_constrained")
CAPITAL_WINDOW = (2020, 2025)  # the years of the Little Giants' capital-constraint measure (conf/validation/targets.yaml)
# An industrial enterprise is "above designated size" with main business revenue of at least 20 M yuan a year (NBS, from
# 2011; docs/national_sources.md [S3]): the population of MIIT's comparison of Little Giants with industrial SMEs [S47]
ABOVE_SIZE_MYUAN = 20.0


def above_size_shares(row: dict[str, Any] | None) -> dict[str, float | None] | None:
    """Little Giants' shares of the firms above designated size in a year's row: of their number, revenue and profit
    (None where the year was not run, or a total is not positive)."""
    if row is None:
        return None
    out: dict[str, float | None] = {}
    for key, name in (("firms", "above_size_firms"), ("revenue", "above_size_revenue_musd"), ("profit", "above_size_profit_musd")):
        total = row[name]
        out[key] = float(row[f"{name}_little_giant"]) / total if total > 0 else None
    return out


def _finite(x: float) -> float | None:
    """``x``, or None where it is not a number (a measure over no firms): summary.json writes null for it."""
    return x if np.isfinite(x) else None


def _mean_finite(a: np.ndarray) -> np.ndarray:
    """Row means over the finite entries (NaN where a row has none). A few columns (under eight, as the DiD's two years)
    are added column by column, left to right: the sum numpy's row reduction makes of so few items, without its cost
    per row."""
    ok = np.isfinite(a)
    if a.ndim == 2 and 0 < a.shape[1] < 8:
        total = np.where(ok[:, 0], a[:, 0], 0.0)
        n = ok[:, 0].astype(np.int64)
        for j in range(1, a.shape[1]):
            total += np.where(ok[:, j], a[:, j], 0.0)
            n += ok[:, j]
    else:
        total = np.where(ok, a, 0.0).sum(axis=1)
        n = ok.sum(axis=1)
    return np.divide(total, n, out=np.full(len(a), np.nan), where=n > 0)


class NationalRecorder:
    def __init__(self, model: NationalModel):
        self.model = model
        self.rows: list[dict[str, Any]] = []  # one per year
        self.by_province: list[dict[str, Any]] = []
        self.by_sector: list[dict[str, Any]] = []
        self.panel: list[dict[str, Any]] = []  # one dict of columns a year (firm_panel)
        self.reviews: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])  # (tier, cohort year) -> [passed, failed]
        self.counts = defaultdict(int)  # this year's entrants, exits, expansions, constrained expansions
        self._events_seen = 0
        n_years = max(model.n_steps // 4, 1)
        self.rd_intensity = np.full((0, n_years), np.nan, dtype=np.float32)  # by firm id and year
        self.first_designation = np.full(0, -1, dtype=np.int16)  # year index of a firm's first title (-1: none)
        self.sector_of = np.full(0, -1, dtype=np.int16)
        self.lg_ever: set[int] = set()  # Little Giants at a year end in the capital-constraint window
        self.lg_constrained: set[int] = set()
        self.lg_difficulty: set[int] = set()  # ... that needed outside money to scale or could not finance it (the survey reading)
        n = model.national
        rng = np.random.default_rng(np.random.SeedSequence(entropy=model.cfg.seed, spawn_key=(20_000,)))
        self.sample_rate = min(1.0, n.sample_firms / max(n.firms.count * n.scale, 1.0)) if n.sample_firms > 0 else 0.0
        self._sample_u = rng  # a firm id is in the panel when its uniform (drawn in id order) is below the rate
        self._sample_ids = np.zeros(0, dtype=bool)

    # ------------------------------------------------------------------ during the run
    def record_quarter(self) -> None:
        m = self.model
        for k, v in m.counters.items():
            self.counts[k] += v
        if m.quarter % 4 == 3:
            self._record_year()

    def _grow(self, max_id: int) -> None:
        have = len(self.first_designation)
        if max_id < have:
            return
        new = max(max_id + 1, 2 * have)
        rd = np.full((new, self.rd_intensity.shape[1]), np.nan, dtype=np.float32)
        rd[:have] = self.rd_intensity
        self.rd_intensity = rd
        for name, fill in (("first_designation", -1), ("sector_of", -1)):
            old = getattr(self, name)
            arr = np.full(new, fill, dtype=old.dtype)
            arr[:have] = old
            setattr(self, name, arr)
        extra = self._sample_u.random(new - len(self._sample_ids)) < self.sample_rate
        self._sample_ids = np.concatenate([self._sample_ids, extra])

    def _record_year(self) -> None:
        m, pop = self.model, self.model.pop
        q = m.quarter
        year = m.national.start_year + q // 4
        yi = q // 4
        here = pop.alive & pop.operating
        ids = pop.firm_id
        self._grow(int(ids.max()) if len(ids) else 0)
        rev4 = pop.trailing(pop.rev_hist, q, 4)
        rd4 = pop.trailing(pop.rd_hist, q, 4)
        tier = pop.tier
        at = np.flatnonzero(here)  # the operating rows, once (a selection's rows gathered by index: the same numbers, in order)
        rev_here = rev4[at]
        self.rd_intensity[ids[at], yi] = np.divide(rd4[at], rev_here, out=np.zeros(len(at)), where=rev_here > 0)
        self.sector_of[ids] = pop.stage
        titled = here & (tier > Tier.NONE)
        newly = titled & (self.first_designation[ids] < 0)
        self.first_designation[ids[newly]] = yi
        pat_inv, pat_util = pop.patents_invention, pop.patents_utility  # summed once: a cohort ring per firm (20 years by default)
        pats = pat_inv + pat_util
        row: dict[str, Any] = {"year": year, "firms": len(at)}
        by_tier = [here & (tier == t) for t in range(len(TIER_LABELS))]  # each tier's operating firms, read again below
        for t, label in enumerate(TIER_LABELS):
            sel = np.flatnonzero(by_tier[t])
            row[f"n_{label}"] = len(sel)
            r = float(rev4[sel].sum())
            row[f"rd_intensity_{label}"] = float(rd4[sel].sum()) / r if r > 0 else float("nan")
            row[f"patents_per_firm_{label}"] = float(pats[sel].mean()) if len(sel) else float("nan")
            row[f"invention_patents_per_firm_{label}"] = float(pat_inv[sel].mean()) if len(sel) else float("nan")
        row["n_key_little_giant"] = int((here & pop.key_lg).sum())
        lg = by_tier[Tier.LITTLE_GIANT]
        # firms above designated size and the Little Giants among them: counts, revenue and profit after tax of the year
        # (M USD at the start year's prices); revenue in nominal yuan for the size line, as the criteria read it
        prof4 = pop.trailing(pop.prof_hist, q, 4)
        # the last four quarters' price level at their mid-point, as the criteria read revenue (agents.government.firm_metrics)
        level = yuan_price_level(m.world, m.world.start_year + (q + 1) / 4.0 - 0.5)
        above = here & (rev4 * level / m.world.usd_per_cny >= ABOVE_SIZE_MYUAN)
        for suffix, mask in (("", above), ("_little_giant", above & lg)):
            sel = np.flatnonzero(mask)
            row[f"above_size_firms{suffix}"] = len(sel)
            row[f"above_size_revenue_musd{suffix}"] = float(rev4[sel].sum())
            row[f"above_size_profit_musd{suffix}"] = float(prof4[sel].sum())
        row["little_giants_constrained_share"] = float(pop.finance_constrained[lg].mean()) if lg.any() else float("nan")
        if CAPITAL_WINDOW[0] <= year <= CAPITAL_WINDOW[1]:
            self.lg_ever |= set(ids[lg].tolist())
            self.lg_constrained |= set(ids[lg & pop.finance_constrained].tolist())
            self.lg_difficulty |= set(ids[lg & (pop.finance_constrained | pop.outside_finance)].tolist())
        for kind, label in (("designated", "designated"), ("review_passed", "review_passed"), ("review_failed", "review_failed")):
            for t in TIER_LABELS[1:]:
                row[f"{label}_{t}"] = 0
        log = m.event_log
        for (kind, detail), k in Counter(zip(log.kind[self._events_seen :], log.detail[self._events_seen :])).items():
            if kind in ("designated", "review_passed", "review_failed") and detail in TIER_LABELS:
                row[f"{kind}_{detail}"] += k
        self._events_seen = len(log.kind)
        gov = m.government
        for k, v in gov.fiscal.items() if gov is not None else ():
            row[f"fiscal_{k}_musd"] = float(v)
        for k in ("entrants", "exits", "plants_sold", "expansions", "constrained"):
            row[k] = int(self.counts[k])
            self.counts[k] = 0
        row["price_index_mean"] = float(np.average(m.price, weights=m.niche_demand_last))
        rev_prev4 = pop.trailing(pop.rev_hist, q, 4, lag=4)
        rev_growth = np.divide(rev4, rev_prev4, out=np.full(len(pop), np.nan), where=rev_prev4 > 0) - 1.0
        g = rev_growth[here & np.isfinite(rev_growth)]
        row["revenue_growth_median"] = float(np.median(g)) if len(g) else float("nan")
        row["revenue_growth_sd"] = float(np.std(g)) if len(g) else float("nan")
        self.rows.append(row)
        T = m.tables
        for name, col, rows_out in (("province", pop.region, self.by_province), ("sector", pop.stage, self.by_sector)):
            labels = T.regions if name == "province" else T.stages
            k = len(labels)
            counts = np.zeros((k, len(TIER_LABELS)), dtype=np.int64)
            for t in range(len(TIER_LABELS)):
                counts[:, t] = np.bincount(col[by_tier[t]], minlength=k)
            extra = self._sector_markets(k) if name == "sector" else {}
            for i, lab in enumerate(labels):
                row_i = {"year": year, name: lab, **{f"n_{TIER_LABELS[t]}": int(counts[i, t]) for t in range(len(TIER_LABELS))}}
                rows_out.append({**row_i, **{key: float(v[i]) for key, v in extra.items()}})
        if self.sample_rate > 0:
            sel = np.flatnonzero(here & self._sample_ids[ids])  # the sample's rows, once
            # the year's columns as arrays; firm_panel makes the frames (pandas costs more than the arrays at 10k firms)
            frame = {"year": year, "firm_id": ids[sel], **{c: getattr(pop, c)[sel] for c in PANEL_COLUMNS}}
            frame["revenue_musd"] = rev4[sel]
            frame["rd_musd"] = rd4[sel]
            frame["patents_invention"] = pat_inv[sel]
            frame["patents_utility"] = pat_util[sel]
            self.panel.append(frame)

    def _sector_markets(self, k: int) -> dict[str, np.ndarray]:
        """(k,) each sector's niche markets this quarter (the year's last): demand, the operating firms' capacity and
        the demand left unserved, M yuan a year at the reference price (x national.scale), and the demand-weighted
        price index."""
        m, pop = self.model, self.model.pop
        op = pop.operating
        sector = m.niche_sector
        demand = np.bincount(sector, weights=m.niche_demand_last, minlength=k)
        return {
            "demand_myuan": demand,
            "capacity_myuan": np.bincount(pop.stage[op], weights=pop.capacity_t[op], minlength=k),
            "unserved_myuan": np.bincount(sector, weights=m.niche_unserved, minlength=k),
            "price_index": np.divide(
                np.bincount(sector, weights=m.niche_demand_last * m.price, minlength=k), demand, out=np.full(k, np.nan), where=demand > 0
            ),
        }

    def record_review(self, tier: str, cohort_year: np.ndarray, passed: np.ndarray) -> None:
        """Reviews of one round and tier: each firm's cohort (year of its designation) and whether it passed."""
        for y in np.unique(cohort_year):
            sel = cohort_year == y
            cell = self.reviews[(tier, int(y))]
            cell[0] += int(passed[sel].sum())
            cell[1] += int((~passed[sel]).sum())

    # ------------------------------------------------------------------ after the run
    def timeseries(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)

    def provinces(self) -> pd.DataFrame:
        return pd.DataFrame(self.by_province)

    def sectors(self) -> pd.DataFrame:
        return pd.DataFrame(self.by_sector)

    def firm_panel(self) -> pd.DataFrame:
        if not self.panel:
            return pd.DataFrame(columns=["year", "firm_id", *PANEL_COLUMNS])
        return pd.concat([pd.DataFrame(f) for f in self.panel], ignore_index=True)

    def events(self) -> pd.DataFrame:
        m = self.model
        return m.event_log.frame(m.tables.blocs, m.tables.stages, m.national.start_year)

    def review_table(self) -> pd.DataFrame:
        rows = [
            {"tier": t, "cohort": y, "passed": p, "failed": f, "pass_rate": p / (p + f) if p + f else float("nan")}
            for (t, y), (p, f) in self.reviews.items()
        ]
        return pd.DataFrame(rows, columns=["tier", "cohort", "passed", "failed", "pass_rate"]).sort_values(["tier", "cohort"], ignore_index=True)

    def did_rd_intensity(self) -> float:
        """Difference-in-differences of R&D intensity: firms' mean change from the two years before their first title
        to the two years after, less the mean change of never-titled firms of the same sector over the same years."""
        rd, first, sector = self.rd_intensity, self.first_designation, self.sector_of
        n_years = rd.shape[1]
        effects = []
        never = first < 0
        window: dict[int, np.ndarray] = {}  # the mean of years k and k + 1, each computed once (year y0's after is y0 + 3's before)

        def mean_of(k: int) -> np.ndarray:
            if k not in window:
                window[k] = _mean_finite(rd[:, k : k + 2])
            return window[k]

        for y0 in range(2, n_years - 2):
            treated = np.flatnonzero(first == y0)
            if not len(treated):
                continue
            before = mean_of(y0 - 2)
            after = mean_of(y0 + 1)
            change = after - before
            ok = np.isfinite(change)
            ctrl = never & ok
            ctrl_mean = np.bincount(sector[ctrl].clip(0), weights=change[ctrl], minlength=self.model.tables.S) / np.maximum(
                np.bincount(sector[ctrl].clip(0), minlength=self.model.tables.S), 1
            )
            t_ok = treated[ok[treated]]
            effects.append(change[t_ok] - ctrl_mean[sector[t_ok].clip(0)])
        if not effects:
            return float("nan")
        return float(np.mean(np.concatenate(effects)))

    def summary(self) -> dict[str, Any]:
        m = self.model
        ts = self.timeseries()
        by_year = {int(r["year"]): r for r in self.rows}
        final = self.rows[-1] if self.rows else {}

        def at(year: int, key: str):
            """The year's value, None where the year was not run or the measure has no value (a mean over no firms)."""
            r = by_year.get(year)
            v = None if r is None else r.get(key)
            return None if isinstance(v, float) and not np.isfinite(v) else v

        lg_years = [y for y in by_year if 2020 <= y <= 2030]
        rd_lg = [by_year[y]["rd_intensity_little_giant"] for y in lg_years if np.isfinite(by_year[y]["rd_intensity_little_giant"])]
        rd_none = [by_year[y]["rd_intensity_none"] for y in lg_years if np.isfinite(by_year[y]["rd_intensity_none"])]
        out: dict[str, Any] = {
            "world": m.national.name,
            "scale": m.national.scale,
            "seed": m.cfg.seed,
            "scenario": m.cfg.scenario.name,
            "years": m.cfg.years,
            "start_year": m.national.start_year,
            "firms_start": int(self.rows[0]["firms"]) if self.rows else None,
            "firms_end": final.get("firms"),
            "firms_ever": int(m.pop.next_id),
            "pyramid": {
                int(r["year"]): {t: int(r[f"n_{t}"]) for t in TIER_LABELS[1:]} | {"key_little_giant": int(r["n_key_little_giant"])} for r in self.rows
            },
            "batches": {int(r["year"]): {t: int(r[f"designated_{t}"]) for t in TIER_LABELS[1:]} for r in self.rows},
            "little_giants_2024": at(2024, "n_little_giant"),
            "little_giants_2025": at(2025, "n_little_giant"),
            "srdi_2024": at(2024, "n_srdi"),
            "rd_intensity_2020_2030": {
                "little_giant": float(np.mean(rd_lg)) if rd_lg else None,
                "none": float(np.mean(rd_none)) if rd_none else None,
            },
            "patents_per_little_giant_2025": at(2025, "patents_per_firm_little_giant"),
            "invention_patents_per_little_giant_2025": at(2025, "invention_patents_per_firm_little_giant"),
            # Little Giants' share of the firms above designated size, of their revenue and of their profit (MIIT for 2024:
            # about 3%, 6% and 9.7% of industrial SMEs above designated size [S47]; a check, not a target: docs/ODD.md 7.15)
            "little_giants_share_of_above_size_2024": above_size_shares(by_year.get(2024)),
            "capital_constraint_lg_firms_2020_2025": len(self.lg_constrained) / len(self.lg_ever) if self.lg_ever else None,
            # the same firms read as the source's survey of perceived difficulty (docs/ODD.md 7.12): in a Little Giant year of the
            # window they wanted to scale and needed outside money for it (``outside_finance``) or could not finance it
            "scaling_finance_difficulty_lg_firms_2020_2025": len(self.lg_difficulty) / len(self.lg_ever) if self.lg_ever else None,
            "reviews": self.review_table().to_dict(orient="records"),
            "did_rd_intensity": _finite(self.did_rd_intensity()),
            "fiscal_musd": {k: float(v) for k, v in (m.government.fiscal.items() if m.government is not None else ())},
        }
        if len(ts):
            out["revenue_growth_median"] = _finite(float(ts["revenue_growth_median"].median()))
        return out
