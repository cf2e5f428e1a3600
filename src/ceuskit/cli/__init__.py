"""The ``ceuskit`` command.

Each sub-command group lives in its own module and registers itself on :data:`app`; this module only
turns errors into the one-line form ``ceuskit: error: …`` (exit status 2) that DESIGN promises.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

# Sub-command modules register their commands on `app` (ceuskit.cli.command) when imported.
from ceuskit.cli import accounts as _accounts  # noqa: F401
from ceuskit.cli import clips as _clips  # noqa: F401
from ceuskit.cli import deid as _deid  # noqa: F401
from ceuskit.cli import export as _export  # noqa: F401
from ceuskit.cli import maps as _maps  # noqa: F401
from ceuskit.cli import pacs as _pacs  # noqa: F401
from ceuskit.cli import rois as _rois  # noqa: F401
from ceuskit.cli import serve as _serve  # noqa: F401
from ceuskit.cli import study as _study  # noqa: F401
from ceuskit.cli.command import app
from ceuskit.errors import CeusError

__all__ = ["app", "main", "run"]


def _exception_classes(name: str) -> tuple[type[BaseException], ...]:
    """``name`` from click and from the click that typer may vendor (typer ≥ 0.26 ships its own)."""
    found: list[type[BaseException]] = []
    for module in ("click.exceptions", "typer._click.exceptions", "typer.exceptions"):
        try:
            cls = getattr(importlib.import_module(module), name, None)
        except ImportError:
            continue
        if isinstance(cls, type) and cls not in found:
            found.append(cls)
    return tuple(found)


_NO_ARGS = _exception_classes("NoArgsIsHelpError")
_USAGE = _exception_classes("UsageError")
_EXIT = _exception_classes("Exit")
_INTERRUPT: tuple[type[BaseException], ...] = (*_exception_classes("Abort"), KeyboardInterrupt)


def _error(message: str) -> int:
    print(f"ceuskit: error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    try:
        result = app(args=list(argv) if argv is not None else None, standalone_mode=False, prog_name="ceuskit")
    except CeusError as exc:
        return _error(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    except _NO_ARGS as exc:  # `ceuskit` alone: show the help, as --help would
        print(exc.format_message() if hasattr(exc, "format_message") else str(exc), file=sys.stderr)
        return 2
    except _USAGE as exc:
        text = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        return _error(" ".join(text.split()))
    except _EXIT as exc:
        return int(getattr(exc, "exit_code", 0) or 0)
    except _INTERRUPT:
        print("ceuskit: interrupted", file=sys.stderr)
        return 130
    except FileNotFoundError as exc:
        return _error(f"no such file: {exc.filename}")
    except PermissionError as exc:
        return _error(f"permission denied: {exc.filename}")
    except MemoryError:
        return _error("out of memory; try a smaller region, a larger --block or fewer workers")
    except Exception as exc:  # a bug: say so in one line, keep the traceback for whoever debugs it
        if os.environ.get("CEUSKIT_DEBUG"):
            raise
        print(f"ceuskit: internal error: {type(exc).__name__}: {exc} (rerun with CEUSKIT_DEBUG=1 for details)",
              file=sys.stderr)
        return 1
    return int(result) if isinstance(result, int) else 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
