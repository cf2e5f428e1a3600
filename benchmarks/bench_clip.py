"""Reading vs reading + analysing a 3-minute 800×600 15 frames/s JPEG-baseline RGB clip, twice: with a
regular 6-px breathing, and CEUS-only with the motion real hands give — irregular cos⁴ breathing of 15 px
(period and depth varying ±20 % per cycle) and an out-of-plane second in every nine — where the tracking
works hardest.

Targets (issue 23): analysis costs at most 1.2× reading (wall time, each clip against reading that same
clip in the same run). "Reading" is the leanest plain read of the clip's frames, whichever of these is the
faster: pydicom locating the fragments and Pillow (libjpeg-turbo) decoding each to RGB, the way a user would
write it, or ceuskit's own frame decoder (the same Pillow decode, without colour conversion to grey).
``Clip.iter_frames`` (decode + grey of the whole frame) is printed beside them but is no baseline: its grey
conversion costs more than the decode. Analysis uses both CPUs: it decodes the frames on two threads (runs of
frames, handed over in order) while the reading thread stores them and the tracking's first pass follows, so its
CPU time is printed beside the wall-time ratio (the machine's load average too: on a shared machine the CPU
ratio is the steadier figure; the baseline reading is single-threaded, as a plain loop over the frames is).
Since the analysis decodes on two threads, the same plain read on a thread pool (one thread per CPU; Pillow
releases the GIL while decoding) is printed beside it, with the analysis' ratio to it: the strictest reading of
"costs no more than reading the clip" on this machine. Memory: tracking is done over the whole clip
once it has been read (issue "Real-world clips": nothing has to be causal), so each frame keeps its ROIs'
surroundings (uint8) and its tracking features (float16) until then; the figure is the peak's growth per
minute of clip (1-minute vs 3-minute clip), target ≤ 80 MB per minute for this 800×600, 15 frames/s clip
with large ROIs (about 90 KB per frame).
"""

from __future__ import annotations

import io
import os
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


def _breathing(times: np.ndarray, hard: bool, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(dx, dy) px per frame: a 6-px sinusoid, or (``hard``) irregular cos⁴ breathing of 5 × 15 px."""
    if not hard:
        return np.zeros(times.size, dtype=int), np.rint(6 * np.sin(2 * np.pi * times / 4.5)).astype(int)
    starts, periods, depths, start = [], [], [], -rng.uniform(0, 4.5)
    while start <= times[-1]:
        starts.append(start)
        periods.append(4.5 * (1 + 0.2 * rng.uniform(-1, 1)))
        depths.append(1 + 0.2 * rng.uniform(-1, 1))
        start += periods[-1]
    cycle = np.searchsorted(np.asarray(starts), times, side="right") - 1
    u = (times - np.asarray(starts)[cycle]) / np.asarray(periods)[cycle]
    wave = np.asarray(depths)[cycle] * (2 * np.cos(np.pi * u) ** 4 - 1)
    return np.rint(5 * wave).astype(int), np.rint(15 * wave).astype(int)


def write_clip(path: Path, duration_s: float, seed: int = 0, *, hard: bool = False) -> dict[str, object]:
    """A JPEG-baseline (YBR_FULL_422) US multi-frame clip with a bolus, a lesion and breathing motion
    (``hard``: irregular and larger, with an out-of-plane second in every nine)."""
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
    shift_x, shift_y = _breathing(times, hard, rng)
    out_of_plane = hard & (np.mod(times - 4.0, 9.0) < 1.0)
    fragments = []
    for k in range(n):
        dy, dx = int(shift_y[k]) + 20, int(shift_x[k]) + 20
        gain = np.where(lesion & ~out_of_plane[k], 1.8 if times[k] < 40 else 0.4, 1.0)[dy:dy + h, dx:dx + w]
        speckle = bank[k % len(bank)][::-1] if out_of_plane[k] else bank[k % len(bank)]
        power = 10 ** (-4.8) + liver[k] * gain * speckle[dy:dy + h, dx:dx + w]
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


def _plain_read(path: Path) -> tuple[float, float]:
    """(wall, CPU) s: pydicom finds the frames, Pillow decodes each to an RGB array."""
    from PIL import Image
    from pydicom import dcmread
    from pydicom.encaps import generate_frames

    start, cpu = time.perf_counter(), time.process_time()
    ds = dcmread(path)
    for fragment in generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames)):
        np.asarray(Image.open(io.BytesIO(fragment)))
    return time.perf_counter() - start, time.process_time() - cpu


def _plain_read_threaded(path: Path) -> tuple[float, float]:
    """(wall, CPU) s: as :func:`_plain_read`, the frames decoded by a thread pool of one thread per CPU.

    Pillow releases the GIL while it decodes, so this is what a user who wants the frames fast on this machine
    writes (``pool.map`` keeps them in order).
    """
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image
    from pydicom import dcmread
    from pydicom.encaps import generate_frames

    def decode(fragment: bytes) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(fragment)))

    start, cpu = time.perf_counter(), time.process_time()
    ds = dcmread(path)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for _ in pool.map(decode, generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames))):
            pass
    return time.perf_counter() - start, time.process_time() - cpu


def _ceuskit_read(path: Path, grey: bool) -> tuple[float, float]:
    """(wall, CPU) s: ceuskit's decoder, raw frames or (``grey``) ``Clip.iter_frames``' grey frames."""
    from ceuskit.io import open_clip

    start, cpu = time.perf_counter(), time.process_time()
    with open_clip(path) as clip:
        for _ in clip.iter_frames() if grey else clip.frames.iterate(0, clip.n_frames):
            pass
    return time.perf_counter() - start, time.process_time() - cpu


def _analyse(path: Path, roi: dict[str, object]) -> tuple[float, float]:
    from ceuskit.pipeline import analyze

    start, cpu = time.perf_counter(), time.process_time()
    analyze(path, roi)
    return time.perf_counter() - start, time.process_time() - cpu


def _peak_mb(fn, *args) -> float:
    tracemalloc.start()
    fn(*args)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def run() -> dict[str, object]:
    from ceuskit.models import fit_curves

    figures: dict[str, object] = {"load_average_1min_at_start": round(os.getloadavg()[0], 2)}
    n = int(180 * FPS)
    fit_curves(np.linspace(0, 10, 50), np.ones((1, 50)))  # compile outside the timing
    with tempfile.TemporaryDirectory() as tmp:
        for label, hard in (("6-px breathing", False), ("CEUS-only, 15-px irregular breathing", True)):
            long_clip, short_clip = Path(tmp) / f"long-{hard}.dcm", Path(tmp) / f"short-{hard}.dcm"
            roi = write_clip(long_clip, 180.0, hard=hard)
            plain = min(_plain_read(long_clip) for _ in range(2))
            threaded = min(_plain_read_threaded(long_clip) for _ in range(2))
            decode = min(_ceuskit_read(long_clip, grey=False) for _ in range(2))
            grey = min(_ceuskit_read(long_clip, grey=True) for _ in range(2))
            read_s, read_cpu_s = min(plain, decode)
            analyse_s, analyse_cpu_s = min(_analyse(long_clip, roi) for _ in range(2))
            figures[f"{label}: reading wall s — pydicom+Pillow / same on a thread pool / ceuskit decode / "
                    "ceuskit grey (not a baseline)"] = (
                f"{plain[0]:.2f} / {threaded[0]:.2f} / {decode[0]:.2f} / {grey[0]:.2f} ({n} frames)")
            figures[f"{label}: baseline reading (one thread) / analysis, wall s (CPU s)"] = (
                f"{read_s:.2f} ({read_cpu_s:.2f}) / {analyse_s:.2f} ({analyse_cpu_s:.2f})")
            figures[f"{label}: analysis cost vs reading on one thread, wall (target ≤ 1.2)"] = round(analyse_s / read_s, 2)
            figures[f"{label}: analysis cost vs reading on a thread pool, wall"] = round(analyse_s / threaded[0], 2)
            figures[f"{label}: analysis cost vs reading, CPU"] = round(analyse_cpu_s / read_cpu_s, 2)
            if not hard:
                write_clip(short_clip, 60.0)
                peak_short = _peak_mb(_analyse, short_clip, roi)
                peak_long = _peak_mb(_analyse, long_clip, roi)
                figures["peak traced MB, 1-min / 3-min clip"] = f"{peak_short:.1f} / {peak_long:.1f}"
                figures["memory per clip-minute, MB (target ≤ 80)"] = round((peak_long - peak_short) / 2.0, 1)
    figures["load_average_1min_at_end"] = round(os.getloadavg()[0], 2)
    return figures
