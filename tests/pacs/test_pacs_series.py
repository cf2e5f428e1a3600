"""A series of several clips (a CEUS loop and its late sweeps): listed and pulled in instance order over both
protocols, QIDO paging included; a manifest or the workstation must then name one clip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pacs_testing import Orthanc, header, make_phantom, pixels, run

pytestmark = pytest.mark.pacs


@pytest.fixture(scope="module")
def three_clips(orthanc: Orthanc, phantom_dir: Path) -> list[Path]:
    """One series, three instances numbered 3, 1, 2 (stored in that order): copies of a short phantom clip."""
    from pydicom.uid import generate_uid

    clip = make_phantom(phantom_dir, "series", patient_id="CEUSKIT-SERIES", seed=61, duration_s=6.0)
    paths = []
    for number in (3, 1, 2):
        ds = pydicom.dcmread(clip.dicom)
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.InstanceNumber = number
        path = phantom_dir / f"series-{number}.dcm"
        ds.save_as(path, enforce_file_format=True)
        orthanc.upload(path)
        paths.append(path)
    return sorted(paths, key=lambda p: int(header(p).InstanceNumber))


@pytest.mark.parametrize("protocol", ["dicomweb", "dimse"])
def test_series_is_listed_and_pulled_in_instance_order(protocol: str, credentials: Orthanc, three_clips: list[Path],
                                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("ceuskit.pacs.dicomweb._PAGE", 2)  # three instances: two QIDO pages
    where = ["--url", credentials.dicomweb] if protocol == "dicomweb" else \
        ["--dimse", credentials.dimse, "--aec", credentials.aet]
    status, out, err = run(capsys, "pacs", "find", *where, "--patient-id", "CEUSKIT-SERIES", "--json")
    assert status == 0, err
    (study,) = json.loads(out)
    (series,) = study["series"]
    expected = [header(p).SOPInstanceUID for p in three_clips]
    assert [i["SOPInstanceUID"] for i in series["instances"]] == expected
    assert [i["InstanceNumber"] for i in series["instances"]] == [1, 2, 3]
    status, out, err = run(capsys, "pacs", "pull", *where, "--study", study["StudyInstanceUID"], "--series",
                           series["SeriesInstanceUID"], "--out", tmp_path)
    assert status == 0, err
    pulled = [Path(line) for line in out.splitlines()]
    assert [p.stem for p in pulled] == expected
    for got, sent in zip(pulled, three_clips, strict=True):  # the file as stored (DICOMweb), its pixels (both)
        assert protocol == "dimse" or got.read_bytes() == sent.read_bytes()
        assert np.array_equal(pixels(got), pixels(sent))
    assert "pulled 3 file(s)" in err


def test_resolver_asks_for_one_clip_of_a_series(credentials: Orthanc, three_clips: list[Path], tmp_path: Path) -> None:
    from ceuskit.errors import InputError
    from ceuskit.pacs import parse_ref, resolve_target
    from ceuskit.pacs.cache import ClipResolver

    study, series, sop = (header(three_clips[1]).StudyInstanceUID, header(three_clips[1]).SeriesInstanceUID,
                          header(three_clips[1]).SOPInstanceUID)
    with ClipResolver(resolve_target(url=credentials.dicomweb), tmp_path) as resolver:
        with pytest.raises(InputError, match="the PACS series holds 3 clips: name one as "
                                             "dicomweb:STUDY/SERIES/INSTANCE"):
            resolver.resolve(parse_ref(f"dicomweb:{study}/{series}"))  # type: ignore[arg-type]
        resolved = resolver.resolve(parse_ref(f"dicomweb:{study}/{series}/{sop}"))  # type: ignore[arg-type]
        assert resolved.fetched and resolved.path.read_bytes() == three_clips[1].read_bytes()
        assert resolved.provenance["reference"] == f"dicomweb:{study}/{series}/{sop}"
        again = resolver.resolve(parse_ref(f"dicomweb:{study}/{series}/{sop}"))  # type: ignore[arg-type]
        assert not again.fetched and again.path == resolved.path
