"""Final demand that adapts, buyers' inventories and bloc stockpiles (MODEL.md 5.8a), step 1 of the quarter.

Each bloc's final magnet demand starts from its configured path (``demand_t_per_year``) and answers the
bloc's magnet price index p (the price its buyers face; reference price p0 of the stage):

- a short-run response, factor (p / p0) ^ -elasticity;
- substitution and thrifting z (share of the path demand designed out: ferrite and reduced-heavy-rare-earth
  designs), which moves toward a target z* = z_max x clip((p / p0 - 1) / (saturation - 1), 0, 1) by at most
  ``substitution_rate_per_year`` a year while z* is above z, and returns by at most
  ``substitution_reversal_per_year`` of z a year while z* is below (designs persist: partly, and slowly);

  need = path x share x shocks x (p / p0) ^ -elasticity x (1 - z).

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
        self.price_factor = np.ones(T.B)  # (p / p0) ^ -elasticity
        self.active = self.params.short_run_elasticity > 0 or self.params.substitution_max > 0

    def update(self, model: ChainModel) -> None:
        """Move the price response and the substitution share with the bloc magnet price index of last quarter."""
        if not self.active:
            return
        D, T = self.params, model.tables
        s = T.S - 1
        ratio = model.markets.price[:, s] / T.reference_price_usd_per_kg[s]
        self.price_factor = ratio ** (-D.short_run_elasticity)
        target = D.substitution_max * np.clip((ratio - 1.0) / (D.substitution_saturation_multiple - 1.0), 0.0, 1.0)
        z = self.substituted
        up = np.minimum(target - z, D.substitution_rate_per_year / 4.0)
        down = np.minimum(z - target, D.substitution_reversal_per_year / 4.0 * z)
        self.substituted = np.where(target > z, z + up, z - np.maximum(down, 0.0))

    def factor(self, bloc: int) -> float:
        """Multiplier of the bloc's path demand this quarter."""
        if not self.active:
            return 1.0
        return float(self.price_factor[bloc] * (1.0 - self.substituted[bloc]))


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
