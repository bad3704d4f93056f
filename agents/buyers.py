"""Final buyers of magnets (MODEL.md 2): EV, wind, industrial, defence per bloc.

A Buyer holds a share of its bloc's final magnet demand path, whether it is
state-owned (it then applies procurement preference to designated suppliers)
and any domestic-sourcing mandate. Buyers with identical preference attributes
are cleared together as one class (sim.engine.markets).
"""

from __future__ import annotations

import mesa


class Buyer(mesa.Agent):
    """A final-demand segment of one bloc."""

    def __init__(self, model, name: str, bloc: int, share: float, state_owned: bool, domestic_mandate: float):
        super().__init__(model)
        self.name = name
        self.bloc = bloc
        self.share = share
        self.state_owned = state_owned
        self.domestic_mandate = domestic_mandate
        self.demand_multiplier = 1.0  # demand shocks scale this
        self.demand_t = 0.0  # this quarter's demand, t
        self.received_t = 0.0
        self.shortage_t = 0.0
        self.spend_musd = 0.0

    def step(self) -> None:
        """Set this quarter's demand: the bloc's path at the current date x share x shocks."""
        year = self.model.current_year
        annual = self.model.tables.final_demand_t_per_year(self.bloc, year, self.model.world.scale)
        self.demand_t = annual / 4.0 * self.share * self.demand_multiplier

    def class_key(self) -> tuple:
        """Preference attributes that define the buyer's market class."""
        return (self.bloc, self.state_owned, self.domestic_mandate)
