"""Firms along the mine-to-magnet chain, stored as columns (MODEL.md 2 and 6).

Firm state lives in numpy arrays, one row per firm; each behaviour is written
once for the whole population as array code (MODEL.md 6). ``Firm`` is a thin
view of one row for inspection, notebooks and the classroom app.

Behaviours here are pure array rules: they read explicit parameter tables
(``sim.engine.world.Tables``) and a numpy Generator, never config objects or files.
Units: quantities in t, capacities in t/yr, prices in USD/kg, money in M USD
per quarter unless a name says otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agents import kernels
from agents.codes import DESIGNATED, KEY_LITTLE_GIANT, Phase, ProjectPhase, Tier  # noqa: F401  (re-exported: the names firms carry)

PATENT_SLOTS = 40  # the most cohorts a population's patent ring may hold (the longest configurable patent life; sim.config)
HIST = 8  # quarters of revenue and R&D history kept per firm

# name -> (dtype, default). Every column is one array of length n (or (n, k)).
COLUMNS: dict[str, tuple[Any, Any]] = {
    # identity
    "firm_id": (np.int64, -1),
    "bloc": (np.int16, 0),
    "region": (np.int16, 0),
    "stage": (np.int16, 0),
    "group": (np.int16, -1),  # parent state-owned group, -1 for none
    "state_owned": (np.bool_, False),
    "phase": (np.int8, Phase.PROJECT),
    "birth_step": (np.int32, 0),
    "niche_start_step": (np.int32, 0),
    "niche": (np.int32, -1),  # product niche (the national world's niche markets; -1: the rare-earth world's stage markets)
    "appeal": (np.float64, 1.0),  # the firm's share weight in its niche per unit of capacity (national world: buyers' taste, shocks)
    "capacity_per_employee": (np.float64, 0.0),  # national world: capacity (t = M yuan a year) per employee, kept as capacity grows
    "exit_step": (np.int32, -1),  # quarter the firm exited (-1: live); its row stays until compact() at the next start of a year
    # production and learning
    "capacity_t": (np.float64, 0.0),  # operating nameplate, t/yr
    "quality": (np.float64, 1.0),  # share of output that meets specification
    "qualified": (np.bool_, True),  # magnets: passed buyer qualification
    "cum_output_t": (np.float64, 0.0),
    "experience_ref_t": (np.float64, 1.0),
    "cost_index": (np.float64, 1.0),
    "innovation_factor": (np.float64, 1.0),
    "potential_t": (np.float64, 0.0),  # sellable output this quarter
    "orders_t": (np.float64, 0.0),
    "inputs_t": (np.float64, 0.0),
    "output_t": (np.float64, 0.0),
    "unit_cost_usd_per_kg": (np.float64, 0.0),  # processing + inputs
    "mothballed": (np.bool_, False),  # on care and maintenance: offers nothing, pays part of its fixed cost (markets.mothball_after_quarters)
    "uncovered_q": (np.int16, 0),  # consecutive quarters its bloc's price has not covered the plant's cash cost (``mothball``)
    "idle_q": (np.int16, 0),  # consecutive quarters on care and maintenance (``mothball``; markets.scrap_after_mothballed_quarters)
    "scrap_q": (np.int16, 0),  # quarters on care and maintenance after which this plant is scrapped, drawn when it went on care and
    # maintenance (markets.scrap_spread_quarters; 0: markets.scrap_after_mothballed_quarters)
    "employees": (np.float64, 0.0),
    "rd_staff_share": (np.float64, 0.0),
    # accounts (M USD per quarter for flows)
    "cash": (np.float64, 0.0),
    "debt": (np.float64, 0.0),
    "book_assets": (np.float64, 0.0),  # operating plant at cost less depreciation, M USD
    # share of its depreciation life left on the book plant, value-weighted over the plant's vintages (composite
    # straight-line depreciation: book_assets / (plant_life_left x depreciation quarters) a quarter); 1: a new plant
    "plant_life_left": (np.float64, 1.0),
    "cip": (np.float64, 0.0),  # construction in progress at cost (not depreciated), M USD
    "working_capital": (np.float64, 0.0),  # receivables + inventories - trade payables, M USD (finance.working_capital_share)
    "working_capital_in": (np.float64, 0.0),  # cash tied up in working capital this quarter (negative: released), M USD
    "equity_raised": (np.float64, 0.0),
    "revenue": (np.float64, 0.0),
    "input_cost": (np.float64, 0.0),
    "opex": (np.float64, 0.0),
    "fixed_cost": (np.float64, 0.0),
    "interest": (np.float64, 0.0),
    "rd_spend": (np.float64, 0.0),
    "costs": (np.float64, 0.0),  # input + opex + fixed + interest + R&D
    "depreciation": (np.float64, 0.0),
    "profit": (np.float64, 0.0),  # after tax
    "tax": (np.float64, 0.0),
    "tax_rate": (np.float64, 0.25),
    "grants": (np.float64, 0.0),  # received this quarter (all instruments)
    "rd_grants": (np.float64, 0.0),  # the part of grants earmarked for R&D
    "capex": (np.float64, 0.0),  # M USD spent on construction this quarter (a project's capex paid out)
    "net_borrowing": (np.float64, 0.0),
    "dividends": (np.float64, 0.0),  # paid out this quarter (finance.payout_ratio), M USD
    "contract_t": (np.float64, 0.0),  # offtake contract volume, t/yr (0: none; sim/engine/contracts.py)
    "contract_floor": (np.float64, 0.0),  # the contract's floor price, USD/kg
    "contract_bloc": (np.int16, -1),  # the bloc whose buyers the contracted volume goes to (-1: none; a gate contract: the plant's own)
    "contract_end_q": (np.int64, -1),  # quarter index at which the contract ends
    "contract_short_q": (np.int64, 0),  # consecutive quarters the plant delivered under half the contracted volume
    "contract_over_q": (np.int64, 0),  # consecutive quarters the contract's floor stood above the renegotiation line
    "contract_sold_t": (np.float64, 0.0),  # this quarter's deliveries under the contract, t (its buyers pay the floor on them)
    "exported_t": (np.float64, 0.0),  # this quarter's deliveries to other blocs' buyers, t
    "home_discount_musd": (np.float64, 0.0),  # this quarter: home sales below the index, M USD (scenarios.price_floor.reserve_home)
    "floor_end_q": (np.int64, -1),  # quarter index at which the plant's own price-floor agreement ends (-1: none; scenarios.price_floor)
    "equity_in": (np.float64, 0.0),
    "neg_equity_quarters": (np.int16, 0),
    "rev_hist": (np.float64, 0.0),  # (n, HIST) ring of quarterly revenue
    "rd_hist": (np.float64, 0.0),  # (n, HIST) ring of quarterly R&D
    # innovation
    "rd_propensity": (np.float64, 0.02),
    "knowledge": (np.float64, 0.0),
    "pat_inv": (np.int32, 0),  # (n, PATENT_SLOTS) class I patents granted per year cohort
    "pat_util": (np.int32, 0),  # (n, PATENT_SLOTS) utility/design patents per year cohort
    # policy state (set by government agents, MODEL.md 5.6)
    "tier": (np.int8, Tier.NONE),
    "key_lg": (np.bool_, False),
    "designation_step": (np.int32, -1),
    "review_step": (np.int32, -1),
    "procurement_discount": (np.float64, 0.0),
    "interest_subsidy": (np.float64, 0.0),  # points off the loan rate while a title is held
    "credit_bonus": (np.float64, 0.0),  # extra debt / assets lenders allow
    "ipo_fast_track": (np.float64, 0.0),  # extra chance per quarter of outside equity while a title is held
    "talent_subsidy": (np.float64, 0.0),  # share of R&D cost refunded as a grant
    "group_grade_a": (np.bool_, False),  # graded best by its group this year (R&D fund)
    "prof_hist": (np.float64, 0.0),  # (n, HIST) ring of quarterly profit after tax
    "finance_constrained": (np.bool_, False),
    "outside_finance": (np.bool_, False),  # wanted to scale and needed outside money for it (finance.outside_finance_share; reset each year)
    "sponsored": (np.bool_, False),  # first project sponsored by the bloc's coordinator: committed without the return test
    # project pipeline: one project at a time per firm
    "proj_phase": (np.int8, ProjectPhase.NONE),
    "proj_remaining_q": (np.float64, 0.0),
    "proj_nameplate_t": (np.float64, 0.0),
    "proj_capex_musd": (np.float64, 0.0),
    "proj_capex_left": (np.float64, 0.0),
    "proj_wait_q": (np.float64, 0.0),
    "proj_rampup_q": (np.float64, 0.0),
    "proj_added_t": (np.float64, 0.0),
    "proj_start_step": (np.int32, -1),
    "proj_greenfield": (np.bool_, False),
    "proj_u": (np.float64, 0.5),  # (n, 5) uniforms fixing the durations of planning..qualification
    "first_output_step": (np.int32, -1),
}
GROWTH = 1.25  # the columns grow by this factor when full (FirmPopulation.add)
# history rings stored quarter by quarter (column-major): a quarter's column of every firm is contiguous, so a quarter is
# written and the trailing sums are added a column at a time. Sum such a ring across quarters with ``trailing`` (or
# np.ascontiguousarray first): numpy's ``.sum(axis=1)`` adds eight or more columns in another order in this layout
BY_QUARTER = ("rev_hist", "rd_hist", "prof_hist")
WIDE = {"rev_hist": HIST, "rd_hist": HIST, "prof_hist": HIST, "pat_inv": PATENT_SLOTS, "pat_util": PATENT_SLOTS, "proj_u": 5}
PATENT_COLUMNS = ("pat_inv", "pat_util")  # wide columns whose width is the population's patent ring (at most PATENT_SLOTS)


UINT = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}  # a column's items as raw bits of their width


def _compact_rows(arr: np.ndarray, first: int, kept: np.ndarray) -> None:
    """Move the kept rows ``kept`` (ascending row indices, ``kept[j] >= first + j``) to ``arr[first:first + len(kept)]``
    in order, in place (agents.kernels.move_rows: a row lands at or below where it was, so nothing is overwritten before
    it moves, and no temporary is made). A row-major wide (n, k) column moves row by row; a column-major one
    (BY_QUARTER) column by column. The items move as raw bits of their width, whatever their type."""
    if arr.ndim == 2 and not arr.flags.c_contiguous:
        for j in range(arr.shape[1]):
            _compact_rows(arr[:, j], first, kept)
        return
    kernels.move_rows(arr.view(UINT[arr.dtype.itemsize]), first, kept)


def trailing_slots(step: int, quarters: int = 4, lag: int = 0) -> list[int]:
    """The slots of a history ring holding the ``quarters`` quarters that end ``lag`` quarters before ``step``, the
    latest first (the order in which ``FirmPopulation.trailing`` and the compiled accounts add them)."""
    return [(step - lag - k) % HIST for k in range(quarters)]


def _row_sums(counts: np.ndarray) -> np.ndarray:
    """Row sums of an (n, k) integer column as int64 (as ``counts.sum(axis=1)``; einsum's loop is about twice as fast)."""
    return np.einsum("ij->i", counts).astype(np.int64, copy=False)


_NO_ROWS, _NO_FLOATS = np.zeros(0, dtype=np.int64), np.zeros(0)  # a compiled rule's arguments that it does not read

CELL_ROWS = 1000  # from about this many rows on, gathering a (B, S) table by flat cells is the faster way (cell)


def cell(table: np.ndarray, bloc: np.ndarray, stage: np.ndarray) -> np.ndarray:
    """``table[bloc, stage]`` of a (B, S) table, one value per row (``stage`` within 0..S-1): the same values, gathered
    from the flattened table by each row's cell (bloc x S + stage), which is about twice as fast as numpy's indexing
    by two arrays for many rows (from about CELL_ROWS on; fewer are indexed as they are, as is a table of another
    shape)."""
    if table.ndim != 2 or len(bloc) < CELL_ROWS:
        return table[bloc, stage]
    at = np.multiply(bloc, table.shape[1], dtype=np.intp)
    at += stage
    return np.take(np.ascontiguousarray(table).ravel(), at)


def per_row(table: np.ndarray, *index: np.ndarray) -> np.ndarray | np.floating:
    """``table[index]`` (one value per row), or the table's single value as a numpy scalar where every entry of a
    float table holds the same bits (the national world's one bloc and uniform sectors): an operation with the
    scalar gives each row the very number it gives with the row's own copy, without gathering a million copies."""
    if table.dtype == np.float64 and table.size:
        bits = np.ascontiguousarray(table).view(np.uint64)
        if (bits == bits.flat[0]).all():
            return table.flat[0]
    return cell(table, *index) if len(index) == 2 else table[index]


class FirmPopulation:
    """Columnar store of all firms. ``pop.cash`` is a view of the live rows."""

    def __init__(self, capacity: int = 256, patent_slots: int = PATENT_SLOTS, extra_columns: dict[str, tuple[Any, Any]] | None = None):
        """``patent_slots``: the yearly cohorts the patent ring holds (``pat_inv``, ``pat_util``), at least the longest
        patent life the run uses (:func:`patent_slots_for`); a world holds no more than it needs, since both columns
        are moved in every compaction and read whenever patents in force are counted. ``extra_columns``: a world's own
        per-row columns beyond COLUMNS (name: (dtype, default)), kept, grown and compacted with the others (the
        national world's cached exit weights: sim.engine.national.market.exit_weights)."""
        if not 1 <= int(patent_slots) <= PATENT_SLOTS:
            raise ValueError(f"patent_slots must be within 1-{PATENT_SLOTS}, got {patent_slots}")
        clash = sorted(set(extra_columns or {}) & set(COLUMNS))
        if clash:
            raise ValueError(f"extra columns {clash} are firm columns already")
        object.__setattr__(self, "n", 0)
        object.__setattr__(self, "next_id", 0)
        object.__setattr__(self, "_data", {})
        object.__setattr__(self, "_columns", {**COLUMNS, **(extra_columns or {})})
        for name, (dtype, _) in self._columns.items():
            width = int(patent_slots) if name in PATENT_COLUMNS else WIDE.get(name)
            shape = (capacity, width) if name in WIDE else (capacity,)
            # unfilled: no rule reads a row before ``add`` gives it its defaults, so the rows held in reserve cost no
            # writing (and their memory pages none until used)
            self._data[name] = np.empty(shape, dtype=dtype, order="F" if name in BY_QUARTER else "C")
        self._views()

    # -- column access ------------------------------------------------------
    def _views(self) -> None:
        """Each column's view of the live rows as an instance attribute, so that ``pop.cash`` is a plain attribute
        read (no call, no new view); made again whenever the rows or the arrays change (``add``, ``compact``)."""
        n, d = self.n, self.__dict__
        for name, arr in self._data.items():
            d[name] = arr[:n]

    def __setattr__(self, name: str, value) -> None:
        if name in self._data:
            col = self.__dict__[name]
            if isinstance(value, np.ndarray) and value.shape == col.shape and value.ctypes.data == col.ctypes.data and value.strides == col.strides:
                return  # the column itself, changed in place (``pop.cash += x``): nothing to copy
            col[...] = value
        else:
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return self.n

    @property
    def capacity_rows(self) -> int:
        return len(self._data["firm_id"])

    @property
    def patent_slots(self) -> int:
        """The yearly cohorts of the patent ring (the width of ``pat_inv`` and ``pat_util``)."""
        return self._data["pat_inv"].shape[1]

    # -- rows -----------------------------------------------------------------
    def add(self, count: int, **values) -> np.ndarray:
        """Append ``count`` firms with the given column values; returns their rows.

        The columns grow by a quarter (``GROWTH``) when full, not double: a million-firm world keeps its memory
        near its size. Rows beyond ``n`` hold nothing a rule reads; the new rows get their defaults here."""
        count = int(count)
        if count <= 0:
            return np.zeros(0, dtype=np.int64)
        need = self.n + count
        if need > self.capacity_rows:
            new_cap = max(need, int(GROWTH * self.capacity_rows) + 1)
            for name, arr in self._data.items():
                grown = np.empty((new_cap,) + arr.shape[1:], dtype=arr.dtype, order="F" if name in BY_QUARTER else "C")
                grown[: self.n] = arr[: self.n]
                self._data[name] = grown
        new = slice(self.n, need)
        data = self._data
        for name, default in self._fills():
            if name not in values:  # a given column is written below, every new row of it: its default would be overwritten
                data[name][new].fill(default)
        self._data["firm_id"][new] = np.arange(self.next_id, self.next_id + count, dtype=np.int64)
        object.__setattr__(self, "next_id", self.next_id + count)
        object.__setattr__(self, "n", need)
        self._views()
        for name, v in values.items():
            if name not in self._data:
                raise KeyError(f"unknown firm column '{name}'")
            self._data[name][new] = v
        return np.arange(new.start, need)

    def _fills(self) -> tuple[tuple[str, Any], ...]:
        """Each column's name and default as a plain Python number (``add`` fills new rows with it: the same bits as
        the default itself, and a plain number fills fastest), made once per population."""
        fills = self.__dict__.get("_fill_values")
        if fills is None:
            columns = self.__dict__.get("_columns", COLUMNS)
            fills = tuple((name, np.array(default, dtype=dtype).item()) for name, (dtype, default) in columns.items())
            object.__setattr__(self, "_fill_values", fills)
        return fills

    def compact(self) -> int:
        """Drop exited firms' rows (their history is already in the outputs), keeping the live rows' order.

        Only rows from the first exited one on move; a wide column moves as one block of bytes per row."""
        keep = self._data["phase"][: self.n] != Phase.EXITED
        m = int(np.count_nonzero(keep))
        removed = self.n - m
        if removed:
            first = int(np.argmin(keep))  # the first exited row: the rows before it stay where they are
            kept = first + np.flatnonzero(keep[first:])
            for arr in self._data.values():
                _compact_rows(arr, first, kept)
            object.__setattr__(self, "n", m)
            self._views()
        return removed

    def row_of(self, firm_id: int) -> int:
        """Row of a live firm id (ids increase with rows; compaction keeps order)."""
        ids = self.firm_id
        r = int(np.searchsorted(ids, firm_id))
        if r >= self.n or ids[r] != firm_id:
            raise KeyError(f"no live firm with id {firm_id}")
        return r

    def view(self, firm_id: int, model=None) -> "Firm":
        return Firm(self, firm_id, model)

    def columns(self) -> list[str]:
        return list(COLUMNS)

    # -- derived quantities -----------------------------------------------------
    @property
    def alive(self) -> np.ndarray:
        return self.phase != Phase.EXITED

    def live_in(self, quarter: int) -> np.ndarray:
        """Firms live in ``quarter``: live now or exited in it. Their flows (output, inputs, revenue, costs, profit)
        are this quarter's, which the outputs record; a row exited in an earlier quarter holds none of its own."""
        return self.alive | (self.exit_step == quarter)

    @property
    def operating(self) -> np.ndarray:
        return self.phase == Phase.OPERATING

    @property
    def equity(self) -> np.ndarray:
        """Book equity, M USD."""
        return self.cash + self.book_assets + self.cip + self.working_capital - self.debt

    def trailing(self, hist: np.ndarray, step: int, quarters: int = 4, lag: int = 0, rows: np.ndarray | None = None) -> np.ndarray:
        """Sum of ``quarters`` quarters of a history ring ending ``lag`` quarters before ``step``; ``rows``: of those
        rows only (the same numbers as ``trailing(hist[rows], ...)``, reading only the quarters summed).

        Column by column from zero, in the order (and so with the rounding) of ``hist[:, idx].sum(axis=1)``, which
        sums fewer than eight columns one after another (tests/test_rules_firms.py checks the bits)."""
        idx = trailing_slots(step, quarters, lag)
        if quarters >= 8:  # numpy sums eight or more columns of a row-major ring in another order: keep it
            return np.ascontiguousarray(hist if rows is None else hist[rows])[:, idx].sum(axis=1)
        if rows is None:
            out = np.zeros(len(hist))
            for i in idx:
                out += hist[:, i]
            return out
        out = np.zeros(len(rows))
        for i in idx:
            out += hist[rows, i]
        return out

    @property
    def patents_invention(self) -> np.ndarray:
        return _row_sums(self.pat_inv)

    @property
    def patents_utility(self) -> np.ndarray:
        return _row_sums(self.pat_util)


class Firm:
    """A thin view of one firm's row: attribute access reads (and writes) the columns.

    Views are made on demand (``model.firm(firm_id)``); the population never
    depends on them, so they cost nothing at scale.
    """

    __slots__ = ("_pop", "unique_id", "model")

    def __init__(self, pop: FirmPopulation, firm_id: int, model=None):
        object.__setattr__(self, "_pop", pop)
        object.__setattr__(self, "unique_id", int(firm_id))
        object.__setattr__(self, "model", model)

    @property
    def row(self) -> int:
        return self._pop.row_of(self.unique_id)

    def __getattr__(self, name: str):
        if name in COLUMNS:
            v = self._pop._data[name][self.row]
            return v.copy() if isinstance(v, np.ndarray) else v.item()
        if name in ("equity", "patents_invention", "patents_utility"):
            return getattr(self._pop, name)[self.row].item()
        raise AttributeError(name)

    def __setattr__(self, name: str, value) -> None:
        if name in COLUMNS:
            self._pop._data[name][self.row] = value
        else:
            raise AttributeError(f"Firm views have no attribute '{name}'")

    def as_dict(self) -> dict[str, Any]:
        out = {}
        for name in COLUMNS:
            if name not in WIDE:
                out[name] = getattr(self, name)
        out["patents_invention"] = self.patents_invention
        out["patents_utility"] = self.patents_utility
        out["equity"] = self.equity
        if self.model is not None:
            out["bloc_name"] = self.model.tables.blocs[out["bloc"]]
            out["stage_name"] = self.model.tables.stages[out["stage"]]
            out["region_name"] = self.model.tables.regions[out["region"]]
        return out

    def __repr__(self) -> str:
        try:
            d = self.as_dict()
        except KeyError:
            return f"<Firm {self.unique_id} (exited)>"
        where = f"{d.get('bloc_name', d['bloc'])}/{d.get('stage_name', d['stage'])}"
        return f"<Firm {self.unique_id} {where} capacity={d['capacity_t']:.0f} t/yr phase={Phase(d['phase']).name}>"


# ===========================================================================
# Behaviours (MODEL.md 5.2-5.5). Each takes the population, parameter tables
# (sim.engine.world.Tables) and what the rule needs; none does I/O.
# ===========================================================================
def experience_factor(pop: FirmPopulation, T, rows: np.ndarray | None = None) -> np.ndarray:
    """Learning by doing: cost x (cumulative output / reference)^(-b), b = -log2(1 - learning rate). ``rows``: those
    rows only (each row's own number; an index or a mask).

    The base max(cumulative output, 1e-9) / max(reference, 1e-9) and the exponent -b in one compiled pass
    (agents.kernels.experience_base_rows), the power in numpy: the numbers of the array code before, bit for bit."""
    idx, every, n = _row_index(pop, rows)
    base, exponent = np.empty(n), np.empty(n)
    kernels.experience_base_rows(
        pop.stage, pop.cum_output_t, pop.experience_ref_t, idx, every, np.ascontiguousarray(T.learning_b, dtype=np.float64), base, exponent
    )
    return np.power(base, exponent, out=base)


def _row_index(pop: FirmPopulation, rows: np.ndarray | None) -> tuple[np.ndarray, bool, int]:
    """A compiled row rule's rows: (int64 index, False, its length) for ``rows`` given as an index or a mask, or (an
    empty index, True, the population's length) for every row (None)."""
    if rows is None:
        return _NO_ROWS, True, len(pop)
    idx = np.asarray(rows)
    idx = np.flatnonzero(idx) if idx.dtype == np.bool_ else idx.astype(np.int64, copy=False)
    return idx, False, len(idx)


def processing_cost(pop: FirmPopulation, T, rows: np.ndarray | None = None) -> np.ndarray:
    """Unit processing cost, USD/kg: base (bloc, stage) x firm index x experience x innovation. ``rows``: those rows
    only (each row's own number, as in the whole population's).

    Without learning by doing (every stage's exponent 0, as the national world's) the experience factor is exactly 1
    (x^0 = 1 for every x) and is not computed: the same numbers, one power less per firm.

    In one compiled pass over the rows (agents.kernels.processing_cost_rows), with :func:`experience_factor`: each
    row's numbers by the operations, in the order, of the array code before (tests/test_kernels.py checks the bits)."""
    idx, every, n = _row_index(pop, rows)
    use_experience = bool(T.learning_b.any())
    experience = experience_factor(pop, T, None if every else idx) if use_experience else _NO_FLOATS
    out = np.empty(n)
    floor = np.ascontiguousarray(T.cost_floor_share, dtype=np.float64)
    kernels.processing_cost_rows(
        pop.bloc,
        pop.stage,
        pop.cost_index,
        pop.innovation_factor,
        idx,
        every,
        np.ascontiguousarray(T.processing_cost_usd_per_kg, dtype=np.float64),
        floor,
        experience,
        bool(floor.any()),  # learning and innovation lower the cost above the floor only
        use_experience,
        out,
    )
    return out


def set_potential(
    pop: FirmPopulation, T, max_utilisation: float, price: np.ndarray, shutdown_tolerance: float = 0.0, row_floor: np.ndarray | None = None
) -> None:
    """Sellable output this quarter: capacity/4 x utilisation x quality, offered by qualified plants
    whose variable unit cost (last quarter's processing + inputs) is covered by their bloc's price
    (or by ``row_floor``, the state price floor the plant holds, where higher):
    a plant idles when the price falls more than the tolerance below its unit cost (shut-down rule;
    small temporary losses are carried rather than losing customers). A mothballed plant (``mothball``) offers nothing."""
    seen = cell(price, pop.bloc, pop.stage)
    if row_floor is not None:
        np.maximum(seen, row_floor, out=seen)
    covers_cost = pop.unit_cost_usd_per_kg * (1.0 - shutdown_tolerance) <= seen
    ok = pop.operating & pop.qualified & covers_cost & ~pop.mothballed
    pot = pop.capacity_t / 4.0
    pot *= max_utilisation
    pot *= pop.quality
    np.copyto(pot, 0.0, where=~ok)
    pop.potential_t = pot


def cash_cost(pop: FirmPopulation, T, fixed_cost_saved: float, target_utilisation: float) -> np.ndarray:
    """Cash cost per kg a plant covers by running rather than mothballing, USD/kg: its variable unit cost plus the
    fixed cost it would save on care and maintenance, per kg at normal utilisation:

        cash_cost = unit_cost + fixed_cost_saved x fixed_cost_share x capex_musd_per_kt / target_utilisation

    (fixed_cost_share x capex_musd_per_kt is M USD per kt of nameplate per year, i.e. USD per kg of nameplate)."""
    # the fixed part is the bloc-stage's: computed once on the (B, S) grid, in the order of the formula, and gathered
    # per row (the same operations on the same numbers as per row)
    fixed = fixed_cost_saved * T.fixed_cost_musd_per_kt / target_utilisation
    return pop.unit_cost_usd_per_kg + cell(fixed, pop.bloc, pop.stage)


def mothball(
    pop: FirmPopulation,
    T,
    price: np.ndarray,
    after_quarters: int,
    fixed_cost_saved: float,
    target_utilisation: float,
    row_floor: np.ndarray | None = None,
    restart_premium: float = 0.0,
    serve_orders: float = 0.0,
    funded: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mothballing: excess capacity that cannot earn its cash costs leaves the market, and comes back when it can.

    A running plant whose bloc's price (or the state price floor it holds, where higher) has stayed below its
    ``cash_cost`` for ``after_quarters`` quarters in a row goes on care and maintenance: it offers nothing
    (``set_potential``) and pays only 1 - ``fixed_cost_saved`` of its fixed cost (``account``). A mothballed plant
    restarts in the quarter its bloc's price covers its cash cost again, or with ``restart_premium`` p > 0 its cash
    cost x (1 + p): the restart trigger above the exit trigger (Dixit 1989), so that a price hovering at the cash
    cost does not cycle a plant in and out. The shut-down rule (``set_potential``)
    idles a plant for a quarter on its variable cost; this rule takes out capacity that a lasting glut leaves
    without a margin over its avoidable costs (Mountain Pass went on care and maintenance in 2015-2017 with
    NdPr oxide below its costs; China's smaller separators closed in the 2015-2016 glut). Plants not yet
    qualified (magnet plants in buyer qualification) are left alone. ``after_quarters`` 0: no mothballing.
    With ``serve_orders`` u > 0 (``markets.max_utilisation`` where ``markets.mothball_serves_orders``) a bloc-stage's
    plants due for care and maintenance go dearest cash cost first, and only as long as the plants left running (at
    nameplate x u x quality a quarter), with the spare output of the other blocs' plants, can still make last quarter's
    orders on the bloc-stage (:func:`keep_to_serve`): the cheaper ones due stay on, their count carried, as the dearer
    ones' leaving lifts the price. 0: every plant due goes, whatever is left (the rule before).
    ``funded``: (n,) bool, the rows whose firm can finance a restart (:func:`restart_funded`); a mothballed plant whose
    firm cannot stays on care and maintenance, its price test passed or not. None: every firm can (the rule before).
    Returns (rows mothballed, rows restarted) this quarter."""
    none = np.zeros(0, dtype=np.int64)
    if after_quarters <= 0:
        return none, none
    seen = cell(price, pop.bloc, pop.stage)
    if row_floor is not None:
        np.maximum(seen, row_floor, out=seen)
    cost = cash_cost(pop, T, fixed_cost_saved, target_utilisation)
    covered = seen >= cost
    running = pop.operating & pop.qualified & ~pop.mothballed
    # the counters in place, in their own type: one more quarter where uncovered, 0 elsewhere
    uncovered_q, idle_q = pop.uncovered_q, pop.idle_q
    uncovered_q += 1
    uncovered_q *= running & ~covered
    shut = running & (uncovered_q >= after_quarters)
    if serve_orders > 0.0 and shut.any():
        shut &= ~keep_to_serve(pop, running, shut, cost, serve_orders)
    cleared = seen >= (1.0 + restart_premium) * cost if restart_premium > 0.0 else covered  # the restart trigger
    restart = pop.operating & pop.mothballed & cleared
    if funded is not None:
        restart &= funded
    pop.mothballed = (pop.mothballed | shut) & ~restart & pop.operating
    np.copyto(uncovered_q, 0, where=shut)
    idle_q += 1  # quarters on care and maintenance, this one counted
    idle_q *= pop.mothballed
    return np.flatnonzero(shut), np.flatnonzero(restart)


def restart_funded(
    pop: FirmPopulation,
    T,
    fin,
    price: np.ndarray,
    max_utilisation: float,
    row_floor: np.ndarray | None = None,
    rd_factor: np.ndarray | None = None,
    with_margin: bool = False,
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """(n,) bool (``rows``: of those rows only): whether each firm could finance restarting its plant this quarter,
    by the lending rule of :func:`account`. A restart ties up working capital at once (``working_capital_held`` of the quarter's sales at
    the plant's potential output, capacity / 4 x ``max_utilisation`` x quality, at its bloc's price or the state
    floor it holds) and brings back the full fixed cost; lenders lend against plant, construction in progress and
    working capital up to the leverage limit (plus any credit benefit). The firm can restart when its cash and that
    credit room cover the working capital the restart ties up, a quarter's fixed cost and a quarter's interest: the
    restart is financed before it starts, not out of the quarter's sales. Without the test, 34 firms in 19 of the 27
    runs of the nine rare-earth scenarios (seeds 1-3) restarted and were insolvent in the same quarter, their plants
    lost just as the price came back (docs/ODD.md 7.1).

    ``with_margin`` (``markets.restart_counts_margin``): the quarter's operating margin at potential output counts too
    (sales less the plant's unit cost, the full fixed cost, a quarter's interest and the R&D its propensity spends on
    those sales, x ``rd_factor`` of its bloc where China's R&D deduction raises it, :func:`account`; after the firm's
    tax rate where positive), and the restart must leave the cash buffer the accounts keep
    (``min_cash_quarters_of_fixed_cost`` quarters of the fixed cost): a restart at a price far above its cost pays
    for itself within the quarter."""
    at = slice(None) if rows is None else rows
    b, s, cap, cash, debt = pop.bloc[at], pop.stage[at], pop.capacity_t[at], pop.cash[at], pop.debt[at]
    seen = cell(price, b, s)
    if row_floor is not None:
        np.maximum(seen, row_floor[at], out=seen)
    output_t = cap / 4.0 * max_utilisation * pop.quality[at]  # t a quarter
    revenue_q = output_t * seen / 1000.0  # M USD a quarter
    held = pop.working_capital[at]
    tie_up = np.maximum(working_capital_held(fin, revenue_q) - held, 0.0)
    room = (T.leverage_max[b] + pop.credit_bonus[at]) * (pop.book_assets[at] + pop.cip[at] + held + tie_up) - debt
    fixed_q = cell(T.fixed_cost_musd_per_kt, b, s) * cap / 1000.0 / 4.0
    interest_q = debt * np.maximum(T.interest_rate[b] - pop.interest_subsidy[at], 0.0) / 4.0
    if not with_margin:
        return cash + np.maximum(room, 0.0) >= tie_up + fixed_q + interest_q
    rd = pop.rd_propensity[at] if rd_factor is None else pop.rd_propensity[at] * rd_factor[b]
    margin_q = revenue_q - output_t * pop.unit_cost_usd_per_kg[at] / 1000.0 - fixed_q - interest_q - rd * revenue_q
    margin_q = np.where(margin_q > 0.0, margin_q * (1.0 - pop.tax_rate[at]), margin_q)
    return cash + np.maximum(room, 0.0) + margin_q >= tie_up + fin.min_cash_quarters_of_fixed_cost * fixed_q


def keep_to_serve(pop: FirmPopulation, running: np.ndarray, due: np.ndarray, cost: np.ndarray, max_utilisation: float) -> np.ndarray:
    """(n,) the plants ``due`` for care and maintenance that stay on (:func:`mothball` with ``serve_orders``). At each
    stage, the orders last quarter on a bloc's running plants less what its running plants not due can make (potential
    output: capacity / 4 x ``max_utilisation`` x quality) and less the spare output of the other blocs' running plants not
    due (potential less their own orders), is what the bloc's due plants must still make: its cheapest due plants (by
    ``cost``, the cash cost; ties by row) stay on until they cover it, the first one that covers it included. The rest go.
    A bloc whose buyers can turn to spare plants abroad keeps none."""
    keep = np.zeros(len(due), dtype=bool)
    pot = pop.capacity_t / 4.0 * max_utilisation * pop.quality
    stays = running & ~due
    for s in np.unique(pop.stage[due]):
        at = running & (pop.stage == s)
        blocs = pop.bloc[at]
        n = int(blocs.max()) + 1
        orders = np.bincount(blocs, weights=pop.orders_t[at], minlength=n)
        made = np.bincount(blocs, weights=np.where(stays[at], pot[at], 0.0), minlength=n)
        spare = np.bincount(blocs, weights=np.where(stays[at], np.maximum(pot[at] - pop.orders_t[at], 0.0), 0.0), minlength=n)
        for b in np.unique(pop.bloc[due & (pop.stage == s)]):
            need = orders[b] - made[b] - (spare.sum() - spare[b])
            if need <= 0.0:
                continue
            rows = np.flatnonzero(due & at & (pop.bloc == b))
            rows = rows[np.argsort(cost[rows], kind="stable")]
            before = np.concatenate(([0.0], np.cumsum(pot[rows])[:-1]))  # potential of the cheaper due plants kept before each
            keep[rows[before < need]] = True
    return keep


def learn(pop: FirmPopulation, T, knowhow_ramp_effect: float, ramp_multiplier_extra: np.ndarray | None = None, on_throughput: bool = False) -> None:
    """Cumulative output grows; quality closes its gap to 1 with output (MODEL.md 5.2).

    q <- 1 - (1 - q) exp(-x / (ramp_years x capacity x m)), where m is the
    bloc-stage ramp multiplier (missing know-how), reduced by the firm's knowledge
    per kt of capacity, and x the quarter's sellable output, or with ``on_throughput`` what the plant
    processed for it, output / q (off-specification batches teach as much as good ones: yield learning
    runs on volume processed, Hatch and Mowery 1998).
    """
    pop.cum_output_t += pop.output_t
    cap = np.maximum(pop.capacity_t, 1e-9)
    mult = cell(T.ramp_multiplier, pop.bloc, pop.stage)
    if ramp_multiplier_extra is not None:
        mult *= cell(ramp_multiplier_extra, pop.bloc, pop.stage)
    mult = mult / (1.0 + knowhow_ramp_effect * pop.knowledge / (cap / 1000.0))
    scale = np.take(T.quality_ramp_years, pop.stage) * cap * mult
    done = pop.output_t
    if on_throughput:
        done = np.divide(done, pop.quality, out=np.zeros_like(scale), where=pop.quality > 0)
    gap = (1.0 - pop.quality) * np.exp(-np.divide(done, scale, out=np.zeros_like(scale), where=scale > 0))
    np.subtract(1.0, gap, out=gap)
    np.copyto(pop.quality, gap, where=pop.operating)


def working_capital_held(fin, revenue_q):
    """M USD of working capital (receivables and stocks less supplier credit) the accounts hold against a quarter's
    revenue ``revenue_q`` (M USD): ``fin.working_capital_share`` x that revenue at an annual rate. One rule for the
    accounts (:func:`account`), both worlds' first balance sheets and a buyer's cash in an insolvency sale."""
    return fin.working_capital_share * 4.0 * revenue_q


def account(
    pop: FirmPopulation,
    T,
    step: int,
    fin,
    market_price: np.ndarray,
    revenue_adjust: np.ndarray | None = None,
    mothball_fixed_cost_saved: float = 0.0,
    row_price: np.ndarray | None = None,
    rd_tax: tuple[np.ndarray, np.ndarray] | None = None,
    rd_booked: np.ndarray | None = None,
    proc: np.ndarray | None = None,
) -> None:
    """One quarter of accounts (MODEL.md 3, step 3). ``proc``: the rows' processing cost (:func:`processing_cost`)
    where the caller has read it this quarter.

    Working capital (receivables and stocks less supplier credit) is ``fin.working_capital_share`` x this quarter's
    revenue at an annual rate; its change ties up (or releases) cash and lenders count it with plant.

    revenue = output x own-bloc price (or ``row_price``, USD/kg per row, where the firm sells in its own niche market: the national
    world) (less ``revenue_adjust``, M USD per row, if given); costs = inputs + processing + fixed + interest + R&D;
    fixed = fixed_cost_share x capex per kt x capacity, times 1 - ``mothball_fixed_cost_saved`` for a mothballed plant;
    R&D = min(propensity x revenue + R&D grants, funds available) (MODEL.md 5.3), with ``rd_tax`` = (factor, deduction),
    each (B,) per bloc (Tables.rd_tax_factor, Tables.rd_extra_deduction): min(propensity x factor x revenue + R&D grants,
    funds available), and the deduction x R&D taken off profit before tax (the additional deduction of R&D expense;
    with ``rd_booked``, per row R&D as booked per unit spent, the deduction x R&D x rd_booked: the expense relabelled as
    R&D is deducted again too, docs/ODD.md 7.15);
    depreciation is composite straight line: the book plant over the quarters of life left on it
    (``plant_life_left`` x depreciation quarters, the whole book in its last quarter; construction in
    progress is not depreciated; agents.investment.complete_construction blends a new plant's life in);
    tax on positive profit at the firm's rate; capex of projects under construction
    adds to construction in progress; borrowing covers a cash deficit up to the
    credit limit (leverage limit x (book assets + construction in progress + working capital)),
    surplus cash above the buffer repays debt; a share ``fin.payout_ratio`` of positive
    after-tax profit is paid out as dividends from cash above the buffer (firms do not
    hoard: the finance gate of the next project can bind).
    Identity per firm and quarter: d cash = revenue - costs - tax + grants - capex - working capital in
    + net borrowing - dividends + equity in (outside equity arrives at the finance gate, later
    in the same quarter, see agents.investment.finance_gate).
    A firm that borrows for more than ``fin.outside_finance_share`` of the quarter's capex is marked
    ``outside_finance`` for the year (an observation; see agents.investment.mark_outside_finance).
    With ``fin.target_capital_structure`` surplus cash repays debt only down to ``fin.target_debt_ratio`` and a firm at
    or below it with no project in its pipeline pays its owners the cash above ``fin.target_cash_months_of_revenue``
    (docs/ODD.md 7.4). The R&D staff share is 0.6 x the trailing four quarters' R&D over the wage bill, at most 0.9.

    Every row on its own, in one compiled pass over the rows (agents.kernels.account_rows: the formulas above in this
    order; tests/test_kernels.py checks its numbers bit for bit against the array code it replaced).
    """
    n = len(pop)
    if revenue_adjust is None:
        adjust = np.zeros(0)
    else:  # a scalar is every row's
        scalar = np.ndim(revenue_adjust) == 0
        adjust = np.full(n, revenue_adjust, dtype=np.float64) if scalar else np.ascontiguousarray(revenue_adjust, dtype=np.float64)
    factor, deduction = (np.zeros(0), np.zeros(0)) if rd_tax is None else rd_tax
    f64 = lambda a: np.ascontiguousarray(a, dtype=np.float64)  # noqa: E731  (the tables as the kernel reads them)
    kernels.account_rows(
        f64(market_price),
        f64(np.broadcast_to(T.fixed_cost_share, market_price.shape)),
        f64(np.broadcast_to(T.capex_musd_per_kt, market_price.shape)),
        f64(T.interest_rate),
        f64(T.leverage_max),
        f64(T.wage_musd_per_employee_year),
        f64(factor),
        f64(deduction),
        pop.phase,
        pop.bloc,
        pop.stage,
        pop.output_t,
        processing_cost(pop, T) if proc is None else np.ascontiguousarray(proc, dtype=np.float64),
        pop.capacity_t,
        pop.mothballed,
        pop.interest_subsidy,
        pop.proj_phase,
        pop.proj_remaining_q,
        pop.credit_bonus,
        pop.input_cost,
        pop.rd_propensity,
        pop.rd_grants,
        pop.plant_life_left,
        pop.grants,
        pop.tax_rate,
        pop.employees,
        np.zeros(0) if row_price is None else np.ascontiguousarray(row_price, dtype=np.float64),
        adjust,
        np.zeros(0) if rd_booked is None else np.ascontiguousarray(rd_booked, dtype=np.float64),
        pop.debt,
        pop.proj_capex_left,
        pop.working_capital,
        pop.book_assets,
        pop.cip,
        pop.cash,
        pop.outside_finance,
        pop._data["rev_hist"],  # the whole rings (capacity rows, always Fortran-contiguous: one compiled signature)
        pop._data["rd_hist"],
        pop._data["prof_hist"],
        pop.revenue,
        pop.opex,
        pop.fixed_cost,
        pop.interest,
        pop.capex,
        pop.working_capital_in,
        pop.rd_spend,
        pop.costs,
        pop.depreciation,
        pop.tax,
        pop.profit,
        pop.net_borrowing,
        pop.dividends,
        pop.rd_staff_share,
        row_price is not None,
        revenue_adjust is not None,
        rd_tax is not None,
        rd_tax is not None and rd_booked is not None,
        float(mothball_fixed_cost_saved),
        working_capital_held(fin, 1.0),
        fin.depreciation_years * 4.0,
        float(fin.min_cash_quarters_of_fixed_cost),
        float(fin.repayment_share),
        target_structure_code(fin),
        float(fin.target_debt_ratio),
        fin.target_cash_months_of_revenue / 3.0,
        float(fin.payout_ratio),
        float(fin.outside_finance_share),
        step % HIST,
        np.array(trailing_slots(step), dtype=np.int64),  # the quarters ``trailing`` sums, in its order
    )


def target_structure_code(fin) -> int:
    """The account kernel's capital-structure rule: 0 none (``finance.target_capital_structure`` off), 1 the target
    capital structure, 2 with construction financed with debt up to the target ratio (``finance.target_borrowing``)."""
    if not fin.target_capital_structure:
        return 0
    return 2 if fin.target_borrowing else 1


def load_kernels(T, fin) -> None:
    """Compile the compiled rules (agents.kernels; the first time on a machine, about 8 s) or load them from
    their cache (about 0.3 s) now, on an empty population, so that the model's build pays for it and a quarter's time
    is the rules' own. No number changes."""
    empty = FirmPopulation()
    account(empty, T, 0, fin, np.zeros((T.B, T.S)))
    none, no_rows = np.zeros(0), np.zeros(0, dtype=bool)  # the national world's niche clearing, with its columns' types
    kernels.clear_niche_rows(empty.niche, none, 1.0, none, no_rows, none, none, 1.0, none, 1, none, none, none, False)
    e, z = empty, np.zeros(0)  # the supply sums (ChainModel.supply), with the population's column types
    kernels.supply_rows(e.bloc, e.stage, 1, e.phase, e.capacity_t, e.proj_phase, e.proj_nameplate_t, e.proj_added_t, z, z, z)
    kernels.quality_capacity_rows(e.bloc, e.stage, 1, e.phase, e.quality, e.capacity_t, z)  # (investment.quality_capacity)
    sums = np.zeros((len(kernels.FIRM_SUMS), 1))  # the recorder's sums (sim.engine.metrics.firm_sums)
    kernels.firm_sum_rows(
        e.bloc, e.stage, 1, e.phase, e.exit_step, 0, e.mothballed, e.proj_phase, e.capacity_t, e.proj_nameplate_t, e.proj_added_t,
        e.output_t, e.inputs_t, e.rd_spend, e.revenue, e.profit, e.unit_cost_usd_per_kg, e.patents_invention, e.patents_utility, sums,
    )  # fmt: skip
    processing_cost(empty, T)  # the processing cost, on every row and on some (the population's column types)
    processing_cost(empty, T, _NO_ROWS)
    knowledge = np.zeros(0)  # the innovation effort (innovate)
    kernels.innovation_effort_rows(e.phase, e.rd_spend, e.region, 1, e.group, 0, np.zeros(0), 0.0, 1.0, -1.0, 1.0, knowledge, knowledge, knowledge)
    none_rows = np.zeros(0, dtype=np.intp)
    flags, w = np.zeros(0, dtype=np.bool_), np.zeros(0)  # the national world's exits (sim.engine.national.market.enter_and_exit)
    kernels.exit_test_rows(e.phase, e.cash, e.book_assets, e.cip, e.working_capital, e.debt, e.neg_equity_quarters, 1, w, flags, w)
    kernels.exit_pick_rows(e.phase, flags, w, w, 0.0, 1.0, none_rows)
    grid, table = np.zeros((0, 0)), np.zeros((5, 0, 0, 2))  # the projects' phases (agents.investment.advance_projects)
    kernels.advance_project_rows(
        0, e.phase, e.bloc, e.stage, e.proj_phase, e.proj_remaining_q, e.proj_nameplate_t, e.proj_rampup_q, e.proj_added_t,
        e.proj_wait_q, e.proj_greenfield, e.proj_u, e.capacity_t, e.book_assets, e.cip, e.plant_life_left, e.quality, e.qualified,
        e.niche_start_step, e.employees, table, z, grid, grid, grid, np.zeros(0, dtype=np.bool_), z,
        np.zeros((5, 0), dtype=np.int64), np.zeros(5, dtype=np.int64),
    )  # fmt: skip
    tiers, key = np.zeros((len(kernels.TIER_SUMS), len(Tier))), np.zeros((len(kernels.TIER_SUMS), 1))  # the policy recorder's
    no = np.zeros(0, dtype=bool)
    kernels.tier_sum_rows(
        e.bloc, e.tier, len(Tier), no, no, e.key_lg, e.patents_invention, e.patents_utility, e.finance_constrained,
        e.outside_finance, e.rd_spend, e.revenue, tiers, key,
    )  # fmt: skip
    flags, values = np.zeros(len(Tier) + 1, dtype=np.bool_), np.zeros(len(Tier) + 1)  # the benefits (Government.apply_benefits)
    kernels.benefit_rows(
        no, e.stage, e.tier, e.key_lg, z, z, z, z, z, z, False, np.zeros(1, dtype=np.bool_), 1.0, 0.25, 0.05, flags, flags,
        values, values, values, values, values, values, values, 0.0, z, z, z, z, z, z, z, z, z, z, z, z,
    )  # fmt: skip
    for arr in empty._data.values():  # the compaction's row moves, for the kinds of column there are
        _compact_rows(arr, 0, np.zeros(0, dtype=np.int64))


def innovate(pop: FirmPopulation, T, inn, rng: np.random.Generator, year_slot: int, group_sharing: np.ndarray) -> None:
    """R&D -> knowledge (with regional and group spillovers), process innovation, patents (MODEL.md 5.3).

    K <- (1 - delta) K + R&D + regional spillover + group sharing;
    P(process innovation) = 1 - exp(-zeta x effective R&D / scale), cost x (1 - x), x ~ max x Beta(a, b);
    patents ~ Poisson(rate x R&D), invention and utility separately, into ``year_slot`` (``patent_slot``), in force
    for patent_life_years (invention) and utility_patent_life_years (utility).
    Draws are made for every row in a fixed order so that the stream does not depend on outcomes.
    """
    n = len(pop)
    # R&D, effective R&D and knowledge in one compiled pass (agents.kernels.innovation_effort_rows: the formulas above
    # in this order; tests/test_kernels.py checks its numbers bit for bit against the array code it replaced)
    rd, p_success = np.empty(n), np.empty(n)
    kernels.innovation_effort_rows(
        pop.phase,
        pop.rd_spend,
        pop.region,
        len(T.regions),
        pop.group,
        len(T.groups),
        np.ascontiguousarray(group_sharing, dtype=np.float64),
        float(inn.regional_spillover),
        1.0 - inn.knowledge_depreciation,
        -inn.zeta,
        float(inn.innovation_scale_musd),
        pop.knowledge,
        rd,
        p_success,
    )
    u = rng.random(n)
    x = rng.beta(inn.cost_cut_beta[0], inn.cost_cut_beta[1], size=n)
    np.exp(p_success, out=p_success)
    np.subtract(1.0, p_success, out=p_success)
    success = np.flatnonzero((u < p_success) & pop.operating)
    pop.innovation_factor[success] *= 1.0 - inn.cost_cut_max * x[success]
    # a zero rate draws nothing from the stream (numpy's Poisson returns 0 without a draw), so only positive R&D draws
    has = np.flatnonzero(rd != 0.0)
    mult = per_row(T.patent_multiplier, pop.bloc[has])
    rd_has = rd[has]
    inv = rng.poisson(inn.invention_patents_per_musd * mult * rd_has)
    util = rng.poisson(inn.utility_patents_per_musd * mult * rd_has)
    # each row once: np.add.at on the cohort's column adds as ``col[has] += x`` does, without the two-index gather and scatter
    np.add.at(pop.pat_inv[:, year_slot], has, inv.astype(pop.pat_inv.dtype))
    np.add.at(pop.pat_util[:, year_slot], has, util.astype(pop.pat_util.dtype))


def patent_slot(year_index: int, slots: int) -> int:
    """The cohort slot of the patents granted in year ``year_index`` of the run (0: the start year; negative: before
    it) in a ring of ``slots`` years (``FirmPopulation.patent_slots``), as long as the longest patent term or longer:
    a cohort's slot is reused only in the year it lapses (:func:`expire_patents` empties it first)."""
    return year_index % slots


def patent_slots_for(inn) -> int:
    """The patent ring a run needs (``innovation``: a world's InnovationConfig): the longest of its two patent terms,
    in years. Cohorts granted ``life`` or more years ago have lapsed, so no two cohorts in force share a slot."""
    return max(int(inn.patent_life_years), int(inn.utility_patent_life_years), 1)


def lapse_patents(pop: FirmPopulation, lapse_per_year: np.ndarray, rng: np.random.Generator, year_index: int) -> None:
    """Patents let lapse before their term, as holders stop paying the annual fees: each patent in force is dropped
    this year with its holder's bloc's ``lapse_per_year`` (a binomial thinning of each nonzero cohort, both classes).
    A bloc with 0 keeps its patents to term; where every bloc has 0 nothing is drawn. The draws go row by row, and
    within a row cohort by cohort in the order of their years modulo PATENT_SLOTS (:func:`lapse_order`), whatever the
    ring's length: a run's numbers do not depend on how many slots its ring holds."""
    if not lapse_per_year.any():
        return
    keep = 1.0 - lapse_per_year
    order = lapse_order(year_index, pop.patent_slots)
    same = bool((order == np.arange(len(order))).all())
    for arr in (pop.pat_inv, pop.pat_util):
        # the rows holding any patent, then their nonzero cohorts in row-major order (as np.nonzero gives them): most
        # firms hold none, and a nonzero test on booleans is several times faster than on the counts
        held = np.flatnonzero(_row_sums(arr))
        if not held.size:
            continue
        sub = np.take(arr, held, axis=0)
        if not same:
            sub = np.ascontiguousarray(sub[:, order])
        flat = sub.reshape(-1)
        nz = np.flatnonzero(flat > 0)
        flat[nz] = rng.binomial(flat[nz], per_row(keep, pop.bloc[held[nz // arr.shape[1]]])).astype(arr.dtype, copy=False)
        if not same:
            sub = sub[:, np.argsort(order)]
        arr[held] = sub


def lapse_order(year_index: int, slots: int) -> np.ndarray:
    """(slots,) the ring's slots in the order :func:`lapse_patents` draws their cohorts at the start of year
    ``year_index``: by the cohort's year modulo PATENT_SLOTS, the slot it would hold in a ring of PATENT_SLOTS years
    (the ring every population held before each was sized to its patent terms; with that ring this is the slots'
    own order). Slot j holds the cohort of the year in (year_index - slots, year_index] that is j modulo ``slots``."""
    j = np.arange(slots)
    years = year_index - (year_index - j) % slots
    return np.argsort(years % PATENT_SLOTS, kind="stable")


def expire_patents(pop: FirmPopulation, year_index: int, invention_life: int, utility_life: int) -> None:
    """At the start of year ``year_index`` the invention cohort granted ``invention_life`` years ago and the utility
    cohort granted ``utility_life`` years ago lapse (each class in force for its own term)."""
    slots = pop.patent_slots
    pop.pat_inv[:, patent_slot(year_index - invention_life, slots)] = 0
    pop.pat_util[:, patent_slot(year_index - utility_life, slots)] = 0
