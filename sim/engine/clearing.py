"""Markets and production, step 2 of the quarter (MODEL.md 3, 5.1, 5.2).

Markets clear stage by stage from magnets upstream to mining: final buyers order
magnets, magnet makers' orders set the demand for metal, and so on. Production
then flows down: a firm produces its orders times the fill ratio of the inputs its
buyer class secured upstream, and final buyers receive their classes' deliveries
pro rata. Each stage's outcome is kept as a :class:`StageClearing`
(``model.last_clearing``) for the price update and the records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from agents.firms import mothball, restart_funded, set_potential
from sim.engine import contracts, market_kernels
from sim.engine.entry_exit import draw_scrap_counts
from sim.engine.markets import allocate

if TYPE_CHECKING:  # pragma: no cover
    from sim.engine.model import ChainModel


@dataclass
class StageClearing:
    """What one stage's market produced this quarter (kept for production and records).

    Buyer classes k are final-buyer classes (bloc, state-owned, domestic-only) at the magnet
    stage and (bloc, state group) classes of the next stage's firms upstream of it.
    """

    suppliers: np.ndarray  # rows of supplying firms
    alloc: np.ndarray  # (K, N) orders of class k on supplier j, t
    demand: np.ndarray  # (K,) t
    unmet: np.ndarray  # (K,) t
    class_bloc: np.ndarray  # (K,)
    landed: np.ndarray  # (K, N) price class k pays supplier j, USD/kg
    buyer_rows: np.ndarray | None = None  # firm rows buying at this stage (None: final buyers)
    buyer_class: np.ndarray | None = None  # class index of each buyer row
    # set when production flows down (_produce)
    delivered: np.ndarray | None = None  # (K, N) tonnes supplier j delivered to class k
    delivered_to_class: np.ndarray | None = None  # (K,) tonnes class k received
    cost_to_class: np.ndarray | None = None  # (K,) what class k paid, t x USD/kg (/ 1000: M USD)
    contracted: np.ndarray | None = None  # (K, N) orders of class k on supplier j under offtake contracts (None: none)
    # ((K, N) orders, (K, N) USD/kg below the landed price, (B,) blocs) of floored plants serving their own bloc first
    # (None: none; scenarios.price_floor.PriceFloors.reserve_home)
    home_first: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    _to_bloc: dict[int, np.ndarray] = field(default_factory=dict, repr=False)  # delivered_to_bloc, once computed
    _by_origin: dict[int, np.ndarray] = field(default_factory=dict, repr=False)  # delivered_by_origin, once computed

    def delivered_to_bloc(self, b: int) -> np.ndarray:
        """(N,) tonnes each supplier delivered to bloc b's classes this quarter: the rows of ``delivered`` of those
        classes summed (numpy's sum over the first axis), computed once for its readers; ``delivered`` is set once
        (:func:`_produce`)."""
        got = self._to_bloc.get(b)
        if got is None:
            if len(self.suppliers) > 1:  # the same numbers, compiled (market_kernels.bloc_deliveries)
                got, _ = market_kernels.bloc_deliveries(self.delivered, self.class_bloc, b, np.zeros(len(self.suppliers), dtype=np.int16), 1)
            else:  # numpy sums a single column pairwise
                got = self.delivered[self.class_bloc == b].sum(axis=0)
            self._to_bloc[b] = got
        return got

    def delivered_by_origin(self, b: int, supplier_bloc: np.ndarray, n_blocs: int) -> np.ndarray:
        """(n_blocs,) tonnes bloc b's classes received this quarter from each bloc's suppliers (``supplier_bloc``: the
        suppliers' blocs): :meth:`delivered_to_bloc` summed by origin as numpy's bincount adds it, computed once for
        its readers (sim.engine.security, and the investors' sales within reach, sim.engine.investment)."""
        got = self._by_origin.get(b)
        if got is None:
            if len(self.suppliers) > 1 and b not in self._to_bloc:
                self._to_bloc[b], got = market_kernels.bloc_deliveries(self.delivered, self.class_bloc, b, supplier_bloc, n_blocs)
            else:
                got = np.bincount(supplier_bloc, weights=self.delivered_to_bloc(b), minlength=n_blocs)
            self._by_origin[b] = got
        return got


def clear_markets_and_produce(model: ChainModel) -> None:
    """Markets clear from magnets upstream; production flows down limited by inputs (MODEL.md 3.2, 5.1)."""
    _offer(model)
    clearings, final_links = _clear_upstream(model)
    _produce(model, clearings)
    _deliver_to_final_buyers(model, clearings[model.tables.S - 1], final_links)
    _record_first_outputs(model)
    model.last_clearing = clearings


def landed_price(model: ChainModel, s: int) -> np.ndarray:
    """(B buyer bloc, B supplier bloc) price paid per kg including freight and tariff.

    The tariff is the world's ``import_tariff`` of the buyer bloc plus the tariffs in force on this
    origin and stage (``model.instruments.tariff``, scenarios.tariff; zero when none: adding 0.0 is exact)."""
    T = model.tables
    p = model.markets.price[:, s]
    extra = model.instruments.tariff[:, :, s]
    # every (buyer b, origin c) pair at once, each element by the same operations in the same order as one pair alone
    landed = (p * (1.0 - model.instruments.export_discount[:, s]))[None, :] * (1.0 + (T.import_tariff[:, None] + extra)) + T.freight_usd_per_kg[s]
    np.fill_diagonal(landed, p)  # a bloc's own suppliers: the index
    return landed


def final_classes(model: ChainModel):
    """Final buyer classes: (bloc, state-owned, domestic-only, banned origins) with their demand; buyer -> class
    shares. Banned origins come from sourcing bans naming the buyer (scenarios.sourcing_ban); with none in
    force every buyer's are empty, and the classes are those of (bloc, state-owned, domestic-only).
    Returns class bloc, state-owned, domestic-only, (K, B) banned-origin mask, demand and the links."""
    keys: dict[tuple, int] = {}
    demand: list[float] = []
    links = []  # (buyer, class, share of its demand)
    bans = model.instruments.buyer_bans
    for buyer in model.buyers:
        ban = bans.get(buyer.name)
        banned = tuple(int(c) for c in np.flatnonzero(ban > 0)) if ban is not None else ()
        parts = [(False, 1.0 - buyer.domestic_mandate), (True, buyer.domestic_mandate)]
        for domestic_only, share in parts:
            if share <= 0:
                continue
            key = (buyer.bloc, buyer.state_owned, domestic_only, banned)
            if key not in keys:
                keys[key] = len(demand)
                demand.append(0.0)
            k = keys[key]
            demand[k] += buyer.demand_t * share
            links.append((buyer, k, share))
    kl = list(keys)
    class_ban = np.zeros((len(kl), model.tables.B), dtype=bool)
    for k, key in enumerate(kl):
        class_ban[k, list(key[3])] = True
    return (
        np.array([k[0] for k in kl], dtype=int),
        np.array([k[1] for k in kl], dtype=bool),
        np.array([k[2] for k in kl], dtype=bool),
        class_ban,
        np.array(demand),
        links,
    )


def preferences(model: ChainModel, s: int, sup: np.ndarray, class_bloc, class_state, class_group, class_domestic, class_ban=None):
    """(K, N) logit preference and landed prices of each class for each supplier; ``class_ban``: (K, B) origins
    each class may not buy from (final classes; None upstream).

    A class's preference for a supplier reads only the supplier's bloc, state group and procurement discount, so
    it is computed once per distinct (bloc, group, discount) among the suppliers (:func:`supplier_types`) and
    spread to the suppliers by a gather: element by element the same arithmetic on the same numbers, so the same
    bits as computing every (class, supplier) pair, at the cost of a few columns instead of N."""
    pop = model.pop
    col, rep = supplier_types(pop, sup)
    pref, landed = _preferences_dense(model, s, sup[rep], class_bloc, class_state, class_group, class_domestic, class_ban)
    return np.take(pref, col, axis=1), np.take(landed, col, axis=1)


def supplier_types(pop, sup: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Suppliers ``sup`` by what their buyers' preferences read: (N,) type of each supplier and (T,) the position in
    ``sup`` of one supplier of each type, a type being a distinct (bloc, state group, procurement discount)."""
    n = len(sup)
    if n == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    group = pop.group[sup].astype(np.intp)
    key = pop.bloc[sup].astype(np.intp)
    key *= int(group.max()) + 2
    key += group
    key += 1  # group -1 (none) -> 0
    disc, n_disc = _value_codes(pop.procurement_discount[sup])
    if n_disc > 1:
        key *= n_disc
        key += disc
    present = np.zeros(int(key.max()) + 1, dtype=bool)
    present[key] = True
    lut = np.cumsum(present) - 1
    col = lut[key]
    rep = np.empty(int(lut[-1]) + 1, dtype=np.intp)
    rep[col] = np.arange(n)  # any supplier of a type stands for it: they have the same inputs
    return col, rep


def _value_codes(v: np.ndarray, few: int = 8) -> tuple[np.ndarray, int]:
    """(N,) code of each value of ``v`` among its distinct values and their count: a scan per value while there are
    at most ``few`` (procurement discounts take a handful of levels), a sort beyond. Values that compare unequal
    (NaN) may get codes of their own: a type is then split, never merged."""
    codes = np.zeros(len(v), dtype=np.intp)
    todo = v != v[0]
    n = 1
    while todo.any():
        if n >= few:
            _, inv = np.unique(v, return_inverse=True)
            return inv.astype(np.intp, copy=False), int(inv.max()) + 1
        same = v == v[int(np.argmax(todo))]
        if not same.any():  # NaN: equal to nothing, itself included
            _, inv = np.unique(v, return_inverse=True)
            return inv.astype(np.intp, copy=False), int(inv.max()) + 1
        codes[same] = n
        todo &= ~same
        n += 1
    return codes, n


def _preferences_dense(model: ChainModel, s: int, sup: np.ndarray, class_bloc, class_state, class_group, class_domestic, class_ban=None):
    """:func:`preferences` computed for every (class, supplier) pair of ``sup``."""
    T, pop, P = model.tables, model.pop, model.world.markets
    landed = landed_price(model, s)[class_bloc][:, pop.bloc[sup]]
    discount = np.zeros_like(landed)
    same_group = (class_group[:, None] >= 0) & (class_group[:, None] == pop.group[sup][None, :])
    discount += np.where(same_group, P.same_group_discount, 0.0)
    discount += np.where(class_state[:, None], pop.procurement_discount[sup][None, :], 0.0)
    effective = landed * (1.0 - np.clip(discount, 0.0, 0.95))
    markup = model.security.markup(class_bloc, pop.bloc[sup])  # buyers' security premium on risky origins (sim.engine.security)
    if markup is not None:
        effective = effective * markup
    pref = np.exp(-P.logit_beta * effective / T.reference_price_usd_per_kg[s])
    foreign = class_bloc[:, None] != pop.bloc[sup][None, :]
    pref = np.where(class_domestic[:, None] & foreign, 0.0, pref)
    banned = sourcing_banned(model, s, sup, class_bloc, class_ban)
    if banned is not None:
        pref = np.where(banned, 0.0, pref)
    return pref, landed


def sourcing_banned(model: ChainModel, s: int, sup: np.ndarray, class_bloc, class_ban=None) -> np.ndarray | None:
    """(K, N) True where a sourcing ban (scenarios.sourcing_ban) forbids class k to buy from supplier j at
    stage s: every class of a banning bloc (``model.instruments.ban_all``), or final classes whose buyers
    a ban names (``class_ban``). None when no ban is in force here (preferences are then untouched)."""
    ban_all = model.instruments.ban_all[:, :, s]
    named = class_ban is not None and class_ban.any()
    if not (named or ban_all.any()):
        return None
    origin = model.pop.bloc[sup]
    out = ban_all[class_bloc][:, origin] > 0
    if named:
        out |= class_ban[:, origin]
    return out


def _restart_funded(model: ChainModel, row_floor: np.ndarray | None) -> np.ndarray:
    """(n,) whether each firm could finance a restart this quarter (agents.firms.restart_funded), read on the plants
    on care and maintenance only (no other row restarts); with ``markets.restart_counts_margin`` the quarter's margin
    counts, at the R&D factor of China's deduction the quarter's accounts will apply (ChainModel.rd_tax_now)."""
    pop = model.pop
    funded = np.zeros(len(pop), dtype=bool)
    idle = np.flatnonzero(pop.mothballed)
    if not len(idle):
        return funded
    with_margin = model.world.markets.restart_counts_margin
    rd_tax = model.rd_tax_now() if with_margin else None
    funded[idle] = restart_funded(
        pop,
        model.tables,
        model.world.finance,
        model.markets.price,
        model.world.markets.max_utilisation,
        row_floor,
        None if rd_tax is None else rd_tax[0],
        with_margin,
        rows=idle,
    )
    return funded


def _offer(model: ChainModel) -> None:
    """Plants mothball or restart (``mothball``); each firm's potential output this quarter (output quotas included);
    orders and output start at zero."""
    T, pop, P, mk = model.tables, model.pop, model.world.markets, model.markets
    row_floor = model.price_floors.row_floor(pop, model.quarter, mk.price)
    shut, restart = mothball(
        pop,
        T,
        mk.price,
        P.mothball_after_quarters,
        P.mothball_fixed_cost_saved,
        P.target_utilisation,
        row_floor,
        P.restart_premium,
        P.max_utilisation if P.mothball_serves_orders else 0.0,
        _restart_funded(model, row_floor) if P.restart_needs_funds else None,
    )
    if len(shut) or len(restart):
        draw_scrap_counts(model, shut)
        model.log_rows("mothball", shut, values=pop.capacity_t[shut])
        model.log_rows("restart", restart, values=pop.capacity_t[restart])
    set_potential(pop, T, P.max_utilisation, mk.price, P.shutdown_tolerance, row_floor)
    quota = model.instruments.quota_outside_groups
    if (quota < 1.0).any():  # output quotas: firms outside the state groups get a share only
        outside = T.private_outside_state_groups(pop.group, pop.state_owned)
        pop.potential_t = np.where(outside, pop.potential_t * quota[pop.bloc, pop.stage], pop.potential_t)
    cap = model.instruments.output_cap_t
    if cap is not None and not np.isfinite(cap).any():
        cap = None
    model.output_cap_in_force = None if cap is None else cap.copy()  # recorded: output_quota_t
    if cap is not None:  # national output quotas: the bloc-stage's output at most a quarter of it
        total = T.bs_sum(pop.bloc, pop.stage, np.where(pop.alive, pop.potential_t, 0.0))
        scale = np.where(total > cap / 4.0, np.divide(cap / 4.0, total, out=np.ones_like(total), where=total > 0), 1.0)
        pop.potential_t = pop.potential_t * scale[pop.bloc, pop.stage]
    pop.orders_t = 0.0
    pop.output_t = 0.0
    pop.inputs_t = 0.0
    pop.input_cost = 0.0
    pop.contract_sold_t = 0.0
    pop.exported_t = 0.0
    pop.home_discount_musd = 0.0


def _clear_upstream(model: ChainModel) -> tuple[dict[int, StageClearing], list]:
    """Each stage's market, magnets first: suppliers' orders there set the demand of the stage above.
    Returns the clearings by stage and the final buyers' links to their classes."""
    T, pop, mk = model.tables, model.pop, model.markets
    S, B = T.S, T.B
    G1 = len(T.groups) + 1
    clearings: dict[int, StageClearing] = {}
    final_links = None
    for s in range(S - 1, -1, -1):
        sup = np.flatnonzero((pop.stage == s) & (pop.potential_t > 0))
        if s == S - 1:
            c_bloc, c_state, c_dom, c_ban, demand, final_links = final_classes(model)
            c_group = np.full(len(c_bloc), -1)
            buyer_rows = buyer_class = None
        else:  # classes of the next stage's firms: (bloc, state group or none)
            buyer_rows = np.flatnonzero((pop.stage == s + 1) & (pop.orders_t > 0))
            buyer_class = pop.bloc[buyer_rows].astype(int) * G1 + (pop.group[buyer_rows].astype(int) + 1)
            need = pop.orders_t[buyer_rows] * T.input_per_t[s + 1]
            demand = np.bincount(buyer_class, weights=need, minlength=B * G1).astype(float)
            c_bloc = np.repeat(np.arange(B), G1)
            c_group = np.tile(np.arange(G1) - 1, B)
            c_state = np.zeros(B * G1, dtype=bool)
            c_dom = np.zeros(B * G1, dtype=bool)
            c_ban = None
        pref, landed = preferences(model, s, sup, c_bloc, c_state, c_group, c_dom, c_ban)
        class_open = pref > 0  # where a class may buy from a supplier at all (bans, mandates)
        pre = contracts.reserve(model, s, sup, c_bloc, demand, class_open)  # offtake contracts are served first (sim.engine.contracts)
        rest_demand, rest_avail = demand, pop.potential_t[sup]
        if pre is not None:
            rest_demand = np.maximum(demand - pre.sum(axis=1), 0.0)
            rest_avail = np.maximum(rest_avail - pre.sum(axis=0), 0.0)
            mk.use_export_quota(s, c_bloc, pre, pop.bloc[sup])  # contracted sales abroad count against export quotas first
        # then plants holding a floor on domestic sales serve their own bloc's buyers (scenarios.price_floor.reserve_home)
        home = model.price_floors.reserve_home(pop, model.quarter, s, sup, c_bloc, rest_demand, rest_avail, class_open, landed, mk.price[:, s])
        if home is not None:
            rest_demand = np.maximum(rest_demand - home[0].sum(axis=1), 0.0)
            rest_avail = np.maximum(rest_avail - home[0].sum(axis=0), 0.0)
        res = _allocate_traded(model, s, sup, c_bloc, rest_demand, rest_avail, pref)
        if pre is not None:
            res.alloc = res.alloc + pre
        if home is not None:
            res.alloc = res.alloc + home[0]
        pop.orders_t[sup] = res.alloc.sum(axis=0)
        model.price_floors.place_offtake(model, s, sup)  # the state buys spare domestic output (offtake)
        clearings[s] = StageClearing(sup, res.alloc, demand, res.unmet, c_bloc, landed, buyer_rows, buyer_class, contracted=pre, home_first=home)
    return clearings, final_links


def _allocate_traded(model: ChainModel, s: int, sup: np.ndarray, c_bloc: np.ndarray, demand, avail, pref):
    """``allocate`` under the stage's export controls and export quotas (scenarios.export_quota); sales abroad are
    counted against the quotas. Stages clear downstream first, so a quota shared by stages serves the most
    processed product first."""
    mk = model.markets
    quota = mk.quota_left_t(s)  # None: no quota at this stage
    with_quota = {} if quota is None else {"quota_t": quota, "class_bloc": c_bloc}
    P = model.world.markets
    licensed = mk.licensed_share(s, c_bloc)
    res = allocate(demand, avail, pref, P.rationing_rounds, model.pop.bloc[sup], licensed, **with_quota, resplit_passes=P.sold_out_resplit_passes)
    if quota is not None:
        mk.use_export_quota(s, c_bloc, res.alloc, model.pop.bloc[sup])
    return res


def _produce(model: ChainModel, clearings: dict[int, StageClearing]) -> None:
    """Production flows down: output = orders x the fill ratio of the firm's input class."""
    T, pop = model.tables, model.pop
    delivered_to_class = prev_cost_to_class = None  # of the stage below, for the next one up
    for s in range(T.S):
        cl = clearings[s]
        sup = cl.suppliers
        if s == 0:
            pop.output_t[sup] = pop.orders_t[sup]
        else:
            prev = clearings[s - 1]
            fill = np.divide(delivered_to_class, prev.demand, out=np.zeros_like(prev.demand), where=prev.demand > 0)
            cost_per_t = np.divide(prev_cost_to_class, delivered_to_class, out=np.zeros_like(prev.demand), where=delivered_to_class > 0)
            rows, cls = prev.buyer_rows, prev.buyer_class
            output = pop.orders_t[rows] * fill[cls]
            inputs = output * T.input_per_t[s]
            pop.output_t[rows] = output
            pop.inputs_t[rows] = inputs
            pop.input_cost[rows] = inputs * cost_per_t[cls] / 1000.0
        orders = pop.orders_t[sup]
        ratio = np.divide(pop.output_t[sup], orders, out=np.zeros(len(sup)), where=orders > 0)
        if len(sup) != 1:  # the same numbers in one compiled pass (market_kernels.deliver_rows)
            delivered = np.empty_like(cl.alloc)
            exported = np.empty(len(sup))
            delivered_to_class, prev_cost_to_class = market_kernels.deliver_rows(
                np.ascontiguousarray(cl.alloc), ratio, np.ascontiguousarray(cl.landed), cl.class_bloc, pop.bloc[sup], delivered, exported
            )
            pop.exported_t[sup] = exported
        else:  # numpy sums a single column pairwise
            delivered = cl.alloc * ratio[None, :]
            delivered_to_class = delivered.sum(axis=1)
            scratch = np.multiply(delivered, cl.landed)  # (K, N) what each delivery cost, then the deliveries abroad
            prev_cost_to_class = scratch.sum(axis=1)
            abroad = cl.class_bloc[:, None] != pop.bloc[sup][None, :]
            scratch.fill(0.0)
            np.copyto(scratch, delivered, where=abroad)
            pop.exported_t[sup] = scratch.sum(axis=0)
        if cl.contracted is not None:  # contracted deliveries: their buyers pay the contract's floor where it is above the index
            under = cl.contracted * ratio[None, :]
            pop.contract_sold_t[sup] = under.sum(axis=0)
            prev_cost_to_class = prev_cost_to_class + (under * contracts.floor_gap(model, sup, s)[None, :]).sum(axis=1)
        if cl.home_first is not None:  # floored plants' home deliveries: their buyers pay no more than imports cost
            off = delivered * cl.home_first[1]
            prev_cost_to_class = prev_cost_to_class - off.sum(axis=1)
            pop.home_discount_musd[sup] = off.sum(axis=0) / 1000.0
        cl.delivered = delivered
        cl.delivered_to_class = delivered_to_class
        cl.cost_to_class = prev_cost_to_class


def _deliver_to_final_buyers(model: ChainModel, final: StageClearing, final_links: list) -> None:
    """Final buyers receive their classes' magnet deliveries pro rata, at their classes' average cost."""
    fill_final = np.divide(final.delivered_to_class, final.demand, out=np.zeros_like(final.demand), where=final.demand > 0)
    cost_final = np.divide(final.cost_to_class, final.delivered_to_class, out=np.zeros_like(final.demand), where=final.delivered_to_class > 0)
    for buyer in model.buyers:
        buyer.received_t = buyer.shortage_t = buyer.spend_musd = 0.0
    for buyer, k, share in final_links:
        got = buyer.demand_t * share * fill_final[k]
        buyer.received_t += got
        buyer.shortage_t += buyer.demand_t * share - got
        buyer.spend_musd += got * cost_final[k] / 1000.0


def _record_first_outputs(model: ChainModel) -> None:
    """Plants producing for the first time: their quarter, for the mine-to-magnet timeline (MODEL.md 7)."""
    pop = model.pop
    first = (pop.first_output_step < 0) & (pop.output_t > 0)
    pop.first_output_step[first] = model.quarter
    fr = np.flatnonzero(first)
    if len(fr):
        model.first_outputs.append(np.stack([pop.bloc[fr], pop.stage[fr], pop.birth_step[fr], np.full(len(fr), model.quarter)], axis=1))
    model.log_rows("first_output", np.flatnonzero(first & (pop.birth_step >= 0)))
