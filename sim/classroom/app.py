"""The classroom dashboard: a Solara page of the mine-to-magnet chain, laid out for a projector (issue 5).

Run (README "The classroom dashboard"):

    make app      # solara run sim/classroom/app.py --production --host localhost --port 8765 --no-check-version

then open http://localhost:8765. Everything the page needs is served from this machine
(Solara's assets from solara-assets, charts drawn by its local copy of ECharts), so it works
without internet. Only the page lives here; levers, presets, configs and the charts' data are
in sim/classroom/dashboard.py.

The page is drawn for a projector in the light theme, whatever the system's: the levers in a column of their own on
the left; on the right the lesson and the two panels it names (``PRESETS[...]["panels"]``) filling the first screen,
the other panels and the run's command line below; charts drawn as SVG by :class:`sim.classroom.chart.Chart`, their
text at 16 px. **About this model** (the app bar) shows :data:`sim.classroom.about.ABOUT` in place of the panels.

The controls are the page's own (Mesa's SolaraViz steps the model from its play thread and from its
buttons without a lock, and keeps its play state where the levers cannot see it). Every step and
rebuild goes through :class:`sim.classroom.dashboard.Run`, which holds one lock: **Step** (one quarter,
or the render interval's quarters), **Step one year** (four quarters, one redraw), **▶/❚❚** and
**Reset** (back to the start with the same levers). While the run plays, Step, Step one year and the
levers are disabled; a lever change that still arrives (sent before the page greyed it) pauses the run
and applies. The run stops at its last quarter and says so. Changing a lever or preset rebuilds the
model from a validated config (a slider when it is released); a setting the model refuses, or seed text
that is not a whole number, shows its one-line message and the previous model stays. **Back to the
preset** undoes the lever changes made since the preset was chosen. Every lever applies the value its change event
carries, so clicks and lever changes reach the run in the order they were made (see :func:`LeverSelect`). Under a
lesson, **Compare seeds** runs its comparison for a few seeds in a process of its own (:func:`Comparison`). Under the
preset, **Dashed: this seed <the lesson's change>** draws the same seed with the lesson's change over the panels, run
once in a process of its own and drawn when ready (:func:`use_ghost`).
"""

from __future__ import annotations

import traceback

import markdown
import solara
import solara.lab
import solara.server.settings
from mesa.visualization.utils import force_update, update_counter
from solara.alias import rv as v

from sim.classroom import about
from sim.classroom import dashboard as d
from sim.classroom.chart import Chart
from sim.config import ConfigError, chain_scenarios

TITLE = "Little giants: the mine-to-magnet classroom"
lever_error = solara.reactive(None)  # the last refused setting's message (per browser session)
preset = solara.reactive(None)  # name of the teaching preset chosen last (None: free settings)
play_error = solara.reactive(None)  # an error the play loop met (the run is paused)
comparing = solara.reactive(False)  # the lesson's comparison over a few seeds is asked for
ghosting = solara.reactive(False)  # the lesson's ghost (the same seed with the lesson's change) is drawn on the panels
SEED_RUNS = d.SeedRuns()  # the comparisons' runs, in a process of their own, kept by settings and seed (all pages)
GHOST_RUNS = d.SeedRuns()  # the ghosts' runs: a process of their own too, so a ghost never waits behind a comparison
solara.lab.theme.dark = False  # the light theme, whatever the system's: the charts are drawn for it
solara.server.settings.theme.show_banner = False  # Solara's banner sat over the panels' corner


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
        # applied when released, from the slider's change event, as the levers: a Step clicked right after moving the
        # render interval steps the quarters it shows
        LeverSlider("Play interval (ms)", play_interval.value, 10, 500, 10, lambda x: play_interval.set(int(x))).key("play-interval")
        LeverSlider("Render interval (quarters)", render_interval.value, 1, 100, 1, lambda x: render_interval.set(int(x))).key("render-interval")
        if run.finished:
            with solara.Column(classes=["run-finished"]):
                solara.Success(run.status())
        else:
            solara.Text(run.status(), classes=["run-status"])
        if play_error.value:
            solara.Error(play_error.value)


@solara.component
def LeverPanel(run: d.Run, model: solara.Reactive, play_gen: solara.Reactive, ghost_status: str | None = None):
    """Presets and levers, showing what the model on the page holds; every change rebuilds the model (or shows
    why it cannot). Disabled while the run plays. Under a preset, the lesson's ghost on or off (never disabled: it
    does not touch the run) and ``ghost_status``, a line on it while it is not drawn."""
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
        try:
            same = d.change_levers(run.model.levers, **changes) == run.model.levers
        except ConfigError:
            same = False  # refused below, with its message
        if same:  # Vuetify sends a box's change again when it is left: the run goes on
            lever_error.set(None)
            return
        rebuild(lambda: run.change(**changes), None if "scenario" in changes else preset.value)

    def choose_preset(title: str) -> None:
        name = next((k for k, p in d.PRESETS.items() if p["title"] == title), None)
        if name is not None:
            rebuild(lambda: run.choose_preset(name), name)

    with solara.Card("Lessons and levers"):
        if playing:
            solara.Info("Pause to change the levers.", dense=True)
        titles = [p["title"] for p in d.PRESETS.values()]
        LeverSelect("Teaching preset", d.PRESETS[preset.value]["title"] if preset.value else None, titles, choose_preset, disabled=playing).key(
            "lever-preset"
        )
        if preset.value:
            with solara.Div(classes=["ghost-toggle"]):
                label = f"Dashed: this seed {d.PRESETS[preset.value]['compare']['ghost']}"
                LeverCheckbox(label, ghosting.value, ghosting.set).key("ghost-toggle")
                if ghost_status:
                    _text(ghost_status, classes=["ghost-status"])
        if preset.value and now != d.preset_levers(preset.value, now.seed):
            solara.Button(
                "Back to the preset",
                color="primary",
                outlined=True,
                classes=["back-to-preset"],
                style={"width": "100%"},
                on_click=lambda: choose_preset(d.PRESETS[preset.value]["title"]),
                disabled=playing,
            ).key("back-to-preset")
        if lever_error.value:
            with solara.Column(classes=["lever-error"]):
                solara.Error(f"Not applied: {lever_error.value}")
        _levers(now, change, playing)


def _levers(now: d.Levers, change, playing: bool) -> None:
    """The lever widgets under the preset, in the panel's order: the run, China, the West, the export control."""
    off = playing

    def change_seed(text: str) -> None:
        try:
            seed = d.parse_seed(text)
        except ConfigError as ex:  # the seed's own message, in place of any earlier one
            lever_error.set(str(ex))
            return
        change(seed=seed)

    LeverSelect("Scenario", now.scenario, chain_scenarios(), lambda v: change(scenario=v), disabled=off).key("lever-scenario")
    SeedInput(now.seed, change_seed, disabled=off).key("lever-seed")
    tiers = now.china_policy == "coordinated"
    _text("**China**")
    LeverSelect("China's policy", now.china_policy, list(d.CHINA_POLICIES), lambda v: change(china_policy=v), disabled=off).key("lever-china_policy")
    _slider("grant_budget", now, change, disabled=off or (not tiers and now.west_agencies == 0))
    _slider("procurement_preference", now, change, disabled=off or not tiers)
    _slider("tax_relief_points", now, change, disabled=off or not tiers)
    _slider("credit_subsidy", now, change, disabled=off or not tiers)
    _slider("knowledge_sharing", now, change, disabled=off)
    _text("**West**")
    _slider("west_agencies", now, change, disabled=off)
    LeverCheckbox(d.LEVERS["west_coordinated"]["label"], now.west_coordinated, lambda v: change(west_coordinated=v), disabled=off).key(
        "lever-west_coordinated"
    )
    _slider("west_permit_factor", now, change, disabled=off)
    _slider("west_price_floor_usd_per_kg", now, change, disabled=off)
    _slider("west_offtake_t_per_year", now, change, disabled=off)
    _text("**Export control**")
    LeverCheckbox(d.LEVERS["export_control"]["label"], now.export_control, lambda v: change(export_control=v), disabled=off).key(
        "lever-export_control"
    )
    _slider("export_control_year", now, change, disabled=off or not now.export_control)


# Every lever applies what the browser's change event carries (Vuetify's "change": a choice made, a box ticked, a slider
# released, Enter or leaving the Seed box), never the value the widget syncs. The browser holds a widget's next value
# sync until the server has handled its previous one, while clicks and change events go at once and in order: a value
# read from the widget could be the one before the user's (a seed typed right after another stayed in its box without
# reaching the model), and a choice applied from a held sync arrived after later clicks (a late rebuild). Through the
# events every action reaches the run in the order it was made; a lever change that arrives while a step or rebuild is
# under way waits for the run's lock and then applies. Each lever keeps its widget (a key of its own, not its place in
# the panel, nor its value) while the panel's other parts come and go (the note while playing, Back to the preset, a
# refused setting's message) and while its value changes: a widget made anew in its place dropped whatever was typed
# into or clicked on the old one while the browser still showed it.
@solara.component
def LeverSelect(label: str, value, values: list, on_pick, disabled: bool = False):
    """A select showing ``value``; ``on_pick(choice)`` when the user picks another."""
    select = v.Select(v_model=value, items=values, label=label, disabled=disabled)

    def picked(widget, event, data) -> None:
        if data is not None:
            on_pick(data)

    v.use_event(select, "change", picked)


@solara.component
def LeverCheckbox(label: str, value: bool, on_toggle, disabled: bool = False):
    """A checkbox showing ``value``; ``on_toggle(ticked)`` when the user ticks or unticks it."""
    box = v.Checkbox(label=label, v_model=value, disabled=disabled, children=[label])
    v.use_event(box, "change", lambda widget, event, data: on_toggle(bool(data)))


@solara.component
def SeedInput(seed: int, on_enter, disabled: bool = False):
    """The Seed box: the text as typed, kept when the page redraws for other reasons; back to the model's seed when the
    model's seed changes and while the run plays (the box greyed). ``on_enter(text)`` on Enter or when the box is left."""
    typed = solara.use_ref((seed, str(seed)))  # (the model's seed when the text was typed, the text)
    _, redraw = solara.use_state(0)
    if typed.current[0] != seed or disabled:
        typed.current = (seed, str(seed))

    def keep(text) -> None:
        if disabled:  # text that reached the greyed box (typed before it greyed): the box goes back to the seed
            redraw(lambda n: n + 1)
        else:
            typed.current = (seed, str(text or ""))

    field = v.TextField(v_model=typed.current[1], label="Seed", disabled=disabled, on_v_model=keep)
    v.use_event(field, "change", lambda widget, event, data: on_enter("" if data is None else str(data)))


def _text(md: str, classes: list[str] | None = None) -> None:
    """Markdown as plain HTML (solara.Markdown would also load KaTeX and Mermaid, which this page does not need)."""
    solara.HTML(tag="div", unsafe_innerHTML=markdown.markdown(md, extensions=["fenced_code"]), classes=classes or [])


def _slider(name: str, now: d.Levers, change, disabled: bool = False) -> None:
    spec = d.LEVERS[name]
    cast = int if spec["kind"] == "slider_int" else float
    value = cast(getattr(now, name))
    LeverSlider(spec["label"], value, spec["min"], spec["max"], spec["step"], lambda v: change(**{name: cast(v)}), disabled).key(f"lever-{name}")


@solara.component
def LeverSlider(label: str, value: float, min: float, max: float, step: float, on_release, disabled: bool = False):
    """A full-width slider with its label and value above it; the model is rebuilt when the slider is released
    (Vuetify's change event: the mouse let go, a click on the track or a key), not at every value dragged over. The
    thumb goes to the model's value when that changes (a rebuild), and the label follows the thumb while dragging."""
    dragged = solara.use_ref((value, value))  # (the model's value when the thumb moved, the value under the thumb)
    _, redraw = solara.use_state(0)
    if dragged.current[0] != value:
        dragged.current = (value, value)

    def drag(x) -> None:
        dragged.current = (value, x)
        redraw(lambda n: n + 1)

    shown = dragged.current[1]
    with solara.Div(classes=["lever"]):
        solara.HTML(tag="div", unsafe_innerHTML=f"{label}: <b>{shown:g}</b>", classes=["lever-label"])
        slider = v.Slider(
            v_model=shown, min=min, max=max, step=step, disabled=disabled, hide_details=True, dense=True, on_v_model=drag, class_="lever-slider"
        )

        def released(widget, event, data) -> None:
            if data is not None and data != value:
                on_release(data)

        v.use_event(slider, "change", released)


def _lesson(model) -> None:
    """The preset's lesson (or the scenario's question) and where the run is."""
    m = model
    with solara.Div(classes=["view-lesson"]):
        with solara.Div(classes=["view-quarter"]):
            _text(f"**Now: {d.quarter_label(m)}** · seed {m.cfg.seed}")
        if preset.value:
            p = d.PRESETS[preset.value]
            _text(f"### {p['title']}\n\n{p['lesson']} *Try next:* {p['try']}")
        else:
            _text(f"### Scenario: {m.cfg.scenario.name}\n\n{m.cfg.scenario.question} Pick a teaching preset on the left for a guided lesson.")


def _this_run(model) -> None:
    """The policies of the run and the same run from the command line."""
    m = model
    regimes = ", ".join(f"{b}: {p.regime}" for b, p in m.cfg.policy.items())
    changes = ", ".join(f"{b}: {c.policy.regime} from {c.year:g}" for b, c in m.cfg.policy_change.items())
    with solara.Div(classes=["view-run"]):
        _text(f"**This run.** Policies {regimes}" + (f" (then {changes})" if changes else "") + ".")
        _text("The same run from the command line:\n\n```\n" + d.command_line(m.overrides) + "\n```")


@solara.component
def View(run: d.Run, name: str, model, fill: bool = False, ghost: d.Ghost | None = None):
    """One chart with its caption, redrawn after every step (Mesa's update counter, which the page's force_update
    raises); the model is read under the run's lock (a redraw asked for while a step is under way waits for it). With
    a ghost, the views that draw one show it over the whole horizon under the run."""
    update_counter.get()
    with run.lock:
        option = d.view_option(name, model, ghost)
    with solara.Div(classes=["view", f"view-{name}"]):
        with solara.Div(classes=["chart-box"]):
            Chart.element(option=option, height="" if fill else f"{d.CHART_HEIGHT_PX}px")
        _text(d.CAPTIONS[name], classes=["caption"])


@solara.component
def Views(run: d.Run, model, ghost: d.Ghost | None = None):
    """The lesson and the two panels it names on the first screen; below them the preset's note on seed noise, the other
    panels and the run's command line. A ghost goes to every panel that draws one."""
    update_counter.get()
    first = d.PRESETS[preset.value]["panels"] if preset.value else d.DEFAULT_PANELS
    with solara.Div(classes=["first-screen"]):
        with run.lock:
            _lesson(model)
        with solara.Div(classes=["focus"]):
            for name in first:
                View(run, name, model, fill=True, ghost=ghost)
    if preset.value:  # which differences the lesson points to are larger than the differences between seeds
        _text(f"**Seed noise.** {d.PRESETS[preset.value]['noise']}", classes=["view-noise"])
        Comparison(preset.value, model.levers)
    with solara.Div(classes=["more"]):
        for name in d.VIEWS:
            if name not in first:
                View(run, name, model, ghost=ghost)
    with run.lock:
        _this_run(model)


@solara.component
def Comparison(name: str, levers: d.Levers):
    """The lesson's comparison on demand: for the run's seed and the next few, the lesson's figure with these settings
    and with the lesson's change, run in the background (stepping stays as fast), then a note saying whether the
    difference is beyond seed noise."""
    spec = d.PRESETS[name]["compare"]
    runs = d.comparison_runs(levers, name)
    asked = comparing.value

    def figures() -> list[float] | None:
        return SEED_RUNS.figures(runs) if asked else None

    task = solara.lab.use_task(figures, dependencies=[asked, name, levers], raise_error=False, prefer_threaded=True)
    seeds = d.compare_seeds(levers)
    with solara.Div(classes=["view-compare"]):
        LeverCheckbox(f"Compare seeds {seeds[0]}-{seeds[-1]}: these settings and {spec['other']}", asked, comparing.set)
        if not asked:
            return
        if task.error:
            solara.Error(f"The comparison stopped: {task.exception}")
        elif task.finished and task.value is not None:
            _text(d.comparison_note(levers, name, task.value), classes=["compare-note"])
        else:
            _text(f"Running {len(runs)} runs to {d.FIGURES[spec['figure']][2]} in the background; the run above steps as before.")


def use_ghost(levers: d.Levers) -> tuple[d.Ghost | None, str | None]:
    """The lesson's ghost for these levers when it is asked for, run once in the background (:data:`GHOST_RUNS`, kept by
    its settings) and drawn when ready, and a line on it meanwhile. Stepping and Play never wait for it; a lever change
    or another preset asks for the ghost of the new settings, and the old one is not drawn meanwhile."""
    name = preset.value
    asked = bool(ghosting.value and name)

    def fetch() -> d.Ghost | None:
        return d.lesson_ghost(name, levers, GHOST_RUNS) if asked else None

    task = solara.lab.use_task(fetch, dependencies=[asked, name, levers], raise_error=False, prefer_threaded=True)
    if not asked:
        return None, None
    other = d.PRESETS[name]["compare"]["ghost"]
    if task.error:
        return None, f"The run {other} stopped: {task.exception}"
    ghost = task.value if task.finished else None
    if ghost is not None and ghost.levers == d.ghost_levers(levers, name):
        return ghost, None
    if task.finished and ghost is None:
        return None, f"These settings are already the run {other}: nothing to draw."
    return None, f"Computing the run {other}…"


@solara.component
def About():
    """About this model, in the sections of NetLogo's Info tab."""
    with solara.Div(classes=["about"]):
        _text(about.ABOUT)


# The page on a projector: always the light theme (charts are drawn for it), the levers in a column of their own
# that scrolls apart from the panels, the lesson and the two panels it names filling the first screen, chart
# text and captions at 16 px. Mesa's tabs and Solara's banner are not used.
CSS = """
.lg-page { position: fixed; top: 64px; left: 0; right: 0; bottom: 0; display: flex; flex-wrap: nowrap; overflow: hidden; }
.lg-side { width: 310px; min-width: 310px; height: 100%; overflow-y: auto; padding: 8px; background: #f5f5f5; }
.lg-side .v-card { margin-bottom: 8px; }
.lever { margin: 6px 0 2px 0; }
.lg-side .v-select__selection--comma { white-space: normal; overflow: visible; text-overflow: clip; line-height: 1.3; }
.lever-label { font-size: 15px; line-height: 1.3; }
.lever-slider { margin: 0 !important; }
.lg-main { flex: 1 1 auto; min-width: 0; height: 100%; overflow-y: auto; padding: 8px 14px; }
.lg-main p, .lg-main li { font-size: 16px; line-height: 1.35; margin-bottom: 6px; }
.lg-main h3 { font-size: 21px; margin: 2px 0 4px 0; }
.first-screen { height: calc(100vh - 64px - 16px); display: flex; flex-direction: column; }
.view-lesson { flex: 0 0 auto; }
.view-quarter { float: right; margin-left: 16px; }
.focus { flex: 1 1 0; min-height: 0; display: flex; gap: 16px; }
.focus .view { flex: 1 1 0; min-width: 0; display: flex; flex-direction: column; }
.focus .chart-box { flex: 1 1 0; min-height: 200px; }
.view-noise { margin-top: 12px; max-width: 60em; }
.view-compare { max-width: 60em; }
.ghost-toggle .v-input { margin-top: 0; }
.ghost-status p { font-size: 15px; color: #555; margin: 0 0 4px 0; }
.more { display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap: 16px; margin-top: 16px; }
.caption p { margin: 4px 0 0 0; }
.view-run { margin-top: 16px; }
.view-run pre { white-space: pre-wrap; word-break: break-all; font-size: 15px; }
.about { max-width: 60em; }
.about h2 { font-size: 19px; margin: 18px 0 6px 0; letter-spacing: 0.02em; }
"""


@solara.component
def Page():
    run = solara.use_memo(d.Run, [])
    model = solara.use_reactive(run.model)  # always run.model: set after each rebuild, redrawn after each step
    play_gen = solara.use_reactive(None)  # the generation of the play loop running (Run.start_playing); None: paused
    show_about = solara.use_reactive(False)
    ghost, ghost_status = use_ghost(model.value.levers)
    solara.Style(CSS)
    with solara.AppBar():
        solara.AppBarTitle(TITLE)
        solara.Button(
            "Back to the run" if show_about.value else "About this model",
            text=True,
            classes=["about-toggle"],
            on_click=lambda: show_about.set(not show_about.value),
        )
    with solara.Div(classes=["lg-page"]):
        with solara.Div(classes=["lg-side"]):
            Controls(run, model, play_gen)
            LeverPanel(run, model, play_gen, ghost_status)
        with solara.Div(classes=["lg-main"]):
            if show_about.value:
                About()
            else:
                Views(run, model.value, ghost)


page = Page
