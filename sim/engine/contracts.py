"""Long-term offtake contracts (MODEL.md 5.4, 5.8a): signed at the finance gate, honoured in clearing, broken by rule.

Signing. A project waiting at the final investment decision in bloc b is offered a contract when b's buyers
hold a security premium of at least ``offtake_min_premium`` on some other origin (sim.engine.security): they
then want supply outside it. The contract covers ``offtake_share`` of the project's nameplate for
``offtake_years`` from the plant's expected first output, at the bloc's price index with a floor of
``offtake_floor_share`` x the price investors expect from the market at signing (before a state price floor lifts it:
private buyers do not strike their floor against the state's guarantee, which they do not pay). Investors value the project with the
contract: the contracted share is sold (utilisation at least share x maximum utilisation), at least at the
floor on that share, and lenders' and investors' risk premium on the project falls by
``offtake_risk_reduction`` x share of the bloc's risk premium (MODEL.md 5.4: "the premium falls with
offtake contracts"). Public examples: the 2021 GM - MP Materials magnet supply agreement; the 2025 US
defence agreement (MODEL.md 5.8).

Honouring. Each quarter, before a stage's market clears, every plant under contract offers the contracted
volume (a quarter of the contracted t/yr, at most its sellable output) to its bloc's buyer classes at that
stage, pro rata to their demand and within it; the rest of the market clears as before (logit). Contracted
sales are paid at the index, and the floor's top-up (floor - index, when positive) on what was delivered under the
contract (``contract_sold_t``) is paid by the contracted buyers (their classes' cost in clearing, so their average
price paid, and a downstream firm's input cost, include it) to the plant (``contract_topup`` in the firm's revenue
adjustment): what buyers pay for a stage's product is what its sellers are paid. A state price floor then tops up what
the plant realised, the contract's floor included (scenarios.price_floor). With
``offtake_floor_yields_to_state_floor`` a plant holding a state floor at or above its contract's floor charges its
buyers no floor (:func:`charged_floor`): they pay the index and the state tops up from it.

Supply agreements across blocs. A cohort of the world may start with a supply agreement (``world.firms.<name>.
agreement_bloc``, ``agreement_share``, ``agreement_end_year``): a state-backed loan of the JARE kind, in which another
bloc's buyers are served first with a share of the plant's nameplate, at the index (no floor), until the agreement's
end. It is honoured like a gate contract, with the agreement's bloc in place of the plant's own. At its end it is
renewed for ``procurement.agreement_renewal_years`` (``contract_renewed``) while the buyers' bloc still makes less of
its own need at the stage than ``world.independence_threshold`` (its self-sufficiency, the timelines' measure: it still
depends on others for the product); otherwise it ends.

Breaking. A contract ends at its term (``contract_ended``). Buyers break it (``contract_broken``) after
``offtake_break_quarters`` consecutive quarters in which an operating, qualified plant delivered less than
half of the contracted volume, or, with ``offtake_floor_break_multiple`` > 0, in which the floor stood above that
multiple of the traded index (detail ``floor_above_market``).

With ``offtake_share`` 0 (the default) no contract is ever signed and nothing here changes a run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from agents import investment as inv
from agents.firms import ProjectPhase

if TYPE_CHECKING:  # pragma: no cover
    from sim.engine.model import ChainModel


def enabled(model: ChainModel) -> bool:
    """Whether new plants sign contracts at the finance gate (``offtake_share`` > 0)."""
    return model.world.procurement.offtake_share > 0


def eligible_blocs(model: ChainModel) -> np.ndarray:
    """(B,) blocs whose buyers would sign: a security premium of at least the minimum on another origin."""
    P = model.world.procurement
    prem = model.security.premium.copy()
    np.fill_diagonal(prem, 0.0)
    return prem.max(axis=1) >= P.offtake_min_premium


def market_price(model: ChainModel, E: inv.Expectations) -> np.ndarray:
    """(B, S) the price investors expect from the market, before a state price floor lifts it
    (``model.expected_market_price``, set with the quarter's expectations; ``E.price`` where it is not set): private
    buyers strike their floor against the market, not against the state's guarantee, which they do not pay."""
    return E.price if model.expected_market_price is None else model.expected_market_price


def contract_terms(model: ChainModel, E: inv.Expectations) -> inv.Expectations:
    """The investors' expectations with a contract: utilisation at least the contracted share, price at least the
    floor on that share (blended), and a lower risk premium, in every bloc-stage of an eligible bloc."""
    P, T, mk = model.world.procurement, model.tables, model.world.markets
    share = P.offtake_share
    elig = eligible_blocs(model)[:, None]
    util = np.where(elig, np.maximum(E.utilisation, share * mk.max_utilisation), E.utilisation)
    floor = P.offtake_floor_share * market_price(model, E)
    # the contracted share sells at max(index, floor) >= index: expected price of the plant's sales rises on that share
    price = np.where(elig, E.price + share * np.maximum(floor - E.price, 0.0), E.price)
    rate = np.where(elig, E.discount_rate - P.offtake_risk_reduction * share * T.risk_premium[:, None], E.discount_rate)
    return inv.Expectations(
        price=price,
        input_price=E.input_price,
        utilisation=util,
        discount_rate=rate,
        lead_years=E.lead_years,
        tax_rate=E.tax_rate,
        capex_support=E.capex_support,
        brownfield_lead_years=E.brownfield_lead_years,
    )


def sign(model: ChainModel, rows: np.ndarray, E: inv.Expectations) -> None:
    """Contracts for the projects ``rows`` just financed in eligible blocs (nameplate x share, from first output)."""
    if not enabled(model) or len(rows) == 0:
        return
    P, T, pop = model.world.procurement, model.tables, model.pop
    rows = rows[eligible_blocs(model)[pop.bloc[rows]] & (pop.contract_t[rows] <= 0)]
    if len(rows) == 0:
        return
    b, s = pop.bloc[rows], pop.stage[rows]
    to_output = T.construction_years[b, s].mean(axis=1) + 0.5 * T.rampup_years[b, s].mean(axis=1) + T.qualification_years[b, s].mean(axis=1)
    pop.contract_t[rows] = P.offtake_share * pop.proj_nameplate_t[rows]
    pop.contract_floor[rows] = P.offtake_floor_share * market_price(model, E)[b, s]
    pop.contract_bloc[rows] = b
    pop.contract_end_q[rows] = model.quarter + np.round(4.0 * (to_output + P.offtake_years)).astype(int)
    pop.contract_short_q[rows] = 0
    model.log_rows("contract_signed", rows, values=pop.contract_t[rows])


def reserve(model: ChainModel, s: int, sup: np.ndarray, class_bloc: np.ndarray, demand: np.ndarray, class_open: np.ndarray | None = None):
    """Contracted volumes of stage s's suppliers ``sup`` placed first with the classes of the contract's bloc (the
    plant's own for a gate contract, another for a supply agreement).

    Returns (K, N) contracted orders (None when no supplier here holds a contract); ``class_open`` (K, N) False
    where a class may not buy from a supplier (bans, mandates). The caller takes them off class demand and off
    the suppliers' potential before the logit clears the rest."""
    pop = model.pop
    vol = np.where(pop.contract_t[sup] > 0, np.minimum(pop.contract_t[sup] / 4.0, pop.potential_t[sup]), 0.0)
    if not (vol > 0).any():
        return None
    K, N = len(class_bloc), len(sup)
    # only the suppliers holding a contract place orders (the others' columns stay 0: their volume is 0); each column
    # is split on its own, by its classes' demand. Not one column of several: numpy sums a single column pairwise, where
    # it sums the columns of a wider array row after row
    held = np.flatnonzero(vol > 0)
    if len(held) == 1 and N > 1:
        held = np.arange(N)
    same = class_bloc[:, None] == pop.contract_bloc[sup[held]][None, :]
    if class_open is not None:
        same &= class_open[:, held]
    w = np.where(same, demand[:, None], 0.0)
    tot = w.sum(axis=0)
    alloc = np.zeros((K, N))
    alloc[:, held] = np.divide(w, tot[None, :], out=np.zeros((K, len(held))), where=tot[None, :] > 0) * vol[None, held]
    # within each class's demand: scale a class's contracted orders down if they exceed its demand
    over = alloc.sum(axis=1)
    scale = np.divide(demand, over, out=np.ones(K), where=over > demand)
    return alloc * np.minimum(scale, 1.0)[:, None]


def charged_floor(model: ChainModel, rows=slice(None)) -> np.ndarray:
    """(rows,) the contract floor each row's buyers pay, USD/kg (0 without a contract; with
    ``procurement.offtake_floor_yields_to_state_floor``, 0 where the plant holds a state price floor at or above it:
    scenarios.price_floor.PriceFloors.charged_contract_floor)."""
    yields = model.world.procurement.offtake_floor_yields_to_state_floor
    return model.price_floors.charged_contract_floor(model.pop, model.quarter, yields, rows)


def _gap(model: ChainModel, rows, index: np.ndarray) -> np.ndarray:
    """USD/kg the floor each row's buyers pay lies above ``index`` (0 without a contract)."""
    return np.maximum(charged_floor(model, rows) - index, 0.0)


def floor_gap(model: ChainModel, rows: np.ndarray, s: int) -> np.ndarray:
    """(rows,) USD/kg the contract floor of each of stage s's suppliers ``rows`` lies above its bloc's index this
    quarter (0 without a contract): what the contracted buyers pay on top of the index for each kg delivered under it."""
    return _gap(model, rows, model.markets.price[model.pop.bloc[rows], s])


def topup(model: ChainModel) -> np.ndarray:
    """(rows,) M USD the floor adds to contracted sales this quarter: the deliveries under contract
    (``contract_sold_t``, set in clearing) times the floor's gap above the traded index (the index of clearing, which
    ``floor_gap`` read), which their buyers paid (sim.engine.clearing: the classes' cost)."""
    pop = model.pop
    return pop.contract_sold_t * _gap(model, slice(None), model.trade_price[pop.bloc, pop.stage]) / 1000.0


def review(model: ChainModel) -> None:
    """Contracts end at their term, supply agreements renewed while their buyers' bloc is not yet self-sufficient at
    the stage; buyers break those a running plant keeps failing to honour."""
    P, pop, q = model.world.procurement, model.pop, model.quarter
    held = pop.alive & (pop.contract_t > 0)
    if not held.any():
        return
    running = held & pop.operating & pop.qualified & (pop.proj_phase != ProjectPhase.RAMPUP)
    failing = running & (pop.output_t < 0.5 * pop.contract_t / 4.0)
    pop.contract_short_q = np.where(failing, pop.contract_short_q + 1, np.where(running, 0, pop.contract_short_q))
    short = held & (pop.contract_short_q >= P.offtake_break_quarters)
    over = np.zeros_like(held)
    if P.offtake_floor_break_multiple > 0:  # the floor stands far above the market: the buyers walk away (renegotiate)
        index = model.trade_price[pop.bloc, pop.stage]
        above = held & (charged_floor(model) > P.offtake_floor_break_multiple * index)  # a floor the state pays is no burden
        pop.contract_over_q = np.where(above, pop.contract_over_q + 1, 0)
        over = held & ~short & (pop.contract_over_q >= P.offtake_break_quarters)
    broken = np.flatnonzero(short)
    reneged = np.flatnonzero(over)
    due = held & ~short & ~over & (pop.contract_end_q <= q)
    renew = due & (pop.contract_bloc != pop.bloc) & (P.agreement_renewal_years > 0)
    if renew.any():  # a supply agreement across blocs: renewed while its buyers' bloc is not self-sufficient at the stage
        own = model.self_sufficiency()  # (B, S), NaN where the bloc has no need: nothing to secure, so never renewed
        renew &= own[np.maximum(pop.contract_bloc, 0), pop.stage] < model.world.independence_threshold
        renewed = np.flatnonzero(renew)
        pop.contract_end_q[renewed] = q + int(round(4.0 * P.agreement_renewal_years))
        model.log_rows("contract_renewed", renewed, values=pop.contract_t[renewed])
    ended = np.flatnonzero(due & ~renew)
    model.log_rows("contract_broken", broken, values=pop.contract_t[broken])
    model.log_rows("contract_broken", reneged, detail="floor_above_market", values=pop.contract_t[reneged])
    model.log_rows("contract_ended", ended, values=pop.contract_t[ended])
    for r in (broken, reneged, ended):
        pop.contract_t[r] = 0.0
        pop.contract_floor[r] = 0.0
        pop.contract_bloc[r] = -1
        pop.contract_short_q[r] = 0
        pop.contract_over_q[r] = 0
