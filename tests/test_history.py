"""Public history outside the targets (sim/research/history.py, conf/validation/history.yaml): each kind of figure on
a small hand-made table, the report's verdicts, the file's checks, and a mistake in a history file as one line."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from sim.config import ConfigError, compose
from sim.research import history, validate

BLOCS, STAGES = ["china", "west", "rest_of_world"], ["mining", "separation", "metal", "magnet"]

# two years of a made-up run: t made at mining and separation by bloc, and the mean price index of the year
TABLE = {
    "key": [
        (2023, "china", "mining"),
        (2023, "west", "mining"),
        (2023, "rest_of_world", "mining"),
        (2024, "china", "mining"),
        (2024, "west", "mining"),
        (2024, "rest_of_world", "mining"),
        (2023, "china", "separation"),
        (2023, "west", "separation"),
        (2023, "rest_of_world", "separation"),
    ],
    "output_t": [240.0, 40.0, 20.0, 270.0, 45.0, 35.0, 90.0, 2.0, 8.0],
    "price": [3.0, 3.5, 3.2, 4.0, 4.5, 4.2, 50.0, 60.0, 55.0],
}


def check(**kw) -> dict:
    base = {"id": "x", "kind": "output", "bloc": "world", "stage": "mining", "years": [2023, 2024], "published": 1.0, "band": [0, 2], "source": "s"}
    return {**base, **kw}


def test_each_kind_of_figure():
    assert history.figure(check(), TABLE) == pytest.approx((300.0 + 350.0) / 2)  # world output, mean over the years
    assert history.figure(check(bloc="west"), TABLE) == pytest.approx((40.0 + 45.0) / 2)
    assert history.figure(check(kind="share", bloc="china"), TABLE) == pytest.approx((240 / 300 + 270 / 350) / 2)  # mean of yearly shares
    assert history.figure(check(kind="price", bloc="china", stage="separation", years=[2023, 2023]), TABLE) == 50.0
    # a year the run does not reach: no figure for the seed
    assert history.figure(check(kind="share", bloc="china", stage="separation"), TABLE) is None
    assert history.figure(check(years=[2022, 2024]), TABLE) is None


def test_the_median_over_seeds_is_read_against_the_band():
    table2 = copy.deepcopy(TABLE)
    table2["output_t"][0] = 0.0  # China mines nothing in 2023 in the second seed
    c = check(kind="share", bloc="china", band=[0.7, 0.8])
    (row,) = history.evaluate([c], [TABLE, table2, None])
    s1 = (240 / 300 + 270 / 350) / 2
    s2 = (0.0 + 270 / 350) / 2
    assert row["values"] == [pytest.approx(s1), pytest.approx(s2), None]
    assert row["median"] == pytest.approx((s1 + s2) / 2) and row["within"] is False and row["in_band"] == 1
    # two seeds, one in the band: the median of a resample lies in it when both draws are that seed, a quarter of them
    assert row["support"] == pytest.approx(0.25, abs=0.04)
    assert "1 of 3 seeds in band (median in band in " in history.report([row], validate._fmt).splitlines()[-1]
    (row,) = history.evaluate([check(band=[300, 400])], [TABLE])
    assert row["within"] is True and row["support"] == 1.0
    (row,) = history.evaluate([check(years=[2030, 2030])], [TABLE])
    assert row["median"] is None and row["within"] is None
    line = history.report([row], validate._fmt).splitlines()[-1]
    assert line.split()[0] == "-" and "no figure" in line


def test_the_shipped_checks_are_sourced_and_their_published_figures_lie_in_their_bands():
    """A clone compares on its own (the file is in the project); a band that leaves out its own published figure would
    read the model against something else than the source says."""
    w = compose(["progress=false"]).world
    checks = history.read_checks(history.HISTORY_FILE, blocs=list(w.blocs), stages=list(w.stages))
    assert len(checks) >= 5 and len({c["id"] for c in checks}) == len(checks)
    for c in checks:
        assert c["source"].strip()
        pub = c["published"] if isinstance(c["published"], list) else [c["published"]] * 2
        assert c["band"][0] <= pub[0] and pub[1] <= c["band"][1], c["id"]
        assert c["years"][1] <= 2024, "history ends in 2024: later years are not history"


@pytest.mark.parametrize(
    "change, key",
    [
        ({"kind": "volume"}, "checks[0].kind"),
        ({"stage": "alloy"}, "checks[0].stage"),
        ({"bloc": "mars"}, "checks[0].bloc"),
        ({"kind": "share", "bloc": "world"}, "checks[0].bloc"),  # the world's share of itself: only output has a world figure
        ({"years": [2024, 2023]}, "checks[0].years"),
        ({"years": [2023.5, 2024]}, "checks[0].years"),
        ({"band": [2, 1]}, "checks[0].band"),
        ({"published": "about 90%"}, "checks[0].published"),
        ({"source": None}, "checks[0].source"),  # None: the key left out
    ],
)
def test_a_mistake_in_a_check_names_its_key(tmp_path, change, key):
    c = {k: v for k, v in check(**change).items() if v is not None}
    p = tmp_path / "history.yaml"
    p.write_text(yaml.safe_dump({"checks": [c]}))
    with pytest.raises(ConfigError) as ex:
        history.read_checks(p, BLOCS, STAGES)
    assert ex.value.key == key
    assert any(w in ex.value.problem for w in ("allowed", "needs", "missing")), ex.value.problem


def chain_targets(tmp_path: Path) -> Path:
    p = tmp_path / "targets.yaml"
    p.write_text(yaml.safe_dump({"targets": [{"id": "rare_earth_little_giants_2025", "scenario": "baseline", "accept": [0, 100000]}]}))
    return p


@pytest.mark.parametrize("content", ["checks: [", "checks: 3", None])
def test_a_bad_history_file_is_one_line_before_any_run(tmp_path, capsys, content, monkeypatch):
    ran = []
    monkeypatch.setattr(validate, "_one", lambda job: ran.append(job))
    path = tmp_path / "h.yaml"
    if content is not None:
        path.write_text(content)
    rc = validate.main(["--seeds", "1", "--targets", str(chain_targets(tmp_path)), "--history", str(path), "years=3"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--history" in err[0] and not ran


def test_none_leaves_the_history_block_out(tmp_path, capsys):
    rc = validate.main(["--seeds", "1", "--workers", "1", "--targets", str(chain_targets(tmp_path)), "--history", "none", "years=11"])  # to 2025
    out = capsys.readouterr().out.strip()
    assert rc == 0 and "\n\n" not in out and len(out.splitlines()) == 1


def test_a_history_file_without_baseline_runs_is_refused(tmp_path, capsys, monkeypatch):
    """The checks read baseline runs: with national targets alone none is made, so a history file given then is a mistake."""
    ran = []
    monkeypatch.setattr(validate, "_one", lambda job: ran.append(job))
    p = tmp_path / "targets.yaml"
    p.write_text(yaml.safe_dump({"targets": [{"id": "national_little_giants_2024", "scenario": "national_programme", "accept": [0, 1]}]}))
    rc = validate.main(["--seeds", "1", "--targets", str(p), "--history", str(history.HISTORY_FILE.parent / "other.yaml")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--history" in err[0] and not ran
