"""Export control: cross-bloc flows of chosen stages capped to a licensed share.

Question served: Q4 of MODEL.md (resilience) - what does a supply shock such as
an export control do to each bloc's prices, shortages and build-out?
Reference: China's April 2025 export licensing of heavy rare earths and magnets
and its October 2025 expansion (MODEL.md 5.1, 5.9; Argus and IEA 2025 report
ex-China prices rising several-fold while Chinese domestic prices stayed flat).

Mechanism: while active, buyers outside the exporter bloc can obtain from the
exporter's suppliers of a controlled stage at most ``licensed_share`` of what
they would have bought from them without the control (markets.allocate). During
the first ``licence_delay_quarters`` no licence is granted at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scenarios.checks import check_bloc, check_stages
from scenarios.events import EventParams, ScenarioEvent, register_event


@dataclass
class ExportControlParams(EventParams):
    exporter: str = ""
    stages: list[str] = field(default_factory=list)
    licensed_share: float = field(default=0.0, metadata={"min": 0.0, "max": 1.0})
    licence_delay_quarters: int = field(default=0, metadata={"min": 0})


@register_event
class ExportControl(ScenarioEvent):
    kind = "export_control"
    Params = ExportControlParams

    def apply(self, model) -> None:
        p = self.params
        delay = p.licence_delay_quarters
        model.markets.set_export_control(self.name, p.exporter, p.stages, 0.0 if delay > 0 else p.licensed_share)
        if delay > 0:
            model.schedule_event(self.grant_licences, at=model.time + delay)

    def grant_licences(self) -> None:
        """End of the licence delay: licences now cover the licensed share."""
        if self.active:
            p = self.params
            self.model.markets.set_export_control(self.name, p.exporter, p.stages, p.licensed_share)

    def revert(self, model) -> None:
        model.markets.clear_export_control(self.name)

    @classmethod
    def check(cls, key, params, cfg) -> None:
        check_bloc(f"{key}.exporter", params.exporter, cfg)
        check_stages(f"{key}.stages", params.stages, cfg)
