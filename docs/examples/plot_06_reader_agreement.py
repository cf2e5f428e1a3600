"""
Agreement between readers and the software
==========================================

:mod:`ceuskit.agreement` measures how well raters agree: Cohen's kappa for a pair of raters' labels,
Fleiss' kappa for more than two, and Bland–Altman limits with the ICC for a measurement such as the onset.
Here three simulated readers label 36 lesions whose truth is the simulator's: each reader mislabels a
lesion's arterial enhancement with a known probability and times its onset with a known bias and scatter.
"""

import matplotlib.pyplot as plt
import numpy as np

from ceuskit.agreement import bland_altman, cohen_kappa, fleiss_kappa, icc
from ceuskit.simulate import PATTERNS, SEED_PATTERNS, Phantom, truth_timing

# %%
# The truth: the seed cohort's patterns twice over, each lesion with its own arterial arrival.

rng = np.random.default_rng(7)
patterns = SEED_PATTERNS * 2
arrivals = rng.uniform(8.0, 15.0, len(patterns))
truth_labels = [PATTERNS[p].arterial for p in patterns]
truth_onset = np.array([truth_timing(Phantom(pattern=p, arterial_arrival_s=a, liver_arrival_s=a + 4.0))
                        ["arrival_time_s"] for p, a in zip(patterns, arrivals, strict=True)])

# %%
# Three readers: how often each mislabels, and the bias and scatter of the onsets they mark (s).

readers = {"ann": (0.10, 0.5, 1.0), "bob": (0.20, 1.5, 1.5), "cid": (0.30, -0.5, 2.0)}
labels, onsets = {}, {}
for name, (error_rate, bias_s, sd_s) in readers.items():
    wrong = rng.random(len(patterns)) < error_rate
    other = {"hyper": "iso", "iso": "hypo", "hypo": "iso"}
    labels[name] = [other[t] if w else t for t, w in zip(truth_labels, wrong, strict=True)]
    onsets[name] = truth_onset + bias_s + rng.normal(0.0, sd_s, len(patterns))

for name in readers:
    k = cohen_kappa(labels[name], truth_labels, categories=("hypo", "iso", "hyper"), weights="linear")
    print(f"{name} vs truth: weighted kappa {k['kappa']:.2f}, 95 % CI {k['ci95'][0]:.2f}–{k['ci95'][1]:.2f}")
fleiss = fleiss_kappa([labels[name] for name in readers])
print(f"Fleiss' kappa of the three readers: {fleiss['kappa']:.2f}")
# %%
# Kappa corrects agreement for what chance alone would give, and chance agreement is high when one label
# dominates, as arterial hyper-enhancement does among NET metastases: readers who each agree fairly well
# with the truth can still agree little beyond chance with each other.

ratings = np.column_stack([onsets[name] for name in readers])
print(f"onset ICC(2,1) of the three readers: {icc(ratings)['icc']:.2f}")

# %%
# Bland–Altman plot of each reader's onset against the truth: the bias and 95 % limits of agreement
# recover the bias and scatter each reader was given.

fig, ax = plt.subplots(figsize=(7, 3.8))
for (name, (_, bias_s, _)), colour in zip(readers.items(), ("tab:blue", "tab:orange", "tab:green"), strict=True):
    ba = bland_altman(onsets[name], truth_onset)
    ax.plot(ba["means"], ba["differences"], "o", ms=3, color=colour,
            label=f"{name}: bias {ba['bias']:+.1f} s (given {bias_s:+.1f}), limits ±{(ba['limits'][1] - ba['bias']):.1f}")
    ax.axhline(ba["bias"], color=colour, lw=1)
    for limit in ba["limits"]:
        ax.axhline(limit, color=colour, lw=0.8, ls="--")
ax.set_xlabel("mean of reader and truth onset (s)")
ax.set_ylabel("reader − truth (s)")
ax.legend(fontsize=7)
plt.show()
