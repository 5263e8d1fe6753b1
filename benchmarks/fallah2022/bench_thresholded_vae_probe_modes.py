"""ThresholdedVAE codes for classification: soft threshold, max-ELBO draw, posterior mean.

Fits the demo's ThresholdedVAE (64 latents, 30 epochs) on scikit-learn's 8x8
digits (1,297 train / 500 test, the demo's split) and runs the low-data probe
(logistic regression on standardised codes, 10 labels per class, 5 draws) on
codes from ``transform_mode="soft_threshold"`` (the default), ``"max_elbo"``
and ``"mean"``, with their test PSNR.

    python benchmarks/fallah2022/bench_thresholded_vae_probe_modes.py     # ~10 s
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from skdeepsparse import ThresholdedVAE
from skdeepsparse.datasets import load_digits_data
from skdeepsparse.evaluation import linear_probe
from skdeepsparse.metrics import code_sparsity, psnr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/_common.py
from _common import hardware, write_results  # noqa: E402


def main():
    d = load_digits_data()
    perm = np.random.RandomState(0).permutation(len(d.data))
    tr, te = perm[:1297], perm[1297:]
    X, y = d.data, d.target
    est = ThresholdedVAE(
        n_components=64, encoder_hidden_sizes=(256, 128), optimizer="adam",
        learning_rate=1e-3, decoder_optimizer="adam", decoder_learning_rate=1e-2,
        kl_weight=0.003,
        max_epochs=30, device="cpu", random_state=0,
    ).fit(X[tr])
    rows = []
    for mode in ("soft_threshold", "max_elbo", "mean"):
        est.set_params(transform_mode=mode)
        Z_tr, Z_te = est.transform(X[tr]), est.transform(X[te])
        probe = linear_probe(Z_tr, y[tr], Z_te, y[te], n_per_class=(10,), n_seeds=5)[10]
        rows.append({"transform_mode": mode, "probe10_mean": probe["mean"],
                     "probe10_std": probe["std"], "pct_zeros": 100 * code_sparsity(Z_te),
                     "psnr_db": psnr(X[te], est.inverse_transform(Z_te))})
    lines = ["ThresholdedVAE (demo configuration) on 8x8 digits, 10 labels per class, 5 draws.",
             "", "| transform_mode | probe accuracy | % zeros | test PSNR (dB) |",
             "|---|---|---|---|"]
    lines += [f"| {r['transform_mode']} | {r['probe10_mean']:.3f} ± {r['probe10_std']:.3f} | "
              f"{r['pct_zeros']:.1f} | {r['psnr_db']:.2f} |" for r in rows]
    lines += ["", "Command: `python benchmarks/fallah2022/bench_thresholded_vae_probe_modes.py`"]
    write_results("thresholded_vae_probe_modes", {"hardware": hardware(), "rows": rows},
                  "\n".join(lines))


if __name__ == "__main__":
    argparse.ArgumentParser(  # no options: --help shows what it runs
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    main()
