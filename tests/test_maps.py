"""Parametric maps on phantoms: arrival times against the simulator's ground truth, writers, the CLI."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import numpy as np
import pydicom
import pytest

from ceuskit.cli import main
from ceuskit.errors import InputError
from ceuskit.feed import clip_frames
from ceuskit.io import open_clip
from ceuskit.io.rois import load_rois
from ceuskit.maps import MAP_NAMES, MAX_PEAK_POWER, parametric_maps
from ceuskit.pipeline import analyze
from ceuskit.report.maps import write_maps
from ceuskit.simulate import Phantom, contrast_curves, simulate_clip, truth_timing


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    # The classic NET metastasis: arterial hyper-enhancement, breathing motion, a 3 s lead-in before injection.
    ph = Phantom(pattern="hyper-early-hypo", fps=3.0, seed=5, lead_in_s=3.0, breathing_amplitude_px=(2, 6))
    sim = simulate_clip(tmp_path_factory.mktemp("maps"), ph, name="phantom")
    clip = open_clip(sim.dicom)
    rois = load_rois(sim.roi, pixel_spacing_mm=clip.pixel_spacing_mm)
    maps = parametric_maps(clip_frames(clip), rois, block_px=4, injection_time_s=ph.lead_in_s)
    yield ph, sim, clip, rois, maps
    clip.close()


def test_arrival_time_inside_the_lesion_matches_ground_truth(phantom):
    ph, sim, clip, rois, maps = phantom
    masks = rois.masks(clip.rows, clip.columns)
    lesion_at = maps["arrival_time_s"][masks["lesion"]]
    assert np.isfinite(lesion_at).mean() > 0.95
    # simulator ground truth (s after injection): the onset on the dB scale, as for the ROI reading
    truth = truth_timing(ph)
    assert abs(np.nanmedian(lesion_at) - truth["onset_s"]) <= 1.0
    liver_at = maps["arrival_time_s"][masks["liver"]]
    assert abs(np.nanmedian(liver_at) - truth["liver_onset_s"]) <= 1.0
    # arterially hyper-enhancing lesion: it fills before the liver
    assert np.nanmedian(lesion_at) < np.nanmedian(liver_at) - 1.0
    assert np.nanmedian(maps["time_to_peak_s"][masks["lesion"]]) < np.nanmedian(maps["time_to_peak_s"][masks["liver"]])


def test_the_arrival_map_on_linear_power_is_vueboxs_arrival_time(phantom):
    ph, sim, clip, rois, maps = phantom
    power = parametric_maps(clip_frames(clip), rois, block_px=4, injection_time_s=ph.lead_in_s, arrival_scale="power")
    lesion = rois.masks(clip.rows, clip.columns)["lesion"]
    # simulator ground truth: 5 % of the lesion's rise in linear power, later than on the dB scale
    truth = truth_timing(ph)
    assert abs(np.nanmedian(power["arrival_time_s"][lesion]) - truth["arrival_time_s"]) <= 1.0
    assert np.nanmedian(power["arrival_time_s"][lesion]) > np.nanmedian(maps["arrival_time_s"][lesion])


def test_maps_cover_the_region_only(phantom):
    ph, sim, clip, rois, maps = phantom
    assert set(maps) == set(MAP_NAMES)
    x0, y0, x1, y1 = clip.ceus_region.box
    outside = np.ones((clip.rows, clip.columns), dtype=bool)
    outside[y0:y1, x0:x1] = False
    for name, image in maps.items():
        assert image.shape == (clip.rows, clip.columns)
        assert np.isnan(image[outside]).all(), name
    r2 = maps["r2"][np.isfinite(maps["r2"])]
    assert r2.size and np.all(r2 <= 1.0)
    assert np.allclose(maps["peak_enhancement_db"], 10 * np.log10(maps["peak_enhancement"]), equal_nan=True)


def test_motion_compensation_does_not_make_the_lesion_map_worse(phantom):
    ph, sim, clip, rois, maps = phantom
    still = parametric_maps(clip_frames(clip), rois, block_px=4, injection_time_s=ph.lead_in_s, motion=False)
    masks = rois.masks(clip.rows, clip.columns)
    truth = truth_timing(ph)["onset_s"]
    spread = {k: float(np.nanpercentile(np.abs(m["arrival_time_s"][masks["lesion"]] - truth), 75))
              for k, m in (("tracked", maps), ("still", still))}
    assert spread["tracked"] <= spread["still"] + 0.25


def test_region_and_progress(phantom):
    ph, sim, clip, rois, _ = phantom
    calls = []
    x0, y0 = clip.ceus_region.box[:2]
    region = (x0 + 40, y0 + 30, x0 + 120, y0 + 110)
    maps = parametric_maps(clip_frames(clip), rois, block_px=8, region=region, injection_time_s=ph.lead_in_s, motion=False,
                           progress=lambda done, total: calls.append((done, total)))
    inside = np.zeros((clip.rows, clip.columns), dtype=bool)
    inside[region[1]:region[3], region[0]:region[2]] = True
    assert np.isnan(maps["arrival_time_s"][~inside]).all()
    assert np.isfinite(maps["arrival_time_s"][inside]).mean() > 0.9
    assert calls[-1][0] == calls[-1][1] and [c[0] for c in calls] == sorted(c[0] for c in calls)


@pytest.mark.parametrize("kwargs, match", [
    ({"block_px": 0}, "block size"), ({"region": (0, 0, 0, 0)}, "region"), ({"dynamic_range_db": 3.0}, "dynamic range"),
    ({"injection_time_s": -7200.0}, "injection time"), ({"model": "spline"}, "model"),
    ({"arrival_scale": "log"}, "arrival scale"),
])
def test_bad_options_raise_input_error(phantom, kwargs, match):
    ph, sim, clip, rois, _ = phantom
    with pytest.raises(InputError, match=match):
        parametric_maps(clip_frames(clip), rois, **kwargs)


def test_writers_and_cli(phantom, tmp_path, capsys):
    import nibabel as nib

    ph, sim, clip, rois, maps = phantom
    path = write_maps(maps, clip, rois, tmp_path / "direct")
    saved = np.load(path)
    assert set(saved.files) == set(MAP_NAMES)
    assert np.array_equal(saved["arrival_time_s"], maps["arrival_time_s"], equal_nan=True)
    img = nib.load(str(tmp_path / "direct" / "arrival_time_s.nii.gz"))
    assert img.shape == (clip.columns, clip.rows, 1)
    assert np.allclose(img.header.get_zooms()[:2], clip.pixel_spacing_mm)
    assert np.allclose(np.asarray(img.dataobj)[:, :, 0].T, maps["arrival_time_s"], equal_nan=True)
    assert (tmp_path / "direct" / "arrival_time_s.png").stat().st_size > 10_000
    assert not list((tmp_path / "direct").glob(".ceuskit-*"))  # no temporary left behind

    out = tmp_path / "cli"
    status = main(["map", str(sim.dicom), "--roi", str(sim.roi), "--out", str(out), "--block", "8",
                   "--injection-time", str(ph.lead_in_s), "--no-motion"])
    assert status == 0, capsys.readouterr().err
    assert "maps.npz" in capsys.readouterr().out
    cli_maps = np.load(out / "maps.npz")
    masks = rois.masks(clip.rows, clip.columns)
    assert abs(np.nanmedian(cli_maps["arrival_time_s"][masks["lesion"]]) - truth_timing(ph)["onset_s"]) <= 1.0

    status = main(["map", str(sim.dicom), "--roi", str(sim.roi), "--out", str(out), "--block", "0"])
    assert status == 2
    assert "block size" in capsys.readouterr().err
    json.loads(sim.roi.read_text())  # the ROI file is untouched


def _with_injection_in_header(source, target, lead_in_s):
    # As scanners write it: the acquisition's date and time, and the injection as Contrast/Bolus Start Time.
    ds = pydicom.dcmread(source)
    acquired = datetime(2026, 3, 2, 9, 30, 0)
    ds.AcquisitionDateTime = acquired.strftime("%Y%m%d%H%M%S.%f")
    ds.ContentDate, ds.ContentTime = acquired.strftime("%Y%m%d"), acquired.strftime("%H%M%S.%f")
    ds.ContrastBolusStartTime = (acquired + timedelta(seconds=lead_in_s)).strftime("%H%M%S.%f")
    ds.save_as(target)


def test_map_times_count_from_the_injection_as_the_analysis_does(phantom, tmp_path, capsys):
    # Issue 21: `map` gave times from the first frame while `analyze` counted from the injection, and refused
    # `--injection-time auto`.  Independent sources: the header's injection time (written here), the
    # simulator's ground truth arrival, and the ROI reading of the same clip.
    ph, sim, clip, rois, _ = phantom
    dicom = tmp_path / "stated.dcm"
    _with_injection_in_header(sim.dicom, dicom, ph.lead_in_s)
    out = tmp_path / "maps"
    status = main(["map", str(dicom), "--roi", str(sim.roi), "--out", str(out), "--block", "4",
                   "--injection-time", "auto", "--no-motion"])
    printed = capsys.readouterr().out
    assert status == 0
    assert "without a value" in printed
    info = json.loads((out / "maps.json").read_text())
    assert info["provenance"]["options"]["injection_time_s"] == pytest.approx(ph.lead_in_s, abs=1e-3)
    assert info["clip"]["sha256"] and info["times"] == "s after injection"
    maps = np.load(out / "maps.npz")
    lesion = np.nanmedian(maps["arrival_time_s"][rois.masks(clip.rows, clip.columns)["lesion"]])
    onset = analyze(dicom, sim.roi, injection_time_s="auto", motion=False).document["lesions"][0]["arterial_phase"]
    assert abs(lesion - onset["onset_s"]) <= 1.0
    assert abs(lesion - truth_timing(ph)["arrival_time_s"]) <= 1.5


@pytest.fixture(scope="module")
def pixel_maps(phantom):
    # Single pixels (speckle-dominated curves) around both ROIs: where fits go wild if nothing stops them.
    ph, sim, clip, rois, _ = phantom
    ys, xs = np.nonzero(np.logical_or.reduce(list(rois.masks(clip.rows, clip.columns).values())))
    region = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    return region, parametric_maps(clip_frames(clip), rois, block_px=1, region=region, injection_time_s=ph.lead_in_s)


def test_no_pixel_holds_a_value_beyond_the_stated_limits(phantom, pixel_maps):
    # The README's limits (before them single pixels held mean transit times of 80,000 s, peaks of 76,000
    # times the display's white and wash-in rates of 10⁸ per s).
    ph, sim, clip, rois, _ = phantom
    region, maps = pixel_maps
    start, end = -ph.lead_in_s, clip.duration_s - ph.lead_in_s  # the clip's span after injection
    with np.errstate(invalid="ignore"):
        assert not (maps["mean_transit_time_s"] > 2 * clip.duration_s).any()
        for name in ("arrival_time_s", "time_to_peak_s"):
            assert not ((maps[name] < start) | (maps[name] > end)).any(), name
        assert not (maps["peak_enhancement"] > MAX_PEAK_POWER).any()
        assert not (maps["wash_in_rate"] > maps["peak_enhancement"] / 1.0).any()  # 1 s bins: a rise within one
    # A rate far beyond any ROI's is never a value: the simulator's noiseless lesion and liver curves give the
    # steepest rise of the perfusion; speckle scatters single pixels by a few times, not by orders of magnitude.
    t = np.arange(0.0, clip.duration_s, 0.01)
    steepest = max(float(np.gradient(curve, t).max()) for curve in contrast_curves(ph, t))
    assert np.nanmax(maps["wash_in_rate"]) <= 20 * steepest
    # Most pixels keep their values, and each map reports its share of pixels without one.
    x0, y0, x1, y1 = region
    for name in MAP_NAMES:
        inside = maps[name][y0:y1, x0:x1]
        assert maps.no_value_share[name] == pytest.approx(np.isnan(inside).mean(), abs=1e-4), name
        # tails that run past the clip; lesion curves (an arterial bolus on the liver's) that one lognormal
        # can only follow with a rise inside one bin, steeper than the bins can show
        assert maps.no_value_share[name] < (0.5 if name in ("mean_transit_time_s", "wash_in_rate") else 0.25), name
