"""Plants leave a glut in merit order (markets.mothball_serves_orders; agents/firms.py mothball, keep_to_serve;
docs/ODD.md 7.1).

Plants due for care and maintenance (their cash cost uncovered for the set quarters) go dearest first, and only while the
plants left running, with the other blocs' spare output, can still make last quarter's orders on the bloc-stage; the
cheaper ones due stay on. Off (0): every plant due goes at once, which once took all of China's metal plants out in one
quarter and left the world without magnets.
"""

from __future__ import annotations

import numpy as np
import pytest
from _rule_helpers import bloc, flat_price, make_pop, stage, tables

from agents.firms import mothball

U = 0.95  # markets.max_utilisation


@pytest.fixture(scope="module")
def T():
    return tables()


def _pop(T, costs, blocs=None, orders=None):
    """West metal plants of 1,000 t/yr at the given unit costs (a quarter's potential: 1000 / 4 x 0.95 = 237.5 t), all
    due for care and maintenance in their next quarter below cost; ``orders``: last quarter's orders on each."""
    n = len(costs)
    b = np.full(n, bloc(T, "west")) if blocs is None else np.array([bloc(T, x) for x in blocs])
    pop = make_pop(n, bloc=b, stage=stage(T, "metal"), unit_cost_usd_per_kg=np.array(costs, dtype=float))
    pop.orders_t = np.array(orders if orders is not None else [200.0] * n, dtype=float)
    pop.uncovered_q[:] = 3
    return pop


def test_the_dearest_go_first_and_the_cheapest_that_serve_the_orders_stay(T):
    """Four plants due, 800 t ordered last quarter: three plants' potential (712.5 t) is short of it, four cover it, so
    all stay; with 450 t ordered two stay (the two cheapest), and the two dearest go."""
    price = flat_price(T, 10.0)  # below every cash cost
    pop = _pop(T, [40.0, 55.0, 45.0, 50.0])
    shut, _ = mothball(pop, T, price, 4, 0.7, 0.85, serve_orders=U)
    assert len(shut) == 0 and not pop.mothballed.any()
    np.testing.assert_array_equal(pop.uncovered_q, [4, 4, 4, 4])  # their count carries on: they stay due

    pop = _pop(T, [40.0, 55.0, 45.0, 50.0], orders=[150.0, 100.0, 100.0, 100.0])
    shut, _ = mothball(pop, T, price, 4, 0.7, 0.85, serve_orders=U)
    np.testing.assert_array_equal(np.sort(shut), [1, 3])  # 55 and 50 USD/kg go; 40 and 45 (475 t >= 450 t) stay


def test_spare_output_abroad_lets_them_all_go(T):
    """The same four Western plants, and a Chinese plant not due with 500 t of spare output a quarter: the West's 450 t
    of orders can move there, so all four go."""
    price = flat_price(T, 10.0)
    pop = _pop(T, [40.0, 55.0, 45.0, 50.0, 1.0], blocs=["west"] * 4 + ["china"], orders=[150.0, 100.0, 100.0, 100.0, 0.0])
    pop.capacity_t[4] = 500.0 * 4 / U
    pop.uncovered_q[4] = 0
    price[bloc(T, "china")] = 1e6  # covers the Chinese plant
    shut, _ = mothball(pop, T, price, 4, 0.7, 0.85, serve_orders=U)
    np.testing.assert_array_equal(np.sort(shut), [0, 1, 2, 3])


def test_without_the_rule_every_plant_due_goes(T):
    price = flat_price(T, 10.0)
    pop = _pop(T, [40.0, 55.0, 45.0, 50.0])
    shut, _ = mothball(pop, T, price, 4, 0.7, 0.85)
    np.testing.assert_array_equal(np.sort(shut), [0, 1, 2, 3])
