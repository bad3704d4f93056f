"""Production tax credit: a bloc pays its producers at chosen stages per tonne of output or a share of its cost.

Question served: Q2/Q3 of MODEL.md - how much does an output-linked credit (rather than a capex
grant) speed a bloc's build-out of a stage, and what does it cost the treasury?
Reference: the US advanced manufacturing production credit, 26 U.S.C. 45X (Inflation Reduction
Act 2022): for "applicable critical minerals" (45X(c)(6); the rare earths neodymium,
praseodymium, dysprosium, terbium and others once converted to oxide or metal of the purity in
26 CFR 1.45X-4, i.e. the separation and metal stages here) the credit is 10% of the costs the
producer incurs to produce them (``cost_share: 0.10``); the final regulations (2024) count
extraction and material costs. Magnets are not an eligible component of 45X; credits per kg of
magnets have been proposed in Congress but not enacted (the Rare Earth Magnet Manufacturing Production
Tax Credit Act, H.R. 5033 of 2021 and S. 4680 of 2022: 20 USD/kg, 30 USD/kg if all the rare-earth
material is domestic; the Rare Earth Magnet Security Act of 2025, H.R. 1496 and S. 1979), so a
``usd_per_kg`` value for magnets is an assumption of the scenario. The One Big Beautiful Bill Act
(Public Law 119-21, 2025, sec. 70514) phases the critical-minerals credit out for minerals produced
after 2030 (75%, 50%, 25% of it in 2031-2033, none after): scenario ``west_enacted`` holds the schedule.

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


class CreditBook:
    """One bloc's production credit by stage and the money it paid (shared by the event and a bloc's policy)."""

    def __init__(self):
        self.bloc_index = -1
        self.usd_per_kg: np.ndarray | None = None  # (S,) credit per kg of output, USD/kg
        self.cost_share: np.ndarray | None = None  # (S,) share of production cost
        self.paid_musd = 0.0  # cumulative, M USD

    def set_rates(self, model, bloc: str, usd_per_kg: dict[str, float], cost_share: dict[str, float]) -> None:
        T = model.tables
        self.bloc_index = T.blocs.index(bloc)
        self.usd_per_kg = np.array([float(usd_per_kg.get(s, 0.0)) for s in T.stages])
        self.cost_share = np.array([float(cost_share.get(s, 0.0)) for s in T.stages])

    def credit_musd(self, model, proc_usd_per_kg: np.ndarray) -> np.ndarray:
        """(firm rows,) this quarter's credit of each firm, M USD (zero outside the bloc and the credited stages);
        ``proc_usd_per_kg``: each firm's unit processing cost this quarter (agents.firms.processing_cost)."""
        pop = model.pop
        per_t = pop.output_t * self.usd_per_kg[pop.stage] / 1000.0  # t x USD/kg / 1000 = M USD
        share = self.cost_share[pop.stage] * (pop.input_cost + pop.output_t * proc_usd_per_kg / 1000.0)
        return np.where(pop.alive & (pop.bloc == self.bloc_index), per_t + share, 0.0)

    def pay(self, model, proc_usd_per_kg: np.ndarray) -> None:
        """Pay this quarter's credit into the firms' grants (called by the accounts, before they are booked)."""
        pay = self.credit_musd(model, proc_usd_per_kg)
        model.pop.grants = model.pop.grants + pay
        self.paid_musd += float(pay.sum())

    def fiscal_musd(self) -> dict[tuple[int, str], float]:
        return {(self.bloc_index, INSTRUMENT): self.paid_musd} if self.bloc_index >= 0 else {}


@register_event
class ProductionCredit(ScenarioEvent):
    kind = "production_credit"
    Params = ProductionCreditParams
    question = "How much does an output-linked production credit speed a bloc's build-out, and what does it cost?"

    def __init__(self, name, params):
        super().__init__(name, params)
        self.book = CreditBook()

    def install(self, model) -> None:
        p = self.params
        self.book.set_rates(model, p.bloc, {s: p.usd_per_kg for s in p.stages}, {s: p.cost_share for s in p.stages})
        super().install(model)

    def pay(self, model, proc_usd_per_kg: np.ndarray) -> None:
        if self.active:
            self.book.pay(model, proc_usd_per_kg)

    def apply(self, model) -> None:
        """Nothing to set: the accounts call :meth:`pay` while the event is active."""

    def revert(self, model) -> None:
        """Nothing to undo: payments stop with the event."""

    def fiscal_musd(self) -> dict[tuple[int, str], float]:
        return self.book.fiscal_musd()

    @classmethod
    def check(cls, key, params, cfg) -> None:
        check_bloc(f"{key}.bloc", params.bloc, cfg)
        check_stages(f"{key}.stages", params.stages, cfg)
        if (params.usd_per_kg > 0) == (params.cost_share > 0):
            raise ConfigError(
                f"{key}.usd_per_kg",
                f"give exactly one of usd_per_kg > 0 or cost_share > 0; got usd_per_kg={params.usd_per_kg}, cost_share={params.cost_share}",
            )


class ProductionCreditPolicy:
    """The production credit of a bloc's policy (sim.config.policy.InstrumentsConfig ``production_credit_*``):
    in force from install to retirement (a regime change). A policy module; the accounts call :meth:`pay`."""

    order = 61  # after BlocInstruments; it has no quarterly action
    active = True

    def __init__(self, bloc: int, usd_per_kg: dict[str, float], cost_share: dict[str, float]):
        self.bloc = bloc
        self.rates = (usd_per_kg, cost_share)
        self.book = CreditBook()

    def install(self, model) -> None:
        self.book.set_rates(model, model.tables.blocs[self.bloc], *self.rates)
        self.active = True

    def quarter(self, model) -> None:
        """Nothing quarterly: the accounts pay the credit."""

    def year(self, model) -> None:
        """Nothing yearly."""

    def retire(self, model) -> None:
        self.active = False

    def pay(self, model, proc_usd_per_kg: np.ndarray) -> None:
        if self.active:
            self.book.pay(model, proc_usd_per_kg)

    def fiscal_musd(self) -> dict[tuple[int, str], float]:
        return self.book.fiscal_musd()
