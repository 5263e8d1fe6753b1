"""Denoise MNIST digits by encoding and decoding noisy images.

Fits VarianceRegDictionaryLearner, SVAETransformer and SpikeSlabGenerator on
clean MNIST training images, adds Gaussian noise (std 0.3 and 0.5 in [0, 1]
pixel units) to test images, and compares PSNR against the *clean* images for
the noisy input and for each model's reconstruction. Saves a figure of noisy
inputs and reconstructions to ``denoising.png``.

    python examples/denoising.py           # ~4 min on 2 CPU cores
    python examples/denoising.py --quick   # ~30 s
"""

from __future__ import annotations

import argparse

import numpy as np

from skdeepsparse import SpikeSlabGenerator, SVAETransformer, VarianceRegDictionaryLearner
from skdeepsparse.datasets import load_mnist
from skdeepsparse.evaluation import denoising_scores

# data_home=None: $SKDEEPSPARSE_DATA, else ~/skdeepsparse_data; missing MNIST files
# are downloaded there (checked against their SHA-256).
DATA = None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--output", default="denoising.png")
    args = ap.parse_args(argv)
    n_train, ep = (3000, 5) if args.quick else (20000, 20)
    X = load_mnist("train", data_home=DATA, n_samples=n_train).data
    Xt = load_mnist("test", data_home=DATA, n_samples=1000).data
    models = {
        "VDL": VarianceRegDictionaryLearner(
            n_components=128, max_epochs=ep, decoder_learning_rate=3e-3, learning_rate=1e-3,
            device="auto", random_state=0),
        "SVAE": SVAETransformer(n_components=128, decoder_bias=True, max_epochs=ep,
                                batch_size=128, device="auto", random_state=0),
        "SpikeSlab": SpikeSlabGenerator(n_components=100, max_epochs=ep, alpha_warmup_epochs=1,
                                        alpha_decay=0.25, device="auto", random_state=0),
    }
    results = {}
    for name, est in models.items():
        est.fit(X)
        results[name] = {s: denoising_scores(est, Xt, s, random_state=0) for s in (0.3, 0.5)}
    print("noise std | noisy input | " + " | ".join(models))
    for s in (0.3, 0.5):
        row = [f"{results[m][s]['psnr_denoised']:.2f}" for m in models]
        print(f"{s:>9} | {results['VDL'][s]['psnr_noisy']:.2f} dB | " + " | ".join(row))
    _figure(models, Xt[:8], args.output)
    return results


def _figure(models, X, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    noisy = (X + 0.5 * np.random.RandomState(0).standard_normal(X.shape)).astype(X.dtype)
    rows = [("clean", X), ("noisy 0.5", noisy)] + [
        (n, m.inverse_transform(m.transform(noisy))) for n, m in models.items()]
    fig, axes = plt.subplots(len(rows), len(X), figsize=(len(X), len(rows) * 1.1))
    for r, (name, imgs) in enumerate(rows):
        for c in range(len(X)):
            axes[r, c].imshow(imgs[c].reshape(28, 28), cmap="gray", vmin=0, vmax=1)
            axes[r, c].set_axis_off()
        axes[r, 0].set_title(name, fontsize=8, loc="left")
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)
    print(f"figure saved to {path}")


if __name__ == "__main__":
    main()
