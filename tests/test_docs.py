"""The documentation site: it builds with no warning, its gallery and tutorial run, it covers the public API,
and its reference pages keep up with the codes and names the code defines."""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sphinx.util.inventory import InventoryFile

import ceuskit
from ceuskit.maps import MAP_NAMES
from ceuskit.models.parameters import PARAMETER_NAMES
from ceuskit.quality import CODES

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
GENERATED = ("_generated", "auto_examples", "sg_execution_times.rst", "generated")
HOWTOS = ("cohort-study", "reader-study", "examination", "pacs", "deidentification", "curve-files", "maps")


def _api_sections() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The API reference's module list, as the docs extension declares it."""
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        module = importlib.import_module("ceuskit_docs")
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    return module.API_SECTIONS  # type: ignore[no-any-return]


def test_readme_says_how_to_build_and_open_the_site() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Documentation", 1)[1].split("\n## ", 1)[0]
    assert "make docs" in section and "build/docs/html/index.html" in section
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\ndocs:", 1)[1].split("\n\n", 1)[0]
    assert "sphinx -W --keep-going" in recipe and "build/docs/html" in recipe


def test_every_howto_is_a_page_of_its_own_in_the_index() -> None:
    index = (DOCS / "howto" / "index.md").read_text(encoding="utf-8")
    for name in HOWTOS:
        assert (DOCS / "howto" / f"{name}.md").is_file(), name
        assert re.search(rf"^{re.escape(name)}$", index, re.MULTILINE), name


def test_every_quality_code_is_defined() -> None:
    page = (DOCS / "definitions" / "quality-flags.md").read_text(encoding="utf-8")
    defined = set(re.findall(r"^\| `(\w+)` \|", page, re.MULTILINE))
    assert set(CODES) <= defined, sorted(set(CODES) - defined)


def test_every_parameter_and_map_is_defined() -> None:
    parameters = (DOCS / "definitions" / "parameters.md").read_text(encoding="utf-8")
    assert set(PARAMETER_NAMES) <= set(re.findall(r"^\| `(\w+)` \|", parameters, re.MULTILINE))
    maps = (DOCS / "howto" / "maps.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in maps for name in MAP_NAMES), [n for n in MAP_NAMES if f"`{n}`" not in maps]


def test_the_api_reference_lists_modules_that_declare_their_public_names() -> None:
    modules = [m for _, section in _api_sections() for m in section]
    assert len(modules) == len(set(modules))
    for name in ("pipeline", "io", "roi", "tic", "models", "onset", "phases", "maps", "stats", "agreement",
                 "study", "store", "report", "export", "simulate"):
        assert f"ceuskit.{name}" in modules, name
    for module in modules:
        assert importlib.import_module(module).__all__, module


@pytest.mark.slow
def test_site_builds_without_warnings_and_runs_its_examples(tmp_path: Path) -> None:
    """``sphinx-build -W -n`` on a copy of docs/ (the build writes its gallery and run folders into its
    source): it must finish without a warning, document every public name, run every gallery example and
    show the tutorial's real outputs."""
    src = tmp_path / "docs"
    shutil.copytree(DOCS, src, ignore=shutil.ignore_patterns(*GENERATED, "__pycache__"))
    (tmp_path / "src").symlink_to(ROOT / "src")  # conf.py documents the tree beside it
    out = tmp_path / "html"
    env = dict(os.environ, MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join([str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]))
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-q", "-b", "html",
                           str(src), str(out)], env=env, capture_output=True, text=True, timeout=1800, check=False)
    assert proc.returncode == 0, proc.stderr[-5000:]
    assert "WARNING" not in proc.stderr and "ERROR" not in proc.stderr, proc.stderr[-5000:]

    # every public name is in the reference, under the name it is defined by (or the module listing it)
    with open(out / "objects.inv", "rb") as f:
        inventory = InventoryFile.load(f, "", os.path.join)
    documented = {name for kind, names in inventory.items() if kind.startswith("py:") for name in names}
    for module in ("ceuskit", *(m for _, section in _api_sections() for m in section)):
        mod = importlib.import_module(module)
        for name in mod.__all__:
            obj = getattr(mod, name)
            if hasattr(obj, "__qualname__"):  # a class or function: under the module that defines it
                where = {f"{obj.__module__}.{obj.__qualname__}"}
            else:  # a constant: under the module listing it, or the one of its modules that documents it
                where = {n for n in documented if n.startswith(f"{module}.") and n.endswith(f".{name}")
                         and getattr(sys.modules.get(n.rsplit(".", 1)[0]), name, None) is obj}
            assert where & documented, f"{module}.{name} is not in the API reference"

    # every gallery example ran and drew its figure
    examples = sorted(p.stem for p in (DOCS / "examples").glob("plot_*.py"))
    assert examples
    for stem in examples:
        assert (out / "_images" / f"sphx_glr_{stem}_001.png").is_file(), stem

    # the tutorial shows what the commands printed and the figure the analysis drew
    tutorial = (out / "getting-started.html").read_text(encoding="utf-8")
    assert "wrote result/analysis.json" in tutorial
    assert "arterial hyper" in tutorial
    assert (out / "_images" / "tic.png").is_file()
    assert ceuskit.__version__ in (out / "index.html").read_text(encoding="utf-8")
