"""Prices after clearing, the end of step 2 of the quarter (MODEL.md 3, 5.1).

Sellers are paid the price index buyers faced this quarter (``model.trade_price``).
Then each bloc's price index per stage moves: input-cost changes pass through one for
one per kg, and the index follows the utilisation of the bloc's suppliers and the
shortage of its buyers between a cost floor and a ceiling (``markets.update_price``);
a bloc without producers takes import parity. Average landed prices paid and their
expectation update for the investors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from agents.firms import processing_cost
from sim.engine.clearing import StageClearing, landed_price
from sim.engine.markets import bound_side, update_price

if TYPE_CHECKING:  # pragma: no cover
    from sim.engine.model import ChainModel


def update_prices(model: ChainModel) -> np.ndarray:
    """Bloc price indices move with demand on the bloc's suppliers (MODEL.md 5.1). Returns the firms' processing cost
    it read (agents.firms.processing_cost, USD/kg per row): no rule changes it before the quarter's accounts, which
    read it too (learning and process innovation come after them)."""
    T, pop, mk = model.tables, model.pop, model.markets
    B, S = T.B, T.S
    model.trade_price = mk.price.copy()  # sellers are paid the price index buyers faced this quarter
    clearings = model.last_clearing
    proc = processing_cost(pop, T)
    new_price = mk.price.copy()
    paid_before = model.paid_price.copy()
    held_floor = model.price_floors.row_floor(pop, model.quarter, mk.price)  # the state floor each firm holds (None: no floor anywhere)
    held_floor = np.zeros(len(pop.bloc)) if held_floor is None else held_floor
    running = pop.operating & ~pop.mothballed
    for s in range(S):
        cl = clearings[s]
        # cost pass-through: a change in the input price a bloc's producers paid moves their price one for one per kg
        if s > 0:
            new_price[:, s] = np.maximum(new_price[:, s] + T.input_per_t[s] * (model.paid_price[:, s - 1] - paid_before[:, s - 1]), 1e-6)
        # average landed price paid by each bloc's buyers
        for b in range(B):
            kb = cl.class_bloc == b
            q = cl.delivered_to_class[kb].sum()
            if q > 0:  # nothing bought: no new information, the last price paid stands
                model.paid_price[b, s] = cl.cost_to_class[kb].sum() / q
        here = (pop.stage == s) & pop.operating
        rows = np.flatnonzero(here)
        unit_input = T.input_per_t[s] * model.paid_price[pop.bloc[rows], s - 1] if s > 0 else 0.0
        pop.unit_cost_usd_per_kg[rows] = proc[rows] + unit_input
        _move_bloc_prices(model, s, cl, here, new_price, held_floor, running)
    mk.price = new_price
    mk.update_expectations(model.world.investment.price_memory_quarters)
    a = 1.0 / max(model.world.investment.price_memory_quarters, 1.0)
    model.expected_paid = (1 - a) * model.expected_paid + a * model.paid_price
    return proc


def _move_bloc_prices(
    model: ChainModel,
    s: int,
    cl: StageClearing,
    here: np.ndarray,
    new_price: np.ndarray,
    held_floor: np.ndarray,
    running: np.ndarray | None = None,
) -> None:
    """Stage s's price index of each bloc (``new_price[:, s]``, in place) from its suppliers' utilisation (smoothed
    into ``model.utilisation``) and its buyers' shortage; ``here``: the stage's operating rows; ``held_floor``: the state
    price floor each firm holds (0: none); ``running``: the operating rows not mothballed, when the caller has them
    (read once for every stage)."""
    T, pop, P = model.tables, model.pop, model.world.markets
    B = T.B
    sup = cl.suppliers
    sup_bloc = pop.bloc[sup]
    avail = np.bincount(sup_bloc, weights=pop.potential_t[sup], minlength=B)
    model.offered_t[:, s] = avail  # read by the recorder: a bloc-stage that offered nothing has no utilisation this quarter
    orders = market_orders(model, s, sup)
    if P.input_limited_share < 1.0:  # 1: never input-limited (the lever off), so nothing to sum
        input_limited = input_limited_blocs(sup_bloc, pop.orders_t[sup], pop.output_t[sup], B, s, P.input_limited_share)
    else:
        input_limited = np.zeros(B, dtype=bool)
    wanted = np.bincount(cl.class_bloc, weights=cl.demand, minlength=B)
    got = np.bincount(cl.class_bloc, weights=cl.delivered_to_class, minlength=B)
    landed = landed_price(model, s)
    ceiling = P.price_ceiling_multiple * T.reference_price_usd_per_kg[s]
    at_bound = model.markets.price_at_bound
    at_bound[:, s] = 0.0  # import parity and an unchanged index are not clipped
    quota_left = model.markets.quota_left_t(s)  # (B,) t each bloc may still export this quarter under export quotas; None: none
    # a mothballed plant sells at no price: it neither floors nor sets the long-run price. The stage's running plants, in
    # row order, and each bloc's among them: the same values in the same order as a mask of the bloc's rows picks
    run = np.flatnonzero(here & (~pop.mothballed if running is None else running))
    run_bloc, run_cost, run_floor, run_cap = pop.bloc[run], pop.unit_cost_usd_per_kg[run], held_floor[run], pop.capacity_t[run]
    controlled = [model.markets.controlled(s, o, quotas=False) for o in range(B)] if P.import_parity else None
    for c in range(B):
        short = max(wanted[c] - got[c], 0.0) / wanted[c] if wanted[c] > 1e-9 else 0.0
        here_c = run_bloc == c
        has_c = bool(here_c.any())
        cost_c = run_cost[here_c]
        floor = cost_floor(cost_c, run_floor[here_c]) if has_c else -np.inf
        cap_c = run_cap[here_c]
        normal = (
            (np.average(cost_c, weights=cap_c) + P.capital_recovery_factor * T.capex_musd_per_kt[c, s] / P.target_utilisation)
            if cap_c.sum() > 0
            else np.nan
        )
        parity_floor = False
        parity = np.inf
        if P.import_parity:  # an importing bloc's price does not stay above what uncontrolled imports cost landed: an exporter
            # under an export control does not set it, nor one under an export quota that this quarter's sales used up
            free = [o for o in range(B) if o != c and avail[o] > 1e-9 and not controlled[o] and (quota_left is None or quota_left[o] > 1e-9)]
            idle = P.idle_import_parity and not has_c  # no plant of the bloc runs at the stage
            parity = min((landed[c, o] for o in free), default=np.inf)
            floor, normal, parity_floor = import_parity(floor, normal, parity, idle)
        if avail[c] > 1e-9:
            util = orders[c] / avail[c]
            model.utilisation[c, s] += (util - model.utilisation[c, s]) / max(model.world.investment.price_memory_quarters, 1.0)
        elif short > 1e-9 or has_c:  # no domestic supplier offering: shortage (or idle plants) push the price
            util = None
        else:  # no domestic producer at all: import parity from the cheapest bloc with supply
            others = [o for o in range(B) if o != c and avail[o] > 1e-9]
            if others:
                new_price[c, s] = min(landed[c, o] for o in others)
            continue
        if util is not None and P.utilisation_of_nameplate:  # orders over nameplate x quality, as target_utilisation is meant
            util = util * P.max_utilisation
        excess = short + (util - P.target_utilisation if util is not None else 0.0)
        input_cost = T.input_per_t[s] * model.paid_price[c, s - 1] if s > 0 else 0.0
        # at an input-limited stage the buyers' shortage is its input's: it moves the margin only, and the input's own index,
        # on which these plants' unfilled orders are a shortage, takes the rent (markets.input_limited_share)
        whole = P.shortage_moves_whole_price and not input_limited[c]
        base = moving_base(new_price[c, s], input_cost, ceiling, short if P.whole_price_needs_shortage else excess, P.price_moves_margin, whole)
        m = update_price(
            new_price[c, s] - base,
            util,
            short,
            floor - base,
            ceiling - base,
            P.price_adjustment,
            P.target_utilisation,
            P.max_price_change,
            normal - base,
            P.price_reversion,
            P.max_price_rise,
        )
        new_price[c, s] = base + m
        # at import parity the index is what imports cost, not a clip of the rule
        at_bound[c, s] = bound_side(m, -np.inf if parity_floor else floor - base, ceiling - base)
        if cl.home_first is not None and cl.home_first[2][c] and new_price[c, s] > parity:
            # the bloc's floored plants sold at home at no more than imports cost (scenarios.price_floor.reserve_home):
            # that is the bloc's price, however short of them its buyers were; what imports cost, not a clip of the rule
            new_price[c, s] = parity
            at_bound[c, s] = 0.0


def input_limited_blocs(sup_bloc: np.ndarray, orders_t: np.ndarray, output_t: np.ndarray, B: int, s: int, share: float) -> np.ndarray:
    """(B,) whether each bloc's suppliers at stage ``s`` (their blocs ``sup_bloc``, orders and output this quarter) could
    not fill more than ``share`` (``markets.input_limited_share``) of their orders for want of input: their output is
    orders x the fill of their input class (sim.engine.clearing._produce), so what they ordered and did not make, they
    lacked the input for. Never at the first stage, which has no input, nor with ``share`` 1."""
    ordered = np.bincount(sup_bloc, weights=orders_t, minlength=B)
    unfilled = ordered - np.bincount(sup_bloc, weights=output_t, minlength=B)
    return (s > 0) & (ordered > 1e-9) & (unfilled > share * np.maximum(ordered, 1e-9))


def market_orders(model: ChainModel, s: int, sup: np.ndarray) -> np.ndarray:
    """(B,) t the market ordered this quarter from each bloc's suppliers ``sup`` at stage s: all their orders less the
    state's purchases of spare output (offtake, scenarios.price_floor), a buyer of last resort that takes what the
    market left and so does not bid for supply. Before December 2026 the index read the state's purchases as demand:
    the coordinated West's 10 kt of magnet offtake held its suppliers' utilisation near 1 and its magnet index climbed
    to over 3x their unit cost (128 against about 38 USD/kg in 2033, seed 1) while its buyers' demand fell (docs/ODD.md
    7.11). Investors still count the state's purchases among their sales (sim.engine.investment.sales_within_reach):
    an offtake is sales a plant can count on."""
    pop, B = model.pop, model.tables.B
    orders = np.bincount(pop.bloc[sup], weights=pop.orders_t[sup], minlength=B)
    return np.maximum(orders - model.price_floors.state_orders_t(s, pop.bloc, B), 0.0)


def moving_base(price: float, input_cost: float, ceiling: float, excess: float, moves_margin: bool, shortage_whole: bool) -> float:
    """The part of a stage's price index that the scarcity rule leaves alone (``update_price`` moves the rest).

    0 (the whole price moves) unless ``markets.price_moves_margin``: then the input cost per kg, which has already
    passed through, so that excess demand moves the margin over it (value added); a conversion stage with a thin
    margin (metal) would otherwise lose its whole margin to a small glut in one quarter. Also 0 when the price is
    at or below the input cost (or the ceiling is), and, with ``markets.shortage_moves_whole_price``, when demand
    exceeds supply (``excess`` > 0: buyers short or suppliers above target utilisation): buyers short of an input bid
    up the whole price, so a downstream shortage reaches the stage above it at the rule's full speed."""
    if not moves_margin or input_cost <= 0 or price - input_cost <= 0 or ceiling - input_cost <= 0:
        return 0.0
    if shortage_whole and excess > 0:
        return 0.0
    return float(input_cost)


def import_parity(floor: float, normal: float, parity: float, idle: bool = False) -> tuple[float, float, bool]:
    """``markets.import_parity``: the cost floor and long-run price of a bloc's index given ``parity``, the landed price
    of the cheapest uncontrolled import (inf: none). The index reverts toward the lower of its plants' long-run price
    and parity, and may fall to parity below its cheapest plant's unit cost (the dearer plants then idle by the
    shut-down rule): an importing bloc's price does not stay above what imports cost. ``idle`` (``markets.
    idle_import_parity`` and none of the bloc's plants runs): the index is no lower than parity either, which its buyers
    pay for imports and at which its own plants could sell. Returns (floor, normal, whether parity replaced the cost
    floor: an index resting there is set by imports, not clipped by the rule)."""
    if not np.isfinite(parity):
        return floor, normal, False
    if idle:
        return parity, normal, True
    normal = min(normal, parity) if np.isfinite(normal) else normal
    if parity < floor:
        return parity, normal, True
    return floor, normal, False


def cost_floor(unit_cost: np.ndarray, state_floor: np.ndarray | float) -> float:
    """The lowest price index at which some producer still sells: its unit cost, except where a state price floor
    it holds (scenarios.price_floor; per producer, or one value for all) at least covers that cost: the state tops up
    to the floor whatever the index, so such a producer sells at any price and the index may fall to what buyers
    elsewhere pay (0 here, never reached by the multiplicative rule)."""
    covered = np.any((np.asarray(state_floor) > 0) & (np.asarray(state_floor) >= unit_cost))
    return 0.0 if covered else float(unit_cost.min())
