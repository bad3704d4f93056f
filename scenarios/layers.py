"""Composable, exactly revertible changes of model arrays by named events and policies.

Several events (and policies) may scale or bound the same array of the model at
once - the (B, S) permitting factor, the quality-ramp multiplier, the export
discount, buyers' demand multipliers - and each must undo only its own part.
Multiplying on apply and dividing on revert composes, but is not exact in
floating point (``x * m / m`` may differ from ``x`` in the last bit). Here each
named change is a *layer*: the array is recomputed as

    value = base  op  layer_1  op  layer_2 ...   (op: multiply, minimum or maximum)

so that when the last layer goes the array is the base again, bit for bit, in
whatever order the layers were added and removed. A change that other code made
to the array between two layer operations is kept: the changed cells are folded
into the base (for ``mul`` by dividing the active layers out of them, for
``min``/``max`` by taking the changed values as the new base).

Use :func:`set_layer` / :func:`clear_layer` for a model attribute holding a
numpy array, or :func:`set_layer_on` / :func:`clear_layer_on` with a getter and
a setter for values stored elsewhere (e.g. one multiplier per buyer agent).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

OPS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {"mul": np.multiply, "min": np.minimum, "max": np.maximum}


@dataclass
class _Stack:
    op: str
    base: np.ndarray
    written: np.ndarray
    created: bool  # the value was None (absent) before the first layer
    layers: dict[str, np.ndarray] = field(default_factory=dict)

    def combined_layers(self) -> np.ndarray:
        out = np.full_like(self.base, {"mul": 1.0, "min": np.inf, "max": -np.inf}[self.op])
        for v in self.layers.values():
            out = OPS[self.op](out, v)
        return out

    def value(self) -> np.ndarray:
        out = self.base.copy()
        for v in self.layers.values():
            out = OPS[self.op](out, v)
        return out


def _stacks(model) -> dict[str, _Stack]:
    st = getattr(model, "_array_layers", None)
    if st is None:
        st = {}
        model._array_layers = st
    return st


def set_layer_on(model, key: str, name: str, values: Any, get: Callable[[], np.ndarray | None],
                 put: Callable[[np.ndarray | None], None], op: str = "mul", init: float = 1.0, shape=None) -> None:
    """Add (or replace) layer ``name`` on the value that ``get``/``put`` read and write.

    ``init`` fills a new array (of ``shape``) when ``get()`` returns None; the value returns
    to None when the last layer is cleared and nobody else changed it meanwhile.
    """
    stacks = _stacks(model)
    cur = get()
    st = stacks.get(key)
    if st is None:
        created = cur is None
        if created:
            cur = np.full(shape, float(init))
        base = np.array(cur, dtype=float, copy=True)
        st = stacks[key] = _Stack(op, base, base.copy(), created)
    else:
        _fold_outside_changes(st, cur)
    st.layers[name] = np.broadcast_to(np.asarray(values, dtype=float), st.base.shape).copy()
    _write(st, put)


def clear_layer_on(model, key: str, name: str, get: Callable[[], np.ndarray | None], put: Callable[[np.ndarray | None], None]) -> None:
    """Remove layer ``name``; with no layer left the value is the base again, exactly."""
    stacks = _stacks(model)
    st = stacks.get(key)
    if st is None or name not in st.layers:
        return
    _fold_outside_changes(st, get())
    del st.layers[name]
    if st.layers:
        _write(st, put)
        return
    del stacks[key]
    if st.created and np.all(st.base == {"mul": 1.0, "min": np.inf, "max": -np.inf}.get(st.op)):
        put(None)
    else:
        put(st.base.copy())


def _fold_outside_changes(st: _Stack, cur) -> None:
    if cur is None:  # someone removed the array: start again from the identity
        st.base = np.full_like(st.base, {"mul": 1.0, "min": np.inf, "max": -np.inf}[st.op])
        st.written = st.value()
        return
    cur = np.asarray(cur, dtype=float)
    changed = cur != st.written
    if not changed.any():
        return
    if st.op == "mul":
        comb = st.combined_layers()
        st.base[changed] = np.divide(cur[changed], comb[changed], out=np.zeros(int(changed.sum())), where=comb[changed] != 0)
    else:
        st.base[changed] = cur[changed]
    st.written = cur.copy()


def _write(st: _Stack, put) -> None:
    v = st.value()
    st.written = v.copy()
    put(v)


# -- convenience for model attributes holding arrays --------------------------
def _attr_io(model, attr: str):
    def get():
        return getattr(model, attr, None)

    def put(v):
        arr = getattr(model, attr, None)
        if v is None or arr is None or np.shape(arr) != np.shape(v):
            setattr(model, attr, v)
        else:
            arr[...] = v  # in place: other references to the array see the change

    return get, put


def set_layer(model, attr: str, name: str, values: Any, op: str = "mul", init: float = 1.0) -> None:
    """Layer ``name`` on the (B, S) array ``model.<attr>`` (created filled with ``init`` if None)."""
    get, put = _attr_io(model, attr)
    set_layer_on(model, attr, name, values, get, put, op, init, shape=(model.tables.B, model.tables.S))


def clear_layer(model, attr: str, name: str) -> None:
    get, put = _attr_io(model, attr)
    clear_layer_on(model, attr, name, get, put)


def bs_mask(model, blocs: list[int], stages: list[int]) -> np.ndarray:
    """(B, S) boolean mask of the given bloc and stage indices."""
    m = np.zeros((model.tables.B, model.tables.S), dtype=bool)
    m[np.ix_(blocs, stages)] = True
    return m
