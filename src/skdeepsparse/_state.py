"""The fitted state of an estimator: the fit transaction, device moves, pickling.

:class:`FitTransaction` puts an estimator back as it was when ``fit`` or
``partial_fit`` fails; :class:`TorchStateMixin` moves a fitted model between
devices and pickles it with its torch state on the CPU (a model fitted on a GPU
loads on a CPU-only machine).
"""

from __future__ import annotations

import copy
import threading
import warnings

import torch

from ._training import state_snapshot

__all__ = ["FitTransaction", "TorchStateMixin"]

# Moving a model mutates its tensors: one move at a time.
_MOVE_LOCK = threading.Lock()


class FitTransaction:
    """Restore the estimator as it was if ``fit``/``partial_fit`` fails.

    A fresh fit builds new objects, so a shallow copy of ``__dict__`` suffices
    for them; what training mutates in place (module parameters, optimizer and
    scheduler state, random streams, ``history_``) is copied and put back.
    """

    def __init__(self, est):
        self.est = est

    def __enter__(self):
        est = self.est
        self.saved = dict(est.__dict__)
        self.module_state = None
        self.opt_states = None
        if est.__sklearn_is_fitted__():
            self.module_state = state_snapshot(est.module_)
            if getattr(est, "_optim", None) is not None:
                self.opt_states = est._optim.state_dict()
            self.gen_state = est._generator.get_state()
            self.rng_state = est._rng.get_state()
            self.history_len = len(est.history_)
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            return False
        est = self.est
        est.__dict__.clear()
        est.__dict__.update(self.saved)
        if self.module_state is not None:
            est.module_.load_state_dict(self.module_state)
            est.module_.eval()
            if self.opt_states is not None:
                est._optim.load_state_dict(self.opt_states)
            est._generator.set_state(self.gen_state)
            est._rng.set_state(self.rng_state)
            del est.history_[self.history_len:]
        return False


def _generator_on(device: torch.device, state: torch.Tensor | None,
                  old: torch.Generator | None = None) -> torch.Generator:
    """A generator on ``device`` that continues ``state`` where the format allows."""
    gen = torch.Generator(device=device)
    if state is not None:
        try:
            gen.set_state(state)
        except RuntimeError:  # CPU and CUDA generator states differ in format
            gen.manual_seed(int(state.sum()))
    return gen


class TorchStateMixin:
    """Device moves and pickling of the torch state named in ``_torch_attributes``."""

    _torch_attributes: tuple[str, ...] = ("module_",)

    def _move_tensors(self, device: torch.device) -> None:
        for name in self._torch_attributes:
            value = getattr(self, name, None)
            if isinstance(value, (torch.nn.Module, torch.Tensor)):
                setattr(self, name, value.to(device))

    def _move_to(self, device: torch.device) -> None:
        """Move a fitted model, its optimizer state and its random stream to ``device``.

        Not while other threads use the model (the move changes its tensors).
        """
        with _MOVE_LOCK:
            if device == self.device_:
                return
            optim = getattr(self, "_optim", None)
            if optim is not None:  # rebuilt on the new device from this state
                self._optimizer_states = optim.state_dict(to_cpu=True)
                self._optim = None
            self._move_tensors(device)
            self._generator = _generator_on(device, self._generator.get_state())
            self.device_ = device

    def __getstate__(self):
        # BaseEstimator may hand back the live __dict__: never mutate the estimator.
        state = dict(super().__getstate__())
        if state.get("_optim") is not None:
            state["_optimizer_states"] = self._optim.state_dict(to_cpu=True)
        state["_optim"] = None
        gen = state.pop("_generator", None)
        if gen is not None:
            state["_generator_state"] = gen.get_state()
        for name in self._torch_attributes:
            value = state.get(name)
            if isinstance(value, torch.nn.Module):
                if any(t.device.type != "cpu" for t in value.state_dict().values()):
                    value = copy.deepcopy(value).to("cpu")
                state[name] = value
            elif isinstance(value, torch.Tensor):
                state[name] = value.detach().to("cpu")
        return state

    def __setstate__(self, state):
        gen_state = state.pop("_generator_state", None)
        super().__setstate__(state)
        if "device_" not in state:
            return
        dev = self.device_
        if dev.type == "cuda" and not torch.cuda.is_available():
            warnings.warn(
                f"{type(self).__name__} was fitted on {dev} but CUDA is not available; "
                "it was loaded on the CPU.",
                UserWarning,
                stacklevel=2,
            )
            dev = torch.device("cpu")
        self.device_ = dev
        self._move_tensors(dev)
        self._generator = _generator_on(dev, gen_state)
