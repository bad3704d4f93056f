"""Scenario discovery (sim/research/explore.py): the sample, the outcome rules, PRIM on a known box, feature scores,
the robustness table, the study files, and a small exploration end to end that is killed and resumed."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from _sim_helpers import PROJECT_ROOT, sim_env

from sim.checks import ConfigError
from sim.research import explore as ex
from sim.research import style
from sim.research.study import Condition, Exploration, ExploreFactor, Outcome, PrimSettings

STUDY_FILES = sorted((PROJECT_ROOT / "conf" / "exploration").glob("*.yaml"))


def _factors() -> list[ExploreFactor]:
    return [
        ExploreFactor(name="grant", key="a.grant", bounds=(0.0, 10.0), kind="lever"),
        ExploreFactor(name="permit", key="a.permit", bounds=(0.3, 1.0), kind="lever"),
        ExploreFactor(name="noise", key="a.noise", bounds=(-1.0, 1.0), kind="uncertain"),
        ExploreFactor(name="mode", key="a.mode", values=["x", "y", "z"], kind="lever"),
    ]


# --------------------------------------------------------------------------
# The sample
# --------------------------------------------------------------------------
@pytest.mark.parametrize("sampler", ["lhs", "sobol"])
def test_the_sample_fills_the_bounds_and_is_fixed_by_its_seed(sampler):
    fs = _factors()
    a = ex.scale(fs, ex.unit_sample(sampler, len(fs), 64, 3))
    b = ex.scale(fs, ex.unit_sample(sampler, len(fs), 64, 3))
    c = ex.scale(fs, ex.unit_sample(sampler, len(fs), 64, 4))
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    assert a["grant"].between(0, 10).all() and a["permit"].between(0.3, 1.0).all()
    assert a["mode"].value_counts().to_dict() == pytest.approx({"x": 21, "y": 21, "z": 22}, abs=3)
    if sampler == "lhs":  # a Latin hypercube: one point in each of the 64 strata of every factor
        assert sorted(np.floor((a["grant"] / 10) * 64).astype(int)) == list(range(64))


def test_outcome_rules_count_never_as_infinitely_late_and_by_year_from_the_reference_year():
    study = ex.parse_study(
        {
            "name": "t",
            "factors": [{"name": "b", "key": "world.markets.logit_beta", "bounds": [2, 8]}],
            "outcomes": [
                {"name": "early", "when": [{"key": "years_to_independence.west.magnet", "rule": "<=", "by_year": 2035}]},
                {"name": "late", "when": [{"key": "years_to_independence.west.magnet", "rule": ">", "value": 20}]},
                {
                    "name": "both",
                    "when": [{"key": "a.share", "rule": ">", "value": 0.9}, {"key": "world.markets.logit_beta", "rule": "<", "value": 5}],
                },
            ],
        }
    )
    table = pd.DataFrame(
        {
            "years_to_independence.west.magnet": [5.0, 10.0, 10.25, None],
            "timeline_reference_year": [2025.0, 2025.0, 2025.0, 2025.0],
            "a.share": [0.95, 0.95, 0.5, None],
            "world.markets.logit_beta": [4.0, 6.0, 4.0, 4.0],
        }
    )
    v = ex.outcome_values(study, table)
    assert v["early"].tolist() == [True, True, False, False]  # 10 years from 2025 is 2035; never is not by 2035
    assert v["late"].tolist() == [False, False, False, True]  # never is later than anything
    assert v["both"].tolist() == [True, False, False, False]  # every condition; an undefined number meets none
    assert np.isinf(v["early.0.value"].iloc[3]) and v["early.0.threshold"].tolist() == [10.0] * 4
    with pytest.raises(ConfigError, match="outcomes.both.when.0..key"):
        ex.outcome_values(study, table.drop(columns="a.share"))


# --------------------------------------------------------------------------
# PRIM, feature scores, robustness (ema_workbench) on outcomes with known answers
# --------------------------------------------------------------------------
def _synthetic(n: int = 512, seed: int = 1):
    fs = _factors()
    x = ex.scale(fs, ex.unit_sample("lhs", len(fs), n, seed))
    y = ((x["grant"] >= 6.0) & (x["permit"] <= 0.5)).to_numpy()
    study = Exploration(name="t", factors=fs, outcomes=[])
    return study, x, y


def test_prim_recovers_a_box_of_two_lever_thresholds():
    study, x, y = _synthetic()
    traj, box, chosen = ex.prim_box(ex.x_frame(study, x), y, PrimSettings(), {f.name: f.kind for f in study.factors})
    c = traj.iloc[chosen]
    assert c["chosen"] and c["density"] >= 0.9 and c["coverage"] >= 0.9 and c["res_dim"] == 2
    assert (traj["density"] >= 0.8).any() and c["coverage"] == traj.loc[traj["density"] >= 0.8, "coverage"].max()
    b = box.set_index("factor")
    assert set(b.index[b["restricted"]]) == {"grant", "permit"}
    assert b.loc["grant", "low"] == pytest.approx(6.0, abs=0.3) and b.loc["grant", "high"] == pytest.approx(10.0, abs=0.1)
    assert b.loc["permit", "high"] == pytest.approx(0.5, abs=0.03) and b.loc["permit", "low"] == pytest.approx(0.3, abs=0.01)
    assert b.loc["grant", "qp_lower"] < 0.01 and np.isnan(b.loc["grant", "qp_upper"])  # only the lower side is cut
    words = " and ".join(ex.box_words(study, box))
    assert "grant (lever) >= 6" in words and "permit (lever) <= 0.5" in words and "noise" not in words

    scores = ex.feature_scores(ex.x_frame(study, x), y, seed=1)
    assert set(scores.sort_values(ascending=False).index[:2]) == {"grant", "permit"}
    assert scores.sum() == pytest.approx(1.0)
    pd.testing.assert_series_equal(scores, ex.feature_scores(ex.x_frame(study, x), y, seed=1))  # seeded trees

    fig = ex.stacking_plot(ex.x_frame(study, x), y, scores, levels=2, bins=3, title="t")
    assert len(fig.axes) >= 2

    # the trade-off curve in the project's figure style: readable ticks, every axis labelled with its unit
    # three panels with long labels, as the levers study has: titles must not run into each other
    names = ("a", "b", "c")
    label = "West magnet independence later than 2035, or never"
    outcomes = [Outcome(name=n, label=f"{label} ({n})", when=[Condition(key="k", value=0.0)]) for n in names]
    study_o = Exploration(name="t", factors=study.factors, outcomes=outcomes)
    trajs = pd.concat([traj.assign(outcome=n) for n in names], ignore_index=True)
    assert style.axis_problems(ex.plot_tradeoff(study_o, trajs, {n: float(y.mean()) for n in names})) == []


def test_the_chosen_box_restricts_at_most_max_dims_factors():
    study, x, y = _synthetic()
    traj, box, chosen = ex.prim_box(ex.x_frame(study, x), y, PrimSettings(max_dims=1, min_density=0.9))
    c = traj.iloc[chosen]
    assert c["res_dim"] == 1 and box["restricted"].sum() == 1  # one threshold alone is never 90% dense: the densest 1-D box
    assert c["density"] == traj.loc[traj["res_dim"] <= 1, "density"].max() < 0.9


def test_prim_on_a_categorical_box_and_no_box_when_every_run_or_none_reaches_it():
    study, x, _ = _synthetic(n=300, seed=2)
    y = (x["mode"] == "y").to_numpy()
    _, box, _ = ex.prim_box(ex.x_frame(study, x), y, PrimSettings(), {f.name: f.kind for f in study.factors})
    b = box.set_index("factor")
    assert set(b.index[b["restricted"]]) == {"mode"} and json.loads(b.loc["mode", "categories"]) == ["y"]
    for const in (np.zeros(300, bool), np.ones(300, bool)):
        traj, box, chosen = ex.prim_box(ex.x_frame(study, x), const, PrimSettings())
        assert traj.empty and box.empty and chosen is None
        # the empty box table keeps its columns, so a reader can select an outcome's rows (a notebook did, and failed)
        assert list(box.columns) == ex.BOX_COLUMNS and box[box["restricted"]].empty
    assert ex.feature_scores(ex.x_frame(study, x), np.zeros(300, bool), 1).isna().all()


def test_robustness_shares_and_regret():
    study = ex.parse_study(
        {
            "name": "t",
            "factors": [
                {"name": "lev", "key": "a.b", "bounds": [0, 1], "kind": "lever"},
                {"name": "unc", "key": "a.c", "bounds": [0, 1], "kind": "uncertain"},
            ],
            "outcomes": [
                {"name": "o", "when": [{"key": "k", "rule": ">", "value": 0}]},
                {"name": "bad", "when": [{"key": "k", "rule": ">", "value": 0}], "prefer": "avoid"},
            ],
            "robustness": {"scenarios": 2, "policies": [{"name": "high", "levers": {"lev": 1.0}}]},
        }
    )
    cases = pd.DataFrame({"policy": ["status_quo", "status_quo", "high", "high"], "sample": [0, 1, 0, 1]})
    # two seeds per case: status quo reaches it in sample 0 twice, in sample 1 never; "high" once in each
    o = [True, True, False, False, True, False, True, False]
    outcomes = pd.DataFrame({"row": [0, 0, 1, 1, 2, 2, 3, 3], "o": o, "bad": [not v for v in o]})
    table, per_sample = ex.robustness(study, cases, outcomes)
    bad = table[table["outcome"] == "bad"].set_index("policy")  # the complement, to avoid: the same regrets
    assert bad["max_regret"].to_dict() == {"status_quo": 0.5, "high": 0.5} and bad["mean_regret"].to_dict() == {"status_quo": 0.25, "high": 0.25}
    table, per_sample = table[table["outcome"] == "o"], per_sample[per_sample["outcome"] == "o"]
    t = table.set_index("policy")
    assert t.loc["status_quo", "reach_share"] == 0.5 and t.loc["high", "reach_share"] == 0.5
    assert t.loc["status_quo", "max_regret"] == 0.5 and t.loc["high", "max_regret"] == 0.5  # 1 - 0.5 in sample 0; 0.5 - 0 in sample 1
    assert t.loc["status_quo", "samples_reached"] == 0.5 and t.loc["high", "samples_reached"] == 1.0
    assert per_sample.set_index(["policy", "sample"]).loc[("high", 0), "regret"] == 0.5
    assert (per_sample.groupby("sample")["regret"].min() == 0).all()  # the best policy of a sample has no regret


# --------------------------------------------------------------------------
# Study files
# --------------------------------------------------------------------------
@pytest.mark.parametrize("path", STUDY_FILES, ids=[p.stem for p in STUDY_FILES])
def test_every_exploration_file_parses_and_documents_its_factors(path: Path):
    study = ex.load_study(path)
    assert study.levers and study.uncertainties and study.outcomes
    assert all(f.why for f in study.factors)
    assert any(c.key.startswith("years_to_independence") for o in study.outcomes for c in o.when)


def test_the_levers_exploration_composes_at_every_bound_and_category():
    study = ex.load_study("levers")
    base_ov = ex.base_overrides(study)
    ex.check_factors(study, ex.sa.compose_cached(base_ov), base_ov)  # raises ConfigError naming the factor otherwise


@pytest.mark.parametrize(
    "change, key",
    [
        ({"sampler": "sobol", "experiments": 48}, "experiments"),
        ({"factors": [{"name": "a", "key": "x.y"}]}, "factors.a"),
        ({"factors": [{"name": "a", "key": "x.y", "values": [1]}]}, "factors.a.values"),
        ({"outcomes": [{"name": "o", "when": []}]}, "outcomes.o.when"),
        ({"outcomes": [{"name": "o", "when": [{"key": "shares.2035.west.magnet.output", "by_year": 2035}]}]}, "outcomes.o.when[0].by_year"),
        ({"outcomes": [{"name": "o", "when": [{"key": "k", "rule": "=<", "value": 1}]}]}, "outcomes.o.when[0].rule"),
        (
            {"robustness": {"scenarios": 2, "policies": [{"name": "p", "levers": {"west_appetite": 0.5}}]}},
            "robustness.policies.p.levers.west_appetite",
        ),
        (
            {"robustness": {"scenarios": 2, "policies": [{"name": "p", "levers": {"west_budget": 9000.0}}]}},
            "robustness.policies.p.levers.west_budget",
        ),
        ({"prim": {"min_density": 1.5}}, "prim.min_density"),
    ],
)
def test_bad_exploration_files_name_the_key(change, key):
    data = yaml.safe_load((PROJECT_ROOT / "conf" / "exploration" / "quick.yaml").read_text())
    data.update(change)
    with pytest.raises(ConfigError) as info:
        ex.parse_study(data)
    assert info.value.key == key and "\n" not in str(info.value)


# --------------------------------------------------------------------------
# End to end: real runs, killed and resumed; the synthetic outcome's box is recovered
# --------------------------------------------------------------------------
# Two levers whose thresholds define the synthetic outcome (read from each run's config inputs), an uncertain
# factor, a categorical lever, and an outcome on a summary timeline that no one-year run reaches.
SMALL = {
    "name": "small",
    "scenario": "baseline",
    "overrides": ["years=1"],
    "seeds": 2,
    "experiments": 64,
    "sample_seed": 1,
    "factors": [
        {"name": "west_permit", "key": "policy.west.coordination.permit_factor", "bounds": [0.3, 1.0], "kind": "lever", "why": "t"},
        {"name": "cn_grant", "key": "policy.china.benefits.little_giant.grant_myuan_per_year", "bounds": [0.0, 5.0], "kind": "lever", "why": "t"},
        {"name": "beta", "key": "world.markets.logit_beta", "bounds": [2.0, 8.0], "kind": "uncertain", "why": "t"},
        {"name": "margin", "key": "world.markets.price_moves_margin", "values": [True, False], "kind": "lever", "why": "t"},
    ],
    "outcomes": [
        {
            "name": "synthetic",
            "label": "fast Western permits and generous Chinese grants",
            "when": [
                {"key": "policy.west.coordination.permit_factor", "rule": "<=", "value": 0.6},
                {"key": "policy.china.benefits.little_giant.grant_myuan_per_year", "rule": ">=", "value": 2.5},
            ],
        },
        {"name": "independent", "when": [{"key": "years_to_independence.west.magnet", "rule": "<=", "by_year": 2015}]},
    ],
    "robustness": {"scenarios": 1, "policies": [{"name": "fast", "levers": {"west_permit": 0.3, "margin": False}}]},
}


def _main(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = ex.main(list(args))
    return code, out.getvalue(), err.getvalue()


def _complete(out: Path) -> int:
    runs = out / "runs"
    return sum(1 for d in runs.iterdir() if (d / "manifest.json").is_file()) if runs.is_dir() else 0


def test_a_misspelt_outcome_key_stops_the_exploration_after_its_first_run(tmp_path):
    """An outcome condition naming neither a summary key nor a setting is known once the first run ends: one line
    naming the condition and the key it is like, after one run of 66; a condition on an input (a setting) is fine."""
    data = json.loads(json.dumps(SMALL))
    data["outcomes"][1]["when"][0]["key"] = "years_to_independance.west.magnet"
    study = tmp_path / "typo.yaml"
    study.write_text(yaml.safe_dump(data))
    out = tmp_path / "typo"
    code, _, err = _main("run", "--study", str(study), "--out", str(out), "--workers", "1", "progress=false")
    assert code == 2 and err.count("\n") == 1 and "'outcomes.independent.when[0].key'" in err, err
    assert "keys like it: years_to_independence.west.magnet" in err and "the runs done so far are kept" in err
    assert _complete(out) == 1


@pytest.mark.parametrize("seeds", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_a_small_exploration_killed_and_resumed_recovers_the_synthetic_box(tmp_path, seeds):
    """64 experiments of one-year runs (x 1 seed in the default suite, about 60 s on 2 cores, December 2026; x 2 seeds in the slow
    one), killed (SIGKILL, the whole process group) once three runs are complete, then run again to the end."""
    study = tmp_path / "small.yaml"
    study.write_text(yaml.safe_dump(dict(SMALL, seeds=seeds)))
    out = tmp_path / "small"
    n_runs = (64 + 2 * 1) * seeds
    args = [sys.executable, "-m", "sim.explore", "run", "--study", str(study), "--out", str(out), "--workers", "1", "progress=false"]
    proc = subprocess.Popen(args, cwd=tmp_path, env=sim_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and _complete(out) < 3 and proc.poll() is None:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = _complete(out)
    assert 3 <= done < n_runs and not (out / "report.md").exists()

    code, stdout, stderr = _main("run", "--study", str(study), "--out", str(out), "--workers", "2", "progress=false")
    assert code == 0, stderr
    assert f"{n_runs} runs: {done} complete already, {n_runs - done} to run" in stdout
    for name in ex.FILES:
        assert (out / name).is_file(), name
    assert (out / "stacking_synthetic.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (out / "stacking_independent.png").exists()  # nobody reaches it: nothing to stack
    assert len(list((out / "runs").iterdir())) == n_runs

    # the tables: a row per run, the sampled values are the runs' inputs
    exp = pd.read_parquet(out / "experiments.parquet")
    outcomes = pd.read_parquet(out / "outcomes.parquet")
    table = pd.read_parquet(out / "sweep_table.parquet").set_index("run")
    assert len(exp) == 64 * seeds and sorted(exp["seed"].unique()) == list(range(1, seeds + 1)) and exp["experiment"].nunique() == 64
    inputs = table.loc[[Path(d).name for d in exp["run_dir"]]]
    np.testing.assert_array_equal(exp["west_permit"], inputs["policy.west.coordination.permit_factor"])
    assert (exp["margin"] == inputs["world.markets.price_moves_margin"].astype(str).to_numpy()).all()
    expected = (exp["west_permit"] <= 0.6) & (exp["cn_grant"] >= 2.5)
    first = outcomes[outcomes["part"] == "experiment"]
    assert (first["synthetic"].to_numpy() == expected.to_numpy()).all() and 0.1 < expected.mean() < 0.4
    assert not outcomes["independent"].any() and np.isinf(outcomes["independent.0.value"]).all()

    # PRIM recovers the synthetic box within tolerance
    box = pd.read_parquet(out / "prim_boxes.parquet").query("outcome == 'synthetic'").set_index("factor")
    assert set(box.index[box["restricted"]]) == {"west_permit", "cn_grant"}
    assert box.loc["west_permit", "high"] == pytest.approx(0.6, abs=0.05) and box.loc["cn_grant", "low"] == pytest.approx(2.5, abs=0.3)
    traj = pd.read_parquet(out / "prim_trajectory.parquet")
    chosen = traj[traj["chosen"]].set_index("outcome").loc["synthetic"]
    assert chosen["density"] >= 0.9 and chosen["coverage"] >= 0.9
    scores = pd.read_parquet(out / "feature_scores.parquet").set_index("factor")["synthetic"]
    assert set(scores.sort_values(ascending=False).index[:2]) == {"west_permit", "cn_grant"}
    rob = pd.read_parquet(out / "robustness.parquet")
    assert set(rob["policy"]) == {"status_quo", "fast"} and len(rob) == 2 * 2
    assert rob.set_index(["outcome", "policy"]).loc[("independent", "fast"), "max_regret"] == 0
    report = (out / "report.md").read_text()
    assert re.search(r"west_permit \(lever\) <= 0\.(5[5-9]|6[0-4])", report) and re.search(r"cn_grant \(lever\) >= 2\.[2-8]", report)
    assert "Every run or none reaches it" in report and "| fast " in report

    # analyse again: the same tables; a study with another design is refused
    before = pd.read_parquet(out / "prim_boxes.parquet")
    code, stdout, stderr = _main("analyse", str(out))
    assert code == 0, stderr
    pd.testing.assert_frame_equal(pd.read_parquet(out / "prim_boxes.parquet"), before)
    other = dict(SMALL, seeds=seeds, experiments=32)
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(other))
    code, _, err = _main("analyse", str(out), "--study", str(tmp_path / "other.yaml"))
    assert code == 2 and "'--study'" in err and err.count("\n") == 1
    code, _, err = _main("run", "--study", str(tmp_path / "other.yaml"), "--out", str(out))
    assert code == 2 and "'--out'" in err and "differs in: experiments" in err
    # an outcome asking about a year the runs do not reach is refused as before a run, and the report is kept
    late = dict(
        SMALL, seeds=seeds, outcomes=[{"name": "late", "when": [{"key": "years_to_independence.west.magnet", "rule": "<=", "by_year": 2040}]}]
    )
    (tmp_path / "late.yaml").write_text(yaml.safe_dump(late))
    code, _, err = _main("analyse", str(out), "--study", str(tmp_path / "late.yaml"))
    assert code == 2 and "outcomes.late.when[0]" in err and "asks about 2040 but the runs end in 2015" in err and err.count("\n") == 1
    assert (out / "report.md").read_text() == report
    # analysed again with the synthetic outcome renamed: its stacking figure goes with it, the new one comes, and
    # no hidden folder is left
    renamed = dict(SMALL, seeds=seeds, outcomes=[dict(SMALL["outcomes"][0], name="renamed"), SMALL["outcomes"][1]])
    (tmp_path / "renamed.yaml").write_text(yaml.safe_dump(renamed))
    code, _, err = _main("analyse", str(out), "--study", str(tmp_path / "renamed.yaml"))
    assert code == 0, err
    stacking = sorted(p.name for p in out.glob("stacking_*"))
    assert stacking == ["stacking_renamed.pdf", "stacking_renamed.png"] and not [p for p in out.iterdir() if p.name.startswith(".")]
    assert "renamed" in pd.read_parquet(out / "outcomes.parquet").columns


def test_the_same_seed_gives_the_same_runs_in_any_order(tmp_path):
    """A job's run depends only on its overrides: the design's jobs run in reverse order give the same summaries."""
    from sim.research import sweep

    study = ex.parse_study(dict(SMALL, experiments=2, seeds=1, robustness={"scenarios": 0}))
    base_ov = ex.base_overrides(study)
    design = ex.make_design(study, base_ov)
    base = ex.sa.compose_cached(base_ov)
    cfgs = [ex.set_point(base, fs, vs, k) for (fs, vs), k in zip(design.job_factors, design.job_seed)]
    a = sweep.run_jobs(design.jobs, cfgs, tmp_path / "a", 1, quiet=True)
    b = sweep.run_jobs(design.jobs[::-1], cfgs[::-1], tmp_path / "b", 1, quiet=True)[::-1]

    def summary(rec):
        data = json.loads((Path(rec["run_dir"]) / "summary.json").read_text())
        data.pop("wall_time_s")  # how long it took: the one thing a seed does not fix
        return data

    for ra, rb in zip(a, b):
        assert Path(ra["run_dir"]).name == Path(rb["run_dir"]).name
        assert summary(ra) == summary(rb)
    assert summary(a[0]) != summary(a[1])  # two experiments, two different runs


@pytest.mark.slow
def test_the_submitit_launcher_runs_the_same_jobs_and_resumes(tmp_path):
    """--launcher submitit_local: the jobs as a submitit job array (each task one sweep job); the same runs as local
    workers give, and the same command again submits nothing."""
    data = dict(SMALL, experiments=2, seeds=1, robustness={"scenarios": 0})
    study = tmp_path / "s.yaml"
    study.write_text(yaml.safe_dump(data))
    args = ("run", "--study", str(study), "--launcher", "submitit_local", "--launcher-opt", "timeout_min=10", "progress=false")
    code, stdout, stderr = _main(*args, "--out", str(tmp_path / "sub"))
    assert code == 0, stderr
    assert "2 runs: 0 complete already, 2 to submit (local job array)" in stdout and (tmp_path / "sub" / ".submitit").is_dir()
    code, stdout, stderr = _main(*args, "--out", str(tmp_path / "sub"))
    assert code == 0 and "2 runs: 2 complete already, 0 to submit" in stdout
    code, _, stderr = _main("run", "--study", str(study), "--out", str(tmp_path / "local"), "--workers", "1", "progress=false")
    assert code == 0, stderr
    a = pd.read_parquet(tmp_path / "sub" / "outcomes.parquet").drop(columns="run_dir")
    b = pd.read_parquet(tmp_path / "local" / "outcomes.parquet").drop(columns="run_dir")
    pd.testing.assert_frame_equal(a, b)
    assert sorted(p.name for p in (tmp_path / "sub" / "runs").iterdir()) == sorted(p.name for p in (tmp_path / "local" / "runs").iterdir())
