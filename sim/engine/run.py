"""One simulation as a plain function of a validated config: ``run(cfg)``.

The Hydra entry (sim.cli) and tests call this; it builds the model, steps it to
the horizon, and (unless ``output.write`` is false) writes the run directory.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from sim.checks import ConfigError
from sim.config import Config, check_config, override_list
from sim.config.sizes import run_bytes
from sim.engine import allocator, numerics, output
from sim.engine.model import ChainModel
from sim.progress import Progress


@dataclass
class RunResult:
    model: ChainModel
    summary: dict[str, Any]
    run_dir: Path | None
    wall_time_s: float

    def timeseries(self) -> pd.DataFrame:
        return self.model.recorder.timeseries()

    def firms(self) -> pd.DataFrame:
        return self.model.recorder.firm_panel()

    def events(self) -> pd.DataFrame:
        return self.model.recorder.events()


def progress_line(model: ChainModel) -> str:
    """One line of run progress: date, firms by bloc, magnet prices and self-sufficiency."""
    T, pop = model.tables, model.pop
    y = model.world.start_year + model.quarter // 4
    parts = [f"{y}Q{model.quarter % 4 + 1}"]
    ser = model.recorder.series
    for b, bloc in enumerate(T.blocs):
        firms = int(((pop.bloc == b) & pop.operating).sum())
        ss = ser["self_sufficiency"][-1][b] if ser["self_sufficiency"] else np.full(T.S, np.nan)
        price = model.markets.price[b, -1]
        parts.append(f"{bloc}: {firms} firms, {T.stages[-1]} {price:.0f} USD/kg, self-suff " + "/".join(f"{x:.2f}" for x in ss))
    return "  ".join(parts)


def run(cfg: Config, overrides: list[str] | None = None, progress: Callable[[str], None] | None = None) -> RunResult:
    """Run one simulation to the horizon and (optionally) write its directory.

    ``cfg`` is checked again first (types and every rule of validation), so that a config edited after
    ``compose`` fails with one ConfigError naming the key, not deep inside the model. The directory is checked
    before the model is built (ConfigError: an ``output.dir`` that holds a run without ``output.overwrite``, a path
    that cannot be written, a disk without room) and written in a hidden temporary sibling that is renamed into place
    when the run is complete (sim.engine.output.RunWriter); a run that raises leaves nothing behind."""
    started = time.time()
    check_config(cfg)
    overrides = override_list(overrides)  # what the manifest records: a list of strings (None: [])
    if progress is not None and not callable(progress):
        raise ConfigError(
            "progress", f"must be a function that takes one line of text (e.g. print), or None, got {progress!r} (cfg.progress turns the display on)"
        )
    allocator.choice()  # a bad LITTLE_GIANTS_MALLOC fails here, before anything is written
    writer = None
    if cfg.output.write:
        writer = output.RunWriter.for_config(cfg)
        try:
            output.check_free_space(writer.final, "output.dir" if cfg.output.dir else "output.root", 2 * run_bytes(cfg))
        except BaseException:
            writer.discard()
            raise
    try:
        result = _run(cfg, overrides, progress, started, writer)
    except BaseException:
        if writer is not None:
            writer.discard()
        raise
    if writer is not None:
        result.run_dir = writer.commit()
    return result


def _run(cfg: Config, overrides: list[str] | None, progress: Callable[[str], None] | None, started: float, writer) -> RunResult:
    if cfg.national is not None:
        return _run_national(cfg, overrides, progress, started, writer)
    model = ChainModel(cfg)
    stage = _step_to_horizon(model, cfg, progress, writer, progress_line, lambda m: m.quarter % 20 == 19 or m.steps == m.n_steps)
    summary = model.recorder.summary()
    wall = time.time() - started
    summary["wall_time_s"] = round(wall, 3)
    if stage is not None:
        rec = model.recorder
        output.write_parquet(stage / "timeseries.parquet", rec.timeseries())
        if cfg.output.firm_panel:
            output.write_parquet(stage / "firms.parquet", rec.firm_panel())
        output.write_parquet(stage / "events.parquet", rec.events())
        output.write_parquet(stage / "policy.parquet", rec.policy.frame())
        _finish(stage, cfg, model, summary, overrides, started)
    return RunResult(model=model, summary=summary, run_dir=stage, wall_time_s=wall)


def _step_to_horizon(model, cfg: Config, progress: Callable[[str], None] | None, writer, line: Callable, say_now: Callable) -> Path | None:
    """Step a model to its horizon under the project's progress display (sim/progress.py: a bar over the quarters on a
    terminal, the lines alone otherwise; a caller's ``progress`` callable receives the same lines instead), after
    writing config.yaml into the run's staging directory when there is one (returned; None: nothing written)."""
    display = Progress(total=model.n_steps, unit="quarter", enabled=cfg.progress and progress is None)
    say = progress or display.line
    talk = bool(progress or cfg.progress)
    with display:
        stage = None
        if writer is not None:
            stage = writer.path
            output.write_text(stage / "config.yaml", output.config_yaml(cfg))
            if talk:
                say(f"run directory: {writer.final}")
        while model.running and model.steps < model.n_steps:
            model.step()
            display.advance()
            if talk and say_now(model):
                say(line(model))
    return stage


def _finish(stage: Path, cfg: Config, model, summary: dict[str, Any], overrides: list[str] | None, started: float) -> None:
    """summary.json, then the manifest (last: a run directory with a manifest is complete)."""
    output.write_json(stage / "summary.json", summary)
    extra = {
        "n_quarters": model.steps,
        "firms_ever": int(model.pop.next_id),
        "numpy_dispatch": numerics.dispatch_record(),
        "allocator": allocator.record(),  # the C allocator's settings (sim.engine.allocator): they change no number
        **output.file_record(stage),
    }
    output.write_json(stage / "manifest.json", output.manifest(cfg.seed, cfg.scenario.name, overrides or [], started, "complete", extra))


def _run_national(cfg: Config, overrides: list[str] | None, progress: Callable[[str], None] | None, started: float, writer) -> RunResult:
    """A national run (sim.engine.national): the same progress display and run directory, with the national outputs:
    national.parquet (yearly series), provinces.parquet and sectors.parquet (firms by tier; the sectors' markets too), reviews.parquet (by tier and
    cohort), events.parquet (the programme's events), firms.parquet (the sampled panel, when ``national.sample_firms``)."""
    from sim.engine.national.model import NationalModel

    model = NationalModel(cfg)
    stage = _step_to_horizon(model, cfg, progress, writer, national_progress_line, lambda m: m.quarter % 4 == 3)
    summary = model.summary()
    wall = time.time() - started
    summary["wall_time_s"] = round(wall, 3)
    if stage is not None:
        rec = model.recorder
        output.write_parquet(stage / "national.parquet", rec.timeseries())
        output.write_parquet(stage / "provinces.parquet", rec.provinces())
        output.write_parquet(stage / "sectors.parquet", rec.sectors())
        output.write_parquet(stage / "reviews.parquet", rec.review_table())
        output.write_parquet(stage / "events.parquet", rec.events())
        if cfg.national.sample_firms > 0:
            output.write_parquet(stage / "firms.parquet", rec.firm_panel())
        _finish(stage, cfg, model, summary, overrides, started)
    return RunResult(model=model, summary=summary, run_dir=stage, wall_time_s=wall)


def national_progress_line(model) -> str:
    """One line of a national run's progress: the year, firms and title holders by tier."""
    c = model.tier_counts()
    y = model.national.start_year + model.quarter // 4
    return (
        f"{y}: {c['firms']:,} firms; innovation-type {c['innovation_type']:,}, SRDI {c['srdi']:,}, "
        f"Little Giants {c['little_giant']:,} (key {c['key_little_giant']:,})"
    )


def summary_table(result: RunResult) -> str:
    """A short end-of-run table per bloc and stage (a national run: the pyramid by year)."""
    if result.model.cfg.national is not None:
        return national_summary_table(result)
    m = result.model
    T = m.tables
    s = result.summary
    ts = m.recorder.series
    cap = ts["capacity_t"][-1]
    share = ts["capacity_share"][-1]
    lines = [
        f"scenario {s['scenario']}, seed {s['seed']}, {s['years']} years from {s['start_year']} "
        f"(timelines from {s['timeline_reference_year']}), wall time {result.wall_time_s:.1f} s"
    ]
    wb = max([8] + [len(b) + 1 for b in T.blocs])  # the bloc column fits the longest bloc name
    hdr = (
        f"{'bloc':<{wb}}{'stage':<12}{'capacity kt/yr':>15}{'cap. share':>11}{'self-suff.':>11}"
        f"{'price USD/kg':>13}{'1st output y':>13}{'independ. y':>12}"
    )
    lines += [hdr, "-" * len(hdr)]
    fmt = lambda v: "never" if v is None else f"{v:.2f}"  # noqa: E731
    for b, bloc in enumerate(T.blocs):
        for st, stage in enumerate(T.stages):
            lines.append(
                f"{bloc:<{wb}}{stage:<12}{cap[b, st] / 1000:>15.1f}{share[b, st]:>11.2f}"
                f"{s['self_sufficiency_final'][bloc][stage] or 0:>11.2f}{s['price_final_usd_per_kg'][bloc][stage]:>13.1f}"
                f"{fmt(s['years_to_first_output'][bloc][stage]):>13}{fmt(s['years_to_independence'][bloc][stage]):>12}"
            )
    if result.run_dir is not None:
        lines.append(f"outputs: {result.run_dir}")
    return "\n".join(lines)


def national_summary_table(result: RunResult) -> str:
    """The national run's pyramid by year, the Little Giants' R&D, patents and capital constraint."""
    s = result.summary
    lines = [
        f"scenario {s['scenario']}, seed {s['seed']}, {s['years']} years from {s['start_year']}, national world {s['world']} "
        f"at scale {s['scale']:g}, wall time {result.wall_time_s:.1f} s"
    ]
    hdr = f"{'year':<6}{'firms':>11}{'innovation-type':>17}{'SRDI':>9}{'Little Giants':>15}{'key':>7}"
    lines += [hdr, "-" * len(hdr)]
    ts = result.model.recorder.timeseries()
    for r in ts.itertuples():
        lines.append(f"{r.year:<6}{r.firms:>11,}{r.n_innovation_type:>17,}{r.n_srdi:>9,}{r.n_little_giant:>15,}{r.n_key_little_giant:>7,}")
    rd = s["rd_intensity_2020_2030"]
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    lines.append(
        f"R&D / revenue 2020-2030: Little Giants {fmt(rd['little_giant'])}, others {fmt(rd['none'])}; patents per Little Giant 2025: "
        f"{fmt(s['patents_per_little_giant_2025'])}; Little Giants finance-constrained 2020-2025: {fmt(s['capital_constraint_lg_firms_2020_2025'])} "
        f"(reporting difficulty, needing outside money or unable to fund an expansion: {fmt(s['scaling_finance_difficulty_lg_firms_2020_2025'])})"
    )
    if result.run_dir is not None:
        lines.append(f"outputs: {result.run_dir}")
    return "\n".join(lines)


def config_dict(cfg: Config) -> dict[str, Any]:
    return dataclasses.asdict(cfg)
