"""Classroom dashboard benchmark: how long one simulated year (4 steps) takes to compute and redraw.

Two measurements on the default world (scenario baseline, seed 1):

- server: for every simulated year of the horizon, 4 quarters of ``model.step()`` each followed by what the
  page sends after a step (every view's ECharts option, serialised to JSON as the widgets do); the median and
  worst year are reported.
- browser (when /usr/bin/chromium and Playwright are there): the app served on localhost, Chromium with no
  network; from a click on "Step one year" (4 quarters, one redraw) to the page showing the year's last
  quarter with its charts redrawn, for ``--browser-years`` years.

The acceptance criterion (issue 5) is "one simulated year renders in well under a second".

Run:  .venv/bin/python benchmarks/bench_app.py [--browser-years 3] [--no-browser] [--out DIR]
Writes DIR/bench_app.json and DIR/bench_app.md (default DIR: results/benchmarks, ignored by git; the committed
tables in benchmarks/results are updated on purpose with --out benchmarks/results).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.classroom import dashboard as d  # noqa: E402

TARGET_S = 1.0  # "well under a second" per simulated year


def bench_server() -> dict:
    """Seconds per simulated year: 4 x (step + every view's option as JSON), over the whole horizon."""
    model = d.ClassroomModel(d.default_levers("baseline"))
    for view in d.VIEWS.values():  # warm-up: first use of each code path
        json.dumps(view(model))
    years, steps, views = [], [], []
    while model.running and model.steps < model.n_steps:
        t_year = time.perf_counter()
        for _ in range(4):
            t0 = time.perf_counter()
            model.step()
            t1 = time.perf_counter()
            for view in d.VIEWS.values():
                json.dumps(view(model), allow_nan=False)
            steps.append(t1 - t0)
            views.append(time.perf_counter() - t1)
        years.append(time.perf_counter() - t_year)
    return {
        "years": len(years),
        "year_median_s": statistics.median(years),
        "year_max_s": max(years),
        "step_median_s": statistics.median(steps),
        "views_median_s": statistics.median(views),
        "views_max_s": max(views),
    }


def bench_browser(n_years: int, n_levers: int = 4) -> dict | None:
    """Seconds from a click on "Step one year" (4 quarters, one redraw) to the page showing the year's last quarter; and
    from a click on a lever (the export-control checkbox, ``n_levers`` times) to the page showing the rebuilt run."""
    if not Path(d.CHROMIUM).exists():
        return {"skipped": f"no {d.CHROMIUM}"}
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        return {"skipped": "playwright is not installed"}
    log = tempfile.TemporaryFile()
    proc, url = d.start_server(log=log)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=d.CHROMIUM, headless=True, args=list(d.OFFLINE_CHROMIUM_ARGS))
            page = browser.new_page(viewport={"width": 1500, "height": 1400})
            page.route("**/*", lambda r: r.continue_() if r.request.url.startswith((url, "data:", "blob:")) else r.abort())
            t0 = time.perf_counter()
            page.goto(url, wait_until="domcontentloaded", timeout=120_000)
            for view in ("chain", "timeline", "capacity", "prices", "pyramid"):
                page.wait_for_selector(f".view-{view} svg text", timeout=120_000)
            load_s = time.perf_counter() - t0
            quarter = page.locator(".view-quarter")
            step = page.get_by_role("button", name="Step one year", exact=True)
            years, clicks = [], []
            start = 2015
            for y in range(n_years):  # "Step one year": four quarters, one redraw
                t = time.perf_counter()
                step.click()
                expect(quarter).to_contain_text(f"Now: {start + y} Q4", timeout=30_000)
                page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")  # the charts painted
                clicks.append(time.perf_counter() - t)
                years.append(clicks[-1])
            # a lever change: the export-control checkbox, until the page shows the rebuilt run's command line, painted
            command = page.locator(".view-run pre")
            box = page.get_by_text("Chinese export control on", exact=True)  # the label: Vuetify's input sits under its ripple
            levers = []
            for _ in range(n_levers):
                before = command.inner_text()
                t = time.perf_counter()
                box.click()
                expect(command).not_to_have_text(before, timeout=30_000)
                page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")
                levers.append(time.perf_counter() - t)
            browser.close()
    finally:
        d.stop_server(proc)
    return {
        "page_load_s": load_s,
        "years": n_years,
        "year_median_s": statistics.median(years),
        "year_max_s": max(years),
        "click_median_s": statistics.median(clicks),
        "click_max_s": max(clicks),
        "lever_median_s": statistics.median(levers),
        "lever_max_s": max(levers),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--browser-years", type=int, default=3, help="simulated years clicked through in the browser")
    ap.add_argument("--no-browser", action="store_true", help="only the server-side measurement")
    ap.add_argument("--out", default=str(ROOT / "results" / "benchmarks"), help="directory for bench_app.{json,md} (committed: benchmarks/results)")
    args = ap.parse_args(argv)
    if args.browser_years < 1:
        print("error: --browser-years must be >= 1", file=sys.stderr)
        return 2
    if not args.out.strip():  # Path('') is the working directory: the tables went there
        print(f"error: --out: an empty path ({args.out!r}); allowed: a folder for the tables, or leave --out out for its default", file=sys.stderr)
        return 2
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        print(f"error: --out '{out}' is a file, not a directory", file=sys.stderr)
        return 2
    from sim.checks import ConfigError
    from sim.engine.output import check_writable

    try:  # before the measurement: an --out under a file or in a read-only folder lost it at the end (a traceback)
        check_writable(out, "--out")
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    server = bench_server()
    browser = None if args.no_browser else bench_browser(args.browser_years)
    result = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "python": platform.python_version(),
        "target_s_per_year": TARGET_S,
        "server": server,
        "browser": browser,
    }
    lines = [
        "# Classroom dashboard: time per simulated year (4 steps)",
        "",
        f"{result['when']} on {result['host']} (Python {result['python']}); target: well under {TARGET_S:g} s per year.",
        "",
        "| measurement | median s / year | worst s / year | detail |",
        "|---|---|---|---|",
        f"| server: 4 x (step + all views as JSON), {server['years']} years | {server['year_median_s']:.3f} | "
        f"{server['year_max_s']:.3f} | step {server['step_median_s'] * 1000:.1f} ms, views {server['views_median_s'] * 1000:.1f} ms (median) |",
    ]
    if browser and "skipped" not in browser:
        lines.append(
            f"| browser: a click on Step one year until its last quarter shows, {browser['years']} years | "
            f"{browser['year_median_s']:.3f} | {browser['year_max_s']:.3f} | "
            f"click {browser['click_median_s'] * 1000:.0f} ms median, {browser['click_max_s'] * 1000:.0f} ms worst; "
            f"page load {browser['page_load_s']:.1f} s (charts drawn) |"
        )
        lines.append(
            f"| browser: a lever change (the export-control checkbox) until the rebuilt run shows | {browser['lever_median_s']:.3f} | "
            f"{browser['lever_max_s']:.3f} | per change, not per year |"
        )
    elif browser:
        lines.append(f"| browser | - | - | skipped: {browser['skipped']} |")
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_app.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "bench_app.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
