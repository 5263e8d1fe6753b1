"""Torch modules shared by the models: LISTA, MLPs, linear dictionaries."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = [
    "LISTA",
    "MLP",
    "LinearDictionary",
    "normalize_columns_",
]


class LISTA(nn.Module):
    """Learned ISTA encoder (Gregor & LeCun 2010), as in Evtimova & LeCun (2022).

    ``u = U y + b``; ``z_0 = act(u)``; ``z_k = act(u + S z_{k-1})`` for
    ``k = 1..n_iter``, where ``act`` is a ReLU for non-negative codes and a
    soft threshold with a learned per-component threshold otherwise.

    Parameters
    ----------
    n_features : int
        Input size.
    n_components : int
        Code size.
    n_iter : int, default=3
        Number of recurrent refinements.
    positive : bool, default=True
        Non-negative codes (ReLU).
    """

    def __init__(self, n_features: int, n_components: int, n_iter: int = 3,
                 positive: bool = True):
        super().__init__()
        self.U = nn.Linear(n_features, n_components)
        self.S = nn.Linear(n_components, n_components, bias=False)
        nn.init.zeros_(self.U.bias)
        self.n_iter = n_iter
        self.positive = positive
        if not positive:
            self.threshold = nn.Parameter(torch.zeros(n_components))

    def _act(self, v: torch.Tensor) -> torch.Tensor:
        if self.positive:
            return torch.relu(v)
        tau = torch.relu(self.threshold)
        return torch.sign(v) * torch.relu(v.abs() - tau)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        u = self.U(y)
        z = self._act(u)
        for _ in range(self.n_iter):
            z = self._act(u + self.S(z))
        return z


class MLP(nn.Sequential):
    """A ReLU multi-layer perceptron.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, input first and output last.
    bias_last : bool, default=True
        Whether the output layer has a bias.
    activation : type of nn.Module, default=nn.ReLU
        Hidden activation.
    zero_bias : bool, default=True
        Start biases at 0. With False, PyTorch's default (random) bias init is
        kept, which a generator whose codes start at 0 needs: with zero biases
        every hidden ReLU would sit at its kink and pass no gradient.
    """

    def __init__(self, sizes: Sequence[int], bias_last: bool = True,
                 activation: type[nn.Module] = nn.ReLU, zero_bias: bool = True):
        layers: list[nn.Module] = []
        for i in range(len(sizes) - 1):
            last = i == len(sizes) - 2
            lin = nn.Linear(sizes[i], sizes[i + 1], bias=bias_last or not last)
            if lin.bias is not None and zero_bias:
                nn.init.zeros_(lin.bias)
            layers.append(lin)
            if not last:
                layers.append(activation())
        super().__init__(*layers)


class LinearDictionary(nn.Module):
    """Linear decoder ``x = z @ W.T (+ bias)`` with atoms as the columns of ``W``.

    Parameters
    ----------
    n_components : int
        Number of atoms.
    n_features : int
        Atom size.
    bias : bool, default=False
        Learn an output offset.
    """

    def __init__(self, n_components: int, n_features: int, bias: bool = False):
        super().__init__()
        self.linear = nn.Linear(n_components, n_features, bias=bias)
        if bias:
            nn.init.zeros_(self.linear.bias)

    @property
    def weight(self) -> torch.Tensor:
        """The dictionary, shape (n_features, n_components): one atom per column."""
        return self.linear.weight

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.linear(z)


@torch.no_grad()
def normalize_columns_(weight: torch.Tensor, radius: float = 1.0, eps: float = 1e-12) -> None:
    """Rescale, in place, every column of ``weight`` to L2 norm ``radius``.

    For an ``nn.Linear(n_in, n_out)`` the weight is (n_out, n_in), so its columns
    are the per-input filters: for a decoder, one column per latent (atom).
    """
    norms = weight.norm(dim=0, keepdim=True).clamp_min(eps)
    weight.mul_(radius / norms)
