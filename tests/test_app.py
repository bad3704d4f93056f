"""The classroom dashboard (sim/classroom/app.py, sim/classroom/dashboard.py): levers -> configs, views, the page in a browser.

The browser tests start one app server on a free localhost port for the module and drive Debian's chromium
through Playwright (the system browser: no browser download) with every request that is not for localhost
refused. One moves levers, steps the model and checks that the charts change; one checks the page on a
projector from the page itself (the boxes and computed font sizes of its text, SVG charts included, and its
page errors), at 1280x720 and 1920x1080 with the system theme dark. Screenshots go to results/screenshots/
(ignored by git):

- dashboard_loaded.png                 the page as a class first sees it (2015, not started)
- dashboard_after_lever_and_steps.png  export control switched off, permitting slowed, two years played
- dashboard_refused_setting.png        a negative seed refused with its one-line message; the run stays
- dashboard_projector_1280x720.png     the export-control lesson in 2027 with the two panels it names
- dashboard_projector_1920x1080.png    the same at 1920x1080
- dashboard_ghost_<size>.png            the same in 2027 with its ghost: the run without the export control, dashed
- dashboard_compare_1920x1080.png      its comparison over five seeds, with its note on seed noise
- dashboard_about_1920x1080.png        About this model
- dashboard_first_<lesson>_<size>.png   each lesson's first screen (and the page's without one) at both sizes

Without /usr/bin/chromium (``apt-get install chromium``) the browser tests are skipped, saying so.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import threading
import time
import warnings
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

from sim.classroom import dashboard as d
from sim.config import ConfigError, chain_scenarios, compose

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "results" / "screenshots"


# --------------------------------------------------------------------------
# Smoke: the page imports, the model steps, every view is plain JSON
# --------------------------------------------------------------------------
def test_app_imports_and_model_steps():
    pytest.importorskip("solara", reason="the app dependencies are not installed (pip install -e '.[app]')")
    from sim.classroom import app

    assert callable(app.page)
    assert callable(app.Controls) and callable(app.LeverPanel)
    m = d.Run(d.default_levers()).model
    assert m.quarter == -1 and d.quarter_label(m).endswith("(not started)")
    before = {name: json.dumps(view(m), allow_nan=False) for name, view in d.VIEWS.items()}
    for _ in range(4):
        m.step()
    assert m.quarter == 3 and d.quarter_label(m) == f"{m.world.start_year} Q4"
    after = {name: json.dumps(view(m), allow_nan=False) for name, view in d.VIEWS.items()}
    changed = [name for name in d.VIEWS if before[name] != after[name]]
    assert set(changed) == set(d.VIEWS), f"views that did not change after a year: {set(d.VIEWS) - set(changed)}"
    assert set(d.CAPTIONS) == set(d.VIEWS) and all(len(c) > 80 for c in d.CAPTIONS.values())


def test_time_charts_fill_in_one_point_per_quarter():
    m = d.ClassroomModel()
    for _ in range(6):
        m.step()
    cap = d.capacity_option(m)
    lines = [s for s in cap["series"] if s["type"] == "line"]
    assert len(lines) == 2 * m.tables.B * m.tables.S
    assert all(len(s["data"]) == 6 for s in lines)
    assert all(len(ax["data"]) == m.n_steps for ax in cap["xAxis"])  # the axis spans the horizon from the start
    heat = d.timeline_option(m)["series"][0]["data"]
    assert {q for q, _, _ in heat} == set(range(6))


# --------------------------------------------------------------------------
# Levers -> overrides -> config
# --------------------------------------------------------------------------
@pytest.mark.parametrize("scenario", chain_scenarios())
def test_a_scenario_as_it_is_needs_no_override(scenario):
    levers = d.default_levers(scenario)
    assert d.lever_overrides(levers) == [f"scenario={scenario}", f"seed={levers.seed}"]


def test_each_lever_sets_its_config_keys():
    base_levers = d.default_levers("baseline")
    base, _ = d.build_config(base_levers)
    levers = base_levers.replace(
        grant_budget=2.0,
        procurement_preference=0.5,
        credit_subsidy=1.5,
        tax_relief_points=20.0,
        knowledge_sharing=0.7,
        west_agencies=2,
        west_permit_factor=0.5,
        west_price_floor_usd_per_kg=90.0,
        west_offtake_t_per_year=4000.0,
        export_control_year=2030.0,
    )
    cfg, _ = d.build_config(levers)
    cb, cc = base.policy["china"], cfg.policy["china"]
    for tier, ben in cb.benefits.items():
        assert cc.benefits[tier].grant_myuan_per_year == pytest.approx(2.0 * ben.grant_myuan_per_year)
        assert cc.benefits[tier].procurement_discount == pytest.approx(0.5 * ben.procurement_discount)
        assert cc.benefits[tier].interest_subsidy == pytest.approx(1.5 * ben.interest_subsidy)
        assert cc.benefits[tier].credit_bonus == pytest.approx(1.5 * ben.credit_bonus)
    assert cc.designation.key_little_giant.budget_myuan_per_term == pytest.approx(2.0 * cb.designation.key_little_giant.budget_myuan_per_term)
    assert cc.benefits["little_giant"].tax_rate == pytest.approx(cfg.world.blocs["china"].tax_rate - 0.20)
    assert cc.groups.knowledge_sharing == pytest.approx(0.7)
    west = cfg.policy["west"]
    kept = d.fragmented_agencies()[:2]
    assert list(west.agencies) == [name for name, _ in kept]
    for name, budget in kept:
        assert west.agencies[name].budget_musd_per_year == pytest.approx(2.0 * budget)
    assert west.coordination.permit_factor == 0.5
    assert west.instruments.price_floor_usd_per_kg == {"separation": 90.0}
    assert west.instruments.floor_offtake_t_per_year == {"magnet": 4000.0}
    controls = d._export_controls(cfg)
    shift = 2030.0 - min(ev["start_year"] for ev in d._export_controls(base).values())
    assert {n: ev["start_year"] for n, ev in controls.items()} == {n: ev["start_year"] + shift for n, ev in d._export_controls(base).items()}
    assert d.read_levers(cfg, "baseline") == levers.replace(grant_budget=1.0, procurement_preference=1.0, credit_subsidy=1.0)


def test_regime_levers_bring_their_regime_and_its_numbers():
    levers = d.default_levers("laissez_faire")
    assert levers.china_policy == "none" and levers.west_agencies == 0 and not levers.export_control
    coordinated = d.change_levers(levers, west_coordinated=True, west_agencies=3)
    west_yaml = compose(["policy@policy.west=coordinated_west"]).policy["west"]
    assert coordinated.west_price_floor_usd_per_kg == west_yaml.instruments.price_floor_usd_per_kg["separation"]
    cfg, _ = d.build_config(coordinated)
    (pooled,) = cfg.policy["west"].agencies.values()
    assert cfg.policy["west"].regime == "coordinated_west"
    assert pooled.budget_musd_per_year == pytest.approx(sum(b for _, b in d.fragmented_agencies()[:3]))
    # the coordinated West floors concentrate too (the oxide floor seen from an integrated mine): the oxide lever moves it in
    # proportion, and an oxide floor of 0 removes both
    floors = west_yaml.instruments.price_floor_usd_per_kg
    half = d.change_levers(coordinated, west_price_floor_usd_per_kg=floors["separation"] / 2)
    assert d.build_config(half)[0].policy["west"].instruments.price_floor_usd_per_kg == pytest.approx(
        {"separation": floors["separation"] / 2, "mining": floors["mining"] / 2}
    )
    none = d.change_levers(coordinated, west_price_floor_usd_per_kg=0.0)
    assert d.build_config(none)[0].policy["west"].instruments.price_floor_usd_per_kg == {}
    tiers = d.change_levers(levers, china_policy="coordinated_without_tiers")
    cfg, _ = d.build_config(tiers)
    assert cfg.policy["china"].regime == "coordinated" and not cfg.policy["china"].designation.enabled
    assert tiers.tax_relief_points > 0  # the coordinated regime's own Little Giant tax rate, not the none regime's 0
    on = d.change_levers(levers, export_control=True, export_control_year=2021.5)
    cfg, _ = d.build_config(on)
    assert {n: ev["start_year"] for n, ev in d._export_controls(cfg).items()} == {d.NEW_EXPORT_CONTROL: 2021.5}
    off = d.change_levers(d.default_levers("baseline"), export_control=False)
    assert d._export_controls(d.build_config(off)[0]) == {}
    later = d.change_levers(d.default_levers("west_coordinated"), west_coordinated=False)
    cfg, _ = d.build_config(later)
    assert cfg.policy_change["west"].policy.regime == "fragmented"  # the West's later regime is the one changed
    assert cfg.policy["west"].regime == "fragmented"


def test_changing_the_scenario_starts_from_its_settings_and_keeps_the_seed():
    levers = d.default_levers("baseline").replace(seed=7, grant_budget=3.0)
    new = d.change_levers(levers, scenario="laissez_faire")
    assert new == d.default_levers("laissez_faire", seed=7)


@pytest.mark.parametrize(
    "change, key",
    [
        ({"seed": -1}, "seed"),
        ({"grant_budget": 9.0}, "grant_budget"),
        ({"west_agencies": 2.5}, "west_agencies"),
        ({"china_policy": "planned"}, "china_policy"),
        ({"export_control_year": float("nan")}, "export_control_year"),
    ],
)
def test_a_setting_out_of_range_is_one_line_naming_the_lever(change, key):
    with pytest.raises(ConfigError) as ex:
        d.change_levers(d.default_levers(), **change)
    assert ex.value.key == key and "\n" not in str(ex.value)


def test_an_unknown_scenario_is_refused_with_the_choices():
    with pytest.raises(ConfigError, match="allowed: .*baseline"):
        d.change_levers(d.default_levers(), scenario="nope")


def test_the_command_line_shown_gives_the_same_config():
    levers = d.change_levers(
        d.default_levers("export_control_shock"), west_agencies=2, west_coordinated=True, west_price_floor_usd_per_kg=80.0, export_control=False
    )
    levers = d.change_levers(levers, export_control=True, export_control_year=2027.0)
    cfg, ov = d.build_config(levers)
    words = shlex.split(d.command_line(ov))
    assert words[:3] == ["python", "-m", "sim"]
    again = compose(list(d.FIXED_OVERRIDES) + words[3:])
    assert _unused_criteria_dropped(again) == _unused_criteria_dropped(cfg)


def _unused_criteria_dropped(cfg):
    """The config without the designation criteria of blocs whose designation is off: the model never reads
    them, and validation parses them (notes dropped, numbers as floats) only where designation is on."""
    import copy

    out = copy.deepcopy(cfg)
    for p in list(out.policy.values()) + [c.policy for c in out.policy_change.values()]:
        if not p.designation.enabled:
            p.designation.criteria = None
    return out


@pytest.mark.parametrize(
    "change",
    [
        {"china_policy": "coordinated_without_tiers", "export_control": True, "west_coordinated": True, "west_agencies": 2},
        {"west_agencies": 0, "knowledge_sharing": 0.9, "seed": 11},
    ],
)
def test_the_edits_give_what_hydra_composes(change):
    levers = d.change_levers(d.default_levers("laissez_faire"), **change)
    cfg, ov = d.build_config(levers)
    assert _unused_criteria_dropped(compose(list(d.FIXED_OVERRIDES) + ov)) == _unused_criteria_dropped(cfg)


@pytest.mark.parametrize("name", list(d.PRESETS))
def test_presets_build_and_teach(name):
    p = d.PRESETS[name]
    assert len(p["lesson"].split()) > 50 and p["try"]
    levers = d.preset_levers(name, seed=3)
    assert levers.scenario == p["scenario"] and levers.seed == 3
    m = d.ClassroomModel(levers)
    m.step()
    assert m.cfg.scenario.name == p["scenario"]


def test_each_preset_names_two_panels_to_show_beside_its_lesson():
    for p in d.PRESETS.values():
        assert len(p["panels"]) == 2 and set(p["panels"]) <= set(d.VIEWS)
    assert set(d.DEFAULT_PANELS) <= set(d.VIEWS)


@pytest.mark.parametrize(
    "text, says", [("abc", "'abc' is not a whole number"), ("3.7", "'3.7' is not a whole number"), ("", "empty"), ("  ", "empty")]
)
def test_seed_text_that_is_not_a_whole_number_has_its_own_message(text, says):
    with pytest.raises(ConfigError) as ex:
        d.parse_seed(text)
    assert ex.value.key == "seed" and says in str(ex.value) and "\n" not in str(ex.value)
    assert d.parse_seed(" 12 ") == 12
    assert d.parse_seed("-1") == -1  # a whole number: the lever's range check refuses it, naming the range


def _font_sizes(node):
    """Every fontSize in an ECharts option (nested dicts and lists)."""
    if isinstance(node, dict):
        yield from ([node["fontSize"]] if "fontSize" in node else [])
        for v in node.values():
            yield from _font_sizes(v)
    elif isinstance(node, list):
        for v in node:
            yield from _font_sizes(v)


def test_every_chart_text_is_set_at_projector_size():
    m = _stepped(d.change_levers(d.default_levers("export_control_shock"), export_control_year=2016.0), 8)
    for name, view in d.VIEWS.items():
        option = view(m)
        sizes = list(_font_sizes(option))
        assert option["textStyle"]["fontSize"] >= d.FONT and sizes and min(sizes) >= d.FONT, name
    assert min(_font_sizes(d.pyramid_option(_stepped(d.change_levers(d.default_levers(), china_policy="none"), 1)))) >= d.FONT


def test_the_western_price_floor_is_drawn_on_its_price_panel():
    levers = d.change_levers(d.default_levers("baseline"), west_price_floor_usd_per_kg=90.0)
    lines = [s for s in d.prices_option(_stepped(levers, 1))["series"] if "markLine" in s]
    assert [(s["name"], s["yAxisIndex"], s["markLine"]["data"]) for s in lines] == [("West", 1, [{"yAxis": 90.0}])]  # separation
    option = d.prices_option(_stepped(levers, 1))
    assert option["yAxis"][1]["max"] >= 90.0  # the axis reaches the floor
    none = d.change_levers(levers, west_price_floor_usd_per_kg=0.0)
    assert not [s for s in d.prices_option(_stepped(none, 1))["series"] if "markLine" in s]


def test_value_axes_are_fixed_by_the_world_and_grow_only_past_it():
    levers = d.default_levers("baseline")
    a, b = _stepped(levers, 4), _stepped(levers.replace(seed=levers.seed + 1), 4)
    prices = [ax["max"] for ax in d.prices_option(a)["yAxis"]]
    assert prices == [ax["max"] for ax in d.prices_option(b)["yAxis"]]  # two runs on one scale
    assert prices == [d._axis_max(d.PRICE_AXIS_REFERENCES * p, np.zeros(0))["max"] for p in a.tables.reference_price_usd_per_kg]
    assert [ax["max"] for ax in d.capacity_option(a)["yAxis"]] == [ax["max"] for ax in d.capacity_option(d.ClassroomModel(levers))["yAxis"]]
    # the top tick is the axis's end: a whole number of round intervals
    assert d._axis_max(9.0, np.array([4.0])) == {"max": 10.0, "interval": 5.0}
    assert d._axis_max(135.0, np.array([60.0])) == {"max": 150.0, "interval": 50.0}
    assert d._axis_max(135.0, np.array([60.0, 260.0])) == {"max": 300.0, "interval": 100.0}  # grows past the scale
    assert [d._nice_ceiling(x) for x in (0.9, 1.0, 1.2, 2.2, 4.0, 7.0, 135.0)] == [1.0, 1.0, 2.0, 2.5, 5.0, 10.0, 200.0]


def test_about_has_netlogo_info_sections_in_order_with_sources():
    from sim.classroom import about

    at = [about.ABOUT.index(f"## {section}") for section in about.SECTIONS]
    assert at == sorted(at) and len(at) == 7
    refs = about.ABOUT[at[-1] :]
    for source in ("MIIT", "2022 Interim Measures", "MP Materials", "Critical Raw Materials Act", "Baogang", "docs/ODD.md"):
        assert source in refs
    for lever in ("Teaching preset", "Back to the", "seed"):
        assert lever.lower() in about.ABOUT.lower()


# --------------------------------------------------------------------------
# The model behind the page
# --------------------------------------------------------------------------
def _stepped(levers: d.Levers, quarters: int) -> d.ClassroomModel:
    m = d.ClassroomModel(levers)
    for _ in range(quarters):
        m.step()
    return m


def test_one_seed_fixes_the_run_and_another_seed_changes_it():
    levers = d.default_levers("baseline")
    a, b = _stepped(levers, 12), _stepped(levers, 12)
    c = _stepped(levers.replace(seed=levers.seed + 1), 12)
    assert all(np.array_equal(d.series(a, k), d.series(b, k), equal_nan=True) for k in ("capacity_t", "price_usd_per_kg"))
    assert json.dumps(d.chain_option(a)) == json.dumps(d.chain_option(b))
    assert not np.array_equal(d.series(a, "output_t"), d.series(c, "output_t"))


def test_the_export_control_lever_cuts_flows_in_the_chain_picture():
    levers = d.change_levers(d.default_levers("export_control_shock"), export_control_year=2016.0)
    quarters = 8  # two years: the control is in force from 2016
    on = _stepped(levers, quarters)
    off = _stepped(d.change_levers(levers, export_control=False), quarters)

    def cut_links(m):
        return [link for link in d.chain_option(m)["series"][0]["links"] if link["lineStyle"].get("type") == "dashed"]

    assert cut_links(on) and not cut_links(off)
    assert all("export control" in link["tooltip"]["formatter"] for link in cut_links(on))
    crosses = [n for n in d.chain_option(on)["series"][0]["data"] if n["name"].startswith("cut:")]
    assert crosses and all(n["label"]["formatter"] == "✕" for n in crosses)  # one ✕ per controlled exporter and stage
    assert not np.array_equal(d.series(on, "price_usd_per_kg"), d.series(off, "price_usd_per_kg"))
    shaded = [s for s in d.prices_option(on)["series"] if "markArea" in s]
    assert shaded and not [s for s in d.prices_option(off)["series"] if "markArea" in s]


def test_trade_flows_add_up_to_the_recorded_imports():
    m = _stepped(d.default_levers("baseline"), 5)
    imports = d.series(m, "imports_t")[-1]  # (B, S)
    trade = m.recorder.trade_t  # (B supplier, B buyer, S)
    # the same flows counted afresh from the last clearing of every stage: deliveries of suppliers of
    # bloc c to buyer classes of bloc b
    B, S = trade.shape[0], trade.shape[2]
    counted = np.zeros((B, B, S))
    for s in range(S):
        cl = m.last_clearing[s]
        supplier_bloc = m.pop.bloc[cl.suppliers]
        for c in range(B):
            for b in range(B):
                counted[c, b, s] = cl.delivered[np.ix_(cl.class_bloc == b, supplier_bloc == c)].sum()
    np.testing.assert_allclose(trade, counted, rtol=1e-9, atol=1e-9)
    into = trade.sum(axis=0) - np.einsum("bbs->bs", trade)  # from other blocs
    assert np.allclose(into, imports)
    assert into.sum() > 0  # the baseline trades across blocs


def test_timeline_reaches_the_summary_years_at_the_horizon():
    levers = d.default_levers("west_coordinated")  # timelines counted from 2025, not from the start
    m = d.ClassroomModel(levers)
    m.run()
    summary = m.recorder.summary()
    ref = summary["timeline_reference_year"]
    tl = d.timeline(m)
    for bloc in m.tables.blocs:
        for stage in m.tables.stages:
            for mine, theirs in (("first_output", "years_to_first_output"), ("independence", "years_to_independence")):
                want = summary[theirs][bloc][stage]
                got = tl[bloc][stage][mine]
                assert (got is None) == (want is None) and (got is None or got - ref == pytest.approx(want))


def test_the_pyramid_shows_titles_only_where_a_bloc_awards_them():
    tiers = _stepped(d.default_levers("baseline"), 12)
    counts = d.tier_counts(tiers)
    assert list(counts) == ["china"] and counts["china"].shape == (12, 4) and counts["china"][-1].sum() > 0
    assert (counts["china"] >= 0).all()
    none = _stepped(d.change_levers(d.default_levers("baseline"), china_policy="coordinated_without_tiers"), 4)
    assert d.tier_counts(none) == {}
    assert "graphic" in d.pyramid_option(none)


def test_green_scale_runs_from_pale_to_dark():
    assert d._green(0.0, 0.5) == d.GREENS[0] and d._green(5.0, 0.5) == d.GREENS[-1]
    levels = [d._green(v, 0.5) for v in (0.0, 0.25, 0.5, 0.75, 1.0)]
    darkness = [sum(int(c[k : k + 2], 16) for k in (1, 3, 5)) for c in levels]
    assert darkness == sorted(darkness, reverse=True) and len(set(levels)) == len(levels)


# --------------------------------------------------------------------------
# Safe stepping: the play loop and the widgets share one Run (its lock), without a browser
# --------------------------------------------------------------------------
@pytest.fixture
def watched_steps(monkeypatch):
    """Every ClassroomModel step built from here on, recorded as (start, end) with a short pause inside, so
    that two steps at once would overlap; ``overlaps`` counts steps that began while another was under way."""
    log = {"inside": 0, "overlaps": 0, "steps": 0}
    guard = threading.Lock()
    step = d.ClassroomModel.step

    def watched(self):
        with guard:
            log["overlaps"] += log["inside"] > 0
            log["inside"] += 1
        time.sleep(0.002)  # long enough for another thread to come in, if it could
        step(self)
        with guard:
            log["inside"] -= 1
            log["steps"] += 1

    monkeypatch.setattr(d.ClassroomModel, "step", watched)
    return log


def _short_run(quarters: int = 6, **changes) -> d.Run:
    """A run that ends after ``quarters`` quarters (the model stops itself at n_steps)."""
    run = d.Run(d.change_levers(d.default_levers(), **changes) if changes else None)
    run.model.n_steps = quarters
    return run


def _playing(run: d.Run, redraws: list | None = None) -> threading.Thread:
    generation = run.start_playing()
    assert generation is not None
    redraws = redraws if redraws is not None else []
    t = threading.Thread(target=run.play, args=(generation, lambda: redraws.append(run.model.steps)), kwargs={"interval_s": lambda: 0.0})
    t.start()
    return t


def test_steps_from_the_play_loop_and_the_buttons_never_interleave(watched_steps):
    run = _short_run(40)
    loop = _playing(run)
    clicks = [threading.Thread(target=run.step, args=(4,)) for _ in range(3)]  # Step one year, pressed while playing
    for t in clicks:
        t.start()
    for t in clicks:
        t.join()
    loop.join(timeout=10)
    assert not loop.is_alive() and not run.playing
    assert watched_steps["overlaps"] == 0
    # every quarter stepped once and none past the last (two steps at once leave Mesa's clock ahead of the steps)
    assert run.model.steps == watched_steps["steps"] == run.model.time == 40


def test_stepping_stops_at_the_last_quarter_and_says_so():
    run = _short_run(6)
    assert run.step(4) == 4 and "Quarter 4 of 6" in run.status()
    assert run.step(4) == 2 and run.finished and not run.model.running
    assert run.step(4) == 0 and run.model.steps == 6 and run.model.time == 6
    assert run.status().startswith("Run finished") and d.quarter_label(run.model) in run.status()
    assert run.start_playing() is None and not run.playing  # Play refuses a finished run
    run.reset()
    assert not run.finished and run.model.steps == 0


def test_play_stops_by_itself_at_the_last_quarter():
    run = _short_run(5)
    redraws: list[int] = []
    _playing(run, redraws).join(timeout=10)
    assert run.finished and not run.playing and run.model.steps == 5
    assert redraws == [1, 2, 3, 4, 5]


def test_pause_stops_the_loop_after_the_step_under_way_and_a_new_play_replaces_the_old_loop():
    run = _short_run(1000)
    first = run.start_playing()
    run.pause()
    run.play(first, lambda: None)  # a loop that starts after its Pause never steps
    assert run.model.steps == 0
    loop = _playing(run)
    time.sleep(0.05)
    run.pause()
    loop.join(timeout=5)
    stopped = run.model.steps
    time.sleep(0.05)
    assert not loop.is_alive() and run.model.steps == stopped > 0
    old = run.start_playing()
    newer = run.start_playing()  # Pause then Play again before the old loop noticed
    run.play(old, lambda: None)  # the old loop ends at once
    assert run.model.steps == stopped
    run.pause(old)  # a stale loop's pause leaves the new one playing
    assert run.playing
    run.pause(newer)
    assert not run.playing


def test_a_lever_change_during_play_pauses_and_is_kept(watched_steps):
    run = _short_run(1000)
    loop = _playing(run)
    time.sleep(0.05)
    assert run.model.levers.west_coordinated is False
    built = run.change(west_coordinated=True)
    loop.join(timeout=5)
    assert not loop.is_alive() and not run.playing
    assert run.model is built and built.steps == 0  # the rebuilt model is the one on the page, and it stays still
    assert built.levers.west_coordinated is True and "policy@policy.west=coordinated_west" in built.overrides
    assert watched_steps["overlaps"] == 0


def test_lever_changes_at_once_are_all_kept():
    run = d.Run()
    changes = ({"west_coordinated": True}, {"seed": 7}, {"export_control": False})
    threads = [threading.Thread(target=run.change, kwargs=c) for c in changes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    held = run.model.levers  # each change started from the levers the previous one left
    assert (held.west_coordinated, held.seed, held.export_control) == (True, 7, False)


def test_a_refused_change_keeps_the_model():
    run = _short_run(6)
    run.step(2)
    model = run.model
    with pytest.raises(ConfigError):
        run.change(seed=-1)
    assert run.model is model and model.steps == 2


@contextlib.contextmanager
def _rendered_panel(kernel_id: str):
    """The controls and the lever panel of a 6-quarter run, rendered by Solara without a browser in a kernel of our
    own: yields (run, model, generation, render context, ipyvuetify)."""
    solara = pytest.importorskip("solara", reason="the app dependencies are not installed (pip install -e '.[app]')")
    import ipyvuetify as v
    from solara.server import kernel, kernel_context

    from sim.classroom import app

    ctx = kernel_context.VirtualKernelContext(id=kernel_id, kernel=kernel.Kernel(), session_id=kernel_id)
    start = threading.Thread.start

    def start_in_kernel(thread: threading.Thread) -> None:
        """A thread the page starts (a task: the play loop) runs in the page's kernel, as the server's would: its
        renders then find the widgets of this kernel, not of none (without it they fail now and then on a busy machine)."""
        body = thread.run

        def run_in_kernel() -> None:
            with ctx:
                body()

        thread.run = run_in_kernel
        start(thread)

    with ctx, mock.patch.object(threading.Thread, "start", start_in_kernel):
        run = _short_run(6)
        model, generation = solara.reactive(run.model), solara.reactive(None)
        before = set(threading.enumerate())

        @solara.component
        def Panel():
            app.Controls(run, model, generation)
            app.LeverPanel(run, model, generation)

        _, rc = solara.render(Panel(), handle_error=False)
        try:
            yield run, model, generation, rc, v
        finally:
            # the page's task threads (a play loop ending, a task's last re-render) finish before the widgets close: closing
            # them while such a thread re-renders fails in reacton on a busy machine (seen in a CI run under load)
            for thread in set(threading.enumerate()) - before:
                thread.join(timeout=60)
            rc.close()


def test_the_panel_greys_stepping_and_levers_while_playing_and_says_when_the_run_is_finished():
    """The controls and the lever panel rendered by Solara without a browser (a kernel of our own)."""
    with _rendered_panel("test") as (run, model, generation, rc, v):
        button = lambda label: rc.find(v.Btn, children=[label]).widget  # noqa: E731
        control = lambda: rc.find(v.Checkbox, label=d.LEVERS["export_control"]["label"]).widget  # noqa: E731
        before, box = set(threading.enumerate()), control()
        button("▶").click()
        assert generation.value is not None and button("Step one year").disabled and button("Step").disabled
        assert control().disabled and "Pause to change the levers." in str(rc.find(v.Alert).widgets[0].children)
        assert control() is box  # the same widget, though the note on playing came in above it
        control().fire_event("change", False)  # a change sent before the page greyed the box: it pauses and applies
        for loop in set(threading.enumerate()) - before:
            loop.join(timeout=10)
        assert generation.value is None and not run.playing and run.model.steps == 0
        assert model.value is run.model and run.model.levers.export_control is False and control().v_model is False
        run.model.n_steps = 6  # the rebuilt model, shortened too
        button("Step one year").click()
        button("Step one year").click()
        assert run.model.steps == 6 and button("Step one year").disabled and button("▶").disabled
        assert "Run finished" in str(rc.find(v.Alert).widgets[0].children)


def test_levers_apply_their_change_events_and_keep_their_widgets():
    """A lever applies the value its change event carries (Enter in the Seed box, a box ticked, a slider released), not
    the value its widget syncs while typing; the same value again (the box left after Enter) changes nothing; every lever keeps its
    widget through a rebuild."""
    with _rendered_panel("test-events") as (run, model, generation, rc, v):
        seed = lambda: rc.find(v.TextField, label="Seed").widget  # noqa: E731
        control = lambda: rc.find(v.Checkbox, label=d.LEVERS["export_control"]["label"]).widget  # noqa: E731
        widgets = (seed(), control())
        seed().v_model = "5"  # typed, Enter not pressed yet: the model stays
        assert run.model.levers.seed == 1 and seed().v_model == "5"
        seed().fire_event("change", "5")  # Enter
        assert run.model.levers.seed == 5 and model.value is run.model and seed().v_model == "5"
        rc.find(v.Btn, children=["Step"]).widget.click()
        stepped = run.model
        assert stepped.steps == 1
        seed().fire_event("change", "5")  # the box left after Enter: the same seed, the run goes on
        assert run.model is stepped and stepped.steps == 1
        rc.find(v.Slider).widgets[1].fire_event("change", 3)  # the Controls' Render interval released at 3 quarters
        rc.find(v.Btn, children=["Step"]).widget.click()
        assert stepped.steps == 4
        control().fire_event("change", False)
        assert run.model.levers.export_control is False and run.model.levers.seed == 5 and control().v_model is False
        assert (seed(), control()) == widgets  # the same widgets through the rebuilds


# --------------------------------------------------------------------------
# The page in a real browser, offline (one server and one browser for the module)
# --------------------------------------------------------------------------
def _browser_or_skip():
    if not Path(d.CHROMIUM).exists():
        pytest.skip(f"no {d.CHROMIUM}: install Debian's chromium (apt-get install chromium) to run the browser test")
    pytest.importorskip("solara", reason="the app dependencies are not installed (pip install -e '.[app]')")
    return pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")


def _descendants(pid: int) -> list[int]:
    """The processes a process started, and theirs (Linux /proc; none elsewhere)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, parent in parents.items() if parent == p]
        out += kids
        todo += kids
    return out


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(playwright module, browser, url, server log path, requests refused, requests failed): the app server and
    Chromium, offline; every request that is not for the server is refused and recorded."""
    pw = _browser_or_skip()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    log_path = tmp_path_factory.mktemp("app") / "server.log"
    with open(log_path, "w") as log:
        proc, url = d.start_server(log=log)
        try:
            with pw.sync_playwright() as p:
                browser = p.chromium.launch(executable_path=d.CHROMIUM, headless=True, args=list(d.OFFLINE_CHROMIUM_ARGS))
                yield pw, browser, url, log_path
                browser.close()
        finally:
            spawned = _descendants(proc.pid)
            d.stop_server(proc)
    assert "Traceback" not in log_path.read_text()
    # the run processes the server started (lessons' comparisons, ghosts) went with it (once reaped: within 30 s)
    deadline = time.monotonic() + 30
    while (alive := [pid for pid in spawned if Path(f"/proc/{pid}").exists()]) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not alive, f"processes the app server started outlived it: {alive}"


def _open(served, width: int, height: int, scheme: str = "light", sockets: list | None = None):
    """A new page at this size and system colour scheme, loaded with every chart drawn; returns (page, page errors,
    requests refused, requests failed). ``sockets``, if given, collects (monotonic time, what) for the page's
    websockets: "open", "closed" or "error: ..." (so a test can say when the page lost its server)."""
    pw, browser, url, _ = served
    context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=scheme)
    page = context.new_page()
    errors: list[str] = []
    refused: list[str] = []
    failed: list[str] = []

    def only_localhost(route):
        if route.request.url.startswith((url, "data:", "blob:")):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    page.route("**/*", only_localhost)
    page.on("pageerror", lambda e: errors.append(str(e)))
    if sockets is not None:

        def watch(ws) -> None:
            sockets.append((time.monotonic(), "open"))
            ws.on("close", lambda _: sockets.append((time.monotonic(), "closed")))
            ws.on("socketerror", lambda e: sockets.append((time.monotonic(), f"error: {e}")))

        page.on("websocket", watch)
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(url, wait_until="domcontentloaded", timeout=60_000)
    for view in d.VIEWS:
        page.wait_for_selector(f".view-{view} svg text", timeout=60_000)
    return page, errors, refused, failed


# The page read as a browser lays it out: every text of every chart (SVG) at minFont px or more, inside its chart
# and on no other; the page's own text boxes on no other and not cut by a box that hides its overflow.
PAGE_TEXT_PROBLEMS = """minFont => {
  const problems = [];
  const inside = (r, b) => r.left >= b.left - 1 && r.right <= b.right + 1 && r.top >= b.top - 1 && r.bottom <= b.bottom + 1;
  const overlap = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > 2 && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 2;
  const shown = cs => cs.display !== 'none' && cs.visibility !== 'hidden' && Number(cs.opacity) !== 0 && Number(cs.fillOpacity) !== 0;
  for (const view of document.querySelectorAll('.view')) {
    const name = [...view.classList].find(c => c.startsWith('view-'));
    const svg = view.querySelector('svg');
    if (!svg) { problems.push(`${name}: no chart`); continue; }
    const box = svg.getBoundingClientRect();
    const texts = [];
    for (const t of svg.querySelectorAll('text')) {
      const s = t.textContent.trim(), cs = getComputedStyle(t), r = t.getBoundingClientRect();
      if (!s || !shown(cs) || r.width === 0) continue;
      if (parseFloat(cs.fontSize) < minFont) problems.push(`${name}: "${s}" at ${cs.fontSize}`);
      if (!inside(r, box)) problems.push(`${name}: "${s}" cut at the chart's edge`);
      texts.push([s, r]);
    }
    for (let i = 0; i < texts.length; i++) for (let j = i + 1; j < texts.length; j++)
      if (overlap(texts[i][1], texts[j][1])) problems.push(`${name}: "${texts[i][0]}" on "${texts[j][0]}"`);
  }
  // text scrolled out of a box that scrolls (the panels' column) is not on the screen: left out
  const inView = (r, el) => {
    for (let a = el; a && a !== document.body; a = a.parentElement) {
      const o = getComputedStyle(a).overflowY;
      if (o === 'auto' || o === 'scroll') { const b = a.getBoundingClientRect(); return r.bottom > b.top && r.top < b.bottom; }
    }
    return true;
  };
  const nodes = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) {
    const n = walk.currentNode;
    if (!n.textContent.trim() || n.parentElement.closest('svg, script, style') || !shown(getComputedStyle(n.parentElement))) continue;
    const range = document.createRange();
    range.selectNodeContents(n);
    for (const r of range.getClientRects())
      if (r.width > 0 && r.height > 0 && inView(r, n.parentElement)) nodes.push([n.textContent.trim().slice(0, 40), r, n.parentElement]);
  }
  for (let i = 0; i < nodes.length; i++) for (let j = i + 1; j < nodes.length; j++)
    if (overlap(nodes[i][1], nodes[j][1]) && !nodes[i][2].contains(nodes[j][2]) && !nodes[j][2].contains(nodes[i][2]))
      problems.push(`page: "${nodes[i][0]}" on "${nodes[j][0]}"`);
  for (const [s, r, el] of nodes) {
    for (let a = el; a && a !== document.body; a = a.parentElement) {
      const cs = getComputedStyle(a);
      if (cs.overflowX === 'visible' && cs.overflowY === 'visible') continue;
      const b = a.getBoundingClientRect();
      const cutX = cs.overflowX === 'hidden' && (r.left < b.left - 1 || r.right > b.right + 1);
      const cutY = cs.overflowY === 'hidden' && (r.top < b.top - 1 || r.bottom > b.bottom + 1);
      if (cutX || cutY)
        problems.push(`page: "${s}" cut by .${a.className}`);
      break;
    }
  }
  return problems;
}"""

# The first screen: the app bar's bottom, then the boxes of the lesson and of the panels beside it
FIRST_SCREEN = """() => {
  const bar = document.querySelector('header').getBoundingClientRect().bottom;
  const box = e => { const r = e.getBoundingClientRect(); return [r.top, r.bottom, r.left, r.right]; };
  return {bar, lesson: box(document.querySelector('.view-lesson')),
          panels: [...document.querySelectorAll('.focus .view')].map(e => [[...e.classList].find(c => c.startsWith('view-')), box(e)])};
}"""


def _check_projector_screen(page, panels: tuple[str, ...], width: int, height: int) -> None:
    """The lesson and the panels it names inside the window below the app bar; no text too small, cut or overlapping."""
    first = page.evaluate(FIRST_SCREEN)
    assert [name for name, _ in first["panels"]] == [f"view-{p}" for p in panels]
    for what, (top, bottom, left, right) in [("lesson", first["lesson"])] + first["panels"]:
        assert top >= first["bar"] - 1 and bottom <= height + 0.5 and left >= 0 and right <= width + 0.5, (
            f"{what} not on the first screen at {width}x{height}"
        )
    problems = page.evaluate(PAGE_TEXT_PROBLEMS, d.FONT)
    assert not problems, f"at {width}x{height}: {problems[:10]}"


PROJECTORS = ((1920, 1080), (1280, 720))  # the page ends at the smaller


def _check_on_projectors(page, panels: tuple[str, ...], name: str) -> None:
    """The first screen checked at each projector size (screenshots dashboard_first_<name>_<w>x<h>.png)."""
    for width, height in PROJECTORS:
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(500)  # the charts follow their boxes' new size
        _check_projector_screen(page, panels, width, height)
        page.screenshot(path=SCREENSHOTS / f"dashboard_first_{name}_{width}x{height}.png")


def test_the_page_on_a_projector(served):
    """At 1280x720 and 1920x1080, in a browser whose system theme is dark: the light theme; the lesson and the two
    panels it names on the first screen; chart text at 16 px or more; no text overlapping or cut; no page errors and
    nothing of Mesa's default page; each lesson's first screen at both sizes; a lesson's ghost (the same seed without
    its change, dashed on its panels); a lesson's comparison over five seeds; the About panel; a seed that is not a whole
    number says so."""
    pw = served[0]
    page, errors, refused, failed = _open(served, 1280, 720, scheme="dark")
    body = page.inner_text("body")
    for leftover in ("Page 0", "PAGE 0", "Model Parameters", "Use Threads", "Time:", "This website runs on"):
        assert leftover not in body
    background = page.evaluate("() => getComputedStyle(document.querySelector('.v-application')).backgroundColor")
    assert background in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)"), f"not the light theme: {background}"
    _check_on_projectors(page, d.DEFAULT_PANELS, "default")

    for name in [n for n in d.PRESETS if n != "export_control"] + ["export_control"]:  # every lesson fits; the last is played
        _choose_preset(page, d.PRESETS[name]["title"])
        pw.expect(page.locator(".view-lesson")).to_contain_text(d.PRESETS[name]["title"], timeout=30_000)
        page.wait_for_timeout(300)
        _check_on_projectors(page, d.PRESETS[name]["panels"], name)
    quarter = page.locator(".view-quarter")
    year = page.get_by_role("button", name="Step one year", exact=True)
    for y in range(2015, 2027):  # past the control's start: shaded prices, red flows, crosses
        year.click()
        pw.expect(quarter).to_contain_text(f"Now: {y} Q4", timeout=30_000)
    page.wait_for_timeout(300)
    _check_projector_screen(page, d.PRESETS[name]["panels"], 1280, 720)
    page.screenshot(path=SCREENSHOTS / "dashboard_projector_1280x720.png")
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.wait_for_timeout(500)
    _check_projector_screen(page, d.PRESETS[name]["panels"], 1920, 1080)
    page.screenshot(path=SCREENSHOTS / "dashboard_projector_1920x1080.png")

    # the lesson's ghost: computed apart (Step one year steps while it runs), then drawn on the lesson's price panel, a
    # dashed line per bloc and stage with its legend entry, on both projectors
    label = d.PRESETS[name]["compare"]["ghost"]
    prices = page.locator(".focus .view-prices svg")
    dashed = prices.locator("path[stroke-dasharray]")
    dashed_before = dashed.count()
    toggle = page.locator(".ghost-toggle")
    toggle.get_by_role("checkbox").click(force=True)
    status = page.locator(".ghost-status")
    pw.expect(status).to_contain_text(f"Computing the run {label}", timeout=30_000)
    year.click()
    pw.expect(quarter).to_contain_text("Now: 2027 Q4", timeout=30_000)
    assert "Computing" in toggle.inner_text(), "the ghost was ready before the step: it does not show that stepping does not wait for it"
    pw.expect(status).to_have_count(0, timeout=120_000)
    pw.expect(prices.locator("text", has_text=label)).to_have_count(1, timeout=30_000)
    tables = d.ClassroomModel(d.preset_levers(name, 1)).tables
    assert dashed.count() >= dashed_before + tables.B * tables.S, (dashed_before, dashed.count())  # a ghost per bloc and stage
    for width, height in reversed(PROJECTORS):
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(500)
        _check_projector_screen(page, d.PRESETS[name]["panels"], width, height)
        page.screenshot(path=SCREENSHOTS / f"dashboard_ghost_{width}x{height}.png")

    # the lesson's comparison over five seeds: run apart (Step one year still steps), then its note on seed noise
    compare = page.locator(".view-compare")
    compare.scroll_into_view_if_needed()
    compare.get_by_role("checkbox").click(force=True)
    pw.expect(compare).to_contain_text("in the background", timeout=30_000)
    year.click()
    pw.expect(quarter).to_contain_text("Now: 2028 Q4", timeout=30_000)
    pw.expect(compare.locator(".compare-note")).to_contain_text("Seeds 1-5.", timeout=300_000)
    assert "The difference is larger than the differences between seeds." in compare.inner_text()
    assert not page.evaluate(PAGE_TEXT_PROBLEMS, d.FONT)
    page.screenshot(path=SCREENSHOTS / "dashboard_compare_1920x1080.png", full_page=False)

    # a seed that is not a whole number: its own message each time, and the run stays. Once in many runs under load the
    # box showed the model's seed again, the text typed and its Enter lost, and the message stayed the previous one (CI,
    # December 2026: '' after '3.7'; not reproduced in some 450 tries beside busy loops): where the box no longer holds what
    # was typed, the text is typed again once, with a warning; a wrong message with the text still in the box fails
    seed, error = page.get_by_label("Seed", exact=True), page.locator(".lever-error")
    for text, says in (("abc", "'abc' is not a whole number"), ("3.7", "'3.7' is not a whole number"), ("", "empty")):
        seed.fill(text)
        pw.expect(seed).to_have_value(text)
        seed.press("Enter")
        try:
            pw.expect(error).to_contain_text(says, timeout=30_000)
        except AssertionError:
            if seed.input_value() == text:
                raise
            warnings.warn(f"the Seed box showed {seed.input_value()!r} after {text!r} and Enter: typed again", stacklevel=1)
            seed.fill(text)
            seed.press("Enter")
            pw.expect(error).to_contain_text(says, timeout=30_000)
        assert error.count() == 1
    pw.expect(quarter).to_contain_text("Now: 2028 Q4")

    # About this model: the Info sections, then back to the run
    page.get_by_role("button", name="About this model").click()
    about = page.locator(".about")
    pw.expect(about).to_contain_text("WHAT IS IT?", timeout=30_000)
    assert page.locator(".about h2").all_inner_texts() == [
        "WHAT IS IT?",
        "HOW IT WORKS",
        "HOW TO USE IT",
        "THINGS TO NOTICE",
        "THINGS TO TRY",
        "EXTENDING THE MODEL",
        "CREDITS AND REFERENCES",
    ]
    assert not page.evaluate(PAGE_TEXT_PROBLEMS, d.FONT)
    page.screenshot(path=SCREENSHOTS / "dashboard_about_1920x1080.png")
    page.get_by_role("button", name="Back to the run").click()
    pw.expect(quarter).to_contain_text("Now: 2028 Q4", timeout=30_000)
    page.context.close()
    assert not errors, f"page errors: {errors[:5]}"
    assert not refused and not failed, (refused[:5], failed[:5])


def test_the_page_works_offline_in_chromium(served):
    pw = served[0]
    page, errors, refused, failed = _open(served, 1500, 1400)
    quarter = page.locator(".view-quarter")
    pw.expect(quarter).to_contain_text("not started", timeout=30_000)
    pw.expect(page.get_by_text("Lessons and levers")).to_be_visible()
    page.screenshot(path=SCREENSHOTS / "dashboard_loaded.png", full_page=True)
    charts = {v: page.locator(f".view-{v} svg").first for v in ("chain", "capacity", "prices", "timeline")}
    before = {v: c.screenshot() for v, c in charts.items()}

    # levers: the export control off (a checkbox), Western permitting slower (a slider, by keyboard)
    run = page.locator(".view-run")
    page.get_by_text("Chinese export control on", exact=True).click()
    pw.expect(run).to_contain_text("~scenario.events.licensing_2025", timeout=30_000)
    slider = page.locator(".lever", has_text="Western permitting time").get_by_role("slider")
    slider.focus()
    page.keyboard.press("ArrowRight")
    pw.expect(run).to_contain_text("policy.west.coordination.permit_factor=1.25", timeout=30_000)

    # step, play, pause, reset, play again
    step = page.get_by_role("button", name="Step", exact=True)
    for q in (1, 2):
        step.click()
        pw.expect(quarter).to_contain_text(f"Now: 2015 Q{q}", timeout=30_000)
    year = page.get_by_role("button", name="Step one year", exact=True)
    year.click()  # four quarters at once
    pw.expect(quarter).to_contain_text("Now: 2016 Q2", timeout=30_000)
    page.get_by_role("button", name="Reset", exact=True).click()
    pw.expect(quarter).to_contain_text("not started", timeout=30_000)
    pw.expect(run).to_contain_text("~scenario.events.licensing_2025")  # Reset keeps the levers
    page.get_by_role("button", name="▶", exact=True).click()
    page.wait_for_function(_YEAR_AT_LEAST, arg=2017, timeout=60_000)  # a busy machine may skip redraws
    page.get_by_role("button", name="❚❚", exact=True).click()
    pw.expect(step).to_be_enabled(timeout=30_000)
    paused = _settled(page, quarter)  # a step already under way when Pause was pressed still lands
    page.wait_for_timeout(1500)
    assert quarter.inner_text() == paused, "the model went on after Pause"
    after = {v: c.screenshot() for v, c in charts.items()}
    unchanged = [v for v in charts if after[v] == before[v]]
    assert not unchanged, f"charts that did not change after a lever and two years: {unchanged}"
    page.screenshot(path=SCREENSHOTS / "dashboard_after_lever_and_steps.png", full_page=True)

    # a refused setting: one readable line, and the run on the page stays
    seed = page.get_by_label("Seed", exact=True)
    seed.fill("-1")
    seed.press("Enter")
    error = page.locator(".lever-error")
    pw.expect(error).to_contain_text("config error at 'seed'", timeout=30_000)
    assert "Traceback" not in page.inner_text("body")
    assert quarter.inner_text() == paused
    page.screenshot(path=SCREENSHOTS / "dashboard_refused_setting.png", full_page=True)

    # a teaching preset: its scenario and its lesson; a lever moved, then back to the preset
    _choose_preset(page, d.PRESETS["export_control"]["title"])
    lesson = page.locator(".view-lesson")
    pw.expect(lesson).to_contain_text(d.PRESETS["export_control"]["lesson"][:60], timeout=30_000)
    pw.expect(run).to_contain_text("scenario=export_controls_full")
    pw.expect(page.locator(".lever-error")).to_have_count(0)
    page.get_by_text("Chinese export control on", exact=True).click()
    pw.expect(run).to_contain_text("~scenario.events", timeout=30_000)
    page.get_by_role("button", name="Back to the preset").click()
    pw.expect(run).not_to_contain_text("~scenario.events", timeout=30_000)
    pw.expect(page.get_by_role("button", name="Back to the preset")).to_have_count(0)
    page.context.close()
    print(f"screenshots: {', '.join(sorted(str(p.relative_to(ROOT)) for p in SCREENSHOTS.glob('dashboard_*.png')))}")
    assert not errors, f"page errors: {errors[:5]}"
    assert not refused, f"the page asked for something outside localhost: {refused[:5]}"
    assert not failed, f"requests that failed: {failed[:5]}"


_YEAR_AT_LEAST = """year => {
    const m = (document.querySelector('.view-quarter') || {innerText: ''}).innerText.match(/Now: (\\d{4})/);
    return m !== null && Number(m[1]) >= year;
}"""


def _settled(page, locator, tries: int = 20) -> str:
    """The locator's text once it stays the same for a second."""
    last = locator.inner_text()
    for _ in range(tries):
        page.wait_for_timeout(1000)
        now = locator.inner_text()
        if now == last:
            return now
        last = now
    raise AssertionError(f"still changing after {tries} s: {last!r}")


def _choose_preset(page, title: str) -> None:
    page.get_by_label("Teaching preset").click(force=True)
    page.get_by_role("option", name=title).click()


@pytest.mark.slow
def test_preset_screenshots(tmp_path):
    """Each teaching preset played to two years after 2025 (results/screenshots/dashboard_preset_<name>.png)."""
    pw = _browser_or_skip()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with open(tmp_path / "server.log", "w") as log:
        proc, url = d.start_server(log=log)
        try:
            with pw.sync_playwright() as p:
                browser = p.chromium.launch(executable_path=d.CHROMIUM, headless=True, args=list(d.OFFLINE_CHROMIUM_ARGS))
                page = browser.new_page(viewport={"width": 1500, "height": 1400})
                page.route("**/*", lambda r: r.continue_() if r.request.url.startswith((url, "data:", "blob:")) else r.abort())
                page.goto(url, wait_until="domcontentloaded", timeout=60_000)
                page.wait_for_selector(".view-chain svg text", timeout=60_000)
                quarter, lesson = page.locator(".view-quarter"), page.locator(".view-lesson")
                for name, preset in d.PRESETS.items():
                    _choose_preset(page, preset["title"])
                    pw.expect(lesson).to_contain_text(preset["title"], timeout=30_000)
                    pw.expect(quarter).to_contain_text("not started", timeout=30_000)
                    page.get_by_role("button", name="▶", exact=True).click()
                    page.wait_for_function(_YEAR_AT_LEAST, arg=2027, timeout=180_000)
                    page.get_by_role("button", name="❚❚", exact=True).click()
                    _settled(page, quarter)
                    page.screenshot(path=SCREENSHOTS / f"dashboard_preset_{name}.png", full_page=True)
                browser.close()
        finally:
            d.stop_server(proc)


# --------------------------------------------------------------------------
# Fuzz: a seeded random sequence of clicks, then the page's run against a clean run of the same settings
# --------------------------------------------------------------------------
FUZZ_ACTIONS = ("play", "pause", "step", "year", "reset", "preset", "back", "checkbox", "slider", "seed", "china")
FUZZ_SLIDERS = ("grant_budget", "knowledge_sharing", "west_agencies", "west_permit_factor", "west_price_floor_usd_per_kg", "export_control_year")
FUZZ_CHECKBOXES = ("export_control", "west_coordinated")


def _fuzz_action(page, rng, action: str) -> bool | str:
    """One action on the page, if the page offers it now (the control shown and enabled); returns whether it was done
    (for a seed, the text typed).
    A control that goes away or greys under the click (the run finished, a rebuild) counts as not done."""
    from playwright.sync_api import Error as PlaywrightError

    def click(locator) -> bool:
        if locator.count() == 0 or not locator.first.is_visible() or not locator.first.is_enabled():
            return False
        locator.first.click(timeout=2_000)
        return True

    button = lambda name: page.get_by_role("button", name=name, exact=True)  # noqa: E731
    try:
        if action in ("play", "pause", "step", "year", "reset", "back"):
            name = {"play": "▶", "pause": "❚❚", "step": "Step", "year": "Step one year", "reset": "Reset", "back": "Back to the preset"}[action]
            return click(button(name))
        if action in ("preset", "china"):
            label, option = (
                ("Teaching preset", d.PRESETS[rng.choice(list(d.PRESETS))]["title"])
                if action == "preset"
                else ("China's policy", rng.choice(d.CHINA_POLICIES))
            )
            field = page.get_by_label(label)
            if not field.is_enabled():
                return False
            field.click(force=True, timeout=2_000)
            page.get_by_role("option", name=option, exact=True).click(timeout=2_000)
            return True
        if action == "checkbox":
            box = page.get_by_role("checkbox", name=d.LEVERS[rng.choice(FUZZ_CHECKBOXES)]["label"])
            if not box.is_enabled():
                return False
            box.click(force=True, timeout=2_000)  # Vuetify's input is under its ripple: the label's click
            return True
        if action == "slider":
            slider = page.locator(".lever", has_text=d.LEVERS[rng.choice(FUZZ_SLIDERS)]["label"]).get_by_role("slider")
            if not slider.is_enabled():
                return False
            slider.focus(timeout=2_000)
            page.keyboard.press(rng.choice(("ArrowRight", "ArrowLeft", "PageUp")))
            return True
        if action == "seed":
            seed = page.get_by_label("Seed", exact=True)
            if not seed.is_enabled():
                return False
            text = str(rng.randint(0, 9))
            seed.fill(text, timeout=2_000)
            seed.press("Enter", timeout=2_000)
            return text
    except PlaywrightError:  # timed out: the control changed under the click
        page.keyboard.press("Escape")  # a select's menu left open
        return False
    raise ValueError(action)


_CHAIN_NUMBERS = """() => [...document.querySelectorAll('.view-chain svg text')].map(t => t.textContent.trim())
    .filter(s => / (kt\\/yr|USD\\/kg)$/.test(s))"""


def _chain_numbers(model) -> list[str]:
    """The capacity and price lines of the chain picture's boxes, as the page writes them."""
    out = []
    for node in d.chain_option(model)["series"][0]["data"]:
        text = node.get("label", {}).get("formatter", "")
        out += [line for line in text.split("\n") if line.endswith((" kt/yr", " USD/kg"))]
    return out


def _all_handled(page) -> None:
    """Wait until the server has handled every action sent so far. It handles a page's messages one at a time in the
    order they came, and clicks and lever changes are all such messages (events), so once the About panel asked for
    after them shows, they have all been handled; back to the run, its charts drawn again."""
    pw = pytest.importorskip("playwright.sync_api")
    page.get_by_role("button", name="About this model").click()
    pw.expect(page.locator(".about")).to_be_visible(timeout=60_000)
    page.get_by_role("button", name="Back to the run").click()
    for view in d.VIEWS:
        page.wait_for_selector(f".view-{view} svg text", timeout=60_000)


def _fuzz(served, n_actions: int, seed: int) -> dict:
    """``n_actions`` random actions (a seeded draw, so a failure replays with its seed), then Pause; the page's run is
    compared with a clean model built from the command line the page shows and stepped to the page's quarter."""
    import random
    import re

    from sim.engine.model import ChainModel

    pw, _, _, log_path = served
    log_start = log_path.stat().st_size
    sockets: list[tuple[float, str]] = []
    page, errors, refused, failed = _open(served, 1500, 1400, sockets=sockets)
    rng = random.Random(seed)
    done, started = {a: 0 for a in FUZZ_ACTIONS}, time.monotonic()
    quarter = page.locator(".view-quarter")
    history = []  # (action, done or the seed typed): the end of it goes with a failure
    times = []  # when each action was done (monotonic)
    for _ in range(n_actions):
        action = rng.choice(FUZZ_ACTIONS)
        ok = _fuzz_action(page, rng, action)
        done[action] += bool(ok)
        history.append((action, ok))
        times.append(time.monotonic())

    def handled() -> None:
        """_all_handled, and if the page lost its server, a message that says when (for a failure seen only on a busy
        machine: the actions before the websocket closed, and the page's words)."""
        from playwright.sync_api import Error as PlaywrightError

        try:
            _all_handled(page)
        except (AssertionError, PlaywrightError) as e:
            lost = [(t, what) for t, what in sockets if what != "open"]
            if not lost:
                raise
            at = lost[0][0]
            k = sum(t <= at for t in times)
            raise AssertionError(
                f"fuzz seed {seed}: the page's websocket {lost[0][1]} {at - started:.1f} s into the fuzz, after action {k} of"
                f" {n_actions} ({len(times) and times[-1] - started:.1f} s for all of them); the 12 actions before it:"
                f" {history[max(0, k - 12) : k]}; the page now: {page.inner_text('body')[:600]!r}"
            ) from e

    handled()  # a click still on its way (Play, a lever) arrives before the Pause below, not after it
    if page.get_by_role("button", name="❚❚", exact=True).count():
        page.get_by_role("button", name="❚❚", exact=True).click()
    pw.expect(page.get_by_role("button", name="▶", exact=True)).to_be_visible(timeout=60_000)
    handled()
    # after Pause the page may still be drawing the redraws the server sent while playing at a short interval (on a
    # busy machine that backlog took over 20 s once in five runs), and the step under way ends: wait for it
    now = _settled(page, quarter, tries=60)
    year = page.get_by_role("button", name="Step one year", exact=True)
    if year.is_enabled():  # a year stepped: the chain shows numbers to compare, redrawn in place (not a new chart)
        year.click()
        pw.expect(quarter).not_to_have_text(now, timeout=30_000)
        now = _settled(page, quarter)
    page.wait_for_timeout(500)  # the redraw after the last step
    command = page.locator(".view-run pre").inner_text()
    seed_shown = page.get_by_label("Seed", exact=True).input_value()
    shown = page.evaluate(_CHAIN_NUMBERS)
    body = page.inner_text("body")
    page.context.close()
    fuzz_s = time.monotonic() - started

    server = log_path.read_text()[log_start:]
    assert "Traceback" not in server and "Error" not in server, f"seed {seed}: the server said\n{server[-3000:]}"
    assert "Traceback" not in body and "the run stopped" not in body
    assert not errors, f"seed {seed}: page errors {errors[:5]}"
    assert not refused and not failed, (refused[:5], failed[:5])
    assert sum(done.values()) >= n_actions // 3, done  # most draws found their control
    print(f"fuzz seed {seed}: {n_actions} actions in {fuzz_s:.0f} s, done {done}, ended at {now!r}")

    m = re.match(r"Now: (\d{4})(?: Q(\d))?", now)
    assert m, now
    words = shlex.split(command)
    assert words[:3] == ["python", "-m", "sim"], command
    clean = ChainModel(compose(list(d.FIXED_OVERRIDES) + words[3:]))
    steps = 0 if "not started" in now else (int(m[1]) - clean.world.start_year) * 4 + int(m[2] or 1)
    for _ in range(steps):
        clean.step()
    assert d.quarter_label(clean) == now.removeprefix("Now: ").split(" ·")[0], (now, steps)
    problems = []
    typed = [k for k, (action, ok) in enumerate(history) if action == "seed" and ok]
    # every seed typed reaches the model: the last one is the model's, unless the box greyed under the typing: a Play
    # clicked before it and no Pause clicked between them, so the run may have been playing when the server handled
    # the Enter (on a busy machine the page can show the box enabled for a while after the Play), and the box shows the
    # model's seed again (checked below)
    if typed and not _maybe_playing(history[: typed[-1]]) and clean.cfg.seed != int(history[typed[-1]][1]):
        problems.append(f"the last seed typed was {history[typed[-1]][1]}, the model holds seed {clean.cfg.seed}")
    if f"seed {clean.cfg.seed}" not in now or seed_shown != str(clean.cfg.seed):
        problems.append(f"the Seed box shows {seed_shown!r}, the model holds seed {clean.cfg.seed} ({now})")
    if shown != _chain_numbers(clean):
        problems.append(f"the chain picture ({len(shown)} numbers) is not a clean run of {command} to {now} ({len(_chain_numbers(clean))})")
    assert not problems, f"fuzz seed {seed}: {'; '.join(problems)}; last actions {history[-12:]}"
    assert steps == 0 or len(shown) == 2 * clean.tables.B * clean.tables.S, shown
    return done


def _maybe_playing(history: list) -> bool:
    """Whether the run may have been playing after these actions: a Play was clicked and no Pause after it."""
    done = [action for action, ok in history if ok and action in ("play", "pause")]
    return bool(done) and done[-1] == "play"


def test_maybe_playing_reads_the_last_play_or_pause():
    assert not _maybe_playing([])
    assert _maybe_playing([("play", True)])
    assert _maybe_playing([("play", True), ("step", False), ("seed", "3")])
    assert not _maybe_playing([("play", True), ("pause", True)])
    assert not _maybe_playing([("play", False), ("seed", "3")])
    assert _maybe_playing([("pause", True), ("play", True), ("pause", False)])


def test_the_page_survives_random_clicks(served):
    """60 random actions (seed 1): no server exception, no page error, and the run on the page is a clean run."""
    _fuzz(served, 60, seed=1)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [2, 3])
def test_the_page_survives_many_random_clicks(served, seed):
    """250 random actions per seed, as the short fuzz test."""
    _fuzz(served, 250, seed=seed)
