"""VarianceRegDictionaryLearner fit time against MiniBatchDictionaryLearning, at the
suite's ``cpu`` budget, with the old and the new inference settings.

Three fits on the same 10,000 MNIST training images (pixels in [0, 1]):

- **MiniBatchDictionaryLearning**: the suite's configuration
  (``skdeepsparse.app.presets.benchmark_models("cpu")``: 128 atoms, alpha 1,
  batch 256, ``max_iter=10``, ``transform_algorithm="lasso_lars"``).
- **VDL, old settings**: registry preset ``benchmark_cpu`` (linear decoder, 128
  atoms, 20 epochs) with the previous inference defaults, a fixed FISTA step
  ``inference_step_size=0.5`` and ``inference_tol=1e-3``.
- **VDL, new settings**: the same preset with the current defaults (unless
  ``--new-step`` / ``--new-tol`` say otherwise).
- **VDL, new settings, step auto** (skip with ``--no-auto-row``): the same with
  ``inference_step_size="auto"`` (``1/L`` from the decoder's Gram matrix).
- **VDL, new settings, sparsity_reg=0.015** (``--matched-sparsity-reg``; 0
  skips it): the preset's ``sparsity_reg`` is 0.02, which gives more zeros than
  MiniBatchDictionaryLearning at alpha 1; 0.015 gives the same % zeros, so
  that the two are compared at equal sparsity.

The fits run interleaved (the order rotates between repeats) and each is timed
by wall clock and by process CPU time (``time.process_time``); medians over
``--repeats``. One untimed small fit of each model first pays the one-time
import costs (torch's optimizer pulls in ``torch._dynamo`` on first use).
Quality is measured once per model on the 10,000 test images: PSNR of the
reconstruction through the model's own ``transform`` (VDL: the LISTA encoder;
MBDL: ``lasso_lars``) and the % of exact zeros in those codes. Also reported:
the mean number of FISTA iterations per training batch of the VDL fits.

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/engineering/bench_vdl_fit_speed.py
    # ~12-20 min on 2 shared CPU cores with 3 repeats (5 fits each)

Timings on a shared machine are noisy: compare the ratios (measured in the same
run), and the CPU times, not absolute wall times across runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from skdeepsparse import registry
from skdeepsparse.app.presets import benchmark_models
from skdeepsparse.datasets import load_mnist
from skdeepsparse.metrics import code_sparsity, psnr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/_common.py
from _common import DATA_HOME, add_common_options, hardware, write_results  # noqa: E402

VDL = "VarianceRegDictionaryLearner"
OLD = {"inference_step_size": 0.5, "inference_tol": 1e-3}


def step_arg(value):
    return value if value == "auto" else float(value)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(ap, n_train=10_000, n_test=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--new-step", type=step_arg, default=None,
                    help="inference_step_size of the new settings (default: the class default)")
    ap.add_argument("--new-tol", type=float, default=None,
                    help="inference_tol of the new settings (default: the class default)")
    ap.add_argument("--no-auto-row", dest="auto_row", action="store_false",
                    help="skip the fourth fit (new settings with inference_step_size='auto')")
    ap.add_argument("--matched-sparsity-reg", type=float, default=0.015,
                    help="a fifth fit: the new settings at this sparsity_reg, chosen to give "
                         "MiniBatchDictionaryLearning's %% zeros (0: skip)")
    args = ap.parse_args()

    X = load_mnist("train", data_home=DATA_HOME, n_samples=args.n_train).data
    Xt = load_mnist("test", data_home=DATA_HOME, n_samples=args.n_test).data

    new = {k: v for k, v in (("inference_step_size", args.new_step),
                             ("inference_tol", args.new_tol)) if v is not None}
    defaults = registry.make(VDL, "benchmark_cpu", device="cpu").get_params()
    new_shown = {k: new.get(k, defaults[k]) for k in OLD}
    mbdl_spec = benchmark_models("cpu")["MiniBatchDictionaryLearning"]
    models = {
        "MiniBatchDictionaryLearning": lambda **kw: mbdl_spec.build(**kw),
        "VDL old settings": lambda **kw: registry.make(VDL, "benchmark_cpu", device="cpu",
                                                       **OLD, **kw),
        "VDL new settings": lambda **kw: registry.make(VDL, "benchmark_cpu", device="cpu",
                                                       **new, **kw),
    }
    if args.auto_row:
        models["VDL new settings, step auto"] = lambda **kw: registry.make(
            VDL, "benchmark_cpu", device="cpu", **{**new, "inference_step_size": "auto"}, **kw)
    matched = f"VDL new settings, sparsity_reg={args.matched_sparsity_reg:g}"
    if args.matched_sparsity_reg:
        models[matched] = lambda **kw: registry.make(
            VDL, "benchmark_cpu", device="cpu", **new,
            **{"sparsity_reg": args.matched_sparsity_reg, **kw})
    names = list(models)

    # Untimed warm-up: one-time imports and allocations of each code path.
    for name, build in models.items():
        kw = {"max_iter": 1} if name.startswith("Mini") else {"max_epochs": 1}
        build(**kw).fit(X[:1000])

    times = {n: {"wall": [], "cpu": []} for n in names}
    quality = {}
    for r in range(args.repeats):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            est = models[name]()
            w0, c0 = time.perf_counter(), time.process_time()
            est.fit(X)
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            times[name]["wall"].append(wall)
            times[name]["cpu"].append(cpu)
            print(f"repeat {r}: {name}: fit {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)
            if name not in quality:
                Z = est.transform(Xt)
                recon = est.inverse_transform(Z) if name.startswith("VDL") else (
                    Z @ est.components_)
                q = {"psnr_db": psnr(Xt, recon), "pct_zeros": 100 * code_sparsity(Z)}
                if name.startswith("VDL"):
                    q["fista_iter_per_batch"] = float(
                        np.mean([h["inference_iter"] for h in est.history_]))
                q["epochs"] = float(est.n_iter_)
                quality[name] = q
                print(f"  {q}", flush=True)

    rows = []
    mb = {k: float(np.median(v)) for k, v in times["MiniBatchDictionaryLearning"].items()}
    for name in names:
        med = {k: float(np.median(v)) for k, v in times[name].items()}
        rows.append({"model": name, "fit_wall_s": med["wall"], "fit_cpu_s": med["cpu"],
                     "fit_wall_runs": times[name]["wall"], "fit_cpu_runs": times[name]["cpu"],
                     "ratio_wall_vs_mbdl": med["wall"] / mb["wall"],
                     "ratio_cpu_vs_mbdl": med["cpu"] / mb["cpu"], **quality[name]})

    hw = hardware()
    settings = {"VDL old settings": OLD, "VDL new settings": new_shown}
    if args.auto_row:
        settings["VDL new settings, step auto"] = {**new_shown, "inference_step_size": "auto"}
    if args.matched_sparsity_reg:
        settings[matched] = {**new_shown, "sparsity_reg": args.matched_sparsity_reg}
    lines = [
        f"MNIST: {args.n_train} training / {args.n_test} test images. "
        "MiniBatchDictionaryLearning: the suite's `cpu` configuration (128 atoms, alpha 1, "
        "batch 256, max_iter 10, lasso_lars transform). VDL: registry preset "
        "`benchmark_cpu` (linear decoder, 128 atoms, batch 250, 20 epochs); old settings "
        f"{OLD}, new settings {new_shown}. Fit time: median of {args.repeats} interleaved "
        "fits, wall clock and process CPU time, after an untimed warm-up fit of each. "
        f"{hw['cpu']} ({hw['cpu_count']} cores, shared), one thread.",
        "",
        "| model | fit wall (s) | fit CPU (s) | wall / MBDL | CPU / MBDL | test PSNR (dB) | "
        "% zeros | FISTA iter / batch |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        it = f"{r['fista_iter_per_batch']:.1f}" if "fista_iter_per_batch" in r else "-"
        lines.append(
            f"| {r['model']} | {r['fit_wall_s']:.1f} | {r['fit_cpu_s']:.1f} | "
            f"{r['ratio_wall_vs_mbdl']:.2f} | {r['ratio_cpu_vs_mbdl']:.2f} | "
            f"{r['psnr_db']:.2f} | {r['pct_zeros']:.1f} | {it} |")
    cmd = "OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/engineering/bench_vdl_fit_speed.py"
    for k in ("n_train", "n_test", "repeats", "new_step", "new_tol", "matched_sparsity_reg"):
        v = getattr(args, k)
        if v is not None and v != ap.get_default(k):
            cmd += f" --{k.replace('_', '-')} {v}"
    if not args.auto_row:
        cmd += " --no-auto-row"
    lines += ["", f"Command: `{cmd}`"]
    write_results("vdl_fit_speed", {"args": vars(args), "hardware": hw, "settings": settings,
                                    "rows": rows}, "\n".join(lines))


if __name__ == "__main__":
    main()
