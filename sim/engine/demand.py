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

Relocation of demand (``relocation_*``; 0: off): a bloc's civil buyers (not defence, not under a domestic-sourcing
mandate) who cannot get magnets because another bloc's export control covers them buy the finished components that
contain magnets (motors, drive units, rotors) from that bloc instead, since the control covers magnets, not the
products made with them. A share r of the civil need moves: the bloc's civil buyers need (1 - r) of it, and the
destination's civil buyers need the same tonnes more, pro rata to their shares. While the bloc's buyers went without
more of their need last quarter than the destination's (u > u_dest, unmet shares), r rises by
``relocation_rate_per_year`` / 4 x min((u - u_dest) / ``relocation_shortage_saturation``, 1) a quarter, up to
``relocation_max``: buyers who found components keep them, the others keep looking. Once the bloc's buyers are no
shorter than the destination's (or the control is lifted), r returns by ``relocation_reversal_per_year`` / 4 of itself
a quarter (supply contracts and qualified parts persist); the
destination is a bloc whose export control covers magnets, kept while any of the need is relocated there.

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
        self.relocated = np.zeros(T.B)  # r: share of the bloc's civil need bought as finished components from another bloc
        self.relocated_to = np.full(T.B, -1)  # the bloc that need is relocated to (-1: none)
        self.relocated_in_t = np.zeros(T.B)  # need relocated into the bloc from others this quarter, t
        self.civil_share = np.zeros(T.B)  # sum of the shares of the bloc's civil buyers (those whose need can relocate)
        self.relocating = P.relocation_max > 0 and P.relocation_shortage_saturation > 0 and P.relocation_rate_per_year > 0
        self.active = (
            P.short_run_elasticity > 0 or P.substitution_max > 0 or (P.product_cost_share > 0 and P.product_demand_elasticity > 0) or self.relocating
        )

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
        if self.relocating:
            self.relocate(model)

    def relocate(self, model: ChainModel) -> None:
        """Move the relocated share of each bloc's civil need (module docstring) and count the tonnes each bloc receives
        this quarter."""
        D, T = self.params, model.tables
        s, B = T.S - 1, T.B
        u = unmet_share(model.buyers, B)
        civil = [by for by in model.buyers if relocatable(by)]
        self.civil_share = np.bincount([by.bloc for by in civil], weights=[by.share for by in civil], minlength=B).astype(float)
        for b in range(B):
            dests = [o for o in range(B) if o != b and self.civil_share[o] > 0 and model.markets.controlled(s, o)]
            if self.relocated[b] <= 0.0:  # a destination is kept while any need is relocated there
                self.relocated_to[b] = max(dests, key=lambda o: u[b] - u[o], default=-1)  # the best-served controlling bloc
            o = self.relocated_to[b]
            gap = u[b] - u[o] if o in dests else 0.0  # how much shorter the bloc's buyers were than the destination's
            r = self.relocated[b]
            if gap > 0.0:  # buyers still short move more of their need abroad, the faster the shorter they are
                self.relocated[b] = min(
                    r + D.relocation_rate_per_year / 4.0 * min(gap / D.relocation_shortage_saturation, 1.0), max(D.relocation_max, r)
                )
            else:  # served (or the control lifted): the relocated need comes home slowly
                self.relocated[b] = r * (1.0 - D.relocation_reversal_per_year / 4.0)
        # tonnes: the relocated share of the need the bloc's civil buyers would have had (path, shocks, price response)
        self.relocated_in_t = np.zeros(B)
        for by in civil:
            o = self.relocated_to[by.bloc]
            if o >= 0 and self.relocated[by.bloc] > 0:
                self.relocated_in_t[o] += self.relocated[by.bloc] * by.own_need_t()

    def relocated_need_t(self, by: Buyer, need_t: float) -> float:
        """A buyer's need after relocation: its own ``need_t`` less the relocated share, plus its part of the need relocated
        into its bloc (civil buyers only)."""
        if not self.relocating or not relocatable(by):
            return need_t
        b = by.bloc
        inflow = self.relocated_in_t[b] * by.share / self.civil_share[b] if self.civil_share[b] > 0 else 0.0
        return need_t * (1.0 - self.relocated[b]) + inflow

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


def relocatable(by: Buyer) -> bool:
    """Whether a buyer's need can relocate (sent or received): civil buyers only; a defence buyer, a buyer under a
    domestic-sourcing mandate and a stockpile do not buy their magnets as foreign components."""
    return not by.stockpile and not by.defence and by.domestic_mandate <= 0.0


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
    """(B,) this quarter's final need (consumption demand) of each bloc's economy, t: its buyers' own need before any
    relocation of demand (a bloc's buyers that buy finished components abroad under relocation still use those
    magnets, and the need relocated into a bloc is another bloc's); a stockpile has none."""
    out = np.zeros(B)
    for by in buyers:
        if not by.stockpile:
            out[by.bloc] += by.own_need_t()
    return out
