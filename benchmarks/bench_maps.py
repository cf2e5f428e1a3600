"""Parametric maps of a 400×600-pixel, 600-frame (4 frames/s, 150 s) clip, every pixel fitted.

Target: the whole map (motion pass, streaming map pass, 240 000 per-pixel lognormal fits, per-pixel arrivals
as the ROI reading defines them, the support rules) in ≤ 5 s; the same without the motion-tracking pass is
reported too, and the CPU seconds of both (the figure the machine's load hardly moves; the load average is
printed).  The baseline figure is the time to merely decode and linearise every frame of the same clip once,
measured in the same process (the cost floor of any per-pixel analysis).
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

ROWS, COLUMNS, N_FRAMES, FPS = 400, 600, 600, 4.0


def make_clip(seed: int = 0) -> tuple[Any, dict[str, Any], np.ndarray]:
    """An in-memory grey clip: liver bolus everywhere, an arterially enhancing lesion, contrast speckle."""
    from ceuskit.io.clip import Clip
    from ceuskit.io.frames import ArrayFrames
    from ceuskit.models.shapes import lognormal
    from ceuskit.preprocess.linearize import power_to_grey

    rng = np.random.default_rng(seed)
    times = np.arange(N_FRAMES) / FPS
    liver = lognormal(times, 16.0, np.log(28.0), 0.85, 1.0, 0.0)
    lesion = lognormal(times, 12.0, np.log(8.0), 0.45, 0.6, 0.0) + 0.3 * liver
    liver, lesion = 0.06 * liver / liver.max(), 0.06 * lesion / liver.max()
    yy, xx = np.mgrid[0:ROWS, 0:COLUMNS]
    inside = ((xx - 300) / 70.0) ** 2 + ((yy - 200) / 60.0) ** 2 <= 1
    bank = rng.exponential(1.0, (16, ROWS, COLUMNS)).astype(np.float32)
    frames = np.empty((N_FRAMES, ROWS, COLUMNS), dtype=np.uint8)
    for k in range(N_FRAMES):
        contrast = np.where(inside, lesion[k], liver[k]).astype(np.float32)
        power = 1.6e-5 + contrast * bank[(k * 7) % 16]
        frames[k] = np.round(power_to_grey(power, 60.0)).astype(np.uint8)
    clip = Clip(source="bench-maps", times=times, rows=ROWS, columns=COLUMNS, frames=ArrayFrames(frames))
    rois = {"reference_frame": 80, "units": "px",
            "rois": [{"name": "lesion", "role": "lesion", "shape": "ellipse", "center": [300, 200], "radii": [50, 40]},
                     {"name": "liver", "role": "parenchyma", "shape": "rectangle", "box": [400, 150, 480, 250]}]}
    return clip, rois, inside


def run() -> dict[str, object]:
    from ceuskit.feed import clip_frames
    from ceuskit.maps import parametric_maps
    from ceuskit.pixels import to_grey
    from ceuskit.preprocess.linearize import grey_to_power
    from ceuskit.roi import parse_rois

    clip, doc, inside = make_clip()
    rois = parse_rois(doc)
    frames = clip_frames(clip)  # display maps fitted once, as the pipeline does
    parametric_maps(frames, rois, block_px=16, motion=True)  # warm-up: load the compiled kernels (tracking too)
    start = time.perf_counter()
    for pixels in clip.frames.iterate(0, clip.n_frames):
        grey_to_power(to_grey(pixels, max_value=clip.max_value), 60.0)
    decode_s = time.perf_counter() - start
    load = os.getloadavg()[0]
    start, cpu = time.perf_counter(), time.process_time()
    maps = parametric_maps(frames, rois, block_px=1, motion=True)
    map_s, map_cpu = time.perf_counter() - start, time.process_time() - cpu
    start, cpu = time.perf_counter(), time.process_time()
    parametric_maps(frames, rois, block_px=1, motion=False)
    still_s, still_cpu = time.perf_counter() - start, time.process_time() - cpu
    at = maps["arrival_time_s"]
    return {
        "pixels": ROWS * COLUMNS, "frames": N_FRAMES, "load_average_1min": round(load, 2),
        "map_seconds (target ≤ 5)": round(map_s, 2), "map_cpu_seconds": round(map_cpu, 2),
        "map_seconds_without_motion_pass": round(still_s, 2), "map_cpu_seconds_without_motion_pass": round(still_cpu, 2),
        "decode_linearise_seconds": round(decode_s, 2),
        "map_vs_decode_x": round(map_s / decode_s, 1),
        "arrival_fraction": round(float(np.isfinite(at).mean()), 4),
        "no_value_share": maps.no_value_share,
        "lesion_at_median_s": round(float(np.nanmedian(at[inside])), 2),
        "liver_at_median_s": round(float(np.nanmedian(at[~inside])), 2),
    }


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key}: {value}")
