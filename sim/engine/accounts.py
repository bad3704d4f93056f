"""Accounts and innovation, steps 3 and 4 of the quarter (MODEL.md 3, 5.2, 5.3).

The rules are the firms' own (agents/firms.py: ``account``, ``innovate``, ``learn``);
this module hands them the quarter's prices, streams and instruments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from agents.firms import account, innovate, learn, patent_slot, processing_cost
from scenarios.production_credit import ProductionCredit, ProductionCreditPolicy
from scenarios.strategic_pricing import export_discount_loss
from sim.engine import contracts

if TYPE_CHECKING:  # pragma: no cover
    from sim.engine.model import ChainModel


def do_accounting(model: ChainModel, proc: np.ndarray | None = None) -> None:
    """Production credits paid into this quarter's grants; revenue at the traded price (less strategic export
    discounts), costs, interest, tax; cash and debt update. ``proc``: the firms' processing cost this quarter, when
    the caller has read it (``prices.update_prices`` returns it; else read here)."""
    if proc is None:
        proc = processing_cost(model.pop, model.tables)
    pay_production_credits(model, proc)
    adjust = export_discount_loss(model)
    if contracts.enabled(model):  # contract floors top up contracted sales (sim.engine.contracts)
        adjust = (0.0 if adjust is None else adjust) - contracts.topup(model)
    if model.pop.home_discount_musd.any():  # home-first sales of floored plants below the index (scenarios.price_floor.reserve_home)
        adjust = (0.0 if adjust is None else adjust) + model.pop.home_discount_musd
    account(
        model.pop,
        model.tables,
        model.quarter,
        model.world.finance,
        model.trade_price,
        revenue_adjust=adjust,
        mothball_fixed_cost_saved=model.world.markets.mothball_fixed_cost_saved,
        rd_tax=model.rd_tax_now(),
        proc=proc,
    )
    contracts.review(model)


def pay_production_credits(model: ChainModel, proc: np.ndarray) -> None:
    """Every active production credit (scenarios.production_credit: events and blocs' policies) pays into this
    quarter's grants, on the firms' processing cost ``proc`` (USD/kg per row)."""
    credits = [m for m in model.policy.modules if isinstance(m, ProductionCredit | ProductionCreditPolicy) and m.active]
    if credits:
        for credit in credits:
            credit.pay(model, proc)


def do_innovation(model: ChainModel) -> None:
    """R&D adds knowledge and patents (the patent cohort of this year); learning by doing and the quality ramp."""
    pop, inn = model.pop, model.world.innovation
    year_slot = patent_slot(model.quarter // 4, model.pop.patent_slots)
    innovate(pop, model.tables, inn, model.streams["innovation"], year_slot, model.group_sharing)
    learn(pop, model.tables, inn.knowhow_ramp_effect, model.instruments.ramp_extra, inn.quality_ramp_on_throughput)
