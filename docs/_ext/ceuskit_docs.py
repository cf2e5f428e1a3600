"""Sphinx extension of the ceuskit site: API pages from ``__all__``, and commands run during the build.

- :func:`write_api_pages` writes one reStructuredText page per public module (``api/generated/``) before
  Sphinx reads the sources: the module's docstring, a summary table of its ``__all__`` and every public
  object documented once, under the module that defines it (a name a module re-exports from another public
  module is a link to that one).  The reference therefore follows ``__all__`` as the code changes.
- ``ceuskit-command`` runs ``ceuskit ARGS`` in a folder of its own page (``_generated/run/PAGE/``, emptied
  when the page is read) and shows the command with what it printed; a command that fails fails the build.
- ``ceuskit-json`` shows a JSON file written there, whole or some of its keys.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.errors import PycodeError
from sphinx.pycode import ModuleAnalyzer
from sphinx.util.docutils import SphinxDirective

SRC = Path(__file__).resolve().parents[2] / "src"

# (section, modules): the public modules of the API reference, in reading order.
API_SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Reading clips and ROIs", ("ceuskit.io", "ceuskit.io.rois", "ceuskit.io.curves", "ceuskit.roi", "ceuskit.pixels",
                                "ceuskit.feed")),
    ("Analysis", ("ceuskit.pipeline", "ceuskit.curve_analysis", "ceuskit.tic", "ceuskit.onset", "ceuskit.models",
                  "ceuskit.phases", "ceuskit.characterisation",
                  "ceuskit.kinetics", "ceuskit.destruction", "ceuskit.steps", "ceuskit.replenishment",
                  "ceuskit.quality", "ceuskit.maps")),
    ("Cohorts and readers", ("ceuskit.study", "ceuskit.store", "ceuskit.stats", "ceuskit.agreement")),
    ("Reports, export and PACS", ("ceuskit.report", "ceuskit.report.tic_plot", "ceuskit.report.cohort", "ceuskit.report.maps",
                                  "ceuskit.export", "ceuskit.export.dicom", "ceuskit.pacs")),
    ("Simulator", ("ceuskit.simulate",)),
    ("Errors", ("ceuskit.errors",)),
)
API_MODULES = tuple(m for _, mods in API_SECTIONS for m in mods)
LONG_VALUE = 120
"""A constant whose repr is longer than this is shown without its value (its docstring says what it holds)."""


def _documented_in(module: str, name: str, obj: Any) -> str:
    """The module of the package ``module`` whose source documents the constant ``name`` (a docstring after
    its assignment) and binds it to ``obj``; ``module`` itself when none does."""
    candidates = [module] + sorted(m for m in sys.modules if m.startswith(module + "."))
    for candidate in candidates:
        if getattr(sys.modules.get(candidate), name, None) is not obj:
            continue
        try:
            if ("", name) in ModuleAnalyzer.for_module(candidate).find_attr_docs():
                return candidate
        except PycodeError:
            continue
    return module


def _canonical(module: str, name: str, obj: Any) -> tuple[str, str]:
    """(kind, dotted name where it is defined) of ``module.name``; a constant belongs to the module that
    documents it, else to the module listing it."""
    if inspect.isclass(obj):
        kind = "exception" if issubclass(obj, BaseException) else "class"
        return kind, f"{obj.__module__}.{obj.__qualname__}"
    if inspect.isfunction(obj) or inspect.isbuiltin(obj) or callable(obj) and hasattr(obj, "__qualname__"):
        return "function", f"{obj.__module__}.{obj.__qualname__}"
    return "data", f"{_documented_in(module, name, obj)}.{name}"


def _owner(canonical: str, listing: list[str]) -> str:
    """The public module that documents ``canonical``: the one defining it (the longest prefix), else the first
    module that lists it."""
    prefixes = [m for m in API_MODULES if canonical.startswith(m + ".")]
    for module in sorted(prefixes, key=len, reverse=True):
        if module in listing:
            return module
    return listing[0]


def api_entries() -> dict[str, list[tuple[str, str, str, Any]]]:
    """Per public module, its ``__all__`` as (name, kind, canonical name, object)."""
    entries: dict[str, list[tuple[str, str, str, Any]]] = {}
    for module in ("ceuskit", *API_MODULES):
        mod = importlib.import_module(module)
        rows = []
        for name in mod.__all__:
            obj = getattr(mod, name)
            kind, canonical = _canonical(module, name, obj)
            rows.append((name, kind, canonical, obj))
        entries[module] = rows
    return entries


def _relative(name: str, module: str) -> str:
    """``name`` as autosummary wants it inside ``module`` (without the current module's prefix), shown short."""
    return "~" + (name[len(module) + 1:] if name.startswith(module + ".") else name)


def _module_page(module: str, rows: list[tuple[str, str, str, Any]], owners: dict[str, str]) -> str:
    title = f"``{module}``"
    lines = [f".. _api-{module}:", "", title, "=" * len(title), "", f".. automodule:: {module}", "   :no-members:",
             "", ".. autosummary::", "   :nosignatures:", ""]
    lines += [f"   {_relative(canonical, module)}" for _, _, canonical, _ in rows]
    lines.append("")
    for _, kind, canonical, obj in rows:
        if owners[canonical] != module:
            continue
        if kind == "data":
            lines += [f".. autodata:: {canonical}"]
            if len(repr(obj)) > LONG_VALUE:
                lines += ["   :no-value:"]
        elif kind == "class":
            lines += [f".. autoclass:: {canonical}", "   :members:", "   :show-inheritance:"]
        elif kind == "exception":
            lines += [f".. autoexception:: {canonical}", "   :show-inheritance:"]
        else:
            lines += [f".. autofunction:: {canonical}"]
        lines.append("")
    return "\n".join(lines)


def _index_page(entries: dict[str, list[tuple[str, str, str, Any]]]) -> str:
    lines = [".. _api:", "", "API reference", "=============", "",
             "Every public name of ceuskit, generated from the docstrings and from each module's ``__all__``: a",
             "name not listed here is internal and may change without notice.", "",
             ".. automodule:: ceuskit", "   :no-members:", "", "The names imported by ``import ceuskit``:", "",
             ".. autosummary::", "   :nosignatures:", ""]
    lines += [f"   {_relative(canonical, 'ceuskit')}" for name, _, canonical, _ in entries["ceuskit"]
              if name != "__version__"]
    lines += ["", ".. autodata:: ceuskit.__version__", "   :no-value:", "",
              "   The version of ceuskit, as ``ceuskit --version`` prints it and every ``analysis.json`` records it.",
              ""]
    for section, modules in API_SECTIONS:
        lines += [section, "-" * len(section), "", ".. toctree::", "   :maxdepth: 1", ""]
        lines += [f"   {m}" for m in modules]
        lines.append("")
    return "\n".join(lines)


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def write_api_pages(app: Sphinx) -> None:
    """Write ``api/generated/index.rst`` and one page per public module (only files whose text changed)."""
    entries = api_entries()
    listing: dict[str, list[str]] = {}
    for module in API_MODULES:
        for _, _, canonical, _ in entries[module]:
            listing.setdefault(canonical, []).append(module)
    missing = sorted(c for _, _, c, _ in entries["ceuskit"] if c not in listing and not c.endswith("__version__"))
    if missing:
        raise RuntimeError(f"public names of ceuskit documented in no API module: {', '.join(missing)}")
    owners = {canonical: _owner(canonical, modules) for canonical, modules in listing.items()}
    out = Path(app.srcdir) / "api" / "generated"
    out.mkdir(parents=True, exist_ok=True)
    wanted = {"index.rst"} | {f"{m}.rst" for m in API_MODULES}
    for stale in out.glob("*.rst"):
        if stale.name not in wanted:
            stale.unlink()
    _write_if_changed(out / "index.rst", _index_page(entries))
    for module in API_MODULES:
        _write_if_changed(out / f"{module}.rst", _module_page(module, entries[module], owners))


def _lookup(dotted: str) -> Any:
    """The object named ``dotted`` (a module, or attributes of the longest importable module prefix), else a
    :class:`LookupError`."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                raise LookupError(dotted)
            obj = getattr(obj, attr)
        return obj
    raise LookupError(dotted)


def resolve_internal(app: Sphinx, env: Any, node: Any, contnode: nodes.Element) -> nodes.Element | None:
    """A reference Sphinx did not find: to a public object under another name (a re-export, a name imported
    into the docstring's module), link it where it is documented; to an internal object that exists, show it
    as plain code; to nothing at all, leave Sphinx's warning (a stale or mistyped name in a docstring)."""
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip(".~")
    module, cls = node.get("py:module"), node.get("py:class")
    candidates = [target]
    if module:
        scopes = [module] + [module.rsplit(".", k)[0] for k in range(1, module.count(".") + 1)]
        candidates = ([f"{module}.{cls}.{target}"] if cls else []) + [f"{s}.{target}" for s in scopes] + candidates
    for candidate in candidates:
        if not candidate.startswith("ceuskit"):
            continue
        try:
            obj = _lookup(candidate)
        except LookupError:
            continue
        canonical = candidate
        if inspect.ismodule(obj):
            canonical = obj.__name__
        elif inspect.isclass(obj) or inspect.isfunction(obj):
            canonical = f"{obj.__module__}.{obj.__qualname__}"
        domain = env.get_domain("py")
        for role in (node["reftype"], "obj"):
            found = domain.resolve_xref(env, node["refdoc"], app.builder, role, canonical, node, contnode)
            if found is not None:
                return found  # type: ignore[no-any-return]
        return contnode
    return None


def factory_defaults(app: Sphinx, what: str, name: str, obj: Any, options: Any, signature: str | None,
                     return_annotation: str | None) -> tuple[str | None, str | None] | None:
    """Show a dataclass field's ``default_factory`` as ``...``: ``<factory>`` is no Python, and a signature
    Sphinx cannot parse loses its type links."""
    if signature and "<factory>" in signature:
        return signature.replace("<factory>", "..."), return_annotation
    return None


def no_object_base(app: Sphinx, name: str, obj: Any, options: Any, bases: list[type]) -> None:
    """No "Bases: object" line under a class that has no other base."""
    if bases == [object]:
        bases.clear()


def no_type_docstring(app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """A constant without a docstring of its own shows none, not its type's (``tuple``'s "Built-in immutable
    sequence…")."""
    if what in ("data", "attribute") and lines and not isinstance(obj, type):
        own = inspect.cleandoc(type(obj).__doc__ or "").splitlines()
        if own and lines[0].strip() == own[0].strip():
            lines.clear()


FIELD_SECTIONS = ("Parameters", "Other Parameters", "Attributes")
FIELD = re.compile(r"^(\*{0,2}[A-Za-z_][\w, *]*?) : (.+)$")


def _is_prose(text: str) -> bool:
    """Whether what follows ``name :`` is a description rather than a numpydoc type ("int, optional")."""
    return text.rstrip().endswith((".", "…", ":", ";")) or len(text.split()) > 5


def prose_fields(app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """Render ``name : description`` field lines (a compact style many ceuskit docstrings use) as numpydoc's
    ``name`` with the description below it, so the description is not shown as the parameter's type.
    Proper numpydoc (``name : type`` with a short type) is left as it is."""
    section = None
    out: list[str] = []
    for k, line in enumerate(lines):
        following = lines[k + 1].strip() if k + 1 < len(lines) else ""
        if line.strip() and following and set(following) == {"-"} and len(following) >= len(line.strip()):
            section = line.strip()
        match = FIELD.match(line) if section in FIELD_SECTIONS else None
        if match and _is_prose(match.group(2)):
            out += [match.group(1), "    " + match.group(2)]
        else:
            out.append(line)
    lines[:] = out


def run_folder(directive: SphinxDirective) -> Path:
    """The working folder of the page being read, emptied the first time one of its directives asks for it."""
    folder = Path(directive.env.srcdir) / "_generated" / "run" / directive.env.docname
    if not directive.env.temp_data.get("ceuskit_run_started"):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        directive.env.temp_data["ceuskit_run_started"] = True
    return folder


class CommandDirective(SphinxDirective):
    """``ceuskit-command ARGS``: run ``ceuskit ARGS`` and show it with its output.

    Options: ``:max-lines: N`` shows only the first N lines of the output; ``:returncode: N`` expects that
    exit status (default 0); ``:hide-command:`` shows the output alone; ``:json:`` shows JSON output laid out
    for reading, long lists cut to their ends.
    """

    required_arguments = 1
    final_argument_whitespace = True
    option_spec = {"max-lines": directives.nonnegative_int, "returncode": int, "hide-command": directives.flag,
                   "json": directives.flag}

    def run(self) -> list[nodes.Node]:
        folder = run_folder(self)
        command = " ".join(self.arguments[0].split())
        env = dict(os.environ, COLUMNS="100", NO_COLOR="1", TERM="dumb", MPLBACKEND="Agg",
                   PYTHONPATH=os.pathsep.join([str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])]))
        code = "import sys; from ceuskit.cli import main; sys.exit(main(sys.argv[1:]))"
        proc = subprocess.run([sys.executable, "-c", code, *shlex.split(command)], cwd=folder, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900, check=False)
        expected = self.options.get("returncode", 0)
        if proc.returncode != expected:
            raise self.error(f"`ceuskit {command}` exited with status {proc.returncode} (expected {expected}):\n"
                             f"{proc.stdout[-2000:]}")
        output = proc.stdout.rstrip("\n").splitlines()
        if "json" in self.options:
            output = format_json(_abbreviate(json.loads(proc.stdout))).splitlines()
        limit = self.options.get("max-lines")
        if limit is not None and len(output) > limit:
            output = [*output[:limit], "…"]
        shown = output if "hide-command" in self.options else [f"$ ceuskit {command}", *output]
        text = "\n".join(shown)
        block = nodes.literal_block(text, text)
        block["language"] = "console"
        return [block]


MAX_ITEMS = 6
"""Longer lists are shown as their first and last items around a count of those left out."""


def _abbreviate(value: Any) -> Any:
    """``value`` with every list longer than :data:`MAX_ITEMS` cut to its ends (and a note of what was cut), and
    floats to ten significant digits."""
    if isinstance(value, dict):
        return {k: _abbreviate(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_abbreviate(v) for v in value]
        if len(items) > MAX_ITEMS:
            return [*items[:3], f"… {len(items) - 4} more …", items[-1]]
        return items
    if isinstance(value, float):
        return float(f"{value:.10g}")  # 14.200000000000001 is shown as 14.2
    return value


def format_json(value: Any, indent: int = 0, used: int = 0, width: int = 100) -> str:
    """JSON as a person reads it: nested objects indented, and anything that fits on one line kept there
    (``used``: characters already on the line before the value)."""
    flat = json.dumps(value, ensure_ascii=False)
    if indent + used + len(flat) <= width or not isinstance(value, (dict, list)) or not value:
        return flat
    pad, inner = " " * indent, " " * (indent + 2)
    if isinstance(value, dict):
        body = [f"{inner}{json.dumps(k, ensure_ascii=False)}: "
                f"{format_json(v, indent + 2, len(json.dumps(k, ensure_ascii=False)) + 2, width)}"
                for k, v in value.items()]
        return "{\n" + ",\n".join(body) + "\n" + pad + "}"
    body = [inner + format_json(v, indent + 2, 0, width) for v in value]
    return "[\n" + ",\n".join(body) + "\n" + pad + "]"


def _pick(document: Any, dotted: str) -> Any:
    value = document
    for part in dotted.split("."):
        if isinstance(value, list):
            value = value[int(part)]
        else:
            value = value[part]
    return value


class JsonDirective(SphinxDirective):
    """``ceuskit-json FILE``: show a JSON file of the page's run folder (``:keys:`` dotted keys to show only),
    long lists cut to their ends."""

    required_arguments = 1
    option_spec = {"keys": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        path = run_folder(self) / self.arguments[0]
        if not path.is_file():
            raise self.error(f"{self.arguments[0]}: no such file in {path.parent} (did a command above write it?)")
        document = json.loads(path.read_text(encoding="utf-8"))
        keys = (self.options.get("keys") or "").split()
        if keys:
            document = {key: _pick(document, key) for key in keys}
        text = format_json(_abbreviate(document))
        block = nodes.literal_block(text, text)
        block["language"] = "json"
        return [block]


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the directives and the API page writer (run before autosummary and autodoc read anything)."""
    app.setup_extension("sphinx.ext.autodoc")
    app.connect("builder-inited", write_api_pages, priority=100)
    app.connect("missing-reference", resolve_internal)
    app.connect("autodoc-process-signature", factory_defaults)
    app.connect("autodoc-process-docstring", no_type_docstring, priority=100)
    app.connect("autodoc-process-bases", no_object_base)
    app.connect("autodoc-process-docstring", prose_fields, priority=110)
    app.add_directive("ceuskit-command", CommandDirective)
    app.add_directive("ceuskit-json", JsonDirective)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
