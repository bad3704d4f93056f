"""Demand shock: final magnet demand of chosen blocs' buyers scaled while active.

Question served: Q4 of MODEL.md (resilience) - how do prices, shortages and
build-out respond to a surge or collapse of final demand (an EV boom, a wind
slump), and how fast do they recover once it ends?

Mechanism: while active, every final buyer (agents.buyers.Buyer) of the listed
blocs (an empty list: all blocs) has its ``demand_multiplier`` multiplied by
``multiplier`` (>= 0; 0 stops their demand). Buyers set their demand from the
multiplier at the start of each quarter, so the shock acts from the first
quarter it covers. The multiplier is a layer (sim.engine.instruments): overlapping
shocks multiply, and ending one restores each buyer's multiplier exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scenarios.checks import check_blocs
from scenarios.events import EventParams, ScenarioEvent, register_event

KEY = "buyers.demand_multiplier"


def _buyer_io(model):
    buyers = list(model.buyers)

    def get():
        return np.array([b.demand_multiplier for b in buyers], dtype=float)

    def put(v):
        if v is None:
            v = np.ones(len(buyers))
        for b, x in zip(buyers, v):
            b.demand_multiplier = float(x)

    return buyers, get, put


@dataclass
class DemandShockParams(EventParams):
    blocs: list[str] = field(default_factory=list)  # empty: every bloc
    multiplier: float = field(default=1.0, metadata={"min": 0.0, "max": 100.0})


@register_event
class DemandShock(ScenarioEvent):
    kind = "demand_shock"
    Params = DemandShockParams
    question = "How do prices, shortages and build-out respond to a surge or collapse of final demand?"

    def apply(self, model) -> None:
        buyers, get, put = _buyer_io(model)
        blocs = [model.tables.blocs.index(b) for b in self.params.blocs] or list(range(model.tables.B))
        factor = [self.params.multiplier if b.bloc in blocs else 1.0 for b in buyers]
        model.instruments.set_layer_on(KEY, f"event:{self.name}", factor, get, put, op="mul", shape=(len(buyers),))

    def revert(self, model) -> None:
        _, get, put = _buyer_io(model)
        model.instruments.clear_layer_on(KEY, f"event:{self.name}", get, put)

    @classmethod
    def check(cls, key, params, cfg) -> None:
        check_blocs(f"{key}.blocs", params.blocs, cfg)
