"""One-off coverage-guided fuzz campaign over the readers with atheris (not part of the suite).

Usage (atheris is not a ceuskit dependency; install it into a scratch environment)::

    pip install atheris
    python tests/fuzz/campaign.py dicom -runs=20000 -max_total_time=300 CORPUS_DIR

Targets: dicom, video, npy, npz (``open_clip`` + first and last frame), roi, mask (``load_rois`` + masks),
manifest (``read_manifest``).  Seeds are written into CORPUS_DIR when it is empty.  An exception that is
not a ``CeusError`` does not stop the run: the first input of each kind (exception type and raising line)
is saved under ``CORPUS_DIR/../crashes-TARGET`` with its traceback, then turned into a regression test in
``test_fuzz_regressions.py``.  The address space is capped at 6 GiB so an unchecked huge allocation fails
as a MemoryError (and is saved) instead of exhausting the machine.
"""

from __future__ import annotations

import hashlib
import json
import resource
import sys
import tempfile
import traceback
import warnings
from pathlib import Path

import atheris

TARGETS = {"dicom": ".dcm", "video": ".mp4", "npy": ".npy", "npz": ".npz", "roi": ".json", "mask": ".png",
           "manifest": ".csv"}

with atheris.instrument_imports():
    import numpy as np

    from ceuskit.errors import CeusError
    from ceuskit.io import open_clip
    from ceuskit.io.rois import load_rois
    from ceuskit.study import read_manifest

FRAMES = (np.arange(4 * 16 * 20) % 251).astype(np.uint8).reshape(4, 16, 20)
ROI = {"reference_frame": 0, "units": "px", "rois": [
    {"name": "lesion", "role": "lesion", "shape": "ellipse", "center": [10, 8], "radii": [5, 4], "reference": "liver"},
    {"name": "liver", "role": "parenchyma", "shape": "polygon", "points": [[1, 1], [18, 2], [15, 14]]},
    {"name": "l2", "role": "lesion", "shape": "rectangle", "box": [2, 2, 9, 9]}]}


def write_named_files(work: Path) -> None:
    """The clip and ROI files the manifest cases name, in the folder the cases are written to."""
    from io_testdata import write_us

    write_us(work / "clip.dcm", FRAMES, regions=[((0, 0, 20, 16), 0.01, 1)], FrameTime="40")
    (work / "roi.json").write_text(json.dumps(ROI))


def write_seeds(target: str, corpus: Path, work: Path) -> None:
    """Small valid inputs of the target's kind."""
    from io_testdata import discover_us_files, materialise, write_mp4, write_us

    if target == "dicom":
        write_us(corpus / "rgb.dcm", np.stack([FRAMES] * 3, -1), FrameTimeVector=["0", "40", "40", "40"])
        (corpus / "grey.dcm").write_bytes((work / "clip.dcm").read_bytes())
        for entry in discover_us_files():
            path = materialise(entry, work)
            if path.stat().st_size < 400_000:
                (corpus / path.name).write_bytes(path.read_bytes())
    elif target == "video":
        write_mp4(corpus / "v.mp4")
    elif target == "npy":
        np.save(corpus / "a.npy", FRAMES)
    elif target == "npz":
        np.savez(corpus / "a.npz", frames=FRAMES, times_s=np.arange(4) * 0.1)
        np.savez_compressed(corpus / "b.npz", frames=FRAMES)
    elif target == "roi":
        (corpus / "a.json").write_text(json.dumps(ROI))
    elif target == "mask":
        from PIL import Image

        labels = np.zeros((16, 20), np.uint8)
        labels[2:8, 2:8], labels[9:14, 5:18] = 1, 2
        Image.fromarray(labels).save(corpus / "a.png")
    else:
        (corpus / "a.csv").write_text("patient_id,lesion_id,clip,roi,ki67,who_grade,injection_time_s,reader\n"
                                      "P1,L1,clip.dcm,roi.json,5,G2,1.5,R1\nP2,L1,clip.dcm,roi.json,,G1,,\n")


def main() -> None:
    target = sys.argv.pop(1)
    corpus = Path(next(a for a in sys.argv[1:] if not a.startswith("-")))
    corpus.mkdir(parents=True, exist_ok=True)
    crashes = corpus.parent / f"crashes-{target}"
    crashes.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"ceuskit-fuzz-{target}-"))
    sys.path.insert(0, str(Path(__file__).parents[1] / "io"))
    write_named_files(work)
    if not any(corpus.iterdir()):
        write_seeds(target, corpus, work)
    resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))
    case = work / f"case{TARGETS[target]}"
    seen: set[tuple[str, str, int]] = set()

    def one(data: bytes) -> None:
        case.write_bytes(data)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if target in ("dicom", "video", "npy", "npz"):
                    with open_clip(case, fps=10.0) as clip:
                        for index in sorted({0, clip.n_frames - 1}):
                            assert clip.frame(index).shape == (clip.rows, clip.columns)
                        assert np.all(np.diff(clip.times) > 0)
                elif target in ("roi", "mask"):
                    rois = load_rois(case)
                    mask = getattr(rois.rois[0], "mask_array", None)
                    rows, columns = (48, 64) if mask is None else mask.shape
                    assert all(m.any() for m in rois.masks(rows, columns).values())
                else:
                    read_manifest(case)
        except CeusError as exc:
            assert str(exc) and "\n" not in str(exc).strip(), repr(str(exc))
        except Exception as exc:  # noqa: BLE001 - every other exception is a finding
            filename, line = traceback.extract_tb(exc.__traceback__)[-1][:2]
            key = (type(exc).__name__, filename or "", line or 0)
            if key not in seen:
                seen.add(key)
                name = hashlib.sha1(data).hexdigest()[:12]
                (crashes / name).write_bytes(data)
                (crashes / f"{name}.txt").write_text("".join(traceback.format_exception(exc))[-4000:])
                print(f"FINDING {key} -> {crashes / name}", flush=True)

    atheris.Setup(sys.argv, one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
