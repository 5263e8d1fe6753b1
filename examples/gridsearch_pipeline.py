"""Tune a sparse coder inside a classification pipeline with GridSearchCV.

Searches the sparsity weight and the number of latents of a
VarianceRegDictionaryLearner in front of a LogisticRegression, on the embedded
8x8 digits (no data files needed), with 2 parallel workers, and reports the
best setting and its held-out accuracy.

    python examples/gridsearch_pipeline.py           # ~2 min on 2 CPU cores
    python examples/gridsearch_pipeline.py --quick   # ~20 s
"""

from __future__ import annotations

import argparse

from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdeepsparse import VarianceRegDictionaryLearner
from skdeepsparse.datasets import load_digits_data


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    d = load_digits_data()
    X_tr, X_te, y_tr, y_te = train_test_split(d.data, d.target, test_size=0.3, random_state=0)
    pipe = make_pipeline(
        VarianceRegDictionaryLearner(max_epochs=5 if args.quick else 30, batch_size=100,
                                     decoder_learning_rate=3e-3, learning_rate=1e-3, device="cpu",
                                     random_state=0),
        StandardScaler(),
        LogisticRegression(max_iter=2000),
    )
    grid = {
        "varianceregdictionarylearner__sparsity_reg": [0.01, 0.05] if args.quick
        else [0.005, 0.01, 0.02, 0.05],
        "varianceregdictionarylearner__n_components": [32] if args.quick else [64, 128],
    }
    search = GridSearchCV(pipe, grid, cv=3, n_jobs=2).fit(X_tr, y_tr)
    acc = search.score(X_te, y_te)
    print(f"best parameters: {search.best_params_}")
    print(f"cross-validated accuracy {search.best_score_:.3f}; held-out accuracy {acc:.3f}")
    return search, acc


if __name__ == "__main__":
    main()
