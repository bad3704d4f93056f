"""The README's "Repository layout" names every module of the packages a contributor reads first (CONTRIBUTING.md:
docs are part of the change), so a new module that is not listed there fails here."""

from __future__ import annotations

import re

from _sim_helpers import PROJECT_ROOT

PACKAGES = ("sim", "sim/engine", "sim/engine/national", "sim/config", "sim/research", "sim/classroom", "agents", "scenarios")


def layout_block() -> str:
    text = (PROJECT_ROOT / "README.md").read_text()
    section = text.split("## Repository layout", 1)[1]
    return section.split("```text", 1)[1].split("```", 1)[0]


def test_the_layout_names_every_module():
    block = layout_block()
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", block))
    missing = []
    for package in PACKAGES:
        for module in sorted((PROJECT_ROOT / package).glob("*.py")):
            if module.stem != "__init__" and module.stem not in words:
                missing.append(f"{package}/{module.name}")
    assert not missing, f"README 'Repository layout' does not name: {', '.join(missing)}"


def test_the_layout_names_every_config_group_and_docs_file():
    block = layout_block()
    for folder in sorted(p for p in (PROJECT_ROOT / "conf").iterdir() if p.is_dir()):
        assert f"{folder.name}/" in block, f"conf/{folder.name}/ is not in README 'Repository layout'"
    for doc in sorted((PROJECT_ROOT / "docs").glob("*.*")):
        assert doc.name in block, f"docs/{doc.name} is not in README 'Repository layout'"
