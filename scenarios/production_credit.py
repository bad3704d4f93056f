"""Production tax credit: a bloc pays its producers at chosen stages per tonne of output or a share of its cost.

Question served: Q2/Q3 of MODEL.md - how much does an output-linked credit (rather than a capex
grant) speed a bloc's build-out of a stage, and what does it cost the treasury?
Reference: the US advanced manufacturing production credit, 26 U.S.C. 45X (Inflation Reduction
Act 2022): for "applicable critical minerals" (45X(c)(6); the rare earths neodymium,
praseodymium, dysprosium, terbium and others once converted to oxide or metal of the purity in
26 CFR 1.45X-4, i.e. the separation and metal stages here) the credit is 10% of the costs the
producer incurs to produce them (``cost_share: 0.10``); the final regulations (2024) count
extraction and material costs. Magnets are not an eligible component of 45X; credits per kg of
magnets have been proposed in Congress (e.g. the Magnets Value Chain Support Act, H.R. 9227,
2026) but not enacted, so a ``usd_per_kg`` value for magnets is an assumption of the scenario.

Mechanism: while active, each alive firm of ``bloc`` at one of ``stages`` receives, in the same
quarter's accounts (sim.engine.accounts.do_accounting, before agents.firms.account), a grant of

    usd_per_kg x output (t) / 1000                          M USD (per tonne), or
    cost_share x (input cost + output x processing cost)    M USD (cost share; fixed costs,
                                                            interest and R&D excluded: assumption)

booked like any grant (``pop.grants``: it raises profit before tax and cash; assumption: the
credit is taxed like a grant, where 45X credits are elective payments outside taxable income).
The money paid is the event's fiscal book, ``(bloc, "production_credit")``, so it appears in
policy.parquet (``fiscal_musd``) and the fiscal totals. Investors do not anticipate the credit
(it reaches them only through cash and profit).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scenarios.checks import check_bloc, check_stages
from scenarios.events import EventParams, ScenarioEvent, register_event
from sim.checks import ConfigError

INSTRUMENT = "production_credit"  # the fiscal book's instrument name


@dataclass
class ProductionCreditParams(EventParams):
    bloc: str = ""  # bloc whose producers receive the credit
    stages: list[str] = field(default_factory=list)  # stages whose output earns it (at least one)
    usd_per_kg: float = field(default=0.0, metadata={"min": 0.0, "max": 10000.0})  # credit per kg of output, USD/kg (assumption per scenario)
    cost_share: float = field(default=0.0, metadata={"min": 0.0, "max": 1.0})  # share of production cost; 0.10: 45X critical minerals


@register_event
class ProductionCredit(ScenarioEvent):
    kind = "production_credit"
    Params = ProductionCreditParams
    question = "How much does an output-linked production credit speed a bloc's build-out, and what does it cost?"

    def __init__(self, name, params):
        super().__init__(name, params)
        self.paid_musd = 0.0  # cumulative, M USD
        self.bloc_index = -1

    def install(self, model) -> None:
        self.bloc_index = model.tables.blocs.index(self.params.bloc)
        super().install(model)

    def credit_musd(self, model, proc_usd_per_kg: np.ndarray) -> np.ndarray:
        """(firm rows,) this quarter's credit of each firm, M USD (zero outside the bloc and stages);
        ``proc_usd_per_kg``: each firm's unit processing cost this quarter (agents.firms.processing_cost)."""
        T, pop, p = model.tables, model.pop, self.params
        stage = np.zeros(T.S, dtype=bool)
        stage[[T.stages.index(s) for s in p.stages]] = True
        here = pop.alive & (pop.bloc == self.bloc_index) & stage[pop.stage]
        if p.usd_per_kg > 0:
            pay = pop.output_t * p.usd_per_kg / 1000.0  # t x USD/kg / 1000 = M USD
        else:
            pay = p.cost_share * (pop.input_cost + pop.output_t * proc_usd_per_kg / 1000.0)
        return np.where(here, pay, 0.0)

    def pay(self, model, proc_usd_per_kg: np.ndarray) -> None:
        """Pay this quarter's credit into the firms' grants (called by the accounts, before they are booked)."""
        if not self.active:
            return
        pay = self.credit_musd(model, proc_usd_per_kg)
        model.pop.grants = model.pop.grants + pay
        self.paid_musd += float(pay.sum())

    def apply(self, model) -> None:
        """Nothing to set: the accounts call :meth:`pay` while the event is active."""

    def revert(self, model) -> None:
        """Nothing to undo: payments stop with the event."""

    def fiscal_musd(self) -> dict[tuple[int, str], float]:
        return {(self.bloc_index, INSTRUMENT): self.paid_musd} if self.bloc_index >= 0 else {}

    @classmethod
    def check(cls, key, params, cfg) -> None:
        check_bloc(f"{key}.bloc", params.bloc, cfg)
        check_stages(f"{key}.stages", params.stages, cfg)
        if (params.usd_per_kg > 0) == (params.cost_share > 0):
            raise ConfigError(
                f"{key}.usd_per_kg",
                f"give exactly one of usd_per_kg > 0 or cost_share > 0; got usd_per_kg={params.usd_per_kg}, cost_share={params.cost_share}",
            )
