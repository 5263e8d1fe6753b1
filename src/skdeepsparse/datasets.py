"""Dataset loaders: MNIST and Fashion-MNIST (IDX files), natural-image patches, embedded defaults.

Where the data are
------------------
Every loader, the tests, the examples and the benchmarks find the data folder
the same way (:func:`get_data_home`), taking the first of:

1. the ``data_home`` argument, when given;
2. the environment variable ``SKDEEPSPARSE_DATA``, when set;
3. ``shared/data`` beside the project checkout (``../shared/data`` from the
   repository's root), when the package runs from a checkout that has one;
4. ``~/skdeepsparse_data``.

Missing files are downloaded into that folder (``download_if_missing=True``,
as scikit-learn's ``fetch_*`` functions do) from the datasets' public mirrors
and checked against their SHA-256 checksums. A download goes to a temporary
folder first and moves into place only once every file has arrived and been
checked: a failed download leaves nothing behind, not even an empty folder.
Offline, or with ``download_if_missing=False``, the error says where the
files were looked for and which are needed.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import shutil
import tempfile
import urllib.request
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from .preprocessing import ImagePatches, PatchNormalizer, rgb_to_gray, whiten_images

__all__ = [
    "DATASETS",
    "get_data_home",
    "load_dataset",
    "load_mnist",
    "load_fashion_mnist",
    "load_digits_data",
    "load_natural_image_patches",
]

_IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

# Public mirrors, tried in order. MNIST: the copy that torchvision downloads
# (PyTorch's S3 bucket) and the one TensorFlow's datasets use (Google Cloud
# Storage); the original site, yann.lecun.com, often refuses scripted downloads.
# Fashion-MNIST: its GitHub repository (zalandoresearch/fashion-mnist) and its
# S3 website (plain HTTP; the checksum guards the content).
MIRRORS = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "fashion_mnist": (
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ),
}

# SHA-256 of the original files (their MD5s are the ones the datasets publish).
SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte.gz":
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz":
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz":
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz":
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte.gz":
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz":
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz":
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz":
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
}

# Seconds before a mirror that does not answer is given up.
_TIMEOUT = 30

logger = logging.getLogger(__name__)

# The opener used for downloads (tests replace it: no network is needed to test).
_urlopen = urllib.request.urlopen

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)


_ENV_DATA = "SKDEEPSPARSE_DATA"


def _checkout_data() -> Path | None:
    """``shared/data`` beside the project checkout this package runs from, if any."""
    root = Path(__file__).resolve().parents[2]  # <checkout>/src/skdeepsparse/datasets.py
    if not (root / "pyproject.toml").is_file():
        return None  # an installed package, not a checkout
    folder = root.parent / "shared" / "data"
    return folder if folder.is_dir() else None


def get_data_home(data_home: str | os.PathLike | None = None) -> Path:
    """Folder holding the datasets.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Explicit folder. If None, the first of: ``$SKDEEPSPARSE_DATA``;
        ``shared/data`` beside the project checkout (when running from one
        that has it); ``~/skdeepsparse_data``.

    Returns
    -------
    data_home : pathlib.Path
        The folder (not created).
    """
    if data_home is None:
        data_home = os.environ.get(_ENV_DATA) or _checkout_data() or (
            Path.home() / "skdeepsparse_data")
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


def _fetch(name: str, filename: str, target: Path) -> str | None:
    """Fetch one file into ``target`` from the first mirror that answers.

    Returns None on success, else why every mirror failed (``target`` is then
    absent).
    """
    expected = SHA256[name][filename]
    errors = []
    for base in MIRRORS[name]:
        url = base + filename
        logger.info("downloading %s", url)
        digest = hashlib.sha256()
        try:
            with _urlopen(url, timeout=_TIMEOUT) as response, open(target, "wb") as out:
                while chunk := response.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
        except OSError as exc:  # URLError, HTTPError, timeouts are OSErrors
            errors.append(f"{url}: {exc}")
            target.unlink(missing_ok=True)
            continue
        if digest.hexdigest() != expected:
            errors.append(f"{url}: SHA-256 {digest.hexdigest()} is not the expected {expected}")
            target.unlink(missing_ok=True)
            continue
        return None
    return "\n  ".join(errors)


def _download(name: str, filenames: list[str], folder: Path) -> None:
    """Download ``filenames`` of ``name`` into ``folder``, all or nothing.

    The files go to a temporary folder next to the nearest existing parent of
    ``folder``; only when every one has arrived with the right checksum is
    ``folder`` created and are they moved in (:func:`os.replace`, atomic on one
    file system). On failure the temporary folder is removed: nothing is left.
    """
    anchor = folder
    while not anchor.exists():
        anchor = anchor.parent
    staging = Path(tempfile.mkdtemp(prefix=".skdeepsparse-download-", dir=anchor))
    try:
        for filename in filenames:
            problem = _fetch(name, filename, staging / filename)
            if problem is not None:
                raise OSError(
                    f"Could not download {filename} of {name} into {folder} (no network, or "
                    f"every mirror failed):\n  {problem}\nPut the original IDX gzip files in "
                    f"{folder} by hand, or pass data_home= (or set {_ENV_DATA}) to a folder "
                    f"that contains '{name}/'."
                )
        folder.mkdir(parents=True, exist_ok=True)
        for filename in filenames:
            os.replace(staging / filename, folder / filename)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _check_n_samples(n_samples, available: int):
    if n_samples is None:
        return available
    if (not isinstance(n_samples, (int, np.integer)) or isinstance(n_samples, (bool, np.bool_))
            or n_samples < 1):
        raise ValueError(f"n_samples must be None or a positive int; got {n_samples!r}.")
    if n_samples > available:
        raise ValueError(f"n_samples={n_samples} but the file holds {available} images.")
    return int(n_samples)


def _load_idx_dataset(name: str, subset: str, data_home, n_samples, dtype,
                      download_if_missing: bool) -> Bunch:
    if subset not in _IDX_FILES:
        raise ValueError(f"subset must be 'train' or 'test'; got {subset!r}.")
    home = get_data_home(data_home)
    folder = home / name
    img_file, lab_file = (folder / f for f in _IDX_FILES[subset])
    missing = [p.name for p in (img_file, lab_file) if not p.exists()]
    if missing and not download_if_missing:
        raise FileNotFoundError(
            f"{name} files {missing} not found in {folder}. Pass download_if_missing=True "
            f"to download them, put the original IDX gzip files there, or pass data_home= "
            f"(or set {_ENV_DATA}) to the folder that contains '{name}/'."
        )
    if missing:
        _download(name, missing, folder)
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


def load_mnist(subset="train", *, data_home=None, n_samples=None, dtype=np.float32,
               download_if_missing=True) -> Bunch:
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
        Floating-point type of ``data``.
    download_if_missing : bool, default=True
        Download missing files into ``data_home/mnist/`` (11.6 MB for all
        four) from the mirrors in ``MIRRORS["mnist"]``, checking each against
        its SHA-256 in ``SHA256``. If False, or offline, missing files raise
        an error that names the folder.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data`` (n, 784), ``target`` (n,), ``images_shape`` (28, 28).

    Raises
    ------
    FileNotFoundError
        If files are missing and ``download_if_missing=False``.
    OSError
        If a download fails on every mirror (no network) or its checksum is
        wrong.
    ValueError
        If a file is not a valid IDX gzip file.
    """
    return _load_idx_dataset("mnist", subset, data_home, n_samples, dtype, download_if_missing)


def load_fashion_mnist(
    subset="train", *, data_home=None, n_samples=None, dtype=np.float32,
    download_if_missing=True,
) -> Bunch:
    """Load Fashion-MNIST from its original IDX gzip files, pixels in [0, 1].

    Parameters
    ----------
    subset : {"train", "test"}, default="train"
        60,000 training or 10,000 test images.
    data_home : str or path-like, default=None
        Folder that contains ``fashion_mnist/``.
    n_samples : int, default=None
        Keep only the first ``n_samples`` images.
    dtype : numpy dtype, default=np.float32
        Floating-point type of ``data``.
    download_if_missing : bool, default=True
        Download missing files into ``data_home/fashion_mnist/`` (30.9 MB for
        all four) from the mirrors in ``MIRRORS["fashion_mnist"]``, checked
        against ``SHA256``; see :func:`load_mnist`.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data`` (n, 784), ``target`` (n,), ``images_shape`` (28, 28),
        ``target_names``.

    Raises
    ------
    FileNotFoundError
        If files are missing and ``download_if_missing=False``.
    OSError
        If a download fails on every mirror or its checksum is wrong.
    """
    bunch = _load_idx_dataset("fashion_mnist", subset, data_home, n_samples, dtype,
                              download_if_missing)
    bunch.target_names = FASHION_MNIST_CLASSES
    return bunch


#: The datasets :func:`load_dataset` knows, by name.
DATASETS = ("mnist", "fashion_mnist")


def load_dataset(
    name: str, subset: str = "train", *, data_home=None, n_samples=None, dtype=np.float32,
    download_if_missing: bool = True,
) -> Bunch:
    """Load a dataset by name: :func:`load_mnist` or :func:`load_fashion_mnist`.

    Parameters
    ----------
    name : {"mnist", "fashion_mnist"}
        The dataset (see ``DATASETS``).
    subset, data_home, n_samples, dtype, download_if_missing
        As for :func:`load_mnist`.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        What the dataset's loader returns.

    Raises
    ------
    ValueError
        If ``name`` is not in ``DATASETS``; otherwise as the dataset's loader.
    """
    loaders = {"mnist": load_mnist, "fashion_mnist": load_fashion_mnist}
    if not isinstance(name, str) or name not in loaders:
        raise ValueError(f"name must be one of {list(DATASETS)}; got {name!r}.")
    return loaders[name](subset, data_home=data_home, n_samples=n_samples, dtype=dtype,
                         download_if_missing=download_if_missing)


def load_digits_data(dtype=np.float32) -> Bunch:
    """The embedded default: scikit-learn's 8x8 digits, pixels scaled to [0, 1].

    Needs no files. 1,797 images, 10 classes.

    Parameters
    ----------
    dtype : numpy dtype, default=np.float32
        Floating-point type of ``data``.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data`` (1797, 64), ``target``, ``images_shape`` (8, 8).
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    X = (d.data / 16.0).astype(dtype)
    return Bunch(data=X, target=d.target.astype(np.int64), images_shape=(8, 8), name="digits")


# ------------------------------------------------------ natural-image patches
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def _load_image_files(folder: Path) -> tuple[list[np.ndarray], list[str]]:
    from PIL import Image

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
    images, names = [], []
    for path in files:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB") if im.mode not in ("L", "RGB") else im)
        images.append(rgb_to_gray(arr.astype(np.float64) / 255.0))
        names.append(path.name)
    return images, names


def _load_sklearn_images() -> tuple[list[np.ndarray], list[str]]:
    from sklearn.datasets import load_sample_images

    data = load_sample_images()
    names = [Path(f).name for f in data.filenames]
    return [rgb_to_gray(im / 255.0) for im in data.images], names


def load_natural_image_patches(
    patch_size: int = 12,
    n_patches: int = 50_000,
    *,
    whiten: bool = True,
    f0: float = 0.4,
    normalize: str | None = "global",
    pixel_std: float = 1.0,
    min_variance_ratio: float | None = None,
    source: str = "auto",
    data_home=None,
    random_state=0,
    dtype=np.float32,
    return_images: bool = False,
) -> Bunch:
    """Natural-image patches for sparse coding (Olshausen & Field style).

    Grey images are whitened whole with
    :func:`~skdeepsparse.preprocessing.whiten_images` (each scaled to unit
    variance), then ``n_patches`` square patches are drawn at random
    positions with :class:`~skdeepsparse.preprocessing.ImagePatches`.

    Parameters
    ----------
    patch_size : int, default=12
        Side of the patches (12 gives the 144-pixel patches of the SVAE papers).
    n_patches : int, default=50000
        Number of patches.
    whiten : bool, default=True
        Apply the ``f exp(-(f/f0)^4)`` whitening filter to the images first.
        Without it, pixels are in [0, 1] before ``normalize``.
    f0 : float, default=0.4
        Roll-off of the whitening filter, cycles per pixel.
    normalize : {"global", "sample"} or None, default="global"
        ``"global"``: subtract the mean and divide by the std of all patch
        pixels (one scalar each, as Barello et al.); ``"sample"``: each patch
        to zero mean and unit std; None: leave as is.
    pixel_std : float, default=1.0
        With ``normalize="global"``, the standard deviation of the pixels after
        normalisation. Olshausen's whitened ``IMAGES.mat`` have pixel variance
        0.1 (``pixel_std=0.1**0.5``), the scale for which the SVAE references
        chose their likelihood noise e^-2.
    min_variance_ratio : float or None, default=None
        Drop patches whose variance is below this fraction of the mean patch
        variance (Barello et al. use 0.1); the result then has fewer than
        ``n_patches`` rows.
    source : {"auto", "files", "sklearn"}, default="auto"
        ``"files"``: every PNG/JPEG in ``<data_home>/natural_images/skimage/``
        (eight CC0/public-domain photographs from scikit-image);
        ``"sklearn"``: the two photographs that ship inside scikit-learn
        (``load_sample_images``: china, flower), needing no files;
        ``"auto"``: the files when present, else scikit-learn's images.
    data_home : str or path-like, default=None
        See :func:`get_data_home`.
    random_state : int, RandomState instance or None, default=0
        Patch positions.
    dtype : numpy dtype, default=np.float32
    return_images : bool, default=False
        Also return the (whitened) grey images under ``images``.

    Returns
    -------
    Bunch
        ``data`` (n, patch_size**2), ``images_shape`` (patch_size, patch_size),
        ``image_names``, ``source`` ("files" or "sklearn"), ``offset`` and
        ``scale`` (``data = (patches - offset) / scale`` with ``"global"``, else 0
        and 1), and ``images`` when ``return_images``.
    """
    if source not in ("auto", "files", "sklearn"):
        raise ValueError(f"source must be 'auto', 'files' or 'sklearn'; got {source!r}.")
    if normalize not in ("global", "sample", None):
        raise ValueError(f"normalize must be 'global', 'sample' or None; got {normalize!r}.")
    if not (isinstance(pixel_std, Real) and pixel_std > 0):
        raise ValueError(f"pixel_std must be a positive float; got {pixel_std!r}.")
    if not (isinstance(n_patches, Integral) and n_patches >= 1):
        raise ValueError(f"n_patches must be a positive int; got {n_patches!r}.")
    folder = get_data_home(data_home) / "natural_images" / "skimage"
    has_files = folder.is_dir() and any(
        p.suffix.lower() in _IMAGE_SUFFIXES for p in folder.iterdir()
    )
    if source == "files" and not has_files:
        raise FileNotFoundError(
            f"No PNG/JPEG images found in {folder}. Pass data_home= (or set "
            "SKDEEPSPARSE_DATA) to the folder that contains 'natural_images/skimage/', "
            "or use source='sklearn' for the images shipped with scikit-learn."
        )
    if source == "files" or (source == "auto" and has_files):
        images, names = _load_image_files(folder)
        used = "files"
    else:
        images, names = _load_sklearn_images()
        used = "sklearn"
    if whiten:
        images = whiten_images(images, f0=f0)
    X = ImagePatches(patch_size, n_patches=n_patches, random_state=random_state).transform(images)
    if min_variance_ratio is not None:
        var = X.var(1)
        X = X[var >= min_variance_ratio * var.mean()]
    offset, scale = 0.0, 1.0
    if normalize == "global":
        offset, scale = float(X.mean()), float(X.std()) / pixel_std
        X = (X - offset) / scale
    elif normalize == "sample":
        X = PatchNormalizer("sample").fit_transform(X)
    bunch = Bunch(
        data=X.astype(dtype), images_shape=(patch_size, patch_size), image_names=names,
        source=used, offset=offset, scale=scale,
    )
    if return_images:
        bunch.images = images
    return bunch
