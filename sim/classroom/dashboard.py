"""The classroom dashboard's model side: levers, teaching presets, configs and the views' figures.

``sim/classroom/app.py`` is only the Solara page; everything it shows is built here, without Solara, so
that tests and ``benchmarks/bench_app.py`` use the same code:

- :class:`Levers`: the settings a class discusses, each mapped to real config keys
  (:data:`LEVERS` says which); :func:`lever_overrides` turns them into the Hydra overrides of
  ``python -m sim`` and :func:`build_config` composes and validates them (a
  :class:`~sim.config.ConfigError` names the key, as on the command line).
- :data:`PRESETS`: teaching presets, each a scenario, a few lever settings and a lesson.
- :class:`ClassroomModel`: the :class:`~sim.engine.model.ChainModel` built from levers (the chain picture
  draws the trade between blocs that the recorder keeps for the last quarter, ``recorder.trade_t``).
- :class:`Run`: the run on one page, with the one lock that every step and rebuild takes (the play loop and
  the widgets never step or rebuild the model at once), stepping that stops at the last quarter, and lever
  changes made from the levers the model holds.
- ``*_option``: one chart per view as an ECharts option (plain JSON data, drawn in the browser by the
  ECharts copy that solara-assets serves locally), with a plain-language caption in :data:`CAPTIONS`.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from agents.firms import DESIGNATED, KEY_LITTLE_GIANT, Phase, Tier
from sim.config import CONF_DIR, Config, ConfigError, chain_scenarios, compose
from sim.engine.model import ChainModel

# Every classroom run: no files, no progress lines, no firm panel (the views do not read it).
FIXED_OVERRIDES = ("progress=false", "output.write=false", "output.firm_panel=false")
CHINA_POLICIES = ("coordinated", "coordinated_without_tiers", "none")
NEW_EXPORT_CONTROL = "classroom_export_control"  # the event the export-control lever adds when a scenario has none
# The export control the lever adds: the processed stages, 30% licensed after a quarter without licences
# (as conf/scenario/export_control_shock.yaml).
NEW_EXPORT_CONTROL_PARAMS = {
    "kind": "export_control",
    "end_year": None,
    "exporter": "china",
    "stages": ["separation", "metal", "magnet"],
    "licensed_share": 0.3,
    "licence_delay_quarters": 1,
}


# --------------------------------------------------------------------------
# Levers
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Levers:
    """The dashboard's settings. Read from a scenario with :func:`default_levers`."""

    scenario: str  # conf/scenario/<name>.yaml
    seed: int  # one seed fixes a run
    china_policy: str  # coordinated | coordinated_without_tiers | none
    grant_budget: float  # x the regime's grant money (China's tier grants and key budget; Western agency budgets)
    procurement_preference: float  # x the procurement discounts of China's tiers
    tax_relief_points: float  # Little Giants' tax rate = standard rate - this (percentage points)
    credit_subsidy: float  # x the interest subsidies and credit bonuses of China's tiers
    knowledge_sharing: float  # share of the group's R&D pool each Chinese group subsidiary gets
    west_agencies: int  # Western funding agencies (the first N of conf/policy/fragmented.yaml); 0: none
    west_coordinated: bool  # one pooled, gap-targeted agency (coordinated_west) instead of N separate ones
    west_permit_factor: float  # x Western permitting durations
    west_price_floor_usd_per_kg: float  # NdPr oxide (separation) floor paid to Western producers; 0: none
    west_offtake_t_per_year: float  # Western magnet output the state buys at the floor; 0: none
    export_control: bool  # Chinese export controls of products in the scenario (or a new one) are on
    export_control_year: float  # start of the (earliest) export control, fractional year (2025.25 = 2025 Q2)

    def replace(self, **changes: Any) -> "Levers":
        return dataclasses.replace(self, **changes)


# name -> how the page shows the lever and what it sets. kind: select | slider_int | slider_float | checkbox | int.
LEVERS: dict[str, dict[str, Any]] = {
    "scenario": {"label": "Scenario", "kind": "select", "keys": "scenario (conf/scenario/)"},
    "seed": {"label": "Seed", "kind": "int", "min": 0, "max": 2**31 - 1, "keys": "seed"},
    "china_policy": {
        "label": "China's policy",
        "kind": "select",
        "values": list(CHINA_POLICIES),
        "keys": "policy@policy.china; policy.china.designation.enabled",
    },
    "grant_budget": {
        "label": "Grant budget (x today's)",
        "kind": "slider_float",
        "min": 0.0,
        "max": 3.0,
        "step": 0.25,
        "keys": "policy.china.benefits.*.grant_myuan_per_year, policy.china.designation.key_little_giant."
        "budget_myuan_per_term, <west>.agencies.*.budget_musd_per_year",
    },
    "procurement_preference": {
        "label": "Procurement preference (x today's)",
        "kind": "slider_float",
        "min": 0.0,
        "max": 3.0,
        "step": 0.25,
        "keys": "policy.china.benefits.*.procurement_discount",
    },
    "tax_relief_points": {
        "label": "Little Giant tax relief, points",
        "kind": "slider_float",
        "min": 0.0,
        "max": 25.0,
        "step": 1.0,
        "keys": "policy.china.benefits.little_giant.tax_rate",
    },
    "credit_subsidy": {
        "label": "Credit subsidy (x today's)",
        "kind": "slider_float",
        "min": 0.0,
        "max": 3.0,
        "step": 0.25,
        "keys": "policy.china.benefits.*.interest_subsidy and .credit_bonus",
    },
    "knowledge_sharing": {
        "label": "Knowledge sharing in groups",
        "kind": "slider_float",
        "min": 0.0,
        "max": 1.0,
        "step": 0.05,
        "keys": "policy.china.groups.knowledge_sharing",
    },
    "west_agencies": {
        "label": "Western funding agencies",
        "kind": "slider_int",
        "min": 0,
        "max": 5,
        "step": 1,
        "keys": "policy@<west> (fragmented | none); <west>.agencies",
    },
    "west_coordinated": {"label": "Western agencies coordinate (pooled fund)", "kind": "checkbox", "keys": "policy@<west>=coordinated_west"},
    "west_permit_factor": {
        "label": "Western permitting time (x today's)",
        "kind": "slider_float",
        "min": 0.25,
        "max": 2.0,
        "step": 0.25,
        "keys": "<west>.coordination.permit_factor",
    },
    "west_price_floor_usd_per_kg": {
        "label": "Western oxide price floor, USD/kg",
        "kind": "slider_float",
        "min": 0.0,
        "max": 200.0,
        "step": 10.0,
        "keys": "<west>.instruments.price_floor_usd_per_kg.separation",
    },
    "west_offtake_t_per_year": {
        "label": "Western magnet offtake, t/yr",
        "kind": "slider_float",
        "min": 0.0,
        "max": 20000.0,
        "step": 1000.0,
        "keys": "<west>.instruments.floor_offtake_t_per_year.magnet",
    },
    "export_control": {"label": "Chinese export control on", "kind": "checkbox", "keys": "scenario.events.<export_control events>"},
    "export_control_year": {
        "label": "Export control starts (year)",
        "kind": "slider_float",
        "min": 2016.0,
        "max": 2044.0,
        "step": 0.25,
        "keys": "scenario.events.<export_control events>.start_year",
    },
}


def parse_seed(text: str) -> int:
    """The seed typed on the page (raises ConfigError at 'seed' saying what is wrong with this text)."""
    spec = LEVERS["seed"]
    text = (text or "").strip()
    if not text:
        raise ConfigError("seed", f"empty; type a whole number from {spec['min']} to {spec['max']}")
    try:
        seed = int(text)
    except ValueError:
        raise ConfigError("seed", f"'{text}' is not a whole number; type one from {spec['min']} to {spec['max']}") from None
    return seed


def check_levers(levers: Levers) -> None:
    """Lever values inside the ranges the page offers (raises ConfigError naming the lever)."""
    scenarios = chain_scenarios()  # the dashboard shows the rare-earth chain (not the national world)
    if levers.scenario not in scenarios:
        raise ConfigError("scenario", f"no config file '{levers.scenario}' in conf/scenario/; allowed: {', '.join(scenarios)}")
    if levers.china_policy not in CHINA_POLICIES:
        raise ConfigError("china_policy", f"unknown policy '{levers.china_policy}'; allowed: {', '.join(CHINA_POLICIES)}")
    for name, spec in LEVERS.items():
        value = getattr(levers, name)
        if "min" not in spec:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(name, f"must be a number between {spec['min']} and {spec['max']}, got {value!r}")
        if spec["kind"] in ("int", "slider_int") and int(value) != value:
            raise ConfigError(name, f"must be a whole number, got {value!r}")
        if not spec["min"] <= value <= spec["max"]:
            raise ConfigError(name, f"must be between {spec['min']} and {spec['max']}, got {value!r}")


@lru_cache(maxsize=64)
def _composed(overrides: tuple[str, ...]) -> Config:
    return compose(list(FIXED_OVERRIDES + overrides))


def composed(overrides: list[str] | tuple[str, ...]) -> Config:
    """compose() with the classroom's fixed overrides, cached (a deep copy: safe to modify)."""
    return copy.deepcopy(_composed(tuple(overrides)))


def west_target(cfg: Config) -> tuple[str, str, Any]:
    """(config path, Hydra group path, policy) of the West's policy the levers act on: the later regime
    when the scenario switches the West's policy (west_coordinated), else the West's policy from the start."""
    if "west" in cfg.policy_change:
        return "policy_change.west.policy", "policy@policy_change.west.policy", cfg.policy_change["west"].policy
    return "policy.west", "policy@policy.west", cfg.policy["west"]


def _export_controls(cfg: Config) -> dict[str, dict]:
    return {
        name: ev
        for name, ev in cfg.scenario.events.items()
        if isinstance(ev, dict) and ev.get("kind") == "export_control" and ev.get("exporter") == "china"
    }


@lru_cache(maxsize=1)
def fragmented_agencies() -> tuple[tuple[str, float], ...]:
    """(name, budget M USD/yr) of the Western agencies of conf/policy/fragmented.yaml, in file order."""
    from omegaconf import OmegaConf

    agencies = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "policy" / "fragmented.yaml"))["agencies"]
    return tuple((name, float(a.get("budget_musd_per_year", 0.0))) for name, a in agencies.items())


def read_levers(cfg: Config, scenario: str) -> Levers:
    """The lever settings a composed config stands for (multipliers read as 1: today's values)."""
    china = cfg.policy["china"]
    _, _, west = west_target(cfg)
    lg = china.benefits.get(Tier.LITTLE_GIANT.label)
    std = cfg.world.blocs["china"].tax_rate
    relief = (std - lg.tax_rate) * 100.0 if lg is not None and lg.tax_rate is not None else 0.0
    sharing = china.groups.knowledge_sharing
    if west.regime == "coordinated_west":
        n_agencies, coordinated = len(fragmented_agencies()), True
    else:
        n_agencies, coordinated = len(west.agencies), False
    controls = _export_controls(cfg)
    return Levers(
        scenario=scenario,
        seed=cfg.seed,
        china_policy="none" if china.regime == "none" else ("coordinated" if china.designation.enabled else "coordinated_without_tiers"),
        grant_budget=1.0,
        procurement_preference=1.0,
        tax_relief_points=round(max(relief, 0.0), 6),
        credit_subsidy=1.0,
        knowledge_sharing=float(sharing if sharing is not None else cfg.world.innovation.group_sharing),
        west_agencies=min(n_agencies, len(fragmented_agencies())),
        west_coordinated=coordinated,
        west_permit_factor=float(west.coordination.permit_factor),
        west_price_floor_usd_per_kg=float(west.instruments.price_floor_usd_per_kg.get("separation", 0.0)),
        west_offtake_t_per_year=float(west.instruments.floor_offtake_t_per_year.get("magnet", 0.0)),
        export_control=bool(controls),
        export_control_year=float(min((ev["start_year"] for ev in controls.values()), default=2025.25)),
    )


def default_levers(scenario: str = "baseline", seed: int | None = None) -> Levers:
    """The levers as a scenario sets them (with ``seed`` instead of the configured one, if given)."""
    levers = read_levers(composed((f"scenario={scenario}",)), scenario)
    return levers if seed is None else levers.replace(seed=int(seed))


def west_regime(levers: Levers) -> str:
    """The West's regime the levers ask for (conf/policy/)."""
    return "coordinated_west" if levers.west_coordinated else ("fragmented" if levers.west_agencies > 0 else "none")


def regime_overrides(levers: Levers) -> list[str]:
    """The scenario and the regime choices of the levers: the overrides that need Hydra (they change which
    keys exist); everything else is an :data:`Edit` of the config they compose to."""
    check_levers(levers)
    ov = [f"scenario={levers.scenario}"]
    base = composed(ov)
    china = base.policy["china"]
    if levers.china_policy == "none" and china.regime != "none":
        ov.append("policy@policy.china=none")
    elif levers.china_policy != "none" and china.regime != "coordinated":
        ov.append("policy@policy.china=coordinated")
    _, west_group, west = west_target(base)
    if west.regime != west_regime(levers):
        ov.append(f"{west_group}={west_regime(levers)}")
    return ov


REGIME_LEVERS = ("china_policy", "west_agencies", "west_coordinated")  # levers that choose a regime
REGIME_NUMBERS = ("tax_relief_points", "west_permit_factor", "west_price_floor_usd_per_kg", "west_offtake_t_per_year")


def change_levers(levers: Levers, **changes: Any) -> Levers:
    """The levers after the page changes some of them.

    A new scenario starts from that scenario's settings (the seed is kept); a new regime brings its own
    values of the levers it defines (tax relief, permitting, price floor and offtake); other levers stay.
    Raises ConfigError for a value outside the lever's range.
    """
    if "scenario" in changes and changes["scenario"] != levers.scenario:
        check_levers(levers.replace(scenario=changes["scenario"]))
        return default_levers(changes["scenario"], changes.get("seed", levers.seed))
    new = levers.replace(**changes)
    check_levers(new)
    if any(k in REGIME_LEVERS and v != getattr(levers, k) for k, v in changes.items()):
        regime = read_levers(composed(regime_overrides(new)), new.scenario)
        new = new.replace(**{k: getattr(regime, k) for k in REGIME_NUMBERS})
    return new


# An edit of a composed config: ("set", path, value) a key that exists, ("add", path, value) a map entry that
# may not exist (Hydra's ++), ("del", path, None) a map entry (Hydra's ~). Paths are dotted, as on the command line.
Edit = tuple[str, str, Any]


def lever_edits(levers: Levers, cfg: Config) -> list[Edit]:
    """The edits that take ``cfg`` (the levers' scenario and regimes, composed) to the levers' settings;
    a multiplier of 1 or a value as configured adds nothing."""
    edits: list[Edit] = [("set", "seed", int(levers.seed))] if levers.seed != cfg.seed else []
    edits += _china_edits(levers, cfg)
    edits += _west_edits(levers, cfg)
    edits += _export_control_edits(levers, cfg)
    return edits


def _set_if(edits: list[Edit], path: str, old: Any, new: Any) -> None:
    """Add a "set" edit when the new value differs from the configured one."""
    if _differs(old, new):
        edits.append(("set", path, new))


def _china_edits(levers: Levers, cfg: Config) -> list[Edit]:
    """China: tiers on or off, their benefits scaled, the Little Giants' tax rate, knowledge sharing in groups."""
    edits: list[Edit] = []
    china = cfg.policy["china"]
    tiers_on = levers.china_policy == "coordinated"
    if levers.china_policy != "none" and china.designation.enabled != tiers_on:
        edits.append(("set", "policy.china.designation.enabled", tiers_on))
    for tier, ben in china.benefits.items():
        key = f"policy.china.benefits.{tier}"
        for fname, mult, hi in (
            ("grant_myuan_per_year", levers.grant_budget, None),
            ("procurement_discount", levers.procurement_preference, 0.95),
            ("interest_subsidy", levers.credit_subsidy, 1.0),
            ("credit_bonus", levers.credit_subsidy, 1.0),
        ):
            old = getattr(ben, fname)
            _set_if(edits, f"{key}.{fname}", old, round(old * mult if hi is None else min(old * mult, hi), 9))
    klg = china.designation.key_little_giant
    _set_if(
        edits,
        "policy.china.designation.key_little_giant.budget_myuan_per_term",
        klg.budget_myuan_per_term,
        round(klg.budget_myuan_per_term * levers.grant_budget, 9),
    )
    lg = Tier.LITTLE_GIANT.label
    if lg in china.benefits:
        rate = round(max(cfg.world.blocs["china"].tax_rate - levers.tax_relief_points / 100.0, 0.0), 9)
        _set_if(edits, f"policy.china.benefits.{lg}.tax_rate", china.benefits[lg].tax_rate, rate)
    sharing = china.groups.knowledge_sharing
    if _differs(sharing if sharing is not None else cfg.world.innovation.group_sharing, levers.knowledge_sharing):
        edits.append(("set", "policy.china.groups.knowledge_sharing", float(levers.knowledge_sharing)))
    return edits


def _west_edits(levers: Levers, cfg: Config) -> list[Edit]:
    """The West: agencies kept and their budgets (or the pooled fund), permits, price floor and offtake."""
    edits: list[Edit] = []
    west_key, _, west = west_target(cfg)
    frag = fragmented_agencies()
    kept = frag[: int(levers.west_agencies)]
    if west.regime == "fragmented":
        edits += [("del", f"{west_key}.agencies.{name}", None) for name, _ in frag[int(levers.west_agencies) :] if name in west.agencies]
        for name, _ in kept:
            if name in west.agencies:
                old = west.agencies[name].budget_musd_per_year
                _set_if(edits, f"{west_key}.agencies.{name}.budget_musd_per_year", old, round(old * levers.grant_budget, 9))
    elif west.regime == "coordinated_west":
        pooled = round(sum(b for _, b in kept) * levers.grant_budget, 9)
        for name, a in west.agencies.items():  # one pooled fund in conf/policy/coordinated_west.yaml
            _set_if(edits, f"{west_key}.agencies.{name}.budget_musd_per_year", a.budget_musd_per_year, pooled)
    _set_if(edits, f"{west_key}.coordination.permit_factor", west.coordination.permit_factor, float(levers.west_permit_factor))
    for fname, stage, value in (
        ("price_floor_usd_per_kg", "separation", levers.west_price_floor_usd_per_kg),
        ("floor_offtake_t_per_year", "magnet", levers.west_offtake_t_per_year),
    ):
        old = getattr(west.instruments, fname).get(stage)
        if value > 0 and _differs(old, value):
            edits.append(("add", f"{west_key}.instruments.{fname}.{stage}", float(value)))
        elif value <= 0 and old is not None:
            edits.append(("del", f"{west_key}.instruments.{fname}.{stage}", None))
    # a regime that floors concentrate too (coordinated_west: the oxide floor seen from an integrated mine) moves it with
    # the oxide floor, in proportion; none without an oxide floor
    floors = west.instruments.price_floor_usd_per_kg
    ore, oxide, value = floors.get("mining"), floors.get("separation"), levers.west_price_floor_usd_per_kg
    if ore is not None and oxide and _differs(oxide, value):
        if value > 0:
            edits.append(("add", f"{west_key}.instruments.price_floor_usd_per_kg.mining", round(ore * value / oxide, 9)))
        else:
            edits.append(("del", f"{west_key}.instruments.price_floor_usd_per_kg.mining", None))
    return edits


def _export_control_edits(levers: Levers, cfg: Config) -> list[Edit]:
    """Export controls: shift the scenario's to the lever's start year, add one, or remove them."""
    controls = _export_controls(cfg)
    if levers.export_control and controls:
        edits: list[Edit] = []
        shift = levers.export_control_year - min(ev["start_year"] for ev in controls.values())
        if abs(shift) > 1e-9:
            for name, ev in controls.items():
                edits.append(("set", f"scenario.events.{name}.start_year", round(ev["start_year"] + shift, 9)))
                if ev.get("end_year") is not None:
                    edits.append(("set", f"scenario.events.{name}.end_year", round(ev["end_year"] + shift, 9)))
        return edits
    if levers.export_control:
        return [("add", f"scenario.events.{NEW_EXPORT_CONTROL}", dict(NEW_EXPORT_CONTROL_PARAMS, start_year=float(levers.export_control_year)))]
    return [("del", f"scenario.events.{name}", None) for name in controls]


def override_of(edit: Edit) -> str:
    """An edit as a command-line override."""
    op, path, value = edit
    return {"set": f"{path}={_flow(value)}", "add": f"++{path}={_flow(value)}", "del": f"~{path}"}[op]


def apply_edits(cfg: Config, edits: list[Edit]) -> Config:
    """Apply edits to a config in place (then validate it: the edits skip Hydra, not the checks)."""
    for op, path, value in edits:
        *parents, last = path.split(".")
        node: Any = cfg
        for part in parents:
            node = node[part] if isinstance(node, dict) else getattr(node, part)
        if op == "del":
            del node[last]
        elif isinstance(node, dict):
            node[last] = copy.deepcopy(value)
        else:
            setattr(node, last, value)
    return cfg


def _num(v: float) -> str:
    return repr(round(float(v), 6))


def _differs(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is not b
    return abs(float(a) - float(b)) > 1e-9


def _flow(value: Any) -> str:
    """A value in Hydra's override grammar ({k:v,...}, [a,b], null, true)."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_flow(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return _num(value)
    return str(value)


def build_config(levers: Levers) -> tuple[Config, list[str]]:
    """Validated config of the levers and the ``python -m sim`` overrides that give the same config.

    Only the scenario and regime choices go through Hydra (cached); the numbers are edits of that config,
    checked by :func:`sim.config.validate` as the command line checks them. Raises ConfigError.
    """
    from sim.config import validate

    regimes = regime_overrides(levers)
    cfg = composed(regimes)
    edits = lever_edits(levers, cfg)
    cfg = validate(apply_edits(cfg, edits))
    overrides = regimes[:1] + [f"seed={int(levers.seed)}"] + regimes[1:] + [override_of(e) for e in edits if e[1] != "seed"]
    return cfg, overrides


def lever_overrides(levers: Levers) -> list[str]:
    """The ``python -m sim`` overrides of the levers: scenario, seed, then only what differs from the scenario."""
    return build_config(levers)[1]


def command_line(overrides: list[str]) -> str:
    """The same run from the command line (each override quoted where the shell needs it)."""

    def q(o: str) -> str:
        return f"'{o}'" if any(c in o for c in "{}[]~,*@ ") else o

    return "python -m sim " + " ".join(q(o) for o in overrides)


# --------------------------------------------------------------------------
# Teaching presets
# --------------------------------------------------------------------------
# name -> title, scenario, lever changes, lesson (one paragraph), what to try next, a note on seed noise (which of the
# comparisons the lesson and "try" suggest are larger than the differences between seeds, and which are not), and
# the two panels (VIEWS) the lesson talks about, which the page shows beside it on the first screen; "compare": the
# lesson's comparison (the preset's levers, and the same with "changes"), read on one of FIGURES over a few seeds, and
# drawn as a ghost over the panels ("ghost": its legend entry, short enough for a panel at 1280 x 720). Every statement
# of a lesson, its "try" and its note is checked on seeds 1-5 by tests/test_lessons.py, from the run the preset builds.
PRESETS: dict[str, dict[str, Any]] = {
    "mine_alone": {
        "title": "Why a mine alone is not independence",
        "scenario": "export_control_shock",
        "levers": {},
        "lesson": (
            "A magnet passes through mining, separation, metal and magnet making; a bloc is independent only when it "
            "makes enough at every stage. Here no bloc has an industrial policy, and from 2025 China licenses only part "
            "of its exports of oxides, metal and magnets. After 2025 Western mines still dig but send most ore abroad, "
            "mostly to China, and only licensed processed material comes back: Western metal and magnet prices rise "
            "well above China's. In the timeline the Western magnet row fills later, on imported metal, the mine row "
            "only where the large mine survives, but separation stays pale into the 2040s: a magnet needs all four rows."
        ),
        "try": "A 110 USD/kg oxide floor with 10,000 t/yr offtake, or permitting 0.5: which rows fill by 2044?",
        "noise": (
            "The oxide floor with offtake in *Try next* raises the West's separation capacity and its separation "
            "self-sufficiency in 2035 in every seed we tried (1-5), capacity by more than seed noise. In most seeds "
            "(three to five of five) the West also has more separation in 2030 with it than without it in 2035, more "
            "metal and magnet capacity in 2035, and more capacity at each processing stage in 2044. Halving permitting "
            "time raises Western magnet capacity in 2044 in every seed, by 1 to 14 kt a year, and so does one step of "
            "the permitting slider (0.75), by 1 to 16 kt a year, against 67 to 75 kt a year between seeds without "
            "either. Compare runs of the same seed."
        ),
        "panels": ("chain", "timeline"),
        "compare": {
            "changes": {"west_permit_factor": 0.5},
            "other": "permitting twice as fast (0.5)",
            "ghost": "with permitting x0.5",
            "figure": "west_magnet_capacity_2044",
        },
    },
    "export_control": {
        "title": "What an export control does",
        "scenario": "export_controls_full",
        "levers": {},
        "lesson": (
            "An export control does not destroy anything: the same plants keep running in China. What changes is "
            "who may buy. After the control starts, Western buyers compete for what little still crosses the border, "
            "so the Western price of processed rare earths rises above the Chinese price while Chinese producers lose "
            "customers. Watch the price panels split, the red cut flows in the chain picture, and whether Western "
            "projects start once high prices make them pay."
        ),
        "try": "Switch the export control off, or move its start year, and compare the prices.",
        "noise": (
            "The split is far larger than the differences between seeds: in 2027 the Western price of metal and "
            "magnets is at least one and a half times the Chinese one in every seed we tried (1-5), and with the "
            "control off the two stay within a few percent."
        ),
        "panels": ("prices", "chain"),
        "compare": {
            "changes": {"export_control": False},
            "other": "without the export control",
            "ghost": "without the export control",
            "figure": "magnet_price_ratio_2027",
        },
    },
    "tiers": {
        "title": "What the tiers change",
        "scenario": "baseline",
        "levers": {},
        "lesson": (
            "China's designation system gives titles to specialised small firms: innovation-type SMEs, then SRDI "
            "firms, then national Little Giants and key Little Giants. Each title brings grants, tax relief, cheaper "
            "credit and a procurement preference, but only while the firm meets published criteria (R&D intensity, "
            "patents, a niche). Watch titles grow fast in the first rounds, hold through the mid-2020s, then thin as "
            "reviews remove them and fewer firms win new ones. Each firm counts once, at its highest title: here most "
            "first-title holders soon meet the SRDI criteria and move up while few new firms qualify, so in the 2020s "
            "the SRDI step is wider than the innovation-type base. Compare Chinese R&D, costs and prices with and without tiers."
        ),
        "try": "Set China's policy to coordinated_without_tiers and run the same seed again.",
        "noise": (
            "Chinese firms spend more on R&D with the tiers in every seed we tried (1-5), but it hardly shows in their "
            "magnet costs and prices: in 2030 and in 2044 the same seed ends higher with the tiers in some seeds and "
            "lower in others (within seed noise), in 2044 by 1 to 5 dollars a kilo either way, less than the runs "
            "differ between seeds (25 to 31 dollars a kilo for the cost), and small beside the fall every run shares: "
            "every Chinese firm learns and innovates toward the same floor of materials and energy, and already "
            "deducts its R&D twice from taxable profit, tiers or not."
        ),
        "panels": ("pyramid", "prices"),
        "compare": {
            "changes": {"china_policy": "coordinated_without_tiers"},
            "other": "without the tiers",
            "ghost": "without the tiers",
            "figure": "china_magnet_price_2044",
        },
    },
}


def preset_levers(name: str, seed: int | None = None) -> Levers:
    """A preset's levers: its scenario's settings with the preset's changes."""
    p = PRESETS[name]
    return default_levers(p["scenario"], seed).replace(**p["levers"])


# --------------------------------------------------------------------------
# A lesson's comparison over a few seeds: the same seed with and without the lesson's change, for COMPARE_SEEDS seeds
# --------------------------------------------------------------------------
COMPARE_SEEDS = 5


def _yearly(model: ChainModel, name: str, year: int) -> np.ndarray:
    """(B, S) the mean of a series over the quarters of one calendar year."""
    first = 4 * (year - model.world.start_year)
    return series(model, name)[first : first + 4].mean(axis=0)


def _at(model: ChainModel, bloc: str, stage: str) -> tuple[int, int]:
    return model.tables.blocs.index(bloc), model.tables.stages.index(stage)


def _price_ratio(model: ChainModel, stage: str, year: int) -> float:
    price = _yearly(model, "price_usd_per_kg", year)
    return float(price[_at(model, "west", stage)] / price[_at(model, "china", stage)])


# name -> (what it is, its unit, its year, the figure read on a run stepped through that year)
FIGURES: dict[str, tuple[str, str, int, Any]] = {
    "west_magnet_capacity_2044": (
        "Western magnet capacity",
        "kt/yr",
        2044,
        lambda m: float(_yearly(m, "capacity_t", 2044)[_at(m, "west", "magnet")]) / 1000.0,
    ),
    "magnet_price_ratio_2027": ("the Western magnet price over China's", "x", 2027, lambda m: _price_ratio(m, "magnet", 2027)),
    "china_magnet_price_2044": (
        "China's magnet price",
        "USD/kg",
        2044,
        lambda m: float(_yearly(m, "price_usd_per_kg", 2044)[_at(m, "china", "magnet")]),
    ),
}


def figure_of_run(levers: Levers, figure: str) -> float:
    """One of FIGURES on a run of these levers, stepped to the end of the figure's year (about a second a decade)."""
    _, _, year, read = FIGURES[figure]
    m = ClassroomModel(levers)
    while m.running and m.steps < min(m.n_steps, 4 * (year - m.world.start_year + 1)):
        m.step()
    return read(m)


def compare_seeds(levers: Levers) -> list[int]:
    """The seeds a lesson is compared on: the run's own seed and the next COMPARE_SEEDS - 1."""
    return [levers.seed + i for i in range(COMPARE_SEEDS)]


def comparison_runs(levers: Levers, name: str) -> list[tuple[Levers, str]]:
    """(levers, figure) of the runs a lesson's comparison needs: per seed, these levers and the same with the lesson's change."""
    spec = PRESETS[name]["compare"]
    out = []
    for seed in compare_seeds(levers):
        base = levers.replace(seed=seed)
        out += [(base, spec["figure"]), (change_levers(base, **spec["changes"]), spec["figure"])]
    return out


class SeedRuns:
    """The runs of lessons' comparisons, in a process of their own (a step of the page's run never waits for them, not
    even for Python's interpreter lock), one at a time, each kept by (levers, figure): ticking the comparison again, or
    for a setting compared before, costs nothing. Nothing here calls Solara."""

    def __init__(self, executor=None):
        self._executor = executor
        self._lock = threading.Lock()
        self._runs: dict[tuple[Levers, str], Any] = {}  # (levers, figure) -> Future of figure_of_run

    def _pool(self):
        if self._executor is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._executor = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        return self._executor

    def submit(self, runs: list[tuple[Levers, str]]) -> list:
        """Futures of the figures of these runs (a run asked for before is not run again, unless it failed)."""
        with self._lock:
            out = []
            for key in runs:
                run = self._runs.get(key)
                if run is None or (run.done() and run.exception() is not None):
                    run = self._runs[key] = self._pool().submit(_run_of, *key)
                out.append(run)
            return out

    def figures(self, runs: list[tuple[Levers, str]]) -> list[float]:
        """The figures of these runs, waiting for those not run yet."""
        return [run.result() for run in self.submit(runs)]

    def ghost(self, levers: Levers) -> dict[str, Any]:
        """The series of a run of these levers over the whole horizon (:func:`ghost_of_run`), waiting for it if it is
        not run yet; kept by its levers, like the figures."""
        (run,) = self.submit([(levers, GHOST)])
        return run.result()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(cancel_futures=True)


def _run_of(levers: Levers, what: str) -> Any:
    """What :class:`SeedRuns` runs in its process: a figure (:data:`FIGURES`) or a ghost's series (:data:`GHOST`)."""
    return ghost_of_run(levers) if what == GHOST else figure_of_run(levers, what)


# --------------------------------------------------------------------------
# A lesson's ghost: the same seed with the lesson's change, over the whole horizon, faint and dashed on the panels
# --------------------------------------------------------------------------
GHOST = "ghost"  # SeedRuns' key for a ghost's series (beside FIGURES' names)
GHOST_SERIES = ("price_usd_per_kg", "capacity_t", "self_sufficiency")  # what the ghosted panels draw
GHOSTED = ("prices", "capacity", "timeline")  # the views that draw a ghost: lines over time, and the timeline's stars


@dataclass(frozen=True, eq=False)
class Ghost:
    """A run of the same seed with the lesson's change, every quarter of its horizon: what the ghosted views draw
    under the page's run (lines lighter and dashed in each line's colour; the timeline's independence as hollow stars).
    Compared by identity (the page keeps one until the settings change)."""

    label: str  # the legend entry, e.g. "without the export control"
    levers: Levers  # the ghost run's settings
    series: dict[str, np.ndarray]  # GHOST_SERIES name -> (Q, B, S), Q the whole horizon
    timeline: dict[str, dict[str, dict[str, float | None]]]  # as timeline(): the years at the end of the run


def ghost_levers(levers: Levers, name: str) -> Levers | None:
    """The levers of a lesson's ghost: these levers with the lesson's change (None when they already have it)."""
    other = change_levers(levers, **PRESETS[name]["compare"]["changes"])
    return None if other == levers else other


def lesson_ghost(name: str, levers: Levers, runs: SeedRuns) -> Ghost | None:
    """A lesson's ghost for the page's levers, run by ``runs`` (in its process; waits for it), or None when these levers
    already have the lesson's change."""
    other = ghost_levers(levers, name)
    return None if other is None else Ghost(PRESETS[name]["compare"]["ghost"], other, **runs.ghost(other))


def ghost_of_run(levers: Levers) -> dict[str, Any]:
    """The series and timeline a ghost draws: a clean run of these levers to its last quarter (about three seconds)."""
    m = ClassroomModel(levers)
    while m.running and m.steps < m.n_steps:
        m.step()
    return {"series": {name: series(m, name) for name in GHOST_SERIES}, "timeline": timeline(m)}


def view_option(name: str, model: ChainModel, ghost: Ghost | None = None) -> dict:
    """The chart of one view, with the ghost over it where the view draws one (:data:`GHOSTED`)."""
    return VIEWS[name](model, ghost) if ghost is not None and name in GHOSTED else VIEWS[name](model)


def _lighter(colour: str, share: float = 0.45) -> str:
    """A hex colour mixed with white (``share`` of white)."""
    rgb = [int(colour[k : k + 2], 16) for k in (1, 3, 5)]
    return "#" + "".join(f"{round(c + (255 - c) * share):02x}" for c in rgb)


GHOST_INK = "#777"  # the ghost's legend entry


def _ghost_line(line: dict, values: np.ndarray, digits: int, label: str) -> dict:
    """A live line's ghost: the same axes, its colour lighter, dashed, over the whole horizon, named by the ghost's label
    (so that the legend's one entry shows and hides every ghost line)."""
    colour = _lighter(line["color"])
    return {
        "type": "line",
        "name": label,
        "xAxisIndex": line["xAxisIndex"],
        "yAxisIndex": line["yAxisIndex"],
        "showSymbol": False,
        "silent": True,
        "z": 1,
        "color": colour,
        "lineStyle": {"type": "dashed", "width": 2, "color": colour},
        "tooltip": {"show": False},
        "data": [_f(v, digits) for v in values],
    }


def _ghost_legend(label: str, top: int) -> tuple[dict, dict]:
    """The ghost's legend entry on a row of its own (under the view's legend), and the empty grey dashed series it shows."""
    carrier = {"type": "line", "name": label, "data": [], "color": GHOST_INK, "lineStyle": {"type": "dashed", "width": 2, "color": GHOST_INK}}
    legend = {"data": [label], "top": top, "right": 0, "textStyle": TEXT, "itemWidth": 30}
    return legend, carrier


def within_seed_noise(base: list[float], other: list[float]) -> bool:
    """Whether a change's effect on a figure is within seed noise over paired seeds (the same seed with and without the
    change): the paired differences do not all have one sign, or their mean is within two standard errors of zero."""
    diff = np.asarray(other, dtype=float) - np.asarray(base, dtype=float)
    one_sign = bool((diff > 0).all() or (diff < 0).all())
    return not one_sign or abs(diff.mean()) < 2 * diff.std(ddof=1) / np.sqrt(len(diff))


def comparison_note(levers: Levers, name: str, values: list[float]) -> str:
    """The note on a lesson's comparison from its runs' figures (in the order of :func:`comparison_runs`): the range
    over the seeds with and without the change, and whether the difference of the same seed is beyond seed noise."""
    spec = PRESETS[name]["compare"]
    what, unit, year, _ = FIGURES[spec["figure"]]
    seeds = compare_seeds(levers)
    base, other = values[0::2], values[1::2]
    digits = 2 if unit == "x" else 1 if unit == "kt/yr" else 0

    def span(xs: list[float]) -> str:
        lo, hi = min(xs), max(xs)
        return f"{lo:.{digits}f} to {hi:.{digits}f} {unit}" if f"{lo:.{digits}f}" != f"{hi:.{digits}f}" else f"{lo:.{digits}f} {unit}"

    diff = [o - b for b, o in zip(base, other)]
    overlap = max(min(base), min(other)) <= min(max(base), max(other))
    if within_seed_noise(base, other):
        verdict = "within seed noise: the same seed moves one way in some seeds and the other way in others"
    elif overlap:
        verdict = (
            f"beyond seed noise for the same seed ({'up' if diff[0] > 0 else 'down'} in every seed), but smaller than the "
            "differences between seeds: compare runs of the same seed"
        )
    else:
        verdict = "larger than the differences between seeds"
    return (
        f"**Seeds {seeds[0]}-{seeds[-1]}.** {what[0].upper() + what[1:]} in {year}: {span(base)} with these settings, "
        f"{span(other)} {spec['other']}. The difference is {verdict}."
    )


# --------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------
class ClassroomModel(ChainModel):
    """The chain model built from levers (the trade between blocs that the chain picture draws is the
    recorder's ``trade_t``, sim.engine.metrics.Recorder)."""

    def __init__(self, levers: Levers | None = None):
        levers = levers if levers is not None else default_levers()
        cfg, overrides = build_config(levers)
        super().__init__(cfg)
        self.levers = levers
        self.overrides = overrides


class Run:
    """The run on one page: its model, and the one lock that every step and every rebuild takes.

    The page has two actors on the model: the play loop (a thread of its own) and the widgets' handlers (the
    websocket's thread). Two steps of one model at once corrupt its columns (firms appended by one step while
    the other pays out over the old rows), a step beside a rebuild can go past the last quarter, and a lever
    read from a stale picture of the page can be lost. So:

    - :meth:`step` takes the lock and refuses past the last quarter (``model.running`` is false at ``n_steps``);
    - :meth:`change` and :meth:`choose_preset` pause the run, then rebuild under the lock from the levers the
      model holds, so a change never overwrites another and the widgets can show ``model.levers``;
    - :meth:`play` is the play loop: it steps under the lock only while its own generation is the one playing,
      so Pause (or a rebuild) stops it after the step under way, and a Play pressed again starts a new loop
      instead of sharing the old one.

    Nothing here calls Solara (a redraw while holding the lock could wait on a render that waits on the lock):
    the page redraws after the lock is released.
    """

    def __init__(self, levers: Levers | None = None):
        self.lock = threading.RLock()  # every step and rebuild of the model
        self._state = threading.Lock()  # only the play state (Pause must never wait for a step)
        self._generation = 0  # counts Plays; the loop of the latest one is the only one allowed to step
        self._playing: int | None = None  # generation of the loop that may step; None: paused
        self.model = ClassroomModel(levers)

    # -- state
    @property
    def finished(self) -> bool:
        """The run has reached its last quarter (or the model stopped itself)."""
        m = self.model
        return not m.running or m.steps >= m.n_steps

    @property
    def playing(self) -> bool:
        return self._playing is not None

    def status(self) -> str:
        """Where the run is, in a line for the page."""
        m = self.model
        if self.finished:
            return f"Run finished: {quarter_label(m)} was its last quarter. Reset, or change a lever, to run again."
        return f"Quarter {m.steps} of {m.n_steps}"

    # -- stepping
    def step(self, quarters: int = 1) -> int:
        """Up to ``quarters`` quarters, never past the last one; returns the number stepped."""
        with self.lock:
            done = 0
            while done < quarters and not self.finished:
                self.model.step()
                done += 1
            return done

    def start_playing(self) -> int | None:
        """Mark the run as playing; returns the generation its loop must pass to :meth:`play` (None: finished)."""
        with self._state:
            if self.finished:
                return None
            self._generation += 1
            self._playing = self._generation
            return self._generation

    def pause(self, generation: int | None = None) -> None:
        """Stop the play loop (only the loop of ``generation``, if given) after the step under way."""
        with self._state:
            if generation is None or self._playing == generation:
                self._playing = None

    def play(self, generation: int, redraw, quarters=lambda: 1, interval_s=lambda: 0.1) -> None:
        """The play loop of ``generation``: wait ``interval_s()``, step ``quarters()`` quarters, ``redraw()``;
        until paused, superseded by a later Play, or finished (then the run is paused)."""
        while self._playing == generation:
            time.sleep(interval_s())
            with self.lock:
                stepped = self.step(quarters()) if self._playing == generation else 0
            if stepped:
                redraw()
            if self.finished:
                self.pause(generation)

    # -- rebuilding
    def reset(self) -> ClassroomModel:
        """Back to the start with the same levers (paused)."""
        return self._rebuild(lambda levers: levers)

    def change(self, **changes: Any) -> ClassroomModel:
        """The model rebuilt with some levers changed (paused). Raises ConfigError; then the model stays."""
        return self._rebuild(lambda levers: change_levers(levers, **changes))

    def choose_preset(self, name: str) -> ClassroomModel:
        """The model rebuilt from a teaching preset, keeping the seed (paused)."""
        return self._rebuild(lambda levers: preset_levers(name, levers.seed))

    def _rebuild(self, new_levers) -> ClassroomModel:
        self.pause()
        with self.lock:  # waits for a step under way; the levers read are those of the model it finished
            self.model = ClassroomModel(new_levers(self.model.levers))
            return self.model


# --------------------------------------------------------------------------
# View data
# --------------------------------------------------------------------------
def series(model: ChainModel, name: str) -> np.ndarray:
    """(Q, B, S) recorded quarters of one series (Q = 0 before the first step)."""
    rec = model.recorder.series[name]
    T = model.tables
    return np.stack(rec) if rec else np.zeros((0, T.B, T.S))


def quarter_label(model: ChainModel) -> str:
    if model.quarter < 0:
        return f"{model.world.start_year} (not started)"
    return f"{model.world.start_year + model.quarter // 4} Q{model.quarter % 4 + 1}"


def timeline(model: ChainModel) -> dict[str, dict[str, dict[str, float | None]]]:
    """bloc -> stage -> {first_output, independence}: calendar years reached so far (None: not yet).

    The definitions of summary.json (sim.engine.metrics.Recorder.summary): the first output of a plant whose firm was
    born at or after the timeline reference year, and the first quarter from which self-sufficiency stays at
    or above world.independence_threshold for world.independence_hold_quarters quarters.
    """
    start = model.world.start_year
    year = lambda q: None if q is None else start + q / 4.0  # noqa: E731
    _, milestones = model.recorder.milestone_quarters()
    return {bloc: {stage: {"first_output": year(q[0]), "independence": year(q[1])} for stage, q in st.items()} for bloc, st in milestones.items()}


def tier_counts(model: ChainModel) -> dict[str, np.ndarray]:
    """bloc -> (Q, 4) operating firms holding innovation_type, srdi, little_giant (without key), key_little_giant,
    for the blocs whose policy awards titles."""
    T = model.tables
    blocs = sorted(b for b, gov in model.policy.governments.items() if gov.policy.designation.enabled)
    keys = tuple(t.label for t in DESIGNATED) + (KEY_LITTLE_GIANT,)
    n_q = len(model.recorder.series["capacity_t"])
    out = {T.blocs[b]: np.zeros((n_q, 4)) for b in blocs}
    for q, b, measure, key, value in model.recorder.policy.rows:
        if measure == "firms" and key in keys and T.blocs[b] in out and q < n_q:
            out[T.blocs[b]][q, keys.index(key)] = value
    for arr in out.values():
        arr[:, 2] = np.maximum(arr[:, 2] - arr[:, 3], 0.0)  # key Little Giants are Little Giants too
    return out


# --------------------------------------------------------------------------
# Views: ECharts options (JSON only: the browser draws them, so a step costs the server little)
# --------------------------------------------------------------------------
# Drawn for a projector: every text of a chart at FONT px or more, the light theme, and a layout that holds
# from a 460 x 400 px panel (two panels beside the lesson at 1280 x 720) up: gaps for text are fractions of the
# chart that leave at least a line of text at that size, and axis labels ECharts cannot fit are dropped
# (hideOverlap) rather than drawn over each other.
FONT = 16  # px, the smallest text of a chart
TEXT = {"fontSize": FONT, "color": "#222", "fontFamily": "Roboto, Arial, sans-serif"}
GHOST_LEGEND_TOP = FONT + 12  # px: a ghost's legend row, under the view's legend
BLOC_COLOURS = {"china": "#c0392b", "west": "#2e6fba", "rest_of_world": "#2ca02c"}
BLOC_NAMES = {"china": "China", "west": "West", "rest_of_world": "Rest of world"}
BLOC_SHORT = {"china": "China", "west": "West", "rest_of_world": "RoW"}  # the timeline's row labels
OTHER_COLOURS = ("#9467bd", "#17becf", "#8c564b")
STAGE_COLOURS = ("#8c6d31", "#e6850e", "#7f7f7f", "#7b3fa0")
GREENS = ("#f7fcf5", "#c7e9c0", "#74c476", "#238b45", "#00441b")  # self-sufficiency 0 .. 2 x threshold
TIER_LABELS = ("innovation-type SME", "SRDI", "Little Giant", "key Little Giant")
TIER_COLOURS = ("#d9d2e9", "#a58fce", "#6a46a8", "#ffb000")
STAR = "path://M50,0 L61,35 L98,35 L68,57 L79,91 L50,70 L21,91 L32,57 L2,35 L39,35 Z"
CUT = "#d62728"


def bloc_colour(bloc: str, b: int) -> str:
    return BLOC_COLOURS.get(bloc, OTHER_COLOURS[b % len(OTHER_COLOURS)])


def bloc_name(bloc: str, short: bool = False) -> str:
    """A bloc as the charts name it ("Rest of world"; "RoW" where space is short)."""
    return (BLOC_SHORT if short else BLOC_NAMES).get(bloc, bloc.replace("_", " "))


def _f(x: Any, digits: int = 4) -> float | None:
    """A JSON number (None for NaN/inf: a gap in the chart)."""
    x = float(x)
    return round(x, digits) if math.isfinite(x) else None


def _option(**parts: Any) -> dict:
    """An ECharts option with the dashboard's defaults: no animation, text at FONT px, a white background."""
    return {"animation": False, "backgroundColor": "#fff", "textStyle": dict(TEXT), **parts}


def quarter_names(model: ChainModel) -> list[str]:
    """Labels of every quarter of the horizon ("2015", "2015 Q2", ...: a year's first quarter is the year): the
    category axis of the time charts, so that a chart keeps its width and fills in from the left as the run goes,
    and its axis labels are plain years."""
    y0 = model.world.start_year
    return [f"{y0 + q // 4}" + (f" Q{q % 4 + 1}" if q % 4 else "") for q in range(model.n_steps)]


def _time_axis(model: ChainModel, grid: int, show: bool = True, every_years: int = 10) -> dict:
    """The quarters of the horizon, labelled with a year every ``every_years`` years."""
    every = 4 * every_years
    return {
        "type": "category",
        "gridIndex": grid,
        "data": quarter_names(model),
        "boundaryGap": False,
        "axisLabel": {"show": show, "interval": every - 1, "hideOverlap": True, "margin": 14, **TEXT},
        "axisTick": {"interval": every - 1},
    }


def _value_axis(grid: int, name: str = "", **kw: Any) -> dict:
    """A value axis named above its top-left end (the name moves with the grid, so it never sits on another chart)."""
    return {
        "type": "value",
        "gridIndex": grid,
        "min": 0,
        "splitNumber": 3,
        "name": name,
        "nameLocation": "end",
        "nameGap": 8,
        "nameTextStyle": {**TEXT, "align": "left", "fontWeight": "bold", **kw.pop("name_style", {})},
        "axisLabel": {**TEXT, "hideOverlap": True},
        **kw,
    }


def _green(v: float, thr: float) -> str:
    """Colour of a self-sufficiency value on GREENS (0 .. 2 x threshold), linear between the stops."""
    t = min(max(v / (2 * thr), 0.0), 1.0) * (len(GREENS) - 1) if thr > 0 else 0.0
    i = min(int(t), len(GREENS) - 2)
    a, b = GREENS[i], GREENS[i + 1]
    mix = [round(int(a[k : k + 2], 16) * (1 - (t - i)) + int(b[k : k + 2], 16) * (t - i)) for k in (1, 3, 5)]
    return "#" + "".join(f"{c:02x}" for c in mix)


def _grid_boxes(
    rows: int, cols: int, top: float = 14, bottom: float = 10, left: float = 8, right: float = 3, hgap: float = 8, vgap: float = 16
) -> list[dict]:
    """ECharts grids (percent of the chart) in a rows x cols layout, row by row."""
    w = (100 - left - right - hgap * (cols - 1)) / cols
    h = (100 - top - bottom - vgap * (rows - 1)) / rows
    return [
        {
            "left": f"{left + c * (w + hgap):.1f}%",
            "top": f"{top + r * (h + vgap):.1f}%",
            "width": f"{w:.1f}%",
            "height": f"{h:.1f}%",
            "containLabel": False,
        }
        for r in range(rows)
        for c in range(cols)
    ]


# Fixed y-axes, so that two runs compare by eye: an axis reaches a scale set by the world (prices: PRICE_AXIS_REFERENCES
# times the stage's reference price; capacity: twice the bloc's largest stage at the start of the run) and grows,
# to a round number, only when a run's values go beyond it.
PRICE_AXIS_REFERENCES = 3.0


def _nice_ceiling(x: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k at or above x (x > 0)."""
    power = 10.0 ** math.floor(math.log10(x))
    return next(m * power for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * power >= x * (1 - 1e-9))


def _axis_max(fixed: float, values: np.ndarray) -> dict:
    """The max and tick interval of a value axis from 0: a fixed maximum, grown when the values go beyond it, rounded
    up to a whole number of round intervals (about three), so the top tick is the axis's end."""
    seen = float(np.nanmax(values, initial=0.0)) if values.size else 0.0
    top = max(fixed, seen, 1e-9)
    step = _nice_ceiling(top / 3.0)
    return {"max": round(step * math.ceil(top / step - 1e-9), 9), "interval": step}


def start_capacity_kt(model: ChainModel) -> np.ndarray:
    """(B,) kt/yr: each bloc's largest stage of operating capacity when the model was built (kept on the model)."""
    if not hasattr(model, "_start_capacity_kt"):
        T, pop = model.tables, model.pop
        live = pop.phase == Phase.OPERATING
        cap = np.zeros((T.B, T.S))
        np.add.at(cap, (pop.bloc[live], pop.stage[live]), pop.capacity_t[live] / 1000.0)
        model._start_capacity_kt = cap.max(axis=1)
    return model._start_capacity_kt


def capacity_option(model: ChainModel, ghost: Ghost | None = None) -> dict:
    """Operating capacity (kt/yr, top row) and self-sufficiency (bottom row) per bloc (columns), a line per stage; with
    a ghost, each line's ghost over the whole horizon (the axes reach it too)."""
    T = model.tables
    cap = series(model, "capacity_t") / 1000.0
    cap_scale = start_capacity_kt(model)
    ss = series(model, "self_sufficiency")
    ghosts = None if ghost is None else (ghost.series["capacity_t"] / 1000.0, ghost.series["self_sufficiency"])
    grids = _grid_boxes(2, T.B, top=16 if ghost is None else 23, bottom=9, left=6, hgap=9, vgap=17)
    xaxes, yaxes, out = [], [], []
    thr = model.world.independence_threshold
    for row, (values, unit) in enumerate(((cap, "kt/yr"), (ss, "self-suff."))):
        for b, bloc in enumerate(T.blocs):
            i = row * T.B + b
            xaxes.append(_time_axis(model, i, show=row == 1, every_years=15))
            name = f"{bloc_name(bloc)}, {unit}"
            seen = cap[:, b, :] if ghosts is None else np.append(cap[:, b, :], ghosts[0][:, b, :])
            scale = {"max": 2.0, "interval": 0.5} if row == 1 else _axis_max(2.0 * cap_scale[b], seen)
            yaxes.append(_value_axis(i, name, **scale, name_style={"color": bloc_colour(bloc, b)}))
            for s, stage in enumerate(T.stages):
                line = {
                    "type": "line",
                    "name": stage,
                    "xAxisIndex": i,
                    "yAxisIndex": i,
                    "showSymbol": False,
                    "color": STAGE_COLOURS[s % 4],
                    "data": [_f(v) for v in values[:, b, s]],
                }
                if row == 1 and s == 0:
                    line["markLine"] = {
                        "silent": True,
                        "symbol": "none",
                        "data": [{"yAxis": thr}],
                        "lineStyle": {"color": "#000", "type": "dashed"},
                        "label": {"show": False},
                    }
                out.append(line)
                if ghosts is not None:
                    out.append(_ghost_line(line, ghosts[row][:, b, s], 4, ghost.label))
    legend: dict | list = {"data": list(T.stages), "top": 0, "right": 0, "textStyle": TEXT}
    if ghost is not None:  # the ghost's entry on a row of its own
        ghost_legend, carrier = _ghost_legend(ghost.label, GHOST_LEGEND_TOP)
        legend = [legend, ghost_legend]
        out.insert(0, carrier)
    return _option(grid=grids, xAxis=xaxes, yAxis=yaxes, series=out, legend=legend, tooltip={"trigger": "axis"})


def _intervals(on: np.ndarray, x: list[str]) -> list[tuple[str, str]]:
    """(first, last) quarter names of the runs of True in a quarterly flag."""
    out, start = [], None
    for q, flag in enumerate(on):
        if flag and start is None:
            start = x[q]
        if not flag and start is not None:
            out.append((start, x[q - 1]))
            start = None
    if start is not None:
        out.append((start, x[len(on) - 1]))
    return out


def prices_option(model: ChainModel, ghost: Ghost | None = None) -> dict:
    """Price index by bloc, a panel per stage (two by two); shaded while an exporter's sales there are controlled; the
    West's price floor (its policy's, or its later policy's when the scenario switches it) as a dashed line, which the
    axis reaches; with a ghost, each bloc's ghost price over the whole horizon (the axes reach it too)."""
    T = model.tables
    price = series(model, "price_usd_per_kg")
    ghost_price = None if ghost is None else ghost.series["price_usd_per_kg"]
    ctrl = series(model, "export_controlled")
    names = quarter_names(model)
    rows = (T.S + 1) // 2
    grids = _grid_boxes(rows, 2, top=16 if ghost is None else 23, bottom=9, left=9, hgap=12, vgap=17)
    floors = dict(west_target(model.cfg)[2].instruments.price_floor_usd_per_kg) if "west" in model.cfg.policy else {}
    xaxes, yaxes, out = [], [], []
    for s, stage in enumerate(T.stages):
        xaxes.append(_time_axis(model, s, show=s >= T.S - 2))
        seen = [price[:, :, s].ravel(), [floors.get(stage, 0.0)]] + ([] if ghost_price is None else [ghost_price[:, :, s].ravel()])
        scale = _axis_max(PRICE_AXIS_REFERENCES * T.reference_price_usd_per_kg[s], np.concatenate(seen))
        yaxes.append(_value_axis(s, f"{stage}, USD/kg", **scale))
        cut = _intervals(ctrl[:, :, s].max(axis=1) > 0, names)
        for b, bloc in enumerate(T.blocs):
            line = {
                "type": "line",
                "name": bloc_name(bloc),
                "xAxisIndex": s,
                "yAxisIndex": s,
                "showSymbol": False,
                "color": bloc_colour(bloc, b),
                "data": [_f(v, 2) for v in price[:, b, s]],
            }
            floor = floors.get(stage) if bloc == "west" else None
            if floor:  # the Western price floor of this stage: a dashed line in the West's colour
                line["markLine"] = {
                    "silent": True,
                    "symbol": "none",
                    "data": [{"yAxis": floor}],
                    "lineStyle": {"color": bloc_colour(bloc, b), "type": "dashed", "width": 2},
                    "label": {"formatter": "West floor", "position": "insideEndTop", **TEXT, "color": bloc_colour(bloc, b)},
                }
            if b == 0 and cut:
                line["markArea"] = {
                    "silent": True,
                    "itemStyle": {"color": "rgba(214,39,40,0.15)"},
                    "data": [[{"xAxis": a}, {"xAxis": e}] for a, e in cut],
                }
            out.append(line)
            if ghost_price is not None:
                out.append(_ghost_line(line, ghost_price[:, b, s], 2, ghost.label))
    legend: dict | list = {"data": [bloc_name(b) for b in T.blocs], "top": 0, "right": 0, "textStyle": TEXT}
    if ghost is not None:  # the ghost's entry on a row of its own
        ghost_legend, carrier = _ghost_legend(ghost.label, GHOST_LEGEND_TOP)
        legend = [legend, ghost_legend]
        out.insert(0, carrier)
    return _option(grid=grids, xAxis=xaxes, yAxis=yaxes, series=out, legend=legend, tooltip={"trigger": "axis"})


def pyramid_option(model: ChainModel) -> dict:
    """Per bloc that awards titles: the pyramid of titles now (left) and titled firms over time (right)."""
    counts = tier_counts(model)
    if not counts:
        return _no_titles_option()
    grids, xaxes, yaxes, out = [], [], [], []
    rows = len(counts)
    boxes = _grid_boxes(rows, 2, top=14, bottom=26, left=3, hgap=12, vgap=20)
    for r, (bloc, arr) in enumerate(counts.items()):
        left, right = boxes[2 * r], boxes[2 * r + 1]
        left["width"] = "38%"
        right["left"], right["width"] = "53%", "44%"
        grids += [left, right]
        now = arr[-1] if len(arr) else np.zeros(4)
        widest = max(float(arr.max(initial=0.0)), 1.0)
        i, j = 2 * r, 2 * r + 1
        xaxes += [{"type": "value", "gridIndex": i, "min": 0, "max": widest, "show": False}, _time_axis(model, j, every_years=15)]
        named_only = {"axisLine": {"show": False}, "axisTick": {"show": False}, "axisLabel": {"show": False}, "splitLine": {"show": False}}
        pyramid_axis = _value_axis(i, f"{bloc_name(bloc)}: titles now", type="category", data=list(TIER_LABELS), **named_only)
        pyramid_axis.pop("min"), pyramid_axis.pop("splitNumber")
        yaxes += [pyramid_axis, _value_axis(j, "titled firms")]
        out += _pyramid_bars(r, i, now, widest)
        out += _titles_over_time(r, j, arr)
    legend = {"data": list(TIER_LABELS), "bottom": 0, "left": "center", "textStyle": TEXT}
    return _option(grid=grids, xAxis=xaxes, yAxis=yaxes, series=out, legend=legend, tooltip={"trigger": "axis"})


def _no_titles_option() -> dict:
    """The pyramid view when no bloc awards titles: a line of text."""
    text = "No bloc awards titles in this run\n(China's policy is not 'coordinated' with tiers)"
    style = {"text": text, "fontSize": FONT, "textAlign": "center", "fill": "#444", "lineHeight": 22}
    return _option(graphic=[{"type": "text", "left": "center", "top": "middle", "style": style}])


def _pyramid_bars(r: int, i: int, now: np.ndarray, widest: float) -> list[dict]:
    """The pyramid of titles now in grid ``i``: a transparent bar that centres each tier's bar, then the bar
    (the count beside it; the legend names the tiers)."""
    stack = {"type": "bar", "stack": f"pyr{r}", "xAxisIndex": i, "yAxisIndex": i}
    spacer = dict(stack, silent=True, itemStyle={"color": "transparent"}, data=[_f((widest - v) / 2) for v in now])
    bars = dict(
        stack,
        name="titles now",
        barWidth="80%",
        data=[{"value": _f(v), "itemStyle": {"color": TIER_COLOURS[k], "borderColor": "#333"}} for k, v in enumerate(now)],
        label={"show": True, "position": "inside", "formatter": "{c}", **TEXT, "color": "#000", "textBorderColor": "#fff", "textBorderWidth": 2},
    )
    return [spacer, bars]


def _titles_over_time(r: int, j: int, arr: np.ndarray) -> list[dict]:
    """Titled firms per tier over time in grid ``j``, stacked areas."""
    return [
        {
            "type": "line",
            "name": label,
            "stack": f"time{r}",
            "xAxisIndex": j,
            "yAxisIndex": j,
            "showSymbol": False,
            "color": TIER_COLOURS[k],
            "areaStyle": {"opacity": 0.9},
            "lineStyle": {"width": 0.5},
            "data": [_f(v) for v in arr[:, k]],
        }
        for k, label in enumerate(TIER_LABELS)
    ]


def timeline_option(model: ChainModel, ghost: Ghost | None = None) -> dict:
    """Self-sufficiency of every bloc and stage per quarter, filled in as the run goes, with markers at the first
    output of a new plant (triangle) and at independence (star, labelled with the year); with a ghost, a hollow dashed
    star where each row became independent in the ghost's run (over the whole horizon)."""
    T, w = model.tables, model.world
    thr = w.independence_threshold
    rows = [f"{bloc_name(bloc, short=True)} {stage}" for bloc in T.blocs for stage in T.stages]
    firsts, stars = _timeline_markers(model)
    x = _time_axis(model, 0)
    x.update(boundaryGap=True, splitArea={"show": False})  # a heatmap's cells sit between the ticks
    y = {"type": "category", "data": rows, "inverse": True, "axisLabel": {**TEXT, "fontWeight": "bold"}}
    # with a ghost, its stars and its entry on the legend's one row (a second row left too few px for the rows at
    # 1280 x 720), the triangles' entry shortened to make room
    first = "first output of a new plant" if ghost is None else "first output"
    extra = [] if ghost is None else [_ghost_stars(model, ghost)]
    return _option(
        grid={"left": 140, "right": 16, "top": 34, "bottom": 70},
        xAxis=x,
        yAxis=y,
        visualMap={
            "min": 0,
            "max": 2 * thr,
            "calculable": False,
            "orient": "horizontal",
            "left": "center",
            "bottom": 0,
            "itemHeight": 120,
            "itemWidth": 16,
            "text": [f"{2 * thr:g}+", "self-sufficiency 0"],
            "textStyle": TEXT,
            "inRange": {"color": list(GREENS)},
            "seriesIndex": 0,
        },
        legend={"data": [first, "independence"] + [s["name"] for s in extra], "top": 0, "textStyle": TEXT},
        series=[
            _timeline_heatmap(model),
            {
                "type": "scatter",
                "name": first,
                "symbol": "triangle",
                "symbolSize": 12,
                "itemStyle": {"color": "#000"},
                "data": firsts,
            },
            {
                "type": "scatter",
                "name": "independence",
                "symbol": STAR,
                "symbolSize": 18,
                "itemStyle": {"color": "#ffb000", "borderColor": "#000"},
                "data": stars,
            },
            *extra,
        ],
        tooltip={"show": True},
    )


def _ghost_stars(model: ChainModel, ghost: Ghost) -> dict:
    """Hollow dashed stars at the quarters where the ghost's rows became independent (under the run's own stars)."""
    T = model.tables
    data = [
        [model.quarter_index(year), b * T.S + s]
        for b, bloc in enumerate(T.blocs)
        for s, stage in enumerate(T.stages)
        if (year := ghost.timeline.get(bloc, {}).get(stage, {}).get("independence")) is not None
    ]
    return {
        "type": "scatter",
        "name": ghost.label,
        "symbol": STAR,
        "symbolSize": 18,
        "z": 1,
        "silent": True,
        "itemStyle": {"color": "rgba(255,255,255,0.6)", "borderColor": "#555", "borderType": "dashed", "borderWidth": 1.5},
        "data": data,
    }


def _timeline_heatmap(model: ChainModel) -> dict:
    """The heatmap series: a cell per quarter and bloc-stage row (self-sufficiency, capped at twice the threshold),
    with a dotted line where timelines are counted from when that is after the start."""
    T, w = model.tables, model.world
    ss = series(model, "self_sufficiency")
    thr = w.independence_threshold
    cells = [
        [q, b * T.S + s, _f(min(max(ss[q, b, s], 0.0), 2 * thr), 3)]
        for q in range(ss.shape[0])
        for b in range(T.B)
        for s in range(T.S)
        if math.isfinite(ss[q, b, s])
    ]
    heat = {"type": "heatmap", "name": "self-sufficiency", "data": cells, "itemStyle": {"borderWidth": 0}}
    ref = w.timeline_reference_year
    if ref is not None and ref > w.start_year:
        heat["markLine"] = {
            "silent": True,
            "symbol": "none",
            "data": [{"xAxis": model.quarter_index(ref)}],
            "lineStyle": {"color": "#000", "type": "dotted", "width": 2},
            "label": {"show": False},
        }
    return heat


def _timeline_markers(model: ChainModel) -> tuple[list, list]:
    """The first-output triangles and the independence stars (labelled with the year) reached so far; a star in the
    last quarter of the horizon has its year on its left, inside the chart."""
    T = model.tables
    firsts, stars = [], []
    tl = timeline(model)
    for b, bloc in enumerate(T.blocs):
        for s, stage in enumerate(T.stages):
            cell = tl[bloc][stage]
            if cell["first_output"] is not None:
                firsts.append([model.quarter_index(cell["first_output"]), b * T.S + s])
            if cell["independence"] is not None:
                q = model.quarter_index(cell["independence"])
                label = {
                    "show": True,
                    "position": "left" if q > 0.75 * model.n_steps else "right",
                    "formatter": f"{cell['independence']:.0f}",
                    **TEXT,
                    "textBorderColor": "#fff",
                    "textBorderWidth": 3,
                }
                stars.append({"value": [q, b * T.S + s], "label": label})
    return firsts, stars


def chain_option(model: ChainModel) -> dict:
    """The chain: a box per stage and bloc (coloured by self-sufficiency, with capacity and price), the flow down
    each bloc's chain, and trade between blocs at each stage (width ~ flow, the flow on hover); a controlled
    exporter's flows red and dashed, with a ✕ under its box."""
    nodes, links = _chain_boxes(model)
    cut_nodes, trade = _trade_links(model)
    T = model.tables
    # the boxes on a hidden grid (stages 0..S-1 across, blocs 0..B-1 down): on a grid a symbol keeps its size in
    # px, where the graph's own layout stretched the boxes with the chart's shape. The margins in px hold the
    # title and half a box above, the bloc names and half a box on the left, half a box right and below.
    w, h = CHAIN_BOX
    grid = {"left": 30 + w // 2, "right": 4 + w // 2, "top": 30 + h // 2, "bottom": 4 + h // 2}
    hidden = {"type": "value", "show": False, "min": 0}
    return _option(
        title={"text": f"The chain in {quarter_label(model)}", "left": "center", "top": 0, "textStyle": {**TEXT, "fontWeight": "bold"}},
        tooltip={"show": True},
        grid=grid,
        xAxis=dict(hidden, max=T.S - 1),
        yAxis=dict(hidden, max=T.B - 1, inverse=True),
        series=[
            {
                "type": "graph",
                "coordinateSystem": "cartesian2d",
                "data": nodes + cut_nodes,
                "links": links + trade,
                "edgeSymbol": ["none", "arrow"],
                "edgeSymbolSize": 8,
                "edgeLabel": {"show": False},
            }
        ],
    )


CHAIN_BOX = (100, 66)  # px: a stage's box (three lines of text at FONT px)


def _chain_boxes(model: ChainModel) -> tuple[list[dict], list[dict]]:
    """Per bloc: its name beside its row, a box per stage (self-sufficiency colour, capacity, price) and the links
    down its chain."""
    T = model.tables
    ss = series(model, "self_sufficiency")
    cap = series(model, "capacity_t")
    price = series(model, "price_usd_per_kg")
    thr = model.world.independence_threshold
    started = cap.shape[0] > 0
    nodes, links = [], []
    for b, bloc in enumerate(T.blocs):
        colour = bloc_colour(bloc, b)
        # the bloc's name: an invisible point left of its first box, the name rotated beside the box
        label = {"show": True, "position": "left", "distance": CHAIN_BOX[0] // 2 + 3, **TEXT, "fontWeight": "bold", "color": colour, "rotate": 90}
        nodes.append(
            {
                "name": bloc,
                "value": [0, b],
                "symbolSize": 1,
                "itemStyle": {"color": "transparent"},
                "label": dict(label, formatter=bloc_name(bloc, short=True), align="center", verticalAlign="bottom"),
                "tooltip": {"formatter": bloc_name(bloc)},
            }
        )
        for s, stage in enumerate(T.stages):
            v = float(ss[-1, b, s]) if started and math.isfinite(ss[-1, b, s]) else 0.0
            text = f"{{b|{stage}}}\n{cap[-1, b, s] / 1000:.1f} kt/yr\n{price[-1, b, s]:.0f} USD/kg" if started else f"{{b|{stage}}}\nnot started"
            ink = "#000" if v < 1.2 * thr else "#fff"
            nodes.append(
                {
                    "name": f"{bloc}:{stage}",
                    "value": [s, b],
                    "symbol": "roundRect",
                    "symbolSize": list(CHAIN_BOX),
                    "itemStyle": {"color": _green(v, thr), "borderColor": colour, "borderWidth": 3},
                    "tooltip": {"formatter": f"{bloc_name(bloc)}, {stage}: self-sufficiency {v:.2f}"},
                    "label": {
                        "show": True,
                        "formatter": text,
                        **TEXT,
                        "color": ink,
                        "lineHeight": 19,
                        "rich": {"b": {**TEXT, "color": ink, "fontWeight": "bold", "lineHeight": 19}},
                    },
                }
            )
            if s + 1 < T.S:
                down = {"color": "#666", "width": 2, "curveness": 0}
                links.append({"source": f"{bloc}:{stage}", "target": f"{bloc}:{T.stages[s + 1]}", "lineStyle": down, "tooltip": {"show": False}})
    return nodes, links


def _trade_links(model: ChainModel) -> tuple[list[dict], list[dict]]:
    """Trade between blocs at each stage in the last quarter (width ~ flow, kt/yr on hover), a controlled exporter's
    red and dashed; and a ✕ under the box of each exporter and stage under an export control (one mark per box, so
    marks never sit on each other as labels on the arrows did)."""
    T = model.tables
    ctrl = series(model, "export_controlled")
    started = ctrl.shape[0] > 0
    flows = model.recorder.trade_t * 4.0 / 1000.0  # kt/yr, supplier bloc (axis 0) to buyer bloc (axis 1)
    biggest = max(float(flows.max(initial=0.0)), 1e-9)
    marks, links = [], []
    for s, stage in enumerate(T.stages):
        for c in range(T.B):
            controlled = bool(started and ctrl[-1, c, s] > 0)
            if controlled:
                marks.append(
                    {
                        "name": f"cut:{T.blocs[c]}:{stage}",
                        "value": [s, c + 0.5],
                        "symbolSize": 1,
                        "itemStyle": {"color": "transparent"},
                        "label": {"show": True, "position": "inside", "formatter": "✕", **TEXT, "color": CUT, "fontWeight": "bold"},
                        "tooltip": {"formatter": f"{bloc_name(T.blocs[c])}'s {stage} exports under an export control"},
                    }
                )
            for b in range(T.B):
                f = float(flows[c, b, s])
                if c == b or (f <= 1e-6 and not controlled):
                    continue
                links.append(
                    {
                        "source": f"{T.blocs[c]}:{stage}",
                        "target": f"{T.blocs[b]}:{stage}",
                        "value": _f(f, 2),
                        "lineStyle": {
                            "color": CUT if controlled else "#333",
                            "width": 1.0 + 6 * f / biggest,
                            "type": "dashed" if controlled else "solid",
                            # the bow grows with the arrow's length: flatter across two rows, so it stays in the chart
                            "curveness": 0.25 / abs(b - c) ** 0.8,
                        },
                        "tooltip": {
                            "formatter": f"{bloc_name(T.blocs[c])} to {bloc_name(T.blocs[b])}, {stage}: {f:.1f} kt/yr"
                            + (" (export control)" if controlled else "")
                        },
                    }
                )
    return marks, links


DEFAULT_PANELS = ("chain", "timeline")  # beside the scenario's question when no preset is chosen
CHART_HEIGHT_PX = 420  # the panels below the first screen

VIEWS = {"chain": chain_option, "timeline": timeline_option, "capacity": capacity_option, "prices": prices_option, "pyramid": pyramid_option}

CAPTIONS = {
    "chain": (
        "**The chain.** Each box is one stage in one bloc, with its capacity and price; the greener, the more of "
        "the bloc's own magnet demand that stage could cover. Grey arrows carry material down the chain; curved "
        "arrows are trade between the blocs (thicker = more; point at one for its tonnes per year). Red dashed "
        "arrows are under an export control, with a ✕ under the exporter's box."
    ),
    "timeline": (
        "**Mine-to-magnet timeline.** One row per bloc and stage (RoW: rest of the world), filled in quarter by "
        "quarter: the darker the green, the more of the bloc's magnets that stage could supply. ▲ marks the first "
        "output of a new plant, ★ the year the stage became independent (half of the bloc's needs or more, for a "
        "full year); a dotted line, where there is one, the year timelines are counted from."
    ),
    "capacity": (
        "**Capacity and self-sufficiency.** Top: how much each stage can produce per year. Bottom: the share "
        "of the bloc's magnet demand its own plants cover at that stage; above the dashed line counts as "
        "independent."
    ),
    "prices": (
        "**Prices by bloc.** What a kilogram costs in each bloc at each stage. Red shading: an export control "
        "is in force there; a gap opening between the lines is the price of being cut off. A dashed blue line is "
        "the West's price floor, where it has one."
    ),
    "pyramid": (
        "**Designation pyramid.** Left: how many firms hold each title now. Right: the same over time. "
        "Titles bring grants, tax relief, cheap credit and a procurement preference while the firm keeps "
        "meeting the criteria; they are reviewed every three years."
    ),
}


# --------------------------------------------------------------------------
# Serving (make app, tests/test_app.py, benchmarks/bench_app.py)
# --------------------------------------------------------------------------
ROOT = CONF_DIR.parent
CHROMIUM = "/usr/bin/chromium"  # Debian's chromium (apt-get install chromium): the browser of the browser test
# Chromium with no network but this machine: every host name but localhost fails to resolve, and anything
# not on the loopback goes to a proxy that does not exist.
OFFLINE_CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost",
    "--proxy-server=http://127.0.0.1:9",
)  # loopback bypasses a proxy by default


def server_env() -> dict[str, str]:
    """Environment of the app server: no telemetry (the page must not need the internet)."""
    import os

    env = dict(os.environ)
    env["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] = "False"
    env.pop("HYDRA_FULL_ERROR", None)
    return env


def server_command(port: int, host: str = "localhost") -> list[str]:
    """``solara run`` of sim/classroom/app.py in production mode, without its version check (no internet)."""
    import sys

    return [
        sys.executable,
        "-m",
        "solara",
        "run",
        str(ROOT / "sim" / "classroom" / "app.py"),
        "--production",
        "--host",
        host,
        "--port",
        str(port),
        "--no-open",
        "--no-check-version",
    ]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int | None = None, timeout_s: float = 60.0, log=None):
    """Start the app on localhost; returns (process, url) once it answers. The caller stops the process."""
    import subprocess
    import time
    import urllib.request

    port = port or free_port()
    url = f"http://localhost:{port}"
    proc = subprocess.Popen(  # a session of its own: stop_server stops the server and the run processes it spawned (SeedRuns)
        server_command(port),
        cwd=ROOT,
        env=server_env(),
        stdout=log or subprocess.DEVNULL,
        stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the app server exited with code {proc.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.3)
    stop_server(proc)
    raise RuntimeError(f"the app server did not answer at {url} within {timeout_s:g} s")


def stop_server(proc) -> None:
    """Stop a server of :func:`start_server` and every process it started (the lessons' run processes, which would
    otherwise outlive it): SIGTERM to its process group, SIGKILL to what is left after 10 s."""
    import os
    import signal
    import subprocess

    def signal_group(sig) -> None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:  # the group is gone
            pass

    signal_group(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        signal_group(signal.SIGKILL)
        proc.wait(timeout=10)
    signal_group(signal.SIGKILL)  # children that outlived the server (a run process blocked on its pipe)
