"""scikit-learn's estimator checks for VarianceRegDictionaryLearner.

The other estimators run the same ``parametrize_with_checks`` in their own test
files (test_svae.py, test_thresholded_vae.py, test_spike_slab.py,
test_preprocessing.py), with configurations sized for each model.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skdeepsparse import VarianceRegDictionaryLearner

# Small, fast configurations: the checks fit dozens of times on tiny data.
ESTIMATORS = [
    VarianceRegDictionaryLearner(
        n_components=4, max_epochs=3, max_inference_iter=20, device="cpu",
        random_state=0,
    ),
    VarianceRegDictionaryLearner(
        n_components=4, decoder="mlp", hidden_size=8, regularizer="column_norm",
        max_epochs=2, max_inference_iter=10, transform_method="fista", device="cpu",
        random_state=0,
    ),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
