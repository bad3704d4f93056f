"""Agents: firms (columnar population and row view), buyers; policy agents join in later modules."""

from agents.buyers import Buyer
from agents.firms import Firm, FirmPopulation, Phase, ProjectPhase, Tier

__all__ = ["Buyer", "Firm", "FirmPopulation", "Phase", "ProjectPhase", "Tier"]
