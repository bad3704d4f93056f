"""The national world: the programme's candidate firms at 1:1 scale under the coordinated regime (docs/ODD.md 7.15).

One step is one quarter, in the rare-earth world's order (MODEL.md 3): niche markets clear and prices move;
accounts (agents.firms.account, at the firm's niche price); innovation (agents.firms.innovate: R&D, process
innovation, patents); investment (projects, the finance gate, expansions); entry and exit; the government applies
the benefits of titles; outputs. The government's yearly round (reviews, designation tier by tier with the
provinces' recommendation and the national batch, key Little Giants, the R&D lever) and the yearly housekeeping
(patents lapse, flags reset, exited rows dropped, firms' appeal shocks) are Mesa scheduled events between quarters.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

import mesa
import numpy as np
from mesa.time import Schedule

from agents.firms import DESIGNATED, Phase, Tier, expire_patents, innovate, lapse_patents, load_kernels, patent_slot, processing_cost
from agents.firms import account as firm_account
from agents.government import Government
from sim.config import Config
from sim.engine import allocator
from sim.engine.event_log import EventLog
from sim.engine.instruments import Instruments
from sim.engine.model import ChainModel
from sim.engine.national import market
from sim.engine.national.recorder import NationalRecorder
from sim.engine.national.world import build_national_population, build_national_tables, niche_layout
from sim.engine.numerics import check_dispatch
from sim.engine.world import set_rd_deduction

STREAMS = ("init", "innovation", "investment", "entry", "projects", "policy", "shocks", "spare")
# events a national run logs per firm (the programme's); entry, exit and investment are counted, not logged, at this scale
LOGGED = frozenset({"designated", "recommended", "review_passed", "review_failed", "revoked", "key_designated"})


@dataclass
class NationalWorldView:
    """What the government agent reads of ``model.world`` (the national world has no stage chain)."""

    start_year: int
    usd_per_cny: float
    scale: float
    price_level_growth: float = 0.0  # the world's (sim.config.WorldConfig): yuan amounts are nominal


class NationalGovernment(Government):
    """The coordinated regime's government on the national world: the same rounds, reviews, benefits and R&D
    lever; no output quotas (there is no mining or separation stage), and the niche-share criterion read on the
    firms' own niches (capacity / the niche's operating capacity) instead of a stage's average niche."""

    def install(self, model) -> None:
        start = model.next_yearly_time(self.policy.designation.round_quarter - 1 + 0.5)
        self._rounds = model.schedule_recurring(self.yearly_round, Schedule(interval=4.0, start=start))

    def strategic_emerging(self, model) -> np.ndarray:
        """(S,) 1.0 where a sector's products are in the Strategic Emerging Industries Classification (NBS 2018): the
        sectors' ``strategic_emerging`` flags (conf/national)."""
        return np.array([1.0 if s.strategic_emerging else 0.0 for s in model.national.sectors])

    def decides_own_rd(self) -> np.ndarray:
        """Every firm decides its own R&D: the national world has no state groups."""
        return np.ones(len(self.model.pop), dtype=bool)

    def rd_booked(self) -> np.ndarray | None:
        """Per row, R&D as booked per unit of R&D spent: 1 / (1 - ``firms.relabelled_rd_share``) for the firms of every
        sector but the rare-earth one, whose R&D is drawn from the NBS survey's figures (R&D as surveyed, while the
        criteria read the R&D expense of the accounts, relabelled expense included); 1 for the rare-earth sector's firms,
        whose R&D is the rare-earth world's (the programme's figures of reported R&D). None when the share is 0."""
        by_sector = self._booked_by_sector
        return None if by_sector is None else np.take(by_sector, self.model.pop.stage)

    @cached_property
    def _booked_by_sector(self) -> np.ndarray | None:
        """(sectors,) the factor of ``rd_booked`` by sector (the config's, fixed for the run); None when the share is 0."""
        n = self.model.national
        share = n.firms.relabelled_rd_share
        if share <= 0:
            return None
        by_sector = np.full(len(n.sectors), 1.0 / (1.0 - share))
        by_sector[[s.name for s in n.sectors].index(n.rare_earth_sector)] = 1.0
        return by_sector

    def _reviews(self, q: int, metrics, here: np.ndarray, held: np.ndarray) -> None:
        """The reviews, recorded by tier and cohort (the year of the designation to the tier held) for the outputs."""
        pop = self.model.pop
        due = np.flatnonzero(here & (pop.tier > Tier.NONE) & (pop.review_step >= 0) & (pop.review_step <= q))
        tiers = pop.tier[due].copy()
        cohort = self.model.national.start_year + pop.designation_step[due] // 4
        super()._reviews(q, metrics, here, held)
        passed = pop.tier[due] == tiers
        for t in DESIGNATED:
            sel = tiers == t
            if sel.any():
                self.model.recorder.record_review(t.label, cohort[sel], passed[sel])

    def niche_shares(self) -> np.ndarray:
        """Each firm's capacity over its own niche's operating capacity (the niche-share criterion)."""
        pop = self.model.pop
        cap = np.where(pop.operating, pop.capacity_t, 0.0)
        niche = np.maximum(pop.niche, 0).astype(np.intp)
        total = np.bincount(niche, weights=cap, minlength=len(self.model.price))[niche]
        return np.divide(cap, total, out=np.zeros(len(pop)), where=total > 0)


class NationalModel(mesa.Model):
    """China's manufacturing SMEs in their niches, and the tiered programme."""

    def __init__(self, cfg: Config):
        super().__init__(rng=cfg.seed)
        check_dispatch()
        allocator.tune()  # large temporaries from a heap kept for reuse (sim.engine.allocator); no number changes
        if cfg.national is None:
            raise ValueError("NationalModel needs a config with national set (scenario=national_programme)")
        self.cfg = cfg
        self.national = n = cfg.national
        fin = cfg.world.finance  # the bloc's finance, with the national world's own choice of capital structure
        self.finance = fin if n.target_capital_structure is None else replace(fin, target_capital_structure=n.target_capital_structure)
        g = cfg.world.price_level_growth if n.price_level_growth is None else n.price_level_growth
        self.world = NationalWorldView(n.start_year, n.usd_per_cny, n.scale, g)
        self.tables = T = build_national_tables(cfg)
        set_rd_deduction(T, cfg.policy)
        load_kernels(T, self.finance)
        self.n_steps = cfg.years * 4
        self.streams = dict(zip(STREAMS, self.rng.spawn(len(STREAMS))))
        self.pop, start_output = build_national_population(cfg, T, self.streams["init"])
        niche_sector, _ = niche_layout(cfg)
        self.niche_sector = niche_sector
        self.niche_base = np.maximum(start_output, 1e-6)  # a niche without firms at the start still has a little demand
        self.niche_growth = np.array([s.demand_growth_per_year for s in n.sectors])[niche_sector]
        self.price = np.ones(len(niche_sector))
        # each niche's capacity-weighted unit cost at the start, the base of its normal price (market.cost_pass_through);
        # a niche without firms at the start: the variable cost of a firm of cost index 1
        ref = float(T.reference_price_usd_per_kg[0])
        self.niche_cost0 = market.niche_cost(self, processing_cost(self.pop, T), np.full(len(niche_sector), ref * n.market.variable_cost_share))
        self.niche_demand_last = self.niche_base.copy()
        self.niche_unserved = np.zeros(len(niche_sector))
        pop = self.pop
        pop.capacity_per_employee = np.divide(pop.capacity_t, pop.employees, out=np.ones(len(pop)), where=pop.employees > 0)
        self.productivity_index = 1.0  # labour productivity over the start's (market.raise_productivity)
        self.instruments = Instruments(T.B, T.S)
        self.event_log = EventLog(now=lambda: self.quarter)
        self.quarter = -1
        self.counters = {k: 0 for k in ("expansions", "constrained", "entrants", "exits", "plants_sold")}
        self.government: NationalGovernment | None = None
        policy = cfg.policy.get("china")
        if policy is not None and policy.regime == "coordinated":
            self.government = NationalGovernment(self, 0, policy)
            self.government.install(self)
        self.recorder = NationalRecorder(self)
        self._yearly = self.schedule_recurring(self.start_of_year, Schedule(interval=4.0, start=4.5))

    # ------------------------------------------------------------------ what the government agent asks
    # the rare-earth model's own: the first yearly event time from now, a policy agent's own generator, the run loop
    next_yearly_time = ChainModel.next_yearly_time
    policy_rng = ChainModel.policy_rng
    run = ChainModel.run
    rd_tax_now = ChainModel.rd_tax_now

    def stage_gap(self, b: int, horizon_years: float) -> np.ndarray:
        """No plan of stage gaps on the national world: every sector is neutral (zeros)."""
        return np.zeros(self.tables.S)

    def log_rows(self, kind: str, rows: np.ndarray, detail: str = "", values: np.ndarray | None = None, quarter: int | None = None) -> None:
        """Log one event per firm row, for the programme's event kinds (``LOGGED``); others are counted only."""
        if kind in LOGGED:
            self.event_log.add_rows(kind, rows, self.pop, detail, values, quarter)

    @property
    def current_year(self) -> float:
        return self.national.start_year + max(self.quarter, 0) / 4.0

    # ------------------------------------------------------------------ step
    def step(self) -> None:
        self.quarter = self.steps - 1
        for k in self.counters:
            self.counters[k] = 0
        T, pop = self.tables, self.pop
        if self.quarter > 0:  # staff at the quarter's productivity: (1 + growth) ^ (quarter / 4) of the start's
            market.raise_productivity(self, 0.25)
        market.clear_niches(self)
        price_usd = np.take(self.price, np.maximum(pop.niche, 0, dtype=np.intp)) * T.reference_price_usd_per_kg[0]
        booked = self.government.rd_booked() if self.government is not None else None  # R&D as booked: the deduction's base
        # the processing cost clear_niches has just written (its inputs do not change before the accounts): not again
        firm_account(
            pop, T, self.quarter, self.finance, np.zeros((T.B, T.S)), row_price=price_usd, rd_tax=self.rd_tax_now(), rd_booked=booked,
            proc=pop.unit_cost_usd_per_kg,
        )  # fmt: skip
        innovate(pop, T, self.cfg.world.innovation, self.streams["innovation"], patent_slot(self.quarter // 4, self.pop.patent_slots), np.zeros(0))
        market.invest(self)
        market.enter_and_exit(self)
        if self.government is not None:
            self.government.apply_benefits()
        self.recorder.record_quarter()
        if self.steps >= self.n_steps:
            self.running = False

    def dispose(self) -> None:
        """Drop this finished model's state so that reference counting frees it now (as ChainModel.dispose)."""
        self.__dict__.clear()

    def start_of_year(self) -> None:
        """Between Q4 and Q1: patents lapse, the year's flags reset, exited rows are dropped, appeal shocks."""
        inn = self.cfg.world.innovation
        expire_patents(self.pop, self.steps // 4, inn.patent_life_years, inn.utility_patent_life_years)
        lapse_patents(self.pop, self.tables.patent_lapse_per_year, self.streams["innovation"], self.steps // 4)
        self.pop.finance_constrained = False
        self.pop.outside_finance = False
        self.pop.compact()
        market.shock_appeal(self, self.streams["shocks"])
        market.adopt_rd(self, self.streams["spare"])

    def add_entrants(self, niche: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """New small firms, operating at once, in the given niches: capacity ``entrant_revenue_myuan`` x a lognormal
        spread (sd 0.5 of the log: assumption), a province drawn by the provinces' firm shares, R&D as the smallest
        size class's, a new plant paid by its owners (no debt) and two months of revenue in cash."""
        n, T, pop = self.national, self.tables, self.pop
        k = len(niche)
        sector = self.niche_sector[niche]
        province_p, smallest, sector_rd_factor = self._entrant_tables
        province = rng.choice(len(province_p), size=k, p=province_p)
        cap = n.market.entrant_revenue_myuan * np.exp(0.5 * rng.standard_normal(k))
        rd_factor = sector_rd_factor[sector]
        med, sig = n.firms.rd_intensity.median, n.firms.rd_intensity.sigma
        rd = np.where(rng.random(k) < smallest.rd_share, np.clip(med * np.exp(sig * rng.standard_normal(k)) * rd_factor, 0.0, 0.3), 0.0)
        capex = T.capex_musd_per_kt[0, sector] * cap / 1000.0
        rev_q = cap / n.market.capacity_headroom * n.usd_per_cny / 4.0
        emp = np.clip(
            cap / n.market.capacity_headroom / (0.2 * self.productivity_index), smallest.employees[0], smallest.employees[1]
        )  # ~0.2 M yuan per head at the start (small firms below designated size), rising with labour productivity
        rows = pop.add(
            k,
            bloc=0,
            region=province.astype(np.int16),
            stage=sector.astype(np.int16),
            niche=niche.astype(np.int32),
            phase=Phase.OPERATING,
            birth_step=self.quarter,
            niche_start_step=self.quarter,
            capacity_t=cap,
            cum_output_t=cap,
            experience_ref_t=cap,
            employees=emp,
            capacity_per_employee=cap / emp,
            book_assets=capex,  # a new plant: its whole depreciation life left (plant_life_left's default)
            cash=2.0 / 3.0 * rev_q,
            tax_rate=T.tax_rate[0],
            rd_propensity=rd,
            unit_cost_usd_per_kg=T.processing_cost_usd_per_kg[0, sector],
        )
        pop._data["rev_hist"][rows, :] = 0.0
        self.log_rows("entry", rows, values=cap)
        return rows

    @cached_property
    def _entrant_tables(self) -> tuple[np.ndarray, Any, np.ndarray]:
        """What ``add_entrants`` reads of the config (fixed for the run), made once: the provinces' shares of firms as
        probabilities, the smallest size class (by median revenue) and each sector's ``rd_intensity_factor``."""
        n = self.national
        pshare = np.array([p.firm_share for p in n.provinces])
        smallest = min(n.firms.size_classes.values(), key=lambda c: c.revenue_lognormal.median_myuan)
        return pshare / pshare.sum(), smallest, np.array([s.rd_intensity_factor for s in n.sectors])

    # ------------------------------------------------------------------ outputs
    def tier_counts(self) -> dict[str, int]:
        pop = self.pop
        here = pop.alive
        out = {t.label: int((here & (pop.tier == t)).sum()) for t in Tier if t != Tier.NONE}
        out["key_little_giant"] = int((here & pop.key_lg).sum())
        out["firms"] = int(here.sum())
        return out

    def summary(self) -> dict[str, Any]:
        return self.recorder.summary()
