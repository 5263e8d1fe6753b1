"""Exceptions and warnings raised by skdeepsparse."""

__all__ = ["DistributedTrainingError", "FitInterruptedWarning", "TrainingDivergedError"]


class TrainingDivergedError(FloatingPointError):
    """Training produced NaN or infinite values.

    The estimator that raised it keeps the state it had before the call to
    ``fit`` or ``partial_fit`` (or stays unfitted).
    """


class FitInterruptedWarning(UserWarning):
    """``fit`` or ``partial_fit`` was interrupted (Ctrl-C) after an epoch.

    The estimator keeps the last completed epoch (or, with a validation split,
    the epoch with the best validation loss) and sets ``interrupted_ = True``,
    so a caller that must not use a truncated model (a command line, a
    benchmark cache) can tell. An interrupt before the first completed epoch
    is not caught: ``KeyboardInterrupt`` propagates and the estimator is left
    as it was before the call.
    """


class DistributedTrainingError(RuntimeError):
    """A collective operation of a data-parallel fit failed (a rank missing or failed).

    Raised on every rank that reaches the process group's timeout; each keeps
    the state it had before the call.
    """
