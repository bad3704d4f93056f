"""Export quota: an exporter's sales abroad at chosen stages capped at a tonnage per period.

Question served: Q4 of MODEL.md (resilience) - what did China's rare-earth export quotas of
2010-2014 do to prices in each bloc, to substitution and to new supply outside China, and how
fast did the market recover after they ended? Reference: the quotas the Ministry of Commerce
(MOFCOM) announced in batches, in t REO: 2009 50,145; 2010 22,282 (first batch) + 7,976 (second,
July 2010) = 30,258, about 40% below 2009; 2011 14,446 + 15,738 = 30,184; 2012 10,546 + 10,680 +
9,770 = 30,996; 2013 30,999; 2014 30,611; abolished from 1 January 2015 after the WTO ruled against
them (DS431, China - Rare Earths, Tungsten and Molybdenum: panel report March 2014, Appellate Body
report August 2014). conf/scenario/export_quota_2010.yaml applies them to the 2010 world.

Mechanism. ``periods`` lists [start year, tonnes] entries: each period runs from its start to the
next entry's start (the last to ``end_year``), and its tonnes are spread over its quarters: the
allowance of a quarter is what is left of the period's tonnes over the quarters left in the period,
so an unused allowance passes to the next quarter of the same period and lapses at its end
(export licences were valid for the batch's period: assumption on the carry-over). In each quarter
the exporter's suppliers may sell the allowance to buyers of other blocs, summed over ``stages``,
where a tonne of stage s uses the tonnes of ``unit_stage`` product it is made from (the world's
``input_per_t``; with the default unit stage mining, a tonne of NdPr oxide uses 5 t REO and a tonne
of metal 6 t REO: the quota counted all rare earths, and the chain carries NdPr with the ore's
other elements, so the quota maps onto the chain as if exports carried the ore's element mix:
assumption). Within a quarter the quota is a licensed share per stage (``sim.engine.markets.allocate``,
``quota_licensed``): each foreign buyer class may obtain min(1, allowance / F) of what it would
have bought without the quota, F the uncontrolled sales abroad; what the quota refuses is re-offered
to suppliers of other blocs, as under an export control. Stages clear from magnets upstream, so
the most processed product listed uses the quarter's allowance first (exporters spent scarce
licences on the products of highest value: assumption). At the end of each period the event logs
``export_quota_used`` (value: quota units sold abroad in the period; detail: name, allowed units).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scenarios.checks import check_bloc, check_stages
from scenarios.events import EventParams, ScenarioEvent, register_event
from sim.checks import ConfigError, require_name


@dataclass
class ExportQuotaParams(EventParams):
    exporter: str = ""  # bloc whose sales abroad are limited
    stages: list[str] = field(default_factory=list)  # stages whose sales abroad share the quota (at least one)
    periods: list[Any] = field(default_factory=list)  # [[start year, tonnes of the unit stage's product], ...], increasing
    unit_stage: str = ""  # the stage whose tonnes the quota counts ('': the first stage, t REO in the default world)


@register_event
class ExportQuota(ScenarioEvent):
    kind = "export_quota"
    Params = ExportQuotaParams
    question = "What does a tonnage quota on an exporter's sales abroad do to prices, substitution and supply elsewhere?"

    def __init__(self, name: str, params: Any):
        super().__init__(name, params)
        self.period = -1  # index of the period in force
        self.left = 0.0  # quota units left in the period before the coming quarter's sales
        self.used = 0.0  # quota units sold abroad in the period so far

    # -- the quarter's allowance -------------------------------------------------------------
    def units_per_t(self, model) -> np.ndarray:
        """(S,) tonnes of the unit stage's product in a tonne of each stage's (1 upstream of the unit stage: unused)."""
        T = model.tables
        u = T.stages.index(self.params.unit_stage) if self.params.unit_stage else 0
        out = np.ones(T.S)
        for s in range(u + 1, T.S):
            out[s] = out[s - 1] * T.input_per_t[s]
        return out

    def period_quarters(self, model) -> list[tuple[int, int, float]]:
        """(first quarter, quarter after the last, tonnes) of each period, in quarter indices of the run."""
        p = self.params
        starts = [model.quarter_index(float(y)) for y, _ in p.periods]
        ends = starts[1:] + [model.quarter_index(p.end_year)]
        return [(a, b, float(t)) for (a, b), (_, t) in zip(zip(starts, ends), p.periods)]

    def set_allowance(self, model, q: int) -> None:
        """The allowance of quarter q: the period's tonnes left over the quarters left in the period."""
        periods = self.period_quarters(model)
        i = max(k for k, (a, _, _) in enumerate(periods) if a <= q)
        if i != self.period:
            if self.period >= 0:
                self.log_period(model, periods[self.period][2])
            self.period, self.left, self.used = i, periods[i][2], 0.0
        end = periods[i][1]
        allowance = self.left / max(end - q, 1)
        p = self.params
        model.markets.set_export_quota(self.name, p.exporter, p.stages, self.units_per_t(model), allowance)

    def log_period(self, model, allowed: float) -> None:
        e = model.tables.blocs.index(self.params.exporter)
        model.log_event("export_quota_used", bloc=e, detail=f"{self.name}: {self.used:.0f} of {allowed:.0f}", value=self.used)

    # -- events ----------------------------------------------------------------------------------
    def apply(self, model) -> None:
        self.period = -1
        self.set_allowance(model, model.quarter + 1)  # fired between quarters: the coming quarter's allowance

    def quarter(self, model) -> None:
        """After the quarter's markets (policy step): book the sales abroad, set the next quarter's allowance."""
        if not self.active:
            return
        sold = model.markets.export_quota_used(self.name)
        self.used += sold
        self.left = max(self.left - sold, 0.0)
        if model.quarter + 1 < self.period_quarters(model)[-1][1]:
            self.set_allowance(model, model.quarter + 1)

    def revert(self, model) -> None:
        if self.period >= 0:
            self.log_period(model, self.period_quarters(model)[self.period][2])
        self.period = -1
        model.markets.clear_export_quota(self.name)

    @classmethod
    def check(cls, key, params, cfg) -> None:
        check_bloc(f"{key}.exporter", params.exporter, cfg)
        check_stages(f"{key}.stages", params.stages, cfg)
        stages = list(cfg.world.stages)
        if params.unit_stage:
            require_name(f"{key}.unit_stage", params.unit_stage, stages, "stage")
        u = stages.index(params.unit_stage) if params.unit_stage else 0
        for s in params.stages:
            if stages.index(s) < u:
                raise ConfigError(f"{key}.stages", f"'{s}' is upstream of the unit stage '{stages[u]}'; the quota counts tonnes of {stages[u]}")
        if params.end_year is None:
            raise ConfigError(f"{key}.end_year", "an export quota needs an end year (the last period runs to it)")
        _check_periods(f"{key}.periods", params)


def _check_periods(key: str, params: ExportQuotaParams) -> None:
    """[[year, tonnes >= 0], ...] with increasing years, the first at start_year, all before end_year."""
    periods = params.periods
    if not periods:
        raise ConfigError(key, "at least one [start year, tonnes] period is required")
    for i, pt in enumerate(periods):
        ok = isinstance(pt, (list, tuple)) and len(pt) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pt)
        if not ok or pt[1] < 0 or pt[1] != pt[1]:
            raise ConfigError(f"{key}[{i}]", f"must be [start year, tonnes >= 0], got {pt}")
    years = [float(pt[0]) for pt in periods]
    if years[0] != float(params.start_year):
        raise ConfigError(f"{key}[0]", f"the first period must start at start_year ({params.start_year}), got {years[0]}")
    if any(b <= a for a, b in zip(years, years[1:])):
        raise ConfigError(key, f"period start years must increase, got {years}")
    if years[-1] >= float(params.end_year):
        raise ConfigError(key, f"every period must start before end_year ({params.end_year}), got {years[-1]}")
