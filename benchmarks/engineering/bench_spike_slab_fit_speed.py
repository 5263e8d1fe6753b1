"""SpikeSlabGenerator: fit time to equal test error, old inference against faster ones.

``bench_spike_slab_speed.py`` measures the cost of one inference step; this script
measures what the issue asks: the CPU time a fit needs to reach a given test
reconstruction error. Same data, architecture and schedule for every row
(MNIST, 200 latents, MLP 400, learning rate 0.01, alpha warm-up 2 epochs then
halved every epoch), one thread:

- **old**: the released inference (autograd gradient, 30 plain steps,
  ``inference_step_size=1.25e-3``), trained ``--epochs`` epochs. Its final test PSNR
  (``transform`` then ``inverse_transform`` on the test images) is the target.
- **paper's method, faster inference**: the hand-written gradient with 30 steps
  (the same model, numerically), with 10 steps of a sqrt(3) larger step (the
  same path length), and with 10 Nesterov steps (momentum 0.8);
- **persistent chains** (``persistent=True``: each training image's code starts
  where its last update left it, ABP's original scheme, not the paper's
  short-run inference from zero) with 10 and 6 steps.

Each candidate trains epoch by epoch (``warm_start``: the schedule, the
optimizer state and the chains continue) up to ``--max-epochs``; after every
epoch its test PSNR is measured (outside the timing). Its *time to the target*
is the process CPU time of training up to the first epoch whose test PSNR
reaches the old model's; the speed-up is the old model's training time over
it. Also reported: each model's ``transform`` time on the test images (its own
inference; median of 3).

    OMP_NUM_THREADS=1 python benchmarks/engineering/bench_spike_slab_fit_speed.py   # ~10 min
    python benchmarks/engineering/bench_spike_slab_fit_speed.py --report   # the table from the JSON
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from skdeepsparse.datasets import load_mnist
from skdeepsparse.metrics import psnr
from skdeepsparse.spike_slab import SpikeSlabGenerator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/_common.py
from _common import DATA_HOME, RESULTS, add_common_options, hardware, write_results  # noqa: E402

CANDIDATES = {
    "old: autograd, 30 steps": dict(inference_steps=30, _autograd=True),
    "analytic, 30 steps": dict(inference_steps=30),
    "analytic, 10 steps x sqrt(3) step size": dict(inference_steps=10,
                                                    inference_step_size=3 * 1.25e-3),
    "analytic, 10 Nesterov steps (0.8)": dict(inference_steps=10, inference_momentum=0.8),
    "persistent, 10 steps": dict(inference_steps=10, persistent=True),
    "persistent, 6 steps": dict(inference_steps=6, persistent=True),
}


def train(kw, X, Xt, epochs, seed, target=None):
    """Epoch-by-epoch fit; returns the per-epoch (CPU seconds, test PSNR) curve."""
    kw = dict(kw)
    autograd = kw.pop("_autograd", False)
    est = SpikeSlabGenerator(n_components=200, decoder_hidden_sizes=(400,), learning_rate=0.01,
                             alpha_warmup_epochs=2, alpha_decay=0.5, max_epochs=1,
                             warm_start=True, device="cpu", random_state=seed, **kw)
    est._analytic_gradient = not autograd
    cpu, curve = 0.0, []
    for _ in range(epochs):
        c0 = time.process_time()
        est.fit(X)
        cpu += time.process_time() - c0
        curve.append((cpu, psnr(Xt, est.inverse_transform(est.transform(Xt)))))
        if target is not None and curve[-1][1] >= target:
            break
    ts = []
    for _ in range(3):
        t0 = time.perf_counter()
        est.transform(Xt)
        ts.append(time.perf_counter() - t0)
    return curve, float(np.median(ts))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(ap, n_train=5000, n_test=2000, seeds=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=6, help="epochs of the old model")
    ap.add_argument("--max-epochs", type=int, default=12, help="at most, for the others")
    ap.add_argument("--report", action="store_true",
                    help="rebuild the table from the committed JSON, no training")
    args = ap.parse_args()
    if args.report:
        res = json.loads((RESULTS / "spike_slab_fit_speed.json").read_text())
        write_results("spike_slab_fit_speed",
                      {**res, "rows": summarise(res["runs"], res["args"]["n_test"])},
                      report(res["runs"], res["args"], res["hardware"]))
        return
    torch.set_num_threads(1)
    X = load_mnist("train", data_home=DATA_HOME, n_samples=args.n_train).data
    Xt = load_mnist("test", data_home=DATA_HOME, n_samples=args.n_test).data
    train(CANDIDATES["analytic, 10 steps x sqrt(3) step size"], X[:500], Xt[:100], 1, 0)

    runs = {name: [] for name in CANDIDATES}
    for seed in args.seeds:
        old_name = next(iter(CANDIDATES))
        curve, t_tr = train(CANDIDATES[old_name], X, Xt, args.epochs, seed)
        target = curve[-1][1]
        runs[old_name].append({"seed": seed, "curve": curve, "transform_s": t_tr,
                               "target_psnr": target})
        print(old_name, seed, curve[-1], flush=True)
        for name, kw in list(CANDIDATES.items())[1:]:
            curve, t_tr = train(kw, X, Xt, args.max_epochs, seed, target=target)
            runs[name].append({"seed": seed, "curve": curve, "transform_s": t_tr,
                               "target_psnr": target})
            print(name, seed, len(curve), curve[-1], flush=True)

    hw = hardware()
    write_results("spike_slab_fit_speed", {"args": vars(args), "hardware": hw, "runs": runs,
                                           "rows": summarise(runs, args.n_test)},
                  report(runs, vars(args), hw))


def time_to(curve, target):
    """CPU seconds at which the test PSNR first reaches ``target``, linear between
    epochs (a per-epoch reading would charge a whole epoch for a 0.01 dB miss);
    None when it never does."""
    prev_t, prev_p = 0.0, None
    for t, p in curve:
        if p >= target:
            if prev_p is None or prev_p >= p:
                return t
            return prev_t + (t - prev_t) * (target - prev_p) / (p - prev_p)
        prev_t, prev_p = t, p
    return None


def summarise(runs, n_test):
    old_runs = runs[next(iter(runs))]
    rows = []
    for name, rs in runs.items():
        times = [time_to(r["curve"], r["target_psnr"]) for r in rs]
        rows.append({
            "model": name,
            "reached": sum(t is not None for t in times),
            "epochs": [len(r["curve"]) for r in rs],
            "epoch_s": float(np.median([r["curve"][-1][0] / len(r["curve"]) for r in rs])),
            "time_to_target_s": times,
            "speedup": [o["curve"][-1][0] / t for o, t in zip(old_runs, times, strict=True)
                        if t],
            "final_psnr": [r["curve"][-1][1] for r in rs],
            "transform_us_per_row": float(np.median([1e6 * r["transform_s"] / n_test
                                                     for r in rs])),
        })
    return rows


def report(runs, args, hw):
    rows = summarise(runs, args["n_test"])
    old_runs = runs[next(iter(runs))]
    targets = ", ".join(f"{r['target_psnr']:.2f}" for r in old_runs)
    lines = [
        f"MNIST {args['n_train']} training / {args['n_test']} test images; 200 latents, "
        f"MLP 400, learning rate 0.01, alpha warm-up 2 epochs, decay 0.5; old model "
        f"{args['epochs']} epochs, the others until they reach its test PSNR (at most "
        f"{args['max_epochs']}); seeds {args['seeds']}; one thread, {hw['cpu']}. Target PSNR "
        f"per seed: {targets} dB.",
        "",
        "| training | reached target | epochs | CPU s / epoch | CPU s to target | "
        "speed-up at equal error | test PSNR at stop (dB) | transform us / row | "
        "transform speed-up |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    t_old = rows[0]["transform_us_per_row"]
    for r in rows:
        tt = [t for t in r["time_to_target_s"] if t is not None]
        sp = (f"{np.median(r['speedup']):.2f} ({min(r['speedup']):.2f}-"
              f"{max(r['speedup']):.2f})" if r["speedup"] else "-")
        epochs = r["epochs"]
        lines.append(
            f"| {r['model']} | {r['reached']}/{len(epochs)} | "
            f"{'/'.join(map(str, epochs))} | {r['epoch_s']:.2f} | "
            f"{f'{np.median(tt):.1f}' if tt else '-'} | {sp} | "
            f"{np.mean(r['final_psnr']):.2f} ± {np.std(r['final_psnr']):.2f} | "
            f"{r['transform_us_per_row']:.0f} | {t_old / r['transform_us_per_row']:.2f} |")
    lines += [
        "",
        "Speed-up at equal error: the old model's training CPU time over the candidate's "
        "CPU time to reach the old model's final test PSNR (interpolated between epochs; "
        "median and range over the seeds that reach it). Transform: each model's own "
        "inference (its steps, from zero codes) on the test images.",
        "",
        "Command: `OMP_NUM_THREADS=1 python benchmarks/engineering/bench_spike_slab_fit_speed.py`",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
