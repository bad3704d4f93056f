"""Regenerate the seeded regression baseline of summary outputs (checked by tests/test_regression.py).

Run it ON PURPOSE, only when a change is meant to change model results, and say why in the commit
message. Never regenerate to make a failing test pass without understanding the change.

    python tests/baseline/regenerate.py             # rewrite tests/baseline/summary_seed<N>.json
    python tests/baseline/regenerate.py --check     # compare only: exit 1 and list the differences
    python tests/baseline/regenerate.py --seeds 1 2 3   # choose the seeds (default: 1 2)

It works from any working directory with the project's Python (``.venv/bin/python`` or any
environment where the project is installed; otherwise the repository root is put on sys.path).

The numbers are those of numpy without its AVX-512 kernels (``import sim`` switches them off; see
sim/engine/numerics.py), so the same baseline holds on x86-64 machines with and without AVX-512.

What is pinned: for each seed, one run of the default configuration (conf/config.yaml: world
rare_earth_2015, scenario baseline, 30 years; see OVERRIDES) with progress off and nothing
written, and every scalar of its summary (summary.json) flattened to dotted keys such as
``years_to_first_output.west.magnet`` or ``shares.2030.china.magnet.capacity`` - except
``wall_time_s``. The test compares floats with a relative tolerance of 1e-9 and everything else
(ints, strings, null) exactly, and fails if a key appears or disappears.

Each file holds ``values`` (what is compared) and, for information only, the overrides, the git
commit and the package versions it was generated with.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parent.parent
SEEDS = (1, 2)
OVERRIDES = ("progress=false", "output.write=false")  # the default config otherwise (years=30)
EXCLUDE = ("wall_time_s",)  # not deterministic
REL_TOL = 1e-9
ABS_TOL = 1e-12  # for values that should be exactly zero
COMMAND = "python tests/baseline/regenerate.py"


def _import_project() -> None:
    try:
        import sim  # noqa: F401
    except ImportError:  # pragma: no cover - not installed: use the checkout this file belongs to
        sys.path.insert(0, str(PROJECT_ROOT))


def baseline_path(seed: int) -> Path:
    return HERE / f"summary_seed{seed}.json"


def baseline_seeds() -> list[int]:
    """Seeds that have a baseline file (sorted)."""
    return sorted(int(p.stem.removeprefix("summary_seed")) for p in HERE.glob("summary_seed*.json"))


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts and lists -> {dotted key: scalar}."""
    out: dict[str, Any] = {}
    if isinstance(obj, dict):
        if not obj and prefix:
            out[prefix] = {}
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(obj, (list, tuple)):
        if not obj and prefix:
            out[prefix] = []
        for i, v in enumerate(obj):
            out.update(flatten(v, f"{prefix}[{i}]"))
    else:
        out[prefix] = obj
    return out


def compute(seed: int) -> dict[str, Any]:
    """Run the baseline configuration with ``seed`` and return its flattened summary scalars."""
    _import_project()
    from sim.config import compose
    from sim.engine.run import run

    cfg = compose([f"seed={seed}", *OVERRIDES])
    summary = dict(run(cfg).summary)
    for k in EXCLUDE:
        summary.pop(k, None)
    # through JSON, as the baseline file stores it (str keys, floats stay floats)
    return json.loads(json.dumps(flatten(summary)))


def same(expected: Any, actual: Any) -> bool:
    """Floats within REL_TOL (relative), everything else (int, str, None, bool) exactly and of the same type."""
    num = (int, float)
    if isinstance(expected, bool) or isinstance(actual, bool) or not (isinstance(expected, num) and isinstance(actual, num)):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, int) and isinstance(actual, int):
        return expected == actual
    if math.isnan(expected) or math.isnan(actual):
        return math.isnan(expected) and math.isnan(actual)
    return math.isclose(expected, actual, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def compare(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """Human-readable differences between two flattened summaries ([] if none)."""
    diffs = []
    for k in sorted(set(expected) - set(actual)):
        diffs.append(f"{k}: missing now (baseline {expected[k]!r})")
    for k in sorted(set(actual) - set(expected)):
        diffs.append(f"{k}: new key (now {actual[k]!r})")
    for k in sorted(set(expected) & set(actual)):
        if not same(expected[k], actual[k]):
            diffs.append(f"{k}: baseline {expected[k]!r}, now {actual[k]!r}")
    return diffs


def load(seed: int) -> dict[str, Any]:
    return json.loads(baseline_path(seed).read_text())["values"]


def _provenance() -> dict[str, Any]:
    _import_project()
    from sim.engine.numerics import dispatch_record
    from sim.engine.output import git_commit, versions

    return {"git": git_commit(), "versions": versions(), "numpy_dispatch": dispatch_record()}


def portable() -> bool:
    """Whether this process computes what every machine of the project's kind computes (no AVX-512
    kernels in numpy: see sim/engine/numerics.py); the baseline is only written and checked in such a process."""
    _import_project()
    from sim.engine.numerics import avx512_active

    return not avx512_active()


def write(seed: int, values: dict[str, Any]) -> Path:
    path = baseline_path(seed)
    doc = {
        "about": f"Seeded regression baseline of summary outputs (tests/test_regression.py). Regenerate on purpose: {COMMAND}",
        "seed": seed,
        "overrides": [f"seed={seed}", *OVERRIDES],
        "excluded": list(EXCLUDE),
        "generated_with": _provenance(),
        "values": values,
    }
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n")
    tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=None, help=f"seeds to run (default: {' '.join(map(str, SEEDS))})")
    ap.add_argument("--check", action="store_true", help="compare with the stored baseline instead of writing it")
    args = ap.parse_args(argv)
    seeds = args.seeds or list(SEEDS)
    if not portable():
        print(
            "numpy runs AVX-512 kernels in this process, so its numbers are this machine's only: start it with "
            "NPY_DISABLE_CPU_FEATURES unset (sim sets it) and import nothing before sim",
            file=sys.stderr,
        )
        return 2
    status = 0
    for seed in seeds:
        values = compute(seed)
        if args.check:
            if not baseline_path(seed).exists():
                print(f"seed {seed}: no baseline file {baseline_path(seed)}")
                status = 1
                continue
            diffs = compare(load(seed), values)
            print(f"seed {seed}: " + ("matches the baseline" if not diffs else f"{len(diffs)} differences"))
            for d in diffs:
                print(f"  {d}")
            status |= bool(diffs)
        else:
            old = load(seed) if baseline_path(seed).exists() else None
            path = write(seed, values)
            changed = "new" if old is None else f"{len(compare(old, values))} values changed"
            print(f"seed {seed}: wrote {path} ({len(values)} values; {changed})")
    if not args.check:
        stale = sorted(set(baseline_seeds()) - set(seeds))
        if stale:
            print(f"note: baseline files for seeds {stale} were not regenerated; the test still checks them")
    return status


if __name__ == "__main__":
    sys.exit(main())
