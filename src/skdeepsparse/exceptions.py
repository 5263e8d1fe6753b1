"""Exceptions raised by skdeepsparse."""

__all__ = ["TrainingDivergedError"]


class TrainingDivergedError(FloatingPointError):
    """Training produced NaN or infinite values.

    The estimator that raised it keeps the state it had before the call to
    ``fit`` or ``partial_fit`` (or stays unfitted).
    """
