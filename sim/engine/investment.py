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
from agents import kernels
from agents.firms import Phase, processing_cost
from sim.engine import contracts
from sim.engine.demand import bloc_need, price_factor

if TYPE_CHECKING:  # pragma: no cover
    from sim.engine.model import ChainModel


def expectations(model: ChainModel, supply: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> inv.Expectations:
    """Investors' view per bloc and stage (MODEL.md 5.4). ``supply``: this quarter's (capacity, pipeline, committed
    pipeline) (:func:`supply_now`) when the caller has them, read once for every use below (none of them changes the firms)."""
    T, mk = model.tables, model.markets
    B, S = T.B, T.S
    model.lead_years = inv.lead_years(T, model.instruments.permit_factor, model.instruments.permit_cap_years)  # permitting reforms count
    input_price = np.zeros((B, S))
    input_price[:, 1:] = model.expected_paid[:, :-1]
    # capacity and pipeline per bloc-stage, and world demand growth over the lead time
    cap, pipe, committed = supply_now(model) if supply is None else supply
    year = model.current_year
    now = sum(T.final_demand_t_per_year(b, year) for b in range(B))
    # world demand at the end of each bloc-stage's lead time: each bloc's path read at all (B, S) years at once (np.interp
    # of an array reads each element as it reads one year: Tables.final_demand_t_per_year), summed bloc by bloc in order
    ahead = year + model.lead_years
    world_ahead = np.interp(ahead, T.demand_years[0], T.demand_t_per_year[0]) if B else np.zeros((B, S))
    for b in range(1, B):
        world_ahead = world_ahead + np.interp(ahead, T.demand_years[b], T.demand_t_per_year[b])
    growth = world_ahead / max(now, 1e-9)
    vol = mk.volatility()
    rate = T.base_rate[:, None] + T.risk_premium[:, None] + T.volatility_premium[:, None] * vol
    support = model.policy.capex_support()
    # the price each stage settles at once the bloc's chain is built out: read by the sales within reach below
    model.chain_normal = chain_long_run_price(model, input_price, rate, support) if model.world.investment.priced_out_share > 0 else None
    model.input_feed = input_feed(model, cap, committed) if model.world.investment.input_feasible_supply else None
    if model.world.investment.demand_based_expectations:
        util = expected_sales_share(model, cap, committed, growth, fed_nameplate(model, cap, committed))
    else:
        util = np.where(cap > 0, model.utilisation * growth * cap / np.maximum(cap + pipe, 1e-9), model.world.markets.target_utilisation)
    if model.input_feed is not None:  # a plant sells no more than its bloc's inputs let the stage make
        feed = model.input_feed[0]
        nameplate = cap + committed
        util = np.where(np.isfinite(feed) & (nameplate > 0), np.minimum(util, feed / np.maximum(nameplate, 1e-9)), util)
    util = np.clip(util, 0.0, model.world.markets.max_utilisation)
    unit = T.input_per_t[None, :] * input_price + entrant_processing_cost(T, model.entrant_technology)
    pf = model.price_floors
    home = domestic_sales_share(model, cap, committed) if pf.domestic_only.any() else None  # a floor on domestic sales alone
    util = floor_covered_utilisation(util, pf.investor_floor(), unit, model.world.markets.max_utilisation, home, pf.domestic_only)
    model.demand_growth = growth
    # the market's price, before a state price floor lifts it: what private buyers' offtake contracts are struck against
    model.expected_market_price = expected_project_price(model, input_price, rate, support, (cap, committed))
    return inv.Expectations(
        price=pf.floored(model.expected_market_price, home),
        input_price=input_price,
        utilisation=util,
        discount_rate=rate,
        lead_years=model.lead_years,
        tax_rate=T.tax_rate,
        capex_support=support,
        brownfield_lead_years=brownfield_lead_years(model),
    )


def brownfield_lead_years(model: ChainModel) -> np.ndarray | None:
    """(B, S) lead time of an expansion of an operating plant (agents.investment.lead_years, brownfield), or None while
    every ``investment.brownfield_*_factor`` is 1: expansions are then valued as new plants, the rule before."""
    T = model.tables
    if (T.brownfield_factor >= 1.0).all():
        return None
    return inv.lead_years(T, model.instruments.permit_factor, model.instruments.permit_cap_years, brownfield=True)


def input_feed(model: ChainModel, cap: np.ndarray, committed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(B, S) feed, (B, S) sellable: with ``investment.input_feasible_supply``, t a year of each stage's product the
    bloc's inputs let its plants make, and what its plants can sell, both counting capacity past the final investment
    decision. Sellable = (capacity + committed pipeline) x the stage's mean quality x maximum utilisation, at most the
    feed. Feed at stage s > 0 = (the bloc's sellable output at s - 1 + its imports of that product last quarter x 4)
    / input per t at s, where an export control covers the bloc's imports of the s - 1 product (licences cap what
    more it can buy abroad); infinite where they are free (the world market feeds a new plant) and at the first stage.
    With ``investment.feed_counts_free_exports`` the imports are, from an origin that licenses nothing, all it exported
    last quarter (:func:`free_origin_supply`). A stage whose plants and pipeline the feed cannot keep busy is
    input-limited (:func:`input_limited`)."""
    T, mk = model.tables, model.markets
    B, S = T.B, T.S
    quality = mean_quality(model, cap)
    sellable = (cap + committed) * quality * model.world.markets.max_utilisation
    feed = np.full((B, S), np.inf)
    recorded = model.recorder.series.get("imports_t")
    imports_bs = np.asarray(recorded[-1], dtype=float) if recorded else np.zeros((B, S))  # (B, S) last quarter's imports, t
    free_exports = model.world.investment.feed_counts_free_exports and recorded
    for s in range(1, S):
        lic = mk.licensed_share(s - 1, np.arange(B))  # (buyer bloc, exporter bloc) or None
        if lic is None:
            continue
        np.fill_diagonal(lic, 1.0)
        controlled = (lic < 1.0).any(axis=1)  # (B,) the bloc's imports of the s - 1 product are licensed
        imports = imports_bs[:, s - 1]
        if free_exports:  # from an origin that does not license them, all it exported last quarter: a buyer can bid it away
            imports = free_origin_supply(model.recorder.trade_t[:, :, s - 1], lic)
        fed = (np.minimum(sellable[:, s - 1], feed[:, s - 1]) + 4.0 * imports) / T.input_per_t[s]
        feed[:, s] = np.where(controlled, fed, np.inf)
    return feed, np.minimum(sellable, feed)


def free_origin_supply(trade: np.ndarray, lic: np.ndarray) -> np.ndarray:
    """(B,) t a quarter of a product each bloc can import: from an origin whose exports to it are licensed (``lic`` (buyer,
    exporter) < 1), what it imported from there last quarter (``trade`` (supplier, buyer)); from an origin that does not
    license them, all that origin exported to any bloc last quarter, which a buyer paying more can draw away."""
    exported = trade.sum(axis=1) - np.diagonal(trade)  # (B,) each origin's exports
    per_origin = np.where(lic < 1.0, trade.T, exported[None, :])  # (buyer, origin)
    np.fill_diagonal(per_origin, 0.0)  # a bloc's own output is counted as its sellable output, not here
    return per_origin.sum(axis=1)


def supply_now(model: ChainModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(B, S) operating nameplate, pipeline and committed pipeline, t/yr (``ChainModel.supply``): read once and
    passed to the investors' uses of them in a quarter. With ``investment.sellable_supply`` the supply investors count
    is what it can sell (:func:`sellable`)."""
    cap, pipe, committed = model.supply()
    if model.world.investment.sellable_supply:
        return sellable(model, cap, pipe, committed)
    return cap, pipe, committed


def sellable(model: ChainModel, cap: np.ndarray, pipe: np.ndarray, committed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(B, S) the supply of :func:`supply_now` at what it can sell, t/yr: operating plants at their quality (a plant
    ramping up to specification sells capacity x quality, agents.firms.set_potential), mothballed ones too (they can
    restart), and the pipeline at a new plant's quality of its bloc-stage (``new_plant_quality``)."""
    T = model.tables
    return np.minimum(quality_capacity(model), cap), pipe * T.new_plant_quality, committed * T.new_plant_quality


def quality_capacity(model: ChainModel) -> np.ndarray:
    """(B, S) nameplate x quality of the operating plants (mothballed ones too), t/yr: what they make in specification.
    One pass over the rows (agents.kernels.quality_capacity_rows: the bincount sums of the array code, bit for bit)."""
    T, pop = model.tables, model.pop
    out = np.zeros(T.B * T.S)
    kernels.quality_capacity_rows(pop.bloc, pop.stage, T.S, pop.phase, pop.quality, pop.capacity_t, out)
    return out.reshape(T.B, T.S)


def mean_quality(model: ChainModel, cap: np.ndarray) -> np.ndarray:
    """(B, S) the operating plants' capacity-weighted quality, :func:`quality_capacity` over ``cap``; 1 where ``cap`` is 0."""
    return np.divide(quality_capacity(model), cap, out=np.ones_like(cap), where=cap > 0)


def fed_nameplate(model: ChainModel, cap: np.ndarray | None = None, committed: np.ndarray | None = None) -> np.ndarray:
    """(B, S) what the bloc's plants and committed pipeline could make a year, t: (capacity + committed) x max utilisation
    (``cap`` and ``committed`` the model's now unless given)."""
    if cap is None or committed is None:
        cap, _, committed = supply_now(model)
    return (cap + committed) * model.world.markets.max_utilisation


def input_limited(model: ChainModel, nameplate: np.ndarray | None = None) -> np.ndarray:
    """(B, S) whether a stage is input-limited (:func:`input_feed`): its bloc's inputs cannot keep its plants and
    committed pipeline busy (feed below ``nameplate``, :func:`fed_nameplate` unless given, by more than
    ``investment.input_limit_tolerance``). All False without the feed."""
    T = model.tables
    if model.input_feed is None:
        return np.zeros((T.B, T.S), dtype=bool)
    feed, _ = model.input_feed
    nameplate = fed_nameplate(model) if nameplate is None else nameplate
    return np.isfinite(feed) & (feed < (1.0 - model.world.investment.input_limit_tolerance) * nameplate)


def input_short(model: ChainModel, nameplate: np.ndarray | None = None) -> np.ndarray:
    """(B, S) with ``investment.input_short_vs_sales``: whether a stage's feed (:func:`input_feed`) misses more than
    ``investment.input_limit_tolerance`` of what its bloc can sell there over the lead time (the smoothed sales within
    reach grown to the lead time, t a year), or of its plants' and committed pipeline's nameplate (:func:`input_limited`):
    new plants there would lack input, so the scarcity is the stage above's. All False without the feed or the flag."""
    T = model.tables
    if model.input_feed is None or not model.world.investment.input_short_vs_sales or model.sales_expected is None:
        return np.zeros((T.B, T.S), dtype=bool)
    feed, _ = model.input_feed
    return np.isfinite(feed) & (feed < (1.0 - model.world.investment.input_limit_tolerance) * sales_need(model, nameplate))


def sales_need(model: ChainModel, nameplate: np.ndarray | None = None) -> np.ndarray:
    """(B, S) t a year a stage's feed must make (:func:`input_short`): the smoothed sales within reach grown to the lead
    time, at least the plants' and committed pipeline's fed nameplate (:func:`fed_nameplate` unless given)."""
    nameplate = fed_nameplate(model) if nameplate is None else nameplate
    return np.maximum(model.sales_expected * model.demand_growth * 4.0, nameplate)


def floor_covered_utilisation(
    util: np.ndarray,
    floor: np.ndarray,
    unit_cost: np.ndarray,
    max_utilisation: float,
    home: np.ndarray | None = None,
    domestic_only: np.ndarray | None = None,
) -> np.ndarray:
    """(B, S) expected utilisation where a state price floor (scenarios.price_floor; ``floor`` > 0) covers a new plant's
    unit cost: the maximum. The state tops up every kg sold to the floor whatever the index, so such a plant can
    undercut any supplier and sells what it can make; elsewhere ``util`` unchanged. Where the floor covers domestic
    sales alone (``domestic_only``), such a plant sells at least the bloc's own share of what the stage can make
    (``home``, :func:`domestic_sales_share`) at the maximum."""
    covered = (floor > 0) & (floor >= unit_cost)
    full = np.full_like(util, max_utilisation)
    if home is not None and domestic_only is not None:
        full = np.where(domestic_only, np.maximum(util, home * max_utilisation), full)
    return np.where(covered, full, util)


def next_stage_need(T, nameplate: np.ndarray, mu: float) -> np.ndarray:
    """(B, S) t/yr of each stage's product the bloc's next-stage ``nameplate`` (plants and committed pipeline) needs at
    maximum utilisation ``mu`` (x input per t); 0 at the last stage."""
    need = np.zeros_like(nameplate)
    need[:, :-1] = nameplate[:, 1:] * mu * T.input_per_t[None, 1:]
    return need


def domestic_sales_share(model: ChainModel, cap: np.ndarray, committed: np.ndarray) -> np.ndarray:
    """(B, S) the share of what a bloc-stage's plants and committed pipeline can sell (nameplate x maximum utilisation)
    that its own buyers can take: the next stage's plants and committed pipeline (their nameplate x maximum utilisation
    x input per t), at the last stage the bloc's final demand; at most 1, and 1 where the stage has no capacity yet."""
    T = model.tables
    mu = model.world.markets.max_utilisation
    nameplate = cap + committed
    need = next_stage_need(T, nameplate, mu)
    need[:, -1] = [T.final_demand_t_per_year(b, model.current_year) for b in range(T.B)]
    sellable = nameplate * mu
    return np.clip(np.divide(need, sellable, out=np.ones_like(need), where=sellable > 0), 0.0, 1.0)


def long_run_price(model: ChainModel, input_price: np.ndarray, rate: np.ndarray, support: np.ndarray | None) -> np.ndarray:
    """(B, S) the long-run price investors expect a boom to return to: the price at which a typical new plant (entrant
    costs, target utilisation) just earns its cost of capital (profitability index 0, as in :func:`entrant_pi`), at
    the input price investors expect: entry and expansion drive the price toward it. The PI is linear in the price:

        p* = input_per_t x input + processing + (fixed + (capex (1 - support) / (annuity x discount) - tax x capex / dep)
             / (1 - tax)) / target utilisation   (per kg; capex and fixed cost per kt and year)."""
    T, w = model.tables, model.world
    proc = entrant_processing_cost(T, model.entrant_technology)
    capex = T.capex_musd_per_kt
    fixed = T.fixed_cost_share * capex
    tax = T.tax_rate[:, None]
    r = np.maximum(rate, 1e-6)
    H = w.investment.horizon_years
    annuity = inv.annuity_factor(r, H) * (1.0 + r) ** (-model.lead_years)
    outlay = capex if support is None else capex * (1.0 - support)
    per_year = fixed + (outlay / annuity - tax * capex / w.finance.depreciation_years) / (1.0 - tax)
    return T.input_per_t[None, :] * input_price + proc + per_year / w.markets.target_utilisation


def chain_long_run_price(model: ChainModel, input_price: np.ndarray, rate: np.ndarray, support: np.ndarray | None) -> np.ndarray:
    """(B, S) the long-run price (:func:`long_run_price`) of each stage once the stages above it are built out too: a
    stage's input at the lesser of the price investors expect for it (``input_price``: what the bloc pays, imports
    included) and the upstream stage's own chain long-run price (what a new upstream plant of the bloc needs), except
    where a national output quota is in force upstream: that price keeps its rent (no capacity is licensed beyond it)."""
    T = model.tables
    base = long_run_price(model, np.zeros_like(input_price), rate, support)  # processing and capital charge, no input
    out = base.copy()
    quota = model.instruments.output_cap_t
    for s in range(1, T.S):
        upstream = np.minimum(out[:, s - 1], input_price[:, s])
        if quota is not None:
            upstream = np.where(np.isfinite(quota[:, s - 1]), input_price[:, s], upstream)
        out[:, s] = base[:, s] + T.input_per_t[s] * upstream
    return out


def priced_out_demand(model: ChainModel) -> np.ndarray:
    """(B,) t of magnets a quarter that investors count as the final need each bloc's buyers forgo at today's magnet price
    but would buy at the magnet stage's chain long-run price p* (:func:`chain_long_run_price`):
    ``investment.priced_out_share`` x need x (f(p*) / f(p) - 1), f the short-run price response of final demand
    (sim.engine.demand.price_factor; substitution, which persists, is not counted); 0 where p* is not below the price
    and with the share 0."""
    T = model.tables
    B, last = T.B, T.S - 1
    if model.chain_normal is None or not model.demand.active:
        return np.zeros(B)
    D = model.world.demand
    ratio = model.chain_normal[:, last] / T.reference_price_usd_per_kg[last]
    at_normal = price_factor(ratio, D.short_run_elasticity, D.product_cost_share, D.product_demand_elasticity)
    now = model.demand.price_factor
    gain = np.maximum(np.divide(at_normal, now, out=np.ones(B), where=now > 0) - 1.0, 0.0)
    return model.world.investment.priced_out_share * bloc_need(model.buyers, B) * gain


def expected_project_price(
    model: ChainModel, input_price: np.ndarray, rate: np.ndarray, support: np.ndarray | None, supply: tuple[np.ndarray, np.ndarray] | None = None
) -> np.ndarray:
    """(B, S) the price investors expect over a new plant's life. With ``investment.pipeline_aware_prices`` the smoothed
    index's gap to the long-run price (:func:`long_run_price`) is expected to last only for the share of the sales
    within reach (:func:`sales_within_reach`, grown to the lead time) that the bloc's capacity and committed pipeline
    (past the final investment decision: ``ChainModel.committed_pipeline``) at target utilisation leave uncovered;
    the rest closes as the pipeline comes on line (investors see each other's projects; the cobweb of naive
    expectations is damped). Below the long-run level, the uncovered share is expected to sell at it with
    ``investment.shortfall_prices`` (:func:`price_gap_expected`); a glut is expected to last (no one builds into it).
    With ``investment.input_short_vs_sales`` the sales a new plant can serve are at most what the bloc's inputs let the
    stage make (:func:`input_feed`), the uncovered share is of those, and the stage above an input-short stage
    (:func:`input_short`) bids the netback as above an input-limited one.
    False: the smoothed index itself. ``supply``: (capacity, committed pipeline) when the caller has them (else read now)."""
    mk = model.markets
    if not model.world.investment.pipeline_aware_prices or model.sales_expected is None:
        return mk.expected_price
    if supply is None:
        cap, _, pipe = model.supply()
    else:
        cap, pipe = supply
    target = model.world.markets.target_utilisation
    wanted = model.sales_expected * model.demand_growth * 4.0 / target
    nameplate = fed_nameplate(model, cap, pipe)
    limited = input_limited(model, nameplate)
    servable, bid = wanted, limited
    if model.world.investment.input_short_vs_sales and model.input_feed is not None:
        # new plants sell no more than the bloc's inputs let the stage make: the sales beyond the feed are the input's
        servable = np.minimum(wanted, model.input_feed[0] / target)
        bid = limited | input_short(model, nameplate)  # the stage above bids for the input the sales need
    keep = np.clip(np.divide(servable - (cap + pipe), servable, out=np.zeros_like(wanted), where=servable > 1e-9), 0.0, 1.0)
    normal = long_run_price(model, input_price, rate, support)
    price = netback_prices(model, mk.expected_price, normal, input_price, bid)
    # at an input-limited stage a new plant adds no output: the scarcity margin is the input's (bid upstream by the
    # netback, which reads the price before this), its investors expect the long-run price
    keep = np.where(limited, 0.0, keep)
    return price_gap_expected(price, normal, keep, model.world.investment.shortfall_prices)


def price_gap_expected(price: np.ndarray, normal: np.ndarray, uncovered: np.ndarray, shortfall: bool) -> np.ndarray:
    """The price investors expect over a new plant's life from the smoothed price ``price``, the long-run price
    ``normal`` and the ``uncovered`` share (0-1) of the sales within reach that capacity and committed pipeline leave
    to new plants. Above the long-run price the gap lasts only for the uncovered share (investors see each other's
    projects). Below it, a glut (nothing uncovered) is expected to last: nobody builds into it. With ``shortfall``
    (``investment.shortfall_prices``) the uncovered share is expected to sell at the long-run price, as only new plants,
    which come at that price, can serve it: a bloc short of capacity behind cheap imports or a run-down index is not a
    glut. Without it a price below the long-run level is expected to last whatever is uncovered (the rule before)."""
    above = normal + (price - normal) * uncovered
    below = price + (normal - price) * uncovered if shortfall else price
    return np.where(price > normal, above, below)


def netback_prices(
    model: ChainModel, price: np.ndarray, normal: np.ndarray, input_price: np.ndarray, limited: np.ndarray | None = None
) -> np.ndarray:
    """(B, S) expected prices with ``investment.netback_share`` of the downstream netback: while a bloc's final buyers
    lack magnets, investors at each upstream stage expect that share of the gap between their price and the input
    price at which a new downstream plant just breaks even at the downstream's expected price (its long-run price
    ``normal`` less its input cost), from the magnet stage up: a downstream stage short of input bids its margin
    upstream, and investors see it before the stage between them has been built. With
    ``investment.netback_input_limited`` the stage above an input-limited stage (:func:`input_limited`, its bloc's
    inputs cannot keep its plants busy) expects that share too, whatever the final buyers: the margin the input-limited
    plants earn over their long-run price is the missing input's rent. 0: the smoothed indices. ``limited``: the (B, S)
    :func:`input_limited` when the caller has it (else read now)."""
    inv_p = model.world.investment
    share = inv_p.netback_share
    T = model.tables
    if share <= 0 or (T.S - 1) not in model.last_clearing:
        return price
    unmet, need = final_unmet(model)
    short = unmet > inv_p.netback_min_shortage * np.maximum(need, 1e-9)
    bid = np.repeat(short[:, None], T.S, axis=1)  # (B, S): stage s takes the netback from s + 1
    if inv_p.netback_input_limited:
        bid[:, :-1] |= (input_limited(model) if limited is None else limited)[:, 1:]
    if not bid.any():
        return price
    return with_netback(price, normal, input_price, T.input_per_t, bid, share)


def final_unmet(model: ChainModel) -> tuple[np.ndarray, np.ndarray]:
    """(B,), (B,) the final buyers' unmet magnets and their demand by bloc, t, in the last clearing of magnets."""
    final = model.last_clearing[model.tables.S - 1]
    B = model.tables.B
    return np.bincount(final.class_bloc, weights=final.unmet, minlength=B), np.bincount(final.class_bloc, weights=final.demand, minlength=B)


def with_netback(price: np.ndarray, normal: np.ndarray, input_price: np.ndarray, input_per_t: np.ndarray, short: np.ndarray, share: float):
    """(B, S) ``price`` raised, in the blocs ``short`` (B,) or at the bloc-stages ``short`` (B, S), by ``share`` of the
    gap to the netback, from the last stage up: netback at stage s = the input price at which a new plant of stage s+1
    breaks even at its (already raised) price, ``input_price[:, s+1] + (price[:, s+1] - normal[:, s+1]) /
    input_per_t[s+1]`` (``normal``: its long-run price at that input price). A price above the netback stays."""
    out = np.array(price, dtype=float)
    for s in range(out.shape[1] - 2, -1, -1):
        dn = s + 1
        netback = input_price[:, dn] + (out[:, dn] - normal[:, dn]) / input_per_t[dn]
        gain = np.maximum(netback - out[:, s], 0.0)
        here = short if short.ndim == 1 else short[:, s]
        out[:, s] = np.where(here, out[:, s] + share * gain, out[:, s])
    return out


def sales_within_reach(model: ChainModel, nameplate: np.ndarray | None = None, with_unfed: bool = True) -> np.ndarray:
    """(B, S) tonnes a quarter a bloc's producers can expect to sell at each stage: the orders placed on them, the
    unmet demand of the bloc's own buyers (at the magnet stage with the final need the price holds back,
    :func:`priced_out_demand`, where ``investment.priced_out_share`` is set), an equal share (1 / (B - 1)) of the other blocs' unmet demand (times the
    licensed share of its exports there under an export control), at upstream stages ``investment.derived_demand_share``
    of the bloc's final buyers' unmet magnets in the stage's product (investors see the chain's demand through a
    downstream shortage, before downstream plants exist to order from them), and the
    imports its buyers would rather replace (each origin's share of
    the imports times its security premium over the maximum premium: sim.engine.security); at most a quarter of
    the bloc-stage's national output quota where one is in force. ``nameplate``: :func:`fed_nameplate` when the caller
    has it (else read now). ``with_unfed`` false: without the unfed input need (:func:`unfed_need`)."""
    T, pop = model.tables, model.pop
    B = T.B
    out = np.zeros((B, T.S))
    prem = model.security.premium
    pmax = model.world.procurement.security_premium_max
    for s, cl in model.last_clearing.items():
        sup_bloc = pop.bloc[cl.suppliers]
        out[:, s] += np.bincount(sup_bloc, weights=pop.orders_t[cl.suppliers], minlength=B)
        unmet = np.bincount(cl.class_bloc, weights=cl.unmet, minlength=B)
        out[:, s] += unmet
        if s == T.S - 1 and model.chain_normal is not None:  # the final need the price holds back
            out[:, s] += priced_out_demand(model)
        if B > 1:  # other blocs' unmet demand: an export opportunity, split equally among the blocs that could serve it,
            # as far as export licences (the exporter's own controls) let it through
            lic = model.markets.licensed_share(s, np.arange(B))  # (buyer bloc, exporter bloc) or None
            reach = np.ones((B, B)) if lic is None else lic
            np.fill_diagonal(reach, 0.0)
            out[:, s] += (unmet[:, None] * reach).sum(axis=0) / (B - 1)
        if pmax > 0 and cl.delivered is not None:
            for b in range(B):
                got = cl.delivered_by_origin(b, sup_bloc, B)
                at_risk = np.minimum(prem[b] / pmax, 1.0)
                at_risk[b] = 0.0
                out[b, s] += (got * at_risk).sum()
    out += derived_demand(model)
    if with_unfed and model.input_feed is not None:  # the input the bloc's plants and committed pipeline downstream would buy but cannot get
        out += unfed_need(model, nameplate)
    return capped_sales(model, out)


def derived_demand(model: ChainModel) -> np.ndarray:
    """(B, S) t a quarter: ``investment.derived_demand_share`` of the bloc's final buyers' unmet magnets (and of the final
    need the price holds back, :func:`priced_out_demand`, where counted) in each upstream stage's product (none at the
    magnet stage; zeros before the first clearing of magnets or with the share 0)."""
    T = model.tables
    out = np.zeros((T.B, T.S))
    share = model.world.investment.derived_demand_share
    if share > 0 and (T.S - 1) in model.last_clearing:
        unmet_magnets = final_unmet(model)[0]
        if model.chain_normal is not None:  # and the final need the price holds back
            unmet_magnets = unmet_magnets + priced_out_demand(model)
        per_magnet = T.magnet_eq_per_t[T.S - 1] / T.magnet_eq_per_t  # (S,) t of stage-s product per t of magnet
        out[:, : T.S - 1] = share * unmet_magnets[:, None] * per_magnet[None, : T.S - 1]
    return out


def capped_sales(model: ChainModel, out: np.ndarray) -> np.ndarray:
    """``out`` (B, S), t a quarter, at most a quarter of the bloc-stage's national output quota where one is in force."""
    cap = model.instruments.output_cap_t
    if cap is not None:  # a national output quota caps what the bloc's producers can sell, whatever the demand
        out = np.minimum(out, cap / 4.0)
    return out


def unfed_need(model: ChainModel, nameplate: np.ndarray | None = None) -> np.ndarray:
    """(B, S) t a quarter: at each stage s - 1, the input that the bloc's plants and committed pipeline at an input-limited stage
    s (:func:`input_limited`) would buy but the feed cannot give them, input_per_t x (nameplate - feed) / 4, less the
    unmet orders of the last clearing at s - 1 (which count already); zeros without the input feed."""
    T = model.tables
    B = T.B
    out = np.zeros((B, T.S))
    feed = model.input_feed
    if feed is None:
        return out
    nameplate = fed_nameplate(model) if nameplate is None else nameplate
    lim = input_limited(model, nameplate)
    by_sales = model.world.investment.input_short_vs_sales and model.sales_expected is not None
    if by_sales:  # what the stage's sales within reach need beyond the feed (last quarter's sales, grown to the lead time)
        need = sales_need(model, nameplate)
        short = input_short(model, nameplate)
        derived = derived_demand(model)  # counted already upstream as the final buyers' unmet magnets
    for s in range(1, T.S):
        gap = np.where(lim[:, s], T.input_per_t[s] * np.maximum(nameplate[:, s] - feed[0][:, s], 0.0) / 4.0, 0.0)
        if by_sales:
            gap_sales = np.where(short[:, s], T.input_per_t[s] * np.maximum(need[:, s] - feed[0][:, s], 0.0) / 4.0, 0.0)
            gap = np.maximum(gap, gap_sales - derived[:, s - 1])
        cl = model.last_clearing.get(s - 1)
        unmet = np.zeros(B) if cl is None else np.bincount(cl.class_bloc, weights=cl.unmet, minlength=B)
        out[:, s - 1] += np.maximum(gap - unmet, 0.0)  # their unmet orders already count
    return out


def smooth_sales(model: ChainModel, nameplate: np.ndarray | None = None) -> None:
    """``model.sales_expected``: sales within reach (:func:`sales_within_reach`) smoothed over
    ``investment.price_memory_quarters``, once a quarter however often investors ask (``nameplate``: as there)."""
    if model.sales_expected_quarter != model.quarter:
        a = 1.0 / max(model.world.investment.price_memory_quarters, 1.0)
        if model.world.investment.unfed_need_at_once:  # the downstream's unfed need counts as it is now, the rest smoothed
            now = sales_within_reach(model, nameplate, with_unfed=False)
            prev = model.sales_smoothed
            model.sales_smoothed = now if prev is None else (1 - a) * prev + a * now
            model.sales_expected = capped_sales(model, model.sales_smoothed + unfed_need(model, nameplate))
        else:
            now = sales_within_reach(model, nameplate)
            model.sales_expected = now if model.sales_expected is None else (1 - a) * model.sales_expected + a * now
        model.sales_expected_quarter = model.quarter


def expected_sales_share(model: ChainModel, cap: np.ndarray, pipe: np.ndarray, growth: np.ndarray, nameplate: np.ndarray | None = None) -> np.ndarray:
    """(B, S) expected utilisation of the bloc's capacity incl. committed pipeline (past the final investment decision;
    projects still in planning, permitting or at the gate are options, not supply): smoothed sales within reach
    (``model.sales_expected``, :func:`smooth_sales`, t a quarter) x demand growth over the
    lead time x 4 / (capacity + pipeline); a stage with neither capacity nor pipeline but sales within reach
    expects the maximum utilisation, one with nothing at all the target utilisation (``nameplate``: as
    :func:`smooth_sales`)."""
    smooth_sales(model, nameplate)
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
    model.entrant_technology = entrant_technology(model)  # read by this quarter's investors, entrants and sponsors
    supply = supply_now(model)  # the firms' capacity and pipeline after the projects' advance; unchanged until the gate
    E = expectations(model, supply)
    model.investor_view = E  # read later this quarter by entry_exit.sell_plants (a plant's value to a buyer)
    # what a typical new plant needs at the input prices investors expect: recorded (the time series' long-run price)
    model.long_run_price = long_run_price(model, E.input_price, E.discount_rate, E.capex_support)
    # the profitability index is read at the gate and by busy operating firms without a project (choose_expansions);
    # it is computed for those rows only (each row's own numbers), NaN elsewhere (never read)
    busy = pop.orders_t >= w.investment.min_own_utilisation * pop.capacity_t / 4.0
    at_gate = (pop.proj_phase == inv.ProjectPhase.FINANCING) & pop.alive
    at = np.flatnonzero(at_gate | (pop.operating & (pop.proj_phase == inv.ProjectPhase.NONE) & busy))
    b_at, s_at = pop.bloc[at], pop.stage[at]
    proc = processing_cost(pop, T, at)
    # an operating firm's project, or the one it would start, is an expansion (brownfield); an entrant's is a new plant
    ph = pop.proj_phase[at]
    brownfield = np.where(ph != inv.ProjectPhase.NONE, ~pop.proj_greenfield[at], pop.phase[at] == Phase.OPERATING)
    pi_at = inv.profitability_index(b_at, s_at, proc, T, E, w.investment.horizon_years, w.finance.depreciation_years, brownfield)
    licensed = licence_room(model, supply[0], supply[2])  # (B, S) False where a national output quota is already covered: no new capacity licensed
    buffer = w.finance.min_cash_quarters_of_fixed_cost * pop.fixed_cost
    E_contract = None
    if contracts.enabled(model):  # projects at the gate in blocs whose buyers sign offtake contracts are valued with one
        E_contract = contracts.contract_terms(model, E)
        pi_c = inv.profitability_index(b_at, s_at, proc, T, E_contract, w.investment.horizon_years, w.finance.depreciation_years, brownfield)
        pi_at = np.where(contracts.eligible_blocs(model)[b_at], pi_c, pi_at)
    pi = np.full(len(pop), np.nan)
    pi[at] = pi_at
    gate = inv.finance_gate(pop, T, model.streams["projects"], pi, w.investment.min_profitability_index, w.finance, buffer)
    if E_contract is not None:
        contracts.sign(model, gate["financed"], E_contract)
    model.log_rows("fid", gate["financed"], values=pop.proj_capex_musd[gate["financed"]])
    model.log_rows("abandoned", gate["abandoned"])
    for key, name in (("financed", "financed"), ("stalled", "stalled"), ("constrained", "constrained"), ("abandoned", "abandoned")):
        r = gate[key]
        model.counters[name] += T.bs_sum(pop.bloc[r], pop.stage[r])
    if licensed is not None:
        pi = np.where(licensed[pop.bloc, pop.stage], pi, -np.inf)
    rows, nameplate, skipped = inv.choose_expansions(pop, T, model.streams["investment"], pi, w.investment, w.finance, buffer)
    model.counters["constrained"] += T.bs_sum(pop.bloc[skipped], pop.stage[skipped])
    model.log_rows("expansion_skipped", skipped)
    inv.start_projects(pop, rows, T, model.streams["projects"], q, nameplate, greenfield=False)
    model.counters["started"] += T.bs_sum(pop.bloc[rows], pop.stage[rows])
    model.log_rows("project_start", rows, values=nameplate)
    model.pi_entrant = entrant_pi(model, E if E_contract is None else E_contract)  # entrants in eligible blocs expect a contract
    if licensed is not None:
        model.pi_entrant = np.where(licensed, model.pi_entrant, 0.0)


def licence_room(model: ChainModel, cap: np.ndarray | None = None, committed: np.ndarray | None = None) -> np.ndarray | None:
    """(B, S) whether new capacity can still be licensed: where a national output quota is in force, only while
    the sellable output of operating capacity and committed pipeline (nameplate x the stage's mean quality x maximum
    utilisation) falls short of the quota one lead time ahead (the state
    "strictly controls mining, smelting and separating capacities", white paper on rare earths, 2012). None: no
    quota anywhere. Projects already under way go on. ``cap``, ``committed``: as :func:`fed_nameplate`."""
    ahead = model.quota_ahead(model.lead_years)
    if ahead is None:
        return None
    if cap is None or committed is None:
        cap, _, committed = supply_now(model)
    pipe = committed
    if model.world.investment.sellable_supply:  # cap and committed are sellable already (supply_now)
        return (cap + pipe) * model.world.markets.max_utilisation < ahead
    quality = mean_quality(model, cap)  # sellable share of nameplate
    return (cap + pipe) * quality * model.world.markets.max_utilisation < ahead


def entrant_pi(model: ChainModel, E: inv.Expectations) -> np.ndarray:
    """(B, S) profitability index of a typical new plant (entrant cost index 1, entrant experience)."""
    T = model.tables
    B, S = T.B, T.S
    b, s = np.meshgrid(np.arange(B), np.arange(S), indexing="ij")
    return inv.profitability_index(
        b, s, entrant_processing_cost(T, model.entrant_technology), T, E, model.world.investment.horizon_years, model.world.finance.depreciation_years
    )


def entrant_processing_cost(T, technology: np.ndarray | None = None) -> np.ndarray:
    """(B, S) processing cost of a typical new plant: the bloc-stage cost at the entrant's experience (cost index 1) and
    process technology (``technology``: its innovation factor per bloc-stage, :func:`entrant_technology`; None: 1)."""
    exp_factor = (T.entrant_experience_years / T.experience_ref_years) ** (-T.learning_b)
    gain = exp_factor[None, :] if technology is None else exp_factor[None, :] * technology
    if T.cost_floor_share.any():  # learning and innovation lower the cost above the floor only (processing_cost)
        gain = T.cost_floor_share[None, :] + (1.0 - T.cost_floor_share[None, :]) * gain
    return T.processing_cost_usd_per_kg * gain


def entrant_technology(model: ChainModel) -> np.ndarray | None:
    """(B, S) the innovation factor (agents.firms.innovate) a new firm's plant starts with: the capacity-weighted mean of
    its bloc-stage's operating plants' factors, raised to ``investment.entrant_technology_share`` (docs/ODD.md 7.7,
    Entry); 1 where the bloc-stage has no operating plant. None with the share 0: every new plant starts at 1 (the rule
    before December 2026). A new plant is built with the equipment and practice its bloc's industry uses now (suppliers,
    engineers and staff move between firms); the learning by doing of its own output still starts from
    ``entrant_experience_years``."""
    theta = model.world.investment.entrant_technology_share
    if theta <= 0.0:
        return None
    T, pop = model.tables, model.pop
    here = np.flatnonzero(pop.operating & pop.alive & (pop.capacity_t > 0.0))
    b, s, cap = pop.bloc[here], pop.stage[here], pop.capacity_t[here]
    total = T.bs_sum(b, s, cap)
    weighted = T.bs_sum(b, s, cap * pop.innovation_factor[here])
    mean = np.divide(weighted, total, out=np.ones_like(total), where=total > 0.0)
    return mean if theta == 1.0 else mean**theta
