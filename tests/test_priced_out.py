"""Rule tests: the final need the magnet price holds back, counted by investors (``investment.priced_out_share``;
sim.engine.investment.chain_long_run_price, priced_out_demand; docs/ODD.md 7.7, "Demand the price holds back")."""

from __future__ import annotations

import numpy as np
import pytest
from _rule_helpers import bloc, fresh_config, make_pop, stage, tables

from sim.engine import investment
from sim.engine.clearing import StageClearing
from sim.engine.demand import bloc_need, price_factor
from sim.engine.model import ChainModel

T = tables()
CHINA, WEST = bloc(T, "china"), bloc(T, "west")
MINING, MAGNET = stage(T, "mining"), stage(T, "magnet")
_MODEL: dict[float, ChainModel] = {}


def _model(share: float) -> ChainModel:
    """The world's model before its first quarter (price response of final demand on, as configured), with
    ``investment.priced_out_share`` = ``share`` and a hand-set magnet market in which every class was served."""
    if share not in _MODEL:
        _MODEL[share] = ChainModel(fresh_config("years=1", f"world.investment.priced_out_share={share}"))
    m = _MODEL[share]
    m.pop = make_pop(2, bloc=[CHINA, WEST], stage=MAGNET, orders_t=[130.0, 50.0])
    K = 2
    delivered = np.array([[80.0, 0.0], [50.0, 50.0]])
    m.last_clearing = {
        MAGNET: StageClearing(
            suppliers=np.arange(2),
            alloc=delivered.copy(),
            demand=delivered.sum(axis=1),
            unmet=np.zeros(K),
            class_bloc=np.array([WEST, CHINA]),
            landed=np.full((K, 2), 50.0),
            delivered=delivered,
            delivered_to_class=delivered.sum(axis=1),
            cost_to_class=delivered.sum(axis=1) * 50.0,
        )
    }
    m.security.premium = np.zeros((T.B, T.B))
    m.quarter, m.sales_expected, m.sales_smoothed, m.sales_expected_quarter = 0, None, None, -2
    return m


def _rates() -> np.ndarray:
    return T.base_rate[:, None] + T.risk_premium[:, None] + np.zeros((T.B, T.S))


def test_the_chain_long_run_price_takes_the_cheaper_of_the_input_price_and_building_upstream():
    """Mining: its long-run price. Each stage below: its processing and capital charge plus input_per_t x the lesser
    of the input price investors expect and the upstream stage's chain long-run price."""
    m = _model(1.0)
    rate = _rates()
    base = investment.long_run_price(m, np.zeros((T.B, T.S)), rate, None)
    for level in (0.01, 1e6):  # imports cheaper than any new upstream plant; inputs dearer than building them
        chain = investment.chain_long_run_price(m, np.full((T.B, T.S), level), rate, None)
        np.testing.assert_allclose(chain[:, MINING], base[:, MINING], rtol=1e-12)
        for s in range(1, T.S):
            want = base[:, s] + T.input_per_t[s] * np.minimum(chain[:, s - 1], level)
            np.testing.assert_allclose(chain[:, s], want, rtol=1e-12)
    cheap = investment.chain_long_run_price(m, np.full((T.B, T.S), 0.01), rate, None)
    dear = investment.chain_long_run_price(m, np.full((T.B, T.S), 1e6), rate, None)
    assert (dear[:, 1:] > cheap[:, 1:]).all()
    assert (dear < 1e5).all()  # a dear input is replaced by building its stage


def test_an_output_quota_upstream_keeps_the_input_price():
    """Where a national output quota is in force at the stage above, its price keeps its rent: the input counts at the
    price investors expect, however far above a new plant's long-run price."""
    m = _model(1.0)
    rate = _rates()
    dear = np.full((T.B, T.S), 1e6)
    free = investment.chain_long_run_price(m, dear, rate, None)
    m.instruments.output_cap_t = np.full((T.B, T.S), np.inf)
    m.instruments.output_cap_t[CHINA, MINING] = 1000.0
    try:
        capped = investment.chain_long_run_price(m, dear, rate, None)
    finally:
        m.instruments.output_cap_t = None
    assert capped[CHINA, MINING + 1] > 1e5 > free[CHINA, MINING + 1]
    np.testing.assert_array_equal(capped[WEST], free[WEST])


@pytest.mark.parametrize("share", [1.0, 0.5])
def test_priced_out_need_is_the_need_the_long_run_price_would_bring_back(share):
    """share x need x (f(p*) / f(p) - 1) where the magnet price is above the chain's long-run price; none where below."""
    m = _model(share)
    ref = T.reference_price_usd_per_kg[MAGNET]
    m.markets.price[:, MAGNET] = 3.0 * ref
    m.demand.update(m)
    D = m.world.demand
    assert D.short_run_elasticity > 0  # the world's demand answers the price
    m.chain_normal = np.full((T.B, T.S), 1.5 * ref)
    m.chain_normal[CHINA, MAGNET] = 4.0 * ref  # China's chain costs more than its price: nothing held back
    got = investment.priced_out_demand(m)
    need = bloc_need(m.buyers, T.B)
    f_star = price_factor(np.array(1.5), D.short_run_elasticity, D.product_cost_share, D.product_demand_elasticity)
    f_now = m.demand.price_factor[WEST]
    assert got[WEST] == pytest.approx(share * need[WEST] * (f_star / f_now - 1.0), rel=1e-12)
    assert got[WEST] > 0.0
    assert got[CHINA] == 0.0


def test_investors_count_it_at_the_magnet_stage_and_upstream():
    """Sales within reach: the magnet stage counts the need held back; upstream stages count
    derived_demand_share of it in their product, as they count the final buyers' unmet magnets."""
    m = _model(1.0)
    ref = T.reference_price_usd_per_kg[MAGNET]
    m.markets.price[:, MAGNET] = 3.0 * ref
    m.demand.update(m)
    m.input_feed = None
    m.chain_normal = None
    before = investment.sales_within_reach(m)
    m.chain_normal = np.full((T.B, T.S), 1.5 * ref)
    held = investment.priced_out_demand(m)
    after = investment.sales_within_reach(m)
    np.testing.assert_allclose(after[:, MAGNET] - before[:, MAGNET], held, rtol=1e-9)
    per_magnet = T.magnet_eq_per_t[MAGNET] / T.magnet_eq_per_t[MINING]
    share = m.world.investment.derived_demand_share
    np.testing.assert_allclose(after[:, MINING] - before[:, MINING], share * held * per_magnet, rtol=1e-9)
    assert held[WEST] > 0.0


def test_off_by_default_and_then_not_computed():
    """With the share 0 (the world's default) investors have no chain long-run price and count nothing held back."""
    m = ChainModel(fresh_config("years=1"))
    assert m.world.investment.priced_out_share == 0.0
    m.step()
    assert m.chain_normal is None
    np.testing.assert_array_equal(investment.priced_out_demand(m), np.zeros(T.B))
