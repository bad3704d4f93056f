"""Sensitivity analysis (sim/research/sensitivity.py): the SALib plumbing on functions with known indices, the
study file's checks, and tiny real Morris and Sobol studies end to end through the sweep machinery
(table, plot, resume, one-line errors). No model numbers are pinned: the real studies are checked
for structure and for a factor that cannot act within their horizon (an export control of 2025 in runs
that end in 2017), whose indices must be exactly zero under common random numbers.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from _sim_helpers import PROJECT_ROOT, sim_env, tree

from sim.config import ConfigError, compose
from sim.research import sensitivity as sa

PI = math.pi


# --------------------------------------------------------------------------
# The analytic core, without the model
# --------------------------------------------------------------------------
def _factors(*bounds: tuple[float, float]) -> list[sa.Factor]:
    return [sa.Factor(name=f"x{i + 1}", key=f"k{i + 1}", bounds=b) for i, b in enumerate(bounds)]


def ishigami(X: np.ndarray, a: float = 7.0, b: float = 0.1) -> np.ndarray:
    return np.sin(X[:, 0]) + a * np.sin(X[:, 1]) ** 2 + b * X[:, 2] ** 4 * np.sin(X[:, 0])


def ishigami_indices(a: float = 7.0, b: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Analytic S1 and ST of the Ishigami function on [-pi, pi]^3 (Sobol' & Levitan 1999)."""
    v1 = 0.5 * (1 + b * PI**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = b**2 * PI**8 * (1 / 18 - 1 / 50)
    v = v1 + v2 + v13
    return np.array([v1, v2, 0.0]) / v, np.array([v1 + v13, v2, v13]) / v


def test_sobol_recovers_the_ishigami_indices():
    s1, st = ishigami_indices()
    idx = sa.analyse_function(ishigami, _factors(*[(-PI, PI)] * 3), "sobol", 512, num_resamples=100)
    assert list(idx["factor"]) == ["x1", "x2", "x3"]
    np.testing.assert_allclose(idx["S1"], s1, atol=0.05)
    np.testing.assert_allclose(idx["ST"], st, atol=0.05)
    assert (idx["S1_conf"] > 0).all() and (idx["ST_conf"] > 0).all()
    # the interaction x1-x3 shows as ST > S1 for both, and not for x2
    assert idx.loc[2, "ST"] - idx.loc[2, "S1"] > 0.15 and abs(idx.loc[1, "ST"] - idx.loc[1, "S1"]) < 0.05


def test_sobol_of_an_additive_function_apportions_the_variance():
    # y = x1 + 2 x2 + 0 x3 with x uniform on [0, 1]: variances 1/12 and 4/12, so S1 = ST = (0.2, 0.8, 0)
    idx = sa.analyse_function(lambda X: X[:, 0] + 2 * X[:, 1] + 0 * X[:, 2], _factors((0, 1), (0, 1), (5, 9)), "sobol", 512, num_resamples=100)
    np.testing.assert_allclose(idx["S1"], [0.2, 0.8, 0.0], atol=0.03)
    np.testing.assert_allclose(idx["ST"], [0.2, 0.8, 0.0], atol=0.03)


def test_morris_elementary_effects_are_per_whole_range():
    # y = 3 x1 + 0.5 x2 with x1 on [0, 2], x2 on [0, 1]: the effect of a whole range is 6 and 0.5, linear so sigma = 0
    idx = sa.analyse_function(lambda X: 3 * X[:, 0] + 0.5 * X[:, 1], _factors((0, 2), (0, 1), (10, 20)), "morris", 10)
    np.testing.assert_allclose(idx["mu_star"], [6.0, 0.5, 0.0], atol=1e-9)
    np.testing.assert_allclose(idx["mu"], [6.0, 0.5, 0.0], atol=1e-9)
    np.testing.assert_allclose(idx["sigma"], [0.0, 0.0, 0.0], atol=1e-9)


def test_morris_sigma_shows_an_interaction():
    idx = sa.analyse_function(lambda X: X[:, 0] * X[:, 1], _factors((0, 1), (0, 1), (0, 1)), "morris", 20)
    assert (idx["sigma"][:2] > 0.05).all() and idx["sigma"][2] == 0 and idx["mu_star"][2] == 0
    assert (idx["mu_star"][:2] > 0.2).all()


def test_samples_and_intervals_are_fixed_by_the_seed():
    fs = _factors((0, 1), (0, 1))
    for method, n in (("sobol", 16), ("morris", 4)):
        a, b, c = (sa.sample_points(fs, method, n, seed=s) for s in (1, 1, 2))
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)
        assert a.shape == ((n * 4) if method == "sobol" else n * 3, 2)
        lo, hi = a.min(axis=0), a.max(axis=0)
        assert (lo >= 0).all() and (hi <= 1).all()
    f = lambda X: X[:, 0] ** 2 + X[:, 1]  # noqa: E731
    one, two = (sa.analyse_function(f, fs, "sobol", 64, seed=3, num_resamples=50) for _ in range(2))
    pd.testing.assert_frame_equal(one, two)


def test_a_constant_output_has_zero_indices_and_nan_is_refused():
    fs = _factors((0, 1), (0, 1))
    X = sa.sample_points(fs, "morris", 4)
    idx = sa.compute_indices(fs, "morris", X, np.ones(len(X)))
    assert (idx[["mu", "mu_star", "mu_star_conf", "sigma"]] == 0).all().all()
    with pytest.raises(ValueError, match="NaN"):
        sa.compute_indices(fs, "morris", X, np.r_[np.nan, np.ones(len(X) - 1)])


def test_format_and_plot_from_a_synthetic_table():
    rows = []
    for o in ("y1", "y2"):
        for f, kind in (("a", "lever"), ("b", "uncertain")):
            rows.append(
                {
                    "study": "s",
                    "method": "sobol",
                    "output": o,
                    "output_key": f"k.{o}",
                    "label": o.upper(),
                    "unit": "t",
                    "n_points": 8,
                    "n_runs": 8,
                    "seeds": 1,
                    "n_censored": 2 if o == "y2" else 0,
                    "noise_share": math.nan,
                    "factor": f,
                    "kind": kind,
                    "S1": 0.25,
                    "S1_conf": 0.1,
                    "ST": 0.5,
                    "ST_conf": 0.1,
                    "note": "",
                }
            )
    idx = pd.DataFrame(rows)
    text = sa.format_indices(idx)
    assert "0.5 (0.25)" in text and "y2: Y2 [t] = k.y2 (2 runs censored" in text
    fig = sa.plot_indices(idx)
    assert len([ax for ax in fig.axes if ax.axison]) == 2
    assert fig._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------
# The study file
# --------------------------------------------------------------------------
STUDY_FILES = sorted(sa.STUDY_DIR.glob("*.yaml"))


@pytest.mark.parametrize("path", STUDY_FILES, ids=[p.stem for p in STUDY_FILES])
def test_every_study_file_parses_and_documents_its_factors(path: Path):
    study = sa.load_study(path.stem)
    assert study.name == path.stem and study.factors and study.outputs
    for f in study.factors:
        assert f.unit and f.why and f.kind in sa.KINDS, f"factor {f.name} needs unit, why and kind"
    assert sa.is_power_of_two(study.sobol_n)


def test_the_levers_study_mixes_levers_and_uncertain_parameters():
    kinds = {f.kind for f in sa.load_study("levers").factors}
    assert kinds == {"lever", "uncertain"}


GOOD = {
    "name": "t",
    "factors": [{"name": "beta", "key": "world.markets.logit_beta", "bounds": [2.0, 8.0], "kind": "uncertain", "unit": "-", "why": "-"}],
    "outputs": [{"name": "fiscal", "key": "policy.china.fiscal_cost_total_musd"}],
}


def _with(path: str, value) -> dict:
    d = json.loads(json.dumps(GOOD))
    node, parts = d, path.split("/")
    for p in parts[:-1]:
        node = node[int(p)] if isinstance(node, list) else node[p]
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    elif value is KeyError:
        del node[last]
    else:
        node[last] = value
    return d


@pytest.mark.parametrize(
    "path, value, key",
    [
        ("colour", "red", "'colour'"),
        ("name", KeyError, "'name'"),
        ("scenario", "nope", "'scenario'"),
        ("seeds", 0, "'seeds'"),
        ("conf_level", 1.5, "'conf_level'"),
        ("overrides", ["seed=3"], "'overrides'"),
        ("overrides", ["world.markets.logit_beta=3"], "'overrides'"),
        ("sobol", {"n": 12}, "'sobol.n'"),
        ("morris", {"levels": 3}, "'morris.levels'"),
        ("morris", {"trajectories": 1}, "'morris.trajectories'"),
        ("factors", [], "'factors'"),
        ("factors/0/bounds", [8.0, 2.0], "'factors.beta.bounds'"),
        ("factors/0/bounds", [1.0], "'factors.beta.bounds'"),
        ("factors/0/bounds", [0, "x"], "'factors.beta.bounds'"),
        ("factors/0/kind", "policy", "'factors.beta.kind'"),
        ("factors/0/key", "seed", "'factors.beta.key'"),
        ("factors/0/name", "two words", "'factors[0].name'"),
        ("factors/0/colour", 1, "'factors[0].colour'"),
        ("outputs/0/key", "years_to_independence.west.magnet", "'outputs.fiscal.censor'"),
        ("outputs/0/censor", True, "'outputs.fiscal.censor'"),
    ],
)
def test_bad_study_files_name_the_key(path, value, key):
    with pytest.raises(ConfigError) as ei:
        sa.parse_study(_with(path, value))
    assert key in str(ei.value) and "\n" not in str(ei.value)


def test_a_duplicate_factor_is_refused():
    d = json.loads(json.dumps(GOOD))
    d["factors"].append(dict(d["factors"][0]))
    with pytest.raises(ConfigError, match="'factors.beta.name'.*twice"):
        sa.parse_study(d)


# --------------------------------------------------------------------------
# Factor keys against the composed config (Hydra composes at both bounds)
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def base():
    ov = ["scenario=baseline", "years=3", "output.firm_panel=false", "progress=false"]
    return ov, compose(ov)


def _factor(key: str, lo: float, hi: float, name: str = "f") -> sa.Factor:
    return sa.Factor(name=name, key=key, bounds=(lo, hi))


@pytest.mark.parametrize(
    "key, lo, hi, where, problem",
    [
        ("world.markets.no_such_key", 0.0, 1.0, "factors.f.key", "unknown key; allowed here: logit_beta"),
        ("policy.china.designation.quota_per_year.little_giant", 1.0, 5.0, "factors.f.key", "+KEY=VALUE"),
        ("world.markets.rationing_rounds", 1.0, 5.0, "factors.f.key", "whole number"),
        ("policy.china.regime", 0.0, 1.0, "factors.f.key", "str"),
        ("world.blocs.west.investor_appetite", 0.5, 1.5, "factors.f.bounds", "high bound 1.5"),
        ("world.markets.logit_beta", -1.0, 4.0, "factors.f.bounds", "low bound -1"),
    ],
)
def test_factor_keys_are_checked_against_the_config(base, key, lo, hi, where, problem):
    ov, cfg = base
    with pytest.raises(ConfigError) as ei:
        sa.check_factors([_factor(key, lo, hi)], cfg, ov)
    msg = str(ei.value)
    assert f"'{where}'" in msg and problem in msg and "\n" not in msg


def test_point_configs_equal_hydra_composition(base):
    """The shortcut (set values on a copy of one composed config) gives exactly what Hydra composes,
    for plain, optional (null by default) and open-map settings."""
    ov, cfg = base
    fs = [
        _factor("world.markets.logit_beta", 2, 8, "a"),
        _factor("policy.china.benefits.srdi.tax_rate", 0.1, 0.25, "b"),
        _factor("scenario.events.licensing_2025.licensed_share", 0.2, 0.9, "c"),
    ]
    sa.check_factors(fs, cfg, ov, seeds=2)
    values = [5.123456789012345, 0.1337, 0.31]
    ours = sa.point_config(cfg, fs, values, seed=4)
    assert ours == compose(sa.point_overrides(ov, fs, values, 4))
    assert ours.world.markets.logit_beta == values[0] and ours.seed == 4
    assert cfg.world.markets.logit_beta == 4.0 and cfg.seed == 1  # the base is left alone


def test_outputs_must_be_reached_by_the_runs(base):
    _, cfg = base
    sa.check_outputs([sa.Output("o", "shares.2017.west.magnet.capacity")], cfg)
    with pytest.raises(ConfigError, match="'outputs.o.key'.*2035.*end in 2017"):
        sa.check_outputs([sa.Output("o", "shares.2035.west.magnet.capacity")], cfg)


# --------------------------------------------------------------------------
# Tiny real studies, end to end
# --------------------------------------------------------------------------
TINY = {
    "name": "tiny",
    "scenario": "baseline",
    "overrides": ["years=3"],
    "seeds": 1,
    "firm_panel": False,
    "sample_seed": 1,
    "num_resamples": 50,
    "sobol": {"n": 2},
    "morris": {"trajectories": 2, "levels": 4},
    "factors": [
        {"name": "beta", "key": "world.markets.logit_beta", "bounds": [2.0, 8.0], "kind": "uncertain", "unit": "-", "why": "test"},
        # the 2025 licensing cannot act in runs that end in 2017: its indices must be exactly zero
        {
            "name": "inert",
            "key": "scenario.events.licensing_2025.licensed_share",
            "bounds": [0.2, 0.9],
            "kind": "lever",
            "unit": "share",
            "why": "test",
        },
    ],
    "outputs": [
        {"name": "price", "key": "price_final_usd_per_kg.west.magnet", "unit": "USD/kg"},
        {"name": "fiscal", "key": "policy.china.fiscal_cost_total_musd", "unit": "M USD"},
        # no new Western magnet plant produces by 2017: every run is censored at the end of the run
        {"name": "first", "key": "years_to_first_output.west.magnet", "censor": True, "unit": "years"},
    ],
}


def _write_study(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def _main(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = sa.main(list(args))
    return code, out.getvalue(), err.getvalue()


def test_a_tiny_morris_study_end_to_end(tmp_path, monkeypatch):
    """One study through the command (in process): runs that fail are recorded and the command says so
    (exit 1); started again it runs only those; then the table, the plot, the runs in the sweep
    machinery, resume after an interruption, and a changed design refused. (One test: the study runs once.)"""
    import sim.engine.run

    study = _write_study(tmp_path / "tiny.yaml", TINY)
    out = tmp_path / "study"
    real_run = sim.engine.run.run

    def failing_run(cfg, *args, **kwargs):
        if cfg.world.markets.logit_beta > 5:
            raise RuntimeError("boom")
        return real_run(cfg, *args, **kwargs)

    monkeypatch.setattr(sim.engine.run, "run", failing_run)
    code, _, stderr = _main("morris", "--study", str(study), "--out", str(out), "--workers", "1")
    table = pd.read_parquet(out / "sweep_table.parquet")
    n_failed = int((table["status"] == "failed").sum())
    lines = stderr.splitlines()  # a line per failed run as it fails, then the verdict
    assert code == 1 and len(lines) == n_failed + 1 and all(ln.startswith("failed: ") for ln in lines[:-1])
    assert lines[-1].startswith(f"error: {n_failed} of 6 runs failed") and "RuntimeError: boom" in lines[-1]
    assert 0 < n_failed < len(table) == 6 and not (out / "indices.parquet").exists()
    monkeypatch.setattr(sim.engine.run, "run", real_run)
    code, stdout, stderr = _main("morris", "--study", str(study), "--out", str(out), "--workers", "1")
    assert code == 0, stderr
    assert f"6 runs: {6 - n_failed} complete already, {n_failed} to run" in stdout

    # the table and the plot
    for name in sa.FILES:
        assert (out / name).is_file(), name
    assert (out / "indices.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    idx = pd.read_parquet(out / "indices.parquet")
    assert pd.read_csv(out / "indices.csv")[["output", "factor"]].equals(idx[["output", "factor"]])
    assert len(idx) == 2 * 3 and set(idx["output"]) == {"price", "fiscal", "first"}
    assert {"mu", "mu_star", "mu_star_conf", "sigma", "kind", "factor_key", "n_censored"} <= set(idx.columns)
    by = idx.set_index(["output", "factor"])
    assert (by.xs("inert", level="factor")["mu_star"] == 0).all()
    assert by.loc[("price", "beta"), "mu_star"] > 0
    assert (idx["mu_star"] >= idx["mu"].abs() - 1e-12).all()
    first = idx[idx["output"] == "first"]
    assert (first["n_censored"] == 6).all() and (first["mu_star"] == 0).all()
    assert "beta" in stdout and "inert" in stdout and "indices.png" in stdout

    # the runs streamed through the sweep machinery; the table's inputs are the sampled values
    table = pd.read_parquet(out / "sweep_table.parquet")
    samples = pd.read_parquet(out / "samples.parquet")
    assert len(table) == len(samples) == 2 * (2 + 1) and (table["status"] == "complete").all()
    assert all(Path(d).parent == (out / "runs").absolute() for d in samples["run_dir"])
    merged = samples.assign(run=[Path(d).name for d in samples["run_dir"]]).merge(table, on="run")
    np.testing.assert_array_equal(merged["beta"], merged["world.markets.logit_beta"])
    np.testing.assert_array_equal(merged["inert"], merged["scenario.events.licensing_2025.licensed_share"])
    assert (merged["years"] == 3).all() and (merged["output.firm_panel"] == False).all()  # noqa: E712
    design = json.loads((out / "design.json").read_text())
    assert design["identity"]["method"] == "morris" and len(design["identity"]["factors"]) == 2

    # resume: every complete run is kept; a run whose manifest is gone (interrupted) runs again, same result
    manifests = {d: (Path(d) / "manifest.json").read_text() for d in samples["run_dir"]}
    lost = Path(samples["run_dir"].iloc[2])
    (lost / "manifest.json").unlink()
    code, stdout, stderr = _main("morris", "--study", str(study), "--out", str(out), "--workers", "1")
    assert code == 0, stderr
    assert "6 runs: 5 complete already, 1 to run" in stdout
    for d, text in manifests.items():
        assert ((Path(d) / "manifest.json").read_text() == text) == (Path(d) != lost)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "indices.parquet"), idx)
    assert len(list((out / "runs").iterdir())) == 6

    # another design in the same directory is refused, and nothing there changes
    data = json.loads(json.dumps(TINY))
    data["factors"][0]["bounds"] = [3.0, 8.0]
    changed = _write_study(tmp_path / "changed.yaml", data)
    before = tree(out)
    code, _, err = _main("morris", "--study", str(changed), "--out", str(out), "--workers", "1")
    assert code == 2 and "'--out'" in err and "differs in: factors" in err and err.count("\n") == 1
    assert tree(out) == before


@pytest.mark.slow  # over ten seconds; the Morris study above runs the same pipeline in the default suite
def test_a_tiny_sobol_study_with_two_seeds(tmp_path):
    """Sobol indices from real runs; two seeds per point: twice the runs, the output is the mean over
    the seeds, and the seed noise is measured."""
    data = json.loads(json.dumps(TINY))
    data["seeds"] = 2
    data["outputs"] = data["outputs"][:2]
    res = sa.run_study(sa.parse_study(data), "sobol", tmp_path / "sobol", workers=1, say=lambda s: None)
    idx, s = res.indices, res.samples
    assert len(res.design.X) == 2 * (2 + 2) and len(res.records) == 2 * len(res.design.points)
    assert all(r["status"] == "complete" for r in res.records)
    assert {"S1", "S1_conf", "ST", "ST_conf"} <= set(idx.columns) and len(idx) == 2 * 2
    inert = idx[idx["factor"] == "inert"]
    assert (inert["S1"] == 0).all() and (inert["ST"] == 0).all()
    assert idx[(idx["factor"] == "beta") & (idx["output"] == "price")]["ST"].iloc[0] > 0
    assert (tmp_path / "sobol" / "indices.png").stat().st_size > 10_000
    assert sorted(s["seed"].unique()) == [1, 2] and (s.groupby("point")["seed"].nunique() == 2).all()
    assert (s.groupby("point")["price"].nunique() == 2).any()  # the seeds differ...
    assert (idx.loc[idx["output"] == "price", "noise_share"] > 0).all()  # ...and the noise is measured


# --------------------------------------------------------------------------
# Command-line errors: one line, exit 2, nothing written
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, key",
    [
        (["sobol", "--n", "12"], "'--n'"),
        (["morris", "--workers", "0"], "'--workers'"),
        (["morris", "--seeds", "0"], "'--seeds'"),
        (["morris", "--study", "nope"], "'--study'"),
        (["morris", "world.markets.nope=1"], "'world.markets.nope'"),
        (["morris", "seed=2"], "seeds come from --seeds"),
    ],
)
def test_command_line_mistakes(tmp_path, args, key):
    code, out, err = _main(*args, "--out", str(tmp_path / "out"))
    assert code == 2 and key in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_a_bad_factor_key_fails_before_anything_is_written(tmp_path):
    data = json.loads(json.dumps(TINY))
    data["factors"][1]["key"] = "world.markets.logit_betta"
    study = _write_study(tmp_path / "bad.yaml", data)
    code, _, err = _main("morris", "--study", str(study), "--out", str(tmp_path / "out"))
    assert code == 2 and "'factors.inert.key'" in err and "logit_beta" in err and str(study) in err
    assert not (tmp_path / "out").exists()


def test_a_misspelt_output_key_stops_the_study_after_its_first_run(tmp_path):
    """An output key no summary holds is known once the first run ends: one line naming the output and the keys that
    begin alike, after one run, not after all six; the study resumes from that run once the key is fixed, and
    a study whose first run is complete already is refused before any other run."""
    data = json.loads(json.dumps(TINY))
    data["outputs"][1]["key"] = "policy.china.fiscal_cost_totl_musd"
    study = _write_study(tmp_path / "typo.yaml", data)
    out = tmp_path / "study"
    code, _, err = _main("morris", "--study", str(study), "--out", str(out), "--workers", "1")
    assert code == 2 and err.count("\n") == 1 and "'outputs.fiscal.key'" in err and "fiscal_cost_totl_musd" in err
    assert "policy.china.fiscal_cost_total_musd" in err and "the runs done so far are kept" in err
    assert len(list((out / "runs").iterdir())) == 1
    before = tree(out)
    code, stdout, err = _main("morris", "--study", str(study), "--out", str(out), "--workers", "1")  # resumed, still wrong
    assert code == 2 and "'outputs.fiscal.key'" in err and tree(out) == before
    code, stdout, err = _main("morris", "--study", str(_write_study(tmp_path / "tiny.yaml", TINY)), "--out", str(out), "--workers", "1")
    assert code == 0, err
    assert "6 runs: 1 complete already, 5 to run" in stdout


@pytest.mark.parametrize(
    "text, problem",
    [("[]", "is not a study's design (no identity in it)"), ('{"identity": ', "is unreadable"), ("{}", "is not a study's design")],
)
def test_an_out_whose_design_json_is_damaged_is_refused_in_one_line(tmp_path, text, problem):
    """design.json cut short, or not a design: one line naming --out and the file, and nothing in the directory changes."""
    study = _write_study(tmp_path / "tiny.yaml", TINY)
    out = tmp_path / "study"
    out.mkdir()
    (out / "design.json").write_text(text)
    code, _, err = _main("morris", "--study", str(study), "--out", str(out))
    assert code == 2 and "'--out'" in err and f"{out / 'design.json'} {problem}" in err and err.count("\n") == 1
    assert [p.name for p in out.iterdir()] == ["design.json"] and (out / "design.json").read_text() == text


def test_the_command_reports_a_bad_study_in_one_line(tmp_path):
    data = json.loads(json.dumps(TINY))
    data["factors"][0]["bounds"] = [8.0, 2.0]
    study = _write_study(tmp_path / "bad.yaml", data)
    r = subprocess.run(
        [sys.executable, "-m", "sim.research.sensitivity", "morris", "--study", str(study), "--out", str(tmp_path / "out")],
        cwd=PROJECT_ROOT,
        env=sim_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("error: config error at 'factors.beta.bounds'") and r.stderr.count("\n") == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_worker_processes_give_the_same_indices(tmp_path):
    """Two worker processes (spawned) give the same runs and indices as one: one seed fixes a run."""
    study = sa.parse_study(TINY)
    one = sa.run_study(study, "morris", tmp_path / "one", workers=1, say=lambda s: None)
    two = sa.run_study(study, "morris", tmp_path / "two", workers=2, say=lambda s: None)
    pd.testing.assert_frame_equal(one.indices, two.indices)
    pd.testing.assert_frame_equal(one.samples.drop(columns="run_dir"), two.samples.drop(columns="run_dir"))
