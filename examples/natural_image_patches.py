"""Sparse-coding VAE filters on whitened natural image patches.

Samples 12x12 patches from whitened natural photographs (the files in
``$SKDEEPSPARSE_DATA/natural_images`` or, without them, the images that ship
with scikit-learn), fits SVAETransformer with and without unit-norm decoder
filters, and saves both filter grids to ``patch_filters.png``.

    python examples/natural_image_patches.py           # ~3 min on 2 CPU cores
    python examples/natural_image_patches.py --quick   # ~20 s
"""

from __future__ import annotations

import argparse

from skdeepsparse import SVAETransformer
from skdeepsparse.preprocessing import load_natural_image_patches

# data_home=None: $SKDEEPSPARSE_DATA, else ~/skdeepsparse_data (natural_images/ there,
# or the images that ship with scikit-learn).
DATA = None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--output", default="patch_filters.png")
    args = ap.parse_args(argv)
    n, ep = (5000, 3) if args.quick else (20000, 12)
    patches = load_natural_image_patches(12, n_patches=n, data_home=DATA, random_state=0,
                                         pixel_std=0.316)
    fitted = {}
    for unit_norm in (True, False):
        est = SVAETransformer(n_components=169, prior_scale=0.1,
                              decoder_norm=1.0 if unit_norm else None,
                              max_epochs=ep, device="auto", random_state=0)
        fitted[unit_norm] = est.fit(patches.data)
        print(f"normalize_decoder={unit_norm}: {est.n_active_components_} of 169 latents "
              f"active (mean KL > 0.1 nats); training ELBO {est.score(patches.data):.1f} nats")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from skdeepsparse.plotting import plot_atoms

        fig, axes = plt.subplots(1, 2, figsize=(10, 5))
        for ax, (unit_norm, est) in zip(axes, fitted.items(), strict=True):
            plot_atoms(est.components_, (12, 12), ax=ax,
                       title=f"normalize_decoder={unit_norm}")
        fig.savefig(args.output, dpi=80, bbox_inches="tight")
        plt.close(fig)
        print(f"filters saved to {args.output} ({patches.source} images)")
    except ImportError:
        pass
    return fitted


if __name__ == "__main__":
    main()
