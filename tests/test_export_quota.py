"""Export quota (scenarios/export_quota.py, docs/ODD.md 7.11) and the 2010 world it is replayed in.

Rules on a handful of buyer classes and suppliers (``allocate`` with ``quota_t``), the markets' quota book,
the event on short laissez-faire runs of the 2015 world (the quota starts 2016 Q1 = quarter 4), one-line
errors naming the key, and the 2010 world and scenario files.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml
from _rule_helpers import fresh_config

from sim.config import CONF_DIR, ConfigError, compose, validate
from sim.engine.markets import Markets, allocate, quota_licensed
from sim.engine.model import ChainModel

QUIET = ("progress=false", "output.write=false")
CHINA, WEST, ROW = 0, 1, 2
MINING, SEPARATION, METAL, MAGNET = 0, 1, 2, 3
COVERED = ["metal", "separation", "mining"]
REO_PER_T = np.array([1.0, 5.0, 6.0, 30.0])  # t REO in a tonne of each stage's product (input_per_t 5, 1.2, 0.3)
QUOTA = dict(kind="export_quota", start_year=2016.0, end_year=2018.0, exporter="china", stages=COVERED)
_BASE = fresh_config()


def _model(years: int = 3, security: bool = True, idle_parity: bool | None = None, **events) -> ChainModel:
    cfg = copy.deepcopy(_BASE)
    cfg.years = years
    if idle_parity is not None:
        cfg.world.markets.idle_import_parity = idle_parity
    cfg.scenario.events = copy.deepcopy(events)
    if not security:  # buyers' security premium off (sim/engine/security.py)
        cfg.world.procurement.security_premium_max = 0.0
        cfg.world.procurement.initial_security_premium = {}
    return ChainModel(validate(cfg))


def _exports_reo(m: ChainModel, exporter: int = CHINA) -> float:
    """t REO the exporter sold abroad in the last quarter at the covered stages (orders of the clearing)."""
    out = 0.0
    for s in (MINING, SEPARATION, METAL):
        cl = m.last_clearing[s]
        out += cl.alloc[np.ix_(cl.class_bloc != exporter, m.pop.bloc[cl.suppliers] == exporter)].sum() * REO_PER_T[s]
    return out


# --------------------------------------------------------------------------
# allocate with a quota: three buyer classes, four suppliers
# --------------------------------------------------------------------------
# classes: 0 in the exporter's bloc 0, 1 and 2 abroad (bloc 1); suppliers 0-2 in bloc 0, supplier 3 in bloc 1
DEMAND = np.array([50.0, 40.0, 80.0])
AVAIL = np.array([60.0, 50.0, 40.0, 70.0])
SUP_BLOC = np.array([0, 0, 0, 1])
CLASS_BLOC = np.array([0, 1, 1])
PREF = np.array([[1.0, 0.9, 0.8, 0.3], [1.0, 1.0, 0.9, 0.4], [0.8, 0.9, 1.0, 0.5]])


def _from_exporter(alloc: np.ndarray) -> np.ndarray:
    return alloc[:, SUP_BLOC == 0].sum(axis=1)


def test_a_quota_that_does_not_bind_is_the_uncontrolled_allocation():
    free = allocate(DEMAND, AVAIL, PREF, 4)
    for quota in (np.array([np.inf, np.inf]), np.array([1e6, np.inf])):
        res = allocate(DEMAND, AVAIL, PREF, 4, SUP_BLOC, None, quota, CLASS_BLOC)
        np.testing.assert_array_equal(res.alloc, free.alloc)
        np.testing.assert_array_equal(res.unmet, free.unmet)


def test_a_binding_quota_caps_sales_abroad_pro_rata_and_reoffers_the_rest():
    free = allocate(DEMAND, AVAIL, PREF, 4)
    wanted = _from_exporter(free.alloc)  # what each class would have bought from bloc 0
    quota = 0.5 * (wanted[1] + wanted[2])
    res = allocate(DEMAND, AVAIL, PREF, 4, SUP_BLOC, None, np.array([quota, np.inf]), CLASS_BLOC)
    got = _from_exporter(res.alloc)
    assert got[1] + got[2] <= quota + 1e-9
    assert got[1] == pytest.approx(0.5 * wanted[1]) and got[2] == pytest.approx(0.5 * wanted[2])  # each keeps its share
    assert res.capped[1:] == pytest.approx(0.5 * wanted[1:]) and res.capped[0] == 0.0
    assert res.alloc[1:, 3].sum() > free.alloc[1:, 3].sum()  # refused demand went to the other bloc's supplier
    assert (res.alloc.sum(axis=0) <= AVAIL + 1e-9).all()


def test_a_zero_quota_stops_sales_abroad_and_a_licence_share_combines_by_the_minimum():
    res = allocate(DEMAND, AVAIL, PREF, 4, SUP_BLOC, None, np.array([0.0, np.inf]), CLASS_BLOC)
    assert _from_exporter(res.alloc)[1:].sum() == 0.0 and res.alloc[0, :3].sum() > 0
    by_bloc = np.array([[30.0, 5.0], [20.0, 10.0], [60.0, 0.0]])
    lic = quota_licensed(by_bloc, CLASS_BLOC, np.array([40.0, np.inf]), np.array([[1.0, 1.0], [0.3, 1.0], [0.9, 1.0]]))
    np.testing.assert_allclose(lic, [[1.0, 1.0], [0.3, 1.0], [0.5, 1.0]])  # quota share 40 / 80 = 0.5; licence 0.3 stays


def test_markets_quota_book_converts_units_per_stage_and_counts_sales_abroad():
    mk = Markets(["china", "west"], ["mining", "separation", "metal"], np.array([3.0, 45.0, 62.0]), params=None)
    assert mk.quota_left_t(1) is None and not mk.controlled(1, 0)
    mk.set_export_quota("q", "china", ["separation", "metal"], np.array([1.0, 5.0, 6.0]), 600.0)
    np.testing.assert_array_equal(mk.quota_left_t(1), [120.0, np.inf])  # 600 t REO / 5 t REO per t oxide
    np.testing.assert_array_equal(mk.quota_left_t(2), [100.0, np.inf])
    assert mk.quota_left_t(0) is None and mk.controlled(2, 0) and not mk.controlled(0, 0) and not mk.controlled(2, 1)
    alloc = np.array([[7.0, 1.0], [40.0, 2.0]])  # class 0 at home (bloc 0), class 1 abroad; suppliers of bloc 0, 1
    mk.use_export_quota(2, np.array([0, 1]), alloc, np.array([0, 1]))
    assert mk.export_quota_used("q") == pytest.approx(240.0)  # 40 t metal abroad x 6 t REO
    np.testing.assert_array_equal(mk.quota_left_t(1), [72.0, np.inf])  # (600 - 240) / 5
    mk.clear_export_quota("q")
    assert mk.quota_left_t(1) is None and not mk.controlled(2, 0) and mk.export_quota_used("q") == 0.0


# --------------------------------------------------------------------------
# the event on the 2015 world
# --------------------------------------------------------------------------
def _run_quarters(m: ChainModel, n: int) -> list[tuple[int, float, float | None]]:
    """(quarter, exports abroad in t REO, allowance the event set for the quarter) for n quarters."""
    allowance: dict[int, float] = {}
    setter = m.markets.set_export_quota

    def record(name, exporter, stages, units_per_t, value):  # the event sets each allowance for the coming quarter
        allowance[m.quarter + 1] = value
        setter(name, exporter, stages, units_per_t, value)

    m.markets.set_export_quota = record
    rows = []
    for _ in range(n):
        m.step()
        rows.append((m.quarter, _exports_reo(m), allowance.get(m.quarter)))
    return rows


def test_quota_spreads_each_period_over_its_quarters_and_never_exceeds_it():
    periods = [[2016.0, 8000.0], [2016.5, 2000.0], [2017.0, 20000.0]]
    m = _model(q=dict(QUOTA, periods=periods))
    rows = _run_quarters(m, 12)
    assert all(left is None for q, _, left in rows if q < 4)  # not in force before 2016
    assert rows[4][2] == pytest.approx(8000.0 / 2)  # first quarter of a two-quarter period
    for q, exported, left in rows:
        if left is not None:
            assert exported <= left * (1 + 1e-9) + 1e-6
    by_period = {0: range(4, 6), 1: range(6, 8), 2: range(8, 12)}
    for i, qs in by_period.items():
        assert sum(rows[q][1] for q in qs) <= periods[i][1] * (1 + 1e-9) + 1e-6
    assert sum(rows[q][1] for q in (6, 7)) == pytest.approx(2000.0, rel=1e-6)  # the tight half-year is used to the tonne
    assert all(rows[q][1] > 2000.0 for q in range(0, 4))  # without the quota China sold more than that a quarter
    log = m.event_log.where(kind="export_quota_used")
    assert len(log) == 2 and [round(e.value) for e in log] == [round(sum(rows[q][1] for q in by_period[i])) for i in (0, 1)]


def test_unused_allowance_passes_to_the_next_quarter_of_the_period():
    m = _model(q=dict(QUOTA, periods=[[2016.0, 1e9]]))
    rows = _run_quarters(m, 6)
    q4_left, q4_sold = rows[4][2], rows[4][1]
    assert rows[5][2] == pytest.approx((1e9 - q4_sold) / 7.0)  # what is left over the 7 quarters left to 2018
    assert q4_left == pytest.approx(1e9 / 8.0)


def test_a_quota_that_never_binds_leaves_the_run_unchanged_and_ends_cleanly():
    """Markets and firms are untouched by a quota that never binds. Buyers' security premium builds while any
    quota or control is in force (sim/engine/security.py: a quota counts as a control), so it is off here."""
    base, loose = _model(years=4, security=False), _model(years=4, security=False, q=dict(QUOTA, periods=[[2016.0, 1e9]]))
    base.run()
    loose.run()
    for name in ("price_usd_per_kg", "output_t", "capacity_t", "imports_t"):
        np.testing.assert_array_equal(np.stack(base.recorder.series[name]), np.stack(loose.recorder.series[name]))
    assert loose.markets.quota_left_t(METAL) is None and not loose.markets.controlled(METAL, CHINA)


def test_a_binding_quota_raises_prices_abroad_against_china():
    """With China's oxide exports cut to nothing from 2016, what the West's and the rest of the world's buyers pay for
    oxide rises against China's price: what they pay (``paid_price``, their own plants' oxide and imports together),
    and the rest of the world's index. (Without ``markets.idle_import_parity`` the West's index stayed below China's in
    2016, 48 against 53 USD/kg in 2016 Q4 while its buyers paid 58, as its separators stood on care and maintenance
    and an index without a running plant moved with its buyers' small shortage alone: the test below.)"""
    tight = _model(q=dict(QUOTA, stages=["separation"], periods=[[2016.0, 0.0]]))
    base = _model()
    for m in (tight, base):
        while m.quarter < 8:
            m.step()
    p, p0 = tight.markets.price[:, SEPARATION], base.markets.price[:, SEPARATION]
    paid, paid0 = tight.paid_price[:, SEPARATION], base.paid_price[:, SEPARATION]
    assert paid[WEST] / p[CHINA] > paid0[WEST] / p0[CHINA]
    assert paid[ROW] / p[CHINA] > paid0[ROW] / p0[CHINA]
    assert p[ROW] / p[CHINA] > p0[ROW] / p0[CHINA]  # the rest of the world's plants run: its index rises too
    cl = tight.last_clearing[SEPARATION]
    assert cl.alloc[np.ix_(cl.class_bloc != CHINA, tight.pop.bloc[cl.suppliers] == CHINA)].sum() == 0.0


@pytest.mark.parametrize("lever", [True, False])
def test_an_index_without_a_running_plant_is_no_lower_than_import_parity_with_the_lever(lever):
    """China's oxide exports cut to nothing from 2016: the West's one separator went on care and maintenance in 2015 Q4
    and its buyers, a little short, import the rest of the world's oxide. In 2016 Q1 no Western plant runs. With
    ``markets.idle_import_parity`` the West's index is no lower than the landed price of the cheapest import its buyers
    may buy (the rest of the world's: China's quota is used up), at which its own plant could sell; without it the index
    moves with the small shortage alone and stays below (docs/ODD.md 7.3)."""
    from sim.engine.clearing import landed_price

    m = _model(idle_parity=lever, q=dict(QUOTA, stages=["separation"], periods=[[2016.0, 0.0]]))
    for _ in range(4):  # 2015
        m.step()
    parity = landed_price(m, SEPARATION)[WEST][ROW]  # what the West's buyers pay landed for the rest of the world's oxide
    m.step()  # 2016 Q1
    pop = m.pop
    west_plants = (pop.bloc == WEST) & (pop.stage == SEPARATION) & pop.operating
    assert west_plants.any() and pop.mothballed[west_plants].all(), "no Western separator runs in 2016 Q1"
    index = m.markets.price[WEST, SEPARATION]
    if lever:
        assert index >= parity * (1 - 1e-9), (index, parity)
        assert m.markets.price_at_bound[WEST, SEPARATION] == 0.0  # set by imports, not a clip of the rule
    else:
        assert index < 0.99 * parity, (index, parity)


@pytest.mark.parametrize(
    "change, key, words",
    [
        (dict(exporter="mars"), "exporter", ("mars", "china")),
        (dict(stages=[]), "stages", ("at least one",)),
        (dict(unit_stage="separation"), "stages", ("upstream",)),
        (dict(end_year=None), "end_year", ("end year",)),
        (dict(periods=[]), "periods", ("at least one",)),
        (dict(periods=[[2016.5, 10.0]]), "periods[0]", ("start_year",)),
        (dict(periods=[[2016.0, 10.0], [2016.0, 5.0]]), "periods", ("increase",)),
        (dict(periods=[[2016.0, -1.0]]), "periods[0]", (">= 0",)),
        (dict(periods=[[2016.0, 10.0], [2018.0, 5.0]]), "periods", ("before end_year",)),
        (dict(periods=[[2016.0]]), "periods[0]", ("[start year, tonnes",)),
    ],
)
def test_bad_quota_parameters_give_one_line_naming_the_key(change, key, words):
    cfg = copy.deepcopy(_BASE)
    cfg.scenario.events = {"q": dict(QUOTA, periods=[[2016.0, 100.0]]) | change}
    with pytest.raises(ConfigError) as ei:
        validate(cfg)
    assert ei.value.key == f"scenario.events.q.{key}"
    assert all(w in str(ei.value) for w in words) and "\n" not in str(ei.value)


# --------------------------------------------------------------------------
# the 2010 world and the replay scenario
# --------------------------------------------------------------------------
WORLD_2010 = Path(CONF_DIR) / "world" / "rare_earth_2010.yaml"


def test_every_cohort_and_buyer_of_the_2010_world_is_declared_in_its_own_file():
    """The 2010 file takes the model's behaviour from rare_earth_2015.yaml; no 2015 plant or buyer may leak in."""
    own = yaml.safe_load(WORLD_2010.read_text())
    cfg = compose([*QUIET, "world=rare_earth_2010", "scenario=laissez_faire"])
    live = [name for name, c in cfg.world.firms.items() if c.count > 0]
    assert set(live) <= set(own["firms"]), f"cohorts of rare_earth_2015.yaml not set for 2010: {sorted(set(live) - set(own['firms']))}"
    assert set(cfg.world.buyers) <= set(own["buyers"])
    for b, bc in cfg.world.blocs.items():
        assert bc.demand_t_per_year[0][0] == 2010, b
    assert cfg.world.start_year == 2010 and cfg.world.name == "rare_earth_2010"
    assert cfg.world.firms["row_mining_myanmar"].count == 0  # not yet mining in 2010
    for building in ("west_mining_au", "row_separation_my", "west_mining_us_phoenix", "west_separation_us_phoenix"):
        c = cfg.world.firms[building]  # under construction in 2010: projects that first produce on the 2010 schedules
        assert c.count == 1 and 2011.0 <= c.first_output_year <= 2013.0, (building, c)
    operating = [name for name, c in cfg.world.firms.items() if c.count > 0 and c.first_output_year is None]
    assert "west_mining_us" in operating and len(operating) > 20


def test_the_replay_scenario_composes_with_the_2010_world_and_its_quotas():
    cfg = compose([*QUIET, "scenario=export_quota_2010"])
    assert cfg.world.name == "rare_earth_2010" and list(cfg.world.blocs) == ["china", "west", "rest_of_world"]
    assert all(p.regime == "none" for p in cfg.policy.values())
    (ev,) = cfg.scenario.events.values()
    assert ev["kind"] == "export_quota" and ev["stages"] == COVERED and ev["end_year"] == 2015.0
    yearly: dict[int, float] = {}
    for y, t in ev["periods"]:
        yearly[int(y)] = yearly.get(int(y), 0.0) + t
    assert yearly == {2010: 30258.0, 2011: 30184.0, 2012: 30996.0, 2013: 30999.0, 2014: 30611.0}  # MOFCOM's yearly totals


def test_the_replay_scenario_with_the_2015_world_is_one_line_naming_the_event_start():
    with pytest.raises(ConfigError) as ei:
        compose([*QUIET, "scenario=export_quota_2010", "world=rare_earth_2015"])
    assert ei.value.key == "scenario.events.export_quotas_2010_2014.start_year" and "2015" in str(ei.value)
