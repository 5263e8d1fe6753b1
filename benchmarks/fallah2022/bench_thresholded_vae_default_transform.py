"""ThresholdedVAE's deterministic default transform on MNIST and Fashion-MNIST.

The suite's CPU budget (``skdeepsparse benchmark --budget cpu``): the registry's
``benchmark_cpu`` preset of ThresholdedVAE (128 latents, 20 epochs) fitted on the
first 10,000 training images, codes of the first 10,000 test images. For each
``transform_mode`` (``"soft_threshold"``, the default: ``T_lambda(mu)``;
``"hard_threshold"``: ``mu 1[|mu| > lambda]``, the same support unshrunk; the
paper's ``"max_elbo"`` draw; the dense ``"mean"``; ``"mode"``), and for raw
pixels and scikit-learn's MiniBatchDictionaryLearning (the suite's configuration:
128 atoms, alpha 1, 10 epochs, ``transform_algorithm="lasso_lars"``):

* the low-data probe (:func:`skdeepsparse.evaluation.linear_probe`: 1, 5, 10 and
  100 labels per class, 5 draws);
* test PSNR of ``inverse_transform(transform(X))`` and the % of exact zeros;
* transform time of the 10,000 test images, wall clock and process CPU time,
  timed in the same run, interleaved (the ratio uses CPU time, which other
  processes on a shared machine do not inflate; both are single-threaded).

Run:  OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python \
      benchmarks/fallah2022/bench_thresholded_vae_default_transform.py
      (--datasets, --n-train, --n-test to change it)
Writes benchmarks/fallah2022/results/thresholded_vae_default_transform.{json,md}.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from skdeepsparse import registry
from skdeepsparse.datasets import load_fashion_mnist, load_mnist
from skdeepsparse.evaluation import linear_probe
from skdeepsparse.metrics import psnr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/_common.py
from _common import DATA_HOME, add_common_options, hardware, write_results  # noqa: E402

MODES = ("soft_threshold", "hard_threshold", "max_elbo", "mean", "mode")
LABELS = (1, 5, 10, 100)
COMMAND = ("OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 "
           "python benchmarks/fallah2022/bench_thresholded_vae_default_transform.py")


def timed(fn, repeats):
    """(result, median wall s, median CPU s) over ``repeats`` calls."""
    walls, cpus = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return out, float(np.median(walls)), float(np.median(cpus))


def probe_row(Z_tr, y, Z_te, yt):
    res = linear_probe(Z_tr, y, Z_te, yt, n_per_class=LABELS, n_seeds=5, random_state=0)
    return {str(k): {"mean": v["mean"], "std": v["std"]} for k, v in res.items()}


def run_dataset(name, n_train, n_test):
    from sklearn.decomposition import MiniBatchDictionaryLearning

    loader = {"mnist": load_mnist, "fashion_mnist": load_fashion_mnist}[name]
    tr = loader("train", data_home=DATA_HOME, n_samples=n_train)
    te = loader("test", data_home=DATA_HOME, n_samples=n_test)
    X, y, Xt, yt = tr.data, tr.target, te.data, te.target
    rows = {"raw pixels": {"probe": probe_row(X, y, Xt, yt),
                           "pct_zeros": 100 * float((Xt == 0).mean())}}
    t0 = time.process_time()
    est = registry.make("ThresholdedVAE", "benchmark_cpu", device="cpu").fit(X)
    tvae_fit = time.process_time() - t0
    t0 = time.process_time()
    dl = MiniBatchDictionaryLearning(n_components=128, alpha=1.0, batch_size=256, max_iter=10,
                                     transform_algorithm="lasso_lars", transform_alpha=1.0,
                                     random_state=0).fit(X)
    dl_fit = time.process_time() - t0
    # Interleaved: one lasso_lars transform between TVAE transforms (3 before, 3 after).
    est.set_params(transform_mode="soft_threshold")
    _, w1, c1 = timed(lambda: est.transform(Xt), 3)
    Z_dl, dl_wall, dl_cpu = timed(lambda: dl.transform(Xt), 1)
    _, w2, c2 = timed(lambda: est.transform(Xt), 3)
    tv_wall, tv_cpu = min(w1, w2), min(c1, c2)
    rows["MiniBatchDictionaryLearning (lasso_lars)"] = {
        "probe": probe_row(dl.transform(X), y, Z_dl, yt),
        "psnr_db": psnr(Xt, Z_dl @ dl.components_),
        "pct_zeros": 100 * float((Z_dl == 0).mean()), "transform_wall_s": dl_wall,
        "transform_cpu_s": dl_cpu, "fit_cpu_s": dl_fit}
    for mode in MODES:
        est.set_params(transform_mode=mode)
        Z_te, wall, cpu = timed(lambda: est.transform(Xt), 1)
        Z_tr = est.transform(X)
        rows[f"ThresholdedVAE, {mode}"] = {
            "probe": probe_row(Z_tr, y, Z_te, yt),
            "psnr_db": psnr(Xt, est.inverse_transform(Z_te)),
            "pct_zeros": 100 * float((Z_te == 0).mean()),
            "transform_wall_s": tv_wall if mode == "soft_threshold" else wall,
            "transform_cpu_s": tv_cpu if mode == "soft_threshold" else cpu,
            "fit_cpu_s": tvae_fit}
        print(name, mode, rows[f"ThresholdedVAE, {mode}"], flush=True)
    speedup = dl_cpu / tv_cpu
    return {"rows": rows, "speedup_cpu": speedup, "speedup_wall": dl_wall / tv_wall,
            "n_train": len(X), "n_test": len(Xt),
            "params": registry.presets("ThresholdedVAE")["benchmark_cpu"]}


def markdown(results, total_s):
    lines = ["## ThresholdedVAE: the deterministic default transform (`soft_threshold`)", "",
             "Registry preset `benchmark_cpu` (128 latents, 20 epochs); probe: `StandardScaler` + "
             "`LogisticRegression` on k labelled training codes per class, accuracy on all test "
             "images, mean ± std over 5 draws. Transform: the test images, one thread; "
             "wall clock on a shared machine, and process CPU time.", ""]
    for name, res in results.items():
        lines += [f"### {name} ({res['n_train']:,} train / {res['n_test']:,} test)", "",
                  "| codes | test PSNR (dB) | % zeros | " + " | ".join(
                      f"probe {k}/class" for k in LABELS) + " | transform wall (s) "
                  "| transform CPU (s) |",
                  "|---|---|---|" + "---|" * len(LABELS) + "---|---|"]
        for label, r in res["rows"].items():
            ps = f"{r['psnr_db']:.2f}" if "psnr_db" in r else "exact"
            tw = f"{r['transform_wall_s']:.3f}" if "transform_wall_s" in r else "—"
            tc = f"{r['transform_cpu_s']:.3f}" if "transform_cpu_s" in r else "—"
            lines.append(f"| {label} | {ps} | {r['pct_zeros']:.1f} | " + " | ".join(
                f"{r['probe'][str(k)]['mean']:.3f} ± {r['probe'][str(k)]['std']:.3f}"
                for k in LABELS) + f" | {tw} | {tc} |")
        lines += ["", f"lasso_lars transform / soft_threshold transform: "
                      f"{res['speedup_cpu']:.0f}x (CPU time), {res['speedup_wall']:.0f}x (wall).",
                  ""]
    lines += [f"Hardware: {hardware()['cpu']}, torch {hardware()['torch']}. "
              f"Total {total_s / 60:.1f} min wall.", f"Command: `{COMMAND}`"]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--datasets", nargs="+", default=["mnist", "fashion_mnist"])
    add_common_options(ap, n_train=10_000, n_test=10_000)
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.time()
    results = {d: run_dataset(d, args.n_train, args.n_test) for d in args.datasets}
    total = time.time() - t0
    write_results("thresholded_vae_default_transform",
                  {"command": COMMAND, "args": vars(args), "results": results,
                   "hardware": hardware(), "total_seconds": total}, markdown(results, total))


if __name__ == "__main__":
    main()
