"""The national world's parameter tables and initial population (sim.config.national; docs/ODD.md 7.15).

The national world has one bloc (China) whose "stages" are the manufacturing sectors and whose regions are the
provinces, so that the rare-earth world's firm rules (agents.firms.account, innovate; agents.investment.funding
and the project phases) and the government's designation rounds (agents.government) run on it unchanged.

Units. A firm's ``capacity_t`` and ``output_t`` count "tonnes" of a product worth 1 M yuan each at the niche's
reference price: every sector's reference price is 1,000 yuan per kg, i.e. ``1000 x usd_per_cny`` USD/kg, so that
``output_t x price / 1000`` is M USD as in the rare-earth world. A niche's price index is relative to 1 (the
reference); firms' revenue, costs and balance sheets are in M USD like the rare-earth world's.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri

from agents.firms import FirmPopulation, Phase, patent_slot, patent_slots_for, working_capital_held
from sim.config import Config
from sim.engine.national.market import EXIT_WEIGHT_COLUMNS
from sim.engine.world import INITIAL_PLANT_LIFE_LEFT, Tables

RARE_EARTH_BLOC = "china"  # the bloc of the rare-earth world whose firm cohorts form the national world's rare-earth sector


def reference_price_usd_per_kg(usd_per_cny: float) -> float:
    """The national reference price: 1 M yuan per "tonne" (see the module docstring)."""
    return 1000.0 * usd_per_cny


def build_national_tables(cfg: Config) -> Tables:
    """Tables with one bloc (the rare-earth world's China: finance, tax, R&D and patenting) and the sectors as stages.

    Per sector: no input, the national reference price, variable cost ``market.variable_cost_share`` of it, capex
    ``market.assets_per_revenue`` x 1 kt of yearly output (1,000 M yuan) in M USD, fixed cost
    ``market.fixed_cost_share`` of yearly output (as a share of capex), no learning by doing, expansions built in
    ``market.build_quarters`` with a quarter of ramp-up."""
    n, w = cfg.national, cfg.world
    bc = w.blocs[RARE_EARTH_BLOC]
    mk = n.market
    S = len(n.sectors)
    ref = reference_price_usd_per_kg(w.usd_per_cny)
    capex_per_kt = mk.assets_per_revenue * 1000.0 * w.usd_per_cny
    zeros2 = np.zeros((1, S, 2))
    build_years = mk.build_quarters / 4.0
    private_appetite = bc.investor_appetite if bc.private_investor_appetite is None else bc.private_investor_appetite
    entrant = mk.entrant_revenue_myuan
    return Tables(
        blocs=[RARE_EARTH_BLOC],
        stages=[x.name for x in n.sectors],
        regions=[x.name for x in n.provinces],
        region_bloc=np.zeros(len(n.provinces), dtype=np.int16),
        groups=[],
        group_bloc=np.zeros(0, dtype=np.int16),
        group_region=np.zeros(0, dtype=np.int16),
        group_state_owned=np.zeros(0, dtype=bool),
        input_per_t=np.zeros(S),
        reference_price_usd_per_kg=np.full(S, ref),
        freight_usd_per_kg=np.zeros(S),
        learning_b=np.zeros(S),
        experience_ref_years=np.ones(S),
        entrant_experience_years=np.ones(S),
        quality_ramp_years=np.ones(S),
        plant_size_t=np.tile([entrant, 400.0], (S, 1)),  # an expansion is at most a medium firm's revenue (400 M yuan a year)
        employees_per_kt=np.zeros(S),
        qualification=np.zeros(S, dtype=bool),
        cost_floor_share=np.zeros(S),
        magnet_eq_per_t=np.ones(S),
        processing_cost_usd_per_kg=np.full((1, S), mk.variable_cost_share * ref),
        capex_musd_per_kt=np.full((1, S), capex_per_kt),
        fixed_cost_share=np.full((1, S), mk.fixed_cost_share / max(mk.assets_per_revenue, 1e-9)),
        planning_years=zeros2.copy(),
        permitting_years=zeros2.copy(),
        construction_years=np.full((1, S, 2), build_years),
        rampup_years=np.full((1, S, 2), 0.25),
        qualification_years=zeros2.copy(),
        new_plant_quality=np.ones((1, S)),
        ramp_multiplier=np.ones((1, S)),
        entry_rate_per_year=np.zeros((1, S)),
        base_rate=np.array([bc.base_rate]),
        risk_premium=np.array([bc.risk_premium]),
        volatility_premium=np.array([bc.volatility_premium]),
        interest_rate=np.array([bc.interest_rate]),
        leverage_max=np.array([bc.leverage_max]),
        equity_share_required=np.array([bc.equity_share_required]),
        investor_appetite=np.array([bc.investor_appetite]),
        private_investor_appetite=np.array([private_appetite]),
        tax_rate=np.array([bc.tax_rate]),
        wage_musd_per_employee_year=np.array([bc.wage_musd_per_employee_year]),
        rd_propensity=np.array([bc.rd_propensity], dtype=float),
        patent_multiplier=np.array([bc.patent_multiplier]),
        patent_lapse_per_year=np.array([bc.patent_lapse_per_year]),
        import_tariff=np.array([bc.import_tariff]),
        demand_years=[np.array([float(w.start_year)])],
        demand_t_per_year=[np.array([0.0])],
        brownfield_factor=np.ones(3),  # every project is an expansion built in build_quarters: no brownfield shortening
    )


def niches_per_sector(cfg: Config) -> np.ndarray:
    """(S,) niches of each sector at the national world's scale (at least one): the sectors' listed niches x
    ``niches_per_listed`` (the rare-earth sector's as listed: the rare-earth world's designation niches) x ``scale``; a
    smaller nation has fewer niches, so that firms per niche, and so niche shares, are those of the nation at 1:1 scale."""
    n = cfg.national
    per = [1.0 if c.name == n.rare_earth_sector else n.niches_per_listed for c in n.sectors]  # the rare-earth world's niches as listed
    return np.array([max(int(round(c.niches * k * n.scale)), 1) for c, k in zip(n.sectors, per)], dtype=np.int64)


def niche_layout(cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """(sector of each niche, first niche of each sector): the niches of every sector, numbered sector by sector."""
    counts = niches_per_sector(cfg)
    return np.repeat(np.arange(len(counts)), counts), np.concatenate([[0], np.cumsum(counts)[:-1]])


def _truncated_lognormal(rng: np.random.Generator, median: float, sigma: float, lo: float, hi: float, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Draws of a lognormal (median, sigma) truncated to [lo, hi] by inverse transform (no mass piles up at a bound), and
    each draw's place in the truncated distribution (0 at lo, 1 at hi)."""
    if size == 0:
        return np.zeros(0), np.zeros(0)
    if sigma <= 0:
        return np.full(size, np.clip(median, lo, hi)), np.full(size, 0.5)
    mu = np.log(median)
    a = ndtr((np.log(max(lo, 1e-12)) - mu) / sigma)
    b = ndtr((np.log(hi) - mu) / sigma) if np.isfinite(hi) else 1.0
    u = rng.uniform(a, b, size)
    x = np.exp(mu + sigma * ndtri(np.clip(u, 1e-12, 1 - 1e-12)))
    return x, (u - a) / max(b - a, 1e-12)


def _neg_binomial(rng: np.random.Generator, c, size: int) -> np.ndarray:
    """Negative binomial counts with mean ``c.mean - 1`` and shape ``c.shape`` (a holder's count is 1 + this)."""
    mean = max(c.mean - 1.0, 1e-9)
    return rng.negative_binomial(c.shape, c.shape / (c.shape + mean), size)


def _holding_given_rd(share: np.ndarray, rd_share: np.ndarray, has_rd: np.ndarray) -> np.ndarray:
    """(n,) chance that a firm holds a patent class, its class's holder share ``share`` given to the class's R&D firms
    (``rd_share`` of it) first: min(share / rd_share, 1) for a firm with R&D, the remainder (share - rd_share) / (1 -
    rd_share) for one without, so that the class's expected holder share is unchanged."""
    with_rd = np.divide(share, rd_share, out=np.ones_like(share), where=rd_share > 0)
    without = np.divide(np.maximum(share - rd_share, 0.0), 1.0 - rd_share, out=np.zeros_like(share), where=rd_share < 1)
    return np.where(has_rd, np.minimum(with_rd, 1.0), without)


def _province_of(region: str, provinces: list[str]) -> int:
    """A rare-earth cohort's province: its region where the national world has a province of that name (inner_mongolia,
    jiangxi, sichuan), else the first province (the rare-earth world's rest_of_china: assumption)."""
    return provinces.index(region) if region in provinces else 0


def _years_in_force(years: np.ndarray, keep: float) -> np.ndarray:
    """Sum of ``keep`` ** k for k = 1 .. ``years``: the past yearly cohorts' share still in force under a yearly lapse
    of 1 - ``keep``, in cohorts (``years`` itself where patents are kept to term)."""
    return years if keep == 1.0 else keep * (1.0 - keep**years) / (1.0 - keep)


def _seed_patents(
    pop: FirmPopulation, rows: np.ndarray, col: str, counts: np.ndarray, age_years: np.ndarray, life: int, rng, keep: float = 1.0
) -> None:
    """Spread each firm's patents in force over the cohorts of the last min(age, life - 1) years (binomial splits,
    one vectorised draw per past year): evenly in expectation where patents are kept to term (``keep`` 1), else in
    proportion to the share of a cohort still in force, ``keep`` ** (years since its grant), as the bloc's yearly
    lapse leaves them."""
    # only the holders: a binomial draw with n = 0 takes nothing from the stream, so leaving those rows out draws the
    # same numbers for the others (most firms hold no patent of a class)
    held = np.flatnonzero(counts > 0)
    rows, left = rows[held], counts[held].astype(np.int64)
    years = np.clip(np.floor(age_years[held]).astype(np.int64), 1, life - 1)
    tail = _years_in_force(years, keep) if keep < 1.0 else None  # what the cohorts not yet filled hold, in cohorts
    for k in range(life - 1):
        slots_left = np.maximum(years - k, 1)
        if tail is None:
            p = 1.0 / slots_left
        else:
            w = keep ** (k + 1)
            p = np.where(slots_left == 1, 1.0, w / np.maximum(tail, w))
            tail = tail - w
        take = np.where(years > k, rng.binomial(left, p), 0)
        pop._data[col][rows, patent_slot(-1 - k, pop.patent_slots)] += take.astype(np.int32)
        left = left - take


def build_national_population(cfg: Config, T: Tables, rng: np.random.Generator) -> tuple[FirmPopulation, np.ndarray]:
    """The 2015 candidate population: the national SMEs of every sector but the rare-earth one, drawn from the
    configured distributions, and the rare-earth sector's firms, the rare-earth world's Chinese cohorts. Returns the
    population and the starting yearly output of each niche (M yuan at the reference price), which sets its demand.

    Per firm: sector (firm shares), niche (uniform in its sector), province (firm shares), size class (shares),
    revenue (lognormal within the class's range), capacity = revenue x ``capacity_headroom``, employees (revenue over
    the class's labour productivity, with a lognormal spread, within the class's headcount range), age (lognormal),
    R&D (a share of firms; intensity lognormal x the sector's factor), invention and utility patents in force (a share
    of firms hold any; geometric counts spread over past cohorts), debt ratio (normal, within 0-0.95), plant at
    replacement capex half depreciated, cash of about two months of revenue (as the rare-earth world's incumbents)."""
    n, w = cfg.national, cfg.world
    fc, mk = n.firms, n.market
    usd = w.usd_per_cny
    sector_names = [x.name for x in n.sectors]
    re_sector = sector_names.index(n.rare_earth_sector)
    niche_sector, first_niche = niche_layout(cfg)
    n_niches = len(niche_sector)
    # -- the rare-earth sector: the rare-earth world's Chinese cohorts, niches by stage
    re_cohorts = [(k, c) for k, c in w.firms.items() if c.bloc == RARE_EARTH_BLOC]
    re_counts = [max(int(round(c.count * n.scale)), 0) for _, c in re_cohorts]
    total_re = sum(re_counts)
    others = [i for i in range(len(sector_names)) if i != re_sector]
    total = max(int(round(fc.count * n.scale)), 0)
    n_other = max(total - total_re, 0)
    pop = FirmPopulation(
        capacity=max(64, int((n_other + total_re) * 1.25)), patent_slots=patent_slots_for(cfg.world.innovation), extra_columns=EXIT_WEIGHT_COLUMNS
    )
    # sectors, niches, provinces and size classes of the national SMEs
    shares = np.array([n.sectors[i].firm_share for i in others])
    sector = np.asarray(others)[rng.choice(len(others), size=n_other, p=shares / shares.sum())]
    niches_of = niches_per_sector(cfg)
    niche = first_niche[sector] + np.floor(rng.random(n_other) * niches_of[sector]).astype(np.int64)
    pshare = np.array([p.firm_share for p in n.provinces])
    province = rng.choice(len(pshare), size=n_other, p=pshare / pshare.sum())
    classes = list(fc.size_classes.values())
    cshare = np.array([c.share for c in classes])
    klass = rng.choice(len(classes), size=n_other, p=cshare / cshare.sum())
    revenue = np.zeros(n_other)
    employees = np.zeros(n_other)
    rd_share = np.zeros(n_other)
    inv_share = np.zeros(n_other)
    util_share = np.zeros(n_other)
    for i, c in enumerate(classes):
        sel = np.flatnonzero(klass == i)
        rl = c.revenue_lognormal
        revenue[sel], u = _truncated_lognormal(rng, rl.median_myuan, rl.sigma, c.revenue_myuan[0], c.revenue_myuan[1], len(sel))
        # headcount at the revenue's place in the class, log-uniform over the class's range, with a spread of its own
        lo, hi = max(c.employees[0], 1.0), max(c.employees[1], 1.0)
        place = np.clip(u + 0.15 * rng.standard_normal(len(sel)), 0.0, 1.0)
        employees[sel] = np.exp(np.log(lo) + place * (np.log(hi) - np.log(lo)))
        rd_share[sel], inv_share[sel], util_share[sel] = c.rd_share, c.invention_share, c.utility_share
    age = np.clip(np.exp(np.log(max(fc.age_median_years, 1e-6)) + fc.age_sigma * rng.standard_normal(n_other)), 0.25, fc.age_max_years)
    has_rd = rng.random(n_other) < rd_share
    rd_factor = np.array([x.rd_intensity_factor for x in n.sectors])[sector]
    ri = fc.rd_intensity
    rd_int = np.exp(np.log(ri.median) + ri.sigma * rng.standard_normal(n_other)) * rd_factor
    rd_prop = np.where(has_rd, np.clip(rd_int, 0.0, 0.3), 0.0)
    debt_ratio = np.clip(fc.debt_ratio_mean + fc.debt_ratio_sd * rng.standard_normal(n_other), 0.0, 0.95)
    cost_index = np.clip(1.0 + mk.cost_index_sd * rng.standard_normal(n_other), 0.5, 1.5)
    if fc.patents_follow_rd:  # the class's holders are its R&D firms first (as many as the holder share allows), then the others
        inv_p, util_p = (_holding_given_rd(share, rd_share, has_rd) for share in (inv_share, util_share))
    else:
        inv_p, util_p = inv_share, util_share
    inv_n = np.where(rng.random(n_other) < inv_p, 1 + _neg_binomial(rng, fc.invention_per_holder, n_other), 0)
    util_n = np.where(rng.random(n_other) < util_p, 1 + _neg_binomial(rng, fc.utility_per_holder, n_other), 0)
    rows = _add_firms(pop, T, w, mk, sector, niche, province, revenue, employees, age, rd_prop, debt_ratio, cost_index, state_owned=False)
    inn = w.innovation
    keep = 1.0 - float(T.patent_lapse_per_year[0])
    _seed_patents(pop, rows, "pat_inv", inv_n, age, inn.patent_life_years, rng, keep)
    _seed_patents(pop, rows, "pat_util", util_n, age, inn.utility_patent_life_years, rng, keep)
    # -- the rare-earth sector's firms: each cohort's draws as in the rare-earth world (capacity, cost, age), its stage
    #    a band of the sector's niches in proportion to the designation's niches per stage
    re_niches = int(niches_of[re_sector])
    stages = list(w.stages)
    for (_, c), k in zip(re_cohorts, re_counts):
        if k == 0:
            continue
        s = stages.index(c.stage)
        lo_band, hi_band = int(re_niches * s / len(stages)), max(int(re_niches * (s + 1) / len(stages)), int(re_niches * s / len(stages)) + 1)
        band = first_niche[re_sector] + rng.integers(lo_band, min(hi_band, re_niches), k) if re_niches > 1 else np.full(k, first_niche[re_sector])
        cap_t = np.exp(rng.uniform(np.log(c.capacity_t[0]), np.log(c.capacity_t[1]), k))
        ref_usd = w.stages[c.stage].reference_price_usd_per_kg
        rev_myuan = cap_t * ref_usd / 1000.0 / usd / mk.capacity_headroom  # output at the rare-earth world's reference price
        emp = np.maximum(w.stages[c.stage].employees_per_kt * cap_t / 1000.0, 5.0)
        age_re = rng.uniform(c.age_years[0], c.age_years[1], k)
        rd_re = rng.uniform(T.rd_propensity[0, 0], T.rd_propensity[0, 1], k)
        region = np.full(k, _province_of(c.region, [x.name for x in n.provinces]))
        re_rows = _add_firms(
            pop,
            T,
            w,
            mk,
            np.full(k, re_sector),
            band,
            region,
            rev_myuan,
            emp,
            age_re,
            rd_re,
            np.full(k, fc.debt_ratio_mean),
            rng.uniform(c.cost_index[0], c.cost_index[1], k),
            state_owned=c.state_owned,
        )
        rd_year = rd_re * rev_myuan * usd
        for col, rate, life in (
            ("pat_inv", inn.invention_patents_per_musd, inn.patent_life_years),
            ("pat_util", inn.utility_patents_per_musd, inn.utility_patent_life_years),
        ):
            in_force = _years_in_force(np.minimum(age_re, life - 1), keep)
            _seed_patents(pop, re_rows, col, rng.poisson(rate * rd_year * in_force), age_re, life, rng, keep)
    output = np.bincount(pop.niche, weights=pop.capacity_t / mk.capacity_headroom, minlength=n_niches)
    return pop, output


def _add_firms(pop, T, w, mk, sector, niche, province, revenue_myuan, employees, age, rd_prop, debt_ratio, cost_index, state_owned) -> np.ndarray:
    """Append operating firms with their accounts at the start (M USD): the balance sheet of the rare-earth world's
    incumbents (plant at replacement capex half depreciated, about two months of revenue in cash), debt at the
    drawn ratio of assets, revenue, R&D and profit histories at the starting output."""
    usd = w.usd_per_cny
    k = len(sector)
    cap = revenue_myuan * mk.capacity_headroom
    capex = T.capex_musd_per_kt[0, sector] * cap / 1000.0
    book = INITIAL_PLANT_LIFE_LEFT * capex
    rev_q = revenue_myuan * usd / 4.0
    cash = 2.0 / 3.0 * rev_q
    wc = working_capital_held(w.finance, rev_q)
    debt = debt_ratio * (book + cash + wc)
    margin = 1.0 - mk.variable_cost_share * cost_index - mk.fixed_cost_share - rd_prop
    rows = pop.add(
        k,
        bloc=0,
        region=province.astype(np.int16),
        stage=np.asarray(sector, dtype=np.int16),
        niche=np.asarray(niche, dtype=np.int32),
        state_owned=state_owned,
        phase=Phase.OPERATING,
        birth_step=np.round(-age * 4).astype(np.int32),
        niche_start_step=np.round(-age * 4).astype(np.int32),
        capacity_t=cap,
        quality=1.0,
        qualified=True,
        cum_output_t=cap,
        experience_ref_t=cap,
        cost_index=cost_index,
        employees=employees,
        book_assets=book,
        plant_life_left=INITIAL_PLANT_LIFE_LEFT,
        debt=debt,
        cash=cash,
        working_capital=wc,
        tax_rate=T.tax_rate[0],
        rd_propensity=rd_prop,
        unit_cost_usd_per_kg=T.processing_cost_usd_per_kg[0, sector] * cost_index,
    )
    pop._data["rev_hist"][rows, :] = rev_q[:, None]
    pop._data["rd_hist"][rows, :] = (rd_prop * rev_q)[:, None]
    pop._data["prof_hist"][rows, :] = (margin * rev_q * (1.0 - T.tax_rate[0]))[:, None]
    pop._data["knowledge"][rows] = rd_prop * rev_q * 8.0  # about two years of R&D (as the rare-earth world's incumbents)
    return rows


__all__ = ["build_national_tables", "build_national_population", "niche_layout", "niches_per_sector", "reference_price_usd_per_kg"]
