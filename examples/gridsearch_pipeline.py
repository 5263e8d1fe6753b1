"""
A sparse coder tuned inside a pipeline
======================================

Searches the sparsity weight and the number of latents of a
:class:`~skdeepsparse.VarianceRegDictionaryLearner` in front of a
:class:`~sklearn.linear_model.LogisticRegression` with
:class:`~sklearn.model_selection.GridSearchCV`, on scikit-learn's 8x8 digits
(no data files needed), with 2 parallel workers of one thread each, and
reports the best setting and its held-out accuracy.

Run time: about 3 min on 2 CPU cores, measured while the machine was shared
with other jobs (the exact time of the rendered run is at the bottom of the
page). ``SKDEEPSPARSE_EXAMPLE_SIZE=tiny`` runs a smoke version in seconds.
"""

import os

import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdeepsparse import VarianceRegDictionaryLearner
from skdeepsparse.datasets import load_digits_data

TINY = os.environ.get("SKDEEPSPARSE_EXAMPLE_SIZE") == "tiny"  # the tests' smoke run

d = load_digits_data()
X_tr, X_te, y_tr, y_te = train_test_split(d.data, d.target, test_size=0.3, random_state=0)
pipe = make_pipeline(
    VarianceRegDictionaryLearner(max_epochs=3 if TINY else 30, batch_size=100,
                                 decoder_learning_rate=3e-3, learning_rate=1e-3, device="cpu",
                                 random_state=0),
    StandardScaler(),
    LogisticRegression(max_iter=2000),
)
grid = {
    "varianceregdictionarylearner__sparsity_reg": [0.01, 0.05] if TINY
    else [0.005, 0.01, 0.02, 0.05],
    "varianceregdictionarylearner__n_components": [32] if TINY else [64, 128],
}

# %%
# Two workers on two cores: joblib's workers limit their threads to
# ``cpu_count // n_jobs`` (one each here), so the fits do not compete for the
# cores. ``verbose=1`` prints progress.
search = GridSearchCV(pipe, grid, cv=3, n_jobs=2, verbose=1).fit(X_tr, y_tr)
acc = search.score(X_te, y_te)
cols = [c for c in search.cv_results_ if c.startswith("param_")] + ["mean_test_score"]
print(pd.DataFrame(search.cv_results_)[cols].round(3).to_string(index=False))
print(f"best parameters: {search.best_params_}")
print(f"cross-validated accuracy {search.best_score_:.3f}; held-out accuracy {acc:.3f}")
