"""
Low-data evaluation
===================

The main job of skdeepsparse in one call: fit sparse coders on unlabelled
images, then ask how well a linear classifier does on their codes when only
1, 5 or 10 labelled images per class are available, against the same
classifier on raw pixels.

:func:`skdeepsparse.evaluation.evaluate` fits each estimator once on the
training images (no labels), draws ``k`` labelled images per class five times
(the same draws for every estimator, so the comparison is paired), fits a
``StandardScaler`` + ``LogisticRegression`` on their codes and scores it on the
whole test set. It returns one row per estimator, ``k`` and draw.

The budget here is deliberately small so that the page runs in a few minutes
on a laptop: 6,000 MNIST training images, 64 latents and 10 epochs per model
(the models' papers train for 100-300 epochs on GPUs). The accuracies change
with the budget; each model's page says what to set and what to expect.

Run time: about 5 min on 2 CPU cores, measured while the machine was shared
with other jobs (the exact time of the rendered run is at the bottom of the
page). ``SKDEEPSPARSE_EXAMPLE_SIZE=tiny`` runs a smoke version in seconds.
"""

# %%
# Data
# ----
# :func:`~skdeepsparse.datasets.load_mnist` finds the MNIST files in the data
# folder (see :doc:`/getting_started`); images come as float32 rows in [0, 1].
import os
from pathlib import Path

import skdeepsparse
from skdeepsparse import (
    SpikeSlabGenerator,
    SVAETransformer,
    ThresholdedVAE,
    VarianceRegDictionaryLearner,
)
from skdeepsparse.datasets import load_mnist
from skdeepsparse.evaluation import evaluate
from skdeepsparse.plotting import plot_atoms, plot_low_data

TINY = os.environ.get("SKDEEPSPARSE_EXAMPLE_SIZE") == "tiny"  # the tests' smoke run
OUTPUT = Path(os.environ.get("SKDEEPSPARSE_OUTPUT", "skdeepsparse_output"))
OUTPUT.mkdir(parents=True, exist_ok=True)
skdeepsparse.set_config(n_threads=1)  # one thread each: never slower on a shared machine

n_train, n_components, epochs = (600, 16, 1) if TINY else (6000, 64, 10)
train = load_mnist("train", n_samples=n_train)
test = load_mnist("test", n_samples=500 if TINY else 2000)
print(f"{len(train.data)} training and {len(test.data)} test images of {train.data.shape[1]} "
      "pixels")

# %%
# The comparison
# --------------
# The dictionary maps a name to an estimator, a ``Pipeline``, or ``None`` for
# the raw pixels. Only ``n_components`` and ``max_epochs`` are set: the rest
# are each model's defaults.
common = dict(n_components=n_components, max_epochs=epochs, random_state=0)
estimators = {
    "pixels": None,
    "VDL": VarianceRegDictionaryLearner(**common),
    "SVAE": SVAETransformer(**common),
    "thresholded VAE": ThresholdedVAE(**common),
    "spike-and-slab": SpikeSlabGenerator(**common),
}
frame = evaluate(estimators, train.data, train.target, test.data, test.target,
                 n_per_class=(1, 5) if TINY else (1, 5, 10), n_seeds=2 if TINY else 5)

# %%
# One row per estimator, labels per class and draw; ``psnr`` (reconstruction
# of the test images, dB) and ``pct_zeros`` (exact zeros in the codes) are
# repeated on each estimator's rows. A pivot gives the usual table:
summary = frame.groupby(["estimator", "n_per_class"], sort=False).accuracy.agg(["mean", "std"])
print(summary.unstack().round(3).to_string())
print(frame.groupby("estimator", sort=False)[["fit_time", "psnr", "pct_zeros"]].first()
      .round(2).to_string())
frame.to_csv(OUTPUT / "low_data_evaluation.csv", index=False)

# %%
# Accuracy against labels per class
# ---------------------------------
# Mean and standard deviation over the draws.
fig = plot_low_data(frame, title=f"MNIST, {n_components} latents, {epochs} epochs")
fig.savefig(OUTPUT / "low_data_evaluation.png", dpi=100, bbox_inches="tight")

# %%
# The estimators were fitted in place, so they can be inspected: here the
# first 64 dictionary atoms of the variance-regularised model.
plot_atoms(estimators["VDL"].components_, (28, 28), n_atoms=64, title="VDL atoms")
print(f"results saved in {OUTPUT}")
