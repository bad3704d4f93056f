"""Compiled row kernels (numba) for the firm rules that the profile says dominate at scale.

A rule that treats every row on its own is written once as a loop over rows: each row's formula is the rule's
docstring formula, evaluated in the same order, with the same IEEE double operations (+, -, x, /, min, max: no
transcendental function, no fast-math), so a row's numbers are bit for bit those of the array code it replaces, on
any processor (tests/test_kernels.py compares both on random populations). The only reductions across rows are sums
by group (bloc and stage, tier, region, niche) added in row order, the order in which numpy's bincount adds them: the
recorder's and the investors' sums over firms, taken in one pass instead of one bincount each. One pass over
the rows instead of one per operation: the million-firm world reads each column once a quarter (docs/ODD.md 7.15,
"Speed").

The kernels are compiled on first use and cached beside this file (``cache=True``: a later process loads them in
well under a second); NUMBA_CACHE_DIR moves the cache where the source directory cannot be written.
"""

from __future__ import annotations

import numba
import numpy as np

CONSTRUCTION = 4  # agents.firms.ProjectPhase.CONSTRUCTION (kept here so that this module imports nothing of the rules)
NONE = 0  # agents.firms.ProjectPhase.NONE
EXITED = 2  # agents.firms.Phase.EXITED
OPERATING = 1  # agents.firms.Phase.OPERATING


@numba.njit(inline="always")
def _max(a: float, b: float) -> float:
    """numpy's maximum for two doubles: the first where it is larger or NaN, else the second (of 0.0 and -0.0 the
    second, as numpy's maximum and clip give it)."""
    return a if (a > b or a != a) else b


@numba.njit(inline="always")
def _min(a: float, b: float) -> float:
    """numpy's minimum for two doubles: the first where it is smaller or NaN, else the second."""
    return a if (a < b or a != a) else b


@numba.njit(cache=True, nogil=True)
def account_rows(
    # per (bloc, stage) and per bloc tables
    market_price,
    fixed_cost_share,
    capex_per_kt,
    interest_rate,
    leverage_max,
    wage,
    rd_factor,
    rd_deduction,
    # per row inputs
    phase,
    bloc,
    stage,
    output_t,
    proc,
    capacity_t,
    mothballed,
    interest_subsidy,
    proj_phase,
    proj_remaining_q,
    credit_bonus,
    input_cost,
    rd_propensity,
    rd_grants,
    plant_life_left,  # read and written
    grants,
    tax_rate,
    employees,
    row_price,
    revenue_adjust,
    rd_booked,
    # per row state, read and written
    debt,
    proj_capex_left,
    working_capital,
    book_assets,
    cip,
    cash,
    outside_finance,
    rev_hist,
    rd_hist,
    prof_hist,
    # per row outputs
    revenue,
    opex,
    fixed_cost,
    interest,
    capex,
    working_capital_in,
    rd_spend,
    costs,
    depreciation,
    tax,
    profit,
    net_borrowing,
    dividends,
    rd_staff_share,
    # scalars
    use_row_price,
    use_adjust,
    use_rd_tax,
    use_booked,
    mothball_saved,
    wc_share4,
    depreciation_q,
    min_cash_q,
    repayment_share,
    target_structure,
    target_debt_ratio,
    target_cash_thirds,
    payout_ratio,
    outside_share,
    slot,
    trailing_slots,
):
    """agents.firms.account on every row: the formulas of its docstring, in its order (see there)."""
    n = len(phase)
    for i in range(n):
        b = bloc[i]
        s = stage[i]
        alive = phase[i] != EXITED
        price = row_price[i] if use_row_price else market_price[b, s]
        rev = output_t[i] * price
        rev /= 1000.0
        if use_adjust:
            rev -= revenue_adjust[i]
        op = output_t[i] * proc[i]
        op /= 1000.0
        fc = (fixed_cost_share[b, s] * capex_per_kt[b, s]) * capacity_t[i]
        fc /= 1000.0
        fc /= 4.0
        if mothballed[i]:  # a mothballed plant pays care and maintenance only
            fc = (1.0 - mothball_saved) * fc
        rate = _max(interest_rate[b] - interest_subsidy[i], 0.0)
        intr = debt[i] * rate
        intr /= 4.0
        building = proj_phase[i] == CONSTRUCTION
        spend = 0.0
        if building:  # construction spends the remaining budget evenly over the remaining quarters
            spend = proj_capex_left[i] / _max(proj_remaining_q[i], 1.0)
            proj_capex_left[i] -= spend
        # working capital follows sales: receivables and stocks at this quarter's sales rate, less supplier credit
        d_wc = _max(rev, 0.0)
        d_wc = wc_share4 * d_wc
        if not alive:
            d_wc = 0.0
        d_wc -= working_capital[i]
        # lenders lend against plant, construction and working capital, up to the leverage limit
        room = book_assets[i] + cip[i]
        room += spend
        room += working_capital[i]
        room += d_wc
        room = (leverage_max[b] + credit_bonus[i]) * room
        room -= debt[i]
        room = _max(room, 0.0)
        funds = cash[i] + rev
        funds -= input_cost[i]
        funds -= op
        funds -= fc
        funds -= intr
        funds -= d_wc
        funds += room
        funds -= spend
        funds = _max(funds, 0.0)
        rd = rd_propensity[i] * rev
        if use_rd_tax:
            rd *= rd_factor[b]
        rd += rd_grants[i]
        rd = _min(rd, funds)
        if not alive:
            rd = 0.0
        c = input_cost[i] + op
        c += fc
        c += intr
        c += rd
        # composite straight line: the book plant over the quarters of life left on it (all of it in its last quarter)
        life_q = plant_life_left[i] * depreciation_q
        dep = book_assets[i] / life_q if life_q > 1.0 else book_assets[i]
        pbt = rev + grants[i]
        pbt -= c
        pbt -= dep
        if use_rd_tax:  # the additional deduction of R&D expense (as booked: relabelled expense included)
            base = rd * rd_booked[i] if use_booked else rd
            tx = _max(pbt - rd_deduction[b] * base, 0.0)
        else:
            tx = _max(pbt, 0.0)
        tx *= tax_rate[i]
        prof = pbt - tx
        cash_pre = cash[i] + rev
        cash_pre -= c
        cash_pre -= tx
        cash_pre += grants[i]
        cash_pre -= spend
        cash_pre -= d_wc
        wc = working_capital[i] + d_wc
        buffer = min_cash_q * fc
        borrow = _min(_max(-cash_pre, 0.0), room)
        need = borrow  # what the quarter's cash could not pay
        if target_structure == 2 and spend > 0:  # construction financed with debt as far as the target debt ratio allows
            assets = book_assets[i] + cip[i] + spend + wc + _max(cash_pre, 0.0)
            borrow = _max(borrow, _min(_min(spend, _max(target_debt_ratio * assets - debt[i], 0.0)), room))
        repay = 0.0  # surplus above the buffer repays debt
        if cash_pre > buffer:
            repay = _min(debt[i] * repayment_share, cash_pre - buffer)
        repay = _max(repay, 0.0)
        if target_structure:  # repay only down to the target debt ratio: (debt - x) / (assets - x) = target
            assets = book_assets[i] + cip[i] + wc + _max(cash_pre, 0.0)
            repay = _min(repay, _max((debt[i] - target_debt_ratio * assets) / (1.0 - target_debt_ratio), 0.0))
        nb = borrow - repay
        # observation: borrowed for more than the configured share of this quarter's capex (needed outside money)
        if building and spend > 0 and _min(need, spend) > outside_share * spend:
            outside_finance[i] = True
        d = debt[i] + nb
        cash_i = cash_pre + nb
        # net assets after the quarter: no distribution may leave them below zero (the balance-sheet test)
        net = cash_i + (book_assets[i] - dep)
        net += cip[i] + spend
        net += wc
        net -= d
        div = 0.0
        if payout_ratio > 0:
            div = payout_ratio * prof
            div = _min(div, cash_i - buffer)
            div = _min(div, net)
            div = _max(div, 0.0)
            cash_i -= div
        if target_structure:  # at or below the target, owners take the cash above the target holding, unless a project waits
            keep = _max(buffer, target_cash_thirds * _max(rev, 0.0))
            assets = book_assets[i] + cip[i] + wc + _max(cash_i, 0.0)
            surplus = 0.0
            if alive and proj_phase[i] == NONE and d <= target_debt_ratio * assets:
                surplus = _max(_min(cash_i - keep, net - div), 0.0)
            div += surplus
            cash_i -= surplus
        # write back
        revenue[i] = rev
        opex[i] = op
        fixed_cost[i] = fc
        interest[i] = intr
        capex[i] = spend
        working_capital_in[i] = d_wc
        working_capital[i] = wc
        rd_spend[i] = rd
        costs[i] = c
        depreciation[i] = dep
        tax[i] = tx
        profit[i] = prof
        net_borrowing[i] = nb
        debt[i] = d
        cash[i] = cash_i
        dividends[i] = div
        book_assets[i] -= dep
        plant_life_left[i] = _max(plant_life_left[i] - 1.0 / depreciation_q, 0.0)
        cip[i] += spend
        rev_hist[i, slot] = rev
        rd_hist[i, slot] = rd
        prof_hist[i, slot] = prof
        wage_bill = _max(employees[i] * wage[b], 1e-9)
        share = 0.0
        for k in trailing_slots:
            share += rd_hist[i, k]
        share *= 0.6
        share /= wage_bill
        rd_staff_share[i] = _min(_max(share, 0.0), 0.9)


@numba.njit(cache=True, nogil=True)
def clear_niche_rows(niche, price, ref_price, cost, operating, cap, appeal, max_util, demand, passes, output_t, orders_t, potential_t, seen=False):
    """sim.engine.national.market.clear_niches on every row (see there): each firm offers in its niche when its unit
    cost is within the niche's price; buyers' demand goes to the offering firms in proportion to capacity x appeal,
    each taking at most ``max_util`` of its capacity, and what full firms turn away goes to the others of the niche
    by the same weights, ``passes`` times. Writes output, orders and potential (a quarter's): orders are the
    first-choice orders, or with ``seen`` the demand the firm met, its sales plus its weight's share of the niche's
    demand left unserved (summed over the niche's firms: the niche's demand); returns (the offered capacity, the
    sales, the operating capacity and the operating capacity x ``cost``: sim.engine.national.market.niche_cost's sums)
    summed by niche, in row order as numpy's bincount adds them."""
    n = len(niche)
    m = len(demand)
    weight = np.zeros(n)
    room = np.zeros(n)
    sales = np.zeros(n)
    cap_sum = np.zeros(m)
    total = np.zeros(m)
    live_cap = np.zeros(m)
    live_cost = np.zeros(m)
    for i in range(n):
        j = max(niche[i], 0)
        c = cap[i] if operating[i] else 0.0
        live_cap[j] += c
        live_cost[j] += c * cost[i]
        price_usd = price[j] * ref_price
        potential_t[i] = 0.0
        if operating[i] and cost[i] <= price_usd:
            weight[i] = cap[i] * appeal[i]
            room[i] = max_util * cap[i]
            pot = max_util * cap[i]
            potential_t[i] = pot / 4.0
            cap_sum[j] += cap[i]
            if room[i] > 1e-12:
                total[j] += weight[i]
    left = demand.copy()
    total0 = total.copy()
    for k in range(passes):
        got_sum = np.zeros(m)
        nxt = np.zeros(m)
        for i in range(n):
            j = max(niche[i], 0)
            ask = 0.0
            if total[j] > 0:
                ask = (weight[i] if room[i] > 1e-12 else 0.0) / total[j]
            ask *= left[j]
            if k == 0:
                orders_t[i] = ask / 4.0
            got = _min(ask, room[i])
            sales[i] += got
            room[i] -= got
            got_sum[j] += got
            if room[i] > 1e-12:
                nxt[j] += weight[i]
        for j in range(m):
            left[j] = _max(left[j] - got_sum[j], 0.0)
        total = nxt
    sales_sum = np.zeros(m)
    for i in range(n):
        j = max(niche[i], 0)
        output_t[i] = sales[i] / 4.0
        sales_sum[j] += sales[i]
        if seen:
            w = weight[i] / total0[j] if total0[j] > 0 and cap[i] * max_util > 1e-12 else 0.0
            orders_t[i] = (sales[i] + w * left[j]) / 4.0
    return cap_sum, sales_sum, live_cap, live_cost


@numba.njit(cache=True, nogil=True)
def move_rows(arr, first, kept):
    """``arr[first + j] = arr[kept[j]]`` for j = 0, 1, ... in order (FirmPopulation.compact): ``kept`` ascending with
    ``kept[j] >= first + j``, so a row lands at or below where it was and nothing is overwritten before it moves.
    ``arr``: one column's raw items (1-d) or rows (2-d, row-major), as unsigned integers of the item's width: a copy
    of bits, whatever the column's type."""
    for j in range(len(kept)):
        arr[first + j] = arr[kept[j]]


@numba.njit(cache=True, nogil=True)
def supply_rows(bloc, stage, n_stages, phase, capacity_t, proj_phase, proj_nameplate_t, proj_added_t, cap, pipe, committed):
    """ChainModel.supply's three (bloc, stage) sums in one pass over the rows, each added in row order as numpy's
    bincount adds it (the same numbers bit for bit): ``cap`` += nameplate of operating rows; ``pipe`` += nameplate still
    to come on line (project nameplate - added) of live rows with a project; ``committed`` += the same of live rows
    whose project is past its final investment decision (construction or later). The sums start as given (zeros)."""
    for i in range(len(bloc)):
        c = bloc[i] * n_stages + stage[i]
        if phase[i] == OPERATING:
            cap[c] += capacity_t[i]
        if phase[i] != EXITED and proj_phase[i] != NONE:
            left = proj_nameplate_t[i] - proj_added_t[i]
            pipe[c] += left
            if proj_phase[i] >= CONSTRUCTION:
                committed[c] += left


@numba.njit(cache=True, nogil=True)
def quality_capacity_rows(bloc, stage, n_stages, phase, quality, capacity_t, out):
    """sim.engine.investment.quality_capacity's (bloc, stage) sum in one pass over the rows: ``out`` += quality x
    nameplate of the operating rows, added in row order as numpy's bincount adds it (the same numbers bit for bit;
    the array code selected the rows, multiplied and summed in three passes more). ``out`` starts as given (zeros)."""
    for i in range(len(bloc)):
        if phase[i] == OPERATING:
            out[bloc[i] * n_stages + stage[i]] += quality[i] * capacity_t[i]


#: the rows of :func:`firm_sum_rows`' output, in order (sim.engine.metrics.firm_series, price_series)
FIRM_SUMS = (
    "capacity_t",
    "mothballed_t",
    "pipeline_t",
    "output_t",
    "inputs_t",
    "firms",
    "firms_in_project",
    "rd_spend_musd",
    "revenue_musd",
    "profit_musd",
    "patents_invention",
    "patents_utility",
    "unit_cost_x_output",
)
PROJECT = 0  # agents.firms.Phase.PROJECT
QUALIFICATION = 6  # agents.firms.ProjectPhase.QUALIFICATION


@numba.njit(cache=True, nogil=True)
def firm_sum_rows(
    bloc,
    stage,
    n_stages,
    phase,
    exit_step,
    quarter,
    mothballed,
    proj_phase,
    capacity_t,
    proj_nameplate_t,
    proj_added_t,
    output_t,
    inputs_t,
    rd_spend,
    revenue,
    profit,
    unit_cost,
    patents_invention,
    patents_utility,
    out,
):
    """The recorder's quarterly sums over firms by (bloc, stage) (``out[k]``, k in the order of FIRM_SUMS) in one
    pass over the rows, each added in row order as numpy's bincount adds it (the same numbers bit for bit). Stocks
    over the rows live at the end of the quarter: operating nameplate, the part of it mothballed, the pipeline still
    to come (at least 0) of projects before qualification, operating firms, firms with a greenfield project, patents
    in force; flows over every row live in the quarter (live, or exited in it): output, inputs, R&D, revenue, profit,
    and unit cost x output."""
    for i in range(len(bloc)):
        c = bloc[i] * n_stages + stage[i]
        live = phase[i] != EXITED
        if live:
            if phase[i] == OPERATING:
                out[0, c] += capacity_t[i]
                if mothballed[i]:
                    out[1, c] += capacity_t[i]
                out[5, c] += 1.0
            elif phase[i] == PROJECT:
                out[6, c] += 1.0
            if proj_phase[i] != NONE and proj_phase[i] < QUALIFICATION:
                out[2, c] += _max(proj_nameplate_t[i] - proj_added_t[i], 0.0)
            out[10, c] += patents_invention[i]
            out[11, c] += patents_utility[i]
        if live or exit_step[i] == quarter:
            out[3, c] += output_t[i]
            out[4, c] += inputs_t[i]
            out[7, c] += rd_spend[i]
            out[8, c] += revenue[i]
            out[9, c] += profit[i]
            out[12, c] += unit_cost[i] * output_t[i]


#: the rows of :func:`tier_sum_rows`' output, in order (sim.engine.policy_metrics.PolicyRecorder._by_bloc_and_tier)
TIER_SUMS = (
    "firms",
    "patents_invention",
    "patents_utility",
    "finance_constrained",
    "scaling_finance_difficulty",
    "rd_spend_musd",
    "revenue_musd",
)


@numba.njit(cache=True, nogil=True)
def tier_sum_rows(
    bloc,
    tier,
    n_tiers,
    op,
    exited_now,
    key_lg,
    patents_invention,
    patents_utility,
    finance_constrained,
    outside_finance,
    rd_spend,
    revenue,
    out,
    key_out,
):
    """The policy recorder's sums per (bloc, tier) (``out[k]``, k in the order of TIER_SUMS) and per bloc over the key
    Little Giants (``key_out[k]``) in one pass over the rows, each added in row order as numpy's bincount adds it (the
    same numbers bit for bit). Counts and stocks over the operating rows ``op`` (firms, patents in force, finance
    constrained, constrained or financed from outside); the quarter's flows (R&D, revenue) also over the rows that
    exited in it (``exited_now``)."""
    for i in range(len(bloc)):
        stock = op[i]
        flow = stock or exited_now[i]
        if not flow:
            continue
        b = bloc[i]
        c = b * n_tiers + tier[i]
        key = key_lg[i]
        if stock:
            fc = 1.0 if finance_constrained[i] else 0.0
            sd = 1.0 if (finance_constrained[i] or outside_finance[i]) else 0.0
            out[0, c] += 1.0
            out[1, c] += patents_invention[i]
            out[2, c] += patents_utility[i]
            out[3, c] += fc
            out[4, c] += sd
            if key:
                key_out[0, b] += 1.0
                key_out[1, b] += patents_invention[i]
                key_out[2, b] += patents_utility[i]
                key_out[3, b] += fc
                key_out[4, b] += sd
        out[5, c] += rd_spend[i]
        out[6, c] += revenue[i]
        if key:
            key_out[5, b] += rd_spend[i]
            key_out[6, b] += revenue[i]


@numba.njit(cache=True, nogil=True)
def experience_base_rows(stage, cum_output_t, experience_ref_t, rows, every, learning_b, base, exponent):
    """agents.firms.experience_factor's base and exponent on the rows ``rows`` (on every row, in order, where
    ``every``): ``base`` = max(cumulative output, 1e-9) / max(experience reference, 1e-9) and ``exponent`` = -b of the
    row's stage (``learning_b``, per stage), as the array code computes them; numpy's power takes it from there (no
    transcendental function here)."""
    for j in range(len(base)):
        i = j if every else rows[j]
        base[j] = _max(cum_output_t[i], 1e-9) / _max(experience_ref_t[i], 1e-9)
        exponent[j] = -learning_b[stage[i]]


@numba.njit(cache=True, nogil=True)
def processing_cost_rows(bloc, stage, cost_index, innovation_factor, rows, every, table, floor, experience, use_floor, use_experience, out):
    """agents.firms.processing_cost on the rows ``rows`` (on every row, in order, where ``every``), in its formula's
    order: cost = table[bloc, stage] x cost index; with a cost floor (``use_floor``) x (innovation factor x experience
    factor x (1 - floor) + floor), the floor of the row's stage; without one x experience factor, then x innovation
    factor. ``experience``: the experience factor per output row (read where ``use_experience``)."""
    for j in range(len(out)):
        i = j if every else rows[j]
        c = table[bloc[i], stage[i]] * cost_index[i]
        if use_floor:
            g = innovation_factor[i] * experience[j] if use_experience else innovation_factor[i]
            f = floor[stage[i]]
            g = g * (1.0 - f)
            g = g + f
            c = c * g
        else:
            if use_experience:
                c = c * experience[j]
            c = c * innovation_factor[i]
        out[j] = c


@numba.njit(cache=True, nogil=True)
def innovation_effort_rows(
    phase, rd_spend, region, n_regions, group, n_groups, group_sharing, regional_spillover, knowledge_keep, neg_zeta, scale, knowledge, rd, out
):
    """agents.firms.innovate's effort on every row (see there), in the formula's order: ``rd`` = R&D of live rows (0
    for exited ones); effective R&D = rd + regional spillover (the region's other live firms' R&D x
    ``regional_spillover`` over their number, at least 1) + the group's sharing (``group_sharing`` x the group's mean
    R&D, live members only), rd alone for exited rows; ``knowledge`` x= ``knowledge_keep``, then += effective R&D; and
    ``out`` = ``neg_zeta`` x effective R&D / ``scale``, the exponent of the chance of no process innovation (numpy's
    exp takes it from there). The region and group sums are added in row order as numpy's bincount adds them: the
    numbers of the array code, bit for bit (tests/test_kernels.py)."""
    n = len(phase)
    reg_sum = np.zeros(n_regions)
    reg_n = np.zeros(n_regions)
    g_sum = np.zeros(max(n_groups, 1))
    g_n = np.zeros(max(n_groups, 1), dtype=np.int64)
    for i in range(n):
        alive = phase[i] != EXITED
        r = rd_spend[i] if alive else 0.0
        rd[i] = r
        reg_sum[region[i]] += r
        if alive:
            reg_n[region[i]] += 1.0
        if n_groups > 0 and group[i] >= 0:
            g_sum[group[i]] += r
            if alive:
                g_n[group[i]] += 1
    for i in range(n):
        alive = phase[i] != EXITED
        j = region[i]
        s = reg_sum[j]
        s -= rd[i]
        s *= regional_spillover
        s /= _max(reg_n[j] - 1.0, 1.0)
        add = 0.0
        if n_groups > 0 and group[i] >= 0 and alive:
            share = group_sharing[group[i]] if len(group_sharing) else 0.0
            add = share * (g_sum[group[i]] / max(g_n[group[i]], 1))
        s += add
        if not alive:
            s = 0.0
        eff = rd[i] + s
        k = knowledge[i] * knowledge_keep
        k += eff
        knowledge[i] = k
        out[i] = (neg_zeta * eff) / scale


@numba.njit(cache=True, nogil=True)
def exit_test_rows(phase, cash, book_assets, cip, working_capital, debt, neg_q, neg_limit, exit_w, failing, w):
    """sim.engine.national.market.enter_and_exit's tests on every row (see there): a live row's quarters in negative
    equity (cash + book assets + construction in progress + working capital - debt below 0) count one more, others
    are 0; ``failing``: live and insolvent (cash below -1e-9) or in negative equity ``neg_limit`` quarters or more;
    ``w``: the row's exit weight (``exit_w``) where live, else 0. Returns the live rows' number."""
    live = 0
    for i in range(len(phase)):
        alive = phase[i] != EXITED
        equity = cash[i] + book_assets[i]
        equity += cip[i]
        equity += working_capital[i]
        equity -= debt[i]
        if alive and equity < 0:
            neg_q[i] = neg_q[i] + 1
        else:
            neg_q[i] = 0
        failing[i] = alive and (cash[i] < -1e-9 or neg_q[i] >= neg_limit)
        w[i] = exit_w[i] if alive else 0.0
        if alive:
            live += 1
    return live


@numba.njit(cache=True, nogil=True)
def exit_pick_rows(phase, failing, w, u, rate, mean_w, out):
    """sim.engine.national.market.enter_and_exit's exits: the rows failing or closed for reasons outside the model (live,
    with the uniform ``u`` below a quarter of the hazard min(``rate`` x ``w`` / ``mean_w``, 0.5)), written into ``out``
    ascending; returns how many."""
    k = 0
    for i in range(len(phase)):
        hazard = _min((rate * w[i]) / mean_w, 0.5)
        if failing[i] or (phase[i] != EXITED and u[i] < hazard / 4.0):
            out[k] = i
            k += 1
    return k


PLANNING, PERMITTING, FINANCING, RAMPUP, QUALIFICATION = 1, 2, 3, 5, 6  # agents.firms.ProjectPhase (CONSTRUCTION above)
PROJECT = 0  # agents.firms.Phase.PROJECT: a greenfield project, no output yet


@numba.njit(inline="always")
def _timed(ph) -> bool:
    """Whether a project phase counts down (agents.investment.TIMED: all but none and the finance gate)."""
    return ph != NONE and ph != FINANCING


@numba.njit(inline="always")
def _phase_quarters(i, ph, k, bloc, stage, ranges, proj_u, greenfield, brownfield_factor, permit_factor, permit_cap):
    """agents.investment.phase_quarters for row ``i`` and timed phase ``ph`` (``k``: its index in TIMED, its range's
    row in ``ranges`` and its uniform's column), in that function's order: lo + (hi - lo) x u, an expansion's planning,
    permitting and construction times ``brownfield_factor``, permitting times the permit factor and at most the permit
    cap (where given: not empty), x 4, rounded half to even as numpy's round."""
    b = bloc[i]
    s = stage[i]
    lo = ranges[k, b, s, 0]
    hi = ranges[k, b, s, 1]
    hi -= lo
    hi *= proj_u[i, k]
    years = lo + hi
    if k <= 2 and not greenfield[i]:
        years = brownfield_factor[k] * years
    if ph == PERMITTING:
        if permit_factor.size:
            years = permit_factor[b, s] * years
        if permit_cap.size:
            years = _min(years, permit_cap[b, s])
    years *= 4.0
    return np.rint(years)


@numba.njit(cache=True, nogil=True)
def advance_project_rows(
    step,
    phase,
    bloc,
    stage,
    proj_phase,
    proj_remaining_q,
    proj_nameplate_t,
    proj_rampup_q,
    proj_added_t,
    proj_wait_q,
    proj_greenfield,
    proj_u,
    capacity_t,
    book_assets,
    cip,
    plant_life_left,
    quality,
    qualified,
    niche_start_step,
    employees,
    ranges,
    brownfield_factor,
    permit_factor,
    permit_cap,
    new_plant_quality,
    qualification,
    employees_per_kt,
    milestones,
    counts,
):
    """agents.investment.advance_projects on every row (see there and the moves it calls, whose formulas these are, in
    their order): the live rows with a project count their timed phase down and bring ramp-up capacity on line; then,
    pass by pass (zero-length phases pass straight through), the rows whose phase ended move on. Writes the rows
    reaching each milestone (agents.investment.MILESTONES, in that order) into ``milestones`` (5, rows), pass by pass and
    ascending within a pass, as the array code concatenates them, and their numbers into ``counts``."""
    n = len(phase)
    rows = np.empty(n, dtype=np.int64)
    m = 0
    for i in range(n):
        ph = proj_phase[i]
        if ph == NONE or phase[i] == EXITED:
            continue
        if _timed(ph):
            proj_remaining_q[i] -= 1.0
        if ph == RAMPUP:
            add = _min(proj_nameplate_t[i] / _max(proj_rampup_q[i], 1.0), proj_nameplate_t[i] - proj_added_t[i])
            capacity_t[i] += add
            proj_added_t[i] += add
        if _timed(ph) and proj_remaining_q[i] <= 0:
            rows[m] = i
            m += 1
    for k in range(5):
        counts[k] = 0
    for _ in range(6):
        if m == 0:
            break
        for j in range(m):
            i = rows[j]
            ph = proj_phase[i]
            if ph == PLANNING:  # start_permitting
                proj_phase[i] = PERMITTING
                proj_remaining_q[i] = _phase_quarters(
                    i, PERMITTING, 1, bloc, stage, ranges, proj_u, proj_greenfield, brownfield_factor, permit_factor, permit_cap
                )
                k = 0
            elif ph == PERMITTING:  # to the financing gate
                proj_phase[i] = FINANCING
                proj_wait_q[i] = 0.0
                k = 1
            elif ph == CONSTRUCTION:  # complete_construction
                proj_phase[i] = RAMPUP
                book = book_assets[i]
                new = cip[i]
                total = book + new
                life = 1.0
                if total > 0:
                    life = book * plant_life_left[i]
                    life += new
                    life /= total
                plant_life_left[i] = life
                book_assets[i] = total
                cip[i] = 0.0
                q = _phase_quarters(i, RAMPUP, 3, bloc, stage, ranges, proj_u, proj_greenfield, brownfield_factor, permit_factor, permit_cap)
                proj_rampup_q[i] = _max(q, 1.0)
                proj_remaining_q[i] = q
                if proj_greenfield[i]:
                    phase[i] = OPERATING
                    quality[i] = new_plant_quality[bloc[i], stage[i]]
                    qualified[i] = not qualification[stage[i]]
                    niche_start_step[i] = step
                add = _min(proj_nameplate_t[i] / proj_rampup_q[i], proj_nameplate_t[i])
                capacity_t[i] += add
                proj_added_t[i] = add
                staff = employees_per_kt[stage[i]] * capacity_t[i]
                employees[i] = _max(staff / 1000.0, 5.0)
                k = 2
            elif ph == RAMPUP:  # ramp-up done
                rest = proj_nameplate_t[i] - proj_added_t[i]
                capacity_t[i] += _max(rest, 0.0)
                proj_added_t[i] = proj_nameplate_t[i]
                staff = employees_per_kt[stage[i]] * capacity_t[i]
                employees[i] = _max(staff / 1000.0, 5.0)
                if proj_greenfield[i] and qualification[stage[i]] and not qualified[i]:
                    proj_phase[i] = QUALIFICATION
                    proj_remaining_q[i] = _phase_quarters(
                        i, QUALIFICATION, 4, bloc, stage, ranges, proj_u, proj_greenfield, brownfield_factor, permit_factor, permit_cap
                    )
                else:
                    proj_phase[i] = NONE
                k = 3
            else:  # QUALIFICATION passed
                qualified[i] = True
                proj_phase[i] = NONE
                k = 4
            milestones[k, counts[k]] = i
            counts[k] += 1
        nxt = 0  # a move changes its own row only: the rows that moved are the only ones whose phase can end next
        for j in range(m):
            i = rows[j]
            if _timed(proj_phase[i]) and proj_remaining_q[i] <= 0:
                rows[nxt] = i
                nxt += 1
        m = nxt


@numba.njit(cache=True, nogil=True)
def benefit_rows(
    here,
    stage,
    tier,
    key_lg,
    revenue,
    costs,
    depreciation,
    debt,
    rd_spend,
    booked,
    has_booked,
    gap_stage,
    gap_factor,
    std_tax,
    interest_rate,
    has_ben,
    has_tax,
    ben_tax,
    ben_interest,
    ben_credit,
    ben_ipo,
    ben_talent,
    ben_procurement,
    ben_grant_q,
    key_grant,
    tax_rate,
    interest_subsidy,
    credit_bonus,
    ipo_fast_track,
    talent_subsidy,
    procurement_discount,
    grants,
    rd_grants,
    tax_expenditure,
    interest_cost,
    grant,
    talent,
):
    """agents.government.Government.apply_benefits on every row (see there), in its order. For a row of the bloc
    (``here``): the quarter's tax expenditure max(revenue + grants - costs - depreciation, 0) x max(``std_tax`` - its
    tax rate, 0) and interest subsidy debt x min(its subsidy, ``interest_rate``) / 4 at the rates then in force
    (``tax_expenditure``, ``interest_cost``; 0 elsewhere); its benefits reset (standard tax, no benefit); then its
    tier's benefits (the tables' entry ``tier``, where ``has_ben``) and, for a key Little Giant, the key entry (the
    tables' last) added to them, each scaled by the tilt (``gap_factor`` in a gap stage, else 1) where the rule scales
    it; ``grant`` the tier's and key entry's grants; ``talent`` its talent subsidy x R&D (x ``booked`` where
    ``has_booked``; 0 x ``booked`` elsewhere); its ``grants`` += grant + talent, ``rd_grants`` += grant, and a key
    Little Giant's both += ``key_grant``. Returns the number of key Little Giants. The numbers of the array code, bit
    for bit (tests/test_kernels.py)."""
    key = len(has_ben) - 1
    n_key = 0
    for i in range(len(here)):
        if not here[i]:
            tax_expenditure[i] = 0.0
            interest_cost[i] = 0.0
            grant[i] = 0.0
            t = 0.0
            if has_booked:
                t = t * booked[i]
            talent[i] = t
            continue
        pbt = revenue[i] + grants[i]
        pbt -= costs[i]
        pbt -= depreciation[i]
        tax_expenditure[i] = _max(pbt, 0.0) * _max(std_tax - tax_rate[i], 0.0)
        interest_cost[i] = debt[i] * _min(interest_subsidy[i], interest_rate) / 4.0
        tax_rate[i] = std_tax
        interest_subsidy[i] = 0.0
        credit_bonus[i] = 0.0
        ipo_fast_track[i] = 0.0
        talent_subsidy[i] = 0.0
        procurement_discount[i] = 0.0
        tilt = gap_factor if gap_stage[stage[i]] else 1.0
        g = 0.0
        k = tier[i]
        if k != 0 and has_ben[k]:
            if has_tax[k]:
                tax_rate[i] = _min(tax_rate[i], ben_tax[k])
            interest_subsidy[i] = ben_interest[k] * tilt
            credit_bonus[i] = ben_credit[k] * tilt
            ipo_fast_track[i] = ben_ipo[k]
            talent_subsidy[i] = ben_talent[k]
            procurement_discount[i] = ben_procurement[k]
            g = g + ben_grant_q[k] * tilt
        if key_lg[i] and has_ben[key]:
            if has_tax[key]:
                tax_rate[i] = _min(tax_rate[i], ben_tax[key])
            interest_subsidy[i] = interest_subsidy[i] + ben_interest[key] * tilt
            credit_bonus[i] = credit_bonus[i] + ben_credit[key] * tilt
            ipo_fast_track[i] = ipo_fast_track[i] + ben_ipo[key]
            talent_subsidy[i] = talent_subsidy[i] + ben_talent[key]
            procurement_discount[i] = procurement_discount[i] + ben_procurement[key]
            g = g + ben_grant_q[key] * tilt
        grant[i] = g
        t = talent_subsidy[i] * rd_spend[i]
        if has_booked:
            t = t * booked[i]
        talent[i] = t
        grants[i] = grants[i] + (g + t)
        rd_grants[i] = rd_grants[i] + g
        if key_lg[i]:
            grants[i] = grants[i] + key_grant
            rd_grants[i] = rd_grants[i] + key_grant
            n_key += 1
    return n_key
