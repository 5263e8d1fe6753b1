"""Visualise the dictionaries that each linear model learns on MNIST.

Fits MiniBatchDictionaryLearning, VarianceRegDictionaryLearner,
SVAETransformer and ThresholdedVAE (linear decoders, 64 atoms each) on the same
MNIST images and saves their first 64 atoms side by side to
``dictionaries.png``, with test PSNR and % zeros of each model's codes.

    python examples/compare_dictionaries.py           # ~4 min on 2 CPU cores
    python examples/compare_dictionaries.py --quick   # ~30 s
"""

from __future__ import annotations

import argparse

from sklearn.decomposition import MiniBatchDictionaryLearning

from skdeepsparse import SVAETransformer, ThresholdedVAE, VarianceRegDictionaryLearner
from skdeepsparse.datasets import load_mnist
from skdeepsparse.metrics import code_sparsity, psnr

# data_home=None: $SKDEEPSPARSE_DATA, else ~/skdeepsparse_data; missing MNIST files
# are downloaded there (checked against their SHA-256).
DATA = None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--output", default="dictionaries.png")
    args = ap.parse_args(argv)
    n_train, ep = (3000, 5) if args.quick else (20000, 20)
    X = load_mnist("train", data_home=DATA, n_samples=n_train).data
    Xt = load_mnist("test", data_home=DATA, n_samples=1000).data
    models = {
        "MiniBatchDictionaryLearning": MiniBatchDictionaryLearning(
            n_components=64, alpha=1.0, max_iter=ep, transform_algorithm="lasso_lars",
            transform_alpha=1.0, random_state=0),
        "VarianceRegDictionaryLearner": VarianceRegDictionaryLearner(
            n_components=64, max_epochs=ep, decoder_learning_rate=3e-3, learning_rate=1e-3,
            device="auto", random_state=0),
        "SVAETransformer": SVAETransformer(n_components=64, decoder_bias=True, max_epochs=ep,
                                           batch_size=128, device="auto", random_state=0),
        "ThresholdedVAE": ThresholdedVAE(
            n_components=64, optimizer="adam", learning_rate=1e-3, decoder_optimizer="adam",
            decoder_learning_rate=1e-2, kl_weight=0.003, max_epochs=ep, device="auto",
            random_state=0),
    }
    summary = {}
    for name, est in models.items():
        est.fit(X)
        Z = est.transform(Xt)
        summary[name] = {"psnr_db": psnr(Xt, est.inverse_transform(Z)),
                         "pct_zeros": 100 * code_sparsity(Z)}
        print(f"{name}: PSNR {summary[name]['psnr_db']:.2f} dB, "
              f"{summary[name]['pct_zeros']:.1f}% zeros")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from skdeepsparse.plotting import plot_atoms

        fig, axes = plt.subplots(1, len(models), figsize=(4.5 * len(models), 5))
        for ax, (name, est) in zip(axes, models.items(), strict=True):
            plot_atoms(est.components_, (28, 28), n_atoms=64, n_cols=8, ax=ax, title=name)
        fig.savefig(args.output, dpi=70, bbox_inches="tight")
        plt.close(fig)
        print(f"atoms saved to {args.output}")
    except ImportError:
        pass
    return summary


if __name__ == "__main__":
    main()
