"""Policy modules: one interface for governments, groups, agencies, sponsors, price floors and events.

Every policy actor and instrument is a *module* with the same small lifecycle
(MODEL.md 6; the shape of Starsim's modules):

- ``install(model)``: take effect (schedule its yearly actions, set its instruments);
- ``quarter(model)``: the quarterly action of the policy step (step 7 of MODEL.md 3);
- ``year(model)``: the yearly action (timed by a Mesa scheduled event the module sets up at install);
- ``retire(model)``: stop (a regime change, the end of an event); committed payments may still run;
- ``fiscal_musd()``: cumulative public money paid, ``{(bloc, instrument): M USD}``.

The model holds one :class:`PolicyModules`; it installs the configured regimes,
the state groups, the price-floor container and the scenario events, runs the
quarterly actions in a fixed order (:attr:`PolicyModule.order`, then install
order), swaps a bloc's set of modules at a regime change, and sums the fiscal
books of all modules, retired ones included. Agents and scenarios implement the
interface structurally (they do not import this module: import layers, CONTRIBUTING.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from agents.agencies import FundingAgency, create_agencies
from agents.government import Government
from agents.groups import SOEGroup
from agents.sponsor import ProjectSponsor
from scenarios import parse_events
from scenarios.events import ScenarioEvent
from scenarios.production_credit import ProductionCreditPolicy

if TYPE_CHECKING:  # pragma: no cover
    from sim.engine.model import ChainModel


@runtime_checkable
class PolicyModule(Protocol):
    """What every policy actor, instrument and scenario event implements."""

    order: int  # quarterly actions and fiscal books run in increasing order (ties: install order)
    bloc: int  # the bloc whose policy it belongs to (-1: none in particular)

    def install(self, model) -> None: ...

    def quarter(self, model) -> None: ...

    def year(self, model) -> None: ...

    def retire(self, model) -> None: ...

    def fiscal_musd(self) -> dict[tuple[int, str], float]: ...


def output_quota_t(pi, stage: str, year: float, demand, scale: float = 1.0) -> float:
    """The bloc's national output quota at ``stage`` in ``year``, t/yr in a world of ``scale``, from its ``instruments``
    (docs/ODD.md 7.9).

    With a schedule for the stage (``output_quota_schedule``: [[year, t], ...], the quotas as announced): the last point at
    or before the year, in force until the next; after the last point, that quota grown with the bloc's final-demand path
    ``demand(year)`` (the plan's projection) from the point's year; before the first point, the first. Otherwise the
    base-year quota (``output_quota_t_per_year``) grown with the demand path from ``output_quota_base_year``."""
    points = pi.output_quota_schedule.get(stage)
    if points:
        k = max(sum(1 for y, _ in points if y <= year) - 1, 0)
        y_k, q_k = points[k]
        if k < len(points) - 1 or year < y_k:
            return float(q_k) * scale
        base, base_year = float(q_k), float(y_k)
    else:
        base, base_year = float(pi.output_quota_t_per_year[stage]), float(pi.output_quota_base_year)
    return base * scale * (demand(year) / max(demand(base_year), 1e-9))


def unofficial_share(pi, year: float) -> float:
    """Output beyond the quota as a share of the bloc's total in ``year``: ``output_quota_unofficial_schedule`` linear
    between its points and flat outside them, or ``output_quota_unofficial_share`` without a schedule."""
    points = pi.output_quota_unofficial_schedule
    if not points:
        return float(pi.output_quota_unofficial_share)
    return float(np.interp(year, [p[0] for p in points], [p[1] for p in points]))


class BlocInstruments:
    """Bloc-wide instruments of one bloc's policy, as named layers on ``model.instruments`` (so that retiring
    removes exactly them): permitting speed (coordination.permit_factor) and caps, the know-how programme,
    price floors with offtake (until floor_years have passed; with instruments.floor_per_plant each plant's floor
    agreement runs floor_years from its first output while the policy is in force), import tariffs and the defence (state-owned
    buyers') sourcing mandate. No public money of its own (price floors book theirs in ``model.price_floors``)."""

    order = 60

    def __init__(self, bloc: int, policy):
        self.bloc = bloc
        self.policy = policy
        self.name = ""
        self.floor_end = -1  # quarter index at which the policy's price floors end (-1: never)
        self._mandate_before: list = []  # [(state-owned buyer, domestic mandate before the policy)]
        self.model = None
        self.retired = False

    def install(self, model) -> None:
        self.model = model
        T, ins = model.tables, model.instruments
        b = self.bloc
        self.name = name = f"policy:{T.blocs[b]}"
        row = np.zeros((T.B, T.S), dtype=bool)
        row[b, :] = True
        c, pi = self.policy.coordination, self.policy.instruments
        if c.permit_factor != 1.0:
            ins.set_layer("permit_factor", name, np.where(row, c.permit_factor, 1.0), op="mul")
        if pi.permit_cap_years:
            caps = np.full((T.B, T.S), np.inf)
            for st, years in pi.permit_cap_years.items():
                caps[b, T.stages.index(st)] = years
            ins.set_layer("permit_cap_years", name, caps, op="min", init=np.inf)
        if pi.knowhow_ramp_factor != 1.0:
            ins.set_layer("ramp_extra", name, np.where(row, pi.knowhow_ramp_factor, 1.0), op="mul")
        if pi.floor_per_plant:  # each plant's agreement runs floor_years from its first output; the state's offtake floor_years
            model.price_floors.add_stages(
                f"{name}:plant_floors",
                b,
                pi.price_floor_usd_per_kg,
                {},
                model.world.scale,
                pi.floor_years,
                pi.floor_capacity_t_per_year,
                domestic_only=pi.floor_domestic_only,
                home_first=pi.floor_home_first,
                renew_below=pi.floor_renew_below,
            )
            model.price_floors.add_stages(f"{name}:floors", b, {}, pi.floor_offtake_t_per_year, model.world.scale)
        else:
            model.price_floors.add_stages(
                f"{name}:floors",
                b,
                pi.price_floor_usd_per_kg,
                pi.floor_offtake_t_per_year,
                model.world.scale,
                domestic_only=pi.floor_domestic_only,
                home_first=pi.floor_home_first,
            )
        # programme-wide: the floors and offtake end floor_years after the start; per plant: the offtake runs floor_years
        # from the first quarter the state receives any (the agreement's plant on line: BlocInstruments.quarter)
        if (pi.price_floor_usd_per_kg or pi.floor_offtake_t_per_year) and pi.floor_years > 0 and not pi.floor_per_plant:
            self.floor_end = max(model.quarter + 1, 0) + int(round(pi.floor_years * 4))
            model.schedule_event(self.end_floors, at=self.floor_end + 0.5)  # a bound method: Mesa holds callbacks weakly
        if pi.import_tariff:  # ad valorem, on imports from every other bloc, added to the world's (scenarios.tariff)
            tariff = np.zeros((T.B, T.B, T.S))
            for st, rate in pi.import_tariff.items():
                tariff[b, np.arange(T.B) != b, T.stages.index(st)] = rate
            ins.set_layer("tariff", name, tariff, op="add", init=0.0)
        if pi.output_quota_t_per_year or pi.output_quota_schedule:
            self.set_output_quota(model)
        if pi.export_ban_stages:  # a standing ban: other blocs' buyers cannot buy these stages from the bloc's producers
            model.markets.set_export_control(f"{name}:export_ban", T.blocs[b], pi.export_ban_stages, 0.0, standing=True)
        if pi.defence_mandate_share > 0:
            # state-owned buyers (the bloc's stockpile, state utilities) and defence buyers, whose contractors are private in
            # the West (before, west_defence was not state-owned and the mandate reached only the stockpile)
            reached = [by for by in model.buyers if by.bloc == b and (by.state_owned or by.defence)]
            self._mandate_before = [(by, by.domestic_mandate) for by in reached]
            for by, old in self._mandate_before:
                by.domestic_mandate = max(old, pi.defence_mandate_share)

    def end_floors(self) -> None:
        """The policy's price floors end after floor_years (unless the policy was retired before)."""
        if not self.retired and self.floor_end == self.model.quarter + 1:
            self.model.price_floors.remove(f"{self.name}:floors")

    def set_output_quota(self, model) -> None:
        """The national output quota of the next quarter the markets clear (:func:`output_quota_t`, from that quarter's
        year) plus the output produced beyond it (:func:`unofficial_share` of the total): cap = quota / (1 - share). Set
        at install and in each quarter's policy step, after the quarter's markets have cleared."""
        T, pi, b = model.tables, self.policy.instruments, self.bloc
        year = model.world.start_year + (model.quarter + 1) / 4.0  # the next clearing's (the first: quarter -1 at set-up)
        share = unofficial_share(pi, year)
        caps = np.full((T.B, T.S), np.inf)
        for st in {**pi.output_quota_t_per_year, **pi.output_quota_schedule}:
            quota = output_quota_t(pi, st, year, lambda y: T.final_demand_t_per_year(b, y), model.world.scale)
            caps[b, T.stages.index(st)] = quota / (1.0 - share)
        model.instruments.set_layer("output_cap_t", self.name, caps, op="min", init=np.inf)

    def quarter(self, model) -> None:
        """The output quota moves with the plan's demand projection; with per-plant floors the state's offtake clock
        starts at its first delivery; the other layers act where the arrays are read."""
        pi = self.policy.instruments
        if (pi.output_quota_t_per_year or pi.output_quota_schedule) and not self.retired:
            self.set_output_quota(model)
        if pi.floor_per_plant and pi.floor_years > 0 and self.floor_end < 0 and not self.retired:
            if model.price_floors.offtake_t[self.bloc].sum() > 0:
                self.floor_end = model.quarter + 1 + int(round(pi.floor_years * 4))
                model.schedule_event(self.end_floors, at=self.floor_end + 0.5)

    def year(self, model) -> None:
        """Nothing yearly."""

    def retire(self, model) -> None:
        for attr in ("permit_factor", "permit_cap_years", "ramp_extra", "tariff", "output_cap_t"):
            model.instruments.clear_layer(attr, self.name)
        model.markets.clear_export_control(f"{self.name}:export_ban")
        model.price_floors.remove(f"{self.name}:floors")
        model.price_floors.remove(f"{self.name}:plant_floors")
        self.retired = True
        for buyer, old in self._mandate_before:
            buyer.domestic_mandate = old
        self._mandate_before = []

    def fiscal_musd(self) -> dict[tuple[int, str], float]:
        return {}


class PolicyModules:
    """The model's policy modules: installation, the quarterly step, regime changes and fiscal totals."""

    def __init__(self, model: "ChainModel"):
        self.model = model
        self.modules: list[PolicyModule] = []  # in force, in install order
        self.retired: list[PolicyModule] = []  # retired, in retirement order (their books still count)
        self.regimes: dict[int, object] = {}  # bloc -> the policy (config) in force

    # ------------------------------------------------------------------ views
    def of(self, cls: type, bloc: int | None = None) -> list:
        """Modules in force of one class (and bloc), in install order."""
        return [m for m in self.modules if isinstance(m, cls) and (bloc is None or m.bloc == bloc)]

    @property
    def governments(self) -> dict[int, Government]:
        return {g.bloc: g for g in self.of(Government)}

    @property
    def sponsors(self) -> dict[int, ProjectSponsor]:
        return {s.bloc: s for s in self.of(ProjectSponsor)}

    @property
    def agencies(self) -> dict[int, list[FundingAgency]]:
        out: dict[int, list[FundingAgency]] = {}
        for a in self.of(FundingAgency):
            out.setdefault(a.bloc, []).append(a)
        return out

    @property
    def groups(self) -> list[SOEGroup]:
        return self.of(SOEGroup)

    @property
    def events(self) -> list[ScenarioEvent]:
        return self.of(ScenarioEvent)

    def _ordered(self, modules: list) -> list:
        return sorted(modules, key=lambda m: m.order)  # stable: install order within one order

    # ------------------------------------------------------------------ install and retire
    def add(self, module) -> None:
        self.modules.append(module)
        module.install(self.model)

    def install_all(self) -> None:
        """At the start of the run: the price-floor container, each bloc's policy, the state groups and the
        scheduled regime changes (cfg.policy_change). Scenario events come later (:meth:`install_events`)."""
        m = self.model
        cfg, T = m.cfg, m.tables
        self.add(m.price_floors)
        for bname, policy in cfg.policy.items():
            self.install_policy(T.blocs.index(bname), policy)
        for g, (name, gc) in enumerate(m.world.groups.items()):
            if not gc.state_owned:  # a private group: no agent, the policy's group support is for the state groups
                continue
            self.add(SOEGroup(m, g, name, T.blocs.index(gc.bloc), T.regions.index(gc.region), cfg.policy.get(gc.bloc)))
        for bname, change in cfg.policy_change.items():
            at = max(m.quarter_index(change.year), 0) + 0.5
            m.schedule_event(self.change_policies, at=at)

    def install_events(self) -> None:
        """The scenario's events (cfg.scenario.events), each scheduled to start and end."""
        for ev in parse_events(self.model.cfg.scenario.events, self.model.cfg):
            self.add(ev)

    def install_policy(self, b: int, policy) -> None:
        """The modules of one bloc's policy (MODEL.md 5.6-5.8): government, sponsor, agencies, instruments."""
        m = self.model
        self.regimes[b] = policy
        if policy.designation.enabled or policy.regime == "coordinated":
            self.add(Government(m, b, policy))
        if policy.coordination.incubation_per_year > 0:
            self.add(ProjectSponsor(m, b, policy))
        for agency in create_agencies(m, b, policy) if policy.agencies else []:
            self.add(agency)
        self.add(BlocInstruments(b, policy))
        pi = policy.instruments
        if pi.production_credit_usd_per_kg or pi.production_credit_cost_share:
            self.add(ProductionCreditPolicy(b, pi.production_credit_usd_per_kg, pi.production_credit_cost_share))

    def retire_bloc(self, b: int) -> None:
        """Retire the modules of bloc b's policy (state groups stay: they follow the new policy)."""
        m = self.model
        for module in [x for x in self.modules if x.bloc == b and not isinstance(x, SOEGroup | ScenarioEvent)]:
            module.retire(m)
            self.modules.remove(module)
            self.retired.append(module)

    def change_policies(self) -> None:
        """Scheduled regime changes (cfg.policy_change): the old regime's modules retire, the new one's install."""
        m = self.model
        for bname, change in m.cfg.policy_change.items():
            b = m.tables.blocs.index(bname)
            if m.quarter_index(change.year) != m.quarter + 1:
                continue
            self.retire_bloc(b)
            m.log_event("policy_change", bloc=b, detail=change.policy.regime, quarter=m.quarter + 1)
            self.install_policy(b, change.policy)
            for g in self.groups:
                if g.bloc == b:
                    g.set_policy(change.policy)

    # ------------------------------------------------------------------ each quarter
    def quarter(self) -> None:
        """The policy step: every module's quarterly action (benefits of titles held, group R&D funds,
        price-floor top-ups), paid into the next accounts."""
        for module in self._ordered(self.modules):
            module.quarter(self.model)

    def rescue(self, rows: np.ndarray) -> np.ndarray:
        """Failing rows that still exit after their parent groups had their chance to rescue them."""
        for g in self.groups:
            rows = g.rescue(rows)
        return rows

    def capex_support(self) -> np.ndarray:
        """(B, S) share of a new plant's capex investors expect public awards to pay: the agencies of each bloc
        combined as independent chances (1 - prod(1 - share)), at most 0.9."""
        T = self.model.tables
        keep = np.ones((T.B, T.S))
        for b, agencies in self.agencies.items():
            for a in agencies:
                keep[b] *= 1.0 - a.expected_support()
        return np.minimum(1.0 - keep, 0.9)

    # ------------------------------------------------------------------ books
    def fiscal_totals(self) -> dict[tuple[int, str], float]:
        """Cumulative public money by (bloc, instrument), M USD: one sum over the modules' books, in force
        and retired (in module order; within one order, modules in force before retired ones)."""
        out: dict[tuple[int, str], float] = {}
        for module in self._ordered(self.modules + self.retired):
            for key, v in module.fiscal_musd().items():
                out[key] = out.get(key, 0.0) + v
        return out
