"""The event log of a run (MODEL.md 7): one record per logged event, kept column by column.

Every event has the same named fields: the quarter it happened in (index, 0 = first simulated
quarter), its kind (``entry``, ``exit``, ``designated``, ``award``, ...), the firm, bloc and stage
it concerns (-1: none), a detail string (a tier, an agency's or group's name, a reason) and a
value (capacity, money or nameplate, NaN: none). The recorder writes the log as events.parquet
(``EventLog.frame``); tests and metrics read it by name (``log.where(kind="designated")``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from typing import TYPE_CHECKING, NamedTuple, overload

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from agents.firms import FirmPopulation

NAN = float("nan")


class Event(NamedTuple):
    """One logged event."""

    quarter: int  # quarter index (0 = first simulated quarter)
    kind: str
    firm_id: int  # -1: no firm
    bloc: int  # bloc index, -1: none
    stage: int  # stage index, -1: none
    detail: str
    value: float  # NaN: none


COLUMNS = Event._fields


def _column(name: str) -> property:
    """An EventLog column as a read-only property: the list of that field of every event so far, in order."""
    return property(lambda self: self._listed_columns()[name], doc=f"The ``{name}`` of every event so far, in order.")


class EventLog:
    """Events in named columns; ``now`` gives the quarter being simulated.

    Each call's events are kept as one chunk (a firm row's fields as the arrays the call gathered, not Python objects):
    the columns (``kind``, ``firm_id``, ...) are lists of the events in order, built from the chunks when first read
    after an addition, and the table (:meth:`frame`) and the counts (:meth:`count`, ``len``) are read from the chunks
    directly. The same events and numbers as lists grown call by call, without a Python object per field and event
    in the quarter's loop."""

    def __init__(self, now: Callable[[], int]):
        self.now = now
        # one per call, in order: (count, quarter, kind, firm ids, blocs, stages, detail, values or None)
        self._chunks: list[tuple] = []
        self._n = 0
        self._lists: dict[str, list] = {c: [] for c in COLUMNS}
        self._listed = 0  # chunks already in self._lists

    def add(
        self, kind: str, firm_id: int = -1, bloc: int = -1, stage: int = -1, detail: str = "", value: float = NAN, quarter: int | None = None
    ) -> None:
        """One event; ``quarter`` defaults to the quarter being simulated (at least 0: events scheduled
        between quarters pass the quarter they first act in)."""
        q = max(self.now(), 0) if quarter is None else quarter
        self._chunks.append((1, q, kind, [int(firm_id)], [int(bloc)], [int(stage)], detail, [float(value)]))
        self._n += 1

    def add_rows(
        self, kind: str, rows: np.ndarray, pop: FirmPopulation, detail: str = "", values: np.ndarray | None = None, quarter: int | None = None
    ) -> None:
        """One event per firm row of ``pop`` (vectorised: no per-row attribute access); ``quarter``
        defaults to the quarter being simulated."""
        n = len(rows)
        if n == 0:
            return
        q = self.now() if quarter is None else quarter
        # the gathers are copies (rows index the columns), and the values are copied: later changes to either leave
        # the logged numbers as they were
        vals = None if values is None else np.array(values, dtype=float)
        self._chunks.append((n, q, kind, pop.firm_id[rows], pop.bloc[rows], pop.stage[rows], detail, vals))
        self._n += n

    def _listed_columns(self) -> dict[str, list]:
        """The columns as lists, the chunks added since the last read appended to them in order."""
        if self._listed < len(self._chunks):
            cols = self._lists
            quarter, kind, firm_id, bloc, stage, detail, value = (cols[c] for c in COLUMNS)
            for n, q, k, f, b, s, d, v in self._chunks[self._listed :]:
                quarter.extend([q] * n)
                kind.extend([k] * n)
                firm_id.extend(f if isinstance(f, list) else f.tolist())
                bloc.extend(b if isinstance(b, list) else b.tolist())
                stage.extend(s if isinstance(s, list) else s.tolist())
                detail.extend([d] * n)
                value.extend([NAN] * n if v is None else v if isinstance(v, list) else v.tolist())
            self._listed = len(self._chunks)
        return self._lists

    # the columns, each a list of the events in order (Event's fields): read through _listed_columns
    quarter = _column("quarter")
    kind = _column("kind")
    firm_id = _column("firm_id")
    bloc = _column("bloc")
    stage = _column("stage")
    detail = _column("detail")
    value = _column("value")

    # ------------------------------------------------------------------ reading
    def __len__(self) -> int:
        return self._n

    def __iter__(self) -> Iterator[Event]:
        return map(Event._make, zip(*(getattr(self, c) for c in COLUMNS)))

    @overload
    def __getitem__(self, i: int) -> Event: ...
    @overload
    def __getitem__(self, i: slice) -> list[Event]: ...
    def __getitem__(self, i):
        """The i-th event, or a list of events for a slice (positions in the log, oldest first)."""
        if isinstance(i, slice):
            return list(map(Event._make, zip(*(getattr(self, c)[i] for c in COLUMNS))))
        return Event(*(getattr(self, c)[i] for c in COLUMNS))

    def where(
        self,
        kind: str | Collection[str] | None = None,
        bloc: int | None = None,
        detail: str | None = None,
        firm_id: int | None = None,
        start: int = 0,
    ) -> list[Event]:
        """Events from position ``start`` on whose fields match every given value (``kind``: one kind or several)."""
        kinds = {kind} if isinstance(kind, str) else None if kind is None else set(kind)
        return [
            e
            for e in self[start:]
            if (kinds is None or e.kind in kinds)
            and (bloc is None or e.bloc == bloc)
            and (detail is None or e.detail == detail)
            and (firm_id is None or e.firm_id == firm_id)
        ]

    def count(self, kind: str) -> int:
        """Number of events of one kind."""
        return sum(c[0] for c in self._chunks if c[2] == kind)

    def frame(self, blocs: list[str], stages: list[str], start_year: float) -> pd.DataFrame:
        """The log as a table (events.parquet): quarter_index, time (fractional year), kind, firm_id,
        bloc and stage names (None: none), detail, value."""
        if not self._n:  # no events: every column empty, as pandas types empty lists
            empty = pd.DataFrame({c: [] for c in ("quarter_index", "kind", "firm_id", "bloc", "stage", "detail", "value")})
            empty.insert(1, "time", start_year + empty["quarter_index"] / 4.0)
            return empty
        chunks = self._chunks
        quarter = np.repeat(np.array([c[1] for c in chunks], dtype=np.int64), [c[0] for c in chunks])
        kind: list[str] = []
        detail: list[str] = []
        for n, _, k, _, _, _, d, _ in chunks:
            kind.extend([k] * n)
            detail.extend([d] * n)

        def column(i: int, dtype) -> np.ndarray:
            """Field ``i`` of every chunk, in order, as one array (values NaN where a call gave none)."""
            return np.concatenate([np.full(c[0], NAN) if c[i] is None else np.asarray(c[i], dtype=dtype) for c in chunks]).astype(dtype, copy=False)

        def names(codes: np.ndarray, labels: list[str]) -> np.ndarray:
            """Each code's name, None for a negative code (-1: none; the lookup's last entry), in one gather rather than a
            call per event."""
            return np.array([*labels, None], dtype=object)[np.where(codes >= 0, codes, len(labels))]

        return pd.DataFrame(
            {
                "quarter_index": quarter,
                "time": start_year + quarter / 4.0,
                "kind": kind,
                "firm_id": column(3, np.int64),
                "bloc": names(column(4, np.int64), blocs),
                "stage": names(column(5, np.int64), stages),
                "detail": detail,
                "value": column(7, np.float64),
            }
        )
