"""The event log: named columns in, the same records and table out (sim/engine/event_log.py)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

from sim.engine.event_log import Event, EventLog


def _log():
    clock = SimpleNamespace(q=-1)
    log = EventLog(now=lambda: clock.q)
    log.add("run_start", detail="baseline")  # before the first quarter: stamped 0
    clock.q = 3
    pop = SimpleNamespace(firm_id=np.array([10, 11, 12]), bloc=np.array([0, 1, 1]), stage=np.array([2, 3, 3]))
    log.add_rows("entry", np.array([0, 2]), pop, values=np.array([500.0, 700.0]))
    log.add_rows("designated", np.array([1]), pop, detail="little_giant", quarter=5)
    log.add_rows("entry", np.array([], dtype=int), pop)  # nothing to log
    log.add("exit", np.int64(12), np.int64(1), np.int64(3), "insolvent", np.float64(700.0))
    return log


def test_records_have_named_fields():
    log = _log()
    assert len(log) == 5 and log.count("entry") == 2
    assert log[0].quarter == 0 and log[0].kind == "run_start" and log[0].firm_id == -1 and math.isnan(log[0].value)
    assert log[1] == Event(3, "entry", 10, 0, 2, "", 500.0)
    assert log.where(kind="designated") == [Event(5, "designated", 11, 1, 3, "little_giant", math.nan)._replace(value=log[3].value)]
    assert [e.firm_id for e in log.where(kind=("entry", "exit"), bloc=1)] == [12, 12]
    assert [e.kind for e in log.where(start=3)] == ["designated", "exit"]
    assert [type(v) for v in log[4]] == [int, str, int, int, int, str, float]  # plain Python values, not numpy scalars


def test_frame_names_blocs_and_stages():
    df = _log().frame(["china", "west"], ["mining", "separation", "metal", "magnet"], 2015.0)
    assert list(df.columns) == ["quarter_index", "time", "kind", "firm_id", "bloc", "stage", "detail", "value"]
    assert df["quarter_index"].dtype == np.int64 and df["firm_id"].dtype == np.int64 and df["value"].dtype == np.float64
    assert df["time"].tolist() == [2015.0, 2015.75, 2015.75, 2016.25, 2015.75]
    assert df["bloc"].isna().tolist() == [True, False, False, False, False]  # no bloc: missing
    assert df["bloc"].tolist()[1:] == ["china", "west", "west", "west"]
    assert df["stage"].tolist()[1:] == ["metal", "magnet", "magnet", "magnet"]
