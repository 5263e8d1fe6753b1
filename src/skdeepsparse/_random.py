"""Random streams shared by the models.

Two needs recur: noise that is a deterministic function of each *row* of the
data (so ``transform`` gives a sample the same draw in any batch, at any
position), and reparameterised draws that torch only offers from its global
RNG (Gamma), which must still follow the estimator's own generator.
"""

from __future__ import annotations

import math

import torch

__all__ = ["row_seeds", "hashed_uniform", "hashed_normal", "rsample_on_generator"]

_M32 = 0xFFFFFFFF
# Columns hashed at once: bounds the int64 temporaries to (rows x _COL_BLOCK).
_COL_BLOCK = 64


def _mul32(x: torch.Tensor, c: int) -> torch.Tensor:
    """``(x * c) mod 2^32`` for int64 ``x`` in [0, 2^32) without int64 overflow."""
    lo, hi = c & 0xFFFF, c >> 16
    return (x * lo + (((x * hi) & 0xFFFF) << 16)) & _M32


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash (xor-shift-multiply), elementwise on int64 tensors."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def row_seeds(X: torch.Tensor, key: int) -> torch.Tensor:
    """A 32-bit hash (int64 tensor of shape ``(n_rows,)``) of each row and ``key``.

    The hash reads the float64 bit pattern of every value (``-0.0`` and ``0.0``
    alike) and its column, so equal rows get equal seeds in any batch. Columns
    are hashed in blocks: extra memory is a few ``n_rows x 64`` int64 arrays,
    whatever the width.
    """
    n, d = X.shape
    key = int(key) & _M32
    acc = torch.zeros(n, dtype=torch.int64, device=X.device)
    for start in range(0, d, _COL_BLOCK):
        block = X[:, start:start + _COL_BLOCK].to(torch.float64) + 0.0
        bits = block.contiguous().view(torch.int64)
        pos = torch.arange(start, start + block.shape[1], device=X.device, dtype=torch.int64)
        lo = _mix32((bits & _M32) ^ _mix32((pos * 2 + key) & _M32))
        hi = _mix32(((bits >> 32) & _M32) ^ _mix32((pos * 2 + 1 + key) & _M32))
        acc = (acc + (lo + hi).sum(1)) & _M32
    return _mix32(acc)


def hashed_uniform(seeds: torch.Tensor, stream: int, n: int, dtype) -> torch.Tensor:
    """Uniforms strictly inside (0, 1), shape ``(len(seeds), n)``, from row seeds.

    Different ``stream`` values give independent-looking draws for the same row.
    """
    idx = torch.arange(n, device=seeds.device, dtype=torch.int64)
    col = _mix32((idx + (int(stream) * 0x9E3779B1)) & _M32)
    h = _mix32(_mix32(seeds[:, None] ^ col[None, :]) ^ (int(stream) & _M32))
    u = (h.to(torch.float64) + 0.5) / 4294967296.0
    # Rounding to float32 could reach 0 or 1 exactly: keep inverse CDFs finite.
    tiny = torch.finfo(dtype).eps
    return u.to(dtype).clamp(tiny, 1.0 - tiny)


def hashed_normal(seeds: torch.Tensor, stream: int, n: int, dtype) -> torch.Tensor:
    """Standard normal draws from row seeds (Box-Muller on two hashed streams)."""
    u1 = hashed_uniform(seeds, 2 * stream, n, dtype)
    u2 = hashed_uniform(seeds, 2 * stream + 1, n, dtype)
    return torch.sqrt(-2.0 * torch.log(u1)) * torch.cos(2.0 * math.pi * u2)


def rsample_on_generator(dist: torch.distributions.Distribution, sample_shape,
                         generator: torch.Generator) -> torch.Tensor:
    """``dist.rsample(sample_shape)`` driven by ``generator``, not the global seed.

    Gamma (implicit reparameterisation) draws from ``generator`` through
    torch's own sampler. Other samplers that read only the global RNG run under
    a forked global RNG seeded from ``generator``, so draws follow
    ``random_state`` and the user's global state is untouched (not safe while
    another thread seeds torch).
    """
    if type(dist) is torch.distributions.Gamma:
        # torch's Gamma sampler takes a generator: no global state at all (the
        # forked global RNG below is not safe while another thread seeds it).
        shape = dist._extended_shape(torch.Size(sample_shape))
        value = torch._standard_gamma(dist.concentration.expand(shape), generator=generator)
        value = value / dist.rate.expand(shape)
        value.detach().clamp_(min=torch.finfo(value.dtype).tiny)  # as Gamma.rsample
        return value
    device = generator.device
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=device))
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        with torch.random.fork_rng(devices=[index]), torch.cuda.device(index):
            torch.cuda.manual_seed(seed)
            return dist.rsample(sample_shape)
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(seed)
        return dist.rsample(sample_shape)
