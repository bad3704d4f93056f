"""State-owned groups (MODEL.md 5.7).

Every group of ``world.groups`` is an ``SOEGroup`` agent. What all groups do
under any regime is part of the world: subsidiaries pool a share of the group's
mean R&D (``world.innovation.group_sharing``) and prefer their own group's
suppliers (``world.markets.same_group_discount``). What the bloc's policy adds
(``policy.<bloc>.groups``, zero under ``none``):

- rescue: a subsidiary about to exit (insolvent or with lasting negative
  equity) is recapitalised - cash back to zero and book equity back to zero -
  while the group's yearly rescue budget covers the cost;
- grading: each year the best ``grading_top_share`` of subsidiaries by
  innovation performance (R&D intensity plus invention patents per M USD of
  yearly revenue) are graded A, and the group's R&D fund is split among them as
  R&D grants over the next four quarters;
- incubation: each year Poisson(``incubation_per_year``) new subsidiaries enter
  the stage with the largest planned gap (``ChainModel.stage_gap``) in the
  group's region, state-owned, with the parent paying the project's own funds.

Money: budgets in M yuan per year (config), converted with world.usd_per_cny;
fiscal costs booked in M USD.
"""

from __future__ import annotations

import mesa
import numpy as np
from mesa.time import Schedule

from agents.firms import Phase
from agents.government import yuan_price_level


class SOEGroup(mesa.Agent):
    """One state-owned group and its subsidiaries (rows with ``group == index``).

    A policy module (sim.engine.policy.PolicyModule): ``install`` follows the bloc's policy at the start,
    ``quarter`` pays the R&D fund, ``year`` is the new-year process; a regime change calls ``set_policy``
    (the group itself stays)."""

    order = 20  # acts after the government in the policy step

    def __init__(self, model, index: int, name: str, bloc: int, region: int, policy):
        super().__init__(model)
        self.index = index
        self.name = name
        self.bloc = bloc
        self.region = region
        self.policy_rng = model.policy_rng(f"group:{name}")
        self.rescue_left = 0.0  # M USD left this year
        self.spent = {"rescue": 0.0, "rd_fund": 0.0, "incubation": 0.0}  # cumulative M USD
        self.rd_fund_q = 0.0  # M USD per quarter to each A-graded subsidiary
        self.counts = {"rescued": 0, "incubated": 0, "graded_a": 0}
        self._years = None  # the recurring new-year event while the policy gives the group something to do
        self.cfg = None
        self._initial_policy = policy

    def install(self, model) -> None:
        self.set_policy(self._initial_policy)

    def quarter(self, model) -> None:
        self.pay_rd_fund()

    def year(self, model) -> None:
        self.new_year()

    def retire(self, model=None) -> None:
        """No policy any more: budgets lapse, grades and R&D fund end."""
        self.set_policy(None)

    def fiscal_musd(self) -> dict[tuple[int, str], float]:
        return {(self.bloc, f"group_{k}"): v for k, v in self.spent.items()}

    def set_policy(self, policy) -> None:
        """Follow the bloc's policy in force (at the start and at a regime change): knowledge sharing,
        budgets and rates; the yearly process runs only while the policy gives the group something to do."""
        m = self.model
        self.cfg = policy.groups if policy is not None else None
        default = m.world.innovation.group_sharing
        m.group_sharing[self.index] = self.cfg.knowledge_sharing if self.cfg is not None and self.cfg.knowledge_sharing is not None else default
        if self._years is not None:
            self._years.stop()
            self._years = None
        if not self.active:  # nothing left to do: budgets lapse, grades and R&D fund end
            self.rescue_left = 0.0
            self.rd_fund_q = 0.0
            m.pop.group_grade_a[m.pop.alive & (m.pop.group == self.index)] = False
            return
        # yearly between Q4 and Q1 (the first year starts with the run or with the new regime)
        self._years = m.schedule_recurring(self.new_year, Schedule(interval=4.0, start=m.next_yearly_time(0.5)))

    @property
    def active(self) -> bool:
        c = self.cfg
        return c is not None and (c.rescue_budget_myuan_per_year > 0 or c.rd_fund_myuan_per_year > 0 or c.incubation_per_year > 0)

    def members(self) -> np.ndarray:
        pop = self.model.pop
        return np.flatnonzero(pop.alive & (pop.group == self.index))

    # ------------------------------------------------------------------ yearly
    def new_year(self) -> None:
        """Renew the rescue budget, grade subsidiaries, incubate into gaps."""
        m, c = self.model, self.cfg
        usd = m.world.usd_per_cny * m.world.scale / yuan_price_level(m.world, m.current_year)  # the budgets' yuan are this year's (nominal)
        self.rescue_left = c.rescue_budget_myuan_per_year * usd
        self._grade(c.rd_fund_myuan_per_year * usd)
        self._incubate()

    def _grade(self, fund_musd: float) -> None:
        pop = self.model.pop
        rows = self.members()
        pop.group_grade_a[rows] = False
        self.rd_fund_q = 0.0
        ops = rows[pop.phase[rows] == Phase.OPERATING]
        if not len(ops) or self.cfg.grading_top_share <= 0:
            return
        step = max(self.model.quarter, 0)
        rev = pop.trailing(pop.rev_hist, step, 4)[ops]
        rd = pop.trailing(pop.rd_hist, step, 4)[ops]
        perf = (
            np.divide(rd, rev, out=np.zeros(len(ops)), where=rev > 1e-12)
            + np.divide(pop.patents_invention[ops], rev, out=np.zeros(len(ops)), where=rev > 1e-12) / 100.0
        )
        n_a = max(int(round(self.cfg.grading_top_share * len(ops))), 1)
        best = ops[np.argsort(-perf, kind="stable")[:n_a]]
        pop.group_grade_a[best] = True
        self.counts["graded_a"] += len(best)
        self.rd_fund_q = fund_musd / 4.0 / len(best)
        self.model.log_rows("graded_a", best, detail=self.name, quarter=self.model.quarter + 1)

    def _incubate(self) -> None:
        m, c = self.model, self.cfg
        n = int(self.policy_rng.poisson(c.incubation_per_year * m.world.scale)) if c.incubation_per_year > 0 else 0
        if n == 0:
            return
        gov = m.policy.governments.get(self.bloc)
        horizon = gov.policy.coordination.plan_horizon_years if gov is not None else 5.0
        threshold = gov.policy.coordination.gap_threshold if gov is not None else 0.0
        gap = m.stage_gap(self.bloc, horizon)
        s = int(np.argmax(gap))
        if gap[s] <= threshold:  # no stage short of capacity: nothing to incubate into (MODEL.md 5.5: "into ... gaps")
            return
        # the parent pays the project's own funds (equity share and start-up reserve)
        _, own = m.add_funded_entrants(self.bloc, s, n, np.full(n, self.region), self.policy_rng, self.name, group=self.index, state_owned=True)
        self.spent["incubation"] += float(own.sum())
        self.counts["incubated"] += n

    # ------------------------------------------------------------------ quarterly
    def pay_rd_fund(self) -> None:
        """R&D grants to this year's A-graded subsidiaries (booked in the next accounts)."""
        if self.rd_fund_q <= 0:
            return
        pop = self.model.pop
        rows = np.flatnonzero(pop.alive & (pop.group == self.index) & pop.group_grade_a)
        pop.grants[rows] += self.rd_fund_q
        pop.rd_grants[rows] += self.rd_fund_q
        self.spent["rd_fund"] += self.rd_fund_q * len(rows)

    def rescue(self, rows: np.ndarray) -> np.ndarray:
        """Of the exiting rows that are this group's subsidiaries, recapitalise those the budget covers.

        Returns the rows that still exit."""
        if self.rescue_left <= 0 or not len(rows):
            return rows
        pop = self.model.pop
        mine = rows[pop.group[rows] == self.index]
        if not len(mine):
            return rows
        rescued = []
        for r in mine:
            need = max(-pop.cash[r], 0.0)
            equity_after = pop.equity[r] + need
            need += max(-equity_after, 0.0)
            if need <= self.rescue_left:
                pop.cash[r] += need
                pop.neg_equity_quarters[r] = 0
                self.rescue_left -= need
                self.spent["rescue"] += need
                rescued.append(r)
                self.model.log_event("rescued", int(pop.firm_id[r]), int(pop.bloc[r]), int(pop.stage[r]), self.name, need)
        self.counts["rescued"] += len(rescued)
        return np.setdiff1d(rows, np.array(rescued, dtype=rows.dtype), assume_unique=True) if rescued else rows
