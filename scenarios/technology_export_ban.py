"""Technology-export ban: foreign plants at the banned stages ramp up quality more slowly.

Question served: Q4 of MODEL.md (resilience) and Q1 (timelines) - how much
longer does a bloc need to reach specification quality at a stage when the
leading bloc withholds process know-how?
Reference: China's December 2023 ban on exporting rare-earth extraction,
separation and magnet-making technology (MODEL.md 5.2 and 5.9).

Mechanism: while active, the quality ramp time (agents.firms.learn, the
constant ``quality_ramp_years x capacity x ramp multiplier``) of every plant in
every bloc other than ``exporter`` at the listed stages is multiplied by
``ramp_multiplier`` (>= 1). The factor is a layer on ``model.instruments.ramp_extra``
(sim.engine.instruments): several bans, or a ban and a know-how programme, compose
by multiplication, and ending the ban restores the array exactly. Plants
already at quality 1 are unaffected; a new plant's quality gap closes more
slowly per tonne produced.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scenarios.checks import check_bloc, check_stages
from scenarios.events import EventParams, ScenarioEvent, register_event


@dataclass
class TechnologyExportBanParams(EventParams):
    exporter: str = ""
    stages: list[str] = field(default_factory=list)
    ramp_multiplier: float = field(default=2.0, metadata={"min": 1.0, "max": 100.0})


@register_event
class TechnologyExportBan(ScenarioEvent):
    kind = "technology_export_ban"
    Params = TechnologyExportBanParams
    question = "How much does withheld process know-how slow the other blocs' quality ramp-up?"

    def factor(self, model):
        T = model.tables
        e = T.blocs.index(self.params.exporter)
        others = [b for b in range(T.B) if b != e]
        mask = model.instruments.mask(others, [T.stages.index(s) for s in self.params.stages])
        return mask * (self.params.ramp_multiplier - 1.0) + 1.0

    def apply(self, model) -> None:
        model.instruments.set_layer("ramp_extra", f"event:{self.name}", self.factor(model), op="mul", init=1.0)

    def revert(self, model) -> None:
        model.instruments.clear_layer("ramp_extra", f"event:{self.name}")

    @classmethod
    def check(cls, key, params, cfg) -> None:
        check_bloc(f"{key}.exporter", params.exporter, cfg)
        check_stages(f"{key}.stages", params.stages, cfg)
