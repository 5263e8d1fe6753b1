"""
Dictionaries of the linear models
=================================

Fits scikit-learn's :class:`~sklearn.decomposition.MiniBatchDictionaryLearning`,
:class:`~skdeepsparse.VarianceRegDictionaryLearner`,
:class:`~skdeepsparse.SVAETransformer` and :class:`~skdeepsparse.ThresholdedVAE`
(linear decoders, 64 atoms each) on the same MNIST images, prints the test
PSNR and the percentage of exact zeros of each model's codes, and shows their
atoms side by side.

Run time: about 30 s on 2 idle CPU cores, about 4 min when the machine was shared
with other jobs (the exact time of the rendered run is at the bottom of the
page). ``SKDEEPSPARSE_EXAMPLE_SIZE=tiny`` runs a smoke version in seconds.
"""

import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
from sklearn.decomposition import MiniBatchDictionaryLearning

import skdeepsparse
from skdeepsparse import SVAETransformer, ThresholdedVAE, VarianceRegDictionaryLearner
from skdeepsparse.datasets import load_mnist
from skdeepsparse.metrics import code_sparsity, psnr
from skdeepsparse.plotting import plot_atoms

TINY = os.environ.get("SKDEEPSPARSE_EXAMPLE_SIZE") == "tiny"  # the tests' smoke run
OUTPUT = Path(os.environ.get("SKDEEPSPARSE_OUTPUT", "skdeepsparse_output"))
OUTPUT.mkdir(parents=True, exist_ok=True)
skdeepsparse.set_config(n_threads=1)

n_train, ep = (1000, 1) if TINY else (10000, 10)
X = load_mnist("train", n_samples=n_train).data
Xt = load_mnist("test", n_samples=1000).data

# %%
# The models, each with 64 atoms. The skdeepsparse settings are those of the
# ``benchmark_cpu`` presets (:func:`skdeepsparse.registry.make`), which were
# tuned for a CPU budget.
models = {
    "MiniBatchDictionaryLearning": MiniBatchDictionaryLearning(
        n_components=64, alpha=1.0, max_iter=ep, transform_algorithm="lasso_lars",
        transform_alpha=1.0, random_state=0),
    "VarianceRegDictionaryLearner": VarianceRegDictionaryLearner(
        n_components=64, max_epochs=ep, decoder_learning_rate=3e-3, learning_rate=1e-3,
        random_state=0),
    "SVAETransformer": SVAETransformer(n_components=64, decoder_bias=True, max_epochs=ep,
                                       batch_size=128, random_state=0),
    "ThresholdedVAE": ThresholdedVAE(
        n_components=64, optimizer="adam", learning_rate=1e-3, decoder_optimizer="adam",
        decoder_learning_rate=1e-2, kl_weight=0.003, max_epochs=ep, random_state=0),
}
summary = {}
for name, est in models.items():
    start = time.perf_counter()
    est.fit(X)
    Z = est.transform(Xt)
    # scikit-learn < 1.7 has no MiniBatchDictionaryLearning.inverse_transform.
    X_hat = est.inverse_transform(Z) if hasattr(est, "inverse_transform") else Z @ est.components_
    summary[name] = {"psnr_db": psnr(Xt, X_hat),
                     "pct_zeros": 100 * code_sparsity(Z)}
    print(f"{name}: fitted in {time.perf_counter() - start:.0f} s; test PSNR "
          f"{summary[name]['psnr_db']:.2f} dB, {summary[name]['pct_zeros']:.1f}% zeros")

# %%
# The atoms, each scaled to its own maximum.
fig, axes = plt.subplots(1, len(models), figsize=(4.5 * len(models), 5))
for ax, (name, est) in zip(axes, models.items(), strict=True):
    plot_atoms(est.components_, (28, 28), n_atoms=64, n_cols=8, ax=ax, title=name)
fig.savefig(OUTPUT / "dictionaries.png", dpi=70, bbox_inches="tight")
print(f"atoms saved to {OUTPUT / 'dictionaries.png'}")
