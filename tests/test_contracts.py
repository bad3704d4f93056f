"""Offtake contracts and state floors pay out only money someone pays in (sim/engine/contracts.py,
scenarios/price_floor.py; docs/ODD.md 7.11, 7.14).

- What the contracted buyers pay above the index in clearing is, to the dollar, the top-up the plants book.
- A contract's floor is struck against the market's expected price, not against a state floor's guarantee.
- A state floor tops a tonne up from the price it realised: a tonne sold under a contract whose floor is above the
  index is not topped up twice; a contract's floor yields to a state floor at or above it.
- Buyers walk away from a contract whose floor stands far above the market, where that rule is on.
"""

from __future__ import annotations

import numpy as np
import pytest
from _sim_helpers import make_config

from sim.engine import accounts, contracts
from sim.engine.model import ChainModel


def test_contracted_buyers_pay_the_top_ups_the_plants_book(monkeypatch):
    """west_coordinated, seed 1: at each quarter's accounts, the buyers' cost above delivered x landed index, summed
    over stages, equals the plants' contract top-ups less what floored plants' home buyers paid below it
    (``home_discount_musd``, scenarios.price_floor.reserve_home); and there are top-ups to pay (the identity is not
    empty)."""
    seen = {"paid": 0.0, "booked": 0.0, "worst": 0.0}
    do_accounting = accounts.do_accounting

    def check_then_account(m, proc=None) -> None:
        booked = float(contracts.topup(m).sum()) - float(m.pop.home_discount_musd.sum())
        paid = sum(float(cl.cost_to_class.sum() - (cl.delivered * cl.landed).sum()) for cl in m.last_clearing.values()) / 1000.0
        seen["paid"] += paid
        seen["booked"] += booked
        seen["worst"] = max(seen["worst"], abs(paid - booked))
        do_accounting(m, proc)

    monkeypatch.setattr(accounts, "do_accounting", check_then_account)
    ChainModel(make_config("scenario=west_coordinated", "seed=1")).run()
    assert seen["booked"] > 10.0  # M USD over the run: top-ups to pay (tens of M USD in this run), not rounding
    assert seen["worst"] < 1e-6 and seen["paid"] == pytest.approx(seen["booked"], rel=1e-12)


def test_a_contract_floor_is_struck_against_the_market_not_the_state_floor(monkeypatch):
    """west_coordinated, seed 1: each contract signed while the state floor lifts investors' separation price is struck
    at offtake_floor_share x the market's expected price (model.expected_market_price), below the share of the floored
    price (before December 2026 the latter: buyers then owed the state's guarantee a second time)."""
    checked = []
    sign = contracts.sign

    def sign_and_check(m, rows, E) -> None:
        pop = m.pop
        fresh = rows[pop.contract_t[rows] <= 0]  # a plant holding a contract keeps it (and its floor)
        sign(m, rows, E)
        share = m.world.procurement.offtake_floor_share
        for r in fresh[pop.contract_t[fresh] > 0]:
            b, s = pop.bloc[r], pop.stage[r]
            assert pop.contract_floor[r] == pytest.approx(share * m.expected_market_price[b, s], rel=1e-12)
            if E.price[b, s] > m.expected_market_price[b, s] * 1.01:  # the state floor lifts investors' price here
                checked.append(pop.contract_floor[r] < share * E.price[b, s])

    monkeypatch.setattr(contracts, "sign", sign_and_check)
    ChainModel(make_config("scenario=west_coordinated", "seed=1")).run()
    assert checked and all(checked)


def _contracted_separator(*overrides: str):
    """A model after one quarter and one of its Western separators (the only one selling), with the index at 40."""
    m = ChainModel(make_config("years=2", *overrides))
    m.step()
    pop = m.pop
    r = int(np.flatnonzero(pop.operating & (pop.bloc == 1) & (pop.stage == 1))[0])
    b, s = pop.bloc[r], pop.stage[r]
    m.trade_price[b, s] = 40.0
    pop.output_t[(pop.bloc == b) & (pop.stage == s)] = 0.0
    return m, r, b, s


@pytest.mark.parametrize(
    ("yields", "state_floor", "topup_kusd", "buyers_gap"), [(False, 100.0, 480.0, 30.0), (True, 100.0, 600.0, 0.0), (True, 60.0, 120.0, 30.0)]
)
def test_a_state_floor_tops_up_from_the_price_a_tonne_realised(yields, state_floor, topup_kusd, buyers_gap):
    """A plant at an index of 40 sells 10 t, 4 of them under a contract whose floor is 70.
    - Buyers pay the contract's floor (``offtake_floor_yields_to_state_floor`` false): under a state floor of 100 the
      contracted buyers pay 30 more on those 4 t, so the state pays 60 on 6 t and 30 on 4 t (480 kUSD), not 60 on all
      10 (the rule before contracts were netted).
    - The contract's floor yields to a state floor at or above it (true): the buyers pay the index (no gap) and the
      state pays 60 on all 10 t (600 kUSD).
    - Under a state floor of 60, below the contract's 70, the buyers still pay their floor, and the state tops up only
      the 6 t sold at the index (20 x 6 = 120 kUSD)."""
    m, r, b, s = _contracted_separator(f"world.procurement.offtake_floor_yields_to_state_floor={str(yields).lower()}")
    pop, pf = m.pop, m.price_floors
    pf.add("test", int(b), int(s), floor_usd_per_kg=state_floor)
    pop.output_t[r], pop.contract_t[r], pop.contract_floor[r], pop.contract_sold_t[r] = 10.0, 16.0, 70.0, 4.0
    m.markets.price[b, s] = 40.0
    assert contracts.floor_gap(m, np.array([r]), int(s))[0] == pytest.approx(buyers_gap)
    before = pop.grants[r]
    pf.apply_quarter(m)
    assert pop.grants[r] - before == pytest.approx(topup_kusd / 1000.0, rel=1e-12)
    assert pf.topup_musd[b] == pytest.approx(topup_kusd / 1000.0, rel=1e-12)


@pytest.mark.parametrize(("multiple", "floor", "broken"), [(1.25, 70.0, True), (1.25, 45.0, False), (0.0, 70.0, False)])
def test_buyers_walk_away_from_a_floor_far_above_the_market(multiple, floor, broken):
    """``offtake_floor_break_multiple``: a contract whose floor (70) stands above 1.25 x the index (40) for
    ``offtake_break_quarters`` (4) quarters in a row is broken (``contract_broken``, detail ``floor_above_market``),
    and not a quarter sooner; a floor of 45 (1.125 x) is kept, and with the multiple 0 (off) any floor is kept. The
    plant delivers in full throughout, so the delivery rule breaks nothing."""
    m, r, b, s = _contracted_separator(f"world.procurement.offtake_floor_break_multiple={multiple}")
    pop = m.pop
    pop.contract_t[r], pop.contract_floor[r], pop.contract_end_q[r] = 400.0, floor, m.quarter + 100
    for k in range(4):
        pop.output_t[r] = 100.0  # a quarter of the contracted volume: delivered in full
        contracts.review(m)
        assert (pop.contract_t[r] == 0.0) == (broken and k == 3)
    kinds = [(e.kind, e.detail) for e in m.event_log if e.firm_id == pop.firm_id[r]]
    assert (("contract_broken", "floor_above_market") in kinds) == broken


@pytest.mark.parametrize("domestic_only", [True, False])
def test_a_domestic_floor_does_not_top_up_exports(domestic_only):
    """instruments.floor_domestic_only: of 10 t sold at an index of 40 under a floor of 100, 3 t went abroad; a floor
    on domestic sales tops up the other 7 (420 kUSD), a floor on all sales all 10 (600 kUSD, the rule before)."""
    m = ChainModel(make_config("years=2"))
    m.step()
    pop, pf = m.pop, m.price_floors
    r = int(np.flatnonzero(pop.operating & (pop.bloc == 1) & (pop.stage == 0))[0])  # a Western mine
    b, s = pop.bloc[r], pop.stage[r]
    pf.add("test", int(b), int(s), floor_usd_per_kg=100.0, domestic_only=domestic_only)
    m.trade_price[b, s] = 40.0
    pop.output_t[(pop.bloc == b) & (pop.stage == s)] = 0.0
    pop.output_t[r], pop.exported_t[r], pop.contract_t[r], pop.contract_sold_t[r] = 10.0, 3.0, 0.0, 0.0
    pf.apply_quarter(m)
    assert pf.topup_musd[b] == pytest.approx((0.42 if domestic_only else 0.6), rel=1e-12)


def test_a_domestic_floor_lifts_the_price_a_plant_sees_on_its_home_share():
    """row_floor(pop, quarter, price): the shut-down, care-and-maintenance and index cost-floor rules see what a kg
    earns. Under a floor of 100 on domestic sales at an index of 40, a plant that sold 10 t, 3 of them abroad, sees
    40 + 0.7 x 60 = 82; one that sold nothing sees its bloc-stage's home share (7 of the 10 t sold there, 82 again);
    under a floor on all sales both see 100 (before December 2026 a domestic floor showed 100 to every plant, so a
    plant exporting most of its output ran at a loss on it)."""
    m = ChainModel(make_config("years=2"))
    m.step()
    pop, pf = m.pop, m.price_floors
    cell = np.flatnonzero(pop.operating & (pop.bloc == 1) & (pop.stage == 0))  # the West's mines
    assert len(cell) >= 2
    a, idle = int(cell[0]), int(cell[1])
    price = np.full((m.tables.B, m.tables.S), 40.0)
    pop.output_t[cell], pop.exported_t[cell] = 0.0, 0.0
    pop.output_t[a], pop.exported_t[a] = 10.0, 3.0
    pf.add("home", 1, 0, floor_usd_per_kg=100.0, domestic_only=True)
    seen = pf.row_floor(pop, m.quarter, price)
    assert seen[a] == pytest.approx(82.0) and seen[idle] == pytest.approx(82.0)
    assert pf.row_floor(pop, m.quarter)[a] == 100.0  # without the index: the floor itself
    pf.remove("home")
    pf.add("all", 1, 0, floor_usd_per_kg=100.0)
    seen = pf.row_floor(pop, m.quarter, price)
    assert seen[a] == 100.0 and seen[idle] == 100.0


def test_investors_expect_a_domestic_floor_on_the_blocs_own_share():
    """floored(price, home): where the floor covers domestic sales alone, it lifts the share of sales the bloc's own
    buyers take (0.25 here: 0.25 x 100 + 0.75 x 40 = 55); elsewhere the whole price (100)."""
    m = ChainModel(make_config("years=2"))
    pf = m.price_floors
    pf.add("home", 1, 1, floor_usd_per_kg=100.0, domestic_only=True)
    pf.add("all", 1, 2, floor_usd_per_kg=100.0)
    price = np.full((m.tables.B, m.tables.S), 40.0)
    home = np.full_like(price, 0.25)
    out = pf.floored(price, home)
    assert out[1, 1] == pytest.approx(55.0) and out[1, 2] == 100.0 and out[0, 1] == 40.0


def test_exports_are_what_a_plant_delivered_to_other_blocs():
    """exported_t per plant, summed over a bloc-stage, is the bloc-stage's recorded exports (export_controls_full,
    seed 1, every quarter of 2024-2030)."""
    m = ChainModel(make_config("scenario=export_controls_full", "seed=1", "years=16"))
    for _ in range(m.n_steps):
        m.step()
        if m.current_year < 2024:
            continue
        pop, T = m.pop, m.tables
        live = m.pop.live_in(m.quarter)
        mine = T.bs_sum(pop.bloc[live], pop.stage[live], pop.exported_t[live])
        recorded = np.asarray(m.recorder.series["exports_t"][-1])
        np.testing.assert_allclose(mine, recorded, rtol=1e-9, atol=1e-6)


# ---------------------------------------------------------------------- floored plants serve their own bloc first
def _home_first_floors(home_first: bool = True, floor: float = 100.0):
    """A floor of ``floor`` USD/kg on the West's (bloc 1) separation (stage 1) sales at home, with or without home-first,
    and a population of four separators: rows 0-1 Western (floored), row 2 Western with its per-plant agreement
    expired, row 3 Chinese."""
    from types import SimpleNamespace

    from scenarios.price_floor import PriceFloors

    pf = PriceFloors(["china", "west"], ["mining", "separation", "metal", "magnet"])
    pf.add("home", 1, 1, floor_usd_per_kg=floor, term_years=10.0, domestic_only=True, home_first=home_first)
    pop = SimpleNamespace(
        bloc=np.array([1, 1, 1, 0]),
        stage=np.array([1, 1, 1, 1]),
        floor_end_q=np.array([40, 40, 3, -1]),  # row 2's agreement ended before quarter 5
        potential_t=np.array([3.0, 1.0, 5.0, 50.0]),
    )
    return pf, pop


# classes: 0 = the West's metal makers, 1 = China's; suppliers: the four rows; landed (K, N): the West pays its index
# (40) at home and 45 for Chinese oxide; China pays 30 at home
LANDED = np.array([[40.0, 40.0, 40.0, 45.0], [52.0, 52.0, 52.0, 30.0]])
INDEX = np.array([30.0, 40.0])
CLASS_BLOC = np.array([1, 0])
OPEN = np.ones((2, 4), dtype=bool)


@pytest.mark.parametrize(("west_demand", "sold", "served"), [(8.0, [3.0, 1.0], 4.0), (2.0, [1.5, 0.5], 2.0)], ids=["short", "ample"])
def test_floored_plants_serve_their_own_blocs_buyers_first(west_demand, sold, served):
    """reserve_home: the two Western plants whose floor (100) is above the index (40) place their sellable output with
    the West's buyers before the market clears the rest: all of it when the West wants more than they have (8 t against
    4), each in proportion to what it has when the West wants less (2 t: 1.5 and 0.5). The plant whose agreement has
    ended, the Chinese plant and China's buyers are left to the market."""
    pf, pop = _home_first_floors()
    alloc, discount, blocs = pf.reserve_home(pop, 5, 1, np.arange(4), CLASS_BLOC, np.array([west_demand, 20.0]), pop.potential_t, OPEN, LANDED, INDEX)
    np.testing.assert_allclose(alloc[0, :2], sold, rtol=1e-12)
    assert alloc[0].sum() == pytest.approx(served) and not alloc[1].any() and not alloc[:, 2:].any()
    assert blocs.tolist() == [False, True]
    # they sell at home at no more than imports cost: the West's index (40) is below Chinese oxide landed (45): no cut
    assert not discount.any()


def test_floored_plants_meet_the_import_price_at_home():
    """Where the West's index (60) stands above what Chinese oxide costs its buyers landed (45), the floored plants
    (floor 100, above the index) sell to them at 45: 15 USD/kg below the landed price on every kg they deliver at home,
    none on the plant whose agreement ended or on China's buyers. A floor at or below the index (50) is not binding:
    the plants sell like any other."""
    pf, pop = _home_first_floors()
    landed = LANDED + np.array([[20.0, 20.0, 20.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    index = np.array([30.0, 60.0])
    _, discount, _ = pf.reserve_home(pop, 5, 1, np.arange(4), CLASS_BLOC, np.array([8.0, 20.0]), pop.potential_t, OPEN, landed, index)
    np.testing.assert_allclose(discount, [[15.0, 15.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    pf, pop = _home_first_floors(floor=50.0)
    assert pf.reserve_home(pop, 5, 1, np.arange(4), CLASS_BLOC, np.array([8.0, 20.0]), pop.potential_t, OPEN, landed, index) is None


def test_home_first_is_a_lever():
    """``home_first`` false (instruments.floor_home_first: false, the rule before): no reservation; a class that may not
    buy from a plant (``class_open``) is not served by it."""
    pf, pop = _home_first_floors(home_first=False)
    assert pf.reserve_home(pop, 5, 1, np.arange(4), CLASS_BLOC, np.array([8.0, 20.0]), pop.potential_t, OPEN, LANDED, INDEX) is None
    pf, pop = _home_first_floors()
    closed = OPEN.copy()
    closed[0, 0] = False
    alloc, _, _ = pf.reserve_home(pop, 5, 1, np.arange(4), CLASS_BLOC, np.array([8.0, 20.0]), pop.potential_t, closed, LANDED, INDEX)
    assert alloc[0, 0] == 0.0 and alloc[0, 1] == pytest.approx(1.0)


def test_the_state_pays_the_floor_less_what_a_home_buyer_paid():
    """A plant that sold 10 t at home at an index of 40 under a floor of 100, 4 of them 15 USD/kg below the index to meet
    the import price (home_discount_musd 0.06): its revenue falls by 0.06 M USD and the state's top-up rises by as
    much, 60 x 10 t + 0.06 = 0.66 M USD, so the plant still earns the floor on every kg."""
    m = ChainModel(make_config("years=2"))
    m.step()
    pop, pf = m.pop, m.price_floors
    r = int(np.flatnonzero(pop.operating & (pop.bloc == 1) & (pop.stage == 1))[0])
    b, s = pop.bloc[r], pop.stage[r]
    pf.add("home", int(b), int(s), floor_usd_per_kg=100.0, domestic_only=True, home_first=True)
    m.trade_price[b, s] = 40.0
    pop.output_t[(pop.bloc == b) & (pop.stage == s)] = 0.0
    pop.output_t[r], pop.exported_t[r], pop.contract_t[r], pop.contract_sold_t[r] = 10.0, 0.0, 0.0, 0.0
    pop.home_discount_musd[r] = 0.06
    before = pop.grants[r]
    pf.apply_quarter(m)
    assert pop.grants[r] - before == pytest.approx(0.66, rel=1e-12)
