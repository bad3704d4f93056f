"""The codes firms carry and the configuration names: life phases, project phases and designation tiers.

Kept apart from agents/firms.py (whose rules load the compiled kernels, and with them numba) so that the
configuration layer, which checks policy and criteria files against the tiers' names, imports neither: a command that
stops at a mistake in its config answers without them. agents.firms re-exports every name here.
"""

from __future__ import annotations

from enum import IntEnum


class Phase(IntEnum):
    """Life phase of a firm."""

    PROJECT = 0  # a greenfield project, no output yet
    OPERATING = 1
    EXITED = 2


class ProjectPhase(IntEnum):
    """Phase of the firm's current capacity project (MODEL.md 5.4)."""

    NONE = 0
    PLANNING = 1
    PERMITTING = 2
    FINANCING = 3  # waits at the final investment decision until funded
    CONSTRUCTION = 4
    RAMPUP = 5  # commissioning: nameplate comes on line step by step
    QUALIFICATION = 6  # magnets, new plants: buyers test before they buy


class Tier(IntEnum):
    """Designation tier (MODEL.md 5.6); set by the government agent.

    ``label`` is the tier's name as data: the key of its criteria, quota and benefits in
    conf/policy and conf/criteria, the ``detail`` of its events and the ``tier`` / ``key``
    values of the outputs (``Tier.LITTLE_GIANT.label == "little_giant"``)."""

    NONE = 0
    INNOVATION_TYPE = 1
    SRDI = 2
    LITTLE_GIANT = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def of(cls, label: str) -> Tier:
        """The tier named ``label`` (``Tier.of("srdi") is Tier.SRDI``)."""
        return cls[label.upper()]


DESIGNATED = tuple(t for t in Tier if t != Tier.NONE)  # the tiers a government awards, bottom first
# Key Little Giants are Little Giants with a flag (column key_lg), not a tier; their benefits and output rows
# carry this label beside the tiers' (conf/policy benefits, policy.parquet key, firms.parquet column)
KEY_LITTLE_GIANT = "key_little_giant"
