"""SpikeSlabGenerator inference speed: flop rate against the machine's matmul rate,
and old vs new inference at equal reconstruction error, timed in the same run.

Old: the released inference (``torch.autograd.grad`` for the data term, 30 plain
gradient steps of size ``delta^2/2``). New: the hand-written gradient of the MLP
generator (same numbers, no autograd graph) and Nesterov-accelerated steps
(``inference_momentum``) with fewer of them (``inference_steps``).

1. **Flop rate.** One inference step costs the four matrix products of a forward
   and a backward pass: ``4 (n_components h + h n_features)`` flops per row. The
   same four products alone (``addmm``/``mm`` on the same shapes) give the
   machine's matmul rate; both are timed at the training batch (100) and the
   ``transform`` chunk (4096), medians of ``--repeats`` runs, interleaved.
2. **Fit.** Two models, same data, seed and schedule: old (autograd, 30 steps)
   and new (analytic, ``--new-steps`` steps, momentum ``--momentum``).
   Reported: the median epoch time of each (``history_["time"]``) and their
   ratio, and the test reconstruction error of each model with its own
   ``transform``.
3. **Transform.** On the test images: each model's own inference, and the old
   generator read with the new inference (equal error on the same generator),
   medians of ``--repeats`` interleaved runs.

    OMP_NUM_THREADS=1 python benchmarks/engineering/bench_spike_slab_speed.py        # ~6 min CPU
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch

from skdeepsparse.datasets import load_mnist
from skdeepsparse.metrics import psnr
from skdeepsparse.spike_slab import SpikeSlabGenerator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/_common.py
from _common import DATA_HOME, add_common_options, hardware, write_results  # noqa: E402


def med(fn, repeats):
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def flop_rates(model, batch, repeats, n_calls):
    """GFLOP/s of the inference step (analytic, autograd) and of its four matmuls alone."""
    layers = model._mlp_layers()
    (W1, b1), (W2, b2) = layers
    d, h = W1.shape[1], W1.shape[0]
    p = W2.shape[0]
    flops = 4 * (d * h + h * p) * batch * n_calls
    X = torch.rand(batch, p)
    z = 0.1 * torch.randn(batch, d)

    def mm():
        for _ in range(n_calls):
            a = torch.addmm(b1, z, W1.t())
            o = torch.addmm(b2, a, W2.t())
            (o @ W2) @ W1

    def analytic():
        for _ in range(n_calls):
            model._mlp_energy_grad(layers, X, z)

    def autograd():
        for _ in range(n_calls):
            model._energy_grad(X, z)

    times = {"matmul": [], "analytic": [], "autograd": []}
    with torch.no_grad():
        for _ in range(repeats):  # interleaved
            for name, fn in (("matmul", mm), ("analytic", analytic), ("autograd", autograd)):
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    return {k: flops / float(np.median(v)) / 1e9 for k, v in times.items()}


def step_timing(args, X):
    """Training-step time, old vs new, interleaved batch by batch (load-robust)."""
    common = dict(n_components=200, decoder_hidden_sizes=(400,), learning_rate=0.01,
                  max_epochs=1, alpha_warmup_epochs=0, alpha_decay=1.0,
                  decoder_norm=args.column_norm, device="cpu", random_state=args.seed)
    old = SpikeSlabGenerator(**common, inference_steps=30).fit(X[:200])
    old._analytic_gradient = False
    new = SpikeSlabGenerator(**common, inference_steps=args.new_steps,
                             inference_momentum=args.momentum).fit(X[:200])
    for m in (old, new):
        m._use_chains = False
        m._batch_rows = None
        m.module_.train()
    batches = [old._to_tensor(X[i:i + 100]) for i in range(0, 100 * args.step_batches, 100)]
    t = {"old": [], "new": []}
    for b in batches:
        for label, m in (("old", old), ("new", new)):
            t0 = time.perf_counter()
            m._train_step(b)
            t[label].append(time.perf_counter() - t0)
    for m in (old, new):
        m.module_.eval()
    ratios = np.array(t["old"]) / np.array(t["new"])
    res = {"old_ms": 1e3 * float(np.median(t["old"])), "new_ms": 1e3 * float(np.median(t["new"])),
           "median_paired_ratio": float(np.median(ratios)), "n_batches": len(batches)}
    md = ("## SpikeSlabGenerator training step, old vs new (interleaved per batch)\n\n"
          f"Batch 100, 200 latents, MLP 400; old: autograd, 30 steps; new: analytic, "
          f"{args.new_steps} Nesterov steps; {len(batches)} batches, one thread.\n\n"
          "| old ms/batch | new ms/batch | median paired ratio |\n|---|---|---|\n"
          f"| {res['old_ms']:.0f} | {res['new_ms']:.0f} | {res['median_paired_ratio']:.2f} |")
    write_results(args.name + "_steps", {"config": vars(args), "hardware": hardware(), **res}, md)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(ap, n_train=5000, n_test=2000, epochs=6, seed=0)
    ap.add_argument("--new-steps", type=int, default=10)
    ap.add_argument("--momentum", type=float, default=0.8)
    ap.add_argument("--column-norm", type=float, default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--name", default="spike_slab_speed")
    ap.add_argument("--steps-only", action="store_true",
                    help="only time training steps, old vs new, interleaved per batch")
    ap.add_argument("--step-batches", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(1)
    t_start = time.perf_counter()
    X = load_mnist("train", data_home=DATA_HOME, n_samples=args.n_train).data
    if args.steps_only:
        step_timing(args, X)
        return
    Xt = load_mnist("test", data_home=DATA_HOME, n_samples=args.n_test).data
    common = dict(n_components=200, decoder_hidden_sizes=(400,), learning_rate=0.01,
                  max_epochs=args.epochs, alpha_warmup_epochs=2, alpha_decay=0.5,
                  decoder_norm=args.column_norm, device="cpu", random_state=args.seed)
    old = SpikeSlabGenerator(**common, inference_steps=30)
    old._analytic_gradient = False
    new = SpikeSlabGenerator(**common, inference_steps=args.new_steps,
                             inference_momentum=args.momentum)
    res = {"config": vars(args), "hardware": hardware()}

    # 1. flop rates (on the untrained architecture: the cost does not depend on weights)
    probe = SpikeSlabGenerator(**{**common, "max_epochs": 1}, inference_steps=1).fit(X[:200])
    res["gflops"] = {str(b): flop_rates(probe, b, args.repeats, max(1, 2000 // b))
                     for b in (100, 4096)}
    print("GFLOP/s", res["gflops"], flush=True)

    # 2. fit, old and new (per-epoch medians; one fit each)
    for label, model in (("old", old), ("new", new)):
        t0 = time.perf_counter()
        model.fit(X)
        res[f"fit_{label}_s"] = time.perf_counter() - t0
        res[f"epoch_{label}_s"] = float(np.median([h["time"] for h in model.history_]))
        print(label, "fit", res[f"fit_{label}_s"], flush=True)
    res["fit_speedup"] = res["epoch_old_s"] / res["epoch_new_s"]

    # 3. transform: own inference of each model + the old generator read the new way
    old_fast = copy.deepcopy(old)
    old_fast._analytic_gradient = True
    old_fast.set_params(transform_inference_steps=args.new_steps,
                        inference_momentum=args.momentum)
    old_analytic30 = copy.deepcopy(old)
    old_analytic30._analytic_gradient = True
    runs = {"old model, old inference": old, "old model, analytic 30 steps": old_analytic30,
            "old model, new inference": old_fast, "new model, new inference": new}
    times = {k: [] for k in runs}
    for _ in range(args.repeats):
        for k, m in runs.items():
            t0 = time.perf_counter()
            m.transform(Xt)
            times[k].append(time.perf_counter() - t0)
    res["transform"] = {}
    for k, m in runs.items():
        R = m.inverse_transform(m.transform(Xt))
        res["transform"][k] = {"s": float(np.median(times[k])),
                               "us_per_row": 1e6 * float(np.median(times[k])) / len(Xt),
                               "mse": float(np.mean((R - Xt) ** 2)), "psnr": psnr(Xt, R)}
    t_old = res["transform"]["old model, old inference"]["s"]
    for v in res["transform"].values():
        v["speedup"] = t_old / v["s"]
    res["total_s"] = time.perf_counter() - t_start
    write_results(args.name, res, markdown(res, args))


def markdown(res, args):
    lines = [
        "## SpikeSlabGenerator inference speed (old vs new, same run)", "",
        f"MNIST, {args.n_train} training / {args.n_test} test images, 200 latents, MLP 400, "
        f"{args.epochs} epochs; old = autograd, 30 plain steps; new = analytic gradient, "
        f"{args.new_steps} Nesterov steps (momentum {args.momentum}); column norm "
        f"{args.column_norm}; one thread; medians of {args.repeats}; total "
        f"{res['total_s']:.0f} s.", "",
        "| batch | matmul GFLOP/s | analytic step GFLOP/s | autograd step GFLOP/s |",
        "|---|---|---|---|",
    ]
    for b, r in res["gflops"].items():
        lines.append(f"| {b} | {r['matmul']:.1f} | "
                     f"{r['analytic']:.1f} ({r['analytic'] / r['matmul']:.0%}) | "
                     f"{r['autograd']:.1f} ({r['autograd'] / r['matmul']:.0%}) |")
    lines += ["", "| what | time | speed-up vs old | test MSE | PSNR dB |", "|---|---|---|---|---|",
              f"| fit, old (median epoch) | {res['epoch_old_s']:.1f} s | 1.00 | "
              f"{res['transform']['old model, old inference']['mse']:.4f} | "
              f"{res['transform']['old model, old inference']['psnr']:.2f} |",
              f"| fit, new (median epoch) | {res['epoch_new_s']:.1f} s | "
              f"{res['fit_speedup']:.2f} | "
              f"{res['transform']['new model, new inference']['mse']:.4f} | "
              f"{res['transform']['new model, new inference']['psnr']:.2f} |"]
    for k, v in res["transform"].items():
        lines.append(f"| transform: {k} | {v['us_per_row']:.0f} us/row | {v['speedup']:.2f} | "
                     f"{v['mse']:.4f} | {v['psnr']:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
