"""The mine-to-magnet model: assembly and step order (MODEL.md 3 and 6).

One step is one quarter. Each step: buyers set demand; markets clear from
magnets upstream and production flows down; accounts; innovation; investment
(projects and decisions); entry and exit; policy agents act; outputs are
recorded. Yearly processes and scenario events are Mesa scheduled events that
fire between quarters.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import mesa
import numpy as np
from mesa.time import Schedule

from agents import investment as inv
from agents.buyers import Buyer
from agents.firms import (
    Firm,
    Phase,
    ProjectPhase,
    account,
    expire_patents,
    innovate,
    learn,
    processing_cost,
    set_potential,
)
from scenarios.price_floor import PriceFloors
from scenarios.strategic_pricing import export_discount_loss
from sim.config import Config
from sim.engine.event_log import EventLog
from sim.engine.instruments import Instruments
from sim.engine.numerics import check_dispatch
from sim.engine.markets import Markets, allocate, update_price
from sim.engine.metrics import Recorder
from sim.engine.policy import PolicyModules
from sim.engine.world import build_population, build_tables

STREAMS = ("init", "innovation", "investment", "entry", "projects", "policy", "shocks", "spare")


@dataclass
class StageClearing:
    """What one stage's market produced this quarter (kept for production and records)."""

    suppliers: np.ndarray  # rows of supplying firms
    alloc: np.ndarray  # (K, N) orders of class k on supplier j
    demand: np.ndarray  # (K,)
    unmet: np.ndarray  # (K,)
    class_bloc: np.ndarray  # (K,)
    landed: np.ndarray  # (K, N) price class k pays supplier j, USD/kg
    buyer_rows: np.ndarray | None = None  # firm rows buying at this stage (None: final buyers)
    buyer_class: np.ndarray | None = None  # class index of each buyer row


class ChainModel(mesa.Model):
    """Firms, buyers and markets of the rare-earth chain in several blocs."""

    def __init__(self, cfg: Config):
        super().__init__(rng=cfg.seed)
        check_dispatch()  # warns once if numpy's AVX-512 kernels are active (seeded results would be machine-specific)
        self.cfg = cfg
        self.world = w = cfg.world
        self.tables = T = build_tables(w)
        self.n_steps = cfg.years * 4
        streams = self.rng.spawn(len(STREAMS))
        self.streams = dict(zip(STREAMS, streams))
        self.pop = build_population(w, T, self.streams["init"])
        self._seed_patents()
        self.markets = Markets(T.blocs, T.stages, T.reference_price, w.markets)
        self.paid_price = self.markets.price.copy()  # (B, S) average landed price the bloc's buyers paid
        self.trade_price = self.markets.price.copy()  # (B, S) price index at which the last quarter traded
        self.expected_paid = self.paid_price.copy()
        self.utilisation = np.full((T.B, T.S), w.markets.target_utilisation)  # smoothed orders / available
        self.lead_years = inv.lead_years(T)
        self.instruments = Instruments(T.B, T.S)  # the (B, S) arrays policies and events change, with their layers
        self.price_floors = PriceFloors(T.blocs, T.stages)  # price floors and state offtake (scenarios.price_floor)
        self.group_sharing = np.full(len(T.groups), w.innovation.group_sharing)
        self.event_log = EventLog(now=lambda: self.quarter)  # every logged event, in named columns
        self.quarter = -1  # index of the quarter being simulated (0 = first)
        self.last_clearing: dict[int, StageClearing] = {}
        self.first_outputs: list[np.ndarray] = []  # rows of (bloc, stage, birth quarter, first-output quarter)
        self.counters = {k: np.zeros((T.B, T.S)) for k in ("started", "stalled", "constrained", "abandoned", "entrants", "exits", "financed")}
        for name, b in w.buyers.items():
            Buyer(self, name, T.blocs.index(b.bloc), b.share, b.state_owned, b.domestic_mandate)
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

    def capacity_and_pipeline(self) -> tuple[np.ndarray, np.ndarray]:
        """(B, S) operating nameplate and nameplate still to come on line from projects, t/yr."""
        T, pop = self.tables, self.pop
        cap = T.bs_sum(pop.bloc, pop.stage, np.where(pop.operating, pop.capacity_t, 0.0))
        in_pipe = (pop.proj_phase != ProjectPhase.NONE) & pop.alive
        pipe = T.bs_sum(pop.bloc[in_pipe], pop.stage[in_pipe], pop.proj_nameplate_t[in_pipe] - pop.proj_added_t[in_pipe])
        return cap, pipe

    def stage_gap(self, b: int, horizon_years: float) -> np.ndarray:
        """(S,) planned gap of bloc b per stage: 1 - usable capacity incl. pipeline / need ``horizon_years`` ahead.

        Need = the bloc's final magnet demand at that date in each stage's product (magnet-equivalent
        coefficients); usable capacity = (operating + pipeline nameplate) x max utilisation. Positive: a gap.
        """
        T = self.tables
        cap, pipe = self.capacity_and_pipeline()
        need = T.final_demand_t_per_year(b, self.current_year + horizon_years, self.world.scale) / T.magnet_eq_per_t
        usable = (cap[b] + pipe[b]) * self.world.markets.max_utilisation
        return 1.0 - np.divide(usable, need, out=np.ones(T.S), where=need > 0)

    def next_yearly_time(self, offset: float) -> float:
        """The first event time 4k + offset (k = 0, 1, ...) not before now: yearly agents started mid-run."""
        k = max(int(np.ceil((self.time - offset) / 4.0 - 1e-9)), 0)
        return 4.0 * k + offset

    def firm(self, firm_id: int) -> Firm:
        """A thin view of one live firm."""
        return self.pop.view(firm_id, self)

    def log_event(self, kind: str, firm_id: int = -1, bloc: int = -1, stage: int = -1, detail: str = "", value: float = float("nan"),
                  quarter: int | None = None) -> None:
        """Log one event (``EventLog.add``); ``quarter`` defaults to the quarter being simulated."""
        self.event_log.add(kind, firm_id, bloc, stage, detail, value, quarter)

    def log_rows(self, kind: str, rows: np.ndarray, detail: str = "", values: np.ndarray | None = None, quarter: int | None = None) -> None:
        """Log one event per firm row (``EventLog.add_rows`` over the model's population)."""
        self.event_log.add_rows(kind, rows, self.pop, detail, values, quarter)

    # ------------------------------------------------------------------ step
    def step(self) -> None:
        self.quarter = self.steps - 1
        for c in self.counters.values():
            c[:] = 0.0
        self.buyers.do("step")
        self.clear_markets_and_produce()
        self.do_accounting()
        self.do_innovation()
        self.do_investment()
        self.do_entry_exit()
        self.policy.quarter()  # governments, groups, price floors (sim.engine.policy)
        self.recorder.record_quarter()
        if self.quarter % 4 == 3:
            self.recorder.record_firm_panel()
        if self.steps >= self.n_steps:
            self.running = False

    def run(self) -> "ChainModel":
        """Run to the horizon (one step per quarter)."""
        while self.running and self.steps < self.n_steps:
            self.step()
        return self

    def start_of_year(self) -> None:
        """Yearly housekeeping between Q4 and Q1: patents lapse, flags reset, exited rows dropped."""
        year_index = (self.steps) // 4
        expire_patents(self.pop, year_index % self.world.innovation.patent_life_years)
        self.pop.finance_constrained = False
        self.pop.compact()

    # ------------------------------------------------------------------ markets and production
    def _landed_price(self, s: int) -> np.ndarray:
        """(B buyer bloc, B supplier bloc) price paid per kg including freight and tariff."""
        T = self.tables
        p = self.markets.price[:, s]
        B = T.B
        landed = np.tile(p[None, :], (B, 1))
        for b in range(B):
            for c in range(B):
                if b != c:
                    landed[b, c] = p[c] * (1.0 - self.instruments.export_discount[c, s]) * (1.0 + T.import_tariff[b]) + T.freight[s]
        return landed

    def _final_classes(self):
        """Final buyer classes: (bloc, state-owned, domestic-only) with their demand; buyer -> class shares."""
        keys: dict[tuple, int] = {}
        demand: list[float] = []
        links = []  # (buyer, class, share of its demand)
        for buyer in self.buyers:
            parts = [(False, 1.0 - buyer.domestic_mandate), (True, buyer.domestic_mandate)]
            for domestic_only, share in parts:
                if share <= 0:
                    continue
                key = (buyer.bloc, buyer.state_owned, domestic_only)
                if key not in keys:
                    keys[key] = len(demand)
                    demand.append(0.0)
                k = keys[key]
                demand[k] += buyer.demand_t * share
                links.append((buyer, k, share))
        kl = list(keys)
        return (np.array([k[0] for k in kl], dtype=int), np.array([k[1] for k in kl], dtype=bool),
                np.array([k[2] for k in kl], dtype=bool), np.array(demand), links)

    def _preferences(self, s: int, sup: np.ndarray, class_bloc, class_state, class_group, class_domestic):
        """(K, N) logit preference and landed prices of each class for each supplier."""
        T, pop, P = self.tables, self.pop, self.world.markets
        landed = self._landed_price(s)[class_bloc][:, pop.bloc[sup]]
        discount = np.zeros_like(landed)
        same_group = (class_group[:, None] >= 0) & (class_group[:, None] == pop.group[sup][None, :])
        discount += np.where(same_group, P.same_group_discount, 0.0)
        discount += np.where(class_state[:, None], pop.procurement_discount[sup][None, :], 0.0)
        effective = landed * (1.0 - np.clip(discount, 0.0, 0.95))
        pref = np.exp(-P.logit_beta * effective / T.reference_price[s])
        foreign = class_bloc[:, None] != pop.bloc[sup][None, :]
        pref = np.where(class_domestic[:, None] & foreign, 0.0, pref)
        return pref, landed

    def clear_markets_and_produce(self) -> None:
        """Markets clear from magnets upstream; production flows down limited by inputs (MODEL.md 3.2, 5.1)."""
        T, pop, P, mk = self.tables, self.pop, self.world.markets, self.markets
        S, B = T.S, T.B
        G1 = len(T.groups) + 1
        set_potential(pop, T, P.max_utilisation, self.price_floors.floored(mk.price), P.shutdown_tolerance)
        quota = self.instruments.quota_outside_groups
        if (quota < 1.0).any():  # output quotas: firms outside the state groups get a share only
            outside = (pop.group < 0) & ~pop.state_owned
            pop.potential_t = np.where(outside, pop.potential_t * quota[pop.bloc, pop.stage], pop.potential_t)
        pop.orders_t = 0.0
        pop.output_t = 0.0
        pop.inputs_t = 0.0
        pop.input_cost = 0.0
        clearings: dict[int, StageClearing] = {}
        final_links = None
        for s in range(S - 1, -1, -1):
            sup = np.flatnonzero((pop.stage == s) & (pop.potential_t > 0))
            if s == S - 1:
                c_bloc, c_state, c_dom, demand, final_links = self._final_classes()
                c_group = np.full(len(c_bloc), -1)
                buyer_rows = buyer_class = None
            else:
                buyer_rows = np.flatnonzero((pop.stage == s + 1) & (pop.orders_t > 0))
                buyer_class = pop.bloc[buyer_rows].astype(int) * G1 + (pop.group[buyer_rows].astype(int) + 1)
                need = pop.orders_t[buyer_rows] * T.input_per_t[s + 1]
                demand = np.bincount(buyer_class, weights=need, minlength=B * G1).astype(float)
                c_bloc = np.repeat(np.arange(B), G1)
                c_group = np.tile(np.arange(G1) - 1, B)
                c_state = np.zeros(B * G1, dtype=bool)
                c_dom = np.zeros(B * G1, dtype=bool)
            pref, landed = self._preferences(s, sup, c_bloc, c_state, c_group, c_dom)
            res = allocate(demand, pop.potential_t[sup], pref, P.rationing_rounds, pop.bloc[sup], mk.licensed_share(s, c_bloc))
            pop.orders_t[sup] = res.alloc.sum(axis=0)
            self.price_floors.place_offtake(self, s, sup)  # the state buys spare domestic output (offtake)
            clearings[s] = StageClearing(sup, res.alloc, demand, res.unmet, c_bloc, landed, buyer_rows, buyer_class)
        # production flows down: output = orders x the fill ratio of the firm's input class
        delivered_to_class = None
        for s in range(S):
            cl = clearings[s]
            sup = cl.suppliers
            if s == 0:
                pop.output_t[sup] = pop.orders_t[sup]
            else:
                prev = clearings[s - 1]
                fill = np.divide(delivered_to_class, prev.demand, out=np.zeros_like(prev.demand), where=prev.demand > 0)
                cost_per_t = np.divide(prev_cost_to_class, delivered_to_class, out=np.zeros_like(prev.demand), where=delivered_to_class > 0)
                rows, cls = prev.buyer_rows, prev.buyer_class
                pop.output_t[rows] = pop.orders_t[rows] * fill[cls]
                pop.inputs_t[rows] = pop.output_t[rows] * T.input_per_t[s]
                pop.input_cost[rows] = pop.inputs_t[rows] * cost_per_t[cls] / 1000.0
            ratio = np.divide(pop.output_t[sup], pop.orders_t[sup], out=np.zeros(len(sup)), where=pop.orders_t[sup] > 0)
            delivered = cl.alloc * ratio[None, :]
            delivered_to_class = delivered.sum(axis=1)
            prev_cost_to_class = (delivered * cl.landed).sum(axis=1)
            cl.delivered = delivered  # type: ignore[attr-defined]
            cl.delivered_to_class = delivered_to_class  # type: ignore[attr-defined]
            cl.cost_to_class = prev_cost_to_class  # type: ignore[attr-defined]
        # final buyers receive their classes' deliveries pro rata
        final = clearings[S - 1]
        fill_final = np.divide(final.delivered_to_class, final.demand, out=np.zeros_like(final.demand), where=final.demand > 0)
        cost_final = np.divide(final.cost_to_class, final.delivered_to_class, out=np.zeros_like(final.demand), where=final.delivered_to_class > 0)
        for buyer in self.buyers:
            buyer.received_t = buyer.shortage_t = buyer.spend_musd = 0.0
        for buyer, k, share in final_links:
            got = buyer.demand_t * share * fill_final[k]
            buyer.received_t += got
            buyer.shortage_t += buyer.demand_t * share - got
            buyer.spend_musd += got * cost_final[k] / 1000.0
        first = (pop.first_output_step < 0) & (pop.output_t > 0)
        pop.first_output_step[first] = self.quarter
        fr = np.flatnonzero(first)
        if len(fr):
            self.first_outputs.append(np.stack([pop.bloc[fr], pop.stage[fr], pop.birth_step[fr], np.full(len(fr), self.quarter)], axis=1))
        self.log_rows("first_output", np.flatnonzero(first & (pop.birth_step >= 0)))
        self.last_clearing = clearings
        self.trade_price = mk.price.copy()  # sellers are paid the price index buyers faced this quarter
        self._update_prices(clearings)

    def _update_prices(self, clearings: dict[int, StageClearing]) -> None:
        """Bloc price indices move with demand on the bloc's suppliers (MODEL.md 5.1)."""
        T, pop, P, mk = self.tables, self.pop, self.world.markets, self.markets
        B, S = T.B, T.S
        proc = processing_cost(pop, T)
        new_price = mk.price.copy()
        paid_before = self.paid_price.copy()
        for s in range(S):
            cl = clearings[s]
            sup = cl.suppliers
            # cost pass-through: a change in the input price a bloc's producers paid moves their price one for one per kg
            if s > 0:
                new_price[:, s] = np.maximum(new_price[:, s] + T.input_per_t[s] * (self.paid_price[:, s - 1] - paid_before[:, s - 1]), 1e-6)
            # average landed price paid by each bloc's buyers
            for b in range(B):
                kb = cl.class_bloc == b
                q = cl.delivered_to_class[kb].sum()
                if q > 0:  # nothing bought: no new information, the last price paid stands
                    self.paid_price[b, s] = cl.cost_to_class[kb].sum() / q
            here = (pop.stage == s) & pop.operating
            unit_input = T.input_per_t[s] * self.paid_price[pop.bloc[here], s - 1] if s > 0 else 0.0
            pop.unit_cost_usd_per_kg[here] = proc[here] + unit_input
            sup_bloc = pop.bloc[sup]
            avail = np.bincount(sup_bloc, weights=pop.potential_t[sup], minlength=B)
            orders = np.bincount(sup_bloc, weights=pop.orders_t[sup], minlength=B)
            wanted = np.bincount(cl.class_bloc, weights=cl.demand, minlength=B)
            got = np.bincount(cl.class_bloc, weights=cl.delivered_to_class, minlength=B)
            landed = self._landed_price(s)
            ceiling = P.price_ceiling_multiple * T.reference_price[s]
            for c in range(B):
                short = max(wanted[c] - got[c], 0.0) / wanted[c] if wanted[c] > 1e-9 else 0.0
                here_c = here & (pop.bloc == c)
                floor = pop.unit_cost_usd_per_kg[here_c].min() if here_c.any() else -np.inf
                cap_c = pop.capacity_t[here_c]
                normal = (np.average(pop.unit_cost_usd_per_kg[here_c], weights=cap_c)
                          + P.capital_recovery_factor * T.capex[c, s] / P.target_utilisation) if cap_c.sum() > 0 else np.nan
                if avail[c] > 1e-9:
                    util = orders[c] / avail[c]
                    self.utilisation[c, s] += (util - self.utilisation[c, s]) / max(self.world.investment.price_memory_quarters, 1.0)
                    new_price[c, s] = update_price(new_price[c, s], util, short, floor, ceiling, P.price_adjustment,
                                                   P.target_utilisation, P.max_price_change, normal, P.price_reversion)
                elif short > 1e-9 or here_c.any():  # no domestic supplier offering: shortage (or idle plants) push the price
                    new_price[c, s] = update_price(new_price[c, s], None, short, floor, ceiling, P.price_adjustment,
                                                   P.target_utilisation, P.max_price_change, normal, P.price_reversion)
                else:  # no domestic producer at all: import parity from the cheapest bloc with supply
                    others = [o for o in range(B) if o != c and avail[o] > 1e-9]
                    if others:
                        new_price[c, s] = min(landed[c, o] for o in others)
        mk.price = new_price
        mk.update_expectations(self.world.investment.price_memory_quarters)
        a = 1.0 / max(self.world.investment.price_memory_quarters, 1.0)
        self.expected_paid = (1 - a) * self.expected_paid + a * self.paid_price

    # ------------------------------------------------------------------ accounts and innovation
    def do_accounting(self) -> None:
        account(self.pop, self.tables, self.quarter, self.world.finance, self.trade_price, revenue_adjust=export_discount_loss(self))

    def do_innovation(self) -> None:
        pop, inn = self.pop, self.world.innovation
        year_slot = (self.quarter // 4) % inn.patent_life_years
        innovate(pop, self.tables, inn, self.streams["innovation"], year_slot, self.group_sharing)
        learn(pop, self.tables, inn.knowhow_ramp_effect, self.instruments.ramp_extra)

    # ------------------------------------------------------------------ investment
    def expectations(self) -> inv.Expectations:
        """Investors' view per bloc and stage (MODEL.md 5.4)."""
        T, mk = self.tables, self.markets
        B, S = T.B, T.S
        self.lead_years = inv.lead_years(T, self.instruments.permit_factor, self.instruments.permit_cap_years)  # permitting reforms count
        input_price = np.zeros((B, S))
        input_price[:, 1:] = self.expected_paid[:, :-1]
        # capacity and pipeline per bloc-stage, and world demand growth over the lead time
        cap, pipe = self.capacity_and_pipeline()
        year = self.current_year
        now = sum(T.final_demand_t_per_year(b, year) for b in range(B))
        growth = np.array([[sum(T.final_demand_t_per_year(b, year + self.lead_years[bb, s]) for b in range(B)) / max(now, 1e-9)
                            for s in range(S)] for bb in range(B)])
        util = np.where(cap > 0, self.utilisation * growth * cap / np.maximum(cap + pipe, 1e-9), self.world.markets.target_utilisation)
        util = np.clip(util, 0.0, self.world.markets.max_utilisation)
        vol = mk.volatility()
        rate = T.base_rate[:, None] + T.risk_premium[:, None] + T.volatility_premium[:, None] * vol + self.rate_adjustment()
        return inv.Expectations(price=self.price_floors.floored(mk.expected_price), input_price=input_price, utilisation=util, discount_rate=rate,
                                lead_years=self.lead_years, tax_rate=T.tax_rate, capex_support=self.policy.capex_support())

    def rate_adjustment(self) -> np.ndarray:
        """Change of the cost of capital per bloc and stage from offtake, floors or state backing (policy)."""
        return np.zeros((self.tables.B, self.tables.S))

    def do_investment(self) -> None:
        T, pop, w = self.tables, self.pop, self.world
        q = self.quarter
        pop.equity_in = 0.0
        pop.grants = 0.0
        pop.rd_grants = 0.0
        ms = inv.advance_projects(pop, T, q, self.instruments.permit_factor, self.instruments.permit_cap_years)
        for kind, rows in ms.items():
            self.log_rows(kind, rows)
        E = self.expectations()
        pi = inv.profitability_index(pop.bloc, pop.stage, processing_cost(pop, T), T, E, w.investment.horizon_years, w.finance.depreciation_years)
        buffer = w.finance.min_cash_quarters_of_fixed_cost * pop.fixed_cost
        gate = inv.finance_gate(pop, T, self.streams["projects"], pi, w.investment.min_profitability_index, w.finance, buffer)
        self.log_rows("fid", gate["financed"], values=pop.proj_capex_musd[gate["financed"]])
        self.log_rows("abandoned", gate["abandoned"])
        for key, name in (("financed", "financed"), ("stalled", "stalled"), ("constrained", "constrained"), ("abandoned", "abandoned")):
            r = gate[key]
            self.counters[name] += T.bs_sum(pop.bloc[r], pop.stage[r])
        rows, nameplate = inv.choose_expansions(pop, T, self.streams["investment"], pi, w.investment)
        inv.start_projects(pop, rows, T, self.streams["projects"], q, nameplate, greenfield=False)
        self.counters["started"] += T.bs_sum(pop.bloc[rows], pop.stage[rows])
        self.log_rows("project_start", rows, values=nameplate)
        self._pi_entrant = self._entrant_pi(E)

    def _entrant_pi(self, E: inv.Expectations) -> np.ndarray:
        """(B, S) profitability index of a typical new plant (entrant cost index 1, entrant experience)."""
        T = self.tables
        B, S = T.B, T.S
        b, s = np.meshgrid(np.arange(B), np.arange(S), indexing="ij")
        exp_factor = (T.entrant_experience_years / T.experience_ref_years) ** (-T.learning_b)
        proc = T.processing_cost * exp_factor[None, :]
        return inv.profitability_index(b, s, proc, T, E, self.world.investment.horizon_years, self.world.finance.depreciation_years)

    # ------------------------------------------------------------------ entry and exit
    def do_entry_exit(self) -> None:
        T, pop, w = self.tables, self.pop, self.world
        q = self.quarter
        rng = self.streams["entry"]
        n_new = inv.entrants(T, rng, self._pi_entrant, w.scale)
        for b in range(T.B):
            regions = np.flatnonzero(T.region_bloc == b)
            for s in range(T.S):
                n = int(n_new[b, s])
                if n == 0:
                    continue
                self.add_entrants(b, s, n, regions[rng.integers(0, len(regions), n)], rng)
        self.counters["entrants"] += n_new
        # exit: insolvency, lasting negative equity, or an abandoned first project
        alive = pop.alive
        neg = alive & (pop.equity < 0)
        pop.neg_equity_quarters = np.where(neg, pop.neg_equity_quarters + 1, 0)
        insolvent = alive & (pop.cash < -1e-9)
        lasting = alive & (pop.neg_equity_quarters >= w.finance.exit_after_negative_equity_quarters)
        no_plant = alive & (pop.phase == Phase.PROJECT) & (pop.proj_phase == ProjectPhase.NONE)
        failing = self.policy.rescue(np.flatnonzero(insolvent | lasting))
        out = np.union1d(failing, np.flatnonzero(no_plant))
        if len(out):
            reason = np.where(insolvent[out], "insolvent", np.where(lasting[out], "negative_equity", "project_abandoned"))
            for r, why in zip(out, reason):
                self.event_log.add("exit", pop.firm_id[r], pop.bloc[r], pop.stage[r], str(why), pop.capacity_t[r], quarter=q)
            self.counters["exits"] += T.bs_sum(pop.bloc[out], pop.stage[out])
            pop.phase[out] = Phase.EXITED
            pop.capacity_t[out] = 0.0
            pop.potential_t[out] = 0.0
            pop.proj_phase[out] = ProjectPhase.NONE

    def add_entrants(self, b: int, s: int, n: int, regions: np.ndarray, rng: np.random.Generator, group: int = -1, state_owned: bool = False) -> np.ndarray:
        """New firms with a greenfield project in planning (MODEL.md 5.5)."""
        T, pop = self.tables, self.pop
        size = T.plant_size_t[s]
        nameplate = np.exp(rng.uniform(np.log(size[0]), np.log(size[1]), n)) if size[1] > size[0] > 0 else np.full(n, size[1])
        rows = pop.add(
            n, bloc=b, stage=s, region=regions, group=group, state_owned=state_owned, phase=Phase.PROJECT,
            birth_step=self.quarter, niche_start_step=self.quarter, capacity_t=0.0,
            quality=T.new_plant_quality[b, s], qualified=not T.needs_qualification[s],
            experience_ref_t=T.experience_ref_years[s] * nameplate, cum_output_t=T.entrant_experience_years[s] * nameplate,
            cost_index=rng.uniform(0.9, 1.1, n), rd_propensity=rng.uniform(T.rd_propensity[b, 0], T.rd_propensity[b, 1], n),
            tax_rate=T.tax_rate[b], employees=5.0,
        )
        inv.start_projects(pop, rows, T, rng, self.quarter, nameplate, greenfield=True)
        self.counters["started"][b, s] += n
        self.log_rows("entry", rows, values=nameplate)
        return rows

    def add_funded_entrants(self, b: int, s: int, n: int, regions: np.ndarray, rng: np.random.Generator, sponsor: str,
                            group: int = -1, state_owned: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Entrants whose sponsor (a state group or the bloc's coordinator) pays the project's own funds at once:
        the equity share and the start-up reserve of its capex. Logged as ``incubated`` with the sponsor's name.
        Returns the rows and the money paid per row (M USD)."""
        rows = self.add_entrants(b, s, n, regions, rng, group=group, state_owned=state_owned)
        own = (self.tables.equity_share_required[b] + self.world.finance.startup_reserve_share) * self.pop.proj_capex_musd[rows]
        self.pop.cash[rows] += own
        self.log_rows("incubated", rows, detail=sponsor, values=own)
        return rows, own

    # ------------------------------------------------------------------ helpers
    def _seed_patents(self) -> None:
        """Incumbents' patents in force: Poisson draws on their past R&D, spread over past cohorts."""
        pop, T, inn = self.pop, self.tables, self.world.innovation
        rng = self.streams["init"]
        life = inn.patent_life_years
        rd_year = pop.rd_hist.sum(axis=1) / 2.0  # 8 quarters of history -> per year
        age_years = np.clip(-pop.birth_step / 4.0, 1.0, life).astype(int)
        mult = T.patent_multiplier[pop.bloc]
        for k in range(life - 1):  # cohorts granted 1..life-1 years ago; the one granted life years ago has lapsed
            past = (age_years > k)
            slot = (-1 - k) % life
            pop.pat_inv[:, slot] += np.where(past, rng.poisson(inn.invention_patents_per_musd * mult * rd_year), 0)
            pop.pat_util[:, slot] += np.where(past, rng.poisson(inn.utility_patents_per_musd * mult * rd_year), 0)
