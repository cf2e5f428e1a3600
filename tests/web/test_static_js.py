"""The workstation's browser code keeps STYLE.md's rules, read from the files themselves (no browser needed).

* DOM is built from nodes (``el()``, ``svgEl()``, ``new Option``), never from HTML text: no ``innerHTML``,
  ``outerHTML``, ``insertAdjacentHTML``, ``document.write`` or HTML parser in any static script.  No
  allow-list: a node is emptied with ``replaceChildren()``.
* One ES module per view or concern under ``static/js/``; requests go through ``api.js`` (only the sign-in
  page, which has no session yet, calls ``fetch`` itself); the persisted view state is ``state.js``'s alone.
* Every named import is exported by the module it names (a broken import stops the whole page).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import ceuskit.web

STATIC = Path(ceuskit.web.__file__).parent / "static"
SCRIPTS = sorted(STATIC.rglob("*.js"))

HTML_STRING = re.compile(r"\.(?:inner|outer)HTML\s*[+]?=(?!=)|\binsertAdjacentHTML\s*\(|\bdocument\s*\.\s*write(?:ln)?\s*\("
                         r"|\bcreateContextualFragment\s*\(|\bDOMParser\b|\bsetHTMLUnsafe\s*\(|\bparseHTMLUnsafe\s*\(")
"""An assignment or call that parses HTML text into the page."""

IMPORT = re.compile(r"\bimport\s*\{([^}]*)\}\s*from\s*[\"'](\./[^\"']+)[\"']")
EXPORT = re.compile(r"^export\s+(?:async\s+)?(?:function\*?|const|let|var|class)\s+([\w$]+)", re.M)
EXPORT_LIST = re.compile(r"^export\s*\{([^}]*)\}", re.M)


def html_string_writes(source: str) -> list[tuple[int, str]]:
    """The lines (1-based number, text) of ``source`` that hand HTML text to the page."""
    return [(number, line.strip()) for number, line in enumerate(source.splitlines(), start=1)
            if HTML_STRING.search(line)]


def exported_names(source: str) -> set[str]:
    """The names an ES module exports by declaration or in an ``export {…}`` list."""
    names = set(EXPORT.findall(source))
    for group in EXPORT_LIST.findall(source):
        names.update(part.split(" as ")[-1].strip() for part in group.split(",") if part.strip())
    return names


def test_the_scripts_are_found() -> None:
    names = {path.name for path in SCRIPTS}
    assert {"api.js", "state.js", "util.js", "main.js", "pacs.js", "read.js"} <= names


@pytest.mark.parametrize("snippet", [
    'box.innerHTML = "";', "row.innerHTML = `<td>${name}</td>`;", "list.innerHTML += item;",
    "node.outerHTML = html;", 'box.insertAdjacentHTML("beforeend", "<b>x</b>");', "document.write(html);",
    "range.createContextualFragment(text)", 'new DOMParser().parseFromString(text, "text/html")',
    "node.setHTMLUnsafe(text)",
])
def test_the_check_finds_html_text(snippet: str) -> None:
    assert html_string_writes(f"const a = 1;\n{snippet}\n") == [(2, snippet)]


@pytest.mark.parametrize("snippet", [
    "box.replaceChildren();", 'node.textContent = "<b>shown as text</b>";', "if (node.innerHTML === old) {}",
    'el("li", {class: "lesion"}, name)',
])
def test_the_check_passes_dom_building(snippet: str) -> None:
    assert html_string_writes(snippet) == []


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: str(path.relative_to(STATIC)))
def test_no_script_builds_html_from_strings(script: Path) -> None:
    assert html_string_writes(script.read_text(encoding="utf-8")) == []


def test_every_script_is_a_module_of_js() -> None:
    assert [path.relative_to(STATIC).parts[0] for path in SCRIPTS] == ["js"] * len(SCRIPTS)


def test_requests_go_through_api_js() -> None:
    calling = sorted(path.name for path in SCRIPTS if re.search(r"\bfetch\s*\(", path.read_text(encoding="utf-8")))
    assert calling == ["api.js", "login.js"]  # login.js: signing in, before a session and its CSRF token exist


def test_the_view_state_key_is_state_js_alone() -> None:
    holders = sorted(path.name for path in SCRIPTS if "ceuskit.state" in path.read_text(encoding="utf-8"))
    assert holders == ["state.js"]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: str(path.relative_to(STATIC)))
def test_named_imports_are_exported(script: Path) -> None:
    source = script.read_text(encoding="utf-8")
    imports = IMPORT.findall(source)
    assert len(imports) == len(re.findall(r"^import\b", source, re.M))  # every import statement is read
    for names, target in imports:
        module = (script.parent / target).resolve()
        assert module.is_file(), f"{script.name} imports {target}, which does not exist"
        wanted = {part.split(" as ")[0].strip() for part in names.split(",") if part.strip()}
        missing = wanted - exported_names(module.read_text(encoding="utf-8"))
        assert not missing, f"{script.name} imports {sorted(missing)} from {target}, which does not export them"


def test_pages_load_existing_module_scripts() -> None:
    for page in sorted(STATIC.glob("*.html")):
        sources = re.findall(r'<script type="module" src="/static/([^"]+)"></script>', page.read_text(encoding="utf-8"))
        assert sources, f"{page.name} loads no module script"
        assert all((STATIC / source).is_file() for source in sources), (page.name, sources)
