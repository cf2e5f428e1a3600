"""What the README says each command does, checked after it ran (``test_readme``).

Every command must exit 0 and leave the ``--out`` it names; a comment ``# keys: a, b, …`` is a promise about
the JSON printed.  Beyond that, :data:`CLAIMS` holds one check per kind of command, each stating the README
sentence it checks, against an independent witness where there is one (pydicom, the Orthanc's own REST API,
the phantom's truth, the standard library's csv and json).
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

from ceuskit.io import open_clip
from ceuskit.io.rois import load_rois
from ceuskit.roi import parse_rois

MAP_KEYS = ("arrival_time_s", "time_to_peak_s", "peak_enhancement", "peak_enhancement_db", "mean_transit_time_s",
            "wash_in_rate", "wash_in_auc", "r2")
"""The maps README § Parametric maps lists: arrival time, time to peak, peak enhancement (linear and dB),
mean transit time, wash-in rate, wash-in AUC and R²."""


def _option(text: str, name: str) -> str | None:
    match = re.search(rf"(?:^|\s){re.escape(name)} (\S+)", text)
    return match.group(1) if match else None


def _dicoms(paths: set[Path]) -> list[Path]:
    return sorted(p for p in paths if p.suffix == ".dcm")


# --------------------------------------------------------------------------------------------- the claims
def version(walk: Any, text: str, done: Any, new: set[Path]) -> None:
    """`ceuskit --version` prints the installed version."""
    from importlib.metadata import version as installed

    assert done.stdout.strip() in (f"ceuskit {installed('ceuskit')}", f"ceuskit {__import__('ceuskit').__version__}")


def analyze_outputs(walk: Any, text: str, done: Any, new: set[Path]) -> None:
    """"It writes analysis.json …, tic.csv and tic.png"."""
    out = _option(text, "--out")
    if out:
        assert all((walk.ws / out / f).is_file() for f in ("analysis.json", "tic.csv", "tic.png"))


def analyze_reading(walk: Any, text: str, done: Any, new: set[Path]) -> None:
    """The README's clip and ROIs are read as the phantom was made (its truth), onset within 1.5 s."""
    analyze_outputs(walk, text, done, new)
    lesion = json.loads((walk.ws / str(_option(text, "--out")) / "analysis.json").read_text())["lesions"][0]
    pattern = walk.truth["pattern"]
    assert (lesion["arterial_phase"]["enhancement"], lesion["portal_venous_phase"]["washout_timing"],
            lesion["late_phase"]["enhancement"]) == (pattern["arterial"], pattern["washout_timing"], pattern["late"])
    assert abs(lesion["arterial_phase"]["onset_s"] - walk.truth["onset_s"]) < 1.5
    assert f"late: {pattern['late']}" in done.stdout  # the printed reading, in words


def curves_read(walk: Any, text: str, done: Any, new: set[Path]) -> None:
    """A simulated curve table is read "the same" as a clip: each lesion's onset within 1.0 s of the
    noise-free curve's dB 5 % point (issue 18's bound), as the simulation's truth.json beside the table states."""
    out, table = _option(text, "--out"), walk.ws / text.split()[2]
    truth = next((json.loads((p / "truth.json").read_text()) for p in table.parents if (p / "truth.json").is_file()),
                 {})
    if not out or truth.get("generator") != "ceuskit.simulate.curve_cases":
        return
    onsets = truth["onset_s"]
    for lesion in json.loads((walk.ws / out / "analysis.json").read_text())["lesions"]:
        roi = lesion["roi"]  # QLAB numbers the ROIs ("ROI n") in the order the simulation wrote them
        expected = onsets[roi] if roi in onsets else list(onsets.values())[int(roi.split()[-1]) - 1]
        assert abs(lesion["arterial_phase"]["onset_s"] - expected) <= 1.0, (roi, onsets)


def maps_written(walk: Any, text: str, done: Any, new: set[Path]) -> None:
    """"Writes maps.npz (NaN outside), one NIfTI file per map and PNG overlays"."""
    out = walk.ws / str(_option(text, "--out"))
    with np.load(out / "maps.npz") as maps:
        assert set(MAP_KEYS) <= set(maps.files)
        assert all(np.isnan(maps[k][0, 0]) for k in MAP_KEYS)  # the frame's corner lies outside the image
        names = list(maps.files)
    assert all((out / f"{k}.nii.gz").is_file() and (out / f"{k}.png").is_file() for k in names)


def second_run_is_up_to_date(walk: Any, text: str, done: Any, new: set[Path]) -> None:
    """"a second run prints `0 analysed, N up to date`"."""
    again = walk.run(text, 0)
    assert re.search(r"\b0 analysed, \d+ up to date", again.stdout), again.stdout


def export_rows(walk: Any, text: str, done: Any, new: set[Path]) -> None:
    """"one row per lesion"."""
    out = walk.ws / str(_option(text, "--out"))
    if out.suffix == ".csv":
        with (walk.ws / "manifest.csv").open() as fh:
            lesions = {(r["patient_id"], r["lesion_id"]) for r in csv.DictReader(fh)}
        with out.open() as fh:
            assert len(list(csv.DictReader(fh))) == len(lesions)


def report_written(walk: Any, text: str, done: Any, new: set[Path]) -> None:
    """"report.html, and report.pdf printed by Chromium" (without Chromium the command says there is no PDF)."""
    out = walk.ws / str(_option(text, "--out"))
    assert (out / "report.html").is_file()
    assert (out / "report.pdf").is_file() or (shutil.which("chromium") is None and "no PDF" in done.stdout)


def import_pseudonymised(walk: Any, text: str, done: Any, new: set[Path]) -> None:
    """Without CEUSKIT_PSEUDONYM_KEY "the import says so once on stderr"; the clean copies are written."""
    assert done.stderr.count("CEUSKIT_PSEUDONYM_KEY is not set") == 1
    copies = _dicoms(new)
    assert copies and all(pydicom.dcmread(p, stop_before_pixels=True).PatientIdentityRemoved == "YES"
                          for p in copies)


def password_shown_once(walk: Any, text: str, done: Any, new: set[Path]) -> None:
    """"prints a generated password once"."""
    assert len(re.findall(r"password \(shown once\): \S{16,}", done.stdout)) == 1


def deidentified(walk: Any, text: str, done: Any, new: set[Path]) -> None:
    """PS3.15: identity removed, Patient ID replaced; folder trees mirrored; other files skipped; --map written."""
    words = text.split()
    source, out = walk.ws / words[2], walk.ws / words[3]
    originals = {p.relative_to(source) for p in source.rglob("*.dcm")}
    assert {p.relative_to(out) for p in out.rglob("*.dcm")} == originals
    for relative in originals:
        before, after = (pydicom.dcmread(d / relative, stop_before_pixels=True) for d in (source, out))
        assert after.PatientIdentityRemoved == "YES" and after.PatientID != before.PatientID
        assert after.StudyInstanceUID != before.StudyInstanceUID
    assert "1 other file(s) skipped" in done.stdout
    mapped = _option(text, "--map")
    if mapped:
        with (walk.ws / mapped).open() as fh:
            assert {r["patient_id"] for r in csv.DictReader(fh)} == {
                pydicom.dcmread(source / r, stop_before_pixels=True).PatientID for r in originals}


def sr_and_seg(walk: Any, text: str, done: Any, new: set[Path]) -> None:
    """"sr.dcm and seg.dcm"; the SEG reads back as the ROIs; --push: they are in the PACS."""
    out = walk.ws / str(_option(text, "--out"))
    assert pydicom.dcmread(out / "sr.dcm", stop_before_pixels=True).Modality == "SR"
    seg, rois = load_rois(out / "seg.dcm"), load_rois(walk.ws / str(_option(text, "--roi")))
    assert seg.reference_frame == rois.reference_frame and [r.name for r in seg.rois] == [r.name for r in rois.rois]
    if _option(text, "--push"):
        assert walk.in_pacs(out / "sr.dcm") and walk.in_pacs(out / "seg.dcm")


def roi_round_trip(walk: Any, text: str, done: Any, new: set[Path]) -> None:
    """The exported ROI file gives back the ROIs (names, reference frame, every pixel)."""
    words = text.split()
    source, out, clip = walk.ws / words[2], walk.ws / str(_option(text, "--out")), walk.ws / str(_option(text, "--clip"))
    with open_clip(clip) as opened:
        shape = (opened.rows, opened.columns)
    original, back = load_rois(source), load_rois(out)
    assert back.reference_frame == original.reference_frame
    for name, mask in original.masks(*shape).items():
        assert np.array_equal(back.masks(*shape)[name], mask)


def found_the_study(walk: Any, text: str, done: Any, new: set[Path]) -> None:
    """`pacs find` lists the clip's study (the Orthanc holds it)."""
    assert walk.uids["--study"] in done.stdout


def pulled(walk: Any, text: str, done: Any, new: set[Path]) -> None:
    """The pulled clip is the clip's pixels (a whole study brings what was pushed into it too); with
    --deidentify only the clean file is written."""
    files = _dicoms(new)
    if "--instance" in text:
        assert len(files) == 1, files
    else:
        files = [f for f in files if pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID == walk.uids["--instance"]]
        assert len(files) == 1, "the clip is not among the instances pulled"
    got, clip = pydicom.dcmread(files[0]), pydicom.dcmread(walk.ws / "clip.dcm")
    expected = clip.pixel_array
    if "--deidentify" in text:  # burned-in text removed: every pixel outside the ultrasound regions is 0
        assert got.PatientIdentityRemoved == "YES" and got.PatientID != "NET-0001"
        inside = np.zeros(expected.shape[1:3], dtype=bool)
        for region in clip.SequenceOfUltrasoundRegions:
            inside[region.RegionLocationMinY0:region.RegionLocationMaxY1 + 1,
                   region.RegionLocationMinX0:region.RegionLocationMaxX1 + 1] = True
        expected = np.where(inside[None, ..., None] if expected.ndim == 4 else inside[None], expected, 0)
    else:
        assert got.SOPInstanceUID == walk.uids["--instance"]
    assert np.array_equal(got.pixel_array, expected)


def pushed(walk: Any, text: str, done: Any, new: set[Path]) -> None:
    """The files pushed are in the PACS (its own REST API says so)."""
    files = [walk.ws / w for w in text.split() if w.endswith(".dcm")]
    assert files and all(walk.in_pacs(f) for f in files)


def simulated(walk: Any, text: str, done: Any, new: set[Path]) -> None:
    """Each phantom is a DICOM file with an ROI file and a ground-truth JSON; --list-* lists; --examination
    prints the `ceuskit analyze … --injection-time auto` command; --cohort writes manifest.csv; --curves writes
    a curve case's tables (each layout) and its truth."""
    out = walk.ws / text.split()[2]
    if "--list-" in text:
        assert len(done.stdout.splitlines()) >= 3
    elif "--cohort" in text:
        with (out / "manifest.csv").open() as fh:
            assert len(list(csv.DictReader(fh))) == int(str(_option(text, "--cohort")))
    elif "--examination" in text:
        assert "ceuskit analyze" in done.stdout and "--injection-time auto" in done.stdout
    elif "--curves" in text:  # the tables in each layout, their truth; the wide CSV has a column per ROI
        rois = set(json.loads((out / "truth.json").read_text())["onset_s"])
        with (out / "curves.csv").open() as fh:
            assert set(next(csv.reader(fh))) == {"time_s", *rois}
        assert all((out / f).exists() for f in ("curves.xlsx", "qlab_export.txt", "tics", "quantus"))
    else:
        assert {p.name for p in new} >= {"phantom.dcm", "phantom.roi.json", "phantom.truth.json"}


def audit_listed(walk: Any, text: str, done: Any, new: set[Path]) -> None:
    """`audit --json` lists the entries of the --user and --action asked for: as many as the database holds
    (counted with the standard library's sqlite3)."""
    if "--json" not in text:
        return
    entries = json.loads(done.stdout)
    where, values = ["1 = 1"], []
    for option, column in (("--action", "action"), ("--user", "lower(actor)")):
        if _option(text, option):
            where.append(f"{column} = ?")
            values.append(str(_option(text, option)).lower())
    database = str(_option(text, "--db")).removeprefix("sqlite:///")
    with sqlite3.connect(walk.ws / database) as connection:
        count = connection.execute(f"SELECT count(*) FROM audit_events WHERE {' AND '.join(where)}", values).fetchone()
    assert len(entries) == min(count[0], 200)
    assert all(e["action"] == _option(text, "--action") for e in entries if _option(text, "--action"))


CLAIMS: list[tuple[str, Callable[[Any, str, Any, set[Path]], None]]] = [
    (r"^ceuskit --version$", version),
    (r"^ceuskit analyze clip\.dcm --roi rois\.json ", analyze_reading),
    (r"^ceuskit analyze ", analyze_outputs),
    (r"^ceuskit analyze ", curves_read),
    (r"^ceuskit map ", maps_written),
    (r"^ceuskit study run\b", second_run_is_up_to_date),
    (r"^ceuskit study export\b", export_rows),
    (r"^ceuskit study report\b", report_written),
    (r"^ceuskit study import\b.*--deidentify", import_pseudonymised),
    (r"^ceuskit user add \S+ (?!.*--password-stdin)", password_shown_once),
    (r"^ceuskit deidentify\b", deidentified),
    (r"^ceuskit export-dicom\b", sr_and_seg),
    (r"^ceuskit roi-export\b", roi_round_trip),
    (r"^ceuskit pacs find\b", found_the_study),
    (r"^ceuskit pacs pull\b", pulled),
    (r"^ceuskit pacs push\b", pushed),
    (r"^ceuskit simulate\b", simulated),
    (r"^ceuskit audit\b", audit_listed),
]


def check_command(walk: Any, command: Any, text: str, done: Any, new: set[Path]) -> None:
    """The generic promises (``--out`` exists, ``# keys:``), then every claim whose pattern matches."""
    out = _option(text, "--out")
    if out:
        assert (walk.ws / out).exists(), f"README line {command.line}: `{text}` wrote no {out}"
    keys = re.search(r"keys: ([\w, ]+)", command.comment)
    if keys:
        printed = json.loads(done.stdout)
        listed = {k.strip() for k in keys.group(1).split(",") if k.strip()}
        assert listed <= set(printed), f"README line {command.line}: keys {sorted(listed - set(printed))} missing"
    for pattern, claim in CLAIMS:
        if re.search(pattern, text):
            claim(walk, text, done, new)


def check_make(command: Any) -> None:
    """`make demo` and `make test`, narrowly: the target exists and runs what the README says it runs."""
    target = command.text.split()[1]
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(["make", "-n", target], cwd=root, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"README line {command.line}: make has no target {target!r}: {done.stderr}"
    expected = {"demo": "ceuskit demo", "test": "pytest", "install": "pip", "bench": "benchmarks",
                "lint": "ruff", "docs": "sphinx"}.get(target)
    assert expected is None or expected in done.stdout, f"`make {target}` does not run {expected}"


def check_python(walk: Any, block: Any) -> None:
    """The block runs as a script in the workspace; `write_analysis(result, "DIR")` writes its three files."""
    script = walk.ws / f"readme_L{block.line}.py"
    script.write_text(block.text + "\n")
    done = subprocess.run([sys.executable, script.name], cwd=walk.ws, env=walk.env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, f"README line {block.line}: the Python block failed: {done.stderr[-2000:]}"
    for out in re.findall(r"write_analysis\(\w+, \"([^\"]+)\"\)", block.text):
        assert all((walk.ws / out / f).is_file() for f in ("analysis.json", "tic.csv", "tic.png"))


# ------------------------------------------------------------------------------------------- JSON blocks
def _sketch(text: str) -> Any:
    """A JSON sketch with … ("more of the same") as JSON: […] → [], : … → null, ", …" dropped."""
    text = text.replace("[…]", "[]")
    text = re.sub(r":\s*…", ": null", text)
    return json.loads(re.sub(r",\s*…", "", text))


def _same_keys(sketch: Any, real: Any, where: str) -> None:
    if isinstance(sketch, dict):
        assert isinstance(real, dict), f"{where}: the README shows an object, the output has {real!r}"
        for key, value in sketch.items():
            assert key in real, f"{where}.{key}: in the README, not in the output ({sorted(real)})"
            if value is not None and real[key] is not None:
                _same_keys(value, real[key], f"{where}.{key}")
    elif isinstance(sketch, list) and sketch and isinstance(sketch[0], dict):
        assert isinstance(real, list) and real, f"{where}: the README shows entries, the output has none"
        _same_keys(sketch[0], real[0], f"{where}[0]")


def _blinded_reads(url: str) -> None:
    """Two readers read every lesion blind with an onset, through the store's reading sessions (what the
    workstation's /read pages call), so the agreement has reader pairs, Fleiss' kappa and onsets."""
    from ceuskit.store import Store, study_id_of
    from ceuskit.store.accounts import add_user
    from ceuskit.store.reading import ReadLabels, next_item, open_reading_session, record_read

    labels = ("hyper", "iso", "hypo")
    with Store(url, create=False) as store:
        users = [add_user(store, name, role="reader", password="a long reader password 2026", actor="readme")
                 for name in ("reader-a", "reader-b")]
        session = open_reading_session(store, study_id_of(store), "readme", [u["username"] for u in users],
                                       actor="readme")
        for k, user in enumerate(users):
            while (item := next_item(store, session["id"], user["id"])) is not None:
                lesion = int(item["lesion_id"])
                read = ReadLabels(arterial=labels[(lesion + k * (lesion % 2)) % 3], washout="yes", late="hypo",
                                  washout_timing="early", onset_s=10.0 + lesion + 0.7 * k)
                record_read(store, session["id"], user["id"], item["item"], read, actor=user["username"])


def check_json(walk: Any, block: Any) -> None:
    """An ROI file (the workspace's rois.json is this block), or a sketch of `study stats --json`'s agreement."""
    if '"rois"' in block.text:
        document = json.loads(block.text)
        parse_rois(document)
        assert json.loads((walk.ws / "rois.json").read_text()) == document
    elif '"raters"' in block.text:
        url = walk.remembered.get("--db")
        assert url, f"README line {block.line}: the agreement sketch comes before any `--db`"
        relative = url.startswith("sqlite:///") and not url.startswith("sqlite:////")
        _blinded_reads(f"sqlite:///{walk.ws / url.removeprefix('sqlite:///')}" if relative else url)
        done = walk.run(f"ceuskit study stats --db {url} --json", block.line)
        _same_keys(_sketch(block.text), json.loads(done.stdout)["agreement"], "agreement")
    else:
        pytest.fail(f"README line {block.line}: a JSON block the walker has no handler for (tests/readme_claims.py)")
