"""skdeepsparse.sparse_encode vs scikit-learn's lasso_lars and lasso_cd on MNIST.

Problem: the 10,000 MNIST test images (pixels in [0, 1]) coded over 256
unit-norm atoms sampled from the MNIST training images (realistic, coherent
atoms; random atoms would make the problem far easier), alpha giving about 5%
non-zeros. For each dtype, every solver runs ``--repeats`` times and the median
time is reported with the total objective ``sum_i 0.5||x_i - c_i D||^2 +
alpha ||c_i||_1``. scikit-learn runs with n_jobs=1 and n_jobs=2 and the faster
setting of the faster algorithm is the reference for the speed-up.

    python benchmarks/bench_sparse_encode.py            # full run (~5 min on 2 cores)
    python benchmarks/bench_sparse_encode.py --n-samples 2000 --repeats 1   # quick
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import DATA_HOME, hardware, timed, write_results
from sklearn.decomposition import sparse_encode as sk_sparse_encode

from skdeepsparse import sparse_encode
from skdeepsparse.datasets import load_mnist


def objective(X, C, D, alpha):
    R = X.astype(np.float64) - C.astype(np.float64) @ D.astype(np.float64)
    return float((0.5 * (R * R).sum(1) + alpha * np.abs(C).sum(1)).sum())


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n-samples", type=int, default=10000)
    ap.add_argument("--n-atoms", type=int, default=256)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    Xtr = load_mnist("train", data_home=DATA_HOME, dtype=np.float64).data
    Xte = load_mnist("test", data_home=DATA_HOME, dtype=np.float64,
                     n_samples=args.n_samples).data
    rng = np.random.RandomState(0)
    D = Xtr[rng.choice(len(Xtr), args.n_atoms, replace=False)]
    D /= np.linalg.norm(D, axis=1, keepdims=True)

    rows = []
    for dtype in (np.float64, np.float32):
        X, Dd = Xte.astype(dtype), D.astype(dtype)
        runs = {}
        for alg in ("lasso_cd", "lasso_lars"):
            for n_jobs in (1, 2):
                C, med, times = timed(
                    lambda X=X, Dd=Dd, alg=alg, n_jobs=n_jobs: sk_sparse_encode(
                        X, Dd, alpha=args.alpha, algorithm=alg, n_jobs=n_jobs, max_iter=1000),
                    args.repeats)
                runs[f"sklearn {alg} (n_jobs={n_jobs})"] = (C, med, times)
        C, med, times = timed(
            lambda X=X, Dd=Dd: sparse_encode(X, Dd, alpha=args.alpha, device=args.device),
            args.repeats)
        runs[f"skdeepsparse ({args.device})"] = (C, med, times)
        best_sk = min((v[1], k) for k, v in runs.items() if k.startswith("sklearn"))
        ref_obj = min(objective(Xte, v[0], D, args.alpha) for v in runs.values())
        for name, (C, med, times) in runs.items():
            obj = objective(Xte, C, D, args.alpha)
            rows.append({
                "dtype": np.dtype(dtype).name, "solver": name, "median_s": med,
                "times_s": times, "objective": obj,
                "rel_objective_gap": (obj - ref_obj) / ref_obj,
                "pct_nonzero": 100 * float((C != 0).mean()),
                "speedup_vs_fastest_sklearn": best_sk[0] / med,
                "fastest_sklearn": best_sk[1],
            })

    hw = hardware()
    lines = [
        f"MNIST test ({args.n_samples} images), {args.n_atoms} unit-norm atoms sampled from "
        f"MNIST train, alpha={args.alpha}; median of {args.repeats} runs; "
        f"{hw['cpu']} ({hw['cpu_count']} cores, torch threads {hw['torch_threads']}).",
        "",
        "| dtype | solver | median time (s) | speed-up vs fastest sklearn | rel. objective "
        "vs best | % non-zeros |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dtype']} | {r['solver']} | {r['median_s']:.3f} | "
            f"{r['speedup_vs_fastest_sklearn']:.2f}x | {r['rel_objective_gap']:.1e} | "
            f"{r['pct_nonzero']:.2f} |"
        )
    lines += ["", "Command: `python benchmarks/bench_sparse_encode.py " +
              " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()) + "`"]
    write_results("sparse_encode", {"args": vars(args), "hardware": hw, "rows": rows},
                  "\n".join(lines))


if __name__ == "__main__":
    main()
