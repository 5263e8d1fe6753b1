"""``sparse_encode`` on a dask array: each chunk of rows is encoded where it lives.

Sparse coding is row-wise (every sample's code depends on that sample and the
dictionary only), so a dask array is encoded by ``map_blocks`` over its chunks
of rows, with the dictionary (small) sent to every worker. The result is a
lazy dask array with the input's row chunks and one column chunk.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["is_dask_array", "sparse_encode_dask"]


def is_dask_array(X) -> bool:
    """Whether ``X`` is a dask array (checked without importing dask)."""
    return type(X).__module__.startswith("dask.array")


def sparse_encode_dask(sparse_encode, X, dictionary, *, cov=None, init=None,
                       return_n_iter=False, **kwargs):
    """Lazy ``sparse_encode`` of the dask array ``X``, chunk by chunk.

    ``sparse_encode`` is :func:`~skdeepsparse.sparse_encode` itself, passed in by
    its caller so that this module does not import the one that imports it.

    ``kwargs`` are the other arguments of ``sparse_encode``, applied to every
    chunk. ``cov`` (which depends on the rows) is refused; ``init`` may be an
    array or dask array of shape ``(n_samples, n_components)``, aligned with
    ``X``'s row chunks.
    """
    import dask.array as da

    if cov is not None:
        raise ValueError("sparse_encode: cov (dictionary @ X.T) cannot be given with a dask "
                         "array X; it is computed per chunk. Pass cov=None.")
    if return_n_iter:
        raise ValueError("sparse_encode: return_n_iter=True is not available for a dask "
                         "array X (the result is lazy); pass return_n_iter=False.")
    if X.ndim != 2:
        raise ValueError(f"sparse_encode: X must be 2-D; got a dask array of shape {X.shape}.")
    if is_dask_array(dictionary):
        dictionary = dictionary.compute()
    dictionary = np.asarray(dictionary)
    if dictionary.ndim != 2 or dictionary.shape[1] != X.shape[1]:
        raise ValueError(
            f"dictionary has shape {dictionary.shape} and X {X.shape}: the dictionary must "
            "have shape (n_components, n_features) with X's n_features.")
    k = dictionary.shape[0]
    X = X.rechunk({1: -1})  # whole rows in every chunk
    # The output dtype of this call's configuration, from one row of zeros.
    with warnings.catch_warnings():  # a zero row may make a solver warn: not the data's
        warnings.simplefilter("ignore")
        probe = sparse_encode(np.zeros((1, X.shape[1]), dtype=X.dtype), dictionary, **kwargs)

    def encode(block, init_block=None):
        if block.shape[0] == 0:
            return np.zeros((0, k), dtype=probe.dtype)
        return sparse_encode(block, dictionary, init=init_block, **kwargs)

    chunks = (X.chunks[0], (k,))
    if init is None:
        return X.map_blocks(encode, chunks=chunks, dtype=probe.dtype)
    init = da.asarray(init)
    if init.shape != (X.shape[0], k):
        raise ValueError(f"init must have shape {(X.shape[0], k)}; got {init.shape}.")
    init = init.rechunk((X.chunks[0], -1))
    return da.map_blocks(encode, X, init, chunks=chunks, dtype=probe.dtype)
