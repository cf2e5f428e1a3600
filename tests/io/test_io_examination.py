"""ceuskit.io.examination: clip acquisition times, one examination's identity, placement and the injection.

Expected moments come from pydicom's own DA/TM/DT parsers (``pydicom.valuerep``) applied to the headers
read here, or from the datetimes each test writes into its DICOM headers (written by pydicom); real files
come from the installed test-data packages (pydicom-data, deid-data, pydicom's test files).
"""

from __future__ import annotations

import random
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pydicom
import pytest
from io_testdata import discover_us_files, materialise, write_mp4, write_us
from pydicom.data import get_testdata_file
from pydicom.valuerep import DA, DT, TM

from ceuskit.errors import InputError
from ceuskit.io import open_clip
from ceuskit.io.examination import (
    acquired,
    acquisition_time,
    injection_from_header,
    parse_da,
    parse_dt,
    parse_tm,
    place_clips,
)

DAY = datetime(2026, 3, 14)


def _dicom(folder: Path, name: str, *, n_frames: int = 8, frame_ms: float = 250.0, **elements: object) -> Path:
    """A small US multi-frame file (``n_frames`` at ``frame_ms``) with the given header elements."""
    frames = np.zeros((n_frames, 16, 16), np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns when it writes the malformed values some tests need
        return write_us(folder / name, frames, FrameTime=f"{frame_ms:g}", **elements)


def _dt(moment: datetime, zone: str = "") -> str:
    return moment.strftime("%Y%m%d%H%M%S.%f") + zone


def _header(path: Path) -> pydicom.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, stop_before_pixels=True)


_OPEN: list = []


@pytest.fixture(autouse=True)
def _close_clips():
    """Close every clip a test opened with :func:`_opened`."""
    yield
    while _OPEN:
        _OPEN.pop().close()


def _opened(paths: list[Path]) -> list:
    clips = [open_clip(p, fps=10.0) for p in paths]
    _OPEN.extend(clips)
    return clips


# --- DA / TM / DT against pydicom's own parsers -----------------------------------------------------------
@pytest.mark.parametrize("text", ["0000", "2359", "120000", "235959.999999", "083015.5", "000000.000001", "1530",
                                  "101010.12"])
def test_times_agree_with_pydicom(text: str) -> None:
    expected = TM(text)
    assert parse_tm(text) == timedelta(hours=expected.hour, minutes=expected.minute, seconds=expected.second,
                                       microseconds=expected.microsecond)


@pytest.mark.parametrize("text", ["20260314", "19991231", "20000229"])
def test_dates_agree_with_pydicom(text: str) -> None:
    assert parse_da(text) == DA(text)


@pytest.mark.parametrize("text", ["202603141200", "20260314120005", "20260314120005.5", "20260314235959.999999+0100",
                                  "20260314000000-0500", "20260314120000+1400"])
def test_datetimes_agree_with_pydicom(text: str) -> None:
    expected = DT(text)
    local, offset = parse_dt(text)
    assert local == expected.replace(tzinfo=None)
    assert offset == (None if expected.tzinfo is None else expected.utcoffset())


@pytest.mark.parametrize(("parser", "text"), [(parse_tm, "12"), (parse_tm, "2460"), (parse_tm, "12:3"),
                                              (parse_tm, "noon"), (parse_da, "2026-03-14"), (parse_da, "20261314"),
                                              (parse_dt, "20260314"), (parse_dt, "2026031412"),
                                              (parse_dt, "20260314120000+2500")])
def test_malformed_or_too_coarse_values_are_refused(parser, text: str) -> None:
    with pytest.raises(ValueError):
        parser(text)


def test_leap_second_and_acr_nema_forms() -> None:
    assert parse_tm("235960") == timedelta(days=1)  # PS3.5: SS may be 60 (a leap second)
    assert parse_tm("12:30:15.5") == timedelta(hours=12, minutes=30, seconds=15.5)
    assert parse_da("1994.11.05") == datetime(1994, 11, 5).date()


# --- one clip's acquisition time ----------------------------------------------------------------------------
def _expected_moment(ds: pydicom.Dataset) -> datetime | None:
    """PS3.3 C.7.6.1 / C.12.1: Acquisition DateTime, else Acquisition Date + Time, else Content Date + Time,
    parsed by pydicom; Timezone Offset From UTC applies where the value states none."""
    zone = ds.get("TimezoneOffsetFromUTC")
    if ds.get("AcquisitionDateTime"):
        moment = DT(str(ds.AcquisitionDateTime))
    else:
        for date_kw, time_kw in (("AcquisitionDate", "AcquisitionTime"), ("ContentDate", "ContentTime")):
            if ds.get(date_kw) and ds.get(time_kw):
                moment = DT(str(ds.get(date_kw)) + str(ds.get(time_kw)))
                break
        else:
            return None
    if moment.tzinfo is None and zone:
        moment = moment.replace(tzinfo=DT("20000101" + str(zone)).tzinfo)
    return datetime(*moment.timetuple()[:6], moment.microsecond, tzinfo=moment.tzinfo)


@pytest.mark.parametrize("entry", discover_us_files(), ids=lambda e: e.label)
def test_real_ultrasound_files_acquisition_time(entry, extracted: Path) -> None:
    path = materialise(entry, extracted)
    ds = _header(path)
    try:
        clip = open_clip(path, fps=10.0)
    except InputError:
        pytest.skip("not readable as a clip (tested in test_io_dicom_real)")
    with clip:
        assert acquisition_time(clip) == _expected_moment(ds)


def test_real_files_fractional_seconds_date_and_time_and_timezone() -> None:
    with open_clip(get_testdata_file("OBXXXX1A.dcm")) as clip:  # Acquisition DateTime 20110525145628.350000
        assert acquisition_time(clip) == datetime(2011, 5, 25, 14, 56, 28, 350000)
        assert acquired(clip).source.startswith("Acquisition DateTime")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"), stop_before_pixels=True)
    with open_clip(get_testdata_file("CT_small.dcm")) as clip:  # Acquisition Date + Time, offset -0500
        moment = acquisition_time(clip)
        assert moment == _expected_moment(ds)
        assert moment.utcoffset() == timedelta(hours=-5)
        assert acquired(clip).source.startswith("Acquisition Date ")
    with open_clip(get_testdata_file("US1_UNCR.dcm")) as clip:  # an offset, but no date or time at all
        assert clip.header.timezone_offset == "-0400" and acquisition_time(clip) is None


def test_content_date_and_time_are_the_last_resort(tmp_path: Path) -> None:
    path = _dicom(tmp_path, "c.dcm", ContentDate="20260314", ContentTime="0930")  # no seconds: 09:30:00
    with open_clip(path) as clip:
        assert acquisition_time(clip) == datetime(2026, 3, 14, 9, 30)
        assert acquired(clip).source.startswith("Content Date")
    both = _dicom(tmp_path, "b.dcm", AcquisitionDate="20260314", AcquisitionTime="093005.25",
                  ContentDate="20260314", ContentTime="0940")
    with open_clip(both) as clip:
        assert acquisition_time(clip) == datetime(2026, 3, 14, 9, 30, 5, 250000)


def test_malformed_time_names_the_element_and_clip_not_the_value(tmp_path: Path) -> None:
    loop = _dicom(tmp_path, "loop.dcm", AcquisitionDateTime=_dt(DAY))
    bad = _dicom(tmp_path, "sweep.dcm", AcquisitionDate="20260314", AcquisitionTime="99")
    with pytest.raises(InputError) as info:
        place_clips(_opened([loop, bad]))
    message = str(info.value)
    assert message.startswith("clip 2 (sweep.dcm): its Acquisition Date (0008,0022) and Time (0008,0032) is "
                              "malformed") and "--clip-offset" in message and "99" not in message


# --- placing clips ------------------------------------------------------------------------------------------
def _examination(folder: Path, starts_s: list[float], *, zone: str = "", origin: datetime = DAY,
                 **first_elements: object) -> list[Path]:
    """A loop and sweeps acquired ``starts_s`` after ``origin`` (one patient, one study)."""
    study = pydicom.uid.generate_uid()
    paths = []
    for i, start in enumerate(starts_s):
        extra = first_elements if i == 0 else {}
        paths.append(_dicom(folder, f"clip{i}.dcm", n_frames=40 if i == 0 else 8,
                            AcquisitionDateTime=_dt(origin + timedelta(seconds=start), zone),
                            PatientID="EXAM-PATIENT-7", StudyInstanceUID=study, **extra))
    return paths


def test_clips_in_any_order_are_placed_by_acquisition_time(tmp_path: Path) -> None:
    starts = [0.0, 120.0, 180.25, 240.5]
    paths = _examination(tmp_path, starts)
    order = list(range(len(paths)))
    random.Random(3).shuffle(order)
    placed = place_clips(_opened([paths[i] for i in order]))
    assert placed == pytest.approx([starts[i] for i in order], abs=1e-6)
    assert [order[i] for i in sorted(range(len(order)), key=placed.__getitem__)] == [0, 1, 2, 3]


def test_earliest_clip_is_time_zero_and_the_loop_may_come_later(tmp_path: Path) -> None:
    paths = _examination(tmp_path, [30.0, 130.0])
    assert place_clips(_opened(paths[::-1])) == pytest.approx([100.0, 0.0])


def test_midnight_between_clips(tmp_path: Path) -> None:
    origin = datetime(2026, 3, 14, 23, 59, 0)
    paths = _examination(tmp_path, [0.0, 120.0], origin=origin)  # the sweep is dated the next day
    assert _header(paths[1]).AcquisitionDateTime.startswith("20260315")
    assert place_clips(_opened(paths)) == pytest.approx([0.0, 120.0])


def test_timezone_offsets_put_clips_on_one_clock(tmp_path: Path) -> None:
    study = pydicom.uid.generate_uid()
    loop = _dicom(tmp_path, "loop.dcm", n_frames=40, AcquisitionDateTime="20260314120000+0100",
                  StudyInstanceUID=study)
    sweep = _dicom(tmp_path, "sweep.dcm", AcquisitionDateTime="20260314110200.5+0000", StudyInstanceUID=study)
    # 12:00 at +01:00 is 11:00 UTC; the sweep is 2 min 0.5 s later
    expected = (DT("20260314110200.5+0000") - DT("20260314120000+0100")).total_seconds()
    assert expected == pytest.approx(120.5)
    assert place_clips(_opened([loop, sweep])) == pytest.approx([0.0, expected])
    zoned = _dicom(tmp_path, "zoned.dcm", AcquisitionDate="20260314", AcquisitionTime="110300",
                   TimezoneOffsetFromUTC="+0000")
    assert place_clips(_opened([loop, zoned])) == pytest.approx([0.0, 180.0])


def test_a_clip_without_offset_is_read_in_the_others_common_offset(tmp_path: Path) -> None:
    loop = _dicom(tmp_path, "loop.dcm", n_frames=40, AcquisitionDateTime="20260314120000+0100")
    naive = _dicom(tmp_path, "naive.dcm", AcquisitionDateTime="20260314120200")
    assert place_clips(_opened([naive, loop])) == pytest.approx([120.0, 0.0])
    other = _dicom(tmp_path, "other.dcm", AcquisitionDateTime="20260314110400+0000")
    with pytest.raises(InputError, match=r"clip 1 \(naive.dcm\) states no UTC offset while the other clips"):
        place_clips(_opened([naive, loop, other]))


def test_clip_without_time_needs_an_offset(tmp_path: Path) -> None:
    loop = _examination(tmp_path, [0.0])[0]
    video = write_mp4(tmp_path / "sweep.mp4", n_frames=5)
    with pytest.raises(InputError) as info:
        place_clips(_opened([loop, video]))
    assert str(info.value).startswith("clip 2 (sweep.mp4) states no acquisition time")
    assert "--clip-offset" in str(info.value) and "\n" not in str(info.value)
    assert place_clips(_opened([loop, video]), [None, 125.0]) == pytest.approx([0.0, 125.0])
    assert place_clips(_opened([video]), None) == [0.0]  # one clip alone needs no placing


def test_explicit_offsets_win_and_are_shifted_to_the_earliest(tmp_path: Path) -> None:
    paths = _examination(tmp_path, [0.0, 120.0])
    clips = _opened(paths)
    assert place_clips(clips, [None, 150.0]) == pytest.approx([0.0, 150.0])
    assert place_clips(clips, [20.0, 150.0]) == pytest.approx([0.0, 130.0])
    with pytest.raises(InputError, match="1 clip offset\\(s\\) for 2 clips"):
        place_clips(clips, [0.0])
    with pytest.raises(InputError, match="offset nan of clip 2 is not a number"):
        place_clips(clips, [None, float("nan")])


def test_overlapping_clips_are_refused(tmp_path: Path) -> None:
    paths = _examination(tmp_path, [0.0, 5.0])  # the loop lasts 39 × 0.25 s = 9.75 s
    with pytest.raises(InputError) as info:
        place_clips(_opened(paths[::-1]))
    assert str(info.value) == ("clip 1 (clip1.dcm) starts 5.0 s after clip 2 (clip0.dcm), which lasts 9.8 s: the "
                               "clips overlap; check their acquisition times or --clip-offset")


def test_mixed_patients_and_studies_are_refused_without_showing_identifiers(tmp_path: Path) -> None:
    a = _dicom(tmp_path, "a.dcm", AcquisitionDateTime=_dt(DAY), PatientID="PAT-ALPHA", StudyInstanceUID="1.2.3.4")
    b = _dicom(tmp_path, "b.dcm", AcquisitionDateTime=_dt(DAY + timedelta(minutes=2)), PatientID="PAT-BETA",
               StudyInstanceUID="1.2.3.4")
    c = _dicom(tmp_path, "c.dcm", AcquisitionDateTime=_dt(DAY + timedelta(minutes=3)), PatientID="PAT-ALPHA",
               StudyInstanceUID="1.2.3.5")
    with pytest.raises(InputError) as info:
        place_clips(_opened([a, b]))
    assert str(info.value).startswith("clip 2 (b.dcm) belongs to another patient than clip 1 (a.dcm)")
    with pytest.raises(InputError) as study:
        place_clips(_opened([a, c]))
    assert str(study.value).startswith("clip 2 (c.dcm) belongs to another study than clip 1 (a.dcm)")
    for text in (str(info.value), str(study.value)):
        assert not any(secret in text for secret in ("PAT-", "1.2.3", "2026", "1203"))
    unnamed = _dicom(tmp_path, "d.dcm", AcquisitionDateTime=_dt(DAY + timedelta(minutes=4)))  # states neither
    assert place_clips(_opened([a, unnamed])) == pytest.approx([0.0, 240.0])


def test_real_files_of_two_patients_in_one_study_are_refused(extracted: Path) -> None:
    """deid-data's GREYSCALE_CINE and GREYSCALE_IMAGE share a Study Instance UID but not a Patient ID."""
    entries = {e.label.split("/")[-1]: e for e in discover_us_files()}
    paths = [materialise(entries[name], extracted) for name in ("GREYSCALE_CINE.dcm", "GREYSCALE_IMAGE.dcm")]
    headers = [_header(p) for p in paths]
    assert headers[0].StudyInstanceUID == headers[1].StudyInstanceUID
    assert headers[0].PatientID != headers[1].PatientID
    with pytest.raises(InputError) as info:
        place_clips(_opened(paths))
    assert str(info.value).startswith("clip 2 (GREYSCALE_IMAGE.dcm) belongs to another patient than clip 1 "
                                      "(GREYSCALE_CINE.dcm)")
    assert not any(str(h.PatientID) in str(info.value) or str(h.StudyInstanceUID) in str(info.value)
                   for h in headers)


# --- the injection --------------------------------------------------------------------------------------------
def test_injection_from_contrast_bolus_start_time(tmp_path: Path) -> None:
    origin = datetime(2026, 3, 14, 10, 15, 3, 500000)
    paths = _examination(tmp_path, [0.0, 120.0, 180.0], origin=origin, ContrastBolusStartTime="101458.25",
                         ContrastBolusAgent="SonoVue")
    injection, agent = injection_from_header(_opened(paths[::-1]))
    # 10:14:58.25 against the loop's 10:15:03.5: 5.25 s before the recording
    assert injection == pytest.approx((datetime(2026, 3, 14, 10, 14, 58, 250000) - origin).total_seconds())
    assert injection == pytest.approx(-5.25) and agent == "SonoVue"


def test_injection_on_a_sweep_counts_from_the_earliest_clip(tmp_path: Path) -> None:
    study = pydicom.uid.generate_uid()
    loop = _dicom(tmp_path, "loop.dcm", n_frames=40, AcquisitionDateTime="20260314100000", StudyInstanceUID=study)
    sweep = _dicom(tmp_path, "sweep.dcm", AcquisitionDateTime="20260314100200", StudyInstanceUID=study,
                   ContrastBolusStartTime="100003")
    assert injection_from_header(_opened([sweep, loop])) == (pytest.approx(3.0), None)


def test_injection_across_midnight(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    before = _examination(tmp_path / "a", [0.0, 120.0], origin=datetime(2026, 3, 15, 0, 0, 10),
                          ContrastBolusStartTime="235950")
    assert injection_from_header(_opened(before))[0] == pytest.approx(-20.0)
    after = _examination(tmp_path / "b", [0.0], origin=datetime(2026, 3, 14, 23, 59, 55),
                         ContrastBolusStartTime="000005")
    assert injection_from_header(_opened(after))[0] == pytest.approx(10.0)


def test_injection_with_an_offset_placed_video_first(tmp_path: Path) -> None:
    video = write_mp4(tmp_path / "pre.mp4", n_frames=5)
    loop = _examination(tmp_path, [0.0], origin=datetime(2026, 3, 14, 9, 0, 0), ContrastBolusStartTime="090002")[0]
    # the video starts 30 s before the loop: the examination's zero is the video's first frame
    assert injection_from_header(_opened([loop, video]), [None, -30.0])[0] == pytest.approx(32.0)


def test_missing_contrast_start_time_is_one_line(tmp_path: Path) -> None:
    paths = _examination(tmp_path, [0.0, 120.0], ContrastBolusAgent="SonoVue")
    with pytest.raises(InputError) as info:
        injection_from_header(_opened(paths))
    assert str(info.value).startswith("no clip states the Contrast/Bolus Start Time (0018,1042): give the "
                                      "injection moment with --injection-time S")
    assert "\n" not in str(info.value)


def test_real_file_with_an_empty_contrast_start_time_and_a_real_agent() -> None:
    """pydicom's J2K_pixelrep_mismatch.dcm has an empty Contrast/Bolus Start Time; CT_small.dcm names its agent
    but states no start time: neither gives an injection moment."""
    for name in ("J2K_pixelrep_mismatch.dcm", "CT_small.dcm"):
        header = _header(Path(get_testdata_file(name)))
        assert not header.get("ContrastBolusStartTime")
        with open_clip(get_testdata_file(name)) as clip, pytest.raises(InputError, match="no clip states"):
            injection_from_header([clip])
    with open_clip(get_testdata_file("CT_small.dcm")) as clip:
        assert clip.header.contrast_agent == str(_header(Path(get_testdata_file("CT_small.dcm"))).ContrastBolusAgent)


def test_malformed_contrast_start_time(tmp_path: Path) -> None:
    paths = _examination(tmp_path, [0.0], ContrastBolusStartTime="25")
    with pytest.raises(InputError, match=r"clip 1 \(clip0.dcm\): its Contrast/Bolus Start Time \(0018,1042\) is "
                                         "malformed"):
        injection_from_header(_opened(paths))


def test_identifiers_stay_out_of_the_clip_repr(tmp_path: Path) -> None:
    path = _dicom(tmp_path, "a.dcm", PatientID="PAT-SECRET-1", StudyInstanceUID="1.2.999.1")
    with open_clip(path) as clip:
        assert clip.header.patient_id == "PAT-SECRET-1"
        assert "PAT-SECRET" not in repr(clip) and "PAT-SECRET" not in repr(clip.header)
        assert "1.2.999.1" not in repr(clip.header) and "PAT-SECRET" not in str(clip.summary())


def test_aware_moment_in_utc(tmp_path: Path) -> None:
    path = _dicom(tmp_path, "a.dcm", AcquisitionDateTime="20260314120000.25+0100")
    with open_clip(path) as clip:
        moment = acquisition_time(clip)
    assert moment == datetime(2026, 3, 14, 11, 0, 0, 250000, tzinfo=timezone.utc)
