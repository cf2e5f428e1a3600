"""
An examination of several clips
===============================

A loop through the arterial and portal-venous phases, then short late-phase sweeps with the probe moved:
:func:`ceuskit.pipeline.analyze_examination` places them on one time axis by their DICOM acquisition times,
tracks each with its own ROIs and reads the lesion across all of them. The loop alone cannot assess the
late phase; with the sweeps it can.
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from ceuskit.pipeline import analyze_examination
from ceuskit.simulate import Phantom
from ceuskit.simulate.examination import simulate_examination

# %%
# A 70 s loop and two 8-s sweeps at 120 and 180 s after the injection, 2 frames/s, small frames.

folder = Path(tempfile.mkdtemp())
phantom = Phantom(pattern="hyper-late-hypo", fps=2.0, rows=96, columns=112, lesion_center_px=(56.0, 44.0),
                  lesion_radii_px=(16.0, 13.0), seed=3)
exam = simulate_examination(folder, phantom, loop_s=70.0, sweeps_s=(120.0, 180.0), sweep_duration_s=8.0)
print([path.name for path in exam.dicoms])

# %%
# The loop alone, then the whole examination (injection time from the DICOM Contrast/Bolus Start Time).

loop_only = analyze_examination(exam.dicoms[:1], exam.rois[:1], injection_time_s="auto")
whole = analyze_examination(exam.dicoms, exam.rois, injection_time_s="auto")
print("loop alone:       ", loop_only.document["lesions"][0]["pattern"])
print("whole examination:", whole.document["lesions"][0]["pattern"])
print("truth:             late", exam.truth_data["pattern"]["late"])
for clip in whole.document["clips"]:
    print(f"  {Path(clip['source']).name}: starts {clip['offset_s']:.1f} s after the loop's first frame")

# %%
# The curves on one axis; the time between clips stays a gap.

tic = whole.tic
fig, ax = plt.subplots(figsize=(8, 3.6))
for name, colour in (("lesion", "tab:red"), ("liver", "tab:blue")):
    for k in np.unique(tic["clip"]):
        part = tic["clip"] == k
        ax.plot(tic["time_s"][part], tic[f"{name}_db"][part], ".", ms=3, color=colour,
                label=name if k == 0 else None)
ax.axvspan(120, tic["time_s"].max() + 5, color="tab:green", alpha=0.08, label="late phase")
ax.set_xlabel("s after injection")
ax.set_ylabel("power (dB)")
ax.legend(fontsize=8)
plt.show()
