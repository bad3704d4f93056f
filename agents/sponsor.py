"""Sponsored projects: a bloc's coordinator starts new projects in its gap stages (MODEL.md 5.6, 5.8).

``policy.coordination.incubation_per_year`` (Poisson mean per year, times ``world.scale``) new firms
enter each year, at the start of the year, each in a stage drawn with probability proportional
to the stage's planned gap (``stage_gap`` over ``coordination.plan_horizon_years``; only stages
whose gap exceeds ``coordination.gap_threshold``; none when there is no gap). The sponsor pays
each project's own funds at once (the equity share and the start-up reserve of its capex, like a
state group's incubation) and commits to it: at the finance gate the project counts as worth
doing whatever its expected return (the plan chose it) and passes the own-funds test; it still
needs lenders (the debt test) and goes through planning, permitting, construction, ramp-up and
qualification; with ``coordination.sponsored_studies_done`` the plan picks advanced-stage projects
whose studies are done, so each starts at permitting (its planning phase is behind it). The money
is public: fiscal instrument ``sponsored_projects``; each project is an ``incubated`` event with
detail ``sponsor:<bloc>``.

This is the coordinator's own incubation. China's coordinated regime leaves it at 0 (its state
groups incubate, agents/groups.py); the coordinated-West regime uses it for the programme
solicitations that seed new Western projects.
"""

from __future__ import annotations

import mesa
import numpy as np
from mesa.time import Schedule

import agents.investment as inv


class ProjectSponsor(mesa.Agent):
    """A policy module (sim.engine.policy.PolicyModule): ``install`` schedules the yearly solicitation
    (``year``), ``retire`` stops it; its books: ``sponsored_projects``."""

    order = 30

    def __init__(self, model, bloc: int, policy):
        super().__init__(model)
        self.bloc = bloc
        self.policy = policy
        T = model.tables
        self.name = f"sponsor:{T.blocs[bloc]}"
        self.policy_rng = model.policy_rng(self.name)
        self.spent_musd = 0.0
        self.started = 0
        self._years = None

    def install(self, model) -> None:
        self._years = model.schedule_recurring(self.new_year, Schedule(interval=4.0, start=model.next_yearly_time(0.5)))

    def quarter(self, model) -> None:
        """Nothing quarterly."""

    def year(self, model) -> None:
        self.new_year()

    def fiscal_musd(self) -> dict[tuple[int, str], float]:
        return {(self.bloc, "sponsored_projects"): self.spent_musd}

    def retire(self, model=None) -> None:
        """The regime ends: no more sponsored projects (those started go on)."""
        self._years.stop()
        self.remove()

    def new_year(self) -> None:
        m, c = self.model, self.policy.coordination
        n = int(self.policy_rng.poisson(c.incubation_per_year * m.world.scale))
        if n == 0:
            return
        gap = m.stage_gap(self.bloc, c.plan_horizon_years)
        weight = np.where(gap > c.gap_threshold, np.maximum(gap, 0.0), 0.0)
        if weight.sum() <= 0:
            return
        T = m.tables
        stages = self.policy_rng.choice(T.S, size=n, p=weight / weight.sum())
        regions = np.flatnonzero(T.region_bloc == self.bloc)
        for s in np.unique(stages):
            k = int((stages == s).sum())
            rows, own = m.add_funded_entrants(self.bloc, int(s), k, regions[self.policy_rng.integers(0, len(regions), k)], self.policy_rng, self.name)
            m.pop.sponsored[rows] = True
            if c.sponsored_studies_done:  # advanced-stage projects: planning is behind them, permitting starts now
                inv.start_permitting(m.pop, rows, T, m.instruments.permit_factor, m.instruments.permit_cap_years)
            self.spent_musd += float(own.sum())
            self.started += k


__all__ = ["ProjectSponsor"]
