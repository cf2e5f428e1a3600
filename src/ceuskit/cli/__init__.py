"""The ``ceuskit`` command.

Each sub-command group lives in its own module and registers itself on :data:`app`; this module only
turns errors into the one-line form ``ceuskit: error: …`` (exit status 2) that DESIGN promises.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import click
import typer

from ceuskit.errors import CeusError

__all__ = ["app", "main", "run"]

app = typer.Typer(
    name="ceuskit",
    help="Contrast-enhanced ultrasound of focal liver lesions: clips in, characterisation and statistics out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

# Sub-command modules register their commands on `app` when imported.
from ceuskit.cli import clips as _clips  # noqa: E402,F401
from ceuskit.cli import study as _study  # noqa: E402,F401


def _error(message: str) -> int:
    print(f"ceuskit: error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    try:
        result = app(args=list(argv) if argv is not None else None, standalone_mode=False, prog_name="ceuskit")
    except CeusError as exc:
        return _error(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    except click.exceptions.UsageError as exc:
        return _error(exc.format_message().replace("\n", " "))
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except (click.exceptions.Abort, KeyboardInterrupt):
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
