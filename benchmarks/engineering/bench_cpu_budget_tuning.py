"""The trials behind the cpu-budget settings of ``skdeepsparse benchmark``.

On the first 10,000 MNIST training images (test: the 10,000 test images), with
everything else as in :func:`skdeepsparse.app.presets.benchmark_models`:

- VDL (``sparsity_reg=0.01``): learning rates (1e-3, 3e-4) vs (3e-3, 1e-3), and
  20 vs 40 epochs;
- MiniBatchDictionaryLearning (``alpha=0.5``): 10 vs 30 epochs, to check that
  scikit-learn's side has converged at the budget;
- ThresholdedVAE: ``kl_weight`` 0.01 (the Fashion-MNIST preset), 0.003, 0.001, 3e-4.

Command: ``python benchmarks/engineering/bench_cpu_budget_tuning.py`` (about 6 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sklearn.base import clone

from skdeepsparse.app.presets import benchmark_models
from skdeepsparse.datasets import load_mnist
from skdeepsparse.evaluation import linear_probe
from skdeepsparse.metrics import code_sparsity, psnr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/_common.py
from _common import DATA_HOME, hardware, write_results  # noqa: E402


def main() -> None:
    train = load_mnist("train", data_home=DATA_HOME, n_samples=10_000)
    test = load_mnist("test", data_home=DATA_HOME, n_samples=10_000)
    X, Xt = train.data, test.data
    specs = benchmark_models("cpu", device="cpu")
    trials = [
        ("VDL", "lr 1e-3/3e-4, 20 epochs",
         dict(sparsity_reg=0.01, decoder_learning_rate=1e-3, learning_rate=3e-4)),
        ("VDL", "lr 1e-3/3e-4, 40 epochs",
         dict(sparsity_reg=0.01, decoder_learning_rate=1e-3, learning_rate=3e-4, max_epochs=40)),
        ("VDL", "lr 3e-3/1e-3, 20 epochs (shipped)",
         dict(sparsity_reg=0.01, decoder_learning_rate=3e-3, learning_rate=1e-3)),
        ("VDL", "lr 3e-3/1e-3, 40 epochs",
         dict(sparsity_reg=0.01, decoder_learning_rate=3e-3, learning_rate=1e-3, max_epochs=40)),
        ("MBDL", "alpha 0.5, 10 epochs (shipped)", dict(alpha=0.5)),
        ("MBDL", "alpha 0.5, 30 epochs", dict(alpha=0.5, max_iter=30)),
    ] + [
        ("ThresholdedVAE", f"kl_weight {kl}" + (" (shipped)" if kl == 1e-3 else ""),
         dict(kl_weight=kl)) for kl in (0.01, 0.003, 1e-3, 3e-4)
    ]
    names = {"VDL": "VarianceRegDictionaryLearner", "MBDL": "MiniBatchDictionaryLearning",
             "ThresholdedVAE": "ThresholdedVAE"}
    rows = []
    for model, label, overrides in trials:
        est = clone(specs[names[model]].build(**overrides))
        t0 = time.perf_counter()
        est.fit(X)
        fit_s = time.perf_counter() - t0
        Z = est.transform(Xt)
        probe = linear_probe(est.transform(X), train.target, Z, test.target,
                             n_per_class=(10,), n_seeds=5)[10]
        rows.append({"model": model, "setting": label,
                     "psnr_db": psnr(Xt, est.inverse_transform(Z)),
                     "pct_zeros": 100 * code_sparsity(Z), "probe10": probe["mean"],
                     "fit_s": fit_s})
        print(rows[-1], flush=True)
    md = ["## cpu-budget tuning (10k MNIST train, 10k test)", "",
          "| model | setting | test PSNR (dB) | % zeros | probe 10/class | fit (s) |",
          "|---|---|---|---|---|---|"]
    md += [f"| {r['model']} | {r['setting']} | {r['psnr_db']:.2f} | {r['pct_zeros']:.1f} | "
           f"{r['probe10']:.3f} | {r['fit_s']:.0f} |" for r in rows]
    md += ["", "Command: `python benchmarks/engineering/bench_cpu_budget_tuning.py`"]
    write_results("cpu_budget_tuning", {"hardware": hardware(), "rows": rows}, "\n".join(md))


if __name__ == "__main__":
    argparse.ArgumentParser(  # no options: --help shows what it runs
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    main()
