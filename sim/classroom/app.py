"""The classroom dashboard: a Mesa SolaraViz page of the mine-to-magnet chain (issue 5).

Run (README "The classroom dashboard"):

    make app      # solara run sim/classroom/app.py --production --host localhost --port 8765 --no-check-version

then open http://localhost:8765. Everything the page needs is served from this machine
(Solara's assets from solara-assets, charts drawn by its local copy of ECharts), so it works
without internet. Only the page lives here; levers, presets, configs and the charts' data are
in sim/classroom/dashboard.py.

Step (one quarter), play, pause and reset are SolaraViz's (its Render Interval slider makes Step
and Play advance several quarters per redraw; Reset keeps the levers). The lever panel adds
**Step one year**: four quarters, one redraw. Changing a
lever or preset rebuilds the model at once from a validated config; a setting the model refuses
shows the one-line config error and the previous model stays.
"""

from __future__ import annotations

import markdown
import solara
from mesa.visualization import SolaraViz
from mesa.visualization.utils import force_update

from sim.classroom import dashboard as d
from sim.config import ConfigError, config_options

levers = solara.reactive(None)  # the levers of the model on the page (per browser session); None: not yet built
lever_error = solara.reactive(None)  # the last refused setting's message
preset = solara.reactive(None)  # name of the teaching preset chosen last (None: free settings)


def current_levers() -> d.Levers:
    if levers.value is None:
        levers.set(d.default_levers())
    return levers.value


class Classroom(d.ClassroomModel):
    """SolaraViz's Reset builds ``Classroom()``: a fresh model from the session's current levers."""

    def __init__(self, levers_: d.Levers | None = None):
        super().__init__(levers_ if levers_ is not None else current_levers())


@solara.component
def LeverPanel(model: solara.Reactive):
    """Presets and levers; every change rebuilds the model (or shows why it cannot)."""
    now = levers.value if levers.value is not None else model.value.levers

    def apply(new: d.Levers, chosen_preset: str | None = None) -> None:
        try:
            built = Classroom(new)
        except ConfigError as ex:
            lever_error.set(str(ex))
            return
        lever_error.set(None)
        levers.set(new)
        preset.set(chosen_preset)
        model.set(built)

    def change(**changes) -> None:
        try:
            apply(d.change_levers(now, **changes), None if "scenario" in changes else preset.value)
        except ConfigError as ex:
            lever_error.set(str(ex))

    def choose_preset(title: str) -> None:
        name = next((k for k, p in d.PRESETS.items() if p["title"] == title), None)
        if name is not None:
            apply(d.preset_levers(name, now.seed), name)

    def step_year() -> None:
        """Four quarters, then one redraw of every view (SolaraViz's own Step redraws after each quarter)."""
        m = model.value
        for _ in range(4):
            if not m.running or m.steps >= m.n_steps:
                break
            m.step()
        force_update()

    solara.Button("Step one year", on_click=step_year, color="primary", classes=["step-year"], style={"width": "100%"})
    with solara.Card("Lessons and levers"):
        titles = [p["title"] for p in d.PRESETS.values()]
        solara.Select("Teaching preset", value=d.PRESETS[preset.value]["title"] if preset.value else None, values=titles, on_value=choose_preset)
        if lever_error.value:
            with solara.Column(classes=["lever-error"]):
                solara.Error(f"Not applied: {lever_error.value}")
        _levers(now, change)


def _levers(now: d.Levers, change) -> None:
    """The lever widgets under the preset, in the panel's order: the run, China, the West, the export control."""
    solara.Select("Scenario", value=now.scenario, values=config_options("scenario"), on_value=lambda v: change(scenario=v))
    solara.InputInt("Seed", value=now.seed, on_value=lambda v: change(seed=v), continuous_update=False)
    tiers = now.china_policy == "coordinated"
    _text("**China**")
    solara.Select("China's policy", value=now.china_policy, values=list(d.CHINA_POLICIES), on_value=lambda v: change(china_policy=v))
    _slider("grant_budget", now, change, disabled=not tiers and now.west_agencies == 0)
    _slider("procurement_preference", now, change, disabled=not tiers)
    _slider("tax_relief_points", now, change, disabled=not tiers)
    _slider("credit_subsidy", now, change, disabled=not tiers)
    _slider("knowledge_sharing", now, change)
    _text("**West**")
    _slider("west_agencies", now, change)
    solara.Checkbox(label=d.LEVERS["west_coordinated"]["label"], value=now.west_coordinated, on_value=lambda v: change(west_coordinated=v))
    _slider("west_permit_factor", now, change)
    _slider("west_price_floor_usd_per_kg", now, change)
    _slider("west_offtake_t_per_year", now, change)
    _text("**Export control**")
    solara.Checkbox(label=d.LEVERS["export_control"]["label"], value=now.export_control, on_value=lambda v: change(export_control=v))
    _slider("export_control_year", now, change, disabled=not now.export_control)


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
    """One chart with its caption, redrawn after every step (SolaraViz's update counter)."""
    make_option = d.VIEWS[name]

    def view(model) -> solara.Element:
        with solara.Column(classes=[f"view-{name}"], style={"width": "100%"}) as col:
            solara.FigureEcharts(option=make_option(model), attributes={"style": "height: 300px; width: 100%;"}, responsive=True)
            _text(d.CAPTIONS[name])
        return col

    view.__name__ = f"View_{name}"
    return view


COMPONENTS = [_lesson] + [_view(name) for name in ("chain", "timeline", "capacity", "prices", "pyramid")]


@solara.component
def Page():
    initial = solara.use_memo(lambda: Classroom(), [])
    model = solara.use_reactive(initial)
    with solara.Sidebar():
        LeverPanel(model)
    SolaraViz(model, components=COMPONENTS, name="Little giants: the mine-to-magnet classroom", play_interval=100)


page = Page
