"""The classroom dashboard: a Solara page of the mine-to-magnet chain, its views laid out by Mesa's ComponentsView (issue 5).

Run (README "The classroom dashboard"):

    make app      # solara run sim/classroom/app.py --production --host localhost --port 8765 --no-check-version

then open http://localhost:8765. Everything the page needs is served from this machine
(Solara's assets from solara-assets, charts drawn by its local copy of ECharts), so it works
without internet. Only the page lives here; levers, presets, configs and the charts' data are
in sim/classroom/dashboard.py.

The controls are the page's own (Mesa's SolaraViz steps the model from its play thread and from its
buttons without a lock, and keeps its play state where the levers cannot see it). Every step and
rebuild goes through :class:`sim.classroom.dashboard.Run`, which holds one lock: **Step** (one quarter,
or the render interval's quarters), **Step one year** (four quarters, one redraw), **▶/❚❚** and
**Reset** (back to the start with the same levers). While the run plays, Step, Step one year and the
levers are disabled; a lever change that still arrives (sent before the page greyed it) pauses the run
and applies. The run stops at its last quarter and says so. Changing a lever or preset rebuilds the
model from a validated config; a setting the model refuses shows the one-line config error and the
previous model stays.
"""

from __future__ import annotations

import traceback

import markdown
import solara
import solara.lab
from mesa.visualization.solara_viz import ComponentsView
from mesa.visualization.utils import force_update, update_counter

from sim.classroom import dashboard as d
from sim.config import ConfigError, config_options

TITLE = "Little giants: the mine-to-magnet classroom"
lever_error = solara.reactive(None)  # the last refused setting's message (per browser session)
preset = solara.reactive(None)  # name of the teaching preset chosen last (None: free settings)
play_error = solara.reactive(None)  # an error the play loop met (the run is paused)


@solara.component
def Controls(run: d.Run, model: solara.Reactive, play_gen: solara.Reactive):
    """Play/pause, step, step one year, reset, the play speed and the quarters per redraw; where the run is."""
    update_counter.get()  # the status line follows every step
    play_interval = solara.use_reactive(100)  # ms between redraws while playing
    render_interval = solara.use_reactive(1)  # quarters per Step and per redraw while playing
    generation = play_gen.value
    playing = generation is not None

    def loop() -> None:
        """The play loop of this Play (a later Play, Pause or a rebuild ends it after the step under way)."""
        if generation is None:
            return
        try:
            run.play(generation, force_update, lambda: render_interval.value, lambda: play_interval.value / 1000)
        except Exception as ex:  # noqa: BLE001 - shown on the page; the run stays paused where it was
            run.pause(generation)
            play_error.set(f"the run stopped: {ex}")
            traceback.print_exc()
        if play_gen.value == generation:
            play_gen.set(None)  # finished (or failed): the buttons come back

    solara.lab.use_task(loop, dependencies=[generation], prefer_threaded=True)

    def play_pause() -> None:
        if playing:
            run.pause()
            play_gen.set(None)
        else:
            play_error.set(None)
            play_gen.set(run.start_playing())

    def step(quarters: int) -> None:
        if run.playing:  # a click sent before the page disabled the button: the play loop is stepping
            return
        if run.step(quarters):
            force_update()

    def reset() -> None:
        play_gen.set(None)
        run.reset()
        lever_error.set(None)
        play_error.set(None)
        model.set(run.model)

    with solara.Card("Controls"):
        with solara.Row(justify="space-between"):
            solara.Button("Reset", color="primary", on_click=reset)
            solara.Button("❚❚" if playing else "▶", color="primary", on_click=play_pause, disabled=run.finished and not playing)
            solara.Button("Step", color="primary", on_click=lambda: step(render_interval.value), disabled=playing or run.finished)
        solara.Button(
            "Step one year",
            on_click=lambda: step(4),
            color="primary",
            classes=["step-year"],
            style={"width": "100%"},
            disabled=playing or run.finished,
        )
        solara.SliderInt("Play Interval (ms)", value=play_interval, min=1, max=500, step=10)
        solara.SliderInt("Render Interval (quarters)", value=render_interval, min=1, max=100, step=1)
        if run.finished:
            with solara.Column(classes=["run-finished"]):
                solara.Success(run.status())
        else:
            solara.Text(run.status(), classes=["run-status"])
        if play_error.value:
            solara.Error(play_error.value)


@solara.component
def LeverPanel(run: d.Run, model: solara.Reactive, play_gen: solara.Reactive):
    """Presets and levers, showing what the model on the page holds; every change rebuilds the model (or shows
    why it cannot). Disabled while the run plays."""
    now = model.value.levers
    playing = play_gen.value is not None

    def rebuild(action, chosen_preset) -> None:
        play_gen.set(None)  # a change that arrives while playing pauses the run (Run does) and applies
        try:
            action()
        except ConfigError as ex:
            lever_error.set(str(ex))
            return
        lever_error.set(None)
        preset.set(chosen_preset)
        model.set(run.model)

    def change(**changes) -> None:
        rebuild(lambda: run.change(**changes), None if "scenario" in changes else preset.value)

    def choose_preset(title: str) -> None:
        name = next((k for k, p in d.PRESETS.items() if p["title"] == title), None)
        if name is not None:
            rebuild(lambda: run.choose_preset(name), name)

    with solara.Card("Lessons and levers"):
        if playing:
            solara.Info("Pause to change the levers.", dense=True)
        titles = [p["title"] for p in d.PRESETS.values()]
        solara.Select(
            "Teaching preset",
            value=d.PRESETS[preset.value]["title"] if preset.value else None,
            values=titles,
            on_value=choose_preset,
            disabled=playing,
        )
        if lever_error.value:
            with solara.Column(classes=["lever-error"]):
                solara.Error(f"Not applied: {lever_error.value}")
        _levers(now, change, playing)


def _levers(now: d.Levers, change, playing: bool) -> None:
    """The lever widgets under the preset, in the panel's order: the run, China, the West, the export control."""
    off = playing
    solara.Select("Scenario", value=now.scenario, values=config_options("scenario"), on_value=lambda v: change(scenario=v), disabled=off)
    solara.InputInt("Seed", value=now.seed, on_value=lambda v: change(seed=v), continuous_update=False, disabled=off)
    tiers = now.china_policy == "coordinated"
    _text("**China**")
    solara.Select("China's policy", value=now.china_policy, values=list(d.CHINA_POLICIES), on_value=lambda v: change(china_policy=v), disabled=off)
    _slider("grant_budget", now, change, disabled=off or (not tiers and now.west_agencies == 0))
    _slider("procurement_preference", now, change, disabled=off or not tiers)
    _slider("tax_relief_points", now, change, disabled=off or not tiers)
    _slider("credit_subsidy", now, change, disabled=off or not tiers)
    _slider("knowledge_sharing", now, change, disabled=off)
    _text("**West**")
    _slider("west_agencies", now, change, disabled=off)
    solara.Checkbox(
        label=d.LEVERS["west_coordinated"]["label"], value=now.west_coordinated, on_value=lambda v: change(west_coordinated=v), disabled=off
    )
    _slider("west_permit_factor", now, change, disabled=off)
    _slider("west_price_floor_usd_per_kg", now, change, disabled=off)
    _slider("west_offtake_t_per_year", now, change, disabled=off)
    _text("**Export control**")
    solara.Checkbox(label=d.LEVERS["export_control"]["label"], value=now.export_control, on_value=lambda v: change(export_control=v), disabled=off)
    _slider("export_control_year", now, change, disabled=off or not now.export_control)


def _text(md: str, classes: list[str] | None = None) -> None:
    """Markdown as plain HTML (solara.Markdown would also load KaTeX and Mermaid, which this page does not need)."""
    solara.HTML(tag="div", unsafe_innerHTML=markdown.markdown(md, extensions=["fenced_code"]), classes=classes or [])


def _slider(name: str, now: d.Levers, change, disabled: bool = False) -> None:
    spec = d.LEVERS[name]
    value = getattr(now, name)
    label = f"{spec['label']}: {value:g}"
    if spec["kind"] == "slider_int":
        solara.SliderInt(
            label,
            value=int(value),
            min=spec["min"],
            max=spec["max"],
            step=spec["step"],
            on_value=lambda v: change(**{name: int(v)}),
            disabled=disabled,
        )
    else:
        solara.SliderFloat(
            label,
            value=float(value),
            min=spec["min"],
            max=spec["max"],
            step=spec["step"],
            on_value=lambda v: change(**{name: float(v)}),
            disabled=disabled,
        )


def _lesson(model) -> solara.Element:
    """The preset's lesson (or the scenario's question), where the run is, and the same run from the command line."""
    m = model
    with solara.Column(classes=["view-lesson"]) as col:
        if preset.value:
            p = d.PRESETS[preset.value]
            _text(f"### {p['title']}\n\n{p['lesson']}\n\n*Try next:* {p['try']}")
        else:
            _text(f"### Scenario: {m.cfg.scenario.name}\n\n{m.cfg.scenario.question}\n\nPick a teaching preset on the left for a guided lesson.")
        regimes = ", ".join(f"{b}: {p.regime}" for b, p in m.cfg.policy.items())
        changes = ", ".join(f"{b}: {c.policy.regime} from {c.year:g}" for b, c in m.cfg.policy_change.items())
        with solara.Column(classes=["view-quarter"]):
            _text(f"**Now: {d.quarter_label(m)}** · policies {regimes}" + (f" (then {changes})" if changes else "") + f" · seed {m.cfg.seed}")
        _text("The same run from the command line:\n\n```\n" + d.command_line(m.overrides) + "\n```")
    return col


def _view(name: str):
    """One chart with its caption, redrawn after every step (Mesa's update counter, which the page's force_update raises)."""
    make_option = d.VIEWS[name]

    def view(model) -> solara.Element:
        with solara.Column(classes=[f"view-{name}"], style={"width": "100%"}) as col:
            solara.FigureEcharts(option=make_option(model), attributes={"style": "height: 300px; width: 100%;"}, responsive=True)
            _text(d.CAPTIONS[name])
        return col

    view.__name__ = f"View_{name}"
    return view


COMPONENTS = [_lesson] + [_view(name) for name in ("chain", "timeline", "capacity", "prices", "pyramid")]


def _under_lock(run: d.Run, view):
    """A view that reads the model only between steps (a redraw asked for while a step is under way waits for it)."""

    def locked(model) -> solara.Element:
        with run.lock:
            return view(model)

    locked.__name__ = view.__name__
    return locked


@solara.component
def Page():
    run = solara.use_memo(d.Run, [])
    model = solara.use_reactive(run.model)  # always run.model: set after each rebuild, redrawn after each step
    play_gen = solara.use_reactive(None)  # the generation of the play loop running (Run.start_playing); None: paused
    views = solara.use_memo(lambda: [_under_lock(run, view) for view in COMPONENTS], [])
    with solara.AppBar():
        solara.AppBarTitle(TITLE)
        solara.lab.ThemeToggle()
    with solara.Sidebar(), solara.Column():
        Controls(run, model, play_gen)
        LeverPanel(run, model, play_gen)
    ComponentsView(views, model.value)


page = Page
