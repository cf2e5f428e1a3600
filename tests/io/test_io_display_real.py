"""Every real ultrasound DICOM file in the installed test-data packages gets a display map without error.

Expected kinds come from the file's own header read here with pydicom: monochrome files are grey displays;
colour files are grey, mapped or read by luminance with a note, never an error.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from io_testdata import UsFile, discover_us_files, materialise

from ceuskit.feed import clip_summary, display_maps
from ceuskit.io import open_clip
from ceuskit.preprocess.display import SOURCES

US_FILES = discover_us_files()


@pytest.mark.parametrize("entry", US_FILES, ids=[e.label for e in US_FILES])
def test_display_map_of_real_files(entry: UsFile, extracted: Path) -> None:
    path = materialise(entry, extracted)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    with open_clip(path, fps=12.5) as clip:
        display = display_maps(clip, bmode=False).ceus
        summary = clip_summary(path, fps=12.5)["display"]
        frame = clip.raw(0)
        x0, y0, x1, y1 = clip.ceus_region.box
        read = display.to_grey(frame[y0:y1, x0:x1])
    assert display.source in SOURCES and summary == display.to_json()
    assert read.shape == (y1 - y0, x1 - x0) and read.dtype == np.float32
    assert (display.source == "luminance") == bool(display.note)
    if str(ds.PhotometricInterpretation).startswith("MONOCHROME"):
        assert display.kind == "grey"
    finite = read[np.isfinite(read)]
    assert finite.size == 0 or (finite.min() >= 0 and finite.max() <= 255.01)
