"""Dataset loaders: MNIST and Fashion-MNIST (IDX files) and embedded defaults.

The IDX loaders read the original gzip files from ``data_home`` (default: the
``SKDEEPSPARSE_DATA`` environment variable, then ``~/skdeepsparse_data``).
Nothing is downloaded: when the files are missing the error says where they
were looked for and which files are needed.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

__all__ = [
    "get_data_home",
    "load_mnist",
    "load_fashion_mnist",
    "load_digits_data",
]

_IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)


def get_data_home(data_home: str | os.PathLike | None = None) -> Path:
    """Folder holding the datasets.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Explicit folder. If None, ``$SKDEEPSPARSE_DATA``, then
        ``~/skdeepsparse_data``.

    Returns
    -------
    pathlib.Path
    """
    if data_home is None:
        data_home = os.environ.get("SKDEEPSPARSE_DATA", Path.home() / "skdeepsparse_data")
    return Path(data_home).expanduser()


def _read_idx(path: Path, magic: int, offset: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise ValueError(f"{path} is not an IDX file of the expected type (magic {found:#x}).")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset)


def _load_idx_dataset(name: str, subset: str, data_home, n_samples, dtype) -> Bunch:
    if subset not in _IDX_FILES:
        raise ValueError(f"subset must be 'train' or 'test'; got {subset!r}.")
    home = get_data_home(data_home)
    folder = home / name
    img_file, lab_file = (folder / f for f in _IDX_FILES[subset])
    missing = [p.name for p in (img_file, lab_file) if not p.exists()]
    if missing:
        raise FileNotFoundError(
            f"{name} files {missing} not found in {folder}. Put the original IDX gzip "
            f"files there, or pass data_home= (or set SKDEEPSPARSE_DATA) to the folder "
            f"that contains '{name}/'. skdeepsparse does not download data."
        )
    images = _read_idx(img_file, 0x803, 16).reshape(-1, 28 * 28)
    labels = _read_idx(lab_file, 0x801, 8).astype(np.int64)
    if n_samples is not None:
        images, labels = images[:n_samples], labels[:n_samples]
    X = images.astype(dtype) / np.asarray(255.0, dtype=dtype)
    return Bunch(data=X, target=labels, images_shape=(28, 28), name=name, subset=subset)


def load_mnist(subset="train", *, data_home=None, n_samples=None, dtype=np.float32) -> Bunch:
    """Load MNIST from its original IDX gzip files, pixels scaled to [0, 1].

    Parameters
    ----------
    subset : {"train", "test"}, default="train"
        60,000 training or 10,000 test images.
    data_home : str or path-like, default=None
        Folder that contains ``mnist/`` (see :func:`get_data_home`).
    n_samples : int, default=None
        Keep only the first ``n_samples`` images.
    dtype : numpy dtype, default=np.float32

    Returns
    -------
    Bunch
        ``data`` (n, 784), ``target`` (n,), ``images_shape`` (28, 28).
    """
    return _load_idx_dataset("mnist", subset, data_home, n_samples, dtype)


def load_fashion_mnist(
    subset="train", *, data_home=None, n_samples=None, dtype=np.float32
) -> Bunch:
    """Load Fashion-MNIST from its original IDX gzip files, pixels in [0, 1].

    Parameters
    ----------
    subset : {"train", "test"}, default="train"
    data_home : str or path-like, default=None
        Folder that contains ``fashion_mnist/``.
    n_samples : int, default=None
    dtype : numpy dtype, default=np.float32

    Returns
    -------
    Bunch
        ``data`` (n, 784), ``target`` (n,), ``images_shape`` (28, 28),
        ``target_names``.
    """
    bunch = _load_idx_dataset("fashion_mnist", subset, data_home, n_samples, dtype)
    bunch.target_names = FASHION_MNIST_CLASSES
    return bunch


def load_digits_data(dtype=np.float32) -> Bunch:
    """The embedded default: scikit-learn's 8x8 digits, pixels scaled to [0, 1].

    Needs no files. 1,797 images, 10 classes.

    Returns
    -------
    Bunch
        ``data`` (1797, 64), ``target``, ``images_shape`` (8, 8).
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    X = (d.data / 16.0).astype(dtype)
    return Bunch(data=X, target=d.target.astype(np.int64), images_shape=(8, 8), name="digits")
