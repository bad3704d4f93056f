"""Sourcing ban: from a date, a bloc's (defence) buyers may not buy a named bloc's output.

Question served: Q3/Q4 of MODEL.md - what does a defence sourcing ban on the coordinated
bloc's magnets do to the banning bloc's defence buyers, its own producers and prices?
Public example: 10 U.S.C. 4872 (NDAA FY2019 sec. 871), implemented by DFARS 225.7018 and
clause 252.225-7052, bars the US Department of Defense from samarium-cobalt and NdFeB magnets
melted or produced in China, Russia, North Korea or Iran; the final DFARS rule of 30 May 2024
extends it to magnets whose materials were mined, refined or separated there, from 1 January
2027 (a ban on the named buyers' magnets now; ``buyers: []`` at the upstream stages
approximates the 2027 rule for a whole bloc, where the rule reaches the defence supply chain
only: assumption).

Mechanism: while active, the banned buyers give the output of every ``origins`` bloc at the
listed ``stages`` a preference of zero in their logit choice (sim.engine.clearing.preferences,
like the domestic-only part of a ``domestic_mandate``), so they receive none of it; what they
cannot buy elsewhere is unmet.

- ``buyers: [west_defence, ...]`` names final-buyer segments of ``bloc`` (conf/world
  ``buyers``); they buy at the final (magnet) stage only. Each named buyer forms its own final
  class (bloc, state-owned, domestic-only, banned origins), so the classes stay at most a few
  per buyer and clearing stays linear in firms. A (B,) layer per buyer on
  ``model.instruments.buyer_bans``.
- ``buyers: []`` bans every buyer of the bloc at the listed stages: the final buyers at the
  magnet stage, the next stage's firms upstream. A layer on ``model.instruments.ban_all``
  (B importer, B origin, S).

Layers combine by maximum, so bans overlap and ending one restores the arrays exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scenarios.checks import check_bloc, check_blocs, check_stages
from scenarios.events import EventParams, ScenarioEvent, register_event
from sim.checks import ConfigError, require_name


@dataclass
class SourcingBanParams(EventParams):
    bloc: str = ""  # bloc whose buyers are banned from buying
    origins: list[str] = field(default_factory=list)  # banned origin blocs (at least one)
    stages: list[str] = field(default_factory=lambda: ["magnet"])  # stages whose product is banned
    buyers: list[str] = field(default_factory=list)  # the bloc's final-buyer segments banned; empty: every buyer of the bloc


@register_event
class SourcingBan(ScenarioEvent):
    kind = "sourcing_ban"
    Params = SourcingBanParams
    question = "What does a defence sourcing ban on a bloc's magnets do to the banning bloc's buyers and producers?"

    def apply(self, model) -> None:
        T, p, ins = model.tables, self.params, model.instruments
        origins = [T.blocs.index(o) for o in p.origins]
        if p.buyers:
            mask = np.isin(np.arange(T.B), origins).astype(float)  # (B,) 1: banned origin
            for buyer in p.buyers:
                ins.set_buyer_ban(buyer, f"event:{self.name}", mask)
        else:
            mask = ins.trade_mask(T.blocs.index(p.bloc), origins, [T.stages.index(s) for s in p.stages])
            ins.set_layer("ban_all", f"event:{self.name}", mask.astype(float), op="max", init=0.0)

    def revert(self, model) -> None:
        for buyer in self.params.buyers:
            model.instruments.clear_buyer_ban(buyer, f"event:{self.name}")
        model.instruments.clear_layer("ban_all", f"event:{self.name}")

    @classmethod
    def check(cls, key, params, cfg) -> None:
        check_bloc(f"{key}.bloc", params.bloc, cfg)
        if not params.origins:
            raise ConfigError(f"{key}.origins", f"at least one bloc is required; allowed: {', '.join(cfg.world.blocs)}")
        check_blocs(f"{key}.origins", params.origins, cfg)
        if params.bloc in params.origins:
            raise ConfigError(f"{key}.origins", f"must not include the banning bloc '{params.bloc}'")
        check_stages(f"{key}.stages", params.stages, cfg)
        own = [name for name, b in cfg.world.buyers.items() if b.bloc == params.bloc]
        for name in params.buyers:
            require_name(f"{key}.buyers", name, own, f"final buyer of '{params.bloc}'")
        final = list(cfg.world.stages)[-1]
        upstream = [s for s in params.stages if s != final]
        if params.buyers and upstream:
            raise ConfigError(
                f"{key}.stages", f"named final buyers buy at the final stage '{final}' only; got {', '.join(upstream)} (use buyers: [])"
            )
