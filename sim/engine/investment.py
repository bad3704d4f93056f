"""Investment, step 5 of the quarter (MODEL.md 3, 5.4).

Projects advance through their phases (permitting reforms and caps count), the
finance gate funds, stalls or abandons projects at financing, and operating firms
choose expansions; all of them on the investors' expectations per bloc and stage.
The rules are in agents/investment.py; this module gathers their inputs from the
model and logs and counts what happened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from agents import investment as inv
from agents.firms import processing_cost

if TYPE_CHECKING:  # pragma: no cover
    from sim.engine.model import ChainModel


def expectations(model: ChainModel) -> inv.Expectations:
    """Investors' view per bloc and stage (MODEL.md 5.4)."""
    T, mk = model.tables, model.markets
    B, S = T.B, T.S
    model.lead_years = inv.lead_years(T, model.instruments.permit_factor, model.instruments.permit_cap_years)  # permitting reforms count
    input_price = np.zeros((B, S))
    input_price[:, 1:] = model.expected_paid[:, :-1]
    # capacity and pipeline per bloc-stage, and world demand growth over the lead time
    cap, pipe = model.capacity_and_pipeline()
    year = model.current_year
    now = sum(T.final_demand_t_per_year(b, year) for b in range(B))
    growth = np.array(
        [[sum(T.final_demand_t_per_year(b, year + model.lead_years[bb, s]) for b in range(B)) / max(now, 1e-9) for s in range(S)] for bb in range(B)]
    )
    util = np.where(cap > 0, model.utilisation * growth * cap / np.maximum(cap + pipe, 1e-9), model.world.markets.target_utilisation)
    util = np.clip(util, 0.0, model.world.markets.max_utilisation)
    vol = mk.volatility()
    rate = T.base_rate[:, None] + T.risk_premium[:, None] + T.volatility_premium[:, None] * vol
    return inv.Expectations(
        price=model.price_floors.floored(mk.expected_price),
        input_price=input_price,
        utilisation=util,
        discount_rate=rate,
        lead_years=model.lead_years,
        tax_rate=T.tax_rate,
        capex_support=model.policy.capex_support(),
    )


def do_investment(model: ChainModel) -> None:
    """Projects advance; the finance gate; expansions start; the entrants' profitability for entry (MODEL.md 5.4)."""
    T, pop, w = model.tables, model.pop, model.world
    q = model.quarter
    pop.equity_in = 0.0
    pop.grants = 0.0
    pop.rd_grants = 0.0
    ms = inv.advance_projects(pop, T, q, model.instruments.permit_factor, model.instruments.permit_cap_years)
    for kind, rows in ms.items():
        model.log_rows(kind, rows)
    E = expectations(model)
    pi = inv.profitability_index(pop.bloc, pop.stage, processing_cost(pop, T), T, E, w.investment.horizon_years, w.finance.depreciation_years)
    buffer = w.finance.min_cash_quarters_of_fixed_cost * pop.fixed_cost
    gate = inv.finance_gate(pop, T, model.streams["projects"], pi, w.investment.min_profitability_index, w.finance, buffer)
    model.log_rows("fid", gate["financed"], values=pop.proj_capex_musd[gate["financed"]])
    model.log_rows("abandoned", gate["abandoned"])
    for key, name in (("financed", "financed"), ("stalled", "stalled"), ("constrained", "constrained"), ("abandoned", "abandoned")):
        r = gate[key]
        model.counters[name] += T.bs_sum(pop.bloc[r], pop.stage[r])
    rows, nameplate = inv.choose_expansions(pop, T, model.streams["investment"], pi, w.investment)
    inv.start_projects(pop, rows, T, model.streams["projects"], q, nameplate, greenfield=False)
    model.counters["started"] += T.bs_sum(pop.bloc[rows], pop.stage[rows])
    model.log_rows("project_start", rows, values=nameplate)
    model.pi_entrant = entrant_pi(model, E)


def entrant_pi(model: ChainModel, E: inv.Expectations) -> np.ndarray:
    """(B, S) profitability index of a typical new plant (entrant cost index 1, entrant experience)."""
    T = model.tables
    B, S = T.B, T.S
    b, s = np.meshgrid(np.arange(B), np.arange(S), indexing="ij")
    exp_factor = (T.entrant_experience_years / T.experience_ref_years) ** (-T.learning_b)
    proc = T.processing_cost_usd_per_kg * exp_factor[None, :]
    return inv.profitability_index(b, s, proc, T, E, model.world.investment.horizon_years, model.world.finance.depreciation_years)
