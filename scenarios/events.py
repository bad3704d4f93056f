"""The scenario-event mechanism: parameters as data, start and end as Mesa events.

An event becomes active just before the first quarter it covers (model time
``q + 0.5`` for quarter index ``q``) and inactive just before the first quarter
after ``end_year``; ``end_year: null`` keeps it in force to the horizon.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Optional

from sim.checks import ConfigError, check_fields, omegaconf_error

if TYPE_CHECKING:  # pragma: no cover
    from sim.config import Config

EVENT_KINDS: dict[str, type["ScenarioEvent"]] = {}


def register_event(cls: type["ScenarioEvent"]) -> type["ScenarioEvent"]:
    """Class decorator: make an event kind available to scenario files."""
    EVENT_KINDS[cls.kind] = cls
    return cls


@dataclass
class EventParams:
    """Fields every event has. Years are fractional: 2025.25 is 2025 Q2."""

    kind: str = ""
    start_year: float = 0.0
    end_year: Optional[float] = None


class ScenarioEvent:
    """Base class: subclasses set ``kind`` and ``Params`` and implement apply/revert.

    A policy module (sim.engine.policy.PolicyModule): ``install`` schedules start and end, ``retire`` ends
    the event now if it is active. Events pay no public money of their own (``fiscal_musd`` is empty; a
    price-floor event's money is booked by the price-floor container)."""

    order: ClassVar[int] = 70
    bloc: ClassVar[int] = -1
    kind: ClassVar[str] = ""
    Params: ClassVar[type] = EventParams
    question: ClassVar[str] = ""  # the question the event serves, for docs

    def __init__(self, name: str, params: Any):
        self.name = name
        self.params = params
        self.model = None
        self.active = False

    # -- policy module -------------------------------------------------------
    def install(self, model) -> None:
        self.schedule(model)

    def quarter(self, model) -> None:
        """Nothing quarterly: apply and revert change the instruments the model reads."""

    def year(self, model) -> None:
        """Nothing yearly."""

    def retire(self, model) -> None:
        self.end()

    def fiscal_musd(self) -> dict[tuple[int, str], float]:
        return {}

    # -- scheduling --------------------------------------------------------
    def schedule(self, model) -> None:
        """Schedule start and end on the model's event list."""
        self.model = model
        start_q = model.quarter_index(self.params.start_year)
        model.schedule_event(self.start, at=max(start_q, 0) + 0.5)
        if self.params.end_year is not None:
            end_q = model.quarter_index(self.params.end_year)
            model.schedule_event(self.end, at=max(end_q, 0) + 0.5)

    def start(self) -> None:
        self.active = True
        self.apply(self.model)
        # fired between quarters: the event acts from the next quarter on
        self.model.log_event("shock_start", detail=f"{self.kind}:{self.name}", quarter=self.model.quarter + 1)

    def end(self) -> None:
        if not self.active:
            return
        self.active = False
        self.revert(self.model)
        self.model.log_event("shock_end", detail=f"{self.kind}:{self.name}", quarter=self.model.quarter + 1)

    # -- behaviour ----------------------------------------------------------
    def apply(self, model) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def revert(self, model) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def check(cls, key: str, params: Any, cfg: "Config") -> None:
        """Cross-checks against the world (names that must exist); raise ConfigError."""


def parse_events(events: dict[str, Any], cfg: "Config") -> list[ScenarioEvent]:
    """Validate the scenario's event table and build event objects (unscheduled)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    out: list[ScenarioEvent] = []
    for name, spec in (events or {}).items():
        key = f"scenario.events.{name}"
        if not isinstance(spec, dict):
            raise ConfigError(
                key, f"must be a mapping with kind, start_year, end_year and parameters, e.g. {{kind: export_control, ...}}; got {spec!r}"
            )
        kind = spec.get("kind")
        if kind is None:  # +scenario.events.NAME.start_year=... alone: the event has no kind
            raise ConfigError(
                f"{key}.kind",
                f"an event needs its kind (kind: NAME in the file, or +{key}.kind=NAME); allowed: {', '.join(sorted(EVENT_KINDS))}",
            )
        if kind not in EVENT_KINDS:
            raise ConfigError(f"{key}.kind", f"unknown event kind '{kind}'; allowed: {', '.join(sorted(EVENT_KINDS))}")
        cls = EVENT_KINDS[kind]
        allowed = [fl.name for fl in dataclasses.fields(cls.Params)]
        for k in spec:
            if k not in allowed:
                raise ConfigError(f"{key}.{k}", f"unknown parameter of '{kind}'; allowed: {', '.join(allowed)}")
        try:
            params = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(cls.Params), spec))
        except OmegaConfBaseException as ex:
            err = omegaconf_error(ex)
            raise ConfigError(f"{key}.{err.key}", err.problem) from None
        check_fields(params, key)
        w = cfg.world
        first = w.start_year
        # an event that starts after the horizon never fires (so short runs of any scenario work)
        if params.start_year < first:
            raise ConfigError(f"{key}.start_year", f"must not be before the start of the run ({first}); got {params.start_year}")
        if params.end_year is not None and params.end_year < params.start_year:
            raise ConfigError(f"{key}.end_year", f"must be null or >= start_year ({params.start_year}); got {params.end_year}")
        cls.check(key, params, cfg)
        out.append(cls(name, params))
    return out
