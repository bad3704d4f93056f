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


class EventLog:
    """Events in named columns (growing lists); ``now`` gives the quarter being simulated."""

    def __init__(self, now: Callable[[], int]):
        self.now = now
        self.quarter: list[int] = []
        self.kind: list[str] = []
        self.firm_id: list[int] = []
        self.bloc: list[int] = []
        self.stage: list[int] = []
        self.detail: list[str] = []
        self.value: list[float] = []

    def add(
        self, kind: str, firm_id: int = -1, bloc: int = -1, stage: int = -1, detail: str = "", value: float = NAN, quarter: int | None = None
    ) -> None:
        """One event; ``quarter`` defaults to the quarter being simulated (at least 0: events scheduled
        between quarters pass the quarter they first act in)."""
        self.quarter.append(max(self.now(), 0) if quarter is None else quarter)
        self.kind.append(kind)
        self.firm_id.append(int(firm_id))
        self.bloc.append(int(bloc))
        self.stage.append(int(stage))
        self.detail.append(detail)
        self.value.append(float(value))

    def add_rows(
        self, kind: str, rows: np.ndarray, pop: FirmPopulation, detail: str = "", values: np.ndarray | None = None, quarter: int | None = None
    ) -> None:
        """One event per firm row of ``pop`` (vectorised: no per-row attribute access); ``quarter``
        defaults to the quarter being simulated."""
        n = len(rows)
        if n == 0:
            return
        self.quarter.extend([self.now() if quarter is None else quarter] * n)
        self.kind.extend([kind] * n)
        self.firm_id.extend(pop.firm_id[rows].tolist())
        self.bloc.extend(pop.bloc[rows].tolist())
        self.stage.extend(pop.stage[rows].tolist())
        self.detail.extend([detail] * n)
        self.value.extend(np.asarray(values, dtype=float).tolist() if values is not None else [NAN] * n)

    # ------------------------------------------------------------------ reading
    def __len__(self) -> int:
        return len(self.kind)

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
        return self.kind.count(kind)

    def frame(self, blocs: list[str], stages: list[str], start_year: float) -> pd.DataFrame:
        """The log as a table (events.parquet): quarter_index, time (fractional year), kind, firm_id,
        bloc and stage names (None: none), detail, value."""
        if not self.kind:  # no events: every column empty, as pandas types empty lists
            empty = pd.DataFrame({c: [] for c in ("quarter_index", "kind", "firm_id", "bloc", "stage", "detail", "value")})
            empty.insert(1, "time", start_year + empty["quarter_index"] / 4.0)
            return empty
        quarter = np.asarray(self.quarter, dtype=np.int64)

        def names(codes: list[int], labels: list[str]) -> np.ndarray:
            """Each code's name, None for a negative code (-1: none; the lookup's last entry), in one gather rather than a
            call per event."""
            idx = np.asarray(codes, dtype=np.int64)
            return np.array([*labels, None], dtype=object)[np.where(idx >= 0, idx, len(labels))]

        return pd.DataFrame(
            {
                "quarter_index": quarter,
                "time": start_year + quarter / 4.0,
                "kind": self.kind,
                "firm_id": np.asarray(self.firm_id, dtype=np.int64),
                "bloc": names(self.bloc, blocs),
                "stage": names(self.stage, stages),
                "detail": self.detail,
                "value": np.asarray(self.value, dtype=np.float64),
            }
        )
