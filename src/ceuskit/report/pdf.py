"""The PDF of a report: the same HTML, typeset by Chromium's print engine (headless, no network).

Chromium is found as ``CEUSKIT_CHROMIUM``, else ``chromium``, ``chromium-browser``, ``google-chrome`` or
``google-chrome-stable`` on the PATH (Debian: ``apt install chromium``; ``make install`` installs it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ceuskit.errors import ReportError

__all__ = ["find_chromium", "html_to_pdf"]

_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """Return the Chromium executable to print with, or None."""
    given = os.environ.get("CEUSKIT_CHROMIUM")
    if given:
        return given if Path(given).is_file() and os.access(given, os.X_OK) else None
    for name in _NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def html_to_pdf(html: Path, pdf: Path, *, timeout_s: float = 180.0) -> None:
    """Print ``html`` (a self-contained file: no network is used) to ``pdf`` with headless Chromium.

    Raises
    ------
    ReportError
        When no Chromium is installed, or it fails or takes longer than ``timeout_s`` seconds.
    """
    chromium = find_chromium()
    if chromium is None:
        raise ReportError("the PDF report is printed by Chromium, which is not installed: apt install chromium "
                          "(or set CEUSKIT_CHROMIUM to its path); the HTML report was written")
    with tempfile.TemporaryDirectory(prefix="ceuskit-chromium-") as profile:
        command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                   "--no-first-run", "--disable-background-networking", "--disable-component-update",
                   "--disable-sync", "--disable-extensions", "--no-pdf-header-footer",
                   "--allow-file-access-from-files", f"--user-data-dir={profile}",
                   f"--print-to-pdf={pdf}", html.resolve().as_uri()]
        try:
            done = subprocess.run(command, capture_output=True, timeout=timeout_s, check=False,
                                  env={**os.environ, "HOME": profile})
        except subprocess.TimeoutExpired:
            raise ReportError(f"Chromium did not print the report within {timeout_s:.0f} s") from None
        except OSError as exc:
            raise ReportError(f"Chromium could not be started ({exc.strerror})") from None
    if done.returncode != 0 or not pdf.is_file() or pdf.stat().st_size == 0:
        last = (done.stderr.decode(errors="replace").strip().splitlines() or ["no message"])[-1][:200]
        raise ReportError(f"Chromium could not print the report (exit {done.returncode}: {last})")
