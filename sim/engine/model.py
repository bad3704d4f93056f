"""The mine-to-magnet model: assembly and step order (MODEL.md 3 and 6).

One step is one quarter. Each step: buyers set demand; markets clear from
magnets upstream and production flows down; accounts; innovation; investment
(projects and decisions); entry and exit; policy agents act; outputs are
recorded. Yearly processes and scenario events are Mesa scheduled events that
fire between quarters.
"""

from __future__ import annotations

import zlib

import mesa
import numpy as np
from mesa.time import Schedule

from agents import investment as inv
from agents import kernels
from agents.buyers import Buyer
from agents.firms import Firm, expire_patents, lapse_patents, load_kernels, patent_slot
from scenarios.price_floor import PriceFloors
from sim.config import Config
from sim.engine import accounts, allocator, clearing, demand, entry_exit, investment, market_kernels, prices
from sim.engine.clearing import StageClearing
from sim.engine.event_log import EventLog
from sim.engine.instruments import Instruments
from sim.engine.markets import Markets
from sim.engine.metrics import Recorder
from sim.engine.numerics import check_dispatch
from sim.engine.policy import PolicyModules
from sim.engine.security import SecurityPremium
from sim.engine.world import build_population, build_tables, set_rd_deduction

STREAMS = ("init", "innovation", "investment", "entry", "projects", "policy", "shocks", "spare")


class ChainModel(mesa.Model):
    """Firms, buyers and markets of the rare-earth chain in several blocs."""

    def __init__(self, cfg: Config):
        super().__init__(rng=cfg.seed)
        check_dispatch()  # warns once if numpy's AVX-512 kernels are active (seeded results would be machine-specific)
        allocator.tune()  # large temporaries from a heap kept for reuse (sim.engine.allocator); no number changes
        self.cfg = cfg
        self.world = w = cfg.world
        self.tables = T = build_tables(w)
        set_rd_deduction(T, cfg.policy)
        load_kernels(T, w.finance)
        market_kernels.load()  # the stage markets' kernels, compiled or loaded now as the firm rules' are
        self.n_steps = cfg.years * 4
        streams = self.rng.spawn(len(STREAMS))
        self.streams = dict(zip(STREAMS, streams))
        self.pop = build_population(w, T, self.streams["init"])
        self.scrap_rng = self.policy_rng("scrapping")  # scrapping counts (entry_exit.draw_scrap_counts): its own stream, others untouched
        self._seed_patents()
        self.markets = Markets(T.blocs, T.stages, T.reference_price_usd_per_kg, w.markets)
        self.paid_price = self.markets.price.copy()  # (B, S) average landed price the bloc's buyers paid
        self.trade_price = self.markets.price.copy()  # (B, S) price index at which the last quarter traded
        self.expected_paid = self.paid_price.copy()
        self.utilisation = np.full((T.B, T.S), w.markets.target_utilisation)  # smoothed orders / available
        self.sales_expected: np.ndarray | None = None  # (B, S) smoothed sales within reach, t a quarter (sim.engine.investment)
        self.sales_expected_quarter = -2  # the quarter sales_expected was last smoothed
        self.sales_smoothed: np.ndarray | None = None  # (B, S) the smoothed part of sales_expected (investment.unfed_need_at_once)
        self.demand_growth = np.ones((T.B, T.S))  # world final demand over the lead time / now (sim.engine.investment)
        self.output_cap_in_force: np.ndarray | None = None  # (B, S) national output caps the markets cleared under, t/yr (clearing._offer)
        self.long_run_price = np.full((T.B, T.S), np.nan)  # (B, S) a new plant's break-even price, USD/kg (do_investment)
        self.chain_normal: np.ndarray | None = None  # (B, S) long-run prices, chain built out, USD/kg (investment.chain_long_run_price)
        self.input_feed: tuple[np.ndarray, np.ndarray] | None = None  # (B, S) feed and sellable output, t/yr (sim.engine.investment.input_feed)
        self.expected_market_price: np.ndarray | None = None  # (B, S) investors' price before state floors (sim.engine.investment)
        self.lead_years = inv.lead_years(T)
        self.instruments = Instruments(T.B, T.S)  # the (B, S) arrays policies and events change, with their layers
        self.price_floors = PriceFloors(T.blocs, T.stages)  # price floors and state offtake (scenarios.price_floor)
        self.group_sharing = np.full(len(T.groups), w.innovation.group_sharing)
        self.event_log = EventLog(now=lambda: self.quarter)  # every logged event, in named columns
        self.quarter = -1  # index of the quarter being simulated (0 = first)
        self.last_clearing: dict[int, StageClearing] = {}
        self.pi_entrant = np.zeros((T.B, T.S))  # profitability index of a typical new plant, set by investment for entry
        self.entrant_technology: np.ndarray | None = None  # (B, S) a new plant's innovation factor, set by investment (None: 1)
        self.offered_t = np.zeros((T.B, T.S))  # t each bloc-stage's plants offered this quarter (sim.engine.prices)
        self.investor_view: inv.Expectations | None = None  # this quarter's investors' expectations (set by investment)
        self.first_outputs: list[np.ndarray] = []  # rows of (bloc, stage, birth quarter, first-output quarter)
        counted = ("started", "stalled", "constrained", "abandoned", "entrants", "exits", "financed", "acquired")
        self.counters = {k: np.zeros((T.B, T.S)) for k in counted}
        self.demand = demand.DemandState(self)  # price response and substitution of final demand (sim.engine.demand)
        self.security = SecurityPremium(self)  # buyers' premium on risky origins (sim.engine.security)
        for name, b in w.buyers.items():
            Buyer(self, name, T.blocs.index(b.bloc), b.share, b.state_owned, b.domestic_mandate, defence=b.defence)
        for bloc, quarters in w.demand.stockpile_quarters.items():  # state stockpiles: buyers with no need of their own
            if quarters > 0:
                Buyer(self, f"{bloc}_stockpile", T.blocs.index(bloc), 0.0, True, 0.0, stockpile=True, cover_quarters=quarters)
        self.buyers = self.agents_by_type[Buyer]
        self.policy = PolicyModules(self)  # every policy actor, instrument and scenario event (sim.engine.policy)
        self.policy.install_all()  # price floors, each bloc's policy, the state groups, scheduled regime changes
        self.recorder = Recorder(self)
        self.policy.install_events()
        self._yearly = self.schedule_recurring(self.start_of_year, Schedule(interval=4.0, start=4.5))
        self.log_event("run_start", detail=cfg.scenario.name)

    # ------------------------------------------------------------------ time
    @property
    def current_year(self) -> float:
        """Fractional calendar year of the quarter being simulated (2015.0 = 2015 Q1)."""
        return self.world.start_year + max(self.quarter, 0) / 4.0

    def rd_tax_now(self) -> tuple[np.ndarray, np.ndarray] | None:
        """This quarter's R&D tax terms per bloc, (factor, deduction) (Tables.rd_tax; None without a deduction schedule):
        what the accounts and the government's R&D lever read."""
        inn = self.cfg.world.innovation
        return self.tables.rd_tax(self.current_year, self.world.start_year, inn.rd_tax_price_elasticity)

    def quarter_index(self, year: float) -> int:
        """Quarter index (0 = first simulated quarter) of a fractional calendar year."""
        return int(round((year - self.world.start_year) * 4.0))

    def policy_rng(self, name: str) -> np.random.Generator:
        """A generator of one policy agent's own, derived from the run's seed and the agent's name.

        Agents present in one scenario and absent from another then leave every other stream
        untouched (common random numbers, MODEL.md 4).
        """
        ss = self.rng.bit_generator.seed_seq
        return np.random.default_rng(np.random.SeedSequence(entropy=ss.entropy, spawn_key=(10_000, zlib.crc32(name.encode()))))

    def supply(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(B, S) operating nameplate, nameplate still to come on line from projects, and the part of it past the final
        investment decision (:meth:`committed_pipeline`), t/yr: one pass over the rows (agents.kernels.supply_rows)."""
        T, pop = self.tables, self.pop
        cap, pipe, committed = (np.zeros(T.B * T.S) for _ in range(3))
        kernels.supply_rows(
            pop.bloc, pop.stage, T.S, pop.phase, pop.capacity_t, pop.proj_phase, pop.proj_nameplate_t, pop.proj_added_t, cap, pipe, committed
        )
        return cap.reshape(T.B, T.S), pipe.reshape(T.B, T.S), committed.reshape(T.B, T.S)

    def capacity_and_pipeline(self) -> tuple[np.ndarray, np.ndarray]:
        """(B, S) operating nameplate and nameplate still to come on line from projects, t/yr."""
        cap, pipe, _ = self.supply()
        return cap, pipe

    def self_sufficiency(self, output_t: np.ndarray | None = None) -> np.ndarray:
        """(B, S) each bloc's own output at each stage, magnet-equivalent, over its final need this quarter (NaN where it
        has none): the self-sufficiency that timelines read. ``output_t`` (B, S): this quarter's output of each bloc-stage
        (default: summed over the firms live in the quarter, those that exited in it too)."""
        T, pop = self.tables, self.pop
        if output_t is None:
            output_t = T.bs_sum(pop.bloc, pop.stage, np.where(pop.live_in(self.quarter), pop.output_t, 0.0))
        final = demand.bloc_need(self.buyers, T.B)  # before relocation of demand (a stockpile has none)
        me = output_t * T.magnet_eq_per_t[None, :]
        return np.divide(me, final[:, None], out=np.full((T.B, T.S), np.nan), where=final[:, None] > 0)

    def committed_pipeline(self) -> np.ndarray:
        """(B, S) nameplate still to come on line from projects past their final investment decision (construction,
        ramp-up, qualification), t/yr: capacity investors can count on, unlike projects still in planning, permitting
        or waiting at the gate."""
        return self.supply()[2]

    def stage_gap(self, b: int, horizon_years: float) -> np.ndarray:
        """(S,) planned gap of bloc b per stage: 1 - usable capacity incl. pipeline / need ``horizon_years`` ahead.

        Need = the bloc's final magnet demand at that date in each stage's product (magnet-equivalent
        coefficients); usable capacity = (operating + pipeline nameplate) x max utilisation. Positive: a gap.
        """
        T = self.tables
        cap, pipe = self.capacity_and_pipeline()
        need = T.final_demand_t_per_year(b, self.current_year + horizon_years, self.world.scale) / T.magnet_eq_per_t
        quota = self.quota_ahead(horizon_years)
        if quota is not None:  # under a national output quota the plan needs no capacity beyond it
            need = np.minimum(need, quota[b])
        usable = (cap[b] + pipe[b]) * self.world.markets.max_utilisation
        return 1.0 - np.divide(usable, need, out=np.ones(T.S), where=need > 0)

    def quota_ahead(self, years: float | np.ndarray) -> np.ndarray | None:
        """(B, S) national output quotas ``years`` ahead, t/yr (the quota in force grows with the bloc's demand path:
        sim.engine.policy.BlocInstruments); None when no quota is in force. ``years`` may be (B, S)."""
        cap = self.instruments.output_cap_t
        if cap is None or not np.isfinite(cap).any():
            return None
        T, y = self.tables, self.current_year
        years = np.broadcast_to(np.asarray(years, dtype=float), cap.shape)
        growth = np.array(
            [[T.final_demand_t_per_year(b, y + years[b, s]) / max(T.final_demand_t_per_year(b, y), 1e-9) for s in range(T.S)] for b in range(T.B)]
        )
        return cap * growth

    def next_yearly_time(self, offset: float) -> float:
        """The first event time 4k + offset (k = 0, 1, ...) not before now: yearly agents started mid-run."""
        k = max(int(np.ceil((self.time - offset) / 4.0 - 1e-9)), 0)
        return 4.0 * k + offset

    def firm(self, firm_id: int) -> Firm:
        """A thin view of one live firm."""
        return self.pop.view(firm_id, self)

    def log_event(
        self, kind: str, firm_id: int = -1, bloc: int = -1, stage: int = -1, detail: str = "", value: float = float("nan"), quarter: int | None = None
    ) -> None:
        """Log one event (``EventLog.add``); ``quarter`` defaults to the quarter being simulated."""
        self.event_log.add(kind, firm_id, bloc, stage, detail, value, quarter)

    def log_rows(self, kind: str, rows: np.ndarray, detail: str = "", values: np.ndarray | None = None, quarter: int | None = None) -> None:
        """Log one event per firm row (``EventLog.add_rows`` over the model's population)."""
        self.event_log.add_rows(kind, rows, self.pop, detail, values, quarter)

    # ------------------------------------------------------------------ step
    def step(self) -> None:
        """One quarter, in the order of MODEL.md 3."""
        self.quarter = self.steps - 1
        self.demand.update(self)  # 1. demand answers last quarter's prices
        self.buyers.do("step")  #    buyers set their need and orders
        clearing.clear_markets_and_produce(self)  # 2. markets clear upstream, production flows down
        demand.consume(self)  #    buyers stock what arrived and consume; stockpiles release to the short
        proc = prices.update_prices(self)  #    and price indices move with the quarter's trade
        self.security.update(self)  #    buyers' security premiums build with exposure and fade
        accounts.do_accounting(self, proc)  # 3. accounts, at the processing cost the prices read
        accounts.do_innovation(self)  # 4. innovation and learning
        investment.do_investment(self)  # 5. projects advance, investors decide
        entry_exit.do_entry_exit(self)  # 6. entry and exit
        self.policy.quarter()  # 7. policy: governments, groups, price floors (sim.engine.policy)
        self.recorder.record_quarter()  # 8. outputs
        for c in self.counters.values():  # counted afresh from here: what the yearly actions between Q4 and Q1 do (a
            c[:] = 0.0  # state group's or sponsor's entrants) is the next quarter's, whose firm counts it is in
        if self.quarter % 4 == 3:
            self.recorder.record_firm_panel()
        if self.steps >= self.n_steps:
            self.running = False

    def run(self) -> "ChainModel":
        """Run to the horizon (one step per quarter)."""
        while self.running and self.steps < self.n_steps:
            self.step()
        return self

    def dispose(self) -> None:
        """Drop this finished model's state (firms, agents, records, schedule) so that reference counting frees it now.
        The model and its agents refer to each other, so otherwise only a full garbage collection frees them. The model
        is unusable afterwards (sim.research.sweep.release_run)."""
        self.__dict__.clear()

    def start_of_year(self) -> None:
        """Yearly housekeeping between Q4 and Q1: patents lapse, flags reset, exited rows dropped."""
        year_index = (self.steps) // 4
        inn = self.world.innovation
        expire_patents(self.pop, year_index, inn.patent_life_years, inn.utility_patent_life_years)
        lapse_patents(self.pop, self.tables.patent_lapse_per_year, self.streams["innovation"], year_index)
        self.pop.finance_constrained = False
        self.pop.outside_finance = False
        self.pop.compact()

    # ------------------------------------------------------------------ called by agents (the processes live in their modules)
    def expectations(self) -> inv.Expectations:
        """Investors' view per bloc and stage (sim.engine.investment.expectations)."""
        return investment.expectations(self)

    def add_entrants(
        self, b: int, s: int, n: int, regions: np.ndarray, rng: np.random.Generator, group: int = -1, state_owned: bool = False
    ) -> np.ndarray:
        """New firms with a greenfield project in planning (sim.engine.entry_exit.add_entrants)."""
        return entry_exit.add_entrants(self, b, s, n, regions, rng, group, state_owned)

    def add_funded_entrants(
        self, b: int, s: int, n: int, regions: np.ndarray, rng: np.random.Generator, sponsor: str, group: int = -1, state_owned: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Entrants whose sponsor pays the project's own funds at once (sim.engine.entry_exit.add_funded_entrants)."""
        return entry_exit.add_funded_entrants(self, b, s, n, regions, rng, sponsor, group, state_owned)

    # ------------------------------------------------------------------ helpers
    def _seed_patents(self) -> None:
        """Incumbents' patents in force: Poisson draws on their past R&D, spread over past cohorts."""
        pop, T, inn = self.pop, self.tables, self.world.innovation
        rng = self.streams["init"]
        life, util_life = inn.patent_life_years, inn.utility_patent_life_years
        rd_year = np.ascontiguousarray(pop.rd_hist).sum(axis=1) / 2.0  # 8 quarters of history -> per year (row-major: numpy's order)
        age_years = np.clip(-pop.birth_step / 4.0, 1.0, max(life, util_life)).astype(int)
        mult = T.patent_multiplier[pop.bloc]
        keep = 1.0 - T.patent_lapse_per_year[pop.bloc]
        # cohorts granted 1..life-1 years ago (each class its own term; the one granted a full term ago has lapsed),
        # each still in force after k + 1 years of its bloc's lapse (a Poisson draw thinned is a Poisson draw at the
        # thinned rate); the draws are made for every row and past cohort of the longer term, in a fixed order
        for k in range(max(life, util_life) - 1):
            past = age_years > k
            slot = patent_slot(-1 - k, pop.patent_slots)
            kept = mult * keep ** (k + 1)
            inv = rng.poisson(inn.invention_patents_per_musd * kept * rd_year)
            util = rng.poisson(inn.utility_patents_per_musd * kept * rd_year)
            pop.pat_inv[:, slot] += np.where(past & (k < life - 1), inv, 0)
            pop.pat_util[:, slot] += np.where(past & (k < util_life - 1), util, 0)
