"""Entry and exit, step 6 of the quarter (MODEL.md 3, 5.5).

Entrants arrive per bloc and stage as Poisson draws on the profitability of a
typical new plant, each with a greenfield project in planning. A live firm exits
when it is insolvent, when its equity has been negative too long (unless its state
group rescues it) or when its first project was abandoned. With
``finance.insolvency_sale`` an exiting firm's operating plant that is worth running
passes to a new owner (:func:`sell_plants`) instead of closing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from agents import investment as inv
from agents.firms import Phase, ProjectPhase, processing_cost, working_capital_held
from sim.engine.investment import long_run_price, mean_quality, next_stage_need

if TYPE_CHECKING:  # pragma: no cover
    from sim.engine.model import ChainModel


def do_entry_exit(model: ChainModel) -> None:
    """This quarter's entrants, then exits."""
    enter(model)
    exit_failing(model)


def enter(model: ChainModel) -> None:
    """Poisson entrants per bloc and stage on the entrants' profitability index (``model.pi_entrant``), in random regions of the bloc."""
    T, w = model.tables, model.world
    rng = model.streams["entry"]
    n_new = inv.entrants(T, rng, model.pi_entrant, w.scale, pi_cap=w.investment.entry_pi_cap)
    for b in range(T.B):
        regions = np.flatnonzero(T.region_bloc == b)
        for s in range(T.S):
            n = int(n_new[b, s])
            if n == 0:
                continue
            add_entrants(model, b, s, n, regions[rng.integers(0, len(regions), n)], rng)


def exit_failing(model: ChainModel) -> None:
    """Exit: insolvency, lasting negative equity (after the state groups' rescues), or an abandoned first project."""
    T, pop, w = model.tables, model.pop, model.world
    q = model.quarter
    alive = pop.alive
    neg = alive & (pop.equity < 0)
    pop.neg_equity_quarters = np.where(neg, pop.neg_equity_quarters + 1, 0)
    insolvent = alive & (pop.cash < -1e-9)
    lasting = alive & (pop.neg_equity_quarters >= w.finance.exit_after_negative_equity_quarters)
    no_plant = alive & (pop.phase == Phase.PROJECT) & (pop.proj_phase == ProjectPhase.NONE)
    failing = model.policy.rescue(np.flatnonzero(insolvent | lasting))
    scrapped = scrapped_plants(model)  # failing or not: a plant due for scrapping is not sold
    selling = np.setdiff1d(failing, scrapped) if len(scrapped) else failing
    sold = sell_plants(model, selling) if w.finance.insolvency_sale and len(selling) else None
    out = np.union1d(np.union1d(failing, np.flatnonzero(no_plant)), scrapped)
    if len(out):
        reason = np.where(
            np.isin(out, scrapped), "scrapped", np.where(insolvent[out], "insolvent", np.where(lasting[out], "negative_equity", "project_abandoned"))
        )
        for r, why in zip(out, reason):
            model.event_log.add("exit", pop.firm_id[r], pop.bloc[r], pop.stage[r], str(why), pop.capacity_t[r], quarter=q)
        model.counters["exits"] += T.bs_sum(pop.bloc[out], pop.stage[out])
        pop.phase[out] = Phase.EXITED
        pop.exit_step[out] = q
        pop.capacity_t[out] = 0.0
        pop.potential_t[out] = 0.0
        pop.proj_phase[out] = ProjectPhase.NONE
    if sold is not None and len(sold[0]):
        _, new, value = sold
        model.log_rows("acquired", new, values=value)
        model.counters["acquired"] += T.bs_sum(pop.bloc[new], pop.stage[new])


def scrapped_plants(model: ChainModel) -> np.ndarray:
    """Rows whose plant has been on care and maintenance for ``markets.scrap_after_mothballed_quarters`` quarters in a
    row (agents.firms.mothball counts them in ``idle_q``, and a plant sold keeps its count): the plant is scrapped, not
    sold, and the firm exits, its cash and debts with it, as any exit. An idle plant decays (staff leave, equipment corrodes, permits lapse)
    until a restart costs about a new build: Mountain Pass's separation plant, idle from 1998, was not restarted but
    replaced by a new plant in 2010-2012 (Molycorp's Project Phoenix), while its 2015-2017 stop, about 2.5 years,
    ended in a restart (docs/ODD.md 7.1, scrapping). 0: never (the rule before: idle plants stood for decades, were sold
    again and again and counted in investors' capacity)."""
    after = model.world.markets.scrap_after_mothballed_quarters
    if after <= 0:
        return np.zeros(0, dtype=np.int64)
    pop = model.pop
    due = pop.idle_q >= (np.where(pop.scrap_q > 0, pop.scrap_q, after) if model.world.markets.scrap_spread_quarters > 0 else after)
    return np.flatnonzero(pop.alive & (pop.phase == Phase.OPERATING) & pop.mothballed & due)


def draw_scrap_counts(model: ChainModel, rows: np.ndarray) -> None:
    """Each plant that went on care and maintenance this quarter (``rows``) draws the count of quarters there after
    which it is scrapped (``scrap_q``), uniformly within ``markets.scrap_spread_quarters`` either side of
    ``markets.scrap_after_mothballed_quarters`` (at least 1), from the run's own scrapping stream: how fast an idle
    plant decays and how long its owner pays for care and maintenance differ from plant to plant, so plants idled by one
    price fall are not all scrapped in one quarter five years later (docs/ODD.md 7.1, scrapping). Spread 0: nothing is
    drawn and every plant counts to the set number (the rule before)."""
    P = model.world.markets
    if P.scrap_spread_quarters <= 0 or P.scrap_after_mothballed_quarters <= 0 or len(rows) == 0:
        return
    lo = max(1, P.scrap_after_mothballed_quarters - P.scrap_spread_quarters)
    hi = P.scrap_after_mothballed_quarters + P.scrap_spread_quarters
    model.pop.scrap_q[rows] = model.scrap_rng.integers(lo, hi + 1, size=len(rows))


# A plant and what works in it pass to the buyer; its owner's balance sheet, titles, group, contracts and projects do not
PLANT_COLUMNS = (
    "bloc",
    "region",
    "stage",
    "capacity_t",
    "quality",
    "qualified",
    "cum_output_t",
    "experience_ref_t",
    "cost_index",
    "innovation_factor",
    "unit_cost_usd_per_kg",
    "employees",
    "rd_propensity",
    "knowledge",
    "tax_rate",
    "floor_end_q",
    "first_output_step",
    "pat_inv",
    "pat_util",
    "mothballed",  # a plant on care and maintenance stays there under its buyer until its bloc's price covers its cash cost
    "uncovered_q",  # and the quarters its cash cost has gone uncovered carry on (agents.firms.mothball): a glut does not restart with the owner
    "idle_q",  # as do its quarters on care and maintenance (markets.scrap_after_mothballed_quarters): a new owner does not make it younger
    "scrap_q",  # and the count at which it is scrapped (markets.scrap_spread_quarters)
)


def plant_value(model: ChainModel, rows: np.ndarray, share: np.ndarray | None = None) -> np.ndarray:
    """Going-concern value of each row's operating plant to a buyer free of its debts, M USD: this quarter's investors'
    expected margin (price - inputs - the plant's processing cost) on its sellable output (nameplate x quality x the
    bloc-stage's expected utilisation) less the plant's fixed cost, after tax, as an annuity over the investment horizon
    at the bloc-stage's discount rate (no capex, no lead time: the plant runs). 0 without this quarter's expectations.
    ``share``: :func:`own_demand_share` when the caller has it (else read now)."""
    E, T, pop = model.investor_view, model.tables, model.pop
    if E is None or not len(rows):
        return np.zeros(len(rows))
    b, s = pop.bloc[rows], pop.stage[rows]
    proc = processing_cost(pop, T, rows)
    price = E.price[b, s]
    if model.world.finance.sale_values_own_demand:
        price = own_demand_price(model, E, share)[b, s]
    margin = price - T.input_per_t[s] * E.input_price[b, s] - proc
    util = np.minimum(E.utilisation[b, s], model.world.markets.max_utilisation)
    kt = pop.capacity_t[rows] / 1000.0
    fixed = T.fixed_cost_musd_per_kt[b, s] * kt
    cf = (margin * util * pop.quality[rows] * kt - fixed) * (1.0 - E.tax_rate[b])
    r = np.maximum(E.discount_rate[b, s], 1e-6)
    annuity = inv.annuity_factor(r, model.world.investment.horizon_years)
    return np.where(cf > 0, cf * annuity, 0.0)


def own_demand_share(model: ChainModel) -> np.ndarray:
    """(B, S) with ``finance.sale_values_own_demand``: the share of a bloc-stage's sellable output (capacity + committed
    pipeline, x the stage's mean quality x maximum utilisation) that the bloc's next-stage plants and committed pipeline
    will need (their nameplate x maximum utilisation x input per t), at most 1, where an export control covers the
    bloc's imports of the next stage's product (that stage is being built up against the control and its input
    demand lasts; under free trade it may buy its input abroad: 0). 0 at the last stage."""
    T = model.tables
    B, S = T.B, T.S
    cap, _, committed = model.supply()
    quality = mean_quality(model, cap)
    mu = model.world.markets.max_utilisation
    sellable = (cap + committed) * quality * mu
    need = next_stage_need(T, cap + committed, mu)
    for s in range(S - 1):
        lic = model.markets.licensed_share(s + 1, np.arange(B))  # (buyer bloc, exporter bloc) or None
        if lic is None:
            need[:, s] = 0.0
            continue
        np.fill_diagonal(lic, 1.0)
        need[:, s] = np.where((lic < 1.0).any(axis=1), need[:, s], 0.0)
    return np.clip(np.divide(need, sellable, out=np.zeros_like(need), where=sellable > 0), 0.0, 1.0)


def own_demand_price(model: ChainModel, E, share: np.ndarray | None = None) -> np.ndarray:
    """(B, S) the price a buyer of a plant expects for its output with ``finance.sale_values_own_demand``: the share w
    of the bloc-stage's output its bloc's next stage will need (:func:`own_demand_share`) sells at no less than the
    long-run price (sim.engine.investment.long_run_price: a new plant's break-even), the rest at investors' expected
    price: w max(E.price, long-run) + (1 - w) E.price. ``share``: w when the caller has it (else read now)."""
    w = own_demand_share(model) if share is None else share
    normal = long_run_price(model, E.input_price, E.discount_rate, E.capex_support)
    return w * np.maximum(E.price, normal) + (1.0 - w) * E.price


def sell_plants(model: ChainModel, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Insolvency sale (``finance.insolvency_sale``): of the failing ``rows``, each operating plant with a positive
    going-concern value (:func:`plant_value`) whose sales covered their variable cost this quarter (revenue and grants
    at least inputs and processing; an idle plant, which sells nothing and spends nothing on them, qualifies: the firm
    fails on its debts, its fixed costs or its projects, not on the plant's sales) passes to a new firm, as when MP
    Materials bought the Mountain Pass mine out of Molycorp's bankruptcy in 2017 and restarted it: the plant, its
    experience, know-how, patents and staff carry on; the old firm's debts stay with its creditors, its titles, group,
    contracts and projects end with it. The buyer books the plant at the price paid (its going-concern value, with
    ``finance.sale_at_most_replacement`` at most :func:`replacement_cost`, and a mothballed plant at most
    ``finance.idle_sale_replacement_share`` of it) and brings
    cash for ``min_cash_quarters_of_fixed_cost`` of this quarter's fixed cost (the accounts' buffer) and the working
    capital its sales need (:func:`pass_plants`). The old firm still
    exits. Returns (old rows, new rows, value paid)."""
    pop, w = model.pop, model.world
    ops = rows[(pop.phase[rows] == Phase.OPERATING) & (pop.capacity_t[rows] > 0)]
    # the share of output the bloc's next stage will need, read once for the plants' values and their slack
    own = own_demand_share(model) if w.finance.sale_values_own_demand else None
    value = plant_value(model, ops, own)
    variable = pop.input_cost[ops] + pop.opex[ops]
    contribution = pop.revenue[ops] + pop.grants[ops] - variable
    # a plant its bloc's next stage will need runs on as long as the shut-down rule lets it (a loss within the tolerance)
    slack = 0.0
    if w.finance.sale_values_own_demand:
        share = own[pop.bloc[ops], pop.stage[ops]]
        slack = np.where(share > 0, w.markets.shutdown_tolerance * variable, 0.0)
    keep = (value > 0) & (contribution >= -slack)
    if w.finance.sale_at_most_replacement:  # no more than building the same nameplate new would cost in the bloc
        value = np.minimum(value, replacement_cost(model, ops))
    if w.finance.idle_sale_replacement_share < 1.0:  # an idle plant is displaced capital: it sells at a discount to replacement
        idle = pop.mothballed[ops]
        value = np.where(idle, np.minimum(value, w.finance.idle_sale_replacement_share * replacement_cost(model, ops)), value)
    old, price = ops[keep], value[keep]
    if not len(old):
        return old, old, price
    return old, pass_plants(pop, old, price, w.finance, model.quarter), price


def replacement_cost(model: ChainModel, rows: np.ndarray) -> np.ndarray:
    """(rows,) M USD a new plant of each row's nameplate would cost in its bloc (``capex_musd_per_kt`` x nameplate): the
    most a buyer pays for a failed firm's plant with ``finance.sale_at_most_replacement``."""
    T, pop = model.tables, model.pop
    return T.capex_musd_per_kt[pop.bloc[rows], pop.stage[rows]] * pop.capacity_t[rows] / 1000.0


def pass_plants(pop, old: np.ndarray, price: np.ndarray, fin, step: int, carried: tuple[str, ...] = ()) -> np.ndarray:
    """New firms, one for each row of ``old``, that take over its operating plant (``PLANT_COLUMNS``, its time in the
    niche and the ``carried`` columns) at ``price`` M USD, booked as their plant, and bring cash for
    ``fin.min_cash_quarters_of_fixed_cost`` of this quarter's fixed cost (the accounts' buffer) and the working
    capital the accounts will hold against the plant's sales (agents.firms.working_capital_held of this quarter's
    revenue), all as their owners' equity (both worlds' sales of plants:
    :func:`sell_plants`, sim.engine.national.market.sell_plants). Returns the new rows."""
    cash = fin.min_cash_quarters_of_fixed_cost * pop.fixed_cost[old] + working_capital_held(fin, pop.revenue[old])
    return pop.add(
        len(old),
        phase=Phase.OPERATING,
        birth_step=step,
        niche_start_step=pop.niche_start_step[old],
        book_assets=price,
        plant_life_left=1.0,  # the buyer writes the plant off over a full life from its price
        cash=cash,
        equity_raised=price + cash,
        **{c: getattr(pop, c)[old].copy() for c in (*PLANT_COLUMNS, *carried)},
    )


def add_entrants(
    model: ChainModel, b: int, s: int, n: int, regions: np.ndarray, rng: np.random.Generator, group: int = -1, state_owned: bool = False
) -> np.ndarray:
    """New firms with a greenfield project in planning (MODEL.md 5.5)."""
    T, pop = model.tables, model.pop
    size = T.bloc_plant_size_t[b, s]
    nameplate = np.exp(rng.uniform(np.log(size[0]), np.log(size[1]), n)) if size[1] > size[0] > 0 else np.full(n, size[1])
    rows = pop.add(
        n,
        bloc=b,
        stage=s,
        region=regions,
        group=group,
        state_owned=state_owned,
        phase=Phase.PROJECT,
        birth_step=model.quarter,
        niche_start_step=model.quarter,
        capacity_t=0.0,
        quality=T.new_plant_quality[b, s],
        qualified=not T.qualification[s],
        experience_ref_t=T.experience_ref_years[s] * nameplate,
        cum_output_t=T.entrant_experience_years[s] * nameplate,
        cost_index=rng.uniform(0.9, 1.1, n),
        rd_propensity=rng.uniform(T.rd_propensity[b, 0], T.rd_propensity[b, 1], n),
        tax_rate=T.tax_rate[b],
        employees=5.0,
        innovation_factor=1.0 if model.entrant_technology is None else model.entrant_technology[b, s],
    )
    inv.start_projects(pop, rows, T, rng, model.quarter, nameplate, greenfield=True)
    model.counters["started"][b, s] += n
    model.counters["entrants"][b, s] += n  # every entrant: the Poisson ones and those a group or sponsor funds
    model.log_rows("entry", rows, values=nameplate)
    return rows


def add_funded_entrants(
    model: ChainModel, b: int, s: int, n: int, regions: np.ndarray, rng: np.random.Generator, sponsor: str, group: int = -1, state_owned: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Entrants whose sponsor (a state group or the bloc's coordinator) pays the project's own funds at once:
    the equity share and the start-up reserve of its capex. Logged as ``incubated`` with the sponsor's name.
    Returns the rows and the money paid per row (M USD)."""
    rows = add_entrants(model, b, s, n, regions, rng, group=group, state_owned=state_owned)
    own = (model.tables.equity_share_required[b] + model.world.finance.startup_reserve_share) * model.pop.proj_capex_musd[rows]
    model.pop.cash[rows] += own
    model.log_rows("incubated", rows, detail=sponsor, values=own)
    return rows, own
