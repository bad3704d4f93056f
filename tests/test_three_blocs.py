"""The third bloc, rest_of_world (docs/ODD.md 2, 5, 6): its place in the config, its 2015 plants against the
published 2015 mine output, the trade links it carries, export controls that reach it, its policy, and the
classroom's chain picture with three blocs.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
from _rule_helpers import fresh_config

from agents.firms import ProjectPhase
from sim.classroom.dashboard import bloc_name, chain_option, prices_option
from sim.config import ConfigError, compose, validate
from sim.engine.model import ChainModel

QUIET = ("progress=false", "output.write=false")
BLOCS = ["china", "west", "rest_of_world"]
CHINA, WEST, ROW = 0, 1, 2
MINING, SEPARATION, METAL, MAGNET = 0, 1, 2, 3

# 2015 mine output, t REO (USGS Mineral Commodity Summaries 2016), of the plants that stand for it in the world file
USGS_2015 = {
    "west_mining_au": 10000.0,
    "west_mining_us": 4100.0,
    "row_mining_russia": 2500.0,
    "row_mining_india": 1700.0,
    "row_mining_brazil": 880.0,
    "row_mining_other": 250.0,
    "row_mining_malaysia": 200.0,
}


def _model(*overrides: str, years: int = 2) -> ChainModel:
    cfg = fresh_config(*overrides)
    cfg.years = years
    return ChainModel(validate(cfg))


def test_the_default_world_has_three_blocs_and_the_third_has_no_policy():
    cfg = compose(list(QUIET))
    assert list(cfg.world.blocs) == BLOCS
    assert cfg.policy["rest_of_world"].regime == "none"
    assert {b.bloc for b in cfg.world.buyers.values()} == set(BLOCS)
    shares = sum(b.share for b in cfg.world.buyers.values() if b.bloc == "rest_of_world")
    assert shares == pytest.approx(1.0)


def test_a_bloc_without_a_policy_entry_is_one_line_naming_it():
    cfg = copy.deepcopy(compose(list(QUIET)))
    del cfg.policy["rest_of_world"]
    with pytest.raises(ConfigError) as ei:
        validate(cfg)
    assert ei.value.key == "policy.rest_of_world" and "policy@policy.rest_of_world: none" in str(ei.value)


def test_2015_plants_can_produce_their_published_2015_output():
    """capacity x max_utilisation x quality spans the USGS figure for every plant that stands for a country."""
    cfg = compose(list(QUIET))
    u = cfg.world.markets.max_utilisation
    for name, tonnes in USGS_2015.items():
        c = cfg.world.firms[name]
        assert c.count == 1, name
        lo, hi = c.capacity_t[0] * u * c.quality[0], c.capacity_t[1] * u * c.quality[1]
        assert lo <= tonnes <= hi, (name, lo, tonnes, hi)


def test_lynas_malaysian_plant_is_in_the_rest_of_the_world_and_buys_mt_weld_concentrate():
    m = _model()
    T = m.tables
    lamp = np.flatnonzero((m.pop.bloc == ROW) & (m.pop.stage == SEPARATION) & (m.pop.region == T.regions.index("malaysia")))
    assert len(lamp) == 1
    assert not ((m.pop.bloc == WEST) & (m.pop.stage == SEPARATION) & (m.pop.region == T.regions.index("australia"))).any()
    for _ in range(4):
        m.step()
    trade = m.recorder.trade_t  # (supplier bloc, buyer bloc, stage), t in the last quarter
    assert trade[WEST, ROW, MINING] > 0  # Mt Weld concentrate to Kuantan
    assert trade[ROW, CHINA, MINING] > 0  # Myanmar's, Russia's and others' concentrate to China's separation
    assert trade[CHINA, ROW, MAGNET] > 0  # the rest of the world buys China's magnets
    final = np.array([sum(b.demand_t for b in m.buyers if b.bloc == k) for k in range(T.B)])
    assert final[ROW] > 0 and (m.pop.bloc == ROW).sum() >= 10


def test_a_chinese_export_control_reaches_buyers_in_the_rest_of_the_world():
    ec = dict(kind="export_control", start_year=2015.5, end_year=None, exporter="china", stages=["magnet"], licensed_share=0.0)
    cfg = fresh_config()
    cfg.years = 2
    cfg.scenario.events = {"ec": ec}
    m = ChainModel(validate(cfg))
    while m.quarter < 3:
        m.step()
    cl = m.last_clearing[MAGNET]
    from_china = m.pop.bloc[cl.suppliers] == CHINA
    for b in (WEST, ROW):
        assert cl.alloc[np.ix_(cl.class_bloc == b, from_china)].sum() == 0.0
    assert cl.alloc[np.ix_(cl.class_bloc == CHINA, from_china)].sum() > 0


def test_the_third_bloc_takes_any_policy_whose_names_fit_it():
    m = _model("policy@policy.rest_of_world=coordinated", years=2)
    assert ROW in m.policy.governments
    m.run()
    with pytest.raises(ConfigError) as ei:  # the fragmented policy's agencies name Western regions
        compose([*QUIET, "policy@policy.rest_of_world=fragmented"])
    assert ei.value.key.startswith("policy.rest_of_world.agencies.") and "region of bloc 'rest_of_world'" in str(ei.value)


def test_the_classroom_chain_and_prices_show_three_blocs():
    m = _model()
    for _ in range(3):
        m.step()
    chain = chain_option(m)
    names = {n["name"] for n in chain["series"][0]["data"]}
    assert {f"{b}:{s}" for b in BLOCS for s in m.tables.stages} <= names
    prices = prices_option(m)
    assert prices["legend"]["data"] == [bloc_name(b) for b in BLOCS]  # the charts' names (China, West, Rest of world)


def test_a_bloc_may_set_its_own_plant_size_for_entrants_and_expansions():
    """world.blocs.<b>.stages.<s>.plant_size_t (docs/ODD.md 7.12): entrants of that bloc and stage draw their nameplate
    in the bloc's range and their expansions are capped at its high end; other blocs keep the stage's range, and
    without the key (null) every bloc has the stage's, as before."""
    from agents.investment import choose_expansions
    from sim.engine.entry_exit import add_entrants

    default = _model()
    np.testing.assert_array_equal(default.tables.bloc_plant_size_t, np.broadcast_to(default.tables.plant_size_t, (3, 4, 2)))
    m = _model("world.blocs.rest_of_world.stages.mining.plant_size_t=[1000,2000]")
    T, pop, rng = m.tables, m.pop, np.random.default_rng(7)
    assert T.bloc_plant_size_t[ROW, MINING].tolist() == [1000.0, 2000.0]
    assert T.bloc_plant_size_t[CHINA, MINING].tolist() == T.plant_size_t[MINING].tolist() == [10000.0, 40000.0]
    regions = {b: np.flatnonzero(T.region_bloc == b)[:1] for b in (CHINA, ROW)}
    row = add_entrants(m, ROW, MINING, 40, np.repeat(regions[ROW], 40), rng)
    cn = add_entrants(m, CHINA, MINING, 40, np.repeat(regions[CHINA], 40), rng)
    assert ((pop.proj_nameplate_t[row] >= 1000.0) & (pop.proj_nameplate_t[row] <= 2000.0)).all()
    assert ((pop.proj_nameplate_t[cn] >= 10000.0) & (pop.proj_nameplate_t[cn] <= 40000.0)).all()
    assert pop.proj_capex_musd[row].max() <= T.capex_musd_per_kt[ROW, MINING] * 2.0 + 1e-9
    # expansions: busy operating mines of both blocs with 50 kt of nameplate, all reviewing and wanting one
    mines = np.flatnonzero(pop.operating & (pop.stage == MINING) & np.isin(pop.bloc, [CHINA, ROW]))
    pop.capacity_t[mines] = 50000.0
    pop.orders_t[mines] = 50000.0
    pop.proj_phase[mines] = ProjectPhase.NONE
    inv = dataclasses.replace(m.world.investment, review_probability=1.0, check_funds_at_expansion=False)
    pi = np.full(len(pop), 10.0)
    rows, nameplate, _ = choose_expansions(pop, T, rng, pi, inv)
    at = dict(zip(rows.tolist(), nameplate.tolist()))
    row_mines = [at[r] for r in mines if pop.bloc[r] == ROW]
    cn_mines = [at[r] for r in mines if pop.bloc[r] == CHINA]
    assert row_mines and cn_mines
    assert max(row_mines) == 2000.0  # 20-50% of 50 kt, capped at the bloc's largest new pit
    assert min(cn_mines) >= 10000.0  # 20-50% of 50 kt, within the stage's range
