"""Helpers for the behaviour-rule tests: composed configs, parameter tables and handfuls of firms.

Composing with Hydra takes about a second, so configs are cached per override tuple;
callers that change a config must deep-copy it first (``fresh_config``).
"""

from __future__ import annotations

import copy
import dataclasses
from functools import lru_cache

import numpy as np

from agents.firms import FirmPopulation, Phase
from sim.config import Config, compose
from sim.engine.world import Tables, build_tables

QUIET = ("progress=false", "output.write=false")


@lru_cache(maxsize=None)
def _composed(overrides: tuple[str, ...]) -> Config:
    return compose(list(QUIET) + list(overrides))


def fresh_config(*overrides: str) -> Config:
    """A validated config (deep copy: safe to modify). The rule tests run the world without policy:
    scenario=laissez_faire unless the overrides choose a scenario."""
    if not any(o.startswith("scenario=") for o in overrides):
        overrides = ("scenario=laissez_faire",) + tuple(overrides)
    return copy.deepcopy(_composed(tuple(overrides)))


@lru_cache(maxsize=None)
def _tables(overrides: tuple[str, ...]) -> Tables:
    return build_tables(_composed(overrides).world)


def tables(*overrides: str, **replace) -> Tables:
    """Parameter tables of the (composed) world; keyword arguments replace whole arrays.

    The arrays are shared with the cache: tests must not write into them (replace them instead).
    """
    return dataclasses.replace(_tables(tuple(overrides)), **replace)


def bloc(T: Tables, name: str) -> int:
    return T.blocs.index(name)


def stage(T: Tables, name: str) -> int:
    return T.stages.index(name)


def make_pop(n: int, **columns) -> FirmPopulation:
    """``n`` operating, qualified firms; keyword arguments set columns (scalars or length-n arrays)."""
    values = dict(
        phase=Phase.OPERATING,
        qualified=True,
        quality=1.0,
        capacity_t=1000.0,
        cum_output_t=1000.0,
        experience_ref_t=1000.0,
        tax_rate=0.25,
        employees=10.0,
    )
    values.update(columns)
    pop = FirmPopulation(capacity=max(8, n))
    pop.add(n, **values)
    return pop


def flat_price(T: Tables, value: float | None = None) -> np.ndarray:
    """(B, S) price array: the reference prices, or one value everywhere."""
    if value is None:
        return np.tile(T.reference_price_usd_per_kg, (T.B, 1)).astype(float)
    return np.full((T.B, T.S), float(value))


def one_quarter_model(base: Config, **settings):
    """A model of a copy of ``base`` with ``settings`` (dotted attribute paths with ``__`` for dots, e.g.
    ``world__finance__insolvency_sale=False``) set, validated, built and stepped one quarter."""
    from sim.config import validate
    from sim.engine.model import ChainModel

    cfg = copy.deepcopy(base)
    for path, value in settings.items():
        *parents, leaf = path.split("__")
        obj = cfg
        for name in parents:
            obj = getattr(obj, name)
        setattr(obj, leaf, value)
    m = ChainModel(validate(cfg))
    m.step()
    return m
