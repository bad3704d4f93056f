"""The national world's schema: the programme's candidate population at 1:1 scale (conf/national/*.yaml).

A run with ``national`` set (``python -m sim scenario=national_programme``) simulates China's manufacturing SMEs
across sectors, product niches and provinces, each niche a simple market, under the coordinated regime's
designation rounds (conf/policy/coordinated.yaml with its criteria files, the same as the rare-earth world's).
The rare-earth sector is one of the sectors: its firms are the Chinese firm cohorts of the rare-earth world
(``world``, conf/world/rare_earth_2015.yaml), placed in the sector named by ``rare_earth_sector``; the bloc's
finance, tax and innovation parameters are the rare-earth world's Chinese ones, so that both worlds share them.
Money in M yuan unless named otherwise, shares as fractions, rates per year unless named otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from omegaconf import MISSING

from sim.checks import ConfigError
from sim.config.fields import f


@dataclass
class RevenueLognormalConfig:
    median_myuan: float = f(lo=1e-9)  # median revenue, M yuan a year
    sigma: float = f(lo=0.0, hi=5.0)  # sd of the log


@dataclass
class LognormalConfig:
    median: float = f(lo=1e-9)
    sigma: float = f(lo=0.0, hi=5.0)  # sd of the log


@dataclass
class SizeClassConfig:
    """A size class of the 2011 SME classification for industry, drawn per firm: revenue lognormal within the class's
    range; headcount within the class's range at the revenue's place in the class (a larger firm of the class has more
    staff, with a spread of its own: assumption)."""

    share: float = f(lo=0.0, hi=1.0)  # share of the candidate firms in the class
    employees: list[float] = f([1.0, 10.0], lo=0.0, pair=True)  # the class's headcount range
    revenue_myuan: list[float] = f([0.1, 1.0], lo=0.0, pair=True)  # revenue range of the draw, M yuan a year
    revenue_lognormal: RevenueLognormalConfig = field(default_factory=RevenueLognormalConfig)
    rd_share: float = f(lo=0.0, hi=1.0)  # share of the class's firms with R&D activity
    invention_share: float = f(lo=0.0, hi=1.0)  # share holding invention patents in force
    utility_share: float = f(lo=0.0, hi=1.0)  # share holding utility-model or design patents in force


@dataclass
class CountConfig:
    """Patents per holder: 1 + a negative binomial with this mean (over the holders) and shape."""

    mean: float = f(lo=1.0)
    shape: float = f(lo=1e-3)


@dataclass
class NationalFirmsConfig:
    """The candidate population at the start."""

    count: int = f(lo=1)  # manufacturing SME candidates at scale 1
    size_classes: dict[str, SizeClassConfig] = field(default_factory=dict)
    age_median_years: float = f(lo=0.0)  # firm age at the start, lognormal, within [age_min_years, age_max_years]
    age_sigma: float = f(lo=0.0, hi=5.0)
    age_max_years: float = f(60.0, lo=0.0)
    growth_sd_per_year: float = f(lo=0.0, hi=2.0)  # sd of a firm's yearly demand shock in its niche (Laplace, log)
    rd_intensity: LognormalConfig = field(default_factory=LognormalConfig)  # R&D / revenue among firms with R&D (x the sector's factor)
    # chance a year that a firm without R&D starts it, at an intensity drawn as at the start (0: R&D only where drawn at birth)
    rd_adoption_per_year: float = f(0.0, lo=0.0, hi=1.0)
    # a year: every firm's capacity per employee, and the wage per employee with it (so the wage bill per unit of capacity,
    # and the R&D staff share a given R&D buys, stay as they were), rise at this rate; staff follow capacity at the new
    # productivity, each quarter (sim.engine.national.market.raise_productivity). 0: a firm's own productivity never rises
    labour_productivity_growth: float = f(0.0, lo=0.0, hi=0.3)
    # share of R&D as booked in the accounts (the "R&D expense" the designation criteria read) that is other expense
    # relabelled as R&D, for the firms whose R&D is drawn from the NBS survey's figures (every sector but the rare-earth
    # one): booked = spent / (1 - share) (docs/ODD.md 7.15); 0: the criteria read R&D as spent
    relabelled_rd_share: float = f(0.0, lo=0.0, hi=0.9)
    invention_per_holder: CountConfig = field(default_factory=CountConfig)
    utility_per_holder: CountConfig = field(default_factory=CountConfig)
    # patents in force are held by the firms with R&D first (their class's holder share filled from its R&D firms, the
    # rest from the others): patents come from R&D (agents.firms.innovate); false: holding drawn apart from R&D
    patents_follow_rd: bool = False
    debt_ratio_mean: float = f(lo=0.0, hi=1.0)  # liabilities / assets
    debt_ratio_sd: float = f(lo=0.0, hi=1.0)


@dataclass
class SectorConfig:
    """A manufacturing sector (GB/T 4754-2011 divisions, grouped): its share of the firms, niches and demand."""

    name: str = MISSING
    firm_share: float = f(lo=0.0, hi=1.0)  # share of the candidate firms (the rare-earth sector's firms come from ``world``)
    niches: int = f(lo=1)  # product niches (one product each; the Little Giant niche-share criterion reads them)
    demand_growth_per_year: float = f(lo=-0.5, hi=1.0)  # growth of the sector's demand at constant prices
    rd_intensity_factor: float = f(1.0, lo=0.0, hi=10.0)  # the sector's R&D intensity over the national mean
    # its main products are in the Strategic Emerging Industries Classification (NBS 2018): the innovation-type SME score's
    # field item (strategic_emerging_field metric); false: another field
    strategic_emerging: bool = False
    codes: list[str] = field(default_factory=list)  # divisions it groups (documentation)
    firms: Optional[int] = None  # firm_share x count (documentation)
    note: str = ""


@dataclass
class ProvinceConfig:
    name: str = MISSING
    firm_share: float = f(lo=0.0, hi=1.0)  # share of the candidate firms in the province
    firms_above_size_2014: Optional[int] = None  # documentation: the count behind the share
    lg_share_2021: Optional[float] = None  # documentation: share of the first Little Giants (batches 1-2)
    little_giants_batches_1_2: Optional[int] = None  # documentation
    source: str = ""


@dataclass
class NationalMarketConfig:
    """Niche markets and the firms' production, investment, entry and exit."""

    price_adjustment: float = f(lo=0.0, hi=1.0)  # share of the gap to the target price closed per quarter
    price_flexibility: float = f(lo=0.0, hi=3.0)  # elasticity of the target price to demand / normal supply
    demand_elasticity: float = f(lo=0.0, hi=5.0)  # niche demand x price index ^ -elasticity
    variable_cost_share: float = f(lo=0.0, hi=1.0)  # variable unit cost at the reference price (x the firm's cost index)
    fixed_cost_share: float = f(lo=0.0, hi=1.0)  # fixed cost a year per unit of yearly capacity, at the reference price
    cost_index_sd: float = f(lo=0.0, hi=1.0)  # sd of the firms' cost index around 1
    assets_per_revenue: float = f(lo=0.0)  # plant per unit of yearly capacity at the reference price (capex of an expansion)
    capacity_headroom: float = f(lo=1.0, hi=3.0)  # capacity / output at the start
    target_utilisation: float = f(0.8, lo=0.1, hi=1.0)  # normal utilisation: the price rises above it, falls below
    # share of a change in the niche's unit cost (its operating firms' capacity-weighted cost over the niche's at the start)
    # that its normal price follows: 1 markup pricing on current cost, 0 a normal price fixed at the reference (the rule before)
    cost_pass_through: float = f(0.0, lo=0.0, hi=1.0)
    max_utilisation: float = f(0.95, lo=0.0, hi=1.0)  # output / capacity at most
    # where the niche's firms sold all they could and buyers went unserved, the target price is at least the price at which
    # demand would fall to what they sold (buyers bid for scarce supply); false: the capacity ratio alone (the rule before)
    shortage_pricing: bool = False
    expansion_share: list[float] = f([0.1, 0.5], lo=0.0, pair=True)  # bounds of an expansion, as a share of capacity
    review_probability: float = f(lo=0.0, hi=1.0)  # chance per quarter that a busy, profitable firm wants to expand
    # years of their sector's demand growth busy firms plan capacity ahead for (0: today's orders, the rule before)
    plan_years: float = f(0.0, lo=0.0, hi=20.0)
    # the orders a firm plans its capacity on: the demand it met (its sales plus its share, by capacity x appeal, of the
    # niche's demand left unserved); false: its buyers' first choice alone (the rule before)
    orders_met: bool = False
    # a failing firm's (insolvent, lasting negative equity) plant that earns its running costs passes to a new firm (a
    # going-concern sale, as the rare-earth world's insolvency sale); false: it closes with its firm (the rule before)
    sell_failed_plants: bool = False
    build_quarters: int = f(lo=1, hi=40)  # quarters from the decision to the new capacity
    entry_rate_per_year: float = f(lo=0.0, hi=1.0)  # entrants a year as a share of live firms
    entrant_revenue_myuan: float = f(lo=1e-6)  # an entrant's capacity, M yuan a year
    # entrants come to a niche in proportion to its pull (demand x margin + unserved demand) over its sector's mean firm
    # capacity, so a sector draws them as a share of its firms; false: in proportion to the pull alone (the rule before),
    # so that a sector of large firms drew as many more small entrants per incumbent as its firms were larger
    entry_per_firm: bool = False
    exit_hazard_per_year: float = f(lo=0.0, hi=1.0)  # closures a year for reasons outside the model (owners retiring, ...), mean over firms
    exit_size_elasticity: float = f(0.0, lo=0.0, hi=2.0)  # the hazard x capacity ^ -this (small firms close more often; 0: any size alike)


@dataclass
class NationalConfig:
    name: str = MISSING
    start_year: int = f(lo=1900, hi=2200)  # must equal world.start_year
    usd_per_cny: float = f(lo=0.0)  # must equal world.usd_per_cny
    scale: float = f(1.0, lo=1e-6, hi=10.0)  # multiplies the firm count (tests and benchmarks run smaller nations)
    niches_per_listed: float = f(1.0, lo=1e-3, hi=100.0)  # product niches per niche listed in the sectors' ``niches`` (1: as listed)
    rare_earth_sector: str = "rare_earth_chain"  # the sector whose firms are the rare-earth world's Chinese cohorts
    firms: NationalFirmsConfig = field(default_factory=NationalFirmsConfig)
    provinces: list[ProvinceConfig] = field(default_factory=list)
    sectors: list[SectorConfig] = field(default_factory=list)
    market: NationalMarketConfig = field(default_factory=NationalMarketConfig)
    # the firms keep a target capital structure (world.finance.target_capital_structure for the national firms; None: the
    # world's setting, which the rare-earth world keeps off, docs/ODD.md 7.4)
    target_capital_structure: Optional[bool] = None
    # a year: the price level the criteria's, the benefits' and the budgets' yuan are read at (world.price_level_growth for the
    # national world; None: the world's, which the rare-earth world keeps at 0, docs/ODD.md 7.9)
    price_level_growth: Optional[float] = f(None, lo=-0.2, hi=0.5)
    sample_firms: int = f(0, lo=0)  # firms in the panel a run writes (a fixed random sample of firm ids; 0: no panel)
    programme: dict[str, Any] = field(default_factory=dict)  # the programme's published sizes (documentation; targets read them)


def check_national(n: NationalConfig, world) -> None:
    """Cross-field rules of the national world (field ranges are checked by the schema's metadata); ``world`` is the
    rare-earth world the national world shares its bloc parameters and rare-earth firms with."""
    if n.start_year != world.start_year:
        raise ConfigError("national.start_year", f"must equal world.start_year ({world.start_year}), got {n.start_year}")
    if abs(n.usd_per_cny - world.usd_per_cny) > 1e-12:
        raise ConfigError("national.usd_per_cny", f"must equal world.usd_per_cny ({world.usd_per_cny}), got {n.usd_per_cny}")
    if "china" not in world.blocs:
        raise ConfigError("world.blocs", "the national world takes its bloc parameters from the world's bloc 'china', which is missing")
    for key, items in (("national.provinces", n.provinces), ("national.sectors", n.sectors)):
        if not items:
            raise ConfigError(key, "needs at least one entry")
        names = [x.name for x in items]
        dup = sorted({x for x in names if names.count(x) > 1})
        if dup:
            raise ConfigError(key, f"names must be unique, repeated: {', '.join(dup)}")
    sectors = [x.name for x in n.sectors]
    if n.rare_earth_sector not in sectors:
        raise ConfigError("national.rare_earth_sector", f"must name one of national.sectors ({', '.join(sectors)}), got '{n.rare_earth_sector}'")
    if not n.firms.size_classes:
        raise ConfigError("national.firms.size_classes", "needs at least one size class")
    for key, parts in (
        ("national.provinces", [x.firm_share for x in n.provinces]),
        ("national.firms.size_classes", [c.share for c in n.firms.size_classes.values()]),
        ("national.sectors", [x.firm_share for x in n.sectors]),
    ):
        total = sum(parts)
        if abs(total - 1.0) > 0.02:
            raise ConfigError(key, f"firm shares must add up to 1 (within 0.02), got {total:.3f}")
    for name, c in n.firms.size_classes.items():
        lo, hi = c.revenue_myuan
        med = c.revenue_lognormal.median_myuan
        if not lo <= med <= hi:
            raise ConfigError(
                f"national.firms.size_classes.{name}.revenue_lognormal.median_myuan", f"must lie in revenue_myuan [{lo}, {hi}], got {med}"
            )
