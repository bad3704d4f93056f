"""Parameter tables and the initial firm population, built from the validated config.

Blocs, regions, stages and groups are data: their names come from config and
everything else is indexed by position (bloc index, stage index, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agents.firms import FirmPopulation, Phase
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
    # stage (S,)
    input_per_t: np.ndarray
    reference_price: np.ndarray
    freight: np.ndarray
    learning_b: np.ndarray
    experience_ref_years: np.ndarray
    entrant_experience_years: np.ndarray
    quality_ramp_years: np.ndarray
    plant_size_t: np.ndarray  # (S, 2)
    employees_per_kt: np.ndarray
    needs_qualification: np.ndarray
    magnet_eq_per_t: np.ndarray  # t of final product per t of the stage's product
    # bloc x stage (B, S)
    processing_cost: np.ndarray
    capex: np.ndarray
    fixed_cost_share: np.ndarray
    planning_years: np.ndarray  # (B, S, 2)
    permitting_years: np.ndarray
    construction_years: np.ndarray
    rampup_years: np.ndarray
    qualification_years: np.ndarray
    new_plant_quality: np.ndarray
    ramp_multiplier: np.ndarray
    entry_rate: np.ndarray
    # bloc (B,)
    base_rate: np.ndarray
    risk_premium: np.ndarray
    volatility_premium: np.ndarray
    interest_rate: np.ndarray
    leverage_max: np.ndarray
    equity_share_required: np.ndarray
    investor_appetite: np.ndarray
    tax_rate: np.ndarray
    wage: np.ndarray
    rd_propensity: np.ndarray  # (B, 2)
    patent_multiplier: np.ndarray
    import_tariff: np.ndarray
    demand_years: list[np.ndarray]
    demand_t: list[np.ndarray]

    @property
    def B(self) -> int:
        return len(self.blocs)

    @property
    def S(self) -> int:
        return len(self.stages)

    def bs_sum(self, bloc: np.ndarray, stage: np.ndarray, weights: np.ndarray | float = 1.0) -> np.ndarray:
        """(B, S) sums of ``weights`` over rows by bloc and stage (bincount: linear in rows)."""
        cell = np.asarray(bloc, dtype=np.int64) * self.S + np.asarray(stage, dtype=np.int64)
        w = np.broadcast_to(np.asarray(weights, dtype=float), cell.shape)
        return np.bincount(cell, weights=w, minlength=self.B * self.S).reshape(self.B, self.S)

    def final_demand_t_per_year(self, bloc: int, year: float, scale: float = 1.0) -> float:
        """Final magnet demand path: linear between configured points, flat beyond them."""
        return float(np.interp(year, self.demand_years[bloc], self.demand_t[bloc])) * scale


def build_tables(w: WorldConfig) -> Tables:
    blocs = list(w.blocs)
    stages = list(w.stages)
    regions = [r for b in blocs for r in w.blocs[b].regions]
    region_bloc = np.array([blocs.index(b) for b in blocs for _ in w.blocs[b].regions], dtype=np.int16)
    groups = list(w.groups)
    sc = [w.stages[s] for s in stages]

    def bs(attr):
        return np.array([[getattr(w.blocs[b].stages[s], attr) for s in stages] for b in blocs], dtype=float)

    def bl(attr):
        return np.array([getattr(w.blocs[b], attr) for b in blocs], dtype=float)

    input_per_t = np.array([c.input_per_t for c in sc], dtype=float)
    magnet_eq = np.ones(len(stages))
    for i in range(len(stages) - 2, -1, -1):
        magnet_eq[i] = magnet_eq[i + 1] / input_per_t[i + 1]
    return Tables(
        blocs=blocs,
        stages=stages,
        regions=regions,
        region_bloc=region_bloc,
        groups=groups,
        group_bloc=np.array([blocs.index(w.groups[g].bloc) for g in groups], dtype=np.int16),
        group_region=np.array([regions.index(w.groups[g].region) for g in groups], dtype=np.int16),
        input_per_t=input_per_t,
        reference_price=np.array([c.reference_price_usd_per_kg for c in sc], dtype=float),
        freight=np.array([c.freight_usd_per_kg for c in sc], dtype=float),
        learning_b=np.array([-np.log2(1.0 - c.learning_rate) for c in sc], dtype=float),
        experience_ref_years=np.array([c.experience_ref_years for c in sc], dtype=float),
        entrant_experience_years=np.array([c.entrant_experience_years for c in sc], dtype=float),
        quality_ramp_years=np.array([c.quality_ramp_years for c in sc], dtype=float),
        plant_size_t=np.array([c.plant_size_t for c in sc], dtype=float),
        employees_per_kt=np.array([c.employees_per_kt for c in sc], dtype=float),
        needs_qualification=np.array([c.qualification for c in sc], dtype=bool),
        magnet_eq_per_t=magnet_eq,
        processing_cost=bs("processing_cost_usd_per_kg"),
        capex=bs("capex_musd_per_kt"),
        fixed_cost_share=bs("fixed_cost_share"),
        planning_years=np.array([[w.blocs[b].stages[s].planning_years for s in stages] for b in blocs], dtype=float),
        permitting_years=np.array([[w.blocs[b].stages[s].permitting_years for s in stages] for b in blocs], dtype=float),
        construction_years=np.array([[w.blocs[b].stages[s].construction_years for s in stages] for b in blocs], dtype=float),
        rampup_years=np.array([[w.blocs[b].stages[s].rampup_years for s in stages] for b in blocs], dtype=float),
        qualification_years=np.array([[w.blocs[b].stages[s].qualification_years for s in stages] for b in blocs], dtype=float),
        new_plant_quality=bs("new_plant_quality"),
        ramp_multiplier=bs("ramp_multiplier"),
        entry_rate=bs("entry_rate_per_year"),
        base_rate=bl("base_rate"),
        risk_premium=bl("risk_premium"),
        volatility_premium=bl("volatility_premium"),
        interest_rate=bl("interest_rate"),
        leverage_max=bl("leverage_max"),
        equity_share_required=bl("equity_share_required"),
        investor_appetite=bl("investor_appetite"),
        tax_rate=bl("tax_rate"),
        wage=bl("wage_musd_per_employee_year"),
        rd_propensity=np.array([w.blocs[b].rd_propensity for b in blocs], dtype=float),
        patent_multiplier=bl("patent_multiplier"),
        import_tariff=bl("import_tariff"),
        demand_years=[np.array([p[0] for p in w.blocs[b].demand_t_per_year], dtype=float) for b in blocs],
        demand_t=[np.array([p[1] for p in w.blocs[b].demand_t_per_year], dtype=float) for b in blocs],
    )


def log_uniform(rng: np.random.Generator, lo: float, hi: float, size: int) -> np.ndarray:
    if lo <= 0 or hi <= lo:
        return rng.uniform(lo, hi, size) if hi > lo else np.full(size, lo, dtype=float)
    return np.exp(rng.uniform(np.log(lo), np.log(hi), size))


def build_population(w: WorldConfig, T: Tables, rng: np.random.Generator) -> FirmPopulation:
    """The 2015 incumbents: one cohort after another, draws in config order.

    Each incumbent starts with experience factor 1 (cumulative output = the stage's
    reference years of its nameplate), plant at replacement capex half depreciated,
    debt at half of the bloc's leverage limit, a quarter of fixed cost as cash
    buffer, and a patent stock consistent with its R&D over its age.
    """
    total = sum(max(int(round(c.count * w.scale)), 0) for c in w.firms.values())
    pop = FirmPopulation(capacity=max(64, int(total * 1.5)))
    for name, c in w.firms.items():
        n = max(int(round(c.count * w.scale)), 0)
        if n == 0:
            continue
        b = T.blocs.index(c.bloc)
        s = T.stages.index(c.stage)
        cap = log_uniform(rng, c.capacity_t[0], c.capacity_t[1], n)
        cost_index = rng.uniform(c.cost_index[0], c.cost_index[1], n)
        quality = rng.uniform(c.quality[0], c.quality[1], n)
        age = rng.uniform(c.age_years[0], c.age_years[1], n)
        rd_prop = rng.uniform(T.rd_propensity[b, 0], T.rd_propensity[b, 1], n)
        capex = T.capex[b, s] * cap / 1000.0
        book = 0.5 * capex
        ref = T.experience_ref_years[s] * cap
        rows = pop.add(
            n,
            bloc=b,
            region=T.regions.index(c.region),
            stage=s,
            group=T.groups.index(c.group) if c.group is not None else -1,
            state_owned=c.state_owned,
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
            gross_assets=capex,
            debt=0.5 * T.leverage_max[b] * book,
            cash=0.15 * cap * 0.8 * T.reference_price[s] / 1000.0,  # ~two months of revenue (assumption)
            tax_rate=T.tax_rate[b],
            rd_propensity=rd_prop,
            knowledge=0.0,
        )
        unit_input = T.input_per_t[s] * T.reference_price[s - 1] if s > 0 else 0.0
        pop._data["unit_cost_usd_per_kg"][rows] = T.processing_cost[b, s] * cost_index + unit_input
        # Revenue history at reference prices and 80% utilisation, so trailing indicators start sensible.
        rev_q = cap / 4.0 * 0.8 * T.reference_price[s] / 1000.0
        pop._data["rev_hist"][rows, :] = rev_q[:, None]
        pop._data["rd_hist"][rows, :] = (rd_prop * rev_q)[:, None]
        pop._data["knowledge"][rows] = rd_prop * rev_q * 4.0 * 2.0  # about two years of R&D (assumption)
    return pop
