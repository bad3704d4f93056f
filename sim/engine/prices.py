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


def update_prices(model: ChainModel) -> None:
    """Bloc price indices move with demand on the bloc's suppliers (MODEL.md 5.1)."""
    T, pop, mk = model.tables, model.pop, model.markets
    B, S = T.B, T.S
    model.trade_price = mk.price.copy()  # sellers are paid the price index buyers faced this quarter
    clearings = model.last_clearing
    proc = processing_cost(pop, T)
    new_price = mk.price.copy()
    paid_before = model.paid_price.copy()
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
        unit_input = T.input_per_t[s] * model.paid_price[pop.bloc[here], s - 1] if s > 0 else 0.0
        pop.unit_cost_usd_per_kg[here] = proc[here] + unit_input
        _move_bloc_prices(model, s, cl, here, new_price)
    mk.price = new_price
    mk.update_expectations(model.world.investment.price_memory_quarters)
    a = 1.0 / max(model.world.investment.price_memory_quarters, 1.0)
    model.expected_paid = (1 - a) * model.expected_paid + a * model.paid_price


def _move_bloc_prices(model: ChainModel, s: int, cl: StageClearing, here: np.ndarray, new_price: np.ndarray) -> None:
    """Stage s's price index of each bloc (``new_price[:, s]``, in place) from its suppliers' utilisation (smoothed
    into ``model.utilisation``) and its buyers' shortage; ``here``: the stage's operating rows."""
    T, pop, P = model.tables, model.pop, model.world.markets
    B = T.B
    sup = cl.suppliers
    sup_bloc = pop.bloc[sup]
    avail = np.bincount(sup_bloc, weights=pop.potential_t[sup], minlength=B)
    orders = np.bincount(sup_bloc, weights=pop.orders_t[sup], minlength=B)
    wanted = np.bincount(cl.class_bloc, weights=cl.demand, minlength=B)
    got = np.bincount(cl.class_bloc, weights=cl.delivered_to_class, minlength=B)
    landed = landed_price(model, s)
    ceiling = P.price_ceiling_multiple * T.reference_price_usd_per_kg[s]
    at_bound = model.markets.price_at_bound
    at_bound[:, s] = 0.0  # import parity and an unchanged index are not clipped
    for c in range(B):
        short = max(wanted[c] - got[c], 0.0) / wanted[c] if wanted[c] > 1e-9 else 0.0
        here_c = here & (pop.bloc == c)
        floor = pop.unit_cost_usd_per_kg[here_c].min() if here_c.any() else -np.inf
        cap_c = pop.capacity_t[here_c]
        normal = (
            (
                np.average(pop.unit_cost_usd_per_kg[here_c], weights=cap_c)
                + P.capital_recovery_factor * T.capex_musd_per_kt[c, s] / P.target_utilisation
            )
            if cap_c.sum() > 0
            else np.nan
        )
        # with markets.price_moves_margin, scarcity moves the stage's margin over its input cost (value added), not
        # the whole price: the input cost has already passed through, and a conversion stage with a thin margin
        # (metal) would otherwise lose its whole margin to a small utilisation shortfall in one quarter
        base = T.input_per_t[s] * model.paid_price[c, s - 1] if (P.price_moves_margin and s > 0) else 0.0
        if base > 0 and not (new_price[c, s] - base > 0 and ceiling - base > 0):
            base = 0.0  # price at or below the input cost: the whole price moves
        if avail[c] > 1e-9:
            util = orders[c] / avail[c]
            model.utilisation[c, s] += (util - model.utilisation[c, s]) / max(model.world.investment.price_memory_quarters, 1.0)
        elif short > 1e-9 or here_c.any():  # no domestic supplier offering: shortage (or idle plants) push the price
            util = None
        else:  # no domestic producer at all: import parity from the cheapest bloc with supply
            others = [o for o in range(B) if o != c and avail[o] > 1e-9]
            if others:
                new_price[c, s] = min(landed[c, o] for o in others)
            continue
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
        )
        new_price[c, s] = base + m
        at_bound[c, s] = bound_side(m, floor - base, ceiling - base)
