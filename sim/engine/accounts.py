"""Accounts and innovation, steps 3 and 4 of the quarter (MODEL.md 3, 5.2, 5.3).

The rules are the firms' own (agents/firms.py: ``account``, ``innovate``, ``learn``);
this module hands them the quarter's prices, streams and instruments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agents.firms import account, innovate, learn
from scenarios.strategic_pricing import export_discount_loss

if TYPE_CHECKING:  # pragma: no cover
    from sim.engine.model import ChainModel


def do_accounting(model: ChainModel) -> None:
    """Revenue at the traded price (less strategic export discounts), costs, interest, tax; cash and debt update."""
    account(model.pop, model.tables, model.quarter, model.world.finance, model.trade_price, revenue_adjust=export_discount_loss(model))


def do_innovation(model: ChainModel) -> None:
    """R&D adds knowledge and patents (the patent cohort of this year); learning by doing and the quality ramp."""
    pop, inn = model.pop, model.world.innovation
    year_slot = (model.quarter // 4) % inn.patent_life_years
    innovate(pop, model.tables, inn, model.streams["innovation"], year_slot, model.group_sharing)
    learn(pop, model.tables, inn.knowhow_ramp_effect, model.instruments.ramp_extra)
