"""Property tests (hypothesis): conservation, non-negativity and accounting identities.

Model properties step short runs (2-4 years) with a random seed and a few random behaviour
parameters (logit beta, price adjustment, price clip, shut-down tolerance, and an optional export
control with a random licensed share, delay and stages) and check every quarter, for every firm.
The recorded series (what timeseries.parquet holds) are checked on the same configurations, with an
optional state offtake, against the balances of docs/ODD.md 7.8: world output = deliveries + the state's
stock change, imports = exports, input use = upstream deliveries.
Market properties check sim.engine.markets.allocate / update_price on random inputs.
"""

from __future__ import annotations

import numpy as np
import pytest
from _rule_helpers import fresh_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.config import validate
from sim.engine.markets import allocate, update_price
from sim.engine.model import ChainModel
from sim.engine.policy_metrics import TIER_NAMES

STAGES = ["mining", "separation", "metal", "magnet"]
TOL = 1e-9
MODEL_SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])

NONNEGATIVE = (
    "capacity_t",
    "potential_t",
    "orders_t",
    "output_t",
    "inputs_t",
    "knowledge",
    "debt",
    "book_assets",
    "working_capital",
    "cum_output_t",
    "employees",
    "rd_spend",
    "tax",
    "capex",
    "grants",
    "equity_in",
    "equity_raised",
)


@st.composite
def run_configs(draw, min_years: int = 2, max_years: int = 4):
    cfg = fresh_config()
    cfg.seed = draw(st.integers(0, 2**31 - 1))
    cfg.years = draw(st.integers(min_years, max_years))
    m = cfg.world.markets
    m.logit_beta = draw(st.floats(0.0, 12.0))
    m.price_adjustment = draw(st.floats(0.0, 2.0))
    m.max_price_change = draw(st.floats(0.01, 0.5))
    m.shutdown_tolerance = draw(st.floats(0.0, 0.5))
    if draw(st.booleans()):
        start_q = draw(st.integers(0, 4 * cfg.years - 1))
        cfg.scenario.events = {
            "ec": {
                "kind": "export_control",
                "start_year": cfg.world.start_year + start_q / 4.0,
                "end_year": None,
                "exporter": draw(st.sampled_from(["china", "west"])),
                "stages": draw(st.lists(st.sampled_from(STAGES), min_size=1, max_size=4, unique=True)),
                "licensed_share": draw(st.floats(0.0, 1.0)),
                "licence_delay_quarters": draw(st.integers(0, 3)),
            }
        }
    return validate(cfg)


@st.composite
def recording_configs(draw):
    """``run_configs``, sometimes with a state offtake (a price-floor event with an offtake volume and no floor,
    so that no grant flows into the next quarter's accounts) from a random quarter: a stock change of product."""
    cfg = draw(run_configs())
    if draw(st.booleans()):
        start_q = draw(st.integers(0, 4 * cfg.years - 1))
        cfg.scenario.events = dict(cfg.scenario.events)
        cfg.scenario.events["offtake"] = {
            "kind": "price_floor",
            "start_year": cfg.world.start_year + start_q / 4.0,
            "end_year": None,
            "bloc": draw(st.sampled_from(["china", "west", "rest_of_world"])),
            "floor_usd_per_kg": {},
            "offtake_t_per_year": {draw(st.sampled_from(STAGES)): draw(st.floats(100.0, 20_000.0))},
        }
    return validate(cfg)


def _snapshot(pop):
    return {"id": pop.firm_id.copy(), "cash": pop.cash.copy(), "alive": pop.alive.copy(), "equity_in": pop.equity_in.copy()}


def _matched(before, pop):
    """Rows (after) and positions (before) of firms present before and after the step."""
    pos = np.searchsorted(before["id"], pop.firm_id)
    pos = np.minimum(pos, len(before["id"]) - 1)
    present = before["id"][pos] == pop.firm_id if len(before["id"]) else np.zeros(len(pop), bool)
    return np.flatnonzero(present), pos[present]


def _check_quarter(m, before, *, with_outside_equity: bool, paid_in: np.ndarray | None = None) -> None:
    """The quarter's invariants. ``paid_in``: per row, the grants this quarter's accounts booked plus public money
    paid straight into cash (group rescues); by default ``pop.grants``, which is that only while no policy pays
    into the next quarter's accounts (the laissez-faire worlds here; tests/test_economic_sanity.py passes it)."""
    pop, T = m.pop, m.tables
    q = m.quarter
    alive = pop.alive
    # stocks and flows that cannot be negative
    for col in NONNEGATIVE:
        v = getattr(pop, col)[alive]
        assert (v >= -TOL).all(), f"q{q}: negative {col} {v.min()}"
    for col in ("pat_inv", "pat_util"):
        assert (getattr(pop, col)[alive] >= 0).all(), f"q{q}: negative {col}"
    assert ((pop.quality[alive] >= 0) & (pop.quality[alive] <= 1 + TOL)).all()
    assert (pop.cash[alive] >= -1e-9).all(), f"q{q}: a live firm has negative cash {pop.cash[alive].min()}"
    # production limits: output <= sellable potential (capacity/4 x utilisation x quality) and <= inputs / input per t
    assert (pop.output_t[alive] <= pop.potential_t[alive] * (1 + 1e-9) + TOL).all(), f"q{q}: output above potential"
    down = alive & (pop.stage > 0)
    need = pop.output_t[down] * T.input_per_t[pop.stage[down]]
    assert (need <= pop.inputs_t[down] * (1 + 1e-9) + TOL).all(), f"q{q}: output above inputs / input_per_t"
    # mass balance: what a stage produced is what its buyers received, plus what the state bought as offtake (price floors)
    state = m.price_floors.offtake_t.sum(axis=0)  # (S,) t
    for s in range(T.S - 1):
        made = pop.output_t[pop.stage == s].sum()
        used = pop.inputs_t[pop.stage == s + 1].sum() + state[s]
        assert used == pytest.approx(made, rel=1e-9, abs=1e-6), f"q{q}: stage {s} output {made} != inputs bought + state offtake {used}"
    final = sum(b.received_t for b in m.buyers) + state[-1]
    made = pop.output_t[pop.stage == T.S - 1].sum()
    assert final == pytest.approx(made, rel=1e-9, abs=1e-6), f"q{q}: magnet output {made} != final buyers' receipts + state offtake {final}"
    for b in m.buyers:
        assert -TOL <= b.received_t <= b.demand_t + 1e-6 and b.shortage_t >= -1e-6
    for cl in m.last_clearing.values():
        assert (cl.alloc >= -TOL).all()
        assert (cl.alloc.sum(axis=1) <= cl.demand * (1 + 1e-9) + TOL).all()
    assert np.isfinite(m.markets.price).all() and (m.markets.price > 0).all()
    # cash identity per firm, matched by firm id (rows are compacted at year boundaries; entrants are new ids)
    rows, pos = _matched(before, pop)
    was_alive = before["alive"][pos]
    rows, pos = rows[was_alive], pos[was_alive]
    if not with_outside_equity:
        quiet = (before["equity_in"][pos] == 0) & (pop.equity_in[rows] == 0)
        rows, pos = rows[quiet], pos[quiet]
    d_cash = pop.cash[rows] - before["cash"][pos]
    grants = pop.grants if paid_in is None else paid_in
    flows = (pop.revenue - pop.costs - pop.tax + grants - pop.capex - pop.working_capital_in + pop.net_borrowing - pop.dividends + pop.equity_in)[
        rows
    ]
    bad = np.flatnonzero(~np.isclose(d_cash, flows, rtol=1e-9, atol=1e-9))
    assert len(bad) == 0, (
        f"q{q}: cash change != flows for firm ids {pop.firm_id[rows][bad][:5].tolist()}: "
        f"d cash {d_cash[bad][:3]}, flows {flows[bad][:3]}, equity_in {pop.equity_in[rows][bad][:3]}"
    )


def _run_checked(cfg, *, with_outside_equity: bool) -> ChainModel:
    m = ChainModel(cfg)
    while m.running and m.steps < m.n_steps:
        before = _snapshot(m.pop)
        m.step()
        _check_quarter(m, before, with_outside_equity=with_outside_equity)
    return m


@MODEL_SETTINGS
@given(cfg=run_configs())
def test_quarterly_invariants(cfg):
    """Every quarter, every live firm: no negative stocks, cash >= 0, output within potential and inputs,
    mass balance between stages, and d cash = revenue - costs - tax + grants - capex - working capital in + net borrowing - dividends
    (firms with outside equity in flight are checked by test_cash_identity_with_outside_equity)."""
    m = _run_checked(cfg, with_outside_equity=False)
    assert m.steps == cfg.years * 4


def test_cash_identity_with_outside_equity():
    cfg = fresh_config("years=3", "seed=1")
    _run_checked(cfg, with_outside_equity=True)


def test_outside_equity_reaches_cash_once():
    """What is raised at the gate ends up in cash exactly once (cumulative equity_raised = sum of equity_in)."""
    cfg = fresh_config("years=4", "seed=1")
    m = ChainModel(cfg)
    raised = {}
    while m.running and m.steps < m.n_steps:
        m.step()
        for fid, e in zip(m.pop.firm_id, m.pop.equity_in):
            if e > 0:
                raised[int(fid)] = raised.get(int(fid), 0.0) + float(e)
    assert raised, "the run must raise some outside equity"
    # equity raised before the last quarter has been booked (account() books it one quarter later today;
    # booking it in the quarter it is raised would also pass)
    last = {int(f): float(e) for f, e in zip(m.pop.firm_id, m.pop.equity_in)}
    checked = 0
    for fid, total in raised.items():
        try:
            r = m.pop.row_of(fid)
        except KeyError:
            continue
        checked += 1
        assert total - last.get(fid, 0.0) - 1e-9 <= m.pop.equity_raised[r] <= total + 1e-9
    assert checked


def _check_recorded_quarter(m) -> int:
    """The quarter's recorded series (Recorder.series, the rows of timeseries.parquet) balance, per stage: world
    output = world deliveries + the states' offtake (their stock change; firms hold no stocks); world imports = world
    exports; per bloc, input use = what its firms received from the stage above (0 at mining). The recorded output,
    input use and revenue are those of every row of the population: firms that exited in the quarter are still in it
    (compaction is between years) and rows that exited earlier hold no output, inputs or revenue of the quarter;
    the policy table's R&D and revenue over the tiers add up to the bloc's recorded R&D and revenue.
    Returns how many firms that produced in the quarter exited in it."""
    pop, T = m.pop, m.tables
    q = m.quarter
    rec = {k: v[-1] for k, v in m.recorder.series.items()}
    out, dl, off = rec["output_t"], rec["delivered_t"], rec["state_offtake_t"]
    for s in range(T.S):
        made, went = out[:, s].sum(), dl[:, s].sum() + off[:, s].sum()
        assert made == pytest.approx(went, rel=1e-9, abs=1e-6), f"q{q} {T.stages[s]}: world output {made} != deliveries + state offtake {went}"
    np.testing.assert_allclose(rec["imports_t"].sum(axis=0), rec["exports_t"].sum(axis=0), rtol=1e-9, atol=1e-6, err_msg=f"q{q}: imports != exports")
    np.testing.assert_allclose(rec["inputs_t"][:, 1:], dl[:, :-1], rtol=1e-9, atol=1e-6, err_msg=f"q{q}: input use != upstream deliveries")
    assert (rec["inputs_t"][:, 0] == 0).all()
    for col, name in (("output_t", "output_t"), ("inputs_t", "inputs_t"), ("revenue", "revenue_musd")):
        every_row = T.bs_sum(pop.bloc, pop.stage, getattr(pop, col))
        np.testing.assert_allclose(rec[name], every_row, rtol=1e-9, atol=1e-9, err_msg=f"q{q}: recorded {name} != the population's")
    # the policy table's R&D and revenue by tier (policy.parquet) add up to the bloc's recorded R&D and revenue
    by_tier = {}
    for qq, b, measure, key, value in reversed(m.recorder.policy.rows):
        if qq != q:
            break
        if measure in ("rd_spend_musd", "revenue_musd") and key in TIER_NAMES:
            by_tier[(b, measure)] = by_tier.get((b, measure), 0.0) + value
    for b in range(T.B):
        for measure in ("rd_spend_musd", "revenue_musd"):
            assert by_tier[(b, measure)] == pytest.approx(rec[measure][b].sum(), rel=1e-9, abs=1e-9), f"q{q}: {measure} by tier != recorded"
    return int(((pop.exit_step == q) & (pop.output_t > 0)).sum())


@MODEL_SETTINGS
@given(cfg=recording_configs())
def test_recorded_series_balance(cfg):
    """Every quarter of a random configuration: the recorded series balance (docs/ODD.md 7.8), including the
    flows of firms that produced in a quarter and exited in it."""
    m = ChainModel(cfg)
    while m.running and m.steps < m.n_steps:
        m.step()
        _check_recorded_quarter(m)
    assert m.steps == cfg.years * 4


def test_recorded_series_balance_when_producers_exit():
    """A run in which firms that produced in a quarter exit in it (the case that set recorded output below
    deliveries before those firms' flows were recorded), and in which the state takes offtake."""
    cfg = fresh_config("years=4", "seed=5")
    cfg.scenario.events = {
        "offtake": {
            "kind": "price_floor",
            "start_year": 2016.0,
            "end_year": None,
            "bloc": "west",
            "floor_usd_per_kg": {},
            "offtake_t_per_year": {"magnet": 2000.0},
        }
    }
    m = ChainModel(validate(cfg))
    exits, offtake = 0, 0.0
    while m.running and m.steps < m.n_steps:
        m.step()
        exits += _check_recorded_quarter(m)
        offtake += m.recorder.series["state_offtake_t"][-1].sum()
    assert exits > 0 and offtake > 0  # both cases happened


# ---------------------------------------------------------------------------
# Market rules on random inputs
# ---------------------------------------------------------------------------
@st.composite
def market_inputs(draw):
    K = draw(st.integers(1, 4))
    N = draw(st.integers(0, 6))
    B = 2
    floats = st.floats(0.0, 100.0, allow_nan=False)
    demand = np.array(draw(st.lists(floats, min_size=K, max_size=K)))
    avail = np.array(draw(st.lists(floats, min_size=N, max_size=N)))
    pref = np.array(draw(st.lists(st.lists(st.one_of(st.just(0.0), st.floats(1e-3, 1.0)), min_size=N, max_size=N), min_size=K, max_size=K))).reshape(
        K, N
    )
    sup_bloc = np.array(draw(st.lists(st.integers(0, B - 1), min_size=N, max_size=N)), dtype=int)
    class_bloc = np.array(draw(st.lists(st.integers(0, B - 1), min_size=K, max_size=K)), dtype=int)
    share = draw(st.floats(0.0, 1.0))
    licensed = np.ones((K, B))
    licensed[class_bloc != 0, 0] = share  # bloc 0 controls exports
    rounds = draw(st.integers(1, 8))
    return demand, avail, pref, sup_bloc, licensed, rounds


@settings(max_examples=200, deadline=None)
@given(inp=market_inputs(), controlled=st.booleans())
def test_allocate_conserves_and_respects_limits(inp, controlled):
    demand, avail, pref, sup_bloc, licensed, rounds = inp
    res = allocate(demand, avail, pref, rounds, sup_bloc, licensed) if controlled else allocate(demand, avail, pref, rounds)
    assert (res.alloc >= 0).all()
    assert (res.alloc.sum(axis=0) <= avail * (1 + 1e-9) + 1e-9).all()
    np.testing.assert_allclose(res.alloc.sum(axis=1) + res.unmet, demand, atol=1e-7)
    assert (res.unmet >= -1e-9).all()
    assert (res.alloc[pref == 0] == 0).all()
    if controlled and len(avail):
        # the licence caps purchases at the licensed share of what the class obtains without control
        free = allocate(demand, avail, pref, rounds)
        would = free.alloc[:, sup_bloc == 0].sum(axis=1)
        got = res.alloc[:, sup_bloc == 0].sum(axis=1)
        lim = licensed[:, 0] < 1.0  # only foreign classes are capped
        assert (got[lim] <= licensed[lim, 0] * would[lim] * (1 + 1e-9) + 1e-9).all()


@settings(max_examples=200, deadline=None)
@given(
    price=st.floats(0.1, 500.0),
    util=st.one_of(st.none(), st.floats(0.0, 1.5)),
    short=st.floats(0.0, 1.0),
    floor=st.floats(0.0, 100.0),
    ceiling_gap=st.floats(0.0, 400.0),
    kappa=st.floats(0.0, 5.0),
    max_change=st.floats(0.0, 1.0),
    normal=st.floats(0.1, 500.0),
    reversion=st.floats(0.0, 1.0),
)
def test_update_price_bounded(price, util, short, floor, ceiling_gap, kappa, max_change, normal, reversion):
    ceiling = floor + ceiling_gap
    new = update_price(price, util, short, floor, ceiling, kappa, 0.85, max_change, normal, reversion)
    assert floor - 1e-9 <= new <= ceiling + 1e-9
    if floor <= price * (1 - max_change) and price * (1 + max_change) <= ceiling:
        assert abs(new / price - 1.0) <= max_change + 1e-12
    excess = kappa * (short + (util - 0.85 if util is not None else 0.0))
    if reversion == 0 and floor <= price * (1 - max_change) and price * (1 + max_change) <= ceiling and max_change > 1e-6:
        if excess > 1e-6:
            assert new > price
        elif excess < -1e-6:
            assert new < price
