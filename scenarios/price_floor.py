"""Price floor with guaranteed offtake: a state backstop for a bloc's domestic producers.

Question served: Q3 of MODEL.md (levers) - does a guaranteed price and buyer of
last resort make private investors build a stage that the market alone leaves
to the other bloc, and at what fiscal cost?
Reference: the 2025 US Department of Defense agreement with MP Materials: a
floor of 110 USD/kg for NdPr oxide for ten years and 100% offtake of a
10 kt/yr magnet plant (MODEL.md 5.8). The coordinated-West policy regime
(conf/policy/coordinated_west.yaml, ``instruments.price_floor_usd_per_kg``,
``floor_offtake_t_per_year``, ``floor_years``) uses the same mechanism through
:class:`PriceFloors`.

Mechanism (per bloc b and stage s with a floor F and/or an offtake volume V):

1. Floor top-up. Every domestic producer of b at s receives at least F per kg
   it sells: the state pays ``max(F - p, 0) x output`` on top of the revenue
   at the traded price index p (exports included). The top-up is added to the
   firm's ``grants`` in the policy step of the quarter (``apply_quarter``), so
   it reaches cash and profit in the next quarter's accounts, like any grant.
   The shut-down rule sees ``max(p, F)`` (a plant whose cost the floor covers
   keeps producing); under a floor on domestic sales alone (``domestic_only``)
   it sees ``p + h x max(F - p, 0)``, h the home share of the plant's last
   sales (``row_floor`` with the index). With ``home_first`` as well, a plant
   whose floor is above the index serves its own bloc's buyers before the market
   clears the rest, at the index or at what the cheapest import costs them
   landed where that is lower (``reserve_home``): a kg sold at home earns F, a kg
   exported the index, so it sells at home first and meets the import price to
   do so; the top-up pays F less what the buyer paid. Per-plant agreements (``term_years``) run that long from a
   plant's first output; with ``renew_below`` a plant whose agreement ended signs another term while its bloc's own
   output at the stage covers less than that share of the bloc's need (``sign_agreements``). Investors see ``max(expected price, F)``
   in the profitability index of projects and entrants (ChainModel.expectations).
2. Offtake: the state is buyer of last resort. After the market at s has
   cleared, the state orders the spare sellable output (potential minus market
   orders) of b's producers at s, pro rata to their spare output, up to V/4 t
   a quarter. Volumes in the container are model tonnes: callers multiply
   real tonnes by ``world.scale`` (which scales demand and firm counts), as
   the event does. These are real orders: the plants buy inputs for them upstream,
   they raise the utilisation that drives b's price index, and they are paid at
   p in the accounts (plus the top-up where s has a floor, so at ``max(p, F)``).
   What the state buys leaves the market (a stockpile; no resale is counted).

Fiscal cost per quarter (M USD) = top-ups + offtake tonnes delivered x p,
recorded cumulatively in ``PriceFloors.paid_musd[bloc]`` (its ``fiscal_musd`` books, instrument
``price_floor``, which the policy outputs read) and per quarter in
``PriceFloors.quarter_cost_musd`` (B,), with the offtake tonnes of the quarter
in ``PriceFloors.offtake_t`` (B, S).

Several floors (events, a policy) may be active at once: per bloc and stage the
highest floor applies and offtake volumes add up. ``remove(name)`` restores the
previous state exactly (the arrays are recomputed from the remaining entries).

Wiring in sim.engine.model.ChainModel: ``self.price_floors = PriceFloors(T.blocs,
T.stages)`` in ``__init__``; ``self.price_floors.place_offtake(self, s, sup)``
right after a stage's market orders are set in ``clear_markets_and_produce``;
``self.price_floors.row_floor(pop, quarter)`` for the floor each plant holds (the shut-down rule and the
index's cost floor) and ``self.price_floors.floored(price)`` for investors' expected price. The container is a
policy module (sim.engine.policy.PolicyModule) installed with the model: its ``quarter`` action, ``apply_quarter``, runs in the policy step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scenarios.checks import check_bloc, check_stage_values
from scenarios.events import EventParams, ScenarioEvent, register_event
from sim.checks import ConfigError

FISCAL_KEY = "price_floor"


def home_sold(pop) -> np.ndarray:
    """(n,) t each plant sold to its own bloc's buyers and the state this quarter: its output less its exports."""
    return np.maximum(pop.output_t - pop.exported_t, 0.0)


class PriceFloors:
    """The price floors and offtake guarantees in force in every bloc (events and policies)."""

    order = 50  # acts after governments and groups in the policy step
    bloc = -1  # serves every bloc

    def __init__(self, blocs: list[str], stages: list[str]):
        self.blocs, self.stages = list(blocs), list(stages)
        B, S = len(self.blocs), len(self.stages)
        self._entries: dict[str, list[tuple]] = {}
        self.floor = np.zeros((B, S))  # USD/kg; 0: no floor
        self.offtake_t_per_year = np.zeros((B, S))
        self.term_quarters = np.zeros((B, S), dtype=np.int64)  # > 0: each plant holds its own agreement of this many quarters
        self.cap_t = np.full((B, S), np.inf)  # nameplate t/yr that per-plant agreements may cover at once (inf: no cap)
        self.domestic_only = np.zeros((B, S), dtype=bool)  # the floor tops up only sales to the bloc's own buyers (and the state)
        self.home_first = np.zeros((B, S), dtype=bool)  # with domestic_only: floored plants serve their bloc's buyers first (reserve_home)
        self.renew_below = np.zeros((B, S))  # per-plant agreements that ended are renewed while the bloc's self-sufficiency is below this (0: never)
        self.room_t = np.full((B, S), np.inf)  # what the cap leaves after the last signing (investors' view)
        self.quarter_cost_musd = np.zeros(B)  # last quarter: top-ups + offtake purchases
        self.topup_musd = np.zeros(B)  # last quarter: top-ups alone
        self.offtake_t = np.zeros((B, S))  # last quarter: tonnes the state received
        self.paid_musd: dict[int, float] = {}  # bloc -> cumulative public money (M USD), for every bloc that had a floor or offtake
        self._orders: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # stage -> (rows, state orders t) this quarter

    # -- what is in force -----------------------------------------------------
    def add(
        self,
        name: str,
        bloc: int | str,
        stage: int | str,
        floor_usd_per_kg: float = 0.0,
        offtake_t_per_year: float = 0.0,
        term_years: float = 0.0,
        cap_t_per_year: float = np.inf,
        domestic_only: bool = False,
        home_first: bool = False,
        renew_below: float = 0.0,
    ) -> None:
        """Add one bloc-stage floor and/or offtake volume under ``name`` (several calls per name allowed).
        ``term_years`` > 0: the floor is an agreement per plant, running that long from the plant's first quarter of
        operation while the floor is in force (incumbents: from now), and the plants holding a running agreement
        cover at most ``cap_t_per_year`` of nameplate; 0: every producer holds it while it is in force.
        ``domestic_only``: the floor tops up only what the plants sell to their own bloc's buyers and the state;
        ``home_first`` (read with ``domestic_only``): the plants holding it serve those buyers first (``reserve_home``).
        ``renew_below`` > 0 (per-plant terms): a plant whose agreement has ended signs another term while the bloc's own
        plants at the stage cover less than this share of its final need (``sign_agreements``)."""
        b = self.blocs.index(bloc) if isinstance(bloc, str) else int(bloc)
        s = self.stages.index(stage) if isinstance(stage, str) else int(stage)
        entry = (
            b,
            s,
            float(floor_usd_per_kg),
            float(offtake_t_per_year),
            float(term_years),
            float(cap_t_per_year),
            bool(domestic_only),
            bool(home_first),
            float(renew_below),
        )
        self._entries.setdefault(name, []).append(entry)
        self._rebuild()

    def add_stages(
        self,
        name: str,
        bloc: int | str,
        floor_usd_per_kg: dict,
        offtake_t_per_year: dict,
        scale: float = 1.0,
        term_years: float = 0.0,
        cap_t_per_year: dict | None = None,
        domestic_only: bool = False,
        home_first: bool = False,
        renew_below: float = 0.0,
    ) -> None:
        """Add stage -> floor and stage -> offtake (t/yr, times ``scale``) mappings under ``name``, one entry per stage;
        ``cap_t_per_year``: stage -> nameplate per-plant agreements may cover (t/yr, times ``scale``)."""
        caps = cap_t_per_year or {}
        for stage in dict.fromkeys(list(floor_usd_per_kg) + list(offtake_t_per_year)):
            cap = caps[stage] * scale if stage in caps else np.inf
            floor, offtake = floor_usd_per_kg.get(stage, 0.0), offtake_t_per_year.get(stage, 0.0) * scale
            self.add(name, bloc, stage, floor, offtake, term_years, cap, domestic_only, home_first, renew_below)

    def remove(self, name: str) -> None:
        """Remove everything added under ``name`` (no-op if absent)."""
        if self._entries.pop(name, None) is not None:
            self._rebuild()

    def names(self) -> list[str]:
        return list(self._entries)

    @property
    def active(self) -> bool:
        return bool(self._entries)

    def _rebuild(self) -> None:
        self.floor = np.zeros_like(self.floor)
        self.offtake_t_per_year = np.zeros_like(self.offtake_t_per_year)
        self.term_quarters = np.zeros_like(self.term_quarters)
        self.cap_t = np.full(self.floor.shape, np.inf)
        self.domestic_only = np.zeros(self.floor.shape, dtype=bool)
        self.home_first = np.zeros(self.floor.shape, dtype=bool)
        self.renew_below = np.zeros(self.floor.shape)
        for entries in self._entries.values():
            for b, s, fl, off, term, cap, domestic, home_first, renew_below in entries:
                self.floor[b, s] = max(self.floor[b, s], fl)
                if fl > 0 and domestic:
                    self.domestic_only[b, s] = True
                    self.home_first[b, s] |= home_first
                self.offtake_t_per_year[b, s] += off
                if fl > 0 and term > 0:
                    self.term_quarters[b, s] = max(self.term_quarters[b, s], int(round(4 * term)))
                    self.cap_t[b, s] = min(self.cap_t[b, s], cap)
                    self.renew_below[b, s] = max(self.renew_below[b, s], renew_below)
        self.room_t = self.cap_t.copy()

    def investor_floor(self) -> np.ndarray:
        """(B, S) the floor a new plant can expect: 0 where per-plant agreements have filled their cap."""
        return np.where(self.room_t > 0, self.floor, 0.0)

    def row_floor(self, pop, quarter: int, price: np.ndarray | None = None) -> np.ndarray | None:
        """(n,) the floor each firm holds now (0: none): its bloc-stage's floor, where a per-plant term applies only
        while the firm's agreement runs (``pop.floor_end_q`` > quarter). None when no floor is in force.

        With the index ``price`` (B, S), what a kg earns under the floor: where the floor covers domestic sales alone,
        ``p + h x max(F - p, 0)``, h the home share of the plant's last sales (output less exports, over output), or
        its bloc-stage's where it sold nothing (1 where the bloc-stage sold nothing): the shut-down, care-and-maintenance
        and index cost-floor rules read it."""
        if not np.any(self.floor > 0):
            return None
        f = self.floor[pop.bloc, pop.stage]
        per_plant = self.term_quarters[pop.bloc, pop.stage] > 0
        f = np.where(per_plant & (pop.floor_end_q <= quarter), 0.0, f)
        if price is None or not self.domestic_only.any():
            return f
        # a floor on domestic sales lifts only the home share of what the plant sells: its own last sales, or its
        # bloc-stage's where it sold nothing (a plant on care and maintenance, a new one)
        p = price[pop.bloc, pop.stage]
        sold = np.maximum(pop.output_t, 0.0)
        home = home_sold(pop)
        B, S = self.floor.shape
        key = pop.bloc.astype(np.int64) * S + pop.stage
        cell_sold = np.bincount(key, weights=sold, minlength=B * S)
        cell_home = np.bincount(key, weights=home, minlength=B * S)
        cell_share = np.divide(cell_home, cell_sold, out=np.ones(B * S), where=cell_sold > 0)
        share = np.divide(home, sold, out=cell_share[key], where=sold > 0)
        blended = p + share * np.maximum(f - p, 0.0)
        return np.where(self.domestic_only[pop.bloc, pop.stage] & (f > 0), blended, f)

    def reserve_home(
        self,
        pop,
        quarter: int,
        s: int,
        sup: np.ndarray,
        class_bloc: np.ndarray,
        demand: np.ndarray,
        avail: np.ndarray,
        class_open: np.ndarray,
        landed: np.ndarray,
        index: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Orders that stage s's suppliers ``sup`` holding a floor on domestic sales with ``home_first`` place with their
        own bloc's buyer classes before the market clears the rest, and what those buyers pay: ((K, N) t, (K, N) USD/kg
        below the landed price ``landed`` on every kg the plant delivers to the class, under a contract or not, (B,) the
        blocs whose plants do so), or None when no plant here holds such a floor above its index. Such a bloc's index
        does not rise above what imports cost its buyers (sim.engine.prices), the price at which its plants sell at home.

        A plant whose floor is above its bloc's ``index`` (B,) earns the floor on a kg sold at home and the index on a
        kg exported, so it sells at home first and, where its buyers could import for less, at what the cheapest import
        open to them costs landed (the state's top-up pays the floor less what the buyer paid); a plant whose index is
        at or above its floor sells like any other (assumption: a plant's own choice; without it the logit spreads its
        output over every bloc's buyers by their demand, and a young bloc's plants export most of it). ``demand`` (K,)
        and ``avail`` (N,) are what is left after offtake contracts; ``class_open`` (K, N) False where a class may not
        buy from a supplier. Class k's order on plant j is ``demand_k x avail_j / max(V_k, D_j)``, V_k the floored
        volume open to k and D_j the home demand open to j: every class is served in full where the plants can, every
        plant sells out where the demand is there, each within what it has."""
        if not self.home_first[:, s].any():
            return None
        held = self.row_floor(pop, quarter)
        if held is None:
            return None
        b_sup = pop.bloc[sup]
        binding = (held[sup] > index[b_sup]) & self.home_first[b_sup, s]
        if not binding.any():
            return None
        vol = np.where(binding, np.maximum(avail, 0.0), 0.0)
        home = class_bloc[:, None] == b_sup[None, :]
        link = home & class_open & (vol[None, :] > 0)
        d = np.where(link, np.maximum(demand, 0.0)[:, None], 0.0)
        v = np.where(link, vol[None, :], 0.0)
        V = v.sum(axis=1, keepdims=True)  # (K, 1) floored volume open to each class
        D = d.sum(axis=0, keepdims=True)  # (1, N) home demand open to each plant
        den = np.maximum(V, D)
        alloc = np.divide(d * v, den, out=np.zeros_like(d), where=den > 0)
        # every kg such a plant sells at home (under an offtake contract too) goes at no more than imports cost landed
        imports = np.where(class_open & ~home, landed, np.inf).min(axis=1, keepdims=True)  # ``sup`` all offer output
        discount = np.where(home & binding[None, :] & np.isfinite(imports), np.maximum(landed - imports, 0.0), 0.0)
        blocs = np.zeros(len(index), dtype=bool)
        blocs[b_sup[binding]] = True
        return alloc, discount, blocs

    def charged_contract_floor(self, pop, quarter: int, yields: bool, rows=slice(None)) -> np.ndarray:
        """(rows,) the offtake contract floor (sim.engine.contracts) each row's buyers pay, USD/kg (0 without a
        contract). ``yields`` (``procurement.offtake_floor_yields_to_state_floor``): a plant that holds a state floor at
        or above its contract's floor charges none, as the state already guarantees it that price and tops up from the
        index (a buyer does not pay for a guarantee the state gives)."""
        floor = np.where(pop.contract_t[rows] > 0, pop.contract_floor[rows], 0.0)
        held = self.row_floor(pop, quarter) if yields else None
        return floor if held is None else np.where(held[rows] >= floor, 0.0, floor)

    def sign_agreements(self, pop, quarter: int, self_sufficiency: np.ndarray | None = None) -> None:
        """Per-plant floors: every operating plant of a floored bloc-stage that has never held an agreement signs one,
        running ``term_quarters`` from now (the programme's incumbents at its start, new plants at first output). With
        ``self_sufficiency`` (B, S), the bloc's own output over its final need this quarter: where it is below
        ``renew_below``, an operating plant whose agreement has ended signs another term, before any new plant under a cap."""
        if not np.any(self.term_quarters > 0):
            return
        term = self.term_quarters[pop.bloc, pop.stage]
        floored = pop.alive & pop.operating & (term > 0) & (self.floor[pop.bloc, pop.stage] > 0)
        new = floored & (pop.floor_end_q < 0)
        renew = np.zeros_like(new)
        if self_sufficiency is not None and np.any(self.renew_below > 0):
            short = self_sufficiency < self.renew_below  # NaN (no need) is never short
            renew = floored & (pop.floor_end_q >= 0) & (pop.floor_end_q <= quarter) & short[pop.bloc, pop.stage]
        if np.isfinite(self.cap_t).any():  # capped cells: renewals, then new plants, sign in row order while their nameplate fits
            held = pop.alive & (pop.floor_end_q > quarter)
            for b, s in zip(*np.nonzero(np.isfinite(self.cap_t) & (self.term_quarters > 0))):
                cell = (pop.bloc == b) & (pop.stage == s)
                room = self.cap_t[b, s] - pop.capacity_t[cell & held].sum()
                for signing in (renew, new):
                    for i in np.flatnonzero(cell & signing):
                        if pop.capacity_t[i] <= room:
                            room -= pop.capacity_t[i]
                        else:
                            signing[i] = False
                self.room_t[b, s] = room
        signs = new | renew
        pop.floor_end_q[signs] = quarter + term[signs]

    def floored(self, price: np.ndarray, home: np.ndarray | None = None) -> np.ndarray:
        """(B, S) ``max(price, investor_floor())``, the price a new plant can expect (the floor itself where per-plant
        agreements have no cap or room left under it); the same array when no floor is in force. Where the floor covers
        domestic sales alone, it lifts the share ``home`` of the sales (the bloc's own buyers' share,
        sim.engine.investment.domestic_sales_share): ``home x max(price, floor) + (1 - home) x price``."""
        if not np.any(self.floor > 0):
            return price
        lifted = np.maximum(price, self.investor_floor())
        if home is None or not self.domestic_only.any():
            return lifted
        return np.where(self.domestic_only, home * lifted + (1.0 - home) * price, lifted)

    # -- policy module -------------------------------------------------------
    def install(self, model) -> None:
        """Nothing to install: floors are added by the policies and events that set them."""

    def quarter(self, model) -> None:
        self.apply_quarter(model)

    def year(self, model) -> None:
        """Nothing yearly."""

    def retire(self, model) -> None:
        """Every floor ends (what was paid stays booked)."""
        for name in self.names():
            self.remove(name)

    def fiscal_musd(self) -> dict[tuple[int, str], float]:
        return {(b, FISCAL_KEY): v for b, v in self.paid_musd.items()}

    # -- each quarter ---------------------------------------------------------
    def place_offtake(self, model, s: int, sup: np.ndarray) -> None:
        """After stage s has cleared: the state orders spare output of domestic producers, up to V/4."""
        self._orders.pop(s, None)
        if not np.any(self.offtake_t_per_year[:, s] > 0) or len(sup) == 0:
            return
        pop = model.pop
        rows_all, qty_all = [], []
        for b in np.flatnonzero(self.offtake_t_per_year[:, s] > 0):
            rows = sup[pop.bloc[sup] == b]
            spare = np.maximum(pop.potential_t[rows] - pop.orders_t[rows], 0.0)
            total = spare.sum()
            if total <= 1e-12:
                continue
            buy = spare * min(self.offtake_t_per_year[b, s] / 4.0 / total, 1.0)
            pop.orders_t[rows] += buy
            rows_all.append(rows)
            qty_all.append(buy)
        if rows_all:
            self._orders[s] = (np.concatenate(rows_all), np.concatenate(qty_all))

    def state_orders_t(self, s: int, bloc: np.ndarray, B: int) -> np.ndarray:
        """(B,) t the state ordered this quarter of stage s's spare output, by the supplier's bloc (``bloc``: the
        bloc of every row); zeros when it ordered none."""
        rows, qty = self._orders.get(s, (np.zeros(0, dtype=np.int64), np.zeros(0)))
        return np.bincount(bloc[rows], weights=qty, minlength=B)

    def apply_quarter(self, model) -> None:
        """Policy step: pay floor top-ups into grants, record offtake and the fiscal cost."""
        B = len(self.blocs)
        self.quarter_cost_musd = np.zeros(B)
        self.topup_musd = np.zeros(B)
        self.offtake_t = np.zeros_like(self.offtake_t)
        orders, self._orders = self._orders, {}
        if not self.active and not orders:
            return
        pop, price = model.pop, model.trade_price
        self.sign_agreements(pop, model.quarter, model.self_sufficiency() if np.any(self.renew_below > 0) else None)
        # 1. floor top-ups on everything the floored producers sold this quarter (per-plant agreements: while they run),
        # up from the price each tonne realised: the index, or an offtake contract's floor on what was sold under it
        # (sim.engine.contracts: its buyers pay that floor), so that a tonne is not topped up twice
        f = self.row_floor(pop, model.quarter)
        f = np.zeros(len(pop.bloc)) if f is None else f
        index = price[pop.bloc, pop.stage]
        # what the floor covers: all a plant sold, or with domestic_only what it did not export (to its bloc's buyers and
        # the state; contracts are with its bloc's buyers)
        sold = np.where(self.domestic_only[pop.bloc, pop.stage], home_sold(pop), pop.output_t)
        under = np.minimum(pop.contract_sold_t, sold)
        realised = np.maximum(index, self.charged_contract_floor(pop, model.quarter, model.world.procurement.offtake_floor_yields_to_state_floor))
        gap = np.maximum(f - index, 0.0) * (sold - under) + np.maximum(f - realised, 0.0) * under
        # home-first sales below the index (reserve_home): the top-up pays the floor less what the buyer paid
        topup = np.where(pop.alive & (f > 0), gap / 1000.0 + pop.home_discount_musd, 0.0)
        pop.grants = pop.grants + topup
        self.topup_musd = np.bincount(pop.bloc, weights=topup, minlength=B)
        # 2. offtake: what the state received, paid at the traded price (the top-up covers the rest of the floor)
        cost = self.topup_musd.copy()
        for s, (rows, qty) in orders.items():
            ratio = np.divide(pop.output_t[rows], pop.orders_t[rows], out=np.zeros(len(rows)), where=pop.orders_t[rows] > 0)
            got = qty * np.minimum(ratio, 1.0)
            b = pop.bloc[rows]
            self.offtake_t[:, s] += np.bincount(b, weights=got, minlength=B)
            cost += np.bincount(b, weights=got * price[b, s] / 1000.0, minlength=B)
        self.quarter_cost_musd = cost
        # cumulative public money per bloc, booked as instrument FISCAL_KEY (fiscal_musd)
        payers = set(np.flatnonzero((self.floor > 0).any(axis=1) | (self.offtake_t_per_year > 0).any(axis=1)).tolist())
        payers |= set(np.flatnonzero(cost > 0).tolist())
        for b in sorted(payers):
            self.paid_musd[b] = self.paid_musd.get(b, 0.0) + float(cost[b])


@dataclass
class PriceFloorParams(EventParams):
    bloc: str = ""
    floor_usd_per_kg: dict[str, float] = field(default_factory=dict)  # stage -> floor paid to domestic producers
    offtake_t_per_year: dict[str, float] = field(default_factory=dict)  # stage -> what the state buys at most


@register_event
class PriceFloor(ScenarioEvent):
    kind = "price_floor"
    Params = PriceFloorParams
    question = "Does a state price floor with guaranteed offtake make investors build a stage, and at what fiscal cost?"

    def apply(self, model) -> None:
        p = self.params
        model.price_floors.add_stages(f"event:{self.name}", p.bloc, p.floor_usd_per_kg, p.offtake_t_per_year, model.world.scale)

    def revert(self, model) -> None:
        model.price_floors.remove(f"event:{self.name}")

    @classmethod
    def check(cls, key, params, cfg) -> None:
        check_bloc(f"{key}.bloc", params.bloc, cfg)
        check_stage_values(f"{key}.floor_usd_per_kg", params.floor_usd_per_kg, cfg)
        check_stage_values(f"{key}.offtake_t_per_year", params.offtake_t_per_year, cfg)
        if not any(v > 0 for v in list(params.floor_usd_per_kg.values()) + list(params.offtake_t_per_year.values())):
            stages = ", ".join(cfg.world.stages)
            raise ConfigError(f"{key}.floor_usd_per_kg", f"give a floor or an offtake volume > 0 for at least one stage; stages: {stages}")
