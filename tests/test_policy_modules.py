"""Policy modules (sim.engine.policy): one interface, one list, one fiscal sum, regime changes swap a bloc's set."""

from __future__ import annotations

import pytest
from _rule_helpers import fresh_config

from agents.agencies import FundingAgency
from agents.government import Government
from agents.groups import SOEGroup
from agents.sponsor import ProjectSponsor
from scenarios.events import ScenarioEvent
from scenarios.price_floor import PriceFloors
from sim.config import validate
from sim.engine.model import ChainModel
from sim.engine.policy import BlocInstruments, PolicyModule

SWITCH_YEAR, SWITCH_Q = 2018.0, 12


@pytest.fixture(scope="module")
def switched() -> tuple[ChainModel, list]:
    """The West switches from fragmented agencies to the coordinated-West regime in 2018; a price-floor
    event runs alongside; China keeps its coordinated regime with state groups."""
    cfg = fresh_config("scenario=west_coordinated", "years=5")
    cfg.policy_change["west"].year = SWITCH_YEAR
    cfg.scenario.events = {"floor": dict(kind="price_floor", start_year=2015.5, end_year=None, bloc="west", floor_usd_per_kg={"separation": 200.0})}
    m = ChainModel(validate(cfg))
    first = list(m.policy.modules)
    for _ in range(m.n_steps):
        m.step()
    return m, first


def test_every_actor_and_event_is_a_policy_module(switched):
    m, first = switched
    kinds = {type(x) for x in first}
    assert {Government, SOEGroup, FundingAgency, PriceFloors, BlocInstruments} <= kinds
    assert any(isinstance(x, ScenarioEvent) for x in first)
    assert any(isinstance(x, ProjectSponsor) for x in m.policy.modules)  # coordinated West sponsors projects
    for x in first + m.policy.modules:
        assert isinstance(x, PolicyModule), x
        assert isinstance(x.fiscal_musd(), dict)


def test_regime_change_retires_one_blocs_set_and_installs_another(switched):
    m, first = switched
    west = m.tables.blocs.index("west")
    old = [x for x in first if x.bloc == west and not isinstance(x, (SOEGroup, ScenarioEvent))]
    assert old and all(x in m.policy.retired for x in old) and not any(x in m.policy.modules for x in old)
    assert all(a.retired for a in old if isinstance(a, FundingAgency))
    new = [x for x in m.policy.modules if x.bloc == west]
    assert new and not set(map(id, new)) & set(map(id, old))
    assert m.policy.regimes[west] is m.cfg.policy_change["west"].policy
    others = [x for x in first if x.bloc != west or isinstance(x, (SOEGroup, ScenarioEvent))]
    assert all(x in m.policy.modules for x in others)  # China's modules, the groups, price floors and events stay
    assert [e.quarter for e in m.event_log.where(kind="policy_change")] == [SWITCH_Q]


def test_fiscal_totals_are_one_sum_over_modules_in_force_and_retired(switched):
    m, _ = switched
    expect: dict = {}
    for x in m.policy.modules + m.policy.retired:
        for key, v in x.fiscal_musd().items():
            expect[key] = expect.get(key, 0.0) + v
    got = m.policy.fiscal_totals()
    assert set(got) == set(expect)
    for key in got:
        assert got[key] == pytest.approx(expect[key], rel=1e-12), key
    west = m.tables.blocs.index("west")
    paid = sum(a.totals()["paid_musd"] for a in m.policy.retired if isinstance(a, FundingAgency))
    assert paid > 0  # the retired agencies' payments still count
    assert sum(v for (b, k), v in got.items() if b == west and k.startswith("agency:")) >= paid
    assert got[(west, "price_floor")] > 0  # the event's floor is paid through the price-floor module


def test_a_retired_government_keeps_its_books():
    """China drops its coordinated regime in 2018: what its government paid stays in the totals, so the
    cumulative fiscal totals never fall and no quarter shows negative public money."""
    cfg = fresh_config("scenario=baseline", "years=5", "+policy@policy_change.china.policy=none", "+policy_change.china.year=2018.0")
    m = ChainModel(validate(cfg))
    china = m.tables.blocs.index("china")
    before = None
    for _ in range(m.n_steps):
        m.step()
        if m.quarter == SWITCH_Q - 1:
            before = {k: v for k, v in m.policy.fiscal_totals().items() if k[0] == china}
    gov = [x for x in m.policy.retired if isinstance(x, Government)]
    assert gov and before and sum(before.values()) > 0
    after = m.policy.fiscal_totals()
    for key, v in before.items():
        assert after[key] >= v, key
    frame = m.recorder.policy.frame()
    fiscal = frame[frame["measure"] == "fiscal_musd"]
    assert len(fiscal) and (fiscal["value"] >= 0).all(), fiscal[fiscal["value"] < 0]
