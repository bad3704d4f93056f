"""The national output quota (sim/engine/policy.py ``output_quota_t``, ``unofficial_share``; docs/ODD.md 7.9).

The quota as a base-year figure grown with the demand path, as the quotas announced year by year
(``output_quota_schedule``), the output beyond it as a share or a dated path (``output_quota_unofficial_schedule``), the cap
a run's mines are held to, and one-line errors naming the key.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from _rule_helpers import fresh_config

from sim.config import ConfigError, validate
from sim.engine.model import ChainModel
from sim.engine.policy import output_quota_t, unofficial_share

CHINA, MINING, SEPARATION = 0, 0, 1


def _ins(**kw) -> SimpleNamespace:
    base = dict(
        output_quota_t_per_year={},
        output_quota_base_year=2015.0,
        output_quota_unofficial_share=0.0,
        output_quota_schedule={},
        output_quota_unofficial_schedule=[],
    )
    return SimpleNamespace(**(base | kw))


def demand(year: float) -> float:
    return 100.0 + 10.0 * (year - 2015.0)  # t/yr: 100 in 2015, 150 in 2020


def test_a_base_year_quota_grows_with_the_demand_path():
    pi = _ins(output_quota_t_per_year={"mining": 1000.0})
    assert output_quota_t(pi, "mining", 2015.0, demand) == pytest.approx(1000.0)
    assert output_quota_t(pi, "mining", 2020.0, demand) == pytest.approx(1500.0)
    pi.output_quota_base_year = 2020.0
    assert output_quota_t(pi, "mining", 2015.0, demand) == pytest.approx(1000.0 * 100.0 / 150.0)


def test_an_announced_schedule_steps_by_year_and_grows_with_demand_after_its_last_point():
    pi = _ins(output_quota_schedule={"mining": [[2015, 1000.0], [2018, 1200.0], [2020, 2000.0]]})
    pi.output_quota_t_per_year = {"mining": 5.0}  # ignored for a stage with a schedule
    q = lambda y: output_quota_t(pi, "mining", y, demand)  # noqa: E731
    assert q(2010.0) == 1000.0  # before the first point: the first
    assert q(2015.0) == q(2017.75) == 1000.0  # in force until the next point, whatever demand does
    assert q(2018.0) == q(2019.99) == 1200.0
    assert q(2020.0) == pytest.approx(2000.0)
    assert q(2025.0) == pytest.approx(2000.0 * demand(2025.0) / demand(2020.0))
    assert q(2025.0) > q(2020.0)  # after the last point: the plan's projection


def test_the_share_beyond_the_quota_is_linear_between_its_points_and_flat_outside():
    assert unofficial_share(_ins(output_quota_unofficial_share=0.25), 2030.0) == 0.25
    pi = _ins(output_quota_unofficial_share=0.25, output_quota_unofficial_schedule=[[2015, 0.4], [2020, 0.1]])
    assert unofficial_share(pi, 2010.0) == pytest.approx(0.4)
    assert unofficial_share(pi, 2017.5) == pytest.approx(0.25)
    assert unofficial_share(pi, 2030.0) == pytest.approx(0.1)


def _model(**instruments) -> ChainModel:
    cfg = fresh_config("scenario=baseline")
    ins = cfg.policy["china"].instruments
    for k, v in instruments.items():
        setattr(ins, k, v)
    cfg.years = 3
    return ChainModel(validate(cfg))


def test_chinas_mines_produce_no_more_than_the_announced_quota_and_the_share_beyond_it():
    """A schedule well below what China's mines can make: each quarter's output of the bloc's mines is the quota of the
    quarter over (1 - share), over four, from the quarter's own year (2016's quota binds from 2016 Q1); the cap moves in the
    quarter the schedule steps; no other bloc or stage is capped."""
    sched = [[2015, 80000.0], [2016, 60000.0], [2017, 100000.0]]
    share = [[2015, 0.3], [2017, 0.1]]
    m = _model(output_quota_schedule={"mining": sched}, output_quota_unofficial_schedule=share)
    pi = m.cfg.policy["china"].instruments
    made = []
    while m.quarter < 11:
        year = m.world.start_year + m.steps / 4.0  # the quarter the step clears (m.current_year is the last one's)
        m.step()
        assert m.current_year == year
        path = lambda y: m.tables.final_demand_t_per_year(CHINA, y)  # noqa: E731
        expect = output_quota_t(pi, "mining", year, path, m.world.scale) / (1.0 - unofficial_share(pi, year))
        made.append((year, m.recorder.series["output_t"][-1][CHINA, MINING], expect / 4.0))
        cap = m.instruments.output_cap_t
        assert np.isinf(np.delete(cap.ravel(), CHINA * cap.shape[1] + MINING)).all()
    for year, out, allowed in made[1:]:
        assert out <= allowed * (1 + 1e-9), (year, out, allowed)
    binding = [(y, o, a) for y, o, a in made[1:] if o >= a * (1 - 1e-6)]
    assert len(binding) >= 8, made  # the cap binds: it is what holds the mines
    by_year = {int(y): o for y, o, _ in made[1:]}
    assert by_year[2016] < by_year[2015] < by_year[2017]


def test_without_a_schedule_no_cap_is_set():
    m = _model()
    m.step()
    assert m.instruments.output_cap_t is None or np.isinf(m.instruments.output_cap_t).all()


@pytest.mark.parametrize(
    "field, value, key, words",
    [
        ("output_quota_schedule", {"smelting": [[2015, 1.0]]}, "output_quota_schedule", ("smelting", "mining")),
        ("output_quota_schedule", {"mining": [[2015, -1.0]]}, "output_quota_schedule.mining[0]", ("t/yr", ">= 0")),
        ("output_quota_schedule", {"mining": [[2015]]}, "output_quota_schedule.mining[0]", ("[year, t/yr]",)),
        ("output_quota_schedule", {"mining": [[2016, 1.0], [2015, 2.0]]}, "output_quota_schedule.mining", ("strictly increasing",)),
        ("output_quota_schedule", {"mining": 105000}, "output_quota_schedule.mining", ("list of [year, t/yr]",)),
        ("output_quota_schedule", {"mining": []}, "output_quota_schedule.mining", ("at least one", "leave the stage out")),
        ("output_quota_unofficial_schedule", [[2015, 0.95]], "output_quota_unofficial_schedule[0]", ("[0, 0.9]",)),
        ("output_quota_unofficial_schedule", [[2015, "a"]], "output_quota_unofficial_schedule[0]", ("[year, share]",)),
    ],
)
def test_bad_schedules_give_one_line_naming_the_key(field, value, key, words):
    cfg = fresh_config("scenario=baseline")
    setattr(cfg.policy["china"].instruments, field, value)
    with pytest.raises(ConfigError) as ei:
        validate(cfg)
    assert ei.value.key == f"policy.china.instruments.{key}", ei.value.key
    assert all(w in str(ei.value) for w in words) and "\n" not in str(ei.value), str(ei.value)


def test_the_timeseries_records_the_cap_each_quarter_cleared_under():
    """``output_quota_t``: the cap of China's mines each quarter (what their output was held to), NaN elsewhere and in
    a run without a quota."""
    sched = [[2015, 80000.0], [2016, 60000.0], [2017, 70000.0]]  # 2016 is not the last point: flat through the year
    m = _model(output_quota_schedule={"mining": sched}, output_quota_unofficial_schedule=[[2015, 0.2]])
    m.cfg.years = 2
    while m.quarter < 7:
        m.step()
    cap = np.stack(m.recorder.series["output_quota_t"])  # (Q, B, S)
    out = np.stack(m.recorder.series["output_t"])
    np.testing.assert_allclose(cap[:4, CHINA, MINING], 80000.0 / 0.8)
    np.testing.assert_allclose(cap[4:, CHINA, MINING], 60000.0 / 0.8)
    assert (out[:, CHINA, MINING] <= cap[:, CHINA, MINING] / 4.0 * (1 + 1e-9)).all()
    rest = np.ones(cap.shape[1:], dtype=bool)
    rest[CHINA, MINING] = False
    assert np.isnan(cap[:, rest]).all()
    ts = m.recorder.timeseries()
    row = ts[(ts["bloc"] == "china") & (ts["stage"] == "mining")]
    np.testing.assert_allclose(row["output_quota_t"].to_numpy(), cap[:, CHINA, MINING])
    plain = _model()
    plain.step()
    assert np.isnan(plain.recorder.series["output_quota_t"][-1]).all()
