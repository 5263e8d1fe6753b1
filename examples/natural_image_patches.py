"""
Filters learned on natural image patches
========================================

Samples 12x12 patches from whitened natural photographs (the files in the
data folder's ``natural_images/`` or, without them, the images that ship with
scikit-learn), fits :class:`~skdeepsparse.SVAETransformer` with and without
unit-norm decoder filters (``decoder_norm``), and shows both filter grids.

Run time: about 7 min on 2 CPU cores, measured while the machine was shared
with other jobs (the exact time of the rendered run is at the bottom of the
page). ``SKDEEPSPARSE_EXAMPLE_SIZE=tiny`` runs a smoke version in seconds.
"""

import os
import time
from pathlib import Path

import matplotlib.pyplot as plt

import skdeepsparse
from skdeepsparse import SVAETransformer
from skdeepsparse.datasets import load_natural_image_patches
from skdeepsparse.plotting import plot_atoms

TINY = os.environ.get("SKDEEPSPARSE_EXAMPLE_SIZE") == "tiny"  # the tests' smoke run
OUTPUT = Path(os.environ.get("SKDEEPSPARSE_OUTPUT", "skdeepsparse_output"))
OUTPUT.mkdir(parents=True, exist_ok=True)
skdeepsparse.set_config(n_threads=1)

n, ep = (1000, 1) if TINY else (20000, 10)
patches = load_natural_image_patches(12, n_patches=n, random_state=0, pixel_std=0.316)
print(f"{len(patches.data)} patches; image source: {patches.source}")

# %%
# The two decoders: unit-norm filters (``decoder_norm=1.0``, the default) and
# free ones (``decoder_norm=None``).
fitted = {}
for norm in (1.0, None):
    start = time.perf_counter()
    est = SVAETransformer(n_components=169, prior_scale=0.1, decoder_norm=norm,
                          max_epochs=ep, random_state=0)
    fitted[norm] = est.fit(patches.data)
    print(f"decoder_norm={norm}: fitted in {time.perf_counter() - start:.0f} s; "
          f"{est.n_active_components_} of 169 latents active (mean KL > 0.1 nats); "
          f"training ELBO {est.score(patches.data):.1f} nats")

# %%
# The filters, each scaled to its own maximum.
fig, axes = plt.subplots(1, 2, figsize=(10, 5))
for ax, (norm, est) in zip(axes, fitted.items(), strict=True):
    plot_atoms(est.components_, (12, 12), ax=ax, title=f"decoder_norm={norm}")
fig.savefig(OUTPUT / "patch_filters.png", dpi=80, bbox_inches="tight")
print(f"filters saved to {OUTPUT / 'patch_filters.png'}")
