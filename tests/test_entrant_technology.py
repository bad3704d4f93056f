"""A new firm's process technology (``investment.entrant_technology_share``; sim/engine/investment.py
``entrant_technology``, docs/ODD.md 7.7, Entry): a new plant starts with its bloc-stage's operating plants'
capacity-weighted innovation factor raised to the share, and investors price entry and the long-run price with it."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
from _rule_helpers import bloc, fresh_config, make_pop, stage, tables
from _sim_helpers import make_config

from agents.firms import Phase, processing_cost
from sim.engine.investment import entrant_processing_cost, entrant_technology
from sim.engine.model import ChainModel


def _model(T, share: float, pop):
    """The three things entrant_technology reads: the share, the tables and the firms."""
    world = SimpleNamespace(investment=SimpleNamespace(entrant_technology_share=share))
    return SimpleNamespace(world=world, tables=T, pop=pop)


@pytest.fixture(scope="module")
def T():
    return tables()


def _two_plants(T):
    """Two operating Chinese magnet plants (1,000 and 3,000 t/yr, innovation factors 0.5 and 0.9), a Chinese magnet
    firm still building its first plant (factor 0.1, no capacity) and a mothballed-free Western metal plant at 0.6."""
    c, w = bloc(T, "china"), bloc(T, "west")
    m, me = stage(T, "magnet"), stage(T, "metal")
    pop = make_pop(
        4,
        bloc=[c, c, c, w],
        stage=[m, m, m, me],
        capacity_t=[1000.0, 3000.0, 0.0, 500.0],
        innovation_factor=[0.5, 0.9, 0.1, 0.6],
    )
    pop.phase[2] = Phase.PROJECT
    return pop, (c, m), (w, me)


def test_a_new_plant_starts_at_the_capacity_weighted_factor_of_its_bloc_stage(T):
    pop, cm, wm = _two_plants(T)
    tech = entrant_technology(_model(T, 1.0, pop))
    assert tech.shape == (T.B, T.S)
    assert tech[cm] == pytest.approx((1000 * 0.5 + 3000 * 0.9) / 4000)  # the project without capacity does not count
    assert tech[wm] == pytest.approx(0.6)
    empty = np.ones((T.B, T.S), dtype=bool)
    empty[cm] = empty[wm] = False
    assert (tech[empty] == 1.0).all()  # no operating plant: the technology of the start


def test_the_share_interpolates_geometrically_and_zero_is_the_rule_before(T):
    pop, cm, _ = _two_plants(T)
    half = entrant_technology(_model(T, 0.5, pop))
    assert half[cm] == pytest.approx(0.8**0.5)
    assert entrant_technology(_model(T, 0.0, pop)) is None
    assert entrant_processing_cost(T, None).tobytes() == entrant_processing_cost(T).tobytes()


def test_the_typical_entrant_costs_what_such_a_firm_costs(T):
    """Investors' entrant (cost index 1, entrant experience) at technology x costs what processing_cost gives a firm
    with that experience and innovation factor, the cost floor included."""
    s = stage(T, "magnet")
    tech = np.full((T.B, T.S), 0.7)
    want = entrant_processing_cost(T, tech)
    for b in range(T.B):
        pop = make_pop(1, bloc=b, stage=s, capacity_t=1000.0, innovation_factor=0.7, cost_index=1.0)
        pop.experience_ref_t[:] = T.experience_ref_years[s] * 1000.0
        pop.cum_output_t[:] = T.entrant_experience_years[s] * 1000.0
        assert processing_cost(pop, T)[0] == pytest.approx(want[b, s], rel=1e-12)
    Tf = dataclasses.replace(T, cost_floor_share=np.zeros(T.S))
    assert entrant_processing_cost(Tf, tech)[0, s] == pytest.approx(entrant_processing_cost(Tf)[0, s] * 0.7, rel=1e-12)


def test_entrants_of_a_run_carry_their_bloc_stage_technology():
    """In a run with the share 1, every firm that enters after the first year starts with the innovation factor its
    bloc-stage's operating plants had in the quarter it entered (read back from the investors' table of that quarter),
    below 1 where the incumbents have innovated; with the share 0 every entrant starts at 1."""
    for share, below_one in ((1.0, True), (0.0, False)):
        cfg = make_config("scenario=west_coordinated", "seed=1", "years=15", f"world.investment.entrant_technology_share={share}")
        m = ChainModel(cfg)
        seen = []
        while m.running and m.steps < m.n_steps:
            m.step()
            # this quarter's entrants (Poisson, a group's or the sponsor's): born now, building their first plant (a buyer
            # of a failed firm's plant is born operating and keeps that plant's factor)
            new = np.flatnonzero((m.pop.birth_step == m.quarter) & (m.pop.phase == Phase.PROJECT))
            if len(new) and m.quarter >= 4:
                want = np.ones(len(new)) if m.entrant_technology is None else m.entrant_technology[m.pop.bloc[new], m.pop.stage[new]]
                np.testing.assert_array_equal(m.pop.innovation_factor[new], want)
                seen.append(m.pop.innovation_factor[new])
        assert seen, "no firm entered"
        factors = np.concatenate(seen)
        assert (factors < 1.0).any() == below_one


def test_the_share_is_a_checked_setting():
    from sim.checks import ConfigError

    with pytest.raises(ConfigError, match="entrant_technology_share"):
        fresh_config("world.investment.entrant_technology_share=1.5")
