"""One options object for analyze, analyze_examination and analyze_curves; keywords are shorthand for its fields.

The facts checked come from the options themselves (what was asked) and from the other way of asking: a reading
asked for with the object equals the one asked for with keywords, and the document records what was asked.
"""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import datetime, timedelta

import numpy as np
import pydicom
import pytest

import ceuskit
from ceuskit.curve_analysis import analyze_curves
from ceuskit.errors import InputError
from ceuskit.io.curves import CurveTable
from ceuskit.phases import PhaseOptions
from ceuskit.pipeline import AnalysisOptions, analyze, analyze_examination
from ceuskit.simulate import Phantom, simulate_clip


def _without_time(document: dict) -> dict:
    provenance = {k: v for k, v in document["provenance"].items() if k != "created_utc"}
    return {**document, "provenance": provenance}


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("options")
    return simulate_clip(folder, Phantom(pattern="hyper-early-hypo", seed=5, duration_s=90.0, fps=2.0, lead_in_s=3.0))


def test_the_object_and_its_keywords_read_alike(clip):
    options = AnalysisOptions(injection_time_s=3.0, motion=False, model="lognormal",
                              phases=PhaseOptions(hyper_db=2.5))
    by_object = analyze(clip.dicom, clip.roi, options).document
    by_keywords = analyze(clip.dicom, clip.roi, injection_time_s=3.0, motion=False, model="lognormal",
                          phases=PhaseOptions(hyper_db=2.5)).document
    mixed = analyze(clip.dicom, clip.roi, replace(options, model="auto"), model="lognormal").document
    assert _without_time(by_object) == _without_time(by_keywords) == _without_time(mixed)
    assert by_object["provenance"]["options"] == options.to_json()
    assert by_object["provenance"]["options_hash"] == options.digest()
    assert by_object["provenance"]["options"]["phases"]["hyper_db"] == 2.5
    assert {f.name for f in fields(AnalysisOptions)} == set(by_object["provenance"]["options"])


def test_an_examination_of_one_clip_is_that_clip(clip):
    options = AnalysisOptions(injection_time_s=3.0, motion=False)
    alone = analyze(clip.dicom, clip.roi, options).document
    examination = analyze_examination([clip.dicom], [clip.roi], options).document
    assert _without_time(alone) == _without_time(examination)


def test_auto_injection_is_recorded_as_the_seconds_it_resolved_to(clip, tmp_path):
    ds = pydicom.dcmread(clip.dicom)  # as scanners write it: acquisition time, injection as Contrast/Bolus Start
    acquired = datetime(2026, 3, 2, 9, 30, 0)
    ds.AcquisitionDateTime = acquired.strftime("%Y%m%d%H%M%S.%f")
    ds.ContrastBolusStartTime = (acquired + timedelta(seconds=3.0)).strftime("%H%M%S.%f")
    ds.save_as(tmp_path / "stated.dcm")
    document = analyze(tmp_path / "stated.dcm", clip.roi, AnalysisOptions(injection_time_s="auto",
                                                                          motion=False)).document
    recorded = document["provenance"]["options"]["injection_time_s"]
    assert recorded == pytest.approx(3.0, abs=1e-3)
    assert recorded == document["clip"]["injection_time_s"]


def test_an_unknown_setting_is_named(clip):
    with pytest.raises(TypeError, match="injection_time\\b.*the settings are injection_time_s"):
        analyze(clip.dicom, clip.roi, injection_time=3.0)


@pytest.mark.parametrize(("settings", "message"), [
    ({"size_mm": -4.0}, "lesion size -4.0 mm must be a positive number"),
    ({"model": "cubic"}, "model 'cubic' is not one of auto, lognormal"),
    ({"injection_time_s": "soon"}, "injection time 'soon' is neither a number of seconds nor 'auto'"),
])
def test_bad_settings_are_refused_before_any_frame_is_read(clip, settings, message):
    with pytest.raises(InputError, match=message):
        analyze(clip.dicom, clip.roi, AnalysisOptions(**settings))


def test_curve_tables_take_the_same_object(clip):
    table = analyze(clip.dicom, clip.roi, injection_time_s=3.0, motion=False).tic
    curves = CurveTable(source="clip-curves.csv", sha256="0" * 64, format="table", times_s=table["time_s"] + 3.0,
                        names=("lesion", "liver"), values=np.vstack([table["lesion_power"], table["liver_power"]]),
                        units="power", roles={"lesion": "lesion", "liver": "parenchyma"}, roles_from="columns")
    options = AnalysisOptions(injection_time_s=3.0, model="lognormal")
    by_object = analyze_curves(curves, options).document
    by_keywords = analyze_curves(curves, injection_time_s=3.0, model="lognormal").document
    assert _without_time(by_object) == _without_time(by_keywords)
    recorded = by_object["provenance"]["options"]
    assert recorded["motion"] is False and recorded["overlays"] is False  # a table has no images
    with pytest.raises(InputError, match="a curve table states no contrast injection time"):
        analyze_curves(curves, options, injection_time_s="auto")


def test_the_options_are_public():
    assert ceuskit.AnalysisOptions is AnalysisOptions
