"""The compiled row kernels (agents/kernels.py) give bit for bit the numbers of the array formulas they replace.

``account_reference`` below is ``agents.firms.account`` as it was written in numpy array code before the kernel (the
rule's docstring formulas, in order, on whole columns); each test draws random populations with every option of the
rule on and off, edge values included (zero and negative cash, exited rows, mothballed plants, plants under
construction with no quarter left, -0.0), runs both and compares every column's bytes.
"""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
from _rule_helpers import fresh_config, make_pop, tables

from agents import investment as inv
from agents.firms import COLUMNS, HIST, Phase, ProjectPhase, Tier, account, per_row, processing_cost
from sim.engine.national import market
from sim.engine.national.model import NationalModel


def account_reference(pop, T, step, fin, market_price, revenue_adjust, mothball_fixed_cost_saved, row_price, rd_tax=None, rd_booked=None) -> None:
    """agents.firms.account in numpy array code (the reference the kernel is checked against; ``rd_booked``, the
    deduction's base as booked, was added to the rule after the kernel, in the same formula's order)."""
    n = len(pop)
    alive = pop.alive
    dead = ~alive
    revenue, fixed_cost, d_wc = pop.revenue, pop.fixed_cost, pop.working_capital_in
    # every quantity below is computed in the order of its formula (the docstring's), in place where it can be
    price = market_price[pop.bloc, pop.stage] if row_price is None else row_price
    np.multiply(pop.output_t, price, out=revenue)
    revenue /= 1000.0
    if revenue_adjust is not None:  # revenue given up on discounted export sales (scenarios.strategic_pricing)
        revenue -= revenue_adjust
    proc = processing_cost(pop, T)
    np.multiply(pop.output_t, proc, out=pop.opex)
    pop.opex /= 1000.0
    bs = pop.bloc, pop.stage
    np.multiply(per_row(T.fixed_cost_share, *bs) * per_row(T.capex_musd_per_kt, *bs), pop.capacity_t, out=fixed_cost)
    fixed_cost /= 1000.0
    fixed_cost /= 4.0
    # a mothballed plant pays care and maintenance only (``mothball``)
    mb = np.flatnonzero(pop.mothballed)
    if len(mb):
        fixed_cost[mb] = (1.0 - mothball_fixed_cost_saved) * fixed_cost[mb]
    rate = np.subtract(per_row(T.interest_rate, pop.bloc), pop.interest_subsidy)
    np.maximum(rate, 0.0, out=rate)
    np.multiply(pop.debt, rate, out=pop.interest)
    pop.interest /= 4.0
    # capex: construction spends the remaining budget evenly over the remaining quarters
    building = np.flatnonzero(pop.proj_phase == ProjectPhase.CONSTRUCTION)
    spend = pop.capex
    spend[:] = 0.0
    spend[building] = pop.proj_capex_left[building] / np.maximum(pop.proj_remaining_q[building], 1.0)
    pop.proj_capex_left[building] -= spend[building]
    # working capital follows sales: receivables and stocks at this quarter's sales rate, less supplier credit
    np.maximum(revenue, 0.0, out=d_wc)
    np.multiply(fin.working_capital_share * 4.0, d_wc, out=d_wc)
    d_wc[dead] = 0.0
    d_wc -= pop.working_capital
    # lenders lend against plant, construction and working capital (working-capital loans)
    room = pop.book_assets + pop.cip
    room += spend
    room += pop.working_capital
    room += d_wc
    np.multiply(np.add(per_row(T.leverage_max, pop.bloc), pop.credit_bonus), room, out=room)
    room -= pop.debt
    np.maximum(room, 0.0, out=room)
    funds = pop.cash + revenue
    for x in (pop.input_cost, pop.opex, fixed_cost, pop.interest, d_wc):
        funds -= x
    funds += room
    funds -= spend
    np.maximum(funds, 0.0, out=funds)
    rd = pop.rd_spend
    np.multiply(pop.rd_propensity, revenue, out=rd)
    if rd_tax is not None:  # R&D answers its after-tax price
        rd *= rd_tax[0][pop.bloc]
    rd += pop.rd_grants
    np.minimum(rd, funds, out=rd)
    rd[dead] = 0.0
    costs = pop.costs
    np.add(pop.input_cost, pop.opex, out=costs)
    costs += fixed_cost
    costs += pop.interest
    costs += rd
    life_q = pop.plant_life_left * (fin.depreciation_years * 4.0)
    pop.depreciation[:] = np.where(life_q > 1.0, pop.book_assets / np.where(life_q > 1.0, life_q, 1.0), pop.book_assets)
    pbt = revenue + pop.grants
    pbt -= costs
    pbt -= pop.depreciation
    if rd_tax is None:
        np.maximum(pbt, 0.0, out=pop.tax)
    elif rd_booked is None:  # the additional deduction of R&D expense comes off taxable profit
        np.maximum(pbt - rd_tax[1][pop.bloc] * rd, 0.0, out=pop.tax)
    else:  # of R&D expense as booked
        np.maximum(pbt - rd_tax[1][pop.bloc] * (rd * rd_booked), 0.0, out=pop.tax)
    pop.tax *= pop.tax_rate
    np.subtract(pbt, pop.tax, out=pop.profit)
    cash_pre = np.add(pop.cash, revenue, out=funds)
    cash_pre -= costs
    cash_pre -= pop.tax
    cash_pre += pop.grants
    cash_pre -= pop.capex
    cash_pre -= d_wc
    pop.working_capital += d_wc
    buffer = fin.min_cash_quarters_of_fixed_cost * fixed_cost
    borrow = np.negative(cash_pre)
    np.maximum(borrow, 0.0, out=borrow)
    np.minimum(borrow, room, out=borrow)
    need = borrow.copy()  # what the quarter's cash could not pay
    if fin.target_capital_structure and fin.target_borrowing:  # construction financed with debt up to the target ratio
        assets = pop.book_assets + pop.cip + spend + pop.working_capital + np.maximum(cash_pre, 0.0)
        top = np.minimum(np.minimum(spend, np.maximum(fin.target_debt_ratio * assets - pop.debt, 0.0)), room)
        np.maximum(borrow, top, out=borrow, where=spend > 0)
    repay = np.zeros(n)  # surplus above the buffer repays debt: min(debt x share, cash - buffer) where cash is above it
    np.minimum(np.multiply(pop.debt, fin.repayment_share), np.subtract(cash_pre, buffer), out=repay, where=cash_pre > buffer)
    np.maximum(repay, 0.0, out=repay)
    if fin.target_capital_structure:  # repay only down to the target debt ratio: (debt - x) / (assets - x) = target
        t = fin.target_debt_ratio
        assets = pop.book_assets + pop.cip + pop.working_capital + np.maximum(cash_pre, 0.0)
        np.minimum(repay, np.maximum((pop.debt - t * assets) / (1.0 - t), 0.0), out=repay)
    np.subtract(borrow, repay, out=pop.net_borrowing)
    # observation (no rule reads it): a firm that borrows for more than the configured share of this quarter's capex
    # needed outside money to build (agents.investment.mark_outside_finance marks the decision and the gate)
    if len(building):
        sb, bb = spend[building], need[building]
        pop.outside_finance[building] |= (sb > 0) & (np.minimum(bb, sb) > fin.outside_finance_share * sb)
    pop.debt += pop.net_borrowing
    np.add(cash_pre, pop.net_borrowing, out=pop.cash)
    net = pop.cash + (pop.book_assets - pop.depreciation) + (pop.cip + pop.capex) + pop.working_capital - pop.debt
    if fin.payout_ratio > 0:
        div = pop.dividends
        np.multiply(fin.payout_ratio, pop.profit, out=div)
        np.minimum(div, pop.cash - buffer, out=div)
        np.minimum(div, net, out=div)
        np.clip(div, 0.0, None, out=div)
        pop.cash -= div
    else:
        pop.dividends = 0.0
    if fin.target_capital_structure:  # at or below the target debt ratio, owners take the cash above the target holding
        keep = np.maximum(buffer, fin.target_cash_months_of_revenue / 3.0 * np.maximum(revenue, 0.0))
        assets = pop.book_assets + pop.cip + pop.working_capital + np.maximum(pop.cash, 0.0)
        # a firm with a project in its pipeline keeps its cash for it (retained for committed investment: the pecking
        # order, Myers and Majluf 1984): a plant being planned, financed, built or ramped up is not paid out
        idle = alive & (pop.proj_phase == ProjectPhase.NONE)
        surplus = np.where(
            idle & (pop.debt <= fin.target_debt_ratio * assets), np.maximum(np.minimum(pop.cash - keep, net - pop.dividends), 0.0), 0.0
        )
        paid = pop.dividends
        paid += surplus
        pop.cash -= surplus
    pop.book_assets -= pop.depreciation
    np.maximum(pop.plant_life_left - 1.0 / (fin.depreciation_years * 4.0), 0.0, out=pop.plant_life_left)
    pop.cip += pop.capex
    slot = step % HIST
    pop.rev_hist[:, slot] = revenue
    pop.rd_hist[:, slot] = rd
    pop.prof_hist[:, slot] = pop.profit
    wage_bill = np.multiply(pop.employees, per_row(T.wage_musd_per_employee_year, pop.bloc))
    np.maximum(wage_bill, 1e-9, out=wage_bill)
    share = pop.trailing(pop.rd_hist, step)
    share *= 0.6
    share /= wage_bill
    np.clip(share, 0.0, 0.9, out=pop.rd_staff_share)


@pytest.fixture(scope="module")
def T():
    return tables()


def population(T, rng: np.random.Generator, n: int):
    """``n`` firms with random books: some exited, mothballed, building (some with no quarter left), at zero cash."""
    pop = make_pop(
        n,
        stage=rng.integers(0, T.S, n),
        bloc=rng.integers(0, T.B, n),
        output_t=rng.random(n) * 200.0 * (rng.random(n) < 0.8),
        cash=rng.standard_normal(n) * 5.0 * (rng.random(n) < 0.8),
        debt=rng.random(n) * 20.0 * (rng.random(n) < 0.7),
        book_assets=rng.random(n) * 30.0,
        plant_life_left=rng.random(n) * (rng.random(n) < 0.9),  # some at the end of their life
        cip=rng.random(n) * 5.0 * (rng.random(n) < 0.3),
        working_capital=rng.random(n) * 4.0,
        input_cost=rng.random(n) * 3.0,
        rd_propensity=rng.random(n) * 0.05,
        rd_grants=rng.random(n) * 0.2 * (rng.random(n) < 0.3),
        grants=rng.random(n) * 0.5 * (rng.random(n) < 0.3),
        interest_subsidy=rng.random(n) * 0.1 * (rng.random(n) < 0.3),
        credit_bonus=rng.random(n) * 0.2 * (rng.random(n) < 0.3),
        tax_rate=rng.choice([0.15, 0.25], n),
        employees=rng.random(n) * 100.0 * (rng.random(n) < 0.9),
        mothballed=rng.random(n) < 0.2,
        proj_phase=rng.choice([ProjectPhase.NONE, ProjectPhase.CONSTRUCTION, ProjectPhase.PLANNING], n, p=[0.6, 0.3, 0.1]),
        proj_capex_left=rng.random(n) * 10.0,
        proj_remaining_q=rng.integers(0, 5, n).astype(float),
    )
    pop.cash[rng.random(n) < 0.05] = -0.0
    pop.rd_hist[:] = rng.random((n, HIST))
    pop.rev_hist[:] = rng.random((n, HIST))
    pop.phase[rng.random(n) < 0.1] = Phase.EXITED
    return pop


# row price, revenue adjustment, R&D tax, target structure (0 off, 1 on, 2 on with construction borrowed to the target), payout
OPTIONS = list(itertools.product([False, True], [False, True], [False, True], [0, 1, 2], [False, True]))


@pytest.mark.parametrize("row_price, adjust, rd_tax, target, payout", OPTIONS)
def test_account_kernel_gives_the_array_formulas_numbers(T, row_price, adjust, rd_tax, target, payout):
    fin = fresh_config().world.finance
    fin.target_capital_structure, fin.target_borrowing = target > 0, target == 2
    fin.payout_ratio = 0.3 if payout else 0.0
    rng = np.random.default_rng(hash((row_price, adjust, rd_tax, target, payout)) % 2**32)
    n = 257
    price = np.tile(T.reference_price_usd_per_kg, (T.B, 1)).astype(float) * (0.5 + rng.random((T.B, T.S)))
    args = dict(
        revenue_adjust=rng.random(n) * 0.3 if adjust else None,
        mothball_fixed_cost_saved=0.5,
        row_price=rng.random(n) * 80.0 if row_price else None,
        rd_tax=(1.0 + rng.random(T.B), rng.random(T.B)) if rd_tax else None,
    )
    state = rng.bit_generator.state
    for step in (0, 5, 13):
        rng.bit_generator.state = state
        ref, new = population(T, rng, n), None
        rng.bit_generator.state = state
        new = population(T, rng, n)
        account_reference(ref, T, step, fin, price, **args)
        account(new, T, step, fin, price, **args)
        for name in COLUMNS:
            assert getattr(new, name).tobytes() == getattr(ref, name).tobytes(), (name, step)


@pytest.mark.parametrize("row_price, target", [(False, False), (True, True)])
def test_account_kernel_deducts_rd_as_booked(T, row_price, target):
    """With ``rd_booked`` (per row, R&D as booked per unit spent) the additional deduction's base is R&D x rd_booked: the
    kernel gives the array formula's numbers, and the tax is lower than without it wherever the deduction bites."""
    fin = fresh_config().world.finance
    fin.target_capital_structure = target
    rng = np.random.default_rng(11 + row_price)
    n = 257
    price = np.tile(T.reference_price_usd_per_kg, (T.B, 1)).astype(float) * (0.5 + rng.random((T.B, T.S)))
    booked = np.where(rng.random(n) < 0.5, 1.0 / (1.0 - 0.242), 1.0)
    args = dict(
        revenue_adjust=None,
        mothball_fixed_cost_saved=0.5,
        row_price=rng.random(n) * 80.0 if row_price else None,
        rd_tax=(1.0 + rng.random(T.B), rng.random(T.B)),
    )
    state = rng.bit_generator.state
    ref, new, spent = (None, None, None)
    for step in (0, 13):
        pops = []
        for _ in range(3):
            rng.bit_generator.state = state
            pops.append(population(T, rng, n))
        ref, new, spent = pops
        account_reference(ref, T, step, fin, price, **args, rd_booked=booked)
        account(new, T, step, fin, price, **args, rd_booked=booked)
        account(spent, T, step, fin, price, **args)
        for name in COLUMNS:
            assert getattr(new, name).tobytes() == getattr(ref, name).tobytes(), (name, step)
        more = (booked > 1.0) & (spent.tax > 0) & (spent.rd_spend > 0)
        assert more.any() and np.all(new.tax[more] <= spent.tax[more]) and np.any(new.tax[more] < spent.tax[more])
        np.testing.assert_array_equal(new.tax[booked == 1.0], spent.tax[booked == 1.0])


def test_account_kernel_takes_a_scalar_revenue_adjustment(T):
    """A scalar adjustment is every row's (as the array code broadcast it)."""
    fin = fresh_config().world.finance
    price = np.tile(T.reference_price_usd_per_kg, (T.B, 1)).astype(float)
    a, b = population(T, np.random.default_rng(3), 40), population(T, np.random.default_rng(3), 40)
    account(a, T, 2, fin, price, revenue_adjust=0.25)
    account(b, T, 2, fin, price, revenue_adjust=np.full(40, 0.25))
    for name in COLUMNS:
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), name
    assert processing_cost(a, T).shape == (40,) and per_row(T.interest_rate, a.bloc).shape in {(), (40,)}


def clear_niches_reference(model) -> None:
    """sim.engine.national.market.clear_niches in numpy array code (the reference the kernel is checked against)."""
    pop, mk, T = model.pop, model.national.market, model.tables
    n, n_niches = len(pop), len(model.price)
    niche = np.maximum(pop.niche, 0).astype(np.intp)  # once: bincount and gathers index with intp (an int32 index is converted at each use)
    price_usd = model.price[niche]
    price_usd *= T.reference_price_usd_per_kg[0]
    cost = pop.unit_cost_usd_per_kg
    cost[...] = processing_cost(pop, T)
    offers = pop.operating & (cost <= price_usd)
    idle = ~offers
    cap = pop.capacity_t
    weight = np.multiply(cap, pop.appeal)
    weight[idle] = 0.0
    demand = market.niche_demand(model)
    room = np.multiply(mk.max_utilisation, cap)  # what each firm can still sell, M yuan a year
    room[idle] = 0.0
    sales = np.zeros(n)
    left = demand.copy()
    w, ask, got = np.empty(n), np.empty(n), np.empty(n)
    for k in range(market.ALLOCATION_PASSES):  # buyers turned away by a full firm go to the others of the niche, by the same weights
        w[:] = 0.0
        np.copyto(w, weight, where=room > 1e-12)
        total = np.bincount(niche, weights=w, minlength=n_niches)[niche]
        ask[:] = 0.0
        np.divide(w, total, out=ask, where=total > 0)
        ask *= left[niche]
        if k == 0:
            np.divide(ask, 4.0, out=pop.orders_t)  # first-choice orders: what buyers would take from the firm (its busy-ness)
            share0 = np.divide(w, total, out=np.zeros(n), where=total > 0)  # each firm's share of its niche's first choice
        np.minimum(ask, room, out=got)
        sales += got
        room -= got
        left = np.maximum(left - np.bincount(niche, weights=got, minlength=n_niches), 0.0)
    np.divide(sales, 4.0, out=pop.output_t)
    if mk.orders_met:  # the demand a firm met: its sales plus its first-choice share of the niche's unserved demand
        np.divide(sales + share0 * left[niche], 4.0, out=pop.orders_t)
    potential = pop.potential_t
    np.multiply(mk.max_utilisation, cap, out=potential)
    potential /= 4.0
    potential[idle] = 0.0
    cap_offered = cap.copy()
    cap_offered[idle] = 0.0
    normal = np.bincount(niche, weights=cap_offered, minlength=n_niches) * mk.target_utilisation
    ratio = np.divide(demand, normal, out=np.ones(n_niches), where=normal > 0)  # no supplier: no trade, the price stays
    target = np.power(np.clip(ratio, 0.25, 4.0), mk.price_flexibility)
    if mk.cost_pass_through > 0:  # added after the kernel (not part of it): the normal price follows the niche's unit cost
        live_cap = np.where(pop.operating, cap, 0.0)
        w_cap = np.bincount(niche, weights=live_cap, minlength=n_niches)
        c_cap = np.bincount(niche, weights=live_cap * cost, minlength=n_niches)
        unit = np.divide(c_cap, w_cap, out=model.niche_cost0.copy(), where=w_cap > 0)
        target *= 1.0 + mk.cost_pass_through * (unit / model.niche_cost0 - 1.0)
    model.price = model.price + mk.price_adjustment * (target - model.price)
    model.niche_demand_last = demand
    model.niche_unserved = np.maximum(demand - np.bincount(niche, weights=sales, minlength=n_niches), 0.0)


@pytest.mark.parametrize("seed, pass_through, orders_met", [(1, 1.0, True), (2, 1.0, False), (3, 0.0, False), (4, 0.0, True)])
def test_niche_clearing_kernel_gives_the_array_formulas_numbers(seed, pass_through, orders_met):
    """A small national world a few quarters in, its firms' capacities, appeals and costs and its niches' prices
    shaken (some niches without an offering firm, some firms idle, some with no room), cleared both ways (the normal
    price on current cost, market.cost_pass_through, and without it; orders as the demand met,
    market.orders_met, and as first choice)."""
    cfg = fresh_config("scenario=national_programme", "national.scale=0.002", f"seed={seed}", "years=2")
    cfg.national.market.cost_pass_through = pass_through
    cfg.national.market.orders_met = orders_met
    cfg.national.market.shortage_pricing = False  # the price's floor at the clearing price is a rule of its own (tests/test_national.py)
    model = NationalModel(cfg)
    for _ in range(3):
        model.step()
    rng = np.random.default_rng(seed)
    pop = model.pop
    n = len(pop)
    pop.appeal[:] = pop.appeal * rng.lognormal(0.0, 0.5, n)
    pop.capacity_t[rng.random(n) < 0.05] = 0.0
    pop.innovation_factor[:] = pop.innovation_factor * rng.uniform(0.5, 2.0, n)
    model.price = model.price * rng.uniform(0.3, 3.0, len(model.price))
    twin = copy.deepcopy(model)
    clear_niches_reference(twin)
    market.clear_niches(model)
    for name in COLUMNS:
        assert getattr(model.pop, name).tobytes() == getattr(twin.pop, name).tobytes(), name
    for name in ("price", "niche_demand_last", "niche_unserved"):
        assert getattr(model, name).tobytes() == getattr(twin, name).tobytes(), name
    assert (model.pop.output_t > 0).any() and (model.niche_unserved > 0).any()


def supply_reference(pop, T) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ChainModel.supply in numpy array code (as capacity_and_pipeline and committed_pipeline were written before the
    kernel): bincount sums by (bloc, stage) of the operating nameplate, of the pipeline of live rows with a project and
    of the part of it past the final investment decision."""
    cap = T.bs_sum(pop.bloc, pop.stage, np.where(pop.operating, pop.capacity_t, 0.0))
    in_pipe = (pop.proj_phase != ProjectPhase.NONE) & pop.alive
    pipe = T.bs_sum(pop.bloc[in_pipe], pop.stage[in_pipe], pop.proj_nameplate_t[in_pipe] - pop.proj_added_t[in_pipe])
    sel = (pop.proj_phase >= ProjectPhase.CONSTRUCTION) & pop.alive
    committed = T.bs_sum(pop.bloc[sel], pop.stage[sel], pop.proj_nameplate_t[sel] - pop.proj_added_t[sel])
    return cap, pipe, committed


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_supply_kernel_gives_the_array_formulas_numbers(T, seed):
    """Every project phase, exited rows, operating rows with and without a project, nameplate already added in full,
    -0.0 and values whose sums depend on the order of addition: the three sums bit for bit."""
    from agents import kernels

    rng = np.random.default_rng(seed)
    n = 5000
    pop = population(T, rng, n)
    pop.phase[:] = rng.choice([Phase.PROJECT, Phase.OPERATING, Phase.EXITED], n, p=[0.2, 0.7, 0.1])
    pop.proj_phase[:] = rng.integers(0, len(ProjectPhase), n)
    pop.capacity_t[:] = rng.random(n) * 1e4 * (rng.random(n) < 0.9)
    pop.proj_nameplate_t[:] = rng.random(n) * 3e3
    pop.proj_added_t[:] = np.where(rng.random(n) < 0.2, pop.proj_nameplate_t, rng.random(n) * 1e3)
    pop.capacity_t[rng.random(n) < 0.05] = -0.0
    got = [np.zeros(T.B * T.S) for _ in range(3)]
    kernels.supply_rows(pop.bloc, pop.stage, T.S, pop.phase, pop.capacity_t, pop.proj_phase, pop.proj_nameplate_t, pop.proj_added_t, *got)
    for g, want in zip(got, supply_reference(pop, T)):
        assert g.reshape(T.B, T.S).tobytes() == want.tobytes()
    assert got[0].sum() > 0 and got[1].sum() > 0 and got[2].sum() > 0


def firm_sums_reference(pop, T, quarter: int) -> dict[str, np.ndarray]:
    """sim.engine.metrics.firm_sums in numpy array code (as the recorder summed before the kernel): bincount sums by
    (bloc, stage) over each series' selection, stocks over the rows live at the end of the quarter, flows over those
    live in it."""
    live, in_q, op = pop.alive, pop.live_in(quarter), pop.operating
    building = (pop.proj_phase != ProjectPhase.NONE) & (pop.proj_phase < ProjectPhase.QUALIFICATION)
    ones = np.ones(len(pop))

    def s(v, sel):
        return T.bs_sum(pop.bloc[sel], pop.stage[sel], v[sel])

    return {
        "capacity_t": s(pop.capacity_t, live & op),
        "mothballed_t": s(pop.capacity_t, live & op & pop.mothballed),
        "pipeline_t": s(np.maximum(pop.proj_nameplate_t - pop.proj_added_t, 0.0), live & building),
        "output_t": s(pop.output_t, in_q),
        "inputs_t": s(pop.inputs_t, in_q),
        "firms": s(ones, live & op),
        "firms_in_project": s(ones, live & (pop.phase == Phase.PROJECT)),
        "rd_spend_musd": s(pop.rd_spend, in_q),
        "revenue_musd": s(pop.revenue, in_q),
        "profit_musd": s(pop.profit, in_q),
        "patents_invention": s(pop.patents_invention, live),
        "patents_utility": s(pop.patents_utility, live),
        "unit_cost_x_output": s(pop.unit_cost_usd_per_kg * pop.output_t, in_q),
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_recorder_sums_kernel_gives_the_array_formulas_numbers(T, seed):
    """Every phase and project phase, rows exited in this quarter and before, mothballed plants, projects with more
    nameplate added than planned (pipeline clipped at 0), -0.0, patents, values whose sums depend on the order of
    addition: every sum bit for bit."""
    from types import SimpleNamespace

    from sim.engine.metrics import firm_sums

    rng = np.random.default_rng(seed)
    n, quarter = 5000, 7
    pop = population(T, rng, n)
    pop.phase[:] = rng.choice([Phase.PROJECT, Phase.OPERATING, Phase.EXITED], n, p=[0.2, 0.7, 0.1])
    pop.exit_step[:] = np.where(pop.phase == Phase.EXITED, rng.choice([quarter, quarter - 1], n), -1)
    pop.proj_phase[:] = rng.integers(0, len(ProjectPhase), n)
    for col in ("capacity_t", "proj_nameplate_t", "inputs_t", "rd_spend", "revenue", "profit", "unit_cost_usd_per_kg"):
        getattr(pop, col)[:] = rng.standard_normal(n) * 1e3 * (rng.random(n) < 0.9)
    pop.proj_added_t[:] = pop.proj_nameplate_t * rng.random(n) * 1.2
    pop.output_t[rng.random(n) < 0.05] = -0.0
    pop.pat_inv[:] = rng.integers(0, 4, pop.pat_inv.shape)
    pop.pat_util[:] = rng.integers(0, 6, pop.pat_util.shape)
    got = firm_sums(SimpleNamespace(tables=T, pop=pop, quarter=quarter))
    want = firm_sums_reference(pop, T, quarter)
    assert list(got) == list(want)
    for k in want:
        assert got[k].tobytes() == want[k].tobytes(), k
        assert np.abs(got[k]).sum() > 0, k


def tier_sums_reference(pop, T, op, exited_now) -> dict[str, np.ndarray]:
    """PolicyRecorder._by_bloc_and_tier in numpy array code (as written before the kernel): one bincount per measure
    by (bloc, tier) and one by bloc over the key Little Giants, stocks over ``op``, flows over ``op | exited_now``."""
    B, K = T.B, len(Tier)
    stocks = {
        "firms": np.ones(len(pop)),
        "patents_invention": pop.patents_invention,
        "patents_utility": pop.patents_utility,
        "finance_constrained": pop.finance_constrained,
        "scaling_finance_difficulty": pop.finance_constrained | pop.outside_finance,
    }
    flows = {"rd_spend_musd": pop.rd_spend, "revenue_musd": pop.revenue}
    out = {}
    for sel, values in ((op, stocks), (op | exited_now, flows)):
        rows = np.flatnonzero(sel)
        cell = pop.bloc[rows].astype(np.int64) * K + pop.tier[rows]
        key_rows = rows[pop.key_lg[rows]]
        for measure, v in values.items():
            v = np.asarray(v, dtype=float)
            tiers = np.bincount(cell, weights=v[rows], minlength=B * K).reshape(B, K)
            key = np.bincount(pop.bloc[key_rows], weights=v[key_rows], minlength=B)
            out[measure] = np.column_stack([tiers, key])
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_policy_recorder_sums_kernel_gives_the_array_formulas_numbers(T, seed):
    """Every tier, key Little Giants, operating rows, rows exited in the quarter (flows only), both flags, patents,
    values whose sums depend on the order of addition: every sum bit for bit."""
    from types import SimpleNamespace

    from sim.engine.policy_metrics import PolicyRecorder

    rng = np.random.default_rng(seed)
    n = 5000
    pop = population(T, rng, n)
    pop.tier[:] = rng.integers(0, len(Tier), n)
    pop.key_lg[:] = (pop.tier == Tier.LITTLE_GIANT) & (rng.random(n) < 0.3)
    pop.finance_constrained[:] = rng.random(n) < 0.2
    pop.outside_finance[:] = rng.random(n) < 0.3
    pop.revenue[:] = rng.standard_normal(n) * 50.0
    pop.rd_spend[:] = rng.random(n) * 3.0
    pop.pat_inv[:] = rng.integers(0, 4, pop.pat_inv.shape)
    pop.pat_util[:] = rng.integers(0, 6, pop.pat_util.shape)
    op = rng.random(n) < 0.7
    exited_now = ~op & (rng.random(n) < 0.3)
    rec = PolicyRecorder.__new__(PolicyRecorder)
    rec.model = SimpleNamespace(pop=pop, tables=T)
    got = rec._by_bloc_and_tier(op, exited_now)
    want = tier_sums_reference(pop, T, op, exited_now)
    assert sorted(got) == sorted(want)
    for k in want:
        assert got[k].tobytes() == want[k].tobytes(), k
        assert np.abs(got[k][:, -1]).sum() > 0, k  # the key Little Giants' column is filled


def innovation_effort_reference(pop, T, inn, group_sharing) -> tuple[np.ndarray, np.ndarray]:
    """agents.firms.innovate's effort in numpy array code (as written before the kernel): R&D of live rows, regional
    spillover and group sharing summed by bincount, knowledge updated in place; returns (rd, the exponent of the
    chance of no process innovation)."""
    n = len(pop)
    alive = pop.alive
    dead = ~alive
    rd = pop.rd_spend.copy()
    rd[dead] = 0.0
    region = pop.region.astype(np.intp)
    reg_sum = np.bincount(region, weights=rd, minlength=len(T.regions))
    reg_n = np.bincount(region[alive], minlength=len(T.regions)).astype(float)
    spill = reg_sum[region]
    spill -= rd
    spill *= inn.regional_spillover
    spill /= np.maximum(reg_n - 1.0, 1.0)[region]
    effective = spill
    if T.groups:
        in_group = pop.group >= 0
        g = np.where(in_group, pop.group, 0)
        g_sum = np.bincount(g[in_group], weights=rd[in_group], minlength=len(T.groups))
        g_n = np.bincount(g[in_group & alive], minlength=len(T.groups))
        g_mean = g_sum / np.maximum(g_n, 1)
        share = group_sharing[g] if len(group_sharing) else np.zeros(n)
        effective += np.where(in_group & alive, share * g_mean[g], 0.0)
    else:
        effective += 0.0
    effective[dead] = 0.0
    np.add(rd, effective, out=effective)
    pop.knowledge *= 1.0 - inn.knowledge_depreciation
    pop.knowledge += effective
    p = np.multiply(-inn.zeta, effective, out=effective)
    p /= inn.innovation_scale_musd
    return rd, p


@pytest.mark.parametrize("seed, sharing", [(1, True), (2, False), (3, True)])
def test_innovation_effort_kernel_gives_the_array_formulas_numbers(T, seed, sharing):
    """Rows in and out of groups, exited rows (in groups too), regions with one live firm, negative and -0.0 R&D,
    group sharing given per group or not at all: R&D, knowledge and the exponent bit for bit."""
    from agents import kernels

    rng = np.random.default_rng(seed)
    n = 5000
    inn = fresh_config().world.innovation
    pop = population(T, rng, n)
    pop.region[:] = rng.integers(0, len(T.regions), n)
    pop.group[:] = np.where(rng.random(n) < 0.4, rng.integers(0, len(T.groups), n), -1)
    pop.rd_spend[:] = rng.random(n) * 2.0 * (rng.random(n) < 0.8) - 0.01 * (rng.random(n) < 0.02)
    pop.rd_spend[rng.random(n) < 0.02] = -0.0
    pop.knowledge[:] = rng.random(n) * 10.0
    lone = np.flatnonzero(pop.region == 0)[1:]  # region 0 holds one live firm
    pop.phase[lone] = Phase.EXITED
    gs = rng.random(len(T.groups)) if sharing else np.zeros(0)
    ref = copy.deepcopy(pop)
    assert not np.shares_memory(ref.knowledge, pop.knowledge)
    want_rd, want_p = innovation_effort_reference(ref, T, inn, gs)
    rd, p = np.empty(n), np.empty(n)
    kernels.innovation_effort_rows(
        pop.phase, pop.rd_spend, pop.region, len(T.regions), pop.group, len(T.groups), gs, float(inn.regional_spillover),
        1.0 - inn.knowledge_depreciation, -inn.zeta, float(inn.innovation_scale_musd), pop.knowledge, rd, p,
    )  # fmt: skip
    assert rd.tobytes() == want_rd.tobytes()
    assert p.tobytes() == want_p.tobytes()
    assert pop.knowledge.tobytes() == ref.knowledge.tobytes()
    assert T.groups and (p != 0).sum() > n // 2


def apply_benefits_reference(gov) -> None:
    """agents.government.Government.apply_benefits in numpy array code (as written before the kernel)."""
    from agents.firms import DESIGNATED, KEY_LITTLE_GIANT
    from agents.government import yuan_price_level

    m_, pop, T = gov.model, gov.model.pop, gov.model.tables
    b = gov.bloc
    here = pop.alive & (pop.bloc == b)
    to_usd = m_.world.usd_per_cny / yuan_price_level(m_.world, m_.current_year)
    for k in gov.fiscal_q:
        gov.fiscal_q[k] = 0.0
    pbt = pop.revenue + pop.grants - pop.costs - pop.depreciation
    std = T.tax_rate[b]
    gov.fiscal_q["tax_expenditure"] = float(np.sum(np.where(here, np.maximum(pbt, 0.0) * np.maximum(std - pop.tax_rate, 0.0), 0.0)))
    gov.fiscal_q["interest_subsidy"] = float(np.sum(np.where(here, pop.debt * np.minimum(pop.interest_subsidy, T.interest_rate[b]) / 4.0, 0.0)))
    gov._reset_benefits(here)
    tilt = np.where(gov.gap_stage[pop.stage], 1.0 + gov.policy.coordination.gap_tilt, 1.0)
    grant = np.zeros(len(pop))

    def apply(rows, ben, add=False):
        if not len(rows):
            return
        if ben.tax_rate is not None:
            pop.tax_rate[rows] = np.minimum(pop.tax_rate[rows], ben.tax_rate)
        op = np.add if add else (lambda a, v: v)
        pop.interest_subsidy[rows] = op(pop.interest_subsidy[rows], ben.interest_subsidy * tilt[rows])
        pop.credit_bonus[rows] = op(pop.credit_bonus[rows], ben.credit_bonus * tilt[rows])
        pop.ipo_fast_track[rows] = op(pop.ipo_fast_track[rows], ben.ipo_fast_track)
        pop.talent_subsidy[rows] = op(pop.talent_subsidy[rows], ben.talent_subsidy)
        pop.procurement_discount[rows] = op(pop.procurement_discount[rows], ben.procurement_discount)
        grant[rows] += ben.grant_myuan_per_year * to_usd / 4.0 * tilt[rows]

    held = np.flatnonzero(here & (pop.tier != Tier.NONE))
    held_tier = pop.tier[held]
    for t in DESIGNATED:
        ben = gov.policy.benefits.get(t.label)
        if ben is not None:
            apply(held[held_tier == t], ben)
    key_rows = np.flatnonzero(here & pop.key_lg)
    ben = gov.policy.benefits.get(KEY_LITTLE_GIANT)
    if ben is not None:
        apply(key_rows, ben, add=True)
    k = gov.policy.designation.key_little_giant
    key_grant = k.grant_myuan_per_firm_term / max(k.term_years * 4.0, 1.0) * to_usd if k.enabled else 0.0
    talent = np.where(here, pop.talent_subsidy * pop.rd_spend, 0.0)
    booked = gov.rd_booked()
    if booked is not None:
        talent *= booked
    np.add(pop.grants, np.add(grant, talent), out=pop.grants, where=here)
    np.add(pop.rd_grants, grant, out=pop.rd_grants, where=here)
    pop.grants[key_rows] += key_grant
    pop.rd_grants[key_rows] += key_grant
    gov.fiscal_q["grants"] = float(grant[here].sum())
    gov.fiscal_q["talent_subsidy"] = float(talent.sum())
    gov.fiscal_q["key_grants"] = key_grant * len(key_rows)
    for key, v in gov.fiscal_q.items():
        gov.fiscal[key] += v


@pytest.mark.parametrize("world, seed, variant", [("national", 1, 0), ("national", 2, 1), ("rare_earth", 1, 0), ("rare_earth", 3, 1)])
def test_benefits_kernel_gives_the_array_formulas_numbers(world, seed, variant):
    """Both worlds a few quarters in, their titles, key flags, gap stages, tax rates, subsidies, debts and profits
    shaken (-0.0 and losses among them; rows of other blocs and exited rows too), with the shipped benefits table and
    with one in which a tier has no entry, another no tax rate and the key Little Giants a tax rate and a tilt:
    every firm column and the quarter's fiscal cost by instrument bit for bit."""
    from agents.firms import DESIGNATED, KEY_LITTLE_GIANT
    from sim.engine.model import ChainModel

    if world == "national":
        model = NationalModel(fresh_config("scenario=national_programme", "national.scale=0.002", f"seed={seed}", "years=2"))
    else:
        model = ChainModel(fresh_config("scenario=baseline", f"seed={seed}", "years=3"))
    for _ in range(5):
        model.step()
    rng = np.random.default_rng(seed)
    pop, n = model.pop, len(model.pop)
    pop.tier[:] = rng.integers(0, len(Tier), n)
    pop.key_lg[:] = (pop.tier == Tier.LITTLE_GIANT) & (rng.random(n) < 0.3)
    pop.key_lg[rng.random(n) < 0.01] = True  # a key flag without the title: the key entry alone
    pop.tax_rate[:] = rng.choice([0.1, 0.15, 0.25, 0.3], n)
    pop.interest_subsidy[:] = rng.random(n) * 0.08 * (rng.random(n) < 0.5)
    pop.debt[:] = rng.random(n) * 10.0 * (rng.random(n) < 0.6)
    pop.debt[rng.random(n) < 0.05] = -0.0
    pop.revenue[:] = pop.revenue + rng.standard_normal(n)
    pop.grants[:] = rng.random(n) * (rng.random(n) < 0.3)
    pop.rd_spend[:] = rng.random(n) * (rng.random(n) < 0.7)
    pop.phase[rng.random(n) < 0.05] = Phase.EXITED
    for gov in [a for a in model.agents if hasattr(a, "apply_benefits")]:
        gov.gap_stage = rng.random(len(gov.gap_stage)) < 0.5
        if variant:
            gov.policy = copy.deepcopy(gov.policy)
            gov.policy.coordination.gap_tilt = 0.5
            labels = [t.label for t in DESIGNATED]
            gov.policy.benefits.pop(labels[0], None)
            if labels[1] in gov.policy.benefits:
                gov.policy.benefits[labels[1]].tax_rate = None
            key = copy.deepcopy(gov.policy.benefits.get(labels[2])) or type(next(iter(gov.policy.benefits.values())))()
            key.tax_rate, key.grant_myuan_per_year, key.interest_subsidy = 0.12, 3.0, 0.01
            gov.policy.benefits[KEY_LITTLE_GIANT] = key
        twin = copy.deepcopy(model)
        twin_gov = next(a for a in twin.agents if getattr(a, "unique_id", None) == gov.unique_id and hasattr(a, "apply_benefits"))
        apply_benefits_reference(twin_gov)
        gov.apply_benefits()
        for name in COLUMNS:
            assert getattr(model.pop, name).tobytes() == getattr(twin.pop, name).tobytes(), name
        assert {k: repr(v) for k, v in gov.fiscal_q.items()} == {k: repr(v) for k, v in twin_gov.fiscal_q.items()}
        assert {k: repr(v) for k, v in gov.fiscal.items()} == {k: repr(v) for k, v in twin_gov.fiscal.items()}
        assert gov.fiscal_q["grants"] > 0 and gov.fiscal_q["tax_expenditure"] > 0


# the project moves of agents.investment in numpy array code, as written before the kernel (advance_projects_reference)
IS_TIMED = np.isin(np.arange(max(ProjectPhase) + 1), inv.TIMED)  # by phase value: whether it is TIMED


def ramp_up_reference(pop, rows: np.ndarray | None = None) -> None:
    """Projects in ramp-up bring nameplate on line in equal quarterly steps (nameplate / ramp-up quarters). ``rows``:
    the live rows with a project, ascending (None: every row is looked at)."""
    if rows is None:
        rows = np.flatnonzero(pop.alive)
    r = rows[pop.proj_phase[rows] == ProjectPhase.RAMPUP]
    if len(r):
        add = np.minimum(pop.proj_nameplate_t[r] / np.maximum(pop.proj_rampup_q[r], 1.0), pop.proj_nameplate_t[r] - pop.proj_added_t[r])
        pop.capacity_t[r] += add
        pop.proj_added_t[r] += add


def reach_gate_reference(pop, r: np.ndarray) -> np.ndarray:
    """Permits granted: the project waits at the final investment decision (agents.investment.finance_gate). Returns ``r``."""
    pop.proj_phase[r] = ProjectPhase.FINANCING
    pop.proj_wait_q[r] = 0.0
    return r


def complete_rampup_reference(pop, r: np.ndarray, T) -> np.ndarray:
    """Ramp-up done: the rest of the nameplate comes on line; a new plant whose stage needs buyer
    qualification goes on to qualification, every other project ends. Returns ``r``."""
    rest = pop.proj_nameplate_t[r] - pop.proj_added_t[r]
    pop.capacity_t[r] += np.maximum(rest, 0.0)
    pop.proj_added_t[r] = pop.proj_nameplate_t[r]
    pop.employees[r] = np.maximum(T.employees_per_kt[pop.stage[r]] * pop.capacity_t[r] / 1000.0, 5.0)
    needs_q = pop.proj_greenfield[r] & T.qualification[pop.stage[r]] & ~pop.qualified[r]
    rq = r[needs_q]
    pop.proj_phase[rq] = ProjectPhase.QUALIFICATION
    pop.proj_remaining_q[rq] = inv.phase_quarters(pop, rq, T, ProjectPhase.QUALIFICATION)
    pop.proj_phase[r[~needs_q]] = ProjectPhase.NONE
    return r


def complete_qualification_reference(pop, r: np.ndarray) -> np.ndarray:
    """Buyer qualification passed: the plant can sell; the project ends. Returns ``r``."""
    pop.qualified[r] = True
    pop.proj_phase[r] = ProjectPhase.NONE
    return r


def advance_projects_reference(pop, T, step, permit_factor=None, permit_cap_years=None) -> dict[str, np.ndarray]:
    """agents.investment.advance_projects in numpy array code (as written before the kernel): the countdown and the
    ramp-up on the rows with a project, then the moves of agents.investment pass by pass, phase by phase."""
    milestones = {k: [] for k in inv.MILESTONES}
    act = np.flatnonzero((pop.proj_phase != ProjectPhase.NONE) & pop.alive)
    ph = pop.proj_phase[act]
    is_timed = IS_TIMED[ph]
    pop.proj_remaining_q[act[is_timed]] -= 1.0
    ramp_up_reference(pop, act)
    rows, done = act, is_timed & (pop.proj_remaining_q[act] <= 0)
    for _ in range(len(inv.TIMED) + 1):
        at = np.flatnonzero(done)
        if not len(at):
            break
        rows_done, ph_done = rows[at], ph[at]
        ended = {phase: rows_done[ph_done == phase] for phase in inv.TIMED}
        moves = (
            ("permitting", ProjectPhase.PLANNING, lambda r: inv.start_permitting(pop, r, T, permit_factor, permit_cap_years)),
            ("financing", ProjectPhase.PERMITTING, lambda r: reach_gate_reference(pop, r)),
            ("construction_complete", ProjectPhase.CONSTRUCTION, lambda r: inv.complete_construction(pop, r, T, step)),
            ("ramped_up", ProjectPhase.RAMPUP, lambda r: complete_rampup_reference(pop, r, T)),
            ("qualified", ProjectPhase.QUALIFICATION, lambda r: complete_qualification_reference(pop, r)),
        )
        for milestone, phase, move in moves:
            r = ended[phase]
            milestones[milestone].append(move(r) if len(r) else r)
        rows = rows_done
        ph = pop.proj_phase[rows]
        done = IS_TIMED[ph] & (pop.proj_remaining_q[rows] <= 0)
    return {k: (np.concatenate(v) if v else np.zeros(0, dtype=np.int64)) for k, v in milestones.items()}


@pytest.mark.parametrize("seed, permits", [(1, False), (2, True), (3, True), (4, False)])
def test_project_kernel_gives_the_array_formulas_numbers(T, seed, permits):
    """Projects in every phase (some at their last quarter, some phases of zero length so that rows pass several
    phases in one quarter), greenfield and expansions, qualified or not, exited rows, with and without the permit
    factor and cap: every column bit for bit and the milestones' rows in the same order."""

    rng = np.random.default_rng(seed)
    n = 4000
    T = copy.deepcopy(T)
    for name in ("planning_years", "permitting_years", "construction_years", "rampup_years", "qualification_years"):
        table = getattr(T, name)
        zero = rng.random(table.shape[:2]) < 0.3  # phases of no length in some cells: rows pass through them
        table[zero] = 0.0
        table[..., 1] += rng.random(table.shape[:2]) * 0.5  # ranges with odd ends (rounding at .5 quarters too)
    pop = population(T, rng, n)
    pop.proj_phase[:] = rng.integers(0, 7, n)
    pop.proj_remaining_q[:] = rng.integers(0, 3, n) - 0.5 * (rng.random(n) < 0.1)
    pop.proj_nameplate_t[:] = rng.random(n) * 500.0
    pop.proj_added_t[:] = pop.proj_nameplate_t * rng.random(n) * (rng.random(n) < 0.7)
    pop.proj_rampup_q[:] = rng.integers(0, 6, n) + 0.5 * (rng.random(n) < 0.1)
    pop.proj_wait_q[:] = rng.integers(0, 4, n)
    pop.proj_greenfield[:] = rng.random(n) < 0.5
    pop.proj_u[:] = rng.random((n, 5))
    pop.proj_u[rng.random(n) < 0.05] = 0.5
    pop.capacity_t[:] = rng.random(n) * 1000.0 * (rng.random(n) < 0.8)
    pop.qualified[:] = rng.random(n) < 0.5
    pop.quality[:] = rng.random(n)
    pop.cip[rng.random(n) < 0.1] = 0.0
    pop.book_assets[rng.random(n) < 0.05] = 0.0
    factor = cap = None
    if permits:
        factor = rng.random((T.B, T.S)) * 2.0
        cap = np.where(rng.random((T.B, T.S)) < 0.5, rng.random((T.B, T.S)) * 3.0, np.inf)
    ref = copy.deepcopy(pop)
    want = advance_projects_reference(ref, T, 17, factor, cap)
    got = inv.advance_projects(pop, T, 17, factor, cap)
    assert list(got) == list(want)
    for k in want:
        assert got[k].dtype == want[k].dtype and got[k].tobytes() == want[k].tobytes(), k
    for name in pop._data:  # the columns as the rules read them (a deep copy's views are its own arrays)
        assert getattr(pop, name).tobytes() == getattr(ref, name).tobytes(), name
    assert all(len(want[k]) for k in inv.MILESTONES)  # every move was taken
    assert len(np.intersect1d(want["permitting"], want["financing"])) > 0  # rows passed several phases in a quarter


def exit_tests_reference(pop, fin, weights, hazard_per_year, u):
    """sim.engine.national.market.enter_and_exit's tests in numpy array code (as written before the kernels), with the
    rows' exit weights ``weights`` (market.exit_weights): returns (the exiting rows, the failing rows, the live rows'
    number); the quarters in negative equity in place."""
    alive = pop.alive
    neg_q = pop.neg_equity_quarters
    neg_q += 1
    neg_q *= alive & (pop.equity < 0)
    insolvent = alive & (pop.cash < -1e-9)
    lasting = alive & (pop.neg_equity_quarters >= fin.exit_after_negative_equity_quarters)
    w = np.where(alive, weights, 0.0)
    hazard = np.minimum(hazard_per_year * w / max(w.sum() / max(alive.sum(), 1), 1e-12), 0.5)
    closed = alive & (u < hazard / 4.0)
    failing = insolvent | lasting
    return np.flatnonzero(failing | closed), np.flatnonzero(failing), int(alive.sum())


@pytest.mark.parametrize("seed", [1, 2])
def test_exit_kernels_give_the_array_formulas_numbers(T, seed):
    """Live and exited rows at negative, zero (-0.0 too) and positive equity and cash, some long in negative equity:
    the quarters in negative equity, the failing rows and the exits bit for bit (the exit weights' sum as numpy adds it)."""
    from agents import kernels

    rng = np.random.default_rng(seed)
    n = 6000
    fin = fresh_config().world.finance
    pop = population(T, rng, n)
    pop.neg_equity_quarters[:] = rng.integers(0, fin.exit_after_negative_equity_quarters + 2, n)
    pop.capacity_t[:] = rng.random(n) * 1000.0 * (rng.random(n) < 0.9)
    pop.cash[rng.random(n) < 0.02] = -1e-9
    weights = np.power(np.maximum(pop.capacity_t, 1e-6), -0.5)  # as market.exit_weights gives them
    u = rng.random(n)
    ref = copy.deepcopy(pop)
    want_out, want_failing, want_live = exit_tests_reference(ref, fin, weights, 0.3, u)
    failing, w = np.empty(n, dtype=np.bool_), np.empty(n)
    live = kernels.exit_test_rows(
        pop.phase, pop.cash, pop.book_assets, pop.cip, pop.working_capital, pop.debt, pop.neg_equity_quarters,
        int(fin.exit_after_negative_equity_quarters), weights, failing, w,
    )  # fmt: skip
    out = np.empty(n, dtype=np.intp)
    out = out[: kernels.exit_pick_rows(pop.phase, failing, w, u, 0.3, max(w.sum() / max(live, 1), 1e-12), out)]
    assert live == want_live
    assert out.tobytes() == want_out.tobytes() and np.flatnonzero(failing).tobytes() == want_failing.tobytes()
    assert pop.neg_equity_quarters.tobytes() == ref.neg_equity_quarters.tobytes()
    assert len(want_failing) > 0 and len(want_out) > len(want_failing)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_quality_capacity_kernel_gives_the_array_formulas_numbers(T, seed):
    """sim.engine.investment.quality_capacity as the array code summed it (the operating rows' quality x nameplate,
    a bincount by bloc and stage): every phase, exited rows, -0.0 and values whose sums depend on the order of
    addition, bit for bit."""
    from agents import kernels

    rng = np.random.default_rng(seed)
    n = 5000
    pop = population(T, rng, n)
    pop.phase[:] = rng.choice([Phase.PROJECT, Phase.OPERATING, Phase.EXITED], n, p=[0.2, 0.7, 0.1])
    pop.capacity_t[:] = rng.random(n) * 1e4 * (rng.random(n) < 0.9)
    pop.capacity_t[rng.random(n) < 0.05] = -0.0
    pop.quality[:] = np.where(rng.random(n) < 0.3, 1.0, rng.random(n))
    here = pop.operating & pop.alive
    want = T.bs_sum(pop.bloc[here], pop.stage[here], pop.quality[here] * pop.capacity_t[here])
    got = np.zeros(T.B * T.S)
    kernels.quality_capacity_rows(pop.bloc, pop.stage, T.S, pop.phase, pop.quality, pop.capacity_t, got)
    assert got.reshape(T.B, T.S).tobytes() == want.tobytes()
    assert got.sum() > 0


def processing_cost_reference(pop, T, rows=None):
    """agents.firms.processing_cost in numpy array code (the reference the kernel is checked against)."""
    at = slice(None) if rows is None else rows
    out = np.multiply(per_row(T.processing_cost_usd_per_kg, pop.bloc[at], pop.stage[at]), pop.cost_index[at])
    if T.learning_b.any():
        b = np.take(T.learning_b, pop.stage[at])
        experience = np.power(np.maximum(pop.cum_output_t[at], 1e-9) / np.maximum(pop.experience_ref_t[at], 1e-9), -b)
    if T.cost_floor_share.any():
        gain = pop.innovation_factor[at] * experience if T.learning_b.any() else pop.innovation_factor[at].copy()
        floor = np.take(T.cost_floor_share, pop.stage[at])
        gain *= 1.0 - floor
        gain += floor
        out *= gain
        return out
    if T.learning_b.any():
        out *= experience
    out *= pop.innovation_factor[at]
    return out


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("floor", [True, False])
@pytest.mark.parametrize("learning", [True, False])
@pytest.mark.parametrize("rows", ["all", "index", "mask", "none"])
def test_processing_cost_kernel_gives_the_array_formulas_numbers(T, seed, floor, learning, rows):
    """agents.firms.processing_cost as the array code computed it, on every row, on rows by index (repeated and out of
    order) and by mask, with and without a cost floor and learning by doing: cumulative output at zero and below the
    1e-9 guard, -0.0 and NaN included, bit for bit."""
    rng = np.random.default_rng(seed)
    n = 3000
    pop = population(T, rng, n)
    pop.cost_index[:] = rng.lognormal(0.0, 0.2, n)
    pop.innovation_factor[:] = np.where(rng.random(n) < 0.3, 1.0, rng.random(n))
    pop.cum_output_t[:] = rng.random(n) * 1e5 * (rng.random(n) < 0.9)
    pop.cum_output_t[rng.random(n) < 0.02] = -0.0
    pop.cum_output_t[rng.random(n) < 0.01] = np.nan
    pop.experience_ref_t[:] = rng.random(n) * 1e4 + (rng.random(n) < 0.05) * 1e-12
    T2 = copy.copy(T)
    T2.cost_floor_share = T.cost_floor_share.copy() if floor else np.zeros_like(T.cost_floor_share)
    if floor and not T2.cost_floor_share.any():
        T2.cost_floor_share = np.linspace(0.1, 0.4, T.S)
    T2.learning_b = T.learning_b.copy() if learning else np.zeros_like(T.learning_b)
    if learning and not T2.learning_b.any():
        T2.learning_b = np.linspace(0.1, 0.3, T.S)
    at = {
        "all": None,
        "index": rng.integers(0, n, 500),
        "mask": rng.random(n) < 0.4,
        "none": np.zeros(0, dtype=np.int64),
    }[rows]
    want = processing_cost_reference(pop, T2, at)
    got = processing_cost(pop, T2, at)
    assert got.dtype == np.float64 and got.shape == want.shape
    assert got.tobytes() == want.tobytes()
    if rows != "none":
        assert np.isfinite(got).sum() > 0.9 * len(got)
