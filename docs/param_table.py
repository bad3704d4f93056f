"""Print the parameter table of a world config as Markdown, from the YAML and its comments.

Every parameter in conf/world/*.yaml carries a trailing comment with its source
or "assumption"; this script turns the file into the parameter table of
docs/ODD.md (one section per mapping, one row per parameter: name, value, unit,
source or assumption). Units are read from the parameter's name (``_usd_per_kg``,
``_years``, ...) or a short list below; the comment is copied as written.

Run:  .venv/bin/python docs/param_table.py [FILE.yaml ...] > /tmp/params.md
      (default: the world file and the coordinated, fragmented and coordinated_west policies)
and paste the output into docs/ODD.md (section "Parameter table").
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "conf" / "world" / "rare_earth_2015.yaml"
POLICY_FILES = [ROOT / "conf" / "policy" / f"{n}.yaml" for n in ("coordinated", "fragmented", "coordinated_west")]

# Units of names whose suffix does not say it (the house style puts units in names where they are not obvious).
UNITS = {
    "start_year": "year",
    "scale": "multiplier",
    "startup_reserve_share": "share of capex",
    "output_quota_schedule": "t/yr from each year",
    "output_quota_unofficial_schedule": "share of output, by year",
    "usd_per_cny": "USD per CNY",
    "independence_threshold": "share of final demand",
    "timeline_reference_year": "year",
    "reference_years": "years",
    "input_per_t": "t input per t output",
    "learning_rate": "cost fall per doubling",
    "qualification": "flag",
    "fixed_cost_share": "share of capex per year",
    "mothball_fixed_cost_saved": "share of fixed cost",
    "new_plant_quality": "share in specification",
    "ramp_multiplier": "multiplier",
    "base_rate": "per year",
    "risk_premium": "per year",
    "volatility_premium": "per year per unit sd of log price",
    "interest_rate": "per year",
    "leverage_max": "debt / book assets",
    "equity_share_required": "share of capex",
    "investor_appetite": "probability per quarter",
    "tax_rate": "share of profit",
    "rd_propensity": "R&D / revenue",
    "patent_multiplier": "multiplier",
    "patent_lapse_per_year": "share per year",
    "import_tariff": "ad valorem share",
    "regions": "names",
    "logit_beta": "per unit of price / reference price",
    "price_adjustment": "per quarter per unit excess demand",
    "target_utilisation": "share",
    "max_price_change": "share per quarter",
    "price_ceiling_multiple": "multiple of reference price",
    "rationing_rounds": "rounds",
    "max_utilisation": "share of nameplate",
    "shutdown_tolerance": "share of unit cost",
    "price_reversion": "per quarter",
    "capital_recovery_factor": "per year",
    "same_group_discount": "share of price",
    "knowledge_depreciation": "per quarter",
    "regional_spillover": "share",
    "group_sharing": "share",
    "zeta": "per (R&D / scale)",
    "cost_cut_beta": "Beta(a, b)",
    "cost_cut_max": "share of unit cost",
    "knowhow_ramp_effect": "per M USD knowledge per kt/yr",
    "repayment_share": "share of debt per quarter",
    "review_probability": "probability per quarter",
    "min_own_utilisation": "orders / nameplate",
    "expansion_share": "share of capacity",
    "min_profitability_index": "NPV / capex",
    "plant_size_t": "t/yr",
    "entry_rate_per_year": "entrants per year at PI 1",
    "min_cash_quarters_of_fixed_cost": "quarters of fixed cost",
    "capacity_t": "t/yr",
    # benefits while a title is held (conf/policy benefits; the firm columns of the same names)
    "interest_subsidy": "per year off the loan rate",
    "credit_bonus": "debt / book assets",
    "procurement_discount": "share of price",
    "ipo_fast_track": "probability per quarter",
    "talent_subsidy": "share of R&D",
}
SUFFIXES = (
    ("_usd_per_kg", "USD/kg"),
    ("_musd_per_kt", "M USD per kt/yr"),
    ("_musd_per_employee_year", "M USD per employee-year"),
    ("_per_musd", "per M USD of R&D"),
    ("_musd", "M USD"),
    ("_myuan_per_year", "M yuan per year"),
    ("_myuan_per_term", "M yuan per term"),
    ("_myuan_per_firm_term", "M yuan per firm and term"),
    ("_t_per_year", "t/yr"),
    ("_per_kt", "per kt/yr"),
    ("_per_year", "per year"),
    ("_years", "years"),
    ("_quarters", "quarters"),
    ("_quarters_of_fixed_cost", "quarters of fixed cost"),
)
KEY = re.compile(r"^(?P<key>[A-Za-z_][\w]*):(?:\s+(?P<value>.*))?$")


def split_comment(text: str) -> tuple[str, str]:
    """Code and trailing comment of one YAML line (a '#' inside quotes is not a comment)."""
    quote = None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or text[i - 1] in " \t"):
            return text[:i].rstrip(), text[i + 1 :].strip()
    return text.rstrip(), ""


def unit_of(name: str) -> str:
    if name in UNITS:
        return UNITS[name]
    for suffix, unit in sorted(SUFFIXES, key=lambda s: -len(s[0])):
        if name.endswith(suffix):
            return unit
    return ""


def show(value) -> str:
    """Compact YAML flow text of a value, for a table cell."""
    if isinstance(value, (dict, list)):
        text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10_000).strip()
    elif value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    return "`" + text.replace("|", "\\|") + "`"


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def rows_of(path: Path) -> tuple[list[tuple[str, str, object, str]], dict[str, str]]:
    """(section, name, value, comment) for every leaf, and the comment block above each mapping key.

    A list written as "- item" lines belongs to the key above it (which carries the comment).
    """
    stack: list[tuple[int, str]] = []  # (indent, key) of open mappings
    out: list[list] = []
    notes: dict[str, str] = {}
    block: list[str] = []  # full-line comments waiting for the next key
    pending = None  # row collecting "- item" lines
    last: list | None = None  # the row of the previous line, while its trailing comment may go on below it
    last_col = -1  # column of that trailing comment's '#'
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if not stripped:
            block = []
            last = None
            continue
        if stripped.startswith("#"):
            text = stripped.lstrip("#").strip()
            col = len(raw) - len(raw.lstrip(" "))
            if last is not None and abs(col - last_col) <= 2:  # a trailing comment continued on the next lines
                if text:
                    last[3] = f"{last[3]} {text}"
                continue
            last = None
            if text and not set(text) <= set("-=# "):
                block.append(text)
            continue
        last = None
        indent = len(raw) - len(raw.lstrip(" "))
        code, comment = split_comment(stripped)
        if code.startswith("- "):
            if pending is not None:
                pending[2].append(yaml.safe_load(code[2:]))
                if comment:
                    pending[3] = (pending[3] + "; " + comment).strip("; ")
            block = []
            continue
        m = KEY.match(code)
        if not m:
            block = []
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        key, value = m.group("key"), (m.group("value") or "").strip()
        section = ".".join(k for _, k in stack)
        if value == "":
            path_key = f"{section}.{key}" if section else key
            if block:
                notes[path_key] = " ".join(block)
            if comment:  # a key whose value is the list below it
                pending = [section, key, [], comment]
                out.append(pending)
            else:
                pending = None
            stack.append((indent, key))
            block = []
            continue
        if block and not stack:
            notes[key] = " ".join(block)
        trailing = bool(comment)
        if block and stack and not comment:  # a leaf documented by the comment block above it
            comment = " ".join(block)
        block = []
        pending = None
        row = [section, key, yaml.safe_load(value), comment]
        out.append(row)
        if trailing:
            last, last_col = row, raw.index("#", len(raw) - len(raw.lstrip(" ")) + len(code))
    return [tuple(r) for r in out], notes


NOTE_KEYS = ("note", "description")  # fields of a flow-mapping entry that are its source / description


def entry_table(entries: list[tuple[str, dict, str]]) -> list[str]:
    """A table with one column per field for sections whose entries are flow mappings (buyers, groups, firm cohorts)."""
    cols: list[str] = []
    for _, d, _ in entries:
        for k in d:
            if k not in cols and k not in NOTE_KEYS:
                cols.append(k)
    head = ["name", *cols, "source / assumption"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for name, d, comment in entries:
        src = "; ".join(str(d[k]) for k in NOTE_KEYS if d.get(k)) or ""
        src = "; ".join(x for x in (src, comment) if x)
        vals = [show(d[c]) if c in d else "" for c in cols]
        lines.append("| " + " | ".join([f"`{name}`", *vals, cell(src)]) + " |")
    return lines


def markdown(path: Path) -> str:
    rows, notes = rows_of(path)
    root = "world" if path.parent.name == "world" else f"{path.parent.name} ({path.stem})"
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    lines = [
        f"Generated by `docs/param_table.py` from `{shown}`: values as configured, units read from the "
        "parameter names, sources and assumptions copied from the YAML comments."
    ]
    sections: dict[str, list] = {}
    for section, name, value, comment in rows:
        sections.setdefault(section, []).append((name, value, comment))
    noted: set[str] = set()
    for section, items in sections.items():
        title = f"{root}: {section}" if section and root != "world" else (f"world.{section}" if section else f"{root} (top level)")
        lines += ["", f"**{title}**", ""]
        parts = section.split(".") if section else []
        for i in range(1, len(parts) + 1):
            key = ".".join(parts[:i])
            if key in notes and key not in noted:
                noted.add(key)
                lines += [f"*{cell(notes[key])}*", ""]
        if all(isinstance(v, dict) for _, v, _ in items):
            lines += entry_table(items)
            continue
        lines += ["| name | value | unit | source / assumption |", "|---|---|---|---|"]
        for name, value, comment in items:
            lines.append(f"| `{name}` | {show(value)} | {cell(unit_of(name))} | {cell(comment)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    paths = [Path(a).resolve() for a in argv] or [DEFAULT, *POLICY_FILES]
    sys.stdout.write("\n".join(markdown(p) for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
