"""Final demand that adapts, buyers' inventories and bloc stockpiles (MODEL.md 5.8a), step 1 of the quarter.

Each bloc's final magnet demand starts from its configured path (``demand_t_per_year``) and answers the
bloc's magnet price index p (the price its buyers face; reference price p0 of the stage):

- a short-run response, factor (p / p0) ^ -elasticity (substitution within a product: thrifting, grades);
- the scale effect of derived demand (Marshall's and Hicks's rules: an input's demand falls with the demand for
  the products it is in, the more so the larger its share of their cost): the magnets' cost share
  ``product_cost_share`` c at the reference price, passed on in full, raises the products' price by
  1 + c x (p / p0 - 1), and their buyers take (1 + c x (p / p0 - 1)) ^ -``product_demand_elasticity`` as much;
  small at the reference, large at several times it, when the magnet becomes a large part of a motor's cost;
- substitution and thrifting z (share of the path demand designed out: ferrite and reduced-heavy-rare-earth
  designs, induction and wound-rotor motors, geared generators), which moves toward a target
  z* = z_max x max(clip((p / p0 - 1) / (saturation - 1), 0, 1), clip(u / u_sat, 0, 1)) by at most
  ``substitution_rate_per_year`` a year while z* is above z, and returns by at most
  ``substitution_reversal_per_year`` of z a year while z* is below (designs persist: partly, and slowly);
  u is the share of the bloc's need its buyers went without last quarter and u_sat
  ``substitution_shortage_saturation`` (0: the term is off): buyers who cannot get magnets at any price redesign
  as if the price were at saturation;

  need = path x share x shocks x (p / p0) ^ -elasticity x (1 + c (p / p0 - 1)) ^ -product_elasticity x (1 - z).

Buyers hold an inventory with a target of ``inventory_quarters`` of their need. They order their need plus
the gap to the target over ``restock_quarters`` (a negative gap: they draw the stock down), and while the
price is above the reference the restocking part shrinks by p0 / p (nobody builds stocks into a spike).
What arrives goes into the stock, consumption comes out of it; a shortage is need not consumed.

A bloc's stockpile (``stockpile_quarters`` of its need: China's state reserve, JOGMEC-style stocks) is a
buyer with no need of its own: it restocks only in quarters after which the bloc's buyers were not short,
and it releases up to stock / ``stockpile_release_quarters`` a quarter to the bloc's buyers who are short.

With every parameter at its default (0) need is the path and orders equal need: today's behaviour.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from agents.buyers import Buyer
    from sim.engine.model import ChainModel


class DemandState:
    """Per-bloc price response and substitution share, updated at the start of each quarter."""

    def __init__(self, model: ChainModel):
        T = model.tables
        self.params = model.world.demand
        self.substituted = np.zeros(T.B)  # z: share of path demand designed out
        self.price_factor = np.ones(T.B)  # (p / p0) ^ -elasticity x (1 + c (p / p0 - 1)) ^ -product_elasticity
        P = self.params
        self.active = P.short_run_elasticity > 0 or P.substitution_max > 0 or (P.product_cost_share > 0 and P.product_demand_elasticity > 0)

    def update(self, model: ChainModel) -> None:
        """Move the price response and the substitution share with the bloc magnet price index of last quarter."""
        if not self.active:
            return
        D, T = self.params, model.tables
        s = T.S - 1
        ratio = model.markets.price[:, s] / T.reference_price_usd_per_kg[s]
        self.price_factor = price_factor(ratio, D.short_run_elasticity, D.product_cost_share, D.product_demand_elasticity)
        pressure = np.clip((ratio - 1.0) / (D.substitution_saturation_multiple - 1.0), 0.0, 1.0)
        if D.substitution_shortage_saturation > 0:
            pressure = np.maximum(pressure, np.clip(unmet_share(model.buyers, T.B) / D.substitution_shortage_saturation, 0.0, 1.0))
        target = D.substitution_max * pressure
        z = self.substituted
        up = np.minimum(target - z, D.substitution_rate_per_year / 4.0)
        down = np.minimum(z - target, D.substitution_reversal_per_year / 4.0 * z)
        self.substituted = np.where(target > z, z + up, z - np.maximum(down, 0.0))

    def factor(self, bloc: int) -> float:
        """Multiplier of the bloc's path demand this quarter."""
        if not self.active:
            return 1.0
        return float(self.price_factor[bloc] * (1.0 - self.substituted[bloc]))


def price_factor(ratio: np.ndarray, elasticity: float, cost_share: float, product_elasticity: float) -> np.ndarray:
    """Need per unit of path demand at the magnet price ``ratio`` x the reference:
    ratio ^ -elasticity x (1 + cost_share x (ratio - 1)) ^ -product_elasticity. The second factor is the scale effect
    of derived demand (Marshall 1920, Principles, V.VI; Hicks 1932, The Theory of Wages): the magnets' cost passed on
    in full raises their products' price by that factor, and the products' buyers respond with their own elasticity;
    its elasticity with respect to the magnet price, cost_share' x product_elasticity with cost_share' the magnets'
    share of the product's cost at that price, grows with the price."""
    ratio = np.asarray(ratio, dtype=float)
    return ratio ** (-elasticity) * (1.0 + cost_share * (ratio - 1.0)) ** (-product_elasticity)


def unmet_share(buyers: list[Buyer], B: int) -> np.ndarray:
    """(B,) share of each bloc's final need its buyers (not stockpiles) went without in the last quarter, after
    stockpile releases (0 where there was no need)."""
    short, need = np.zeros(B), np.zeros(B)
    for by in buyers:
        if not by.stockpile:
            short[by.bloc] += by.shortage_t
            need[by.bloc] += by.need_t
    return np.divide(short, need, out=np.zeros(B), where=need > 1e-12)


def consume(model: ChainModel) -> None:
    """After delivery: stocks take what arrived, consumption comes out, stockpiles release to the short."""
    buyers = model.buyers
    for by in buyers:
        by.consume()
        by.shortage_before_release_t = by.shortage_t  # stockpiles judge the market by this (agents.buyers.bloc_short)
    piles = [by for by in buyers if by.stockpile]
    if not piles:
        return
    release_q = model.world.demand.stockpile_release_quarters
    for pile in piles:
        short = [by for by in buyers if by.bloc == pile.bloc and not by.stockpile and by.shortage_t > 1e-12]
        total_short = sum(by.shortage_t for by in short)
        pile.released_t = 0.0
        if total_short <= 0 or pile.inventory_t <= 0:
            continue
        release = min(pile.inventory_t / release_q, total_short)
        for by in short:
            part = release * by.shortage_t / total_short
            by.shortage_t -= part
            by.consumed_t += part
        pile.inventory_t -= release
        pile.released_t = release


def bloc_need(buyers: list[Buyer], B: int) -> np.ndarray:
    """(B,) this quarter's final need (consumption demand) of each bloc's buyers, t."""
    out = np.zeros(B)
    for by in buyers:
        out[by.bloc] += by.need_t
    return out
