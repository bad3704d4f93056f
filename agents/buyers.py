"""Final buyers of magnets (MODEL.md 2, 5.8a): EV, wind, industrial, defence per bloc, and bloc stockpiles.

A Buyer holds a share of its bloc's final magnet demand path, whether it is
state-owned (it then applies procurement preference to designated suppliers)
and any domestic-sourcing mandate. Its need this quarter is the path times its
share, any demand shock and the bloc's price response and substitution
(sim.engine.demand); it orders its need plus the gap to its target stock and
consumes from what it holds. A stockpile (``stockpile=True``) is a bloc's state
reserve: no need of its own, it restocks when the bloc is not short and releases
to the bloc's buyers who are. Buyers with identical preference attributes are
cleared together as one class (sim.engine.clearing).
"""

from __future__ import annotations

import mesa


class Buyer(mesa.Agent):
    """A final-demand segment of one bloc (or, with ``stockpile``, the bloc's state stockpile)."""

    def __init__(
        self,
        model,
        name: str,
        bloc: int,
        share: float,
        state_owned: bool,
        domestic_mandate: float,
        stockpile: bool = False,
        cover_quarters: float | None = None,
        defence: bool = False,
    ):
        super().__init__(model)
        self.name = name
        self.bloc = bloc
        self.share = share
        self.state_owned = state_owned
        self.defence = defence
        self.domestic_mandate = domestic_mandate
        self.stockpile = stockpile
        # target stock in quarters of need (a stockpile: of its bloc's need)
        self.cover_quarters = model.world.demand.inventory_quarters if cover_quarters is None else cover_quarters
        self.demand_multiplier = 1.0  # demand shocks scale this
        self.need_t = 0.0  # this quarter's consumption need, t
        self.demand_t = 0.0  # this quarter's orders (need + restocking), t
        self.received_t = 0.0
        self.consumed_t = 0.0
        self.shortage_t = 0.0  # need not consumed, t
        self.spend_musd = 0.0
        self.inventory_t = 0.0
        self.released_t = 0.0  # a stockpile's release to short buyers this quarter, t
        self.shortage_before_release_t = 0.0  # shortage before stockpile releases, t (a stockpile restocks only when 0)
        self._stocked = False  # the first quarter fills the target stock

    def step(self) -> None:
        """Set this quarter's need and orders."""
        m = self.model
        if self.stockpile:
            need_bloc = sum(by.need_t for by in m.buyers if by.bloc == self.bloc and not by.stockpile)
            self.need_t = 0.0
            target = self.cover_quarters * need_bloc
            if not self._stocked:
                self.inventory_t, self._stocked = target, True
            gap = target - self.inventory_t
            restock = gap > 0 and not bloc_short(m, self.bloc)
            rate = gap / m.world.demand.restock_quarters * restock_factor(m, self.bloc) if restock else 0.0
            self.demand_t = max(rate, 0.0)
            return
        self.need_t = m.demand.relocated_need_t(self, self.own_need_t())
        if self.cover_quarters <= 0 and self.inventory_t == 0:
            self.demand_t = self.need_t
            return
        target = self.cover_quarters * self.need_t
        if not self._stocked:
            self.inventory_t, self._stocked = target, True
        gap = target - self.inventory_t
        if gap > 0:
            gap *= restock_factor(m, self.bloc)
        self.demand_t = max(self.need_t + gap / m.world.demand.restock_quarters, 0.0)

    def own_need_t(self) -> float:
        """This quarter's need before any relocation of demand (sim.engine.demand): the bloc's path x share x demand
        shocks x the bloc's price response and substitution."""
        m = self.model
        annual = m.tables.final_demand_t_per_year(self.bloc, m.current_year, m.world.scale)
        return annual / 4.0 * self.share * self.demand_multiplier * m.demand.factor(self.bloc)

    def consume(self) -> None:
        """What arrived goes into stock; consumption comes out of it; the rest of the need is a shortage."""
        if self.stockpile:
            self.inventory_t += self.received_t
            self.consumed_t = 0.0
            self.shortage_t = 0.0
            return
        if self.cover_quarters <= 0 and self.inventory_t == 0:
            self.consumed_t = self.received_t  # no stock: shortage as the clearing left it (need - received)
            return
        available = self.inventory_t + self.received_t
        self.consumed_t = min(self.need_t, available)
        self.inventory_t = available - self.consumed_t
        self.shortage_t = self.need_t - self.consumed_t

    def class_key(self) -> tuple:
        """Preference attributes that define the buyer's market class."""
        return (self.bloc, self.state_owned, self.domestic_mandate)


def restock_factor(model, bloc: int) -> float:
    """Restocking slows by p0 / p while the bloc's magnet price index p is above the reference price p0."""
    s = model.tables.S - 1
    p = model.markets.price[bloc, s]
    return float(min(1.0, model.tables.reference_price_usd_per_kg[s] / p)) if p > 0 else 1.0


def bloc_short(model, bloc: int) -> bool:
    """Whether the bloc's buyers (not its stockpile) were short in the last quarter before any stockpile release
    (a pile that covered a shortage does not restock into the same tight market)."""
    return any(by.shortage_before_release_t > 1e-9 for by in model.buyers if by.bloc == bloc and not by.stockpile)
