"""Supply agreements across blocs (sim/engine/contracts.py; docs/ODD.md 7.14): a plant of one bloc serves another
bloc's buyers first with a share of its nameplate, at the index, and the agreement is renewed while those buyers'
bloc is not self-sufficient at the stage.

The 2015 world holds one, switched off by default (``agreement_share`` 0; ON below switches it on): Lynas's Malaysian
plant (rest of the world) and Japan (the West), from the 2011 JARE financing: 0.39 of its nameplate to the end of
2022, renewed for ten years at a time.
"""

from __future__ import annotations

import numpy as np
import pytest
from _sim_helpers import make_config

from sim.checks import ConfigError
from sim.config import compose
from sim.engine import contracts
from sim.engine.model import ChainModel

COHORT = "world.firms.row_separation_my"
ON = f"{COHORT}.agreement_share=0.39"  # the sourced share (conf/world/rare_earth_2015.yaml)


def _lynas(m: ChainModel) -> int:
    T, pop = m.tables, m.pop
    rows = np.flatnonzero(pop.alive & (pop.region == T.regions.index("malaysia")) & (pop.stage == T.stages.index("separation")))
    assert len(rows) == 1
    return int(rows[0])


def test_the_2015_world_starts_with_the_lynas_japan_agreement():
    """Its share of the plant's nameplate, for the West's buyers, at no floor, ending as 2023 begins (quarter 32 of a run
    from 2015)."""
    m = ChainModel(make_config("years=2", ON))
    pop, T = m.pop, m.tables
    r = _lynas(m)
    assert pop.contract_t[r] == pytest.approx(0.39 * pop.capacity_t[r], rel=1e-12)
    assert pop.contract_bloc[r] == T.blocs.index("west") and pop.contract_floor[r] == 0.0
    assert pop.contract_end_q[r] == 32
    others = np.flatnonzero(pop.alive)
    others = others[others != r]
    assert not pop.contract_t[others].any() and (pop.contract_bloc[others] == -1).all()


def test_the_agreement_is_served_to_its_blocs_buyers_first():
    """reserve(): the agreement's quarterly volume goes to the West's classes, pro rata to their demand and within it,
    none to China's or the rest of the world's, whatever their demand."""
    m = ChainModel(make_config("years=2", ON))
    m.step()
    pop, T = m.pop, m.tables
    r = _lynas(m)
    sup = np.array([r])
    pop.potential_t[r] = 900.0
    c_bloc = np.array([0, 1, 1, 2])
    vol = pop.contract_t[r] / 4.0
    demand = np.array([5000.0, 1000.0, 3000.0, 5000.0])  # the West wants more than the volume: all of it, 1:3
    pre = contracts.reserve(m, T.stages.index("separation"), sup, c_bloc, demand)
    np.testing.assert_allclose(pre[:, 0], [0.0, 0.25 * vol, 0.75 * vol, 0.0], rtol=1e-12)
    small = np.array([5000.0, 10.0, 30.0, 5000.0])  # the West wants less: only what it wants
    pre = contracts.reserve(m, T.stages.index("separation"), sup, c_bloc, small)
    np.testing.assert_allclose(pre[:, 0], [0.0, 10.0, 30.0, 0.0], rtol=1e-12)
    closed = np.ones((4, 1), dtype=bool)
    closed[1:3] = False  # the West may not buy from the plant (a ban, a control): nothing is reserved for it
    assert not contracts.reserve(m, T.stages.index("separation"), sup, c_bloc, demand, closed).any()


def test_the_west_buys_the_agreed_volume_in_a_run():
    """Baseline, seed 1, 2016-2022: the West's metal makers buy from the rest of the world's separation at least the
    agreement's volume, or all they want when they want less, each quarter (the logit adds to it), against under a
    quarter of it each year without the agreement."""
    bought, served, due = {}, [], []
    for share in (0.39, 0.0):
        m = ChainModel(make_config("seed=1", "years=8", f"{COHORT}.agreement_share={share}"))
        T = m.tables
        s, row, west = T.stages.index("separation"), T.blocs.index("rest_of_world"), T.blocs.index("west")
        year = []
        for q in range(m.n_steps):
            m.step()
            cl = m.last_clearing[s]
            col = m.pop.bloc[cl.suppliers] == row
            got = cl.delivered[cl.class_bloc == west][:, col].sum()
            year.append(got)
            if share > 0 and q >= 4:
                owed_q = min(m.pop.contract_t[_lynas(m)] / 4.0, cl.demand[cl.class_bloc == west].sum())
                served.append(got >= 0.999 * owed_q)
                due.append(owed_q)
        bought[share] = np.add.reduceat(np.array(year[4:]), np.arange(0, len(year) - 4, 4))  # 2016-2022, t/yr
    assert served and all(served)
    # what the agreement owes them (its volume, or what they want when they want less: with the plant at its nameplate,
    # docs/ODD.md section 5, they want less than its 2,100 t a year), 2016-2022, and under a quarter of it without it
    owed = np.add.reduceat(np.array(due), np.arange(0, len(due), 4))
    assert bought[0.39].mean() >= 0.999 * owed.mean()
    assert bought[0.0].max() < 0.25 * owed.mean(), (bought[0.0], owed)


@pytest.mark.parametrize(("self_sufficient", "years", "renewed"), [(0.1, 10.0, True), (0.6, 10.0, False), (0.1, 0.0, False)])
def test_the_agreement_is_renewed_while_its_buyers_are_not_self_sufficient(monkeypatch, self_sufficient, years, renewed):
    """At its end (quarter 32) the agreement is renewed for ``agreement_renewal_years`` (``contract_renewed``) while the
    West makes less of its separation need than the independence threshold (0.5); at 0.6 it ends
    (``contract_ended``; the plant's volume, floor and bloc cleared), and with a renewal term of 0 it always ends."""
    m = ChainModel(make_config("years=2", ON, f"world.procurement.agreement_renewal_years={years}"))
    pop, T = m.pop, m.tables
    r = _lynas(m)
    own = np.full((T.B, T.S), np.nan)
    own[T.blocs.index("west"), T.stages.index("separation")] = self_sufficient
    monkeypatch.setattr(m, "self_sufficiency", lambda output_t=None: own)
    volume = pop.contract_t[r]
    m.quarter = 31
    contracts.review(m)
    assert pop.contract_t[r] == volume  # not yet due
    m.quarter = 32
    contracts.review(m)
    kinds = [e.kind for e in m.event_log if e.firm_id == pop.firm_id[r]]
    if renewed:
        assert pop.contract_t[r] == volume and pop.contract_end_q[r] == 32 + 40 and "contract_renewed" in kinds
    else:
        assert pop.contract_t[r] == 0.0 and pop.contract_bloc[r] == -1 and "contract_ended" in kinds


def test_a_gate_contract_is_never_renewed(monkeypatch):
    """A contract signed at the finance gate serves the plant's own bloc and ends at its term, whatever the bloc's
    self-sufficiency (renewal is for agreements across blocs)."""
    m = ChainModel(make_config("years=2"))
    pop, T = m.pop, m.tables
    r = int(np.flatnonzero(pop.operating & (pop.bloc == T.blocs.index("west")) & (pop.stage == 1))[0])
    pop.contract_t[r], pop.contract_bloc[r], pop.contract_end_q[r] = 400.0, pop.bloc[r], 5
    monkeypatch.setattr(m, "self_sufficiency", lambda output_t=None: np.zeros((T.B, T.S)))
    m.quarter = 5
    contracts.review(m)
    assert pop.contract_t[r] == 0.0


@pytest.mark.parametrize(
    ("override", "key", "words"),
    [
        (f"{COHORT}.agreement_bloc=mars", f"{COHORT}.agreement_bloc", "unknown bloc 'mars'"),
        (f"{COHORT}.agreement_bloc=rest_of_world", f"{COHORT}.agreement_bloc", "another bloc's buyers"),
        ((ON, f"{COHORT}.agreement_bloc=null"), f"{COHORT}.agreement_bloc", "needs its buyers' bloc"),
        ((ON, f"{COHORT}.agreement_end_year=2015"), f"{COHORT}.agreement_end_year", "after world.start_year"),
        (f"{COHORT}.agreement_share=1.5", f"{COHORT}.agreement_share", ""),
    ],
)
def test_a_malformed_agreement_is_one_clear_error(override, key, words):
    with pytest.raises(ConfigError) as err:
        compose(list(override) if isinstance(override, tuple) else [override])
    assert key in str(err.value) and words in str(err.value)


def test_the_agreement_is_off_by_default():
    """agreement_share 0, the shipped value: no contract at the start (the world before the agreement was built)."""
    m = ChainModel(make_config("years=2"))
    assert not m.pop.contract_t.any() and (m.pop.contract_bloc == -1).all()
