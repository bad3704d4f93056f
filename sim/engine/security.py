"""Buyers' security premium on suppliers of risky origins (MODEL.md 5.8a), updated after prices each quarter.

``premium[b, c]`` is the share of the landed price that buyers of bloc b add, in their choice of supplier
(never in what they pay), to suppliers of bloc c. It builds while bloc c holds an export control in force
(exposure 1) or while b's buyers are short at a stage where they import from c (exposure = their shortage
share x c's share of their imports), by ``security_build_per_quarter`` x exposure of the gap to
``security_premium_max``, and fades by ``security_decay_per_year`` a year:

    premium <- premium + build x exposure x (max - premium) - (1 - (1 - decay) ^ (1/4)) x premium.

It starts from ``initial_security_premium`` (a world set after 2010-11 starts with the premium that episode
left). With the maximum and the start at 0 it stays 0, and choices are those of price alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from sim.engine.model import ChainModel


class SecurityPremium:
    """(B buyer bloc, B origin bloc) premium and its quarterly update."""

    def __init__(self, model: ChainModel):
        T, P = model.tables, model.world.procurement
        self.params = P
        self.premium = np.zeros((T.B, T.B))
        for b, origins in P.initial_security_premium.items():
            for c, v in origins.items():
                self.premium[T.blocs.index(b), T.blocs.index(c)] = float(v)
        self.active = P.security_premium_max > 0 or bool(self.premium.any())

    def markup(self, class_bloc: np.ndarray, origin: np.ndarray) -> np.ndarray | None:
        """(K, N) 1 + premium of class k's bloc on supplier j's origin, or None when no premium is in force."""
        if not self.active:
            return None
        return 1.0 + self.premium[np.asarray(class_bloc)][:, np.asarray(origin)]

    def update(self, model: ChainModel) -> None:
        """Build with exposure (export controls, shortages on imports), fade with time."""
        if not self.active:
            return
        P, T = self.params, model.tables
        B = T.B
        exposure = np.zeros((B, B))
        for c in range(B):
            if any(model.markets.controlled(s, c, standing=False) for s in range(T.S)):
                exposure[:, c] = 1.0
        for s, cl in model.last_clearing.items():
            sup_bloc = model.pop.bloc[cl.suppliers]
            for b in range(B):
                kb = cl.class_bloc == b
                wanted = cl.demand[kb].sum()
                if wanted <= 1e-9 or cl.delivered is None:
                    continue
                short = max(wanted - cl.delivered_to_class[kb].sum(), 0.0) / wanted
                got = cl.delivered_by_origin(b, sup_bloc, B)
                imported = got.sum() - got[b]
                if short <= 0 or imported <= 1e-9:
                    continue
                for c in range(B):
                    if c != b:
                        exposure[b, c] = max(exposure[b, c], short * got[c] / got.sum())
        np.fill_diagonal(exposure, 0.0)
        fade = 1.0 - (1.0 - P.security_decay_per_year) ** 0.25
        self.premium = self.premium + P.security_build_per_quarter * exposure * (P.security_premium_max - self.premium) - fade * self.premium
        self.premium = np.clip(self.premium, 0.0, max(P.security_premium_max, float(self.premium.max(initial=0.0))))
