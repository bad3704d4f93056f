"""Compiled kernels (numba) for the rare-earth world's stage markets (sim.engine.markets, sim.engine.clearing).

A stage's clearing works on (classes K, suppliers N) arrays; at world.scale 320 the magnet stage has about 75,000
suppliers, and each numpy operation of a rationing round or a re-split pass reads and writes a whole (K, N) array.
The kernels below do a round's or a pass's work in one or two sweeps over the rows, with the same IEEE double
operations in the same order as the array code (no fast-math), so their numbers are bit for bit those of the array
code (tests/test_market_kernels.py compares both). Sums follow numpy's own order: a sum along a row (``axis=1`` of a
C-ordered array, or a whole 1-D array) is numpy's pairwise sum (:func:`pairwise_sum`: blocks of at most 128 items
added in eight interleaved partial sums, longer runs split in two at a multiple of 8) added to 0.0; a sum down the
rows (``axis=0``, N > 1) adds the rows in order to 0.0. With a single column (N == 1) numpy sums the column pairwise
instead, so the callers keep the array code for N < 2.

Compiled on first use and cached beside this file (``cache=True``); :func:`load` compiles or loads them when a model
is built, so that a quarter's time is the rules' own.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(inline="always")
def _max(a: float, b: float) -> float:
    """numpy's maximum for two doubles: the first where it is larger or NaN, else the second."""
    return a if (a > b or a != a) else b


@numba.njit(inline="always")
def _min(a: float, b: float) -> float:
    """numpy's minimum for two doubles: the first where it is smaller or NaN, else the second."""
    return a if (a < b or a != a) else b


@numba.njit(cache=True, nogil=True, inline="always")
def _block_sum(a, lo, n):
    """numpy's pairwise sum of a run of at most 128 items: eight interleaved partial sums, then the rest in order
    (read through a slice, so that the indices are the loops' own and need no wraparound test)."""
    p = a[lo : lo + n]
    if n < 8:
        res = -0.0
        for i in range(n):
            res += p[i]
        return res
    r0 = p[0]
    r1 = p[1]
    r2 = p[2]
    r3 = p[3]
    r4 = p[4]
    r5 = p[5]
    r6 = p[6]
    r7 = p[7]
    m = n - (n % 8)
    for i in range(8, m, 8):
        r0 += p[i]
        r1 += p[i + 1]
        r2 += p[i + 2]
        r3 += p[i + 3]
        r4 += p[i + 4]
        r5 += p[i + 5]
        r6 += p[i + 6]
        r7 += p[i + 7]
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for i in range(m, n):
        res += p[i]
    return res


@numba.njit(cache=True, nogil=True)
def sum_plan(n):
    """How numpy's pairwise sum adds n items: a run of at most 128 items is one block (:func:`_block_sum`); a longer
    run is split in two at n2 = n // 2 less n // 2 mod 8 and the two halves' sums added. Returns the blocks' starts
    and lengths in order and the additions as a postfix program (k >= 0: the next block's sum, -1: add the two sums
    on top), so that the rows of one length share one plan and a row's sum is a loop over its blocks, not recursion."""
    lo = np.empty(max(n // 64 + 2, 2), dtype=np.intp)
    ln = np.empty(len(lo), dtype=np.intp)
    prog = np.empty(2 * len(lo), dtype=np.intp)
    seg_lo = np.empty(256, dtype=np.intp)
    seg_n = np.empty(256, dtype=np.intp)  # -1: an addition
    nb = 0
    npg = 0
    seg_lo[0] = 0
    seg_n[0] = n
    sp = 1
    while sp > 0:
        sp -= 1
        m = seg_n[sp]
        start = seg_lo[sp]
        if m < 0:
            prog[npg] = -1
            npg += 1
        elif m <= 128:
            lo[nb] = start
            ln[nb] = m
            prog[npg] = nb
            nb += 1
            npg += 1
        else:
            n2 = m // 2
            n2 -= n2 % 8
            seg_n[sp] = -1
            seg_lo[sp] = 0
            seg_lo[sp + 1] = start + n2
            seg_n[sp + 1] = m - n2
            seg_lo[sp + 2] = start
            seg_n[sp + 2] = n2
            sp += 3
    return lo[:nb], ln[:nb], prog[:npg]


@numba.njit(cache=True, nogil=True)
def planned_sum(a, lo, ln, prog, vals):
    """numpy's pairwise sum of the 1-D ``a`` by its length's :func:`sum_plan` (``vals``: scratch of len(lo) items)."""
    nb = len(lo)
    if nb == 1:
        return _block_sum(a, lo[0], ln[0])
    for k in range(nb):
        vals[k] = _block_sum(a, lo[k], ln[k])
    sp = 0
    for t in prog:
        if t >= 0:
            vals[sp] = vals[t]  # sp <= t: the blocks before t are already on the stack
            sp += 1
        else:
            vals[sp - 2] = vals[sp - 2] + vals[sp - 1]
            sp -= 1
    return vals[0]


@numba.njit(cache=True, nogil=True)
def pairwise_sum(a):
    """numpy's sum of the 1-D float64 ``a``: 0.0 plus its pairwise sum."""
    lo, ln, prog = sum_plan(len(a))
    return 0.0 + planned_sum(a, lo, ln, prog, np.empty(len(lo)))


@numba.njit(cache=True, nogil=True)
def _split(w, share, nr, want, rows, requested, fill, avail, nan_rows, plan):
    """Each of the first ``nr`` rows of ``w`` split into ``share``: w / (the row's sum) x the class's ``want`` (rows
    without a positive sum ask nothing; with ``nan_rows`` a row whose sum is NaN keeps its weights x want, as the
    round's own split leaves it); ``requested``: the column sums; ``fill``: min(1, avail / requested) where requested
    > avail, else 1. Returns whether a row's sum was NaN."""
    N = w.shape[1]
    any_nan = False
    for j in range(N):
        requested[j] = 0.0
    for i in range(nr):
        t = 0.0 + planned_sum(w[i], plan[0], plan[1], plan[2], plan[3])
        wi = want[rows[i]]
        if t > 0:
            for j in range(N):
                v = (w[i, j] / t) * wi
                share[i, j] = v
                requested[j] += v
        elif t != t and nan_rows:
            any_nan = True
            for j in range(N):
                v = w[i, j] * wi
                share[i, j] = v
                requested[j] += v
        else:
            if t != t:
                any_nan = True
            z = 0.0 * wi
            for j in range(N):
                share[i, j] = z
                requested[j] += z
    for j in range(N):
        f = avail[j] / requested[j] if requested[j] > avail[j] else 1.0
        fill[j] = _min(f, 1.0)
    return any_nan


@numba.njit(cache=True, nogil=True)
def _bloc_sums(row, bcols, bstart, plo, pln, pprog, pstart, buf, vals, out, in_order):
    """``out[b]``: numpy's sum of the items of ``row`` at bloc b's columns (``bcols[bstart[b]:bstart[b + 1]]``, in
    column order), as ``x[:, mask].sum(axis=1)`` gives it: a boolean mask's gather of two rows or more is laid out
    column by column, and numpy then adds each row's items in order to 0.0 (``in_order``); of a single row it is a
    plain row, summed pairwise by its count's plan (``pstart``: each bloc's offsets into the concatenated plans)."""
    for b in range(len(out)):
        a, z = bstart[b], bstart[b + 1]
        if in_order:
            acc = 0.0
            for q in range(a, z):
                acc += row[bcols[q]]
            out[b] = acc
            continue
        for q in range(z - a):
            buf[q] = row[bcols[a + q]]
        lo = plo[pstart[b, 0] : pstart[b + 1, 0]]
        ln = pln[pstart[b, 0] : pstart[b + 1, 0]]
        prog = pprog[pstart[b, 1] : pstart[b + 1, 1]]
        out[b] = 0.0 + planned_sum(buf, lo, ln, prog, vals)


@numba.njit(cache=True, nogil=True)
def allocate_rows(demand, avail, pref, rounds, passes, tol, supplier_bloc, caps, has_caps):
    """sim.engine.markets._allocate for N >= 2 suppliers (see there): logit weights pref x the supplier's output left,
    requests re-split off sold-out suppliers up to ``passes`` times (markets._resplit), pro-rata rationing, ``rounds``
    rounds; with ``has_caps`` class k obtains at most ``caps[k, b]`` from the suppliers of bloc b (``supplier_bloc``),
    what a licence refuses going in the same round to the blocs still open to the class. Returns (alloc (K, N), the
    demand left (K,))."""
    K, N = pref.shape
    alloc = np.zeros((K, N))
    want = demand.copy()
    rem = avail.copy()
    w = np.empty((K, N))
    share = np.empty((K, N))
    rows = np.empty(K, dtype=np.intp)
    requested = np.empty(N)
    fill = np.empty(N)
    prev = np.empty(N)
    got_col = np.empty(N)
    lim = 1.0 - tol
    lo, ln, prog = sum_plan(N)
    plan = (lo, ln, prog, np.empty(len(lo)))
    # under caps: each bloc's columns in order, the plans of their counts, and scratch
    B = caps.shape[1] if has_caps else 0
    cap_left = caps.copy()
    bstart = np.zeros(B + 1, dtype=np.intp)
    bcols = np.empty(N if has_caps else 0, dtype=np.intp)
    pstart = np.zeros((B + 1, 2), dtype=np.intp)
    if has_caps:
        for j in range(N):
            bstart[supplier_bloc[j] + 1] += 1
        for b in range(B):
            bstart[b + 1] += bstart[b]
        at = bstart[:B].copy()
        for j in range(N):
            b = supplier_bloc[j]
            bcols[at[b]] = j
            at[b] += 1
        for b in range(B):
            blo, _bln, bprog = sum_plan(bstart[b + 1] - bstart[b])
            pstart[b + 1, 0] = pstart[b, 0] + len(blo)
            pstart[b + 1, 1] = pstart[b, 1] + len(bprog)
    plo = np.empty(pstart[B, 0], dtype=np.intp)
    pln = np.empty(pstart[B, 0], dtype=np.intp)
    pprog = np.empty(pstart[B, 1], dtype=np.intp)
    for b in range(B):
        blo, bln, bprog = sum_plan(bstart[b + 1] - bstart[b])
        plo[pstart[b, 0] : pstart[b + 1, 0]] = blo
        pln[pstart[b, 0] : pstart[b + 1, 0]] = bln
        pprog[pstart[b, 1] : pstart[b + 1, 1]] = bprog
    gbuf = np.empty(N)
    gvals = np.empty(len(lo) + 1)
    by_bloc = np.empty(B)
    scale = np.empty(B)
    excess = np.empty(B)
    open_w = np.empty(N)
    for _r in range(rounds):
        if pairwise_sum(want) <= 1e-12 or 0.0 + planned_sum(rem, lo, ln, prog, plan[3]) <= 1e-12:
            break
        nr = 0
        for k in range(K):
            if want[k] > 0:
                rows[nr] = k
                nr += 1
        for i in range(nr):
            r = rows[i]
            for j in range(N):
                w[i, j] = pref[r, j] * rem[j]
            if has_caps:  # a class whose licence is used up no longer considers that bloc
                for j in range(N):
                    if not (cap_left[r, supplier_bloc[j]] > 1e-12):
                        w[i, j] = 0.0
        split = False
        for p in range(passes):
            any_nan = _split(w, share, nr, want, rows, requested, fill, rem, False, plan)
            done = True
            for j in range(N):
                if not (fill[j] >= lim):
                    done = False
                    break
            if not done and p > 0:
                worst = 0.0
                for j in range(N):
                    d = abs(fill[j] - prev[j])
                    if d != d:
                        worst = d
                        break
                    if d > worst:
                        worst = d
                done = worst < tol
            if done:
                split = not any_nan
                break
            for j in range(N):
                prev[j] = fill[j]
            for i in range(nr):
                top = -np.inf
                has_nan = False
                for j in range(N):
                    v = w[i, j] * fill[j]
                    w[i, j] = v
                    if v != v:
                        has_nan = True
                    elif v > top:
                        top = v
                if has_nan:
                    top = np.nan
                if top > 0:
                    for j in range(N):
                        w[i, j] = w[i, j] / top
                else:
                    for j in range(N):
                        w[i, j] = 0.0
        if not split:
            _split(w, share, nr, want, rows, requested, fill, rem, True, plan)
        if has_caps:  # scaled to the licence; what it refuses goes to the blocs still open to the class
            for i in range(nr):
                r = rows[i]
                _bloc_sums(share[i], bcols, bstart, plo, pln, pprog, pstart, gbuf, gvals, by_bloc, nr > 1)
                for b in range(B):
                    cl = cap_left[r, b]
                    x = by_bloc[b]
                    scale[b] = _min(x, cl) / x if x > 0 else 1.0
                    excess[b] = _max(x - cl, 0.0)
                ex_sum = pairwise_sum(excess)
                for j in range(N):
                    open_w[j] = 0.0 if excess[supplier_bloc[j]] > 1e-12 else w[i, j]
                open_tot = 0.0 + planned_sum(open_w, lo, ln, prog, plan[3])
                for j in range(N):
                    d = share[i, j] * scale[supplier_bloc[j]]
                    add = (open_w[j] / open_tot) * ex_sum if open_tot > 0 else 0.0 * ex_sum
                    share[i, j] = d + add
            for j in range(N):
                requested[j] = 0.0
            for i in range(nr):
                for j in range(N):
                    requested[j] += share[i, j]
            for j in range(N):
                f = rem[j] / requested[j] if requested[j] > rem[j] else 1.0
                fill[j] = _min(f, 1.0)
        for j in range(N):
            got_col[j] = 0.0
        for i in range(nr):
            r = rows[i]
            for j in range(N):
                g = share[i, j] * fill[j]
                share[i, j] = g
                alloc[r, j] = alloc[r, j] + g
                got_col[j] += g
        for j in range(N):
            rem[j] = _max(rem[j] - got_col[j], 0.0)
        for i in range(nr):
            r = rows[i]
            want[r] = _max(want[r] - (0.0 + planned_sum(share[i], lo, ln, prog, plan[3])), 0.0)
        if has_caps:
            for i in range(nr):
                r = rows[i]
                _bloc_sums(share[i], bcols, bstart, plo, pln, pprog, pstart, gbuf, gvals, by_bloc, nr > 1)
                for b in range(B):
                    cap_left[r, b] = _max(cap_left[r, b] - by_bloc[b], 0.0)
    return alloc, want


@numba.njit(cache=True, nogil=True)
def deliver_rows(alloc, ratio, landed, class_bloc, supplier_bloc, delivered, exported):
    """A stage's deliveries (sim.engine.clearing._produce) for N != 1 suppliers: ``delivered`` = alloc x the
    supplier's ratio of output to orders, ``exported`` the column sums of the deliveries to classes of another
    bloc (added in class order to 0.0). Returns each class's deliveries and what they cost at the landed prices
    (delivered x landed), row sums as numpy's."""
    K, N = alloc.shape
    lo, ln, prog = sum_plan(N)
    vals = np.empty(len(lo))
    row = np.empty(N)
    to_class = np.empty(K)
    cost = np.empty(K)
    for j in range(N):
        exported[j] = 0.0
    for k in range(K):
        cb = class_bloc[k]
        for j in range(N):
            d = alloc[k, j] * ratio[j]
            delivered[k, j] = d
            row[j] = d * landed[k, j]
            exported[j] += d if cb != supplier_bloc[j] else 0.0
        to_class[k] = 0.0 + planned_sum(delivered[k], lo, ln, prog, vals)
        cost[k] = 0.0 + planned_sum(row, lo, ln, prog, vals)
    return to_class, cost


@numba.njit(cache=True, nogil=True)
def block_sums(x, row_bloc, col_bloc, n_blocs, out):
    """``out[b, c]``: numpy's sum of the (K, N) ``x``'s items of the rows of bloc b (``row_bloc``) and the columns of
    bloc c (``col_bloc``), as ``np.ascontiguousarray(block).sum()`` gives it for the block copied whole with rows
    and columns each in their own order (sim.engine.metrics.trade_series): 0.0 plus the pairwise sum of its items in
    row-major order."""
    K, N = x.shape
    rstart = np.zeros(n_blocs + 1, dtype=np.intp)
    cstart = np.zeros(n_blocs + 1, dtype=np.intp)
    for k in range(K):
        rstart[row_bloc[k] + 1] += 1
    for j in range(N):
        cstart[col_bloc[j] + 1] += 1
    for b in range(n_blocs):
        rstart[b + 1] += rstart[b]
        cstart[b + 1] += cstart[b]
    rows = np.empty(K, dtype=np.intp)
    cols = np.empty(N, dtype=np.intp)
    at = rstart[:n_blocs].copy()
    for k in range(K):
        rows[at[row_bloc[k]]] = k
        at[row_bloc[k]] += 1
    at = cstart[:n_blocs].copy()
    for j in range(N):
        cols[at[col_bloc[j]]] = j
        at[col_bloc[j]] += 1
    buf = np.empty(K * N)
    for b in range(n_blocs):
        for c in range(n_blocs):
            m = 0
            for q in range(rstart[b], rstart[b + 1]):
                r = rows[q]
                for t in range(cstart[c], cstart[c + 1]):
                    buf[m] = x[r, cols[t]]
                    m += 1
            lo, ln, prog = sum_plan(m)
            out[b, c] = 0.0 + planned_sum(buf, lo, ln, prog, np.empty(len(lo)))


@numba.njit(cache=True, nogil=True)
def bloc_deliveries(delivered, class_bloc, b, supplier_bloc, n_blocs):
    """What bloc b's classes received at a stage, for N >= 2 suppliers: (N,) tonnes from each supplier, the rows of
    ``delivered`` of those classes added in row order to 0.0 (numpy's ``delivered[class_bloc == b].sum(axis=0)``),
    and (n_blocs,) those tonnes by the supplier's bloc, added in supplier order (numpy's bincount)."""
    K, N = delivered.shape
    to_bloc = np.zeros(N)
    for k in range(K):
        if class_bloc[k] == b:
            for j in range(N):
                to_bloc[j] += delivered[k, j]
    by_origin = np.zeros(n_blocs)
    for j in range(N):
        by_origin[supplier_bloc[j]] += to_bloc[j]
    return to_bloc, by_origin


def load() -> None:
    """Compile the kernels (the first time on a machine) or load them from their cache, on empty inputs."""
    sb = np.zeros(2, dtype=np.int16)
    allocate_rows(np.zeros(1), np.zeros(2), np.zeros((1, 2)), 1, 1, 1e-9, sb, np.zeros((1, 1)), False)
    z = np.zeros((1, 2))
    bloc_deliveries(z, np.zeros(1, dtype=np.int64), 0, np.zeros(2, dtype=np.int16), 1)
    block_sums(z, np.zeros(1, dtype=np.int64), np.zeros(2, dtype=np.int16), 1, np.zeros((1, 1)))
    deliver_rows(z, np.zeros(2), z, np.zeros(1, dtype=np.int64), np.zeros(2, dtype=np.int16), np.zeros((1, 2)), np.zeros(2))
