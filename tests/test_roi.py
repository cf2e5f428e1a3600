"""ROI files ⇄ masks.  Expected areas come from closed forms (ellipse πab, polygon shoelace)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image

from ceuskit.errors import RoiError
from ceuskit.io.rois import load_rois
from ceuskit.roi import parse_rois


def _doc(*rois, units="px", reference_frame=0):
    return {"reference_frame": reference_frame, "units": units, "rois": list(rois)}


LESION = {"name": "lesion", "role": "lesion", "shape": "ellipse", "center": [60, 50], "radii": [20, 12]}
LIVER = {"name": "liver", "role": "parenchyma", "shape": "polygon", "points": [[5, 5], [45, 5], [45, 25], [5, 25]]}


def test_ellipse_and_polygon_areas_match_closed_forms():
    rois = parse_rois(_doc(LESION, LIVER))
    masks = rois.masks(100, 120)
    # pixel-centre rasterisation of an ellipse: area π·a·b within a perimeter's worth of pixels
    assert abs(masks["lesion"].sum() - math.pi * 20 * 12) < 2 * math.pi * 20
    # the 40×20 polygon covers its pixel centres: 40·20 up to one edge row/column each way
    assert 40 * 20 <= masks["liver"].sum() <= 41 * 21
    assert rois.reference_of(rois.lesions[0]).name == "liver"


def test_mm_units_use_the_pixel_spacing():
    mm = dict(LESION, center=[60 * 0.3, 50 * 0.25], radii=[20 * 0.3, 12 * 0.25])
    in_mm = parse_rois(_doc(mm, LIVER | {"points": [[x * 0.3, y * 0.25] for x, y in LIVER["points"]]}, units="mm"),
                       pixel_spacing_mm=(0.3, 0.25))
    in_px = parse_rois(_doc(LESION, LIVER))
    for a, b in zip(in_mm.masks(100, 120).values(), in_px.masks(100, 120).values(), strict=True):
        assert np.array_equal(a, b)


def test_rectangle_and_translation():
    rect = {"name": "box", "role": "lesion", "shape": "rectangle", "box": [10, 20, 30, 40]}
    rois = parse_rois(_doc(rect, LIVER))
    moved = rois.translated(5, -3).masks(100, 120)["box"]
    assert np.array_equal(np.argwhere(moved), np.argwhere(rois.masks(100, 120)["box"]) + [-3, 5])


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([1, 2], "expected a JSON object"),
        (_doc(), "non-empty list"),
        (_doc(dict(LESION, shape="circle")), "shape 'circle'"),
        (_doc(dict(LESION, radii=[0, 3])), "degenerate"),
        (_doc(dict(LESION, center=["a", 3])), "two numbers"),
        (_doc(dict(LIVER, role="lesion", points=[[0, 0], [1, 1], [2, 2]])), "no area"),
        (_doc(dict(LESION, role="tumour")), "role 'tumour'"),
        (_doc(LESION, dict(LESION)), "unique"),
        (_doc(dict(LESION, reference="nowhere")), "not a parenchyma ROI"),
        (_doc(LIVER), "no ROI has role 'lesion'"),
        (_doc(LESION, units="inch"), "units"),
        (_doc(LESION, units="mm"), "no pixel spacing"),
        (_doc(LESION, reference_frame=-1), "reference_frame"),
    ],
)
def test_malformed_roi_documents_raise_roi_error(document, message):
    with pytest.raises(RoiError, match=message):
        parse_rois(document)


def test_roi_outside_the_image_is_refused():
    rois = parse_rois(_doc(dict(LESION, center=[115, 50]), LIVER))
    with pytest.raises(RoiError, match="outside the image"):
        rois.masks(100, 120)


def test_roi_files_json_png_nifti(tmp_path):
    (tmp_path / "r.json").write_text(json.dumps(_doc(LESION, LIVER)))
    from_json = load_rois(tmp_path / "r.json").masks(100, 120)
    labels = np.zeros((100, 120), np.uint8)
    labels[from_json["lesion"]] = 1
    labels[from_json["liver"]] = 2
    Image.fromarray(labels).save(tmp_path / "r.png")
    from_png = load_rois(tmp_path / "r.png", reference_frame=4)
    assert from_png.reference_frame == 4
    import nibabel

    nibabel.save(nibabel.Nifti1Image(labels.T.astype(np.int16), np.eye(4)), tmp_path / "r.nii.gz")
    from_nii = load_rois(tmp_path / "r.nii.gz")
    for loaded in (from_png, from_nii):
        masks = loaded.masks(100, 120)
        assert np.array_equal(masks["lesion"], from_json["lesion"])
        assert np.array_equal(masks["liver"], from_json["liver"])
        assert loaded.parenchyma[0].name == "liver"


def test_bad_roi_files(tmp_path):
    with pytest.raises(RoiError, match="no such ROI file"):
        load_rois(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(RoiError, match="not valid ROI JSON"):
        load_rois(tmp_path / "bad.json")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(RoiError, match="not a readable label image"):
        load_rois(tmp_path / "bad.png")
