"""sparse_encode: skdeepsparse vs SPAMS vs scikit-learn, side by side in one run.

Problems (realistic, coherent dictionaries; random atoms would be far easier):

* ``mnist``: MNIST test images (pixels in [0, 1]) over 256 unit-norm atoms
  sampled from MNIST training images;
* ``patches``: whitened 12x12 natural-image patches
  (:func:`skdeepsparse.datasets.load_natural_image_patches`) over 256
  unit-norm atoms sampled from other patches (overcomplete: 256 atoms, 144
  pixels).

For each problem, several ``alpha`` (about 1% to 20% non-zeros), float64 and
float32, 1 and 2 threads, and two starts, the solvers run on the same data in
the same process, interleaved, ``--repeats`` times (median reported; each timed
call starts after a 50 ms pause, so that no solver pays for the threads the
previous one left spinning). The starts (``--starts``):

* ``cold``: from zero codes;
* ``warm``: what ``dict_learning`` asks on each iteration after the first: the
  dictionary has moved a little (each atom plus 2% Gaussian noise, renormalised:
  about one dictionary update) and ``init`` is the exact codes on the previous
  dictionary. skdeepsparse, its active set and scikit-learn's ``lasso_cd`` take
  ``init``; SPAMS has no warm start and scikit-learn's ``lasso_lars`` ignores
  it, so they solve the same problem from zero; "skdeepsparse (cold)" is ours
  without ``init`` on that problem.

The solvers:

* skdeepsparse ``sparse_encode`` (torch threads = T; on CPU the compiled
  Lasso homotopy);
* skdeepsparse's batched active-set solver (``lasso_gram(method="active_set")``,
  what ``sparse_encode`` runs on a GPU), here on the CPU for comparison;
* SPAMS ``spams.lasso`` (C++ LARS, ``numThreads=T``; ``pip install
  skdeepsparse[bench]`` or ``pip install spams-bin``), skipped when missing;
* scikit-learn ``sparse_encode`` with ``lasso_lars`` and ``lasso_cd``
  (``n_jobs=T``). scikit-learn solves samples independently and is slow, so it
  runs on the first ``--n-sklearn`` samples once, and its time is scaled
  linearly to ``--n-samples`` (stated in the table);
* the matmul floor: the time of ``X @ D.T`` alone in torch.

The objective gap of each solver is ``(F - F*) / F*`` with ``F`` the summed
Lasso objective ``sum_i 0.5 ||x_i - c_i D||^2 + alpha ||c_i||_1`` in float64
and ``F*`` that of a tight reference solution (skdeepsparse in float64 with
``tol=1e-12``, whose duality gap certifies it; a gap slightly below zero is
rounding). Writes ``benchmarks/engineering/results/sparse_encode.{json,md,png}``.

    python benchmarks/engineering/bench_sparse_encode.py  # default (~16 min, 2 busy cores)
    python benchmarks/engineering/bench_sparse_encode.py --n-samples 500 --repeats 1 \
        --threads 1  # quick
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import sparse_encode as sk_sparse_encode

from skdeepsparse import sparse_encode
from skdeepsparse.datasets import load_mnist, load_natural_image_patches
from skdeepsparse.solvers import lasso_gram

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/_common.py
from _common import DATA_HOME, RESULTS, hardware, write_results  # noqa: E402

try:
    import spams
except ImportError:  # optional: pip install spams-bin
    spams = None

ALPHAS = {"mnist": (4.0, 1.0, 0.25), "patches": (3.0, 1.0, 0.3)}


def objective(X, C, D, alpha):
    R = X.astype(np.float64) - C.astype(np.float64) @ D.astype(np.float64)
    return float((0.5 * (R * R).sum(1) + alpha * np.abs(C.astype(np.float64)).sum(1)).sum())


def problem(name, n, n_atoms):
    rng = np.random.RandomState(0)
    if name == "mnist":
        Xtr = load_mnist("train", data_home=DATA_HOME, dtype=np.float64, n_samples=20000).data
        X = load_mnist("test", data_home=DATA_HOME, dtype=np.float64, n_samples=n).data
        D = Xtr[rng.choice(len(Xtr), n_atoms, replace=False)]
    else:
        P = load_natural_image_patches(12, n + n_atoms, data_home=DATA_HOME,
                                       dtype=np.float64).data
        D, X = P[:n_atoms].copy(), P[n_atoms:]
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    return X, D


def active_set(X, D, alpha, init=None):
    """sparse_encode's other solver (batched tensors; its GPU path), on CPU."""
    Xt, Dt = torch.from_numpy(X), torch.from_numpy(D)
    C, _ = lasso_gram(Xt @ Dt.T, Dt @ Dt.T, (Xt * Xt).sum(1), alpha, method="active_set",
                      init=None if init is None else torch.from_numpy(init))
    return C.numpy()


def moved(D, seed=1, step=0.02):
    """``D`` after about one dictionary update: each atom plus ``step`` relative
    Gaussian noise, renormalised."""
    rng = np.random.RandomState(seed)
    Dm = D + step * rng.randn(*D.shape) / np.sqrt(D.shape[1])
    return Dm / np.linalg.norm(Dm, axis=1, keepdims=True)


def clock(fn):
    # Let the previous solver's OpenMP workers (torch's, SPAMS') stop spinning
    # first: they keep a core busy for milliseconds after a parallel region,
    # which would bill one solver for the one that ran before it.
    time.sleep(0.05)
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def cells(args, ds, alpha, start, dtype, X64, D64, ref, init):
    """The timed rows of one (data, alpha, start, dtype) cell, for every thread count."""
    X, D = X64.astype(dtype), D64.astype(dtype)
    Xs = X[: args.n_sklearn]
    scale = len(X) / len(Xs)
    Xf, Df = np.asfortranarray(X.T), np.asfortranarray(D.T)
    rows = []
    for T in args.threads:
        torch.set_num_threads(T)
        solvers = {
            # n_jobs=T as every other solver here gets T threads (without it, the
            # default n_threads="auto" reads the machine's load at each call).
            "skdeepsparse": lambda X=X, D=D, a=alpha, T=T: sparse_encode(
                X, D, alpha=a, init=init, n_jobs=T),
            "skdeepsparse active set (the GPU solver)": (
                lambda X=X, D=D, a=alpha: active_set(X, D, a, init)),
            "matmul floor (X D^T)": lambda X=X, D=D: (
                torch.from_numpy(X) @ torch.from_numpy(D).T).numpy(),
        }
        if init is not None:
            solvers["skdeepsparse (cold)"] = lambda X=X, D=D, a=alpha, T=T: sparse_encode(
                X, D, alpha=a, n_jobs=T)
        if spams is not None:
            solvers["SPAMS lasso (LARS)"] = lambda Xf=Xf, Df=Df, a=alpha, T=T: (
                spams.lasso(Xf, D=Df, lambda1=a, mode=2, numThreads=T).toarray().T)
        times = {k: [] for k in solvers}
        out = {}
        for _ in range(args.repeats):  # interleaved: same load for all
            for k, fn in solvers.items():
                out[k], t = clock(fn)
                times[k].append(t)
        med = {k: statistics.median(v) for k, v in times.items()}
        codes = {k: out[k] for k in solvers if not k.startswith("matmul")}
        if not args.no_sklearn:
            for alg in ("lasso_lars", "lasso_cd"):
                k = f"sklearn {alg} (x{scale:g} from {len(Xs)} samples)"
                C, t = clock(lambda alg=alg, T=T, Xs=Xs, D=D, a=alpha: sk_sparse_encode(
                    Xs, D, alpha=a, algorithm=alg, n_jobs=T, max_iter=1000,
                    init=None if init is None else init[: len(Xs)]))
                med[k], times[k] = t * scale, [t * scale]
                codes[k] = C
        for k, t in med.items():
            gap = None
            if k in codes:
                C = codes[k]
                Xk = X64[: len(C)]
                f_best = objective(Xk, ref[: len(C)], D64, alpha)
                gap = (objective(Xk, C, D64, alpha) - f_best) / f_best
            rows.append({
                "dataset": ds, "alpha": alpha, "start": start, "dtype": dtype, "threads": T,
                "solver": k, "median_s": t, "times_s": times[k],
                "rel_objective_gap": gap,
                "pct_nonzero": 100 * float((ref != 0).mean()),
                "ratio_vs_ours": t / med["skdeepsparse"],
                "ours_vs_spams": (med["skdeepsparse"] / med["SPAMS lasso (LARS)"]
                                  if "SPAMS lasso (LARS)" in med else None),
            })
            print(f"{ds} alpha={alpha} {start} {dtype} T={T} {k}: {t:.3f}s gap={gap}",
                  flush=True)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-samples", type=int, default=2000)
    ap.add_argument("--n-sklearn", type=int, default=100)
    ap.add_argument("--n-atoms", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--datasets", nargs="+", default=["mnist", "patches"])
    ap.add_argument("--dtypes", nargs="+", default=["float64", "float32"])
    ap.add_argument("--starts", nargs="+", default=["cold", "warm"], choices=["cold", "warm"])
    ap.add_argument("--no-sklearn", action="store_true")
    args = ap.parse_args()
    torch_threads = torch.get_num_threads()

    rows = []
    for ds in args.datasets:
        X64, D0 = problem(ds, args.n_samples, args.n_atoms)
        for alpha in ALPHAS[ds]:
            ref0 = sparse_encode(X64, D0, alpha=alpha, tol=1e-12)
            for start in args.starts:
                # warm: the problem on the moved dictionary, from the codes on D0.
                D64 = D0 if start == "cold" else moved(D0)
                ref = ref0 if start == "cold" else sparse_encode(X64, D64, alpha=alpha,
                                                                 tol=1e-12)
                for dtype in args.dtypes:
                    rows += cells(args, ds, alpha, start, dtype, X64, D64, ref,
                                  None if start == "cold" else ref0.astype(dtype))
    torch.set_num_threads(torch_threads)

    hw = hardware()
    lines = [
        f"sparse_encode on {args.n_samples} samples, {args.n_atoms} unit-norm atoms drawn from "
        f"the data; median of {args.repeats} interleaved runs (scikit-learn: one run on "
        f"{args.n_sklearn} samples, scaled linearly); {hw['cpu']} ({hw['cpu_count']} cores). "
        "`time / ours` > 1 means slower than skdeepsparse; objective gap against a "
        "duality-gap-certified reference (tol=1e-12).",
        "",
        "| data | alpha | % nnz | start | dtype | threads | solver | time (s) | time / ours | "
        "rel. objective gap |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        gap = "" if r["rel_objective_gap"] is None else f"{r['rel_objective_gap']:.1e}"
        lines.append(
            f"| {r['dataset']} | {r['alpha']} | {r['pct_nonzero']:.1f} | {r['start']} | "
            f"{r['dtype']} | "
            f"{r['threads']} | {r['solver']} | {r['median_s']:.3f} | "
            f"{r['ratio_vs_ours']:.2f} | {gap} |")
    lines += ["", "Command: `python benchmarks/engineering/bench_sparse_encode.py " + " ".join(
        f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
        for k, v in vars(args).items() if k != "no_sklearn") +
        (" --no-sklearn" if args.no_sklearn else "") + "`"]
    write_results("sparse_encode", {"args": vars(args), "hardware": hw, "rows": rows},
                  "\n".join(lines))
    plot(rows, args)


def plot(rows, args):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    panels = [(d, t) for d in args.datasets for t in args.dtypes]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    for ax, (ds, dt) in zip(axes[0], panels, strict=True):
        sel = [r for r in rows if r["dataset"] == ds and r["dtype"] == dt
               and r["start"] == "cold"]  # the warm cells: in the table
        for solver in dict.fromkeys(r["solver"] for r in sel):
            for T, style in zip(args.threads, ("-", "--"), strict=False):
                pts = sorted((r["pct_nonzero"], r["median_s"]) for r in sel
                             if r["solver"] == solver and r["threads"] == T)
                if pts:
                    ax.plot(*zip(*pts, strict=True), style, marker="o",
                            label=f"{solver.split(' (x')[0]} T={T}")
        ax.set(xlabel="% non-zeros", ylabel=f"seconds ({args.n_samples} samples)",
               yscale="log", title=f"{ds}, {dt}")
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(RESULTS / "sparse_encode.png", dpi=110)
    print(f"written: {RESULTS / 'sparse_encode.png'}")


if __name__ == "__main__":
    main()
