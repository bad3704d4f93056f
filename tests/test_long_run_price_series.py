"""The time series' long-run price (``long_run_price_usd_per_kg``): what a typical new plant of each bloc-stage needs
to earn its cost of capital at the input prices investors expect (sim.engine.investment.long_run_price, recorded by
sim.engine.metrics.price_series; docs/ODD.md 7.8)."""

from __future__ import annotations

import numpy as np
from _rule_helpers import fresh_config

from sim.engine import investment
from sim.engine.model import ChainModel


def _run(quarters: int) -> ChainModel:
    m = ChainModel(fresh_config("years=2"))
    for _ in range(quarters):
        m.step()
    return m


def test_the_recorded_long_run_price_is_the_quarters_investors_view():
    """Each quarter's row holds the long-run price at that quarter's investor view (input prices, discount rates and
    capital support), not a later or an earlier one."""
    m = ChainModel(fresh_config("years=2"))
    seen = []
    for _ in range(5):
        m.step()
        E = m.investor_view
        seen.append(investment.long_run_price(m, E.input_price, E.discount_rate, E.capex_support))
    recorded = np.array(m.recorder.series["long_run_price_usd_per_kg"])
    np.testing.assert_array_equal(recorded, np.array(seen))
    assert not np.array_equal(recorded[0], recorded[-1])  # it moves with the investors' view


def test_the_long_run_price_covers_a_new_plants_cash_cost_and_passes_inputs_on_by_content():
    """Above a new plant's cash cost (processing at the entrants' technology plus inputs at the expected price) by a
    positive capital charge; one more USD/kg of input adds input_per_t USD/kg."""
    m = _run(3)
    T, E = m.tables, m.investor_view
    p = investment.long_run_price(m, E.input_price, E.discount_rate, E.capex_support)
    cash = T.input_per_t[None, :] * E.input_price + investment.entrant_processing_cost(T, m.entrant_technology)
    assert (p > cash).all()
    dearer = investment.long_run_price(m, E.input_price + 1.0, E.discount_rate, E.capex_support)
    np.testing.assert_allclose(dearer - p, np.broadcast_to(T.input_per_t, p.shape), rtol=1e-9)
