"""Entry and exit, step 6 of the quarter (MODEL.md 3, 5.5).

Entrants arrive per bloc and stage as Poisson draws on the profitability of a
typical new plant, each with a greenfield project in planning. A live firm exits
when it is insolvent, when its equity has been negative too long (unless its state
group rescues it) or when its first project was abandoned.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from agents import investment as inv
from agents.firms import Phase, ProjectPhase

if TYPE_CHECKING:  # pragma: no cover
    from sim.engine.model import ChainModel


def do_entry_exit(model: ChainModel) -> None:
    """This quarter's entrants, then exits."""
    enter(model)
    exit_failing(model)


def enter(model: ChainModel) -> None:
    """Poisson entrants per bloc and stage on the entrants' profitability index (``model.pi_entrant``), in random regions of the bloc."""
    T, w = model.tables, model.world
    rng = model.streams["entry"]
    n_new = inv.entrants(T, rng, model.pi_entrant, w.scale, pi_cap=w.investment.entry_pi_cap)
    for b in range(T.B):
        regions = np.flatnonzero(T.region_bloc == b)
        for s in range(T.S):
            n = int(n_new[b, s])
            if n == 0:
                continue
            add_entrants(model, b, s, n, regions[rng.integers(0, len(regions), n)], rng)
    model.counters["entrants"] += n_new


def exit_failing(model: ChainModel) -> None:
    """Exit: insolvency, lasting negative equity (after the state groups' rescues), or an abandoned first project."""
    T, pop, w = model.tables, model.pop, model.world
    q = model.quarter
    alive = pop.alive
    neg = alive & (pop.equity < 0)
    pop.neg_equity_quarters = np.where(neg, pop.neg_equity_quarters + 1, 0)
    insolvent = alive & (pop.cash < -1e-9)
    lasting = alive & (pop.neg_equity_quarters >= w.finance.exit_after_negative_equity_quarters)
    no_plant = alive & (pop.phase == Phase.PROJECT) & (pop.proj_phase == ProjectPhase.NONE)
    failing = model.policy.rescue(np.flatnonzero(insolvent | lasting))
    out = np.union1d(failing, np.flatnonzero(no_plant))
    if len(out):
        reason = np.where(insolvent[out], "insolvent", np.where(lasting[out], "negative_equity", "project_abandoned"))
        for r, why in zip(out, reason):
            model.event_log.add("exit", pop.firm_id[r], pop.bloc[r], pop.stage[r], str(why), pop.capacity_t[r], quarter=q)
        model.counters["exits"] += T.bs_sum(pop.bloc[out], pop.stage[out])
        pop.phase[out] = Phase.EXITED
        pop.capacity_t[out] = 0.0
        pop.potential_t[out] = 0.0
        pop.proj_phase[out] = ProjectPhase.NONE


def add_entrants(
    model: ChainModel, b: int, s: int, n: int, regions: np.ndarray, rng: np.random.Generator, group: int = -1, state_owned: bool = False
) -> np.ndarray:
    """New firms with a greenfield project in planning (MODEL.md 5.5)."""
    T, pop = model.tables, model.pop
    size = T.plant_size_t[s]
    nameplate = np.exp(rng.uniform(np.log(size[0]), np.log(size[1]), n)) if size[1] > size[0] > 0 else np.full(n, size[1])
    rows = pop.add(
        n,
        bloc=b,
        stage=s,
        region=regions,
        group=group,
        state_owned=state_owned,
        phase=Phase.PROJECT,
        birth_step=model.quarter,
        niche_start_step=model.quarter,
        capacity_t=0.0,
        quality=T.new_plant_quality[b, s],
        qualified=not T.qualification[s],
        experience_ref_t=T.experience_ref_years[s] * nameplate,
        cum_output_t=T.entrant_experience_years[s] * nameplate,
        cost_index=rng.uniform(0.9, 1.1, n),
        rd_propensity=rng.uniform(T.rd_propensity[b, 0], T.rd_propensity[b, 1], n),
        tax_rate=T.tax_rate[b],
        employees=5.0,
    )
    inv.start_projects(pop, rows, T, rng, model.quarter, nameplate, greenfield=True)
    model.counters["started"][b, s] += n
    model.log_rows("entry", rows, values=nameplate)
    return rows


def add_funded_entrants(
    model: ChainModel, b: int, s: int, n: int, regions: np.ndarray, rng: np.random.Generator, sponsor: str, group: int = -1, state_owned: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Entrants whose sponsor (a state group or the bloc's coordinator) pays the project's own funds at once:
    the equity share and the start-up reserve of its capex. Logged as ``incubated`` with the sponsor's name.
    Returns the rows and the money paid per row (M USD)."""
    rows = add_entrants(model, b, s, n, regions, rng, group=group, state_owned=state_owned)
    own = (model.tables.equity_share_required[b] + model.world.finance.startup_reserve_share) * model.pop.proj_capex_musd[rows]
    model.pop.cash[rows] += own
    model.log_rows("incubated", rows, detail=sponsor, values=own)
    return rows, own
