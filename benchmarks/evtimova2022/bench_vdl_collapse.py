"""Code collapse on MNIST: variance regularisation vs column norms vs L1 alone.

Fits VarianceRegDictionaryLearner with ``regularizer`` in "variance" (VDL, the
registry preset ``paper_mnist_vdl``), "column_norm" (SDL, ``paper_mnist_sdl``: its
own lambda 0.005, gamma 1, step 1.0 and learning rates) and "none" (L1 only,
``paper_mnist_do``: VDL's row without the hinge) on the first ``--n-train`` MNIST
training images, same seed and budget. The budget overrides are the same for all
three: ``--n-components`` latents, ``--epochs`` epochs, 100 FISTA steps, a 10%
validation split, and both learning rates times ``--lr-scale`` (a short schedule
needs larger steps than the paper's 200 epochs). It reports on the first 1,000
test images: PSNR (and the mean-image baseline), % zeros of the encoder codes,
the median per-latent std of the test codes, and from ``history_`` the batch std
of the training (FISTA) codes and the mean decoder column norm, first and last
epoch.

    python benchmarks/evtimova2022/bench_vdl_collapse.py        # ~1 min on 2 CPU cores
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from skdeepsparse import registry
from skdeepsparse.datasets import load_mnist
from skdeepsparse.metrics import code_sparsity, psnr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/_common.py
from _common import DATA_HOME, DEVICE, add_common_options, hardware, write_results  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    add_common_options(ap, n_train=3000, epochs=20)
    ap.add_argument("--n-components", type=int, default=64)
    ap.add_argument("--lr-scale", type=float, default=10.0)
    args = ap.parse_args()
    X = load_mnist("train", data_home=DATA_HOME, n_samples=args.n_train).data
    Xt = load_mnist("test", data_home=DATA_HOME, n_samples=1000).data
    baseline = psnr(Xt, np.tile(X.mean(0), (len(Xt), 1)))
    rows = []
    presets = registry.presets("VarianceRegDictionaryLearner")
    for reg, preset in (("variance", "paper_mnist_vdl"), ("column_norm", "paper_mnist_sdl"),
                        ("none", "paper_mnist_do")):
        p = presets[preset]
        est = registry.make(
            "VarianceRegDictionaryLearner", preset, n_components=args.n_components,
            max_epochs=args.epochs, inference_steps=100, validation_fraction=0.1,
            decoder_learning_rate=p["decoder_learning_rate"] * args.lr_scale,
            learning_rate=p["learning_rate"] * args.lr_scale, device=DEVICE, random_state=0,
        ).fit(X)
        # "column_norm" labels SDL: no code regulariser, unit-norm atoms.
        assert (est.regularizer, est.decoder_norm) == (
            ("none", 1.0) if reg == "column_norm" else (reg, None)), (reg, preset)
        Z = est.transform(Xt)
        h0, h1 = est.history_[0], est.history_[-1]
        rows.append({
            "regularizer": reg, "preset": preset, "sparsity_reg": est.sparsity_reg,
            "code_reg": est.code_reg, "inference_step_size": est.inference_step_size,
            "decoder_learning_rate": est.decoder_learning_rate,
            "learning_rate": est.learning_rate, "psnr_db": psnr(Xt, est.inverse_transform(Z)),
            "pct_zeros": 100 * code_sparsity(Z), "test_code_std_median": float(np.median(Z.std(0))),
            "train_code_std_first": h0["code_std"], "train_code_std_last": h1["code_std"],
            "col_norm_first": h0["col_norm"], "col_norm_last": h1["col_norm"],
        })
    lines = [
        f"MNIST, {args.n_train} train / 1000 test images, {args.n_components} latents, "
        f"{args.epochs} epochs, seed 0; mean-image PSNR {baseline:.2f} dB; threshold T = 0.5. "
        f"Each model has its paper preset's lambda, gamma, step and learning rates (the "
        f"rates x{args.lr_scale:g}).",
        "",
        "| regularizer (preset) | lambda | gamma | step | lr_D / lr_E | test PSNR (dB) | "
        "% zeros | median test code std | train code std (first -> last epoch) | "
        "mean column norm (first -> last) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['regularizer']} ({r['preset']}) | {r['sparsity_reg']:g} | {r['code_reg']:g} | "
            f"{r['inference_step_size']:g} | {r['decoder_learning_rate']:g} / "
            f"{r['learning_rate']:g} | {r['psnr_db']:.2f} | {r['pct_zeros']:.1f} | "
            f"{r['test_code_std_median']:.3f} | {r['train_code_std_first']:.3f} -> "
            f"{r['train_code_std_last']:.3f} | {r['col_norm_first']:.2f} -> "
            f"{r['col_norm_last']:.2f} |"
        )
    lines += ["", "Command: `python benchmarks/evtimova2022/bench_vdl_collapse.py "
              f"--n-train {args.n_train} "
              f"--epochs {args.epochs} --n-components {args.n_components} "
              f"--lr-scale {args.lr_scale:g}`"]
    write_results("vdl_collapse", {"args": vars(args), "hardware": hardware(),
                                   "mean_image_psnr_db": baseline, "rows": rows},
                  "\n".join(lines))


if __name__ == "__main__":
    main()
