"""PyTorch's default thread count against one thread, in the same run.

Times a small ``GridSearchCV`` over a pipeline (VarianceRegDictionaryLearner
then logistic regression, the README's search on 8x8 digits) and repeated
``fit`` + ``transform`` calls of VarianceRegDictionaryLearner and
SVAETransformer, once with PyTorch's default number of threads and once within
``skdeepsparse.config_context(n_threads=1)``. The two settings alternate
(default, 1, default, 1, ...) so that a change of machine load hits both, and
the machine's load average is recorded: the effect of the thread limit depends
on how busy the cores are.

    python benchmarks/bench_threads.py --repeats 1 --epochs 2   # the committed run, ~5 min
    python benchmarks/bench_threads.py                # 3 repeats, 3 epochs: 15-30 min busy

Writes benchmarks/results/threads.json and threads.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings

import torch
from _common import hardware, write_results
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from skdeepsparse._config import config_context
from skdeepsparse.svae import SVAETransformer
from skdeepsparse.variance_reg import VarianceRegDictionaryLearner


def _vdl(epochs):
    return VarianceRegDictionaryLearner(n_components=64, max_epochs=epochs, device="cpu",
                                        random_state=0)


def _svae(epochs):
    return SVAETransformer(n_components=64, max_epochs=epochs, device="cpu", random_state=0)


def _fit_transform(make, X, epochs):
    est = make(epochs).fit(X)
    est.transform(X)


def _search(X, y, epochs):
    pipe = make_pipeline(_vdl(epochs), LogisticRegression(max_iter=500))
    grid = {"varianceregdictionarylearner__sparsity_reg": [0.01, 0.02]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        GridSearchCV(pipe, grid, cv=3).fit(X, y)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args()

    d = load_digits()
    X, y = (d.data / 16.0).astype("float32"), d.target
    e = args.epochs
    tasks = {
        "GridSearchCV (VDL + logistic regression, 2 x 3 fits)": lambda: _search(X, y, e),
        "VarianceRegDictionaryLearner fit + transform": lambda: _fit_transform(_vdl, X, e),
        "SVAETransformer fit + transform": lambda: _fit_transform(_svae, X, e),
    }
    default_threads = torch.get_num_threads()
    settings = {f"default ({default_threads} threads)": None, "n_threads=1": 1}
    load_before = os.getloadavg()
    times = {task: {s: [] for s in settings} for task in tasks}
    for _ in range(args.repeats):
        for task, run in tasks.items():
            for label, n in settings.items():
                with config_context(n_threads=n):
                    t0 = time.perf_counter()
                    run()
                    times[task][label].append(time.perf_counter() - t0)
                print(f"{task} [{label}]: {times[task][label][-1]:.1f} s", flush=True)
    load_after = os.getloadavg()

    labels = list(settings)
    rows = []
    for task in tasks:
        med = {s: statistics.median(times[task][s]) for s in labels}
        rows.append({"task": task, **{f"{s} (s)": round(med[s], 2) for s in labels},
                     "speed-up of n_threads=1": round(med[labels[0]] / med[labels[1]], 2)})
    header = ["task", *(f"{s} (s)" for s in labels), "speed-up of n_threads=1"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(r[h]) for h in header) + " |" for r in rows]
    markdown = "\n".join(lines) + (
        f"\n\nMedian of {args.repeats} alternating runs, {args.epochs} epochs, 8x8 digits "
        f"(1,797 images). Load average (1 min) {load_before[0]:.1f} before and "
        f"{load_after[0]:.1f} after, on {os.cpu_count()} CPUs; torch "
        f"{torch.__version__}."
    )
    payload = {"rows": rows, "times": times, "repeats": args.repeats, "epochs": args.epochs,
               "default_threads": default_threads, "load_before": load_before,
               "load_after": load_after, "hardware": hardware(),
               "command": "python benchmarks/bench_threads.py"}
    write_results("threads", payload, markdown)


if __name__ == "__main__":
    main()
