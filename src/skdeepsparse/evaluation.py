"""Evaluation protocols: the low-data linear probes and denoising.

:func:`evaluate` runs the whole comparison in one call: it fits each of a
dictionary of estimators once on unlabelled data and probes their codes with
few labels per class, returning a :class:`pandas.DataFrame`.
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Mapping, Sequence
from numbers import Integral, Real

import numpy as np
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state

from .metrics import code_sparsity, psnr

__all__ = [
    "evaluate",
    "sample_per_class",
    "first_per_class",
    "linear_probe",
    "low_data_probe",
    "paper_linear_probe",
    "denoising_scores",
]


def sample_per_class(y, n_per_class: int, random_state=None) -> np.ndarray:
    """Indices of ``n_per_class`` random samples of every class of ``y``.

    Raises
    ------
    ValueError
        If a class has fewer than ``n_per_class`` samples.
    """
    rng = check_random_state(random_state)
    return np.concatenate([rng.choice(pool, n_per_class, replace=False)
                           for pool in _class_pools(y, n_per_class)])


def _class_pools(y, n_per_class: int):
    """The indices of each class of ``y`` (sorted labels), each at least ``n_per_class`` long."""
    y = np.asarray(y)
    for cls in np.unique(y):
        pool = np.flatnonzero(y == cls)
        if len(pool) < n_per_class:
            raise ValueError(
                f"class {cls!r} has {len(pool)} samples; n_per_class={n_per_class} is too many."
            )
        yield pool


def linear_probe(
    Z_train,
    y_train,
    Z_test,
    y_test,
    *,
    n_per_class: Sequence[int] = (1, 5, 10, 100),
    n_seeds: int = 5,
    random_state=0,
    C: float = 1.0,
    max_iter: int = 2000,
    standardize: bool = True,
) -> dict[int, dict]:
    """Low-data classification accuracy of a linear model on fixed features.

    For each ``k`` in ``n_per_class`` and each of ``n_seeds`` seeds, ``k``
    labelled samples per class are drawn from the training features, a
    ``Pipeline(StandardScaler, LogisticRegression)`` (or the logistic regression
    alone, ``standardize=False``) is fitted on them, and its accuracy is
    measured on the full test set.

    Parameters
    ----------
    Z_train, Z_test : array-like of shape (n_samples, n_features)
        Features (codes, or raw pixels as the baseline).
    y_train, y_test : array-like of shape (n_samples,)
        Labels.
    n_per_class : sequence of int, default=(1, 5, 10, 100)
        Labelled training samples per class (``k``); every class of
        ``y_train`` needs at least ``max(n_per_class)`` samples.
    n_seeds : int, default=5
        Random draws of the labelled samples per ``k``.
    random_state : int, default=0
        Seed of the first draw; draw ``s`` uses ``random_state + s``, so two
        calls with the same seed draw the same samples (paired comparisons).
    C : float, default=1.0
        Inverse L2 strength of the logistic regression.
    max_iter : int, default=2000
        Iterations of the logistic regression's solver.
    standardize : bool, default=True
        Put a ``StandardScaler`` (fitted on the ``k`` labelled samples per class)
        before the logistic regression. False fits the features as given; scale
        them first when comparing feature sets at one ``C``.

    Returns
    -------
    dict
        ``{k: {"mean": float, "std": float, "scores": list}}``.
    """
    Z_train = np.asarray(Z_train)
    Z_test = np.asarray(Z_test)
    y_train = np.asarray(y_train)
    y_test = np.asarray(y_test)
    results = {}
    for k in n_per_class:
        scores = []
        for s in range(n_seeds):
            idx = sample_per_class(y_train, k, random_state + s)
            clf = LogisticRegression(C=C, max_iter=max_iter)
            if standardize:
                clf = make_pipeline(StandardScaler(), clf)
            clf.fit(Z_train[idx], y_train[idx])
            scores.append(float(clf.score(Z_test, y_test)))
        results[int(k)] = {
            "mean": float(np.mean(scores)),
            "std": float(np.std(scores)),
            "scores": scores,
        }
    return results


def low_data_probe(transformer, X_train, y_train, X_test, y_test, **kwargs) -> dict[int, dict]:
    """:func:`linear_probe` on the codes of a fitted ``transformer``.

    The probe of one model; :func:`evaluate` runs it for several estimators at
    once, fits them, and returns a table.

    Parameters
    ----------
    transformer : fitted transformer or None
        Its ``transform`` gives the codes; ``None`` probes the raw features
        (the pixel baseline).
    X_train, y_train : array-like
        The pool the labelled samples are drawn from, and its labels.
    X_test, y_test : array-like
        The test set, scored whole.
    **kwargs
        Passed to :func:`linear_probe`: ``n_per_class`` (labelled samples per
        class, default ``(1, 5, 10, 100)``), ``n_seeds`` (draws, default 5;
        draw ``s`` uses the seed ``random_state + s``), ``random_state``,
        ``C``, ``max_iter`` and ``standardize`` (a ``StandardScaler`` fitted
        on the labelled samples before the logistic regression, default
        True).

    Returns
    -------
    dict
        ``{k: {"mean": float, "std": float, "scores": list}}``, the accuracy
        on the test set per ``k`` (``std`` with ``ddof=0``).
    """
    if transformer is None:
        return linear_probe(X_train, y_train, X_test, y_test, **kwargs)
    return linear_probe(
        transformer.transform(X_train), y_train, transformer.transform(X_test), y_test, **kwargs
    )


def evaluate(
    estimators: Mapping[str, object],
    X_train,
    y_train,
    X_test,
    y_test,
    *,
    n_per_class: Sequence[int] = (1, 5, 10),
    n_seeds: int = 5,
    random_state: int = 0,
    C: float = 1.0,
    max_iter: int = 2000,
    standardize: bool = True,
    reconstruction: bool = True,
    sparsity: bool = True,
    denoising: float | Sequence[float] | None = None,
    prefit: bool = False,
    error_score="raise",
    verbose: bool = True,
):
    """Fit estimators without labels, then probe their codes with few labels per class.

    The low-data comparison in one call. Each estimator (a transformer, or a
    :class:`~sklearn.pipeline.Pipeline` that ends in one) is fitted once on
    ``X_train`` *without labels*; then, for each ``k`` in ``n_per_class`` and
    each of ``n_seeds`` draws, ``k`` labelled training samples per class are
    drawn and a linear classifier is fitted on their codes and scored on the
    codes of the whole test set (:func:`linear_probe`). Every estimator sees
    the same draws (draw ``s`` uses the seed ``random_state + s``), so the
    differences between estimators are paired; the accuracies equal those of
    :func:`low_data_probe` with the same arguments.

    Parameters
    ----------
    estimators : dict of str to estimator or None
        The feature extractors to compare, by name (the name becomes the
        ``estimator`` column). ``None`` stands for the raw features (the
        pixel baseline). Each estimator needs ``fit`` and ``transform``; it is
        fitted in place (pass :func:`sklearn.base.clone` of it to keep an
        unfitted copy), so it can be inspected afterwards.
    X_train : array-like of shape (n_train, n_features)
        Training data: the estimators are fitted on all of it, and the
        labelled samples of the probe are drawn from it.
    y_train : array-like of shape (n_train,)
        Labels of ``X_train``; used only by the probe. Every class needs at
        least ``max(n_per_class)`` samples.
    X_test : array-like of shape (n_test, n_features)
        Test data: accuracy, reconstruction, sparsity and denoising are
        measured on it.
    y_test : array-like of shape (n_test,)
        Labels of ``X_test``.
    n_per_class : sequence of int, default=(1, 5, 10)
        The labelled training samples per class of the probe (``k``). With 10
        classes, ``k=1`` trains the classifier on 10 samples.
    n_seeds : int, default=5
        Random draws of the labelled samples per ``k``; their spread is the
        uncertainty that the draw of so few labels brings.
    random_state : int, default=0
        Seed of the first draw; draw ``s`` uses ``random_state + s``. Also
        seeds the noise of ``denoising``. It does not seed the estimators:
        set their own ``random_state``.
    C : float, default=1.0
        Inverse L2 strength of the :class:`~sklearn.linear_model.LogisticRegression`.
    max_iter : int, default=2000
        Iterations of the logistic regression's solver.
    standardize : bool, default=True
        Put a :class:`~sklearn.preprocessing.StandardScaler` before the
        logistic regression, fitted on the ``k`` labelled samples per class
        only, so that feature sets on different scales (pixels in [0, 1],
        codes of any scale) meet the same ``C``. ``False`` fits the features
        as given.
    reconstruction : bool, default=True
        Add a ``psnr`` column: the PSNR in dB (:func:`~skdeepsparse.metrics.psnr`)
        of ``inverse_transform(transform(X_test))`` against ``X_test``, for
        data in [0, 1]. NaN for ``None`` and for an estimator with neither
        ``inverse_transform`` nor ``components_``.
    sparsity : bool, default=True
        Add a ``pct_zeros`` column: the percentage of exact zeros in the test
        codes (of the pixels themselves for ``None``).
    denoising : float or sequence of float, default=None
        Standard deviations of Gaussian noise, in the units of the data, for
        :func:`denoising_scores`: the noisy test images are encoded and
        decoded, and both are compared with the clean ones. Adds the columns
        ``psnr_noisy_<std>`` and ``psnr_denoised_<std>`` (dB; the latter is
        NaN for ``None``). The noise is the same for every estimator.
    prefit : bool, default=False
        The estimators are already fitted: do not fit them (``fit_time`` is
        then NaN).
    error_score : "raise" or float, default="raise"
        What to do when an estimator fails to fit, transform or decode.
        ``"raise"`` raises the error, with a note naming the estimator and
        the stage. A number (for instance ``np.nan``) emits a
        :class:`~sklearn.exceptions.FitFailedWarning` naming them, puts that
        number in the failed estimator's ``accuracy`` and NaN in its other
        columns, and goes on with the next estimator.
    verbose : bool, default=True
        Print one line of results per estimator (on stdout) as soon as it is
        done, and show a progress bar (``tqdm``, on stderr) where stderr is a
        terminal or in a notebook.

    Returns
    -------
    pandas.DataFrame
        One row per estimator, ``k`` and draw, in the order given, with the
        columns ``estimator`` (the name), ``n_per_class`` (``k``), ``seed``
        (the seed of the draw), ``accuracy`` (test accuracy of that draw),
        ``fit_time`` (seconds of wall-clock time of ``fit``, repeated on the
        estimator's rows; NaN for ``None``), then ``psnr``, ``pct_zeros`` and
        the denoising columns where requested (one value per estimator,
        repeated on its rows). Summarise it with, for instance,
        ``frame.groupby(["estimator", "n_per_class"]).accuracy.agg(["mean", "std"])``,
        or draw it with :func:`skdeepsparse.plotting.plot_low_data`.

    Raises
    ------
    ImportError
        If pandas is not installed (it is an optional dependency: ``pip
        install pandas``).
    ValueError
        On a bad parameter (named in the message), an estimator without
        ``fit`` or ``transform``, or a class of ``y_train`` with fewer than
        ``max(n_per_class)`` samples (checked before anything is fitted).

    See Also
    --------
    low_data_probe : The probe of one fitted transformer, as a dict.
    paper_linear_probe : The low-data protocol of Evtimova & LeCun.

    Notes
    -----
    The estimators are fitted on ``X_train`` alone; no label reaches them.
    A :class:`~sklearn.pipeline.Pipeline` is fitted and used as a whole (for
    instance a scaler in front of a sparse coder), so its ``transform`` gives
    the codes and its ``inverse_transform``, where every step has one, the
    reconstruction.

    Examples
    --------
    >>> from skdeepsparse import VarianceRegDictionaryLearner
    >>> from skdeepsparse.datasets import load_digits_data
    >>> from skdeepsparse.evaluation import evaluate
    >>> d = load_digits_data()
    >>> X, y = d.data[:1000], d.target[:1000]
    >>> frame = evaluate(
    ...     {"pixels": None,
    ...      "VDL": VarianceRegDictionaryLearner(n_components=32, max_epochs=2,
    ...                                          random_state=0)},
    ...     X[:800], y[:800], X[800:], y[800:], n_per_class=(1, 5), n_seeds=2,
    ...     verbose=False)
    >>> frame.shape
    (8, 7)
    >>> list(frame.columns)  # doctest: +NORMALIZE_WHITESPACE
    ['estimator', 'n_per_class', 'seed', 'accuracy', 'fit_time', 'psnr', 'pct_zeros']
    """
    pd = _import_pandas()
    estimators, ks, noise = _check_evaluate_params(
        estimators, n_per_class, n_seeds, denoising, error_score, prefit)
    X_train, X_test = np.asarray(X_train), np.asarray(X_test)
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    for X, y, name in ((X_train, y_train, "X_train"), (X_test, y_test, "X_test")):
        if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
            raise ValueError(
                f"{name} must be 2-D with one label per row; got shapes {X.shape} and {y.shape}."
            )
    list(_class_pools(y_train, max(ks)))  # too few samples in a class: fail before any fit
    probe = dict(n_seeds=n_seeds, random_state=random_state, C=C, max_iter=max_iter,
                 standardize=standardize)

    from tqdm.auto import tqdm

    rows = []
    # disable=None: a bar only where it can redraw (a terminal, a notebook), not in
    # logs or captured output, where the per-estimator lines say enough.
    bar = tqdm(total=len(estimators) * (2 + len(ks)), desc="evaluate", unit="step",
               disable=None if verbose else True)
    try:
        for name, est in estimators.items():
            extra = {"fit_time": np.nan}
            if reconstruction:
                extra["psnr"] = np.nan
            if sparsity:
                extra["pct_zeros"] = np.nan
            for std in noise:
                extra[f"psnr_noisy_{std:g}"] = np.nan
                extra[f"psnr_denoised_{std:g}"] = np.nan
            scores, stage, done = {}, "fit", bar.n
            try:
                bar.set_postfix_str(f"{name}: fit")
                if est is not None and not prefit:
                    start = time.perf_counter()
                    est.fit(X_train)
                    extra["fit_time"] = time.perf_counter() - start
                bar.update()
                stage = "transform"
                bar.set_postfix_str(f"{name}: transform")
                if est is None:
                    Z_train, Z_test = X_train, X_test
                else:
                    Z_train, Z_test = est.transform(X_train), est.transform(X_test)
                for k in ks:
                    stage = f"probe at n_per_class={k}"
                    bar.set_postfix_str(f"{name}: {k} labels/class")
                    scores[k] = linear_probe(Z_train, y_train, Z_test, y_test,
                                             n_per_class=(k,), **probe)[k]["scores"]
                    bar.update()
                if sparsity:
                    extra["pct_zeros"] = 100.0 * code_sparsity(Z_test)
                if est is not None and reconstruction:
                    stage = "inverse_transform"
                    recon = _reconstruct(est, Z_test)
                    if recon is not None:
                        extra["psnr"] = psnr(X_test, recon)
                for std in noise:
                    stage = f"denoising at noise std {std:g}"
                    if est is None:
                        rng = check_random_state(random_state)
                        noisy = X_test + std * rng.standard_normal(X_test.shape)
                        extra[f"psnr_noisy_{std:g}"] = psnr(X_test, noisy.astype(X_test.dtype))
                    elif _reconstruct(est, None, check_only=True):
                        res = denoising_scores(est, X_test, std, random_state=random_state)
                        extra[f"psnr_noisy_{std:g}"] = res["psnr_noisy"]
                        extra[f"psnr_denoised_{std:g}"] = res["psnr_denoised"]
                bar.update()
            except Exception as exc:
                if error_score == "raise":
                    if hasattr(exc, "add_note"):  # Python >= 3.11
                        exc.add_note(f"evaluate: estimator {name!r} failed at {stage}.")
                    raise
                warnings.warn(
                    f"evaluate: estimator {name!r} failed at {stage} "
                    f"({type(exc).__name__}: {exc}); its accuracy is set to "
                    f"error_score={error_score!r} and its other columns to NaN.",
                    FitFailedWarning, stacklevel=2,
                )
                scores = {k: [float(error_score)] * n_seeds for k in ks}
                extra = dict.fromkeys(extra, np.nan)
                bar.update(done + 2 + len(ks) - bar.n)  # skip this estimator's steps
            for k in ks:
                for s, acc in enumerate(scores[k]):
                    rows.append({"estimator": name, "n_per_class": k,
                                 "seed": random_state + s, "accuracy": acc, **extra})
            if verbose:
                bar.write(_summary_line(name, scores, extra))
    finally:
        bar.close()
    return pd.DataFrame(rows)


def _import_pandas():
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "evaluate returns a pandas.DataFrame and needs pandas: pip install pandas. "
            "Without it, use low_data_probe, which returns a dict."
        ) from exc
    return pd


def _check_evaluate_params(estimators, n_per_class, n_seeds, denoising, error_score, prefit):
    if not isinstance(estimators, Mapping) or not estimators:
        raise ValueError(
            "estimators must be a non-empty dict of name -> estimator (None for the raw "
            f"features); got {type(estimators).__name__}."
        )
    for name, est in estimators.items():
        if not isinstance(name, str):
            raise ValueError(f"estimators: the names must be strings; got {name!r}.")
        if est is None:
            continue
        needed = ("transform",) if prefit else ("fit", "transform")
        missing = [m for m in needed if not callable(getattr(est, m, None))]
        if missing:
            raise ValueError(
                f"estimators[{name!r}] ({type(est).__name__}) has no {' or '.join(missing)} "
                "method: pass a transformer, or a Pipeline that ends in one (not in a "
                "classifier)."
            )
    if isinstance(n_per_class, Integral):
        n_per_class = (n_per_class,)
    ks = tuple(n_per_class)
    if not ks:
        raise ValueError("n_per_class must hold at least one positive integer; got ().")
    for k in ks:
        _check_n_per_class(k, "n_per_class")
    ks = tuple(int(k) for k in ks)
    _check_n_per_class(n_seeds, "n_seeds")
    if denoising is None:
        noise = ()
    else:
        noise = tuple(np.atleast_1d(denoising).tolist())
        if not noise or any(isinstance(v, bool) or not isinstance(v, Real)
                            or not np.isfinite(v) or v <= 0 for v in noise):
            raise ValueError(
                f"denoising must be None or noise stds > 0; got {denoising!r}."
            )
    if not (isinstance(error_score, str) and error_score == "raise") and (
        isinstance(error_score, (bool, str)) or not isinstance(error_score, Real)
    ):
        raise ValueError(f"error_score must be 'raise' or a number; got {error_score!r}.")
    return dict(estimators), ks, tuple(float(v) for v in noise)


def _reconstruct(estimator, codes, *, check_only: bool = False):
    """``inverse_transform(codes)``, else ``codes @ components_``, else None."""
    if hasattr(estimator, "inverse_transform"):
        return True if check_only else estimator.inverse_transform(codes)
    if hasattr(estimator, "components_"):
        return True if check_only else np.asarray(codes) @ estimator.components_
    return False if check_only else None


def _summary_line(name: str, scores: dict, extra: dict) -> str:
    acc = ", ".join(f"{k}: {np.mean(v):.3f}" for k, v in scores.items())
    parts = [f"{name}: accuracy by labels/class {acc}"]
    if not np.isnan(extra["fit_time"]):
        parts.append(f"fit {extra['fit_time']:.1f} s")
    if not np.isnan(extra.get("psnr", np.nan)):
        parts.append(f"PSNR {extra['psnr']:.2f} dB")
    if not np.isnan(extra.get("pct_zeros", np.nan)):
        parts.append(f"{extra['pct_zeros']:.1f}% zeros")
    return "; ".join(parts)


def denoising_scores(
    estimator, X_clean, noise_std: float, *, random_state=0, clip: bool = False
) -> dict[str, float]:
    """Denoise by encoding and decoding noisy inputs; PSNR against the clean images.

    Gaussian noise of std ``noise_std`` is added in the data's units (pixels in
    [0, 1]), the noisy images go through ``transform`` then
    ``inverse_transform`` (``codes @ components_`` where there is none), and
    both the noisy input and the reconstruction are
    compared with the *clean* images.

    Returns
    -------
    dict
        ``psnr_noisy``, ``psnr_denoised`` (dB).
    """
    X_clean = np.asarray(X_clean)
    rng = check_random_state(random_state)
    noisy = (X_clean + noise_std * rng.standard_normal(X_clean.shape)).astype(X_clean.dtype)
    codes = estimator.transform(noisy)
    if hasattr(estimator, "inverse_transform"):
        recon = estimator.inverse_transform(codes)
    else:  # scikit-learn < 1.7: dictionary learners have no inverse_transform yet
        recon = codes @ estimator.components_
    if clip:
        recon = np.clip(recon, 0.0, 1.0)
    return {"psnr_noisy": psnr(X_clean, noisy), "psnr_denoised": psnr(X_clean, recon)}


def first_per_class(y, n_per_class: int) -> np.ndarray:
    """Indices of the *first* ``n_per_class`` samples of every class of ``y``.

    The selection of the low-data classification protocol of Evtimova & LeCun
    (TMLR 2022; ``../shared/specs/variance_reg_and_spike_slab.md`` section 1.7):
    no randomness, the samples are taken in dataset order.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels, in dataset order.
    n_per_class : int
        Samples kept per class (>= 1).

    Returns
    -------
    ndarray of int of shape (n_classes * n_per_class,)
        Indices into ``y``, in increasing (dataset) order.

    Raises
    ------
    ValueError
        If ``n_per_class`` is not a positive integer, ``y`` is not 1-D, or a
        class has fewer than ``n_per_class`` samples.

    Examples
    --------
    >>> first_per_class([1, 0, 1, 1, 0], 2)
    array([0, 1, 2, 4])
    """
    _check_n_per_class(n_per_class, "n_per_class")
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D (labels); got an array of shape {y.shape}.")
    return np.sort(np.concatenate([pool[:n_per_class] for pool in _class_pools(y, n_per_class)]))


def _check_n_per_class(k, name: str) -> None:
    if isinstance(k, bool) or not isinstance(k, Integral) or k < 1:
        raise ValueError(f"{name} must be a positive integer; got {k!r}.")


def _check_features(Z, y, name: str, n_features: int | None = None):
    Z = np.asarray(Z)
    y = np.asarray(y)
    if Z.ndim != 2 or Z.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array; got shape {Z.shape}.")
    if not np.issubdtype(Z.dtype, np.number):
        raise ValueError(f"{name} must be numeric; got dtype {Z.dtype}.")
    if not np.all(np.isfinite(Z)):
        raise ValueError(f"{name} contains NaN or infinity.")
    if y.ndim != 1 or len(y) != len(Z):
        raise ValueError(
            f"the labels of {name} must be 1-D with {len(Z)} entries; got shape {y.shape}."
        )
    if n_features is not None and Z.shape[1] != n_features:
        raise ValueError(
            f"{name} has {Z.shape[1]} features; Z_train has {n_features}."
        )
    return Z, y


def _check_grid(values, name: str) -> tuple:
    values = tuple(np.atleast_1d(values).tolist()) if not isinstance(values, tuple) else values
    if not values or any(
        isinstance(v, bool) or not isinstance(v, Real) or not np.isfinite(v) or v < 0
        for v in values
    ):
        raise ValueError(f"{name} must be a non-empty sequence of floats >= 0; got {values!r}.")
    return tuple(float(v) for v in values)


def paper_linear_probe(
    Z_train,
    y_train,
    Z_val,
    y_val,
    Z_test,
    y_test,
    *,
    n_per_class: Sequence[int] = (1, 2, 5, 10, 20, 50, 100),
    weight_decay: Sequence[float] = (0.0,),
    l1_penalty: Sequence[float] = (0.0,),
    learning_rate: float = 1e-3,
    batch_size: int = 250,
    max_epochs: int = 100,
    selection: str = "loss",
    random_state: int | None = 0,
) -> dict[int, dict]:
    """Few-label accuracy of a linear layer, with the protocol of Evtimova & LeCun.

    The low-data classification protocol of the paper (TMLR 2022; spec
    ``../shared/specs/variance_reg_and_spike_slab.md`` section 1.7, read from
    the authors' ``eval_classification.py``). For each ``k`` in
    ``n_per_class``:

    1. keep the *first* ``k`` training samples of every class, in dataset
       order (:func:`first_per_class`; no random draw);
    2. for every pair (``weight_decay``, ``l1_penalty``) of the grids, train a
       linear layer (``n_features -> n_classes`` with bias, cross-entropy) with
       Adam (learning rate ``learning_rate``, coupled L2 ``weight_decay`` on
       weight and bias, an explicit ``l1_penalty * sum|W|`` on the weight),
       mini-batches of ``batch_size`` reshuffled every epoch, for
       ``max_epochs`` epochs;
    3. after every epoch, compute the cross-entropy (``selection="loss"``,
       the paper's rule) or the accuracy (``"accuracy"``) on the validation
       set; keep the (candidate, epoch) with the best value (a deep copy of
       the weights: the reference code keeps a reference, so it reports the
       last epoch, a bug not reproduced here); ties go to the earlier
       candidate and epoch;
    4. report that layer's top-1 accuracy on the test set.

    The features are used as given (the paper feeds raw encoder codes, and
    globally standardised pixels for its pixel baseline). Compare
    :func:`linear_probe`: random draws, standardised features and a
    ``LogisticRegression`` fitted to convergence.

    Parameters
    ----------
    Z_train, Z_val, Z_test : array-like of shape (n_samples, n_features)
        Features of the training pool (its order matters), the validation
        set and the test set.
    y_train, y_val, y_test : array-like of shape (n_samples,)
        Their labels. Every validation and test label must occur in
        ``y_train``.
    n_per_class : sequence of int, default=(1, 2, 5, 10, 20, 50, 100)
        The values of ``k``, labelled samples per class (the paper's default
        is 100; the grid it plots is not verified in the spec).
    weight_decay : sequence of float, default=(0.0,)
        Adam weight decays to choose from on the validation set.
    l1_penalty : sequence of float, default=(0.0,)
        L1 weights on the layer's weight matrix to choose from.
    learning_rate : float, default=1e-3
    batch_size : int, default=250
    max_epochs : int, default=100
    selection : {"loss", "accuracy"}, default="loss"
        The validation criterion (lower loss or higher accuracy).
    random_state : int or None, default=0
        Seeds the initialisation (PyTorch's default ``nn.Linear`` law,
        uniform in ``±1/sqrt(n_features)``) and the shuffling. Every
        candidate and every ``k`` starts from the same seed, so the result is
        a deterministic function of the inputs for an integer seed.

    Returns
    -------
    dict
        ``{k: {"accuracy", "val_loss", "val_accuracy", "weight_decay",
        "l1_penalty", "epoch", "candidates"}}``: the test accuracy and the
        validation scores of the selected layer, its hyperparameters and
        epoch (1-based), and for every candidate its best epoch and
        validation scores there (``candidates``, a list of dicts).

    Raises
    ------
    ValueError
        On a bad parameter (named in the message), inconsistent shapes,
        non-finite features, a validation or test label unseen in training,
        or a class with fewer than ``k`` training samples.
    """
    import torch
    from torch.nn import functional as F

    for name, v in (("batch_size", batch_size), ("max_epochs", max_epochs)):
        _check_n_per_class(v, name)
    if isinstance(n_per_class, Integral):
        n_per_class = (n_per_class,)
    n_per_class = tuple(n_per_class)
    if not n_per_class:
        raise ValueError("n_per_class must hold at least one positive integer; got ().")
    for k in n_per_class:
        _check_n_per_class(k, "n_per_class")
    weight_decay = _check_grid(weight_decay, "weight_decay")
    l1_penalty = _check_grid(l1_penalty, "l1_penalty")
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, Real) or not (
        np.isfinite(learning_rate) and learning_rate > 0
    ):
        raise ValueError(f"learning_rate must be a float > 0; got {learning_rate!r}.")
    if selection not in ("loss", "accuracy"):
        raise ValueError(f"selection must be 'loss' or 'accuracy'; got {selection!r}.")
    Z_train, y_train = _check_features(Z_train, y_train, "Z_train")
    Z_val, y_val = _check_features(Z_val, y_val, "Z_val", Z_train.shape[1])
    Z_test, y_test = _check_features(Z_test, y_test, "Z_test", Z_train.shape[1])
    classes = np.unique(y_train)
    for name, y in (("y_val", y_val), ("y_test", y_test)):
        unseen = np.setdiff1d(np.unique(y), classes)
        if unseen.size:
            raise ValueError(f"{name} has labels absent from y_train: {unseen.tolist()}.")
    seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))

    def tensor(Z):
        return torch.as_tensor(np.asarray(Z, dtype=np.float32))

    def labels(y):
        return torch.as_tensor(np.searchsorted(classes, y), dtype=torch.long)

    Zv, yv, Zt, yt = tensor(Z_val), labels(y_val), tensor(Z_test), labels(y_test)
    n_features, n_classes = Z_train.shape[1], len(classes)

    def val_scores(W, b):
        with torch.no_grad():
            logits = Zv @ W.T + b
            return (float(F.cross_entropy(logits, yv)),
                    float((logits.argmax(1) == yv).float().mean()))

    def better(a, b):  # is score a strictly better than score b?
        return a[0] < b[0] if selection == "loss" else a[1] > b[1]

    results = {}
    for k in n_per_class:
        idx = first_per_class(y_train, k)
        Zk, yk = tensor(Z_train[idx]), labels(y_train[idx])
        best, candidates = None, []
        for wd in weight_decay:
            for l1 in l1_penalty:
                gen = torch.Generator().manual_seed(seed)
                bound = 1.0 / np.sqrt(n_features)
                W = (torch.rand(n_classes, n_features, generator=gen) * 2 - 1) * bound
                b = (torch.rand(n_classes, generator=gen) * 2 - 1) * bound
                W.requires_grad_(True)
                b.requires_grad_(True)
                opt = torch.optim.Adam([W, b], lr=learning_rate, weight_decay=wd)
                cand = None
                for epoch in range(1, max_epochs + 1):
                    for batch in torch.randperm(len(yk), generator=gen).split(batch_size):
                        loss = F.cross_entropy(Zk[batch] @ W.T + b, yk[batch])
                        if l1 > 0:
                            loss = loss + l1 * W.abs().sum()
                        opt.zero_grad()
                        loss.backward()
                        opt.step()
                    score = val_scores(W, b)
                    if cand is None or better(score, cand["score"]):
                        cand = {"score": score, "epoch": epoch,
                                "state": (W.detach().clone(), b.detach().clone())}
                candidates.append({"weight_decay": wd, "l1_penalty": l1,
                                   "epoch": cand["epoch"], "val_loss": cand["score"][0],
                                   "val_accuracy": cand["score"][1]})
                if best is None or better(cand["score"], best[0]["score"]):
                    best = (cand, wd, l1)
        cand, wd, l1 = best
        W, b = cand["state"]
        with torch.no_grad():
            acc = float(((Zt @ W.T + b).argmax(1) == yt).float().mean())
        results[int(k)] = {
            "accuracy": acc,
            "val_loss": cand["score"][0],
            "val_accuracy": cand["score"][1],
            "weight_decay": wd,
            "l1_penalty": l1,
            "epoch": cand["epoch"],
            "candidates": copy.deepcopy(candidates),
        }
    return results
