"""What a reader sees: labels in words (``late: not assessed``, never ``not_assessed``) in printed text and
``tic.png`` titles; a figure whose title clears the phase names, whose quality flags are whole (no "…") and
whose text stays inside the image; map PNGs whose colour bar keeps a margin to the right edge.

Cases from the simulator with their truth: a 60 s clip ends before the late phase (120 s), so its truth
says the late phase is not assessed; the late-start case carries long quality messages.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from ceuskit.cli import main
from ceuskit.pipeline import analyze
from ceuskit.report.tic_plot import quality_lines, tic_figure
from ceuskit.report.words import label_words, reading_words, washout_words
from ceuskit.simulate import Phantom, simulate_clip
from ceuskit.simulate.cases import real_world_case


def test_label_words() -> None:
    assert [label_words(c) for c in ("not_assessed", "hyper", None, "LR-M")] == \
        ["not assessed", "hyper", "none", "LR-M"]
    assert washout_words({"washout": True, "washout_timing": "early", "washout_degree": "mild"}) == "early, mild"
    assert washout_words({"washout": False, "washout_timing": None, "washout_degree": None}) == "none"
    lesion = {"arterial_phase": {"enhancement": "hyper"}, "late_phase": {"enhancement": "not_assessed"},
              "portal_venous_phase": {"washout": True, "washout_timing": "late", "washout_degree": "marked"}}
    assert reading_words(lesion) == "arterial: hyper · wash-out: late, marked · late: not assessed"


@pytest.fixture(scope="module")
def short(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return simulate_clip(tmp_path_factory.mktemp("short"), Phantom(seed=2, duration_s=60.0, fps=3.0), name="short")


def test_printed_reading_says_labels_in_words(short: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    truth = json.loads(short.truth.read_text())["pattern"]
    assert main(["analyze", str(short.dicom), "--roi", str(short.roi), "--out", str(tmp_path / "res")]) == 0
    out = capsys.readouterr().out
    assert "_" not in out.split("quality")[0]  # the reading line; flag codes below keep their names
    line = next(line for line in out.splitlines() if line.startswith("lesion vs liver: "))
    assert f"arterial: {truth['arterial']} (" in line
    assert f"wash-out: {truth['washout_timing']}, {truth['washout_degree']}, from " in line
    assert line.endswith("late: not assessed")  # 60 s: no late phase (the simulator's own late label is later)
    document = json.loads((tmp_path / "res" / "analysis.json").read_text())
    assert document["lesions"][0]["late_phase"]["enhancement"] == "not_assessed"  # the file keeps its codes


def _figure(analysis: Any, path: Path, monkeypatch: pytest.MonkeyPatch) -> Figure:
    """The Figure ``tic_figure`` saves (caught at savefig), drawn so its text has positions."""
    caught: list[Figure] = []
    original = Figure.savefig

    def keep(self: Figure, *args: Any, **kwargs: Any) -> None:
        caught.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    tic_figure(analysis, path)
    (figure,) = caught
    return figure


def test_tic_png_title_flags_and_margins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    phantom = real_world_case("late-start")
    clip = simulate_clip(tmp_path, phantom, name="late")
    analysis = analyze(clip.dicom, clip.roi, injection_time_s=phantom.lead_in_s,
                       dynamic_range_db=phantom.dynamic_range_db)
    document = analysis.document
    assert len(document["quality"]) >= 3 and max(len(f["message"]) for f in document["quality"]) > 140
    figure = _figure(analysis, tmp_path / "tic.png", monkeypatch)
    canvas = FigureCanvasAgg(figure)  # as savefig drew it: constrained layout, then the text's positions
    canvas.draw()
    renderer = canvas.get_renderer()
    ax = figure.axes[0]
    lesion = document["lesions"][0]
    assert ax.get_title() == f"{lesion['roi']} — {reading_words(lesion)}"
    assert "not assessed" in ax.get_title() and "_" not in ax.get_title().split(" — ")[1]
    title = ax.title.get_window_extent(renderer)
    bands = [t for t in ax.texts if t.get_text() in ("arterial", "portal venous", "late")]
    assert bands and not any(title.overlaps(t.get_window_extent(renderer)) for t in bands)
    whole = figure.bbox
    texts = [ax.title, *bands, figure._supxlabel]
    for text in texts:  # nothing drawn past the image's edges
        box = text.get_window_extent(renderer)
        assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= whole.x1 and box.y1 <= whole.y1, text.get_text()[:40]
    flags = figure._supxlabel.get_text()
    assert "…" not in flags
    for flag in document["quality"]:  # every message whole, wrapped over lines
        assert " ".join(flag["message"].split()) in " ".join(flags.split())
    assert all(len(line) <= 140 for line in quality_lines(document))


def test_map_png_colour_bar_keeps_a_margin(short: Any, tmp_path: Path) -> None:
    assert main(["map", str(short.dicom), "--roi", str(short.roi), "--out", str(tmp_path / "maps"), "--block",
                 "4"]) == 0
    pngs = sorted((tmp_path / "maps").glob("*.png"))
    assert len(pngs) >= 7
    for png in pngs:  # the colour bar's ticks and label end inside the picture, with white beyond them
        grey = np.asarray(Image.open(png).convert("L"))
        ink = np.flatnonzero((grey < 200).any(axis=0))
        assert grey.shape[1] - 1 - ink.max() >= 5, png.name
