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
        Coupled L2 weight decay of the optimizer (torch's convention: it adds
        ``weight_decay * theta`` to the gradient of every parameter ``theta``,
        the penalty ``weight_decay / 2 * ||theta||^2``).
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
        Mini-batch size; under a process group of several ranks, the global
        batch (each rank trains on its rows of it; see the scaling guide).
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


# The types of the group parameters ``<group>_<name>`` (see skdeepsparse._optim).
_GROUP_TYPES = {
    "optimizer": '{"auto", "adam", "sgd"} or None', "learning_rate": 'float, "auto" or None',
    "momentum": "float or None", "adam_betas": "tuple of float or None",
    "weight_decay": "float or None", "lr_schedule": '{"constant", "step", "one_cycle"} or None',
    "lr_decay": "float in (0, 1] or None", "lr_decay_every": "int or None",
    "warmup_fraction": "float in [0, 1) or None",
}


def _group_block(group: str, what: str, defaults: dict, notes: dict) -> str:
    """The docs of the parameters ``<group>_<shared name>`` of one optimizer group."""
    out = []
    for i, (name, kind) in enumerate(_GROUP_TYPES.items()):
        default = defaults.get(name)
        text = notes.get(name, f"``{name}`` of the {group} group.")
        if i == 0:
            text = (f"{text} The {group} group ({what}) has an optimizer of its own; a "
                    f"parameter ``{group}_<name>`` sets that group's value of the shared "
                    f"``<name>`` (same meaning, same values), and ``None`` takes the value "
                    f"of ``<name>``.")
        out.append(f"{group}_{name} : {kind}, default={default!r}\n        {text}")
    return "\n    ".join(out)


def fill_doc(groups: dict | None = None, **defaults):
    """Class decorator: put the shared parameter docs, with this model's defaults,
    where the docstring says ``%(training_parameters)s``.

    ``groups`` maps an optimizer group's name to ``(what, defaults, notes)``: a few
    words on what it trains, the defaults of its ``<group>_*`` parameters and
    model-specific notes by shared name; its block goes where the docstring says
    ``%(<group>_group_parameters)s``.
    """

    values = {**_DEFAULTS, **defaults}

    def decorate(cls):
        block = (_OPTIMIZER % values) + "\n    " + (_LOOP % values)
        doc = cls.__doc__.replace("%(training_parameters)s", block)
        for group, (what, group_defaults, notes) in (groups or {}).items():
            doc = doc.replace(f"%({group}_group_parameters)s",
                              _group_block(group, what, group_defaults, notes))
        cls.__doc__ = doc
        return cls

    return decorate
