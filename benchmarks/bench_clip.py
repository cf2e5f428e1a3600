"""Reading vs reading + analysing a 3-minute 800×600 15 frames/s JPEG-baseline RGB clip.

Targets: analysis costs at most 1.5× reading (frames/s ratio). Memory: tracking is done over the whole clip
once it has been read (issue "Real-world clips": nothing has to be causal), so each frame keeps its ROIs'
surroundings (uint8) and its tracking features (float16) until then; the figure is the peak's growth per
minute of clip (1-minute vs 3-minute clip), target ≤ 80 MB per minute for this 800×600, 15 frames/s clip
with large ROIs (about 90 KB per frame).
"""

from __future__ import annotations

import io
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROWS, COLUMNS, FPS = 600, 800, 15.0
IMAGE_BOX = (40, 60, 760, 560)  # ultrasound image region inside the frame


def _speckle_bank(rng: np.random.Generator, n: int, shape: tuple[int, int]) -> np.ndarray:
    from scipy import ndimage

    bank = []
    for _ in range(n):
        re = ndimage.gaussian_filter(rng.standard_normal(shape), 1.0)
        im = ndimage.gaussian_filter(rng.standard_normal(shape), 1.0)
        p = re * re + im * im
        bank.append(p / p.mean())
    return np.asarray(bank, dtype=np.float32)


def write_clip(path: Path, duration_s: float, seed: int = 0) -> dict[str, object]:
    """A JPEG-baseline (YBR_FULL_422) US multi-frame clip with a bolus, a lesion and breathing motion."""
    from PIL import Image
    from pydicom import Dataset
    from pydicom.dataset import FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.sequence import Sequence
    from pydicom.uid import JPEGBaseline8Bit, UltrasoundMultiFrameImageStorage, generate_uid

    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = IMAGE_BOX
    h, w = y1 - y0, x1 - x0
    bank = _speckle_bank(rng, 12, (h + 40, w + 40))
    yy, xx = np.mgrid[0:h + 40, 0:w + 40]
    lesion = (((xx - 380) / 60.0) ** 2 + ((yy - 250) / 50.0) ** 2) <= 1
    n = int(duration_s * FPS)
    times = np.arange(n) / FPS
    tau = np.maximum(times - 12.0, 1e-3)
    liver = 0.06 * np.exp(-((np.log(tau) - np.log(28)) ** 2) / (2 * 0.85**2)) / tau * 28 * (times > 12)
    fragments = []
    for k in range(n):
        dy = int(round(6 * np.sin(2 * np.pi * times[k] / 4.5))) + 20
        gain = np.where(lesion, 1.8 if times[k] < 40 else 0.4, 1.0)[dy:dy + h, 20:20 + w]
        power = 10 ** (-4.8) + liver[k] * gain * bank[k % len(bank)][dy:dy + h, 20:20 + w]
        grey = np.clip(255 * (1 + 10 * np.log10(power) / 60), 0, 255).astype(np.uint8)
        frame = np.zeros((ROWS, COLUMNS, 3), dtype=np.uint8)
        frame[y0:y1, x0:x1] = grey[..., None]
        frame[10:24, 40:300] = (255, 255, 0)  # burned-in annotation
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, format="JPEG", quality=90)
        fragments.append(buffer.getvalue())
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UltrasoundMultiFrameImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.SOPClassUID, ds.SOPInstanceUID = UltrasoundMultiFrameImageStorage, ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientName, ds.PatientID = "US", "Bench^Clip", "BENCH"
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "YBR_FULL_422", 0
    ds.Rows, ds.Columns, ds.NumberOfFrames = ROWS, COLUMNS, n
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.FrameTime = f"{1000 / FPS:.4f}"
    ds.FrameIncrementPointer = 0x00181063
    region = Dataset()
    region.RegionSpatialFormat, region.RegionDataType, region.RegionFlags = 1, 1, 0
    region.RegionLocationMinX0, region.RegionLocationMinY0 = x0, y0
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = x1 - 1, y1 - 1
    region.PhysicalUnitsXDirection = region.PhysicalUnitsYDirection = 3
    region.PhysicalDeltaX = region.PhysicalDeltaY = 0.025
    ds.SequenceOfUltrasoundRegions = Sequence([region])
    ds.PixelData = encapsulate(fragments)
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    roi = {"reference_frame": int(25 * FPS), "units": "px", "rois": [
        {"name": "lesion", "role": "lesion", "shape": "ellipse", "center": [x0 + 360, y0 + 230], "radii": [40, 32]},
        {"name": "liver", "role": "parenchyma", "shape": "rectangle", "box": [x0 + 500, y0 + 200, x0 + 560, y0 + 270]}]}
    return roi


def _read_all(path: Path) -> float:
    from ceuskit.io import open_clip

    start = time.perf_counter()
    with open_clip(path) as clip:
        for _ in clip.iter_frames():
            pass
    return time.perf_counter() - start


def _analyse(path: Path, roi: dict[str, object]) -> float:
    from ceuskit.pipeline import analyze

    start = time.perf_counter()
    analyze(path, roi)
    return time.perf_counter() - start


def _peak_mb(fn, *args) -> float:
    tracemalloc.start()
    fn(*args)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def run() -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        long_clip, short_clip = Path(tmp) / "long.dcm", Path(tmp) / "short.dcm"
        roi = write_clip(long_clip, 180.0)
        write_clip(short_clip, 60.0)
        from ceuskit.models import fit_curves

        fit_curves(np.linspace(0, 10, 50), np.ones((1, 50)))  # compile outside the timing
        n = int(180 * FPS)
        read_s = min(_read_all(long_clip) for _ in range(2))
        analyse_s = min(_analyse(long_clip, roi) for _ in range(2))
        peak_short = _peak_mb(_analyse, short_clip, roi)
        peak_long = _peak_mb(_analyse, long_clip, roi)
    return {
        "frames": n,
        "read_frames_per_s": round(n / read_s, 1),
        "analyse_frames_per_s": round(n / analyse_s, 1),
        "analysis_cost_vs_reading (target ≤ 1.5)": round(analyse_s / read_s, 2),
        "peak_traced_mb_1min": round(peak_short, 1),
        "peak_traced_mb_3min": round(peak_long, 1),
        "memory_per_minute_mb (target ≤ 80)": round((peak_long - peak_short) / 2.0, 1),
    }
