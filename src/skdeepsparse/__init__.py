"""skdeepsparse: deep sparse coding models as scikit-learn estimators on PyTorch."""

__version__ = "0.1.0"

# The estimators are imported on first use (PEP 562), so that the command line
# (``skdeepsparse --help``, ``--version``) answers without importing torch.
_LAZY = {
    "SVAETransformer": "svae",
    "SpikeSlabGenerator": "spike_slab",
    "ThresholdedVAE": "thresholded_vae",
    "VarianceRegDictionaryLearner": "variance_reg",
    "VariationalSparseCoding": "vsc",
    "sparse_encode": "_sparse_coding",
    "TrainingDivergedError": "exceptions",
    "FitInterruptedWarning": "exceptions",
    "DistributedTrainingError": "exceptions",
    "independent_fits": "_distributed",
    "set_config": "_config",
    "get_config": "_config",
    "config_context": "_config",
}

# The public names are the keys of _LAZY (one table) and __version__.
__all__ = [*_LAZY, "__version__"]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
