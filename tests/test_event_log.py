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


def _frame_by_map(log: EventLog, blocs: list[str], stages: list[str], start_year: float):
    """The table as EventLog.frame built it before it gathered the names (a call per event): the reference below."""
    import pandas as pd

    df = pd.DataFrame({c: getattr(log, c) for c in ("quarter", "kind", "firm_id", "bloc", "stage", "detail", "value")})
    df = df.rename(columns={"quarter": "quarter_index"})
    df.insert(1, "time", start_year + df["quarter_index"] / 4.0)
    df["bloc"] = df["bloc"].map(lambda i: blocs[i] if i >= 0 else None)
    df["stage"] = df["stage"].map(lambda i: stages[i] if i >= 0 else None)
    return df


def test_frame_is_the_table_a_name_per_event_gives_bit_for_bit():
    """The frame gathers bloc and stage names in one pass; the table (types, values, missing names) is the one a
    lookup per event gives, so events.parquet is the same file: a random log (negative codes: no name), one without any bloc, an empty one."""
    import pandas as pd

    blocs, stages = ["china", "west", "rest_of_world"], ["mining", "separation", "metal", "magnet"]
    rng = np.random.default_rng(3)
    clock = SimpleNamespace(q=0)
    log = EventLog(now=lambda: clock.q)
    for i in range(2000):
        clock.q = i // 50
        log.add(str(rng.choice(["entry", "exit", "award"])), int(rng.integers(-1, 99)), int(rng.integers(-2, 3)),
                int(rng.integers(-1, 4)), str(rng.choice(["", "a", "b"])), float(rng.random()) if i % 3 else float("nan"))  # fmt: skip
    none = EventLog(now=lambda: 2)
    for _ in range(5):
        none.add("run_start", detail="x")
    for lg in (log, none, EventLog(now=lambda: 0)):
        got, want = lg.frame(blocs, stages, 2015.0), _frame_by_map(lg, blocs, stages, 2015.0)
        assert list(got.dtypes) == list(want.dtypes)
        pd.testing.assert_frame_equal(got, want, check_exact=True)
        assert (pd.util.hash_pandas_object(got).to_numpy() == pd.util.hash_pandas_object(want).to_numpy()).all()


def test_logged_rows_keep_their_numbers_and_reads_between_additions_see_every_event():
    """A call's events are kept as the arrays it gathered: later changes to the population or to the values passed
    leave the logged numbers as they were; the columns read between additions hold every event so far, in order; and
    the table (read from the kept arrays) is the one the columns give."""
    clock = SimpleNamespace(q=2)
    log = EventLog(now=lambda: clock.q)
    pop = SimpleNamespace(firm_id=np.array([10, 11, 12]), bloc=np.array([0, 1, 1], dtype=np.int16), stage=np.array([2, 3, 3], dtype=np.int8))
    values = np.array([1.5, 2.5])
    log.add_rows("fid", np.array([2, 0]), pop, values=values)
    values[:] = -1.0
    pop.firm_id[:] = 99
    assert log.firm_id == [12, 10] and log.value == [1.5, 2.5] and log.kind == ["fid", "fid"]
    log.add("exit", 12, 1, 3, "insolvent", 7.0)
    clock.q = 3
    log.add_rows("entry", np.array([1]), pop)
    assert log.quarter == [2, 2, 2, 3] and log.firm_id == [12, 10, 12, 99] and log.count("fid") == 2 and len(log) == 4
    assert [type(v) for v in log[0]] == [int, str, int, int, int, str, float]
    df = log.frame(["china", "west"], ["mining", "separation", "metal", "magnet"], 2015.0)
    assert df["firm_id"].tolist() == log.firm_id and df["quarter_index"].tolist() == log.quarter and df["kind"].tolist() == log.kind
    assert df["value"].tolist()[:3] == [1.5, 2.5, 7.0] and math.isnan(df["value"].iloc[3])
    assert df["bloc"].tolist() == ["west", "china", "west", "west"] and df["detail"].tolist() == ["", "", "insolvent", ""]
