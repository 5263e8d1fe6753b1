"""The evaluation suite behind ``skdeepsparse benchmark``.

Every skdeepsparse estimator is fitted on MNIST and Fashion-MNIST next to
scikit-learn's :class:`~sklearn.decomposition.MiniBatchDictionaryLearning`,
:class:`~sklearn.decomposition.PCA` and raw pixels, and each is scored on the
same held-out images: reconstruction PSNR, sparsity of the codes, active
components, the low-data linear probe, denoising, and fit / transform time.
A sweep of each model's sparsity weight traces PSNR against % zeros.

Each (dataset, model, configuration) is one *unit*; its result is written to a
JSON file in the cache as soon as it is done, under a key that hashes the
estimator's parameters and the protocol, so an interrupted run resumes where it
stopped and a changed configuration is never served stale.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .cache import Cache, data_fingerprint, params_repr, unit_key
from .options import (
    DATASETS,
    UsageError,
    check_device,
    check_output_dir,
    run_guarded,
    threads_context,
)
from .options import add_benchmark_arguments as add_arguments
from .presets import BUDGETS, ModelSpec, benchmark_models
from .report import DATASET_TITLES, SMALL, plots, render_markdown
from .timing import fit_timed, hardware, median_time

__all__ = ["BUDGETS", "DATASETS", "add_arguments", "benchmark_models", "load", "main",
           "run_benchmark", "run_from_args"]


# ----------------------------------------------------------------------------- data


def load(dataset: str, data_home, n_train: int, n_test: int):
    """(X_train, y_train, X_test, y_test): the first images of each split of ``dataset``."""
    from skdeepsparse.datasets import load_dataset

    train = load_dataset(dataset, "train", data_home=data_home, n_samples=n_train)
    test = load_dataset(dataset, "test", data_home=data_home, n_samples=n_test)
    return train.data, train.target, test.data, test.target


# ----------------------------------------------------------------------------- units


def _reconstruct(est, Z) -> np.ndarray:
    if hasattr(est, "inverse_transform"):
        return np.asarray(est.inverse_transform(Z))
    # scikit-learn < 1.7: dictionary learners have no inverse_transform yet.
    return np.asarray(Z @ est.components_)


def _recon_metrics(X, Z, X_hat) -> dict:
    from skdeepsparse.metrics import active_components, code_sparsity, psnr

    return {
        "psnr_db": psnr(X, X_hat),
        "pct_zeros": 100 * code_sparsity(Z),
        "pct_small": 100 * code_sparsity(Z, SMALL),
        "active_components": active_components(Z),
        "n_components": int(Z.shape[1]),
    }


def _main_unit(est, data, protocol: dict) -> dict:
    """Every metric of the main table for one model on one dataset."""
    from skdeepsparse.evaluation import denoising_scores, linear_probe

    X, y, Xt, yt = data
    est, fit_s, fit_times = fit_timed(est, X, protocol["fit_repeats"],
                                       protocol["fit_repeat_budget_s"])
    Z_te, transform_s, transform_times = median_time(lambda: est.transform(Xt),
                                                      protocol["transform_repeats"])
    Z_te = np.asarray(Z_te)
    Z_tr = np.asarray(est.transform(X))
    result = _recon_metrics(Xt, Z_te, _reconstruct(est, Z_te))
    probe = linear_probe(Z_tr, y, Z_te, yt, n_per_class=protocol["labels"],
                         n_seeds=protocol["n_seeds"], random_state=0)
    result["probe"] = {str(k): v for k, v in probe.items()}
    # One stream for all noise levels; outputs clipped to the pixel range, as any
    # image denoiser's would be.
    rng = np.random.RandomState(0)
    result["denoise"] = {str(sigma): denoising_scores(est, Xt, sigma, random_state=rng, clip=True)
                         for sigma in protocol["noise"]}
    result.update(fit_s=fit_s, fit_times=fit_times, transform_s=transform_s,
                  transform_times=transform_times)
    return result


def _sweep_unit(est, data, protocol: dict) -> dict:
    X, _, Xt, _ = data
    est, fit_s, _ = fit_timed(est, X, 1, 0.0)
    Z = np.asarray(est.transform(Xt))
    return {**_recon_metrics(Xt, Z, _reconstruct(est, Z)), "fit_s": fit_s}


def _plan(specs: dict[str, ModelSpec], datasets: Sequence[str], sweep: bool):
    """The list of units: (kind, dataset, model name, sweep value or None)."""
    units = []
    for ds in datasets:
        units += [("main", ds, name, None) for name in specs]
        if sweep:
            for name, spec in specs.items():
                units += [("sweep", ds, name, v) for v in spec.sweep_values]
    return units


def run_benchmark(
    data_home=None,
    output_dir: str | os.PathLike = "skdeepsparse_benchmark",
    *,
    budget: str = "cpu",
    datasets: Sequence[str] = DATASETS,
    models: Sequence[str] | None = None,
    sweep: bool = True,
    device: str = "auto",
    fit_repeats: int = 3,
    fit_repeat_budget_s: float = 30.0,
    transform_repeats: int = 3,
    use_cache: bool = True,
    progress: bool = True,
    stream=None,
) -> dict:
    """Fit and score every model on MNIST and Fashion-MNIST; write JSON, markdown and plots.

    Parameters
    ----------
    data_home : str or path, default=None
        Folder with ``mnist/`` and ``fashion_mnist/`` (see
        :func:`skdeepsparse.datasets.get_data_home`).
    output_dir : str or path, default="skdeepsparse_benchmark"
        Receives ``results.json``, ``report.md``, the plots and ``cache/``.
    budget : {"cpu", "full", "quick"}, default="cpu"
        See ``skdeepsparse.app.presets.BUDGETS`` and
        :func:`~skdeepsparse.app.presets.benchmark_models`.
    datasets : sequence of {"mnist", "fashion_mnist"}
    models : sequence of str, default=None
        Names from :func:`~skdeepsparse.app.presets.benchmark_models` (all by default).
    sweep : bool, default=True
        Also fit each model at every value of its sparsity weight.
    device : str, default="auto"
    fit_repeats : int, default=3
        Fit time is the median over up to this many fits ...
    fit_repeat_budget_s : float, default=30.0
        ... stopping once this much fitting time is spent on one model, so slow
        models are timed on one fit. The number of fits is reported.
    transform_repeats : int, default=3
        Transform time (of the test set) is the median of this many runs.
    use_cache : bool, default=True
        Reuse finished units from ``output_dir/cache`` and store new ones there.
    progress : bool, default=True
        Show a tqdm progress bar.
    stream : file-like, default=sys.stdout

    Returns
    -------
    dict
        What ``results.json`` holds.

    Raises
    ------
    skdeepsparse.app.options.UsageError
        (a ``ValueError``) listing every invalid argument, unknown model, bad
        device, unusable output folder and missing or corrupt dataset, before
        anything is computed or written (no folder, no cache file).
    """
    from tqdm.auto import tqdm

    stream = stream or sys.stdout
    specs, datasets, protocol, loaded = _validate_run(
        data_home, output_dir, budget=budget, datasets=datasets, models=models, device=device,
        fit_repeats=fit_repeats, fit_repeat_budget_s=fit_repeat_budget_s,
        transform_repeats=transform_repeats)
    # Everything is valid and the data are loaded: only now is anything written.
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    cache = Cache(out / "cache" if use_cache else None)
    units = _plan(specs, datasets, sweep)
    fingerprints = {ds: data_fingerprint(loaded[ds]) for ds in datasets}
    results: dict = {ds: {"main": {}, "sweep": {}} for ds in datasets}
    t_start = time.perf_counter()
    n_computed = 0
    bar = tqdm(units, desc="benchmark", unit="fit", disable=not progress, file=stream)
    try:
        for kind, ds, name, value in bar:
            spec = specs[name]
            overrides = {} if kind == "main" else {spec.sweep_param: value, **spec.sweep_fixed}
            est = spec.build(**overrides)
            key = unit_key(kind, ds, name, est, protocol, fingerprints[ds])
            bar.set_postfix_str(f"{DATASET_TITLES[ds]} {name}"
                                + ("" if value is None else f" {spec.sweep_param}={value}"))
            res = cache.get(key)
            main_res = results[ds]["main"].get(name)
            if (res is None and kind == "sweep" and main_res is not None
                    and main_res["params"] == params_repr(est)):
                # the sweep point at the main configuration: no second fit
                res = {k: main_res[k] for k in ("psnr_db", "pct_zeros", "pct_small",
                                                "active_components", "n_components", "fit_s")}
            elif res is None:
                unit = _main_unit if kind == "main" else _sweep_unit
                t_unit = time.perf_counter()
                res = unit(est, loaded[ds], protocol)
                res["params"] = params_repr(est)
                res["unit_s"] = time.perf_counter() - t_unit
                cache.put(key, res)
                n_computed += 1
            if kind == "main":
                results[ds]["main"][name] = res
            else:
                results[ds]["sweep"].setdefault(name, []).append({"value": value, **res})
    except KeyboardInterrupt:
        bar.close()
        print(f"\nInterrupted. Finished units are cached in {out / 'cache'}; run the same "
              "command again to resume.", file=stream)
        raise
    bar.close()
    payload = {
        "protocol": protocol,
        "hardware": hardware(),
        "device": device,
        "elapsed_s": time.perf_counter() - t_start,
        # what the whole run costs from scratch, whatever came from the cache
        "compute_s": sum(r.get("unit_s", 0.0) for res in results.values()
                         for r in [*res["main"].values(),
                                   *(q for pts in res["sweep"].values() for q in pts)]),
        "units": len(units),
        "units_computed": n_computed,
        "notes": {name: spec.note for name, spec in specs.items() if spec.note},
        "sweep_params": {name: spec.sweep_param for name, spec in specs.items()
                         if spec.sweep_param},
        "results": results,
    }
    (out / "results.json").write_text(json.dumps(payload, indent=1))
    figures = plots(payload, out, stream)
    report = render_markdown(payload, figures)
    (out / "report.md").write_text(report)
    print(report, file=stream)
    print(f"written: {out / 'results.json'}, {out / 'report.md'}"
          + "".join(f", {out / f}" for f in figures), file=stream)
    return payload


def _validate_run(data_home, output_dir, *, budget, datasets, models, device, fit_repeats,
                  fit_repeat_budget_s, transform_repeats):
    """Check every argument and load the data, before anything is computed or written.

    Returns the model specs, the datasets, the protocol and the loaded data; raises
    :class:`~skdeepsparse.app.options.UsageError` listing every problem.
    """
    try:
        specs = benchmark_models(budget, device)
    except ValueError as exc:  # the budget
        raise UsageError([exc]) from None
    errors = []
    if isinstance(models, str):
        models = [models]
    if models is not None:
        unknown = sorted(set(models) - set(specs))
        if unknown:
            errors.append(f"unknown model(s) {unknown}; choose from {list(specs)}.")
        elif not models:
            errors.append(f"models is empty; choose from {list(specs)}.")
        specs = {k: v for k, v in specs.items() if k in models}
    for pname, val in (("fit_repeats", fit_repeats), ("transform_repeats", transform_repeats)):
        if isinstance(val, bool) or not isinstance(val, int) or val < 1:
            errors.append(f"{pname} must be an integer >= 1, got {val!r}.")
    if (isinstance(fit_repeat_budget_s, bool) or not isinstance(fit_repeat_budget_s, (int, float))
            or not 0 <= fit_repeat_budget_s < float("inf")):
        errors.append(f"fit_repeat_budget_s must be a finite number >= 0, got "
                      f"{fit_repeat_budget_s!r}.")
    if isinstance(datasets, str):
        datasets = [datasets]
    datasets = list(datasets)
    bad = sorted(set(datasets) - set(DATASETS))
    if bad or not datasets:
        errors.append(f"datasets must be among {list(DATASETS)}, got {datasets}.")
    for problem in (check_device(device), check_output_dir(output_dir)):
        if problem:
            errors.append(problem)
    cfg = BUDGETS[budget]
    loaded: dict[str, tuple] = {}
    for ds in dict.fromkeys(d for d in datasets if d in DATASETS):
        try:
            loaded[ds] = load(ds, data_home, cfg["n_train"], cfg["n_test"])
        except (OSError, ValueError) as exc:
            errors.append(str(exc))  # the loaders' messages name the file
    if errors:
        raise UsageError(errors)
    protocol = {"budget": budget, "n_train": cfg["n_train"], "n_test": cfg["n_test"],
                "labels": list(cfg["labels"]), "n_seeds": cfg["n_seeds"],
                "noise": list(cfg["noise"]), "fit_repeats": fit_repeats,
                "fit_repeat_budget_s": fit_repeat_budget_s,
                "transform_repeats": transform_repeats}
    return specs, datasets, protocol, loaded


# ----------------------------------------------------------------------------- command line


def _run(args: argparse.Namespace) -> int:
    budget = "full" if args.full else "quick" if args.quick else "cpu"
    with threads_context(args):
        run_benchmark(args.data_home, args.output_dir, budget=budget, datasets=args.datasets,
                      models=args.models, sweep=not args.no_sweep, device=args.device,
                      fit_repeats=args.fit_repeats, transform_repeats=args.transform_repeats,
                      use_cache=not args.no_cache, progress=not args.no_progress)
    return 0


def run_from_args(args: argparse.Namespace, prog: str = "skdeepsparse benchmark") -> int:
    """Run the suite from parsed :func:`add_arguments` options; return the exit status.

    Every argument is checked, and the data loaded, before anything is computed
    or written: an invalid run prints one line per problem to stderr and
    returns 2, leaving no folder or cache file behind. Any other error prints
    one line and returns 1 (``--debug``: the traceback); an interrupt returns
    130.
    """
    return run_guarded(prog, _run, args)


def main(argv: list[str] | None = None) -> int:
    """``python -m skdeepsparse.app.runner``: same as ``skdeepsparse benchmark``."""
    parser = argparse.ArgumentParser(prog="skdeepsparse benchmark", description=__doc__)
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
