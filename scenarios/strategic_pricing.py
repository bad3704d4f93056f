"""Strategic pricing: the exporter bloc's suppliers sell abroad below their price index.

Question served: Q3/Q4 of MODEL.md - what does coordinated predatory export
pricing (MODEL.md 5.1: the coordinated bloc "may cut its export price when
foreign capacity at a stage grows") do to foreign prices, foreign entrants'
expected returns and build-out?

Mechanism: while active, buyers of every other bloc pay ``(1 - discount) x``
the exporter's price index for the exporter's output at the listed stages (plus
freight and their own tariff, sim.engine.clearing.landed_price), so the
exporter's suppliers are cheaper in foreign buyers' logit choice, and what the
foreign bloc's buyers pay (``paid_price``, and through it the cost pass-through
into their own downstream prices and, where a bloc has no producer, its import
parity price) falls. Foreign investors then expect lower prices
(``markets.expected_price`` follows the foreign price index).

The exporter's sellers bear the discount: :func:`export_discount_loss` is the
revenue each supplier loses on its foreign deliveries (delivered tonnes x its
bloc's traded price index x discount), which the model subtracts from revenue in
the same quarter's accounts (agents.firms.account ``revenue_adjust``). Domestic
sales stay at the price index. The array ``model.instruments.export_discount`` (B, S) holds
the discount per exporter bloc and stage; overlapping events combine by the
largest discount (a layer, sim.engine.instruments), and ending one restores the array
exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scenarios.checks import check_bloc, check_stages
from scenarios.events import EventParams, ScenarioEvent, register_event


@dataclass
class StrategicPricingParams(EventParams):
    exporter: str = ""
    stages: list[str] = field(default_factory=list)
    discount: float = field(default=0.2, metadata={"min": 0.0, "max": 0.9})


@register_event
class StrategicPricing(ScenarioEvent):
    kind = "strategic_pricing"
    Params = StrategicPricingParams
    question = "What does predatory export pricing by the exporter bloc do to foreign prices and build-out?"

    def apply(self, model) -> None:
        T = model.tables
        mask = model.instruments.mask([T.blocs.index(self.params.exporter)], [T.stages.index(s) for s in self.params.stages])
        model.instruments.set_layer("export_discount", f"event:{self.name}", mask * self.params.discount, op="max", init=0.0)

    def revert(self, model) -> None:
        model.instruments.clear_layer("export_discount", f"event:{self.name}")

    @classmethod
    def check(cls, key, params, cfg) -> None:
        check_bloc(f"{key}.exporter", params.exporter, cfg)
        check_stages(f"{key}.stages", params.stages, cfg)


def export_discount_loss(model) -> np.ndarray | None:
    """(firm rows,) M USD of revenue each supplier gave up this quarter on discounted foreign sales.

    None when no discount is in force (the accounts are then untouched). Reads the
    quarter's clearings (``model.last_clearing``) and the traded price index
    (``model.trade_price``), so call it after clear_markets_and_produce.
    """
    disc = model.instruments.export_discount
    if not np.any(disc > 0):
        return None
    pop = model.pop
    loss = np.zeros(len(pop))
    for s, cl in model.last_clearing.items():
        if not np.any(disc[:, s] > 0) or len(cl.suppliers) == 0:
            continue
        sup = cl.suppliers
        sb = pop.bloc[sup]
        delivered = getattr(cl, "delivered", None)
        if delivered is None:
            continue
        foreign = cl.class_bloc[:, None] != sb[None, :]
        q_foreign = (delivered * foreign).sum(axis=0)  # t
        loss[sup] += q_foreign * model.trade_price[sb, s] * disc[sb, s] / 1000.0
    return loss
