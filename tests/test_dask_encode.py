"""sparse_encode on a dask array (issue #31 item 4): chunks encoded by map_blocks.

Checked against the same function on the NumPy array (row-wise problem, so the
chunked result must be the same rows), and against scikit-learn's own
``sparse_encode`` for one of its algorithms.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import sparse_encode as sk_sparse_encode

from skdeepsparse import sparse_encode

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")


@pytest.fixture
def problem():
    rng = np.random.RandomState(0)
    D = rng.randn(12, 20)
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    return rng.randn(50, 20), D


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dask_matches_numpy(problem, dtype):
    X, D = (a.astype(dtype) for a in problem)
    Xd = da.from_array(X, chunks=(13, 7))  # column chunks too: rows are joined first
    with dask.config.set(scheduler="synchronous"):
        lazy = sparse_encode(Xd, D, alpha=0.3)
        assert isinstance(lazy, da.Array)
        assert lazy.chunks[0] == Xd.chunks[0]
        got = lazy.compute()
    want = sparse_encode(X, D, alpha=0.3)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_dask_init_and_sklearn_algorithm(problem):
    X, D = problem
    Xd = da.from_array(X, chunks=(20, 20))
    init = sparse_encode(X, D, alpha=0.3)
    with dask.config.set(scheduler="synchronous"):
        warm = sparse_encode(Xd, D, alpha=0.3, init=da.from_array(init, chunks=(7, 12)))
        np.testing.assert_allclose(warm.compute(), init, rtol=1e-7, atol=1e-10)
        omp = sparse_encode(Xd, D, algorithm="omp", n_nonzero_coefs=3).compute()
    np.testing.assert_allclose(omp, sk_sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=3))


def test_dask_refuses_row_dependent_arguments(problem):
    X, D = problem
    Xd = da.from_array(X, chunks=(20, 20))
    with pytest.raises(ValueError, match="cov"):
        sparse_encode(Xd, D, cov=D @ X.T)
    with pytest.raises(ValueError, match="return_n_iter"):
        sparse_encode(Xd, D, return_n_iter=True)
