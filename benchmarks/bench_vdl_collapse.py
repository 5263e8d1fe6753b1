"""Code collapse on MNIST: variance regularisation vs column norms vs L1 alone.

Fits VarianceRegDictionaryLearner with ``regularizer`` in "variance" (VDL),
"column_norm" (SDL, lambda=0.005 as in the paper's SDL scripts) and "none"
(L1 only) on the first ``--n-train`` MNIST training images, same seed and
budget, and reports on the first 1,000 test images: PSNR (and the mean-image
baseline), % zeros of the encoder codes, the median per-latent std of the test
codes, and from ``history_`` the batch std of the training (FISTA) codes and
the mean decoder column norm, first and last epoch.

    python benchmarks/bench_vdl_collapse.py        # ~1 min on 2 CPU cores
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import DATA_HOME, hardware, write_results

from skdeepsparse import VarianceRegDictionaryLearner
from skdeepsparse.datasets import load_mnist
from skdeepsparse.metrics import code_sparsity, psnr


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n-train", type=int, default=3000)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--n-components", type=int, default=64)
    args = ap.parse_args()
    X = load_mnist("train", data_home=DATA_HOME, n_samples=args.n_train).data
    Xt = load_mnist("test", data_home=DATA_HOME, n_samples=1000).data
    baseline = psnr(Xt, np.tile(X.mean(0), (len(Xt), 1)))
    rows = []
    for reg in ("variance", "column_norm", "none"):
        est = VarianceRegDictionaryLearner(
            n_components=args.n_components, regularizer=reg, max_epochs=args.epochs,
            inference_steps=100, decoder_learning_rate=3e-3, learning_rate=1e-3,
            sparsity_reg=0.005 if reg == "column_norm" else 0.02, device="cpu", random_state=0,
        ).fit(X)
        Z = est.transform(Xt)
        h0, h1 = est.history_[0], est.history_[-1]
        rows.append({
            "regularizer": reg, "psnr_db": psnr(Xt, est.inverse_transform(Z)),
            "pct_zeros": 100 * code_sparsity(Z), "test_code_std_median": float(np.median(Z.std(0))),
            "train_code_std_first": h0["code_std"], "train_code_std_last": h1["code_std"],
            "col_norm_first": h0["col_norm"], "col_norm_last": h1["col_norm"],
        })
    lines = [
        f"MNIST, {args.n_train} train / 1000 test images, {args.n_components} latents, "
        f"{args.epochs} epochs, seed 0; mean-image PSNR {baseline:.2f} dB; threshold T = 0.5.",
        "",
        "| regularizer | test PSNR (dB) | % zeros | median test code std | train code std "
        "(first -> last epoch) | mean column norm (first -> last) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['regularizer']} | {r['psnr_db']:.2f} | {r['pct_zeros']:.1f} | "
            f"{r['test_code_std_median']:.3f} | {r['train_code_std_first']:.3f} -> "
            f"{r['train_code_std_last']:.3f} | {r['col_norm_first']:.2f} -> "
            f"{r['col_norm_last']:.2f} |"
        )
    lines += ["", f"Command: `python benchmarks/bench_vdl_collapse.py --n-train {args.n_train} "
              f"--epochs {args.epochs} --n-components {args.n_components}`"]
    write_results("vdl_collapse", {"args": vars(args), "hardware": hardware(),
                                   "mean_image_psnr_db": baseline, "rows": rows},
                  "\n".join(lines))


if __name__ == "__main__":
    main()
