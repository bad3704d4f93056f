"""Agents: firms (columnar population and row view), buyers; policy agents join in later modules.

``Buyer`` (a Mesa agent) is imported on first use, so that importing the firms' classes (as the configuration layer
does) does not import Mesa.
"""

from agents.firms import Firm, FirmPopulation, Phase, ProjectPhase, Tier

__all__ = ["Buyer", "Firm", "FirmPopulation", "Phase", "ProjectPhase", "Tier"]


def __getattr__(name: str):
    if name == "Buyer":
        from agents.buyers import Buyer

        return Buyer
    raise AttributeError(f"module 'agents' has no attribute {name!r}")
