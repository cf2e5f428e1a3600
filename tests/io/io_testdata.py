"""Real ultrasound DICOM files from the installed test-data packages, and small DICOM writers for tests.

Sources: PyPI ``pydicom-data`` (module ``data_store``; pydicom's ``get_testdata_file`` reads it),
pydicom's own ``pydicom/data/test_files`` and PyPI ``deid-data`` (module ``deid_data``; its two cine
loops are zipped and are extracted once per session).  A file counts as ultrasound when its Modality is
US or its SOP Class is an ultrasound image storage class.
"""

from __future__ import annotations

import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian, UltrasoundMultiFrameImageStorage, generate_uid

US_SOP_CLASSES = {"1.2.840.10008.5.1.4.1.1.6.1", "1.2.840.10008.5.1.4.1.1.3.1", "1.2.840.10008.5.1.4.1.1.6",
                  "1.2.840.10008.5.1.4.1.1.3", "1.2.840.10008.5.1.4.1.1.6.2"}


@dataclass(frozen=True)
class UsFile:
    """One real ultrasound file: where it is (a path, or a zip and its member) and its encoding."""

    label: str
    path: Path
    member: str | None
    transfer_syntax: str
    photometric: str
    bits_allocated: int
    planar: int | None
    n_frames: int


def _roots() -> list[Path]:
    roots = [Path(pydicom.__file__).parent / "data" / "test_files"]
    for module in ("data_store", "deid_data"):
        try:
            roots.append(Path(__import__(module).__file__).parent)
        except ImportError:
            continue
    return roots


def _header(source: object) -> Dataset | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # some of pydicom's deliberately malformed test files warn
        try:
            return pydicom.dcmread(source, stop_before_pixels=True)
        except Exception:  # not DICOM: the packages hold other files too
            return None


def _us_entry(label: str, path: Path, member: str | None, ds: Dataset | None) -> UsFile | None:
    if ds is None or "Rows" not in ds:
        return None
    if not (ds.get("Modality") == "US" or str(ds.get("SOPClassUID")) in US_SOP_CLASSES):
        return None
    return UsFile(label, path, member, str(ds.file_meta.TransferSyntaxUID), str(ds.PhotometricInterpretation),
                  int(ds.BitsAllocated), None if "PlanarConfiguration" not in ds else int(ds.PlanarConfiguration),
                  int(ds.get("NumberOfFrames", 1) or 1))


def discover_us_files() -> list[UsFile]:
    """Every ultrasound DICOM file in the installed test-data packages (zipped ones included)."""
    found: dict[str, UsFile] = {}
    for root in _roots():
        for path in sorted(root.rglob("*")):
            if not path.is_file() or path.suffix in (".py", ".pyc", ".md", ".txt", ".json", ".gz", ".bz2"):
                continue
            if path.suffix == ".zip":
                with zipfile.ZipFile(path) as archive:
                    for member in archive.namelist():
                        with archive.open(member) as fh:
                            entry = _us_entry(f"{path.parent.name}/{member}", path, member, _header(fh))
                        if entry:
                            found.setdefault(entry.label, entry)
                continue
            entry = _us_entry(f"{path.parent.name}/{path.name}", path, None, _header(path))
            if entry:
                found.setdefault(entry.label, entry)
    return sorted(found.values(), key=lambda e: e.label)


def materialise(entry: UsFile, folder: Path) -> Path:
    """The file's path, extracting a zipped one into ``folder`` once."""
    if entry.member is None:
        return entry.path
    target = folder / entry.member
    if not target.exists():
        with zipfile.ZipFile(entry.path) as archive:
            archive.extract(entry.member, folder)
    return target


def write_us(path: Path, frames: np.ndarray, *, transfer_syntax: UID = ExplicitVRLittleEndian,
             pixel_data: bytes | None = None, regions: list[tuple[tuple[int, int, int, int], float, int]] = (),
             **elements: object) -> Path:
    """A small US Multi-frame file: ``frames`` (n, rows, cols[, 3]) uint8, regions ((x0, y0, x1, y1) exclusive,
    Physical Delta in cm, Region Data Type), extra header elements by keyword."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UltrasoundMultiFrameImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    ds.SOPClassUID, ds.SOPInstanceUID = UltrasoundMultiFrameImageStorage, ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "US"
    rgb = frames.ndim == 4
    ds.SamplesPerPixel, ds.PhotometricInterpretation = (3, "RGB") if rgb else (1, "MONOCHROME2")
    if rgb:
        ds.PlanarConfiguration = 0
    ds.NumberOfFrames, ds.Rows, ds.Columns = frames.shape[0], frames.shape[1], frames.shape[2]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    items = []
    for (x0, y0, x1, y1), delta_cm, data_type in regions:
        item = Dataset()
        item.RegionSpatialFormat, item.RegionDataType, item.RegionFlags = 1, data_type, 0
        item.RegionLocationMinX0, item.RegionLocationMinY0 = x0, y0
        item.RegionLocationMaxX1, item.RegionLocationMaxY1 = x1 - 1, y1 - 1
        item.PhysicalUnitsXDirection = item.PhysicalUnitsYDirection = 3
        item.PhysicalDeltaX = item.PhysicalDeltaY = delta_cm
        items.append(item)
    if items:
        ds.SequenceOfUltrasoundRegions = Sequence(items)
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    ds.PixelData = frames.tobytes() if pixel_data is None else pixel_data
    if UID(transfer_syntax).is_encapsulated:
        ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    return path


def write_mp4(path: Path, n_frames: int = 5, size_px: int = 32) -> Path:
    """A tiny MPEG-4 video of flat grey frames (0, 40, 80, …), written with PyAV."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = size_px, size_px, "yuv420p"
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(np.full((size_px, size_px, 3), i * 40, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
