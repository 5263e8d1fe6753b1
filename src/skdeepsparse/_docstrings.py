"""Parameter documentation shared by every estimator (one text per concept).

Estimator docstrings write ``%(training_parameters)s`` where the shared block
goes; :func:`fill_doc` substitutes it when the class is defined.
"""

from __future__ import annotations

_OPTIMIZER = """\
optimizer : {"auto", "adam", "sgd"}, default=%(optimizer)r
        Optimizer of the network trained by back-propagation. ``"sgd"`` uses
        Nesterov momentum ``momentum``; ``"auto"`` is the model's reference
        choice (see its own notes).
    learning_rate : float or "auto", default=%(learning_rate)r
        Peak learning rate of that optimizer; ``"auto"`` is the model's
        reference value.
    momentum : float, default=0.9
        Nesterov momentum of ``optimizer="sgd"``.
    adam_betas : tuple of float, default=%(adam_betas)r
        Adam's betas.
    weight_decay : float, default=0.0
        Coupled L2 weight decay of the optimizer.
    lr_schedule : {"constant", "step", "one_cycle"}, default=%(lr_schedule)r
        Schedule of ``learning_rate`` (a :mod:`torch.optim.lr_scheduler`
        stepped by the estimator). ``"step"``: multiply by ``lr_decay`` every
        ``lr_decay_every`` epochs (``StepLR``), continuing across
        ``partial_fit`` calls. ``"one_cycle"``: warm up from ``lr/25`` over
        ``warmup_fraction`` of the steps of one ``fit`` call, then cosine down
        to ``lr/25/1e4`` (``OneCycleLR``); ``partial_fit`` trains at the peak.
    lr_decay : float in (0, 1], default=%(lr_decay)r
        Factor of ``lr_schedule="step"``.
    lr_decay_every : int, default=1
        Epochs between two decays of ``lr_schedule="step"``.
    warmup_fraction : float in [0, 1), default=0.05
        Share of the steps used for the warm-up of ``lr_schedule="one_cycle"``."""

_LOOP = """\
batch_size : int, default=%(batch_size)r
        Mini-batch size.
    max_epochs : int, default=%(max_epochs)r
        Passes over the training data.
    validation_fraction : float, default=%(validation_fraction)r
        Share of ``fit`` data held out to keep the epoch with the best
        validation loss; 0 disables it.
    n_iter_no_change : int or None, default=None
        Stop ``fit`` when the monitored loss has not improved by more than
        ``tol`` for that many epochs: the validation loss when
        ``validation_fraction`` holds data out, else the mean training loss of
        the epoch (as scikit-learn's ``MLPRegressor`` does). When
        ``max_epochs`` runs out first, a
        :class:`~sklearn.exceptions.ConvergenceWarning` says so. ``None``
        trains for exactly ``max_epochs`` epochs (a fixed budget, no warning).
        ``partial_fit`` ignores it. A model whose training loss changes
        meaning during training (an annealed prior) should monitor a
        validation loss instead.
    tol : float, default=0.0
        Relative improvement that counts for ``n_iter_no_change``: the loss
        must fall below ``best - tol * abs(best)``.
    shuffle : bool, default=True
        Shuffle the data every epoch.
    warm_start : bool, default=False
        Continue from the fitted model on a new call to ``fit``. Parameters
        read at every step may change in between; changed optimizer
        parameters rebuild the optimizers; a changed architecture parameter
        is refused with a clear error.
    device : str or torch.device, default="auto"
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, splitting, shuffling and every random draw of
        the model (never the global seed).
    verbose : int, default=0
        Show a progress bar (``tqdm``) over the epochs of ``fit``, or over
        the mini-batches of a ``partial_fit`` call (kept on screen when
        ``verbose > 1``). Messages such as early stopping go to the
        ``"skdeepsparse"`` :mod:`logging` logger whatever ``verbose`` is."""

_DEFAULTS = {
    "optimizer": "adam", "learning_rate": 1e-3, "adam_betas": (0.9, 0.999),
    "lr_schedule": "constant", "lr_decay": 1.0, "batch_size": 100, "max_epochs": 100,
    "validation_fraction": 0.1,
}


def fill_doc(**defaults):
    """Class decorator: put the shared parameter docs, with this model's defaults,
    where the docstring says ``%(training_parameters)s``."""

    values = {**_DEFAULTS, **defaults}

    def decorate(cls):
        block = (_OPTIMIZER % values) + "\n    " + (_LOOP % values)
        cls.__doc__ = cls.__doc__.replace("%(training_parameters)s", block)
        return cls

    return decorate
