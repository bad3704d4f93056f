"""The national world (sim.engine.national; docs/ODD.md 7.15): its config, its population, its niche-market rules on a
handful of firms, and small seeded runs (national.scale 0.002: about 2,000 firms, a second or two each)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from agents.firms import DESIGNATED, Phase, Tier, processing_cost
from sim.checks import ConfigError
from sim.config import chain_scenarios, compose, national_scenarios
from sim.engine.national import market
from sim.engine.national.model import NationalModel
from sim.engine.national.world import niches_per_sector
from sim.engine.run import run

SMALL = ("scenario=national_programme", "national.scale=0.002", "progress=false", "output.write=false")


def small_config(*extra: str):
    return compose([*SMALL, *extra])


@pytest.fixture(scope="module")
def small_run():
    return run(small_config("years=8"))


# --------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------
def test_national_programme_is_the_national_scenario():
    assert national_scenarios() == ["national_programme"]
    assert "national_programme" not in chain_scenarios() and "baseline" in chain_scenarios()
    cfg = compose(["scenario=national_programme"])
    assert cfg.years == 11  # 2015-2025
    assert cfg.national.firms.count == 1_000_000
    assert len(cfg.national.provinces) == 31
    assert abs(sum(p.firm_share for p in cfg.national.provinces) - 1.0) < 0.01
    assert abs(sum(s.firm_share for s in cfg.national.sectors) - 1.0) < 0.01
    nq = cfg.policy["china"].designation.national_quota
    assert (nq.chain_share, nq.national_srdi) == (1.0, [])  # the whole batch: the nation is the pool
    assert compose([]).national is None


@pytest.mark.parametrize(
    "override, key",
    [
        ("national.rare_earth_sector=steel", "national.rare_earth_sector"),
        ("national.start_year=2016", "national.start_year"),
        ("national.firms.size_classes.micro.share=0.5", "national.firms.size_classes"),
        ("national.firms.size_classes.micro.revenue_lognormal.median_myuan=50", "national.firms.size_classes.micro.revenue_lognormal.median_myuan"),
        ("national.market.price_adjustment=1.5", "national.market.price_adjustment"),
        ("national.sectors.0.niches=0", "national.sectors[0].niches"),
    ],
)
def test_a_bad_national_value_is_one_config_error_naming_its_key(override, key):
    with pytest.raises(ConfigError) as e:
        compose(["scenario=national_programme", override])
    assert f"'{key}'" in str(e.value) and "\n" not in str(e.value)


# --------------------------------------------------------------------------
# The population
# --------------------------------------------------------------------------
def test_population_follows_the_configured_shares():
    cfg = small_config()
    m = NationalModel(cfg)
    pop, n = m.pop, cfg.national
    re_sector = [s.name for s in n.sectors].index(n.rare_earth_sector)
    others = pop.stage != re_sector
    assert abs(others.sum() - n.firms.count * n.scale) <= 1
    # the rare-earth sector: the rare-earth world's Chinese cohorts at the national scale
    china = [c for c in cfg.world.firms.values() if c.bloc == "china"]
    assert (pop.stage == re_sector).sum() == sum(max(int(round(c.count * n.scale)), 0) for c in china)
    # every firm in a niche of its own sector; niches scale with the nation
    first = np.concatenate([[0], np.cumsum(niches_per_sector(cfg))])
    assert np.all((pop.niche >= first[pop.stage]) & (pop.niche < first[pop.stage + 1]))
    assert np.all(pop.phase == Phase.OPERATING) and np.all(pop.tier == Tier.NONE)
    # revenue within the size classes' ranges, staff within their headcount ranges
    rev_myuan = pop.trailing(pop.rev_hist, 3, 4) / n.usd_per_cny
    lo = min(c.revenue_myuan[0] for c in n.firms.size_classes.values())
    assert rev_myuan[others].min() >= lo * 0.999
    assert pop.employees[others].min() >= 1.0 and pop.employees[others].max() <= 999.0 + 1e-9
    # R&D: about the configured share of firms has R&D at the start
    shares = {k: c.share * c.rd_share for k, c in n.firms.size_classes.items()}
    assert abs((pop.rd_propensity[others] > 0).mean() - sum(shares.values())) < 0.03


# --------------------------------------------------------------------------
# Rules on a handful of firms
# --------------------------------------------------------------------------
def _tiny_market(capacity, appeal, demand, price=1.0):
    """A one-niche model stub with firms of the given capacities and appeals, and a demand at the reference price."""
    m = NationalModel(small_config())
    pop = m.pop
    k = len(capacity)
    pop.phase[:] = Phase.EXITED
    pop.phase[:k] = Phase.OPERATING
    pop.niche[:k] = 0
    pop.capacity_t[:k] = capacity
    pop.appeal[:k] = appeal
    pop.cost_index[:k] = 1.0
    pop.innovation_factor[:k] = 1.0
    m.price = np.full(len(m.price), price)
    m.niche_base = np.zeros(len(m.price))
    m.niche_base[0] = demand
    m.niche_growth = np.zeros(len(m.price))
    m.quarter = 0
    # the niches' unit cost at the start is these firms' (market.cost_pass_through reads the change from it)
    m.niche_cost0 = market.niche_cost(m, processing_cost(pop, m.tables), m.niche_cost0)
    return m


def test_buyers_turned_away_by_a_full_firm_go_to_the_others():
    m = _tiny_market(capacity=[50.0, 200.0], appeal=[10.0, 1.0], demand=120.0)
    m.national.market.orders_met = False
    market.clear_niches(m)
    sales = m.pop.output_t[:2] * 4.0
    cap = m.national.market.max_utilisation * np.array([50.0, 200.0])
    assert sales[0] == pytest.approx(cap[0])  # the favourite sells all it can
    assert sales.sum() == pytest.approx(120.0)  # and the rest of the demand reaches the other firm
    assert m.pop.orders_t[0] * 4.0 > cap[0]  # its first-choice orders exceed what it can make: it is busy


@pytest.mark.parametrize("demand", [120.0, 400.0])
def test_a_firms_orders_are_the_demand_it_met(demand):
    """market.orders_met: a firm's orders are its sales plus its first-choice share (capacity x appeal) of the niche's
    demand left unserved, so they add up to the niche's demand; without it, its buyers' first choice alone."""
    m = _tiny_market(capacity=[50.0, 200.0], appeal=[10.0, 1.0], demand=demand)
    assert m.national.market.orders_met  # the shipped rule
    market.clear_niches(m)
    pop = m.pop
    sales, orders = pop.output_t[:2] * 4.0, pop.orders_t[:2] * 4.0
    share = np.array([500.0, 200.0]) / 700.0
    unserved = max(demand - 0.95 * 250.0, 0.0)
    assert orders == pytest.approx(sales + share * unserved)
    assert orders.sum() == pytest.approx(demand)
    target = m.national.market.target_utilisation
    if unserved > 0:  # the firm kept full by buyers the favourite turned away is busy too: it met demand above its normal use
        assert orders[1] / 200.0 > target
    m.national.market.orders_met = False
    m.price[:] = 1.0  # as before the first clearing, which moved it
    market.clear_niches(m)
    assert pop.orders_t[:2] * 4.0 == pytest.approx(share * demand)  # first choice
    if unserved > 0:
        assert pop.orders_t[1] * 4.0 / 200.0 < target  # which leaves it looking idle


@pytest.mark.parametrize("plan_years", [0.0, 2.5])
def test_firms_plan_capacity_for_the_demand_growth_they_expect(plan_years):
    """market.plan_years y: a firm whose orders, grown at its sector's demand growth g for y years, exceed the normal
    utilisation wants the capacity that serves them there: 4 x orders x (1 + g)^y / target - capacity (within the
    expansion bounds). A firm at 78% of capacity with demand growing 6% a year expands with y = 2.5, not with 0."""
    m = _tiny_market(capacity=[100.0], appeal=[1.0], demand=78.0 / 0.95 * 0.95)
    mk = m.national.market
    mk.plan_years, mk.review_probability, mk.target_utilisation = plan_years, 1.0, 0.8
    m.niche_growth[0] = 0.06
    pop = m.pop
    market.clear_niches(m)
    pop.prof_hist[:1, :] = 1.0  # profitable last year
    pop.cash[:1], pop.debt[:1], pop.fixed_cost[:1] = 1000.0, 0.0, 0.0  # and able to fund anything
    market.invest(m)
    orders = pop.orders_t[0] * 4.0
    assert orders == pytest.approx(78.0)
    if plan_years == 0.0:
        assert pop.proj_phase[0] == 0  # 78% is below the normal 80%: no expansion
    else:
        assert pop.proj_phase[0] > 0
        want = orders * 1.06**plan_years / mk.target_utilisation - 100.0
        assert pop.proj_nameplate_t[0] == pytest.approx(np.clip(want, mk.expansion_share[0] * 100.0, mk.expansion_share[1] * 100.0))


def test_price_moves_toward_the_utilisation_target():
    mk = compose([*SMALL]).national.market
    tight = _tiny_market(capacity=[100.0], appeal=[1.0], demand=120.0)  # demand 1.5x normal supply (80 at 0.8)
    tight.national.market.target_utilisation = 0.8
    tight.national.market.shortage_pricing = False  # the capacity ratio alone (the next test adds the shortage's bid)
    market.clear_niches(tight)
    assert tight.price[0] == pytest.approx(1.0 + mk.price_adjustment * (1.5**mk.price_flexibility - 1.0))
    slack = _tiny_market(capacity=[100.0], appeal=[1.0], demand=40.0)
    slack.national.market.target_utilisation = 0.8
    market.clear_niches(slack)
    assert slack.price[0] < 1.0
    empty = _tiny_market(capacity=[], appeal=[], demand=40.0)
    market.clear_niches(empty)
    assert empty.price[0] == 1.0  # no supplier, no trade: the price stays


@pytest.mark.parametrize("on", [True, False])
def test_buyers_left_unserved_bid_the_price_toward_what_clears_the_supply(on):
    """market.shortage_pricing: one firm of capacity 100 (95 at most sold) and demand 200 at the reference price, unit
    elastic: the target price is at least 200 / 95, where demand falls to the supply; without the lever the capacity
    ratio's (200 / 80) ^ flexibility. A niche with slack keeps the capacity ratio's target either way."""
    mk = compose([*SMALL]).national.market
    m = _tiny_market(capacity=[100.0], appeal=[1.0], demand=200.0)
    m.national.market.target_utilisation, m.national.market.shortage_pricing = 0.8, on
    m.national.market.demand_elasticity = 1.0
    market.clear_niches(m)
    target = max(200.0 / 95.0, 2.5**mk.price_flexibility) if on else 2.5**mk.price_flexibility
    assert m.price[0] == pytest.approx(1.0 + mk.price_adjustment * (target - 1.0))
    slack = _tiny_market(capacity=[100.0], appeal=[1.0], demand=40.0)
    slack.national.market.target_utilisation, slack.national.market.shortage_pricing = 0.8, on
    market.clear_niches(slack)
    assert slack.price[0] == pytest.approx(1.0 + mk.price_adjustment * (0.5**mk.price_flexibility - 1.0))


@pytest.mark.parametrize("pass_through", [0.0, 0.5, 1.0])
def test_the_normal_price_follows_the_niches_unit_cost(pass_through):
    """market.cost_pass_through k: the target price is (1 + k x (niche cost / niche cost at the start - 1)) x the
    utilisation markup, the niche cost being its operating firms' capacity-weighted unit cost (markup pricing on current
    cost); k = 0 is the rule before (a normal price fixed at the reference)."""
    m = _tiny_market(capacity=[100.0, 300.0], appeal=[1.0, 1.0], demand=320.0)  # demand at normal supply (400 x 0.8)
    m.national.market.cost_pass_through, m.national.market.target_utilisation = pass_through, 0.8
    mk = m.national.market
    m.pop.cost_index[:2] = [0.8, 0.9]  # costs fell: capacity-weighted 0.875 of the start's
    market.clear_niches(m)
    target = 1.0 + pass_through * (0.875 - 1.0)
    assert m.price[0] == pytest.approx(1.0 + mk.price_adjustment * (target - 1.0))
    assert m.price[1:].tolist() == [1.0] * (len(m.price) - 1)  # niches without firms keep their price


def test_a_firm_whose_price_does_not_cover_its_unit_cost_sells_nothing():
    m = _tiny_market(capacity=[100.0, 100.0], appeal=[1.0, 1.0], demand=100.0, price=0.9)
    m.pop.cost_index[:2] = [1.0, 1.2]  # unit cost 0.85 and 1.02 of the reference price
    market.clear_niches(m)
    assert m.pop.output_t[1] == 0.0 and m.pop.output_t[0] > 0.0


def test_busy_firms_that_cannot_fund_an_expansion_are_finance_constrained():
    m = _tiny_market(capacity=[100.0, 100.0], appeal=[1.0, 1.0], demand=400.0)
    pop = m.pop
    market.clear_niches(m)
    pop.prof_hist[:2, :] = 1.0  # profitable last year
    pop.cash[:2] = [1000.0, 0.0]  # the first can pay for anything, the second has nothing
    pop.debt[:2] = [0.0, 1e6]  # and no room to borrow
    pop.fixed_cost[:2] = 0.0
    pop.ipo_fast_track[:2] = -1.0  # no outside equity either
    m.national.market.review_probability = 1.0
    market.invest(m)
    assert pop.proj_phase[0] > 0 and not pop.finance_constrained[0]
    assert pop.proj_phase[1] == 0 and pop.finance_constrained[1]


@pytest.mark.parametrize("sell", [True, False])
def test_a_failing_firms_plant_that_earns_its_running_costs_passes_to_a_new_firm(sell):
    """market.sell_failed_plants: of three firms, one insolvent with a plant that covers its costs, one insolvent with a
    plant that does not, one closed by the hazard: only the first plant carries on, under a new firm with its capacity,
    niche, appeal, patents and books, without the old debts or titles; without the lever all three plants close."""
    m = _tiny_market(capacity=[100.0, 100.0, 100.0], appeal=[1.0, 2.0, 3.0], demand=240.0)
    mk = m.national.market
    mk.sell_failed_plants, mk.entry_rate_per_year = sell, 0.0
    pop = m.pop
    market.clear_niches(m)
    pop.revenue[:3] = [10.0, 10.0, 10.0]
    pop.opex[:3] = [6.0, 9.0, 6.0]
    pop.fixed_cost[:3] = [1.0, 2.0, 1.0]  # the second plant loses 1 a quarter before interest
    pop.cash[:3] = [-1.0, -1.0, 5.0]  # the first two insolvent
    pop.debt[:3] = 50.0
    pop.tier[:3] = int(Tier.SRDI)
    pop.pat_inv[0, :] = 0.0
    pop.pat_inv[0, 0] = 3.0
    pop.rev_hist[0, :] = 7.0
    mk.exit_hazard_per_year = 0.0
    n0 = len(pop)
    market.enter_and_exit(m)
    assert not pop.alive[:2].any() and pop.alive[2]  # the failing firms exit (the third stays: no hazard here)
    new = np.arange(n0, len(pop))
    if not sell:
        assert len(new) == 0
        return
    assert len(new) == 1 and m.counters["plants_sold"] == 1
    r = new[0]
    assert pop.alive[r] and pop.phase[r] == Phase.OPERATING
    assert pop.capacity_t[r] == 100.0 and pop.niche[r] == pop.niche[0] and pop.appeal[r] == 1.0
    assert pop.pat_inv[r].sum() == 3.0 and (pop.rev_hist[r] == 7.0).all()
    assert pop.debt[r] == 0.0 and pop.tier[r] == int(Tier.NONE)
    assert pop.book_assets[r] > 0.0 and pop.cash[r] > 0.0


@pytest.mark.parametrize("per_firm", [True, False])
def test_entrants_come_as_a_share_of_a_sectors_firms_however_large(per_firm):
    """market.entry_per_firm: two niches of equal demand in two sectors, one of 20 firms of capacity 100, one of 100
    firms of 20: entrants split by firm count (100 of 120 to the second) with the lever, by demand (half) without it;
    two niches of one sector split by their pull alone either way."""
    m = _tiny_market(capacity=[100.0] * 20 + [20.0] * 100, appeal=[1.0] * 120, demand=1600.0)
    mk = m.national.market
    mk.entry_per_firm, mk.entry_rate_per_year, mk.exit_hazard_per_year = per_firm, 1.0, 0.0
    other = int(np.flatnonzero(m.niche_sector != m.niche_sector[0])[0])  # a niche of another sector
    m.pop.niche[20:120] = other
    m.pop.stage[:20] = m.niche_sector[0]
    m.pop.stage[20:120] = m.niche_sector[other]
    m.niche_base[other] = 1600.0
    m.niche_cost0 = market.niche_cost(m, processing_cost(m.pop, m.tables), m.niche_cost0)  # both niches' own
    market.clear_niches(m)
    pull = market.entry_pull(m)
    share = pull[other] / pull.sum()
    assert share == pytest.approx(100 / 120 if per_firm else 0.5)
    n0 = len(m.pop)
    got = []
    for _ in range(10):  # about 30 entrants a call
        market.enter_and_exit(m)
        got.append(m.pop.niche[n0:].copy())
        n0 = len(m.pop)
    got = np.concatenate(got)
    assert len(got) > 200
    assert np.mean(got == other) == pytest.approx(share, abs=0.08)


def test_entrants_to_niches_of_one_sector_follow_their_pull_alone():
    """market.entry_per_firm divides by the sector's mean firm capacity, not the niche's: of two niches of one sector
    with equal demand, one of 10 firms of 100 and one of 10 firms of 300, neither draws more entrants per unit of pull
    (a niche that lost its large firms does not draw hundreds of small ones)."""
    m = _tiny_market(capacity=[100.0] * 10 + [300.0] * 10, appeal=[1.0] * 20, demand=800.0)
    m.national.market.entry_per_firm = True
    same = int(np.flatnonzero(m.niche_sector == m.niche_sector[0])[1])  # a second niche of the first sector
    m.pop.niche[10:20] = same
    m.pop.stage[:20] = m.niche_sector[0]
    market.clear_niches(m)
    m.niche_demand_last[same], m.niche_unserved[same], m.price[same] = m.niche_demand_last[0], m.niche_unserved[0], m.price[0]
    pull = market.entry_pull(m)
    assert pull[same] == pytest.approx(pull[0]) and pull[0] > 0


def test_a_plant_closed_for_reasons_outside_the_model_closes():
    """The exit hazard is calibrated on firms that cease: its closures are not sold on."""
    m = _tiny_market(capacity=[100.0], appeal=[1.0], demand=80.0)
    mk = m.national.market
    mk.sell_failed_plants, mk.entry_rate_per_year, mk.exit_hazard_per_year = True, 0.0, 1.0
    pop = m.pop
    market.clear_niches(m)
    pop.revenue[:1], pop.opex[:1], pop.fixed_cost[:1], pop.cash[:1] = 10.0, 6.0, 1.0, 5.0
    n0 = len(pop)
    for _ in range(40):  # the hazard (at most 0.5 a year) closes it within ten years
        market.enter_and_exit(m)
        if not pop.alive[0]:
            break
    assert not pop.alive[0] and len(pop) == n0


def test_cached_exit_weights_are_the_power_of_every_rows_capacity():
    """market.exit_weights keeps each row's capacity ^ -elasticity and computes it again only where the capacity has
    changed: after projects, exits, entrants, a compaction and a new elasticity it gives, bit for bit, the power of
    every row's capacity (as the rule computed it on every row each quarter)."""
    m = NationalModel(small_config("years=3"))
    pop, el = m.pop, m.national.market.exit_size_elasticity

    def every_row(e):
        return np.power(np.maximum(pop.capacity_t, 1e-6), -e)

    for _ in range(6):  # quarters and a year's compaction (projects, exits, entrants, sales move capacities)
        m.step()
        np.testing.assert_array_equal(market.exit_weights(pop, el), every_row(el))
    rng = np.random.default_rng(4)
    moved = rng.random(len(pop)) < 0.1
    pop.capacity_t[moved] *= rng.uniform(0.5, 2.0, int(moved.sum()))  # capacities moved outside the rule
    pop.capacity_t[:3] = 0.0
    np.testing.assert_array_equal(market.exit_weights(pop, el), every_row(el))
    np.testing.assert_array_equal(market.exit_weights(pop, 0.8), every_row(0.8))  # the lever moved: every row afresh
    rows = pop.add(5, capacity_t=np.array([1.0, 50.0, 0.0, 3.5, 1e-9]))  # new rows have no weight yet
    np.testing.assert_array_equal(market.exit_weights(pop, 0.8)[rows], every_row(0.8)[rows])


def test_a_worlds_own_columns_grow_and_compact_with_the_firms():
    from agents.firms import FirmPopulation

    pop = FirmPopulation(capacity=2, extra_columns={"x": (np.float64, np.nan), "k": (np.int32, 7)})
    rows = pop.add(3, x=np.array([1.0, 2.0, 3.0]))  # grows past its capacity
    assert list(pop.k) == [7, 7, 7] and list(pop.x[rows]) == [1.0, 2.0, 3.0]
    pop.add(1)
    assert np.isnan(pop.x[3]) and pop.k[3] == 7
    pop.phase[1] = Phase.EXITED
    pop.compact()
    assert list(pop.x[:2]) == [1.0, 3.0] and np.isnan(pop.x[2]) and len(pop) == 3
    with pytest.raises(ValueError, match="cash"):
        FirmPopulation(extra_columns={"cash": (np.float64, 0.0)})


def _debt_ratio(pop) -> float:
    """Aggregate debt over cash, plant, construction and working capital of the live firms."""
    a = pop.alive
    assets = pop.book_assets[a] + pop.cip[a] + pop.working_capital[a] + np.maximum(pop.cash[a], 0.0)
    return float(pop.debt[a].sum() / assets.sum())


def test_the_national_firms_keep_their_capital_structure_unless_told_to_follow_the_world():
    """national.target_capital_structure (true in conf/national): the firms stop repaying at the target debt ratio and pay
    out the cash above their holding, so the balance sheets stay near the statistics they start from; null takes the
    world's setting (off in the rare-earth world), under which profitable firms delever to nothing and hoard cash."""
    kept = run(small_config("years=8"))
    world = run(small_config("years=8", "national.target_capital_structure=null"))
    assert kept.model.finance.target_capital_structure and not world.model.finance.target_capital_structure
    assert world.model.cfg.world.finance == kept.model.cfg.world.finance  # the world's own setting is untouched
    start = _debt_ratio(NationalModel(small_config("years=1")).pop)
    assert start > 0.3
    kept_ratio, world_ratio = _debt_ratio(kept.model.pop), _debt_ratio(world.model.pop)
    assert kept_ratio > 0.15 and world_ratio < 0.12 and kept_ratio > 2.0 * world_ratio  # (0.29 and 0.10 at 8 years)


def test_the_national_yuan_are_read_at_its_own_price_level_unless_told_to_follow_the_world():
    """national.price_level_growth (0.014 in conf/national: China's producer prices 2016-2024) is the growth of the price
    level at which the national world's criteria and benefits read yuan; null takes the world's (0 in the rare-earth
    world). At the national level, a firm whose revenue did not change in constant yuan grew 1.4% in nominal yuan."""
    own = NationalModel(small_config("years=1"))
    world = NationalModel(small_config("years=1", "national.price_level_growth=null", "world.price_level_growth=0.03"))
    assert own.world.price_level_growth == 0.014 and world.world.price_level_growth == 0.03
    assert own.cfg.world.price_level_growth == 0.0  # the world's own setting is untouched
    for m, g in ((own, 0.014), (world, 0.03)):
        m.pop.rev_hist[:, :] = 1.0  # flat revenue: growth 0 in constant yuan
        m.quarter = 7  # the round at the end of the second year
        growth = m.government.round_metrics()["revenue_growth"]
        assert np.allclose(growth[m.pop.alive], g)


# --------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------
def test_a_small_run_gives_the_programme_outputs(small_run):
    r = small_run
    s = r.summary
    ts = r.model.recorder.timeseries()
    assert list(ts["year"]) == list(range(2015, 2023))
    assert (ts["firms"] > 1500).all()
    # the pyramid: no Little Giant before the first national batch (2019), then some
    assert (ts.loc[ts["year"] < 2019, "n_little_giant"] == 0).all()
    assert ts.loc[ts["year"] >= 2020, "n_little_giant"].max() > 0
    assert ts["n_innovation_type"].max() > 0 and ts["n_srdi"].max() > 0
    # prices stay within a band (no niche index runs away: markup pricing)
    assert ts["price_index_mean"].between(0.7, 1.5).all()
    assert set(s["pyramid"]) == set(range(2015, 2023))
    reviews = r.model.recorder.review_table()
    assert set(reviews.columns) == {"tier", "cohort", "passed", "failed", "pass_rate"}
    assert (reviews["passed"] + reviews["failed"] > 0).all()


def test_the_sector_table_holds_each_sectors_market(small_run):
    """sectors.parquet: each sector's demand, operating capacity, unserved demand and price index at each year's end;
    summed over sectors they are the niches' totals and the firms' capacity of the last quarter."""
    m = small_run.model
    sec = m.recorder.sectors()
    last = sec[sec["year"] == sec["year"].max()]
    assert len(last) == m.tables.S
    assert last["demand_myuan"].sum() == pytest.approx(m.niche_demand_last.sum())
    assert last["unserved_myuan"].sum() == pytest.approx(m.niche_unserved.sum())
    assert last["capacity_myuan"].sum() == pytest.approx(m.pop.capacity_t[m.pop.operating].sum())
    assert (sec["unserved_myuan"] <= sec["demand_myuan"] + 1e-9).all() and (sec["capacity_myuan"] >= 0).all()
    assert (sec.loc[sec["demand_myuan"] > 1.0, "capacity_myuan"] > 0).all()  # at this scale a sector may have no firm
    assert sec["price_index"].between(0.5, 2.0).all()


def _check_above_size(m) -> None:
    """The last year's row of a national run counts the firms whose revenue of the year, in nominal yuan (the model's
    money raised to the four quarters' mid-point), is at least 20 M, read again from the population."""
    pop, q, row = m.pop, m.quarter, m.recorder.rows[-1]
    assert row["year"] == m.national.start_year + q // 4 and q % 4 == 3
    level = (1.0 + m.world.price_level_growth) ** ((q - 1) / 4.0)  # the four quarters' mid-point, years since the start
    myuan = pop.trailing(pop.rev_hist, q, 4) * level / m.world.usd_per_cny
    above = pop.alive & pop.operating & (myuan >= 20.0)
    lg = above & (pop.tier == Tier.LITTLE_GIANT)
    assert row["above_size_firms"] == int(above.sum()) and 0 < row["above_size_firms"] < row["firms"]
    assert row["above_size_firms_little_giant"] == int(lg.sum()) > 0
    assert row["above_size_revenue_musd_little_giant"] == pytest.approx(float(pop.trailing(pop.rev_hist, q, 4)[lg].sum()))


def test_firms_above_designated_size_are_those_with_20_m_yuan_of_revenue(small_run):
    """The yearly count of firms above designated size (and of the Little Giants among them), at constant prices and
    with prices rising 5% a year (the size line is nominal); the summary's 2024 shares are None when the run stops
    before 2024."""
    _check_above_size(small_run.model)
    assert small_run.summary["little_giants_share_of_above_size_2024"] is None  # an 8-year run ends in 2022
    _check_above_size(run(small_config("years=8", "world.price_level_growth=0.05")).model)


def test_the_above_size_shares_are_the_little_giants_part_of_each_total():
    from sim.engine.national.recorder import above_size_shares

    row = {"above_size_firms": 400, "above_size_revenue_musd": 1000.0, "above_size_profit_musd": 0.0}
    row |= {"above_size_firms_little_giant": 12, "above_size_revenue_musd_little_giant": 60.0, "above_size_profit_musd_little_giant": 5.0}
    assert above_size_shares(row) == {"firms": 0.03, "revenue": 0.06, "profit": None}
    assert above_size_shares(None) is None


def test_every_title_granted_met_the_criteria_when_granted():
    """The property of the rare-earth world (tests/test_designation.py), on the national world's rounds."""
    from agents.government import meets_tier

    cfg = small_config("years=7")
    m = NationalModel(cfg)
    gov = m.government
    seen = []
    original = gov.yearly_round

    def checked_round():
        before = m.pop.tier.copy()
        ids = m.pop.firm_id.copy()
        metrics = gov.round_metrics()
        original()
        after = m.pop.tier
        new = np.flatnonzero((after > before) & (m.pop.firm_id == ids))
        crit = gov.policy.designation.criteria
        for t in np.unique(after[new]):
            rows = new[after[new] == t]
            sub = {k: v[rows] for k, v in metrics.items()}
            held = np.maximum(before[rows], int(t) - 1).astype(int)  # the tier held before the round (its lower tier counts)
            assert meets_tier(crit, Tier(int(t)), sub, held).all()
            seen.append(len(rows))

    gov._rounds.stop()
    gov._rounds = m.schedule_recurring(
        checked_round, type(gov._rounds.schedule)(interval=4.0, start=m.next_yearly_time(gov.policy.designation.round_quarter - 0.5))
    )
    m.run()
    assert sum(seen) > 0


def test_a_finished_national_run_is_freed_without_a_full_collection(monkeypatch):
    """release_run empties the national model too, so its firm columns are freed by reference counting at once."""
    import gc
    import weakref

    from sim.research import sweep

    result = run(small_config("years=1"))
    firms, column = weakref.ref(result.model.pop), weakref.ref(result.model.pop.capacity_t.base)
    collections = []
    monkeypatch.setattr(sweep.gc, "collect", lambda *a: collections.append(a) or 0)
    gc.disable()
    try:
        sweep.release_run(result)
        assert firms() is None and column() is None and collections == [] and not vars(result.model)
    finally:
        gc.enable()


def test_same_seed_same_run_and_another_seed_another():
    a = run(small_config("years=5")).model.recorder.timeseries()
    b = run(small_config("years=5")).model.recorder.timeseries()
    c = run(small_config("years=5", "seed=2")).model.recorder.timeseries()
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_a_national_run_writes_its_directory(tmp_path):
    args = ["scenario=national_programme", "national.scale=0.002", "years=6", "progress=false", f"output.dir={tmp_path / 'run'}"]
    r = run(compose(args))
    files = {p.name for p in r.run_dir.iterdir()}
    assert {
        "config.yaml",
        "summary.json",
        "manifest.json",
        "national.parquet",
        "provinces.parquet",
        "sectors.parquet",
        "reviews.parquet",
        "events.parquet",
        "firms.parquet",
    } <= files
    prov = pd.read_parquet(r.run_dir / "provinces.parquet")
    assert prov.groupby("year")["n_none"].sum().gt(0).all() and prov["province"].nunique() == 31
    from sim.research import analysis as an  # the analysis API reads a national run like any other

    with pytest.raises(ValueError, match="no national run writes the table 'timeseries'; these runs' tables: events, firms, national"):
        an.tidy(an.load_run(r.run_dir), "timeseries")
    with pytest.raises(ValueError, match="a run of the national world, which has no chain and so no timeline"):
        an.timeline_frame(an.load_run(r.run_dir))
    nat = an.tidy(an.load_run(r.run_dir), "national")
    assert list(nat.columns[:3]) == ["run", "scenario", "seed"] and set(nat["scenario"]) == {"national_programme"} and len(nat) == 6
    assert an.plot_national_pyramid(an.load_run(r.run_dir)).axes
    events = pd.read_parquet(r.run_dir / "events.parquet")
    assert set(events["kind"]) <= {"designated", "recommended", "review_passed", "review_failed", "revoked", "key_designated", "national_quota"}
    manifest = json.loads((r.run_dir / "manifest.json").read_text())
    assert set(manifest["files"]) == files - {"manifest.json"}  # every file the run wrote is recorded with its size
    again = run(compose([*args, "output.overwrite=true"]))  # a national run is a run: it can be replaced
    assert again.run_dir == r.run_dir and {p.name for p in again.run_dir.iterdir()} == files


def test_the_command_line_prints_the_pyramid_and_both_readings_of_the_capital_constraint(small_run):
    """python -m sim's table of a national run: a row per year with the tier counts of the recorder, then the Little
    Giants' R&D, patents (``-`` for 2025, a year this 8-year run does not reach) and the capital constraint on both of
    validate's readings (the measure as written, and the reported difficulty beside it)."""
    from sim.engine.run import national_summary_table

    text = national_summary_table(small_run)
    ts = small_run.model.recorder.timeseries()
    rows = [line for line in text.splitlines() if line[:4].isdigit()]
    assert [int(r.split()[0]) for r in rows] == ts["year"].tolist() == list(range(2015, 2023))
    last = rows[-1].replace(",", "").split()
    columns = ("firms", "n_innovation_type", "n_srdi", "n_little_giant", "n_key_little_giant")
    assert [int(x) for x in last[1:]] == [int(ts.iloc[-1][c]) for c in columns]
    s = small_run.summary
    written, reported = s["capital_constraint_lg_firms_2020_2025"], s["scaling_finance_difficulty_lg_firms_2020_2025"]
    assert written is not None and reported is not None and reported >= written
    assert "patents per Little Giant 2025: -;" in text
    assert f"finance-constrained 2020-2025: {written:.3f} (reporting difficulty" in text and text.rstrip().endswith(f"{reported:.3f})")


def test_a_measure_over_no_firms_is_null_in_the_summary(tmp_path):
    """A nation so small (national.scale 0.0001, seed 1) that no firm holds the Little Giant title at the end of 2025:
    patents per Little Giant have no value there, and summary.json, standard JSON, says null (not NaN)."""
    args = ["scenario=national_programme", "national.scale=0.0001", "progress=false", f"output.dir={tmp_path / 'run'}"]
    r = run(compose(args))

    def refuse(token):
        raise ValueError(f"{token} is not JSON")

    summary = json.loads((r.run_dir / "summary.json").read_text(), parse_constant=refuse)
    assert summary["pyramid"]["2025"]["little_giant"] == 0  # the case this test is about
    assert summary["patents_per_little_giant_2025"] is None and summary["invention_patents_per_little_giant_2025"] is None
    assert r.summary["patents_per_little_giant_2025"] is None  # in the run's own summary too (the command line prints "-")
    assert summary["little_giants_2025"] == 0 and summary["srdi_2024"] is not None


# --------------------------------------------------------------------------
# Calibration rules: who holds patents, firms starting R&D, niches
# --------------------------------------------------------------------------
def test_patent_holders_are_the_rd_firms_first():
    """With patents_follow_rd, a class's holder share goes to its R&D firms first: a share below the R&D share is held
    by R&D firms only, one above it by every R&D firm and the remainder of the others; the class's share is kept."""
    from sim.engine.national.world import _holding_given_rd

    share = np.array([0.15, 0.15, 0.40, 0.40])
    rd_share = np.array([0.3, 0.3, 0.3, 0.3])
    has_rd = np.array([True, False, True, False])
    p = _holding_given_rd(share, rd_share, has_rd)
    np.testing.assert_allclose(p, [0.5, 0.0, 1.0, 0.1 / 0.7])
    np.testing.assert_allclose(0.3 * p[[0, 2]] + 0.7 * p[[1, 3]], [0.15, 0.40])  # the class's expected share is unchanged
    m = NationalModel(small_config("national.scale=0.01"))
    pop = m.pop
    others = pop.stage != [s.name for s in m.national.sectors].index(m.national.rare_earth_sector)
    rd = pop.rd_propensity[others] > 0
    inv = pop.patents_invention[others] > 0
    assert inv[rd].mean() > 0.2 and inv[~rd].sum() == 0  # every class's invention share is below its R&D share
    apart = NationalModel(small_config("national.scale=0.01", "national.firms.patents_follow_rd=false")).pop
    rd2, inv2 = apart.rd_propensity[others] > 0, apart.patents_invention[others] > 0
    assert inv2[~rd2].mean() > 0.01 and inv2[rd2].mean() < 0.1  # drawn apart from R&D: about the same share in both


def test_firms_without_rd_start_it_at_the_adoption_rate():
    """Yearly, each operating firm without R&D starts it with chance rd_adoption_per_year, at an intensity drawn as at the
    start; firms with R&D keep theirs, and exited firms do not start; 0 switches it off."""
    m = NationalModel(small_config("national.scale=0.01", "national.firms.rd_adoption_per_year=0.25"))
    pop = m.pop
    pop.phase[:10] = Phase.EXITED
    before = pop.rd_propensity.copy()
    none = (before <= 0) & pop.operating
    market.adopt_rd(m, np.random.default_rng(3))
    started = none & (pop.rd_propensity > 0)
    assert abs(started.sum() / none.sum() - 0.25) < 0.03
    assert np.all(pop.rd_propensity[before > 0] == before[before > 0])  # firms with R&D keep theirs
    assert np.all(pop.rd_propensity[:10][before[:10] <= 0] == 0.0)  # exited firms do not start
    assert np.median(pop.rd_propensity[started]) < 0.05 and pop.rd_propensity[started].max() <= 0.3
    off = NationalModel(small_config("national.scale=0.01", "national.firms.rd_adoption_per_year=0"))
    was = off.pop.rd_propensity.copy()
    market.adopt_rd(off, np.random.default_rng(3))
    np.testing.assert_array_equal(off.pop.rd_propensity, was)


@pytest.mark.parametrize("g", [0.0, 0.058])
def test_staff_follow_capacity_at_a_productivity_that_rises_each_quarter(g):
    """firms.labour_productivity_growth g: each quarter, capacity per employee and the wage rise by (1 + g) ^ 0.25 and
    operating firms' staff follow capacity at the new productivity (at least one person), so a firm of steady capacity
    sheds staff while the R&D staff share its R&D buys is unchanged; a firm that has exited keeps its last count;
    entrants start at the new productivity; 0 changes nothing."""
    m = NationalModel(small_config("national.scale=0.01", f"national.firms.labour_productivity_growth={g}"))
    pop, T = m.pop, m.tables
    pop.phase[:5] = Phase.EXITED
    pop.capacity_t[5] = 1e-3  # a firm too small for one person at any productivity
    cpe, emp, wage = pop.capacity_per_employee.copy(), pop.employees.copy(), T.wage_musd_per_employee_year.copy()
    emp0 = emp.copy()
    emp[5] = pop.capacity_t[5] / cpe[5]  # its staff at its own productivity, once recomputed
    for _ in range(8):  # two years
        market.raise_productivity(m, 0.25)
    np.testing.assert_allclose(pop.capacity_per_employee, cpe * (1 + g) ** 2)
    np.testing.assert_allclose(T.wage_musd_per_employee_year, wage * (1 + g) ** 2)
    assert m.productivity_index == pytest.approx((1 + g) ** 2)
    ops = np.flatnonzero(pop.operating)
    expected = np.maximum(emp[ops] / (1 + g) ** 2, 1.0) if g > 0 else emp0[ops]  # 0: the rule is off, nothing recomputed
    np.testing.assert_allclose(pop.employees[ops], expected)
    assert pop.employees[5] == (1.0 if g > 0 else emp0[5])
    np.testing.assert_array_equal(pop.employees[:5], emp[:5])
    big = ops[emp[ops] > 10]
    np.testing.assert_allclose(pop.employees[big] * T.wage_musd_per_employee_year[0], emp[big] * wage[0])  # the wage bill
    new = m.add_entrants(np.array([0, 0]), np.random.default_rng(1))
    assert np.all(pop.capacity_per_employee[new] >= 0.2 * (1 + g) ** 2 * m.national.market.capacity_headroom - 1e-9)


def test_the_criteria_read_rd_as_booked_and_the_lever_spends_what_books_the_aim():
    """firms.relabelled_rd_share s: the criteria read R&D as booked, spent / (1 - s), for the firms of every sector but the
    rare-earth one (whose R&D is the rare-earth world's, reported R&D already); a firm the R&D lever lifts spends
    (threshold + margin) x (1 - s): what books its aim; the talent refund is a share of booked R&D (the additional
    deduction's base: tests/test_kernels.py). s = 0: R&D as spent (no factor)."""
    from agents.government import rd_threshold_values

    m = NationalModel(small_config("national.scale=0.01", "years=6"))
    gov, pop, s = m.government, m.pop, m.national.firms.relabelled_rd_share
    assert s > 0
    re_sector = [x.name for x in m.national.sectors].index(m.national.rare_earth_sector)
    booked = gov.rd_booked()
    np.testing.assert_array_equal(booked[pop.stage == re_sector], 1.0)
    np.testing.assert_allclose(booked[pop.stage != re_sector], 1.0 / (1.0 - s))
    m.run()
    gov, pop = m.government, m.pop
    booked = gov.rd_booked()
    metrics = gov.round_metrics()
    here = pop.alive & (pop.phase == Phase.OPERATING)
    before = pop.rd_propensity.copy()
    gov._raise_rd(metrics, here, m.national.start_year + m.quarter // 4)
    lifted = np.flatnonzero(pop.rd_propensity != before)
    assert len(lifted) > 0
    rd_tax = m.rd_tax_now()
    tax = 1.0 if rd_tax is None else rd_tax[0][0]
    crit, margin = gov.policy.designation.criteria, gov.policy.designation.rd_raise.margin
    aims = {x + margin for t in DESIGNATED for x in rd_threshold_values(crit, t) if np.isfinite(x)}
    books = pop.rd_propensity[lifted] * tax * booked[lifted]  # the R&D intensity each lifted firm books
    assert all(any(abs(b - a) < 1e-9 for a in aims) for b in books)
    assert np.any(booked[lifted] > 1.0)  # lifted firms of the NBS-drawn sectors spend less than they book
    gov.apply_benefits()  # the talent refund is a share of R&D as booked
    here = pop.alive & (pop.bloc == gov.bloc)
    expect = float(np.sum(np.where(here, pop.talent_subsidy * pop.rd_spend, 0.0) * booked))
    assert expect > 0 and abs(gov.fiscal_q["talent_subsidy"] - expect) <= 1e-9 * expect
    off = NationalModel(small_config("national.scale=0.01", "national.firms.relabelled_rd_share=0"))
    assert off.government.rd_booked() is None


def test_niches_per_listed_multiplies_every_sector_but_the_rare_earth_one():
    one, six = (small_config("national.scale=0.01", f"national.niches_per_listed={k}") for k in (1, 6))
    a, b = niches_per_sector(one), niches_per_sector(six)
    re_sector = [s.name for s in one.national.sectors].index(one.national.rare_earth_sector)
    assert b[re_sector] == a[re_sector]
    rest = np.arange(len(a)) != re_sector
    assert np.all(np.abs(b[rest] - 6 * np.array([s.niches * 0.01 for s in one.national.sectors])[rest]) <= 0.5)


def test_mean_of_a_few_finite_columns_is_the_row_reduction_bit_for_bit():
    """The DiD's two-year means (sim.engine.national.recorder._mean_finite) add a few columns one by one: the bits of
    numpy's row reduction over the same columns, NaN entries left out and NaN where a row has none."""
    from sim.engine.national.recorder import _mean_finite

    rng = np.random.default_rng(5)
    a = rng.lognormal(-3.0, 1.0, (20_000, 11)).astype(np.float32)
    a[rng.random(a.shape) < 0.3] = np.nan
    a[rng.random(a.shape) < 0.05] = 0.0
    for first in range(9):
        for width in (1, 2, 3, 7, 8):
            x = a[:, first : first + width]
            ok = np.isfinite(x)
            n = ok.sum(axis=1)
            want = np.divide(np.where(ok, x, 0.0).sum(axis=1), n, out=np.full(len(x), np.nan), where=n > 0)
            got = _mean_finite(x)
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got.view(np.uint64), want.view(np.uint64))
