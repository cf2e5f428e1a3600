"""The Basic Profile table itself: every keyword is a DICOM attribute (pydicom's data dictionary), and each
action (X remove, Z empty, D dummy) is applied at the top level and inside sequence items."""

from __future__ import annotations

from typing import Any

from pydicom.datadict import dictionary_VR, keyword_dict
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from ceuskit.io.deid import BASIC_PROFILE, DeidOptions, deidentify_dataset

MARK = "SECRETVALUE"


def _value(vr: str) -> Any:
    """A value of this VR that carries MARK wherever the VR can hold text."""
    if vr == "SQ":
        item = Dataset()
        item.CodeMeaning = MARK
        return Sequence([item])
    samples = {"PN": MARK + "^Name", "DA": "20200101", "TM": "101010", "DT": "20200101101010", "UI": "1.2.3.4.5",
               "AS": "045Y", "DS": "70.5", "IS": "3", "US": 1, "SS": 1, "UL": 1, "SL": 1, "FL": 1.0, "FD": 1.0,
               "OB": b"\x00\x01", "OW": b"\x00\x01", "UN": b"\x00\x01", "AT": 0x00100010}
    return samples.get(vr, MARK)


def _profiled() -> Dataset:
    ds = Dataset()
    for keyword in BASIC_PROFILE:
        vr = dictionary_VR(keyword_dict[keyword]).split(" or ")[0]
        ds.add_new(keyword_dict[keyword], vr, _value(vr))
    return ds


def test_table_is_made_of_dicom_keywords_and_actions() -> None:
    assert len(BASIC_PROFILE) >= 150
    assert not [k for k in BASIC_PROFILE if k not in keyword_dict]
    assert set(BASIC_PROFILE.values()) <= {"X", "Z", "D"}


def test_every_action_applied_at_top_level_and_in_sequences() -> None:
    ds = _profiled()
    ds.PatientID, ds.PatientName, ds.SOPInstanceUID = "ID-" + MARK, MARK, "1.2.3.9"
    holder = Dataset()
    holder.ReferencedSOPInstanceUID = "1.2.3.10"
    for element in _profiled():  # the same attributes one level down, in an item of a kept sequence
        holder.add(element)
    ds.ReferencedImageSequence = Sequence([holder])
    deidentify_dataset(ds, DeidOptions(key=b"profile-key-0123456789"), pixels_cleaned=False)
    for level in (ds, ds.ReferencedImageSequence[0]):
        for keyword, action in BASIC_PROFILE.items():
            if action == "X":
                assert keyword not in level, keyword
            elif action == "Z":
                assert level[keyword].value in ("", None), keyword
            else:
                assert level[keyword].value not in ("", None) and MARK not in str(level[keyword].value), keyword
    texts = [str(e.value) for e in ds.iterall() if e.VR != "SQ"]
    assert not [t for t in texts if MARK in t]
    assert ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID.startswith("2.25.")
