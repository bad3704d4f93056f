"""Agents: firms (columnar population and row view), buyers; policy agents join in later modules.

Every name here is imported on first use, so that importing the codes firms carry (agents.codes, as the configuration
layer does) imports neither Mesa (``Buyer``) nor the compiled kernels and numba (the firms' rules).
"""

__all__ = ["Buyer", "Firm", "FirmPopulation", "Phase", "ProjectPhase", "Tier"]


def __getattr__(name: str):
    if name == "Buyer":
        from agents.buyers import Buyer

        return Buyer
    if name in ("Firm", "FirmPopulation"):
        from agents import firms

        return getattr(firms, name)
    if name in ("Phase", "ProjectPhase", "Tier"):
        from agents import codes

        return getattr(codes, name)
    raise AttributeError(f"module 'agents' has no attribute {name!r}")
