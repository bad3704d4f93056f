"""The national world's niche markets and the firms' investment, entry and exit (docs/ODD.md 7.15).

Each niche is one product with one price index (1 = the reference price). Every quarter:

    demand[n]  = base[n] x (1 + g[sector of n]) ^ (years since the start) x price[n] ^ -elasticity   (M yuan a year at
                 the reference price; base = the niche's output at the start)
    offer[i]   = capacity[i] x appeal[i]   for operating firms whose unit cost the price covers (shut-down rule)
    sales[i]   = min(offer[i] / sum of offers in the niche x demand, max_utilisation x capacity[i]), the demand full
                 firms turn away going to the others by the same weights (ALLOCATION_PASSES passes)
    price[n]  <- price[n] + price_adjustment x (target - price[n]),
    target     = normal[n] x (demand / normal supply) ^ price_flexibility,   normal supply = offered capacity x target_utilisation
    normal[n]  = 1 + cost_pass_through x (unit cost[n] / unit cost[n] at the start - 1)   (capacity-weighted, operating firms)
    orders[i]  = sales[i] + offer[i] / sum of offers in the niche x the niche's unserved demand   (orders_met)
    expansion  : a busy, profitable firm wants 4 x orders x (1 + g) ^ plan_years / target_utilisation - capacity

a normal-cost price (1, the reference, moving with the niche's unit cost) marked up or down with the niche's
utilisation (markup pricing on current cost, as in Dosi et al.'s K+S models; the price does not run away while
capacity catches up): a niche whose firms cannot serve its
demand sees its price rise, and one with idle capacity sees it fall, until the firms' expansions, entry and exit
bring utilisation back to its normal level. A firm's appeal
(its share weight per unit of capacity: buyers' taste, its products' fit) takes a Laplace shock each year, which
gives firms in one niche different growth.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from agents import investment as inv
from agents import kernels
from agents.firms import Phase, ProjectPhase, processing_cost
from sim.engine.entry_exit import pass_plants

if TYPE_CHECKING:  # pragma: no cover
    from sim.engine.national.model import NationalModel

ALLOCATION_PASSES = 3  # rounds of buyers turned away by full firms trying the others of the niche


def niche_demand(model: NationalModel) -> np.ndarray:
    """(niches,) demand this quarter at the niches' prices, M yuan a year at the reference price."""
    mk = model.national.market
    years = max(model.quarter, 0) / 4.0
    grown = model.niche_base * np.power(1.0 + model.niche_growth, years)
    return grown * np.power(model.price, -mk.demand_elasticity)


def niche_cost(model: NationalModel, unit_cost: np.ndarray, empty: np.ndarray) -> np.ndarray:
    """(niches,) the capacity-weighted ``unit_cost`` (per firm row) of each niche's operating firms; ``empty`` where a
    niche has none."""
    pop = model.pop
    niche = np.maximum(pop.niche, 0, dtype=np.intp)
    cap = np.where(pop.operating, pop.capacity_t, 0.0)
    n = len(model.price)
    w = np.bincount(niche, weights=cap, minlength=n)
    c = np.bincount(niche, weights=cap * unit_cost, minlength=n)
    return np.divide(c, w, out=np.array(empty, dtype=float), where=w > 0)


def clear_niches(model: NationalModel) -> None:
    """Sales and output of every firm this quarter (``output_t``, ``orders_t``), then the niches' prices move.

    A firm offers in its niche when its unit cost is within the niche's price; the niche's demand at that price goes to
    the offering firms in proportion to capacity x appeal, each selling at most ``max_utilisation`` of its capacity;
    buyers turned away by a full firm go to the others of the niche by the same weights (``ALLOCATION_PASSES``
    rounds). A firm's orders (its busy-ness) are the demand it met, its sales plus its share (capacity x appeal) of
    the niche's demand left unserved, with ``market.orders_met``; its buyers' first choice without. The row loop is compiled
    (agents.kernels.clear_niche_rows). Each niche's price then moves toward (demand / (offered capacity x
    ``target_utilisation``)) ^ ``price_flexibility`` (the ratio within 0.25-4) at ``price_adjustment`` a quarter, times its
    normal-cost price, 1 + ``cost_pass_through`` x (the niche's unit cost over its unit cost at the start - 1), and with
    ``market.shortage_pricing`` at least the price at which the niche's demand would fall to what its firms sold where
    buyers went unserved (:func:`clearing_price`); a niche without a supplier keeps its price."""
    pop, mk, T = model.pop, model.national.market, model.tables
    n_niches = len(model.price)
    cost = pop.unit_cost_usd_per_kg
    cost[...] = processing_cost(pop, T)
    demand = niche_demand(model)
    cap_offered, sold, live_cap, live_cost = kernels.clear_niche_rows(
        pop.niche,
        model.price,
        float(T.reference_price_usd_per_kg[0]),
        cost,
        pop.operating,
        pop.capacity_t,
        pop.appeal,
        float(mk.max_utilisation),
        demand,
        ALLOCATION_PASSES,
        pop.output_t,
        pop.orders_t,
        pop.potential_t,
        bool(mk.orders_met),
    )
    normal = cap_offered * mk.target_utilisation
    ratio = np.divide(demand, normal, out=np.ones(n_niches), where=normal > 0)  # no supplier: no trade, the price stays
    target = np.power(np.clip(ratio, 0.25, 4.0), mk.price_flexibility)
    if mk.cost_pass_through > 0:  # the normal price follows the niche's unit cost (markup pricing on current cost)
        # the niches' capacity-weighted unit cost (niche_cost), its sums taken in the clearing's pass
        unit = np.divide(live_cost, live_cap, out=np.array(model.niche_cost0, dtype=float), where=live_cap > 0)
        target *= 1.0 + mk.cost_pass_through * (unit / model.niche_cost0 - 1.0)
    if mk.shortage_pricing:  # buyers left unserved bid for the supply there is: at least the price that clears it
        np.maximum(target, clearing_price(model.price, demand, sold, mk.demand_elasticity), out=target)
    model.price = model.price + mk.price_adjustment * (target - model.price)
    model.niche_demand_last = demand
    model.niche_unserved = np.maximum(demand - sold, 0.0)


def clearing_price(price: np.ndarray, demand: np.ndarray, sold: np.ndarray, elasticity: float) -> np.ndarray:
    """(niches,) the price index at which each niche's demand (``demand`` at ``price``, falling with ``elasticity``)
    would fall to what its firms ``sold``: price x (demand / sold) ^ (1 / elasticity), the ratio at most 4 (as the
    capacity ratio; with elasticity 0, the ratio itself). Where nothing was sold or nobody went unserved, 0 (no bound)."""
    short = (sold > 0) & (demand > sold * (1.0 + 1e-9))
    ratio = np.divide(demand, sold, out=np.ones(len(price)), where=short)
    np.minimum(ratio, 4.0, out=ratio)
    factor = np.power(ratio, 1.0 / elasticity) if elasticity > 0 else ratio
    return np.where(short, price * factor, 0.0)


def shock_appeal(model: NationalModel, rng: np.random.Generator) -> None:
    """Yearly: log appeal <- 0.8 log appeal + Laplace(0, sd / sqrt 2), sd = ``firms.growth_sd_per_year``
    (persistence 0.8 a year: assumption; the Laplace shape: Chinese firm growth rates, Zou 2019)."""
    sd = model.national.firms.growth_sd_per_year
    pop = model.pop
    shock = rng.laplace(0.0, sd / np.sqrt(2.0), len(pop)) if sd > 0 else np.zeros(len(pop))
    pop.appeal = np.exp(0.8 * np.log(np.maximum(pop.appeal, 1e-12)) + shock)


def raise_productivity(model: NationalModel, years: float = 0.25) -> None:
    """Each quarter (``years`` 0.25): every firm's capacity per employee and the wage per employee rise by
    ``firms.labour_productivity_growth`` a year, compounded over ``years`` (``model.productivity_index`` follows them),
    and operating firms' staff follow their capacity at the new productivity, at least one person (an expansion's
    capacity, and the staff for it, come when it completes: :func:`invest`)."""
    g = model.national.firms.labour_productivity_growth
    if g <= 0:
        return
    pop, T = model.pop, model.tables
    step = (1.0 + g) ** years
    model.productivity_index *= step
    pop.capacity_per_employee *= step
    T.wage_musd_per_employee_year = T.wage_musd_per_employee_year * step
    staff = np.divide(pop.capacity_t, np.maximum(pop.capacity_per_employee, 1e-9))
    np.maximum(staff, 1.0, out=staff)
    np.copyto(pop.employees, staff, where=pop.phase == Phase.OPERATING)


def adopt_rd(model: NationalModel, rng: np.random.Generator) -> None:
    """Yearly: each operating firm without R&D starts it with chance ``firms.rd_adoption_per_year``, its R&D / revenue
    drawn as at the start (lognormal ``firms.rd_intensity`` x its sector's ``rd_intensity_factor``, at most 0.3). Draws
    for every row in a fixed order, so the stream does not depend on outcomes."""
    fc = model.national.firms
    if fc.rd_adoption_per_year <= 0:
        return
    pop = model.pop
    n = len(pop)
    u = rng.random(n)
    z = rng.standard_normal(n)
    start = np.flatnonzero(pop.operating & (pop.rd_propensity <= 0) & (u < fc.rd_adoption_per_year))
    factor = np.array([s.rd_intensity_factor for s in model.national.sectors])[pop.stage[start]]
    ri = fc.rd_intensity
    pop.rd_propensity[start] = np.clip(ri.median * np.exp(ri.sigma * z[start]) * factor, 0.0, 0.3)


def expected_growth(model: NationalModel, rows: np.ndarray) -> np.ndarray:
    """(rows,) the factor by which firms ``rows`` expect their orders to grow over the ``market.plan_years`` they plan
    capacity ahead for: (1 + their sector's demand growth) ^ plan_years (1 with 0: today's orders)."""
    years = model.national.market.plan_years
    if years <= 0:
        return np.ones(len(rows))
    return np.power(1.0 + model.niche_growth[np.maximum(model.pop.niche[rows], 0)], years)


def invest(model: NationalModel) -> None:
    """Projects advance (construction, ramp-up: agents.investment), the finance gate passes funded projects, and
    busy, profitable firms decide expansions: a firm whose orders, grown at its sector's demand growth over
    ``plan_years`` (:func:`expected_growth`), exceed ``target_utilisation`` of its capacity and whose last year's profit
    was positive wants, with chance ``review_probability`` a quarter, the capacity that would serve those orders at that
    utilisation (within ``expansion_share`` of its capacity, at most a medium firm's 400 M yuan); it commits if it can
    fund it (agents.investment.funding: equity share from cash above the buffer or outside equity drawn with the
    private investors' appetite plus its title's IPO fast track, the rest within the leverage limit plus its credit
    bonus), otherwise it is recorded finance-constrained for the year. An
    expansion that needs outside money beyond ``finance.outside_finance_share`` of its cost is recorded too."""
    pop, T, mk = model.pop, model.tables, model.national.market
    fin = model.finance
    q = model.quarter
    rng = model.streams["investment"]
    pop.equity_in = 0.0  # this quarter's outside equity and grants start afresh (the government pays grants after this step)
    pop.grants = 0.0
    pop.rd_grants = 0.0
    ms = inv.advance_projects(pop, T, q)
    grown = np.concatenate([ms["construction_complete"], ms["ramped_up"]])
    if len(grown):  # staff grow with capacity at the firm's own productivity
        pop.employees[grown] = pop.capacity_t[grown] / np.maximum(pop.capacity_per_employee[grown], 1e-9)
    buffer = fin.min_cash_quarters_of_fixed_cost * pop.fixed_cost
    gate = inv.finance_gate(pop, T, model.streams["projects"], np.full(len(pop), np.inf), 0.0, fin, buffer)
    model.log_rows("fid", gate["financed"], values=pop.proj_capex_musd[gate["financed"]])
    n = len(pop)
    u = rng.random(n)
    u_eq = rng.random(n)
    # the firms that review this quarter first (a tenth), then the rest of the test on them alone (each row on its own)
    rows = np.flatnonzero(u < mk.review_probability)
    rows = rows[(pop.phase[rows] == Phase.OPERATING) & (pop.proj_phase[rows] == ProjectPhase.NONE)]
    cap_r = pop.capacity_t[rows]
    ahead = expected_growth(model, rows)
    util = np.divide(pop.orders_t[rows] * 4.0 * ahead, cap_r, out=np.zeros(len(rows)), where=cap_r > 0)  # orders: what buyers would take
    profit_year = pop.trailing(pop.prof_hist, q, 4, rows=rows)
    keep = (util > mk.target_utilisation) & (profit_year > 0)
    rows, ahead = rows[keep], ahead[keep]
    if not len(rows):
        return
    # the capacity that would serve its orders (grown to when the capacity comes on line) at the normal utilisation,
    # within the expansion bounds
    cap = pop.capacity_t[rows]
    need = 4.0 * pop.orders_t[rows] * ahead / mk.target_utilisation - cap
    size = T.plant_size_t[pop.stage[rows]]
    nameplate = np.clip(np.clip(need, mk.expansion_share[0] * cap, mk.expansion_share[1] * cap), size[:, 0], size[:, 1])
    capex = T.capex_musd_per_kt[0, pop.stage[rows]] * nameplate / 1000.0
    wc_new = inv.added_working_capital(pop, rows, nameplate, fin)
    inv.mark_outside_finance(pop, T, rows, capex, fin, buffer, wc_new)
    _, own_ok, debt_ok = inv.funding(pop, T, rows, capex, np.ones(len(rows), dtype=bool), fin, buffer, u_eq[rows], wc_new)
    ok = own_ok & debt_ok
    skipped = rows[~ok]
    pop.finance_constrained[skipped] = True
    model.log_rows("expansion_skipped", skipped)
    inv.start_projects(pop, rows[ok], T, model.streams["projects"], q, nameplate[ok], greenfield=False)
    model.counters["expansions"] += int(ok.sum())
    model.counters["constrained"] += len(skipped)


def enter_and_exit(model: NationalModel) -> None:
    """Exits: insolvency (cash below zero after borrowing), lasting negative equity, and closures for reasons outside
    the model (``exit_hazard_per_year``); entrants: Poisson(``entry_rate_per_year`` x live firms / 4), each a small
    firm in a niche drawn by :func:`entry_pull` (where margins are and buyers go unserved, as a share of the sector's
    firms with ``market.entry_per_firm``), operating at once. With ``market.sell_failed_plants`` a failing firm's plant that earns its running
    costs passes to a new firm first (:func:`sell_plants`)."""
    pop, mk = model.pop, model.national.market
    fin = model.finance
    q = model.quarter
    rng = model.streams["entry"]
    n = len(pop)
    # one more quarter in negative equity (0 elsewhere), the failing rows (insolvent or lasting) and the live rows' exit
    # weights in one compiled pass (agents.kernels.exit_test_rows); the hazard falls with size (small firms close more
    # often: Dunne, Roberts and Samuelson 1989; Evans 1987), its mean over live firms the configured rate
    failing, w = np.empty(n, dtype=np.bool_), np.empty(n)
    weights = exit_weights(pop, mk.exit_size_elasticity)
    live = kernels.exit_test_rows(
        pop.phase, pop.cash, pop.book_assets, pop.cip, pop.working_capital, pop.debt, pop.neg_equity_quarters,
        int(fin.exit_after_negative_equity_quarters), weights, failing, w,
    )  # fmt: skip
    mean_w = max(w.sum() / max(live, 1), 1e-12)
    out = np.empty(n, dtype=np.intp)  # failing or closed, ascending (agents.kernels.exit_pick_rows)
    out = out[: kernels.exit_pick_rows(pop.phase, failing, w, rng.random(n), float(mk.exit_hazard_per_year), mean_w, out)]
    if len(out):
        model.log_rows("exit", out, values=pop.capacity_t[out])
        if mk.sell_failed_plants:  # a failing firm's plant worth running passes to a new owner before the firm goes
            new = sell_plants(model, np.flatnonzero(failing))
            model.log_rows("acquired", new, values=pop.capacity_t[new])
            model.counters["plants_sold"] += len(new)
        pop.phase[out] = Phase.EXITED
        pop.exit_step[out] = q
        pop.capacity_t[out] = 0.0
        pop.potential_t[out] = 0.0
        pop.proj_phase[out] = ProjectPhase.NONE
        model.counters["exits"] += len(out)
    k = int(rng.poisson(mk.entry_rate_per_year * live / 4.0))
    if k == 0:
        return
    pool = entry_pull(model)
    niche = rng.choice(len(pool), size=k, p=pool / pool.sum())
    rows = model.add_entrants(niche, rng)
    model.counters["entrants"] += len(rows)


#: the national world's own firm columns (agents.firms.FirmPopulation, extra_columns): each row's exit weight and the
#: capacity it was computed at (NaN: not yet)
EXIT_WEIGHT_COLUMNS = {"exit_w": (np.float64, 0.0), "exit_w_cap": (np.float64, np.nan)}


def exit_weights(pop, elasticity: float) -> np.ndarray:
    """(rows,) max(capacity, 1e-6) ^ -``elasticity``, the size factor of each row's exit hazard. A row's power is
    computed again only where its capacity or the elasticity has changed since it was last computed (kept in the
    columns of EXIT_WEIGHT_COLUMNS, the elasticity in ``pop.exit_w_elasticity``): the same power of the same number,
    so the same weights as computing every row, at a fraction of the cost (a firm's capacity changes only with a
    project, an exit or a sale, and a power of a million numbers took about 50 ms a quarter)."""
    cap = np.maximum(pop.capacity_t, 1e-6)
    if pop.__dict__.get("exit_w_elasticity") != elasticity:  # the first call, or the lever moved: every row afresh
        pop.exit_w_cap = np.nan
        pop.exit_w_elasticity = elasticity
    stale = np.flatnonzero(cap != pop.exit_w_cap)
    if len(stale):
        c = cap[stale]
        pop.exit_w[stale] = np.power(c, -elasticity)
        pop.exit_w_cap[stale] = c
    return pop.exit_w


def entry_pull(model: NationalModel) -> np.ndarray:
    """(niches,) the weights by which entrants choose a niche: its demand x (max(price index - 1, 0) + 0.05) plus its
    unserved demand, where margins are (a price above the reference), where buyers go unserved, and a little
    everywhere (assumption); with ``market.entry_per_firm`` over the mean capacity of its sector's firms
    (:func:`sector_firm_size`), so that a sector draws entrants as a share of its firms, however large they are."""
    pull = model.niche_demand_last * (np.maximum(model.price - 1.0, 0.0) + 0.05) + model.niche_unserved
    if model.national.market.entry_per_firm:
        pull = pull / sector_firm_size(model)
    return pull


def sector_firm_size(model: NationalModel) -> np.ndarray:
    """(niches,) the mean capacity of the live firms of each niche's sector (of all live firms for a sector without
    one)."""
    pop = model.pop
    live = pop.alive
    n_sectors = model.tables.S
    sector = pop.stage[live]
    cap = np.bincount(sector, weights=pop.capacity_t[live], minlength=n_sectors)
    firms = np.bincount(sector, minlength=n_sectors)
    mean = np.divide(cap, firms, out=np.full(n_sectors, cap.sum() / max(firms.sum(), 1)), where=firms > 0)
    return mean[model.niche_sector]


def sell_plants(model: NationalModel, rows: np.ndarray) -> np.ndarray:
    """Of the failing firms ``rows`` (insolvent, or in negative equity too long), each operating plant whose sales
    this quarter covered its variable and fixed costs passes to a new firm (``market.sell_failed_plants``): a business
    that fails on its debts is sold as a going concern when it earns its running costs, as in the rare-earth world's
    insolvency sale (sim.engine.entry_exit.sell_plants). Closures for reasons outside the model are closures: the
    exit hazard is calibrated on firms that cease. The plant, its niche, appeal, staff, know-how and patents carry
    on under the new firm; the old firm's debts, titles and projects end with it. The buyer pays the plant's
    going-concern value (a year's operating cash flow after tax as an annuity over ``investment.horizon_years`` at the
    bloc's base rate plus risk premium), books it as its plant and brings the buffer's cash and the working capital its
    sales need (sim.engine.entry_exit.pass_plants), all as its owners' equity; the business's quarterly records
    (revenue, R&D, profit) carry on, so the criteria read its growth as the business's. Returns the new rows."""
    pop, T, w = model.pop, model.tables, model.cfg.world
    ops = rows[(pop.phase[rows] == Phase.OPERATING) & (pop.capacity_t[rows] > 0)]
    margin = pop.revenue[ops] - pop.opex[ops] - pop.fixed_cost[ops]  # M USD this quarter
    keep = margin > 0
    old = ops[keep]
    if not len(old):
        return old
    r = float(T.base_rate[0] + T.risk_premium[0])
    value = 4.0 * margin[keep] * (1.0 - T.tax_rate[0]) * inv.annuity_factor(r, w.investment.horizon_years)
    new = pass_plants(pop, old, value, model.finance, model.quarter, carried=("niche", "appeal", "capacity_per_employee"))
    for col in ("rev_hist", "rd_hist", "prof_hist"):  # the business's books carry on (a going concern changes owner)
        pop._data[col][new, :] = pop._data[col][old, :]
    return new
