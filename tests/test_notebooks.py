"""The notebooks (notebooks/*.ipynb) execute end to end on their small configuration, are committed
without outputs, import ``sim`` before numpy (README "Reproducibility") and name a bad ``LG_NOTEBOOK_WORKERS``.

Each notebook runs in a kernel started with this interpreter (a kernelspec written to a temporary
directory, so a system-wide "python3" kernelspec cannot substitute another Python), with
``LG_NOTEBOOK_OUT`` pointing to a temporary directory so that nothing is written under results/.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

import pytest
from _sim_helpers import PROJECT_ROOT

NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
EXPECTED = [
    "01_quickstart.ipynb",
    "02_scenario_comparison.ipynb",
    "03_sensitivity.ipynb",
    "04_lever_exploration.ipynb",
    "05_national_programme.ipynb",
]
# PNG outputs at least
FIGURES = {
    "01_quickstart.ipynb": 4,
    "02_scenario_comparison.ipynb": 4,
    "03_sensitivity.ipynb": 1,
    "04_lever_exploration.ipynb": 2,
    "05_national_programme.ipynb": 4,
}
CELL_TIMEOUT_S = 600  # a guard against a hung kernel, not a timing test
# executed only with -m slow: each takes over ten seconds (13-28 s on two cores), and the studies they drive are tested
# by tests/test_sensitivity.py, tests/test_explore.py and tests/test_experiment.py in the default suite
SLOW_NOTEBOOKS = {"02_scenario_comparison.ipynb", "03_sensitivity.ipynb", "04_lever_exploration.ipynb"}


def test_the_notebooks_exist():
    assert [p.name for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path: Path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, "a notebook without code"
    for i, c in enumerate(code):
        assert c.get("outputs") == [], f"code cell {i} has outputs; clear them before committing"
        assert c.get("execution_count") is None, f"code cell {i} has an execution count; clear outputs before committing"
    params = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1 and "LG_NOTEBOOK_SIZE" in "".join(params[0]["source"]), "one tagged parameter cell with the size switch"
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


def _code_cells(path: Path) -> list[str]:
    """The source of each code cell, IPython magics and shell lines (``%``, ``!``) blanked so that ast parses it."""
    nb = json.loads(path.read_text())
    return ["".join("\n" if line.lstrip().startswith(("%", "!")) else line for line in c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def _imports(source: str) -> list[str]:
    """The absolute modules a cell imports, in the order of its lines."""
    nodes = sorted((n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Import | ast.ImportFrom)), key=lambda n: (n.lineno, n.col_offset))
    names = []
    for n in nodes:
        if isinstance(n, ast.Import):
            names += [a.name for a in n.names]
        elif n.level == 0 and n.module:
            names.append(n.module)
    return names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_imports_sim_before_numpy(path: Path):
    """Statically (no kernel): the first code cell imports ``sim`` before any module outside the standard library,
    so that numpy (imported by pandas, matplotlib, scipy, ...) loads with its AVX-512 kernels off and a seed gives
    the run ``python -m sim`` gives (README "Reproducibility")."""
    cells = _code_cells(path)
    outside = [(i, m) for i, src in enumerate(cells) for m in _imports(src) if m.split(".")[0] not in sys.stdlib_module_names]
    assert outside, "no import of sim"
    i, first = outside[0]
    assert first.split(".")[0] == "sim", f"code cell {i} imports {first} before sim: numpy would load with its AVX-512 kernels on"
    assert i == 0, f"the first code cell (the parameter cell) must import sim; the first import of sim is in code cell {i}"


WORKER_NOTEBOOKS = [p for p in NOTEBOOKS if "LG_NOTEBOOK_WORKERS" in p.read_text()]


def _read_workers(path: Path, value: str, monkeypatch) -> object:
    """``WORKERS`` as the notebook reads it from ``LG_NOTEBOOK_WORKERS``: its parameter cell, then the top-level
    statements of the later code cells that check or convert ``WORKERS`` (no simulation runs, no kernel starts)."""
    monkeypatch.setenv("LG_NOTEBOOK_WORKERS", value)
    params, *rest = _code_cells(path)
    ns: dict = {}
    exec(compile(params, f"{path.name}[parameters]", "exec"), ns)
    for src in rest:
        for stmt in ast.parse(src).body:
            assigns_workers = isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "WORKERS" for t in stmt.targets)
            checks_workers = isinstance(stmt, ast.Assert) and any(isinstance(n, ast.Name) and n.id == "WORKERS" for n in ast.walk(stmt.test))
            if assigns_workers or checks_workers:
                exec(compile(ast.Module(body=[stmt], type_ignores=[]), path.name, "exec"), ns)
    return ns["WORKERS"]


@pytest.mark.parametrize("path", WORKER_NOTEBOOKS, ids=[p.stem for p in WORKER_NOTEBOOKS])
def test_notebook_names_a_bad_workers_setting(path: Path, monkeypatch):
    assert _read_workers(path, "3", monkeypatch) == 3
    for bad in ("abc", "0", "-1", "2.5"):
        with pytest.raises(AssertionError, match=re.escape(f"LG_NOTEBOOK_WORKERS must be a whole number >= 1, got '{bad}'")):
            _read_workers(path, bad, monkeypatch)


def _kernel_manager(tmp: Path):
    """A kernel manager whose only kernel is this interpreter's ipykernel."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    kdir = tmp / "kernels" / "python3"
    kdir.mkdir(parents=True)
    (kdir / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "little-giants test kernel",
                "language": "python",
            }
        )
    )
    ksm = KernelSpecManager(kernel_dirs=[str(tmp / "kernels")], ensure_native_kernel=False)
    return KernelManager(kernel_name="python3", kernel_spec_manager=ksm)


@pytest.mark.parametrize(
    "path", [pytest.param(p, marks=pytest.mark.slow) if p.name in SLOW_NOTEBOOKS else p for p in NOTEBOOKS], ids=[p.stem for p in NOTEBOOKS]
)
def test_notebook_executes(path: Path, tmp_path: Path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    out = tmp_path / "out"
    monkeypatch.setenv("LG_NOTEBOOK_OUT", str(out))
    monkeypatch.setenv("LG_NOTEBOOK_SIZE", "small")
    monkeypatch.setenv("LG_NOTEBOOK_WORKERS", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    km = _kernel_manager(tmp_path)
    client = nbclient.NotebookClient(nb, km=km, timeout=CELL_TIMEOUT_S, allow_errors=False, resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    client.execute()  # raises CellExecutionError with the cell's traceback if a cell fails
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "every code cell ran"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors
    images = sum(1 for c in code for o in c.outputs if "image/png" in o.get("data", {}))
    assert images >= FIGURES[path.name], f"the notebook's figures show ({images} PNG outputs)"
    assert out.is_dir() and any(out.rglob("manifest.json")), "the runs were written under LG_NOTEBOOK_OUT"
