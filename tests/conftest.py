"""Shared fixtures: where the real datasets are, and small cached subsets."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest


def _data_home() -> Path:
    # The library's search order (skdeepsparse.datasets): $SKDEEPSPARSE_DATA, then
    # ../shared/data beside the checkout (where CI puts it), then ~/skdeepsparse_data.
    from skdeepsparse.datasets import get_data_home

    return get_data_home()


@pytest.fixture(scope="session")
def data_home() -> Path:
    """Folder holding mnist/, fashion_mnist/, natural_images/.

    Missing data skips the test on a developer machine, but fails it when
    SKDEEPSPARSE_REQUIRE_DATA=1 (set by .ci/run), so CI cannot pass by skipping.
    """
    home = _data_home()
    if not (home / "mnist").is_dir():
        msg = f"real datasets not found in {home} (set SKDEEPSPARSE_DATA)"
        if os.environ.get("SKDEEPSPARSE_REQUIRE_DATA") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return home


@pytest.fixture(scope="session")
def mnist_small(data_home):
    """3,000 MNIST training images and 1,000 test images, float32 in [0, 1]."""
    from skdeepsparse.datasets import load_mnist

    train = load_mnist("train", data_home=data_home, n_samples=3000)
    test = load_mnist("test", data_home=data_home, n_samples=1000)
    return train.data, train.target, test.data, test.target


@pytest.fixture(scope="session")
def fashion_small(data_home):
    """3,000 Fashion-MNIST training and 1,000 test images, float32 in [0, 1]."""
    from skdeepsparse.datasets import load_fashion_mnist

    train = load_fashion_mnist("train", data_home=data_home, n_samples=3000)
    test = load_fashion_mnist("test", data_home=data_home, n_samples=1000)
    return train.data, train.target, test.data, test.target


@pytest.fixture
def rng():
    return np.random.RandomState(0)
