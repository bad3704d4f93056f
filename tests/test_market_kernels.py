"""The stage markets' compiled kernels (sim/engine/market_kernels.py) give bit for bit the numbers of the array code.

Random (classes, suppliers) markets with zero and missing preferences, sold-out and empty suppliers, classes without
demand, -0.0 and NaN items, every count of re-split passes; each compares the kernel's bytes with numpy's.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.engine import market_kernels, markets


def _market(rng, trial):
    K = int(rng.integers(1, 14))
    N = int(rng.integers(2, 300 if trial % 10 else 3000))
    pref = rng.random((K, N)) ** rng.uniform(0.2, 5)
    pref[rng.random((K, N)) < rng.uniform(0, 0.5)] = 0.0
    if trial % 7 == 0:
        pref[rng.integers(K)] = 0.0  # a class that may buy from no one
    if trial % 13 == 0:
        pref[rng.integers(K), rng.integers(N)] = np.nan
    avail = rng.random(N) * rng.uniform(0, 10)
    avail[rng.random(N) < 0.2] = 0.0
    if trial % 11 == 0:
        avail[rng.random(N) < 0.1] = -0.0
    demand = rng.random(K) * rng.uniform(0, 3) * N
    demand[rng.random(K) < 0.2] = 0.0
    return demand, avail, pref


def test_pairwise_sum_is_numpys_sum():
    rng = np.random.default_rng(0)
    for n in [*range(300), 1000, 8191, 8192, 8193, 75_000, 100_001]:
        x = rng.random(n) * 10 ** rng.uniform(-5, 5, n)
        x[rng.random(n) < 0.05] = -0.0
        assert market_kernels.pairwise_sum(x) == x.sum()
        assert np.signbit(market_kernels.pairwise_sum(x)) == np.signbit(x.sum())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_allocation_kernel_gives_the_array_codes_numbers(seed):
    rng = np.random.default_rng(seed)
    for trial in range(400):
        demand, avail, pref = _market(rng, trial)
        rounds, passes = int(rng.integers(1, 6)), int(rng.choice([0, 1, 2, 20]))
        fast = markets._allocate(demand, avail, pref, rounds, resplit_passes=passes)
        slow = markets._allocate(demand, avail, pref, rounds, resplit_passes=passes, compiled=False)
        assert fast.alloc.tobytes() == slow.alloc.tobytes()
        assert fast.unmet.tobytes() == slow.unmet.tobytes()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_capped_allocation_kernel_gives_the_array_codes_numbers(seed):
    rng = np.random.default_rng(10 + seed)
    for trial in range(300):
        demand, avail, pref = _market(rng, trial)
        K, N = pref.shape
        B = int(rng.integers(1, 5))
        bloc = rng.integers(0, B, N)
        free = markets._allocate(demand, avail, pref, 4, resplit_passes=20, compiled=False).alloc
        by_bloc = np.stack([free[:, bloc == b].sum(axis=1) for b in range(B)], axis=1)
        licensed = np.where(rng.random((K, B)) < 0.5, rng.random((K, B)), 1.0)
        licensed[rng.random((K, B)) < 0.1] = 0.0
        caps = np.where(licensed < 1.0, licensed * by_bloc, np.inf)
        rounds, passes = int(rng.integers(1, 6)), int(rng.choice([0, 1, 2, 20]))
        fast = markets._allocate(demand, avail, pref, rounds, bloc, caps, passes)
        slow = markets._allocate(demand, avail, pref, rounds, bloc, caps, passes, compiled=False)
        assert fast.alloc.tobytes() == slow.alloc.tobytes()
        assert fast.unmet.tobytes() == slow.unmet.tobytes()


@pytest.mark.parametrize("seed", [1, 2])
def test_delivery_kernel_gives_the_array_codes_numbers(seed):
    rng = np.random.default_rng(seed)
    for trial in range(200):
        demand, avail, pref = _market(rng, trial)
        alloc = markets._allocate(demand, avail, pref, 4, resplit_passes=20).alloc
        K, N = alloc.shape
        ratio = np.where(rng.random(N) < 0.7, 1.0, rng.random(N))
        ratio[rng.random(N) < 0.1] = 0.0
        landed = rng.random((K, N)) * 100.0
        class_bloc = rng.integers(0, 3, K)
        supplier_bloc = rng.integers(0, 3, N).astype(np.int16)
        delivered = np.empty_like(alloc)
        exported = np.empty(N)
        to_class, cost = market_kernels.deliver_rows(alloc, ratio, landed, class_bloc, supplier_bloc, delivered, exported)
        # the array code of sim.engine.clearing._produce
        want = alloc * ratio[None, :]
        scratch = np.multiply(want, landed)
        abroad = class_bloc[:, None] != supplier_bloc[None, :]
        assert delivered.tobytes() == want.tobytes()
        assert to_class.tobytes() == want.sum(axis=1).tobytes()
        assert cost.tobytes() == scratch.sum(axis=1).tobytes()
        scratch.fill(0.0)
        np.copyto(scratch, want, where=abroad)
        assert exported.tobytes() == scratch.sum(axis=0).tobytes()


@pytest.mark.parametrize("seed", [1, 2])
def test_block_sums_kernel_gives_the_array_codes_numbers(seed):
    rng = np.random.default_rng(20 + seed)
    for trial in range(200):
        K, N = int(rng.integers(1, 14)), int(rng.integers(0, 3000 if trial % 10 == 0 else 300))
        B = int(rng.integers(1, 5))
        x = rng.random((K, N)) * 10 ** rng.uniform(-5, 5, (K, N))
        x[rng.random((K, N)) < 0.2] = 0.0
        class_bloc, supplier_bloc = rng.integers(0, B, K), rng.integers(0, B, N).astype(np.int16)
        out = np.zeros((B, B))
        market_kernels.block_sums(x, class_bloc, supplier_bloc, B, out)
        # the array code sim.engine.metrics.trade_series used before the kernel
        row_order = np.argsort(class_bloc, kind="stable")
        col_order = np.argsort(supplier_bloc, kind="stable")
        grouped = np.take(x[row_order], col_order, axis=1)
        row_edge = np.concatenate(([0], np.cumsum(np.bincount(class_bloc, minlength=B))))
        col_edge = np.concatenate(([0], np.cumsum(np.bincount(supplier_bloc, minlength=B))))
        for b in range(B):
            for c in range(B):
                q = np.ascontiguousarray(grouped[row_edge[b] : row_edge[b + 1], col_edge[c] : col_edge[c + 1]]).sum()
                assert out[b, c].tobytes() == q.tobytes()


def test_bloc_deliveries_kernel_gives_the_array_codes_numbers():
    rng = np.random.default_rng(30)
    for trial in range(300):
        K, N, B = int(rng.integers(1, 14)), int(rng.integers(2, 3000 if trial % 10 == 0 else 300)), int(rng.integers(1, 5))
        x = rng.random((K, N)) * 10 ** rng.uniform(-5, 5, (K, N))
        x[rng.random((K, N)) < 0.2] = 0.0
        class_bloc, supplier_bloc = rng.integers(0, B, K), rng.integers(0, B, N).astype(np.int16)
        for b in range(B):
            to_bloc, by_origin = market_kernels.bloc_deliveries(x, class_bloc, b, supplier_bloc, B)
            want = x[class_bloc == b].sum(axis=0)
            assert to_bloc.tobytes() == want.tobytes()
            assert by_origin.tobytes() == np.bincount(supplier_bloc, weights=want, minlength=B).tobytes()
