"""Scenario events other than export control (MODEL.md 5.9): technology-export ban, demand shock,
price floor with offtake, permitting reform, strategic pricing.

Each event is checked on short laissez-faire runs against the run of the same seed without it
(common random numbers: both are identical until the event starts, 2016 Q1 = quarter 4 here),
for exact restoration of the model's arrays when it ends, and for one-line errors on bad names.
"""

from __future__ import annotations

import collections
import copy
import dataclasses

import numpy as np
import pytest
from _rule_helpers import fresh_config, make_pop

from agents import investment as inv
from agents.firms import ProjectPhase, processing_cost
from scenarios import EVENT_KINDS
from scenarios.price_floor import PriceFloors
from sim.config import ConfigError, validate
from sim.engine.clearing import landed_price
from sim.engine.investment import entrant_pi, expected_project_price
from sim.engine.model import ChainModel
from sim.engine.run import run
from sim.engine.world import build_tables

LF = "scenario=laissez_faire"
START_Q, END_Q = 4, 8  # 2016.0 and 2017.0 with start_year 2015
CHINA, WEST = 0, 1
MINING, SEPARATION, METAL, MAGNET = 0, 1, 2, 3

EVENTS = {
    "technology_export_ban": dict(exporter="china", stages=["separation", "metal", "magnet"], ramp_multiplier=3.0),
    "demand_shock": dict(blocs=["west"], multiplier=0.5),
    "price_floor": dict(bloc="west", floor_usd_per_kg={"separation": 110.0}, offtake_t_per_year={"magnet": 1000.0}),
    "permitting_reform": dict(bloc="china", stages=["mining", "separation"], factor=0.5, cap_years=0.25),
    "strategic_pricing": dict(exporter="china", stages=["magnet"], discount=0.3),
}
_BASE = fresh_config(LF)  # composed once; events are added to copies of it (composing takes ~1 s)


def _spec(kind: str, end: float | None = None, **change) -> dict:
    return dict(kind=kind, start_year=2016.0, end_year=end, **{**EVENTS[kind], **change})


def _hydra(v) -> str:
    """A value in Hydra override syntax."""
    if isinstance(v, dict):
        return "{" + ",".join(f"{k}:{_hydra(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ",".join(_hydra(x) for x in v) + "]"
    return "null" if v is None else str(v)


def _cfg(years: int = 3, base=None, **events: dict):
    """The laissez-faire config (or ``base``) with ``years`` and the given events (validated like a composed one)."""
    cfg = copy.deepcopy(_BASE if base is None else base)
    cfg.years = years
    cfg.scenario.events = copy.deepcopy(events)
    return validate(cfg)


def _model(years: int = 3, base=None, **events: dict) -> ChainModel:
    return ChainModel(_cfg(years, base, **events))


def _step_to(m: ChainModel, q: int) -> ChainModel:
    """Simulate up to and including quarter q."""
    while m.quarter < q:
        m.step()
    return m


def _state(m: ChainModel, kind: str):
    """Copies of what an event of ``kind`` changes."""
    if kind == "technology_export_ban":
        r = m.instruments.ramp_extra
        return None if r is None else r.copy()
    if kind == "demand_shock":
        return np.array([b.demand_multiplier for b in m.buyers])
    if kind == "price_floor":
        return np.stack([m.price_floors.floor, m.price_floors.offtake_t_per_year])
    if kind == "permitting_reform":
        return np.stack([m.instruments.permit_factor, m.instruments.permit_cap_years])
    return m.instruments.export_discount.copy()


def _active_state(m: ChainModel, kind: str):
    T = m.tables
    if kind == "technology_export_ban":  # every bloc but the exporter
        r = np.ones((T.B, T.S))
        r[np.ix_([b for b in range(T.B) if b != CHINA], [SEPARATION, METAL, MAGNET])] = 3.0
        return r
    if kind == "demand_shock":
        return np.array([0.5 if b.bloc == WEST else 1.0 for b in m.buyers])
    if kind == "price_floor":
        out = np.zeros((2, T.B, T.S))
        out[0, WEST, SEPARATION] = 110.0
        out[1, WEST, MAGNET] = 1000.0
        return out
    if kind == "permitting_reform":
        out = np.stack([np.ones((T.B, T.S)), np.full((T.B, T.S), np.inf)])
        out[0, CHINA, [MINING, SEPARATION]] = 0.5
        out[1, CHINA, [MINING, SEPARATION]] = 0.25
        return out
    out = np.zeros((T.B, T.S))
    out[CHINA, MAGNET] = 0.3
    return out


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return np.array_equal(a, b)


# --------------------------------------------------------------------------
# apply / revert
# --------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(EVENTS))
def test_event_acts_only_while_active_and_restores_exactly(kind):
    """Composed from the command-line syntax; the event acts in 2016 only and its end restores the arrays."""
    m = ChainModel(fresh_config(LF, "years=3", f"+scenario.events.x={_hydra(_spec(kind, end=2017.0))}"))
    original = _state(m, kind)
    expected = _active_state(m, kind)
    for q in range(12):
        m.step()
        now = _state(m, kind)
        if START_Q <= q < END_Q:
            assert _same(now, expected), (q, now)
        else:
            assert _same(now, original), (q, now)
    kinds = [e.kind for e in m.event_log if e.kind.startswith("shock")]
    assert kinds == ["shock_start", "shock_end"]


def _params(kind: str, **kw):
    base = {
        "technology_export_ban": dict(exporter="china", stages=["magnet"], ramp_multiplier=3.0),
        "demand_shock": dict(blocs=[], multiplier=0.37),
        "price_floor": dict(bloc="west", floor_usd_per_kg={"separation": 110.0}, offtake_t_per_year={"magnet": 1000.0}),
        "permitting_reform": dict(bloc="west", stages=["mining", "magnet"], factor=0.3, cap_years=2.25),
        "strategic_pricing": dict(exporter="china", stages=["magnet"], discount=0.3),
    }[kind]
    base.update(kw)
    return EVENT_KINDS[kind].Params(kind=kind, start_year=2016.0, **base)


SECOND = {
    "technology_export_ban": dict(stages=["magnet", "metal"], ramp_multiplier=1.7),
    "demand_shock": dict(blocs=["west"], multiplier=1.9),
    "price_floor": dict(floor_usd_per_kg={"separation": 95.0, "magnet": 70.0}, offtake_t_per_year={"magnet": 300.0}),
    "permitting_reform": dict(stages=["mining"], factor=0.7, cap_years=1.25),
    "strategic_pricing": dict(stages=["magnet", "metal"], discount=0.2),
}


@pytest.mark.parametrize("kind", list(EVENTS))
def test_overlapping_events_compose_and_revert_exactly_in_any_order(kind):
    """Two events of a kind on overlapping cells: each end undoes only its own part, bit for bit."""
    m = _model()
    original = _state(m, kind)
    cls = EVENT_KINDS[kind]
    a, b = cls("a", _params(kind)), cls("b", _params(kind, **SECOND[kind]))
    for ev in (a, b):
        ev.model = m
    b.start()
    only_b = _state(m, kind)
    b.end()
    assert _same(_state(m, kind), original)
    a.start()
    only_a = _state(m, kind)
    b.start()
    both = _state(m, kind)
    assert not _same(both, only_a) and not _same(both, only_b)
    a.end()
    assert _same(_state(m, kind), only_b)  # exactly as if b alone had been applied
    a.start()
    b.end()
    assert _same(_state(m, kind), only_a)
    a.end()
    assert _same(_state(m, kind), original)


def test_layers_keep_changes_made_by_other_code():
    """A policy that multiplies the permit factor while a reform is active keeps its change after the reform ends."""
    m = _model()
    ins = m.instruments
    ins.set_layer("permit_factor", "event:r", np.where(np.arange(4) == 0, 0.5, 1.0)[None, :] * np.ones((m.tables.B, 1)))
    ins.permit_factor[WEST, :] *= 0.6  # e.g. a government's fast permits
    ins.clear_layer("permit_factor", "event:r")
    np.testing.assert_array_equal(ins.permit_factor[CHINA], 1.0)
    np.testing.assert_allclose(ins.permit_factor[WEST], 0.6, rtol=1e-15)


# --------------------------------------------------------------------------
# technology-export ban
# --------------------------------------------------------------------------
def test_technology_ban_slows_foreign_quality_ramp():
    base = _model(years=4)
    ban = _model(years=4, x=_spec("technology_export_ban"))
    _step_to(base, START_Q - 1)
    _step_to(ban, START_Q - 1)
    np.testing.assert_array_equal(base.pop.quality, ban.pop.quality)
    base.step()
    ban.step()  # both enter the quarter from the same state: only learning differs
    pop = base.pop
    banned = (pop.bloc != CHINA) & np.isin(pop.stage, [SEPARATION, METAL, MAGNET]) & pop.operating & (pop.output_t > 0)
    ramping = banned & (pop.quality < 1.0 - 1e-9)
    assert ramping.sum() >= 5
    np.testing.assert_array_equal(base.pop.output_t, ban.pop.output_t)
    assert (ban.pop.quality[ramping] < pop.quality[ramping]).all()
    np.testing.assert_array_equal(ban.pop.quality[~banned], pop.quality[~banned])  # China and mining unaffected
    _step_to(base, 9)  # laissez-faire: Western makers thin out over the years, so compare while several operate
    _step_to(ban, 9)
    w = lambda m: (m.pop.bloc == WEST) & np.isin(m.pop.stage, [SEPARATION, METAL, MAGNET]) & m.pop.operating  # noqa: E731
    assert w(base).sum() >= 3 and w(ban).sum() >= 3
    q_base = np.average(base.pop.quality[w(base)], weights=base.pop.capacity_t[w(base)])
    q_ban = np.average(ban.pop.quality[w(ban)], weights=ban.pop.capacity_t[w(ban)])
    assert q_ban < q_base


# --------------------------------------------------------------------------
# demand shock
# --------------------------------------------------------------------------
# demand that neither answers the price (short-run response, scale effect, substitution) nor moves abroad (relocation) nor holds
# stocks (buyers' inventories, stockpiles): buyers order exactly their path demand x the shock (docs/ODD.md 7.13, everything at 0)
FIXED_DEMAND = (
    "world.demand.short_run_elasticity=0",
    "world.demand.substitution_max=0",
    "world.demand.product_cost_share=0",
    "world.demand.relocation_max=0",
    "world.demand.inventory_quarters=0",
    "world.demand.stockpile_quarters.china=0",
    "world.demand.stockpile_quarters.west=0",
)


def _demand_by_bloc(m: ChainModel) -> np.ndarray:
    """Each bloc's orders on the magnet market this quarter (buyers and stockpile)."""
    return np.array([sum(b.demand_t for b in m.buyers if b.bloc == k) for k in range(m.tables.B)])


def _need_by_bloc(m: ChainModel) -> np.ndarray:
    """Each bloc's final need (consumption demand) this quarter: what a demand shock scales (docs/ODD.md 7.13)."""
    return np.array([sum(b.need_t for b in m.buyers if b.bloc == k and not b.stockpile) for k in range(m.tables.B)])


def test_demand_shock_scales_demand_only_while_active():
    """With demand fixed to its path (no price response, no stocks), the shock scales the orders by its multiplier
    while in force and only then; the demand that answers the price would move them after the shock's first quarter."""
    fixed = fresh_config(LF, *FIXED_DEMAND)
    base, shock = _model(base=fixed), _model(base=fixed, x=_spec("demand_shock", end=2017.0))
    assert base.world.demand.inventory_quarters == 0 and not base.demand.active
    for q in range(12):
        base.step()
        shock.step()
        ratio = _demand_by_bloc(shock) / _demand_by_bloc(base)
        assert ratio[CHINA] == 1.0
        assert ratio[WEST] == pytest.approx(0.5 if START_Q <= q < END_Q else 1.0, rel=1e-12)
        if q == START_Q:  # the West's magnet market sees the lower demand at once
            assert shock.last_clearing[MAGNET].demand.sum() < base.last_clearing[MAGNET].demand.sum()


def test_demand_shock_with_no_blocs_hits_every_bloc():
    """In the default world, in the shock's first quarter (both runs enter it from the same state and prices), every
    bloc's need is 1.5 times the run's without it; orders differ by more, as buyers also move their stocks to target."""
    m = _model(x=_spec("demand_shock", blocs=[], multiplier=1.5))
    base = _model()
    _step_to(m, START_Q - 1)
    _step_to(base, START_Q - 1)
    assert m.demand.active and m.world.demand.inventory_quarters > 0
    np.testing.assert_array_equal(m.markets.price, base.markets.price)  # the prices the shock's first quarter's need answers
    m.step()
    base.step()
    np.testing.assert_allclose(_need_by_bloc(m) / _need_by_bloc(base), 1.5, rtol=1e-12)
    assert (_demand_by_bloc(m) > 1.5 * _demand_by_bloc(base)).all()


# --------------------------------------------------------------------------
# price floor with offtake
# --------------------------------------------------------------------------
FLOOR_USD = 110.0


@pytest.fixture(scope="module")
def floor_runs():
    years = 3
    base, fl = _model(years=years), _model(years=years, x=_spec("price_floor"))
    quarters = []
    for q in range(years * 4):
        base.step()
        fl.step()
        pop = fl.pop
        quarters.append(
            dict(
                q=q,
                rows=np.flatnonzero((pop.bloc == WEST) & (pop.stage == SEPARATION) & (pop.output_t > 0)),
                revenue=pop.revenue.copy(),
                output=pop.output_t.copy(),
                grants=pop.grants.copy(),
                trade_price=fl.trade_price.copy(),
                cost=fl.price_floors.quarter_cost_musd.copy(),
                topup=fl.price_floors.topup_musd.copy(),
                offtake=fl.price_floors.offtake_t.copy(),
                base_magnet_out=base.pop.output_t[(base.pop.bloc == WEST) & (base.pop.stage == MAGNET)].sum(),
                magnet_out=pop.output_t[(pop.bloc == WEST) & (pop.stage == MAGNET)].sum(),
            )
        )
    return base, fl, quarters


def test_price_floor_tops_up_domestic_receipts_to_the_floor(floor_runs):
    _, fl, quarters = floor_runs
    paid = 0
    for d in quarters:
        rows = d["rows"]
        if d["q"] < START_Q:
            assert d["cost"].sum() == 0.0 and (d["grants"] == 0).all()
            continue
        assert len(rows) > 0
        p = d["trade_price"][WEST, SEPARATION]
        expected = max(FLOOR_USD - p, 0.0) * d["output"][rows] / 1000.0
        np.testing.assert_allclose(d["grants"][rows], expected, rtol=1e-12)
        receipts = (d["revenue"][rows] + d["grants"][rows]) / d["output"][rows] * 1000.0  # USD/kg
        assert (receipts >= FLOOR_USD - 1e-9).all()
        paid += p < FLOOR_USD
        # only the floored bloc-stage gets top-ups
        others = np.ones(len(d["grants"]), dtype=bool)
        others[rows] = False
        assert (d["grants"][others] == 0).all()
    assert paid == len(quarters) - START_Q  # the market price stays below the floor here


def test_price_floor_records_fiscal_cost(floor_runs):
    _, fl, quarters = floor_runs
    total = sum(d["cost"] for d in quarters)
    assert total[CHINA] == 0.0 and total[WEST] > 0
    assert fl.policy.fiscal_totals()[(WEST, "price_floor")] == pytest.approx(total[WEST], rel=1e-12)
    assert (CHINA, "price_floor") not in fl.policy.fiscal_totals()
    for d in quarters[START_Q:]:
        magnet_purchase = d["offtake"][WEST, MAGNET] * d["trade_price"][WEST, MAGNET] / 1000.0
        assert d["cost"][WEST] == pytest.approx(d["topup"][WEST] + magnet_purchase, rel=1e-12)
        assert d["topup"][WEST] == pytest.approx(d["grants"].sum(), rel=1e-12)


def test_offtake_adds_demand_for_domestic_output_up_to_the_volume(floor_runs):
    _, _, quarters = floor_runs
    for d in quarters[START_Q:]:  # the state buys only spare capacity, so a quarter without any buys nothing
        assert 0 <= d["offtake"][WEST, MAGNET] <= 1000.0 / 4.0 + 1e-9
        assert d["offtake"][CHINA].sum() == 0.0 and d["offtake"][WEST, :MAGNET].sum() == 0.0
    assert sum(d["offtake"][WEST, MAGNET] > 0 for d in quarters[START_Q:]) >= 4
    first = quarters[START_Q]  # same state entering the quarter: the state's orders are extra output
    assert first["offtake"][WEST, MAGNET] > 0
    assert first["magnet_out"] > first["base_magnet_out"] + 0.5 * first["offtake"][WEST, MAGNET]


def test_the_states_offtake_does_not_move_the_index(monkeypatch):
    """The state buys spare output after the market has cleared: the utilisation the price rule reads is the market's
    orders over the suppliers' available output, without the state's purchases (prices.market_orders)."""
    from sim.engine import prices

    m = _model(years=3, x=_spec("price_floor"))
    seen = {}
    original = prices.market_orders

    def spy(model, s, sup):
        out = original(model, s, sup)
        if s == MAGNET:
            bloc = model.pop.bloc
            every = np.bincount(bloc[sup], weights=model.pop.orders_t[sup], minlength=model.tables.B)
            avail = np.bincount(bloc[sup], weights=model.pop.potential_t[sup], minlength=model.tables.B)
            seen.update(every=every, market=out, avail=avail, state=model.price_floors.state_orders_t(s, bloc, model.tables.B))
        return out

    monkeypatch.setattr(prices, "market_orders", spy)
    bought = 0
    memory = max(m.world.investment.price_memory_quarters, 1.0)
    for _ in range(12):
        before = m.utilisation[WEST, MAGNET]
        m.step()
        np.testing.assert_allclose(seen["market"], np.maximum(seen["every"] - seen["state"], 0.0), rtol=1e-12)
        read = seen["market"][WEST] / seen["avail"][WEST]
        assert m.utilisation[WEST, MAGNET] == pytest.approx(before + (read - before) / memory, rel=1e-12)
        if seen["state"][WEST] > 0:
            bought += 1
            assert seen["market"][WEST] < seen["every"][WEST]
        assert seen["state"][CHINA] == 0.0
    assert bought >= 4


def test_price_floor_raises_expected_price_and_profitability(floor_runs):
    """The floor lifts the investors' expected price at the floored stage to the floor and leaves every other cell at
    the investors' price without it (the smoothed index adjusted for committed pipeline: expected_project_price)."""
    _, fl, _ = floor_runs
    E = fl.expectations()
    exp = expected_project_price(fl, E.input_price, E.discount_rate, E.capex_support)
    assert exp[WEST, SEPARATION] < FLOOR_USD
    assert E.price[WEST, SEPARATION] == FLOOR_USD
    mask = np.ones_like(exp, dtype=bool)
    mask[WEST, SEPARATION] = False
    np.testing.assert_array_equal(E.price[mask], exp[mask])
    pi_floor = entrant_pi(fl, E)
    pi_market = entrant_pi(fl, dataclasses.replace(E, price=exp))
    assert pi_floor[WEST, SEPARATION] > pi_market[WEST, SEPARATION]
    np.testing.assert_array_equal(pi_floor[mask], pi_market[mask])
    # incumbents' expansion projects at the stage too
    pop, T = fl.pop, fl.tables
    rows = np.flatnonzero((pop.bloc == WEST) & (pop.stage == SEPARATION))
    assert len(rows) > 0
    proc = processing_cost(pop, T)[rows]
    horizon, dep = fl.world.investment.horizon_years, fl.world.finance.depreciation_years
    pi_rows = inv.profitability_index(pop.bloc[rows], pop.stage[rows], proc, T, E, horizon, dep)
    pi_rows_market = inv.profitability_index(pop.bloc[rows], pop.stage[rows], proc, T, dataclasses.replace(E, price=exp), horizon, dep)
    assert (pi_rows > pi_rows_market).all()


def test_price_floor_brings_investment_at_the_floored_stage(floor_runs):
    """Investors act on the floor: projects start at West separation, where none start without it."""

    def starts(m):
        return sum(1 for e in m.event_log.where(kind=("entry", "project_start"), bloc=WEST) if e.stage == SEPARATION and e.quarter >= START_Q)

    base, fl, _ = floor_runs
    assert starts(base) == 0 and starts(fl) >= 1


def test_price_floors_container_add_remove():
    pf = PriceFloors(["china", "west"], ["mining", "separation", "metal", "magnet"])
    pf.add("policy:west", "west", "separation", 110.0)
    pf.add("policy:west", "west", "magnet", 0.0, 10000.0)
    pf.add("event:x", 1, 1, 95.0, 400.0)
    assert pf.floor[WEST, SEPARATION] == 110.0 and pf.offtake_t_per_year[WEST, SEPARATION] == 400.0
    assert pf.offtake_t_per_year[WEST, MAGNET] == 10000.0
    price = np.full((2, 4), 50.0)
    assert pf.floored(price)[WEST, SEPARATION] == 110.0 and pf.floored(price)[CHINA, SEPARATION] == 50.0
    pf.remove("policy:west")
    assert pf.floor[WEST, SEPARATION] == 95.0 and pf.offtake_t_per_year[WEST, MAGNET] == 0.0
    pf.remove("event:x")
    assert not pf.active and (pf.floor == 0).all() and (pf.offtake_t_per_year == 0).all()
    assert pf.floored(price) is price


# --------------------------------------------------------------------------
# permitting reform
# --------------------------------------------------------------------------
def _permit_durations(m: ChainModel) -> dict[tuple[int, int], list[tuple[int, int]]]:
    """(bloc, stage) -> [(quarter entering permitting, quarters in permitting)] from the event log."""
    entered, out = {}, collections.defaultdict(list)
    for e in m.event_log.where(kind=("permitting", "financing")):
        if e.kind == "permitting":
            entered[e.firm_id] = e.quarter
        elif e.firm_id in entered:
            q0 = entered.pop(e.firm_id)
            out[(e.bloc, e.stage)].append((q0, e.quarter - q0))
    return out


def test_permitting_reform_shortens_and_caps_permitting_of_later_projects():
    years, end_q = 6, 16  # reform 2016-2019
    base = run(_cfg(years)).model
    ref = run(_cfg(years, x=_spec("permitting_reform", end=2019.0))).model
    d0, d1 = _permit_durations(base), _permit_durations(ref)
    # China separation: 0.5 y (2 quarters) without the reform, capped at 0.25 y (1 quarter) with it
    assert {d for _, d in d0[(CHINA, SEPARATION)]} == {2}
    during = [d for q, d in d1[(CHINA, SEPARATION)] if START_Q <= q < end_q]
    assert len(during) >= 5 and set(during) == {1}
    assert {d for q, d in d1[(CHINA, SEPARATION)] if q < START_Q or q >= end_q} == {2}
    # China mining: 0.5-1 y (2-4 quarters) without; x 0.5 and capped at 0.25 y with
    assert max(d for _, d in d0[(CHINA, MINING)]) >= 3
    during = [d for q, d in d1[(CHINA, MINING)] if START_Q <= q < end_q]
    assert len(during) >= 2 and set(during) == {1}
    before = [x for x in d1[(CHINA, MINING)] if x[0] < START_Q]
    assert before == [x for x in d0[(CHINA, MINING)] if x[0] < START_Q]  # projects permitted before are unchanged
    # other bloc-stages keep their durations
    assert {d for _, d in d1[(CHINA, MAGNET)]} == {d for _, d in d0[(CHINA, MAGNET)]}


def test_permit_factor_and_cap_in_phase_quarters():
    """West mining permits take 2-10 years; x 0.5 and a 27-month cap (EU CRMA) bound them at 9 quarters."""
    T = build_tables(_BASE.world)
    n = 11
    pop = make_pop(n, bloc=WEST, stage=MINING)
    pop.proj_u[:, inv.U_COL[ProjectPhase.PERMITTING]] = np.linspace(0.0, 1.0, n)
    rows = np.arange(n)
    plain = inv.phase_quarters(pop, rows, T, ProjectPhase.PERMITTING)
    factor = np.ones((T.B, T.S))
    factor[WEST, MINING] = 0.5
    cap = np.full((T.B, T.S), np.inf)
    cap[WEST, MINING] = 2.25
    np.testing.assert_array_equal(plain, np.round((2.0 + 8.0 * np.linspace(0, 1, n)) * 4.0))
    halved = inv.phase_quarters(pop, rows, T, ProjectPhase.PERMITTING, factor)
    np.testing.assert_array_equal(halved, np.round(0.5 * (2.0 + 8.0 * np.linspace(0, 1, n)) * 4.0))
    capped = inv.phase_quarters(pop, rows, T, ProjectPhase.PERMITTING, factor, cap)
    np.testing.assert_array_equal(capped, np.minimum(halved, 9.0))
    assert plain.max() == 40 and capped.max() == 9
    # the cap acts on permitting only
    np.testing.assert_array_equal(
        inv.phase_quarters(pop, rows, T, ProjectPhase.CONSTRUCTION, factor, cap), inv.phase_quarters(pop, rows, T, ProjectPhase.CONSTRUCTION)
    )


# --------------------------------------------------------------------------
# strategic pricing
# --------------------------------------------------------------------------
def test_strategic_pricing_lowers_foreign_paid_price_and_exporter_revenue():
    base, sp = _model(years=4), _model(years=4, x=_spec("strategic_pricing"))
    _step_to(base, START_Q - 1)
    _step_to(sp, START_Q - 1)
    np.testing.assert_array_equal(base.paid_price, sp.paid_price)
    for q in range(START_Q, START_Q + 4):
        base.step()
        sp.step()
        assert sp.paid_price[WEST, MAGNET] < base.paid_price[WEST, MAGNET] - 1.0, q
        if q == START_Q:  # same state entering the quarter
            landed = landed_price(sp, MAGNET)
            T, p = sp.tables, sp.markets.price[:, MAGNET]
            assert landed[CHINA, CHINA] == p[CHINA]  # China's own buyers pay the index
            assert landed[WEST, CHINA] == pytest.approx(p[CHINA] * 0.7 * (1 + T.import_tariff[WEST]) + T.freight_usd_per_kg[MAGNET], rel=1e-12)
            assert landed[CHINA, WEST] == pytest.approx(p[WEST] * (1 + T.import_tariff[CHINA]) + T.freight_usd_per_kg[MAGNET], rel=1e-12)
            # exporters' revenue: the index on domestic sales, 70% of it on sales to the West
            pop, cl = sp.pop, sp.last_clearing[MAGNET]
            sup = cl.suppliers
            foreign = (cl.delivered * (cl.class_bloc[:, None] != pop.bloc[sup][None, :])).sum(axis=0)
            price = sp.trade_price[pop.bloc[sup], MAGNET]
            disc = np.where(pop.bloc[sup] == CHINA, 0.3, 0.0)
            np.testing.assert_allclose(pop.revenue[sup], (pop.output_t[sup] * price - foreign * price * disc) / 1000.0, rtol=1e-12)
            assert foreign[pop.bloc[sup] == CHINA].sum() > 0

            def west_imports(m):
                cl = m.last_clearing[MAGNET]
                return cl.delivered[np.ix_(cl.class_bloc == WEST, m.pop.bloc[cl.suppliers] == CHINA)].sum()

            assert west_imports(sp) > west_imports(base)


# --------------------------------------------------------------------------
# bad names and values: one-line ConfigErrors naming the key and the allowed values
# --------------------------------------------------------------------------
_ALLOWED_BLOCS = "china, west"
_ALLOWED_STAGES = "mining, separation, metal, magnet"
BAD = [
    ("technology_export_ban", {"exporter": "usa"}, "exporter", _ALLOWED_BLOCS),
    ("technology_export_ban", {"stages": ["smelting"]}, "stages", _ALLOWED_STAGES),
    ("technology_export_ban", {"stages": []}, "stages", _ALLOWED_STAGES),
    ("technology_export_ban", {"ramp_multiplier": 0.5}, "ramp_multiplier", ">= 1.0"),
    ("demand_shock", {"blocs": ["west", "mars"]}, "blocs", _ALLOWED_BLOCS),
    ("demand_shock", {"multiplier": -0.1}, "multiplier", ">= 0.0"),
    ("price_floor", {"bloc": "eu"}, "bloc", _ALLOWED_BLOCS),
    ("price_floor", {"floor_usd_per_kg": {"oxide": 110.0}}, "floor_usd_per_kg", _ALLOWED_STAGES),
    ("price_floor", {"offtake_t_per_year": {"magnets": 10.0}}, "offtake_t_per_year", _ALLOWED_STAGES),
    ("price_floor", {"floor_usd_per_kg": {"separation": -1.0}}, "floor_usd_per_kg.separation", ">= 0"),
    ("price_floor", {"floor_usd_per_kg": {}, "offtake_t_per_year": {}}, "floor_usd_per_kg", _ALLOWED_STAGES),
    ("permitting_reform", {"bloc": "us"}, "bloc", _ALLOWED_BLOCS),
    ("permitting_reform", {"stages": ["mine"]}, "stages", _ALLOWED_STAGES),
    ("permitting_reform", {"factor": 0.0}, "factor", "> 0"),
    ("permitting_reform", {"cap_years": 0.0}, "cap_years", "> 0"),
    ("strategic_pricing", {"exporter": "prc"}, "exporter", _ALLOWED_BLOCS),
    ("strategic_pricing", {"stages": ["alloy"]}, "stages", _ALLOWED_STAGES),
    ("strategic_pricing", {"discount": 0.95}, "discount", "<= 0.9"),
]
_GOOD = {
    "technology_export_ban": dict(exporter="china", stages=["magnet"], ramp_multiplier=2.0),
    "demand_shock": dict(blocs=["west"], multiplier=0.5),
    "price_floor": dict(bloc="west", floor_usd_per_kg={"separation": 110.0}, offtake_t_per_year={"magnet": 1000.0}),
    "permitting_reform": dict(bloc="west", stages=["mining"], factor=0.5, cap_years=2.25),
    "strategic_pricing": dict(exporter="china", stages=["magnet"], discount=0.3),
}


@pytest.fixture(scope="module")
def valid_cfg():
    return _cfg(4)


def _good_effect(m: ChainModel, kind: str):
    """What the event of ``_GOOD[kind]`` sets while active (the layout of :func:`_state`)."""
    T = m.tables
    if kind == "technology_export_ban":  # foreign plants (every bloc but China) at the banned stage ramp 2x slower
        out = np.ones((T.B, T.S))
        out[[b for b in range(T.B) if b != CHINA], MAGNET] = 2.0
        return out
    if kind == "demand_shock":
        return np.array([0.5 if b.bloc == WEST else 1.0 for b in m.buyers])
    if kind == "price_floor":
        out = np.zeros((2, T.B, T.S))
        out[0, WEST, SEPARATION] = 110.0
        out[1, WEST, MAGNET] = 1000.0 * m.world.scale
        return out
    if kind == "permitting_reform":
        out = np.stack([np.ones((T.B, T.S)), np.full((T.B, T.S), np.inf)])
        out[0, WEST, MINING] = 0.5
        out[1, WEST, MINING] = 2.25
        return out
    out = np.zeros((T.B, T.S))
    out[CHINA, MAGNET] = 0.3
    return out


@pytest.mark.parametrize("kind", list(_GOOD))
def test_good_events_validate_and_change_what_they_declare(valid_cfg, kind):
    """A valid event passes validation, keeps its parameters, and from its first quarter on the model's
    instruments hold exactly what the parameters say (and nothing else changed before)."""
    cfg = copy.deepcopy(valid_cfg)
    cfg.scenario.events = {"x": dict(kind=kind, start_year=2016.0, end_year=None, **_GOOD[kind])}
    validate(cfg)
    m = ChainModel(cfg)
    (ev,) = m.policy.events
    assert ev.kind == kind and ev.name == "x"
    for key, value in _GOOD[kind].items():
        assert getattr(ev.params, key) == value, key
    before = _state(m, kind)
    _step_to(m, START_Q - 1)
    assert not ev.active and _same(_state(m, kind), before)  # not yet in force
    _step_to(m, START_Q)
    assert ev.active
    assert _same(_state(m, kind), _good_effect(m, kind))
    assert not _same(_good_effect(m, kind), before)  # the event did change something


@pytest.mark.parametrize("kind,change,key,allowed", BAD, ids=[f"{k}-{c}" for k, _, c, _ in BAD])
def test_bad_event_parameter_is_a_one_line_config_error(valid_cfg, kind, change, key, allowed):
    cfg = copy.deepcopy(valid_cfg)
    spec = dict(kind=kind, start_year=2016.0, end_year=None, **_GOOD[kind])
    spec.update(change)
    cfg.scenario.events = {"x": spec}
    with pytest.raises(ConfigError) as ei:
        validate(cfg)
    assert ei.value.key == f"scenario.events.x.{key}"
    assert allowed in str(ei.value) and "\n" not in str(ei.value)
