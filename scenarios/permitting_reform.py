"""Permitting reform: permitting durations of a bloc's projects scaled and capped.

Question served: Q1 and Q3 of MODEL.md - how much faster does a bloc stand up
a stage when permits are faster, and how does permitting speed compare with
money as a lever?
Reference: EU Critical Raw Materials Act (2024) permit time caps for strategic
projects: 27 months for extraction, 15 months for processing and other
projects (MODEL.md 5.8).

Mechanism: while active, a project of ``bloc`` at one of ``stages`` that enters
its permitting phase draws the permitting duration (agents.investment.
phase_quarters, from the bloc-stage range and the project's own uniform) times
``factor`` (> 0), and at most ``cap_years`` (null: no cap), rounded to whole
quarters. Projects already in permitting keep the duration they drew. Both are
layers (sim.engine.instruments) on ``model.instruments.permit_factor`` (multiplied) and
``model.instruments.permit_cap_years`` (the smallest cap wins; inf = no cap), so reforms
compose and ending one restores the arrays exactly. The investors' expected
lead time (``model.lead_years``) is not changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from scenarios.checks import check_bloc, check_stages
from scenarios.events import EventParams, ScenarioEvent, register_event
from sim.checks import ConfigError


@dataclass
class PermittingReformParams(EventParams):
    bloc: str = ""
    stages: list[str] = field(default_factory=list)
    factor: float = field(default=1.0, metadata={"min": 0.0, "max": 10.0})  # > 0, checked in check()
    cap_years: Optional[float] = field(default=None, metadata={"min": 0.0})  # longest permitting time; null: none


@register_event
class PermittingReform(ScenarioEvent):
    kind = "permitting_reform"
    Params = PermittingReformParams
    question = "How much faster does a bloc build a stage when permits are faster or capped?"

    def _mask(self, model) -> np.ndarray:
        T = model.tables
        return model.instruments.mask([T.blocs.index(self.params.bloc)], [T.stages.index(s) for s in self.params.stages])

    def apply(self, model) -> None:
        mask = self._mask(model)
        ins = model.instruments
        ins.set_layer("permit_factor", f"event:{self.name}", np.where(mask, self.params.factor, 1.0), op="mul", init=1.0)
        if self.params.cap_years is not None:
            ins.set_layer("permit_cap_years", f"event:{self.name}", np.where(mask, self.params.cap_years, np.inf), op="min", init=np.inf)

    def revert(self, model) -> None:
        model.instruments.clear_layer("permit_factor", f"event:{self.name}")
        model.instruments.clear_layer("permit_cap_years", f"event:{self.name}")

    @classmethod
    def check(cls, key, params, cfg) -> None:
        check_bloc(f"{key}.bloc", params.bloc, cfg)
        check_stages(f"{key}.stages", params.stages, cfg)
        if params.factor <= 0:
            raise ConfigError(f"{key}.factor", f"must be > 0, got {params.factor}")
        if params.cap_years is not None and params.cap_years <= 0:
            raise ConfigError(f"{key}.cap_years", f"must be null or > 0, got {params.cap_years}")
