"""Unit tests of the firm rules (MODEL.md 5.2-5.3) on a handful of firms: agents.firms."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from _rule_helpers import bloc, flat_price, fresh_config, make_pop, stage, tables

from agents.firms import (
    PATENT_SLOTS,
    FirmPopulation,
    Phase,
    ProjectPhase,
    account,
    cash_cost,
    experience_factor,
    expire_patents,
    innovate,
    lapse_order,
    lapse_patents,
    learn,
    mothball,
    patent_slot,
    processing_cost,
    restart_funded,
    set_potential,
)


@pytest.fixture(scope="module")
def cfg():
    return fresh_config()


@pytest.fixture(scope="module")
def T():
    return tables()


@pytest.fixture(scope="module")
def T0(T):
    """The shipped tables without the cost floor of learning and innovation (every stage's ``cost_floor_share`` 0, the
    rule before it): base x index x experience x innovation."""
    return dataclasses.replace(T, cost_floor_share=np.zeros(T.S))


# ---------------------------------------------------------------------------
# Population store
# ---------------------------------------------------------------------------
def test_population_add_grow_compact_keeps_ids_and_order():
    pop = FirmPopulation(capacity=2)
    pop.add(3, capacity_t=[1.0, 2.0, 3.0])
    pop.add(2, capacity_t=[4.0, 5.0])  # grows beyond the initial capacity
    assert len(pop) == 5 and list(pop.firm_id) == [0, 1, 2, 3, 4]
    pop.phase[[1, 3]] = Phase.EXITED
    assert pop.compact() == 2
    assert list(pop.firm_id) == [0, 2, 4]
    np.testing.assert_array_equal(pop.capacity_t, [1.0, 3.0, 5.0])
    assert pop.row_of(4) == 2
    with pytest.raises(KeyError):
        pop.row_of(1)
    new = pop.add(1)
    assert pop.firm_id[new[0]] == 5  # ids are never reused
    with pytest.raises(KeyError):
        pop.add(1, no_such_column=1.0)


# ---------------------------------------------------------------------------
# Learning by doing (MODEL.md 5.2)
# ---------------------------------------------------------------------------
def test_learning_exponent_from_learning_rate(cfg, T):
    for s, name in enumerate(T.stages):
        lr = cfg.world.stages[name].learning_rate
        assert T.learning_b[s] == pytest.approx(-np.log2(1.0 - lr))


def test_experience_factor_doubling_cuts_cost_by_learning_rate(cfg, T):
    s = stage(T, "separation")
    lr = cfg.world.stages["separation"].learning_rate
    ref = 2000.0
    pop = make_pop(5, stage=s, experience_ref_t=ref, cum_output_t=ref * np.array([1.0, 2.0, 4.0, 0.5, 3.0]))
    f = experience_factor(pop, T)
    np.testing.assert_allclose(f[:4], [1.0, 1 - lr, (1 - lr) ** 2, 1 / (1 - lr)], rtol=1e-12)
    assert f[4] == pytest.approx(3.0 ** np.log2(1 - lr))


def test_zero_learning_rate_means_no_learning():
    T0 = tables("world.stages.mining.learning_rate=0.0")
    pop = make_pop(3, stage=0, experience_ref_t=100.0, cum_output_t=[1.0, 100.0, 1e6])
    np.testing.assert_allclose(experience_factor(pop, T0), 1.0)


def _random_plants(T, seed: int, n: int, innovation_low: float):
    """``n`` plants of random blocs and stages, cost indices, innovation factors (from ``innovation_low`` to 1) and
    experience."""
    rng = np.random.default_rng(seed)
    return make_pop(
        n,
        bloc=rng.integers(0, T.B, n),
        stage=rng.integers(0, T.S, n),
        cost_index=rng.uniform(0.8, 1.2, n),
        innovation_factor=rng.uniform(innovation_low, 1.0, n),
        cum_output_t=rng.uniform(10.0, 1e5, n),
        experience_ref_t=rng.uniform(10.0, 1e4, n),
    )


def test_processing_cost_of_some_rows_is_theirs_in_the_whole_population(T):
    """processing_cost(pop, T, rows) gives those rows the very numbers (bits) of the whole population's cost:
    do_investment values the rows it reads only."""
    pop = _random_plants(T, 3, 12, 0.9)
    rows = np.array([1, 4, 5, 11])
    assert processing_cost(pop, T, rows).tobytes() == processing_cost(pop, T)[rows].tobytes()
    assert experience_factor(pop, T, rows).tobytes() == experience_factor(pop, T)[rows].tobytes()


def test_processing_cost_is_base_x_index_x_experience_x_innovation(T0):
    T = T0
    s = stage(T, "metal")
    b = bloc(T, "west")
    pop = make_pop(
        3,
        bloc=b,
        stage=s,
        cost_index=[1.0, 1.2, 0.9],
        innovation_factor=[1.0, 0.8, 0.95],
        experience_ref_t=500.0,
        cum_output_t=[500.0, 1000.0, 250.0],
    )
    f = experience_factor(pop, T)
    expected = T.processing_cost_usd_per_kg[b, s] * np.array([1.0, 1.2, 0.9]) * f * np.array([1.0, 0.8, 0.95])
    np.testing.assert_allclose(processing_cost(pop, T), expected)
    assert processing_cost(pop, T)[0] == pytest.approx(T.processing_cost_usd_per_kg[b, s])


def test_cost_floor_learning_and_innovation_lower_only_the_cost_above_it(T, T0):
    """world.stages.<s>.cost_floor_share: base x index x (floor + (1 - floor) x experience x innovation); the
    rows' own numbers; however far experience and innovation go, the cost stays above floor x base x index."""
    fl = 0.4
    Tf = dataclasses.replace(T, cost_floor_share=np.full(T.S, fl))
    s, b = stage(T, "separation"), bloc(T, "china")
    idx = np.array([1.0, 1.2, 0.9, 1.1])
    pop = make_pop(
        4, bloc=b, stage=s, cost_index=idx, innovation_factor=[1.0, 0.5, 0.1, 1e-6], experience_ref_t=500.0, cum_output_t=[500.0, 1000.0, 5e4, 1e9]
    )
    f = experience_factor(pop, T)
    base = T.processing_cost_usd_per_kg[b, s]
    cost = processing_cost(pop, Tf)
    np.testing.assert_allclose(cost, base * idx * (fl + (1.0 - fl) * f * pop.innovation_factor), rtol=1e-12)
    assert cost[0] == pytest.approx(base)  # no experience beyond the reference, no innovation: the base cost
    assert np.all(cost > fl * base * idx) and cost[3] == pytest.approx(fl * base * idx[3], rel=1e-4)
    assert np.all(cost > processing_cost(pop, T0)[1:].min())  # the rule before goes below the floor
    rows = np.array([3, 1])
    assert processing_cost(pop, Tf, rows).tobytes() == cost[rows].tobytes()


def test_cost_floor_zero_is_the_rule_before_bit_for_bit(T, T0):
    pop = _random_plants(T, 5, 20, 0.3)
    assert T.cost_floor_share.all()  # the shipped world has a floor at every stage; T0 sets them to 0
    base = T0.processing_cost_usd_per_kg[pop.bloc, pop.stage]
    want = base * pop.cost_index * experience_factor(pop, T0) * pop.innovation_factor
    assert processing_cost(pop, T0).tobytes() == want.tobytes()


def test_cost_floor_holds_for_the_typical_entrant_too(T, T0):
    """Investors' new plant (entrant experience, index 1, no innovation) costs floor + (1 - floor) x its experience factor."""
    from sim.engine.investment import entrant_processing_cost

    fl = np.linspace(0.1, 0.7, T.S)
    Tf = dataclasses.replace(T, cost_floor_share=fl)
    ef = (T.entrant_experience_years / T.experience_ref_years) ** (-T.learning_b)
    np.testing.assert_allclose(entrant_processing_cost(Tf), T.processing_cost_usd_per_kg * (fl + (1.0 - fl) * ef)[None, :], rtol=1e-12)
    np.testing.assert_allclose(entrant_processing_cost(T0), T.processing_cost_usd_per_kg * ef[None, :], rtol=1e-15)


def test_cost_floor_is_read_from_the_stage_config(T):
    Tf = tables("world.stages.separation.cost_floor_share=0.5")
    s = stage(Tf, "separation")
    assert Tf.cost_floor_share[s] == 0.5
    others = np.arange(T.S) != s
    np.testing.assert_array_equal(Tf.cost_floor_share[others], T.cost_floor_share[others])
    # the shipped floors (conf/world/rare_earth_2015.yaml: the reagents and energy of a tonne, docs/ODD.md 7.6)
    assert dict(zip(T.stages, T.cost_floor_share.tolist())) == {"mining": 0.4, "separation": 0.4, "metal": 0.3, "magnet": 0.3}


# ---------------------------------------------------------------------------
# Quality ramp (learn)
# ---------------------------------------------------------------------------
def test_learn_quality_formula_and_cumulative_output(T):
    s, b = stage(T, "separation"), bloc(T, "west")
    pop = make_pop(1, bloc=b, stage=s, quality=0.5, capacity_t=1000.0, output_t=250.0, cum_output_t=3000.0)
    learn(pop, T, knowhow_ramp_effect=0.0)
    scale = T.quality_ramp_years[s] * 1000.0 * T.ramp_multiplier[b, s]
    assert pop.quality[0] == pytest.approx(1.0 - 0.5 * np.exp(-250.0 / scale))
    assert pop.cum_output_t[0] == pytest.approx(3250.0)


def test_learn_ramp_constant_means_63_percent_after_ramp_years_of_full_output(T):
    s, b = stage(T, "metal"), bloc(T, "china")
    T1 = dataclasses.replace(T, ramp_multiplier=np.ones_like(T.ramp_multiplier))
    cap = 800.0
    pop = make_pop(1, bloc=b, stage=s, quality=0.2, capacity_t=cap)
    quarters = int(round(T.quality_ramp_years[s] * 4))
    for _ in range(quarters):
        pop.output_t = cap / 4.0
        learn(pop, T1, 0.0)
    assert 1.0 - pop.quality[0] == pytest.approx(0.8 * np.exp(-1.0))


def test_learn_on_throughput_counts_what_the_plant_processed(T):
    """``world.innovation.quality_ramp_on_throughput``: the quarter's sellable output over the plant's quality (what it
    processed, off-specification batches too) drives the ramp; off, the sellable output alone (the rule before)."""
    s, b = stage(T, "separation"), bloc(T, "west")
    scale = T.quality_ramp_years[s] * 1000.0 * T.ramp_multiplier[b, s]
    rows = dict(bloc=b, stage=s, quality=[0.5, 0.8, 0.0], capacity_t=1000.0, output_t=[100.0, 100.0, 0.0], cum_output_t=3000.0)
    on, off = make_pop(3, **rows), make_pop(3, **rows)
    learn(on, T, 0.0, on_throughput=True)
    learn(off, T, 0.0)
    np.testing.assert_allclose(on.quality[:2], 1.0 - np.array([0.5, 0.2]) * np.exp(-np.array([200.0, 125.0]) / scale))
    np.testing.assert_allclose(off.quality[:2], 1.0 - np.array([0.5, 0.2]) * np.exp(-100.0 / scale))
    assert on.quality[2] == 0.0 and off.quality[2] == 0.0  # nothing sold at quality 0: nothing processed, no learning
    np.testing.assert_array_equal(on.cum_output_t, off.cum_output_t)  # experience (unit cost) still counts sellable output
    np.testing.assert_array_equal(on.cum_output_t, [3100.0, 3100.0, 3000.0])


def test_learn_on_throughput_a_plant_at_any_quality_closes_63_percent_in_ramp_years(T):
    """Run at full throughput (sellable output = capacity / 4 x quality), a plant closes 63% of its quality gap in
    ``quality_ramp_years`` whatever its quality at the start; on sellable output a plant at 0.2 takes far longer."""
    s, b = stage(T, "metal"), bloc(T, "china")
    T1 = dataclasses.replace(T, ramp_multiplier=np.ones_like(T.ramp_multiplier))
    cap = 800.0
    pops = {flag: make_pop(2, bloc=b, stage=s, quality=[0.2, 0.6], capacity_t=cap) for flag in (True, False)}
    for _ in range(int(round(T.quality_ramp_years[s] * 4))):
        for flag, pop in pops.items():
            pop.output_t = cap / 4.0 * pop.quality
            learn(pop, T1, 0.0, on_throughput=flag)
    np.testing.assert_allclose(1.0 - pops[True].quality, np.array([0.8, 0.4]) * np.exp(-1.0))
    assert (1.0 - pops[False].quality > 1.0 - pops[True].quality).all()
    assert 1.0 - pops[False].quality[0] > 0.8 * np.exp(-0.5)  # at 0.2, less than half the ramp's progress


def test_learn_quality_rises_never_exceeds_one(T):
    s = stage(T, "magnet")
    pop = make_pop(5, stage=s, quality=[0.0, 0.5, 0.99, 1.0, 0.3], output_t=[250.0, 1e12, 10.0, 500.0, 0.0])
    q0 = pop.quality.copy()
    learn(pop, T, 0.02)
    assert (pop.quality >= q0).all()
    assert (pop.quality <= 1.0).all()
    assert pop.quality[3] == 1.0
    assert pop.quality[4] == pytest.approx(0.3)  # no output, no learning


def test_learn_faster_with_lower_ramp_multiplier(T):
    s = stage(T, "separation")
    cn, we = bloc(T, "china"), bloc(T, "west")
    assert T.ramp_multiplier[cn, s] < T.ramp_multiplier[we, s]  # know-how missing in the west (world file)
    pop = make_pop(2, bloc=[cn, we], stage=s, quality=0.5, output_t=250.0)
    learn(pop, T, 0.0)
    assert pop.quality[0] > pop.quality[1] > 0.5


def test_learn_extra_ramp_multiplier_slows_ramp(T):
    s, b = stage(T, "magnet"), bloc(T, "west")
    extra = np.ones((T.B, T.S))
    extra[b, s] = 3.0
    a = make_pop(1, bloc=b, stage=s, quality=0.5, output_t=200.0)
    c = make_pop(1, bloc=b, stage=s, quality=0.5, output_t=200.0)
    learn(a, T, 0.0)
    learn(c, T, 0.0, extra)
    assert 0.5 < c.quality[0] < a.quality[0]


def test_learn_knowledge_speeds_ramp(T):
    s = stage(T, "metal")
    pop = make_pop(2, stage=s, quality=0.5, output_t=200.0, knowledge=[0.0, 50.0])
    learn(pop, T, 0.05)
    assert pop.quality[1] > pop.quality[0]


def test_learn_leaves_quality_of_non_operating_firms(T):
    pop = make_pop(2, stage=1, quality=0.4, output_t=100.0, phase=[Phase.PROJECT, Phase.EXITED])
    learn(pop, T, 0.0)
    np.testing.assert_array_equal(pop.quality, [0.4, 0.4])


# ---------------------------------------------------------------------------
# Sellable output (set_potential)
# ---------------------------------------------------------------------------
def test_set_potential_rules(T):
    s, b = stage(T, "magnet"), bloc(T, "china")
    price = flat_price(T, 50.0)
    tol = 0.1
    pop = make_pop(
        7,
        bloc=b,
        stage=s,
        capacity_t=4000.0,
        quality=[0.9, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        phase=[Phase.OPERATING, Phase.PROJECT, Phase.EXITED, Phase.OPERATING, Phase.OPERATING, Phase.OPERATING, Phase.OPERATING],
        qualified=[True, True, True, False, True, True, True],
        unit_cost_usd_per_kg=[40.0, 40.0, 40.0, 40.0, 50.0 / (1 - tol) + 1e-6, 50.0 / (1 - tol) - 1e-6, 55.0],
    )
    set_potential(pop, T, 0.95, price, tol)
    expected = np.array([4000 / 4 * 0.95 * 0.9, 0, 0, 0, 0, 1000 * 0.95, 1000 * 0.95])
    np.testing.assert_allclose(pop.potential_t, expected)


def test_set_potential_without_tolerance_idles_plants_above_price(T):
    s = stage(T, "mining")
    price = flat_price(T, 3.0)
    pop = make_pop(3, stage=s, capacity_t=400.0, unit_cost_usd_per_kg=[2.9, 3.0, 3.01])
    set_potential(pop, T, 1.0, price, 0.0)
    np.testing.assert_allclose(pop.potential_t, [100.0, 100.0, 0.0])


def test_set_potential_uses_own_bloc_price(T):
    s = stage(T, "metal")
    price = flat_price(T, 60.0)
    price[bloc(T, "west"), s] = 40.0
    pop = make_pop(2, bloc=[bloc(T, "china"), bloc(T, "west")], stage=s, unit_cost_usd_per_kg=50.0)
    set_potential(pop, T, 1.0, price, 0.0)
    assert pop.potential_t[0] > 0 and pop.potential_t[1] == 0


# ---------------------------------------------------------------------------
# Mothballing (mothball, cash_cost)
# ---------------------------------------------------------------------------
def _glut_pop(T, costs):
    """West metal plants with the given variable unit costs."""
    return make_pop(len(costs), bloc=bloc(T, "west"), stage=stage(T, "metal"), capacity_t=1000.0, unit_cost_usd_per_kg=costs)


def test_cash_cost_adds_the_avoidable_fixed_cost_per_kg_at_target_utilisation(T):
    b, s = bloc(T, "west"), stage(T, "metal")
    pop = _glut_pop(T, [40.0])
    per_kg = T.fixed_cost_share[b, s] * T.capex_musd_per_kt[b, s]  # M USD per kt per year = USD per kg of nameplate
    np.testing.assert_allclose(cash_cost(pop, T, 0.7, 0.85), 40.0 + 0.7 * per_kg / 0.85)
    np.testing.assert_allclose(cash_cost(pop, T, 0.0, 0.85), 40.0)


def test_plants_below_cash_cost_for_the_set_quarters_mothball_and_restart_when_covered(T):
    """Three plants, price 50: one covers its cash cost, one is below it, one is not yet qualified. After two
    quarters below, the second mothballs (offers nothing); it restarts the quarter the price covers it again."""
    pop = _glut_pop(T, [40.0, 49.9, 49.9])
    pop.qualified[2] = False  # in buyer qualification: left alone
    price = flat_price(T, 50.0)
    shut, restart = mothball(pop, T, price, 2, 0.7, 0.85)
    assert len(shut) == 0 and len(restart) == 0
    np.testing.assert_array_equal(pop.uncovered_q, [0, 1, 0])
    shut, restart = mothball(pop, T, price, 2, 0.7, 0.85)
    np.testing.assert_array_equal(shut, [1])
    np.testing.assert_array_equal(pop.mothballed, [False, True, False])
    set_potential(pop, T, 1.0, price, 0.1)
    assert pop.potential_t[0] > 0 and pop.potential_t[1] == 0.0  # covers its variable cost, but is mothballed
    assert mothball(pop, T, price, 2, 0.7, 0.85)[1].size == 0  # still below: stays mothballed
    high = flat_price(T, 49.9) + cash_cost(pop, T, 0.7, 0.85)[1] - 49.9  # exactly its cash cost
    shut, restart = mothball(pop, T, high, 2, 0.7, 0.85)
    np.testing.assert_array_equal(restart, [1])
    assert not pop.mothballed.any()


def test_a_restart_premium_holds_a_mothballed_plant_until_the_price_clears_its_cash_cost_by_it(T):
    """With a restart premium p a mothballed plant restarts when the price reaches (1 + p) x its cash cost, not at its
    cash cost: the band between the two triggers (Dixit 1989) stops a plant from cycling on a price that hovers there."""
    pop = _glut_pop(T, [49.9])
    low = flat_price(T, 50.0)
    for _ in range(2):
        mothball(pop, T, low, 2, 0.7, 0.85, restart_premium=0.1)
    assert pop.mothballed[0]
    cc = cash_cost(pop, T, 0.7, 0.85)[0]
    at_cost = flat_price(T, 49.9) + cc - 49.9
    assert mothball(pop, T, at_cost, 2, 0.7, 0.85, restart_premium=0.1)[1].size == 0 and pop.mothballed[0]
    just_below = flat_price(T, 49.9) + 1.1 * cc * (1 - 1e-9) - 49.9
    assert mothball(pop, T, just_below, 2, 0.7, 0.85, restart_premium=0.1)[1].size == 0
    cleared = flat_price(T, 49.9) + 1.1 * cc - 49.9
    np.testing.assert_array_equal(mothball(pop, T, cleared, 2, 0.7, 0.85, restart_premium=0.1)[1], [0])
    assert not pop.mothballed[0]


def _mothballed_firm(T, cash, debt, book=10.0):
    """One West metal plant of 1,000 t on care and maintenance (cost 49.9 USD/kg, no working capital held), with the
    given cash, debt and book plant (M USD)."""
    pop = _glut_pop(T, [49.9])
    low = flat_price(T, 50.0)
    for _ in range(2):
        mothball(pop, T, low, 2, 0.7, 0.85)
    assert pop.mothballed[0]
    pop.cash[0], pop.debt[0], pop.book_assets[0], pop.working_capital[0] = cash, debt, book, 0.0
    return pop


def test_a_restart_needs_cash_and_credit_room_for_its_working_capital_fixed_cost_and_interest(T, cfg):
    """restart_funded (the rule as shipped): cash + credit room (leverage limit x (book + construction + working
    capital, the restart's included) - debt) against the working capital the restart ties up + a quarter's fixed cost
    + a quarter's interest, worked by hand for one plant at the restart price of 100 USD/kg; the quarter's sales do
    not count, however wide their margin."""
    b, s = bloc(T, "west"), stage(T, "metal")
    fin = cfg.world.finance
    price = flat_price(T, 100.0)
    pop = _mothballed_firm(T, cash=0.0, debt=0.0, book=0.0)
    revenue_q = 1000.0 / 4.0 * 0.95 * pop.quality[0] * 100.0 / 1000.0  # M USD: potential output x price
    tie_up = fin.working_capital_share * 4.0 * revenue_q
    fixed_q = T.fixed_cost_share[b, s] * T.capex_musd_per_kt[b, s] * 1000.0 / 1000.0 / 4.0
    room = T.leverage_max[b] * tie_up  # lenders count the working capital the restart ties up
    need = tie_up + fixed_q - room  # cash the firm must hold (no debt: no interest)
    assert need > 0
    pop.cash[0] = need * (1 - 1e-6)
    assert not restart_funded(pop, T, fin, price, 0.95)[0]
    pop.cash[0] = need
    assert restart_funded(pop, T, fin, price, 0.95)[0]
    # debt at the credit limit leaves no room and adds a quarter's interest to what is needed
    pop.debt[0] = 50.0
    pop.book_assets[0] = 50.0 / T.leverage_max[b] - tie_up
    interest_q = 50.0 * T.interest_rate[b] / 4.0
    pop.cash[0] = tie_up + fixed_q + interest_q
    assert restart_funded(pop, T, fin, price, 0.95)[0]
    pop.cash[0] -= 1e-6
    assert not restart_funded(pop, T, fin, price, 0.95)[0]


def test_with_the_margin_a_restart_needs_cash_credit_room_and_the_quarters_margin_for_its_working_capital_and_buffer(T, cfg):
    """restart_funded with ``with_margin`` (markets.restart_counts_margin), worked by hand for one plant of 1,000 t at
    a restart price of 60 USD/kg (unit cost 49.9): cash + credit room (leverage limit x (book + construction +
    working capital, the restart's included) - debt) + the quarter's margin at potential output (sales - unit cost -
    fixed cost - interest - R&D, after tax where positive) against the working capital the restart ties up + the
    accounts' cash buffer (min_cash_quarters_of_fixed_cost x a quarter's fixed cost)."""
    b, s = bloc(T, "west"), stage(T, "metal")
    fin = cfg.world.finance
    price = flat_price(T, 60.0)
    pop = _mothballed_firm(T, cash=0.0, debt=0.0, book=0.0)
    pop.rd_propensity[0], pop.tax_rate[0] = 0.05, 0.25
    out = 1000.0 / 4.0 * 0.95 * pop.quality[0]  # t a quarter at potential
    revenue_q = out * 60.0 / 1000.0  # M USD
    tie_up = fin.working_capital_share * 4.0 * revenue_q
    fixed_q = T.fixed_cost_share[b, s] * T.capex_musd_per_kt[b, s] * 1000.0 / 1000.0 / 4.0
    buffer = fin.min_cash_quarters_of_fixed_cost * fixed_q

    def need(debt: float, room: float) -> float:
        margin = revenue_q - out * 49.9 / 1000.0 - fixed_q - debt * T.interest_rate[b] / 4.0 - 0.05 * revenue_q
        margin = margin * 0.75 if margin > 0 else margin
        return tie_up + buffer - room - margin

    cash = need(0.0, T.leverage_max[b] * tie_up)  # lenders count the working capital the restart ties up
    assert cash > 0
    pop.cash[0] = cash * (1 - 1e-6)
    assert not restart_funded(pop, T, fin, price, 0.95, with_margin=True)[0]
    pop.cash[0] = cash * (1 + 1e-9)
    assert restart_funded(pop, T, fin, price, 0.95, with_margin=True)[0]
    # debt at the credit limit leaves no room, and its interest comes off the quarter's margin
    pop.debt[0] = 50.0
    pop.book_assets[0] = 50.0 / T.leverage_max[b] - tie_up
    cash = need(50.0, 0.0)
    pop.cash[0] = cash * (1 + 1e-9)
    assert restart_funded(pop, T, fin, price, 0.95, with_margin=True)[0]
    pop.cash[0] = cash * (1 - 1e-6)
    assert not restart_funded(pop, T, fin, price, 0.95, with_margin=True)[0]
    # a price that leaves a wide margin funds the restart out of the quarter's sales, with no cash at all (the rule as
    # shipped, without the margin, does not)
    pop.cash[0], pop.debt[0], pop.book_assets[0] = 0.0, 0.0, 0.0
    assert restart_funded(pop, T, fin, flat_price(T, 200.0), 0.95, with_margin=True)[0]
    assert not restart_funded(pop, T, fin, flat_price(T, 200.0), 0.95)[0]
    # China's R&D deduction raises the R&D the quarter spends: rd_factor per bloc
    pop.cash[0] = need(0.0, T.leverage_max[b] * tie_up) * (1 + 1e-9)
    factor = np.ones(T.B)
    factor[b] = 2.0
    assert (
        restart_funded(pop, T, fin, price, 0.95, with_margin=True)[0]
        and not restart_funded(pop, T, fin, price, 0.95, rd_factor=factor, with_margin=True)[0]
    )


def test_a_mothballed_plant_whose_firm_cannot_fund_the_restart_stays_on_care_and_maintenance(T, cfg):
    """The price covers its cash cost, but the firm holds no cash and owes all its lenders allow: it stays mothballed
    (its idle count goes on), and restarts the quarter it can (here: cash arrives). funded None: the rule before."""
    fin = cfg.world.finance
    b = bloc(T, "west")
    pop = _mothballed_firm(T, cash=0.0, debt=10.0 * T.leverage_max[b])
    price = flat_price(T, 100.0)
    idle = pop.idle_q[0]
    funded = restart_funded(pop, T, fin, price, 0.95)
    assert not funded[0]
    assert mothball(pop, T, price, 2, 0.7, 0.85, funded=funded)[1].size == 0
    assert pop.mothballed[0] and pop.idle_q[0] == idle + 1
    pop.cash[0] = 100.0
    funded = restart_funded(pop, T, fin, price, 0.95)
    np.testing.assert_array_equal(mothball(pop, T, price, 2, 0.7, 0.85, funded=funded)[1], [0])
    assert not pop.mothballed[0] and pop.idle_q[0] == 0
    broke = _mothballed_firm(T, cash=0.0, debt=10.0 * T.leverage_max[b])
    both = make_pop(2)
    for name in ("bloc", "stage", "capacity_t", "quality", "cash", "debt", "book_assets", "working_capital", "unit_cost_usd_per_kg"):
        getattr(both, name)[:] = [getattr(broke, name)[0], getattr(pop, name)[0]]
    for margin in (False, True):  # rows=: the same answer on those rows only
        whole = restart_funded(both, T, fin, price, 0.95, with_margin=margin)
        np.testing.assert_array_equal(restart_funded(both, T, fin, price, 0.95, with_margin=margin, rows=np.array([1])), whole[[1]])
    np.testing.assert_array_equal(restart_funded(both, T, fin, price, 0.95), [False, True])
    np.testing.assert_array_equal(mothball(broke, T, price, 2, 0.7, 0.85)[1], [0])  # the rule before: the price alone


def test_a_quarter_covered_resets_the_count(T):
    pop = _glut_pop(T, [49.9])
    low, high = flat_price(T, 50.0), flat_price(T, 100.0)
    for price in (low, low, high, low, low):
        shut, _ = mothball(pop, T, price, 3, 0.7, 0.85)
        assert len(shut) == 0
    assert pop.uncovered_q[0] == 2


def test_a_held_state_floor_counts_as_the_price(T):
    pop = _glut_pop(T, [49.9, 49.9])
    price = flat_price(T, 50.0)
    for _ in range(2):
        shut, _ = mothball(pop, T, price, 2, 0.7, 0.85, row_floor=np.array([110.0, 0.0]))
    np.testing.assert_array_equal(pop.mothballed, [False, True])


def test_without_mothballing_nothing_changes(T):
    pop = _glut_pop(T, [49.9])
    for _ in range(10):
        shut, restart = mothball(pop, T, flat_price(T, 1.0), 0, 0.7, 0.85)
        assert len(shut) == 0 and len(restart) == 0
    assert not pop.mothballed[0] and pop.uncovered_q[0] == 0


def test_a_mothballed_plant_pays_care_and_maintenance_only(T, cfg):
    pop = _glut_pop(T, [49.9, 49.9])
    pop.mothballed[1] = True
    cash0 = pop.cash.copy()
    account(pop, T, 3, cfg.world.finance, flat_price(T), mothball_fixed_cost_saved=0.7)
    np.testing.assert_allclose(pop.fixed_cost[1], 0.3 * pop.fixed_cost[0])
    flows = pop.revenue - pop.costs - pop.tax + pop.grants - pop.capex - pop.working_capital_in + pop.net_borrowing - pop.dividends
    np.testing.assert_allclose(pop.cash - cash0, flows, atol=1e-12)


# ---------------------------------------------------------------------------
# Accounts (MODEL.md 3 step 3, 5.3)
# ---------------------------------------------------------------------------
def _account_pop(T):
    """Six firms covering profit, loss, construction, credit exhaustion, grants and outside equity."""
    s = stage(T, "metal")
    cn, we = bloc(T, "china"), bloc(T, "west")
    return make_pop(
        6,
        bloc=[cn, we, cn, we, cn, we],
        stage=s,
        capacity_t=[2000.0, 1000.0, 500.0, 1500.0, 800.0, 300.0],
        output_t=[450.0, 0.0, 100.0, 300.0, 150.0, 0.0],
        input_cost=[20.0, 0.0, 6.0, 30.0, 8.0, 0.0],
        cash=[50.0, 0.5, 1.0, 0.0, 5.0, 0.0],
        debt=[10.0, 2.0, 3.4, 30.0, 0.0, 0.0],
        book_assets=[40.0, 10.0, 5.0, 20.0, 10.0, 10.0],
        plant_life_left=[0.5, 0.5, 0.01, 1.0, 1.0, 1.0],  # firm 2: in its last quarter of life, written off whole
        cip=[0.0, 0.0, 0.0, 0.0, 0.0, 3.0],
        rd_propensity=[0.03, 0.02, 0.5, 0.04, 0.02, 0.02],
        grants=[0.0, 0.0, 0.0, 0.0, 2.0, 0.0],
        rd_grants=[0.0, 0.0, 0.0, 0.0, 1.0, 0.0],
        equity_in=[0.0, 0.0, 0.0, 0.0, 0.0, 1.0],
        proj_phase=[ProjectPhase.NONE, ProjectPhase.NONE, ProjectPhase.NONE, ProjectPhase.NONE, ProjectPhase.NONE, ProjectPhase.CONSTRUCTION],
        proj_capex_left=[0.0, 0.0, 0.0, 0.0, 0.0, 12.0],
        proj_remaining_q=[0.0, 0.0, 0.0, 0.0, 0.0, 4.0],
        tax_rate=[0.25, 0.25, 0.15, 0.25, 0.25, 0.25],
    )


def _run_account(T, cfg, pop, price=None):
    before = {k: getattr(pop, k).copy() for k in ("cash", "debt", "book_assets", "plant_life_left", "cip", "working_capital")}
    account(pop, T, 3, cfg.world.finance, flat_price(T) if price is None else price)
    return before


def test_account_cash_identity_per_firm(T, cfg):
    pop = _account_pop(T)
    before = _run_account(T, cfg, pop)
    # outside equity is paid in at the finance gate, not in the accounts (firm 5 has equity_in = 1 pending)
    flows = pop.revenue - pop.costs - pop.tax + pop.grants - pop.capex - pop.working_capital_in + pop.net_borrowing - pop.dividends
    np.testing.assert_allclose(pop.cash - before["cash"], flows, atol=1e-12)
    np.testing.assert_allclose(pop.working_capital - before["working_capital"], pop.working_capital_in, atol=1e-12)
    np.testing.assert_allclose(pop.debt - before["debt"], pop.net_borrowing, atol=1e-12)
    np.testing.assert_allclose(pop.costs, pop.input_cost + pop.opex + pop.fixed_cost + pop.interest + pop.rd_spend)


def test_account_revenue_and_cost_components(T, cfg):
    pop = _account_pop(T)
    price = flat_price(T)
    proc = processing_cost(pop, T)
    before = _run_account(T, cfg, pop, price)
    np.testing.assert_allclose(pop.revenue, pop.output_t * price[pop.bloc, pop.stage] / 1000.0)
    np.testing.assert_allclose(pop.opex, pop.output_t * proc / 1000.0)
    np.testing.assert_allclose(pop.interest, before["debt"] * T.interest_rate[pop.bloc] / 4.0)
    np.testing.assert_allclose(
        pop.fixed_cost, T.fixed_cost_share[pop.bloc, pop.stage] * T.capex_musd_per_kt[pop.bloc, pop.stage] * pop.capacity_t / 4000.0
    )
    # composite straight line: the book plant over the quarters of life left on it, the whole book in its last quarter;
    # construction in progress is not depreciated
    quarters = cfg.world.finance.depreciation_years * 4.0
    straight = before["book_assets"] / (before["plant_life_left"] * quarters)
    np.testing.assert_allclose(pop.depreciation[[0, 1, 3, 4, 5]], straight[[0, 1, 3, 4, 5]])
    np.testing.assert_allclose(pop.depreciation[[0, 3]], [80.0 / quarters, 20.0 / quarters])  # plant at cost 80 and 20
    assert pop.depreciation[2] == before["book_assets"][2] and pop.book_assets[2] == 0.0
    np.testing.assert_allclose(pop.plant_life_left, np.maximum(before["plant_life_left"] - 1.0 / quarters, 0.0))
    np.testing.assert_allclose(pop.book_assets, before["book_assets"] - pop.depreciation)
    assert pop.capex[5] > 0
    np.testing.assert_allclose(pop.cip, before["cip"] + pop.capex)


def test_an_expansion_is_written_off_over_its_own_life_not_by_the_old_plants_cost(T, cfg):
    """A plant that cost 60, half written off (book 30), completes an expansion that cost 40: the book of 70 is written
    off over the value-weighted life left on it, (30 x 30 + 40 x 60) / 70 = 47.1 quarters, at a constant charge and
    in total exactly once. The rule before (plant at cost 100 / 60 a quarter) wrote it off in 42 quarters, the
    expansion's cost in fewer than its own 60."""
    from agents.investment import complete_construction

    quarters = cfg.world.finance.depreciation_years * 4.0
    pop = make_pop(1, bloc=bloc(T, "china"), stage=stage(T, "magnet"), capacity_t=1000.0, book_assets=30.0, plant_life_left=0.5, cash=1e4)
    pop.cip[0], pop.proj_phase[0], pop.proj_nameplate_t[0] = 40.0, ProjectPhase.CONSTRUCTION, 500.0
    complete_construction(pop, np.array([0]), T, 0)
    assert pop.book_assets[0] == 70.0 and pop.cip[0] == 0.0
    assert pop.plant_life_left[0] == pytest.approx((30.0 * 0.5 + 40.0) / 70.0)
    charges = []
    for step in range(int(quarters) + 8):
        pop.proj_phase[0] = ProjectPhase.NONE  # the accounts alone (no ramp-up): output 0, the plant depreciates
        account(pop, T, step, cfg.world.finance, flat_price(T))
        charges.append(float(pop.depreciation[0]))
    charges = np.array(charges)
    paid = charges[charges > 0]
    life_q = (30.0 * 30.0 + 40.0 * 60.0) / 70.0
    assert len(paid) == int(np.ceil(life_q))  # 47 full charges and the remainder
    np.testing.assert_allclose(paid[:-1], 70.0 / life_q)
    assert paid.sum() == pytest.approx(70.0) and pop.book_assets[0] == pytest.approx(0.0, abs=1e-9)


def test_account_tax_only_on_positive_profit(T, cfg):
    pop = _account_pop(T)
    _run_account(T, cfg, pop)
    pbt = pop.revenue + pop.grants - pop.costs - pop.depreciation
    assert (pbt > 0).any() and (pbt < 0).any(), "the handful must include both profit and loss"
    np.testing.assert_allclose(pop.tax, np.where(pbt > 0, pbt * pop.tax_rate, 0.0))
    assert (pop.tax >= 0).all()
    np.testing.assert_allclose(pop.profit, pbt - pop.tax)


def test_account_borrowing_within_credit_room(T, cfg):
    pop = _account_pop(T)
    capex_left = pop.proj_capex_left.copy()
    remaining = pop.proj_remaining_q.copy()
    before = _run_account(T, cfg, pop)
    spend = np.where(pop.proj_phase == ProjectPhase.CONSTRUCTION, capex_left / np.maximum(remaining, 1.0), 0.0)
    np.testing.assert_allclose(pop.capex, spend)
    # lenders count plant, construction and the working capital after this quarter's change
    room = np.maximum(T.leverage_max[pop.bloc] * (before["book_assets"] + spend + pop.working_capital) - before["debt"], 0.0)
    assert (pop.net_borrowing <= room + 1e-12).all()
    # firm 3 (West, debt 30 > 0.6 x 20) has no room: it cannot borrow and ends with negative cash
    assert room[3] == 0.0 and pop.net_borrowing[3] <= 0.0 and pop.cash[3] < 0.0
    # the construction firm borrows exactly what its cash deficit needs, within room
    assert pop.net_borrowing[5] > 0 and pop.cash[5] == pytest.approx(0.0, abs=1e-12)


def test_working_capital_follows_sales_ties_up_cash_and_counts_with_lenders(T, cfg):
    """Working capital = working_capital_share x this quarter's revenue at an annual rate; its change comes out of
    cash (firm 0, rich, against the same firm without working capital) and lenders count it: firm 1, with no plant, no
    cash and a large input bill, borrows up to the leverage limit x its working capital; a firm that stops selling
    releases its working capital into cash (firm 2)."""
    s = stage(T, "magnet")
    fin0 = dataclasses.replace(cfg.world.finance, working_capital_share=0.0)
    share = cfg.world.finance.working_capital_share
    assert share > 0

    def firms():
        return make_pop(
            3,
            bloc=bloc(T, "china"),
            stage=s,
            output_t=[200.0, 200.0, 0.0],
            input_cost=[0.0, 100.0, 0.0],
            cash=[100.0, 0.0, 1.0],
            book_assets=[10.0, 0.0, 10.0],
            working_capital=[0.0, 0.0, 4.0],
        )

    pop, ref = firms(), firms()
    account(pop, T, 3, cfg.world.finance, flat_price(T))
    account(ref, T, 3, fin0, flat_price(T))
    np.testing.assert_allclose(pop.working_capital, share * 4.0 * pop.revenue)
    assert pop.working_capital_in[0] > 0
    assert pop.cash[0] == pytest.approx(ref.cash[0] - pop.working_capital_in[0] - (pop.dividends[0] - ref.dividends[0]))
    assert pop.net_borrowing[1] == pytest.approx(T.leverage_max[0] * pop.working_capital[1]) and ref.net_borrowing[1] == 0.0
    assert pop.working_capital[2] == 0.0 and pop.working_capital_in[2] == -4.0


def test_account_borrowing_capped_at_room_when_deficit_is_larger(T, cfg):
    s = stage(T, "magnet")
    pop = make_pop(
        1, bloc=bloc(T, "china"), stage=s, capacity_t=5000.0, output_t=0.0, cash=0.0, debt=1.0, book_assets=10.0, input_cost=100.0
    )  # a large bill, no revenue
    before = _run_account(T, cfg, pop)
    room = T.leverage_max[0] * before["book_assets"][0] - before["debt"][0]
    assert pop.net_borrowing[0] == pytest.approx(room)
    assert pop.cash[0] < 0  # the rest is an insolvency the exit rule deals with


def test_account_surplus_cash_repays_debt_above_buffer(T, cfg):
    pop = _account_pop(T)
    before = _run_account(T, cfg, pop)
    fin = cfg.world.finance
    buffer = fin.min_cash_quarters_of_fixed_cost * pop.fixed_cost
    # firm 0 is rich: it repays the configured share of its debt
    assert pop.net_borrowing[0] == pytest.approx(-fin.repayment_share * before["debt"][0])
    assert pop.cash[0] >= buffer[0]
    assert (pop.debt >= 0).all()


def _capital_structure_firms(T):
    """Four profitable Chinese magnet makers with plenty of cash: 0 without debt, 1 just above the target debt ratio,
    2 far above it, 3 without debt and cash below its target holding."""
    return make_pop(
        4,
        bloc=bloc(T, "china"),
        stage=stage(T, "magnet"),
        capacity_t=[1000.0, 1000.0, 1000.0, 1000.0],
        output_t=[200.0, 200.0, 200.0, 200.0],
        cash=[60.0, 60.0, 60.0, 0.5],
        debt=[0.0, 52.0, 200.0, 0.0],
        book_assets=[40.0, 40.0, 40.0, 40.0],
        plant_life_left=0.5,  # plant that cost 80, half written off
        rd_propensity=0.02,
    )


def test_target_capital_structure_repays_only_down_to_the_target_debt_ratio(T, cfg):
    """finance.target_capital_structure: surplus cash repays debt as before (repayment_share a quarter) but never below
    target_debt_ratio of cash, plant, construction and working capital: (debt - x) / (assets - x) = target."""
    fin = dataclasses.replace(cfg.world.finance, target_capital_structure=True, target_debt_ratio=0.5)
    off, on = _capital_structure_firms(T), _capital_structure_firms(T)
    account(off, T, 3, cfg.world.finance, flat_price(T))
    before = {k: getattr(on, k).copy() for k in ("debt", "book_assets", "cip")}
    account(on, T, 3, fin, flat_price(T))
    repaid_off, repaid_on = -off.net_borrowing, -on.net_borrowing
    assert repaid_off[1] > 0 and repaid_on[1] < repaid_off[1]  # firm 1: the cap binds
    cash_pre = on.cash - on.net_borrowing + on.dividends  # cash before this quarter's borrowing, repayment and dividends
    assets = before["book_assets"] + before["cip"] + on.working_capital + cash_pre
    t = fin.target_debt_ratio
    assert (before["debt"][1] - repaid_on[1]) / (assets[1] - repaid_on[1]) == pytest.approx(t, rel=1e-12)
    assert repaid_on[2] == pytest.approx(repaid_off[2], rel=1e-12) == pytest.approx(fin.repayment_share * 200.0)  # far above: as before
    assert repaid_on[0] == 0.0 and on.net_borrowing[3] == off.net_borrowing[3] > 0  # no debt to repay; a deficit borrows as before


def test_target_capital_structure_pays_owners_the_cash_above_the_target_holding(T, cfg):
    """A firm at or below the target debt ratio keeps target_cash_months_of_revenue of revenue (at least its buffer) and
    pays out the rest on top of the payout ratio's dividends; one above the target keeps its cash to repay; the cash
    identity still holds."""
    fin = dataclasses.replace(cfg.world.finance, target_capital_structure=True, target_debt_ratio=0.5, target_cash_months_of_revenue=2.0)
    off, on = _capital_structure_firms(T), _capital_structure_firms(T)
    account(off, T, 3, cfg.world.finance, flat_price(T))
    before = on.cash.copy()
    account(on, T, 3, fin, flat_price(T))
    keep = np.maximum(fin.min_cash_quarters_of_fixed_cost * on.fixed_cost, 2.0 / 3.0 * on.revenue)
    assert on.cash[0] == pytest.approx(keep[0], rel=1e-12) and off.cash[0] > 2.0 * keep[0]
    assert on.dividends[0] == pytest.approx(off.dividends[0] + off.cash[0] - keep[0], rel=1e-12)
    assert on.cash[2] == pytest.approx(off.cash[2], rel=1e-12) and on.dividends[2] == off.dividends[2]  # far above the target
    assert on.cash[3] == pytest.approx(off.cash[3], rel=1e-12) and on.cash[3] < keep[3]  # below its holding: nothing extra
    flows = on.revenue - on.costs - on.tax + on.grants - on.capex - on.working_capital_in + on.net_borrowing - on.dividends
    np.testing.assert_allclose(on.cash - before, flows, atol=1e-12)


def test_target_capital_structure_keeps_cash_for_a_project_in_the_pipeline(T, cfg):
    """A firm with a project being planned, financed, built or ramped up pays its owners nothing above the payout ratio's
    dividends: the cash is kept for the project (before, a plant under construction, whose revenue is 0, paid out all its
    cash above the buffer, and no Western greenfield project was ever completed with the lever on)."""
    fin = dataclasses.replace(cfg.world.finance, target_capital_structure=True, target_debt_ratio=0.5, target_cash_months_of_revenue=2.0)
    idle, busy = _capital_structure_firms(T), _capital_structure_firms(T)
    busy.proj_phase[:] = [ProjectPhase.CONSTRUCTION, ProjectPhase.FINANCING, ProjectPhase.RAMPUP, ProjectPhase.PLANNING]
    busy.proj_capex_left[0] = 10.0
    busy.proj_remaining_q[0] = 4
    account(idle, T, 3, fin, flat_price(T))
    account(busy, T, 3, fin, flat_price(T))
    assert idle.dividends[0] > 0.5 * 60.0  # idle: the cash above the holding goes to the owners
    assert idle.dividends[3] == 0.0 or idle.dividends[3] == pytest.approx(fin.payout_ratio * idle.profit[3])
    # busy: the payout ratio's dividends only (firm 3 has too little cash even for those; firm 2, debt 200 against
    # assets of about 100, no net assets to pay them from), the rest of the cash kept
    np.testing.assert_allclose(busy.dividends[:2], fin.payout_ratio * busy.profit[:2], rtol=1e-12)
    assert busy.profit[2] > 0 and busy.dividends[2] == 0.0
    assert busy.dividends[3] <= fin.payout_ratio * busy.profit[3] + 1e-12
    assert busy.cash[0] > 5.0 * idle.cash[0]  # firm 0 keeps its cash for the plant it is building


def test_account_rd_within_propensity_and_funds(T, cfg):
    pop = _account_pop(T)
    before = _run_account(T, cfg, pop)
    assert (pop.rd_spend <= pop.rd_propensity * pop.revenue + pop.rd_grants + 1e-12).all()
    assert pop.rd_spend[4] == pytest.approx(pop.rd_propensity[4] * pop.revenue[4] + 1.0)  # R&D grant spent on R&D
    operating = before["cash"] + pop.revenue - pop.input_cost - pop.opex - pop.fixed_cost - pop.interest - pop.working_capital_in
    room = np.maximum(T.leverage_max[pop.bloc] * (before["book_assets"] + pop.capex + pop.working_capital) - before["debt"], 0.0)
    funds = np.maximum(operating + room - pop.capex, 0.0)
    assert (pop.rd_spend <= funds + 1e-12).all()
    # firm 2 (propensity 0.5) is held back by funds, not by its propensity
    assert pop.rd_spend[2] == pytest.approx(funds[2])
    assert pop.rd_spend[2] < pop.rd_propensity[2] * pop.revenue[2]


def test_account_rd_answers_its_tax_price_and_the_deduction_comes_off_taxable_profit(T, cfg):
    """With the R&D tax terms (factor, deduction) per bloc: R&D = propensity x the bloc's factor x revenue (+ R&D
    grants, within funds), and tax = rate x max(profit before tax - deduction x R&D, 0); a bloc with factor 1 and
    deduction 0 is exactly as without the terms."""
    cn, we = bloc(T, "china"), bloc(T, "west")
    factor, deduction = np.ones(T.B), np.zeros(T.B)
    factor[cn], deduction[cn] = 1.25, 1.0
    ref, pop = _account_pop(T), _account_pop(T)
    account(ref, T, 3, cfg.world.finance, flat_price(T))
    account(pop, T, 3, cfg.world.finance, flat_price(T), rd_tax=(factor, deduction))
    china = pop.bloc == cn
    free = np.array([0, 4])  # Chinese firms whose funds do not hold their R&D back (firm 2's do: propensity 0.5)
    assert (pop.bloc[free] == cn).all() and (pop.rd_spend[free] > ref.rd_spend[free]).all()
    np.testing.assert_allclose(pop.rd_spend[free], pop.rd_propensity[free] * 1.25 * pop.revenue[free] + pop.rd_grants[free])
    pbt = pop.revenue + pop.grants - pop.costs - pop.depreciation
    np.testing.assert_allclose(pop.tax, pop.tax_rate * np.maximum(pbt - deduction[pop.bloc] * pop.rd_spend, 0.0))
    assert (pop.tax[china] < np.maximum(pbt[china], 0.0) * pop.tax_rate[china]).any(), "the deduction lowers some Chinese firm's tax"
    west = np.flatnonzero(pop.bloc == we)
    for k in ("rd_spend", "tax", "profit", "cash", "debt"):
        np.testing.assert_array_equal(getattr(pop, k)[west], getattr(ref, k)[west])


def test_rd_tax_terms_follow_the_deduction_schedule(T):
    """Tables.rd_extra_deduction steps at each scheduled year (0 before the first); the factor is the after-tax price of
    R&D in the start year over this year's, to the elasticity; no schedule anywhere: None (the accounts as before)."""
    assert T.rd_tax(2030.0, 2015.0, 1.0) is None
    cn = bloc(T, "china")
    years = [np.zeros(0) for _ in range(T.B)]
    shares = [np.zeros(0) for _ in range(T.B)]
    years[cn], shares[cn] = np.array([2008.0, 2018.0, 2021.0]), np.array([0.5, 0.75, 1.0])
    T2 = dataclasses.replace(T, rd_deduction_years=years, rd_deduction_share=shares)
    assert T2.rd_extra_deduction(2007.75)[cn] == 0.0
    assert T2.rd_extra_deduction(2017.75)[cn] == 0.5 and T2.rd_extra_deduction(2018.0)[cn] == 0.75
    assert T2.rd_extra_deduction(2040.0)[cn] == 1.0 and (np.delete(T2.rd_extra_deduction(2040.0), cn) == 0.0).all()
    tau = T.tax_rate[cn]
    factor, deduction = T2.rd_tax(2022.0, 2015.0, 1.0)
    assert factor[cn] == pytest.approx((1 - tau * 1.5) / (1 - tau * 2.0)) and deduction[cn] == 1.0
    assert (np.delete(factor, cn) == 1.0).all() and (np.delete(deduction, cn) == 0.0).all()
    assert T2.rd_tax(2022.0, 2015.0, 0.0)[0][cn] == 1.0  # no R&D response: the deduction alone
    assert T2.rd_tax(2016.0, 2015.0, 1.0)[0][cn] == 1.0  # the start year's deduction is the reference


def test_account_exited_firms_spend_no_rd(T, cfg):
    pop = make_pop(1, stage=1, output_t=100.0, cash=100.0, phase=Phase.EXITED, rd_propensity=0.1)
    _run_account(T, cfg, pop)
    assert pop.rd_spend[0] == 0.0


def test_account_construction_capex_sums_to_project_capex(T, cfg):
    pop = make_pop(
        1,
        stage=2,
        capacity_t=0.0,
        output_t=0.0,
        cash=100.0,
        proj_phase=ProjectPhase.CONSTRUCTION,
        proj_capex_musd=12.0,
        proj_capex_left=12.0,
        proj_remaining_q=5.0,
    )
    spent = []
    for q in range(5):
        account(pop, T, q, cfg.world.finance, flat_price(T))
        spent.append(pop.capex[0])
        pop.proj_remaining_q = pop.proj_remaining_q - 1.0  # what advance_projects does after accounts
    np.testing.assert_allclose(spent, [12.0 / 5] * 5)
    assert pop.proj_capex_left[0] == pytest.approx(0.0, abs=1e-12)


# ---------------------------------------------------------------------------
# Innovation (MODEL.md 5.3)
# ---------------------------------------------------------------------------
def _inn(cfg, **kw):
    return dataclasses.replace(cfg.world.innovation, **kw)


def test_knowledge_update_with_regional_spillover_and_group_sharing(T, cfg):
    r = {name: T.regions.index(name) for name in T.regions}
    inn = _inn(cfg, knowledge_depreciation=0.1, regional_spillover=0.2, zeta=0.0)
    rd = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    pop = make_pop(
        5,
        bloc=[0, 0, 0, 0, 1],
        stage=1,
        knowledge=10.0,
        rd_spend=rd,
        region=[r["inner_mongolia"]] * 3 + [r["jiangxi"], r["us"]],
        group=[0, -1, -1, 0, -1],
    )
    sharing = np.array([0.3, 0.3])
    innovate(pop, T, inn, np.random.default_rng(0), 0, sharing)
    spill = np.array([0.2 * (6 - 1) / 2, 0.2 * (6 - 2) / 2, 0.2 * (6 - 3) / 2, 0.0, 0.0])
    group = np.array([0.3 * 2.5, 0.0, 0.0, 0.3 * 2.5, 0.0])
    np.testing.assert_allclose(pop.knowledge, 0.9 * 10.0 + rd + spill + group)


def test_regional_spillover_only_from_same_region(T, cfg):
    inn = _inn(cfg, regional_spillover=0.5)
    r = T.regions.index
    regions = [r("sichuan"), r("sichuan"), r("eu"), r("rest_of_china")]

    def knowledge(rd_other):
        pop = make_pop(4, stage=2, region=regions, bloc=[0, 0, 1, 0], rd_spend=[1.0, 1.0, rd_other, rd_other])
        innovate(pop, T, inn, np.random.default_rng(1), 0, np.zeros(len(T.groups)))
        return pop.knowledge[:2].copy()

    np.testing.assert_array_equal(knowledge(0.0), knowledge(100.0))
    np.testing.assert_allclose(knowledge(0.0), 1.0 + 0.5 * 1.0)


def test_exited_firms_neither_spill_nor_count(T, cfg):
    inn = _inn(cfg, regional_spillover=0.5)
    reg = T.regions.index("jiangxi")
    pop = make_pop(3, stage=1, region=reg, rd_spend=[2.0, 4.0, 100.0], phase=[Phase.OPERATING, Phase.OPERATING, Phase.EXITED])
    innovate(pop, T, inn, np.random.default_rng(0), 0, np.zeros(len(T.groups)))
    np.testing.assert_allclose(pop.knowledge[:2], [2.0 + 0.5 * 4.0, 4.0 + 0.5 * 2.0])


def test_process_innovation_cuts_cost_within_bounds(T, cfg):
    n = 400
    sure = _inn(cfg, zeta=1e6, cost_cut_max=0.1)
    pop = make_pop(n, stage=3, rd_spend=1.0, innovation_factor=0.8)
    pop.phase[:10] = Phase.PROJECT  # projects do not innovate
    innovate(pop, T, sure, np.random.default_rng(2), 0, np.zeros(len(T.groups)))
    f = pop.innovation_factor
    np.testing.assert_array_equal(f[:10], 0.8)
    assert (f[10:] < 0.8).all() and (f[10:] >= 0.8 * 0.9).all()
    never = _inn(cfg, zeta=0.0)
    pop = make_pop(n, stage=3, rd_spend=1.0)
    innovate(pop, T, never, np.random.default_rng(2), 0, np.zeros(len(T.groups)))
    np.testing.assert_array_equal(pop.innovation_factor, 1.0)


def test_process_innovation_probability(T, cfg):
    n = 20000
    inn = _inn(cfg, zeta=0.3, innovation_scale_musd=2.0)
    pop = make_pop(n, stage=3, rd_spend=3.0, region=np.arange(n) % len(T.regions))
    inn = dataclasses.replace(inn, regional_spillover=0.0)
    innovate(pop, T, inn, np.random.default_rng(4), 0, np.zeros(len(T.groups)))
    p = 1 - np.exp(-0.3 * 3.0 / 2.0)
    share = (pop.innovation_factor < 1.0).mean()
    assert share == pytest.approx(p, abs=5 * np.sqrt(p * (1 - p) / n))


@pytest.mark.parametrize("bloc_name", ["china", "west"])
def test_patents_poisson_mean(T, cfg, bloc_name):
    n = 20000
    b = bloc(T, bloc_name)
    inn = _inn(cfg, invention_patents_per_musd=0.5, utility_patents_per_musd=1.5)
    rd = 1.2
    pop = make_pop(n, bloc=b, stage=3, rd_spend=rd)
    innovate(pop, T, inn, np.random.default_rng(7), 5, np.zeros(len(T.groups)))
    for col, rate in (("pat_inv", 0.5), ("pat_util", 1.5)):
        arr = getattr(pop, col)
        mean = rate * T.patent_multiplier[b] * rd
        assert arr[:, 5].mean() == pytest.approx(mean, abs=5 * np.sqrt(mean / n))
        assert arr[:, 5].var() == pytest.approx(mean, rel=0.1)  # Poisson: variance = mean
        assert (arr[:, 5] == np.round(arr[:, 5])).all()
        others = np.delete(arr, 5, axis=1)
        assert (others == 0).all()  # grants go to this year's cohort only


def test_no_rd_no_patents(T, cfg):
    pop = make_pop(50, stage=3, rd_spend=0.0)
    pop.rd_spend[:5] = 3.0
    pop.phase[:5] = Phase.EXITED  # exited firms' R&D does not count
    innovate(pop, T, cfg.world.innovation, np.random.default_rng(0), 0, np.zeros(len(T.groups)))
    assert pop.pat_inv.sum() == 0 and pop.pat_util.sum() == 0


def test_expire_patents_zeroes_only_lapsing_cohort():
    pop = make_pop(3)
    pop.pat_inv[:, :] = np.arange(PATENT_SLOTS)[None, :] + 1.0
    pop.pat_util[:, :] = 2.0
    expire_patents(pop, 27, 20, 20)  # year 27: the cohort of year 7 lapses in both classes
    assert (pop.pat_inv[:, 7] == 0).all() and (pop.pat_util[:, 7] == 0).all()
    np.testing.assert_array_equal(np.delete(pop.pat_inv, 7, axis=1), np.delete(np.arange(PATENT_SLOTS) + 1.0, 7)[None, :].repeat(3, 0))
    assert (np.delete(pop.pat_util, 7, axis=1) == 2.0).all()


def test_utility_patents_lapse_after_their_own_shorter_term():
    """Utility models are in force 10 years, inventions 20 (Patent Law of the PRC, art. 42): at the start of year 12 the
    utility cohort of year 2 lapses while the invention cohort of year 2 stays in force (it lapses in year 22)."""
    pop = make_pop(2)
    pop.pat_inv[:, patent_slot(2, pop.patent_slots)] = 5
    pop.pat_util[:, patent_slot(2, pop.patent_slots)] = 7
    for year in range(3, 12):
        expire_patents(pop, year, 20, 10)
    assert (pop.patents_utility == 7).all() and (pop.patents_invention == 5).all()  # nine years on: both in force
    expire_patents(pop, 12, 20, 10)
    assert (pop.patents_utility == 0).all() and (pop.patents_invention == 5).all()
    for year in range(13, 22):
        expire_patents(pop, year, 20, 10)
    assert (pop.patents_invention == 5).all()
    expire_patents(pop, 22, 20, 10)
    assert (pop.patents_invention == 0).all()


def test_model_expires_the_cohort_its_innovation_writes_next(monkeypatch):
    """Grants of year Y go into slot Y of the cohort ring; at the start of year Y the invention cohort of year
    Y - patent_life_years and the utility cohort of year Y - utility_patent_life_years lapse: every cohort is in force
    exactly its term."""
    import sim.engine.accounts as accounts_mod  # innovation runs there
    import sim.engine.model as model_mod  # patents lapse in the model's start_of_year

    calls = []
    real_innovate, real_expire = accounts_mod.innovate, model_mod.expire_patents

    def spy_innovate(pop, T, inn, rng, year_slot, sharing):
        calls.append(("grant", m.quarter, year_slot))
        return real_innovate(pop, T, inn, rng, year_slot, sharing)

    def spy_expire(pop, year_index, inv_life, util_life):
        calls.append(("lapse", m.quarter + 1, (year_index, inv_life, util_life)))  # fires between quarters, before quarter + 1
        return real_expire(pop, year_index, inv_life, util_life)

    monkeypatch.setattr(accounts_mod, "innovate", spy_innovate)
    monkeypatch.setattr(model_mod, "expire_patents", spy_expire)
    m = model_mod.ChainModel(fresh_config("years=3", "world.innovation.patent_life_years=2", "world.innovation.utility_patent_life_years=1"))
    m.run()
    grants = [(q, slot) for kind, q, slot in calls if kind == "grant"]
    lapses = [(q, arg) for kind, q, arg in calls if kind == "lapse"]
    assert grants == [(q, patent_slot(q // 4, m.pop.patent_slots)) for q in range(12)]
    assert lapses == [(4 * y, (y, 2, 1)) for y in (1, 2)]


def test_seeded_patents_respect_patent_life():
    from sim.engine.model import ChainModel

    cfg = fresh_config("years=2")
    m = ChainModel(cfg)
    inn = cfg.world.innovation
    assert m.pop.pat_inv.sum() > 0 and m.pop.pat_util.sum() > 0  # incumbents hold patents
    # before the first quarter, the slot that year 0's grants go into must be empty (cohorts of a full term ago have lapsed)
    assert m.pop.pat_inv[:, patent_slot(0, m.pop.patent_slots)].sum() == 0 and m.pop.pat_util[:, patent_slot(0, m.pop.patent_slots)].sum() == 0
    # seeded cohorts reach back at most term - 1 years, each class its own term
    inv_years = [k for k in range(1, m.pop.patent_slots) if m.pop.pat_inv[:, patent_slot(-k, m.pop.patent_slots)].sum() > 0]
    util_years = [k for k in range(1, m.pop.patent_slots) if m.pop.pat_util[:, patent_slot(-k, m.pop.patent_slots)].sum() > 0]
    assert max(inv_years) == inn.patent_life_years - 1 and max(util_years) == inn.utility_patent_life_years - 1


def test_patents_lapse_at_their_blocs_yearly_rate():
    """Each patent in force is let lapse with its holder's bloc's yearly rate (annual fees unpaid, IP5 2012): a
    binomial thinning of every nonzero cohort of both classes; empty cohorts stay empty."""
    n = 20000
    T = tables()
    cn, west = bloc(T, "china"), bloc(T, "west")
    lapse = np.zeros(T.B)
    lapse[cn], lapse[west] = 0.109, 0.0424
    pop = make_pop(2 * n, bloc=np.repeat([cn, west], n))
    pop.pat_inv[:, patent_slot(3, pop.patent_slots)] = 10
    pop.pat_util[:, patent_slot(5, pop.patent_slots)] = 4
    lapse_patents(pop, lapse, np.random.default_rng(3), 6)
    for rows, p in ((slice(0, n), 0.109), (slice(n, 2 * n), 0.0424)):
        for arr, slot, k in ((pop.pat_inv, patent_slot(3, pop.patent_slots), 10), (pop.pat_util, patent_slot(5, pop.patent_slots), 4)):
            kept = arr[rows, slot]
            mean = k * (1 - p)
            assert kept.mean() == pytest.approx(mean, abs=5 * np.sqrt(k * p * (1 - p) / n))
            assert kept.var() == pytest.approx(k * p * (1 - p), rel=0.1)  # binomial, not a rounded share
            assert kept.min() >= 0 and kept.max() <= k
    assert (
        pop.pat_inv.sum() == pop.pat_inv[:, patent_slot(3, pop.patent_slots)].sum()
        and pop.pat_util.sum() == pop.pat_util[:, patent_slot(5, pop.patent_slots)].sum()
    )


def test_no_lapse_draws_nothing_and_keeps_every_patent():
    T = tables()
    pop = make_pop(5)
    pop.pat_inv[:, :] = 3
    pop.pat_util[:, 2] = 7
    before_inv, before_util = pop.pat_inv.copy(), pop.pat_util.copy()
    rng = np.random.default_rng(11)
    lapse_patents(pop, np.zeros(T.B), rng, 0)
    np.testing.assert_array_equal(pop.pat_inv, before_inv)
    np.testing.assert_array_equal(pop.pat_util, before_util)
    assert rng.random() == np.random.default_rng(11).random()  # the stream is untouched: a run without lapse is as before


def test_a_bloc_that_lets_every_patent_lapse_holds_only_this_years_grants():
    """With China's lapse at 1 every Chinese patent goes at each year's start, seeded ones included (none are seeded:
    a cohort still in force after k + 1 years of lapse is none), so at the end of year 1 China holds only year 1's
    grants, while the West keeps its seeded cohorts."""
    from sim.engine.model import ChainModel

    m = ChainModel(fresh_config("years=2", "world.blocs.china.patent_lapse_per_year=1.0"))
    cn = m.pop.bloc == bloc(m.tables, "china")
    assert m.pop.pat_inv[cn].sum() == 0 and m.pop.pat_util[cn].sum() == 0
    assert m.pop.pat_inv[~cn].sum() > 0
    m.run()
    cn = m.pop.bloc == bloc(m.tables, "china")
    held = np.flatnonzero(m.pop.pat_inv[cn].sum(axis=0) + m.pop.pat_util[cn].sum(axis=0))
    assert list(held) == [patent_slot(1, m.pop.patent_slots)]
    west_slots = np.flatnonzero(m.pop.pat_inv[~cn].sum(axis=0))
    assert len(west_slots) > 5


def test_a_world_holds_the_patent_ring_its_terms_need():
    """A population's patent ring is as long as the run's longer patent term (20 years by default), not the 40 the
    configuration allows: both patent columns are moved in every compaction and read whenever patents are counted."""
    from sim.engine.model import ChainModel
    from sim.engine.national.model import NationalModel

    assert ChainModel(fresh_config("years=1")).pop.patent_slots == 20
    assert ChainModel(fresh_config("years=1", "world.innovation.utility_patent_life_years=25")).pop.patent_slots == 25
    national = NationalModel(fresh_config("scenario=national_programme", "national.scale=0.002", "years=1"))
    assert national.pop.patent_slots == 20 and national.pop.pat_util.shape[1] == 20
    with pytest.raises(ValueError, match="patent_slots"):
        FirmPopulation(capacity=4, patent_slots=PATENT_SLOTS + 1)


@pytest.mark.parametrize("lapse", [0.0, 0.2])
def test_the_patent_rings_length_changes_no_number(monkeypatch, lapse):
    """The same run with the ring its terms need and with the 40-slot ring every population held before: the same
    patents in force per firm in every quarter, and the same accounts (a lapse draws its cohorts in the order of their
    years modulo 40 either way: agents.firms.lapse_order). Terms of 3 and 2 years, so that the 3-slot ring wraps
    within the run."""
    import sim.engine.world as world_mod
    from sim.engine.model import ChainModel

    def run(slots):
        if slots is not None:
            monkeypatch.setattr(world_mod, "patent_slots_for", lambda inn: slots)
        m = ChainModel(
            fresh_config(
                "years=5",
                "world.innovation.patent_life_years=3",
                "world.innovation.utility_patent_life_years=2",
                f"world.blocs.china.patent_lapse_per_year={lapse}",
                f"world.blocs.west.patent_lapse_per_year={lapse}",
            )
        )
        monkeypatch.undo()
        held = []
        for _ in range(m.n_steps):
            m.step()
            held.append((m.pop.firm_id.copy(), m.pop.patents_invention.copy(), m.pop.patents_utility.copy(), m.pop.cash.copy()))
        return m.pop.patent_slots, held

    (short, a), (long_, b) = run(None), run(PATENT_SLOTS)
    assert (short, long_) == (3, PATENT_SLOTS)
    for x, y in zip(a, b, strict=True):
        for u, v in zip(x, y, strict=True):
            np.testing.assert_array_equal(u, v)
    assert a[-1][1].sum() > 0


def test_lapse_order_is_the_cohorts_years_modulo_the_longest_ring():
    for year in (0, 3, 19, 20, 41, 57):
        for slots in (1, 7, 20, 40):
            order = lapse_order(year, slots)
            years = year - (year - np.arange(slots)) % slots  # the year each slot holds, the latest `slots` years
            assert sorted(order) == list(range(slots))
            assert list(years[order] % PATENT_SLOTS) == sorted(years % PATENT_SLOTS)
            assert all(patent_slot(y, slots) == j for j, y in enumerate(years))
    np.testing.assert_array_equal(lapse_order(57, PATENT_SLOTS), np.arange(PATENT_SLOTS))  # the full ring: its own order


def test_seeded_patents_in_force_thin_with_the_years_of_lapse():
    """Incumbents' seeded cohorts are what the bloc's lapse leaves: the cohort granted k + 1 years ago in force at
    (1 - lapse) ** (k + 1) of its rate (a thinned Poisson draw), the same firms with lapse 0 as the reference."""
    from sim.engine.model import ChainModel

    totals = {}
    for lapse in (0.0, 0.3):
        m = ChainModel(fresh_config("years=1", "world.scale=20", f"world.blocs.china.patent_lapse_per_year={lapse}"))
        cn = m.pop.bloc == bloc(m.tables, "china")
        totals[lapse] = np.array([m.pop.pat_util[cn, patent_slot(-1 - k, m.pop.patent_slots)].sum() for k in range(6)], dtype=float)
    ratio = totals[0.3] / totals[0.0]
    np.testing.assert_allclose(ratio, 0.7 ** np.arange(1, 7), rtol=0.15)


def test_national_seeding_spreads_patents_in_force_by_what_lapse_leaves():
    """The national world's patents in force (counts from the statistics) go to past cohorts evenly where patents are
    kept to term, else in proportion to (1 - lapse) ** (years since grant); every patent is placed."""
    from sim.engine.national.world import _seed_patents

    n, life, age = 4000, 20, 10.0
    for keep in (1.0, 0.8):
        pop = make_pop(n)
        counts = np.full(n, 50)
        _seed_patents(pop, np.arange(n), "pat_inv", counts, np.full(n, age), life, np.random.default_rng(5), keep)
        by_cohort = np.array([pop.pat_inv[:, patent_slot(-1 - k, pop.patent_slots)].sum() for k in range(life - 1)], dtype=float)
        assert by_cohort.sum() == counts.sum()
        assert (by_cohort[10:] == 0).all()  # no cohort older than the firm
        w = keep ** np.arange(1, 11)
        np.testing.assert_allclose(by_cohort[:10] / counts.sum(), w / w.sum(), rtol=0.05)


def test_exited_group_members_do_not_dilute_group_sharing(T, cfg):
    inn = _inn(cfg, regional_spillover=0.0)
    pop = make_pop(2, stage=1, group=0, rd_spend=[4.0, 0.0], phase=[Phase.OPERATING, Phase.EXITED])
    innovate(pop, T, inn, np.random.default_rng(0), 0, np.array([0.5, 0.5]))
    assert pop.knowledge[0] == pytest.approx(4.0 + 0.5 * 4.0)


# ---------------------------------------------------------------------------
# The store at scale: the fast paths give the very numbers of the plain formulas
# ---------------------------------------------------------------------------
def test_trailing_sums_bit_for_bit_as_numpy_sum():
    rng = np.random.default_rng(7)
    for n in (1, 3, 9, 1000):
        pop = make_pop(n)
        hist = rng.standard_normal((n, 8)) * 10.0 ** rng.integers(-3, 6, (n, 8))
        hist[rng.random((n, 8)) < 0.2] = -0.0
        pop.rev_hist[:] = hist
        for quarters in range(1, 9):
            for step, lag in ((0, 0), (5, 4), (13, 1)):
                idx = [(step - lag - k) % 8 for k in range(quarters)]
                want = np.ascontiguousarray(hist)[:, idx].sum(axis=1)  # the row-major sum the rules always used
                assert pop.trailing(pop.rev_hist, step, quarters, lag).tobytes() == want.tobytes()


def test_compact_moves_wide_columns_and_growth_keeps_rows():
    pop = FirmPopulation(capacity=4)
    rows = pop.add(10, capacity_t=np.arange(10.0))
    assert pop.capacity_rows >= 10 and pop.capacity_rows < 20  # grows by a quarter, not double
    pop.pat_inv[:] = np.arange(10 * PATENT_SLOTS).reshape(10, PATENT_SLOTS)
    pop.rev_hist[:] = np.arange(80.0).reshape(10, 8)
    before = {k: pop._data[k][:10].copy() for k in ("pat_inv", "rev_hist", "capacity_t", "firm_id")}
    pop.phase[[2, 3, 7]] = Phase.EXITED
    assert pop.compact() == 3
    keep = np.setdiff1d(rows, [2, 3, 7])
    for k, v in before.items():
        np.testing.assert_array_equal(getattr(pop, k), v[keep])
    assert pop.patents_invention.dtype == np.int64
    np.testing.assert_array_equal(pop.patents_invention, before["pat_inv"][keep].sum(axis=1))
    new = pop.add(1)
    assert pop.capacity_t[new[0]] == 0.0 and pop.pat_inv[new[0]].sum() == 0  # a new row starts from the defaults


def test_processing_cost_without_learning_is_the_formula(T, T0):
    shipped_floors = T.cost_floor_share
    T = T0
    pop = make_pop(5, cost_index=[0.7, 1.0, 1.3, 0.9, 1.1], innovation_factor=[1.0, 0.9, 0.8, 0.95, 0.85], cum_output_t=[1.0, 5e3, 1e5, 0.0, 7.0])
    flat = dataclasses.replace(T, learning_b=np.zeros(T.S))
    base = flat.processing_cost_usd_per_kg[pop.bloc, pop.stage]
    want = base * pop.cost_index * experience_factor(pop, flat) * pop.innovation_factor
    assert processing_cost(pop, flat).tobytes() == want.tobytes()
    # with the shipped floors and no learning: innovation acts on the cost above the floor alone
    floored = dataclasses.replace(flat, cost_floor_share=shipped_floors)
    fl = floored.cost_floor_share[pop.stage]
    np.testing.assert_allclose(processing_cost(pop, floored), base * pop.cost_index * (fl + (1.0 - fl) * pop.innovation_factor), rtol=1e-15)


def test_per_row_gives_a_scalar_only_for_a_uniform_float_table():
    from agents.firms import per_row

    rows = np.array([0, 0, 0])
    assert np.ndim(per_row(np.full((1, 3), 2.5), rows, np.array([0, 1, 2]))) == 0
    np.testing.assert_array_equal(per_row(np.array([[1.0, 2.0, 3.0]]), rows, np.array([2, 1, 0])), [3.0, 2.0, 1.0])
    mixed_zero = np.array([0.0, -0.0])  # equal, not the same bits: gathered
    assert per_row(mixed_zero, np.array([1])).shape == (1,)


def test_compact_moves_every_row_of_every_column_in_place():
    """Every column of every type and shape (bools, 1-, 2-, 4- and 8-byte integers, floats with -0.0 and NaN, row-major
    and quarter-major rings) keeps exactly the bits of its kept rows, in order."""
    rng = np.random.default_rng(3)
    pop = FirmPopulation(capacity=64)
    pop.add(50, capacity_t=rng.random(50))
    pop.pat_util[:] = rng.integers(0, 9, (50, PATENT_SLOTS))
    pop.prof_hist[:] = rng.random((50, 8))
    pop.capacity_t[[3, 7]] = [-0.0, np.nan]
    pop.mothballed[:] = rng.random(50) < 0.5
    pop.stage[:] = rng.integers(0, 4, 50)
    pop.niche[:] = rng.integers(0, 1000, 50)
    pop.proj_u[:] = rng.random((50, 5))
    before = {k: getattr(pop, k).copy() for k in pop.columns()}
    out = rng.random(50) < 0.3
    out[[0, 49]] = [False, True]
    pop.phase[out] = Phase.EXITED
    assert pop.compact() == out.sum()
    for k, v in before.items():
        assert getattr(pop, k).tobytes() == v[~out].tobytes(), k
