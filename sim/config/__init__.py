"""Configuration schema, loading and validation.

conf/ YAML -> Hydra composition against the dataclasses below (types and
unknown keys are checked by OmegaConf) -> :func:`validate` (ranges and names
that must exist in the world) -> plain dataclass objects that behaviour code
reads. Behaviour code never sees Hydra or OmegaConf objects.

Every user mistake is reported as a :class:`ConfigError` whose message is one
line naming the key and what is allowed.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import math
import numbers
import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from omegaconf import MISSING

from sim import checks
from sim.checks import ConfigError, check_fields, require_name
from sim.config.fields import f
from sim.config.national import NationalConfig, check_national
from sim.config.policy import PolicyChangeConfig, PolicyConfig

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
# conf/ folders that are not config groups of a simulation: study files (read by sim.research.study) and the validation targets
STUDY_DIRS = ("calibration", "experiment", "exploration", "sensitivity", "validation")


MAX_YEARS = 200  # the longest run, years (Config.years)


def check_count(key: str, value: int | None, lo: int = 1) -> int | None:
    """A whole-number command-line option or argument (None: not given) that must be at least ``lo``."""
    if value is None:
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):  # run_sweep(jobs, d, "2"): a TypeError before
        raise ConfigError(key, f"must be a whole number >= {lo}, got {value!r}")
    if value < lo:
        raise ConfigError(key, f"must be >= {lo}, got {value}")
    return value


# --------------------------------------------------------------------------
# World
# --------------------------------------------------------------------------
@dataclass
class StageConfig:
    product: str = MISSING
    unit: str = MISSING
    input_per_t: float = f(lo=0.0)  # t of the previous stage's product per t of output
    reference_price_usd_per_kg: float = f(lo=0.01)  # > 0: prices and preferences are relative to it
    freight_usd_per_kg: float = f(lo=0.0)  # cross-bloc freight and handling
    learning_rate: float = f(lo=0.0, hi=0.9)  # unit-cost fall per doubling of cumulative output
    experience_ref_years: float = f(lo=0.01)  # years of nameplate output an incumbent has accumulated in 2015
    # equivalent experience a new plant starts with, years of its nameplate output: above zero, as on the experience curve a
    # plant with none has an unbounded unit cost (the incumbents' experience_ref_years has the same floor)
    entrant_experience_years: float = f(lo=0.01)
    quality_ramp_years: float = f(lo=0.0)  # years of full output to close 63% of the quality gap
    plant_size_t: list[float] = f([0.0, 0.0], lo=0.0, pair=True)  # new plant nameplate, t/yr
    employees_per_kt: float = f(lo=0.0)
    qualification: bool = False  # new plants must pass buyer qualification
    # share of the bloc-stage's base processing cost that neither learning by doing nor process innovation lowers (reagents
    # and energy at their physical consumption): unit cost = base x cost index x (floor + (1 - floor) x experience x innovation);
    # 0: both act on the whole cost (the rule before)
    cost_floor_share: float = f(0.0, lo=0.0, hi=1.0)


@dataclass
class BlocStageConfig:
    processing_cost_usd_per_kg: float = f(lo=0.0)  # opex excluding inputs, at experience factor 1
    capex_musd_per_kt: float = f(lo=0.0)  # capital cost per kt/yr of nameplate
    fixed_cost_share: float = f(lo=0.0, hi=1.0)  # fixed opex per year as a share of replacement capex
    planning_years: list[float] = f([0.0, 0.0], lo=0.0, pair=True)
    permitting_years: list[float] = f([0.0, 0.0], lo=0.0, pair=True)
    construction_years: list[float] = f([0.0, 0.0], lo=0.0, pair=True)
    rampup_years: list[float] = f([0.0, 0.0], lo=0.0, pair=True)
    qualification_years: list[float] = f([0.0, 0.0], lo=0.0, pair=True)
    new_plant_quality: float = f(lo=0.0, hi=1.0)  # share of first output that meets specification
    ramp_multiplier: float = f(lo=0.0)  # >1 where process know-how is missing
    entry_rate_per_year: float = f(lo=0.0)  # entrants per year at a profitability index of 1
    # new plant nameplate in this bloc, t/yr, [low, high] (null: the stage's world.stages.<stage>.plant_size_t): where a bloc's
    # sites differ in kind from the stage's, as the rest of the world's ionic-clay pits from hard-rock mines
    plant_size_t: Optional[list[float]] = f(None, lo=0.0, pair=True)


@dataclass
class BlocConfig:
    regions: list[str] = MISSING
    currency_note: str = ""
    base_rate: float = f(lo=0.0, hi=1.0)  # risk-free rate, per year
    risk_premium: float = f(lo=0.0, hi=1.0)  # equity/project risk premium, per year
    volatility_premium: float = f(lo=0.0)  # extra premium per unit of price volatility (sd of log price, 3y)
    interest_rate: float = f(lo=0.0, hi=1.0)  # corporate loan rate, per year
    leverage_max: float = f(lo=0.0, hi=1.0)  # debt / book assets that lenders allow
    equity_share_required: float = f(lo=0.0, hi=1.0)  # share of project capex that must come from own funds
    investor_appetite: float = f(lo=0.0, hi=1.0)  # probability outside equity backs an entrant with NPV > 0
    private_investor_appetite: Optional[float] = f(None, lo=0.0, hi=1.0)  # the same for private firms outside state groups (null: as above)
    tax_rate: float = f(lo=0.0, hi=0.9)  # corporate income tax, standard rate (below 1: the long-run price divides by 1 - tax)
    wage_musd_per_employee_year: float = f(lo=0.0)
    rd_propensity: list[float] = f([0.0, 0.0], lo=0.0, hi=1.0, pair=True)  # R&D / revenue, drawn per firm
    patent_multiplier: float = f(lo=0.0)  # national patenting propensity relative to the base rates
    patent_lapse_per_year: float = f(0.0, lo=0.0, hi=1.0)  # chance a patent in force is let lapse in a year before its term (0: kept to term)
    import_tariff: float = f(lo=0.0, hi=5.0)  # ad valorem, on imports from other blocs
    demand_t_per_year: list[Any] = MISSING  # [[year, final magnet demand t/yr], ...] (checked in validate)
    stages: dict[str, BlocStageConfig] = field(default_factory=dict)


@dataclass
class BuyerConfig:
    bloc: str = MISSING
    share: float = f(lo=0.0, hi=1.0)  # share of the bloc's final magnet demand
    state_owned: bool = False
    defence: bool = False  # defence buyers (contractors for the armed forces): a policy's defence_mandate_share reaches them
    domestic_mandate: float = f(0.0, lo=0.0, hi=1.0)  # share that must be sourced in the bloc


@dataclass
class GroupConfig:
    bloc: str = MISSING
    region: str = MISSING
    description: str = ""
    # true: a state-owned group, an SOEGroup agent that the bloc's policy.groups gives rescue, grading and incubation
    # (MODEL.md 5.7); false: a private group (a listed maker and its plant subsidiaries) that only shares R&D and
    # prefers its own suppliers, as every group does, and whose firms count as private outside the state groups
    state_owned: bool = True


@dataclass
class FirmCohortConfig:
    bloc: str = MISSING
    stage: str = MISSING
    region: str = MISSING
    count: int = f(lo=0)
    capacity_t: list[float] = f(lo=0.0, pair=True)  # t/yr per firm, drawn log-uniform in [low, high]
    cost_index: list[float] = f([1.0, 1.0], lo=0.01, pair=True)  # multiplier on the bloc-stage processing cost
    quality: list[float] = f([1.0, 1.0], lo=0.0, hi=1.0, pair=True)
    age_years: list[float] = f([5.0, 15.0], lo=0.0, pair=True)
    group: Optional[str] = None
    state_owned: bool = False
    # a project past its final investment decision at the start (financed, under construction): the year its construction
    # ends and ramp-up to ``capacity_t`` begins, as announced by the start year (null: operating incumbents)
    first_output_year: Optional[float] = None
    # a supply agreement the cohort's plants hold at the start (a state-backed loan of the JARE kind; sim/engine/contracts.py):
    # the buyers' bloc, served first with agreement_share of each plant's nameplate at the index, until agreement_end_year
    # (agreement_share 0: none)
    agreement_bloc: Optional[str] = None
    agreement_share: float = f(0.0, lo=0.0, hi=1.0)
    agreement_end_year: Optional[float] = None
    note: str = ""


@dataclass
class MarketConfig:
    logit_beta: float = f(lo=0.0)  # price sensitivity of supplier choice (per unit of price / reference price)
    price_adjustment: float = f(lo=0.0, hi=5.0)  # kappa: price change per unit excess demand share, per quarter
    target_utilisation: float = f(lo=0.01, hi=1.0)  # utilisation at which a price index is stationary
    max_price_change: float = f(lo=0.0, hi=1.0)  # clip on the quarterly relative price change
    price_ceiling_multiple: float = f(lo=1.0)  # ceiling as a multiple of the stage reference price
    rationing_rounds: int = f(lo=1, hi=20)
    sold_out_resplit_passes: int = f(0, lo=0, hi=100)  # passes in which buyers move requests off over-subscribed suppliers before a
    # rationing round (weights x the share those suppliers could fill, until the fills settle); 0: none, the rule before
    max_utilisation: float = f(lo=0.0, hi=1.0)  # share of nameplate that can be run
    shutdown_tolerance: float = f(lo=0.0, hi=1.0)  # a plant idles when price < unit cost x (1 - tolerance)
    price_reversion: float = f(lo=0.0, hi=1.0)  # per quarter pull of the index toward the long-run price
    capital_recovery_factor: float = f(lo=0.0, hi=1.0)  # per year, capital charge in the long-run price
    same_group_discount: float = f(lo=0.0, hi=1.0)  # price discount a group buyer perceives on its group's suppliers
    max_price_rise: float = f(0.0, lo=0.0, hi=2.0)  # clip on a quarterly rise, if larger than max_price_change (0: max_price_change both ways)
    price_moves_margin: bool = False  # excess demand moves the margin over the input cost, not the whole price (false: the whole price)
    shortage_moves_whole_price: bool = False  # with price_moves_margin: excess demand moves the whole price, a glut only the margin
    whole_price_needs_shortage: bool = False  # with shortage_moves_whole_price: only buyers short move the whole price; suppliers busy
    # above target with nobody short move the margin (false: either moves the whole price, the rule before)
    utilisation_of_nameplate: bool = False  # the index reads its suppliers' orders against what they could make at full nameplate (runnable
    # output / max_utilisation), the measure of target_utilisation in the long-run price and investors' plans (false: against runnable output)
    input_limited_share: float = f(1.0, lo=0.0, hi=1.0)  # a bloc-stage whose plants could not fill more than this share of their
    # orders for want of input moves only its margin on its buyers' shortage (the rent is its input's); 1: never (the rule before)
    import_parity: bool = False  # a bloc's index reverts to and may fall to the landed price of uncontrolled imports below its costs
    idle_import_parity: bool = False  # with import_parity: a bloc whose plants at a stage all stand idle has an index no lower than that landed price
    mothball_after_quarters: int = f(0, lo=0, hi=400)  # quarters below its cash cost after which a plant is mothballed (0: never)
    mothball_serves_orders: bool = False  # plants due for care and maintenance go dearest first, only while those left running can make the
    # bloc-stage's last orders (false: all at once, the rule before)
    scrap_after_mothballed_quarters: int = f(0, lo=0, hi=400)  # quarters on care and maintenance after which a plant is scrapped and
    # its firm exits (0: never, the rule before)
    scrap_spread_quarters: int = f(0, lo=0, hi=400)  # each plant's scrapping count drawn uniformly within this many quarters either side of
    # scrap_after_mothballed_quarters when it goes on care and maintenance (0: every plant the same count, the rule before)
    mothball_fixed_cost_saved: float = f(0.0, lo=0.0, hi=1.0)  # share of its fixed cost a mothballed plant saves
    restart_premium: float = f(0.0, lo=0.0, hi=2.0)  # a mothballed plant restarts when the price covers its cash cost x (1 + this); 0: at it
    restart_needs_funds: bool = False  # a mothballed plant restarts only if its firm can finance the restart (false: whenever the price says so)
    restart_counts_margin: bool = False  # with restart_needs_funds: the quarter's margin at potential output counts, the accounts' cash buffer
    # must remain (false: cash and credit alone must cover the working capital, a quarter's fixed cost and interest)


@dataclass
class InnovationConfig:
    knowledge_depreciation: float = f(lo=0.0, hi=1.0)  # per quarter
    regional_spillover: float = f(lo=0.0, hi=1.0)  # share of other regional firms' mean R&D absorbed
    group_sharing: float = f(lo=0.0, hi=1.0)  # share of the group pool shared with each subsidiary
    zeta: float = f(lo=0.0)  # process-innovation productivity of R&D
    innovation_scale_musd: float = f(lo=1e-9)  # R&D per quarter (M USD) at which zeta applies
    cost_cut_beta: list[float] = f([2.0, 8.0], lo=0.01, pair=False)  # Beta(a, b) of the cost cut
    cost_cut_max: float = f(lo=0.0, hi=1.0)
    invention_patents_per_musd: float = f(lo=0.0)  # class I patents per M USD of R&D
    utility_patents_per_musd: float = f(lo=0.0)
    patent_life_years: int = f(lo=1, hi=40)  # years an invention (class I) patent stays in force
    utility_patent_life_years: int = f(lo=1, hi=40)  # years a utility-model / design (class II) patent stays in force
    knowhow_ramp_effect: float = f(lo=0.0)  # quality-ramp speed-up per unit of knowledge per kt capacity
    # the quality ramp learns from throughput (sellable output / quality: what the plant processed, off-spec batches too); false: from sellable output
    quality_ramp_on_throughput: bool = False
    # elasticity of R&D to its after-tax price (1 - tax rate x (1 + the bloc's policy's instruments.rd_extra_deduction)), against the start year's
    rd_tax_price_elasticity: float = f(0.0, lo=0.0, hi=3.0)


@dataclass
class FinanceConfig:
    min_cash_quarters_of_fixed_cost: float = f(lo=0.0)  # cash buffer kept before repaying debt
    repayment_share: float = f(lo=0.0, hi=1.0)  # share of debt repaid per quarter from surplus cash
    depreciation_years: float = f(lo=1.0)
    exit_after_negative_equity_quarters: int = f(lo=1)
    insolvency_sale: bool = False  # an exiting firm's operating plant passes to a new owner, free of its debts, where it is worth running
    sale_values_own_demand: bool = False  # the sale values the share of the plant's bloc-stage output its bloc's downstream plants and
    # committed pipeline will need at the long-run price at least (a slump in the export market is not expected to last for it)
    sale_at_most_replacement: bool = False  # the price paid is at most what building the plant's nameplate new would cost in its
    # bloc (capex per kt x nameplate): a buyer does not pay more for a failed firm's plant than for a new one (false: the going-concern value)
    idle_sale_replacement_share: float = f(1.0, lo=0.0, hi=1.0)  # a plant sold while mothballed fetches at most this share of what
    # building its nameplate new would cost in its bloc (1: only the cap above, the rule before)
    financing_max_wait_years: float = f(lo=0.0)  # a project that cannot be financed is abandoned after this
    startup_reserve_share: float = f(lo=0.0, hi=1.0)  # own funds raised on top of the equity share, per unit of capex
    payout_ratio: float = f(0.0, lo=0.0, hi=1.0)  # share of positive after-tax profit paid out as dividends (0: none)
    working_capital_share: float = f(0.0, lo=0.0, hi=2.0)  # net working capital held per unit of annual revenue (0: none)
    outside_finance_share: float = f(0.0, lo=0.0, hi=1.0)  # a project whose outside money (debt, outside equity) pays more than this
    # share of its cost (capex + reserve) marks the firm ``outside_finance`` for the year (an observation: no behaviour reads it)
    target_capital_structure: bool = False  # firms keep a target capital structure: surplus cash repays debt only down to
    # target_debt_ratio, and at or below it cash above target_cash_months_of_revenue goes to the owners unless a project is in the
    # firm's pipeline (false: the rule before)
    target_debt_ratio: float = f(0.52, lo=0.0, hi=0.95)  # debt / (cash + plant + construction + working capital)
    target_cash_months_of_revenue: float = f(2.0, lo=0.0, hi=24.0)  # cash a firm keeps beyond its buffer, months of revenue
    # with target_capital_structure, construction is financed with debt as far as target_debt_ratio allows (a firm at its
    # target funds investment at its target mix) instead of from cash first (false: the rule before)
    target_borrowing: bool = False


@dataclass
class InvestmentConfig:
    review_probability: float = f(lo=0.0, hi=1.0)  # chance per quarter that a firm reviews expansion
    min_own_utilisation: float = f(lo=0.0, hi=1.0)  # orders / nameplate a firm needs before it considers expanding
    expansion_share: list[float] = f([0.2, 0.5], lo=0.0, pair=True)  # expansion as a share of capacity
    horizon_years: float = f(lo=1.0)
    price_memory_quarters: float = f(lo=1.0)  # smoothing of expected prices
    min_profitability_index: float = f(lo=0.0)  # NPV / capex needed to commit
    derived_demand_share: float = f(0.0, lo=0.0, hi=1.0)  # share of the bloc's unmet final demand upstream investors count as theirs
    entry_pi_cap: float = f(3.0, lo=0.0, hi=100.0)  # entrants per year = entry_rate_per_year x clip(PI, 0, this)
    pipeline_aware_prices: bool = False  # investors expect the price to return to its long-run level as far as capacity and pipeline
    # cover the sales within reach (false: the smoothed price is expected to last, the rule before 2026)
    demand_based_expectations: bool = False  # expected sales include the bloc's unmet demand and imports at risk (false: orders only)
    check_funds_at_expansion: bool = False  # an expansion the firm cannot fund is skipped and recorded (false: it waits at the gate)
    shortfall_prices: bool = False  # below the long-run price, the share of sales within reach that capacity and committed pipeline
    # leave uncovered is expected to sell at the long-run price (new plants must serve it); false: a price below it is expected to last
    netback_share: float = f(0.0, lo=0.0, hi=1.0)  # share of the downstream netback upstream investors expect while final buyers are short
    netback_min_shortage: float = f(0.02, lo=0.0, hi=1.0)  # unmet share of the bloc's final demand at which the netback counts
    netback_input_limited: bool = False  # the netback also counts from a downstream stage its bloc's inputs cannot keep busy: the margin
    # its plants earn above their long-run price is the scarce input's rent (false: only while final buyers are short, the rule before)
    input_feasible_supply: bool = False  # investors count what the bloc's inputs (own upstream, licensed imports) can feed: an
    # input-limited stage expects no scarcity margin and no more sales than the feed; its unfed input need counts upstream
    input_limit_tolerance: float = f(0.1, lo=0.0, hi=1.0)  # share of a stage's sellable nameplate the feed may miss before it is input-limited
    feed_counts_free_exports: bool = False  # in the input feed, imports from an origin that licenses nothing count as all it exported last
    # quarter (a buyer paying more can draw them away), not only what the bloc bought from it (false: last quarter's imports, the rule before)
    input_short_vs_sales: bool = False  # a stage whose feed cannot make what its bloc can sell there (not only what its plants can make) is
    # input-short: new plants there expect to sell no more than the feed, and the stage above bids the netback (false: the rule before)
    unfed_need_at_once: bool = False  # the unfed input need of the bloc's downstream plants and committed pipeline counts upstream at
    # once, not smoothed over price_memory_quarters with the rest of the sales within reach (final investment decisions are public)
    # an expansion of an operating plant (brownfield: its site, permits, utilities and owner's team exist) takes these shares of a new
    # plant's planning, permitting and construction time, drawn from the same bloc-stage ranges (1: as long as a new plant, the rule before)
    brownfield_planning_factor: float = f(1.0, lo=0.0, hi=1.0)
    brownfield_permitting_factor: float = f(1.0, lo=0.0, hi=1.0)
    brownfield_construction_factor: float = f(1.0, lo=0.0, hi=1.0)
    sellable_supply: bool = False  # investors count the bloc's supply at what it can sell: operating plants at their quality (a plant
    # still ramping up sells capacity x quality) and the committed pipeline at a new plant's quality; false: nameplate (the rule before)
    priced_out_share: float = f(0.0, lo=0.0, hi=1.0)  # share of the final need the magnet price holds back (short-run response) that
    # investors count as sales within reach at the magnet stage and, as derived demand, upstream (0: none, the rule before)
    entrant_technology_share: float = f(0.0, lo=0.0, hi=1.0)  # a new firm's plant starts with the process technology of its bloc-stage's
    # operating plants: innovation factor = (their capacity-weighted mean) ^ this; 0: factor 1, the technology of the start (the rule before)


@dataclass
class DemandConfig:
    """Final demand that adapts to the price buyers face, buyers' inventories and bloc stockpiles (MODEL.md 5.8a).
    Every default is 'off': demand then follows the configured path exactly."""

    short_run_elasticity: float = f(0.0, lo=0.0, hi=2.0)  # demand x (magnet price index / reference price) ^ -elasticity
    substitution_max: float = f(0.0, lo=0.0, hi=1.0)  # share of demand that substitution and thrifting can remove
    substitution_saturation_multiple: float = f(3.0, lo=1.0001)  # price / reference at which the full substitution is sought
    substitution_rate_per_year: float = f(0.0, lo=0.0, hi=1.0)  # share of demand substituted per year at most, while the target is above
    substitution_reversal_per_year: float = f(0.0, lo=0.0, hi=1.0)  # share of the substituted demand that returns per year once the target is below
    substitution_shortage_saturation: float = f(0.0, lo=0.0, hi=1.0)  # unmet share of the bloc's need at which buyers seek the full
    # substitution whatever the price (buyers who cannot get magnets redesign); 0: off, the price alone sets the target
    product_cost_share: float = f(0.0, lo=0.0, hi=0.5)  # magnets' share of the cost of the products that use them, at the reference price
    product_demand_elasticity: float = f(0.0, lo=0.0, hi=3.0)  # price elasticity of those products' demand: the scale effect of derived
    # demand, need x (1 + share x (p / p0 - 1)) ^ -elasticity; 0: off
    relocation_max: float = f(0.0, lo=0.0, hi=1.0)  # share of the need of a bloc's civil buyers (no defence, no domestic mandate)
    # that can move to buying the finished components (motors, drive units) from a bloc whose export control covers magnets
    # but not the products containing them; their magnet need then counts in that bloc (0: off)
    relocation_shortage_saturation: float = f(0.0, lo=0.0, hi=1.0)  # unmet share of the bloc's need, above the controlling
    # bloc's own, at which buyers seek the full relocation, less in proportion (0: off)
    relocation_rate_per_year: float = f(0.0, lo=0.0, hi=4.0)  # share of the civil need relocated per year at most, while the target is above
    relocation_reversal_per_year: float = f(0.0, lo=0.0, hi=4.0)  # share of the relocated need that returns per year once the target is below
    inventory_quarters: float = f(0.0, lo=0.0, hi=8.0)  # buyers' target stock, quarters of their need
    restock_quarters: float = f(4.0, lo=1.0)  # quarters over which a stock gap is closed
    stockpile_quarters: dict[str, Any] = field(default_factory=dict)  # bloc -> state stockpile target, quarters of the bloc's need
    stockpile_release_quarters: float = f(2.0, lo=1.0)  # a stockpile releases at most stock / this per quarter, to buyers short of magnets


@dataclass
class ProcurementConfig:
    """Buyers' security premium on suppliers of risky origins (MODEL.md 5.8a). Defaults: off."""

    security_premium_max: float = f(0.0, lo=0.0, hi=5.0)  # highest premium (share of the landed price) buyers add to a risky origin
    security_build_per_quarter: float = f(0.0, lo=0.0, hi=1.0)  # share of the gap to the maximum closed per quarter of full exposure
    security_decay_per_year: float = f(0.0, lo=0.0, hi=1.0)  # share of the premium that fades per year
    initial_security_premium: dict[str, Any] = field(default_factory=dict)  # buyer bloc -> origin bloc -> premium at the start
    offtake_share: float = f(0.0, lo=0.0, hi=1.0)  # share of a new plant's nameplate contracted at the finance gate (0: no contracts)
    offtake_years: float = f(7.0, lo=0.25, hi=40.0)  # contract term from expected first output, years
    offtake_min_premium: float = f(0.05, lo=0.0)  # buyers sign when their security premium on another origin is at least this
    offtake_floor_share: float = f(0.8, lo=0.0, hi=2.0)  # floor price as a share of the price expected at signing
    offtake_risk_reduction: float = f(0.5, lo=0.0, hi=1.0)  # share of the bloc risk premium a fully contracted project sheds
    offtake_break_quarters: int = f(4, lo=1, hi=40)  # buyers break a contract after this many quarters of under half delivery
    # buyers break a contract whose floor has stood above this multiple of the traded index for offtake_break_quarters in a
    # row (0: never; they pay any floor to its term)
    offtake_floor_break_multiple: float = f(0.0, lo=0.0)
    # a plant holding a state price floor at or above its contract's floor charges its buyers none (false: they pay it)
    offtake_floor_yields_to_state_floor: bool = False
    # a supply agreement across blocs (world.firms.<name>.agreement_bloc) is renewed at its end for this many years while its
    # buyers' bloc makes less of its own need at the stage than world.independence_threshold (0: it ends)
    agreement_renewal_years: float = f(0.0, lo=0.0, hi=40.0)


@dataclass
class WorldConfig:
    name: str = MISSING
    start_year: int = f(lo=1900, hi=2200)
    scale: float = f(1.0, lo=1e-6)  # multiplies firm counts and demand (benchmarks)
    usd_per_cny: float = f(lo=0.0)  # exchange rate used where criteria are in yuan
    price_level_growth: float = f(0.0, lo=-0.2, hi=0.5)  # a year: the model's money is at the start year's prices; a yuan amount of
    # the criteria and the policy (nominal in the year it applies) is worth 1 / (1 + this) ^ (year - start_year) of it (0: no inflation)
    independence_threshold: float = f(lo=0.0, hi=10.0)
    independence_hold_quarters: int = f(lo=1)
    timeline_reference_year: Optional[float] = None  # null: the start of the run
    reference_years: list[int] = field(default_factory=list)  # years at which shares are reported
    stages: dict[str, StageConfig] = field(default_factory=dict)
    blocs: dict[str, BlocConfig] = field(default_factory=dict)
    buyers: dict[str, BuyerConfig] = field(default_factory=dict)
    groups: dict[str, GroupConfig] = field(default_factory=dict)
    # name -> FirmCohortConfig; typed Any in the Hydra schema so that a cohort can be added from the command line
    # (+world.firms.NAME={...}); to_config checks every cohort against FirmCohortConfig.
    firms: dict[str, Any] = field(default_factory=dict)
    markets: MarketConfig = field(default_factory=MarketConfig)
    innovation: InnovationConfig = field(default_factory=InnovationConfig)
    finance: FinanceConfig = field(default_factory=FinanceConfig)
    investment: InvestmentConfig = field(default_factory=InvestmentConfig)
    demand: DemandConfig = field(default_factory=DemandConfig)
    procurement: ProcurementConfig = field(default_factory=ProcurementConfig)


@dataclass
class ScenarioConfig:
    name: str = MISSING
    question: str = ""
    # event name -> {kind, start_year, end_year, ...kind-specific parameters}
    events: dict[str, Any] = field(default_factory=dict)


@dataclass
class OutputConfig:
    root: str = "results"
    dir: Optional[str] = None  # null: a new unique directory under root/runs
    overwrite: bool = False  # true: an output.dir that holds a run is replaced once the new run is complete
    firm_panel: bool = True
    write: bool = True


@dataclass
class Config:
    seed: int = f(1, lo=0)
    years: int = f(30, lo=1, hi=MAX_YEARS)
    progress: bool = True
    world: WorldConfig = field(default_factory=WorldConfig)
    policy: dict[str, PolicyConfig] = field(default_factory=dict)  # bloc -> its policy regime (conf/policy/)
    policy_change: dict[str, PolicyChangeConfig] = field(default_factory=dict)  # bloc -> a later regime and its year
    scenario: ScenarioConfig = field(default_factory=ScenarioConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    national: Optional[NationalConfig] = None  # the national world (conf/national/): set, a run simulates the programme's candidates


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------


def validate(cfg: Config) -> Config:
    """Range checks and cross-references. Returns cfg; raises ConfigError.

    The checks run in this order, and the first that fails is the error reported: every field's range
    (check_fields), the world's stages and blocs, the buyers, the groups and firm cohorts, the innovation
    draws, the policy (sim.config.policy), the scenario events (their own schema, scenarios) and the run's size
    (sim.config.sizes: a firm in every bloc and stage, memory within the machine's)."""
    check_fields(cfg, "")
    w = cfg.world
    if cfg.national is not None:
        check_national(cfg.national, w)
    _check_stages_and_blocs(w)
    _check_buyers(w)
    _check_groups_and_cohorts(w)
    _check_demand_and_procurement(w)
    _check_timeline_reference(w)
    if len(w.innovation.cost_cut_beta) != 2:
        raise ConfigError("world.innovation.cost_cut_beta", "must be [a, b] of a Beta distribution")
    from sim.config.policy import validate_policy  # local import: checks names against the world

    validate_policy(cfg)
    check_scenario_name(cfg.scenario.name)
    _check_output_paths(cfg.output)
    from scenarios import parse_events  # local import: scenarios depends on this module

    parse_events(cfg.scenario.events, cfg)
    from sim.config.sizes import check_sizes

    check_sizes(cfg)  # at least one firm per bloc and stage, memory within the machine's
    return cfg


# A scenario's name is part of the names of its run directories (<date>-<time>-<name>-seed<k>-<random>, and a sweep's
# runs/<name>-seed<k>-<hash>): one path component of a safe length, as the shipped scenarios' names are.
SCENARIO_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")


def check_scenario_name(name: Any) -> None:
    """``scenario.name`` can name a directory: letters, digits, '_', '-' and '.', at most 100 (ConfigError otherwise)."""
    if not isinstance(name, str) or not SCENARIO_NAME.fullmatch(name) or name in (".", ".."):
        raise ConfigError(
            "scenario.name",
            f"must be 1-100 letters, digits, '_', '-' or '.' (it names the run directories), got {name!r}; "
            f"allowed: e.g. {', '.join(config_options('scenario')[:3])}, my_scenario-2",
        )


def _check_output_paths(out: OutputConfig) -> None:
    """``output.root`` and ``output.dir`` name directories: an empty one (``output.root=``) is refused, where the run
    went into the working directory (root) or to a new directory as if none were given (dir)."""
    for key, value, allowed in (
        ("output.root", out.root, "a directory such as results (the default)"),
        ("output.dir", out.dir, "a directory for the run, or null (a new directory under output.root/runs)"),
    ):
        if isinstance(value, str) and not value.strip():
            raise ConfigError(key, f"an empty path ({value!r}); allowed: {allowed}")


def check_config(cfg: Any) -> Config:
    """A Config as ``run()`` receives it, perhaps edited after compose: every field's type as the schema declares it,
    then every rule of :func:`validate`. Returns cfg; raises ConfigError."""
    if not isinstance(cfg, Config):
        text = repr(cfg)
        raise ConfigError("cfg", f"must be a Config: build one with sim.config.compose([...]), got {text[:80]}{'...' if len(text) > 80 else ''}")
    check_types(cfg, "")
    return validate(cfg)


def check_types(obj: Any, prefix: str) -> None:
    """Each field of a dataclass tree holds a value of its declared type (int, float, bool, str, lists and maps of
    them, nested records); ConfigError at the first that does not."""
    for fl in dataclasses.fields(obj):
        key = f"{prefix}.{fl.name}" if prefix else fl.name
        value = getattr(obj, fl.name)
        if fl.metadata.get("pair") and not isinstance(value, (list, tuple)) and not (value is None and fl.default is None):
            raise ConfigError(key, f"must be a [low, high] pair (a list of two numbers, e.g. [1000, 5000]), got {value!r}")
        element = _DICT_ELEMENTS.get(key)  # a map the schema types as Any (world.firms) holds records after to_config
        _check_type(key, value, dict[str, element] if element is not None else _hints(type(obj))[fl.name])


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


# Scalar types of the schema: (the test, what is allowed).
_SCALARS: dict[type, tuple[Any, str]] = {
    bool: (lambda v: isinstance(v, bool), "true or false"),
    int: (lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool), "a whole number"),
    float: (lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool), "a number"),
    str: (lambda v: isinstance(v, str), "text"),
}


def _check_type(key: str, value: Any, tp: Any) -> None:
    if tp is Any:
        return
    if typing.get_origin(tp) is typing.Union:  # Optional[X]
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None and len(args) < len(typing.get_args(tp)):
            return
        tp = args[0]
    origin = typing.get_origin(tp)
    if tp in _SCALARS:
        ok, allowed = _SCALARS[tp]
        if not ok(value):
            raise ConfigError(key, f"must be {allowed}, got {value!r}")
    elif origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(key, f"must be a list, got {value!r}")
        item = (typing.get_args(tp) or (Any,))[0]
        for i, v in enumerate(value):
            _check_type(f"{key}[{i}]", v, item)
    elif origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(key, f"must be a mapping, got {value!r}")
        for k, v in value.items():
            _check_type(f"{key}.{k}", v, typing.get_args(tp)[1])
    elif dataclasses.is_dataclass(tp):
        if not isinstance(value, tp):
            raise ConfigError(key, f"must be a mapping of {', '.join(fl.name for fl in dataclasses.fields(tp))}, got {value!r}")
        check_types(value, key)


def _check_demand_and_procurement(w: WorldConfig) -> None:
    """Stockpiles and initial security premiums name blocs of the world, with values in range."""
    blocs = list(w.blocs)
    for b, v in w.demand.stockpile_quarters.items():
        key = f"world.demand.stockpile_quarters.{b}"
        require_name(key, b, blocs, "bloc")
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0.0 <= v <= 8.0:
            raise ConfigError(key, f"must be a number of quarters in [0, 8], got {v!r}")
    for b, origins in w.procurement.initial_security_premium.items():
        key = f"world.procurement.initial_security_premium.{b}"
        require_name(key, b, blocs, "bloc")
        if not isinstance(origins, dict):
            raise ConfigError(key, f"must map origin blocs to premiums, e.g. {{{blocs[0]}: 0.1}}; got {origins!r}")
        for c, v in origins.items():
            require_name(f"{key}.{c}", c, [x for x in blocs if x != b], "origin bloc (another bloc)")
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0.0 <= v <= w.procurement.security_premium_max + 1e-12:
                raise ConfigError(f"{key}.{c}", f"must be a premium in [0, security_premium_max = {w.procurement.security_premium_max}], got {v!r}")


def _check_timeline_reference(w: WorldConfig) -> None:
    """world.timeline_reference_year, where given, is a year from the run's start on, within the longest run
    (``years`` at most MAX_YEARS): timelines count years from it (was: any number, and 1900 made every timeline about
    120 years). A year after a shorter run's end is kept: a short run of a scenario that switches later has no timeline yet."""
    ref = w.timeline_reference_year
    last = w.start_year + MAX_YEARS
    if ref is not None and not (math.isfinite(ref) and w.start_year <= ref <= last):
        raise ConfigError(
            "world.timeline_reference_year",
            f"must be a year from world.start_year ({w.start_year}) to {last} (the end of the longest run, years={MAX_YEARS}), "
            f"or null for the start of the run; got {ref}",
        )


def _check_stages_and_blocs(w: WorldConfig) -> None:
    """At least one stage and one bloc; only the first stage takes no input; each bloc checked; regions unique."""
    stages = list(w.stages)
    if len(stages) < 1:
        raise ConfigError("world.stages", "at least one stage must be defined")
    if len(w.blocs) < 1:
        raise ConfigError("world.blocs", "at least one bloc must be defined")
    if w.stages[stages[0]].input_per_t != 0:
        raise ConfigError(f"world.stages.{stages[0]}.input_per_t", "the first stage takes no input; must be 0")
    for s in stages[1:]:
        if w.stages[s].input_per_t <= 0:
            raise ConfigError(f"world.stages.{s}.input_per_t", "must be > 0 for every stage after the first")
    for b, bc in w.blocs.items():
        _check_bloc(b, bc, stages)
    all_regions = {r: b for b, bc in w.blocs.items() for r in bc.regions}
    if len(all_regions) != sum(len(bc.regions) for bc in w.blocs.values()):
        raise ConfigError("world.blocs", "region names must be unique across blocs")


def _check_bloc(b: str, bc: BlocConfig, stages: list[str]) -> None:
    """One bloc: regions, parameters for every stage, leverage that can fund a project, a demand path."""
    if not bc.regions:
        raise ConfigError(f"world.blocs.{b}.regions", "at least one region is required")
    missing = [s for s in stages if s not in bc.stages]
    if missing:
        raise ConfigError(f"world.blocs.{b}.stages", f"missing stage(s) {', '.join(missing)}; every stage needs parameters in every bloc")
    for s in bc.stages:
        require_name(f"world.blocs.{b}.stages.{s}", s, stages, "stage")
    if bc.leverage_max + bc.equity_share_required < 1.0 - 1e-9:
        raise ConfigError(
            f"world.blocs.{b}.leverage_max",
            f"must be >= 1 - equity_share_required ({1.0 - bc.equity_share_required:g}), "
            f"got {bc.leverage_max:g}; otherwise lenders cannot fund the rest of any project",
        )
    if not bc.demand_t_per_year:
        raise ConfigError(f"world.blocs.{b}.demand_t_per_year", "at least one [year, t/yr] point is required")
    for i, pt in enumerate(bc.demand_t_per_year):
        if (
            not (isinstance(pt, (list, tuple)) and len(pt) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pt))
            or pt[1] < 0
        ):
            raise ConfigError(f"world.blocs.{b}.demand_t_per_year[{i}]", f"must be [year, t/yr >= 0], got {pt}")
    years = [pt[0] for pt in bc.demand_t_per_year]
    if years != sorted(years):
        raise ConfigError(f"world.blocs.{b}.demand_t_per_year", "years must be increasing")


def _check_buyers(w: WorldConfig) -> None:
    """Every buyer in a known bloc; the buyer shares of each bloc sum to 1."""
    blocs = list(w.blocs)
    for name, by in w.buyers.items():
        require_name(f"world.buyers.{name}.bloc", by.bloc, blocs, "bloc")
    for b in blocs:
        total = sum(by.share for by in w.buyers.values() if by.bloc == b)
        if abs(total - 1.0) > 1e-6:
            raise ConfigError("world.buyers", f"buyer shares of bloc '{b}' must sum to 1, got {total:g}")


def _check_agreement(key: str, c: FirmCohortConfig, w: WorldConfig, blocs: list[str]) -> None:
    """A cohort's supply agreement (on when agreement_share > 0; 0 switches it off) names another bloc and an end after
    the start year."""
    if c.agreement_bloc is None:
        raise ConfigError(f"{key}.agreement_bloc", f"a supply agreement (agreement_share {c.agreement_share}) needs its buyers' bloc, one of {blocs}")
    require_name(f"{key}.agreement_bloc", c.agreement_bloc, blocs, "bloc")
    if c.agreement_bloc == c.bloc:
        raise ConfigError(f"{key}.agreement_bloc", f"a supply agreement serves another bloc's buyers, not the plant's own ('{c.bloc}')")
    if c.agreement_share > 0 and (c.agreement_end_year is None or not c.agreement_end_year > w.start_year):
        raise ConfigError(f"{key}.agreement_end_year", f"must be a year after world.start_year ({w.start_year}), got {c.agreement_end_year}")


def _check_groups_and_cohorts(w: WorldConfig) -> None:
    """Groups and firm cohorts name a known bloc, stage and region of their bloc; a cohort's group is of its bloc."""
    blocs, stages = list(w.blocs), list(w.stages)
    for name, g in w.groups.items():
        require_name(f"world.groups.{name}.bloc", g.bloc, blocs, "bloc")
        require_name(f"world.groups.{name}.region", g.region, w.blocs[g.bloc].regions, f"region of bloc '{g.bloc}'")
    for name, c in w.firms.items():
        key = f"world.firms.{name}"
        require_name(f"{key}.bloc", c.bloc, blocs, "bloc")
        require_name(f"{key}.stage", c.stage, stages, "stage")
        require_name(f"{key}.region", c.region, w.blocs[c.bloc].regions, f"region of bloc '{c.bloc}'")
        if c.group is not None:
            require_name(f"{key}.group", c.group, list(w.groups), "group")
            if w.groups[c.group].bloc != c.bloc:
                raise ConfigError(f"{key}.group", f"group '{c.group}' belongs to bloc '{w.groups[c.group].bloc}', not '{c.bloc}'")
            if c.state_owned and not w.groups[c.group].state_owned:
                raise ConfigError(f"{key}.state_owned", f"group '{c.group}' is private (state_owned: false): its firms cannot be state-owned")
        if c.agreement_bloc is not None or c.agreement_share > 0:
            _check_agreement(key, c, w, blocs)
        if c.first_output_year is not None and not c.first_output_year > w.start_year:
            raise ConfigError(
                f"{key}.first_output_year",
                f"a project under construction must first produce after world.start_year ({w.start_year}), got {c.first_output_year}; "
                "an operating plant has no first_output_year (null)",
            )


# --------------------------------------------------------------------------
# Hydra glue
# --------------------------------------------------------------------------
def register_configs() -> None:
    """Register the schema so that conf/config.yaml composes against it."""
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    if "schema.yaml" not in cs.list("/"):  # stored once per process: storing builds the structured schema again (~25 ms)
        cs.store(name="schema", node=Config)


_COHORTS: dict[str, FirmCohortConfig] = {}  # to_config's conversions of firm cohorts, by the cohort's values (JSON)


def to_config(dcfg: Any) -> Config:
    """DictConfig (Hydra) -> validated plain dataclasses. Raises ConfigError."""
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    if not isinstance(dcfg, (dict, DictConfig)):
        raise ConfigError(
            "", f"to_config takes a mapping of {', '.join(fl.name for fl in dataclasses.fields(Config))} (as compose builds it), got {dcfg!r}"
        )
    try:
        if isinstance(dcfg, DictConfig) and OmegaConf.get_type(dcfg) is Config and _schema_keys_only(dcfg):
            obj = OmegaConf.to_object(dcfg)  # composed against the schema already (conf/config.yaml's first default): no second merge
        else:
            if isinstance(dcfg, DictConfig):
                dcfg = OmegaConf.to_container(dcfg, resolve=True)
            merged = OmegaConf.merge(OmegaConf.structured(Config), dcfg)
            obj = OmegaConf.to_object(merged)
    except OmegaConfBaseException as ex:
        raise omegaconf_error(ex) from None
    cohorts = {}
    for name, c in (obj.world.firms or {}).items():
        key = f"world.firms.{name}"
        if dataclasses.is_dataclass(c):
            cohorts[name] = c
            continue
        if not isinstance(c, dict):
            raise ConfigError(key, f"must be a mapping of {', '.join(fl.name for fl in dataclasses.fields(FirmCohortConfig))}, got {c!r}")
        for fl in dataclasses.fields(FirmCohortConfig):  # OmegaConf would only say 'AnyNode is not a ListConfig'
            if fl.metadata.get("pair") and fl.name in c and not isinstance(c[fl.name], (list, tuple)):
                raise ConfigError(f"{key}.{fl.name}", f"must be a [low, high] pair (a list of two numbers, e.g. [1000, 5000]), got {c[fl.name]!r}")
        memo = json.dumps(c, sort_keys=True, default=repr)  # the same cohort is converted once per process (a compose
        if memo not in _COHORTS:  # spent most of its conversion on OmegaConf's merge of each cohort with the schema)
            try:
                _COHORTS[memo] = OmegaConf.to_object(OmegaConf.merge(_cohort_schema(), c))
            except OmegaConfBaseException as ex:
                raise omegaconf_error(ex, prefix=key) from None
        cohorts[name] = copy.deepcopy(_COHORTS[memo])
    obj.world.firms = cohorts
    return validate(obj)


@functools.cache
def _cohort_schema() -> Any:
    """The firm cohort's schema as an OmegaConf node, built once per process (building it from the dataclass took more
    than half of each cohort's conversion); OmegaConf.merge copies its first argument, so no merge changes it."""
    from omegaconf import OmegaConf

    return OmegaConf.structured(FirmCohortConfig)


def _schema_keys_only(node: Any) -> bool:
    """Whether every key of a composed config is a field of its node's dataclass (an appended ``+key=value`` that the
    schema does not have is not: such a config takes the slow path, whose merge with the schema names the key)."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(node, DictConfig):
        tp = OmegaConf.get_type(node)
        if dataclasses.is_dataclass(tp) and not set(node.keys()) <= {fl.name for fl in dataclasses.fields(tp)}:
            return False
        return all(_schema_keys_only(node._get_node(k)) for k in node.keys())
    if isinstance(node, ListConfig):
        return all(_schema_keys_only(node._get_node(i)) for i in range(len(node)))
    return True


def omegaconf_error(ex: Exception, prefix: str = "") -> ConfigError:
    """Turn an OmegaConf/Hydra exception into a one-line ConfigError (keys below ``prefix``); an
    unknown key names the keys allowed beside it."""
    err = checks.omegaconf_error(ex, prefix, unknown_key=_unknown_key)
    if "is not a subclass of PolicyChangeConfig" in err.problem:  # '+policy_change.west.year=...' alone
        return _policy_change_error(err.key.rsplit(".", 1)[-1])
    return err


def _policy_change_error(bloc: str) -> ConfigError:
    return ConfigError(
        f"policy_change.{bloc}",
        f"a later regime needs its policy and its year: write +policy@policy_change.{bloc}.policy=NAME "
        f"+policy_change.{bloc}.year=YEAR (NAME one of {', '.join(config_options('policy'))})",
    )


def _hydra_error(ex: Exception, overrides: list[str], extra: Path | None) -> ConfigError:
    """A composition that Hydra refused: the error in a config file ('In 'GROUP/NAME': ...'), in an override ('Error
    merging override LINE'), or elsewhere, as one ConfigError naming the key (and the file) and what is allowed."""
    from omegaconf.errors import OmegaConfBaseException

    text = str(ex).strip()
    cause = ex.__cause__ or ex.__context__
    m = re.match(r"In '([^']+)': (.*)", text, re.S)
    if m and "/" in m.group(1):
        err = _file_error(m.group(1), m.group(2), cause, overrides, extra)
        if err is not None:
            return err
    if not isinstance(cause, OmegaConfBaseException):
        return _text_error(text)
    err = omegaconf_error(cause)
    m = re.match(r"Could not override '([^']+)'", text)
    if m:
        err = _map_entries_error(m.group(1), overrides) or err
    m = re.match(r"Error merging override (.+)", text)
    if m:
        err = _override_error(m.group(1).strip(), err)
    return err


# OmegaConf's words for a value of the wrong shape (what _override_error and _file_error say instead).
_MERGE_JARGON = ("is not a subclass of", "Cannot merge", "Cannot assign", "Merge error")


def _parsed_override(line: str) -> tuple[str, Any] | None:
    """(key, value) of an override line as Hydra reads it (None: it does not parse, or it sweeps)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        o = OverridesParser.create().parse_override(line)
        return None if o.is_sweep_override() else (o.key_or_group, o.value())
    except Exception:  # noqa: BLE001 - only used to word a message
        return None


def _override_error(line: str, err: ConfigError) -> ConfigError:
    """An override Hydra could not merge: the key it reached (OmegaConf names a new map entry by its own name only:
    'mars' for +world.blocs.mars.x=1) and a mapping given as a list or a number said in words."""
    parsed = _parsed_override(line)
    if parsed is None or not any(w in err.problem for w in _MERGE_JARGON):  # worded already (policy_change.west.year alone)
        return err
    key, value = parsed
    parts = key.split(".")
    full = err.key
    if full and full != key and not key.startswith(f"{full}.") and full in parts:  # OmegaConf's key relative to a new node
        full = ".".join(parts[: parts.index(full) + 1])
    rel = full.split(".")[len(parts) :] if full.startswith(key) else []
    here = _value_at(value, rel) if full.startswith(key) else {}
    parent, _, name = full.rpartition(".")
    if parent and _is_record_map(parent) and name not in _allowed_keys(parent) and full != key:  # below an entry that is not there
        noun = _MAP_NOUNS.get(parent.rsplit(".", 1)[-1], "entry")
        names = ", ".join(_allowed_keys(parent)) or "(none)"
        return ConfigError(full, f"unknown {noun} '{name}'; allowed: {names} (a new {noun} is added whole: +{full}={{...}} with all its settings)")
    if full.startswith(key) and isinstance(here, dict):  # a mapping with a list or a number somewhere below: that key
        full, here = _first_mismatch(here, _schema_type(full), full) or (full, here)
    shaped = _shape_error(full, here) if full.startswith(key) else None
    return shaped or ConfigError(full, err.problem)


def _value_at(value: Any, parts: list[str]) -> Any:
    for part in parts:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


# What the keys of the schema's maps are called (the last part of the map's key), for messages.
_MAP_NOUNS = {
    "stages": "stage",
    "blocs": "bloc",
    "buyers": "buyer",
    "groups": "group",
    "firms": "cohort",
    "events": "event name",
    "policy": "bloc",
    "policy_change": "bloc",
    "quota_per_year": "tier",
    "tier_first_year": "tier",
    "benefits": "tier",
    "tiers": "tier",
    "stockpile_quarters": "bloc",
    "initial_security_premium": "buyer bloc",
}
# What a record in a map is called where not its key's noun (policy.china is a policy), for messages.
_RECORD_NOUNS = {"policy": "policy", "policy_change": "later regime"}
# Maps whose keys are the user's own names (nothing to list as allowed).
_FREE_NAMES = {"events"}
# What the values of maps the schema types as Any hold, for messages.
_ANY_VALUES = {"events": "{kind, start_year, end_year, ...parameters of the kind}", "initial_security_premium": "{origin bloc: premium}"}


def _schema_type(path: str, elements: bool = True) -> Any:
    """The schema's type at a dotted path ('' is Config; Optional unwrapped); None where the schema has no such key.
    ``elements``: a map the schema types as Any that holds records (``_DICT_ELEMENTS``) as a map of those records."""
    tp: Any = Config
    parts = [p for p in path.split(".") if p]
    for i, part in enumerate(parts):
        here = ".".join(parts[:i])
        if elements and here in _DICT_ELEMENTS:
            tp = _DICT_ELEMENTS[here]
        elif dataclasses.is_dataclass(tp):
            tp = _hints(tp).get(part)
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            return None
        if typing.get_origin(tp) is typing.Union:
            tp = [a for a in typing.get_args(tp) if a is not type(None)][0]
        if tp is None:
            return None
    if elements and path in _DICT_ELEMENTS:
        return dict[str, _DICT_ELEMENTS[path]]
    return tp


def _is_record_map(path: str) -> bool:
    """A map of records (blocs, stages, buyers, ...: dict[str, a dataclass]) in the schema."""
    tp = _schema_type(path)
    return typing.get_origin(tp) is dict and dataclasses.is_dataclass(typing.get_args(tp)[1])


def _fields_text(tp: Any) -> str:
    names = [fl.name for fl in dataclasses.fields(tp)]
    return "{" + ", ".join(names[:4]) + (", ..." if len(names) > 4 else "") + "}"


def _expected(path: str, tp: Any) -> str | None:
    """What the schema wants at ``path`` in words, where it wants a mapping (None: not a mapping)."""
    parent, _, last = path.rpartition(".")
    if dataclasses.is_dataclass(tp):
        in_map = parent and typing.get_origin(_schema_type(parent)) is dict
        owner = parent.rsplit(".", 1)[-1]
        noun = f"the {_RECORD_NOUNS.get(owner) or _MAP_NOUNS.get(owner, 'entry')}'s" if in_map else (last or "the")
        return f"a mapping of {noun} settings {_fields_text(tp)}"
    if typing.get_origin(tp) is dict:
        value = typing.get_args(tp)[1]
        if dataclasses.is_dataclass(value):
            what = _fields_text(value)
        elif value in _SCALARS:
            what = _SCALARS[value][1]
        else:
            what = _ANY_VALUES.get(last, "a value")
        return f"a mapping of {_MAP_NOUNS.get(last, 'name')} -> {what}"
    return None


def _got(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text '{value}'"
    if isinstance(value, (list, tuple)):
        return f"a list {list(value)!r}"
    return repr(value)


def _map_names(path: str) -> list[str]:
    """The names a map's keys take: the tiers, or the names the default configuration holds (blocs, stages, ...)."""
    if path.rsplit(".", 1)[-1] in _FREE_NAMES:
        return []
    if _MAP_NOUNS.get(path.rsplit(".", 1)[-1]) == "tier":
        from agents.criteria_names import TIERS

        return list(TIERS)
    return _allowed_keys(path)


def _shape_error(path: str, value: Any, file: Any = None) -> ConfigError | None:
    """A mapping given as a list, a number or text: what the schema wants at ``path`` (None: not that mistake)."""
    tp = _schema_type(path)
    expected = _expected(path, tp) if tp is not None else None
    if expected is None or isinstance(value, dict):
        return None
    where = f" (in {file})" if file else ""
    problem = f"must be {expected}, got {_got(value)}{where}"
    group = next((g for g, pkg in _GROUP_PACKAGES.items() if re.fullmatch(pkg, path)), None)
    if group is not None and isinstance(value, str):  # policy.china=NAME: a file of the group was meant
        options = ", ".join(config_options(group))
        return ConfigError(path, f"{problem}; to choose a {group} file write {group}@{path}={value}; allowed: {options}")
    if dataclasses.is_dataclass(tp):
        first = dataclasses.fields(tp)[0].name
        return ConfigError(path, f"{problem}; allowed: such a mapping, or one setting at a time ({path}.{first}=VALUE)")
    names = _map_names(path)
    if names:
        return ConfigError(path, f"{problem}; allowed {_MAP_NOUNS.get(path.rsplit('.', 1)[-1], 'name')}s: {', '.join(names)}")
    return ConfigError(path, f"{problem}; allowed: such a mapping, {{}} for none")


# Keys that config groups fill when chosen with a package (policy@policy.china=NAME), as patterns.
_GROUP_PACKAGES = {"policy": r"policy\.[^.]+", "criteria": r"policy\.[^.]+\.designation\.criteria"}


def _map_entries_error(key: str, overrides: list[str]) -> ConfigError | None:
    """'KEY={name: value}' on a map that does not hold ``name`` yet: '=' changes entries a map holds, '+' adds them."""
    line = next((o for o in reversed(overrides) if o.split("=", 1)[0] == key), None)
    parsed = _parsed_override(line) if line is not None else None
    if parsed is None or not isinstance(parsed[1], dict) or typing.get_origin(_schema_type(key)) is not dict:
        return None
    value = line.split("=", 1)[1]
    held = ", ".join(_allowed_keys(key)) or "none"
    names = _map_names(key)
    allowed = f"; {_MAP_NOUNS.get(key.rsplit('.', 1)[-1], 'name')}s: {', '.join(names)}" if names else ""
    first, v = next(iter(parsed[1].items()))
    return ConfigError(
        key,
        f"'=' changes only entries the map holds already ({held}), so it cannot add {', '.join(map(str, parsed[1]))}; "
        f"allowed: +{key}={value} (adds or changes entries) or +{key}.{first}={v}{allowed}",
    )


def _config_file(config_path: str, extra: Path | None) -> Path | None:
    """The YAML file Hydra read for 'GROUP/NAME' (the --config-dir's first, as composing searches it)."""
    for d in ([extra] if extra is not None else []) + [CONF_DIR]:
        p = d / f"{config_path}.yaml"
        if p.is_file():
            return p
    return None


def _file_package(config_path: str, text: str, overrides: list[str]) -> str:
    """The key under which a group's file is merged: its '# @package' header ('' for _global_), the package its choice
    names (policy@policy.china=NAME, or in conf/config.yaml's defaults), else the group."""
    import yaml

    group, name = config_path.rsplit("/", 1)
    m = re.search(r"^\s*#\s*@package\s+(\S+)", text[:512], re.M)
    if m:
        return "" if m.group(1) == "_global_" else m.group(1)
    chosen = [o.lstrip("+~").split("=", 1) for o in overrides if "=" in o]
    try:
        defaults = yaml.safe_load((CONF_DIR / "config.yaml").read_text()).get("defaults", [])
    except Exception:  # noqa: BLE001 - only used to word a message
        defaults = []
    chosen += [[str(k).replace("override ", "").lstrip("/"), str(v)] for d in defaults if isinstance(d, dict) for k, v in d.items()]
    for k, v in chosen:
        if k.split("@")[0] == group and v == name and "@" in k:
            return k.split("@", 1)[1]
    return group


def _first_mismatch(value: Any, tp: Any, key: str) -> tuple[str, Any] | None:
    """The first key below which a file gives a list, a number or text where the schema wants a mapping."""
    if key in _DICT_ELEMENTS:
        tp = dict[str, _DICT_ELEMENTS[key]]
    if typing.get_origin(tp) is typing.Union:
        tp = [a for a in typing.get_args(tp) if a is not type(None)][0]
    if value is None:
        return None
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            return key, value
        hints = _hints(tp)
        for k, v in value.items():
            if k in hints:
                found = _first_mismatch(v, hints[k], f"{key}.{k}" if key else str(k))
                if found:
                    return found
    elif typing.get_origin(tp) is dict:
        if not isinstance(value, dict):
            return key, value
        for k, v in value.items():
            found = _first_mismatch(v, typing.get_args(tp)[1], f"{key}.{k}" if key else str(k))
            if found:
                return found
    return None


def _file_error(config_path: str, body: str, cause: Any, overrides: list[str], extra: Path | None) -> ConfigError | None:
    """An error in a config file (Hydra's 'In 'GROUP/NAME': ...'): a defaults override of a group that does not exist,
    a scenario file without its '# @package _global_' header, a mapping written as a list or a number (None: none of
    these; the caller words it)."""
    from sim.config import source

    group, _ = config_path.rsplit("/", 1)
    file = _config_file(config_path, extra)
    shown = file or f"{config_path}.yaml"
    m = re.match(r"Could not override '([^']+)'\. No match in the defaults list", body)
    if m:
        target = m.group(1).lstrip("/").split("@")[0]
        groups = config_groups(extra)
        if target not in groups:
            return ConfigError(
                config_path,
                f"its defaults list overrides '{m.group(1)}' ({shown}), but there is no config group '{target}'; allowed: {', '.join(groups)}",
            )
        return ConfigError(config_path, f"its defaults list overrides '{m.group(1)}' ({shown}), which conf/config.yaml does not choose")
    text = file.read_text(encoding="utf-8", errors="replace") if file else ""
    key = getattr(cause, "full_key", None) or ""
    package = _file_package(config_path, text, overrides) if file else group
    if key.startswith(f"{group}.") and package == group and "not in" in body:  # a top-level key of the whole config, read under GROUP
        sub = key.split(".")[1]
        shipped = [p.read_text()[:512] for p in (CONF_DIR / group).glob("*.yaml")]
        if shipped and all(re.search(r"^\s*#\s*@package\s+_global_", t, re.M) for t in shipped):
            example = f"conf/{group}/{config_options(group)[0]}.yaml"
            return ConfigError(
                key,
                f"unknown key: {shown} needs '# @package _global_' as its first line (see {example}), or its keys "
                f"({sub}: ...) are read under '{group}'; allowed: that line, or the keys of {group} ({', '.join(_allowed_keys(group))})",
            )
        if sub == group:
            return ConfigError(key, f"unknown key: {shown} is read under '{group}', so it holds {group}'s keys without '{group}:' above them")
    if not key and file is not None and any(w in body for w in _MERGE_JARGON):
        try:
            data = source.fast_load(text)
        except Exception:  # noqa: BLE001 - composing read it already
            data = None
        found = _first_mismatch(data, _schema_type(package), package) if data is not None else None
        if found is not None:
            return _shape_error(found[0] or package, found[1], file) or ConfigError(found[0] or package, f"{body.splitlines()[0]} (in {shown})")
    from omegaconf.errors import OmegaConfBaseException

    err = omegaconf_error(cause) if isinstance(cause, OmegaConfBaseException) else _text_error(body)
    return ConfigError(err.key or config_path, f"{err.problem} (in {shown})")


def _text_error(text: str) -> ConfigError:
    """Hydra composition messages carry the OmegaConf message and 'full_key: ...' in their text."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    key = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("full_key:")), "")
    body = [ln for ln in lines if not ln.startswith(("In '", "full_key:", "reference_type", "object_type")) and "raised while composing" not in ln]
    msg = body[0] if body else (lines[0] if lines else "invalid configuration")
    if msg.startswith("Ambiguous value for argument"):
        import re

        m = re.search(r"argument '([^=']+)=", msg)
        return ConfigError(m.group(1) if m else key, "several values need a sweep: add -m (multirun), or quote a list as key='[a,b]'")
    if "not in struct" in msg or msg.startswith("Key '") or "Could not override" in msg or "Could not append" in msg:
        if not key:
            import re

            m = re.search(r"'([^']+)'", msg)
            key = m.group(1) if m else ""
        if "Could not append" in msg and "already" in msg:  # '+key=VALUE' on a key the configuration already holds
            value = _appended_value(text, key)
            return ConfigError(key, f"already set: '+' adds a key that is not there; to change it write {key}={value} (without '+')")
        return _unknown_key(key)
    return ConfigError(key, msg)


def _appended_value(text: str, key: str) -> str:
    """The VALUE of the override '+key=VALUE' that Hydra refused ('VALUE' when its message does not quote it)."""
    import re

    m = re.search(r"\+" + re.escape(key) + r"=([^'\s]+)", text)
    return m.group(1) if m else "VALUE"


def _unknown_key(key: str) -> ConfigError:
    """'unknown key' with the keys allowed beside it, or (in an open map) how to add an entry."""
    parent = key.rsplit(".", 1)[0] if "." in key else ""
    if parent == "policy_change":
        return _policy_change_error(key.rsplit(".", 1)[1])
    allowed = _allowed_keys(parent)
    if allowed and key.rsplit(".", 1)[-1] in allowed:  # a known field that this entry of the file does not write (a map's entries are data)
        return ConfigError(key, f"not set in this entry of the file, so '=' cannot change it: to set it write +{key}=VALUE")
    if allowed and _is_open_map(parent):  # a map whose entries are data (blocs, stockpiles, premiums): entries can be added
        return ConfigError(key, f"unknown key; the map '{parent}' holds {', '.join(allowed)}; to add an entry, write +{key}=VALUE")
    if allowed:
        return ConfigError(key, f"unknown key; allowed here: {', '.join(allowed)}")
    if parent:
        return ConfigError(key, f"unknown key; to add an entry to the map '{parent}', write +{key}=VALUE")
    return ConfigError(key, "unknown key")


def _is_open_map(path: str) -> bool:
    """Whether the schema types ``path`` as a map of scalars or of untyped values (its entries are data that a user
    may extend), not as a record of fixed fields or a map of records (blocs, stages: their names are the world's)."""
    tp = _schema_type(path, elements=False)
    if typing.get_origin(tp) is not dict:
        return False
    value = typing.get_args(tp)[1]
    return value is Any or value in (int, float, str, bool)


# Mappings whose values the schema types as Any (see WorldConfig.firms), with their element type.
_DICT_ELEMENTS = {"world.firms": FirmCohortConfig}


def _allowed_keys(path: str) -> list[str]:
    """Names allowed under a dotted path: a schema node's fields, or the names a mapping
    (blocs, stages, firms, ...) holds in the default configuration."""
    tp = _schema_type(path)
    parts = [p for p in path.split(".") if p]
    if dataclasses.is_dataclass(tp):
        return [fl.name for fl in dataclasses.fields(tp)]
    if typing.get_origin(tp) is dict:  # names defined by the default configuration
        node: Any = _default_container()
        for part in parts:
            node = node.get(part) if isinstance(node, dict) else None
        return sorted(node) if isinstance(node, dict) else []
    return []


_DEFAULT_CONTAINER: dict | None = None


def _default_container() -> dict:
    """The default configuration as plain containers (composed once, for error messages)."""
    global _DEFAULT_CONTAINER
    if _DEFAULT_CONTAINER is None:
        from hydra import compose as hydra_compose
        from omegaconf import OmegaConf

        try:
            with _hydra(None):
                _DEFAULT_CONTAINER = OmegaConf.to_container(hydra_compose(config_name="config"), resolve=True)
        except Exception:  # noqa: BLE001 - only used to list names in a message
            _DEFAULT_CONTAINER = {}
    return _DEFAULT_CONTAINER


def config_options(group: str) -> list[str]:
    """Names of the YAML files of a config group under conf/."""
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def scenario_selects(scenario: str, group: str) -> str | None:
    """The option a scenario file selects itself for a config group (``override /GROUP: NAME`` in its defaults), or None."""
    import yaml

    path = CONF_DIR / "scenario" / f"{scenario}.yaml"
    spec = yaml.safe_load(path.read_text()) if path.is_file() else None
    for d in (spec or {}).get("defaults", []) or []:
        if isinstance(d, dict) and f"override /{group}" in d:
            return d[f"override /{group}"]
    return None


def national_scenarios() -> list[str]:
    """Scenarios that run the national world (their file selects a conf/national/ option): sim.engine.national."""
    return [sc for sc in config_options("scenario") if scenario_selects(sc, "national") is not None]


def chain_scenarios() -> list[str]:
    """Scenarios that run the rare-earth chain (every other scenario): sim.engine.model.ChainModel."""
    national = set(national_scenarios())
    return [sc for sc in config_options("scenario") if sc not in national]


def compose(overrides: Sequence[str] | None = None, config_dir: str | Path | None = None) -> Config:
    """Compose conf/config.yaml with overrides and validate (for tests and notebooks).

    ``overrides`` is a list of override strings (``["years=5", "scenario=laissez_faire"]``); ``config_dir`` a
    directory of the user's own config files, searched before conf/ (``python -m sim --config-dir DIR``).
    Every mistake raises one ConfigError naming the key, the bad value and what is allowed."""
    from hydra import compose as hydra_compose
    from hydra.errors import HydraException, MissingConfigException
    from omegaconf import open_dict
    from omegaconf.errors import OmegaConfBaseException

    register_configs()
    overrides = override_list(overrides)
    extra = check_config_dir(config_dir) if config_dir is not None else None
    _check_group_selections(overrides, extra)
    try:
        with _hydra(extra):
            dcfg = hydra_compose(config_name="config", overrides=overrides)
    except MissingConfigException as ex:
        raise _missing_option_error(ex, overrides, extra) from None
    except HydraException as ex:
        raise _hydra_error(ex, overrides, extra) from None
    except OmegaConfBaseException as ex:
        raise omegaconf_error(ex) from None
    except AssertionError:  # OmegaConf asserts when an override reaches below a null node (national.* without a national world)
        raise _null_parent_error(overrides, extra) from None
    if "hydra" in dcfg:  # pragma: no cover - Hydra's compose leaves it out unless asked
        with open_dict(dcfg):
            del dcfg["hydra"]
    return to_config(dcfg)  # typed by the schema already: converted without a second merge (an interpolation that does not resolve fails here)


def _null_parent_error(overrides: list[str], extra: Path | None) -> ConfigError:
    """The override that reaches below a node that is null in this configuration (``national.scale=0.1`` without a
    scenario that runs the national world): the node, and what would set it. Found on the configuration the group
    selections and top-level values alone compose."""
    from hydra import compose as hydra_compose
    from omegaconf import DictConfig

    plain = [o for o in overrides if "." not in o.split("=", 1)[0]]
    try:
        with _hydra(extra):
            dcfg = hydra_compose(config_name="config", overrides=plain)
    except Exception:  # noqa: BLE001 - the selections alone fail: that error is the one to report
        return _text_error("invalid configuration: an override reaches below a value that is not a mapping")
    for o in overrides:
        key = o.split("=", 1)[0].lstrip("+~")
        parts = key.split(".")
        node: Any = dcfg
        for i, part in enumerate(parts[:-1]):
            if not isinstance(node, DictConfig) or part not in node:
                break
            node = node[part]
            if node is None:
                where = ".".join(parts[: i + 1])
                hint = ""
                if where == "national":
                    runs_it = ", ".join(f"scenario={sc}" for sc in national_scenarios())
                    hint = f"; the national world's settings apply with a scenario that runs it ({runs_it})"
                return ConfigError(where, f"is null in this configuration, so '{key}' cannot be set below it{hint}")
    return _text_error("invalid configuration: an override reaches below a value that is null or not a mapping")


def override_list(overrides: Any) -> list[str]:
    """``compose``'s overrides as a list of strings; ConfigError for anything else (a bare string, numbers, a dict)."""
    if overrides is None:
        return []
    example = "a list of override strings such as ['years=5', 'scenario=laissez_faire']"
    if isinstance(overrides, str):
        raise ConfigError("overrides", f"must be {example}, got the string {overrides!r}: write [{overrides!r}]")
    if isinstance(overrides, dict):
        items = ", ".join(repr(f"{k}={v}") for k, v in overrides.items())
        raise ConfigError("overrides", f"must be {example}, got a mapping {overrides!r}: write [{items}]")
    try:
        items = list(overrides)
    except TypeError:
        raise ConfigError("overrides", f"must be {example}, got {overrides!r}") from None
    for o in items:
        if not isinstance(o, str):
            raise ConfigError("overrides", f"must be {example}, got {o!r} among them")
        check_override(o)
    return items


def check_override(line: str) -> None:
    """One override is ``key=value`` (or ``~key``): a bare word ('years 5') is one ConfigError naming it, on the command
    line and from Python alike."""
    if "=" not in line and not line.startswith("~"):
        raise ConfigError(line, f"an override is key=value (e.g. years=5), or ~key to remove a key; got '{line}'")
    if not line.split("=", 1)[0].lstrip("+~").strip():  # '=5', '+=5': Hydra took the empty key for a config group (a traceback)
        raise ConfigError(line, f"an override needs a key before '=' (e.g. years=5), got '{line}'; allowed: key=value, +key=value or ~key")


def check_config_dir(config_dir: str | Path) -> Path:
    """The user's config directory (``--config-dir``), absolute: it must exist, hold no primary config of its own
    (config.yaml, schema.yaml: never read), and every YAML file in it must be a readable UTF-8 file that parses as
    composing parses it (a key twice refused); ConfigError at '--config-dir' naming the file and the problem."""
    if not isinstance(config_dir, (str, os.PathLike)):  # compose(overrides, 5): a TypeError from pathlib before
        raise ConfigError("--config-dir", f"must be a directory (a str or Path), got {config_dir!r}; allowed: a directory of your own config groups")
    text = str(config_dir)
    if not text.strip():
        raise ConfigError("--config-dir", f"needs a directory, got {text!r}; allowed: a directory of your own config groups ({_group_folders()})")
    d = Path(config_dir)
    if not d.is_dir():
        raise ConfigError("--config-dir", f"'{config_dir}' is not a directory; allowed: a directory of config files (e.g. a calibration's output)")
    for name in ("config.yaml", "config.yml", "schema.yaml", "schema.yml"):
        top = d / name
        if top.exists() or top.is_symlink():
            raise ConfigError(
                "--config-dir",
                f"{top} is not read: python -m sim always composes conf/config.yaml (and the schema of sim/config); allowed: group "
                f"folders ({_group_folders()}) holding NAME.yaml files chosen with GROUP=NAME, or the value as an override (e.g. years=3)",
            )
    for p in sorted({*d.rglob("*.yaml"), *d.rglob("*.yml")}):
        problem = _config_file_problem(p)
        if problem is not None:
            raise ConfigError("--config-dir", f"{p} {problem}")
    return d.absolute()


def _config_file_problem(p: Path) -> str | None:
    """Why a YAML file of a ``--config-dir`` cannot be composed (None: it can): a folder or a broken link with a YAML
    name, an unreadable file, bytes that are not UTF-8, or YAML that does not parse as composing parses it."""
    import yaml

    from sim.config import source

    if p.is_dir():
        return "is a folder, not a config file; allowed: files NAME.yaml (rename the folder or move it out of the directory)"
    if not p.exists():
        return f"is a broken link (to {os.readlink(p)}, which does not exist); allowed: files, or links to existing files"
    try:
        data = p.read_bytes()
    except OSError as ex:
        return f"cannot be read ({ex.strerror or ex}); allowed: readable files"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as ex:
        line = data[: ex.start].count(b"\n") + 1
        return f"is not UTF-8 text (byte 0x{data[ex.start]:02x} on line {line}); allowed: UTF-8 text (save the file as UTF-8)"
    try:
        source.fast_load(text)
    except yaml.YAMLError as ex:
        return f"is not valid YAML: {checks.yaml_problem(ex)}"
    return None


def config_groups(extra: Path | None = None) -> list[str]:
    """The config groups a simulation composes: the folders of conf/ (not the study folders) and of ``extra``."""
    dirs = [CONF_DIR, *([extra] if extra is not None else [])]
    names = {p.name for d in dirs for p in d.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}
    return sorted(names - set(STUDY_DIRS) - {"hydra"})


def _group_folders() -> str:
    return ", ".join(f"{g}/" for g in config_groups())


def group_options(group: str, extra: Path | None = None) -> list[str]:
    """The names of a config group's files: conf/GROUP/ and, with ``extra``, the --config-dir's GROUP/."""
    names = set(config_options(group))
    if extra is not None and (extra / group).is_dir():
        names |= {p.stem for p in (extra / group).glob("*.yaml")}
    return sorted(names)


class _hydra:
    """Hydra initialised with conf/ (and, searched first, the user's ``extra`` directory, as ``--config-dir`` does), like
    hydra.initialize_config_dir(CONF_DIR), both read through the source that keeps its parses for the process
    (sim/config/source.py). A context manager: Hydra's global state is restored on exit."""

    def __init__(self, extra: Path | None):
        from hydra import version
        from hydra._internal.hydra import Hydra
        from hydra._internal.utils import create_config_search_path
        from hydra.core.config_search_path import SearchPathQuery
        from hydra.initialize import get_gh_backup

        from sim.config import source

        source.register()
        self._backup = get_gh_backup()
        version.setbase("1.3")
        csp = create_config_search_path(search_path_dir=source.search_path(str(CONF_DIR)))
        if extra is not None:
            csp.prepend(provider="command-line", path=source.search_path(str(extra)), anchor=SearchPathQuery(provider="schema"))
        Hydra.create_main_hydra2(task_name="app", config_search_path=csp)

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        from hydra.initialize import restore_gh_from_backup

        restore_gh_from_backup(self._backup)


# Config groups a run cannot do without (what one option is called): '~world' would leave none.
_REQUIRED_GROUPS = {"world": "world", "scenario": "scenario"}
# Config groups selected per package: a bare 'policy=NAME' has no bloc to go to.
_PACKAGED_GROUPS = {"policy": "policy@policy.<bloc>", "criteria": "criteria@policy.<bloc>.designation.criteria"}


def _check_group_selections(overrides: list[str], extra: Path | None = None) -> None:
    """Config-group choices Hydra would refuse with a traceback or a message about something else: a group set to null
    (``world=null``), a required group removed (``~world``), a packaged group chosen without its bloc (``policy=NAME``)."""
    groups = config_groups(extra)
    for o in overrides:
        key = o.split("=", 1)[0].lstrip("+~")
        group = key.split("@", 1)[0]
        if group in groups and o.startswith("~") and "=" not in o and group in _REQUIRED_GROUPS:
            raise ConfigError(
                group,
                f"a {_REQUIRED_GROUPS[group]} must be chosen: {group}=NAME (~{group} leaves none); "
                f"allowed: {', '.join(group_options(group, extra)) or '(none)'}",
            )
        if group in groups and "=" in o and o.split("=", 1)[1].strip().lower() == "null":
            where = f"conf/{group}/" + (f" or {extra}/{group}/" if extra is not None else "")
            hint = ""
            if group == "national":
                hint = "; to run without a national world leave national out (conf/config.yaml has national: null) or write ~national"
            raise ConfigError(
                key,
                f"a config group is chosen by the name of one of its files, not null; allowed: "
                f"{', '.join(group_options(group, extra)) or '(none)'} (in {where}){hint}",
            )
        if key in _PACKAGED_GROUPS and "=" in o:
            value = o.split("=", 1)[1]
            blocs = ", ".join(_default_container().get("world", {}).get("blocs", {}))
            raise ConfigError(
                key, f"'{o}' names no bloc: write {_PACKAGED_GROUPS[key]}={value} (blocs: {blocs}); allowed: {', '.join(config_options(key))}"
            )


def _missing_option_error(ex: Exception, overrides: list[str], extra: Path | None = None) -> ConfigError:
    """A config-group option that does not exist: the override that chose it (its key as typed, e.g.
    ``policy@policy.west``), the bad name and the options of the group."""
    import re

    text = str(ex).strip()
    m = re.search(r"Could not (?:find|load) '([^']+)'", text)
    if not m or "/" not in m.group(1):
        return ConfigError("", text.splitlines()[0] if text else "a config file was not found")
    group, option = m.group(1).rsplit("/", 1)
    key = group
    for o in overrides:  # the last override that chose this option of this group names the key
        k, _, v = o.partition("=")
        if k.lstrip("+~").split("@")[0] == group and v == option:
            key = k.lstrip("+~")
    options = sorted(set(getattr(ex, "options", None) or []) | set(config_options(group)))
    where = f"conf/{group}/" + (f" or {extra}/{group}/" if extra is not None else "")
    return ConfigError(key, f"no config file '{option}' in {where}; allowed: {', '.join(options) or '(none)'}")
