"""Optimizer groups: one routing rule for the optimizers and schedules of every model.

A model trains its parameters in one or more *groups*, each with its own
``torch.optim`` optimizer and learning-rate schedule. The *main* group is set by
the shared parameters (``optimizer``, ``learning_rate``, ``momentum``,
``adam_betas``, ``weight_decay``, ``lr_schedule``, ``lr_decay``,
``lr_decay_every``, ``warmup_fraction``). A model that trains part of its module
apart (a dictionary, a decoder) declares that group's name in
``_optimizer_groups``; then one rule routes its settings, as skorch routes
``optimizer2__lr``:

    a constructor parameter ``<group>_<shared name>`` (``decoder_optimizer``,
    ``decoder_learning_rate``, ``decoder_weight_decay``, ``decoder_lr_schedule``,
    ``decoder_adam_betas``, ...) sets that group's value of the shared name;
    ``None``, or a group parameter that the model does not have, means the
    main group's (resolved) value.

A shared name means the same for every group of every model; in particular
``weight_decay`` is torch's coupled L2: it adds ``weight_decay * theta`` to the
gradient of every parameter ``theta`` of the group (the penalty
``weight_decay / 2 * ||theta||^2``). A model may give subsets of a group their own
weight decay (e.g. biases) through torch's per-parameter-group dicts.

The core builds every group's optimizer (:func:`build_optimizer`), steps its
schedule (:class:`OptimizerSet`), snapshots and restores its state, and rebuilds
it when one of its parameters changes after ``fit``. No model module constructs
a ``torch.optim`` optimizer or scheduler.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from numbers import Integral, Real

import torch

from ._sklearn_compat import Interval, StrOptions

__all__ = ["MAIN", "SHARED_NAMES", "GroupSettings", "OptimizerSet", "group_constraints"]

MAIN = "main"

# The shared names, in the order of the docs, and their constraints.
SHARED_CONSTRAINTS: dict[str, list] = {
    "optimizer": [StrOptions({"auto", "adam", "sgd"})],
    "learning_rate": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
    "momentum": [Interval(Real, 0, 1, closed="left")],
    "adam_betas": [tuple, list],
    "weight_decay": [Interval(Real, 0, None, closed="left")],
    "lr_schedule": [StrOptions({"constant", "step", "one_cycle"})],
    "lr_decay": [Interval(Real, 0, 1, closed="right")],
    "lr_decay_every": [Interval(Integral, 1, None, closed="left")],
    "warmup_fraction": [Interval(Real, 0, 1, closed="left")],
}
SHARED_NAMES = tuple(SHARED_CONSTRAINTS)


def param_name(group: str, name: str) -> str:
    """The constructor parameter that sets ``name`` for ``group``."""
    return name if group == MAIN else f"{group}_{name}"


def group_constraints(group: str) -> dict[str, list]:
    """Constraints of the parameters ``<group>_<shared name>``: the shared ones or None."""
    return {param_name(group, n): [*c, None] for n, c in SHARED_CONSTRAINTS.items()}


def optimizer_param_names(groups) -> frozenset[str]:
    """Every parameter name that configures the optimizer of one of ``groups``."""
    return frozenset(param_name(g, n) for g in (MAIN, *groups) for n in SHARED_NAMES)


@dataclass(frozen=True)
class GroupSettings:
    """The resolved settings of one group (no ``"auto"``, no ``None``)."""

    optimizer: str
    learning_rate: float
    momentum: float
    adam_betas: tuple[float, float]
    weight_decay: float
    lr_schedule: str
    lr_decay: float
    lr_decay_every: int
    warmup_fraction: float


def resolve_settings(est, group: str) -> GroupSettings:
    """The settings of ``group`` by the routing rule (see the module docstring).

    ``"auto"`` is resolved by ``est._auto_setting(group, name, optimizer)``.
    """
    params = est.get_params(deep=False)
    main = None if group == MAIN else resolve_settings(est, MAIN)

    def value(name, optimizer=None):
        v = params.get(param_name(group, name))
        if v is None and main is not None:
            return getattr(main, name)
        if isinstance(v, str) and v == "auto":
            return est._auto_setting(group, name, optimizer)
        return v

    kind = value("optimizer")
    return GroupSettings(
        optimizer=kind, learning_rate=float(value("learning_rate", kind)),
        momentum=float(value("momentum")), adam_betas=tuple(value("adam_betas")),
        weight_decay=float(value("weight_decay")), lr_schedule=value("lr_schedule"),
        lr_decay=float(value("lr_decay")), lr_decay_every=int(value("lr_decay_every")),
        warmup_fraction=float(value("warmup_fraction")))


def build_optimizer(params, s: GroupSettings) -> torch.optim.Optimizer:
    """``params``: tensors, or torch param-group dicts that may set their own
    ``weight_decay``; the group's settings are the defaults."""
    if s.optimizer == "sgd":
        return torch.optim.SGD(params, lr=s.learning_rate, momentum=s.momentum,
                               nesterov=s.momentum > 0, weight_decay=s.weight_decay)
    return torch.optim.Adam(params, lr=s.learning_rate, betas=s.adam_betas,
                            weight_decay=s.weight_decay)


def _to_cpu(obj):
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu").clone()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return copy.deepcopy(obj)


class OptimizerSet:
    """The optimizers of one model, one per group (main first), with their schedules.

    ``"step"`` schedules (``StepLR``) are stepped once per epoch and carry on
    across calls; ``"one_cycle"`` (``OneCycleLR``) spans the steps of one
    ``fit`` call and is stepped after every batch; ``partial_fit`` trains a
    one-cycle group at its peak rate.
    """

    def __init__(self, groups: dict, settings: dict[str, GroupSettings]):
        self.names = list(groups)
        self.settings = settings
        self.optimizers = [build_optimizer(groups[n], settings[n]) for n in self.names]
        self.epoch_schedulers = [
            torch.optim.lr_scheduler.StepLR(opt, step_size=settings[n].lr_decay_every,
                                            gamma=settings[n].lr_decay)
            for n, opt in zip(self.names, self.optimizers, strict=True)
            if settings[n].lr_schedule == "step"]
        self.batch_schedulers: list = []

    def __getitem__(self, name: str) -> torch.optim.Optimizer:
        return self.optimizers[self.names.index(name)]

    def start(self, total_steps: int, partial: bool) -> None:
        """Before a training call of ``total_steps`` batches: the one-cycle schedules."""
        self.batch_schedulers = []
        for n, opt in zip(self.names, self.optimizers, strict=True):
            s = self.settings[n]
            if s.lr_schedule != "one_cycle":
                continue
            for group in opt.param_groups:
                group["lr"] = s.learning_rate
            if not partial:
                self.batch_schedulers.append(torch.optim.lr_scheduler.OneCycleLR(
                    opt, max_lr=s.learning_rate, total_steps=max(total_steps, 1),
                    pct_start=s.warmup_fraction, anneal_strategy="cos", div_factor=25.0,
                    final_div_factor=1e4, cycle_momentum=False))

    def step_batch(self) -> None:
        for sch in self.batch_schedulers:
            sch.step()

    def step_epoch(self) -> None:
        for sch in self.epoch_schedulers:
            sch.step()

    def stop(self) -> None:
        """After a training call: the one-cycle schedules end with it."""
        self.batch_schedulers = []

    def learning_rates(self) -> dict[str, float]:
        """The current rate of each group's first parameter group, for ``history_``."""
        return {("lr" if n == MAIN else f"{n}_lr"): float(opt.param_groups[0]["lr"])
                for n, opt in zip(self.names, self.optimizers, strict=True)}

    def state_dict(self, to_cpu: bool = False) -> dict:
        """A copy of every optimizer's and step schedule's state (never shared)."""
        copy_ = _to_cpu if to_cpu else copy.deepcopy
        return {"names": list(self.names),
                "optimizers": [copy_(o.state_dict()) for o in self.optimizers],
                "schedulers": [copy.deepcopy(s.state_dict()) for s in self.epoch_schedulers]}

    def load_state_dict(self, state: dict) -> None:
        """Load a copy of ``state`` (torch casts it to each parameter's device)."""
        if state.get("names", self.names) != self.names:
            raise ValueError(f"optimizer groups {state['names']} do not match {self.names}")
        for opt, st in zip(self.optimizers, state["optimizers"], strict=True):
            opt.load_state_dict(copy.deepcopy(st))
        for sch, st in zip(self.epoch_schedulers, state["schedulers"], strict=True):
            sch.load_state_dict(copy.deepcopy(st))
