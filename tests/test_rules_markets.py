"""Unit tests of the market rules (MODEL.md 5.1): sim.engine.markets.allocate and update_price, and the buyer classes'
preferences of sim.engine.clearing on a handful of firms."""

from __future__ import annotations

import numpy as np
import pytest
from _rule_helpers import fresh_config, make_pop

from sim.config import validate
from sim.engine import clearing
from sim.engine.markets import Markets, allocate, update_price
from sim.engine.model import ChainModel

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


# ---------------------------------------------------------------------------
# allocate: the in-place rounds compute what the plain rounds compute, bit for bit
# ---------------------------------------------------------------------------
def _plain_allocate(demand, avail, pref, rounds, supplier_bloc=None, caps=None, resplit_passes=0):
    """The rounds of ``markets._allocate`` written with a fresh array per step and every class in every round
    (the rule as stated in the module docstring), to compare the in-place rounds with."""
    from sim.engine.markets import resplit_sold_out

    remaining_avail = np.asarray(avail, dtype=float).copy()
    K, N = pref.shape
    alloc = np.zeros((K, N))
    want = np.asarray(demand, dtype=float).copy()
    cap_left = None if caps is None else caps.astype(float).copy()
    for _ in range(rounds):
        if N == 0 or want.sum() <= 1e-12 or remaining_avail.sum() <= 1e-12:
            break
        w = pref * remaining_avail[None, :]
        if cap_left is not None:
            w = np.where(cap_left[:, supplier_bloc] > 1e-12, w, 0.0)
        if resplit_passes > 0:
            w = resplit_sold_out(w, want, remaining_avail, resplit_passes)
        tot = w.sum(axis=1, keepdims=True)
        desired = np.divide(w, tot, out=np.zeros_like(w), where=tot > 0) * want[:, None]
        if cap_left is not None:
            by_bloc = np.stack([desired[:, supplier_bloc == b].sum(axis=1) for b in range(cap_left.shape[1])], axis=1)
            scale = np.divide(np.minimum(by_bloc, cap_left), by_bloc, out=np.ones_like(by_bloc), where=by_bloc > 0)
            desired = desired * scale[:, supplier_bloc]
            excess = np.maximum(by_bloc - cap_left, 0.0)
            open_w = np.where(excess[:, supplier_bloc] > 1e-12, 0.0, w)
            open_tot = open_w.sum(axis=1, keepdims=True)
            desired += np.divide(open_w, open_tot, out=np.zeros_like(open_w), where=open_tot > 0) * excess.sum(axis=1, keepdims=True)
        requested = desired.sum(axis=0)
        fill = np.divide(remaining_avail, requested, out=np.ones_like(requested), where=requested > remaining_avail)
        got = desired * np.minimum(fill, 1.0)[None, :]
        alloc += got
        remaining_avail = np.maximum(remaining_avail - got.sum(axis=0), 0.0)
        want = np.maximum(want - got.sum(axis=1), 0.0)
        if cap_left is not None:
            for b in range(cap_left.shape[1]):
                cap_left[:, b] = np.maximum(cap_left[:, b] - got[:, supplier_bloc == b].sum(axis=1), 0.0)
    return alloc, want


def _market(seed: int, K: int = 9, N: int = 300, B: int = 3):
    """Random classes and suppliers: some classes want nothing, one has no allowed supplier, supply is tight."""
    rng = np.random.default_rng(seed)
    demand = rng.uniform(0.0, 100.0, K) * (rng.random(K) > 0.3)
    avail = rng.uniform(0.0, 1.0, N) * (rng.random(N) > 0.1) * demand.sum() / N * rng.uniform(0.5, 2.0)
    pref = np.exp(-4.0 * rng.uniform(0.5, 1.5, (K, N))) * (rng.random((K, N)) > 0.2)
    pref[K - 1] = 0.0
    supplier_bloc = rng.integers(0, B, N)
    caps = np.where(rng.random((K, B)) < 0.4, rng.uniform(0.0, 30.0, (K, B)), np.inf)
    return demand, avail, pref, supplier_bloc, caps


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("capped", [False, True])
@pytest.mark.parametrize("resplit", [0, 4])
def test_in_place_rounds_match_plain_rounds_bit_for_bit(seed, capped, resplit):
    """Classes with nothing left to buy are left out of a round and one buffer is reused in place: the allocation
    and the unmet demand are the same bits as the plain rounds give (same operations, same order)."""
    from sim.engine.markets import _allocate

    demand, avail, pref, supplier_bloc, caps = _market(seed, N=[300, 2, 1][seed % 3])
    kw = dict(supplier_bloc=supplier_bloc, caps=caps) if capped else {}
    res = _allocate(demand, avail, pref, 4, resplit_passes=resplit, **kw)
    alloc, unmet = _plain_allocate(demand, avail, pref, 4, resplit_passes=resplit, **kw)
    assert res.alloc.tobytes() == alloc.tobytes()
    assert res.unmet.tobytes() == unmet.tobytes()


# ---------------------------------------------------------------------------
# clearing.preferences: once per supplier type, spread by a gather
# ---------------------------------------------------------------------------
def _preference_model(n: int = 40, discounts=(0.0, 0.02, 0.08)) -> ChainModel:
    """The world's model before its first quarter with ``n`` magnet makers of every bloc, group (or none) and
    procurement discount, and a security premium on every foreign origin."""
    m = ChainModel(validate(fresh_config("years=1")))
    T = m.tables
    rng = np.random.default_rng(7)
    m.pop = make_pop(
        n,
        bloc=rng.integers(0, T.B, n),
        stage=T.S - 1,
        group=rng.integers(-1, len(T.groups), n),
        procurement_discount=rng.choice(np.asarray(discounts, dtype=float), n),
    )
    m.security.active = True
    m.security.premium = rng.uniform(0.0, 0.3, (T.B, T.B)) * (1.0 - np.eye(T.B))
    return m


def _classes(m: ChainModel):
    """Classes of every bloc: state-owned or not, a group or none, domestic-only or not, and banned origins."""
    B = m.tables.B
    c_bloc = np.tile(np.arange(B), 2)
    c_state = np.repeat([True, False], B)
    c_group = np.array([-1, 0, 1, 2, -1, 0][: 2 * B])
    c_dom = np.arange(2 * B) % 3 == 0
    c_ban = np.zeros((2 * B, B), dtype=bool)
    c_ban[1, 0] = c_ban[4, 2 % B] = True
    return c_bloc, c_state, c_group, c_dom, c_ban


@pytest.mark.parametrize("discounts", [(0.0, 0.02, 0.08), (0.0,), tuple(np.linspace(0.0, 0.1, 12))])
def test_preferences_by_supplier_type_are_the_dense_preferences_bit_for_bit(discounts):
    """A class's preference and landed price read a supplier's bloc, group and procurement discount only: computed
    once per type and gathered, they are the same bits as computed for every (class, supplier) pair, with few or
    many distinct discounts (a sort codes them beyond a handful), domestic mandates, bans and security premiums."""
    m = _preference_model(discounts=discounts)
    s, sup = m.tables.S - 1, np.arange(m.pop.n)
    args = _classes(m)
    pref, landed = clearing.preferences(m, s, sup, *args)
    dense_pref, dense_landed = clearing._preferences_dense(m, s, sup, *args)
    assert pref.shape == (len(args[0]), len(sup))
    assert pref.tobytes() == dense_pref.tobytes()
    assert landed.tobytes() == dense_landed.tobytes()
    assert (pref == 0).any() and (pref > 0).any()  # mandates and bans forbid some pairs, not all


def test_supplier_types_group_suppliers_with_the_same_inputs():
    m = _preference_model()
    pop, sup = m.pop, np.arange(m.pop.n)
    col, rep = clearing.supplier_types(pop, sup)
    key = np.stack([pop.bloc[sup], pop.group[sup], pop.procurement_discount[sup]], axis=1)
    assert len(rep) == len(np.unique(key, axis=0))  # one type per distinct (bloc, group, discount)
    np.testing.assert_array_equal(key, key[rep][col])  # every supplier has its type's inputs
    assert clearing.supplier_types(pop, sup[:0])[0].shape == (0,)


def test_value_codes_few_many_and_nan():
    codes, n = clearing._value_codes(np.array([0.02, 0.0, 0.02, 0.08]))
    assert n == 3 and codes[0] == codes[2] and len({*codes.tolist()}) == 3
    many = np.linspace(0.0, 1.0, 20)[np.arange(40) % 20]
    codes, n = clearing._value_codes(many)
    assert n == 20 and (codes[:20] == codes[20:]).all()
    codes, n = clearing._value_codes(np.array([np.nan, 0.0, np.nan]))
    assert codes[1] != codes[0] and n >= 2
