"""Unit tests of the market rules (MODEL.md 5.1): sim.engine.markets.allocate and update_price."""

from __future__ import annotations

import numpy as np
import pytest

from sim.engine.markets import Markets, allocate, update_price

TOL = 1e-9


# ---------------------------------------------------------------------------
# allocate: logit shares
# ---------------------------------------------------------------------------
def test_one_class_shares_proportional_to_avail_times_pref():
    """Demand well below supply: class k gets demand x avail_j pref_j / sum(avail pref)."""
    demand = np.array([30.0])
    avail = np.array([100.0, 50.0, 200.0, 10.0])
    pref = np.array([[1.0, 2.0, 0.25, 3.0]])
    res = allocate(demand, avail, pref, rounds=1)
    w = avail * pref[0]
    np.testing.assert_allclose(res.alloc[0], 30.0 * w / w.sum(), rtol=1e-12)
    assert res.unmet[0] == pytest.approx(0.0, abs=TOL)
    assert res.capped[0] == 0.0


def test_several_classes_each_split_by_own_preferences():
    demand = np.array([10.0, 20.0])
    avail = np.array([100.0, 100.0])
    pref = np.array([[1.0, 3.0], [3.0, 1.0]])
    res = allocate(demand, avail, pref, rounds=1)
    np.testing.assert_allclose(res.alloc, [[2.5, 7.5], [15.0, 5.0]], rtol=1e-12)


def test_equal_preferences_shares_follow_available_output():
    res = allocate(np.array([12.0]), np.array([10.0, 20.0, 30.0]), np.ones((1, 3)), rounds=1)
    np.testing.assert_allclose(res.alloc[0], [2.0, 4.0, 6.0])


# ---------------------------------------------------------------------------
# allocate: rationing and re-offers
# ---------------------------------------------------------------------------
def test_pro_rata_rationing_when_over_subscribed():
    """One supplier, two classes wanting 3x its output: each class gets avail x its share of requests."""
    demand = np.array([20.0, 10.0])
    avail = np.array([10.0])
    pref = np.ones((2, 1))
    res = allocate(demand, avail, pref, rounds=3)
    np.testing.assert_allclose(res.alloc[:, 0], [20.0 / 3.0, 10.0 / 3.0])
    np.testing.assert_allclose(res.unmet, [20.0 - 20.0 / 3.0, 10.0 - 10.0 / 3.0])


# A tight market like the West's ore supply in export_quota_2010 seed 2 (2026-2027): a large home class spread over the
# home suppliers, a small foreign class whose security premium sends most of its requests to one small third supplier.
TIGHT_DEMAND = np.array([900.0, 50.0])
TIGHT_AVAIL = np.array([500.0, 350.0, 40.0])
TIGHT_PREF = np.array([[1.0, 1.0, 1.0], [0.05, 0.05, 1.0]])


def test_without_resplit_a_buyer_sent_to_a_sold_out_supplier_is_rationed_harder():
    """The rule before (no re-split): the small class's requests go mostly to the small supplier, which rations them
    in the first round; the home suppliers are sold out to the home class in the same round, so the re-offers find
    almost nothing: the small class lacks far more of its demand than the home class."""
    res = allocate(TIGHT_DEMAND, TIGHT_AVAIL, TIGHT_PREF, rounds=4)
    unmet_share = res.unmet / TIGHT_DEMAND
    assert unmet_share[1] > 2.0 * unmet_share[0]


@pytest.mark.parametrize("passes, rtol", [(5, 1e-3), (20, 1e-6), (100, 1e-8)])
def test_resplit_rations_every_class_in_the_same_proportion(passes, rtol):
    """With the re-split buyers move requests off sold-out suppliers before rationing: both classes reach every
    supplier, so both lack the same share, the overall shortfall (950 - 890) / 950; supply and demand are respected."""
    res = allocate(TIGHT_DEMAND, TIGHT_AVAIL, TIGHT_PREF, rounds=4, resplit_passes=passes)
    expected = (TIGHT_DEMAND.sum() - TIGHT_AVAIL.sum()) / TIGHT_DEMAND.sum()
    np.testing.assert_allclose(res.unmet / TIGHT_DEMAND, expected, rtol=rtol)
    assert (res.alloc.sum(axis=0) <= TIGHT_AVAIL + TOL).all()
    np.testing.assert_allclose(res.alloc.sum(axis=1) + res.unmet, TIGHT_DEMAND)


def test_resplit_changes_nothing_where_no_supplier_is_over_subscribed():
    """Demand within every supplier's output: the logit split stands, bit for bit."""
    demand = np.array([10.0, 20.0])
    avail = np.array([100.0, 100.0])
    pref = np.array([[1.0, 3.0], [3.0, 1.0]])
    np.testing.assert_array_equal(allocate(demand, avail, pref, 1, resplit_passes=20).alloc, allocate(demand, avail, pref, 1).alloc)


def test_resplit_keeps_preferences_where_supply_allows():
    """A supplier that can fill what is asked keeps its requests: the home class still buys from its preferred
    supplier first; only the sold-out supplier's requests move, and no class is refused while output is left."""
    demand = np.array([60.0, 30.0])
    avail = np.array([40.0, 100.0])
    pref = np.array([[4.0, 1.0], [1.0, 1.0]])
    res = allocate(demand, avail, pref, 1, resplit_passes=50)
    assert res.unmet.sum() == pytest.approx(0.0, abs=1e-6)
    assert res.alloc[:, 0].sum() == pytest.approx(40.0, rel=1e-6)  # the preferred supplier is sold out, not idle


def test_resplit_respects_export_licences():
    """Under an export control the licence still caps purchases from the exporter whatever the re-split does."""
    demand = np.array([100.0])
    avail = np.array([80.0, 10.0])
    pref = np.ones((1, 2))
    sup_bloc = np.array([0, 1])
    licensed = np.array([[0.3, 1.0]])
    free = allocate(demand, avail, pref, 4)
    res = allocate(demand, avail, pref, 4, sup_bloc, licensed, resplit_passes=20)
    assert res.alloc[0, 0] <= 0.3 * free.alloc[0, 0] + TOL
    assert res.alloc[0, 1] == pytest.approx(10.0)


def test_rationing_never_exceeds_avail_nor_demand():
    rng = np.random.default_rng(5)
    for _ in range(50):
        K, N = rng.integers(1, 5), rng.integers(1, 8)
        demand = rng.uniform(0, 100, K)
        avail = rng.uniform(0, 40, N)
        pref = rng.uniform(0, 1, (K, N)) * (rng.random((K, N)) > 0.2)
        res = allocate(demand, avail, pref, rounds=int(rng.integers(1, 6)))
        assert (res.alloc >= -TOL).all()
        assert (res.alloc.sum(axis=0) <= avail + 1e-9).all(), "a supplier sold more than its available output"
        assert (res.alloc.sum(axis=1) <= demand + 1e-9).all(), "a class got more than it wanted"
        np.testing.assert_allclose(res.alloc.sum(axis=1) + res.unmet, demand, atol=1e-9)


def test_unmet_demand_is_reoffered_to_suppliers_with_spare_output():
    """Round 1: the favoured small supplier is over-subscribed; round 2 sends the rest to the spare one."""
    demand = np.array([100.0])
    avail = np.array([10.0, 500.0])
    pref = np.array([[1.0, 0.01]])  # weights 10 vs 5: two thirds of demand ask the small supplier
    one = allocate(demand, avail, pref, rounds=1)
    two = allocate(demand, avail, pref, rounds=2)
    assert one.unmet[0] > 50.0
    assert one.alloc[0, 0] == pytest.approx(10.0)
    assert two.unmet[0] == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(two.alloc[0], [10.0, 90.0])


def test_more_rounds_never_serve_less():
    rng = np.random.default_rng(11)
    for _ in range(30):
        K, N = 3, 5
        demand = rng.uniform(10, 100, K)
        avail = rng.uniform(1, 60, N)
        pref = rng.uniform(0.01, 1, (K, N))
        served = [allocate(demand, avail, pref, rounds=r).alloc.sum() for r in (1, 2, 4, 8)]
        assert np.all(np.diff(served) >= -1e-9)


def test_demand_above_total_supply_sells_out_with_enough_rounds():
    demand = np.array([100.0, 100.0])
    avail = np.array([30.0, 40.0, 50.0])
    pref = np.array([[1.0, 0.1, 0.5], [0.2, 1.0, 1.0]])
    res = allocate(demand, avail, pref, rounds=20)
    np.testing.assert_allclose(res.alloc.sum(axis=0), avail, rtol=1e-6)
    assert res.unmet.sum() == pytest.approx(demand.sum() - avail.sum(), rel=1e-6)


def test_zero_preference_forbids_a_pair_in_every_round():
    """pref = 0 (e.g. a domestic mandate) forbids a pair even when the class is left short."""
    demand = np.array([100.0, 5.0])
    avail = np.array([10.0, 500.0])
    pref = np.array([[1.0, 0.0], [1.0, 1.0]])
    res = allocate(demand, avail, pref, rounds=10)
    assert res.alloc[0, 1] == 0.0
    assert res.alloc[0, 0] <= 10.0 + TOL
    assert res.unmet[0] >= 90.0 - TOL


def test_class_with_no_allowed_supplier_gets_nothing():
    res = allocate(np.array([50.0]), np.array([100.0, 100.0]), np.zeros((1, 2)), rounds=4)
    assert res.alloc.sum() == 0.0
    assert res.unmet[0] == 50.0


def test_no_suppliers_leaves_all_demand_unmet():
    res = allocate(np.array([5.0, 7.0]), np.zeros(0), np.zeros((2, 0)), rounds=3)
    np.testing.assert_array_equal(res.unmet, [5.0, 7.0])


# ---------------------------------------------------------------------------
# allocate: export licences
# ---------------------------------------------------------------------------
def _first_round_by_bloc(demand, avail, pref, supplier_bloc, B):
    w = pref * avail[None, :]
    desired = w / w.sum(axis=1, keepdims=True) * demand[:, None]
    return np.stack([desired[:, supplier_bloc == b].sum(axis=1) for b in range(B)], axis=1)


@pytest.mark.parametrize("L", [0.0, 0.2, 0.5, 0.9])
def test_licence_caps_purchases_from_controlled_bloc(L):
    """A foreign class obtains from the exporter at most L x its first-round would-be purchase there."""
    # bloc 0 exports (suppliers 0-2), bloc 1 is the importer (suppliers 3-4); class 0 in bloc 0, class 1 in bloc 1
    demand = np.array([60.0, 120.0])
    avail = np.array([80.0, 60.0, 40.0, 20.0, 30.0])
    supplier_bloc = np.array([0, 0, 0, 1, 1])
    pref = np.array([[1.0, 1.0, 1.0, 0.5, 0.5], [0.9, 0.8, 0.7, 1.0, 1.0]])
    licensed = np.array([[1.0, 1.0], [L, 1.0]])
    res = allocate(demand, avail, pref, 6, supplier_bloc, licensed)
    would = _first_round_by_bloc(demand, avail, pref, supplier_bloc, 2)
    got_from_exporter = res.alloc[1, supplier_bloc == 0].sum()
    assert got_from_exporter <= L * would[1, 0] + 1e-9
    assert res.capped[1] == pytest.approx((1 - L) * would[1, 0])
    assert res.capped[0] == 0.0
    assert (res.alloc.sum(axis=0) <= avail + 1e-9).all()


def test_licence_share_one_equals_no_control():
    demand = np.array([60.0, 120.0])
    avail = np.array([80.0, 60.0, 40.0, 20.0, 30.0])
    supplier_bloc = np.array([0, 0, 0, 1, 1])
    pref = np.array([[1.0, 1.0, 1.0, 0.5, 0.5], [0.9, 0.8, 0.7, 1.0, 1.0]])
    free = allocate(demand, avail, pref, 4)
    lic = allocate(demand, avail, pref, 4, supplier_bloc, np.ones((2, 2)))
    np.testing.assert_array_equal(free.alloc, lic.alloc)
    np.testing.assert_array_equal(free.unmet, lic.unmet)


def test_zero_licence_blocks_controlled_bloc_and_redirects_to_others():
    demand = np.array([30.0])
    avail = np.array([100.0, 100.0])
    supplier_bloc = np.array([0, 1])
    pref = np.array([[1.0, 0.2]])
    res = allocate(demand, avail, pref, 4, supplier_bloc, np.array([[0.0, 1.0]]))
    assert res.alloc[0, 0] == 0.0
    assert res.alloc[0, 1] == pytest.approx(30.0)  # the refused demand is re-offered to the open bloc


def test_licence_does_not_stop_reoffers_to_uncontrolled_suppliers():
    """Importer class (bloc 1): controlled exporter supplier 0, a small favoured home supplier 1 and a large
    home supplier 2 with plenty of spare output. With 4 rounds all demand the licence refuses can be met at home."""
    demand = np.array([100.0])
    avail = np.array([100.0, 10.0, 200.0])
    pref = np.array([[1.0, 5.0, 0.1]])
    supplier_bloc = np.array([0, 1, 1])
    res = allocate(demand, avail, pref, 4, supplier_bloc, np.array([[0.5, 1.0]]))
    # the home suppliers have 210 t against at most 100 t wanted: nothing should stay unmet
    assert res.unmet[0] == pytest.approx(0.0, abs=1e-6)


def test_licence_share_just_below_one_is_close_to_no_control():
    demand = np.array([100.0])
    avail = np.array([100.0, 10.0, 200.0])
    pref = np.array([[1.0, 5.0, 0.1]])
    supplier_bloc = np.array([0, 1, 1])
    free = allocate(demand, avail, pref, 4)
    near = allocate(demand, avail, pref, 4, supplier_bloc, np.array([[1.0 - 1e-6, 1.0]]))
    np.testing.assert_allclose(near.alloc, free.alloc, atol=1e-3)


def test_markets_licensed_share_only_for_foreign_classes():
    mk = Markets(["china", "west"], ["mining", "magnet"], np.array([3.0, 50.0]), params=None)
    assert mk.licensed_share(1, np.array([0, 1])) is None
    mk.set_export_control("ec", "china", ["magnet"], 0.3)
    lic = mk.licensed_share(1, np.array([0, 1, 1]))
    np.testing.assert_array_equal(lic, [[1.0, 1.0], [0.3, 1.0], [0.3, 1.0]])
    assert mk.licensed_share(0, np.array([0, 1])) is None  # mining not controlled
    assert mk.controlled(1, 0) and not mk.controlled(0, 0) and not mk.controlled(1, 1)
    mk.set_export_control("ec2", "china", ["magnet"], 0.1)  # the tighter of two controls applies
    np.testing.assert_array_equal(mk.licensed_share(1, np.array([1])), [[0.1, 1.0]])
    mk.clear_export_control("ec")
    mk.clear_export_control("ec2")
    assert mk.licensed_share(1, np.array([1])) is None


# ---------------------------------------------------------------------------
# update_price
# ---------------------------------------------------------------------------
def _up(price=10.0, util=0.85, short=0.0, floor=-np.inf, ceiling=np.inf, kappa=0.5, target=0.85, max_change=1.0, **kw):
    return update_price(price, util, short, floor, ceiling, kappa, target, max_change, **kw)


def test_max_rise_widens_only_the_upward_clip():
    """markets.max_price_rise: a rise is clipped at max(max_change, max_rise), a fall still at max_change; 0 (off) and a
    value below max_change leave the rule as it was."""
    assert _up(short=1.0, max_change=0.15) == pytest.approx(10.0 * 1.15)  # kappa x excess = 0.5, clipped at 0.15
    assert _up(short=1.0, max_change=0.15, max_rise=0.4) == pytest.approx(10.0 * 1.4)
    assert _up(short=0.5, max_change=0.15, max_rise=0.4) == pytest.approx(10.0 * 1.25)  # below the clip: the rule's own move
    assert _up(util=0.0, kappa=2.0, max_change=0.15, max_rise=0.4) == pytest.approx(10.0 * 0.85)  # a fall: max_change
    assert _up(short=1.0, max_change=0.15, max_rise=0.1) == _up(short=1.0, max_change=0.15) == _up(short=1.0, max_change=0.15, max_rise=0.0)
    assert _up(short=1.0, max_change=0.15, max_rise=0.4, ceiling=12.0) == 12.0  # the ceiling still caps


def test_price_still_at_target_utilisation_without_shortage():
    assert _up() == pytest.approx(10.0)


def test_price_rises_with_shortage_share():
    assert _up(short=0.1) == pytest.approx(10.0 * (1 + 0.5 * 0.1))
    assert _up(short=0.2) > _up(short=0.1) > _up(short=0.0)


def test_price_falls_below_target_utilisation():
    assert _up(util=0.5) == pytest.approx(10.0 * (1 + 0.5 * (0.5 - 0.85)))
    assert _up(util=0.5) < _up(util=0.7) < 10.0


def test_price_rises_above_target_utilisation():
    assert _up(util=1.0) == pytest.approx(10.0 * (1 + 0.5 * 0.15))


def test_price_without_supplier_moves_with_shortage_only():
    assert _up(util=None, short=0.3) == pytest.approx(10.0 * 1.15)
    assert _up(util=None, short=0.0) == pytest.approx(10.0)


@pytest.mark.parametrize("max_change", [0.0, 0.05, 0.15])
def test_price_change_clipped(max_change):
    assert _up(util=0.0, max_change=max_change) == pytest.approx(10.0 * (1 - max_change))
    assert _up(short=1.0, max_change=max_change) == pytest.approx(10.0 * (1 + max_change))


def test_price_respects_floor_and_ceiling():
    assert _up(util=0.0, floor=9.9, max_change=0.5) == pytest.approx(9.9)
    assert _up(short=1.0, ceiling=10.2, max_change=0.5) == pytest.approx(10.2)
    # the floor holds even when the index starts below it
    assert _up(price=5.0, floor=8.0) == pytest.approx(8.0)
    # the ceiling holds even when the index starts above it
    assert _up(price=50.0, ceiling=40.0) == pytest.approx(40.0)


def test_price_reversion_pulls_toward_normal():
    up = _up(normal=8.0, reversion=0.1)
    assert up == pytest.approx(10.0 * (1 - 0.1 * (10.0 - 8.0) / 10.0))
    assert _up(price=6.0, normal=8.0, reversion=0.1) > 6.0
    assert _up(normal=np.nan, reversion=0.5) == pytest.approx(10.0)  # no normal price: no pull


def test_price_bounded_for_random_inputs():
    rng = np.random.default_rng(3)
    for _ in range(200):
        p = rng.uniform(1, 100)
        floor, ceiling = rng.uniform(0, 50), rng.uniform(60, 200)
        mc = rng.uniform(0, 1)
        new = update_price(
            p, rng.uniform(0, 1.2), rng.uniform(0, 1), floor, ceiling, rng.uniform(0, 5), 0.85, mc, rng.uniform(1, 100), rng.uniform(0, 1)
        )
        assert floor - 1e-9 <= new <= ceiling + 1e-9
        if floor < p * (1 - mc) and p * (1 + mc) < ceiling:
            assert abs(new / p - 1) <= mc + 1e-12
