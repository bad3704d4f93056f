"""Configuration: every conf file composes and validates; every range, type, name and file check
ends in a one-line ConfigError naming the key and what is allowed (sim/config.py).

Range checks go through ``validate`` on a composed config (fast: no Hydra per case); the bad-config
cases of the issue (tests/_config_cases.py) go through ``compose``, the path notebooks and the
command line's preflight use. tests/test_cli.py runs the same cases through ``python -m sim``.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import pickle

import pytest
import yaml
from _config_cases import ACCEPTED_AT_BOUNDS, BAD_CONFIGS, EC, BadConfig, get_path, just_above, just_below, range_fields, set_path
from _sim_helpers import make_config, run_sim
from omegaconf import OmegaConf
from omegaconf.basecontainer import BaseContainer

from sim.config import CONF_DIR, STUDY_DIRS, Config, ConfigError, chain_scenarios, compose, config_options, national_scenarios, to_config, validate
from sim.engine.run import run

GROUPS = sorted(p.name for p in CONF_DIR.iterdir() if p.is_dir() and p.name not in STUDY_DIRS)
BLOCS = ("china", "west")
# Top-level groups are combined with each other; policy options are placed per bloc and criteria inside a
# coordinated policy, each with every scenario.
TOP = [g for g in GROUPS if g not in ("policy", "criteria", "national")]


def _pinned_world(scenario: str) -> str | None:
    """The world a scenario file selects itself (``override /world: NAME`` in its defaults; the 2010 replay), or None."""
    spec = yaml.safe_load((CONF_DIR / "scenario" / f"{scenario}.yaml").read_text()) or {}
    for d in spec.get("defaults", []):
        if isinstance(d, dict) and "override /world" in d:
            return d["override /world"]
    return None


PINNED_WORLD = {sc: w for sc in config_options("scenario") if (w := _pinned_world(sc)) is not None}


def _fits(choice: dict[str, str]) -> bool:
    """A scenario that selects its own world is combined with that world only (its events are dated in it)."""
    pinned = PINNED_WORLD.get(choice.get("scenario", ""))
    return pinned is None or choice.get("world") == pinned


COMBINATIONS = [
    [f"{g}={o}" for g, o in zip(TOP, combo)] for combo in itertools.product(*(config_options(g) for g in TOP)) if _fits(dict(zip(TOP, combo)))
]
# a national world shares its start year and China with the world of its start (rare_earth_2015): combined with that world
COMBINATIONS += [["world=rare_earth_2015", f"national={o}", f"scenario={sc}"] for o in config_options("national") for sc in chain_scenarios()[:1]]
# agencies name the West's regions, so fragmented and coordinated_west fit the West only
BLOC_POLICIES = {"china": ("none", "coordinated"), "west": tuple(config_options("policy"))}
COMBINATIONS += [[f"scenario={sc}", f"policy@policy.{b}={o}"] for sc in config_options("scenario") for b in BLOCS for o in BLOC_POLICIES[b]]
COMBINATIONS += [
    [f"scenario={sc}", "policy@policy.china=coordinated", f"criteria@policy.china.designation.criteria={o}"]
    for sc in config_options("scenario")
    for o in config_options("criteria")
]


def _combo_id(combo: list[str]) -> str:
    return ",".join(combo)


def _cover(combos: list[list[str]]) -> list[list[str]]:
    """Combinations that together choose every option of every group at least once (each scenario with the default
    world where it fits): the default suite composes these; the slow suite composes every combination."""
    default_world = f"world={_default_world()}"
    seen: set[str] = set()
    out = []

    def later(combo: list[str]) -> tuple[bool, bool]:  # each scenario first with every other group at its default
        return any(o.split("=", 1)[0] not in TOP for o in combo), any(o.startswith("world=") and o != default_world for o in combo)

    for combo in sorted(combos, key=later):  # a stable sort: the order of COMBINATIONS within each kind
        if any(o not in seen for o in combo):
            out.append(combo)
            seen.update(combo)
    return out


def _default_world() -> str:
    """The world conf/config.yaml selects by default (its ``world: NAME`` entry of the defaults list)."""
    spec = yaml.safe_load((CONF_DIR / "config.yaml").read_text())
    return next(d["world"] for d in spec["defaults"] if isinstance(d, dict) and "world" in d)


COVER = _cover(COMBINATIONS)


def _chosen(cfg, override: str):
    """What the composed config says was chosen for one group override."""
    key, option = override.split("=", 1)
    if key.startswith("policy@"):
        return cfg.policy[key.rsplit(".", 1)[1]].regime, option
    if key.startswith("criteria@"):
        return cfg.policy["china"].designation.criteria.name, option
    return getattr(cfg, key).name, option


def _no_omegaconf_objects(obj, path="cfg"):
    """Behaviour code never sees OmegaConf containers: the validated config is plain Python."""
    assert not isinstance(obj, BaseContainer), f"{path} is an OmegaConf {type(obj).__name__}"
    if dataclasses.is_dataclass(obj):
        for fld in dataclasses.fields(obj):
            _no_omegaconf_objects(getattr(obj, fld.name), f"{path}.{fld.name}")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _no_omegaconf_objects(v, f"{path}.{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _no_omegaconf_objects(v, f"{path}[{i}]")


# --------------------------------------------------------------------------
# Every conf file composes and validates
# --------------------------------------------------------------------------
def test_config_groups_and_options_match_conf_dir():
    assert {"world", "scenario"} <= set(GROUPS)
    for g in GROUPS:
        files = sorted(p.stem for p in (CONF_DIR / g).iterdir() if p.suffix in (".yaml", ".yml"))
        assert files, f"conf/{g}/ is empty"
        assert config_options(g) == files
    assert (CONF_DIR / "config.yaml").is_file()


def test_default_config_composes_to_the_documented_defaults():
    cfg = compose([])
    assert isinstance(cfg, Config)
    assert (cfg.seed, cfg.years, cfg.progress) == (1, 30, True)
    assert cfg.world.name == "rare_earth_2015"
    assert cfg.scenario.name == "baseline"
    assert {b: p.regime for b, p in cfg.policy.items()} == {"china": "coordinated", "west": "fragmented", "rest_of_world": "none"}
    assert (cfg.output.root, cfg.output.dir, cfg.output.firm_panel, cfg.output.write) == ("results", None, True, True)
    _no_omegaconf_objects(cfg)


def test_the_default_suite_composes_every_option_of_every_group():
    """The cover the default suite composes chooses every option that any combination chooses, and every scenario once
    with the other top-level groups at their defaults (or the world it selects itself)."""
    assert {o for c in COVER for o in c} == {o for c in COMBINATIONS for o in c}
    plain = {o for c in COVER if all(x.split("=", 1)[0] in TOP for x in c) for o in c if o.startswith("scenario=")}
    assert plain == {f"scenario={sc}" for sc in config_options("scenario")}
    assert len(COVER) < len(COMBINATIONS) / 3


@pytest.mark.parametrize("combo", [pytest.param(c, marks=() if c in COVER else pytest.mark.slow) for c in COMBINATIONS], ids=_combo_id)
def test_every_option_of_every_group_composes_and_validates(combo):
    """Every option of every group composes and validates (the default suite: a set of combinations that chooses each
    option at least once, about 1 s of composing each; the slow suite: every combination of scenario, world, bloc
    policy and criteria)."""
    cfg = compose(combo)
    assert isinstance(cfg, Config)
    for ov in combo:
        got, want = _chosen(cfg, ov)
        assert got == want, f"{ov}: the composed config says {got!r}"
    _no_omegaconf_objects(cfg)
    again = validate(copy.deepcopy(cfg))  # validation is idempotent and does not change the config
    assert again == cfg
    assert cfg.world.stages and cfg.world.blocs and cfg.world.firms and cfg.world.buyers


def test_scenario_files_only_set_the_scenario():
    """A scenario file holds differences only: its world equals the default world (or, for a scenario that
    selects its own world, that world file unchanged)."""
    base = compose([])
    for opt in config_options("scenario"):
        cfg = compose([f"scenario={opt}"])
        ref = compose([f"world={PINNED_WORLD[opt]}"]) if opt in PINNED_WORLD else base
        # a scenario may move the reference year of its timelines (west_coordinated counts from its policy switch)
        world = dataclasses.replace(cfg.world, timeline_reference_year=ref.world.timeline_reference_year)
        assert world == ref.world, f"scenario {opt} changes the world"
        assert (cfg.seed, cfg.output) == (base.seed, base.output)
        if opt in national_scenarios():  # a national scenario sets its horizon (2015-2025) and its national world
            assert cfg.national is not None and cfg.years != base.years
        else:
            assert cfg.years == base.years and cfg.national is None


def test_overrides_reach_the_config():
    cfg = compose(
        [
            "seed=7",
            "years=12",
            "scenario=export_control_shock",
            "world.markets.logit_beta=6",
            "world.blocs.west.investor_appetite=0.6",
            "output.firm_panel=false",
        ]
    )
    assert (cfg.seed, cfg.years, cfg.output.firm_panel) == (7, 12, False)
    assert cfg.world.markets.logit_beta == 6.0 and isinstance(cfg.world.markets.logit_beta, float)
    assert cfg.world.blocs["west"].investor_appetite == 0.6
    assert cfg.scenario.events["licensing_2025"]["exporter"] == "china"


def test_composes_in_one_process_do_not_leak_into_each_other():
    """Parsed config files and converted firm cohorts are kept for the process (sim/config/source.py, to_config): an
    override, or a change to a returned config, must not reach the next compose."""
    default = compose([])
    beta, count = default.world.markets.logit_beta, default.world.firms["west_magnet_us"].count
    changed = compose(["world.markets.logit_beta=9", "world.firms.west_magnet_us.count=7", "scenario=export_controls_full"])
    assert (changed.world.markets.logit_beta, changed.world.firms["west_magnet_us"].count) == (9.0, 7)
    changed.world.firms["west_magnet_us"].capacity_t[0] = -1.0
    default.world.firms["west_magnet_us"].count = 99
    again = compose([])
    assert (again.world.markets.logit_beta, again.world.firms["west_magnet_us"].count) == (beta, count)
    assert again.world.firms["west_magnet_us"].capacity_t[0] > 0 and "expansion_2025" not in again.scenario.events
    assert again == compose([])
    from sim.config import FirmCohortConfig, _cohort_schema  # the cohort schema kept for the process: no merge changed it

    assert OmegaConf.to_container(_cohort_schema()) == OmegaConf.to_container(OmegaConf.structured(FirmCohortConfig))


def test_a_config_file_edited_between_composes_is_read_again(tmp_path):
    """The kept parse of a file is keyed by its bytes: a user's file changed in place is read afresh."""
    scenario = tmp_path / "scenario" / "mine.yaml"
    scenario.parent.mkdir()
    text = (CONF_DIR / "scenario" / "baseline.yaml").read_text()
    scenario.write_text(text + "\nyears: 7\n")
    assert compose(["scenario=mine"], config_dir=tmp_path).years == 7
    scenario.write_text(text + "\nyears: 8\n")
    assert compose(["scenario=mine"], config_dir=tmp_path).years == 8


# the YAML of every config file, and the corner cases of OmegaConf's loading rules, as the fast parse gives them
YAML_CORNERS = """\
# @package _global_
a: 1e3
b: 1_000
c: 0x1F
d: .inf
e: -.Inf
f: .nan
g: 2015-01-01
h: 2015-01-01 10:00:00
i: yes
j: "on"
k: ~
l: [1, 2.5, -3e-2, "4"]
m: {n: null, o: 12:30:15, p: 1:20.5}
q: !!python/object/apply:pathlib.Path [a, b]
r: 010
s: +12
t: 1.
"""


def _typed(x):
    """A parsed document with each scalar's type beside it (1 and 1.0 and True differ)."""
    if isinstance(x, dict):
        return {k: _typed(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_typed(v) for v in x]
    return (type(x).__name__, repr(x))


@pytest.mark.parametrize("path", sorted(p.relative_to(CONF_DIR).as_posix() for p in CONF_DIR.rglob("*.yaml")) + ["corners"])
def test_the_fast_yaml_parse_gives_what_omegaconfs_loader_gives(path):
    """sim/config/source.py parses a config file with libyaml under OmegaConf's rules: the same Python objects, the same
    types, as OmegaConf's own (pure-Python) loader, for every file under conf/ and the rules' corner cases."""
    from omegaconf._utils import get_yaml_loader

    from sim.config import source

    if source.fast_loader() is None:
        pytest.skip("PyYAML without libyaml: Hydra's own load is used")
    text = YAML_CORNERS if path == "corners" else (CONF_DIR / path).read_text()
    slow = yaml.load(text, Loader=get_yaml_loader())  # noqa: S506 - OmegaConf's safe loader
    assert _typed(source.fast_load(text)) == _typed(slow)


def test_the_fast_yaml_parse_refuses_a_key_twice_as_omegaconf_does():
    from omegaconf._utils import get_yaml_loader

    from sim.config import source

    if source.fast_loader() is None:
        pytest.skip("PyYAML without libyaml: Hydra's own load is used")
    text = "a: 1\nb:\n  c: 2\n  c: 3\n"
    with pytest.raises(yaml.constructor.ConstructorError, match="found duplicate key c"):
        yaml.load(text, Loader=get_yaml_loader())  # noqa: S506
    with pytest.raises(yaml.constructor.ConstructorError, match="found duplicate key c"):
        source.fast_load(text)
    assert source.fast_load("a: {1: x, '1': y}") == {"a": {1: "x", "1": "y"}}  # a key and its quoted twin are two keys


# every scenario file is composed by the tests above; the CLI's resolution (a subprocess each, 5-8 s) is compared for
# one scenario of each kind in the default suite, and for every scenario in the slow suite
CLI_SCENARIOS = ("baseline", "west_coordinated", "national_programme")


@pytest.mark.parametrize("scenario", [sc if sc in CLI_SCENARIOS else pytest.param(sc, marks=pytest.mark.slow) for sc in config_options("scenario")])
def test_compose_equals_what_the_cli_resolves(scenario, tmp_path):
    """``compose`` (notebooks, tests) and the Hydra app of ``python -m sim`` resolve the same config."""
    overrides = [f"scenario={scenario}", "seed=7", "years=12", "world.markets.logit_beta=5.5"]
    proc = run_sim("--cfg", "job", *overrides, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    from_cli = to_config(OmegaConf.create(proc.stdout))
    assert from_cli == compose(overrides)
    assert list(tmp_path.iterdir()) == []  # printing the config writes nothing


# --------------------------------------------------------------------------
# Ranges: every field with a range rejects just-outside values, naming the key
# --------------------------------------------------------------------------
_BASE = make_config(EC, "years=12")  # export_control_shock: includes scenario-event parameters
RANGE_FIELDS = range_fields(_BASE)


def test_range_fields_cover_the_schema():
    keys = {f.key for f in RANGE_FIELDS}
    # one of each kind of place a range lives
    for k in (
        "seed",
        "years",
        "world.scale",
        "world.stages.magnet.learning_rate",
        "world.stages.mining.plant_size_t",
        "world.blocs.china.investor_appetite",
        "world.blocs.west.stages.magnet.fixed_cost_share",
        "world.buyers.west_defence.domestic_mandate",
        "world.firms.cn_mining_north.capacity_t",
        "world.markets.rationing_rounds",
        "world.innovation.cost_cut_beta",
        "world.finance.depreciation_years",
        "world.investment.review_probability",
        "scenario.events.licensing_2025.licensed_share",
        "scenario.events.licensing_2025.licence_delay_quarters",
    ):
        assert k in keys, k
    assert len(RANGE_FIELDS) > 200


def _outside(f, side: str):
    """(value to set, key the error must name) for a just-outside value on ``side``."""
    cfg_value = get_path(_BASE, f.path)
    bound = f.lo if side == "lo" else f.hi
    bad = just_below(bound, f.is_int) if side == "lo" else just_above(bound, f.is_int)
    if f.is_list:
        i = 0 if side == "lo" else len(cfg_value) - 1  # keeps a [low, high] pair ordered
        value = list(cfg_value)
        value[i] = bad
        return value, f"{f.key}[{i}]"
    return bad, f.key


@pytest.mark.parametrize("field", RANGE_FIELDS, ids=[f.key for f in RANGE_FIELDS])
def test_each_range_rejects_just_outside_values(field):
    for side, word in (("lo", ">="), ("hi", "<=")):
        bound = getattr(field, side)
        if bound is None:
            continue
        cfg = copy.deepcopy(_BASE)
        value, key = _outside(field, side)
        set_path(cfg, field.path, value)
        with pytest.raises(ConfigError) as ei:
            validate(cfg)
        err = ei.value
        assert err.key == key, f"{side} bound of {field.key}: error names {err.key!r}: {err}"
        assert f"must be {word} {bound}" in str(err)
        assert "\n" not in str(err)


@pytest.mark.parametrize("field", RANGE_FIELDS, ids=[f.key for f in RANGE_FIELDS])
def test_each_range_includes_its_bounds(field):
    """A value exactly at a bound passes the range check (other cross-checks may still object)."""
    for side in ("lo", "hi"):
        bound = getattr(field, side)
        if bound is None:
            continue
        cfg = copy.deepcopy(_BASE)
        value = [bound] * len(get_path(cfg, field.path)) if field.is_list else bound
        set_path(cfg, field.path, value)
        try:
            validate(cfg)
        except ConfigError as err:
            range_msg = (f"must be >= {bound}, got", f"must be <= {bound}, got")
            assert not (err.key.startswith(field.key) and err.problem.startswith(range_msg)), (
                f"{field.key} = {value} is at its bound but rejected: {err}"
            )


def test_non_finite_numbers_are_rejected():
    for bad in (float("nan"), float("inf")):
        cfg = copy.deepcopy(_BASE)
        cfg.world.markets.logit_beta = bad
        with pytest.raises(ConfigError, match="world.markets.logit_beta.*finite"):
            validate(cfg)


# --------------------------------------------------------------------------
# Cross-references and structure checked by validate
# --------------------------------------------------------------------------
def test_buyer_shares_of_a_bloc_must_sum_to_one():
    cfg = copy.deepcopy(_BASE)
    cfg.world.buyers["west_ev"].share = 0.30
    with pytest.raises(ConfigError) as ei:
        validate(cfg)
    assert ei.value.key == "world.buyers" and "west" in str(ei.value) and "sum to 1" in str(ei.value)


def test_every_bloc_needs_parameters_for_every_stage():
    cfg = copy.deepcopy(_BASE)
    del cfg.world.blocs["west"].stages["metal"]
    with pytest.raises(ConfigError) as ei:
        validate(cfg)
    assert ei.value.key == "world.blocs.west.stages" and "metal" in str(ei.value)


def test_stage_defined_in_a_bloc_but_not_in_the_world():
    cfg = copy.deepcopy(_BASE)
    cfg.world.blocs["west"].stages["smelting"] = copy.deepcopy(cfg.world.blocs["west"].stages["metal"])
    with pytest.raises(ConfigError) as ei:
        validate(cfg)
    assert ei.value.key == "world.blocs.west.stages.smelting"
    assert all(s in str(ei.value) for s in ("smelting", "mining", "separation", "metal", "magnet"))


def test_group_of_another_bloc_is_rejected():
    cfg = copy.deepcopy(_BASE)
    cfg.world.firms["west_magnet_us"].group = "northern_group"
    with pytest.raises(ConfigError) as ei:
        validate(cfg)
    assert ei.value.key == "world.firms.west_magnet_us.group" and "china" in str(ei.value)


def test_demand_path_must_be_increasing_year_points():
    cfg = copy.deepcopy(_BASE)
    cfg.world.blocs["china"].demand_t_per_year = [[2020, 1.0], [2015, 2.0]]
    with pytest.raises(ConfigError, match="world.blocs.china.demand_t_per_year"):
        validate(cfg)
    cfg.world.blocs["china"].demand_t_per_year = [[2015, -1.0]]
    with pytest.raises(ConfigError, match=r"world\.blocs\.china\.demand_t_per_year\[0\]"):
        validate(cfg)


def test_export_control_end_before_start_is_rejected():
    cfg = copy.deepcopy(_BASE)
    cfg.scenario.events["licensing_2025"]["end_year"] = 2020.0
    with pytest.raises(ConfigError) as ei:
        validate(cfg)
    assert ei.value.key == "scenario.events.licensing_2025.end_year" and "2025.25" in str(ei.value)


def test_export_control_needs_a_stage():
    cfg = copy.deepcopy(_BASE)
    cfg.scenario.events["licensing_2025"]["stages"] = []
    with pytest.raises(ConfigError) as ei:
        validate(cfg)
    assert ei.value.key == "scenario.events.licensing_2025.stages" and "magnet" in str(ei.value)


def test_to_config_reports_unknown_keys_and_wrong_types_of_plain_dicts():
    """The Hydra-free path (``to_config`` on a plain dict) checks keys and types like the command line."""
    base = OmegaConf.to_container(OmegaConf.structured(make_config()), resolve=True)
    bad = json.loads(json.dumps(base))
    bad["world"]["markets"]["foo"] = 1
    with pytest.raises(ConfigError) as ei:
        to_config(bad)
    assert ei.value.key == "world.markets.foo" and "logit_beta" in str(ei.value)
    bad = json.loads(json.dumps(base))
    bad["world"]["finance"]["exit_after_negative_equity_quarters"] = "soon"
    with pytest.raises(ConfigError) as ei:
        to_config(bad)
    assert ei.value.key == "world.finance.exit_after_negative_equity_quarters" and "Integer" in str(ei.value)
    assert to_config(base) == make_config()


# --------------------------------------------------------------------------
# The bad-config cases of the issue, through compose()
# --------------------------------------------------------------------------
@pytest.mark.parametrize("case", [c.param() for c in BAD_CONFIGS])
def test_bad_config_raises_one_line_config_error_naming_key_and_allowed(case: BadConfig):
    with pytest.raises(ConfigError) as ei:
        compose(list(case.overrides))
    err = ei.value
    msg = str(err)
    assert err.key == case.key, f"names {err.key!r}, expected {case.key!r}: {msg}"
    assert msg.startswith(f"config error at '{case.key}': ")
    assert "\n" not in msg
    missing = [frag for frag in case.fragments if frag not in msg]
    assert not missing, f"message lacks {missing}: {msg}"


def test_config_error_has_key_and_problem_and_crosses_processes_whole():
    err = ConfigError("world.markets.foo", "unknown key")
    back = pickle.loads(pickle.dumps(err))  # what a worker pool does with an error raised in a worker
    assert (type(back), back.key, back.problem, str(back)) == (ConfigError, err.key, err.problem, str(err))
    assert (err.key, err.problem, str(err)) == ("world.markets.foo", "unknown key", "config error at 'world.markets.foo': unknown key")
    assert str(ConfigError("", "broken")) == "config error: broken"


def test_a_valid_firm_cohort_can_be_added_by_override():
    cfg = compose(["+world.firms.west_magnet_new={bloc:west,stage:magnet,region:us,count:2,capacity_t:[500,1000]}"])
    assert cfg.world.firms["west_magnet_new"].count == 2


# --------------------------------------------------------------------------
# Values validation accepts must run
# --------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("case", [c.param() for c in ACCEPTED_AT_BOUNDS])
def test_config_accepted_by_validation_runs_or_is_rejected(case: BadConfig, tmp_path):
    """A value validate() accepts must run: otherwise validation should reject it with a ConfigError."""
    try:
        cfg = compose([*case.overrides, "years=2", "progress=false", f"output.root={tmp_path}"])
    except ConfigError as err:
        assert err.key == case.key
        return
    result = run(cfg)
    assert json.loads((result.run_dir / "manifest.json").read_text())["status"] == "complete"


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_every_range_bound_accepted_by_validation_runs():
    """Sweep: each bound that validate() accepts runs 3 years without an exception (about 100 s)."""
    failures = []
    for field in RANGE_FIELDS:
        for side in ("lo", "hi"):
            bound = getattr(field, side)
            if bound is None:
                continue
            cfg = copy.deepcopy(_BASE)
            cfg.years = 12
            cfg.output.write = False
            set_path(cfg, field.path, [bound] * len(get_path(cfg, field.path)) if field.is_list else bound)
            try:
                validate(cfg)
            except ConfigError:
                continue
            try:
                run(cfg)
            except Exception as ex:  # noqa: BLE001 - any exception is a finding
                failures.append(f"{field.key} = {bound}: {type(ex).__name__}: {ex}")
    assert not failures, "accepted by validate() but the run fails:\n" + "\n".join(failures)


def test_odd_parameter_table_is_the_config_as_shipped():
    """docs/ODD.md section 9 is what docs/param_table.py prints from the shipped world and policy files: a parameter
    added, changed or re-commented in conf/ without regenerating the table fails here (CONTRIBUTING.md)."""
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("param_table", root / "docs" / "param_table.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    expected = "\n".join(mod.markdown(p) for p in [mod.DEFAULT, *mod.POLICY_FILES])
    odd = (root / "docs" / "ODD.md").read_text()
    assert odd.endswith(expected), "docs/ODD.md section 9 is stale: run `.venv/bin/python docs/param_table.py` and replace the section"


def test_a_state_owned_cohort_in_a_private_group_is_refused():
    with pytest.raises(ConfigError) as ei:
        compose(["progress=false", "output.write=false", "world=rare_earth_2015_listed_groups", "+world.firms.cn_magnet_listed_a.state_owned=true"])
    assert ei.value.key == "world.firms.cn_magnet_listed_a.state_owned"
    assert "private" in str(ei.value) and "\n" not in str(ei.value)


def test_a_field_an_entry_does_not_write_is_set_with_a_plus():
    """A known field of a map's entry that the file leaves out cannot be changed with '=': the message says so and how
    to set it, instead of calling it unknown while listing it as allowed."""
    with pytest.raises(ConfigError) as ei:
        compose(["progress=false", "output.write=false", "world.firms.cn_magnet_sme.first_output_year=2020"])
    assert ei.value.key == "world.firms.cn_magnet_sme.first_output_year"
    assert "+world.firms.cn_magnet_sme.first_output_year=VALUE" in str(ei.value) and "unknown" not in str(ei.value)
