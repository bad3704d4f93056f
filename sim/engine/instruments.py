"""The state that policies and scenario events change, declared in one place (MODEL.md 6).

:class:`Instruments` holds the bloc x stage arrays of the policy instruments
(``model.instruments``); policy modules and events change them only through it,
never by setting model attributes by name. Export licences live with the
markets (``Markets.set_export_control``), price floors and offtake with their
own module (``scenarios.price_floor.PriceFloors``, ``model.price_floors``).

Layers. Several events (and policies) may scale or bound the same array at
once - the permitting factor, the quality-ramp multiplier, the export discount,
buyers' demand multipliers - and each must undo only its own part. Multiplying
on apply and dividing on revert composes, but is not exact in floating point
(``x * m / m`` may differ from ``x`` in the last bit). Here each named change is
a *layer*: the array is recomputed as

    value = base  op  layer_1  op  layer_2 ...   (op: multiply, minimum, maximum or add)

so that when the last layer goes the array is the base again, bit for bit, in
whatever order the layers were added and removed. A change that other code made
to the array between two layer operations is kept: the changed cells are folded
into the base (for ``mul`` by dividing the active layers out of them, for ``add``
by subtracting them, for ``min``/``max`` by taking the changed values as the new
base).

Use :meth:`Instruments.set_layer` / :meth:`Instruments.clear_layer` for one of
the declared arrays, or :meth:`Instruments.set_layer_on` /
:meth:`Instruments.clear_layer_on` with a getter and a setter for values stored
elsewhere (e.g. one demand multiplier per buyer agent).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

OPS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {"mul": np.multiply, "min": np.minimum, "max": np.maximum, "add": np.add}
IDENTITY = {"mul": 1.0, "min": np.inf, "max": -np.inf, "add": 0.0}


@dataclass
class _Stack:
    op: str
    base: np.ndarray
    written: np.ndarray
    created: bool  # the value was None (absent) before the first layer
    layers: dict[str, np.ndarray] = field(default_factory=dict)

    def combined_layers(self) -> np.ndarray:
        out = np.full_like(self.base, IDENTITY[self.op])
        for v in self.layers.values():
            out = OPS[self.op](out, v)
        return out

    def value(self) -> np.ndarray:
        out = self.base.copy()
        for v in self.layers.values():
            out = OPS[self.op](out, v)
        return out

    def fold_outside_changes(self, cur) -> None:
        if cur is None:  # someone removed the array: start again from the identity
            self.base = np.full_like(self.base, IDENTITY[self.op])
            self.written = self.value()
            return
        cur = np.asarray(cur, dtype=float)
        changed = cur != self.written
        if not changed.any():
            return
        if self.op == "mul":
            comb = self.combined_layers()
            self.base[changed] = np.divide(cur[changed], comb[changed], out=np.zeros(int(changed.sum())), where=comb[changed] != 0)
        elif self.op == "add":
            self.base[changed] = cur[changed] - self.combined_layers()[changed]
        else:
            self.base[changed] = cur[changed]
        self.written = cur.copy()

    def write(self, put) -> None:
        v = self.value()
        self.written = v.copy()
        put(v)


class Instruments:
    """Bloc x stage arrays of the instruments in force, and their exactly revertible layers."""

    ARRAYS = ("permit_factor", "permit_cap_years", "ramp_extra", "export_discount", "quota_outside_groups", "output_cap_t", "tariff", "ban_all")

    def __init__(self, B: int, S: int):
        self.shape = (B, S)
        self.trade_shape = (B, B, S)  # importing bloc x exporting (origin) bloc x stage
        self.permit_factor = np.ones((B, S))  # permitting durations x this (permitting reforms, fast permits)
        self.permit_cap_years = np.full((B, S), np.inf)  # longest permitting time, years (permit caps)
        self.ramp_extra: np.ndarray | None = None  # quality-ramp time multiplier (technology bans, know-how); None: 1
        self.export_discount = np.zeros((B, S))  # exporter bloc's discount to foreign buyers (strategic pricing)
        self.quota_outside_groups = np.ones((B, S))  # share of capacity firms outside groups may use (output quotas)
        self.output_cap_t: np.ndarray | None = None  # national output quota of a bloc-stage, t/yr (None: no quota anywhere)
        # trade rules (scenarios.tariff, scenarios.sourcing_ban), (B importer, B origin, S):
        self.tariff = np.zeros((B, B, S))  # ad valorem tariff added to the world's import_tariff (layers add)
        self.ban_all = np.zeros((B, B, S))  # 1: no buyer class of the importer may buy the origin's output
        self.buyer_bans: dict[str, np.ndarray] = {}  # final buyer name -> (B,) 1: may not buy that origin's magnets
        self._stacks: dict[str, _Stack] = {}

    def trade_mask(self, importer: int, origins: list[int], stages: list[int]) -> np.ndarray:
        """(B, B, S) boolean mask: ``importer``'s buyers of the ``origins``' output at ``stages``."""
        m = np.zeros(self.trade_shape, dtype=bool)
        m[np.ix_([importer], origins, stages)] = True
        return m

    def mask(self, blocs: list[int], stages: list[int]) -> np.ndarray:
        """(B, S) boolean mask of the given bloc and stage indices."""
        m = np.zeros(self.shape, dtype=bool)
        m[np.ix_(blocs, stages)] = True
        return m

    # -- layers on the declared arrays ----------------------------------------------
    def _io(self, attr: str):
        if attr not in self.ARRAYS:
            raise KeyError(f"'{attr}' is not an instrument array; declared: {', '.join(self.ARRAYS)}")

        def get():
            return getattr(self, attr)

        def put(v):
            arr = getattr(self, attr)
            if v is None or arr is None or np.shape(arr) != np.shape(v):
                setattr(self, attr, v)
            else:
                arr[...] = v  # in place: other references to the array see the change

        return get, put

    def set_layer(self, attr: str, name: str, values: Any, op: str = "mul", init: float = 1.0) -> None:
        """Layer ``name`` on the array ``attr`` (one of ARRAYS; (B, S), created filled with ``init`` if None)."""
        get, put = self._io(attr)
        cur = get()
        self.set_layer_on(attr, name, values, get, put, op, init, shape=self.shape if cur is None else np.shape(cur))

    def clear_layer(self, attr: str, name: str) -> None:
        get, put = self._io(attr)
        self.clear_layer_on(attr, name, get, put)

    # -- sourcing bans naming final buyers -------------------------------------------
    def set_buyer_ban(self, buyer: str, name: str, origins: np.ndarray) -> None:
        """Layer ``name`` (combined by maximum) on the (B,) banned-origin mask of final buyer ``buyer``."""
        get, put = self._buyer_ban_io(buyer)
        self.set_layer_on(f"buyer_ban:{buyer}", name, origins, get, put, op="max", init=0.0, shape=(self.trade_shape[0],))

    def clear_buyer_ban(self, buyer: str, name: str) -> None:
        get, put = self._buyer_ban_io(buyer)
        self.clear_layer_on(f"buyer_ban:{buyer}", name, get, put)

    def _buyer_ban_io(self, buyer: str):
        def put(v):
            if v is None or not np.any(v > 0):
                self.buyer_bans.pop(buyer, None)  # no ban left: the buyer's class is as without bans
            else:
                self.buyer_bans[buyer] = v

        return (lambda: self.buyer_bans.get(buyer)), put

    # -- layers on values stored elsewhere -------------------------------------------
    def set_layer_on(
        self,
        key: str,
        name: str,
        values: Any,
        get: Callable[[], np.ndarray | None],
        put: Callable[[np.ndarray | None], None],
        op: str = "mul",
        init: float = 1.0,
        shape=None,
    ) -> None:
        """Add (or replace) layer ``name`` on the value that ``get``/``put`` read and write.

        ``init`` fills a new array (of ``shape``) when ``get()`` returns None; the value returns
        to None when the last layer is cleared and nobody else changed it meanwhile.
        """
        cur = get()
        st = self._stacks.get(key)
        if st is None:
            created = cur is None
            if created:
                cur = np.full(shape, float(init))
            base = np.array(cur, dtype=float, copy=True)
            st = self._stacks[key] = _Stack(op, base, base.copy(), created)
        else:
            st.fold_outside_changes(cur)
        st.layers[name] = np.broadcast_to(np.asarray(values, dtype=float), st.base.shape).copy()
        st.write(put)

    def clear_layer_on(self, key: str, name: str, get: Callable[[], np.ndarray | None], put: Callable[[np.ndarray | None], None]) -> None:
        """Remove layer ``name``; with no layer left the value is the base again, exactly."""
        st = self._stacks.get(key)
        if st is None or name not in st.layers:
            return
        st.fold_outside_changes(get())
        del st.layers[name]
        if st.layers:
            st.write(put)
            return
        del self._stacks[key]
        if st.created and np.all(st.base == IDENTITY.get(st.op)):
            put(None)
        else:
            put(st.base.copy())
