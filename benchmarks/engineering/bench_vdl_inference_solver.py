"""VarianceRegDictionaryLearner with sparse_encode's solver: training and transform.

Where VDL's inference energy is a Lasso (linear decoder without the variance
hinge), the exact solver of :func:`skdeepsparse.sparse_encode` can replace
FISTA. This script measures what that does, on MNIST (pixels in [0, 1]):

- **Training** (``inference_solver``): the paper's SDL (registry preset
  ``paper_mnist_sdl``: 128 atoms, column norm, lambda 0.005, batch 250) fitted
  with ``"fista"`` (the paper's FISTA from the encoder's codes, stopped by
  ``inference_tol``) and with ``"lasso"`` (the exact minimiser per batch), for
  ``--seeds``, interleaved, one thread. Reported: fit wall and CPU time, test
  PSNR through the encoder (what the paper evaluates) and through the exact
  codes (``transform_mode="fista"``), % zeros of the encoder's codes, and the
  training energy gap of FISTA's codes above the exact minimum (last batch).
- **Transform** (``transform_mode="fista"``, a Lasso per image): the
  compiled homotopy (the CPU default) against the batched active-set solver
  (the GPU solver) on the test images, median of ``--repeats``.

    OMP_NUM_THREADS=1 python benchmarks/engineering/bench_vdl_inference_solver.py
    # about 5 min on one core
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np
import torch

from skdeepsparse import registry, solvers
from skdeepsparse.datasets import load_mnist
from skdeepsparse.metrics import code_sparsity, psnr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/_common.py
from _common import DATA_HOME, add_common_options, hardware, write_results  # noqa: E402

VDL = "VarianceRegDictionaryLearner"


def energy_gap(est, X):
    """(E(FISTA codes) - E(exact codes)) / E(exact) on one training batch."""
    Y = est._standardize(torch.as_tensor(X))
    params = est.get_params()
    with torch.no_grad():
        Z_enc = est.module_.encoder(Y)
        out = {}
        for solver in ("fista", "lasso"):
            est.set_params(inference_solver=solver)
            Z, _ = est._infer(Y, Z_enc, variance=True)
            W = est.module_.decoder.weight
            P, n_lat = Y.shape[1], Z.shape[1]
            out[solver] = float(((Y - Z @ W.T) ** 2).sum() / P
                                + est.code_reg * ((Z - Z_enc) ** 2).sum() / n_lat
                                + est.sparsity_reg * Z.abs().sum())
    est.set_params(**params)
    return (out["fista"] - out["lasso"]) / out["lasso"]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(ap, n_train=10_000, n_test=10_000, epochs=10, seeds=[0, 1, 2])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    X = load_mnist("train", data_home=DATA_HOME, n_samples=args.n_train).data
    Xt = load_mnist("test", data_home=DATA_HOME, n_samples=args.n_test).data

    def build(solver, seed, **kw):
        return registry.make(VDL, "paper_mnist_sdl", device="cpu", inference_solver=solver,
                             random_state=seed, **{"max_epochs": args.epochs, **kw})

    for solver in ("fista", "lasso"):  # untimed: imports, numba's cached kernel
        build(solver, 0, max_epochs=1).fit(X[:1000])

    fits = {s: [] for s in ("fista", "lasso")}
    for i, seed in enumerate(args.seeds):
        order = ("fista", "lasso") if i % 2 == 0 else ("lasso", "fista")
        for solver in order:
            est = build(solver, seed)
            w0, c0 = time.perf_counter(), time.process_time()
            est.fit(X)
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            Z = est.transform(Xt)
            exact = est.set_params(transform_mode="fista")
            Ze = exact.transform(Xt)
            row = {"seed": seed, "fit_wall_s": wall, "fit_cpu_s": cpu,
                   "epochs": int(est.n_iter_),
                   "psnr_encoder_db": psnr(Xt, est.inverse_transform(Z)),
                   "pct_zeros_encoder": 100 * code_sparsity(Z),
                   "psnr_exact_codes_db": psnr(Xt, est.inverse_transform(Ze)),
                   "pct_zeros_exact_codes": 100 * code_sparsity(Ze),
                   "inference_iter_per_batch": float(
                       np.mean([h["inference_iter"] for h in est.history_])),
                   "fista_energy_gap": energy_gap(est, X[-250:])}
            est.set_params(transform_mode="encoder")
            fits[solver].append(row)
            print(solver, row, flush=True)

    # Transform with the exact codes: homotopy (CPU default) vs the active-set solver.
    est = build("fista", args.seeds[0], max_epochs=args.epochs).fit(X)
    est.set_params(transform_mode="fista")
    active = functools.partial(solvers.lasso_gram, method="active_set")
    times = {"homotopy": [], "active set": []}
    codes = {}
    for _ in range(args.repeats):
        for name in times:
            patch = mock.patch("skdeepsparse.variance_reg.lasso_gram",
                               active if name == "active set" else solvers.lasso_gram)
            with patch:
                t0 = time.perf_counter()
                codes[name] = est.transform(Xt)
                times[name].append(time.perf_counter() - t0)
    transform = {k: statistics.median(v) for k, v in times.items()}
    agree = float(np.abs(codes["homotopy"] - codes["active set"]).max())

    def mean_sd(solver, key):
        v = [r[key] for r in fits[solver]]
        return f"{np.mean(v):.2f} ± {np.std(v):.2f}"

    hw = hardware()
    lines = [
        f"MNIST: {args.n_train} training / {args.n_test} test images; registry preset "
        f"`paper_mnist_sdl` (128 atoms, column norm, lambda 0.005, batch 250), "
        f"{args.epochs} epochs, seeds {args.seeds} (mean ± std); fits interleaved; "
        f"{hw['cpu']}, torch threads {torch.get_num_threads()}.",
        "",
        "| inference_solver | fit wall (s) | fit CPU (s) | iterations / batch | "
        "PSNR encoder (dB) | % zeros encoder | PSNR exact codes (dB) | "
        "% zeros exact codes | FISTA energy above exact |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in ("fista", "lasso"):
        gap = "-" if s == "lasso" else (
            f"{np.mean([r['fista_energy_gap'] for r in fits[s]]):.1e}")
        lines.append(
            f"| {s} | {mean_sd(s, 'fit_wall_s')} | {mean_sd(s, 'fit_cpu_s')} | "
            f"{mean_sd(s, 'inference_iter_per_batch')} | {mean_sd(s, 'psnr_encoder_db')} | "
            f"{mean_sd(s, 'pct_zeros_encoder')} | {mean_sd(s, 'psnr_exact_codes_db')} | "
            f"{mean_sd(s, 'pct_zeros_exact_codes')} | {gap} |")
    ratio = (np.mean([r["fit_wall_s"] for r in fits["fista"]])
             / np.mean([r["fit_wall_s"] for r in fits["lasso"]]))
    lines += [
        "",
        f"Fit time, fista / lasso: {ratio:.2f}x (wall, mean over seeds). Iterations: "
        "FISTA iterations, or the homotopy's path segments (largest in the batch).",
        "",
        f"`transform_mode=\"fista\"` on the {args.n_test} test images (seed "
        f"{args.seeds[0]}, median of {args.repeats}): homotopy {transform['homotopy']:.3f} s, "
        f"active set {transform['active set']:.3f} s "
        f"({transform['active set'] / transform['homotopy']:.2f}x); largest code difference "
        f"{agree:.1e}.",
        "",
        "Command: `OMP_NUM_THREADS=1 python benchmarks/engineering/bench_vdl_inference_solver.py`",
    ]
    write_results("vdl_inference_solver",
                  {"args": vars(args), "hardware": hw, "fits": fits,
                   "transform_s": transform, "transform_runs_s": times,
                   "max_code_difference": agree}, "\n".join(lines))


if __name__ == "__main__":
    main()
