"""Trade and content rules (docs/ODD.md 7.11): tariff, sourcing ban, production tax credit.

Each rule is checked on short laissez-faire runs (the event starts 2016 Q1 = quarter 4 and ends
2017 Q1 = quarter 8 with start_year 2015): what it sets while in force, that ending it restores
the instruments exactly, and one-line errors naming the key for bad parameters.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from _rule_helpers import fresh_config

from agents.firms import processing_cost
from sim.config import ConfigError, validate
from sim.engine import accounts
from sim.engine.clearing import final_classes, landed_price
from sim.engine.instruments import Instruments
from sim.engine.model import ChainModel

LF = "scenario=laissez_faire"
START_Q, END_Q = 4, 8
CHINA, WEST = 0, 1
MINING, SEPARATION, METAL, MAGNET = 0, 1, 2, 3
_BASE = fresh_config(LF)

TARIFF = dict(kind="tariff", start_year=2016.0, end_year=2017.0, importer="west", stages=["magnet"], origins=["china"], rate=0.25)
BAN = dict(kind="sourcing_ban", start_year=2016.0, end_year=2017.0, bloc="west", origins=["china"], stages=["magnet"], buyers=["west_defence"])
CREDIT = dict(kind="production_credit", start_year=2016.0, end_year=2017.0, bloc="west", stages=["separation", "metal"], cost_share=0.10)


def _model(years: int = 3, **events) -> ChainModel:
    cfg = copy.deepcopy(_BASE)
    cfg.years = years
    cfg.scenario.events = copy.deepcopy(events)
    return ChainModel(validate(cfg))


def _step_to(m: ChainModel, q: int) -> ChainModel:
    while m.quarter < q:
        m.step()
    return m


def _expected_landed(m: ChainModel, s: int, extra: float, origins: tuple[int, ...] = (CHINA,)) -> np.ndarray:
    """Landed prices with ``extra`` tariff on the West's imports from ``origins``."""
    T, p = m.tables, m.markets.price[:, s]
    return np.array(
        [
            [
                p[c] if b == c else p[c] * (1.0 + (T.import_tariff[b] + (extra if b == WEST and c in origins else 0.0))) + T.freight_usd_per_kg[s]
                for c in range(T.B)
            ]
            for b in range(T.B)
        ]
    )


# --------------------------------------------------------------------------
# tariff
# --------------------------------------------------------------------------
def test_tariff_raises_the_landed_price_by_the_rate_and_ends_exactly():
    m = _model(x=TARIFF)
    _step_to(m, START_Q - 1)
    np.testing.assert_array_equal(landed_price(m, MAGNET), _expected_landed(m, MAGNET, 0.0))
    _step_to(m, START_Q)
    T, p = m.tables, m.markets.price[:, MAGNET]
    with_tariff = landed_price(m, MAGNET)
    np.testing.assert_array_equal(with_tariff, _expected_landed(m, MAGNET, 0.25))
    without = p[CHINA] * (1.0 + T.import_tariff[WEST]) + T.freight_usd_per_kg[MAGNET]
    assert with_tariff[WEST, CHINA] - without == pytest.approx(0.25 * p[CHINA], rel=1e-12)  # exactly the rate on the price
    for s in (MINING, SEPARATION, METAL):  # other stages untouched
        np.testing.assert_array_equal(landed_price(m, s), _expected_landed(m, s, 0.0))
    _step_to(m, END_Q)
    assert not m.policy.events[0].active
    np.testing.assert_array_equal(m.instruments.tariff, np.zeros_like(m.instruments.tariff))
    np.testing.assert_array_equal(landed_price(m, MAGNET), _expected_landed(m, MAGNET, 0.0))


def test_tariff_without_origins_taxes_every_other_bloc_and_tariffs_stack():
    m = _model(a=dict(TARIFF, origins=[], rate=0.1), b=dict(TARIFF, rate=0.05))
    _step_to(m, START_Q)
    assert m.instruments.tariff[WEST, CHINA, MAGNET] == pytest.approx(0.15, rel=1e-15)
    assert m.instruments.tariff[CHINA, WEST, MAGNET] == 0.0 and m.instruments.tariff[WEST, WEST, MAGNET] == 0.0


def test_add_layers_restore_the_base_bit_for_bit():
    ins = Instruments(2, 4)
    base = ins.tariff.copy()
    ins.set_layer("tariff", "a", np.full((2, 2, 4), 0.1), op="add", init=0.0)
    ins.set_layer("tariff", "b", np.full((2, 2, 4), 0.07), op="add", init=0.0)
    ins.tariff[0, 1, 2] = 0.5  # a change from outside is kept
    ins.clear_layer("tariff", "a")
    assert ins.tariff[0, 0, 0] == 0.07 and ins.tariff[0, 1, 2] == pytest.approx(0.4)
    ins.clear_layer("tariff", "b")
    base[0, 1, 2] = ins.tariff[0, 1, 2]
    np.testing.assert_array_equal(ins.tariff, base)


# --------------------------------------------------------------------------
# sourcing ban
# --------------------------------------------------------------------------
def _deliveries(m: ChainModel):
    """(banned classes from China, other West classes from China, banned classes in total) of the last quarter's magnets."""
    cl = m.last_clearing[MAGNET]
    c_bloc, _, _, c_ban, _, _ = final_classes(m)
    china = m.pop.bloc[cl.suppliers] == CHINA
    banned = c_ban[:, CHINA]
    others = (c_bloc == WEST) & ~banned
    d = cl.delivered
    return d[np.ix_(banned, china)].sum(), d[np.ix_(others, china)].sum(), cl.alloc[np.ix_(banned, china)].sum()


def test_sourcing_ban_stops_deliveries_to_the_banned_buyers_only():
    base, m = _model(), _model(x=BAN)
    _step_to(base, START_Q - 1)
    _step_to(m, START_Q - 1)
    assert len(final_classes(m)[0]) == len(final_classes(base)[0])  # no ban: the classes of before
    for q in range(START_Q, END_Q):
        base.step()
        m.step()
        banned, others, ordered = _deliveries(m)
        assert banned == 0.0 and ordered == 0.0, q  # nothing from China reaches the banned defence buyers
        assert others > 0, q  # other Western buyers still buy Chinese magnets
        cl = base.last_clearing[MAGNET]
        west_from_china = cl.delivered[np.ix_(cl.class_bloc == WEST, base.pop.bloc[cl.suppliers] == CHINA)].sum()
        assert west_from_china > 0
    cl = m.last_clearing[MAGNET]
    banned = final_classes(m)[3][:, CHINA]
    assert cl.delivered[np.ix_(banned, m.pop.bloc[cl.suppliers] == WEST)].sum() > 0  # they buy Western magnets instead
    _step_to(m, END_Q)
    assert m.instruments.buyer_bans == {} and not m.instruments.ban_all.any()


def test_sourcing_ban_of_a_whole_bloc_upstream():
    m = _model(x=dict(BAN, stages=["separation"], buyers=[]))
    _step_to(m, START_Q + 1)
    cl = m.last_clearing[SEPARATION]
    west = cl.class_bloc == WEST
    china = m.pop.bloc[cl.suppliers] == CHINA
    assert cl.delivered[np.ix_(west, china)].sum() == 0.0
    assert m.instruments.ban_all[WEST, CHINA, SEPARATION] == 1.0 and m.instruments.ban_all.sum() == 1.0


# --------------------------------------------------------------------------
# production tax credit
# --------------------------------------------------------------------------
def _spy_credits(monkeypatch) -> list:
    """Record, each quarter, the grants before and after the credits and what the rule should pay."""
    seen = []
    orig = accounts.pay_production_credits

    def spy(model, proc_given):
        pop = model.pop
        before = np.array(pop.grants, dtype=float, copy=True) * np.ones(len(pop))
        proc = processing_cost(pop, model.tables)
        assert proc_given.tobytes() == proc.tobytes()  # the cost the price update read is the accounts' cost
        orig(model, proc_given)
        seen.append(
            (
                model.quarter,
                np.asarray(pop.grants) - before,
                pop.output_t.copy(),
                pop.input_cost.copy(),
                proc,
                pop.bloc.copy(),
                pop.stage.copy(),
                pop.alive.copy(),
            )
        )

    monkeypatch.setattr(accounts, "pay_production_credits", spy)
    return seen


@pytest.mark.parametrize("rule", ["cost_share", "usd_per_kg"])
def test_production_credit_pays_the_rule_and_shows_in_fiscal_totals(monkeypatch, rule):
    spec = CREDIT if rule == "cost_share" else dict(CREDIT, cost_share=0.0, usd_per_kg=20.0, stages=["magnet"])
    seen = _spy_credits(monkeypatch)
    m = _step_to(_model(x=spec), END_Q + 1)
    paid = 0.0
    for q, got, output, input_cost, proc, bloc, stage, alive in seen:
        if rule == "cost_share":
            rule_pay = 0.10 * (input_cost + output * proc / 1000.0)
            here = alive & (bloc == WEST) & np.isin(stage, [SEPARATION, METAL])
        else:
            rule_pay = 20.0 * output / 1000.0
            here = alive & (bloc == WEST) & (stage == MAGNET)
        want = np.where(here, rule_pay, 0.0) if START_Q <= q < END_Q else np.zeros(len(got))
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=f"quarter {q}")
        paid += want.sum()
    assert paid > 0
    fiscal = m.policy.fiscal_totals()
    assert fiscal[(WEST, "production_credit")] == pytest.approx(paid, rel=1e-12)
    rows = [r for r in m.recorder.policy.rows if r[2] == "fiscal_musd" and r[3] == "production_credit"]
    assert sum(r[4] for r in rows) == pytest.approx(paid, rel=1e-9)


# --------------------------------------------------------------------------
# bad parameters: one-line ConfigErrors naming the key
# --------------------------------------------------------------------------
_ALLOWED_BLOCS = "china, west"
_ALLOWED_STAGES = "mining, separation, metal, magnet"
BAD = [
    (TARIFF, {"importer": "usa"}, "importer", _ALLOWED_BLOCS),
    (TARIFF, {"stages": []}, "stages", _ALLOWED_STAGES),
    (TARIFF, {"origins": ["mars"]}, "origins", _ALLOWED_BLOCS),
    (TARIFF, {"origins": ["west"]}, "origins", "importer"),
    (TARIFF, {"rate": -0.1}, "rate", ">= 0.0"),
    (BAN, {"bloc": "eu"}, "bloc", _ALLOWED_BLOCS),
    (BAN, {"origins": []}, "origins", _ALLOWED_BLOCS),
    (BAN, {"origins": ["west"]}, "origins", "banning bloc"),
    (BAN, {"buyers": ["china_defence"]}, "buyers", "west_defence"),
    (BAN, {"stages": ["metal", "magnet"]}, "stages", "final stage 'magnet'"),
    (CREDIT, {"bloc": "us"}, "bloc", _ALLOWED_BLOCS),
    (CREDIT, {"stages": ["oxide"]}, "stages", _ALLOWED_STAGES),
    (CREDIT, {"cost_share": 0.0}, "usd_per_kg", "exactly one"),
    (CREDIT, {"usd_per_kg": 5.0}, "usd_per_kg", "exactly one"),
    (CREDIT, {"cost_share": 1.5}, "cost_share", "<= 1.0"),
]


@pytest.mark.parametrize("good,change,key,allowed", BAD, ids=[f"{g['kind']}-{k}-{i}" for i, (g, _, k, _) in enumerate(BAD)])
def test_bad_trade_rule_parameter_is_a_one_line_config_error(good, change, key, allowed):
    cfg = copy.deepcopy(_BASE)
    cfg.scenario.events = {"x": {**good, **change}}
    with pytest.raises(ConfigError) as ei:
        validate(cfg)
    assert ei.value.key == f"scenario.events.x.{key}"
    assert allowed in str(ei.value) and "\n" not in str(ei.value)


def test_good_trade_rules_validate():
    cfg = copy.deepcopy(_BASE)
    cfg.scenario.events = {"t": TARIFF, "b": BAN, "c": CREDIT}
    validate(cfg)


# --------------------------------------------------------------------------
# the same rules in a bloc's policy file (sim.config.policy.InstrumentsConfig)
# --------------------------------------------------------------------------
def _policy_model(years: int = 2, **instruments) -> ChainModel:
    cfg = copy.deepcopy(_BASE)
    cfg.years = years
    for k, v in instruments.items():
        setattr(cfg.policy["west"].instruments, k, v)
    return ChainModel(validate(cfg))


def test_policy_tariff_is_a_layer_removed_exactly_at_retirement():
    """A policy's import_tariff taxes the bloc's imports from every other bloc (China and the rest of the world)."""
    m = _policy_model(import_tariff={"magnet": 0.25, "metal": 0.1})
    t = m.instruments.tariff
    others = tuple(c for c in range(m.tables.B) if c != WEST)
    assert len(others) >= 2  # China and the rest of the world
    want = np.zeros_like(t)
    want[WEST, list(others), MAGNET] = 0.25
    want[WEST, list(others), METAL] = 0.1
    np.testing.assert_array_equal(t, want)
    _step_to(m, 1)
    np.testing.assert_array_equal(landed_price(m, MAGNET), _expected_landed(m, MAGNET, 0.25, origins=others))
    m.policy.retire_bloc(WEST)
    np.testing.assert_array_equal(m.instruments.tariff, np.zeros_like(t))


def test_policy_production_credit_pays_from_the_start_with_its_fiscal_book(monkeypatch):
    seen = _spy_credits(monkeypatch)
    m = _step_to(_policy_model(production_credit_cost_share={"separation": 0.1}, production_credit_usd_per_kg={"magnet": 5.0}), 3)
    paid = 0.0
    for _q, got, output, input_cost, proc, bloc, stage, alive in seen:
        west = alive & (bloc == WEST)
        want = np.where(west & (stage == SEPARATION), 0.1 * (input_cost + output * proc / 1000.0), 0.0)
        want = want + np.where(west & (stage == MAGNET), 5.0 * output / 1000.0, 0.0)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        paid += want.sum()
    assert paid > 0 and m.policy.fiscal_totals()[(WEST, "production_credit")] == pytest.approx(paid, rel=1e-12)


@pytest.mark.parametrize(
    "field,value,key",
    [
        ("import_tariff", {"oxide": 0.1}, "import_tariff"),
        ("import_tariff", {"magnet": -0.1}, "import_tariff.magnet"),
        ("production_credit_cost_share", {"metal": 1.5}, "production_credit_cost_share.metal"),
    ],
)
def test_bad_policy_trade_rule_is_a_one_line_config_error(field, value, key):
    cfg = copy.deepcopy(_BASE)
    setattr(cfg.policy["west"].instruments, field, value)
    with pytest.raises(ConfigError) as ei:
        validate(cfg)
    assert ei.value.key == f"policy.west.instruments.{key}" and "\n" not in str(ei.value)


# --------------------------------------------------------------------------
# a standing export ban in a bloc's policy (instruments.export_ban_stages)
# --------------------------------------------------------------------------
def _ban_model(years: int = 2, stages: tuple[str, ...] = ("mining",)) -> ChainModel:
    cfg = copy.deepcopy(_BASE)
    cfg.years = years
    cfg.policy["china"].instruments.export_ban_stages = list(stages)
    return ChainModel(validate(cfg))


def _bought_from(m: ChainModel, s: int, origin: int) -> np.ndarray:
    """(B,) tonnes each bloc's buyers received at stage s from ``origin``'s suppliers in the last clearing."""
    cl = m.last_clearing[s]
    from_origin = m.pop.bloc[cl.suppliers] == origin
    return np.array([cl.delivered[np.ix_(cl.class_bloc == b, from_origin)].sum() for b in range(m.tables.B)])


def test_export_ban_stops_other_blocs_buying_the_stage_and_nothing_else():
    """Without the ban the West's and the rest of the world's separation plants buy some Chinese ore (the test can
    fail); with it they buy none, China's own plants still do, and Chinese oxide still sells abroad."""
    base, m = _policy_model(), _ban_model()
    for _ in range(4):
        base.step()
        m.step()
        free, banned = _bought_from(base, MINING, CHINA), _bought_from(m, MINING, CHINA)
        assert free[np.arange(base.tables.B) != CHINA].sum() > 0
        assert (banned[np.arange(m.tables.B) != CHINA] == 0.0).all()
        assert banned[CHINA] > 0
        assert _bought_from(m, SEPARATION, CHINA)[WEST] > 0
    assert m.markets.controlled(MINING, CHINA) and not m.markets.controlled(SEPARATION, CHINA)
    assert not m.markets.controlled(MINING, CHINA, standing=False)  # a standing rule, not a shock
    ts = m.recorder.timeseries()
    assert (ts["export_controlled"] == 0.0).all()  # the recorded series shows shocks only


def test_export_ban_builds_no_security_premium_and_ends_with_the_policy():
    m = _ban_model()
    m.security.premium[:] = 0.0
    m.security.active = True
    m.last_clearing = {}  # no shortage exposure: only export controls in force could build a premium
    m.security.update(m)
    assert (m.security.premium == 0.0).all()
    m.markets.set_export_control("shock", "china", ["magnet"], 0.5)
    m.security.update(m)
    assert m.security.premium[WEST, CHINA] > 0.0  # the same update builds one under a shock
    m.markets.clear_export_control("shock")
    m.policy.retire_bloc(CHINA)
    assert not m.markets.controlled(MINING, CHINA)
    assert m.markets.licensed_share(MINING, np.arange(m.tables.B)) is None


def test_bad_export_ban_stage_is_a_one_line_config_error():
    cfg = copy.deepcopy(_BASE)
    cfg.policy["china"].instruments.export_ban_stages = ["ore"]
    with pytest.raises(ConfigError) as ei:
        validate(cfg)
    assert ei.value.key == "policy.china.instruments.export_ban_stages" and "\n" not in str(ei.value)
    assert "mining" in str(ei.value)


# --------------------------------------------------------------------------
# the defence sourcing mandate of a bloc's policy (instruments.defence_mandate_share)
# --------------------------------------------------------------------------
def test_defence_mandate_reaches_defence_buyers_and_state_buyers_only_and_ends_with_the_policy():
    """west_defence is private (state_owned: false) but a defence buyer: the mandate reaches it (before, it reached
    only state-owned buyers, so the coordinated West's mandate bound nobody but the stockpile)."""
    m = _policy_model(defence_mandate_share=0.6)
    west = {b.name: b for b in m.buyers if b.bloc == WEST}
    assert west["west_defence"].defence and not west["west_defence"].state_owned
    assert west["west_defence"].domestic_mandate == 0.6
    for name, b in west.items():
        if not (b.defence or b.state_owned):
            assert b.domestic_mandate == 0.0, name
    assert all(b.domestic_mandate == 0.0 for b in m.buyers if b.bloc != WEST)
    _step_to(m, 1)
    cl = m.last_clearing[MAGNET]
    assert cl.demand[(cl.class_bloc == WEST)].sum() > 0
    m.policy.retire_bloc(WEST)
    assert west["west_defence"].domestic_mandate == 0.0


# -- China's additional deduction of R&D (docs/ODD.md 7.4) ------------------------------------------------------------


def test_policy_rd_deduction_lowers_tax_from_the_start_and_lifts_rd_when_it_rises():
    """policy.china.instruments.rd_extra_deduction reaches the accounts: in the first quarter (2015, the 50% of 2008 in
    force) Chinese firms pay tax on profit less half their R&D and spend as before (the factor is 1 at the start); from
    2018 (75%) a firm with the same propensity spends more on R&D by the tax-price factor. Other blocs are untouched."""
    from _sim_helpers import make_config

    law = "policy.china.instruments.rd_extra_deduction=[[2008,0.5],[2018,0.75],[2021,1.0]]"
    off = ChainModel(make_config("years=4", "policy.china.instruments.rd_extra_deduction=[]"))
    on = ChainModel(make_config("years=4", law))
    off.step()
    on.step()
    pop_off, pop_on = off.pop, on.pop
    cn = np.flatnonzero(pop_on.alive & (pop_on.bloc == CHINA))
    np.testing.assert_array_equal(pop_on.rd_spend, pop_off.rd_spend)
    pbt = pop_on.profit + pop_on.tax  # profit before tax (the grants are reset later in the quarter)
    np.testing.assert_allclose(pop_on.tax[cn], pop_on.tax_rate[cn] * np.maximum(pbt[cn] - 0.5 * pop_on.rd_spend[cn], 0.0))
    assert (pop_on.tax[cn] < pop_off.tax[cn]).any()
    other = np.flatnonzero(pop_on.bloc != CHINA)
    np.testing.assert_array_equal(pop_on.tax[other], pop_off.tax[other])
    while on.steps < 13:  # to 2018 Q1
        on.step()
    factor, deduction = on.rd_tax_now()
    tau = on.tables.tax_rate[CHINA]
    assert deduction[CHINA] == 0.75 and factor[CHINA] == pytest.approx((1 - tau * 1.5) / (1 - tau * 1.75))
    assert factor[WEST] == 1.0 and deduction[WEST] == 0.0
    pop = on.pop
    free = np.flatnonzero(pop.alive & (pop.bloc == CHINA) & (pop.rd_grants == 0) & (pop.rd_spend > 0) & (pop.cash > 10 * pop.rd_spend))
    assert len(free) > 0
    np.testing.assert_allclose(pop.rd_spend[free], pop.rd_propensity[free] * factor[CHINA] * pop.revenue[free])


# --------------------------------------------------------------------------
# the enacted package (conf/scenario/west_enacted.yaml)
# --------------------------------------------------------------------------
def test_west_enacted_runs_the_rules_on_their_enacted_dates(monkeypatch):
    """The scenario's dated rules, as the run applies them year by year: the 45X credit at 10% of the production
    cost of the West's separated oxide and metal from 2023, at 75%, 50% and 25% of that in 2031-2033 and none from
    2034 (Public Law 119-21, sec. 70514); the 25% tariff on China's magnets from 2026; the defence ban from 2019."""
    seen = _spy_credits(monkeypatch)
    cfg = fresh_config("scenario=west_enacted")
    cfg.years = 21  # 2015-2035
    m = ChainModel(validate(cfg))
    tariff_by_year, ban_by_year = {}, {}
    for _ in range(4 * cfg.years - 1):
        m.step()
        year = 2015 + (m.quarter + 1) // 4  # events fire between quarters: what is set now holds in the next one
        tariff_by_year[year] = float(m.instruments.tariff[WEST, CHINA, MAGNET])
        ban = m.instruments.buyer_bans.get("west_defence")
        ban_by_year[year] = None if ban is None else tuple(ban)
    schedule = {2031: 0.075, 2032: 0.05, 2033: 0.025}
    paid_by_year: dict[int, float] = {}
    for q, got, output, input_cost, proc, bloc, stage, alive in seen:
        year = 2015 + q // 4
        share = 0.0 if year < 2023 or year >= 2034 else schedule.get(year, 0.10)
        here = alive & (bloc == WEST) & np.isin(stage, [SEPARATION, METAL])
        want = np.where(here, share * (input_cost + output * proc / 1000.0), 0.0)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=f"quarter {q}")
        paid_by_year[year] = paid_by_year.get(year, 0.0) + float(want.sum())
    assert all(paid_by_year[y] > 0 for y in range(2023, 2034)) and paid_by_year[2034] == 0.0 and paid_by_year[2022] == 0.0
    assert [tariff_by_year[y] for y in (2025, 2026, 2035)] == [0.0, 0.25, 0.25]
    assert ban_by_year[2018] is None and ban_by_year[2019] == ban_by_year[2035] == (1.0, 0.0, 0.0)  # China's magnets only
