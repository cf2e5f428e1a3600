"""Figures and reports: the reading's TIC figure (``tic_plot``) and the cohort report (``cohort``)."""

from __future__ import annotations

from typing import Any

__all__ = ["seed_comparison", "stats_lines", "write_analysis", "write_report"]


def write_analysis(*args: Any, **kwargs: Any) -> Any:
    """See :func:`ceuskit.report.tic_plot.write_analysis` (imported lazily: it needs matplotlib)."""
    from ceuskit.report.tic_plot import write_analysis as impl

    return impl(*args, **kwargs)


def write_report(*args: Any, **kwargs: Any) -> Any:
    """See :func:`ceuskit.report.cohort.write_report` (imported lazily: it needs Jinja2 and the store)."""
    from ceuskit.report.cohort import write_report as impl

    return impl(*args, **kwargs)


def seed_comparison(result: Any) -> list[str]:
    """See :func:`ceuskit.report.cohort.seed_comparison`."""
    from ceuskit.report.cohort import seed_comparison as impl

    return impl(result)


def stats_lines(result: Any) -> list[str]:
    """See :func:`ceuskit.report.cohort.stats_lines`."""
    from ceuskit.report.cohort import stats_lines as impl

    return impl(result)
