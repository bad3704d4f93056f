"""The classroom's lessons tested on the model: every statement of a teaching preset (sim.classroom.dashboard.PRESETS:
its lesson, what it suggests to try next and its note on seed noise) checked on the run the preset builds, through the
dashboard's own path (levers -> dashboard.build_config -> ClassroomModel), in the years the lesson names.

Over seeds 1-5 (marked slow: eight runs of 30 years per seed); the default suite runs seed 1, the dashboard's default
seed, without the checks that need several seeds (the notes on seed noise). Where a statement does not hold over the
seeds, the lesson is rewritten to say what the model shows, not the test weakened.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

from sim.classroom import dashboard as d

SEEDS = (1, 2, 3, 4, 5)  # "every seed we tried" in the notes
DEFAULT_SEEDS = (1,)  # the dashboard's default seed (conf/config.yaml)
PROCESSED = ("separation", "metal", "magnet")
FLOOR = {"west_price_floor_usd_per_kg": 110.0, "west_offtake_t_per_year": 10000.0}  # mine_alone's "try": the MP Materials terms
FASTER_PERMITS = {"west_permit_factor": 0.5}  # mine_alone's "try"
ONE_STEP_FASTER = {"west_permit_factor": 0.75}  # one step of the slider: the note says its effect is within seed noise


class Lesson:
    """A preset's run (with some levers changed) to its last quarter: the recorded series, the trade between blocs of
    every quarter (the chain picture draws the current quarter's), the timeline, the pyramid and the firm events."""

    def __init__(self, levers: d.Levers):
        m = d.ClassroomModel(levers)
        trade = []
        while not (not m.running or m.steps >= m.n_steps):
            m.step()
            trade.append(m.recorder.trade_t.copy())
        self.model, self.trade = m, np.stack(trade)  # (Q, supplier bloc, buyer bloc, S) t per quarter
        self.T, self.y0 = m.tables, m.world.start_year
        self.timeline = d.timeline(m)
        self.tiers = d.tier_counts(m)
        self.events = m.recorder.events()

    def q(self, first: int, last: int | None = None) -> slice:
        """The quarters of calendar years first..last."""
        return slice(4 * (first - self.y0), 4 * ((last if last is not None else first) - self.y0 + 1))

    def yearly(self, name: str, first: int, last: int | None = None, how=np.mean) -> np.ndarray:
        """(B, S) a series over years first..last (mean of the quarters, or ``how``)."""
        return how(d.series(self.model, name)[self.q(first, last)], axis=0)

    def b(self, bloc: str) -> int:
        return self.T.blocs.index(bloc)

    def s(self, stage: str) -> int:
        return self.T.stages.index(stage)


@lru_cache(maxsize=None)
def lesson(name: str, seed: int, changes: tuple[tuple[str, object], ...] = ()) -> Lesson:
    levers = d.preset_levers(name, seed)
    return Lesson(d.change_levers(levers, **dict(changes)) if changes else levers)


def changed(changes: dict) -> tuple:
    return tuple(sorted(changes.items()))


within_seed_noise = d.within_seed_noise  # the page's own test of a difference against seed noise


# --------------------------------------------------------------------------
# Why a mine alone is not independence (export_control_shock)
# --------------------------------------------------------------------------
def check_mine_alone(seed: int) -> None:
    L = lesson("mine_alone", seed)
    cfg = L.model.cfg
    assert all(p.regime == "none" for p in cfg.policy.values()) and not cfg.policy_change, "no bloc has an industrial policy"
    (control,) = d._export_controls(cfg).values()
    assert int(control["start_year"]) == 2025 and set(control["stages"]) == set(PROCESSED) and control["licensed_share"] < 1
    C, W, R = L.b("china"), L.b("west"), L.b("rest_of_world")
    mining = L.s("mining")
    for year in range(2026, 2031):  # "after 2025: Western mines still dig, but most of their ore goes abroad"
        q = L.q(year)
        out = d.series(L.model, "output_t")[q, W, mining].sum()
        to_china, to_row = L.trade[q, W, C, mining].sum(), L.trade[q, W, R, mining].sum()
        assert out > 0, f"seed {seed}: no Western ore in {year}"
        assert to_china + to_row > 0.5 * out, f"seed {seed}, {year}: {to_china + to_row:.0f} t of {out:.0f} t of Western ore exported"
        assert to_china > to_row > 0, f"seed {seed}, {year}: ore to China {to_china:.0f} t, to the rest of the world {to_row:.0f} t"
    # "only licensed processed material comes back": oxide and metal by a quarter or more, magnets to under a fifth
    # (seeds 1-5, 2027 against 2024: oxide 0.38-0.47, metal 0.40-0.67, magnets 0.13-0.18; the README said "by a third or
    # more" until Lynas's plant started at its nameplate, section 5 of docs/ODD.md, when seed 5's metal, from a low 2024,
    # fell to 0.67)
    for stage in PROCESSED:
        s = L.s(stage)
        before, after = L.trade[L.q(2024), C, W, s].sum(), L.trade[L.q(2027), C, W, s].sum()
        most = 0.2 if stage == "magnet" else 0.75
        assert 0 < after < most * before, f"seed {seed}, {stage}: China to the West {before:.0f} t in 2024, {after:.0f} t in 2027"
        assert L.yearly("export_controlled", 2027)[C, s] == 1.0
    price = L.yearly("price_usd_per_kg", 2027, 2030)
    for stage in ("metal", "magnet"):  # "so Western metal and magnet prices rise well above China's, magnets' the most"
        s = L.s(stage)
        assert price[W, s] > 1.5 * price[C, s], (seed, stage, price[:, s])
    magnet = L.s("magnet")
    assert price[W, magnet] > 2 * L.yearly("price_usd_per_kg", 2024)[W, magnet], (seed, price[:, magnet])
    west = L.timeline["west"]
    # the magnet row fills after the control (within the horizon); separation stays pale into the 2040s
    assert west["magnet"]["independence"] is not None and west["magnet"]["independence"] >= 2026, (seed, west["magnet"])  # 2028-2042
    assert west["separation"]["independence"] is None or west["separation"]["independence"] >= 2040, (seed, west["separation"])  # 2042 in seed 3
    ss = L.yearly("self_sufficiency", 2044)[W]
    assert ss[L.s("separation")] < L.model.world.independence_threshold and ss[L.s("separation")] < ss[L.s("magnet")]
    # the mine row only where the large mine survives the 2010s: reached (if at all) on the mine of 2015, no new one
    if west["mining"]["independence"] is not None:
        reached, cap_2015 = int(west["mining"]["independence"]), L.yearly("capacity_t", 2015)[W, mining]
        assert L.yearly("capacity_t", 2024)[W, mining] >= 0.9 * cap_2015
        assert L.yearly("capacity_t", reached)[W, mining] <= 1.1 * cap_2015, (seed, reached)
    # "try" and the note: a price floor with offtake brings Western separation forward: more separation capacity in
    # 2035 and a fuller separation row then, in every seed; the other stages and 2044, and separation in 2030 with the
    # floor against 2035 without it, hold in most seeds (counted over seeds 1-5: check_mine_alone_noise)
    other = lesson("mine_alone", seed, changed(FLOOR))
    sep = L.s("separation")
    gap = other.yearly("capacity_t", 2035)[W, sep] - L.yearly("capacity_t", 2035)[W, sep]
    assert gap > 0, f"seed {seed}, floor: Western separation capacity 2035 {gap:+.0f} t/yr"
    assert other.yearly("self_sufficiency", 2035)[W, sep] > L.yearly("self_sufficiency", 2035)[W, sep]


def check_mine_alone_noise(seeds: tuple[int, ...]) -> None:
    """The note: the floor raises separation capacity in 2035 in every seed (checked per seed above), by more than seed
    noise; in most seeds (at least three of five) the West has more separation in 2030 with it than without it in 2035,
    more metal and magnet capacity in 2035, and more capacity at each processing stage in 2044. Halving permitting
    time and one step of the permitting slider each raise Western magnet capacity in 2044 in every seed (seeds 1-5 since
    each idle plant drew its own scrapping count, 7.1 of docs/ODD.md: halving +1.0 to +14.4 kt, one step +1.2 to +16.3
    kt, against 67-75 kt; since Lynas's plant started at its nameplate, section 5: halving -10.5 to +19.5 kt, within
    seed noise, one step +1.9 to +13.8 kt against 58-77 kt; before it one step moved it up or down, -10 to +6 kt).
    (Counts of "most" moved between three and five of five with each change of the market rules in December 2026.
    Before Lynas's plant started at its run rate of the end of 2015, section 5 of docs/ODD.md, the floor raised
    separation, metal and magnet capacity in 2035 and every stage in 2044 in every seed, and halving permitting time
    raised magnet capacity in 2044 in every seed, beyond seed noise.)"""
    W = lesson("mine_alone", seeds[0]).b("west")
    stage = {name: lesson("mine_alone", seeds[0]).s(name) for name in PROCESSED}
    base = {y: np.array([lesson("mine_alone", s).yearly("capacity_t", y)[W] for s in seeds]) for y in (2030, 2035, 2044)}
    floor = {y: np.array([lesson("mine_alone", s, changed(FLOOR)).yearly("capacity_t", y)[W] for s in seeds]) for y in (2030, 2035, 2044)}
    sep, magnet = stage["separation"], stage["magnet"]
    assert not within_seed_noise(list(base[2035][:, sep]), list(floor[2035][:, sep])), (base[2035][:, sep], floor[2035][:, sep])
    most = len(seeds) // 2 + 1  # "in most seeds"
    assert (floor[2030][:, sep] > base[2035][:, sep]).sum() >= most, (floor[2030][:, sep], base[2035][:, sep])
    for year, names in ((2035, ("metal", "magnet")), (2044, PROCESSED)):
        for name in names:
            more = (floor[year][:, stage[name]] > base[year][:, stage[name]]).sum()
            assert more >= most, (year, name, base[year][:, stage[name]], floor[year][:, stage[name]])
    magnet_2044 = list(base[2044][:, magnet])
    for faster in (FASTER_PERMITS, ONE_STEP_FASTER):  # halving, and one slider step: "raises it in every seed"
        other = [lesson("mine_alone", s, changed(faster)).yearly("capacity_t", 2044)[W, magnet] for s in seeds]
        gain = np.subtract(other, magnet_2044)
        assert (gain > 0).all(), (faster, magnet_2044, other)


# --------------------------------------------------------------------------
# What an export control does (export_controls_full)
# --------------------------------------------------------------------------
def check_export_control(seed: int) -> None:
    on = lesson("export_control", seed)
    off = lesson("export_control", seed, changed({"export_control": False}))
    C, W = on.b("china"), on.b("west")
    p_on, p_off = on.yearly("price_usd_per_kg", 2027, 2030), off.yearly("price_usd_per_kg", 2027, 2030)
    before = on.yearly("price_usd_per_kg", 2023, 2024)
    for stage in PROCESSED:
        s = on.s(stage)
        assert abs(before[W, s] / before[C, s] - 1) < 0.05, f"seed {seed}, {stage}: prices apart before the control"
        # "the Western price rises above the Chinese price": the panels split (oxide by 10% in seed 1, 1.8-3.8x in seeds
        # 2-5; metal and magnets 2.8-6.6x, 2027-2030)
        split = 1.05 if stage == "separation" else 1.25
        assert p_on[W, s] > split * p_on[C, s], f"seed {seed}, {stage}: West {p_on[W, s]:.0f}, China {p_on[C, s]:.0f} USD/kg"
        # "try": switched off, they do not split
        assert abs(p_off[W, s] / p_off[C, s] - 1) < 0.05, f"seed {seed}, {stage}: control off, West {p_off[W, s]:.0f}, China {p_off[C, s]:.0f}"
        # the red cut flows: China's exports controlled, and "Chinese producers lose customers" abroad
        assert on.yearly("export_controlled", 2027)[C, s] == 1.0 and off.yearly("export_controlled", 2027)[C, s] == 0.0
        exports_on, exports_2024 = on.yearly("exports_t", 2027, how=np.sum)[C, s], on.yearly("exports_t", 2024, how=np.sum)[C, s]
        # at least two fifths of its export sales gone in 2027 at every stage (seeds 1-5: 64-94% at oxide and magnets, 50-76% at metal)
        assert exports_on < 0.6 * exports_2024, f"seed {seed}, {stage}: China's exports {exports_2024:.0f} t in 2024, {exports_on:.0f} t in 2027"
    for stage in ("metal", "magnet"):  # the note: at least one and a half times the Chinese price in 2027
        s = on.s(stage)
        price = on.yearly("price_usd_per_kg", 2027)
        assert price[W, s] > 1.5 * price[C, s], (seed, stage, price[:, s])
    # "whether Western projects start once high prices make them pay": they do, and not without the control
    started_on = on.yearly("projects_started", 2026, 2030, how=np.sum)[W, 1:].sum()
    started_off = off.yearly("projects_started", 2026, 2030, how=np.sum)[W, 1:].sum()
    assert started_on > started_off and started_on >= 3, f"seed {seed}: Western processing projects 2026-2030: {started_on} on, {started_off} off"


# --------------------------------------------------------------------------
# What the tiers change (baseline)
# --------------------------------------------------------------------------
def titled(L: Lesson, year: int) -> np.ndarray:
    """(4,) Chinese firms at their highest title at the end of a year: innovation-type, SRDI, Little Giant, key."""
    return L.tiers["china"][L.q(year).stop - 1]


def check_tiers(seed: int) -> None:
    L = lesson("tiers", seed)
    without = lesson("tiers", seed, changed({"china_policy": "coordinated_without_tiers"}))
    total = {y: titled(L, y).sum() for y in range(2015, 2045)}
    peak = max(total, key=total.get)
    # "titles grow fast in the first rounds, hold through the mid-2020s, then thin as reviews remove them and fewer firms
    # win new ones"
    assert peak <= 2030 and total[peak] > 1.5 * total[2015] and total[2025] >= 0.8 * total[peak], (seed, total)
    assert total[2044] < 0.75 * total[peak], (seed, total)
    ev = L.events[L.events.bloc == "china"]
    year = 2015 + ev.quarter_index // 4
    revoked_late = ((ev.kind == "revoked") & (year > peak)).sum()
    designated = lambda first, last: ((ev.kind == "designated") & (year >= first) & (year <= last)).sum()  # noqa: E731
    assert revoked_late > 0 and designated(peak + 1, 2044) / (2044 - peak) < designated(2015, peak) / (peak - 2015 + 1), seed
    # "in the 2020s the SRDI step is wider than the innovation-type base", the widest, then Little Giants and key ones
    for y in (2022, 2025):
        innovation, srdi, lg, key = titled(L, y)
        assert srdi > max(innovation, lg) and lg > key > 0, f"seed {seed}, {y}: {titled(L, y)}"
    # "try": without tiers no titles; Chinese R&D is higher with the tiers (the note: in every seed)
    assert without.tiers == {}
    C = L.b("china")
    assert L.yearly("rd_spend_musd", 2025, 2044, how=np.sum)[C].sum() > without.yearly("rd_spend_musd", 2025, 2044, how=np.sum)[C].sum()


def check_tiers_noise(seeds: tuple[int, ...]) -> None:
    """The note: the magnet cost and price with and without tiers, in 2030 and in 2044, end higher with the tiers in
    some seeds and lower in others (within seed noise), each seed's gap less than the runs differ between seeds (over
    both sets of runs). (The 2044 sign has moved with most changes of the market rules and the initial world since the
    cost floors of 7.6: mixed since each idle plant drew its own scrapping count, 7.1 of docs/ODD.md, higher with the
    tiers in three seeds of five, by 1.2-2.0 USD/kg, lower in two, by 1.6-5.3, seeds 1-5; lower in every seed, by
    0.6-2.0 USD/kg, since Lynas's plant started at its nameplate, section 5; in three seeds of five before it; in every
    seed higher with the tiers just before Lynas's plant started at its 2015 run rate; lower in every seed, by 1.5-4.5
    USD/kg and beyond seed noise, before buyers moved off sold-out suppliers, 7.2. So the note gives the gap's size
    against the spread between seeds and its sign as seen.)"""
    C, magnet = lesson("tiers", seeds[0]).b("china"), lesson("tiers", seeds[0]).s("magnet")
    for name in ("unit_cost_usd_per_kg", "price_usd_per_kg"):
        for year in (2030, 2044):
            base = [lesson("tiers", s).yearly(name, year)[C, magnet] for s in seeds]
            other = [lesson("tiers", s, changed({"china_policy": "coordinated_without_tiers"})).yearly(name, year)[C, magnet] for s in seeds]
            on, off = np.array(base), np.array(other)
            spread = max(on.max(), off.max()) - min(on.min(), off.min())  # "less than the runs differ between seeds"
            assert np.abs(off - on).max() < spread, (year, name, base, other)
            assert within_seed_noise(base, other), (year, name, base, other)  # "higher in some seeds, lower in others"


CHECKS = {"mine_alone": check_mine_alone, "export_control": check_export_control, "tiers": check_tiers}


def test_every_preset_has_its_checks_and_a_note_on_seed_noise():
    assert set(CHECKS) == set(d.PRESETS)
    assert all(len(p["noise"].split()) > 15 for p in d.PRESETS.values())


def test_a_lessons_comparison_runs_apart_and_says_whether_the_difference_is_beyond_seed_noise():
    """The page's comparison (Compare seeds ...): the lesson's figure with and without its change for the run's seed and
    the next four, run in a process of its own, each run once; the note from those runs."""
    levers = d.preset_levers("export_control", 1)
    runs = d.comparison_runs(levers, "export_control")
    assert [lv.seed for lv, _ in runs] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert [lv.export_control for lv, _ in runs] == [True, False] * 5 and runs[0][0] == levers
    seed_runs = d.SeedRuns()
    try:
        values = seed_runs.figures(runs)
        assert seed_runs.submit(runs) == seed_runs.submit(runs)  # kept: asking again runs nothing
    finally:
        seed_runs.close()
    L = lesson("export_control", 1)  # the whole run, read as the lesson's checks read it
    price = L.yearly("price_usd_per_kg", 2027)
    assert values[0] == pytest.approx(price[L.b("west"), L.s("magnet")] / price[L.b("china"), L.s("magnet")], rel=1e-12)
    assert values[1] == d.figure_of_run(*runs[1])  # the other process's runs are this one's
    assert all(v > 1.5 for v in values[0::2]) and all(abs(v - 1) < 0.05 for v in values[1::2]), values  # as the note on seed noise says
    note = d.comparison_note(levers, "export_control", values)
    assert note.startswith("**Seeds 1-5.** The Western magnet price over China's in 2027: ") and note.endswith(
        "without the export control. The difference is larger than the differences between seeds."
    ), note
    # a difference of either sign is within seed noise; one of one sign, but smaller than the spread of seeds, is not
    assert "within seed noise" in d.comparison_note(levers, "export_control", [1, 1.1, 2, 1.9, 3, 3.1, 4, 3.9, 5, 5.1])
    assert "smaller than the differences between seeds" in d.comparison_note(levers, "export_control", [1, 1.2, 2, 2.2, 3, 3.2, 4, 4.2, 5, 5.2])


def test_a_lessons_ghost_is_the_clean_run_of_the_same_seed_with_its_change():
    """The dashed ghost on the lesson's panels: run in the other process, over the whole horizon, it is a clean run of
    the page's settings with the lesson's change (same seed), drawn line by line in the run's colours, lighter and dashed,
    on the same axes; the timeline's hollow stars are its independence years."""
    levers = d.preset_levers("export_control", 1)
    assert d.ghost_levers(levers, "export_control") == levers.replace(export_control=False)
    for name in d.PRESETS:  # settings that already have the lesson's change have no ghost
        other = d.ghost_levers(d.preset_levers(name, 1), name)
        assert other is not None and d.ghost_levers(other, name) is None, name
    runs = d.SeedRuns()
    try:
        ghost = d.lesson_ghost("export_control", levers, runs)
        key = [(ghost.levers, d.GHOST)]
        assert runs.submit(key) == runs.submit(key)  # kept: asking again runs nothing
    finally:
        runs.close()
    assert ghost.label == "without the export control" and ghost.levers == levers.replace(export_control=False)
    clean = lesson("export_control", 1, changed({"export_control": False}))  # a clean run of the changed settings, here
    n_q = clean.model.n_steps
    for name in d.GHOST_SERIES:
        assert ghost.series[name].shape == (n_q, clean.T.B, clean.T.S)
        for q in (0, 47, 48, n_q - 1):  # before, at and after the control's start (2027 Q1), the last quarter
            np.testing.assert_array_equal(ghost.series[name][q], d.series(clean.model, name)[q], err_msg=f"{name}, quarter {q}")
    assert ghost.timeline == clean.timeline
    live = lesson("export_control", 1)  # the page's run, drawn with the ghost: the ghost's lines are the clean run's
    option = d.view_option("prices", live.model, ghost)
    ghosts = [s for s in option["series"] if s["name"] == ghost.label and s["data"]]
    lines = [s for s in option["series"] if s["name"] != ghost.label]
    assert len(ghosts) == len(lines) == clean.T.B * clean.T.S
    price = d.series(clean.model, "price_usd_per_kg")
    W, magnet = clean.b("west"), clean.s("magnet")
    (west_magnet,) = [g for g, line in zip(ghosts, lines) if line["name"] == "West" and line["xAxisIndex"] == magnet]
    assert west_magnet["data"] == [d._f(v, 2) for v in price[:, W, magnet]] and west_magnet["lineStyle"]["type"] == "dashed"
    assert all(g["color"] == d._lighter(line["color"]) != line["color"] for g, line in zip(ghosts, lines))
    assert option["legend"][1]["data"] == [ghost.label]
    # the axes reach the ghost: the price axis of each stage is at or above the ghost's highest price there
    assert all(ax["max"] >= price[:, :, s].max() for s, ax in enumerate(option["yAxis"]))
    stars = [s for s in d.view_option("timeline", live.model, ghost)["series"] if s["name"] == ghost.label]
    n_independent = sum(cell["independence"] is not None for stages in clean.timeline.values() for cell in stages.values())
    assert len(stars) == 1 and len(stars[0]["data"]) == n_independent > 0
    assert d.view_option("chain", live.model, ghost) == d.chain_option(live.model)  # a picture of the quarter: no ghost


def test_within_seed_noise():
    assert within_seed_noise([10, 20, 30], [12, 19, 33])  # mixed signs
    assert within_seed_noise([10, 20, 30, 40], [11, 30, 31, 41])  # one sign, but a mean of 3.25 within 2 x 2.25
    assert not within_seed_noise([10, 20, 30], [25, 35, 46])


@pytest.mark.parametrize("name", list(CHECKS))
def test_lesson_holds_on_the_default_seed(name):
    for seed in DEFAULT_SEEDS:
        CHECKS[name](seed)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CHECKS))
def test_lesson_holds_on_five_seeds(name):
    for seed in SEEDS:
        CHECKS[name](seed)
    {"mine_alone": check_mine_alone_noise, "tiers": check_tiers_noise}.get(name, lambda seeds: None)(SEEDS)
