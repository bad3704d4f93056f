"""Firm investment: projects through their phases, NPV decisions, entry (MODEL.md 5.4-5.5).

A project passes planning -> permitting -> financing (final investment decision)
-> construction -> commissioning and ramp-up -> (new magnet plants) buyer
qualification. Each phase's duration is drawn from the bloc-stage range when
the phase begins, from uniforms fixed when the project starts (so a permitting
reform changes durations, not the random stream). A firm or entrant commits
when the profitability index (NPV / capex) of the capacity at its cost of
capital beats the threshold; at the decision gate the project waits until it
is both still worth doing and fundable, and is abandoned after a configured
wait.

An expansion of an operating plant (brownfield) takes ``T.brownfield_factor`` (investment.brownfield_*_factor) of
the bloc-stage planning, permitting and construction time of a new plant: the site, its licence (amended rather than
granted anew), utilities, reagent supply and owner's team exist; and it needs no buyer qualification. Its investors
value it with that shorter lead time (:func:`lead_years` with ``brownfield=True``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agents import kernels
from agents.firms import CELL_ROWS, FirmPopulation, Phase, ProjectPhase, cell

MILESTONES = ("permitting", "financing", "construction_complete", "ramped_up", "qualified")  # event kinds of advance_projects
TIMED = (ProjectPhase.PLANNING, ProjectPhase.PERMITTING, ProjectPhase.CONSTRUCTION, ProjectPhase.RAMPUP, ProjectPhase.QUALIFICATION)
# phases an expansion of an operating plant shortens, in the order of T.brownfield_factor
BROWNFIELD = {ProjectPhase.PLANNING: 0, ProjectPhase.PERMITTING: 1, ProjectPhase.CONSTRUCTION: 2}
# column of proj_u that fixes each timed phase's duration
U_COL = {
    ProjectPhase.PLANNING: 0,
    ProjectPhase.PERMITTING: 1,
    ProjectPhase.CONSTRUCTION: 2,
    ProjectPhase.RAMPUP: 3,
    ProjectPhase.QUALIFICATION: 4,
}


@dataclass
class Expectations:
    """What investors expect per bloc and stage (B, S arrays)."""

    price: np.ndarray  # USD/kg the bloc's producers expect to sell at
    input_price: np.ndarray  # USD/kg landed price of the stage's input
    utilisation: np.ndarray  # expected sold share of new nameplate
    discount_rate: np.ndarray  # per year
    lead_years: np.ndarray  # years from commitment to output
    tax_rate: np.ndarray  # (B,)
    capex_support: np.ndarray | None = None  # (B, S) share of capex investors expect public awards to pay
    brownfield_lead_years: np.ndarray | None = None  # (B, S) years from commitment to output of an expansion (None: lead_years)


# the table (sim.engine.world.Tables, (B, S, 2): years, low and high) of each timed phase's duration
PHASE_RANGES = {
    ProjectPhase.PLANNING: "planning_years",
    ProjectPhase.PERMITTING: "permitting_years",
    ProjectPhase.CONSTRUCTION: "construction_years",
    ProjectPhase.RAMPUP: "rampup_years",
    ProjectPhase.QUALIFICATION: "qualification_years",
}


def phase_ranges(T, phase: ProjectPhase) -> np.ndarray:
    return getattr(T, PHASE_RANGES[phase])


def phase_quarters(
    pop: FirmPopulation, rows: np.ndarray, T, phase: ProjectPhase, permit_factor: np.ndarray | None = None, permit_cap_years: np.ndarray | None = None
) -> np.ndarray:
    """Duration in quarters of a phase for the given rows, from the bloc-stage range and the project's uniform; an
    expansion (``proj_greenfield`` False) takes ``T.brownfield_factor`` of it in planning, permitting and construction
    (permitting: times the bloc-stage permit factor, at most the bloc-stage permit cap in years)."""
    b, s = pop.bloc[rows], pop.stage[rows]
    ranges = getattr(T, PHASE_RANGES[phase])
    if len(rows) < CELL_ROWS:  # each row's range (bloc, stage): a few rows at once, many by their flat cells
        r = ranges[b, s]  # a new (rows, 2) array
        lo, hi = r[:, 0], r[:, 1]
    else:
        lo, hi = cell(ranges[:, :, 0], b, s), cell(ranges[:, :, 1], b, s)
    u = pop.proj_u[rows, U_COL[phase]]
    hi -= lo
    hi *= u
    years = np.add(lo, hi, out=lo)  # lo + u x (hi - lo)
    if phase in BROWNFIELD:
        years = np.where(pop.proj_greenfield[rows], years, T.brownfield_factor[BROWNFIELD[phase]] * years)
    if permit_factor is not None and phase == ProjectPhase.PERMITTING:
        years = cell(permit_factor, b, s) * years
    if permit_cap_years is not None and phase == ProjectPhase.PERMITTING:
        years = np.minimum(years, cell(permit_cap_years, b, s))
    years *= 4.0
    return np.round(years, out=years)


def lead_years(T, permit_factor: np.ndarray | None = None, permit_cap_years: np.ndarray | None = None, brownfield: bool = False) -> np.ndarray:
    """(B, S) expected years from commitment to first sales (mid-points of the ranges); permitting
    times the permit factor and at most the permit cap in force, as projects will meet them; a new plant of a
    stage whose buyers qualify it (magnets) sells only after qualification, so its mean counts too.
    ``brownfield``: an expansion of an operating plant (planning, permitting and construction times
    ``T.brownfield_factor``, as :func:`phase_quarters` draws them; no qualification)."""
    mid = lambda a: a.mean(axis=2)  # noqa: E731
    f = T.brownfield_factor if brownfield else np.ones(3)
    permitting = f[1] * mid(T.permitting_years)
    if permit_factor is not None:
        permitting = permitting * permit_factor
    if permit_cap_years is not None:
        permitting = np.minimum(permitting, permit_cap_years)
    qualification = 0.0 if brownfield else mid(T.qualification_years)
    return f[0] * mid(T.planning_years) + permitting + f[2] * mid(T.construction_years) + 0.5 * mid(T.rampup_years) + qualification


def annuity_factor(r, years):
    """Present value of 1 a year for ``years`` years at rate ``r`` (> 0): (1 - (1 + r) ^ -years) / r."""
    return (1.0 - (1.0 + r) ** (-years)) / r


def profitability_index(
    bloc, stage, proc_cost, T, E: Expectations, horizon_years: float, depreciation_years: float, brownfield: np.ndarray | None = None
) -> np.ndarray:
    """NPV per unit of capex of 1 kt/yr of new capacity (MODEL.md 5.4).

    margin (USD/kg = M USD/kt) = expected price - input per t x expected input price - processing cost;
    yearly cash flow = (margin x expected utilisation - fixed cost) x (1 - tax) + tax x depreciation;
    NPV = -capex x (1 - expected capex support) + cash flow x annuity(r, horizon) x (1 + r)^-lead,
    per unit of (full) capex. Expected support is what investors expect public awards to pay.
    ``brownfield`` (per row): an expansion of an operating plant, discounted over ``E.brownfield_lead_years`` where given.
    """
    # Every term but the processing cost is the bloc-stage's: each is computed once on the (B, S) grid, in the order of
    # the formula above, and gathered per row (the same IEEE operations on the same operands as per row: the same numbers
    # bit for bit, two powers a grid cell instead of a row).
    capex = T.capex_musd_per_kt
    base = E.price - T.input_per_t[None, :] * E.input_price
    fixed = T.fixed_cost_share * capex
    tax = E.tax_rate[:, None]
    depreciation = tax * capex / depreciation_years
    r = np.maximum(E.discount_rate, 1e-6)
    annuity = annuity_factor(r, horizon_years)
    outlay = capex if E.capex_support is None else capex * (1.0 - E.capex_support)
    cell = np.multiply(bloc, capex.shape[1], dtype=np.intp)
    cell += stage
    at = lambda grid: np.take(np.broadcast_to(grid, capex.shape).ravel(), cell)  # noqa: E731  (a row's cell of a grid)
    cf = at(base) - proc_cost
    cf *= at(E.utilisation)
    cf -= at(fixed)
    cf *= at(1.0 - tax)
    cf += at(depreciation)
    discount = at((1.0 + r) ** (-E.lead_years))
    if brownfield is not None and E.brownfield_lead_years is not None:
        discount = np.where(brownfield, at((1.0 + r) ** (-E.brownfield_lead_years)), discount)
    cf *= at(annuity)
    cf *= discount
    npv = np.add(at(-outlay), cf, out=cf)
    npv /= at(np.maximum(capex, 1e-9))
    return npv


def start_projects(pop: FirmPopulation, rows: np.ndarray, T, rng: np.random.Generator, step: int, nameplate_t: np.ndarray, greenfield: bool) -> None:
    """Commit to projects: planning starts now; capex is fixed at today's unit capex."""
    if len(rows) == 0:
        return
    b, s = pop.bloc[rows], pop.stage[rows]
    pop.proj_u[rows] = rng.random((len(rows), 5))
    pop.proj_phase[rows] = ProjectPhase.PLANNING
    pop.proj_nameplate_t[rows] = nameplate_t
    pop.proj_capex_musd[rows] = T.capex_musd_per_kt[b, s] * nameplate_t / 1000.0
    pop.proj_capex_left[rows] = pop.proj_capex_musd[rows]
    pop.proj_wait_q[rows] = 0.0
    pop.proj_added_t[rows] = 0.0
    pop.proj_start_step[rows] = step
    pop.proj_greenfield[rows] = greenfield
    pop.proj_remaining_q[rows] = phase_quarters(pop, rows, T, ProjectPhase.PLANNING)


def advance_projects(
    pop: FirmPopulation, T, step: int, permit_factor: np.ndarray | None = None, permit_cap_years: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Count down timed phases, bring ramp-up capacity on line (nameplate / ramp-up quarters a quarter, at most what is
    left), move finished phases on, pass by pass so that zero-length phases pass straight through: planning to
    permitting (:func:`start_permitting`); permitting to the financing gate (:func:`finance_gate`, its wait from 0);
    construction to ramp-up (:func:`complete_construction`); ramp-up done, the rest of the nameplate on line and staff
    for it, a new plant whose stage needs buyer qualification on to qualification, every other project ended;
    qualification passed, the plant qualified and the project ended.

    Returns the rows reaching each milestone this quarter (for the event log). Every row on its own, in one compiled
    pass (agents.kernels.advance_project_rows: the moves above in their order; tests/test_kernels.py checks its
    numbers bit for bit against the array code it replaced).
    """
    n = len(pop)
    milestones = np.empty((len(MILESTONES), n), dtype=np.int64)
    counts = np.zeros(len(MILESTONES), dtype=np.int64)
    empty = np.zeros((0, 0))  # no permit factor or cap (a (B, S) table where given)
    kernels.advance_project_rows(
        int(step),
        pop.phase,
        pop.bloc,
        pop.stage,
        pop.proj_phase,
        pop.proj_remaining_q,
        pop.proj_nameplate_t,
        pop.proj_rampup_q,
        pop.proj_added_t,
        pop.proj_wait_q,
        pop.proj_greenfield,
        pop.proj_u,
        pop.capacity_t,
        pop.book_assets,
        pop.cip,
        pop.plant_life_left,
        pop.quality,
        pop.qualified,
        pop.niche_start_step,
        pop.employees,
        phase_table(T),
        np.ascontiguousarray(T.brownfield_factor, dtype=np.float64),
        empty if permit_factor is None else np.ascontiguousarray(permit_factor, dtype=np.float64),
        empty if permit_cap_years is None else np.ascontiguousarray(permit_cap_years, dtype=np.float64),
        np.ascontiguousarray(T.new_plant_quality, dtype=np.float64),
        np.ascontiguousarray(T.qualification, dtype=np.bool_),
        np.ascontiguousarray(T.employees_per_kt, dtype=np.float64),
        milestones,
        counts,
    )
    return {k: milestones[j, : counts[j]].copy() for j, k in enumerate(MILESTONES)}


def phase_table(T) -> np.ndarray:
    """(5, B, S, 2) the duration ranges of the timed phases (TIMED, in order: a phase's row is its column of proj_u),
    as agents.kernels.advance_project_rows reads them."""
    return np.ascontiguousarray(np.stack([phase_ranges(T, ph) for ph in TIMED]), dtype=np.float64)


def start_permitting(pop: FirmPopulation, r: np.ndarray, T, permit_factor: np.ndarray | None, permit_cap_years: np.ndarray | None) -> np.ndarray:
    """Planning done: permitting starts (its duration x the permit factor, at most the permit cap). Returns ``r``."""
    pop.proj_phase[r] = ProjectPhase.PERMITTING
    pop.proj_remaining_q[r] = phase_quarters(pop, r, T, ProjectPhase.PERMITTING, permit_factor, permit_cap_years)
    return r


def complete_construction(pop: FirmPopulation, r: np.ndarray, T, step: int) -> np.ndarray:
    """Construction done: the plant moves from construction in progress to depreciable plant and ramp-up starts,
    its first share of nameplate on line at once; a greenfield plant starts operating at the bloc-stage
    new-plant quality, qualified unless its stage needs buyer qualification. Returns ``r``."""
    pop.proj_phase[r] = ProjectPhase.RAMPUP
    # the new plant joins the book with its whole life left: the life left on the book is value-weighted (composite
    # straight-line depreciation, agents.firms.account), so the old plant's cost is not written off a second time
    book, new = pop.book_assets[r], pop.cip[r]
    total = book + new
    pop.plant_life_left[r] = np.divide(book * pop.plant_life_left[r] + new, total, out=np.ones(len(r)), where=total > 0)
    pop.book_assets[r] = total
    pop.cip[r] = 0.0
    q = phase_quarters(pop, r, T, ProjectPhase.RAMPUP)
    pop.proj_rampup_q[r] = np.maximum(q, 1.0)
    pop.proj_remaining_q[r] = q
    green = r[pop.proj_greenfield[r]]
    if len(green):
        pop.phase[green] = Phase.OPERATING
        pop.quality[green] = T.new_plant_quality[pop.bloc[green], pop.stage[green]]
        pop.qualified[green] = ~T.qualification[pop.stage[green]]
        pop.niche_start_step[green] = step
    add = np.minimum(pop.proj_nameplate_t[r] / pop.proj_rampup_q[r], pop.proj_nameplate_t[r])
    pop.capacity_t[r] += add
    pop.proj_added_t[r] = add
    pop.employees[r] = np.maximum(T.employees_per_kt[pop.stage[r]] * pop.capacity_t[r] / 1000.0, 5.0)
    return r


def qualification_reserve(pop: FirmPopulation, T, rows: np.ndarray, capex: np.ndarray) -> np.ndarray:
    """M USD a new plant of a stage whose buyers qualify it (magnets) must hold for the qualification period, when it
    carries its fixed cost and the interest on its debt without sales: (fixed cost share + interest rate x debt share)
    x capex per year x the mean qualification years of its bloc and stage. Zero for expansions (a firm without a
    project in hand weighs one) and other stages."""
    if not T.qualification.any():  # no stage's buyers qualify plants (the national world): no reserve
        return np.zeros(len(rows))
    b, s = pop.bloc[rows], pop.stage[rows]
    # the project in hand: a firm between projects keeps its last project's flag, and the one it weighs (an expansion:
    # choose_expansions) needs no qualification, its plant being qualified
    needs = pop.proj_greenfield[rows] & (pop.proj_phase[rows] != ProjectPhase.NONE) & T.qualification[s]
    # per year x the mean qualification years, computed once on the (B, S) grid in the order of the formula and gathered
    # per row (the same operations on the same numbers as per row)
    per_year = T.fixed_cost_share + (T.interest_rate * (1.0 - T.equity_share_required))[:, None]
    reserve = cell(per_year * T.qualification_years.mean(axis=-1), b, s)
    reserve *= capex
    return np.where(needs, reserve, 0.0)


def project_reserve(pop: FirmPopulation, T, rows: np.ndarray, capex: np.ndarray, fin) -> np.ndarray:
    """M USD raised on top of a project's capex: the start-up reserve share of capex, plus the qualification reserve
    of a new plant that buyers must qualify (:func:`qualification_reserve`)."""
    return fin.startup_reserve_share * capex + qualification_reserve(pop, T, rows, capex)


def added_working_capital(pop: FirmPopulation, rows: np.ndarray, nameplate_t: np.ndarray, fin) -> np.ndarray:
    """M USD of working capital the added nameplate will tie up (the initial working capital a Chinese project's
    investment includes): ``fin.working_capital_share`` x the firm's sales per t of capacity at this quarter's annual
    rate x the nameplate. Zero for a firm without capacity or sales (a greenfield project carries its start-up in the
    reserve)."""
    cap = pop.capacity_t[rows]
    per_t = np.divide(4.0 * pop.revenue[rows], cap, out=np.zeros(len(rows)), where=cap > 0)
    return fin.working_capital_share * np.maximum(per_t, 0.0) * nameplate_t


def outside_share(
    pop: FirmPopulation, T, rows: np.ndarray, capex: np.ndarray, fin, cash_buffer: np.ndarray, wc_new: np.ndarray | None = None
) -> np.ndarray:
    """Share of a project's cost (capex + added working capital + reserve, :func:`project_reserve`) that the firm's
    own funds (cash above the buffer) leave to outside money, debt or outside equity: max(cost - own, 0) / cost (0 for
    a zero cost)."""
    cost = capex + project_reserve(pop, T, rows, capex, fin) + (0.0 if wc_new is None else wc_new)
    own = np.maximum(pop.cash[rows] - cash_buffer[rows], 0.0)
    return np.divide(np.maximum(cost - own, 0.0), cost, out=np.zeros_like(cost), where=cost > 1e-12)


def mark_outside_finance(
    pop: FirmPopulation, T, rows: np.ndarray, capex: np.ndarray, fin, cash_buffer: np.ndarray, wc_new: np.ndarray | None = None
) -> np.ndarray:
    """Firms ``rows`` seek finance for projects of ``capex``: those whose own funds leave more than
    ``fin.outside_finance_share`` of the cost to outside money are marked ``outside_finance`` for the year (the
    observation behind the reported difficulty of scaling for want of capital; no rule reads it). Returns them."""
    dep = rows[outside_share(pop, T, rows, capex, fin, cash_buffer, wc_new) > fin.outside_finance_share]
    pop.outside_finance[dep] = True
    return dep


def funding(
    pop: FirmPopulation,
    T,
    rows: np.ndarray,
    capex: np.ndarray,
    worth: np.ndarray,
    fin,
    cash_buffer: np.ndarray,
    u: np.ndarray,
    wc_new: np.ndarray | None = None,
):
    """Whether firms ``rows`` can fund projects of ``capex`` (M USD): own funds (cash above the buffer, plus outside
    equity, which investors provide with the bloc's appetite -- its private appetite for private firms outside the state
    groups -- plus the firm's IPO fast track, drawn by ``u`` < appetite,
    for projects ``worth`` doing) cover the required equity share plus a start-up reserve, and lenders allow the rest
    within the leverage limit. A new plant that must pass buyer qualification also raises what carries it through
    qualification (:func:`qualification_reserve`: the start-up reserve share alone left magnet entrants illiquid
    before their first sale). The project's investment is its capex plus the working capital its output will tie up
    (``wc_new``, :func:`added_working_capital`; none for a greenfield plant): the equity share applies to both and
    lenders count both, with the firm's plant, construction and working capital, within the leverage limit.
    Returns (outside equity raised, own funds suffice, debt room suffices)."""
    b = pop.bloc[rows]
    reserve = project_reserve(pop, T, rows, capex, fin)
    invest = capex if wc_new is None else capex + wc_new
    own_needed = T.equity_share_required[b] * invest + reserve
    own = np.maximum(pop.cash[rows] - cash_buffer[rows], 0.0)
    private = T.private_outside_state_groups(pop.group[rows], pop.state_owned[rows])
    base = np.where(private, T.private_investor_appetite[b], T.investor_appetite[b])
    appetite = np.clip(base + pop.ipo_fast_track[rows], 0.0, 1.0)
    raised = np.where(worth & (own < own_needed) & (u < appetite), own_needed - own, 0.0)
    own_ok = own + raised >= own_needed - 1e-9
    base = pop.book_assets[rows] + pop.cip[rows] + pop.working_capital[rows] + invest
    debt_room = (T.leverage_max[b] + pop.credit_bonus[rows]) * base - pop.debt[rows]
    debt_need = np.maximum(invest + reserve - own - raised, 0.0)
    debt_ok = debt_room >= debt_need - 1e-9
    return raised, own_ok, debt_ok


def finance_gate(
    pop: FirmPopulation,
    T,
    rng: np.random.Generator,
    pi: np.ndarray,
    min_pi: float,
    fin,
    cash_buffer: np.ndarray,
) -> dict[str, np.ndarray]:
    """Final investment decision for projects waiting at the gate.

    A project proceeds when it is still worth doing (PI above the threshold) and
    fundable: own funds (cash above the buffer, plus outside equity, which
    investors provide with the bloc's appetite probability per quarter, plus the
    firm's IPO fast track while it holds a title) cover
    the required equity share of capex plus a start-up reserve (interest during
    construction and ramp-up losses), and lenders allow the rest within the
    leverage limit. Outside equity is paid into cash at financial close. Worth doing but unfundable marks the firm finance-constrained;
    worth doing and needing outside money beyond ``fin.outside_finance_share`` of its cost marks it ``outside_finance``. A
    project still waiting after the configured time is abandoned. A sponsored firm's greenfield project
    (agents/sponsor.py) counts as worth doing whatever its return: the sponsor committed to it.
    pi: profitability index for every row (only gate rows are read).
    """
    gate = np.flatnonzero((pop.proj_phase == ProjectPhase.FINANCING) & pop.alive)
    u = rng.random(len(gate))
    empty = np.zeros(0, dtype=np.int64)
    if len(gate) == 0:
        return {"financed": empty, "stalled": empty, "constrained": empty, "abandoned": empty}
    capex = pop.proj_capex_musd[gate]
    # a sponsored greenfield project (agents/sponsor.py) is committed by the plan, not by its expected return
    worth = (pi[gate] > min_pi) | (pop.sponsored[gate] & pop.proj_greenfield[gate])
    wc_new = added_working_capital(pop, gate, pop.proj_nameplate_t[gate], fin)
    raised, own_ok, debt_ok = funding(pop, T, gate, capex, worth, fin, cash_buffer, u, wc_new)
    mark_outside_finance(pop, T, gate[worth], capex[worth], fin, cash_buffer, wc_new[worth])
    funded = worth & own_ok & debt_ok
    fr = gate[funded]
    # outside equity is paid in at financial close, in this quarter
    pop.cash[fr] += raised[funded]
    pop.equity_in[fr] += raised[funded]
    pop.equity_raised[fr] += raised[funded]
    pop.proj_phase[fr] = ProjectPhase.CONSTRUCTION
    pop.proj_remaining_q[fr] = np.maximum(phase_quarters(pop, fr, T, ProjectPhase.CONSTRUCTION), 1.0)
    pop.proj_capex_left[fr] = pop.proj_capex_musd[fr]
    waiting = gate[~funded]
    pop.proj_wait_q[waiting] += 1.0
    constrained = gate[worth & ~funded]
    pop.finance_constrained[constrained] = True
    stalled = gate[~worth]
    abandon = waiting[pop.proj_wait_q[waiting] > fin.financing_max_wait_years * 4.0]
    pop.proj_phase[abandon] = ProjectPhase.NONE
    pop.proj_capex_left[abandon] = 0.0
    return {"financed": fr, "stalled": stalled, "constrained": constrained, "abandoned": abandon}


def choose_expansions(
    pop: FirmPopulation, T, rng: np.random.Generator, pi: np.ndarray, inv, fin=None, cash_buffer: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Operating firms without a project whose plants are busy (orders at least the configured share
    of nameplate) review expansion with a probability per quarter;
    those whose expansion beats the PI threshold want it (nameplate = a drawn share of capacity,
    at most one new plant of the bloc-stage's largest size, ``T.bloc_plant_size_t``). With ``inv.check_funds_at_expansion`` a firm that
    could not fund it today (:func:`funding`, outside equity drawn with its appetite) skips it and is marked
    finance-constrained; otherwise it commits and meets the funding test at the gate. A firm whose wanted
    expansion needs outside money beyond ``fin.outside_finance_share`` of its cost is marked ``outside_finance``
    (:func:`mark_outside_finance`), whether or not it could raise it.
    Returns (rows that commit, their nameplate_t, rows that skipped for want of funds)."""
    n = len(pop)
    u = rng.random(n)
    share = rng.uniform(inv.expansion_share[0], inv.expansion_share[1], n)
    busy = pop.orders_t >= inv.min_own_utilisation * pop.capacity_t / 4.0
    review = pop.operating & busy & (pop.proj_phase == ProjectPhase.NONE) & (u < inv.review_probability)
    go = review & (pi > inv.min_profitability_index)
    rows = np.flatnonzero(go)
    size = T.bloc_plant_size_t[pop.bloc[rows], pop.stage[rows]]
    nameplate = np.clip(share[rows] * pop.capacity_t[rows], 0.1 * size[:, 0], size[:, 1])
    skipped = np.zeros(0, dtype=np.int64)
    capex = T.capex_musd_per_kt[pop.bloc[rows], pop.stage[rows]] * nameplate / 1000.0
    wc_new = None if fin is None else added_working_capital(pop, rows, nameplate, fin)
    if fin is not None and cash_buffer is not None:
        mark_outside_finance(pop, T, rows, capex, fin, cash_buffer, wc_new)
    if inv.check_funds_at_expansion and fin is not None:
        u_eq = rng.random(n)[rows]
        _, own_ok, debt_ok = funding(pop, T, rows, capex, np.ones(len(rows), dtype=bool), fin, cash_buffer, u_eq, wc_new)
        ok = own_ok & debt_ok
        skipped = rows[~ok]
        pop.finance_constrained[skipped] = True
        rows, nameplate = rows[ok], nameplate[ok]
    return rows, nameplate, skipped


def entrants(
    T, rng: np.random.Generator, pi_entrant: np.ndarray, scale: float, extra_rate: np.ndarray | None = None, pi_cap: float = 3.0
) -> np.ndarray:
    """(B, S) number of entrants this quarter: Poisson(rate x clip(PI, 0, pi_cap) / 4) (MODEL.md 5.5)."""
    rate = T.entry_rate_per_year * np.clip(pi_entrant, 0.0, pi_cap) / 4.0 * scale
    if extra_rate is not None:
        rate = rate + extra_rate
    return rng.poisson(rate)
