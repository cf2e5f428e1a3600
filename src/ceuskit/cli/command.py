"""The :data:`app` every sub-command module registers its commands on, and the options of ``ceuskit`` itself.

It sits below the sub-command modules (each imports it) and below :mod:`ceuskit.cli`, which imports them all
and runs the app.
"""

from __future__ import annotations

import typer

from ceuskit._version import __version__

__all__ = ["app"]

app = typer.Typer(
    name="ceuskit",
    help="Contrast-enhanced ultrasound of focal liver lesions: clips in, characterisation and statistics out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    """Print ``ceuskit VERSION`` and stop, for ``ceuskit --version``."""
    if value:
        typer.echo(f"ceuskit {__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: bool = typer.Option(False, "--version", help="Print ceuskit's version and exit.",
                                          callback=_print_version, is_eager=True)) -> None:
    """Contrast-enhanced ultrasound of focal liver lesions: clips in, characterisation and statistics out."""
