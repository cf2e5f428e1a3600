"""Curves without a clip: every layout ``ceuskit analyze CURVES`` reads, each from a file written in it.

The curves are the simulator's (ceuskit.simulate.curve_cases: closed forms with noise, truth from the
noiseless curves) written in each layout by ceuskit.simulate.exports; the Blood-Flow-Analyzer files are real
exports (tests/data/blood-flow-analyzer, MIT, see SOURCE.md there). Expected values are the curves as written
(converted by the definitions of grey, power and dB) and the simulator's truth — never another ceuskit result.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ceuskit.cli import main
from ceuskit.curve_analysis import analyze_curves
from ceuskit.errors import CurveError
from ceuskit.io.curves import is_curve_file, read_curves
from ceuskit.simulate import exports
from ceuskit.simulate.curve_cases import curve_case

REAL = Path(__file__).parents[1] / "data" / "blood-flow-analyzer"
CASE = curve_case("slow-gamma-25s", seed=3)


def _power(values, units, dr=60.0):
    if units == "grey":
        return 10 ** ((values / 255 - 1) * dr / 10)
    if units == "db":
        return 10 ** (values / 10)
    return values


@pytest.mark.parametrize(("name", "units", "time_column"), [
    ("curves.csv", "grey", "Time_s"), ("curves.tsv", "db", "time"), ("curves.xlsx", "power", "Time Array"),
    ("curves.csv", "db", "Absolute Time(sec)"), ("curves.csv", "power", "time (ms)"),
])
def test_wide_tables(tmp_path, name, units, time_column):
    times = CASE.times_s * (1000.0 if "ms" in time_column else 1.0)
    path = exports.write_wide(tmp_path / name, times, CASE.power, units=units, time_column=time_column)
    table = read_curves(path, units=units)
    assert table.format == "table" and table.units == units and table.names == ("lesion", "liver")
    assert table.roles == {"lesion": "lesion", "liver": "parenchyma"} and table.roles_from == "names"
    np.testing.assert_allclose(table.times_s, CASE.times_s, rtol=1e-9)
    expected = exports.as_units(CASE.power["lesion"], units)
    np.testing.assert_allclose(table.values[0], expected, rtol=1e-9)
    if units != "grey":  # grey is rounded to 8 bits on the screen
        np.testing.assert_allclose(_power(table.values[0], units), CASE.power["lesion"], rtol=1e-9)


def test_a_long_table_and_a_folder_of_one_file_per_roi(tmp_path):
    long = read_curves(exports.write_long(tmp_path / "long.csv", CASE.times_s, CASE.power), units="power")
    folder = read_curves(exports.write_roi_folder(tmp_path / "rois", CASE.times_s, CASE.power, units="db"), units="db")
    assert long.format == "long" and folder.format == "folder"
    for table in (long, folder):
        assert set(table.names) == {"lesion", "liver"}
        row = table.names.index("liver")
        np.testing.assert_allclose(_power(table.values[row], table.units), CASE.power["liver"], rtol=1e-9)


def test_the_qlab_export_as_it_comes(tmp_path):
    path = exports.write_qlab(tmp_path / "qlab.txt", CASE.times_s, CASE.power,
                              areas_mm2={"lesion": 123.45, "liver": 456.78})
    assert path.read_bytes()[:2] in (b"\xff\xfe", b"\xfe\xff")  # UTF-16, as QLAB writes it
    table = read_curves(path)
    assert table.format == "qlab" and table.units == "db" and table.names == ("ROI 1", "ROI 2")
    assert table.roles == {"ROI 1": "lesion", "ROI 2": "parenchyma"} and table.roles_from == "order"
    assert table.areas_mm2 == {"ROI 1": 123.45, "ROI 2": 456.78}
    np.testing.assert_allclose(10 ** (table.values[1] / 10), CASE.power["liver"], rtol=1e-3)  # 3 decimals in dB
    swapped = read_curves(path, columns=[("parenchyma", "ROI 1"), ("lesion", "ROI 2")])
    assert swapped.roles == {"ROI 1": "parenchyma", "ROI 2": "lesion"} and swapped.roles_from == "columns"


def test_patient_lines_never_reach_outputs_or_logs(tmp_path, capsys):
    path = exports.write_qlab(tmp_path / "qlab.txt", CASE.times_s, CASE.power)
    assert exports.FAKE_PATIENT["name"] in path.read_text(encoding="utf-16")  # as built: the header names them
    assert main(["analyze", str(path), "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr()
    for item in exports.FAKE_PATIENT.values():
        assert item not in printed.out + printed.err
        for output in (tmp_path / "out").iterdir():
            assert item.encode() not in output.read_bytes(), output.name
    document = json.loads((tmp_path / "out" / "analysis.json").read_text())
    assert document["rois"]["ROI 1"]["area_mm2"] == 100.0  # the result block's area, nothing else of it


def test_blood_flow_analyzer_and_quantus_exports(tmp_path):
    bfa = read_curves(exports.write_blood_flow_analyzer(tmp_path / "bfa", CASE.times_s, CASE.power), units="power")
    quantus = read_curves(exports.write_quantus(tmp_path / "quantus", CASE.times_s, CASE.power))
    assert bfa.format == "blood-flow-analyzer" and quantus.format == "quantus"
    assert quantus.units == "power"  # QuantUS's TIC is the mean of exp-linearised intensities
    assert set(quantus.names) == {"lesion", "liver"}  # named by their segmentation
    for table in (bfa, quantus):
        np.testing.assert_allclose(table.values[table.names.index("lesion")], CASE.power["lesion"], rtol=1e-9)


def test_real_blood_flow_analyzer_exports(tmp_path):
    # two real, min–max normalised curves, each starting after the contrast arrived (see SOURCE.md)
    one = REAL / "TIC_20251101_200113.csv"
    with pytest.raises(CurveError, match="min–max normalised.*--units"):
        read_curves(REAL)
    assert main(["analyze", str(REAL)]) == 2
    document = analyze_curves(REAL, units="power", columns=[("lesion", one.stem),
                                                            ("parenchyma", "TIC_20251101_201527")]).document
    assert document["clip"]["format"] == "blood-flow-analyzer" and document["clip"]["n_frames"] == 641
    arterial = document["lesions"][0]["arterial_phase"]
    assert arterial["onset_s"] is None and arterial["onset_reason"] == "no_baseline"
    assert "no_baseline" in {f["code"] for f in document["quality"] if f["roi"] == one.stem}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({}, "--units grey"),  # a generic table does not say what its numbers are
    ({"units": "grey", "time_column": "when"}, "no column 'when'"),
    ({"units": "kelvin"}, "--units 'kelvin'"),
    ({"units": "power", "columns": [("lesion", "tumour")]}, "no curve 'tumour'"),
    ({"units": "power", "columns": [("vessel", "lesion")]}, "lesion or parenchyma"),
])
def test_refusals_say_what_to_do(tmp_path, kwargs, message):
    path = exports.write_wide(tmp_path / "c.csv", CASE.times_s, CASE.power, units="power")
    with pytest.raises(CurveError, match=message):
        read_curves(path, **kwargs)


def test_normalised_grey_and_non_positive_power_are_refused(tmp_path):
    unit = {k: v / max(v.max() for v in CASE.power.values()) for k, v in CASE.power.items()}
    normalised = (unit["lesion"] - unit["lesion"].min()) / np.ptp(unit["lesion"])  # min–max: 0 … 1
    path = exports.write_wide(tmp_path / "n.csv", CASE.times_s, {"lesion": normalised, "liver": unit["liver"]},
                              units="power")
    with pytest.raises(CurveError, match="min–max normalised"):
        read_curves(path)
    with pytest.raises(CurveError, match="between 0 and 255.*min–max normalised"):
        read_curves(path, units="grey")
    with pytest.raises(CurveError, match="positive"):
        read_curves(path, units="power")


def test_roles_that_cannot_be_told_are_asked_for(tmp_path):
    curves = {"a": CASE.power["lesion"], "b": CASE.power["liver"], "c": CASE.power["liver"]}
    path = exports.write_wide(tmp_path / "three.csv", CASE.times_s, curves, units="power")
    with pytest.raises(CurveError, match="--column lesion=NAME"):
        read_curves(path, units="power")
    table = read_curves(path, units="power", columns=[("lesion", "a"), ("lesion", "c"), ("parenchyma", "b")])
    assert table.names == ("a", "b", "c") and table.roles["c"] == "lesion"
    document = analyze_curves(table).document
    assert [item["roi"] for item in document["lesions"]] == ["a", "c"]  # two lesions, one liver reference


def test_a_curve_file_reads_as_the_same_curves_replayed_as_a_clip(tmp_path, capsys):
    # the curves as a 60 dB screen shows them (8-bit grey), once as a table and once as a clip of those frames
    from ceuskit.simulate.replay import replay_curves

    case = curve_case("real-like-slow", seed=1)
    clip, roi = replay_curves(tmp_path, case.times_s, case.power, dynamic_range_db=60.0)
    table = exports.write_wide(tmp_path / "grey.csv", case.times_s, case.power, units="grey")
    documents = []
    for args in (["analyze", str(table), "--units", "grey"], ["analyze", str(clip), "--roi", str(roi), "--no-motion"]):
        assert main([*args, "--dynamic-range", "45", "--json"]) == 0
        documents.append(json.loads(capsys.readouterr().out))
    curves, frames = documents
    assert curves["lesions"][0]["arterial_phase"]["onset_s"] is not None
    for key in ("arterial_phase", "portal_venous_phase", "late_phase", "pattern"):
        left, right = curves["lesions"][0][key], frames["lesions"][0][key]
        assert json.dumps(left, sort_keys=True) == json.dumps(right, sort_keys=True) or _close(left, right), key
    for name in ("lesion", "liver"):
        assert _close(curves["rois"][name]["parameters"], frames["rois"][name]["parameters"])
        assert _close(curves["rois"][name]["fit"]["params"], frames["rois"][name]["fit"]["params"])
    assert {(f["code"], f["roi"]) for f in curves["quality"]} == {(f["code"], f["roi"]) for f in frames["quality"]}


def _close(a, b, rel=1e-4):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], rel) for k in a)
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= rel * max(abs(a), abs(b), 1e-12)
    return a == b


def test_what_is_a_curve_file(tmp_path):
    exports.write_roi_folder(tmp_path / "rois", CASE.times_s, CASE.power)
    assert is_curve_file(tmp_path / "rois") and is_curve_file(REAL / "TIC_20251101_200113.csv")
    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "0001.png").write_bytes(b"\x89PNG")
    assert not is_curve_file(tmp_path / "frames") and not is_curve_file(tmp_path / "clip.dcm")


def test_the_cli_reads_each_layout(tmp_path, capsys):
    layouts = {
        "table": (exports.write_wide(tmp_path / "w.xlsx", CASE.times_s, CASE.power, units="db"), ["--units", "db"]),
        "qlab": (exports.write_qlab(tmp_path / "q.txt", CASE.times_s, CASE.power), []),
        "quantus": (exports.write_quantus(tmp_path / "qu", CASE.times_s, CASE.power), []),
        "blood-flow-analyzer": (exports.write_blood_flow_analyzer(tmp_path / "b", CASE.times_s, CASE.power),
                                ["--units", "power"]),
    }
    for kind, (path, options) in layouts.items():
        out = tmp_path / f"out-{kind}"
        assert main(["analyze", str(path), *options, "--out", str(out)]) == 0, kind
        assert {p.name for p in out.iterdir()} >= {"analysis.json", "tic.csv", "tic.png"}
        document = json.loads((out / "analysis.json").read_text())
        assert document["clip"]["format"] == kind
        onset = document["lesions"][0]["arterial_phase"]["onset_s"]
        assert abs(onset - CASE.truth["onset_s"]["lesion"]) <= 1.0, kind
    assert "curves: " in capsys.readouterr().out
    assert main(["analyze", str(layouts["qlab"][0]), "--roi", "x.json"]) == 2  # a ROI file is for clips


def test_simulate_writes_a_curve_case_in_every_layout(tmp_path, capsys):
    assert main(["simulate", str(tmp_path / "c"), "--curves", "two-supplies", "--seed", "2"]) == 0
    truth = json.loads((tmp_path / "c" / "truth.json").read_text())
    case = curve_case("two-supplies", seed=2)
    assert truth["onset_s"] == case.truth["onset_s"]
    formats = {"curves.csv": ("table", "db"), "curves.xlsx": ("table", "grey"), "qlab_export.txt": ("qlab", "db"),
               "tics": ("blood-flow-analyzer", "power"), "quantus": ("quantus", "power")}
    for name, (kind, units) in formats.items():
        table = read_curves(tmp_path / "c" / name, units=None if kind in ("qlab", "quantus") else units)
        assert (table.format, table.units) == (kind, units), name
    capsys.readouterr()
    assert main(["simulate", str(tmp_path / "d"), "--curves", "nonsense"]) == 2
    assert "two-supplies" in capsys.readouterr().err
