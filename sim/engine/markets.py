"""Markets and bloc price indices (MODEL.md 5.1).

Buyers with identical preference attributes form a class; each class splits its
demand over suppliers with spare output by a multinomial logit,

    weight = available output x exp(-beta x effective price / reference price),

where the effective price is the supplier bloc's price index plus cross-bloc
freight and tariff, less perceived discounts (same group, procurement
preference). Over-subscribed suppliers ration pro rata; unmet demand is
re-offered for a few rounds; what is still unmet is a shortage. Work is
O(classes x suppliers) per round: linear in firms.

Price index of bloc c at a stage, per quarter:
    p <- p x (1 + kappa x (utilisation - target utilisation + shortage share)),
after passing through the change in the input price paid (input per t x
change of the input price, so margins survive upstream price moves), where
utilisation is orders on c's suppliers over their available output and
the shortage share is the unmet part of c's own buyers' demand (unmet demand
presses on the buyer's home market), less a pull toward the bloc's long-run
price (capacity-weighted unit cost of its producers plus a capital charge) so
that the index cannot drift without bound while utilisation sits above
target. The relative change is clipped, with a ceiling, and a floor at the
cheapest supplier's unit cost in the bloc.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.engine import market_kernels


@dataclass
class Allocation:
    """Result of clearing one stage."""

    alloc: np.ndarray  # (K, N) quantity class k obtains from supplier j
    unmet: np.ndarray  # (K,) demand still unmet after the last round
    capped: np.ndarray  # (K,) purchases the export licence refused (uncontrolled purchases x (1 - licensed share))


def allocate(
    demand: np.ndarray,
    avail: np.ndarray,
    pref: np.ndarray,
    rounds: int,
    supplier_bloc: np.ndarray | None = None,
    licensed: np.ndarray | None = None,
    quota_t: np.ndarray | None = None,
    class_bloc: np.ndarray | None = None,
    resplit_passes: int = 0,
) -> Allocation:
    """Allocate class demand over suppliers (logit shares, pro-rata rationing, re-offers).

    demand: (K,) quantity wanted by each buyer class.
    avail: (N,) output each supplier can offer.
    pref: (K, N) non-negative preference factor exp(-beta x effective price / reference);
        0 forbids a pair (e.g. a domestic mandate).
    supplier_bloc: (N,) bloc index of each supplier, needed with ``licensed``.
    licensed: (K, B) share of class k's purchases from bloc b that is licensed
        (1 = no control). Under a control, class k obtains from bloc b at most
        licensed x what it would have obtained there without any control (the
        same allocation run uncontrolled first); demand the licence refuses is
        re-offered to suppliers in blocs still open to the class. The cap moves
        continuously with the licensed share: a share of 1 - eps gives almost
        the uncontrolled allocation.
    quota_t: (B,) tonnes the suppliers of bloc b may still sell to classes of other
        blocs (np.inf: no quota; an export quota, scenarios.export_quota), with
        ``class_bloc`` (K,) the bloc of each class. A quota is a licensed share
        for those classes: min(1, quota / F_b), F_b their uncontrolled purchases
        from b, so each class keeps the share of the quota it would have bought.
    resplit_passes: before each rationing round buyers re-split their requests up to this many times, away from
        suppliers that could not fill them (:func:`resplit_sold_out`); 0: requests go where the logit sends them.
    """
    quota_on = quota_t is not None and class_bloc is not None and supplier_bloc is not None and bool(np.isfinite(quota_t).any())
    controlled = (licensed is not None and supplier_bloc is not None and bool(np.any(licensed < 1.0))) or quota_on
    free = _allocate(demand, avail, pref, rounds, resplit_passes=resplit_passes)
    if not controlled:
        return free
    B = licensed.shape[1] if licensed is not None else len(quota_t)
    by_bloc = np.stack([free.alloc[:, supplier_bloc == b].sum(axis=1) for b in range(B)], axis=1)
    if quota_on:
        licensed = quota_licensed(by_bloc, class_bloc, quota_t, licensed)
        if not np.any(licensed < 1.0):  # no quota binds: the allocation is the uncontrolled one
            return free
    caps = np.where(licensed < 1.0, licensed * by_bloc, np.inf)
    res = _allocate(demand, avail, pref, rounds, supplier_bloc, caps, resplit_passes)
    res.capped = ((1.0 - licensed) * by_bloc).sum(axis=1)
    return res


def quota_licensed(by_bloc: np.ndarray, class_bloc: np.ndarray, quota_t: np.ndarray, licensed: np.ndarray | None = None) -> np.ndarray:
    """(K, B) licensed shares under export quotas: classes outside bloc b may obtain from b the share
    min(1, quota_t[b] / F_b) of what they would have bought (``by_bloc`` (K, B), uncontrolled), F_b the
    sum over those classes; combined with ``licensed`` (export controls) by the minimum."""
    K, B = by_bloc.shape
    out = np.ones((K, B)) if licensed is None else np.array(licensed, dtype=float)
    foreign = np.asarray(class_bloc)[:, None] != np.arange(B)[None, :]
    wanted = (by_bloc * foreign).sum(axis=0)
    share = np.divide(quota_t, wanted, out=np.ones(B), where=wanted > quota_t)  # wanted > quota >= 0: a binding quota
    return np.where(foreign, np.minimum(out, share[None, :]), out)


def resplit_sold_out(w: np.ndarray, want: np.ndarray, avail: np.ndarray, passes: int, tol: float = 1e-9) -> np.ndarray:
    """(K, N) request weights after buyers have moved their requests off over-subscribed suppliers: each pass splits
    ``want`` by the weights, computes each supplier's fill min(1, avail / requested) and multiplies its weights by it,
    so that a sold-out supplier draws fewer requests; passes stop once every request can be filled or the fills
    change by less than ``tol``. At the fixed point every supplier a class still asks is filled in the same proportion,
    so the order in which a class ranks suppliers no longer decides how much of a scarce total it gets: a buyer
    turned away by the supplier it prefers competes for the others' output on the same terms as their other buyers.
    Rows are rescaled to a maximum of 1 (the split reads only ratios)."""
    return _resplit(w, want, avail, passes, tol)[0]


def _resplit(w, want, avail, passes: int, tol: float = 1e-9):
    """:func:`resplit_sold_out`, returning also what its last pass computed from the weights it returns: the split of
    ``want`` (K, N), the requests on each supplier (N,) and its fill min(1, avail / requested) (N,), the same numbers
    as a rationing round computes from those weights (:func:`_allocate`), or three None when the passes ran out (the
    weights were rescaled after the last split) or a row's total weight is NaN (a round then splits that row
    otherwise)."""
    prev = None
    share = None  # scratch (K, N): each class's requests; w itself is the caller's until the first pass rescales it
    for i in range(passes):
        tot = w.sum(axis=1, keepdims=True)
        if share is None:
            share = np.empty_like(w)
        np.divide(w, tot, out=share, where=tot > 0)
        if not (tot > 0).all():  # a row without weight requests nothing (as a division into zeros gives)
            share[~(tot[:, 0] > 0)] = 0.0
        share *= want[:, None]
        requested = share.sum(axis=0)
        fill = np.minimum(np.divide(avail, requested, out=np.ones_like(requested), where=requested > avail), 1.0)
        if (fill >= 1.0 - tol).all() or (prev is not None and np.abs(fill - prev).max() < tol):
            if np.isnan(tot).any():
                break
            return w, share, requested, fill
        prev = fill
        if i == 0:
            w = w * fill[None, :]  # a new array: the caller's weights stay as they were
        else:
            w *= fill[None, :]
        top = w.max(axis=1, keepdims=True)
        np.divide(w, top, out=w, where=top > 0)
        if not (top > 0).all():
            w[~(top[:, 0] > 0)] = 0.0
    return w, None, None, None


_NO_BLOC, _NO_CAPS = np.zeros(0, dtype=np.int16), np.zeros((1, 1))  # the compiled allocation's arguments without caps


def _allocate(demand, avail, pref, rounds, supplier_bloc=None, caps=None, resplit_passes: int = 0, compiled: bool = True) -> Allocation:
    """Logit shares, pro-rata rationing and re-offers; ``caps`` (K, B) limits what class k obtains from bloc b;
    ``resplit_passes``: requests re-split off sold-out suppliers before each round (:func:`resplit_sold_out`).
    With two suppliers or more, ``compiled``: the same numbers from one compiled loop
    (sim.engine.market_kernels.allocate_rows); False: the array code below, which the kernel is checked against."""
    demand = np.asarray(demand, dtype=float)
    K, N = pref.shape
    if compiled and N > 1 and pref.dtype == np.float64:  # the same numbers in one compiled loop (market_kernels)
        has_caps = caps is not None
        alloc, want = market_kernels.allocate_rows(
            demand,
            np.asarray(avail, dtype=float),
            np.ascontiguousarray(pref),
            rounds,
            resplit_passes,
            1e-9,
            np.ascontiguousarray(supplier_bloc, dtype=np.int16) if has_caps else _NO_BLOC,
            np.array(caps, dtype=float) if has_caps else _NO_CAPS,
            has_caps,
        )
        return Allocation(alloc=alloc, unmet=want, capped=np.zeros(K))
    remaining_avail = np.asarray(avail, dtype=float).copy()
    alloc = np.zeros((K, N))
    want = demand.copy()
    cap_left = None if caps is None else caps.astype(float).copy()
    bloc_cols = None if cap_left is None else [supplier_bloc == b for b in range(cap_left.shape[1])]  # each bloc's suppliers
    buf = np.empty((K, N))  # this round's weights, then desired orders, then what they obtain, in place
    for r in range(rounds):
        if N == 0 or want.sum() <= 1e-12 or remaining_avail.sum() <= 1e-12:
            break
        # a class with nothing left to buy asks for nothing: its row is all zeros and adds nothing to the sums below
        # (x + 0.0 == x), so the round works on the other rows only. Not with a single supplier: numpy then sums the
        # one column pairwise, whose grouping depends on the number of rows
        rows = np.flatnonzero(want > 0) if N > 1 else np.arange(K)
        whole = len(rows) == K
        w = buf if whole else buf[: len(rows)]
        np.multiply(pref if whole else pref[rows], remaining_avail[None, :], out=w)
        if cap_left is not None:  # a class whose licence is used up no longer considers that bloc
            w = np.where(cap_left[rows][:, supplier_bloc] > 1e-12, w, 0.0)
        split = requested = fill = None
        if resplit_passes > 0:  # the re-split's last pass has split the demand by the weights it returns: kept
            w, split, requested, fill = _resplit(w, want[rows], remaining_avail, resplit_passes)
        if split is not None:
            desired = split  # the re-split's own array: w stays apart from it
        else:
            tot = w.sum(axis=1, keepdims=True)
            desired = w if cap_left is None else w.copy()  # w itself is read again under caps (buf, or resplit's own array)
            np.divide(desired, tot, out=desired, where=tot > 0)
            if not (tot > 0).all():
                desired[tot[:, 0] <= 0] = 0.0
            desired *= want[rows, None]
        if cap_left is not None:
            B = cap_left.shape[1]
            by_bloc = np.stack([desired[:, bloc_cols[b]].sum(axis=1) for b in range(B)], axis=1)
            cl = cap_left[rows]
            scale = np.divide(np.minimum(by_bloc, cl), by_bloc, out=np.ones_like(by_bloc), where=by_bloc > 0)
            desired = desired * scale[:, supplier_bloc]
            # what the licence refuses goes, in the same round, to suppliers in blocs still open to the class
            excess = np.maximum(by_bloc - cl, 0.0)
            open_w = np.where(excess[:, supplier_bloc] > 1e-12, 0.0, w)
            open_tot = open_w.sum(axis=1, keepdims=True)
            desired += np.divide(open_w, open_tot, out=np.zeros_like(open_w), where=open_tot > 0) * excess.sum(axis=1, keepdims=True)
            requested = None  # the requests have moved: summed afresh
        if requested is None:
            requested = desired.sum(axis=0)
            fill = np.minimum(np.divide(remaining_avail, requested, out=np.ones_like(requested), where=requested > remaining_avail), 1.0)
        got = desired
        got *= fill[None, :]
        if whole:
            alloc += got
        else:
            alloc[rows] += got
        remaining_avail = np.maximum(remaining_avail - got.sum(axis=0), 0.0)
        want[rows] = np.maximum(want[rows] - got.sum(axis=1), 0.0)
        if cap_left is not None:
            for b in range(cap_left.shape[1]):
                cap_left[rows, b] = np.maximum(cap_left[rows, b] - got[:, bloc_cols[b]].sum(axis=1), 0.0)
    return Allocation(alloc=alloc, unmet=want, capped=np.zeros(K))


def update_price(
    price: float,
    utilisation: float | None,
    shortage_share: float,
    floor: float,
    ceiling: float,
    kappa: float,
    target_utilisation: float,
    max_change: float,
    normal: float = float("nan"),
    reversion: float = 0.0,
    max_rise: float = 0.0,
) -> float:
    """One quarter of the bloc price index rule (module docstring).

    utilisation: orders on the bloc's suppliers / their available output (None when the
    bloc has no supplier offering); shortage_share: unmet share of the bloc's buyers'
    demand (market rationing plus production shortfalls upstream); normal: the long-run
    price (producers' unit cost plus a capital charge) toward which the index reverts at
    rate ``reversion`` per quarter (NaN: no reversion); max_rise: the clip on a rise when it
    is larger than ``max_change`` (``markets.max_price_rise``; 0: ``max_change`` both ways).
    """
    excess = shortage_share + (utilisation - target_utilisation if utilisation is not None else 0.0)
    pull = reversion * (price - normal) / price if np.isfinite(normal) and price > 0 else 0.0
    change = float(np.clip(kappa * excess - pull, -max_change, max(max_change, max_rise)))
    new = min(price * (1.0 + change), ceiling)
    if np.isfinite(floor):
        new = max(new, floor)
    return float(new)


def bound_side(price: float, floor: float, ceiling: float) -> int:
    """Which clip bound of ``update_price`` a price it returned sits at: -1 the cost floor (applied last, so it
    wins when the floor is above the ceiling), +1 the ceiling, 0 neither. Exact compares: the rule assigns the
    bound itself."""
    if np.isfinite(floor) and price == floor:
        return -1
    return 1 if price == ceiling else 0


class Markets:
    """Price indices per bloc and stage, expectations and active export controls."""

    def __init__(self, blocs: list[str], stages: list[str], reference_price_usd_per_kg: np.ndarray, params):
        self.blocs = blocs
        self.stages = stages
        self.params = params
        self.reference_price_usd_per_kg = np.asarray(reference_price_usd_per_kg, dtype=float)  # (S,)
        B = len(blocs)
        self.price = np.tile(self.reference_price_usd_per_kg, (B, 1))  # (B, S) USD/kg
        self.expected_price = self.price.copy()
        self.price_at_bound = np.zeros((B, len(stages)))  # (B, S) after this quarter's update: +1 ceiling, -1 cost floor, 0 neither
        self.log_price_history: list[np.ndarray] = []
        self._controls: dict[str, tuple[int, list[int], float]] = {}
        self._standing: set[str] = set()  # names of standing bans (a policy's export_ban_stages), not shocks
        # export quotas (scenarios.export_quota): name -> (exporter, stages, quota units per t of each stage (S,)),
        # and the quota units left this quarter and used so far this quarter
        self._quotas: dict[str, tuple[int, list[int], np.ndarray]] = {}
        self._quota_left: dict[str, float] = {}
        self._quota_used: dict[str, float] = {}

    # -- export controls ------------------------------------------------------
    def set_export_control(self, name: str, exporter: str, stages: list[str], share: float, standing: bool = False) -> None:
        """Cap other blocs' purchases from ``exporter`` at ``stages`` to ``share`` of what they would buy. ``standing``: a
        long-standing rule of the exporter's policy (``instruments.export_ban_stages``), which buyers know and plan
        around, not a shock: it caps trade and import parity like any control, but buyers' security premiums and the
        recorded ``export_controlled`` series see only the others."""
        self._controls[name] = (self.blocs.index(exporter), [self.stages.index(s) for s in stages], float(share))
        if standing:
            self._standing.add(name)
        else:
            self._standing.discard(name)

    def clear_export_control(self, name: str) -> None:
        self._controls.pop(name, None)
        self._standing.discard(name)

    def licensed_share(self, stage: int, class_bloc: np.ndarray) -> np.ndarray | None:
        """(K, B) licensed shares for buyer classes at a stage, or None when nothing is controlled."""
        B = len(self.blocs)
        out = None
        for exporter, stages, share in self._controls.values():
            if stage in stages:
                if out is None:
                    out = np.ones((len(class_bloc), B))
                foreign = class_bloc != exporter
                out[foreign, exporter] = np.minimum(out[foreign, exporter], share)
        return out

    def controlled(self, stage: int, exporter: int, standing: bool = True, quotas: bool = True) -> bool:
        """Whether an export control or an export quota covers the exporter's sales abroad at the stage
        (``standing=False``: counting only scenario shocks, not the standing bans of a bloc's policy;
        ``quotas=False``: export controls only)."""
        shocks = any(stage in st and ex == exporter for name, (ex, st, _) in self._controls.items() if standing or name not in self._standing)
        return shocks or (quotas and any(stage in st and ex == exporter for ex, st, _ in self._quotas.values()))

    # -- export quotas (scenarios.export_quota) ------------------------------------
    def set_export_quota(self, name: str, exporter: str, stages: list[str], units_per_t: np.ndarray, allowance: float) -> None:
        """Quota ``name`` for the coming quarter: ``exporter``'s suppliers may sell ``allowance`` (quota units) to
        other blocs' buyers, summed over ``stages``; a tonne of stage s uses ``units_per_t[s]`` units."""
        self._quotas[name] = (self.blocs.index(exporter), [self.stages.index(s) for s in stages], np.asarray(units_per_t, dtype=float))
        self._quota_left[name] = max(float(allowance), 0.0)
        self._quota_used[name] = 0.0

    def clear_export_quota(self, name: str) -> None:
        for d in (self._quotas, self._quota_left, self._quota_used):
            d.pop(name, None)

    def quota_left_t(self, stage: int) -> np.ndarray | None:
        """(B,) tonnes of the stage's product each bloc's suppliers may still sell abroad this quarter under
        the quotas in force (np.inf: none), or None when no quota covers the stage."""
        out = None
        for name, (ex, stages, per_t) in self._quotas.items():
            if stage in stages:
                if out is None:
                    out = np.full(len(self.blocs), np.inf)
                out[ex] = min(out[ex], self._quota_left[name] / per_t[stage])
        return out

    def use_export_quota(self, stage: int, class_bloc: np.ndarray, alloc: np.ndarray, supplier_bloc: np.ndarray) -> None:
        """Count the stage's sales abroad (``alloc`` (K, N) of the clearing) against the quotas covering it."""
        for name, (ex, stages, per_t) in self._quotas.items():
            if stage in stages:
                sold = alloc[np.ix_(np.asarray(class_bloc) != ex, np.asarray(supplier_bloc) == ex)].sum() * per_t[stage]
                self._quota_used[name] += sold
                self._quota_left[name] = max(self._quota_left[name] - sold, 0.0)

    def export_quota_used(self, name: str) -> float:
        """Quota units sold abroad since the quota's allowance was last set (0 for a quota not in force)."""
        return self._quota_used.get(name, 0.0)

    # -- expectations ---------------------------------------------------------
    def update_expectations(self, memory_quarters: float) -> None:
        """Adaptive expectations: exponential smoothing of each index."""
        a = 1.0 / max(memory_quarters, 1.0)
        self.expected_price = (1 - a) * self.expected_price + a * self.price
        self.log_price_history.append(np.log(self.price))

    def volatility(self, quarters: int = 12) -> np.ndarray:
        """(B, S) standard deviation of quarterly log-price changes over the last ``quarters``, annualised."""
        hist = self.log_price_history[-(quarters + 1) :]
        if len(hist) < 3:
            return np.zeros_like(self.price)
        d = np.diff(np.stack(hist), axis=0)
        return d.std(axis=0) * 2.0  # sqrt(4 quarters)
