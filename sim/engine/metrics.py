"""Observation (MODEL.md 7): quarterly series per bloc and stage, the annual firm
panel, the event log, and the scalar summary of a run.

Self-sufficiency of a bloc at a stage is its domestic output at that stage in
magnet-equivalent tonnes divided by its final magnet demand, both per quarter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from agents import kernels
from agents.firms import Phase, Tier
from sim.engine import market_kernels
from sim.engine.demand import bloc_need

if TYPE_CHECKING:  # pragma: no cover
    from sim.engine.model import ChainModel

SERIES = (
    "capacity_t",
    "mothballed_t",
    "pipeline_t",
    "output_t",
    "inputs_t",
    "demand_t",
    "delivered_t",
    "imports_t",
    "exports_t",
    "state_offtake_t",
    "shortage_t",
    "price_usd_per_kg",
    "paid_price_usd_per_kg",
    "unit_cost_usd_per_kg",
    "long_run_price_usd_per_kg",
    "utilisation",
    "price_at_bound",
    "firms",
    "firms_in_project",
    "projects_started",
    "projects_financed",
    "projects_stalled",
    "projects_constrained",
    "projects_abandoned",
    "entrants",
    "exits",
    "plants_sold",
    "final_demand_t",
    "self_sufficiency",
    "capacity_share",
    "output_share",
    "rd_spend_musd",
    "revenue_musd",
    "profit_musd",
    "patents_invention",
    "patents_utility",
    "export_controlled",
    "final_shortage_t",
    "buyer_inventory_t",
    "stockpile_t",
    "substituted_share",
    "relocated_share",
    "demand_price_factor",
    "security_premium",
    "contracted_t",
    "output_quota_t",
)


class Recorder:
    """Collects the outputs of one run in memory; sim.engine.output writes them.

    What it records, and where each part is built:

    - the quarterly series (``series``, one (B, S) array per name of SERIES and quarter): ``record_quarter``
      in named steps, the module functions ``firm_series``, ``trade_series``, ``price_series``,
      ``count_series`` and ``demand_series``; ``timeseries`` makes the tidy table (timeseries.parquet);
    - the trade between blocs of the last recorded quarter (``trade_t``), which the classroom draws;
    - the annual firm panel (``panel``; ``firm_panel_rows``, firms.parquet);
    - the summary and its milestones (``summary``, ``milestone_quarters``, ``shock_metrics``: the module functions
      ``run_summary``, ``milestones`` and ``shocks`` over the recorded series; summary.json);
    - the policy outputs (``policy``, sim.engine.policy_metrics).
    """

    def __init__(self, model: "ChainModel"):
        self.model = model
        T = model.tables
        self.series: dict[str, list[np.ndarray]] = {k: [] for k in SERIES}
        self.panel: list[pd.DataFrame] = []
        self.B, self.S = T.B, T.S
        # t delivered in the last recorded quarter from supplier bloc (axis 0) to buyer bloc (axis 1), per stage
        self.trade_t = np.zeros((T.B, T.B, T.S))
        from sim.engine.policy_metrics import PolicyRecorder

        self.policy = PolicyRecorder(model)

    def record_quarter(self) -> None:
        """Append the quarter's (B, S) value of every series, then the policy rows of the quarter."""
        m = self.model
        patents = (m.pop.patents_invention, m.pop.patents_utility)  # in force, per firm: read once for both recorders
        sums = firm_sums(m, patents)
        rec = firm_series(sums)
        trade, self.trade_t = trade_series(m)
        rec.update(trade)
        rec.update(price_series(m, sums))
        rec.update(count_series(m))
        rec.update(demand_series(m, rec["output_t"], rec["capacity_t"]))
        rec.update(adaptation_series(m, self.trade_t))
        rec["output_quota_t"] = quota_series(m)
        for k in SERIES:
            self.series[k].append(rec[k])
        self.policy.record_quarter(patents)

    def record_firm_panel(self) -> None:
        """Annual snapshot of every live firm (for event studies of designation)."""
        if self.model.cfg.output.firm_panel:
            self.panel.append(firm_panel_rows(self.model))

    # ------------------------------------------------------------------ frames
    def timeseries(self) -> pd.DataFrame:
        """Tidy quarterly table: one row per quarter, bloc and stage; one column per variable."""
        m = self.model
        T = m.tables
        n_q = len(self.series["capacity_t"])
        B, S = self.B, self.S
        q = np.repeat(np.arange(n_q), B * S)
        df = pd.DataFrame(
            {
                "quarter_index": q.astype(np.int32),
                "year": (m.world.start_year + q // 4).astype(np.int32),
                "quarter": (q % 4 + 1).astype(np.int8),
                "time": m.world.start_year + q / 4.0,
                "bloc": pd.Categorical.from_codes(np.tile(np.repeat(np.arange(B), S), n_q), T.blocs),
                "stage": pd.Categorical.from_codes(np.tile(np.tile(np.arange(S), B), n_q), T.stages),
            }
        )
        for k in SERIES:
            df[k] = np.stack(self.series[k]).reshape(-1) if n_q else np.zeros(0)
        return df

    def firm_panel(self) -> pd.DataFrame:
        return pd.concat(self.panel, ignore_index=True) if self.panel else pd.DataFrame()

    def events(self) -> pd.DataFrame:
        m = self.model
        return m.event_log.frame(m.tables.blocs, m.tables.stages, m.world.start_year)

    # ------------------------------------------------------------------ summary
    def milestone_quarters(self) -> tuple[int, dict[str, dict[str, tuple[int | None, int | None]]]]:
        """The timeline reference quarter and, per bloc and stage, the quarter indices (None: not yet) of
        (a) the first output of a plant whose firm was born at or after the reference quarter and (b) the
        first quarter at or after it from which self-sufficiency stays at or above
        ``world.independence_threshold`` for ``world.independence_hold_quarters`` quarters (MODEL.md 7)."""
        return milestones(self.model, self.series["self_sufficiency"])

    def summary(self) -> dict[str, Any]:
        """Scalar outcomes (MODEL.md 7)."""
        summary = run_summary(self.model, self.series, self.milestone_quarters(), self.shock_metrics())
        summary["policy"] = self.policy.summary()
        return summary

    def shock_metrics(self) -> dict[str, Any]:
        """Per scenario event: peak importer/exporter price ratio, shortage depth, recovery time."""
        return shocks(self.model, self.series)


# ---------------------------------------------------------------------- the quarterly series, by kind
def firm_sums(m: "ChainModel", patents: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """The quarter's (B, S) sums over firms that the series read, by name (agents.kernels.FIRM_SUMS), in one pass over
    the rows (agents.kernels.firm_sum_rows). Stocks (capacity, pipeline, firm counts, patents in force) are summed over
    the firms live at the end of the quarter; flows (output, inputs, R&D, revenue, profit, unit cost x output) over
    every firm live in it, including those that exited in it: they produced, sold and bought this quarter before they
    left. ``patents``: each firm's invention and utility patents in force, when the caller has read them."""
    T, pop = m.tables, m.pop
    invention, utility = (pop.patents_invention, pop.patents_utility) if patents is None else patents
    out = np.zeros((len(kernels.FIRM_SUMS), T.B * T.S))
    kernels.firm_sum_rows(
        pop.bloc,
        pop.stage,
        T.S,
        pop.phase,
        pop.exit_step,
        m.quarter,
        pop.mothballed,
        pop.proj_phase,
        pop.capacity_t,
        pop.proj_nameplate_t,
        pop.proj_added_t,
        pop.output_t,
        pop.inputs_t,
        pop.rd_spend,
        pop.revenue,
        pop.profit,
        pop.unit_cost_usd_per_kg,
        invention,
        utility,
        out,
    )
    return {k: out[i].reshape(T.B, T.S) for i, k in enumerate(kernels.FIRM_SUMS)}


def firm_series(sums: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Stocks and flows summed over firms (:func:`firm_sums`): capacity (and the part mothballed), pipeline of
    projects before qualification, output, input use, operating firms and firms with a greenfield project, R&D,
    revenue, profit, patents in force."""
    return {k: sums[k] for k in kernels.FIRM_SUMS if k != "unit_cost_x_output"}


def trade_series(m: "ChainModel") -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The quarter's markets per bloc and stage (demand, deliveries, imports, exports, shortage, export control,
    the state's price-floor offtake from the bloc's producers) and the (B supplier, B buyer, S) tonnes delivered
    between blocs.

    Per stage and quarter, over the world: output = delivered + state offtake (the state's stock builds by what it
    buys and is never sold); imports = exports; and per bloc, the input use of its stage-s firms = what was
    delivered to them at stage s - 1."""
    pop = m.pop
    B, S = m.tables.B, m.tables.S
    demand = np.zeros((B, S))
    delivered = np.zeros((B, S))
    imports = np.zeros((B, S))
    exports = np.zeros((B, S))
    export_controlled = np.zeros((B, S))
    trade_t = np.zeros((B, B, S))
    for s, cl in m.last_clearing.items():
        demand[:, s] = np.bincount(cl.class_bloc, weights=cl.demand, minlength=B)
        delivered[:, s] = np.bincount(cl.class_bloc, weights=cl.delivered_to_class, minlength=B)
        sup_bloc = pop.bloc[cl.suppliers]
        # the (buyer bloc b, supplier bloc c) blocks of the deliveries, classes and suppliers each in their own order,
        # each summed whole as numpy sums an array (pairwise), in one compiled pass (sim.engine.market_kernels)
        by_blocs = np.zeros((B, B))
        market_kernels.block_sums(np.ascontiguousarray(cl.delivered), cl.class_bloc, sup_bloc, B, by_blocs)
        for b in range(B):
            for c in range(B):
                q = by_blocs[b, c]
                trade_t[c, b, s] = q
                if b != c:
                    imports[b, s] += q
                    exports[c, s] += q
            export_controlled[b, s] = float(m.markets.controlled(s, b, standing=False))
    series = {
        "demand_t": demand,
        "delivered_t": delivered,
        "imports_t": imports,
        "exports_t": exports,
        "shortage_t": np.maximum(demand - delivered, 0.0),
        "export_controlled": export_controlled,
        "state_offtake_t": m.price_floors.offtake_t.copy(),
    }
    return series, trade_t


def price_series(m: "ChainModel", sums: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Price indices, prices paid, output-weighted unit cost (over every firm that produced in the quarter, as the
    output of :func:`firm_sums`), the long-run price a new plant needs (sim.engine.investment.long_run_price, as the
    quarter's investors saw it), utilisation (empty where the bloc-stage's plants offered nothing this quarter: the smoothed
    value the price rule keeps describes the last quarter they did) and the clip bound the index ended at."""
    wsum, output_t = sums["unit_cost_x_output"], sums["output_t"]
    return {
        "price_usd_per_kg": m.markets.price.copy(),
        "paid_price_usd_per_kg": m.paid_price.copy(),
        "unit_cost_usd_per_kg": np.divide(wsum, output_t, out=np.full(output_t.shape, np.nan), where=output_t > 0),
        "long_run_price_usd_per_kg": m.long_run_price.copy(),
        "utilisation": np.where(m.offered_t > 1e-9, m.utilisation, np.nan),
        "price_at_bound": m.markets.price_at_bound.copy(),
    }


def count_series(m: "ChainModel") -> dict[str, np.ndarray]:
    """The quarter's project, entry and exit counters."""
    names = {
        "started": "projects_started",
        "financed": "projects_financed",
        "stalled": "projects_stalled",
        "constrained": "projects_constrained",
        "abandoned": "projects_abandoned",
        "entrants": "entrants",
        "exits": "exits",
        "acquired": "plants_sold",
    }
    return {name: m.counters[k].copy() for k, name in names.items()}


def demand_series(m: "ChainModel", output_t: np.ndarray, capacity_t: np.ndarray) -> dict[str, np.ndarray]:
    """Final magnet demand, self-sufficiency (magnet-equivalent output / final demand) and world shares."""
    T = m.tables
    B, S = T.B, T.S
    final = bloc_need(m.buyers, B)  # the bloc's own final need, before relocation of demand (a stockpile has none)
    cap_tot = capacity_t.sum(axis=0, keepdims=True)
    out_tot = output_t.sum(axis=0, keepdims=True)
    return {
        "final_demand_t": np.repeat(final[:, None], S, axis=1),
        "self_sufficiency": m.self_sufficiency(output_t),
        "capacity_share": np.divide(capacity_t, cap_tot, out=np.full((B, S), np.nan), where=cap_tot > 0),
        "output_share": np.divide(output_t, out_tot, out=np.full((B, S), np.nan), where=out_tot > 0),
    }


def adaptation_series(m: "ChainModel", trade_t: np.ndarray) -> dict[str, np.ndarray]:
    """How buyers adapt (MODEL.md 5.8a), per bloc (the same value at every stage unless said):
    final_shortage_t (need not consumed after stocks and stockpile releases), buyer_inventory_t,
    stockpile_t, substituted_share, relocated_share (the share of the bloc's civil need bought as finished components
    from a bloc whose export control covers magnets: sim.engine.demand), demand_price_factor, security_premium per stage (the premium the
    bloc's buyers put on their import origins, weighted by the stage's imports from each; 0 without imports),
    and contracted_t (offtake contract volumes held by the bloc's plants, t/yr; sim.engine.contracts)."""
    T = m.tables
    B, S = T.B, T.S
    rep = lambda v: np.repeat(np.asarray(v, dtype=float)[:, None], S, axis=1)  # noqa: E731
    short, inv, pile = np.zeros(B), np.zeros(B), np.zeros(B)
    for by in m.buyers:
        if by.stockpile:
            pile[by.bloc] += by.inventory_t
        else:
            short[by.bloc] += by.shortage_t
            inv[by.bloc] += by.inventory_t
    alive = m.pop.alive
    prem = m.security.premium
    imports = trade_t.copy()  # (supplier bloc, buyer bloc, stage)
    for b in range(B):
        imports[b, b, :] = 0.0
    tot = imports.sum(axis=0)  # (buyer bloc, stage)
    weighted = np.einsum("bc,cbs->bs", prem, imports)
    return {
        "final_shortage_t": rep(short),
        "buyer_inventory_t": rep(inv),
        "stockpile_t": rep(pile),
        "substituted_share": rep(m.demand.substituted),
        "relocated_share": rep(m.demand.relocated),
        "demand_price_factor": rep(m.demand.price_factor),
        "security_premium": np.divide(weighted, tot, out=np.zeros((B, S)), where=tot > 0),
        "contracted_t": T.bs_sum(m.pop.bloc[alive], m.pop.stage[alive], m.pop.contract_t[alive]),
    }


def quota_series(m: "ChainModel") -> np.ndarray:
    """(B, S) the national output cap the quarter's markets cleared under, t/yr: the quota over (1 - the share beyond it)
    (sim.engine.policy.BlocInstruments.set_output_quota); NaN where no quota is in force."""
    cap = m.output_cap_in_force
    if cap is None:
        return np.full((m.tables.B, m.tables.S), np.nan)
    return np.where(np.isfinite(cap), cap, np.nan)


# ---------------------------------------------------------------------- the firm panel
def firm_panel_rows(m: "ChainModel") -> pd.DataFrame:
    """One row per firm alive this year (or exited this year, still in the table until compaction)."""
    pop, T = m.pop, m.tables
    q = m.quarter
    alive = pop.alive | (pop.phase == Phase.EXITED)
    idx = np.flatnonzero(alive)
    rev = pop.trailing(pop.rev_hist, q)[idx]
    rd = pop.trailing(pop.rd_hist, q)[idx]
    rev_prev = pop.trailing(pop.rev_hist, q, lag=4)[idx]
    return pd.DataFrame(
        {
            "year": np.full(len(idx), int(m.world.start_year + q // 4), dtype=np.int32),
            "firm_id": pop.firm_id[idx],
            "bloc": pd.Categorical.from_codes(pop.bloc[idx], T.blocs),
            "region": pd.Categorical.from_codes(pop.region[idx], T.regions),
            "stage": pd.Categorical.from_codes(pop.stage[idx], T.stages),
            "group": pd.Categorical.from_codes(pop.group[idx], T.groups) if T.groups else pd.Categorical([None] * len(idx)),
            "state_owned": pop.state_owned[idx],
            "phase": pd.Categorical.from_codes(pop.phase[idx], [p.name.lower() for p in Phase]),
            "age_years": (q - pop.birth_step[idx]) / 4.0,
            "capacity_t": pop.capacity_t[idx],
            "quality": pop.quality[idx],
            "revenue_musd": rev,
            "revenue_growth": np.divide(rev, rev_prev, out=np.full(len(idx), np.nan), where=rev_prev > 0) - 1.0,
            "rd_spend_musd": rd,
            "rd_intensity": np.divide(rd, rev, out=np.full(len(idx), np.nan), where=rev > 0),
            "knowledge": pop.knowledge[idx],
            "patents_invention": pop.patents_invention[idx],
            "patents_utility": pop.patents_utility[idx],
            "cash_musd": pop.cash[idx],
            "debt_musd": pop.debt[idx],
            "equity_musd": pop.equity[idx],
            # empty until the plant has a cost: a project, or a plant that came on line after this quarter's prices (a cost is
            # never 0 once computed: processing alone is positive), as the bloc series leave it empty where nothing was made
            "unit_cost_usd_per_kg": np.where(pop.unit_cost_usd_per_kg[idx] > 0.0, pop.unit_cost_usd_per_kg[idx], np.nan),
            "employees": pop.employees[idx],
            "rd_staff_share": pop.rd_staff_share[idx],
            "tier": pd.Categorical.from_codes(pop.tier[idx], [t.label for t in Tier]),
            "key_little_giant": pop.key_lg[idx],
            "designation_year": np.where(pop.designation_step[idx] >= 0, m.world.start_year + pop.designation_step[idx] // 4, -1),
            "group_grade_a": pop.group_grade_a[idx],
            "finance_constrained": pop.finance_constrained[idx],
            "outside_finance": pop.outside_finance[idx],
        }
    )


# ---------------------------------------------------------------------- the summary and its milestones
Milestones = dict[str, dict[str, tuple[int | None, int | None]]]


def milestones(m: "ChainModel", self_sufficiency: list[np.ndarray]) -> tuple[int, Milestones]:
    """Recorder.milestone_quarters over the recorded self-sufficiency series."""
    T, w = m.tables, m.world
    ss = np.stack(self_sufficiency) if self_sufficiency else np.zeros((0, T.B, T.S))  # (Q, B, S)
    n_q = ss.shape[0]
    ref_year = w.timeline_reference_year if w.timeline_reference_year is not None else w.start_year
    ref_q = max(m.quarter_index(ref_year), 0)
    hold = w.independence_hold_quarters
    firsts = np.concatenate(m.first_outputs) if m.first_outputs else np.zeros((0, 4), dtype=int)
    out: Milestones = {}
    for b, bloc in enumerate(T.blocs):
        out[bloc] = {}
        for s, stage in enumerate(T.stages):
            sel = (firsts[:, 0] == b) & (firsts[:, 1] == s) & (firsts[:, 2] >= ref_q) & (firsts[:, 3] >= ref_q)
            first = int(firsts[sel, 3].min()) if sel.any() else None
            above = np.nan_to_num(ss[:, b, s], nan=0.0) >= w.independence_threshold
            indep = next((q for q in range(ref_q, n_q - hold + 1) if above[q : q + hold].all()), None)
            out[bloc][stage] = (first, indep)
    return ref_q, out


def run_summary(m: "ChainModel", series: dict[str, list[np.ndarray]], milestone_quarters: tuple[int, Milestones], shocks: dict) -> dict[str, Any]:
    """The scalar outcomes of Recorder.summary but the policy part, in summary.json's key order."""
    T, w = m.tables, m.world
    ss = np.stack(series["self_sufficiency"])  # (Q, B, S)
    n_q = ss.shape[0]
    first_output, independence = _milestone_years(*milestone_quarters)
    price = np.stack(series["price_usd_per_kg"])
    short = np.stack(series["shortage_t"])
    final = np.stack(series["final_demand_t"])
    last_year = slice(max(n_q - 4, 0), n_q)
    pop = m.pop

    def per_bloc_stage(value) -> dict[str, dict[str, float | None]]:
        return {bloc: {stage: _f(value(b, s)) for s, stage in enumerate(T.stages)} for b, bloc in enumerate(T.blocs)}

    return {
        "scenario": m.cfg.scenario.name,
        "seed": m.cfg.seed,
        "years": m.cfg.years,
        "start_year": w.start_year,
        "timeline_reference_year": w.timeline_reference_year if w.timeline_reference_year is not None else w.start_year,
        "years_to_first_output": first_output,
        "years_to_independence": independence,
        "self_sufficiency_final": per_bloc_stage(lambda b, s: np.nanmean(ss[last_year, b, s])),
        "shares": _reference_year_shares(m, series, n_q),
        "price_final_usd_per_kg": per_bloc_stage(lambda b, s: price[-1, b, s]),
        "price_max_usd_per_kg": per_bloc_stage(lambda b, s: price[:, b, s].max()),
        "max_shortage_share": {
            bloc: _f(np.max(np.divide(short[:, b, -1], final[:, b, -1], out=np.zeros(n_q), where=final[:, b, -1] > 0)))
            for b, bloc in enumerate(T.blocs)
        },
        "firms_final": {bloc: int(((pop.bloc == b) & pop.operating).sum()) for b, bloc in enumerate(T.blocs)},
        "entries": m.event_log.count("entry"),
        "exits": m.event_log.count("exit"),
        "plants_sold": m.event_log.count("acquired"),
        "shocks": shocks,
    }


def _milestone_years(ref_q: int, quarters: Milestones) -> tuple[dict, dict]:
    """Years from the reference quarter to the first output and to independence (None: not reached)."""

    def years(q):
        return None if q is None else (q - ref_q) / 4.0

    first_output = {bloc: {stage: years(q[0]) for stage, q in st.items()} for bloc, st in quarters.items()}
    independence = {bloc: {stage: years(q[1]) for stage, q in st.items()} for bloc, st in quarters.items()}
    return first_output, independence


def _reference_year_shares(m: "ChainModel", series: dict[str, list[np.ndarray]], n_q: int) -> dict[str, Any]:
    """World capacity and output shares per bloc and stage, averaged over each reference year's quarters."""
    T, w = m.tables, m.world
    cap = np.stack(series["capacity_share"])
    outp = np.stack(series["output_share"])
    shares: dict[str, Any] = {}
    for y in w.reference_years:
        qs = [q for q in range(n_q) if w.start_year + q // 4 == y]
        if not qs:
            continue
        shares[str(y)] = {
            bloc: {stage: {"capacity": _f(np.nanmean(cap[qs, b, s])), "output": _f(np.nanmean(outp[qs, b, s]))} for s, stage in enumerate(T.stages)}
            for b, bloc in enumerate(T.blocs)
        }
    return shares


def shocks(m: "ChainModel", series: dict[str, list[np.ndarray]]) -> dict[str, Any]:
    """Recorder.shock_metrics over the recorded series."""
    T = m.tables
    price = np.stack(series["price_usd_per_kg"])
    short = np.stack(series["shortage_t"])
    dem = np.stack(series["demand_t"])
    n_q = price.shape[0]
    out: dict[str, Any] = {}
    for ev in m.policy.events:
        p = ev.params
        if getattr(p, "exporter", None) is None or not hasattr(p, "stages"):
            continue
        e = T.blocs.index(p.exporter)
        q0 = max(m.quarter_index(p.start_year), 0)
        q1 = n_q if p.end_year is None else min(m.quarter_index(p.end_year), n_q)
        if q0 >= n_q:
            continue
        res = {}
        for stage in p.stages:
            s = T.stages.index(stage)
            for b, bloc in enumerate(T.blocs):
                if b == e:
                    continue
                ratio = price[q0:q1, b, s] / price[q0:q1, e, s]
                depth = np.divide(short[q0:q1, b, s], dem[q0:q1, b, s], out=np.zeros(q1 - q0), where=dem[q0:q1, b, s] > 0)
                pre = price[q0 - 1, b, s] if q0 > 0 else price[0, b, s]
                peak_q = q0 + int(np.argmax(price[q0:q1, b, s]))
                back = [q for q in range(peak_q, n_q) if price[q, b, s] <= 1.1 * pre]
                res[f"{bloc}/{stage}"] = {
                    "price_before_usd_per_kg": _f(pre),
                    "peak_price_usd_per_kg": _f(price[q0:q1, b, s].max()),
                    "peak_price_ratio_to_exporter": _f(ratio.max()),
                    "max_shortage_share": _f(depth.max()),
                    "recovery_years": (back[0] - q0) / 4.0 if back else None,
                }
        out[ev.name] = res
    return out


def _f(x) -> float | None:
    x = float(x)
    return None if not np.isfinite(x) else round(x, 6)
