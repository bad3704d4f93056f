"""The scale benchmark's reading of its repeated pairs (benchmarks/bench_scale.py): which pair a scale's row is, and
what its notes say. Nothing here is timed: speed is measured by the benchmark itself, never asserted in a test."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_scale", ROOT / "benchmarks" / "bench_scale.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def pair(fsps: float, asps: float | None, us: float) -> dict:
    r = {"firm_steps_per_s": fsps, "us_per_firm_step": us, "label": "x", "scale": 32.0}
    if asps is not None:
        r["mesa"] = {"agent_steps_per_s": asps, "ratio": fsps / asps}
    return r


def test_a_scales_row_is_its_median_pair_with_every_pair_kept(bench):
    runs = [pair(300.0, 100.0, 3.0), pair(100.0, 200.0, 9.0), pair(240.0, 200.0, 4.0)]  # ratios 3, 0.5, 1.2
    row = bench.median_pair(runs)
    assert row["mesa"]["ratio"] == pytest.approx(1.2) and row["firm_steps_per_s"] == 240.0  # one real pair, not a mix
    assert [p["ratio"] for p in row["pairs"]] == pytest.approx([3.0, 0.5, 1.2])
    assert row["us_per_firm_step_median"] == 4.0 and bench.cost(row) == 4.0
    assert bench.pair_spread(row) == " (median of 3 pairs, x0.50-x3.00)"
    even = bench.median_pair(runs[:2])  # the lower middle of an even count; the cost's median between the two
    assert even["mesa"]["ratio"] == pytest.approx(0.5) and even["us_per_firm_step_median"] == 6.0


def test_one_pair_or_no_reference_reads_the_world_alone(bench):
    one = bench.median_pair([pair(300.0, 100.0, 3.0)])
    assert bench.pair_spread(one) == "" and one["mesa"]["ratio"] == 3.0
    alone = bench.median_pair([pair(100.0, None, 9.0), pair(300.0, None, 3.0), pair(200.0, None, 4.0)])  # --no-mesa
    assert alone["firm_steps_per_s"] == 200.0 and "mesa" not in alone and bench.pair_spread(alone) == ""
    assert bench.cost({"us_per_firm_step": 2.5}) == 2.5  # a row of a table written before pairs


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--world", "rare_earth", "--pairs", "0"], "positive whole numbers"),
        (["--world", "rare_earth", "--pairs", "x"], "positive whole numbers"),
        (["--world", "rare_earth", "--pairs", "3,3"], "one per scale of each world (3 for the rare-earth"),
        # the second world's count is checked before the first world's cases run
        (["--national-scales", "0.01,0.1", "--pairs", "3,3,1"], "one per scale of each world (2 for the national"),
    ],
)
def test_a_bad_pairs_value_is_one_line_before_any_run(bench, capsys, monkeypatch, args, words):
    monkeypatch.setattr(bench, "run_case", lambda *a, **k: pytest.fail("a case ran before the arguments were checked"))
    with pytest.raises(SystemExit) as info:
        bench.main([*args, "--out", "unused"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--pairs" in err and words in err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], {"rare_earth": [3, 3, 1], "national": [3, 3, 3]}),  # the national world's cost per firm-step reads 3 pairs at 1M
        (["--pairs", "2"], {"rare_earth": [2, 2, 2], "national": [2, 2, 2]}),
        (["--world", "national", "--pairs", "1,1,2"], {"national": [1, 1, 2]}),
        # other scales without --pairs (the README's example): 3 each, 1 at the rare-earth world's ~1M firms
        (["--scales", "32", "--years", "10"], {"rare_earth": [3], "national": [3, 3, 3]}),
        (["--world", "rare_earth", "--scales", "32,6400", "--years", "10"], {"rare_earth": [3, 1]}),
    ],
)
def test_each_world_runs_its_default_pairs_unless_told(bench, monkeypatch, args, expected):
    got = {}

    class Stop(Exception):
        pass

    def run_world(world, scales, years, pairs, a):
        got[world] = pairs
        if len(got) == len(expected):
            raise Stop
        return [], None

    monkeypatch.setattr(bench, "run_world", run_world)
    monkeypatch.setattr(bench, "world_notes", lambda *a: [])
    # the cases' configurations are not composed here (the largest default scale's memory bound depends on the machine)
    monkeypatch.setattr(bench, "case_error", lambda *a, **k: None, raising=False)
    with pytest.raises(Stop):
        bench.main([*args, "--out", "unused"])
    assert got == expected


def refused(bench, capsys, monkeypatch, args: list[str]) -> str:
    """The benchmark's main on ``args`` stops with exit code 2 and one error line, no traceback, before any case runs;
    that line."""
    monkeypatch.setattr(bench, "run_case", lambda *a, **k: pytest.fail("a case ran before the arguments were checked"))
    monkeypatch.setattr(bench, "run_world", lambda *a, **k: pytest.fail("a world ran before the arguments were checked"))
    with pytest.raises(SystemExit) as info:
        bench.main(args)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


TINY = ["--no-cli", "--no-mesa", "--pairs", "1"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--world", "national", "--scales", "abc", "--years", "2"], ["--scales", "numbers", "national.scale", "'abc'"]),
        (["--world", "national", "--scales", "0.001", "--years", "x"], ["--years", "whole numbers of years", "'x'"]),
        (["--world", "national", "--scales", "0.001", "--years", "2.5"], ["--years", "whole numbers of years"]),
        (["--world", "national", "--scales", ",", "--years", "2"], ["--scales", "numbers"]),
        (["--national-scales", "abc"], ["--national-scales", "numbers"]),
        (["--national-years", "x"], ["--national-years", "whole numbers"]),
        # out of range: refused in this process with the schema's bounds, not in a case's subprocess after others ran
        (["--world", "national", "--scales", "-1", "--years", "2"], ["--scales -1", "national.scale", ">= 1e-06"]),
        (["--world", "national", "--scales", "0.001", "--years", "0"], ["--years 0", ">= 1"]),
        (["--world", "national", "--scales", "0.001,0.002", "--years", "2,0"], ["--years 0", ">= 1"]),  # a later case's too
        (["--world", "rare_earth", "--no-default", "--scales", "0.01", "--years", "2"], ["--scales 0.01", "world.scale", "above 0.125"]),
        (["--scales", "0.2", "--years", "2", "--national-scales", "0.001", "--national-years", "0"], ["--national-years 0", ">= 1"]),
        (["--world", "rare_earth", "--profile", "0.01", "--years", "2"], ["--profile 0.01", "world.scale", "above 0.125"]),
        # the national world's own flags in a run of one world would be ignored
        (["--world", "national", "--national-scales", "0.001"], ["--national-scales is for a run of both worlds", "--scales and --years"]),
        (["--world", "rare_earth", "--national-years", "2"], ["--national-years is for a run of both worlds", "--world rare_earth"]),
    ],
)
def test_a_bad_scales_or_years_value_is_one_line_before_any_run(bench, capsys, monkeypatch, tmp_path, args, words):
    line = refused(bench, capsys, monkeypatch, [*args, *TINY, "--out", str(tmp_path / "out")])
    assert ": error: " in line
    for w in words:
        assert w in line


@pytest.mark.parametrize("under", ["", "sub"])
@pytest.mark.parametrize("profile", [[], ["--profile", "0.001"]])
def test_an_out_that_cannot_take_the_tables_is_refused_before_any_run(bench, capsys, monkeypatch, tmp_path, under, profile):
    afile = tmp_path / "afile"
    afile.write_text("kept\n")
    out = afile / under if under else afile
    line = refused(bench, capsys, monkeypatch, ["--world", "national", "--scales", "0.001", "--years", "2", *TINY, *profile, "--out", str(out)])
    assert "--out" in line and str(afile) in line and "not a directory" in line and "allowed:" in line
    assert afile.read_text() == "kept\n"


def test_good_values_and_a_new_out_folder_pass_the_checks(bench, monkeypatch, tmp_path):
    got = {}

    class Stop(Exception):
        pass

    def run_world(world, scales, years, pairs, a):
        got[world] = (scales, years, pairs)
        raise Stop

    monkeypatch.setattr(bench, "run_world", run_world)
    out = tmp_path / "new" / "folder"
    with pytest.raises(Stop):
        bench.main(["--world", "national", "--scales", "0.001,0.002", "--years", "2", *TINY, "--out", str(out)])
    assert got == {"national": ([0.001, 0.002], [2, 2], [1, 1])}
    assert not out.exists() and not out.parent.exists()  # checked, not created before the results are there
