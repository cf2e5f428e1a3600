"""
Analyse a clip and compare it with the truth
============================================

Simulate a small phantom clip, analyse it with :func:`ceuskit.analyze` and draw the measured
time–intensity curves over the noiseless curves the simulator wrote as its truth.
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import ceuskit
from ceuskit.simulate import Phantom

# %%
# A phantom: a liver with one lesion of the classic neuroendocrine-metastasis pattern (arterial hyper,
# early wash-out, late hypo), 150 s at 2 frames/s on a small image so that the example runs in seconds.

folder = Path(tempfile.mkdtemp())
phantom = Phantom(pattern="hyper-early-hypo", duration_s=150.0, fps=2.0, rows=96, columns=112,
                  lesion_center_px=(56.0, 44.0), lesion_radii_px=(16.0, 13.0), seed=1)
simulated = ceuskit.simulate_clip(folder, phantom)
print(simulated.dicom.name, simulated.roi.name, simulated.truth.name)

# %%
# Analyse it: TICs, bolus fits, parameters and the phase reading.

result = ceuskit.analyze(simulated.dicom, simulated.roi, injection_time_s=0.0)
lesion = result.document["lesions"][0]
print(lesion["pattern"])
print("quality flags:", [flag["code"] for flag in result.document["quality"]])

# %%
# The reading against the simulator's truth (labels by construction, times from its noiseless curves).

truth = simulated.truth_data
labels = truth["pattern"]
print(f"truth: arterial {labels['arterial']}, {labels['washout_timing']} {labels['washout_degree']} wash-out, "
      f"late {labels['late']}")
print(f"onset:   measured {lesion['arterial_phase']['onset_s']:.1f} s, truth {truth['onset_s']:.1f} s")
print(f"wash-out onset: measured {lesion['portal_venous_phase']['washout_onset_s']:.1f} s, "
      f"truth {truth['washout_onset_s']:.1f} s")

# %%
# The measured curves (mean power inside each ROI, in dB) over the noiseless truth, with the fits.

t = result.tic["time_s"]
fig, ax = plt.subplots(figsize=(8, 4))
for name, colour in (("lesion", "tab:red"), ("liver", "tab:blue")):
    ax.plot(t, result.tic[f"{name}_db"], ".", ms=3, color=colour, alpha=0.5, label=f"{name}, measured")
    ax.plot(t, 10 * np.log10(truth["tic_truth"][name]), color=colour, lw=1, ls="--", label=f"{name}, truth")
    fitted = result.fitted[name]
    ax.plot(t, 10 * np.log10(np.where(fitted > 0, fitted, np.nan)), color=colour, lw=1.5, label=f"{name}, fit")
ax.axvline(lesion["arterial_phase"]["onset_s"], color="k", lw=0.8)
ax.set_xlabel("s after injection")
ax.set_ylabel("power (dB)")
ax.legend(ncols=3, fontsize=8)
plt.show()
