"""Post-fit check that a model's codes have not collapsed (issue #32 item 4).

A fit can end without an error yet with useless codes: most latents never used,
or reconstructions no better than the mean image. :func:`warn_if_collapsed`
encodes a fixed sample of the training rows and warns, naming the likely cause
and the parameter to change, so that such a fit is never silently accepted.

Every estimator's ``fit`` runs it through :func:`check_after_fit` once the fit
has succeeded and its state is committed (a failing check cannot leave a
half-updated model), under the ``check_collapse`` setting of
:func:`~skdeepsparse.set_config`. With ``"auto"`` (the default) it skips a fit
on fewer than ``_MIN_CHECK_ROWS`` rows or whose model has taken fewer than
``_MIN_CHECK_STEPS`` optimizer steps in all: such a fit is a trial run (a
smoke test, a doctest, scikit-learn's estimator checks on random data), whose
codes have had no chance to form and which a warning would only clutter.
``partial_fit`` never runs it: one call sees one chunk, and the caller alone
knows when the stream is done (:func:`warn_if_collapsed` on held rows then).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ._config import get_config

__all__ = ["check_after_fit", "collapse_report", "warn_if_collapsed"]

# Rows encoded by the check: enough for stable fractions, cheap next to a fit.
_MAX_ROWS = 1000
# check_collapse="auto" judges only a fit on at least as many rows as the check
# encodes and whose model took at least this many optimizer steps in all
# (n_steps_): a default fit on 10,000 MNIST rows takes 720 (VDL) to 10,000.
_MIN_CHECK_ROWS = _MAX_ROWS
_MIN_CHECK_STEPS = 100
# A latent is active when its spread over the sample exceeds this fraction of
# the codes' overall spread (scale-free: a rescaled code is as active as before).
_ACTIVE_RTOL = 0.01
# "Most latents inactive": fewer than this fraction active.
_MIN_ACTIVE_FRACTION = 0.5
# "No better than the mean": the reconstruction explains less than this
# fraction of the variance around the mean row (R^2 = 0.1 is 0.46 dB).
_MIN_EXPLAINED = 0.1

# Per model: the likely cause and (parameter, which way to change it); each
# name is a parameter of that estimator (tested). A suggestion to set the value
# a parameter already has is left out of the message.
_ADVICE = {
    "ThresholdedVAE": (
        "the KL term or the threshold outweighs the reconstruction, or the learning "
        "rate schedule decayed before the codes formed",
        (("kl_weight", "lower"), ("target_density", "raise"),
         ("optimizer", "set 'adam' as"), ("max_epochs", "raise"))),
    "SVAETransformer": (
        "posterior collapse: the KL term pulls unused latents onto the prior",
        (("kl_weight", "lower"), ("decoder_norm", "set 1.0 as"),
         ("likelihood_std", "lower"), ("max_epochs", "raise"))),
    "SpikeSlabGenerator": (
        "the prior outweighs the likelihood (codes shrink to the spike) or inference "
        "is too short to move the codes",
        (("likelihood_std", "lower"), ("inference_steps", "raise"), ("max_epochs", "raise"))),
    "VariationalSparseCoding": (
        "the KL term pulls the spike probabilities to the prior's sparsity, or the "
        "learning rate schedule decayed before the codes formed",
        (("kl_weight", "lower"), ("target_density", "raise"), ("max_epochs", "raise"))),
    "VarianceRegDictionaryLearner": (
        "the sparsity penalty outweighs the reconstruction and shrinks codes to zero",
        (("regularizer", "set 'variance' as"), ("sparsity_reg", "lower"),
         ("variance_reg", "raise"), ("max_epochs", "raise"))),
}
_GENERIC = ("the regularisation outweighs the reconstruction or training stopped early",
            (("max_epochs", "raise"),))


def _sample_rows(X: np.ndarray) -> np.ndarray:
    """Up to ``_MAX_ROWS`` evenly spaced rows (deterministic, no random state)."""
    n = X.shape[0]
    if n <= _MAX_ROWS:
        return X
    return X[np.linspace(0, n - 1, _MAX_ROWS).astype(np.intp)]


def collapse_report(estimator, X) -> dict:
    """Activity and reconstruction quality of a fitted estimator's codes on ``X``.

    Parameters
    ----------
    estimator : fitted skdeepsparse estimator
        Needs ``transform``; ``inverse_transform`` when it has one.
    X : ndarray of shape (n_samples, n_features)
        Data to encode (the check uses up to 1,000 evenly spaced rows).

    Returns
    -------
    dict
        ``n_active`` and ``n_components`` (latents whose spread over the sample
        exceeds 1% of the codes' overall spread), ``active_fraction``, and
        ``explained`` (``1 - MSE(reconstruction) / MSE(mean row)``; None without
        ``inverse_transform``).
    """
    X = _sample_rows(np.asarray(X))  # in its own dtype: the model's input as in fit
    Z = np.asarray(estimator.transform(X), dtype=np.float64)
    spread = Z.std(axis=0)
    overall = float(np.sqrt(np.mean(spread ** 2)))
    n_active = int((spread > _ACTIVE_RTOL * overall).sum()) if overall > 0 else 0
    explained = None
    if hasattr(estimator, "inverse_transform"):
        X_hat = np.asarray(estimator.inverse_transform(Z.astype(X.dtype)), dtype=np.float64)
        X = np.asarray(X, dtype=np.float64)
        base = float(np.mean((X - X.mean(axis=0)) ** 2))
        if base > 0:
            explained = 1.0 - float(np.mean((X - X_hat) ** 2)) / base
    return {"n_active": n_active, "n_components": Z.shape[1],
            "active_fraction": n_active / max(Z.shape[1], 1), "explained": explained}


def warn_if_collapsed(estimator, X, *, stacklevel: int = 2) -> dict:
    """Warn when a fitted estimator's codes on (a sample of) ``X`` have collapsed.

    Collapse is most latents inactive (fewer than half vary over the sample) or
    a reconstruction that explains less than 10% of the variance around the
    mean row. The :class:`~sklearn.exceptions.ConvergenceWarning` names the
    likely cause and the parameters to change for this estimator.

    Parameters
    ----------
    estimator : fitted skdeepsparse estimator
    X : ndarray of shape (n_samples, n_features)
        The training data (validated).
    stacklevel : int, default=2
        Of the warning: 2 points at the caller of this function.

    Returns
    -------
    dict
        The :func:`collapse_report`, with ``collapsed`` (bool) added.
    """
    report = collapse_report(estimator, X)
    problems = []
    if report["active_fraction"] < _MIN_ACTIVE_FRACTION:
        problems.append(f"only {report['n_active']} of {report['n_components']} latents "
                        "are active on the training data")
    if report["explained"] is not None and report["explained"] < _MIN_EXPLAINED:
        problems.append("the reconstruction explains {:.0%} of the variance around the "
                        "mean image (no better than the mean)".format(max(report["explained"], 0)))
    report["collapsed"] = bool(problems)
    if problems:
        name = type(estimator).__name__
        mro = [c.__name__ for c in type(estimator).__mro__]
        cause, candidates = next((_ADVICE[c] for c in mro if c in _ADVICE), _GENERIC)
        params = estimator.get_params(deep=False)
        named = [f"{how} {p} (now {params[p]!r})" for p, how in candidates
                 if p in params and how != f"set {params[p]!r} as"]  # not what it is
        warnings.warn(
            f"{name} codes have collapsed: {'; '.join(problems)}. Likely cause: {cause}. "
            f"Try: {'; '.join(named) if named else 'a weaker regularisation'}.",
            ConvergenceWarning, stacklevel=stacklevel)
    return report


def check_after_fit(estimator, X, *, stacklevel: int = 2) -> dict | None:
    """The check as ``fit`` runs it: under the ``check_collapse`` setting.

    Call it after the fit transaction has committed. The check leaves the
    estimator's random streams as they were, so a later ``partial_fit`` or
    sampling ``transform`` continues as if it had not run.

    Parameters
    ----------
    estimator : fitted skdeepsparse estimator
    X : ndarray of shape (n_samples, n_features)
        The validated training data of the fit.
    stacklevel : int, default=2
        Of the warning, counted from the caller of this function.

    Returns
    -------
    dict or None
        The report of :func:`warn_if_collapsed`, or None when the check was
        skipped (``check_collapse=False``, or ``"auto"`` and the fit had fewer
        than 1,000 rows or its model fewer than 100 optimizer steps).
    """
    setting = get_config()["check_collapse"]
    if setting is False:
        return None
    if setting == "auto" and (X.shape[0] < _MIN_CHECK_ROWS
                              or getattr(estimator, "n_steps_", 0) < _MIN_CHECK_STEPS):
        return None
    streams = [(s, s.get_state()) for s in (getattr(estimator, "_generator", None),
                                            getattr(estimator, "_rng", None)) if s is not None]
    try:
        return warn_if_collapsed(estimator, X, stacklevel=stacklevel + 1)
    finally:
        for stream, state in streams:
            stream.set_state(state)
