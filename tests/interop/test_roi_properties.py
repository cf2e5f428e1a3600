"""Property tests: random ROI sets survive DICOM SEG (read by highdicom) and NIfTI (read by load_rois) pixel
for pixel, against ceuskit.roi's own rasterisation.  Derandomised, so every run checks the same cases.

Each ROI gets its own cell of a 2×2 grid of the frame, so the sets are disjoint (a label mask's condition);
the SEG test adds a liver rectangle over the whole frame too, which overlaps everything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ceuskit.export.dicom import build_seg
from ceuskit.export.nifti import write_roi_nifti
from ceuskit.io.rois import load_rois
from ceuskit.roi import parse_rois
from ceuskit.simulate import Phantom, simulate_clip

PROPERTY = settings(max_examples=100, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("props")
    path = simulate_clip(folder, Phantom(pattern="iso-none-iso", seed=2, duration_s=12.0, fps=2.0), name="c").dicom
    header = pydicom.dcmread(path, stop_before_pixels=True)
    return {"path": path, "rows": int(header.Rows), "columns": int(header.Columns),
            "frames": int(header.NumberOfFrames), "uid": header.SOPInstanceUID}


@st.composite
def roi_cells(draw: st.DrawFn, rows: int, columns: int) -> list[dict[str, Any]]:
    """1–4 ellipses or rectangles, each inside its own quadrant, with fractional coordinates."""
    cells = draw(st.lists(st.sampled_from([(0, 0), (1, 0), (0, 1), (1, 1)]), min_size=1, max_size=4, unique=True))
    out = []
    for k, (i, j) in enumerate(cells):
        x0, y0 = i * columns / 2 + 1, j * rows / 2 + 1
        w, h = columns / 2 - 2, rows / 2 - 2
        fx = draw(st.floats(0.1, 0.9))
        fy = draw(st.floats(0.1, 0.9))
        cx, cy = x0 + fx * w, y0 + fy * h
        rx = draw(st.floats(1.5, max(1.5, min(fx, 1 - fx) * w)))
        ry = draw(st.floats(1.5, max(1.5, min(fy, 1 - fy) * h)))
        role = "parenchyma" if k == 1 else "lesion"
        if draw(st.booleans()):
            out.append({"name": f"r{k}", "role": role, "shape": "ellipse", "center": [cx, cy], "radii": [rx, ry]})
        else:
            out.append({"name": f"r{k}", "role": role, "shape": "rectangle", "box": [cx - rx, cy - ry, cx + rx, cy + ry]})
    return out


@given(data=st.data())
@PROPERTY
def test_seg_masks_equal_the_rasterisation(clip: dict[str, Any], tmp_path: Path, data: st.DataObject) -> None:
    rows, columns = clip["rows"], clip["columns"]
    rois_json = data.draw(roi_cells(rows, columns))
    rois_json.append({"name": "frame", "role": "parenchyma", "shape": "rectangle",
                      "box": [0, 0, columns - 1, rows - 1]})
    frame = data.draw(st.integers(0, clip["frames"] - 1))
    rois = parse_rois({"reference_frame": frame, "rois": rois_json})
    seg = hd.seg.Segmentation.from_dataset(build_seg(clip["path"], rois))
    pixels = seg.get_pixels_by_source_frame(clip["uid"], source_frame_numbers=[frame + 1],
                                           segment_numbers=list(range(1, len(rois.rois) + 1)))
    for i, (name, mask) in enumerate(rois.masks(rows, columns).items()):
        assert np.array_equal(pixels[0, ..., i].astype(bool), mask), name


@given(data=st.data())
@PROPERTY
def test_nifti_label_mask_round_trip(clip: dict[str, Any], tmp_path: Path, data: st.DataObject) -> None:
    rows, columns = clip["rows"], clip["columns"]
    rois_json = data.draw(roi_cells(rows, columns))
    frame = data.draw(st.integers(0, clip["frames"] - 1))
    rois = parse_rois({"reference_frame": frame, "rois": rois_json})
    path = write_roi_nifti(tmp_path / "rois.nii.gz", rois, rows, columns, (0.3, 0.3))
    back = load_rois(path)
    original = rois.masks(rows, columns)
    returned = back.masks(rows, columns)
    # label order (1 the first lesion, 2 the parenchyma, 3… further lesions), each ROI under its own name
    lesions = [(r["name"], "lesion") for r in rois_json if r["role"] == "lesion"]
    parenchyma = [(r["name"], "parenchyma") for r in rois_json if r["role"] == "parenchyma"]
    assert [(r.name, r.role) for r in back.rois] == lesions[:1] + parenchyma + lesions[1:]
    assert back.reference_frame == frame
    for back_name, name in {r["name"]: r["name"] for r in rois_json}.items():
        assert np.array_equal(returned[back_name], original[name]), (back_name, name)
