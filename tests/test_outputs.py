"""What a run writes (README "What a run directory holds"; sim/engine/metrics.py, sim/engine/output.py, sim/engine/run.py).

Tidy quarterly time series, annual firm panel, event log, summary and manifest; every file written
whole, manifest.json last, and an interrupted run recognisable by its missing manifest.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from datetime import datetime
from importlib import metadata

import numpy as np
import pandas as pd
import pytest
from _sim_helpers import PROJECT_ROOT, RUN_FILES, make_config, tree
from pandas.testing import assert_frame_equal

import sim.engine.output as output
from sim.engine.metrics import SERIES
from sim.engine.run import run

STAGES = ["mining", "separation", "metal", "magnet"]
BLOCS = ["china", "west", "rest_of_world"]
KEYS = ["quarter_index", "year", "quarter", "time", "bloc", "stage"]
# The export control starts in 2025 Q2 = quarter index 41. Twenty years: without policy, entry before the control is
# rare (prices sit near the investment-neutral price and incumbents' expansions meet growth; seed 2 has three entrants
# by 2026 and none producing), the control draws Western and rest-of-world entrants from 2027 and their plants
# produce from the early 2030s: the log then holds every milestone of an entrant's project.
EC_YEARS = 20
EC_START_Q = 41
EC_STAGES = ["separation", "metal", "magnet"]
# event kinds a run without policy can log (README "What a run directory holds"; the policy kinds are in test_designation,
# test_groups, test_agencies)
EVENT_KINDS = {
    "run_start",
    "entry",
    "project_start",
    "permitting",
    "financing",
    "fid",
    "abandoned",
    "construction_complete",
    "ramped_up",
    "qualified",
    "first_output",
    "exit",
    "acquired",
    "mothball",
    "restart",
    "shock_start",
    "shock_end",
    "expansion_skipped",
    "contract_signed",
    "contract_ended",
    "contract_renewed",
    "contract_broken",
}
# timeseries columns documented in the README: every column of the table (test_readme_documents_every_column_and_event_kind)
DOCUMENTED_SERIES = [
    "capacity_t",
    "mothballed_t",
    "pipeline_t",
    "output_t",
    "inputs_t",
    "demand_t",
    "delivered_t",
    "shortage_t",
    "imports_t",
    "exports_t",
    "state_offtake_t",
    "price_usd_per_kg",
    "paid_price_usd_per_kg",
    "unit_cost_usd_per_kg",
    "long_run_price_usd_per_kg",
    "utilisation",
    "firms",
    "firms_in_project",
    "projects_started",
    "projects_financed",
    "projects_stalled",
    "projects_constrained",
    "projects_abandoned",
    "entrants",
    "exits",
    "plants_sold",
    "final_demand_t",
    "self_sufficiency",
    "capacity_share",
    "output_share",
    "rd_spend_musd",
    "revenue_musd",
    "profit_musd",
    "patents_invention",
    "patents_utility",
    "export_controlled",
    "price_at_bound",
    "final_shortage_t",
    "buyer_inventory_t",
    "stockpile_t",
    "substituted_share",
    "relocated_share",
    "demand_price_factor",
    "security_premium",
    "contracted_t",
    "output_quota_t",
]
SUMMARY_KEYS = {
    "scenario",
    "seed",
    "years",
    "start_year",
    "timeline_reference_year",
    "years_to_first_output",
    "years_to_independence",
    "self_sufficiency_final",
    "shares",
    "price_final_usd_per_kg",
    "price_max_usd_per_kg",
    "max_shortage_share",
    "firms_final",
    "entries",
    "exits",
    "plants_sold",
    "shocks",
    "policy",
    "wall_time_s",
}


@pytest.fixture(scope="module")
def ec(tmp_path_factory):
    """An export_control_shock run written to a temporary results root."""
    root = tmp_path_factory.mktemp("ec")
    return run(make_config("scenario=export_control_shock", f"years={EC_YEARS}", "seed=2", root=root))


@pytest.fixture(scope="module")
def lf(tmp_path_factory):
    root = tmp_path_factory.mktemp("lf")
    return run(make_config("years=6", "seed=2", root=root))


# --------------------------------------------------------------------------
# timeseries
# --------------------------------------------------------------------------
def test_timeseries_is_tidy_per_quarter_bloc_and_stage(ec):
    ts = pd.read_parquet(ec.run_dir / "timeseries.parquet")
    n_q = EC_YEARS * 4
    assert list(ts.columns) == KEYS + list(SERIES)
    assert set(DOCUMENTED_SERIES) <= set(ts.columns)
    assert len(ts) == n_q * len(BLOCS) * len(STAGES)
    assert not ts.duplicated(["quarter_index", "bloc", "stage"]).any()
    assert not ts[KEYS].isna().any().any()
    assert list(ts["bloc"].cat.categories) == BLOCS
    assert list(ts["stage"].cat.categories) == STAGES  # chain order
    # every quarter has every bloc x stage, quarters consecutive from 0
    counts = ts.groupby("quarter_index").size()
    assert list(counts.index) == list(range(n_q)) and (counts == len(BLOCS) * len(STAGES)).all()
    assert (np.diff(ts["quarter_index"].to_numpy()) >= 0).all()
    q = ts["quarter_index"].to_numpy()
    np.testing.assert_array_equal(ts["year"], 2015 + q // 4)
    np.testing.assert_array_equal(ts["quarter"], q % 4 + 1)
    np.testing.assert_allclose(ts["time"], 2015 + q / 4.0)
    # quantities that cannot be negative, shares within [0, 1]
    for col in (
        "capacity_t",
        "mothballed_t",
        "pipeline_t",
        "output_t",
        "inputs_t",
        "demand_t",
        "delivered_t",
        "shortage_t",
        "imports_t",
        "exports_t",
        "state_offtake_t",
        "firms",
        "entrants",
        "exits",
        "final_demand_t",
        "price_usd_per_kg",
    ):
        assert (ts[col] >= -1e-9).all(), col
    assert (ts["mothballed_t"] <= ts["capacity_t"] + 1e-9).all()  # care and maintenance is part of operating nameplate
    for col in ("capacity_share", "output_share"):
        assert ts[col].dropna().between(0, 1 + 1e-9).all(), col
        sums = ts.groupby(["quarter_index", "stage"], observed=True)[col].sum()
        np.testing.assert_allclose(sums, 1.0, atol=1e-9)  # bloc shares of the world add up


def test_readme_documents_every_column_and_event_kind():
    """Every timeseries column and every event kind of a run without policy is named in README's tables."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    series_doc = readme.split("**timeseries.parquet** columns:")[1].split("**summary.json**")[0]
    (events_row,) = [line for line in readme.splitlines() if line.startswith("| `events.parquet` |")]
    assert set(DOCUMENTED_SERIES) == set(SERIES)
    for col in SERIES:
        assert f"`{col}`" in series_doc, f"README's timeseries columns do not name {col}"
    for kind in EVENT_KINDS:
        assert f"`{kind}`" in events_row, f"README's events row does not name {kind}"


def test_written_tables_equal_the_in_memory_tables(ec):
    for name, frame in (("timeseries", ec.timeseries()), ("firms", ec.firms()), ("events", ec.events())):
        assert_frame_equal(pd.read_parquet(ec.run_dir / f"{name}.parquet"), frame, check_exact=True, obj=name)


def test_export_control_flag_in_timeseries(ec, lf):
    ts = ec.timeseries()
    flagged = ts[ts["export_controlled"] > 0]
    assert set(zip(flagged["bloc"], flagged["stage"])) == {("china", s) for s in EC_STAGES}
    for s in EC_STAGES:
        rows = ts[(ts.bloc == "china") & (ts.stage == s)]
        np.testing.assert_array_equal(rows["export_controlled"], (rows["quarter_index"] >= EC_START_Q).astype(float))
    assert (lf.timeseries()["export_controlled"] == 0).all()


# --------------------------------------------------------------------------
# firm panel
# --------------------------------------------------------------------------
def test_firm_panel_is_annual(ec):
    fp = pd.read_parquet(ec.run_dir / "firms.parquet")
    assert len(fp) > 0
    assert sorted(fp["year"].unique()) == list(range(2015, 2015 + EC_YEARS))
    assert not fp.duplicated(["year", "firm_id"]).any(), "one row per firm and year"
    for col in (
        "year",
        "firm_id",
        "bloc",
        "region",
        "stage",
        "phase",
        "capacity_t",
        "revenue_musd",
        "rd_spend_musd",
        "patents_invention",
        "cash_musd",
        "debt_musd",
        "equity_musd",
        "employees",
    ):
        assert col in fp.columns, col
    # snapshots one year apart: a firm seen in consecutive years is exactly one year older
    fp = fp.sort_values(["firm_id", "year"])
    same = (fp["firm_id"].diff() == 0) & (fp["year"].diff() == 1)
    assert same.sum() > 100
    np.testing.assert_allclose(fp["age_years"].diff()[same], 1.0)
    assert set(fp["bloc"].astype(str)) == set(BLOCS) and set(fp["stage"].astype(str)) == set(STAGES)


def test_firm_panel_unit_cost_is_empty_until_a_plant_has_a_cost(ec):
    """A project (no plant yet) has no unit cost, and neither has a plant that came on line after the quarter's prices;
    a cost once computed is positive, so the panel holds no zero that an average over it would take for a cost."""
    fp = pd.read_parquet(ec.run_dir / "firms.parquet")
    cost = fp["unit_cost_usd_per_kg"]
    assert not (cost == 0.0).any()
    assert cost[fp["phase"] == "project"].isna().all()
    assert (cost[(fp["phase"] == "operating") & (fp["revenue_musd"] > 0)] > 0).all()


def test_firm_panel_can_be_switched_off(short_config):
    result = run(short_config("output.firm_panel=false", years=2))
    assert {p.name for p in result.run_dir.iterdir()} == RUN_FILES - {"firms.parquet"}
    assert result.firms().empty
    assert json.loads((result.run_dir / "manifest.json").read_text())["status"] == "complete"


def test_output_write_false_writes_nothing(short_config, results_root, tmp_path):
    cfg = short_config(years=2)
    cfg.output.write = False
    result = run(cfg)
    assert result.run_dir is None
    assert not results_root.exists() and tree(tmp_path) == []
    assert len(result.timeseries()) == 2 * 4 * len(BLOCS) * len(STAGES)


def test_explicit_output_dir_is_used(short_config, results_root, tmp_path):
    cfg = short_config(years=1)
    cfg.output.dir = str(tmp_path / "my_run")
    result = run(cfg)
    assert result.run_dir == tmp_path / "my_run"
    assert {p.name for p in result.run_dir.iterdir()} == RUN_FILES
    assert not results_root.exists()


# --------------------------------------------------------------------------
# events
# --------------------------------------------------------------------------
def test_events_log_entries_exits_milestones_and_the_shock(ec):
    ev = pd.read_parquet(ec.run_dir / "events.parquet")
    assert list(ev.columns) == ["quarter_index", "time", "kind", "firm_id", "bloc", "stage", "detail", "value"]
    kinds = set(ev["kind"])
    assert kinds <= EVENT_KINDS, kinds - EVENT_KINDS
    for k in (
        "run_start",
        "entry",
        "exit",
        "project_start",
        "permitting",
        "financing",
        "fid",
        "construction_complete",
        "ramped_up",
        "first_output",
        "shock_start",
    ):
        assert k in kinds, f"no '{k}' event in {EC_YEARS} years"
    assert (ev["kind"] == "run_start").sum() == 1 and ev["kind"].iloc[0] == "run_start"
    assert (np.diff(ev["quarter_index"].to_numpy()) >= 0).all()
    assert ev["quarter_index"].between(0, EC_YEARS * 4 - 1).all()
    np.testing.assert_allclose(ev["time"], 2015 + ev["quarter_index"] / 4.0)
    firm_events = ev[~ev["kind"].isin(["run_start", "shock_start", "shock_end"])]
    assert (firm_events["firm_id"] >= 0).all()
    assert set(firm_events["bloc"]) <= set(BLOCS) and set(firm_events["stage"]) <= set(STAGES)
    assert set(ev.loc[ev["kind"] == "exit", "detail"]) <= {"insolvent", "negative_equity", "project_abandoned", "scrapped"}
    # the summary counts the same events
    assert ec.summary["entries"] == (ev["kind"] == "entry").sum()
    assert ec.summary["exits"] == (ev["kind"] == "exit").sum()
    shock = ev[ev["kind"] == "shock_start"]
    assert list(shock["detail"]) == ["export_control:licensing_2025"]
    assert not (ev["kind"] == "shock_end").any()  # end_year: null keeps it in force


def test_project_milestones_come_in_order(ec):
    """Per firm, the first project passes its phases in order: start (an entrant's is its entry), permitting,
    financing, FID, construction complete, first output."""
    ev = ec.events()
    kinds = ["entry", "project_start", "permitting", "financing", "fid", "construction_complete", "first_output"]
    first = ev[ev["kind"].isin(kinds)].groupby(["firm_id", "kind"])["quarter_index"].min().unstack()
    first["start"] = first[["entry", "project_start"]].min(axis=1)
    done = first.dropna(subset=["construction_complete"])
    assert len(done) > 10
    order = ["start", "permitting", "financing", "fid", "construction_complete"]
    for a, b in zip(order, order[1:]):
        assert (done[a] <= done[b]).all(), f"{a} after {b}:\n{done[done[a] > done[b]].head()}"
    entrants = first.dropna(subset=["entry", "first_output"])
    assert len(entrants) > 0
    assert (entrants["construction_complete"] <= entrants["first_output"]).all()


def test_laissez_faire_has_no_shock_events(lf):
    assert not lf.events()["kind"].isin(["shock_start", "shock_end"]).any()
    assert lf.summary["shocks"] == {}


def test_shock_start_is_logged_in_the_first_controlled_quarter(ec):
    ev = ec.events()
    shock = ev[ev["kind"] == "shock_start"]
    ts = ec.timeseries()
    first_controlled = int(ts.loc[ts["export_controlled"] > 0, "quarter_index"].min())
    assert first_controlled == EC_START_Q
    assert list(shock["quarter_index"]) == [EC_START_Q]
    assert list(shock["time"]) == [2025.25]


# --------------------------------------------------------------------------
# summary
# --------------------------------------------------------------------------
@pytest.mark.parametrize("metric", ["years_to_first_output", "years_to_independence"])
def test_summary_timelines_keyed_bloc_then_stage(ec, metric):
    summary = json.loads((ec.run_dir / "summary.json").read_text())
    table = summary[metric]
    assert list(table) == BLOCS
    reached = 0
    for bloc in BLOCS:
        assert list(table[bloc]) == STAGES
        for stage, v in table[bloc].items():
            assert v is None or isinstance(v, float), f"{bloc}/{stage}: {v!r}"
            if v is not None:
                reached += 1
                assert 0.0 <= v <= EC_YEARS and (v * 4).is_integer(), f"{bloc}/{stage}: {v}"
    assert reached > 0


def test_independence_agrees_with_the_self_sufficiency_series(ec):
    """years_to_independence = first quarter from which self-sufficiency >= threshold for hold_quarters quarters."""
    w = ec.model.world
    ts = ec.timeseries()
    for bloc in BLOCS:
        for stage in STAGES:
            ss = ts[(ts.bloc == bloc) & (ts.stage == stage)]["self_sufficiency"].fillna(0.0).to_numpy()
            above = ss >= w.independence_threshold
            hold = w.independence_hold_quarters
            expected = next((q / 4.0 for q in range(len(ss) - hold + 1) if above[q : q + hold].all()), None)
            assert ec.summary["years_to_independence"][bloc][stage] == expected, (bloc, stage)


def test_summary_file_and_contents(ec):
    summary = json.loads((ec.run_dir / "summary.json").read_text())
    assert set(summary) == SUMMARY_KEYS
    assert summary == json.loads(json.dumps(ec.summary))
    assert (summary["scenario"], summary["seed"], summary["years"], summary["start_year"]) == ("export_control_shock", 2, EC_YEARS, 2015)
    assert summary["timeline_reference_year"] == 2015
    for key in ("self_sufficiency_final", "price_final_usd_per_kg", "price_max_usd_per_kg"):
        assert list(summary[key]) == BLOCS and all(list(summary[key][b]) == STAGES for b in BLOCS)
    for b in BLOCS:
        for s in STAGES:
            assert summary["price_max_usd_per_kg"][b][s] >= summary["price_final_usd_per_kg"][b][s] > 0
    assert set(summary["shares"]) == {"2020", "2025", "2030"}  # reference years inside 2015..2034
    assert set(summary["max_shortage_share"]) == set(BLOCS) and set(summary["firms_final"]) == set(BLOCS)
    shock = summary["shocks"]["licensing_2025"]
    assert set(shock) == {f"{b}/{s}" for b in BLOCS if b != "china" for s in EC_STAGES}  # every bloc but the exporter
    for v in shock.values():
        assert set(v) == {"price_before_usd_per_kg", "peak_price_usd_per_kg", "peak_price_ratio_to_exporter", "max_shortage_share", "recovery_years"}
    assert isinstance(summary["wall_time_s"], float) and summary["wall_time_s"] >= 0


# --------------------------------------------------------------------------
# manifest and writing
# --------------------------------------------------------------------------
def test_manifest_fields(ec):
    m = json.loads((ec.run_dir / "manifest.json").read_text())
    assert m["status"] == "complete"
    assert (m["seed"], m["scenario"], m["n_quarters"]) == (2, "export_control_shock", EC_YEARS * 4)
    assert m["overrides"] == []  # run() called directly
    assert isinstance(m["firms_ever"], int) and m["firms_ever"] >= len(ec.model.pop)
    # the memory budget a cluster job needs: this process's peak so far, at least the interpreter and numpy (MB)
    assert isinstance(m["peak_rss_mb"], float) and 30.0 < m["peak_rss_mb"] < 100_000.0
    # what the loaders check: config.yaml's hash and every other file with its size
    assert m["config_sha256"] == hashlib.sha256((ec.run_dir / "config.yaml").read_bytes()).hexdigest()
    assert m["files"] == {f: (ec.run_dir / f).stat().st_size for f in RUN_FILES - {"manifest.json"}}
    v = m["versions"]
    assert v["python"] and re.match(r"^3\.\d+\.\d+", v["python"])
    for pkg in ("little-giants", "mesa", "numpy", "pandas", "pyarrow", "hydra-core", "omegaconf"):
        assert v[pkg] == metadata.version(pkg), pkg
    if (PROJECT_ROOT / ".git").exists() and shutil.which("git"):
        assert re.fullmatch(r"[0-9a-f]{40}", m["git"]["commit"] or ""), m["git"]
        assert isinstance(m["git"]["dirty"], bool)
    started, finished = datetime.fromisoformat(m["started_at"]), datetime.fromisoformat(m["finished_at"])
    assert started.tzinfo is not None and started <= finished
    assert isinstance(m["wall_time_s"], float)
    assert 0 <= m["wall_time_s"] <= (finished - started).total_seconds() + 0.01
    assert m["host"]


def test_manifest_is_written_last(short_config, monkeypatch):
    written = []
    real = output._atomic

    def spy(path, write):
        real(path, write)
        written.append(path.name)

    monkeypatch.setattr(output, "_atomic", spy)
    result = run(short_config(years=2))
    assert written[0] == "config.yaml"
    assert written[-1] == "manifest.json" and written.count("manifest.json") == 1
    assert set(written) == RUN_FILES
    files = {p.name: p.stat().st_mtime_ns for p in result.run_dir.iterdir()}
    assert set(files) == RUN_FILES  # no temporary files left
    assert files["manifest.json"] >= max(files.values())


def test_a_run_that_fails_while_writing_leaves_nothing(short_config, results_root, monkeypatch):
    """A failure after the time series is written (a full disk, say) leaves no run directory, complete or
    not, and no temporary file or directory: the run was written beside its place and is removed."""
    real = output.write_parquet
    calls = []

    def failing(path, df):
        calls.append(path.name)
        if len(calls) > 1:
            raise OSError("disk full (simulated)")
        real(path, df)

    monkeypatch.setattr(output, "write_parquet", failing)
    with pytest.raises(OSError, match="simulated"):
        run(short_config(years=2))
    assert calls[:2] == ["timeseries.parquet", "firms.parquet"]
    assert tree(results_root) == ["runs"]


def test_crash_while_writing_the_manifest_leaves_nothing(short_config, results_root, monkeypatch):
    """Files are written whole and the run directory appears only when complete: a crash between writing and
    renaming the manifest leaves neither the manifest nor a directory."""
    real = output._atomic

    def crash_on_manifest(path, write):
        if path.name == "manifest.json":
            write(path.with_name(f".{path.name}.tmp"))
            raise KeyboardInterrupt
        real(path, write)

    monkeypatch.setattr(output, "_atomic", crash_on_manifest)
    with pytest.raises(KeyboardInterrupt):
        run(short_config(years=1))
    assert tree(results_root) == ["runs"]


def test_while_a_run_goes_on_its_directory_is_a_hidden_sibling(short_config, tmp_path, monkeypatch):
    """During the run the files go to .<name>.tmp-...; the named directory appears, whole, at the end."""
    target = tmp_path / "named"
    seen = []
    real = output.write_json

    def spy(path, obj):
        seen.append((path.parent.name, target.exists()))
        real(path, obj)

    monkeypatch.setattr(output, "write_json", spy)
    cfg = short_config(years=1)
    cfg.output.dir = str(target)
    result = run(cfg)
    assert [name.startswith(".named.tmp-") for name, _ in seen] == [True, True]  # summary.json, manifest.json
    assert not any(existed for _, existed in seen)
    assert result.run_dir == target and _is_complete(target)
    assert tree(tmp_path) == sorted(["named", *(f"named/{f}" for f in RUN_FILES)])


def _is_complete(run_dir) -> bool:
    """How a reader recognises a complete run directory (README)."""
    p = run_dir / "manifest.json"
    return p.exists() and json.loads(p.read_text()).get("status") == "complete"


def test_atomic_write_replaces_whole_files(tmp_path):
    p = tmp_path / "x.json"
    output.write_json(p, {"a": 1})
    output.write_json(p, {"b": [1, 2]})
    assert json.loads(p.read_text()) == {"b": [1, 2]}
    assert [q.name for q in tmp_path.iterdir()] == ["x.json"]


def _contents(d):
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_staged_files_land_together_or_not_at_all(tmp_path):
    """A set of result files lands whole: a block that fails after writing some leaves the folder as it was (no
    hidden folder either); one that ends replaces the files it wrote, sub-folders too, removes the stale ones it
    did not write and keeps every other file."""
    out = tmp_path / "study"
    (out / "runs").mkdir(parents=True)
    for name, text in (("a.csv", "old a"), ("fig_x.png", "old x"), ("fig_y.png", "old y"), ("design.json", "{}")):
        (out / name).write_text(text)
    before = _contents(out)
    with pytest.raises(KeyboardInterrupt):
        with output.staged_files(out, stale=lambda n: n.startswith("fig_")) as new:
            output.write_text(new / "a.csv", "new a")
            raise KeyboardInterrupt
    assert _contents(out) == before and sorted(p.name for p in out.iterdir()) == ["a.csv", "design.json", "fig_x.png", "fig_y.png", "runs"]
    with output.staged_files(out, stale=lambda n: n.startswith("fig_")) as new:
        output.write_text(new / "a.csv", "new a")
        output.write_text(new / "fig_x.png", "new x")
        (new / "sub").mkdir()
        output.write_text(new / "sub" / "b.yaml", "b")
    assert _contents(out) == {"a.csv": b"new a", "design.json": b"{}", "fig_x.png": b"new x", "sub/b.yaml": b"b"}
    assert sorted(p.name for p in out.iterdir()) == ["a.csv", "design.json", "fig_x.png", "runs", "sub"]


def test_a_staged_directory_replaces_the_old_one_whole(tmp_path):
    """staged_dir: a failed block leaves the directory as it was; a complete one replaces it, keeping what the writer
    does not own (a user's note) and dropping the owned entries it no longer writes."""
    rep = tmp_path / "report"
    (rep / "figures").mkdir(parents=True)
    (rep / "figures" / "old.png").write_text("old figure")
    (rep / "report.md").write_text("old report")
    (rep / "notes.txt").write_text("mine")
    before = _contents(rep)
    with pytest.raises(RuntimeError):
        with output.staged_dir(rep, own=lambda n: n in ("report.md", "figures")) as new:
            (new / "report.md").write_text("new report")
            raise RuntimeError("a figure failed")
    assert _contents(rep) == before and [p.name for p in tmp_path.iterdir()] == ["report"]
    with output.staged_dir(rep, own=lambda n: n in ("report.md", "figures")) as new:
        (new / "figures").mkdir()
        (new / "figures" / "new.png").write_text("new figure")
        (new / "report.md").write_text("new report")
    assert _contents(rep) == {"figures/new.png": b"new figure", "notes.txt": b"mine", "report.md": b"new report"}
    assert [p.name for p in tmp_path.iterdir()] == ["report"]
    with output.staged_dir(tmp_path / "fresh", own=lambda n: True) as new:
        (new / "x").write_text("x")
    assert _contents(tmp_path / "fresh") == {"x": b"x"}


def _strict_json(text: str):
    """Parse as standard JSON does (RFC 8259: no NaN, Infinity or -Infinity)."""

    def refuse(token):
        raise ValueError(f"{token} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_json_outputs_are_standard_json_with_null_for_no_value(tmp_path):
    """A value a run cannot take (NaN, an infinity: a mean over no firms) is written as null, which every JSON reader
    reads, not as NaN; numpy numbers are written as numbers."""
    p = tmp_path / "s.json"
    obj = {
        "nan": float("nan"),
        "inf": [np.float64("inf"), -np.inf, 1.5],
        "nested": {"np_nan": np.float64("nan"), "f32": np.float32(0.5), "i64": np.int64(7), "flag": np.bool_(True)},
        "plain": [1, "a", None, True, (2, 3)],
    }
    output.write_json(p, obj)
    assert _strict_json(p.read_text()) == {
        "nan": None,
        "inf": [None, None, 1.5],
        "nested": {"np_nan": None, "f32": 0.5, "i64": 7, "flag": True},
        "plain": [1, "a", None, True, [2, 3]],
    }
    assert [q.name for q in tmp_path.iterdir()] == ["s.json"]


# the corner cases of an emitter: text that needs quotes or folding, non-ASCII, numbers as YAML writes them, nesting
YAML_CORNERS = {
    "note": "Kachin ionic-clay pits selling to Chinese separation; not in USGS MCS 2016 (size: assumption) " * 3,
    "quoted": ["yes", "no", "null", "1e3", "0x10", "a: b", "# hash", "- dash", "", " lead", "trail ", "'", '"', "a\nb"],
    "unicode": "稀土 Little Giants, São Paulo, 50 µm, ±5%",
    "numbers": [0, -1, 10**20, 0.1, 1e-9, 1e300, float("inf"), float("-inf"), 2.5e-5, True, False, None],
    "nested": {"a": [[1, 2], {"b": [None, {"c": "d"}]}], "empty_list": [], "empty_map": {}},
}


@pytest.mark.parametrize("overrides", [[], ["scenario=national_programme"], ["scenario=export_quota_2010"]], ids=["baseline", "national", "2010"])
def test_config_yaml_is_the_text_pyyamls_own_emitter_writes(overrides):
    """config.yaml is emitted by libyaml where PyYAML has it: the same text as yaml.safe_dump, for configs and for the
    emitter's corner cases (and it loads back to what was written)."""
    import dataclasses

    import yaml

    cfg = make_config(*overrides)
    assert output.config_yaml(cfg) == yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False, allow_unicode=True)
    text = output.yaml_text(YAML_CORNERS)
    assert text == yaml.safe_dump(YAML_CORNERS, sort_keys=False, allow_unicode=True)
    back = yaml.safe_load(text)
    assert back["quoted"] == YAML_CORNERS["quoted"] and back["unicode"] == YAML_CORNERS["unicode"] and back["nested"] == YAML_CORNERS["nested"]


def _json_normalize_one(obj):
    """What the sweep table and the analyses flattened with before sim.engine.output.dotted: pandas' own flattening."""
    rows = pd.json_normalize(obj, sep=".").to_dict("records") if obj else []
    return rows[0] if rows else {}


def _same_leaves(got: dict, want: dict) -> None:
    assert list(got) == list(want)  # the same keys in the same order
    for k, v in want.items():
        g = got[k]
        assert type(g) is type(v), (k, type(g), type(v))
        assert g == v or (isinstance(v, float) and np.isnan(v) and np.isnan(g)), (k, g, v)


def test_dotted_keys_are_pandas_json_normalize_of_one_mapping(lf):
    """sim.engine.output.dotted gives the keys, order and values pandas.json_normalize gives for one mapping: for a run's
    summary and config (thousands of keys) and for the corner cases (empty mappings, lists of mappings, keys that are
    not text, a dotted key beside the mapping that makes it, None and NaN, numbers beyond 64 bits)."""
    import dataclasses

    import yaml

    corners = {
        "a": {},
        "b": 1,
        "c": {"d": {}, "e": [1, {"x": 1}], 3: "a number key", "f": {"g": None}},
        "h": None,
        "i": {"j": float("nan")},
        "k.l": 1,
        "k": {"l": 2, "m": True},
        "n": 10**20,
        "o": 1.5,
        "p": "text",
        "q": (1, 2),
    }
    summary = json.loads((lf.run_dir / "summary.json").read_text())
    config = yaml.safe_load((lf.run_dir / "config.yaml").read_text())
    assert len(output.dotted(config)) > 1000 and len(output.dotted(summary)) > 200
    for obj in (summary, config, dataclasses.asdict(lf.model.cfg), corners, {}, {"only": {"nested": 1}}):
        _same_leaves(output.dotted(obj), _json_normalize_one(obj))
