"""Shared data for the configuration tests (test_config.py, test_cli.py).

* :data:`BAD_CONFIGS`: every bad-config case of the issue (unknown key, wrong type, negative
  capacity, probability above 1, a stage or bloc name the world does not define, a missing config
  file) as command-line overrides, with the key the one-line message must name and fragments of
  what is allowed that it must contain.
* :func:`range_fields`: every field of a composed config that carries a range (``min``/``max``
  metadata in sim/config.py or in a scenario event's parameter dataclass), with its path, so that
  tests can set just-outside values without going through Hydra.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import pytest

STAGES = ("mining", "separation", "metal", "magnet")
BLOCS = ("china", "west", "rest_of_world")
EC = "scenario=export_control_shock"
EC_EVENT = "scenario.events.licensing_2025"


@dataclass(frozen=True)
class BadConfig:
    id: str
    overrides: tuple[str, ...]
    key: str  # the key the message must name (exactly, as in "config error at '<key>'")
    fragments: tuple[str, ...]  # what the message must also say (what is allowed)
    reason: str = ""  # non-empty: a known bug, the case is expected to fail (strict xfail)

    def param(self, slow: bool = False):
        marks = [pytest.mark.xfail(strict=True, reason=self.reason)] if self.reason else []
        if slow:
            marks.append(pytest.mark.slow)
        return pytest.param(self, id=self.id, marks=marks)


# The cases tests/test_cli.py runs through ``python -m sim`` by default (about 0.6 s each): at least one of
# each kind of mistake in the issue, and the known bugs. The others run there with ``-m slow``.
CLI_DEFAULT = {
    "unknown-top-level",
    "unknown-nested",
    "unknown-event-parameter",
    "type-seed-str",
    "type-float-field",
    "type-list-expected",
    "negative-capacity",
    "probability-investor-appetite",
    "probability-licensed-share",
    "cohort-unknown-stage",
    "cohort-unknown-bloc",
    "export-control-unknown-exporter",
    "export-control-unknown-stage",
    "missing-world-file",
    "missing-scenario-file",
    "override-unknown-bloc",
    "new-cohort-unknown-bloc",
}


_MARKET_KEYS = ("logit_beta", "price_adjustment", "rationing_rounds", "same_group_discount")
BAD_CONFIGS: list[BadConfig] = [
    # ---- unknown keys
    BadConfig("unknown-top-level", ("foo=1",), "foo", ("unknown key", "seed", "years", "world", "scenario", "output")),
    BadConfig("unknown-top-level-append", ("+foo=1",), "foo", ("unknown key", "seed", "years", "world")),
    BadConfig("unknown-nested", ("world.markets.foo=1",), "world.markets.foo", ("unknown key",) + _MARKET_KEYS),
    BadConfig("unknown-nested-append", ("+world.markets.foo=1",), "world.markets.foo", ("unknown key",) + _MARKET_KEYS),
    BadConfig(
        "append-existing-key",
        ("+world.markets.logit_beta=5",),
        "world.markets.logit_beta",
        ("already set", "world.markets.logit_beta=5", "without '+'"),
    ),
    BadConfig(
        "new-entry-in-open-map-without-plus",
        ("policy.china.designation.quota_per_year={little_giant:6}",),
        "policy.china.designation.quota_per_year",
        (
            "cannot add little_giant",
            "+policy.china.designation.quota_per_year={little_giant:6}",
            "+policy.china.designation.quota_per_year.little_giant=6",
        ),
    ),
    BadConfig(
        "tier-first-year-unknown-tier",
        ("+policy.china.designation.tier_first_year.innovation=2022",),
        "policy.china.designation.tier_first_year",
        ("unknown tier 'innovation'", "innovation_type", "srdi", "little_giant"),
    ),
    BadConfig(
        "tier-first-year-out-of-range",
        ("+policy.china.designation.tier_first_year.innovation_type=22",),
        "policy.china.designation.tier_first_year.innovation_type",
        ("whole year between 1900 and 2200", "22"),
    ),
    BadConfig(
        "unknown-in-bloc",
        ("world.blocs.china.foo=1",),
        "world.blocs.china.foo",
        ("unknown key", "base_rate", "investor_appetite", "demand_t_per_year"),
    ),
    BadConfig(
        "unknown-in-cohort", ("world.firms.cn_mining_north.foo=1",), "world.firms.cn_mining_north.foo", ("unknown key", "bloc", "stage", "capacity_t")
    ),
    BadConfig("unknown-output-key", ("output.folder=x",), "output.folder", ("unknown key", "root", "dir", "firm_panel", "write")),
    BadConfig(
        "unknown-event-parameter", (EC, f"+{EC_EVENT}.foo=1"), f"{EC_EVENT}.foo", ("unknown parameter", "exporter", "stages", "licensed_share")
    ),
    # ---- wrong types
    BadConfig("type-seed-str", ("seed=abc",), "seed", ("abc", "Integer")),
    BadConfig("type-years-float", ("years=1.5",), "years", ("1.5", "Integer")),
    BadConfig("type-progress", ("progress=maybe",), "progress", ("maybe", "bool")),
    BadConfig("type-float-field", ("world.markets.logit_beta=abc",), "world.markets.logit_beta", ("abc", "Float")),
    BadConfig("type-int-field", ("world.markets.rationing_rounds=2.5",), "world.markets.rationing_rounds", ("2.5", "Integer")),
    BadConfig("type-cohort-count", ("world.firms.cn_mining_north.count=many",), "world.firms.cn_mining_north.count", ("many", "Integer")),
    BadConfig("type-list-expected", ("world.firms.cn_mining_north.capacity_t=5",), "world.firms.cn_mining_north.capacity_t", ("list",)),
    BadConfig("type-group-replaced", ("world.markets=3",), "world.markets", ("a mapping of markets settings {logit_beta", "got the number 3")),
    BadConfig("type-event-parameter", (EC, f"{EC_EVENT}.licensed_share=abc"), f"{EC_EVENT}.licensed_share", ("abc", "Float")),
    # ---- negative capacity and other ranges
    BadConfig("negative-capacity", ("world.firms.cn_mining_north.capacity_t=[-1000,5000]",), "world.firms.cn_mining_north.capacity_t[0]", (">= 0",)),
    BadConfig("negative-plant-size", ("world.stages.magnet.plant_size_t=[-500,5000]",), "world.stages.magnet.plant_size_t[0]", (">= 0",)),
    BadConfig("negative-count", ("world.firms.west_magnet_us.count=-2",), "world.firms.west_magnet_us.count", (">= 0",)),
    BadConfig(
        "project-first-output-before-start",
        ("+world.firms.west_magnet_us.first_output_year=2014",),
        "world.firms.west_magnet_us.first_output_year",
        ("after world.start_year", "2015", "null"),
    ),
    BadConfig(
        "capacity-low-above-high",
        ("world.firms.cn_mining_north.capacity_t=[9000,5000]",),
        "world.firms.cn_mining_north.capacity_t",
        ("low must not exceed high",),
    ),
    BadConfig("years-zero", ("years=0",), "years", (">= 1",)),
    BadConfig("seed-negative", ("seed=-1",), "seed", (">= 0",)),
    # ---- probability above 1
    BadConfig("probability-investor-appetite", ("world.blocs.west.investor_appetite=1.5",), "world.blocs.west.investor_appetite", ("<= 1",)),
    BadConfig("probability-review", ("world.investment.review_probability=1.01",), "world.investment.review_probability", ("<= 1",)),
    BadConfig("probability-mandate", ("world.buyers.west_defence.domestic_mandate=2",), "world.buyers.west_defence.domestic_mandate", ("<= 1",)),
    BadConfig("probability-licensed-share", (EC, f"{EC_EVENT}.licensed_share=1.2"), f"{EC_EVENT}.licensed_share", ("<= 1",)),
    # ---- names the world does not define
    BadConfig("cohort-unknown-stage", ("world.firms.cn_mining_north.stage=smelting",), "world.firms.cn_mining_north.stage", ("smelting",) + STAGES),
    BadConfig("cohort-unknown-bloc", ("world.firms.west_magnet_us.bloc=mars",), "world.firms.west_magnet_us.bloc", ("mars",) + BLOCS),
    BadConfig(
        "recommendation-unknown-rounding",
        ("policy.china.designation.provincial_recommendation.rounding=down",),
        "policy.china.designation.provincial_recommendation.rounding",
        ("down", "up", "carry"),
    ),
    BadConfig(
        "cohort-unknown-region",
        ("world.firms.west_magnet_us.region=mars",),
        "world.firms.west_magnet_us.region",
        ("mars", "us", "eu", "australia", "japan"),
    ),
    BadConfig(
        "cohort-unknown-group",
        ("world.firms.cn_mining_north.group=nope",),
        "world.firms.cn_mining_north.group",
        ("nope", "northern_group", "southern_group"),
    ),
    BadConfig("buyer-unknown-bloc", ("world.buyers.west_ev.bloc=mars",), "world.buyers.west_ev.bloc", ("mars",) + BLOCS),
    BadConfig("group-unknown-bloc", ("world.groups.northern_group.bloc=mars",), "world.groups.northern_group.bloc", ("mars",) + BLOCS),
    BadConfig("export-control-unknown-exporter", (EC, f"{EC_EVENT}.exporter=mars"), f"{EC_EVENT}.exporter", ("mars",) + BLOCS),
    BadConfig("export-control-unknown-stage", (EC, f"{EC_EVENT}.stages=[metal,smelting]"), f"{EC_EVENT}.stages", ("smelting",) + STAGES),
    BadConfig("export-control-before-run", (EC, f"{EC_EVENT}.start_year=2010"), f"{EC_EVENT}.start_year", ("2015", "2010")),
    BadConfig("unknown-event-kind", ("+scenario.events.x={kind:embargo,start_year:2016}",), "scenario.events.x.kind", ("embargo", "export_control")),
    # a bloc or stage name used as a key of the world's maps
    BadConfig("override-unknown-bloc", ("world.blocs.mars.investor_appetite=0.5",), "world.blocs.mars", ("unknown",) + BLOCS),
    BadConfig("override-unknown-stage", ("world.stages.smelting.learning_rate=0.1",), "world.stages.smelting", ("unknown",) + STAGES),
    BadConfig(
        "override-unknown-bloc-stage",
        ("world.blocs.china.stages.smelting.capex_musd_per_kt=1",),
        "world.blocs.china.stages.smelting",
        ("unknown",) + STAGES,
    ),
    BadConfig(
        "new-cohort-unknown-bloc",
        ("+world.firms.new_mine={bloc:mars,stage:mining,region:us,count:1,capacity_t:[1000,2000]}",),
        "world.firms.new_mine.bloc",
        ("mars",) + BLOCS,
    ),
    # ---- demand and procurement maps (world.demand, world.procurement: sim/config _check_demand_and_procurement)
    BadConfig(
        "stockpile-unknown-bloc",
        ("+world.demand.stockpile_quarters.mars=1.0",),
        "world.demand.stockpile_quarters.mars",
        ("unknown bloc 'mars'",) + BLOCS,
    ),
    BadConfig("stockpile-negative", ("world.demand.stockpile_quarters.china=-1",), "world.demand.stockpile_quarters.china", ("[0, 8]", "got -1")),
    BadConfig(
        "stockpile-not-a-number", ("world.demand.stockpile_quarters.west=lots",), "world.demand.stockpile_quarters.west", ("[0, 8]", "got 'lots'")
    ),
    BadConfig(
        "initial-premium-above-max",
        ("world.procurement.security_premium_max=0.5", "world.procurement.initial_security_premium.west.china=0.6"),
        "world.procurement.initial_security_premium.west.china",
        ("security_premium_max = 0.5", "got 0.6"),
    ),
    BadConfig(
        "initial-premium-own-bloc",
        ("+world.procurement.initial_security_premium.west.west=0.1",),
        "world.procurement.initial_security_premium.west.west",
        ("'west'", "another bloc", "china"),
    ),
    BadConfig(
        "initial-premium-not-a-map",
        ("world.procurement.initial_security_premium.west=0.1",),
        "world.procurement.initial_security_premium.west",
        ("must map origin blocs to premiums", "got 0.1"),
    ),
    BadConfig(
        "initial-premium-unknown-bloc",
        ("+world.procurement.initial_security_premium.mars={china:0.1}",),
        "world.procurement.initial_security_premium.mars",
        ("unknown bloc 'mars'",) + BLOCS,
    ),
    BadConfig(
        "initial-premium-new-bloc-without-plus",
        ("world.procurement.initial_security_premium.china={west:0.1}",),
        "world.procurement.initial_security_premium.china",
        ("+world.procurement.initial_security_premium.china=VALUE",),
    ),
    BadConfig("substitution-max-above-1", ("world.demand.substitution_max=1.5",), "world.demand.substitution_max", ("<= 1", "1.5")),
    BadConfig("elasticity-negative", ("world.demand.short_run_elasticity=-1",), "world.demand.short_run_elasticity", (">= 0", "-1")),
    BadConfig(  # was: accepted, and every timeline counted about 120 years
        "timeline-reference-before-start",
        ("world.timeline_reference_year=1900",),
        "world.timeline_reference_year",
        ("from world.start_year (2015) to 2215", "null", "1900"),
    ),
    BadConfig("timeline-reference-not-a-year", ("world.timeline_reference_year=1e9",), "world.timeline_reference_year", ("to 2215", "1000000000")),
    # ---- missing config files
    BadConfig("missing-world-file", ("world=nope",), "world", ("nope", "rare_earth_2015")),
    BadConfig("missing-scenario-file", ("scenario=nope",), "scenario", ("nope", "laissez_faire", "export_control_shock")),
]


# --------------------------------------------------------------------------
# Fields with a range
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class RangeField:
    key: str  # dotted path as ConfigError names it, e.g. "world.blocs.china.base_rate"
    path: tuple  # steps from the Config: ("attr", name) | ("item", key) | ("index", i)
    lo: float | None
    hi: float | None
    is_int: bool
    is_list: bool  # a list of numbers (a [low, high] pair or e.g. Beta parameters)


def _walk(obj: Any, path: tuple, key: str, out: list[RangeField]) -> None:
    for fld in dataclasses.fields(obj):
        value = getattr(obj, fld.name)
        p = path + (("attr", fld.name),)
        k = f"{key}.{fld.name}" if key else fld.name
        lo, hi = fld.metadata.get("min"), fld.metadata.get("max")
        if dataclasses.is_dataclass(value):
            _walk(value, p, k, out)
        elif isinstance(value, dict):
            for name, v in value.items():
                if dataclasses.is_dataclass(v):
                    _walk(v, p + (("item", name),), f"{k}.{name}", out)
        elif lo is None and hi is None or isinstance(value, bool):
            continue
        elif isinstance(value, list):
            is_int = bool(value) and all(isinstance(x, int) for x in value)
            out.append(RangeField(k, p, lo, hi, is_int, True))
        elif isinstance(value, (int, float)):
            out.append(RangeField(k, p, lo, hi, isinstance(value, int), False))


# Edge values that once crashed the model: the run must either complete or the
# value must be rejected as a config error (key = the override's key) - never an exception from the model.
ACCEPTED_AT_BOUNDS: list[BadConfig] = [
    BadConfig("max-utilisation-0", ("world.markets.max_utilisation=0",), "world.markets.max_utilisation", ()),
    BadConfig("scale-at-lower-bound", ("world.scale=1e-6",), "world.scale", ()),
    BadConfig("reference-price-0", ("world.stages.mining.reference_price_usd_per_kg=0",), "world.stages.mining.reference_price_usd_per_kg", ()),
    # demand can vanish: the whole of it substituted as soon as the price is above the reference
    BadConfig(
        "substitution-total-and-immediate",
        ("world.demand.substitution_max=1", "world.demand.substitution_saturation_multiple=1.0001", "world.demand.substitution_rate_per_year=1"),
        "world.demand.substitution_max",
        (),
    ),
    BadConfig(
        "stockpile-largest-fastest-release",
        ("world.demand.stockpile_quarters.china=8", "world.demand.stockpile_release_quarters=1", "world.demand.restock_quarters=1"),
        "world.demand.stockpile_quarters.china",
        (),
    ),
    BadConfig(
        "rd-deduction-share-too-large",
        ("policy.china.instruments.rd_extra_deduction=[[2008,0.5],[2018,7.5]]",),
        "policy.china.instruments.rd_extra_deduction[1]",
        ("[year, share]", "[0, 3]", "7.5"),
    ),
    BadConfig(
        "rd-deduction-years-not-increasing",
        ("policy.china.instruments.rd_extra_deduction=[[2018,0.75],[2008,0.5]]",),
        "policy.china.instruments.rd_extra_deduction",
        ("strictly increasing", "2018"),
    ),
    BadConfig(
        "rd-deduction-not-a-list",
        ("policy.china.instruments.rd_extra_deduction=0.75",),
        "policy.china.instruments.rd_extra_deduction",
        (),
    ),
]

assert CLI_DEFAULT <= {c.id for c in BAD_CONFIGS}
assert len({c.id for c in BAD_CONFIGS}) == len(BAD_CONFIGS)


def range_fields(cfg) -> list[RangeField]:
    """Every field with a range in a composed config (dataclass fields and scenario-event parameters)."""
    out: list[RangeField] = []
    _walk(cfg, (), "", out)
    from scenarios import EVENT_KINDS

    for name, spec in cfg.scenario.events.items():
        params = EVENT_KINDS[spec["kind"]].Params
        for fld in dataclasses.fields(params):
            lo, hi = fld.metadata.get("min"), fld.metadata.get("max")
            if (lo is not None or hi is not None) and fld.name in spec:
                out.append(
                    RangeField(
                        f"scenario.events.{name}.{fld.name}",
                        (("attr", "scenario"), ("attr", "events"), ("item", name), ("item", fld.name)),
                        lo,
                        hi,
                        isinstance(spec[fld.name], int),
                        False,
                    )
                )
    return out


def get_path(cfg, path: tuple):
    obj = cfg
    for kind, k in path:
        obj = getattr(obj, k) if kind == "attr" else obj[k]
    return obj


def set_path(cfg, path: tuple, value) -> None:
    parent = get_path(cfg, path[:-1])
    kind, k = path[-1]
    if kind == "attr":
        setattr(parent, k, value)
    else:
        parent[k] = value


def just_below(lo: float, is_int: bool) -> float:
    return lo - 1 if is_int else math.nextafter(float(lo), -math.inf)


def just_above(hi: float, is_int: bool) -> float:
    return hi + 1 if is_int else math.nextafter(float(hi), math.inf)
