"""The layers of ceuskit (DESIGN, issue 22): import-linter's contracts in pyproject.toml hold, they fail on a
forbidden import, and the module graph has no import cycle.

The expected facts come from the tools themselves run here: import-linter on the source tree, and grimp's
import graph (every import, those under ``TYPE_CHECKING`` and inside functions included).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import grimp
import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"

pytestmark = pytest.mark.skipif(not (ROOT / "pyproject.toml").is_file(), reason="needs the source tree")

CONTRACTS = {
    "layers": "Layers: cli and web on top",
    "core": "The numeric core reads no files",
    "io": "io reads files and imports no display preprocessing",
    "report": "report renders what it is given and imports no study",
    "root": "The package root imports nothing heavy",
    "acyclic": "No import cycle between sibling modules or packages",
}


def lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on ``project`` (its pyproject.toml, its src/ first on the path), no cache."""
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    code = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    return subprocess.run([sys.executable, "-c", code, "--no-cache", "--config", str(project / "pyproject.toml")],
                          cwd=project, env=env, capture_output=True, text=True, timeout=600)


def copy_project(tmp_path: Path) -> Path:
    """The source tree and pyproject.toml, copied (caches left out)."""
    project = tmp_path / "project"
    shutil.copytree(SRC, project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(ROOT / "pyproject.toml", project / "pyproject.toml")
    return project


def test_the_contracts_hold() -> None:
    assert {c["id"]: c["name"].startswith(CONTRACTS[c["id"]]) for c in _config()["contracts"]} == dict.fromkeys(
        CONTRACTS, True)
    run = lint_imports(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    summary = run.stdout[run.stdout.index("Contracts\n"):]
    assert {key: _status(summary, name) for key, name in CONTRACTS.items()} == dict.fromkeys(CONTRACTS, "KEPT")
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in run.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("onset.py", "import ceuskit.io.clip", "core"),
    ("io/clip.py", "import ceuskit.preprocess.display", "io"),
    ("report/cohort.py", "import ceuskit.study.runner", "report"),
    ("feed.py", "import ceuskit.pipeline", "layers"),
    ("__init__.py", "import numpy", "root"),
    ("steps.py", "import ceuskit.kinetics", "acyclic"),
])
def test_a_forbidden_import_breaks_its_contract(tmp_path: Path, module: str, line: str, contract: str) -> None:
    project = copy_project(tmp_path)
    path = project / "src" / "ceuskit" / module
    head, sep, rest = path.read_text().partition("from __future__ import annotations\n")
    assert sep, f"{module} has no __future__ import to put the forbidden import after"
    path.write_text(head + sep + line + "  # noqa\n" + rest)
    run = lint_imports(project)
    assert run.returncode == 1, run.stdout + run.stderr
    summary = run.stdout[run.stdout.index("Contracts\n"):]
    statuses = {key: _status(summary, name) for key, name in CONTRACTS.items()}
    assert statuses[contract] == "BROKEN", summary
    assert "0 broken" not in summary


def _status(summary: str, name: str) -> str:
    """KEPT or BROKEN: the word after contract ``name`` in lint-imports' summary (names may wrap lines)."""
    flat = " ".join(summary.split())
    start = flat.index(name)
    after = flat[start:].split()
    return next(word for word in after if word in ("KEPT", "BROKEN"))


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    modules = sorted(graph.modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in modules:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(edges[child])))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def test_the_module_graph_has_no_cycle() -> None:
    graph = grimp.build_graph("ceuskit", exclude_type_checking_imports=False, cache_dir=None)
    assert _cycles(graph) == []
    # the check itself finds a cycle where there is one
    graph.add_import(importer="ceuskit.timeseries", imported="ceuskit.tic")  # tic imports timeseries
    assert any({"ceuskit.tic", "ceuskit.timeseries"} <= set(cycle) for cycle in _cycles(graph))


def test_import_ceuskit_loads_nothing_heavy() -> None:
    """At run time too: the root contract's forbidden packages stay unloaded by ``import ceuskit``."""
    contract = next(c for c in _config()["contracts"] if c["id"] == "root")
    heavy = sorted(contract["forbidden_modules"])
    code = f"import sys, ceuskit; print(sorted(set({heavy!r}) & set(sys.modules)), ceuskit.__version__)"
    run = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(SRC)},
                         capture_output=True, text=True, timeout=120, check=True)
    assert run.stdout.split() == ["[]", _version()]


def _config() -> dict[str, Any]:
    """``[tool.importlinter]`` of pyproject.toml."""
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return dict(tomllib.load(fh)["tool"]["importlinter"])


def _version() -> str:
    namespace: dict[str, str] = {}
    exec((SRC / "ceuskit" / "_version.py").read_text(), namespace)  # the file the package and pyproject read
    return namespace["__version__"]
