"""Hostile ROI files, label masks and study manifests.

Property: the reader returns a valid result (masks inside the image with at least one pixel; manifest rows
with their fields) or raises the reader's own ``CeusError`` subclass with a one-line message.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ceuskit.errors import ManifestError, RoiError
from ceuskit.io.rois import load_rois
from ceuskit.roi import parse_rois
from ceuskit.study import read_manifest

sys.path.insert(0, str(Path(__file__).parent))
from fuzz_settings import examples, time_limit_s  # noqa: E402

pytestmark = pytest.mark.timeout(time_limit_s(300))

ROWS, COLUMNS = 48, 64

_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                       st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8))
_json = st.recursive(_json_leaf, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(st.text(max_size=6), inner, max_size=4)),
                     max_leaves=12)
_number = st.one_of(st.floats(-200, 200), st.integers(-200, 200), st.just(float("nan")), st.just(float("inf")),
                    st.just(1e308), st.text(max_size=3), st.none())
_pair = st.one_of(st.lists(_number, min_size=2, max_size=2), st.lists(_number, max_size=3), _json_leaf)
_roi = st.fixed_dictionaries(
    {"shape": st.sampled_from(["ellipse", "polygon", "rectangle", "circle", None, 3])},
    optional={"name": st.one_of(st.sampled_from(["lesion", "liver", "l2", ""]), _json_leaf),
              "role": st.sampled_from(["lesion", "parenchyma", "liver", None, 1]),
              "center": _pair, "radii": _pair, "box": st.lists(_number, max_size=5),
              "points": st.one_of(st.lists(_pair, max_size=7), _json_leaf),
              "reference": st.one_of(st.sampled_from(["liver", "lesion", "nowhere"]), _json_leaf)})
_document = st.one_of(_json, st.fixed_dictionaries(
    {"rois": st.one_of(st.lists(_roi, max_size=4), _json_leaf)},
    optional={"units": st.sampled_from(["px", "mm", "cm", None]),
              "reference_frame": st.one_of(st.integers(-3, 10**9), _json_leaf)}))


def _one_line(exc: Exception) -> None:
    text = str(exc)
    assert text and "\n" not in text.strip() and "Traceback" not in text


@settings(settings.get_profile("ceuskit-fuzz"), max_examples=examples(4000))
@given(document=_document, spacing=st.one_of(st.none(), st.tuples(st.floats(0.01, 2), st.floats(0.01, 2))))
def test_roi_documents(document: object, spacing: tuple[float, float] | None) -> None:
    try:
        rois = parse_rois(document, pixel_spacing_mm=spacing)
        masks = rois.masks(ROWS, COLUMNS)
    except RoiError as exc:
        _one_line(exc)
        return
    assert rois.lesions and rois.reference_frame >= 0
    for mask in masks.values():
        assert mask.shape == (ROWS, COLUMNS) and mask.dtype == bool and mask.any()


@settings(settings.get_profile("ceuskit-fuzz"), max_examples=examples(1500))
@given(text=st.one_of(st.text(max_size=200), st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
                      _document.map(lambda d: json.dumps(d, allow_nan=True))))
def test_roi_files(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path = tmp_path_factory.getbasetemp() / "rois.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_rois(path).masks(ROWS, COLUMNS)
    except RoiError as exc:
        _one_line(exc)


@settings(settings.get_profile("ceuskit-fuzz"), max_examples=examples(1500))
@given(shape=st.lists(st.integers(0, 12), min_size=0, max_size=4),
       dtype=st.sampled_from(["u1", "u2", "i2", "f4", "f8", "?"]),
       fill=st.one_of(st.floats(-3, 300), st.just(float("nan"))),
       kind=st.sampled_from(["png", "tif", "nii.gz", "nii"]))
def test_label_masks(tmp_path_factory: pytest.TempPathFactory, shape: list[int], dtype: str, fill: float, kind: str
                     ) -> None:
    from PIL import Image

    folder = tmp_path_factory.getbasetemp()
    path = folder / f"mask.{kind}"
    array = np.zeros(shape, dtype=dtype)
    if array.size:
        flat = array.reshape(-1)
        with np.errstate(invalid="ignore"):
            flat[: max(1, flat.size // 2)] = np.asarray(fill).astype(dtype)
    try:
        if kind in ("png", "tif"):
            Image.fromarray(array).save(path)
        else:
            import nibabel

            nibabel.save(nibabel.Nifti1Image(array.astype(np.float32) if dtype == "?" else array, np.eye(4)),
                         str(path))
    except (TypeError, ValueError, KeyError, OSError, Exception):  # the writer itself refuses the array
        path.write_bytes(array.tobytes()[:64])  # then the reader sees a damaged file instead
    try:
        rois = load_rois(path)
        masks = rois.masks(*rois.rois[0].mask_array.shape)
    except RoiError as exc:
        _one_line(exc)
        return
    assert all(m.any() for m in masks.values())


_MANIFEST_COLUMNS = ["patient_id", "lesion_id", "clip", "roi", "ki67", "who_grade", "injection_time_s",
                     "dynamic_range_db", "size_mm", "reader", "arterial", "washout", "late", "primary_site"]
_cell = st.one_of(st.sampled_from(["", "P1", "L1", "clip.dcm", "roi.json", "../clip.dcm", "/etc/passwd", "5",
                                   "-1", "nan", "inf", "1e400", "G1", "G3", "NEC", "hyper", "early", "yes",
                                   "\u00e9\u00e8", "0x10"]),
                  st.text(max_size=12))


OUTCOMES: list[int] = []


@pytest.fixture(scope="module")
def manifest_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a small real clip and ROI file, for the rows that name them."""
    from ceuskit.simulate import Phantom, simulate_clip

    folder = tmp_path_factory.mktemp("manifest")
    clip = simulate_clip(folder, Phantom(duration_s=6.0, fps=2.0), name="clip")
    clip.roi.rename(folder / "roi.json")
    return folder


@settings(settings.get_profile("ceuskit-fuzz"), max_examples=examples(3000))
@given(columns=st.one_of(
           st.lists(st.sampled_from(_MANIFEST_COLUMNS + ["extra", "patient_id"]), min_size=0, max_size=9),
           st.lists(st.sampled_from(_MANIFEST_COLUMNS[5:] + ["extra"]), max_size=4, unique=True).map(
               lambda extra: _MANIFEST_COLUMNS[:5] + extra)),
       rows_valid=st.lists(st.tuples(st.sampled_from(["P1", "P2", "P1"]), st.sampled_from(["L1", "L2"]),
                                     st.sampled_from(["5", "0", "100", "55.5", "", "-1", "abc"])), max_size=3),
       rows=st.lists(st.lists(_cell, min_size=0, max_size=10), max_size=4),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16"]),
       raw=st.one_of(st.none(), st.binary(max_size=120)))
def test_manifests(manifest_folder: Path, columns: list[str], rows_valid: list[tuple[str, str, str]],
                   rows: list[list[str]], encoding: str, raw: bytes | None) -> None:
    path = manifest_folder / "manifest.csv"
    rows = [[p, lesion, "clip.dcm", "roi.json", k] for p, lesion, k in rows_valid] + rows
    if raw is not None:
        path.write_bytes(raw)
    else:
        with open(path, "w", newline="", encoding=encoding, errors="replace") as fh:
            writer = csv.writer(fh)
            writer.writerow(columns)
            writer.writerows(rows)
    try:
        lesions, reads = read_manifest(path)
    except ManifestError as exc:
        _one_line(exc)
        return
    OUTCOMES.append(len(lesions))
    for lesion in lesions:
        assert lesion.patient and lesion.lesion and all(Path(clip.path).exists() for clip in lesion.clips)
        assert lesion.ki67_percent is None or 0 <= lesion.ki67_percent <= 100
        assert math.isfinite(lesion.injection_time_s) and lesion.injection_time_s >= 0


def test_manifest_fuzzing_reached_valid_manifests() -> None:
    """The generator is not all noise: some manifests were read successfully, with lesions."""
    if not OUTCOMES:
        pytest.skip("counts the outcomes of test_manifests, which did not run in this session")
    assert sum(1 for n in OUTCOMES if n) >= 20
