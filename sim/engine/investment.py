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
from sim.engine import contracts

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
    if model.world.investment.demand_based_expectations:
        util = expected_sales_share(model, cap, pipe, growth)
    else:
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


def sales_within_reach(model: ChainModel) -> np.ndarray:
    """(B, S) tonnes a quarter a bloc's producers can expect to sell at each stage: the orders placed on them, the
    unmet demand of the bloc's own buyers, and the imports its buyers would rather replace (each origin's share of
    the imports times its security premium over the maximum premium: sim.engine.security)."""
    T, pop = model.tables, model.pop
    B = T.B
    out = np.zeros((B, T.S))
    prem = model.security.premium
    pmax = model.world.procurement.security_premium_max
    for s, cl in model.last_clearing.items():
        sup_bloc = pop.bloc[cl.suppliers]
        out[:, s] += np.bincount(sup_bloc, weights=pop.orders_t[cl.suppliers], minlength=B)
        out[:, s] += np.bincount(cl.class_bloc, weights=cl.unmet, minlength=B)
        if pmax > 0 and cl.delivered is not None:
            for b in range(B):
                got = np.bincount(sup_bloc, weights=cl.delivered[cl.class_bloc == b].sum(axis=0), minlength=B)
                at_risk = np.minimum(prem[b] / pmax, 1.0)
                at_risk[b] = 0.0
                out[b, s] += (got * at_risk).sum()
    return out


def expected_sales_share(model: ChainModel, cap: np.ndarray, pipe: np.ndarray, growth: np.ndarray) -> np.ndarray:
    """(B, S) expected utilisation of the bloc's capacity incl. pipeline: smoothed sales within reach
    (:func:`sales_within_reach`, t a quarter, over ``investment.price_memory_quarters``) x demand growth over the
    lead time x 4 / (capacity + pipeline); a stage with neither capacity nor pipeline but sales within reach
    expects the maximum utilisation, one with nothing at all the target utilisation."""
    if model.sales_expected_quarter != model.quarter:  # smoothed once a quarter, however often investors ask
        a = 1.0 / max(model.world.investment.price_memory_quarters, 1.0)
        now = sales_within_reach(model)
        model.sales_expected = now if model.sales_expected is None else (1 - a) * model.sales_expected + a * now
        model.sales_expected_quarter = model.quarter
    nameplate = cap + pipe
    mk = model.world.markets
    empty = np.where(model.sales_expected > 1e-9, mk.max_utilisation, mk.target_utilisation)
    return np.where(nameplate > 0, model.sales_expected * growth * 4.0 / np.maximum(nameplate, 1e-9), empty)


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
    E_contract = None
    if contracts.enabled(model):  # projects at the gate in blocs whose buyers sign offtake contracts are valued with one
        E_contract = contracts.contract_terms(model, E)
        pi_c = inv.profitability_index(
            pop.bloc, pop.stage, processing_cost(pop, T), T, E_contract, w.investment.horizon_years, w.finance.depreciation_years
        )
        pi = np.where(contracts.eligible_blocs(model)[pop.bloc], pi_c, pi)
    gate = inv.finance_gate(pop, T, model.streams["projects"], pi, w.investment.min_profitability_index, w.finance, buffer)
    if E_contract is not None:
        contracts.sign(model, gate["financed"], E_contract)
    model.log_rows("fid", gate["financed"], values=pop.proj_capex_musd[gate["financed"]])
    model.log_rows("abandoned", gate["abandoned"])
    for key, name in (("financed", "financed"), ("stalled", "stalled"), ("constrained", "constrained"), ("abandoned", "abandoned")):
        r = gate[key]
        model.counters[name] += T.bs_sum(pop.bloc[r], pop.stage[r])
    rows, nameplate, skipped = inv.choose_expansions(pop, T, model.streams["investment"], pi, w.investment, w.finance, buffer)
    model.counters["constrained"] += T.bs_sum(pop.bloc[skipped], pop.stage[skipped])
    model.log_rows("expansion_skipped", skipped)
    inv.start_projects(pop, rows, T, model.streams["projects"], q, nameplate, greenfield=False)
    model.counters["started"] += T.bs_sum(pop.bloc[rows], pop.stage[rows])
    model.log_rows("project_start", rows, values=nameplate)
    model.pi_entrant = entrant_pi(model, E if E_contract is None else E_contract)  # entrants in eligible blocs expect a contract


def entrant_pi(model: ChainModel, E: inv.Expectations) -> np.ndarray:
    """(B, S) profitability index of a typical new plant (entrant cost index 1, entrant experience)."""
    T = model.tables
    B, S = T.B, T.S
    b, s = np.meshgrid(np.arange(B), np.arange(S), indexing="ij")
    exp_factor = (T.entrant_experience_years / T.experience_ref_years) ** (-T.learning_b)
    proc = T.processing_cost_usd_per_kg * exp_factor[None, :]
    return inv.profitability_index(b, s, proc, T, E, model.world.investment.horizon_years, model.world.finance.depreciation_years)
