"""Ctrl-C during a fit stops the command.

An estimator interrupted after its first epoch keeps the last completed epoch
and returns normally (``interrupted_`` is True, with a
``FitInterruptedWarning``): right for a user at the Python prompt, wrong for
the commands, which would report the truncated model as a result and cache it
as a finished unit. :func:`fit` turns that outcome back into
:class:`KeyboardInterrupt`, which the commands answer with exit status 130.
"""

from __future__ import annotations

import warnings

from skdeepsparse import exceptions

__all__ = ["fit"]

# The warning an interrupted fit gives; older cores warned a plain UserWarning
# whose message says "fit interrupted".
_CATEGORY = getattr(exceptions, "FitInterruptedWarning", None)
_MESSAGE = r".*fit interrupted"


def _is_interrupt(warning: Warning) -> bool:
    return ((_CATEGORY is not None and isinstance(warning, _CATEGORY))
            or "fit interrupted" in str(warning))


def fit(est, X, **fit_params):
    """``est.fit(X)``, raising :class:`KeyboardInterrupt` if the fit was interrupted.

    Parameters
    ----------
    est : estimator
    X : array-like
    **fit_params
        Passed to ``est.fit``.

    Returns
    -------
    est : estimator
        The fitted estimator (never an interrupted one).

    Raises
    ------
    KeyboardInterrupt
        When Ctrl-C reached the fit, whether the estimator re-raised it or kept
        a partly trained model.
    """
    with warnings.catch_warnings():
        # The interrupt warning becomes an exception inside fit, so the
        # estimator's own rollback runs and nothing truncated comes back.
        warnings.filterwarnings("error", message=_MESSAGE, category=UserWarning)
        if _CATEGORY is not None:
            warnings.filterwarnings("error", category=_CATEGORY)
        try:
            fitted = est.fit(X, **fit_params)
        except UserWarning as warning:
            if not _is_interrupt(warning):
                raise
            raise KeyboardInterrupt from None
    if getattr(fitted, "interrupted_", False) or getattr(est, "interrupted_", False):
        raise KeyboardInterrupt
    return fitted
