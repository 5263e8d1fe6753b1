"""Torch modules shared by the models: LISTA, MLPs, linear dictionaries."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

__all__ = [
    "LISTA",
    "MLP",
    "ConvDecoder",
    "ConvEncoder",
    "ConvGenerator",
    "conv_geometry",
    "LinearDictionary",
    "normalize_columns_",
    "reset_parameters_",
]

# Layers whose default initialisation draws from torch's global generator, all by
# the formulas of their own reset_parameters (torch.nn.Linear, torch.nn.modules.conv).
_DRAWING_LAYERS = (nn.Linear, nn.modules.conv._ConvNd)


@torch.no_grad()
def reset_parameters_(module: nn.Module, generator: torch.Generator) -> nn.Module:
    """Re-initialise ``module`` from ``generator`` by the formulas torch uses.

    A fit must not depend on torch's process-wide generator (another thread may
    seed it at any time), so every random initial weight is drawn again here:
    ``Linear``, ``Conv*`` and ``ConvTranspose*`` layers get their default
    ``kaiming_uniform_(a=sqrt(5))`` weights and ``U(-1/sqrt(fan_in),
    1/sqrt(fan_in))`` biases, and every submodule that defines
    ``reset_custom_(generator)`` re-applies its own initialisation (zero
    biases, constants, its own draws) after its children's. The modules are
    visited children first, in the order they were registered: for a module
    that registers its parts in the order it builds them, the draws are those
    of building it after ``torch.manual_seed`` with the generator's seed.
    Layers whose initialisation draws nothing (normalisation layers) keep
    theirs. A module of your own with parameters outside these layers defines
    ``reset_custom_`` to initialise them.

    Parameters
    ----------
    module : nn.Module
        Modified in place.
    generator : torch.Generator
        A CPU generator (the module is initialised on the CPU).

    Returns
    -------
    module : nn.Module
    """
    for child in module.children():
        reset_parameters_(child, generator)
    if isinstance(module, _DRAWING_LAYERS):
        nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
        if module.bias is not None:
            fan_in, _ = nn.init._calculate_fan_in_and_fan_out(module.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            nn.init.uniform_(module.bias, -bound, bound, generator=generator)
    custom = getattr(module, "reset_custom_", None)
    if custom is not None:
        custom(generator)
    return module


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
        self.reset_custom_()
        self.n_iter = n_iter
        self.positive = positive
        if not positive:
            self.threshold = nn.Parameter(torch.zeros(n_components))

    @torch.no_grad()
    def reset_custom_(self, generator: torch.Generator | None = None) -> None:
        """The encoder bias starts at 0 (see :func:`reset_parameters_`)."""
        nn.init.zeros_(self.U.bias)

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
            layers.append(nn.Linear(sizes[i], sizes[i + 1], bias=bias_last or not last))
            if not last:
                layers.append(activation())
        super().__init__(*layers)
        self.zero_bias = zero_bias
        self.reset_custom_()

    @torch.no_grad()
    def reset_custom_(self, generator: torch.Generator | None = None) -> None:
        """Biases start at 0 with ``zero_bias`` (see :func:`reset_parameters_`)."""
        if self.zero_bias:
            for lin in self:
                if isinstance(lin, nn.Linear) and lin.bias is not None:
                    nn.init.zeros_(lin.bias)


def conv_geometry(height: int, width: int, n_layers: int) -> list[dict]:
    """Kernel, stride and padding of each layer of a conv stack (and its mirror).

    Per spatial axis: a size >= 8 is halved (kernel 4, stride 2, padding 1);
    4 <= size < 8 shrinks by 3 (kernel 4, stride 1, no padding); smaller sizes
    are kept (kernel 3, padding 1). On 28 x 28 images four layers give
    28 -> 14 -> 7 -> 4 -> 1, the reference Fashion-MNIST encoder of Fallah &
    Rozell (2022).

    Parameters
    ----------
    height, width : int
        Input image size.
    n_layers : int
        Number of conv layers.

    Returns
    -------
    layers : list of dict
        One dict per layer with ``kernel``, ``stride``, ``padding`` (pairs)
        and the spatial sizes ``in`` and ``out`` (pairs).
    """
    layers = []
    size = (height, width)
    for _ in range(n_layers):
        specs = [(4, 2, 1) if n >= 8 else (4, 1, 0) if n >= 4 else (3, 1, 1) for n in size]
        out = tuple((n + 2 * p - k) // s + 1 for n, (k, s, p) in zip(size, specs, strict=True))
        k, s, p = (tuple(v) for v in zip(*specs, strict=True))
        layers.append({"kernel": k, "stride": s, "padding": p, "in": size, "out": out})
        size = out
    return layers


class ConvEncoder(nn.Module):
    """Conv + BatchNorm + ReLU stack on flattened images, output flattened.

    The reference DNN encoder of Fallah & Rozell (2022), with the geometry of
    :func:`conv_geometry` (4x4 kernels, mostly stride 2) and no conv bias.

    Parameters
    ----------
    image_shape : tuple of int
        ``(channels, height, width)`` of the images the input rows flatten.
    channels : sequence of int, default=(64, 64, 128, 128)
        Output channels of each conv layer.

    Attributes
    ----------
    out_features : int
        Width of the flattened output.
    """

    def __init__(self, image_shape: tuple[int, int, int],
                 channels: Sequence[int] = (64, 64, 128, 128)):
        super().__init__()
        c, h, w = image_shape
        self.image_shape = (c, h, w)
        geometry = conv_geometry(h, w, len(channels))
        layers: list[nn.Module] = []
        c_in = c
        for g, c_out in zip(geometry, channels, strict=True):
            layers += [nn.Conv2d(c_in, c_out, g["kernel"], g["stride"], g["padding"], bias=False),
                       nn.BatchNorm2d(c_out), nn.ReLU()]
            c_in = c_out
        self.net = nn.Sequential(*layers)
        oh, ow = geometry[-1]["out"]
        self.out_features = channels[-1] * oh * ow

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.reshape(x.shape[0], *self.image_shape)).flatten(1)


class ConvDecoder(nn.Module):
    """Linear -> reshape -> transposed convs (BatchNorm + ReLU) -> output activation.

    The exact mirror of :class:`ConvEncoder` with the same ``channels``, so it
    reproduces the image size for any ``image_shape``; rows are flattened
    images.

    Parameters
    ----------
    n_components : int
        Code size.
    image_shape : tuple of int
        ``(channels, height, width)`` of the output images.
    channels : sequence of int, default=(64, 64, 128, 128)
        Channels in encoder order (the decoder runs them backwards).
    output_activation : {"sigmoid", "identity"}, default="sigmoid"
        ``"sigmoid"`` for images in [0, 1].
    """

    def __init__(self, n_components: int, image_shape: tuple[int, int, int],
                 channels: Sequence[int] = (64, 64, 128, 128),
                 output_activation: str = "sigmoid"):
        super().__init__()
        if output_activation not in ("sigmoid", "identity"):
            raise ValueError("output_activation must be 'sigmoid' or 'identity'; got "
                             f"{output_activation!r}.")
        c, h, w = image_shape
        geometry = conv_geometry(h, w, len(channels))
        self.start_shape = (channels[-1], *geometry[-1]["out"])
        self.fc = nn.Linear(n_components, channels[-1] * geometry[-1]["out"][0]
                            * geometry[-1]["out"][1])
        layers: list[nn.Module] = [nn.BatchNorm2d(channels[-1]), nn.ReLU()]
        for i in range(len(channels) - 1, -1, -1):
            g = geometry[i]
            c_out = channels[i - 1] if i > 0 else c
            out_pad = tuple(t - ((n - 1) * s - 2 * p + k) for t, n, s, p, k in zip(
                g["in"], g["out"], g["stride"], g["padding"], g["kernel"], strict=True))
            layers.append(nn.ConvTranspose2d(channels[i], c_out, g["kernel"], g["stride"],
                                             g["padding"], output_padding=out_pad,
                                             bias=i == 0))
            if i > 0:
                layers += [nn.BatchNorm2d(c_out), nn.ReLU()]
        self.net = nn.Sequential(*layers)
        self.output_activation = output_activation

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.net(self.fc(z).reshape(z.shape[0], *self.start_shape)).flatten(1)
        return torch.sigmoid(x) if self.output_activation == "sigmoid" else x


class LinearDictionary(nn.Module):
    """Linear decoder ``x = z @ W.T (+ bias)`` with atoms as the columns of ``W``.

    Parameters
    ----------
    n_components : int
        Number of atoms.
    n_features : int
        Atom size.
    bias : bool, default=False
        Learn an output offset (it starts at 0).
    unit_normal : bool, default=False
        Start from Gaussian atoms rescaled to unit norm instead of PyTorch's
        default initialisation.
    """

    def __init__(self, n_components: int, n_features: int, bias: bool = False,
                 unit_normal: bool = False):
        super().__init__()
        self.linear = nn.Linear(n_components, n_features, bias=bias)
        self.unit_normal = unit_normal
        self.reset_custom_()

    @torch.no_grad()
    def reset_custom_(self, generator: torch.Generator | None = None) -> None:
        """Zero bias; unit-norm Gaussian atoms with ``unit_normal`` (see
        :func:`reset_parameters_`)."""
        if self.linear.bias is not None:
            nn.init.zeros_(self.linear.bias)
        if self.unit_normal:
            normalize_columns_(nn.init.normal_(self.linear.weight, generator=generator))

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


class ConvGenerator(nn.Module):
    """DCGAN-style generator: a linear projection, then stride-2 transposed convolutions.

    ``z -> Linear -> ReLU -> (c_1, h0, w0)``, then one ``ConvTranspose2d(4, 2, 1)``
    per entry of ``channels`` (each doubling the spatial size; ReLU between
    them), the last one mapping to the image channels, with
    ``h0 = ceil(H / 2**L)`` and ``w0 = ceil(W / 2**L)`` for ``L = len(channels)``.
    The output is cropped to ``(C, H, W)`` and flattened channels-first. The
    biases keep PyTorch's default (random) initialisation.

    Parameters
    ----------
    n_components : int
        Code size.
    channels : sequence of int
        Channels of the feature maps, one upsampling by 2 each (at least one).
    image_shape : tuple of int
        ``(C, H, W)`` of the output images.
    """

    def __init__(self, n_components: int, channels: Sequence[int], image_shape):
        super().__init__()
        C, H, W = image_shape
        L = len(channels)
        self.shape = (C, H, W)
        self.h0, self.w0 = -(-H // 2**L), -(-W // 2**L)
        self.c0 = channels[0]
        self.fc = nn.Linear(n_components, self.c0 * self.h0 * self.w0)
        layers: list[nn.Module] = []
        for i in range(L):
            last = i == L - 1
            c_out = C if last else channels[i + 1]
            layers.append(nn.ConvTranspose2d(channels[i], c_out, 4, 2, 1))
            if not last:
                layers.append(nn.ReLU())
        self.deconv = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        C, H, W = self.shape
        h = torch.relu(self.fc(z)).view(z.shape[0], self.c0, self.h0, self.w0)
        return self.deconv(h)[:, :, :H, :W].reshape(z.shape[0], C * H * W)
