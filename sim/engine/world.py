"""Parameter tables and the initial firm population, built from the validated config.

Blocs, regions, stages and groups are data: their names come from config and
everything else is indexed by position (bloc index, stage index, ...).

One name end to end: a table read from the config has the name of its YAML key
(``capex_musd_per_kt`` in conf/world/*.yaml, in ``BlocStageConfig`` and here);
a derived table says its unit in its name where it is not obvious.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from agents.firms import FirmPopulation, Phase, patent_slots_for, working_capital_held
from agents.investment import ProjectPhase, project_reserve
from sim.config import WorldConfig


@dataclass
class Tables:
    """Explicit parameter arrays read by behaviour code (B blocs x S stages)."""

    blocs: list[str]
    stages: list[str]
    regions: list[str]
    region_bloc: np.ndarray
    groups: list[str]
    group_bloc: np.ndarray
    group_region: np.ndarray
    group_state_owned: np.ndarray  # (G,) bool: a state-owned group (false: a private group, world.groups.<g>.state_owned)
    # stage (S,): StageConfig
    input_per_t: np.ndarray
    reference_price_usd_per_kg: np.ndarray
    freight_usd_per_kg: np.ndarray
    learning_b: np.ndarray  # experience-curve exponent -log2(1 - learning_rate): unit cost x (experience)^-b
    experience_ref_years: np.ndarray
    entrant_experience_years: np.ndarray
    quality_ramp_years: np.ndarray
    plant_size_t: np.ndarray  # (S, 2)
    employees_per_kt: np.ndarray
    qualification: np.ndarray  # bool: new plants must pass buyer qualification
    cost_floor_share: np.ndarray  # share of the processing cost that learning and process innovation do not lower
    magnet_eq_per_t: np.ndarray  # t of final product per t of the stage's product
    # bloc x stage (B, S): BlocStageConfig
    processing_cost_usd_per_kg: np.ndarray
    capex_musd_per_kt: np.ndarray
    fixed_cost_share: np.ndarray
    planning_years: np.ndarray  # (B, S, 2)
    permitting_years: np.ndarray
    construction_years: np.ndarray
    rampup_years: np.ndarray
    qualification_years: np.ndarray
    new_plant_quality: np.ndarray
    ramp_multiplier: np.ndarray
    entry_rate_per_year: np.ndarray
    # (3,) investment.brownfield_*_factor: planning, permitting and construction time of an expansion per unit of a new plant's
    brownfield_factor: np.ndarray
    # bloc (B,): BlocConfig
    base_rate: np.ndarray
    risk_premium: np.ndarray
    volatility_premium: np.ndarray
    interest_rate: np.ndarray
    leverage_max: np.ndarray
    equity_share_required: np.ndarray
    investor_appetite: np.ndarray
    private_investor_appetite: np.ndarray  # (B,) for private firms outside state groups (null in the config: investor_appetite)
    tax_rate: np.ndarray
    wage_musd_per_employee_year: np.ndarray
    rd_propensity: np.ndarray  # (B, 2)
    patent_multiplier: np.ndarray
    patent_lapse_per_year: np.ndarray
    import_tariff: np.ndarray
    # the points of BlocConfig.demand_t_per_year, per bloc: years and final magnet demand (t/yr)
    demand_years: list[np.ndarray]
    demand_t_per_year: list[np.ndarray]
    # the points of each bloc's policy instruments.rd_extra_deduction (set_rd_deduction): years and the additional deduction of R&D
    rd_deduction_years: list[np.ndarray] = field(default_factory=list)
    rd_deduction_share: list[np.ndarray] = field(default_factory=list)
    # (B, S, 2) new plant nameplate by bloc and stage, t/yr: BlocStageConfig.plant_size_t where a bloc sets it, else the
    # stage's plant_size_t (None when built: filled from plant_size_t for every bloc)
    bloc_plant_size_t: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.bloc_plant_size_t is None:
            self.bloc_plant_size_t = np.broadcast_to(self.plant_size_t, (self.B, *self.plant_size_t.shape)).copy()

    @property
    def B(self) -> int:
        return len(self.blocs)

    @property
    def S(self) -> int:
        return len(self.stages)

    @property
    def fixed_cost_musd_per_kt(self) -> np.ndarray:
        """(B, S) a plant's fixed cost a year per kt of nameplate, M USD (= USD per kg of nameplate): fixed_cost_share x
        capex_musd_per_kt, the product the accounts book (agents.kernels.account_rows) and the rules that foresee it read."""
        return self.fixed_cost_share * self.capex_musd_per_kt

    def private_outside_state_groups(self, group: np.ndarray, state_owned: np.ndarray) -> np.ndarray:
        """Rows of private firms outside the state groups: not state-owned, and in no group or in a private one
        (world.groups.<g>.state_owned false: a listed maker's plant subsidiaries are private firms)."""
        group = np.asarray(group)
        in_state_group = (group >= 0) & self.group_state_owned[np.maximum(group, 0)] if len(self.groups) else np.zeros(group.shape, dtype=bool)
        return ~np.asarray(state_owned) & ~in_state_group

    def bs_sum(self, bloc: np.ndarray, stage: np.ndarray, weights: np.ndarray | float = 1.0) -> np.ndarray:
        """(B, S) sums of ``weights`` over rows by bloc and stage (bincount: linear in rows)."""
        return self.cell_sum(self.bs_cells(bloc, stage), weights)

    def bs_cells(self, bloc: np.ndarray, stage: np.ndarray) -> np.ndarray:
        """Each row's (bloc, stage) cell, bloc x S + stage: computed once for several sums over the same rows (:meth:`cell_sum`)."""
        cell = np.multiply(bloc, self.S, dtype=np.int64)  # bloc x S + stage in one int64 array, two passes
        cell += np.asarray(stage)
        return cell

    def cell_sum(self, cell: np.ndarray, weights: np.ndarray | float = 1.0) -> np.ndarray:
        """(B, S) sums of ``weights`` over rows by their cells (:meth:`bs_cells`): :meth:`bs_sum` of the same rows."""
        if np.ndim(weights) == 0 and weights == 1.0:  # counts: as exact as sums of ones, without an array of ones
            return np.bincount(cell, minlength=self.B * self.S).astype(float).reshape(self.B, self.S)
        w = np.broadcast_to(np.asarray(weights, dtype=float), cell.shape)
        # float even with no rows (bincount then returns integers whatever the weights): a recorded series keeps one dtype
        return np.bincount(cell, weights=w, minlength=self.B * self.S).astype(float, copy=False).reshape(self.B, self.S)

    def rd_extra_deduction(self, year: float) -> np.ndarray:
        """(B,) the additional deduction of R&D expense from taxable profit in ``year`` (the bloc's policy's
        ``instruments.rd_extra_deduction``: the share of the last point at or before the year; 0 before the first point and in
        a bloc without points)."""
        out = np.zeros(self.B)
        for b, (yrs, share) in enumerate(zip(self.rd_deduction_years, self.rd_deduction_share)):
            i = int(np.searchsorted(yrs, year, side="right")) - 1
            if i >= 0:
                out[b] = share[i]
        return out

    def rd_tax_factor(self, year: float, start_year: float, elasticity: float) -> np.ndarray | None:
        """(B,) R&D relative to its drawn propensity in ``year``: (the after-tax price of R&D in the start year / in ``year``)
        ^ ``elasticity``, the after-tax price of a unit of R&D being 1 - tax rate x (1 + the additional deduction) at the
        bloc's standard rate. None (the rule before) when no bloc has a deduction schedule."""
        if not any(len(y) for y in self.rd_deduction_years):
            return None
        price_then = 1.0 - self.tax_rate * (1.0 + self.rd_extra_deduction(start_year))
        price_now = 1.0 - self.tax_rate * (1.0 + self.rd_extra_deduction(year))
        return np.power(price_then / np.maximum(price_now, 1e-9), elasticity)

    def rd_tax(self, year: float, start_year: float, elasticity: float) -> tuple[np.ndarray, np.ndarray] | None:
        """(factor, deduction), each (B,), in ``year`` (:meth:`rd_tax_factor`, :meth:`rd_extra_deduction`), as
        agents.firms.account reads them; None (the rule before) when no bloc has a deduction schedule."""
        factor = self.rd_tax_factor(year, start_year, elasticity)
        return None if factor is None else (factor, self.rd_extra_deduction(year))

    def final_demand_t_per_year(self, bloc: int, year: float, scale: float = 1.0) -> float:
        """Final magnet demand path: linear between configured points, flat beyond them."""
        return float(np.interp(year, self.demand_years[bloc], self.demand_t_per_year[bloc])) * scale


# Config fields copied into tables of the same name, by shape
STAGE_KEYS = (
    "input_per_t",
    "reference_price_usd_per_kg",
    "freight_usd_per_kg",
    "experience_ref_years",
    "entrant_experience_years",
    "quality_ramp_years",
    "plant_size_t",
    "employees_per_kt",
    "cost_floor_share",
)
BLOC_STAGE_KEYS = (
    "processing_cost_usd_per_kg",
    "capex_musd_per_kt",
    "fixed_cost_share",
    "planning_years",
    "permitting_years",
    "construction_years",
    "rampup_years",
    "qualification_years",
    "new_plant_quality",
    "ramp_multiplier",
    "entry_rate_per_year",
)
BLOC_KEYS = (
    "base_rate",
    "risk_premium",
    "volatility_premium",
    "interest_rate",
    "leverage_max",
    "equity_share_required",
    "investor_appetite",
    "tax_rate",
    "wage_musd_per_employee_year",
    "rd_propensity",
    "patent_multiplier",
    "patent_lapse_per_year",
    "import_tariff",
)


def build_tables(w: WorldConfig) -> Tables:
    """The parameter tables of a validated world, in config order."""
    inv = w.investment
    brownfield = np.array([inv.brownfield_planning_factor, inv.brownfield_permitting_factor, inv.brownfield_construction_factor], dtype=float)
    return Tables(**_name_tables(w), **_stage_tables(w), **_bloc_stage_tables(w), **_bloc_tables(w), brownfield_factor=brownfield)


def _name_tables(w: WorldConfig) -> dict[str, list[str] | np.ndarray]:
    """Names of blocs, stages, regions and groups, and the bloc (and region) index of each region and group."""
    blocs = list(w.blocs)
    regions = [r for b in blocs for r in w.blocs[b].regions]
    groups = list(w.groups)
    return dict(
        blocs=blocs,
        stages=list(w.stages),
        regions=regions,
        region_bloc=np.array([blocs.index(b) for b in blocs for _ in w.blocs[b].regions], dtype=np.int16),
        groups=groups,
        group_bloc=np.array([blocs.index(w.groups[g].bloc) for g in groups], dtype=np.int16),
        group_region=np.array([regions.index(w.groups[g].region) for g in groups], dtype=np.int16),
        group_state_owned=np.array([bool(w.groups[g].state_owned) for g in groups], dtype=bool),
    )


def _stage_tables(w: WorldConfig) -> dict[str, np.ndarray]:
    """(S,) tables: the stage config, the experience-curve exponent and the magnet equivalent of a tonne."""
    sc = list(w.stages.values())
    out = {k: np.array([getattr(c, k) for c in sc], dtype=float) for k in STAGE_KEYS}
    out["qualification"] = np.array([c.qualification for c in sc], dtype=bool)
    out["learning_b"] = np.array([-np.log2(1.0 - c.learning_rate) for c in sc], dtype=float)
    input_per_t = out["input_per_t"]
    magnet_eq = np.ones(len(sc))
    for i in range(len(sc) - 2, -1, -1):  # a tonne of stage i makes 1 / input_per_t[i + 1] t of stage i + 1
        magnet_eq[i] = magnet_eq[i + 1] / input_per_t[i + 1]
    out["magnet_eq_per_t"] = magnet_eq
    return out


def _bloc_stage_tables(w: WorldConfig) -> dict[str, np.ndarray]:
    """(B, S) tables (pairs: (B, S, 2)) of the bloc-stage config."""
    cells = [[b.stages[s] for s in w.stages] for b in w.blocs.values()]
    out = {k: np.array([[getattr(c, k) for c in row] for row in cells], dtype=float) for k in BLOC_STAGE_KEYS}
    stage_size = [w.stages[s].plant_size_t for s in w.stages]
    out["bloc_plant_size_t"] = np.array(
        [[c.plant_size_t if c.plant_size_t is not None else stage_size[j] for j, c in enumerate(row)] for row in cells], dtype=float
    )
    return out


def _bloc_tables(w: WorldConfig) -> dict[str, np.ndarray | list[np.ndarray]]:
    """(B,) tables (pairs: (B, 2)) of the bloc config, and each bloc's final demand path."""
    bc = list(w.blocs.values())
    out: dict[str, np.ndarray | list[np.ndarray]] = {k: np.array([getattr(c, k) for c in bc], dtype=float) for k in BLOC_KEYS}
    out["private_investor_appetite"] = np.array(
        [c.investor_appetite if c.private_investor_appetite is None else c.private_investor_appetite for c in bc], dtype=float
    )
    out["demand_years"] = [np.array([p[0] for p in c.demand_t_per_year], dtype=float) for c in bc]
    out["demand_t_per_year"] = [np.array([p[1] for p in c.demand_t_per_year], dtype=float) for c in bc]
    return out


def set_rd_deduction(T: Tables, policy: dict) -> None:
    """Each bloc's R&D deduction schedule from its policy (``instruments.rd_extra_deduction``, read at the start of the run;
    a bloc without a policy or a schedule has none) into ``T.rd_deduction_years`` and ``T.rd_deduction_share``."""
    schedules = [list(policy[b].instruments.rd_extra_deduction) if policy.get(b) is not None else [] for b in T.blocs]
    T.rd_deduction_years = [np.array([p[0] for p in sc], dtype=float) for sc in schedules]
    T.rd_deduction_share = [np.array([p[1] for p in sc], dtype=float) for sc in schedules]


def log_uniform(rng: np.random.Generator, lo: float, hi: float, size: int) -> np.ndarray:
    if lo <= 0 or hi <= lo:
        return rng.uniform(lo, hi, size) if hi > lo else np.full(size, lo, dtype=float)
    return np.exp(rng.uniform(np.log(lo), np.log(hi), size))


# An incumbent's plant is half way through its depreciation life at the start: book value half its replacement cost
# (assumption; both worlds' first balance sheets)
INITIAL_PLANT_LIFE_LEFT = 0.5


def build_population(w: WorldConfig, T: Tables, rng: np.random.Generator) -> FirmPopulation:
    """The 2015 incumbents: one cohort after another, draws in config order.

    Each incumbent starts with experience factor 1 (cumulative output = the stage's
    reference years of its nameplate), plant at replacement capex half depreciated,
    debt at half of the bloc's leverage limit, a quarter of fixed cost as cash
    buffer, and a patent stock consistent with its R&D over its age.
    """
    total = sum(max(int(round(c.count * w.scale)), 0) for c in w.firms.values())
    pop = FirmPopulation(capacity=max(64, int(total * 1.5)), patent_slots=patent_slots_for(w.innovation))
    for name, c in w.firms.items():
        n = max(int(round(c.count * w.scale)), 0)
        if n == 0:
            continue
        if c.first_output_year is not None:
            rows = add_projects_under_construction(pop, w, T, c, n, rng)
            add_agreement(pop, w, T, c, rows)
            continue
        b = T.blocs.index(c.bloc)
        s = T.stages.index(c.stage)
        cap = log_uniform(rng, c.capacity_t[0], c.capacity_t[1], n)
        cost_index = rng.uniform(c.cost_index[0], c.cost_index[1], n)
        quality = rng.uniform(c.quality[0], c.quality[1], n)
        age = rng.uniform(c.age_years[0], c.age_years[1], n)
        rd_prop = rng.uniform(T.rd_propensity[b, 0], T.rd_propensity[b, 1], n)
        capex = T.capex_musd_per_kt[b, s] * cap / 1000.0
        book = INITIAL_PLANT_LIFE_LEFT * capex
        ref = T.experience_ref_years[s] * cap
        rows = pop.add(
            n,
            **cohort_identity(c, T),
            phase=Phase.OPERATING,
            birth_step=np.round(-age * 4).astype(np.int32),
            niche_start_step=np.round(-age * 4).astype(np.int32),
            capacity_t=cap,
            quality=quality,
            qualified=True,
            cum_output_t=ref,
            experience_ref_t=ref,
            cost_index=cost_index,
            employees=np.maximum(T.employees_per_kt[s] * cap / 1000.0, 5.0),
            book_assets=book,
            plant_life_left=INITIAL_PLANT_LIFE_LEFT,
            debt=0.5 * T.leverage_max[b] * book,
            cash=0.15 * cap * 0.8 * T.reference_price_usd_per_kg[s] / 1000.0,  # ~two months of revenue (assumption)
            tax_rate=T.tax_rate[b],
            rd_propensity=rd_prop,
            knowledge=0.0,
        )
        unit_input = T.input_per_t[s] * T.reference_price_usd_per_kg[s - 1] if s > 0 else 0.0
        pop._data["unit_cost_usd_per_kg"][rows] = T.processing_cost_usd_per_kg[b, s] * cost_index + unit_input
        # Revenue history at reference prices and 80% utilisation, so trailing indicators start sensible.
        rev_q = cap / 4.0 * 0.8 * T.reference_price_usd_per_kg[s] / 1000.0
        pop._data["rev_hist"][rows, :] = rev_q[:, None]
        pop._data["working_capital"][rows] = working_capital_held(w.finance, rev_q)
        pop._data["rd_hist"][rows, :] = (rd_prop * rev_q)[:, None]
        pop._data["knowledge"][rows] = rd_prop * rev_q * 4.0 * 2.0  # about two years of R&D (assumption)
        add_agreement(pop, w, T, c, rows)
    return pop


def add_agreement(pop: FirmPopulation, w: WorldConfig, T: Tables, c, rows: np.ndarray) -> None:
    """The supply agreement a cohort's plants hold at the start (``agreement_bloc``; sim/engine/contracts.py): the
    agreement's share of each plant's nameplate (a project's: the nameplate it ramps up to), served first to the
    buyers of that bloc at the index (no floor), until the quarter ``agreement_end_year`` begins."""
    if c.agreement_share <= 0 or len(rows) == 0:
        return
    nameplate = np.where(pop.capacity_t[rows] > 0, pop.capacity_t[rows], pop.proj_nameplate_t[rows])
    pop.contract_t[rows] = c.agreement_share * nameplate
    pop.contract_floor[rows] = 0.0
    pop.contract_bloc[rows] = T.blocs.index(c.agreement_bloc)
    pop.contract_end_q[rows] = int(round(4.0 * (c.agreement_end_year - w.start_year)))
    pop.contract_short_q[rows] = 0


def cohort_identity(c, T: Tables) -> dict:
    """The identity columns of a cohort's firms (bloc, region, stage, group, state ownership) as ``FirmPopulation.add``
    takes them."""
    return dict(
        bloc=T.blocs.index(c.bloc),
        region=T.regions.index(c.region),
        stage=T.stages.index(c.stage),
        group=T.groups.index(c.group) if c.group is not None else -1,
        state_owned=c.state_owned,
    )


def add_projects_under_construction(pop: FirmPopulation, w: WorldConfig, T: Tables, c, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` firms of cohort ``c`` whose plant is a greenfield project past its final investment decision at the start
    (``first_output_year``): construction ends, and ramp-up to the drawn nameplate begins, in that year's quarter.
    The part of the capex not yet spent is the share of the stage's mid construction time still to run (all of it
    if the project is younger than that); what was spent is construction in progress. The
    project was financed at its gate as the finance gate finances one: the equity share of the capex and the start-up
    reserve (agents.investment.project_reserve) as own funds, the rest borrowed as construction spends it (the spent
    part already borrowed), so the accounts' borrowing rule carries it on."""
    b = T.blocs.index(c.bloc)
    s = T.stages.index(c.stage)
    nameplate = log_uniform(rng, c.capacity_t[0], c.capacity_t[1], n)
    cost_index = rng.uniform(c.cost_index[0], c.cost_index[1], n)
    rd_prop = rng.uniform(T.rd_propensity[b, 0], T.rd_propensity[b, 1], n)
    proj_u = rng.random((n, 5))
    # construction ends in quarter index k = (first_output_year - start_year) x 4: projects count down at the start of
    # each quarter (agents.investment.advance_projects), the first time in quarter 0
    k = max(round((c.first_output_year - w.start_year) * 4.0), 0)  # quarters of construction still to run
    remaining_q = k + 1
    construction_q = 4.0 * float(T.construction_years[b, s].mean())
    capex = T.capex_musd_per_kt[b, s] * nameplate / 1000.0
    left = capex * min(max(k, 1) / max(construction_q, 1.0), 1.0)
    rows = pop.add(
        n,
        **cohort_identity(c, T),
        phase=Phase.PROJECT,
        birth_step=0,
        niche_start_step=0,
        capacity_t=0.0,
        quality=T.new_plant_quality[b, s],
        qualified=not T.qualification[s],
        experience_ref_t=T.experience_ref_years[s] * nameplate,
        cum_output_t=T.entrant_experience_years[s] * nameplate,
        cost_index=cost_index,
        rd_propensity=rd_prop,
        tax_rate=T.tax_rate[b],
        employees=5.0,
    )
    pop.proj_u[rows] = proj_u
    pop.proj_phase[rows] = ProjectPhase.CONSTRUCTION
    pop.proj_greenfield[rows] = True
    pop.proj_nameplate_t[rows] = nameplate
    pop.proj_capex_musd[rows] = capex
    pop.proj_capex_left[rows] = left
    pop.proj_remaining_q[rows] = float(remaining_q)
    pop.proj_start_step[rows] = 0
    eq = T.equity_share_required[b]
    pop.cip[rows] = capex - left
    pop.debt[rows] = (1.0 - eq) * (capex - left)
    pop.cash[rows] = eq * left + project_reserve(pop, T, rows, capex, w.finance)
    return rows
