"""The figure style of every plot of the project (report, notebooks, sensitivity, calibration, exploration).

    from sim.research.style import figure, save, date_axis, to_dates, scenario_colors, instrument_colors, stage_unit

    fig, axes = figure(2, 2, width="column", height=4.0)          # a Figure (no pyplot) in the project's style
    x = to_dates(ts["time"])                                      # decimal years (2025.25 = 2025 Q2) as dates
    axes[0, 0].plot(x, y, color=scenario_colors(["baseline"])["baseline"], ls=BLOC_STYLES["west"])
    date_axis(axes[0, 0])                                         # AutoDateLocator + ConciseDateFormatter, label "time (calendar year)"
    axes[0, 0].set_ylabel(f"capacity ({stage_unit('separation', 'kt/yr')})")   # "capacity (kt NdPr oxide/yr)"
    save(fig, "out/capacity.png")                                 # out/capacity.png and out/capacity.pdf

One palette for scenarios (saturated colours, a fixed colour per scenario name so that a scenario looks the same in
every figure whatever else the figure holds), one for instruments of public money (light colours) and one for
designation tiers (purples): no colour belongs to two of them. Blocs are line styles (:data:`BLOC_STYLES`), never
colours. Sizes are a journal's column widths (:data:`WIDTHS`: ``column`` 3.5 in, ``double`` 7.2 in) or a slide
(``slide`` 10 in), with fonts sized for them (:data:`RC`, applied by :func:`figure` while the figure is built). Dates
use matplotlib's own locator and concise formatter. Every axis label ends with its unit in parentheses
(:func:`has_unit`); an axis of categories (stages, scenarios) has a label without one.
"""

from __future__ import annotations

import functools
import io
import math
import os
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

import matplotlib
import numpy as np
from matplotlib import dates as mdates
from matplotlib.category import StrCategoryFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import FixedFormatter, FixedLocator, FuncFormatter

from sim.checks import ConfigError, path_argument

# --------------------------------------------------------------------------------------------------
# Palettes
# --------------------------------------------------------------------------------------------------
# Scenarios: saturated, colour-blind-safe hues (Okabe and Ito 2008, then Tol's muted scheme), fixed per name.
SCENARIO_PALETTE = {
    "baseline": "#0072B2",  # blue
    "west_coordinated": "#D55E00",  # vermillion
    "china_without_tiers": "#009E73",  # bluish green
    "export_control_shock": "#CC79A7",  # reddish purple
    "export_controls_full": "#E69F00",  # orange
    "no_export_controls": "#56B4E9",  # sky blue
    "laissez_faire": "#000000",  # black
    "export_quota_2010": "#882255",  # wine
    "national_programme": "#117733",  # green
    "west_enacted": "#AA4499",  # purple (Tol): apart from the main experiment's blue, vermillion and green
}
# for scenario names not listed above, in order of appearance
SCENARIO_SPARE = ("#332288", "#999933", "#44AA99", "#661100", "#6699CC", "#888800", "#994455")
# Instruments of public money (policy.parquet fiscal_musd keys): light colours (ColorBrewer Set3, then Pastel2), none a
# scenario's; agencies (agency:NAME) take the next free one in order of appearance.
INSTRUMENT_ORDER = (
    "grants",
    "key_grants",
    "tax_expenditure",
    "interest_subsidy",
    "talent_subsidy",
    "group_rescue",
    "group_rd_fund",
    "group_incubation",
    "sponsored_projects",
    "price_floor",
)
INSTRUMENT_SPARE = (
    "#8DD3C7",
    "#FFFFB3",
    "#BEBADA",
    "#FB8072",
    "#80B1D3",
    "#FDB462",
    "#B3DE69",
    "#FCCDE5",
    "#D9D9D9",
    "#BC80BD",
    "#CCEBC5",
    "#FFED6F",
    "#B3E2CD",
    "#FDCDAC",
    "#CBD5E8",
    "#F4CAE4",
    "#E6F5C9",
    "#FFF2AE",
    "#F1E2CC",
)
# Designation tiers (Purples): innovation-type, SRDI, Little Giant, from light to dark
TIER_PALETTE = {"innovation_type": "#9E9AC8", "srdi": "#6A51A3", "little_giant": "#3F007D", "key_little_giant": "#3F007D", "none": "#BDBDBD"}
# Sensitivity factors (sim/research/sensitivity.py): policy levers, uncertain parameters, and the first-order bars
FACTOR_PALETTE = {"lever": "#4B0092", "uncertain": "#B07AA1", "first_order": "#CCCCCC"}
# Blocs are line styles; the coordinated bloc solid
BLOC_STYLES = {"china": "-", "west": "--", "rest_of_world": ":"}
SPARE_STYLES = ("-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)))
SHADE = "0.55"  # grey of shaded windows and reference ranges (no palette's)

# --------------------------------------------------------------------------------------------------
# Units: what a tonne is at each stage (MODEL.md 2; docs/ODD.md "Stages")
# --------------------------------------------------------------------------------------------------
STAGE_PRODUCTS = {"mining": "REO", "separation": "NdPr oxide", "metal": "NdPr metal", "magnet": "NdFeB magnet"}
STAGE_PRODUCT_NOTES = {
    "mining": "rare-earth oxide content of the concentrate",
    "separation": "separated NdPr oxide (5 t REO per t)",
    "metal": "NdPr metal (1.2 t oxide per t)",
    "magnet": "sintered NdFeB magnet (0.3 t metal per t)",
}


def stage_unit(stage: str, unit: str = "t") -> str:
    """``unit`` with the stage's product: ``stage_unit("separation", "kt/yr")`` -> ``"kt NdPr oxide/yr"``,
    ``stage_unit("mining", "USD/kg")`` -> ``"USD/kg REO"``. A stage not in :data:`STAGE_PRODUCTS` gets "of product"."""
    product = STAGE_PRODUCTS.get(str(stage), "of product")
    if "/" in unit and unit.split("/", 1)[0] in ("t", "kt", "Mt"):  # a rate: the product after the mass
        mass, per = unit.split("/", 1)
        return f"{mass} {product}/{per}"
    if unit.startswith("USD/"):
        return f"{unit} {product}"
    return f"{unit} {product}"


def units_note(stages: Iterable[str]) -> str:
    """One sentence for a caption: what a tonne is at each of ``stages``."""
    parts = [f"{s}: {STAGE_PRODUCT_NOTES.get(str(s), 't of product')}" for s in stages]
    return "A tonne is, by stage, " + "; ".join(parts) + "."


# --------------------------------------------------------------------------------------------------
# Colours and styles per key
# --------------------------------------------------------------------------------------------------
def _unique(values: Iterable[Any]) -> list[str]:
    """The distinct values in order of appearance, as strings (a pandas column is reduced by pandas first). One name
    given as a string is refused: its letters are not names."""
    if isinstance(values, str):
        raise ConfigError("names", f"must be a list of names or a column, got the string {values!r}: write [{values!r}]")
    if hasattr(values, "unique"):
        values = values.unique()
    return list(dict.fromkeys(str(v) for v in values if not (isinstance(v, float) and math.isnan(v))))


def scenario_colors(scenarios: Iterable[str]) -> dict[str, str]:
    """A colour per scenario: its own from :data:`SCENARIO_PALETTE`, else the next spare one. Baseline first."""
    names = _unique(scenarios)
    names = (["baseline"] if "baseline" in names else []) + [s for s in names if s != "baseline"]
    spare = iter(c for c in SCENARIO_SPARE)
    return {s: SCENARIO_PALETTE[s] if s in SCENARIO_PALETTE else next(spare, "#555555") for s in names}


def instrument_colors(instruments: Iterable[str]) -> dict[str, str]:
    """A colour per instrument of public money, in :data:`INSTRUMENT_ORDER` then order of appearance; light colours
    that no scenario has."""
    names = _unique(instruments)
    ordered = [i for i in INSTRUMENT_ORDER if i in names] + [i for i in names if i not in INSTRUMENT_ORDER]
    fixed = {i: INSTRUMENT_SPARE[k] for k, i in enumerate(INSTRUMENT_ORDER)}
    spare = iter(INSTRUMENT_SPARE[len(INSTRUMENT_ORDER) :])
    return {i: fixed[i] if i in fixed else next(spare, "#EEEEEE") for i in ordered}


def bloc_styles(blocs: Iterable[str]) -> dict[str, Any]:
    """A line style per bloc: :data:`BLOC_STYLES`, then spare ones."""
    spare = iter(SPARE_STYLES)
    return {b: BLOC_STYLES[b] if b in BLOC_STYLES else next(spare, "-") for b in _unique(blocs)}


# --------------------------------------------------------------------------------------------------
# Sizes, fonts and figures
# --------------------------------------------------------------------------------------------------
WIDTHS = {"column": 3.5, "double": 7.2, "slide": 10.0}  # inches: a journal's single and double column, a 16:9 slide
DPI = 200  # PNG resolution: a double-column figure is 1440 px wide
RC = {
    "font.size": 8.0,
    "axes.titlesize": 8.5,
    "axes.labelsize": 8.0,
    "xtick.labelsize": 7.0,
    "ytick.labelsize": 7.0,
    "legend.fontsize": 7.0,
    "legend.title_fontsize": 7.0,
    "figure.titlesize": 10.0,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
    "lines.linewidth": 1.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.fonttype": "none",
    "pdf.fonttype": 42,
}
SLIDE_SCALE = 1.4  # fonts of a slide figure, relative to RC


class StyledFigure(Figure):
    """A matplotlib Figure that renders itself as PNG in a notebook cell (no pyplot, no backend needed)."""

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=100)
        return buf.getvalue()


def rc(width: str | float = "double") -> dict[str, Any]:
    """The rc settings of a figure of that width (a slide's fonts larger)."""
    scale = SLIDE_SCALE if width == "slide" else 1.0
    return {k: v * scale if k.endswith("size") and isinstance(v, float) else v for k, v in RC.items()}


def width_in(width: str | float) -> float:
    """A figure width in inches: one of :data:`WIDTHS` or a positive number of inches."""
    if isinstance(width, str):
        if width not in WIDTHS:
            raise ConfigError("width", f"unknown width '{width}'; allowed: {', '.join(WIDTHS)} or inches")
        return WIDTHS[width]
    return _inches("width", width)


def _inches(name: str, value: Any) -> float:
    """``value`` as a positive, finite number of inches; ConfigError naming ``name`` otherwise."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = math.nan
    if isinstance(value, bool) or not (math.isfinite(x) and x > 0):
        allowed = f"one of {', '.join(WIDTHS)} or " if name == "width" else ""
        raise ConfigError(name, f"must be {allowed}a positive number of inches, got {value!r}")
    return x


def _height(height: Any, w: float) -> float:
    """The figure's height in inches: ``height`` if given (positive), else 0.62 x its width."""
    return 0.62 * w if height is None else _inches("height", height)


MAX_PANELS = 1_000  # panels in one figure: 30 x 30 takes about 6 s and 300 MB to build, and no page shows more


def figure(nrows: int = 1, ncols: int = 1, width: str | float = "double", height: float | None = None, **subplots_kw) -> tuple[Figure, np.ndarray]:
    """(figure, 2-D array of axes) in the project's style: ``width`` one of :data:`WIDTHS` or inches, ``height`` in
    inches (default: 0.62 x width), constrained layout. The fonts of :func:`rc` are fixed when the axes are made."""
    w = width_in(width)
    for name, n in (("nrows", nrows), ("ncols", ncols)):  # matplotlib's own error named neither argument
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ConfigError(name, f"must be a whole number >= 1 (panels in the grid), got {n!r}")
    if nrows * ncols > MAX_PANELS:  # was: matplotlib built every axes: 60 x 60 took 24 s and 1 GB, 1000 x 1000 ran out of memory
        raise ConfigError(
            "nrows",
            f"nrows x ncols must be at most {MAX_PANELS:,} panels in one figure (a page-wide figure shows far fewer); got {nrows} x {ncols}",
        )
    with matplotlib.rc_context(rc(width)):
        fig = StyledFigure(figsize=(w, _height(height, w)), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False, **subplots_kw)
    fig._style_rc = rc(width)  # noqa: SLF001 - read by styled() for texts added later
    return fig, axes


def blank(width: str | float = "double", height: float | None = None) -> Figure:
    """A figure without axes in the project's style (for subfigures or a custom grid: add them inside :func:`styled`)."""
    w = width_in(width)
    fig = StyledFigure(figsize=(w, _height(height, w)), layout="constrained")
    fig._style_rc = rc(width)  # noqa: SLF001
    return fig


def in_style(width: str | float = "double"):
    """Decorator: the function builds its figure inside the project's rc settings for that width (fonts of titles,
    labels and legends are fixed when the texts are made)."""

    def wrap(func):
        @functools.wraps(func)
        def styled_call(*args, **kwargs):
            with matplotlib.rc_context(rc(width)):
                return func(*args, **kwargs)

        return styled_call

    return wrap


def styled(fig: Figure):
    """A context in which texts added to ``fig`` (legends, titles) take the figure's fonts."""
    return matplotlib.rc_context(getattr(fig, "_style_rc", RC))


class NoFolder(ConfigError, FileNotFoundError):
    """The folder a figure is saved in does not exist: a one-line ConfigError that is also a FileNotFoundError."""


def save(fig: Figure, path: str | Path, formats: Sequence[str] = ("png", "pdf"), dpi: int = DPI) -> list[Path]:
    """Write ``fig`` as PNG and PDF (vector) beside each other, each atomically (a temporary file renamed); ``path``
    names the PNG (its suffix is replaced per format). Returns the paths written. The PDF carries no creation date, so
    the same figure gives the same file. The constrained layout is worked out for the first format and kept for the
    others (the same page in each file, without laying every text out again: about a quarter of a PDF's time); the
    figure keeps its layout engine afterwards."""
    if not isinstance(fig, Figure):
        raise ConfigError("fig", f"must be a matplotlib Figure (as style.figure returns), got {type(fig).__name__}")
    if isinstance(formats, str):
        raise ConfigError("formats", f"must be a list of file formats such as ['png', 'pdf'], got the string {formats!r}: write [{formats!r}]")
    known = fig.canvas.get_supported_filetypes()
    unknown = [f for f in formats if f not in known]
    if unknown or not formats:  # checked before the first file: an unknown second format left the first one written
        raise ConfigError("formats", f"must be a non-empty list of file formats, got {list(formats)!r}; allowed: {', '.join(sorted(known))}")
    path = path_argument(path, "path", "a file path such as out/capacity.png")
    if path.is_dir():  # the files went beside the folder, named after it (out.png, out.pdf)
        raise ConfigError(
            "path", f"'{path}' is a folder; allowed: a file path in it, such as {path / 'figure.png'} (its suffix is replaced per format)"
        )
    if not path.parent.is_dir():  # named as the user gave it, not as the temporary file beside it
        raise NoFolder("path", f"no directory {path.parent} to save {path.name} in; create it first")
    out = []
    engine = fig.get_layout_engine()
    try:
        for i, fmt in enumerate(formats):
            target = path.with_suffix(f".{fmt}")
            tmp = target.with_name(f".{target.name}.tmp.{fmt}")
            meta = {"CreationDate": None} if fmt == "pdf" else {"Date": None} if fmt == "svg" else {}
            if i == 1 and engine is not None:
                fig.set_layout_engine("none")  # the first format's layout, as it is
            with styled(fig):
                fig.savefig(tmp, format=fmt, dpi=dpi, metadata=meta or None)  # the first format's constrained layout fits the page
            os.replace(tmp, target)
            out.append(target)
    finally:
        if engine is not None and fig.get_layout_engine() is not engine:
            fig.set_layout_engine(engine)
    return out


# --------------------------------------------------------------------------------------------------
# Axes
# --------------------------------------------------------------------------------------------------
def to_dates(years: Any) -> np.ndarray:
    """Decimal years (2025.0 = 1 January 2025, 2025.25 = 1 April, as the runs' ``time``; whole years for yearly
    values) as ``datetime64[D]``, for matplotlib's date axes."""
    y = np.asarray(years, dtype=float)
    whole = np.floor(y)
    months = np.rint((y - whole) * 12.0)
    base = (whole - 1970.0) * 12.0 + months
    out = np.full(y.shape, np.datetime64("NaT", "D"), dtype="datetime64[D]")
    ok = np.isfinite(base)
    out[ok] = base[ok].astype("int64").astype("datetime64[M]").astype("datetime64[D]")
    return out


def to_years(dates: Any) -> np.ndarray:
    """The inverse of :func:`to_dates`: dates (datetime64, or what matplotlib gives back) as decimal years by month."""
    d = np.asarray(dates).astype("datetime64[M]").astype("int64")
    return 1970.0 + d // 12 + (d % 12) / 12.0


class SteadyDateLocator(mdates.AutoDateLocator):
    """Matplotlib's AutoDateLocator that works its ticks out once per view interval: the ticks depend on the interval
    alone (not on the axes' size), and a figure's constrained layout asks for them dozens of times per drawing (each
    call builds a new rrule locator and walks it); the same ticks, so the same figure, in less time."""

    def __call__(self):
        key = tuple(self.axis.get_view_interval())
        if self.__dict__.get("_ticks_for") != key:
            self._ticks, self._ticks_for = super().__call__(), key
        return self._ticks


class SteadyDateFormatter(mdates.ConciseDateFormatter):
    """Matplotlib's ConciseDateFormatter that formats a set of ticks once (only without an offset, which it sets as it
    formats): the labels depend on the tick values alone, and layout asks for them at every pass."""

    def format_ticks(self, values):
        key = tuple(np.asarray(values, dtype=float).tolist())
        if not self.show_offset and self.__dict__.get("_labels_for") == key:
            return list(self._labels)
        labels = super().format_ticks(values)
        self._labels, self._labels_for = list(labels), key
        return labels


def date_axis(ax, label: str | None = "time (calendar year)", axis: str = "x", maxticks: int = 7) -> None:
    """Matplotlib's AutoDateLocator with its ConciseDateFormatter on the axis (:class:`SteadyDateLocator` and
    :class:`SteadyDateFormatter`: the same ticks, worked out once per view): years that never run together. A span
    too short for the locator's yearly ticks (fewer than its 3) and too long for its monthly steps (19-35 months at
    ``maxticks`` 4: a 2-year run) gets a tick each January, where the locator's own steps (up to 6 months) would warn
    and crowd the axis."""
    locator = SteadyDateLocator(minticks=3, maxticks=maxticks)
    locator.intervald[mdates.MONTHLY] = [*locator.intervald[mdates.MONTHLY], 12]
    a = ax.xaxis if axis == "x" else ax.yaxis
    a.set_major_locator(locator)
    a.set_major_formatter(SteadyDateFormatter(locator, show_offset=False))
    if label is not None:
        (ax.set_xlabel if axis == "x" else ax.set_ylabel)(label)


_UNIT = re.compile(r"\(([^()]+)\)\s*$")


def has_unit(label: str) -> bool:
    """Whether an axis label ends with its unit in parentheses: ``"capacity (kt REO/yr)"``."""
    return bool(_UNIT.search(label or ""))


def is_categorical(axis) -> bool:
    """Whether an axis (``ax.xaxis``/``ax.yaxis``) shows categories (fixed tick labels, or matplotlib's string categories)
    rather than quantities."""
    fmt, loc = axis.get_major_formatter(), axis.get_major_locator()
    named = isinstance(fmt, (FixedFormatter, FuncFormatter)) and isinstance(loc, FixedLocator)  # set_ticks(ticks, labels)
    return named or isinstance(fmt, StrCategoryFormatter)


def hide_inner_labels(axes: np.ndarray, x: bool = True, y: bool = False) -> None:
    """On a grid of panels sharing an axis, keep its tick labels and label on the outer panels only."""
    nrows, ncols = axes.shape
    for i in range(nrows):
        for j in range(ncols):
            ax = axes[i, j]
            if x and i < nrows - 1 and axes[i + 1, j].get_visible():
                ax.tick_params(labelbottom=False)
                ax.set_xlabel("")
            if y and j > 0:
                ax.tick_params(labelleft=False)
                ax.set_ylabel("")


def axis_problems(fig: Figure) -> list[str]:
    """What is wrong with the figure's axes, as readable lines (empty when nothing is): tick labels that overlap a
    neighbour on a visible axis, an axis label, panel title or legend that runs into another or off the figure's edge,
    and an axis that shows tick labels without a label, or a quantity's label without its unit in parentheses. Draws
    the figure (Agg) to measure the texts."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    with styled(fig):
        canvas.draw()
    renderer = canvas.get_renderer()
    out = []
    texts = []  # the axis labels and titles of every panel: none may run into another
    for n, ax in enumerate(a for a in fig.axes if a.get_visible()):
        name = ax.get_title() or f"axes {n}"
        if ax.get_title():
            texts.append((f"{name}: title", ax.title.get_window_extent(renderer)))
        for which, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            labels = [t for t in (axis.get_ticklabels() + axis.get_ticklabels(minor=True)) if t.get_visible() and t.get_text().strip()]
            if not labels or not axis.get_visible():
                continue
            boxes = sorted((t.get_window_extent(renderer) for t in labels), key=lambda b: b.x0 if which == "x" else b.y0)
            for a, b in zip(boxes, boxes[1:]):
                gap = b.x0 - a.x1 if which == "x" else b.y0 - a.y1
                if gap < 1.0 and a.overlaps(b):
                    out.append(f"{name}: {which} tick labels overlap ({[t.get_text() for t in labels]})")
                    break
            label = axis.get_label_text()
            if label.strip():
                texts.append((f"{name}: {which} axis label '{label}'", axis.label.get_window_extent(renderer)))
            if not label.strip():
                out.append(f"{name}: {which} axis shows tick labels without a label")
            elif not is_categorical(axis) and not has_unit(label):
                out.append(f"{name}: {which} axis label '{label}' has no unit in parentheses")
    page = fig.bbox
    texts += [(f"legend {k}", leg.get_window_extent(renderer)) for k, leg in enumerate(fig.legends)]
    if fig.get_suptitle():
        texts.append(("the figure's title", fig._suptitle.get_window_extent(renderer)))  # noqa: SLF001 - no public getter
    for what, box in texts:
        if box.x0 < page.x0 - 0.5 or box.x1 > page.x1 + 0.5 or box.y0 < page.y0 - 0.5 or box.y1 > page.y1 + 0.5:
            out.append(f"{what} runs off the edge of the figure")
    for i, (what, box) in enumerate(texts):
        for other, obox in texts[i + 1 :]:
            if box.overlaps(obox):
                out.append(f"{what} runs into {other}")
    return out
