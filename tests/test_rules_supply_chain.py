"""Investors and plant buyers who see the bloc's own supply chain (docs/ODD.md 7.7 and 7.8).

``investment.input_feasible_supply``: under an export control on a stage's input, investors count what the bloc's
own upstream (capacity and committed pipeline) and its imports can feed; a stage they cannot keep busy is
input-limited: no more expected sales than the feed, no scarcity margin of its own, and its unfed input need counts
as sales within reach of the stage above. ``finance.sale_values_own_demand``: an insolvency sale values the share of
a plant's output its bloc's next stage will need at the long-run price at least, and a plant running within the
shut-down tolerance can be sold. Each rule on a handful of hand-made firms in a model before its first quarter.
"""

from __future__ import annotations

import numpy as np
import pytest
from _rule_helpers import bloc, fresh_config, make_pop, stage, tables

from agents.firms import Phase, ProjectPhase
from sim.config import validate
from sim.engine import entry_exit, investment
from sim.engine.clearing import StageClearing
from sim.engine.model import ChainModel

T = tables()
CHINA, WEST, ROW = bloc(T, "china"), bloc(T, "west"), bloc(T, "rest_of_world")
MINING, SEPARATION, METAL, MAGNET = (stage(T, s) for s in ("mining", "separation", "metal", "magnet"))
MU = 0.95  # markets.max_utilisation of the world file (checked below)


def _model(**firms) -> ChainModel:
    """The world's model before its first quarter with the given firms (make_pop columns): no projects, no
    clearing, last quarter's imports zero unless a test sets them."""
    m = ChainModel(validate(fresh_config("years=1")))
    assert m.world.markets.max_utilisation == MU
    m.pop = make_pop(len(firms["bloc"]), **firms)
    m.last_clearing = {}
    m.recorder.series["imports_t"] = [np.zeros((T.B, T.S))]
    return m


def _west_chain() -> ChainModel:
    """West: a metal plant of 1000 t at quality 0.8 and two magnet plants of 10 kt; China: one of each."""
    return _model(
        bloc=[WEST, WEST, WEST, CHINA, CHINA],
        stage=[METAL, MAGNET, MAGNET, METAL, MAGNET],
        capacity_t=[1000.0, 10_000.0, 10_000.0, 5000.0, 20_000.0],
        quality=[0.8, 1.0, 1.0, 1.0, 1.0],
    )


def _feed(m: ChainModel):
    cap, _ = m.capacity_and_pipeline()
    return investment.input_feed(m, cap, m.committed_pipeline())


def test_without_an_export_control_every_input_is_free():
    feed, sellable = _feed(_west_chain())
    assert np.isinf(feed).all()
    assert sellable[WEST, MAGNET] == pytest.approx(20_000.0 * MU)


def test_feed_under_a_control_counts_own_upstream_and_imports():
    """China licenses 20% of its metal and magnets: West's magnet plants can make (its metal plant's sellable output
    + 4 x last quarter's metal imports) / input per t; China's own buyers and free inputs stay unbounded."""
    m = _west_chain()
    m.world.investment.feed_counts_free_exports = False  # imports at last quarter's level (the lever: below)
    m.markets.set_export_control("test", "china", ["metal", "magnet"], 0.2)
    imports = np.zeros((T.B, T.S))
    imports[WEST, METAL] = 100.0  # t last quarter
    m.recorder.series["imports_t"].append(imports)
    feed, sellable = _feed(m)
    want = (1000.0 * 0.8 * MU + 400.0) / T.input_per_t[MAGNET]
    assert feed[WEST, MAGNET] == pytest.approx(want, rel=1e-12)
    assert sellable[WEST, MAGNET] == pytest.approx(min(20_000.0 * MU, want), rel=1e-12)
    assert np.isinf(feed[CHINA]).all()  # China's buyers are not under its own control
    assert np.isinf(feed[WEST, [MINING, SEPARATION, METAL]]).all()  # ore and oxide are not controlled
    m.world.investment.input_feasible_supply = True
    m.input_feed = (feed, sellable)
    lim = investment.input_limited(m)
    assert lim[WEST, MAGNET] and lim.sum() == 1


def test_the_feed_counts_all_a_free_origin_exported_with_the_lever():
    """China licenses 20% of its metal. Last quarter the West bought 50 t of metal from China and 100 t from the rest
    of the world, which also sold 300 t to China. With ``investment.feed_counts_free_exports`` the West's magnet
    plants count the 50 t from China (its licences) and all 400 t the rest of the world exported, which a Western
    buyer paying more can draw away; off, the 150 t the West imported (the rule before)."""
    m = _west_chain()
    m.markets.set_export_control("test", "china", ["metal", "magnet"], 0.2)
    trade = np.zeros((T.B, T.B, T.S))  # (supplier bloc, buyer bloc, stage), t last quarter
    trade[ROW, CHINA, METAL], trade[ROW, WEST, METAL], trade[CHINA, WEST, METAL] = 300.0, 100.0, 50.0
    trade[ROW, ROW, METAL] = 500.0  # the rest of the world's own use is not counted
    m.recorder.trade_t = trade
    imports = np.zeros((T.B, T.S))
    imports[WEST, METAL] = 150.0
    m.recorder.series["imports_t"].append(imports)
    own = 1000.0 * 0.8 * MU
    m.world.investment.feed_counts_free_exports = False
    assert _feed(m)[0][WEST, MAGNET] == pytest.approx((own + 4.0 * 150.0) / T.input_per_t[MAGNET], rel=1e-12)
    m.world.investment.feed_counts_free_exports = True
    assert _feed(m)[0][WEST, MAGNET] == pytest.approx((own + 4.0 * 450.0) / T.input_per_t[MAGNET], rel=1e-12)
    lic = m.markets.licensed_share(METAL, np.arange(T.B))
    np.fill_diagonal(lic, 1.0)
    supply = investment.free_origin_supply(trade[:, :, METAL], lic)
    assert supply[WEST] == pytest.approx(450.0) and supply[ROW] == pytest.approx(0.0)  # the West exported no metal


def test_committed_pipeline_upstream_feeds_and_a_stage_with_enough_input_is_not_limited():
    m = _west_chain()
    m.markets.set_export_control("test", "china", ["metal"], 0.2)
    r = 0  # the West metal plant builds 6 kt, past its final investment decision
    m.pop.proj_phase[r] = ProjectPhase.CONSTRUCTION
    m.pop.proj_nameplate_t[r] = 6000.0
    feed, _ = _feed(m)
    assert feed[WEST, MAGNET] == pytest.approx((7000.0 * 0.8 * MU) / T.input_per_t[MAGNET], rel=1e-12)
    m.input_feed = (feed, np.minimum(feed, 1.0))
    m.world.investment.input_feasible_supply = True
    tol = m.world.investment.input_limit_tolerance
    assert feed[WEST, MAGNET] >= (1.0 - tol) * 20_000.0 * MU  # 17.7 kt of feed for 19 kt sellable: within the tolerance
    assert not investment.input_limited(m).any()


def test_an_input_limited_stage_expects_no_more_sales_than_its_feed_and_no_scarcity_margin():
    """Investors' expectations with the lever: the West's magnet utilisation is at most feed / nameplate, and its
    expected price is the long-run price although the index is far above it; off: the index's boom is expected."""
    m = _west_chain()
    m.markets.set_export_control("test", "china", ["metal", "magnet"], 0.2)
    m.markets.expected_price[WEST, MAGNET] = 10.0 * T.reference_price_usd_per_kg[MAGNET]
    m.sales_expected = np.full((T.B, T.S), 5000.0)  # t a quarter: far more than the plants can make
    m.sales_expected_quarter = m.quarter
    on = investment.expectations(m)
    feed = m.input_feed[0]
    assert on.utilisation[WEST, MAGNET] == pytest.approx(feed[WEST, MAGNET] / 20_000.0, rel=1e-12)
    normal = investment.long_run_price(m, on.input_price, on.discount_rate, on.capex_support)
    assert on.price[WEST, MAGNET] == pytest.approx(normal[WEST, MAGNET], rel=1e-12)
    m.world.investment.input_feasible_supply = False
    off = investment.expectations(m)
    assert m.input_feed is None
    assert off.price[WEST, MAGNET] > 2.0 * normal[WEST, MAGNET]
    assert off.utilisation[WEST, MAGNET] == pytest.approx(MU)


def test_the_unfed_input_need_counts_upstream_less_what_is_already_unmet():
    """West's magnet plants (19 kt sellable) are fed 1000 t x 0.8 x 0.95 / 0.3 of magnets a year: their metal need
    beyond it, a quarter's worth, counts as sales within reach of West's metal, less the metal they already could
    not buy last quarter (their unmet orders count on their own)."""
    m = _west_chain()
    m.markets.set_export_control("test", "china", ["metal", "magnet"], 0.2)
    m.world.investment.input_feasible_supply = True
    cap, _ = m.capacity_and_pipeline()
    m.input_feed = investment.input_feed(m, cap, m.committed_pipeline())
    base = investment.sales_within_reach(m)[WEST, METAL]
    gap = T.input_per_t[MAGNET] * (20_000.0 * MU - m.input_feed[0][WEST, MAGNET]) / 4.0
    m.input_feed = None
    assert base == pytest.approx(investment.sales_within_reach(m)[WEST, METAL] + gap, rel=1e-12)
    # 50 t of the West magnet plants' metal orders were unmet last quarter: counted once
    m.input_feed = investment.input_feed(m, cap, m.committed_pipeline())
    unmet = np.array([50.0, 0.0])
    m.last_clearing = {
        METAL: StageClearing(
            suppliers=np.array([0]),
            alloc=np.zeros((2, 1)),
            demand=np.array([60.0, 0.0]),
            unmet=unmet,
            class_bloc=np.array([WEST, CHINA]),
            landed=np.zeros((2, 1)),
        )
    }
    m.pop.orders_t[:] = 0.0
    with_unmet = investment.sales_within_reach(m)[WEST, METAL]
    assert with_unmet == pytest.approx(base, rel=1e-12)  # 50 unmet + (gap - 50) = gap


def test_the_unfed_need_counts_at_once_and_the_rest_is_smoothed():
    """``investment.unfed_need_at_once``: the unfed input need of the West's magnet plants enters its metal investors'
    expected sales whole in the quarter it appears (and leaves whole when it is fed), while orders are smoothed over
    price_memory_quarters; off, the need is smoothed with them (the rule before)."""
    orders = (100.0, 300.0, 300.0, 300.0)  # t a quarter on the West's metal plant
    controls = (False, True, True, False)  # China's licences on metal and magnets: the magnet plants go unfed

    def run(at_once: bool) -> tuple[list[float], list[float]]:
        m = _west_chain()
        m.world.investment.input_feasible_supply = True
        m.world.investment.unfed_need_at_once = at_once
        cap, _ = m.capacity_and_pipeline()
        m.last_clearing = {  # the metal market of last quarter: the West's and China's plants, nothing unmet
            METAL: StageClearing(
                suppliers=np.array([0, 3]),
                alloc=np.zeros((2, 2)),
                demand=np.zeros(2),
                unmet=np.zeros(2),
                class_bloc=np.array([WEST, CHINA]),
                landed=np.zeros((2, 2)),
            )
        }
        got, needs = [], []
        for q, (o, control) in enumerate(zip(orders, controls)):
            m.markets.clear_export_control("test")
            if control:
                m.markets.set_export_control("test", "china", ["metal", "magnet"], 0.2)
            m.input_feed = investment.input_feed(m, cap, m.committed_pipeline())
            m.pop.orders_t[:] = 0.0
            m.pop.orders_t[0] = o
            m.quarter = q
            needs.append(float(investment.unfed_need(m)[WEST, METAL]))
            investment.smooth_sales(m)
            got.append(float(m.sales_expected[WEST, METAL]))
        return got, needs

    a = 1.0 / fresh_config("years=1").world.investment.price_memory_quarters
    on, need = run(True)
    off, _ = run(False)
    assert need[0] == need[3] == 0.0 and need[1] == need[2] > 0
    smooth = lambda xs: [xs[0]] + [None] * (len(xs) - 1)  # noqa: E731
    s_on, s_off = smooth(orders), smooth([o + n for o, n in zip(orders, need)])
    for q in range(1, len(orders)):
        s_on[q] = (1 - a) * s_on[q - 1] + a * orders[q]
        s_off[q] = (1 - a) * s_off[q - 1] + a * (orders[q] + need[q])
    np.testing.assert_allclose(on, [x + n for x, n in zip(s_on, need)], rtol=1e-12)
    np.testing.assert_allclose(off, s_off, rtol=1e-12)


# ---------------------------------------------------------------------- input-short stages (investment.input_short_vs_sales)
def _short_chain(short_vs_sales: bool) -> ChainModel:
    """West: a metal plant of 1000 t and a magnet plant of 2 kt, which the metal can keep busy; China: one of each.
    China licenses 20% of its metal and magnets, and the West's magnet investors expect to sell 5 kt a quarter of
    magnets (far more than the West's metal can make) and its metal investors 100 t."""
    m = _model(
        bloc=[WEST, WEST, CHINA, CHINA],
        stage=[METAL, MAGNET, METAL, MAGNET],
        capacity_t=[1000.0, 2000.0, 5000.0, 20_000.0],
    )
    m.markets.set_export_control("test", "china", ["metal", "magnet"], 0.2)
    m.world.investment.input_feasible_supply = True
    m.world.investment.input_short_vs_sales = short_vs_sales
    m.sales_expected = np.full((T.B, T.S), 100.0)
    m.sales_expected[WEST, MAGNET] = 5000.0
    m.sales_expected_quarter = m.quarter
    return m


def test_a_stage_whose_feed_misses_its_sales_is_input_short_only_with_the_lever():
    """The West's magnet plant is fed (1000 t of metal make more magnets than its 2 kt can), so it is not
    input-limited; but the 20 kt a year its investors expect to sell need more metal than the West has: input-short.
    So is the rest of the world's magnet stage, which has sales within reach and no metal at all. Off, no stage is
    input-short (the rule before)."""
    for lever in (True, False):
        m = _short_chain(lever)
        investment.expectations(m)
        feed = m.input_feed[0]
        assert feed[WEST, MAGNET] == pytest.approx(1000.0 * MU / T.input_per_t[MAGNET], rel=1e-12)
        assert feed[WEST, MAGNET] > 2000.0 * MU
        assert not investment.input_limited(m).any()
        short = investment.input_short(m)
        assert short.sum() == (2 if lever else 0) and short[WEST, MAGNET] == short[ROW, MAGNET] == lever


def test_an_input_short_stage_expects_the_scarcity_margin_only_on_what_its_feed_can_make():
    """The West's magnet index at 5x the reference: investors expect the gap to its long-run price to last for the
    share of the sales a new plant could make that capacity leaves uncovered. With the lever those sales are at most
    what the feed can make (feed / target utilisation); off, all of the 20 kt a year (grown to the lead time)."""
    got = {}
    for lever in (True, False):
        m = _short_chain(lever)
        m.markets.expected_price[WEST, MAGNET] = 5.0 * T.reference_price_usd_per_kg[MAGNET]
        E = investment.expectations(m)
        target = m.world.markets.target_utilisation
        wanted = 5000.0 * m.demand_growth[WEST, MAGNET] * 4.0 / target
        servable = min(wanted, m.input_feed[0][WEST, MAGNET] / target) if lever else wanted
        keep = (servable - 2000.0) / servable
        normal = investment.long_run_price(m, E.input_price, E.discount_rate, E.capex_support)[WEST, MAGNET]
        p = m.markets.expected_price[WEST, MAGNET]
        assert p > normal
        assert E.price[WEST, MAGNET] == pytest.approx(normal + (p - normal) * keep, rel=1e-9)
        got[lever] = E.price[WEST, MAGNET]
    assert got[True] < got[False]


def test_the_stage_above_an_input_short_stage_bids_its_netback_with_the_lever():
    """No final buyer is short and no stage is input-limited, so without the lever the West's metal investors, who
    expect to sell 8 kt a year against 1 kt of capacity, expect the metal index to rise to its long-run price at most;
    with it the magnet stage is input-short and they expect more: the netback share of the gap to the input price at
    which a new magnet plant breaks even at the magnet index (5x its reference)."""
    prices = {}
    for lever in (True, False):
        m = _short_chain(lever)
        m.sales_expected[WEST, METAL] = 2000.0
        m.last_clearing = {
            MAGNET: StageClearing(  # the final buyers got all they asked for
                suppliers=np.array([1, 3]),
                alloc=np.zeros((2, 2)),
                demand=np.array([100.0, 100.0]),
                unmet=np.zeros(2),
                class_bloc=np.array([WEST, CHINA]),
                landed=np.zeros((2, 2)),
            )
        }
        m.markets.expected_price[WEST, MAGNET] = 5.0 * T.reference_price_usd_per_kg[MAGNET]
        E = investment.expectations(m)
        normal = investment.long_run_price(m, E.input_price, E.discount_rate, E.capex_support)[WEST, METAL]
        prices[lever] = (E.price[WEST, METAL], normal)
    assert prices[False][0] <= prices[False][1] * (1 + 1e-12)
    assert prices[True][0] > 1.3 * prices[True][1]


def test_the_sales_an_input_short_stage_cannot_feed_count_upstream_less_the_derived_demand():
    """With the lever the West's metal investors count, beyond the input its plants need, the metal that the magnet
    stage's expected sales (20 kt a year, grown to the lead time) need beyond the feed, less what the final buyers'
    unmet magnets already bring them (investment.derived_demand_share) and their own unmet orders; off, nothing: the
    magnet plant itself is fed."""
    m = _short_chain(True)
    m.demand_growth = np.ones((T.B, T.S))
    cap, _ = m.capacity_and_pipeline()
    m.input_feed = investment.input_feed(m, cap, m.committed_pipeline())
    need = T.input_per_t[MAGNET] * (20_000.0 - m.input_feed[0][WEST, MAGNET]) / 4.0
    assert investment.unfed_need(m)[WEST, METAL] == pytest.approx(need, rel=1e-12)
    assert investment.unfed_need(m)[WEST, MAGNET] == 0.0 and investment.unfed_need(m)[CHINA].sum() == 0.0
    # final buyers short of 1000 t of magnets: the derived demand at metal is counted once
    m.last_clearing = {
        MAGNET: StageClearing(
            suppliers=np.array([1, 3]),
            alloc=np.zeros((2, 2)),
            demand=np.array([1100.0, 0.0]),
            unmet=np.array([1000.0, 0.0]),
            class_bloc=np.array([WEST, CHINA]),
            landed=np.zeros((2, 2)),
        )
    }
    derived = investment.derived_demand(m)[WEST, METAL]
    assert derived > 0.0
    assert investment.unfed_need(m)[WEST, METAL] == pytest.approx(need - derived, rel=1e-12)
    m.world.investment.input_short_vs_sales = False
    assert investment.unfed_need(m)[WEST, METAL] == 0.0


# ---------------------------------------------------------------------- the insolvency sale
def _mine_model(control: bool = True) -> ChainModel:
    """West: a 40 kt mine at quality 1, a separation plant of 2 kt and 6 kt of separation past its decision; China
    licenses 20% of its oxide exports (``control``)."""
    m = _model(bloc=[WEST, WEST], stage=[MINING, SEPARATION], capacity_t=[40_000.0, 2000.0], quality=[1.0, 1.0])
    if control:
        m.markets.set_export_control("test", "china", ["separation"], 0.2)
    m.pop.proj_phase[1] = ProjectPhase.CONSTRUCTION
    m.pop.proj_nameplate_t[1] = 6000.0
    m.investor_view = investment.expectations(m)  # investors' view of the quarter
    return m


def test_own_demand_price_blends_the_long_run_price_for_the_share_the_bloc_will_need():
    m = _mine_model()
    E = m.investor_view
    E.price[WEST, MINING] = 0.5  # a slump
    E.utilisation[WEST, MINING] = 0.9  # investors expect the mine to sell 90% of its nameplate
    normal = investment.long_run_price(m, E.input_price, E.discount_rate, E.capex_support)
    pop = m.pop
    cap, _ = m.capacity_and_pipeline()
    committed = m.committed_pipeline()
    here = pop.operating & pop.alive
    q = T.bs_sum(pop.bloc[here], pop.stage[here], pop.quality[here] * pop.capacity_t[here]) / np.maximum(cap, 1e-9)
    w = min((cap + committed)[WEST, SEPARATION] * MU * T.input_per_t[SEPARATION] / ((cap + committed)[WEST, MINING] * q[WEST, MINING] * MU), 1.0)
    assert 0.0 < w <= 1.0
    got = entry_exit.own_demand_price(m, E)
    assert got[WEST, MINING] == pytest.approx(w * max(0.5, normal[WEST, MINING]) + (1 - w) * 0.5, rel=1e-12)
    assert got[WEST, MAGNET] == E.price[WEST, MAGNET]  # the last stage sells to final buyers
    m.world.finance.sale_values_own_demand = False
    assert entry_exit.plant_value(m, np.array([0]))[0] == 0.0  # at the slump price the mine is worth nothing
    m.world.finance.sale_values_own_demand = True
    assert entry_exit.plant_value(m, np.array([0]))[0] > 0.0  # the bloc's separators will want its ore
    m.markets.clear_export_control("test")  # free trade: they may buy ore abroad, no own demand counts
    assert not entry_exit.own_demand_share(m).any()
    assert entry_exit.plant_value(m, np.array([0]))[0] == 0.0


def test_a_plant_losing_within_the_shutdown_tolerance_is_sold_with_the_lever_and_closes_without():
    for lever, sold in ((True, 1), (False, 0)):
        m = _mine_model()
        m.world.finance.sale_values_own_demand = lever
        m.investor_view.price[WEST, MINING] = 10.0  # worth running at any rate
        m.investor_view.utilisation[WEST, MINING] = 0.9
        pop = m.pop
        r = 0
        pop.input_cost[r], pop.opex[r], pop.grants[r] = 0.0, 10.0, 0.0
        pop.revenue[r] = 10.0 * (1.0 - 0.5 * m.world.markets.shutdown_tolerance)  # a loss within the tolerance
        pop.cash[r], pop.debt[r] = -1.0, 1e4
        n = len(pop)
        entry_exit.exit_failing(m)
        assert pop.phase[r] == Phase.EXITED and len(pop) == n + sold
