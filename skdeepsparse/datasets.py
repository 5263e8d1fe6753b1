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


def _read_idx(path: Path, magic: int) -> np.ndarray:
    """Read an unsigned-byte IDX file, checking its header against its size.

    The header is two zero bytes, the type code (0x08 for unsigned bytes), the
    number of dimensions and one big-endian 32-bit size per dimension; the
    data must hold exactly the product of the sizes.
    """
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (EOFError, OSError, gzip.BadGzipFile) as exc:
        raise ValueError(f"{path} could not be read as a gzip file ({exc}); it may be "
                         "truncated or corrupt.") from exc
    found = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if found != magic:
        what = "too short" if found is None else f"magic {found:#x}"
        raise ValueError(f"{path} is not an IDX file of the expected type ({what}; "
                         f"expected magic {magic:#x}).")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: the IDX header is truncated.")
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape, dtype=np.int64))
    held = len(raw) - header
    if held != expected:
        raise ValueError(
            f"{path}: the header announces shape {shape} ({expected} bytes of data) but the "
            f"file holds {held} bytes ({'truncated' if held < expected else 'trailing bytes'})."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _check_n_samples(n_samples, available: int):
    if n_samples is None:
        return available
    if (not isinstance(n_samples, (int, np.integer)) or isinstance(n_samples, (bool, np.bool_))
            or n_samples < 1):
        raise ValueError(f"n_samples must be None or a positive int; got {n_samples!r}.")
    if n_samples > available:
        raise ValueError(f"n_samples={n_samples} but the file holds {available} images.")
    return int(n_samples)


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
    images = _read_idx(img_file, 0x803)
    labels = _read_idx(lab_file, 0x801).astype(np.int64)
    if images.shape[1:] != (28, 28):
        raise ValueError(f"{img_file}: images of shape {images.shape[1:]}, expected (28, 28).")
    if len(images) != len(labels):
        raise ValueError(f"{img_file} holds {len(images)} images but {lab_file} holds "
                         f"{len(labels)} labels.")
    n = _check_n_samples(n_samples, len(images))
    X = images[:n].reshape(n, 28 * 28).astype(dtype) / np.asarray(255.0, dtype=dtype)
    return Bunch(data=X, target=labels[:n], images_shape=(28, 28), name=name, subset=subset)


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
