"""``sparse_encode``: a drop-in for :func:`sklearn.decomposition.sparse_encode`."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils import check_array

from ._base import resolve_device
from ._config import limit_threads
from ._sklearn_compat import Interval, validate_params
from .solvers import lasso_gram

__all__ = ["sparse_encode"]


def _solve(b, G, xx, alpha, positive, max_iter, tol, init):
    """``lasso_gram``; on CPU with T > 1 torch threads, over T blocks of samples.

    On CPU this is only reached with a warm start (from zero codes
    ``sparse_encode`` runs ``_encode_homotopy``), i.e. by the active-set
    solver: many small batched operations, where intra-op threads split each
    one and meet at a barrier, which costs more than it saves. Coarse-grained
    parallelism over samples instead: T Python threads, each solving a block
    with one intra-op thread (torch releases the GIL inside its operations).
    The thread setting is restored afterwards.
    """
    n_threads = torch.get_num_threads()
    n = b.shape[0]
    if b.device.type != "cpu" or n_threads == 1 or n < 2 * n_threads:
        return lasso_gram(b, G, xx, alpha, positive=positive, max_iter=max_iter, tol=tol,
                          init=init)
    bounds = np.linspace(0, n, n_threads + 1).astype(int)

    def block(i):
        s, e = bounds[i], bounds[i + 1]
        return lasso_gram(b[s:e], G, xx[s:e], alpha, positive=positive, max_iter=max_iter,
                          tol=tol, init=None if init is None else init[s:e])

    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(n_threads) as pool:
            parts = list(pool.map(block, range(n_threads)))
    finally:
        torch.set_num_threads(n_threads)
    return torch.cat([p[0] for p in parts]), max(p[1] for p in parts)


def _encode_homotopy(X, dictionary, alpha, positive, max_iter, tol, chunk):
    """The CPU path from zero codes: the compiled homotopy, over T worker threads.

    Each worker takes the next ``chunk`` rows, computes their ``X D^T`` with one
    torch thread and runs the homotopy on them. Why not one multi-threaded
    product first: torch's OpenMP workers keep spinning for milliseconds after a
    parallel region, and on a machine with as many cores as threads that
    halves the speed of whatever threads run next. Rows the homotopy does not
    certify are finished by the active-set solver afterwards.
    """
    from ._homotopy import _SINGLE_PATH_TOL, lasso_homotopy, uncertified

    n, k = X.shape[0], dictionary.shape[0]
    n_threads = torch.get_num_threads()
    D = torch.from_numpy(np.ascontiguousarray(dictionary))
    out = np.empty((n, k), dtype=X.dtype)
    gaps, primals = np.empty(n), np.empty(n)
    steps = np.zeros(n, dtype=np.int64)
    starts = iter(range(0, n, chunk))
    lock = threading.Lock()

    n_workers = max(1, min(n_threads, n))
    G64 = np.empty((k, k))
    bounds = np.linspace(0, k, n_workers + 1).astype(int)
    ready = threading.Barrier(n_workers)

    def work(t):
        # The Gram matrix, one block of rows per worker.
        try:
            G64[bounds[t]:bounds[t + 1]] = (D[bounds[t]:bounds[t + 1]] @ D.T).numpy()
        except BaseException:
            ready.abort()  # the others must not wait for this block
            raise
        ready.wait()
        # A private copy: the kernel's calls count references on their arrays
        # atomically, and two threads doing that on one array contend.
        G = G64.copy()
        while True:
            with lock:
                start = next(starts, None)
            if start is None:
                return
            stop = min(start + chunk, n)
            Xb = torch.from_numpy(np.ascontiguousarray(X[start:stop]))
            B = np.asarray((Xb @ D.T).numpy(), dtype=np.float64)
            xx = np.asarray((Xb * Xb).sum(1).numpy(), dtype=np.float64)
            codes, gaps[start:stop], primals[start:stop], steps[start:stop] = lasso_homotopy(
                B, G, xx, alpha, positive=positive, max_steps=max_iter,
                single_path=tol >= _SINGLE_PATH_TOL)
            out[start:stop] = codes

    torch.set_num_threads(1)
    try:
        with torch.no_grad(), ThreadPoolExecutor(max(n_workers - 1, 1)) as pool:
            futures = [pool.submit(work, t) for t in range(1, n_workers)]
            try:
                work(0)  # the calling thread is one of the workers
            finally:
                for f in futures:
                    f.result()  # re-raises a worker's error
    finally:
        torch.set_num_threads(n_threads)
    worst = int(steps.max(initial=0))
    bad = uncertified(gaps, primals, tol)
    if bad.size:
        with torch.no_grad():
            Xb = torch.from_numpy(np.ascontiguousarray(X[bad]))
            G = torch.from_numpy(G64).to(D.dtype)
            codes, n_it = lasso_gram(Xb @ D.T, G, (Xb * Xb).sum(1), alpha,
                                     positive=positive, max_iter=max_iter, tol=tol,
                                     init=torch.from_numpy(out[bad]), method="active_set")
        out[bad] = codes.numpy()
        worst = max(worst, n_it)
    return out, worst


@limit_threads
@validate_params(
    {
        "X": ["array-like"],
        "dictionary": ["array-like"],
        "alpha": [Interval(Real, 0, None, closed="neither")],
        "positive": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "init": ["array-like", None],
        "device": [str, torch.device],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "return_n_iter": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def sparse_encode(
    X,
    dictionary,
    *,
    alpha: float = 1.0,
    positive: bool = False,
    max_iter: int = 1000,
    tol: float = 1e-4,
    init=None,
    device: str | torch.device = "cpu",
    batch_size: int | None = None,
    return_n_iter: bool = False,
):
    """Sparse coding: solve a Lasso problem for every sample, on CPU or GPU.

    Each row ``x`` of ``X`` is encoded as the code ``c`` minimising::

        0.5 * ||x - c @ dictionary||_2^2 + alpha * ||c||_1

    which is exactly the problem that :func:`sklearn.decomposition.sparse_encode`
    solves with ``algorithm="lasso_lars"`` or ``"lasso_cd"`` for the same
    ``alpha`` (scikit-learn divides ``alpha`` by ``n_features`` internally
    because its Lasso averages the squared error over features; the optimum is
    the same). Shapes and dtypes match scikit-learn's, so this function is a
    drop-in replacement for those two algorithms.

    Two solvers of the Gram-matrix form share one certificate, each sample's
    duality gap on the full dictionary (see
    :func:`skdeepsparse.solvers.lasso_gram`):

    - on CPU, from zero codes: the Lasso homotopy (LARS-Lasso), compiled per
      sample with numba and spread over the torch threads; it follows each
      sample's solution path, touching only the active atoms' Gram columns;
    - on GPU, and for warm starts (``init``): a batched active-set
      (feature-sign) method, the same tensor code on any device: each pass
      adds the atoms that most violate the optimality conditions, takes exact
      Newton steps on the supports (per-sample inverse Gram matrices, batched
      over samples) and drops atoms whose sign flips. It also finishes any
      sample the homotopy does not certify.

    The result is the exact Lasso solution up to ``tol``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data to encode.
    dictionary : array-like of shape (n_components, n_features)
        The dictionary atoms, one per row (as ``components_`` in scikit-learn).
    alpha : float, default=1.0
        L1 penalty weight.
    positive : bool, default=False
        Constrain codes to be non-negative.
    max_iter : int, default=1000
        Maximum number of iterations per sample: path segments of the
        homotopy (one per atom joining or leaving the support), passes of the
        active-set solver (each: one optimality check on the full dictionary,
        atoms added, Newton steps on the supports).
    tol : float, default=1e-4
        Per-sample stopping tolerance on the relative duality gap
        ``(primal - dual) / primal``; the returned objective is within that
        relative distance of the optimum.
    init : array-like of shape (n_samples, n_components), default=None
        Warm start codes.
    device : str or torch.device, default="cpu"
        Where to compute: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``.
    batch_size : int, default=None
        Samples per solver batch (bounds memory: the solver keeps one float64
        ``s x s`` matrix per sample, ``s`` the largest support in the batch);
        ``None`` uses 4096.
    return_n_iter : bool, default=False
        Also return the largest number of iterations one sample took.

    Returns
    -------
    code : ndarray of shape (n_samples, n_components)
        The sparse codes, in the dtype of ``X`` (float32 stays float32).
    n_iter : int
        The largest number of iterations one sample took (see ``max_iter``).
        Only if ``return_n_iter`` is True.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepsparse import sparse_encode
    >>> rng = np.random.RandomState(0)
    >>> D = rng.randn(8, 20)
    >>> D /= np.linalg.norm(D, axis=1, keepdims=True)
    >>> X = rng.randn(5, 20)
    >>> sparse_encode(X, D, alpha=0.5).shape
    (5, 8)
    """
    # validate_params' Interval(Integral) accepts True/False (bool is an int).
    for name, value in (("max_iter", max_iter), ("batch_size", batch_size)):
        if isinstance(value, (bool, np.bool_)):
            raise ValueError(f"The '{name}' parameter of sparse_encode must be an int, "
                             f"not the boolean {value!r}.")
    X = check_array(X, dtype=[np.float64, np.float32])
    dictionary = check_array(dictionary, dtype=X.dtype)
    if dictionary.shape[1] != X.shape[1]:
        raise ValueError(
            f"dictionary has {dictionary.shape[1]} features but X has {X.shape[1]}; "
            "the dictionary must have shape (n_components, n_features)."
        )
    n, k = X.shape[0], dictionary.shape[0]
    if init is not None:
        init = check_array(init, dtype=X.dtype)
        if init.shape != (n, k):
            raise ValueError(f"init must have shape {(n, k)}; got {init.shape}.")
    dev = resolve_device(device)
    if dev.type == "cpu" and init is None:
        out, worst = _encode_homotopy(X, dictionary, float(alpha), positive, max_iter, tol,
                                      min(batch_size or 256, 256))
        return (out, worst) if return_n_iter else out
    dtype = torch.float32 if X.dtype == np.float32 else torch.float64
    # ascontiguousarray: torch refuses negative strides (X[::-1]).
    D = torch.tensor(np.ascontiguousarray(dictionary), dtype=dtype, device=dev)
    G = D @ D.T
    batch_size = batch_size or 4096
    out = np.empty((n, k), dtype=X.dtype)
    worst = 0
    with torch.no_grad():
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            # as_tensor: no copy on CPU (X is only read).
            Xb = torch.as_tensor(np.ascontiguousarray(X[start:stop]), dtype=dtype, device=dev)
            b = Xb @ D.T
            xx = (Xb * Xb).sum(1)
            c0 = None
            if init is not None:
                c0 = torch.tensor(np.ascontiguousarray(init[start:stop]), dtype=dtype,
                                  device=dev)
            codes, n_it = _solve(b, G, xx, float(alpha), positive, max_iter, tol, c0)
            out[start:stop] = codes.cpu().numpy()
            worst = max(worst, n_it)
    if return_n_iter:
        return out, worst
    return out
