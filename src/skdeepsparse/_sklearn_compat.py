"""The one place where skdeepsparse reaches into scikit-learn's private API.

scikit-learn offers no public way for a third-party estimator to declare its
parameter constraints the way its own estimators do (``_parameter_constraints``
checked by ``BaseEstimator._validate_params``, a private method too). The
estimators use the same machinery, so its classes come from the private module
``sklearn.utils._param_validation``. That module is not covered by
scikit-learn's deprecation policy, hence the version range pinned in
``pyproject.toml`` (the versions this import was tested with); a change in a
future release is then one edit here.
"""

try:
    from sklearn.utils._param_validation import Interval, StrOptions, validate_params
except ImportError as exc:  # pragma: no cover - depends on the installed version
    import sklearn

    raise ImportError(
        "skdeepsparse uses scikit-learn's parameter validation "
        "(sklearn.utils._param_validation), which this scikit-learn "
        f"({sklearn.__version__}) does not provide in the expected form; install a "
        "version in the range that pyproject.toml pins."
    ) from exc

__all__ = ["Interval", "StrOptions", "validate_params"]
