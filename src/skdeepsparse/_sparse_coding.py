"""``sparse_encode``: a drop-in for :func:`sklearn.decomposition.sparse_encode`."""

from __future__ import annotations

import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from numbers import Integral, Real

import numpy as np
import torch
from joblib import effective_n_jobs
from sklearn.decomposition import _dict_learning as _sklearn_dict_learning
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array

from ._base import resolve_device
from ._config import limit_threads
from ._dask import is_dask_array, sparse_encode_dask
from ._sklearn_compat import Interval, StrOptions, validate_params
from .solvers import _CERTIFIED, _active_set, _lasso_gram_certified

__all__ = ["sparse_encode"]


# scikit-learn's own function, bound at import: the other algorithms go to it,
# and a caller who patches ``sklearn.decomposition.sparse_encode`` with ours
# (as the drop-in test does) must not send us back to ourselves.
_sk_sparse_encode = _sklearn_dict_learning.sparse_encode

_LASSO = ("lasso_lars", "lasso_cd")


def _writable(a: np.ndarray) -> np.ndarray:
    """``a`` as a C-contiguous array torch may wrap without a warning.

    torch warns when it wraps a read-only array (it could not stop a later
    in-place write); these arrays are only read, but a copy of the read-only
    ones is cheaper than silencing a warning in a thread-unsafe way.
    """
    a = np.ascontiguousarray(a)
    return a if a.flags.writeable else a.copy()


def _relative_gaps(X, C, D, alpha, positive):
    """Per-row relative duality gap of codes ``C``, in float64, from ``X`` and ``D``."""
    X, C, D = (np.asarray(a, dtype=np.float64) for a in (X, C, D))
    R = X - C @ D
    g = R @ D.T
    primal = 0.5 * (R * R).sum(1) + alpha * np.abs(C).sum(1)
    dual_norm = (np.maximum(g, 0) if positive else np.abs(g)).max(1, initial=0.0)
    theta = R / np.maximum(dual_norm / alpha, 1.0)[:, None]
    dual = (X * theta).sum(1) - 0.5 * (theta * theta).sum(1)
    return (primal - dual) / np.maximum(primal, np.finfo(np.float64).tiny)


def _encode_homotopy(X, dictionary, alpha, positive, max_iter, tol, chunk, gram, cov,
                     init=None):
    """The CPU path: the compiled homotopy from zero, over T worker threads.

    Each worker takes the next ``chunk`` rows, computes their ``X D^T`` with one
    torch thread (or reads them from ``cov``) and runs the homotopy on them.
    With ``init``, the rows whose warm start is certified already (their
    duality gap, from their support's products alone) keep it, with 0
    iterations; the homotopy solves the others.
    Float32 input: ``X D^T`` in float32 (half the time of the float64
    product), the codes and certificates from exact products on each row's
    support, the rounding bounded off it (see :func:`lasso_homotopy`); the rare
    row whose margin is thinner than that bound is finished in float64 below.
    Why not one multi-threaded product first: torch's OpenMP workers keep
    spinning for milliseconds after a parallel region, and on a machine with as
    many cores as threads that halves the speed of whatever threads run next.
    Rows the homotopy does not certify are finished by the active-set solver
    afterwards. Returns ``(codes, n_iter, certified)``.
    """
    from ._homotopy import _SINGLE_PATH_TOL, lasso_homotopy, uncertified

    n, k = X.shape[0], dictionary.shape[0]
    n_threads = torch.get_num_threads()
    # Float64 products, except X D^T for float32 data (bounded above): the
    # certificate assembles ||x - cD||^2 from them by cancellation
    # (||x||^2 - 2 c.b + c G c), which float32 rounding swamps when alpha is
    # small and the fit close.
    rounded = (X.dtype == np.float32 and dictionary.dtype == np.float32 and cov is None
               and torch.get_float32_matmul_precision() == "highest")
    D = torch.from_numpy(_writable(dictionary)).to(torch.float64)
    D32 = torch.from_numpy(_writable(dictionary)) if rounded else None
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
            if gram is None:
                G64[bounds[t]:bounds[t + 1]] = (D[bounds[t]:bounds[t + 1]] @ D.T).numpy()
            elif t == 0:
                G64[:] = gram
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
            Xc = _writable(X[start:stop])
            if rounded:
                B = (torch.from_numpy(Xc) @ D32.T).numpy().astype(np.float64)
                xx = np.einsum("ij,ij->i", Xc, Xc, dtype=np.float64)
            else:
                Xb = torch.from_numpy(Xc).to(torch.float64)
                if cov is None:
                    B = np.asarray((Xb @ D.T).numpy(), dtype=np.float64)
                else:
                    B = np.ascontiguousarray(cov[:, start:stop].T, dtype=np.float64)
                xx = np.asarray((Xb * Xb).sum(1).numpy(), dtype=np.float64)
            C0 = None if init is None else np.asarray(init[start:stop], dtype=np.float64)
            codes, gaps[start:stop], primals[start:stop], steps[start:stop] = lasso_homotopy(
                B, G, xx, alpha, positive=positive, max_steps=max_iter,
                single_path=tol >= _SINGLE_PATH_TOL, tol=tol, init=C0,
                X=Xc if rounded else None, dictionary=D32.numpy() if rounded else None)
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
    bad = uncertified(gaps, primals, tol)
    if rounded and bad.size:
        # Margins thinner than the float32 rounding bound: the path again, in float64.
        with torch.no_grad():
            Xb = torch.from_numpy(_writable(X[bad])).to(torch.float64)
            out[bad], gaps[bad], primals[bad], steps[bad] = lasso_homotopy(
                (Xb @ D.T).numpy(), G64, (Xb * Xb).sum(1).numpy(), alpha, positive=positive,
                max_steps=max_iter, single_path=tol >= _SINGLE_PATH_TOL)
        bad = bad[uncertified(gaps[bad], primals[bad], tol)]
    worst = int(steps.max(initial=0))
    ok = np.ones(n, dtype=bool)
    if bad.size:
        with torch.no_grad():
            Xb = torch.from_numpy(_writable(X[bad])).to(torch.float64)
            G = torch.from_numpy(G64)
            b = (Xb @ D.T if cov is None
                 else torch.from_numpy(np.ascontiguousarray(cov[:, bad].T, dtype=np.float64)))
            codes, n_it, status = _active_set(
                b, G, (Xb * Xb).sum(1), alpha, positive=positive, max_iter=max_iter,
                tol=tol, init=torch.from_numpy(out[bad]), working_set=4, n_add=4)
        # (Rows the active set stalls on came from the homotopy already: no
        # second homotopy; they stay uncertified and are reported.)
        out[bad] = codes.numpy()
        ok[bad] = status.numpy() == _CERTIFIED
        worst = max(worst, n_it)
    return out, worst, ok


@limit_threads
@validate_params(
    {
        "X": ["array-like"],
        "dictionary": ["array-like"],
        "gram": ["array-like", None],
        "cov": ["array-like", None],
        "algorithm": [StrOptions({"lasso_lars", "lasso_cd", "lars", "omp", "threshold"})],
        "n_nonzero_coefs": [Interval(Integral, 1, None, closed="left"), None],
        "alpha": [Interval(Real, 0, None, closed="left"), None],
        "copy_cov": ["boolean"],
        "init": ["array-like", None],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_jobs": [Integral, None],
        "check_input": ["boolean"],
        "verbose": ["verbose"],
        "positive": ["boolean"],
        "tol": [Interval(Real, 0, None, closed="left")],
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
    gram=None,
    cov=None,
    algorithm: str = "lasso_lars",
    n_nonzero_coefs: int | None = None,
    alpha: float | None = None,
    copy_cov: bool = True,
    init=None,
    max_iter: int = 1000,
    n_jobs: int | None = None,
    check_input: bool = True,
    verbose: int = 0,
    positive: bool = False,
    tol: float = 1e-4,
    device: str | torch.device = "cpu",
    batch_size: int | None = None,
    return_n_iter: bool = False,
):
    """Sparse coding: solve a Lasso problem for every sample, on CPU or GPU.

    A drop-in for :func:`sklearn.decomposition.sparse_encode`: the same
    signature, defaults and output (shape and dtype), plus four keyword-only
    arguments of its own (``tol``, ``device``, ``batch_size``,
    ``return_n_iter``). With ``algorithm="lasso_lars"`` (the default) or
    ``"lasso_cd"``, each row ``x`` of ``X`` is encoded as the code ``c``
    minimising::

        0.5 * ||x - c @ dictionary||_2^2 + alpha * ||c||_1

    exactly scikit-learn's problem for both algorithms and the same ``alpha``
    (scikit-learn divides ``alpha`` by ``n_features`` internally because its
    Lasso averages the squared error over features; the optimum is the same).
    Both names run the solvers below: they are two ways to the same optimum.

    The other algorithms (``"lars"``, ``"omp"``, ``"threshold"``), and
    ``alpha=0`` (unpenalised least squares: not a Lasso, no unique solution
    for an overcomplete dictionary, and no duality-gap certificate), are
    handed to scikit-learn's own ``sparse_encode`` with every argument as
    given, so that replacing the import changes nothing for them either;
    ``device`` must then be ``"cpu"`` and ``return_n_iter`` False.

    **What is guaranteed.** Every returned row is certified: its duality gap
    on the full dictionary (computed in float64 by the solver that returned
    it, the dual point being the residual scaled into the dual feasible set)
    is at most ``tol`` times its objective, so its objective is within that
    relative distance of the optimum. A row that cannot be certified within
    ``max_iter`` is returned as it stands and counted in a
    :class:`~sklearn.exceptions.ConvergenceWarning` (one warning per call,
    giving the number of such rows). The solvers work in float64 whatever
    the input dtype, so float32 input is solved as the exact float32 numbers
    it holds. One product may be rounded: on CPU, for float32 ``X`` and
    dictionary, ``X D^T`` is computed in float32 (half the time); each code
    is then computed from exact products on its support, and its gap is an
    upper bound of the exact one (every correlation off the support widened
    by float32's worst-case rounding bound of its dot product); a row whose
    margin is thinner than that bound is solved again from float64 products.
    For float32 output the
    certificate is that of the float64 codes before rounding: rounding keeps
    every sign and zero, so the objective moves only at second order, but a
    gap recomputed from the rounded codes' own residual (a dual point that
    moves at first order) may exceed ``tol`` when ``alpha`` is small.

    Two solvers of the Gram-matrix form share that certificate:

    - on CPU: the Lasso homotopy (LARS-Lasso) from zero, compiled per sample
      with numba and spread over the threads; it follows each sample's
      solution path, touching only the active atoms' Gram columns. A warm
      start (``init``) is checked first (one product per chunk of rows): the
      rows it already solves to ``tol`` come back as given, with 0
      iterations; the homotopy solves the others from zero, being faster on
      CPU than the active set from the warm start;
    - on GPU: a batched active-set (feature-sign) method, from ``init`` when
      given, the same tensor code on any device: each pass adds the atoms
      that most violate the optimality conditions, takes exact Newton steps
      on the supports and drops atoms whose sign flips.

    Each finishes the other's rows: a row the homotopy does not certify
    continues in the active-set solver from the homotopy's code; a row on
    which the active set stops making progress (an atom that must join lies
    in the span of the support, as happens on overcomplete dictionaries with
    a small ``alpha``) is solved again by the homotopy from zero, on CPU.
    See :func:`skdeepsparse.solvers.lasso_gram`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data to encode.
    dictionary : array-like of shape (n_components, n_features)
        The dictionary atoms, one per row (as ``components_`` in scikit-learn).
    gram : array-like of shape (n_components, n_components), default=None
        Precomputed Gram matrix ``dictionary @ dictionary.T``.
    cov : array-like of shape (n_components, n_samples), default=None
        Precomputed ``dictionary @ X.T``.
    algorithm : {"lasso_lars", "lasso_cd", "lars", "omp", "threshold"}, \
            default="lasso_lars"
        ``"lasso_lars"`` and ``"lasso_cd"``: the Lasso above, by this
        module's solvers. The others: scikit-learn's implementation.
    n_nonzero_coefs : int, default=None
        Only for ``"lars"`` and ``"omp"`` (passed to scikit-learn); ignored
        by the Lasso, as in scikit-learn.
    alpha : float, default=None
        The L1 penalty weight (the threshold for ``"threshold"``, the target
        residual for ``"omp"``). ``None`` means 1.
    copy_cov : bool, default=True
        Whether ``cov`` may be overwritten (scikit-learn's algorithms only;
        the Lasso never writes to it).
    init : array-like of shape (n_samples, n_components), default=None
        Warm start codes, for both Lasso algorithms (scikit-learn uses them
        for ``"lasso_cd"`` only; the solution, hence the result up to
        ``tol``, is the same). On CPU the rows whose ``init`` is certified
        are returned as given; on GPU its support and signs seed the active
        sets.
    max_iter : int, default=1000
        Maximum number of iterations per sample and solver: path segments of
        the homotopy (one per atom joining or leaving the support), passes of
        the active-set solver. ``0`` returns ``init`` (zeros without it),
        warning about the rows it does not certify.
    n_jobs : int, default=None
        Number of threads. ``None``: the thread count in effect (torch's,
        within the limit of :func:`skdeepsparse.set_config`), where
        scikit-learn would use one; ``-1``: all CPUs. The result does not
        depend on it.
    check_input : bool, default=True
        If False, ``X`` and ``dictionary`` are used as given (they must then be
        float arrays of matching width).
    verbose : int, default=0
        Above 0, print one line per call: rows, iterations, uncertified rows.
    positive : bool, default=False
        Constrain codes to be non-negative.
    tol : float, default=1e-4
        Per-sample stopping tolerance on the relative duality gap
        ``(primal - dual) / primal`` (keyword-only; not in scikit-learn).
    device : str or torch.device, default="cpu"
        Where to compute: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``.
    batch_size : int, default=None
        Samples per solver batch (bounds memory: the active-set solver keeps
        one float64 ``s x s`` matrix per sample, ``s`` the largest support in
        the batch); ``None`` uses 4096 (256 rows per task for the homotopy).
    return_n_iter : bool, default=False
        Also return the largest number of iterations one sample took.

    Returns
    -------
    code : ndarray of shape (n_samples, n_components)
        The sparse codes, in the dtype of ``dictionary`` (as scikit-learn's
        default algorithm; computed in float64 if either input is float64).
        For a dask array ``X``, a lazy dask array with ``X``'s row chunks:
        each chunk is encoded where it lives (``map_blocks``; ``cov`` must be
        None and ``return_n_iter`` False, ``init`` may be a dask array).
    n_iter : int
        The largest number of iterations one sample took (see ``max_iter``).
        Only if ``return_n_iter`` is True.

    Warns
    -----
    ConvergenceWarning
        When some rows are returned with a duality gap above ``tol`` times
        their objective (``max_iter`` too small); the message counts them.

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
    for name, value in (("max_iter", max_iter), ("batch_size", batch_size),
                        ("n_jobs", n_jobs), ("n_nonzero_coefs", n_nonzero_coefs)):
        if isinstance(value, (bool, np.bool_)):
            raise ValueError(f"The '{name}' parameter of sparse_encode must be an int, "
                             f"not the boolean {value!r}.")
    if n_jobs == 0:
        raise ValueError("The 'n_jobs' parameter of sparse_encode must not be 0 "
                         "(None, a positive count or -1 for all CPUs).")
    if is_dask_array(X):  # lazy: each chunk of rows encoded where it lives
        return sparse_encode_dask(
            sparse_encode, X, dictionary, gram=gram, cov=cov, algorithm=algorithm,
            n_nonzero_coefs=n_nonzero_coefs, alpha=alpha, copy_cov=copy_cov, init=init,
            max_iter=max_iter, n_jobs=n_jobs, check_input=check_input, verbose=verbose,
            positive=positive, tol=tol, device=device, batch_size=batch_size,
            return_n_iter=return_n_iter)
    alpha = 1.0 if alpha is None else float(alpha)
    if algorithm not in _LASSO or alpha == 0:
        if str(device) != "cpu" or return_n_iter:
            raise ValueError(
                "device and return_n_iter apply to the Lasso (algorithm='lasso_lars' or "
                f"'lasso_cd' with alpha > 0); algorithm={algorithm!r} with alpha={alpha} is "
                "scikit-learn's own implementation, on CPU.")
        return _sk_sparse_encode(
            X, dictionary, gram=gram, cov=cov, algorithm=algorithm,
            n_nonzero_coefs=n_nonzero_coefs, alpha=alpha, copy_cov=copy_cov, init=init,
            max_iter=max_iter, n_jobs=n_jobs, check_input=check_input, verbose=verbose,
            positive=positive)
    if check_input:
        dictionary = check_array(dictionary, dtype=[np.float64, np.float32])
        X = check_array(X, dtype=[np.float64, np.float32])
    else:
        X, dictionary = np.asarray(X), np.asarray(dictionary)
    if dictionary.ndim != 2 or X.ndim != 2 or dictionary.shape[1] != X.shape[1]:
        raise ValueError(
            f"dictionary has shape {dictionary.shape} and X {X.shape}: the dictionary must "
            "have shape (n_components, n_features) with X's n_features.")
    # scikit-learn's default algorithm returns the dictionary's dtype.
    out_dtype = dictionary.dtype if dictionary.dtype == np.float32 else np.dtype(np.float64)
    dtype = np.result_type(X.dtype, dictionary.dtype, np.float32)
    X, dictionary = X.astype(dtype, copy=False), dictionary.astype(dtype, copy=False)
    n, k = X.shape[0], dictionary.shape[0]
    if init is not None:
        init = check_array(init, dtype=dtype)
        if init.shape != (n, k):
            raise ValueError(f"init must have shape {(n, k)}; got {init.shape}.")
    if gram is not None:
        gram = check_array(gram, dtype=np.float64)
        if gram.shape != (k, k):
            raise ValueError(f"gram must have shape {(k, k)} (n_components, n_components); "
                             f"got {gram.shape}.")
    if cov is not None:
        cov = check_array(cov, dtype=np.float64)
        if cov.shape != (k, n):
            raise ValueError(f"cov must have shape {(k, n)} (n_components, n_samples); "
                             f"got {cov.shape}.")
    dev = resolve_device(device)
    if max_iter == 0:
        out = np.zeros((n, k), dtype=dtype) if init is None else init.copy()
        if positive:
            np.maximum(out, 0, out=out)
        ok = _relative_gaps(X, out, dictionary, alpha, positive) <= tol
        worst = 0
    else:
        before = torch.get_num_threads()
        if n_jobs is not None:  # (torch's setting is process-wide: touched only if asked)
            torch.set_num_threads(effective_n_jobs(n_jobs))
        try:
            out, worst, ok = _encode(X, dictionary, alpha, positive, max_iter, tol, init, dev,
                                     batch_size, gram, cov)
        finally:
            if n_jobs is not None:
                torch.set_num_threads(before)
    n_bad = int(n - ok.sum())
    if verbose:
        print(f"[sparse_encode] {n} rows, {k} atoms, algorithm={algorithm!r}: at most "
              f"{worst} iterations per row, {n_bad} uncertified.")
    if n_bad:
        warnings.warn(
            f"sparse_encode: {n_bad} of {n} rows are not certified: their duality gap exceeds "
            f"tol={tol} times their objective after max_iter={max_iter} iterations. "
            "Increase max_iter.", ConvergenceWarning, stacklevel=4)
    out = out.astype(out_dtype, copy=False)
    return (out, worst) if return_n_iter else out


def _encode(X, dictionary, alpha, positive, max_iter, tol, init, dev, batch_size, gram, cov):
    """The Lasso codes of every row: ``(codes, n_iter, certified)``; on a GPU, the
    active set (by batches of ``batch_size`` rows)."""
    n, k = X.shape[0], dictionary.shape[0]
    if dev.type == "cpu":
        # Warm starts too: on CPU the homotopy from zero beats the batched active
        # set from the warm start (2.5-13x on the benchmark's problems, one
        # thread; the latter's setup alone, the inverse Gram matrices of every
        # warm support padded to the largest, costs more), so init only spares
        # the rows it already solves (see _encode_homotopy).
        return _encode_homotopy(X, dictionary, alpha, positive, max_iter, tol,
                                min(batch_size or 256, 256), gram, cov, init)
    tdt = torch.float64  # the certificate's products, as in _encode_homotopy
    D = torch.tensor(_writable(dictionary), dtype=tdt, device=dev)
    G = D @ D.T if gram is None else torch.tensor(gram, dtype=tdt, device=dev)
    batch_size = batch_size or 4096
    out = np.empty((n, k), dtype=X.dtype)
    ok = np.empty(n, dtype=bool)
    worst = 0
    with torch.no_grad():
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            # as_tensor: no copy on CPU (X is only read).
            Xb = torch.as_tensor(_writable(X[start:stop]), dtype=tdt, device=dev)
            b = (Xb @ D.T if cov is None
                 else torch.as_tensor(_writable(cov[:, start:stop].T), device=dev))
            c0 = None
            if init is not None:
                c0 = torch.tensor(_writable(init[start:stop]), dtype=tdt, device=dev)
            codes, n_it, ok[start:stop] = _lasso_gram_certified(
                b, G, (Xb * Xb).sum(1), alpha, positive=positive, max_iter=max_iter, tol=tol,
                init=c0)
            out[start:stop] = codes.cpu().numpy()
            worst = max(worst, n_it)
    return out, worst, ok
