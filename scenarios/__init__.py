"""Scenario events: interventions and shocks that scenarios schedule.

Each event kind is a class with a parameter dataclass; scenarios list events in
YAML (``scenario.events``) with ``kind``, ``start_year``, ``end_year`` and the
kind's parameters. The model schedules each event's start and end with Mesa's
event scheduling.
"""

from scenarios.events import EVENT_KINDS, ScenarioEvent, parse_events, register_event
from scenarios.export_control import ExportControl

__all__ = ["EVENT_KINDS", "ScenarioEvent", "parse_events", "register_event", "ExportControl"]
