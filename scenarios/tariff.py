"""Tariff: an ad valorem duty on a bloc's imports at chosen stages, optionally from chosen origins only.

Question served: Q3/Q4 of MODEL.md - does a tariff on the coordinated bloc's output at a
stage let the importing bloc's own producers stand up that stage, and what does it cost its
buyers? Public example: the US Section 301 tariff on Chinese permanent magnets (HTS 8505.11,
8505.19) rises from 0% to 25% on 1 January 2026 (USTR, four-year review, final notice of
13 September 2024), additive to the ordinary duty.

Mechanism: while active, the importing bloc's buyers pay, for the output of each listed
origin at each listed stage,

    landed = price x (1 - export discount) x (1 + import_tariff[importer] + rate) + freight

(sim.engine.clearing.landed_price), i.e. ``rate`` is added to the world's tariff of the
importing bloc (conf/world, ``import_tariff``), as a country's extra duties add to its
ordinary (MFN) rate on the customs value. Domestic purchases carry no tariff. The rate is a
layer on ``model.instruments.tariff`` (B importer, B origin, S), combined by adding
(sim.engine.instruments), so tariffs stack and ending one restores the array exactly.
Tariff revenue is not booked (assumption: it goes to the treasury, not to the chain).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scenarios.checks import check_bloc, check_blocs, check_stages
from scenarios.events import EventParams, ScenarioEvent, register_event
from sim.checks import ConfigError


@dataclass
class TariffParams(EventParams):
    importer: str = ""  # bloc whose buyers pay the tariff
    stages: list[str] = field(default_factory=list)  # stages whose imports are taxed (at least one)
    origins: list[str] = field(default_factory=list)  # exporting blocs taxed; empty: every other bloc
    rate: float = field(default=0.25, metadata={"min": 0.0, "max": 5.0})  # ad valorem, share of the import price; 0.25: Section 301 on magnets (2026)


@register_event
class Tariff(ScenarioEvent):
    kind = "tariff"
    Params = TariffParams
    question = "Does a tariff on a bloc's imports at a stage stand up domestic production, and at what cost to buyers?"

    def values(self, model):
        """(B, B, S) the rate on the taxed (importer, origin, stage) cells, zero elsewhere."""
        T, p = model.tables, self.params
        imp = T.blocs.index(p.importer)
        origins = [T.blocs.index(o) for o in p.origins] or [c for c in range(T.B) if c != imp]
        return model.instruments.trade_mask(imp, origins, [T.stages.index(s) for s in p.stages]) * p.rate

    def apply(self, model) -> None:
        model.instruments.set_layer("tariff", f"event:{self.name}", self.values(model), op="add", init=0.0)

    def revert(self, model) -> None:
        model.instruments.clear_layer("tariff", f"event:{self.name}")

    @classmethod
    def check(cls, key, params, cfg) -> None:
        check_bloc(f"{key}.importer", params.importer, cfg)
        check_stages(f"{key}.stages", params.stages, cfg)
        check_blocs(f"{key}.origins", params.origins, cfg)
        if params.importer in params.origins:
            raise ConfigError(f"{key}.origins", f"must not include the importer '{params.importer}' (domestic purchases carry no tariff)")
