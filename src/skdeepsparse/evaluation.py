"""Evaluation protocols: the low-data linear probes and denoising."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from numbers import Integral, Real

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state

from .metrics import psnr

__all__ = [
    "sample_per_class",
    "first_per_class",
    "linear_probe",
    "low_data_probe",
    "paper_linear_probe",
    "denoising_scores",
]


def sample_per_class(y, n_per_class: int, random_state=None) -> np.ndarray:
    """Indices of ``n_per_class`` random samples of every class of ``y``.

    Raises
    ------
    ValueError
        If a class has fewer than ``n_per_class`` samples.
    """
    rng = check_random_state(random_state)
    return np.concatenate([rng.choice(pool, n_per_class, replace=False)
                           for pool in _class_pools(y, n_per_class)])


def _class_pools(y, n_per_class: int):
    """The indices of each class of ``y`` (sorted labels), each at least ``n_per_class`` long."""
    y = np.asarray(y)
    for cls in np.unique(y):
        pool = np.flatnonzero(y == cls)
        if len(pool) < n_per_class:
            raise ValueError(
                f"class {cls!r} has {len(pool)} samples; n_per_class={n_per_class} is too many."
            )
        yield pool


def linear_probe(
    Z_train,
    y_train,
    Z_test,
    y_test,
    *,
    n_per_class: Sequence[int] = (1, 5, 10, 100),
    n_seeds: int = 5,
    random_state=0,
    C: float = 1.0,
    max_iter: int = 2000,
    standardize: bool = True,
) -> dict[int, dict]:
    """Low-data classification accuracy of a linear model on fixed features.

    For each ``k`` in ``n_per_class`` and each of ``n_seeds`` seeds, ``k``
    labelled samples per class are drawn from the training features, a
    ``Pipeline(StandardScaler, LogisticRegression)`` (or the logistic regression
    alone, ``standardize=False``) is fitted on them, and its accuracy is
    measured on the full test set.

    Parameters
    ----------
    Z_train, Z_test : array-like of shape (n_samples, n_features)
        Features (codes, or raw pixels as the baseline).
    y_train, y_test : array-like of shape (n_samples,)
        Labels.
    n_per_class : sequence of int, default=(1, 5, 10, 100)
    n_seeds : int, default=5
    random_state : int, default=0
        Seed of the first draw; draw ``s`` uses ``random_state + s``.
    C : float, default=1.0
        Inverse L2 strength of the logistic regression.
    max_iter : int, default=2000
    standardize : bool, default=True
        Put a ``StandardScaler`` (fitted on the ``k`` labelled samples per class)
        before the logistic regression. False fits the features as given; scale
        them first when comparing feature sets at one ``C``.

    Returns
    -------
    dict
        ``{k: {"mean": float, "std": float, "scores": list}}``.
    """
    Z_train = np.asarray(Z_train)
    Z_test = np.asarray(Z_test)
    y_train = np.asarray(y_train)
    y_test = np.asarray(y_test)
    results = {}
    for k in n_per_class:
        scores = []
        for s in range(n_seeds):
            idx = sample_per_class(y_train, k, random_state + s)
            clf = LogisticRegression(C=C, max_iter=max_iter)
            if standardize:
                clf = make_pipeline(StandardScaler(), clf)
            clf.fit(Z_train[idx], y_train[idx])
            scores.append(float(clf.score(Z_test, y_test)))
        results[int(k)] = {
            "mean": float(np.mean(scores)),
            "std": float(np.std(scores)),
            "scores": scores,
        }
    return results


def low_data_probe(transformer, X_train, y_train, X_test, y_test, **kwargs) -> dict[int, dict]:
    """:func:`linear_probe` on the codes of a fitted ``transformer``.

    ``transformer=None`` probes the raw features (the pixel baseline).
    """
    if transformer is None:
        return linear_probe(X_train, y_train, X_test, y_test, **kwargs)
    return linear_probe(
        transformer.transform(X_train), y_train, transformer.transform(X_test), y_test, **kwargs
    )


def denoising_scores(
    estimator, X_clean, noise_std: float, *, random_state=0, clip: bool = False
) -> dict[str, float]:
    """Denoise by encoding and decoding noisy inputs; PSNR against the clean images.

    Gaussian noise of std ``noise_std`` is added in the data's units (pixels in
    [0, 1]), the noisy images go through ``transform`` then
    ``inverse_transform`` (``codes @ components_`` where there is none), and
    both the noisy input and the reconstruction are
    compared with the *clean* images.

    Returns
    -------
    dict
        ``psnr_noisy``, ``psnr_denoised`` (dB).
    """
    X_clean = np.asarray(X_clean)
    rng = check_random_state(random_state)
    noisy = (X_clean + noise_std * rng.standard_normal(X_clean.shape)).astype(X_clean.dtype)
    codes = estimator.transform(noisy)
    if hasattr(estimator, "inverse_transform"):
        recon = estimator.inverse_transform(codes)
    else:  # scikit-learn < 1.7: dictionary learners have no inverse_transform yet
        recon = codes @ estimator.components_
    if clip:
        recon = np.clip(recon, 0.0, 1.0)
    return {"psnr_noisy": psnr(X_clean, noisy), "psnr_denoised": psnr(X_clean, recon)}


def first_per_class(y, n_per_class: int) -> np.ndarray:
    """Indices of the *first* ``n_per_class`` samples of every class of ``y``.

    The selection of the low-data classification protocol of Evtimova & LeCun
    (TMLR 2022; ``../shared/specs/variance_reg_and_spike_slab.md`` section 1.7):
    no randomness, the samples are taken in dataset order.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels, in dataset order.
    n_per_class : int
        Samples kept per class (>= 1).

    Returns
    -------
    ndarray of int of shape (n_classes * n_per_class,)
        Indices into ``y``, in increasing (dataset) order.

    Raises
    ------
    ValueError
        If ``n_per_class`` is not a positive integer, ``y`` is not 1-D, or a
        class has fewer than ``n_per_class`` samples.

    Examples
    --------
    >>> first_per_class([1, 0, 1, 1, 0], 2)
    array([0, 1, 2, 4])
    """
    _check_n_per_class(n_per_class, "n_per_class")
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D (labels); got an array of shape {y.shape}.")
    return np.sort(np.concatenate([pool[:n_per_class] for pool in _class_pools(y, n_per_class)]))


def _check_n_per_class(k, name: str) -> None:
    if isinstance(k, bool) or not isinstance(k, Integral) or k < 1:
        raise ValueError(f"{name} must be a positive integer; got {k!r}.")


def _check_features(Z, y, name: str, n_features: int | None = None):
    Z = np.asarray(Z)
    y = np.asarray(y)
    if Z.ndim != 2 or Z.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array; got shape {Z.shape}.")
    if not np.issubdtype(Z.dtype, np.number):
        raise ValueError(f"{name} must be numeric; got dtype {Z.dtype}.")
    if not np.all(np.isfinite(Z)):
        raise ValueError(f"{name} contains NaN or infinity.")
    if y.ndim != 1 or len(y) != len(Z):
        raise ValueError(
            f"the labels of {name} must be 1-D with {len(Z)} entries; got shape {y.shape}."
        )
    if n_features is not None and Z.shape[1] != n_features:
        raise ValueError(
            f"{name} has {Z.shape[1]} features; Z_train has {n_features}."
        )
    return Z, y


def _check_grid(values, name: str) -> tuple:
    values = tuple(np.atleast_1d(values).tolist()) if not isinstance(values, tuple) else values
    if not values or any(
        isinstance(v, bool) or not isinstance(v, Real) or not np.isfinite(v) or v < 0
        for v in values
    ):
        raise ValueError(f"{name} must be a non-empty sequence of floats >= 0; got {values!r}.")
    return tuple(float(v) for v in values)


def paper_linear_probe(
    Z_train,
    y_train,
    Z_val,
    y_val,
    Z_test,
    y_test,
    *,
    n_per_class: Sequence[int] = (1, 2, 5, 10, 20, 50, 100),
    weight_decay: Sequence[float] = (0.0,),
    l1_penalty: Sequence[float] = (0.0,),
    learning_rate: float = 1e-3,
    batch_size: int = 250,
    max_epochs: int = 100,
    selection: str = "loss",
    random_state: int | None = 0,
) -> dict[int, dict]:
    """Few-label accuracy of a linear layer, with the protocol of Evtimova & LeCun.

    The low-data classification protocol of the paper (TMLR 2022; spec
    ``../shared/specs/variance_reg_and_spike_slab.md`` section 1.7, read from
    the authors' ``eval_classification.py``). For each ``k`` in
    ``n_per_class``:

    1. keep the *first* ``k`` training samples of every class, in dataset
       order (:func:`first_per_class`; no random draw);
    2. for every pair (``weight_decay``, ``l1_penalty``) of the grids, train a
       linear layer (``n_features -> n_classes`` with bias, cross-entropy) with
       Adam (learning rate ``learning_rate``, coupled L2 ``weight_decay`` on
       weight and bias, an explicit ``l1_penalty * sum|W|`` on the weight),
       mini-batches of ``batch_size`` reshuffled every epoch, for
       ``max_epochs`` epochs;
    3. after every epoch, compute the cross-entropy (``selection="loss"``,
       the paper's rule) or the accuracy (``"accuracy"``) on the validation
       set; keep the (candidate, epoch) with the best value (a deep copy of
       the weights: the reference code keeps a reference, so it reports the
       last epoch, a bug not reproduced here); ties go to the earlier
       candidate and epoch;
    4. report that layer's top-1 accuracy on the test set.

    The features are used as given (the paper feeds raw encoder codes, and
    globally standardised pixels for its pixel baseline). Compare
    :func:`linear_probe`: random draws, standardised features and a
    ``LogisticRegression`` fitted to convergence.

    Parameters
    ----------
    Z_train, Z_val, Z_test : array-like of shape (n_samples, n_features)
        Features of the training pool (its order matters), the validation
        set and the test set.
    y_train, y_val, y_test : array-like of shape (n_samples,)
        Their labels. Every validation and test label must occur in
        ``y_train``.
    n_per_class : sequence of int, default=(1, 2, 5, 10, 20, 50, 100)
        The values of ``k``, labelled samples per class (the paper's default
        is 100; the grid it plots is not verified in the spec).
    weight_decay : sequence of float, default=(0.0,)
        Adam weight decays to choose from on the validation set.
    l1_penalty : sequence of float, default=(0.0,)
        L1 weights on the layer's weight matrix to choose from.
    learning_rate : float, default=1e-3
    batch_size : int, default=250
    max_epochs : int, default=100
    selection : {"loss", "accuracy"}, default="loss"
        The validation criterion (lower loss or higher accuracy).
    random_state : int or None, default=0
        Seeds the initialisation (PyTorch's default ``nn.Linear`` law,
        uniform in ``±1/sqrt(n_features)``) and the shuffling. Every
        candidate and every ``k`` starts from the same seed, so the result is
        a deterministic function of the inputs for an integer seed.

    Returns
    -------
    dict
        ``{k: {"accuracy", "val_loss", "val_accuracy", "weight_decay",
        "l1_penalty", "epoch", "candidates"}}``: the test accuracy and the
        validation scores of the selected layer, its hyperparameters and
        epoch (1-based), and for every candidate its best epoch and
        validation scores there (``candidates``, a list of dicts).

    Raises
    ------
    ValueError
        On a bad parameter (named in the message), inconsistent shapes,
        non-finite features, a validation or test label unseen in training,
        or a class with fewer than ``k`` training samples.
    """
    import torch
    from torch.nn import functional as F

    for name, v in (("batch_size", batch_size), ("max_epochs", max_epochs)):
        _check_n_per_class(v, name)
    if isinstance(n_per_class, Integral):
        n_per_class = (n_per_class,)
    n_per_class = tuple(n_per_class)
    if not n_per_class:
        raise ValueError("n_per_class must hold at least one positive integer; got ().")
    for k in n_per_class:
        _check_n_per_class(k, "n_per_class")
    weight_decay = _check_grid(weight_decay, "weight_decay")
    l1_penalty = _check_grid(l1_penalty, "l1_penalty")
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, Real) or not (
        np.isfinite(learning_rate) and learning_rate > 0
    ):
        raise ValueError(f"learning_rate must be a float > 0; got {learning_rate!r}.")
    if selection not in ("loss", "accuracy"):
        raise ValueError(f"selection must be 'loss' or 'accuracy'; got {selection!r}.")
    Z_train, y_train = _check_features(Z_train, y_train, "Z_train")
    Z_val, y_val = _check_features(Z_val, y_val, "Z_val", Z_train.shape[1])
    Z_test, y_test = _check_features(Z_test, y_test, "Z_test", Z_train.shape[1])
    classes = np.unique(y_train)
    for name, y in (("y_val", y_val), ("y_test", y_test)):
        unseen = np.setdiff1d(np.unique(y), classes)
        if unseen.size:
            raise ValueError(f"{name} has labels absent from y_train: {unseen.tolist()}.")
    seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))

    def tensor(Z):
        return torch.as_tensor(np.asarray(Z, dtype=np.float32))

    def labels(y):
        return torch.as_tensor(np.searchsorted(classes, y), dtype=torch.long)

    Zv, yv, Zt, yt = tensor(Z_val), labels(y_val), tensor(Z_test), labels(y_test)
    n_features, n_classes = Z_train.shape[1], len(classes)

    def val_scores(W, b):
        with torch.no_grad():
            logits = Zv @ W.T + b
            return (float(F.cross_entropy(logits, yv)),
                    float((logits.argmax(1) == yv).float().mean()))

    def better(a, b):  # is score a strictly better than score b?
        return a[0] < b[0] if selection == "loss" else a[1] > b[1]

    results = {}
    for k in n_per_class:
        idx = first_per_class(y_train, k)
        Zk, yk = tensor(Z_train[idx]), labels(y_train[idx])
        best, candidates = None, []
        for wd in weight_decay:
            for l1 in l1_penalty:
                gen = torch.Generator().manual_seed(seed)
                bound = 1.0 / np.sqrt(n_features)
                W = (torch.rand(n_classes, n_features, generator=gen) * 2 - 1) * bound
                b = (torch.rand(n_classes, generator=gen) * 2 - 1) * bound
                W.requires_grad_(True)
                b.requires_grad_(True)
                opt = torch.optim.Adam([W, b], lr=learning_rate, weight_decay=wd)
                cand = None
                for epoch in range(1, max_epochs + 1):
                    for batch in torch.randperm(len(yk), generator=gen).split(batch_size):
                        loss = F.cross_entropy(Zk[batch] @ W.T + b, yk[batch])
                        if l1 > 0:
                            loss = loss + l1 * W.abs().sum()
                        opt.zero_grad()
                        loss.backward()
                        opt.step()
                    score = val_scores(W, b)
                    if cand is None or better(score, cand["score"]):
                        cand = {"score": score, "epoch": epoch,
                                "state": (W.detach().clone(), b.detach().clone())}
                candidates.append({"weight_decay": wd, "l1_penalty": l1,
                                   "epoch": cand["epoch"], "val_loss": cand["score"][0],
                                   "val_accuracy": cand["score"][1]})
                if best is None or better(cand["score"], best[0]["score"]):
                    best = (cand, wd, l1)
        cand, wd, l1 = best
        W, b = cand["state"]
        with torch.no_grad():
            acc = float(((Zt @ W.T + b).argmax(1) == yt).float().mean())
        results[int(k)] = {
            "accuracy": acc,
            "val_loss": cand["score"][0],
            "val_accuracy": cand["score"][1],
            "weight_decay": wd,
            "l1_penalty": l1,
            "epoch": cand["epoch"],
            "candidates": copy.deepcopy(candidates),
        }
    return results
