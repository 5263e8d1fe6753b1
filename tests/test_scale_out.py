"""GridSearchCV over a pipeline on joblib's dask backend (a local dask cluster)."""

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from skdeepsparse import VarianceRegDictionaryLearner
from skdeepsparse.datasets import load_digits_data


@pytest.mark.slow
def test_gridsearch_on_dask_local_cluster():
    distributed = pytest.importorskip("distributed")
    import joblib

    d = load_digits_data()
    X, y = d.data[:400], d.target[:400]
    pipe = make_pipeline(
        VarianceRegDictionaryLearner(n_components=16, max_epochs=2, device="cpu",
                                     random_state=0),
        LogisticRegression(max_iter=500),
    )
    grid = {"varianceregdictionarylearner__sparsity_reg": [0.01, 0.05]}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        with joblib.parallel_backend("dask"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            search = GridSearchCV(pipe, grid, cv=2).fit(X, y)
        workers = client.scheduler_info()["workers"]
    assert len(workers) == 2
    # Same results as the default backend: seeds are local, so the fits are identical.
    local = GridSearchCV(pipe, grid, cv=2, n_jobs=2).fit(X, y)
    np.testing.assert_allclose(search.cv_results_["mean_test_score"],
                               local.cv_results_["mean_test_score"])
