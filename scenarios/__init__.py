"""Scenario events: interventions and shocks that scenarios schedule.

Each event kind is a class with a parameter dataclass; scenarios list events in
YAML (``scenario.events``) with ``kind``, ``start_year``, ``end_year`` and the
kind's parameters. The model schedules each event's start and end with Mesa's
event scheduling. Kinds: export_control, export_quota, technology_export_ban, demand_shock,
price_floor, permitting_reform, strategic_pricing, and the trade and content rules
tariff, sourcing_ban, production_credit (MODEL.md 5.9; docs/ODD.md 7.11).
"""

from scenarios.demand_shock import DemandShock
from scenarios.events import EVENT_KINDS, ScenarioEvent, parse_events, register_event
from scenarios.export_control import ExportControl
from scenarios.export_quota import ExportQuota
from scenarios.permitting_reform import PermittingReform
from scenarios.price_floor import PriceFloor, PriceFloors
from scenarios.production_credit import ProductionCredit
from scenarios.sourcing_ban import SourcingBan
from scenarios.strategic_pricing import StrategicPricing
from scenarios.tariff import Tariff
from scenarios.technology_export_ban import TechnologyExportBan

__all__ = [
    "EVENT_KINDS",
    "ScenarioEvent",
    "parse_events",
    "register_event",
    "ExportControl",
    "ExportQuota",
    "TechnologyExportBan",
    "DemandShock",
    "PriceFloor",
    "PriceFloors",
    "PermittingReform",
    "StrategicPricing",
    "Tariff",
    "SourcingBan",
    "ProductionCredit",
]
