"""ceuskit.study: ``__all__`` is exactly its public surface, and its modules import only those listed above them."""

from __future__ import annotations

import ast
import types
from pathlib import Path

import ceuskit.study as study

# In the order of the package docstring: each module may import only modules before it.
ORDER = ("proposed", "files", "lesions", "manifest", "execute", "runner", "tables", "statistics", "export")


def test_all_is_the_public_surface() -> None:
    public = {n for n in dir(study) if not n.startswith("_") and not isinstance(getattr(study, n), types.ModuleType)}
    assert set(study.__all__) == public - {"annotations"}
    assert all(getattr(study, name) is not None for name in study.__all__)


def test_modules_import_only_modules_above_them() -> None:
    folder = Path(study.__file__).parent
    assert {p.stem for p in folder.glob("*.py")} == {"__init__", *ORDER}
    for i, name in enumerate(ORDER):
        tree = ast.parse((folder / f"{name}.py").read_text(encoding="utf-8"))
        imported = {node.module.split(".")[2] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                    and node.module and node.module.startswith("ceuskit.study.")}
        assert imported <= set(ORDER[:i]), f"ceuskit.study.{name} imports {sorted(imported - set(ORDER[:i]))}"
