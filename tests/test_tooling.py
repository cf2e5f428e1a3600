"""The habit-keeping tools: `make lint`, `make test` and the pre-commit hooks run the same checks."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ("ruff check", "mypy", "lint-imports")


def _make_dry_run(target: str) -> str:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    done = subprocess.run(["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout


def test_make_lint_runs_every_tool() -> None:
    recipe = _make_dry_run("lint")
    for tool in TOOLS:
        assert f"/{tool}" in recipe, tool


def test_make_test_runs_lint_before_the_tests() -> None:
    recipe = _make_dry_run("test")
    assert "lint" in recipe and "pytest" in recipe
    assert recipe.index("lint") < recipe.index("pytest")


def test_pre_commit_runs_the_same_tools_from_the_venv() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    entries = [hook["entry"] for repo in config["repos"] for hook in repo["hooks"]]
    assert all(entry.startswith(".venv/bin/") for entry in entries)  # local hooks: nothing downloaded
    for tool in TOOLS:
        assert any(entry.removeprefix(".venv/bin/").startswith(tool) for entry in entries), tool
    pre_commit = Path(sys.executable).with_name("pre-commit")
    if not pre_commit.exists():
        pytest.skip("pre-commit is not installed in this environment")
    checked = subprocess.run([str(pre_commit), "validate-config", ".pre-commit-config.yaml"], cwd=ROOT,
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_docstring_and_type_rules_are_the_projects() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    lint = config["tool"]["ruff"]["lint"]
    assert "D" in lint["select"] and lint["pydocstyle"]["convention"] == "numpy"
    assert config["tool"]["mypy"]["strict"] is True
