"""
Denoising MNIST digits
======================

Fits :class:`~skdeepsparse.VarianceRegDictionaryLearner`,
:class:`~skdeepsparse.SVAETransformer` and
:class:`~skdeepsparse.SpikeSlabGenerator` on clean MNIST training images, adds
Gaussian noise (std 0.3 and 0.5, in [0, 1] pixel units) to test images, and
compares the PSNR against the *clean* images of the noisy input and of each
model's reconstruction (:func:`~skdeepsparse.evaluation.denoising_scores`).

Run time: about 4 min on 2 CPU cores, measured while the machine was shared
with other jobs (the exact time of the rendered run is at the bottom of the
page). ``SKDEEPSPARSE_EXAMPLE_SIZE=tiny`` runs a smoke version in seconds.
"""

import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import skdeepsparse
from skdeepsparse import SpikeSlabGenerator, SVAETransformer, VarianceRegDictionaryLearner
from skdeepsparse.datasets import load_mnist
from skdeepsparse.evaluation import denoising_scores

TINY = os.environ.get("SKDEEPSPARSE_EXAMPLE_SIZE") == "tiny"  # the tests' smoke run
OUTPUT = Path(os.environ.get("SKDEEPSPARSE_OUTPUT", "skdeepsparse_output"))
OUTPUT.mkdir(parents=True, exist_ok=True)
skdeepsparse.set_config(n_threads=1)

n_train, ep = (1000, 1) if TINY else (10000, 10)
X = load_mnist("train", n_samples=n_train).data
Xt = load_mnist("test", n_samples=1000).data

# %%
# Fit on clean images, then score on noisy test images.
models = {
    "VDL": VarianceRegDictionaryLearner(
        n_components=128, max_epochs=ep, decoder_learning_rate=3e-3, learning_rate=1e-3,
        random_state=0),
    "SVAE": SVAETransformer(n_components=128, decoder_bias=True, max_epochs=ep,
                            batch_size=128, random_state=0),
    "SpikeSlab": SpikeSlabGenerator(n_components=100, max_epochs=ep, alpha_warmup_epochs=1,
                                    alpha_decay=0.25, random_state=0),
}
results = {}
for name, est in models.items():
    start = time.perf_counter()
    est.fit(X)
    results[name] = {s: denoising_scores(est, Xt, s, random_state=0) for s in (0.3, 0.5)}
    print(f"{name}: fitted in {time.perf_counter() - start:.0f} s")

print("noise std | noisy input | " + " | ".join(models))
for s in (0.3, 0.5):
    row = [f"{results[m][s]['psnr_denoised']:.2f} dB" for m in models]
    print(f"{s:>9} | {results['VDL'][s]['psnr_noisy']:.2f} dB | " + " | ".join(row))

# %%
# Clean and noisy inputs (std 0.5) above each model's reconstruction.
clean = Xt[:8]
noisy = (clean + 0.5 * np.random.RandomState(0).standard_normal(clean.shape)).astype(clean.dtype)
rows = [("clean", clean), ("noisy 0.5", noisy)] + [
    (n, m.inverse_transform(m.transform(noisy))) for n, m in models.items()]
fig, axes = plt.subplots(len(rows), len(clean), figsize=(len(clean), len(rows) * 1.1))
for r, (name, imgs) in enumerate(rows):
    for c in range(len(clean)):
        axes[r, c].imshow(imgs[c].reshape(28, 28), cmap="gray", vmin=0, vmax=1)
        axes[r, c].set_axis_off()
    axes[r, 0].set_title(name, fontsize=8, loc="left")
fig.savefig(OUTPUT / "denoising.png", dpi=80, bbox_inches="tight")
print(f"figure saved to {OUTPUT / 'denoising.png'}")
