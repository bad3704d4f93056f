"""Designation as the programme runs it (docs/ODD.md 7.9): the national Little Giant rounds under the plan's
yearly quota, the provinces' recommendation before them, and what a review does with a title holder that
outgrew the SME size.

Rule tests on a handful of firms: the pure rules (``yearly_quota``, ``recommend``, ``rank``) on hand-made
arrays, and the government's yearly round on a real coordinated model whose firm metrics are replaced by
hand-made ones (``firm_metrics`` patched), so that exactly the chosen firms are candidates. Run tests check the
schedule over a run and that each lever switched off gives back the behaviour without it. The property that
every designation and passed review meets the criteria is checked round by round in tests/test_designation.py
(``RoundWatch``), with these levers at their defaults.
"""

from __future__ import annotations

import numpy as np
import pytest
import test_designation
from _rule_helpers import fresh_config

import agents.government as government
from agents.firms import Phase, Tier
from agents.government import rank, recommend, recommendation_caps, scheduled, yearly_quota
from sim.checks import ConfigError
from sim.config import compose, validate
from sim.config.policy import METRICS, NationalQuotaConfig, ProvincialRecommendationConfig
from sim.engine.model import ChainModel

CHINA = 0
COORD = ("scenario=laissez_faire", "policy@policy.china=coordinated", "years=10")
FIRST_BATCH_Q = (2019 - 2015) * 4 + 1  # the 2019 round acts in 2019 Q2 (quarter index 17)


def coord(**designation):
    """A coordinated-China config (deep copy) with designation fields replaced."""
    cfg = fresh_config(*COORD)
    for k, v in designation.items():
        setattr(cfg.policy["china"].designation, k, v)
    return cfg


# ---------------------------------------------------------------------------
# 1. The pure rules
# ---------------------------------------------------------------------------
def test_yearly_quota_follows_the_batches_with_the_fraction_carried():
    batches = [248, 248, 2930, 0]  # 2019 ... 2022
    carry, out = 0.0, []
    for year in range(2016, 2025):
        quota, carry = yearly_quota(2019, batches, year, 0.01, carry)
        out.append(quota)
    # none before the first batch; 2.48 a year in 2019-20; 2022's batch of none repeats after the list
    assert out == [0, 0, 0, 2, 2, 30, 0, 0, 0]
    assert carry == pytest.approx(0.26)
    assert sum(out) == int(np.floor((248 + 248 + 2930) * 0.01))  # the quotas add up to the share of the batches
    assert yearly_quota(2019, [248, 1744], 2030, 1.0, 0.0) == (1744, 0.0)  # a whole share: the last batch, nothing to carry
    assert yearly_quota(2019, [248], 2030, 0.0, 0.0) == (0, 0.0)
    # 1e-9 of slack: 0.1 x 10 rounds of 1 make one title, not zero
    carry, got = 0.0, 0
    for _ in range(10):
        q, carry = yearly_quota(2019, [1], 2020, 0.1, carry)
        got += q
    assert got == 1


def test_schedules_start_at_their_first_year_and_repeat_their_last_value():
    assert [scheduled(2019, [1, 2, 3], y) for y in (2017, 2018, 2019, 2020, 2021, 2022, 2040)] == [None, None, 1, 2, 3, 3, 3]
    assert scheduled(2019, [], 2025) is None


def test_provinces_recommend_their_best_up_to_a_share_of_their_srdi_holders():
    region = np.array([0, 0, 0, 1, 1, 2, 0, 1])
    rd = np.array([0.05, 0.09, 0.07, 0.04, 0.08, 0.10, 0.07, 0.08])
    srdi = np.array([20, 9, 0])  # SRDI holders per region
    # share 0.11: region 0 ceil(2.2) = 3, region 1 ceil(0.99) = 1, region 2 none (no SRDI holder)
    got = recommend(region, rd, srdi, 0.11)
    assert got.tolist() == [1, 2, 4, 6]  # region 0: 0.09, 0.07, 0.07 (both 0.07 fit); region 1: the earlier of the 0.08 pair
    assert recommend(region, rd, srdi, 0.10).tolist() == [1, 2, 4]  # region 0: ceil(2.0) = 2, the earlier 0.07
    assert recommend(region, rd, np.array([10, 9, 0]), 0.10).tolist() == [1, 4]  # region 0: 1, region 1: ceil(0.9) = 1
    assert recommend(region, rd, srdi, 1.0).tolist() == [0, 1, 2, 3, 4, 6, 7]  # everyone but region 2's
    assert recommend(region, rd, srdi, 0.0).tolist() == []
    assert recommend(region[:0], rd[:0], srdi, 0.5).tolist() == []


def test_recommendation_with_a_carry_adds_up_to_the_share_of_the_holders():
    """rounding: carry. A region of 7 SRDI holders at 0.11 (0.77 a year) recommends 0, 1, 1, 1, 0 ... in turn, 3 in four
    rounds (3.08), where rounding up gives one every round; a region of 20 (2.2 a year) 2, 2, 2, 2, 3; none without holders."""
    srdi = np.array([7, 20, 0])
    carry = np.zeros(3)
    caps = []
    for _ in range(5):
        cap, carry = recommendation_caps(srdi, 0.11, carry)
        caps.append(cap.tolist())
    assert [c[0] for c in caps] == [0, 1, 1, 1, 0] and [c[1] for c in caps] == [2, 2, 2, 2, 3] and all(c[2] == 0 for c in caps)
    assert carry == pytest.approx([5 * 0.77 - 3, 5 * 2.2 - 11, 0.0])
    # the caps replace ceil(share x holders) in recommend: region 0 takes its best one, region 1 none
    region = np.array([0, 0, 1, 1])
    rd = np.array([0.05, 0.09, 0.07, 0.08])
    assert recommend(region, rd, np.array([7, 20]), 0.11, cap=np.array([1, 0])).tolist() == [1]
    assert recommend(region, rd, np.array([7, 20]), 0.11).tolist() == [1, 2, 3]  # rounding up: 1 and 3


def test_provinces_recommend_with_a_carry_in_the_round(monkeypatch):
    """In the round (rounding: carry): a region of 4 SRDI holders at a share of 0.25 recommends one every round, one of 3
    holders (0.75 a round) none in the first round and its best in the second, with the fraction carried."""
    nq = NationalQuotaConfig(first_year=2015, batches=[10000], national_srdi=[], chain_share=0.01, priority_gap_stages=False)
    cfg = coord(national_quota=nq, provincial_recommendation=ProvincialRecommendationConfig(share_of_srdi=0.25, rounding="carry"))
    h = Handful(monkeypatch, cfg)
    im = [h.firm("inner_mongolia", Tier.SRDI, rd_intensity=x) for x in (0.08, 0.12, 0.10, 0.09)]
    jx = [h.firm("jiangxi", Tier.SRDI, rd_intensity=x) for x in (0.07, 0.11, 0.09)]
    ev = h.round()
    assert _got(ev, "recommended") == h.ids([im[1]])  # Jiangxi: floor(0.75) = 0, 0.75 carried
    assert h.gov.recommend_carry[h.m.tables.regions.index("jiangxi")] == pytest.approx(0.75)
    h.m.quarter += 4
    ev = h.round()  # Inner Mongolia now 3 holders (one became a Little Giant): floor(0.75) = 0; Jiangxi floor(1.5) = 1
    assert _got(ev, "recommended") == h.ids([jx[1]])


def test_rank_puts_the_larger_gap_first_then_rd_intensity_then_order():
    rd = np.array([0.05, 0.09, 0.05, 0.20, 0.09])
    gap = np.array([0.3, 0.3, 0.3, 0.0, 0.5])
    assert rank(rd, gap).tolist() == [4, 1, 0, 2, 3]
    assert rank(rd, np.zeros(5)).tolist() == [3, 1, 4, 0, 2]


# ---------------------------------------------------------------------------
# 2. The yearly round on a handful of firms
# ---------------------------------------------------------------------------
PASS = test_designation.PASS  # firm metrics that meet every tier of both definitions


class Handful:
    """A coordinated model in which every Chinese firm is stripped of its title and fails the SRDI and Little Giant
    criteria (under two years in its niche) except the firms given values here; ``round()`` runs the government's
    yearly round on these metrics."""

    def __init__(self, monkeypatch, cfg):
        self.m = ChainModel(cfg)
        self.gov = self.m.policy.governments[CHINA]
        pop = self.m.pop
        self.rows = np.flatnonzero(pop.alive & (pop.bloc == CHINA) & (pop.phase == Phase.OPERATING))
        pop.tier[pop.bloc == CHINA] = Tier.NONE
        pop.review_step[pop.bloc == CHINA] = -1
        self.metrics = {k: np.full(len(pop), float(v)) for k, v in PASS.items()}
        assert set(self.metrics) == set(METRICS)
        self.metrics["years_in_niche"][:] = 0.0
        self.used = 0
        monkeypatch.setattr(government, "firm_metrics", lambda *a, **k: {n: v.copy() for n, v in self.metrics.items()})

    def firm(self, region: str, tier: Tier, **values) -> int:
        """The next Chinese firm, placed in ``region`` holding ``tier``, with PASS metrics changed by ``values``."""
        pop, T = self.m.pop, self.m.tables
        r = int(self.rows[self.used])
        self.used += 1
        pop.region[r] = T.regions.index(region)
        pop.tier[r] = tier
        for k, v in dict(PASS, **values).items():
            self.metrics[k][r] = v
        return r

    def round(self):
        n0 = len(self.m.event_log)
        self.gov.yearly_round()
        return self.m.event_log.where(bloc=CHINA, start=n0)

    def ids(self, rows) -> set[int]:
        return {int(self.m.pop.firm_id[r]) for r in rows}


def _got(events, kind, detail="little_giant") -> set[int]:
    return {e.firm_id for e in events if e.kind == kind and e.detail == detail}


def test_provinces_recommend_and_the_nation_designates_under_the_quota(monkeypatch):
    nq = NationalQuotaConfig(
        first_year=2015, batches=[1000], national_srdi=[], chain_share=0.002, priority_gap_stages=False
    )  # 2 Little Giants a year
    cfg = coord(national_quota=nq, provincial_recommendation=ProvincialRecommendationConfig(share_of_srdi=0.25))
    h = Handful(monkeypatch, cfg)
    # Inner Mongolia: 4 SRDI holders, 3 candidates -> recommends ceil(0.25 x 4) = 1, its best by R&D intensity
    im = [h.firm("inner_mongolia", Tier.SRDI, rd_intensity=x) for x in (0.08, 0.12, 0.10)]
    h.firm("inner_mongolia", Tier.SRDI, invention_patents=0.0)  # holds SRDI, misses the Little Giant patents
    # Jiangxi: 8 SRDI holders, 3 candidates -> recommends 2
    jx = [h.firm("jiangxi", Tier.SRDI, rd_intensity=x) for x in (0.07, 0.11, 0.09)]
    for _ in range(5):
        h.firm("jiangxi", Tier.SRDI, niche_share=0.0)
    # Sichuan: its only SRDI holder is a candidate -> recommended (ceil(0.25) = 1)
    sc = h.firm("sichuan", Tier.SRDI, rd_intensity=0.06)
    # a firm meeting the Little Giant rules without holding SRDI is no candidate
    h.firm("sichuan", Tier.INNOVATION_TYPE, rd_intensity=0.30)
    ev = h.round()
    recommended = h.ids([im[1], jx[1], jx[2], sc])
    assert _got(ev, "recommended") == recommended
    quota = [e.value for e in ev if e.kind == "national_quota"]
    assert quota == [2.0]
    assert _got(ev, "designated") == h.ids([im[1], jx[1]])  # the two best R&D intensities among the recommended
    pop = h.m.pop
    assert pop.tier[im[1]] == Tier.LITTLE_GIANT and pop.tier[im[2]] == Tier.SRDI and pop.tier[sc] == Tier.SRDI


def test_the_chains_share_of_a_batch_is_its_share_of_the_national_srdi_pool(monkeypatch):
    """With national_srdi, the quota is batch x the bloc's SRDI holders before the round / the national pool: 10 holders
    of a pool of 2,000 get 5 of a batch of 1,000 (whatever the world scale: the holders scale with it)."""
    nq = NationalQuotaConfig(first_year=2015, batches=[1000, 1000], national_srdi=[2000, 4000], chain_share=0.5, priority_gap_stages=False)
    cfg = coord(national_quota=nq, provincial_recommendation=None)
    cfg.world.scale = 0.5  # ignored with a pool: the chain's holders are what they are
    h = Handful(monkeypatch, cfg)
    cands = [h.firm("rest_of_china", Tier.SRDI, rd_intensity=0.05 + 0.01 * i) for i in range(7)]
    for _ in range(3):
        h.firm("jiangxi", Tier.SRDI, invention_patents=0.0)  # SRDI holders that are no candidates count in the pool share
    ev = h.round()
    assert [e.value for e in ev if e.kind == "national_quota"] == [5.0]
    assert _got(ev, "designated") == h.ids(cands[-5:])  # the five best R&D intensities
    # next year: 5 holders left (2 candidates + 3) of a pool of 4,000: 1.25 -> 1, the 0.25 carried
    assert h.gov.quota_carry == 0.0
    h.m.quarter += 4
    ev = h.round()
    assert [e.value for e in ev if e.kind == "national_quota"] == [1.0] and h.gov.quota_carry == pytest.approx(0.25)


def test_the_plans_gap_stages_go_first_in_the_national_round(monkeypatch):
    nq = NationalQuotaConfig(first_year=2015, batches=[1000], national_srdi=[], chain_share=0.001, priority_gap_stages=True)  # 1 a year
    cfg = coord(national_quota=nq, provincial_recommendation=None)
    h = Handful(monkeypatch, cfg)
    T, pop = h.m.tables, h.m.pop
    sep, mag = T.stages.index("separation"), T.stages.index("magnet")
    a = h.firm("rest_of_china", Tier.SRDI, rd_intensity=0.20)
    b = h.firm("rest_of_china", Tier.SRDI, rd_intensity=0.05)
    pop.stage[a], pop.stage[b] = mag, sep
    gap = np.zeros(T.S)
    gap[sep] = 0.4  # separation is short of planned capacity, magnets are not

    def plan():
        h.gov.gap = gap.copy()

    monkeypatch.setattr(h.gov, "plan", plan)
    ev = h.round()
    assert not _got(ev, "recommended")  # no provincial step: every eligible firm is a candidate
    assert _got(ev, "designated") == h.ids([b])  # the gap stage's candidate despite its lower R&D intensity
    h.gov.policy.designation.national_quota.priority_gap_stages = False
    pop.tier[b] = Tier.SRDI
    pop.review_step[b] = -1
    ev = h.round()
    assert _got(ev, "designated") == h.ids([a])  # by R&D intensity alone


def test_candidates_can_be_ranked_by_niche_share(monkeypatch):
    """designation.candidate_rank: the provinces' recommendation and the national quota rank the candidates by the named
    metric: by niche share, the leader of its niche is recommended and designated before the most R&D-intensive firm."""
    nq = NationalQuotaConfig(first_year=2015, batches=[1000], national_srdi=[], chain_share=0.001, priority_gap_stages=False)  # 1 a year
    cfg = coord(national_quota=nq, provincial_recommendation=ProvincialRecommendationConfig(share_of_srdi=0.5))
    cfg.policy["china"].designation.candidate_rank = "niche_share"
    h = Handful(monkeypatch, cfg)
    intense = h.firm("rest_of_china", Tier.SRDI, rd_intensity=0.20, niche_share=0.15)
    leader = h.firm("rest_of_china", Tier.SRDI, rd_intensity=0.05, niche_share=0.60)
    second = h.firm("rest_of_china", Tier.SRDI, rd_intensity=0.10, niche_share=0.30)
    h.firm("rest_of_china", Tier.SRDI, niche_share=0.90, invention_patents=0.0)  # the largest niche share, but no candidate
    ev = h.round()
    assert _got(ev, "recommended") == h.ids([leader, second])  # ceil(0.5 x 4) = 2 of the 3 candidates, by niche share
    assert _got(ev, "designated") == h.ids([leader])
    assert h.m.pop.tier[intense] == Tier.SRDI


@pytest.mark.parametrize("rule", ["revoke", "keep"])
def test_a_holder_that_outgrew_the_sme_size_at_its_review(monkeypatch, rule):
    """revoke: the review applies the SME rules and the large firm loses its title; keep: the review applies only the
    tier's rules. A holder missing its tier's rules loses the title either way; one still an SME keeps it either way."""
    cfg = coord(outgrown_sme=rule, national_quota=None, provincial_recommendation=None)
    h = Handful(monkeypatch, cfg)
    large = dict(revenue_myuan=5000.0, employees=5000.0)  # both caps reached: a large enterprise (2011 classification)
    grown = h.firm("inner_mongolia", Tier.LITTLE_GIANT, **large)
    grown_srdi = h.firm("jiangxi", Tier.SRDI, **large)
    still_sme = h.firm("inner_mongolia", Tier.LITTLE_GIANT, revenue_myuan=5000.0, employees=999.0)  # big revenue, few staff
    failing = h.firm("sichuan", Tier.LITTLE_GIANT, invention_patents=0.0, **large)
    pop = h.m.pop
    q = h.m.quarter + 1
    for r in (grown, grown_srdi, still_sme, failing):
        pop.review_step[r] = q  # due now
    ev = h.round()
    kept = h.ids([still_sme]) | (h.ids([grown]) if rule == "keep" else set())
    assert _got(ev, "review_passed") == kept
    assert _got(ev, "review_failed") == h.ids([failing]) | (set() if rule == "keep" else h.ids([grown]))
    assert _got(ev, "review_passed", "srdi") == (h.ids([grown_srdi]) if rule == "keep" else set())
    assert _got(ev, "revoked") == (h.ids([grown, failing]) if rule == "revoke" else h.ids([failing]))
    assert pop.tier[grown] == (Tier.LITTLE_GIANT if rule == "keep" else Tier.NONE)
    assert pop.tier[still_sme] == Tier.LITTLE_GIANT and pop.review_step[still_sme] == q + 12
    # a large firm is never designated anew: its SRDI title gone (revoke), it is not even innovation-type
    if rule == "revoke":
        assert pop.tier[grown_srdi] == Tier.NONE


def test_the_growth_rule_of_a_review_averages_two_years(monkeypatch):
    """A Little Giant whose revenue fell 2% over the last year after growing 20% the year before meets the growth rule
    of the 2022 measures (9% a year on average over two years) but not the one-year reading (miit_2022_simplified)."""
    for name, passes in (("miit_2022", True), ("miit_2022_simplified", False)):
        cfg = fresh_config(*COORD, f"criteria@policy.china.designation.criteria={name}")
        cfg.policy["china"].designation.national_quota = None
        h = Handful(monkeypatch, cfg)
        r = h.firm("jiangxi", Tier.LITTLE_GIANT, revenue_growth=-0.02, profit_growth=-0.5, revenue_growth_2y=0.09, profit_growth_2y=-0.1)
        h.m.pop.review_step[r] = h.m.quarter + 1
        ev = h.round()
        assert _got(ev, "review_passed" if passes else "review_failed") == h.ids([r]), name


def test_the_government_records_the_year_before_for_the_two_year_growth():
    """round_metrics uses the revenue and profit of the year before the previous one, recorded at the last round."""
    cfg = fresh_config(*COORD, "years=3")
    m = ChainModel(cfg)
    gov, pop = m.policy.governments[CHINA], m.pop
    first = gov.round_metrics()
    assert np.array_equal(first["revenue_growth_2y"], first["revenue_growth"])  # no round has recorded anything yet
    for _ in range(5):  # the round before quarter 5 records the four quarters before the last four (as here)
        m.step()
    gov._record_year()
    then = dict(zip(pop.firm_id.tolist(), pop.trailing(pop.rev_hist, m.quarter, 4, lag=4).tolist()))
    for _ in range(4):
        m.step()
    met = gov.round_metrics()
    rev4, prev4 = (pop.trailing(pop.rev_hist, m.quarter, 4, lag=k) for k in (0, 4))
    rev_yb = np.array([then.get(int(i), np.nan) for i in pop.firm_id])  # by firm: entrants since have no record
    new = np.isnan(rev_yb)
    np.testing.assert_array_equal(met["revenue_growth_2y"][new], met["revenue_growth"][new])  # (none, when no firm entered)
    ok = ~new & (rev_yb > 0) & (prev4 > 0) & pop.alive
    assert ok.sum() > 10
    g = 1.0 + m.world.price_level_growth  # nominal growth: each year's revenue at its own year's prices (docs/ODD.md 7.9)
    expect = 0.5 * ((rev4[ok] / prev4[ok] * g - 1) + (prev4[ok] / rev_yb[ok] * g - 1))
    np.testing.assert_allclose(met["revenue_growth_2y"][ok], expect, rtol=1e-12)
    assert not np.allclose(met["revenue_growth_2y"][ok], met["revenue_growth"][ok])


def test_the_simplified_criteria_differ_only_in_the_sme_and_growth_rules():
    new = fresh_config(*COORD).policy["china"].designation.criteria
    old = fresh_config(*COORD, "criteria@policy.china.designation.criteria=miit_2022_simplified").policy["china"].designation.criteria
    assert [r["metric"] for r in old.sme] == ["revenue_myuan", "employees"] and "any_of" in new.sme[0]
    for tier in ("innovation_type", "srdi"):
        assert new.tiers[tier] == old.tiers[tier]
    growth = {"revenue_growth_2y": "revenue_growth", "profit_growth_2y": "profit_growth"}
    renamed = [
        {"any_of": [[dict(x, metric=growth.get(x["metric"], x["metric"])) for x in alt] for alt in r["any_of"]]} if "any_of" in r else r
        for r in new.tiers["little_giant"].rules
    ]
    assert renamed == old.tiers["little_giant"].rules
    assert renamed != new.tiers["little_giant"].rules


# ---------------------------------------------------------------------------
# 3. Over a run: the schedule, and each lever switched off
# ---------------------------------------------------------------------------
def _run(cfg) -> ChainModel:
    m = ChainModel(cfg)
    m.run()
    return m


def test_little_giants_start_with_the_first_national_batch_and_follow_the_quota():
    cfg = fresh_config(*COORD, "seed=2")
    d = cfg.policy["china"].designation
    nq = d.national_quota
    assert nq.first_year == 2019 and d.provincial_recommendation is not None
    nq.national_srdi = []  # the fixed share, so that the quotas add up to a number known before the run
    m = _run(cfg)
    log = m.event_log
    lg = [e for e in log.where(kind="designated", bloc=CHINA) if e.detail == "little_giant"]
    quotas = {e.quarter: e.value for e in log.where(kind="national_quota", bloc=CHINA)}
    assert lg and min(e.quarter for e in lg) >= FIRST_BATCH_Q
    assert sorted(quotas) == list(range(FIRST_BATCH_Q, m.n_steps, 4))  # one quota per yearly round from the first batch
    assert min(e.quarter for e in log.where(kind="recommended", bloc=CHINA)) == FIRST_BATCH_Q
    per_round = {}
    for e in lg:
        per_round[e.quarter] = per_round.get(e.quarter, 0) + 1
    assert all(n <= quotas[q] for q, n in per_round.items())
    due = sum(nq.batches[min(2015 + q // 4 - 2019, len(nq.batches) - 1)] for q in quotas) * nq.chain_share
    assert sum(quotas.values()) == int(np.floor(due * m.world.scale + 1e-9))
    # the recommended are Little Giant candidates of the round's quarter; the designated were recommended
    rec = {(e.quarter, e.firm_id) for e in log.where(kind="recommended", bloc=CHINA)}
    assert rec and all((e.quarter, e.firm_id) in rec for e in lg)


def test_without_the_national_quota_little_giants_come_before_2019():
    cfg = fresh_config(*COORD, "seed=2")
    cfg.policy["china"].designation.national_quota = None
    cfg.policy["china"].designation.provincial_recommendation = None
    m = _run(cfg)
    lg = [e for e in m.event_log.where(kind="designated", bloc=CHINA) if e.detail == "little_giant"]
    assert lg and min(e.quarter for e in lg) < FIRST_BATCH_Q
    assert not m.event_log.where(kind="national_quota") and not m.event_log.where(kind="recommended")


def test_the_recommendation_alone_limits_candidates_without_a_quota(monkeypatch):
    cfg = coord(national_quota=None, provincial_recommendation=ProvincialRecommendationConfig(share_of_srdi=0.25))
    h = Handful(monkeypatch, cfg)
    rows = [h.firm("jiangxi", Tier.SRDI, rd_intensity=x) for x in (0.05, 0.07, 0.09, 0.11, 0.13)]
    ev = h.round()
    assert _got(ev, "recommended") == _got(ev, "designated") == h.ids(rows[-2:])  # ceil(0.25 x 5) = 2
    assert not [e for e in ev if e.kind == "national_quota"]


# ---------------------------------------------------------------------------
# 4. Configuration: the composed defaults and one-line errors
# ---------------------------------------------------------------------------
def test_the_coordinated_policy_runs_the_programme_by_default():
    d = fresh_config(*COORD).policy["china"].designation
    nq = d.national_quota
    assert nq.first_year == 2019 and nq.batches == [248, 1744, 2930, 4357, 3671, 3012, 3482]
    assert len(nq.national_srdi) == len(nq.batches) and nq.national_srdi == sorted(nq.national_srdi)  # the pool grew every year
    assert 0 < nq.chain_share < 0.001 and not nq.priority_gap_stages  # ranked by R&D intensity alone (MODEL.md 5.6)
    assert d.key_little_giant.priority_gap_stages  # the key Little Giants: priority stages first (MODEL.md 5.6)
    assert d.provincial_recommendation.share_of_srdi == pytest.approx(0.11)
    assert d.outgrown_sme == "revoke"
    off = (
        compose(
            list(COORD)
            + [
                "progress=false",
                "policy.china.designation.national_quota=null",
                "policy.china.designation.provincial_recommendation=null",
                "policy.china.designation.outgrown_sme=keep",
            ]
        )
        .policy["china"]
        .designation
    )
    assert off.national_quota is None and off.provincial_recommendation is None and off.outgrown_sme == "keep"


DQ = "policy.china.designation"
BAD = [
    (f"{DQ}.national_quota.chain_share=1.5", f"{DQ}.national_quota.chain_share", ("<= 1",)),
    (f"{DQ}.national_quota.chain_share=-0.1", f"{DQ}.national_quota.chain_share", (">= 0",)),
    (f"{DQ}.national_quota.first_year=1800", f"{DQ}.national_quota.first_year", (">= 1900",)),
    (f"{DQ}.national_quota.batches=[248,-5]", f"{DQ}.national_quota.batches[1]", (">= 0",)),
    (f"{DQ}.national_quota.batches=[248,many]", f"{DQ}.national_quota.batches[1]", ("many", "Integer")),
    (f"{DQ}.national_quota.national_srdi=[30000,0,1,1,1,1,1]", f"{DQ}.national_quota.national_srdi[1]", (">= 1",)),
    (f"{DQ}.national_quota.national_srdi=[30000]", f"{DQ}.national_quota.national_srdi", ("one number a year", "(7)", "chain_share")),
    (f"{DQ}.national_quota.priority_gap_stages=maybe", f"{DQ}.national_quota.priority_gap_stages", ("maybe", "bool")),
    (f"{DQ}.provincial_recommendation.share_of_srdi=2", f"{DQ}.provincial_recommendation.share_of_srdi", ("<= 1",)),
    (f"{DQ}.outgrown_sme=forgive", f"{DQ}.outgrown_sme", ("forgive", "revoke", "keep")),
    (f"{DQ}.candidate_rank=size", f"{DQ}.candidate_rank", ("size", "rd_intensity", "niche_share")),
    (
        f"{DQ}.national_quota.foo=1",
        f"{DQ}.national_quota.foo",
        ("unknown key", "first_year", "batches", "national_srdi", "chain_share", "priority_gap_stages"),
    ),
]


def test_a_national_quota_without_batches_is_refused():
    cfg = fresh_config(*COORD)
    cfg.policy["china"].designation.national_quota.batches = []
    with pytest.raises(ConfigError) as ei:
        validate(cfg)
    assert ei.value.key == f"{DQ}.national_quota.batches" and "one batch a year" in str(ei.value) and "null" in str(ei.value)


@pytest.mark.parametrize("override,key,fragments", BAD, ids=[b[1].rsplit(".", 1)[-1] + f"-{i}" for i, b in enumerate(BAD)])
def test_bad_designation_values_give_one_line_naming_the_key(override, key, fragments):
    with pytest.raises(ConfigError) as ei:
        compose(["progress=false", "output.write=false", override])
    msg = str(ei.value)
    assert ei.value.key == key, msg
    assert msg.startswith(f"config error at '{key}': ") and "\n" not in msg
    assert all(f in msg for f in fragments), (fragments, msg)


# ---------------------------------------------------------------------------
# 4. The provinces' plans for the lower tiers (designation.provincial_plans)
# ---------------------------------------------------------------------------
def test_plan_stock_runs_between_the_years_given_and_holds_the_last():
    plan = {2021: 40000, 2025: 100000}
    assert [government.plan_stock(plan, y) for y in (2020, 2021, 2023, 2025, 2030)] == [None, 40000, 70000, 100000, 100000]
    assert government.plan_stock({}, 2025) is None


def test_plan_shares_give_own_targets_and_share_the_rest_by_firms():
    own = np.array([0.1, np.nan, np.nan, 0.2])
    got = government.plan_shares(np.array([50, 30, 10, 99]), own)
    assert got == pytest.approx([0.1, 0.7 * 0.75, 0.7 * 0.25, 0.2]) and got.sum() == pytest.approx(1.0)
    assert government.plan_shares(np.array([1, 3]), np.array([np.nan, np.nan])) == pytest.approx([0.25, 0.75])
    assert government.plan_room(np.array([2.99, 3.0, 1.0]), np.array([1, 1, 4])).tolist() == [1, 2, 0]


def _plans(cap: bool, coach: bool, national: dict, provinces: dict):
    from sim.config.policy import ProvincialPlansConfig, TierPlanConfig

    return ProvincialPlansConfig(tiers={"srdi": TierPlanConfig(national=national, provinces=provinces)}, cap=cap, coach=coach)


@pytest.mark.parametrize("cap", [True, False])
def test_a_province_designates_srdi_up_to_its_plan_when_it_caps(monkeypatch, cap):
    """Inner Mongolia's plan is 3 SRDI SMEs (or higher) in 2015 and it holds 1: with the cap it designates its best two of
    four candidates by R&D intensity; Jiangxi's plan is none, so its candidate waits. Without the cap all five are designated."""
    plans = _plans(cap, False, {2015: 3}, {"inner_mongolia": 3})  # the whole plan is Inner Mongolia's: the other regions none
    h = Handful(monkeypatch, coord(national_quota=None, provincial_recommendation=None, provincial_plans=plans))
    h.firm("inner_mongolia", Tier.SRDI)
    im = [h.firm("inner_mongolia", Tier.INNOVATION_TYPE, rd_intensity=x) for x in (0.05, 0.09, 0.07, 0.06)]
    jx = h.firm("jiangxi", Tier.INNOVATION_TYPE)
    ev = h.round()
    assert _got(ev, "designated", "srdi") == (h.ids([im[1], im[2]]) if cap else h.ids(im + [jx]))


@pytest.mark.parametrize("coach", [True, False])
def test_a_province_short_of_next_years_plan_coaches_its_best_candidates(monkeypatch, coach):
    """Inner Mongolia's plan for 2016 is 2 SRDI SMEs and it holds none: it coaches its two innovation-type SMEs with the most
    R&D, however far below the 3% rule, to 3% + margin; the third keeps its R&D. The R&D lever alone (window 0.5: 1.5-3%)
    reaches none of them. Jiangxi, with no plan, coaches nobody."""
    plans = _plans(False, coach, {2015: 0, 2016: 2}, {"inner_mongolia": 2})
    cfg = coord(national_quota=None, provincial_recommendation=None, provincial_plans=plans)
    h = Handful(monkeypatch, cfg)
    im = [h.firm("inner_mongolia", Tier.INNOVATION_TYPE, rd_intensity=x, rd_intensity_2y=x) for x in (0.005, 0.010, 0.002)]
    jx = h.firm("jiangxi", Tier.INNOVATION_TYPE, rd_intensity=0.012, rd_intensity_2y=0.012)
    pop = h.m.pop
    pop.group[im + [jx]] = -1  # private firms: each decides its own R&D (a group's subsidiary only while graded A, 7.10)
    before = pop.rd_propensity[im + [jx]].copy()
    h.round()
    aim = 0.03 + cfg.policy["china"].designation.rd_raise.margin
    raised = pop.rd_propensity[im + [jx]]
    if coach:
        assert raised[:2] == pytest.approx([aim, aim]) and raised[2:] == pytest.approx(before[2:])
    else:
        assert raised == pytest.approx(before)


def test_provincial_plans_name_tiers_and_provinces_that_exist():
    cfg = compose(["scenario=national_programme"])
    validate(cfg)
    plans = cfg.policy["china"].designation.provincial_plans
    plans.tiers["srdi"].provinces["atlantis"] = 1.0
    with pytest.raises(ConfigError, match="atlantis"):
        validate(cfg)
    del plans.tiers["srdi"].provinces["atlantis"]
    plans.tiers["srdi"].provinces["jiangsu"] = 1e9
    with pytest.raises(ConfigError, match="add up to more"):
        validate(cfg)
