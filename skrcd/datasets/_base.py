"""What every loader shares: the data home, validated ``.npz`` reading, filters,
sktime output types, checksummed downloads and the scenario container."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "get_data_home",
    "Scenario",
    "UnverifiedDownloadWarning",
    "sha256sum",
    "download",
]

ENV_VAR = "SKRCD_DATA_HOME"


def get_data_home(data_home=None):
    """Folder holding the full data files (and the downloads of the ``fetch_*`` functions).

    Unlike :func:`sklearn.datasets.get_data_home`, this creates nothing (a
    mistyped ``data_home`` gives a "not found" error naming it, not an empty
    folder) and has skrcd's own default and environment variable.

    Order: the ``data_home`` argument, else the ``SKRCD_DATA_HOME`` environment
    variable, else the per-user cache folder ``$XDG_CACHE_HOME/skrcd`` (by default
    ``~/.cache/skrcd``). A data file ``NAME.npz`` of dataset ``DATASET`` is looked up
    as ``<home>/NAME.npz``, then ``<home>/DATASET/NAME.npz``.

    Parameters
    ----------
    data_home : str or path-like, optional

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> get_data_home("/tmp/x").as_posix()
    '/tmp/x'
    """
    if data_home is not None:
        return Path(data_home).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(cache).expanduser() / "skrcd"


def find_file(filename, dataset, data_home=None):
    """Path of ``filename`` in the data home (top level or the dataset's subfolder), or None."""
    home = get_data_home(data_home)
    for candidate in (home / filename, home / dataset / filename):
        if candidate.is_file():
            return candidate
    return None


# ------------------------------------------------------------------ npz reading
@dataclass(frozen=True)
class ArraySpec:
    """Expected form of one array of a data file.

    ``shape`` holds an int for a fixed size, ``"n"`` for the sample axis and None
    for any size; ``kinds`` the accepted numpy dtype kinds; ``values`` an inclusive
    ``(low, high)`` range (``high`` may name another array whose length bounds it).
    """

    shape: tuple
    kinds: str
    values: tuple | None = None
    finite: bool = False


def read_npz(path, specs, what):
    """Read and validate the arrays of a data file (``numpy.load(..., allow_pickle=False)``).

    Parameters
    ----------
    path : path-like or traversable
    specs : dict of {str: ArraySpec}
    what : str
        Name of the file's kind for messages (e.g. ``"UCI-HAR"``).

    Returns
    -------
    dict of {str: numpy.ndarray}

    Raises
    ------
    ValueError
        Unreadable (corrupt, truncated, pickled) file, missing array, wrong number
        of dimensions, size, dtype or value range, inconsistent lengths, NaN/inf.
    """
    try:
        f = np.load(path, allow_pickle=False)
        if not isinstance(f, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single array, not named arrays")
        with f:
            missing = [k for k in specs if k not in f.files]
            if missing:
                raise _Missing(f"missing arrays {missing}; expected {sorted(specs)}")
            arrays = {k: f[k] for k in specs}
    except _Missing as exc:
        raise ValueError(f"{path}: {exc}") from None
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error, NotImplementedError) as exc:
        raise ValueError(
            f"{path}: not a readable {what} .npz file (corrupt or truncated? delete it and fetch it again): "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    n = None
    for key, spec in specs.items():
        a = arrays[key]
        if a.ndim != len(spec.shape):
            raise ValueError(
                f"{path}: array {key!r} has {a.ndim} dimensions (shape {a.shape}), expected {len(spec.shape)}"
            )
        if a.dtype.kind not in spec.kinds:
            raise ValueError(f"{path}: array {key!r} has dtype {a.dtype}, expected kind {spec.kinds!r}")
        for axis, size in enumerate(spec.shape):
            if size == "n":
                if n is None:
                    n = a.shape[axis]
                elif a.shape[axis] != n:
                    raise ValueError(
                        f"{path}: arrays have different lengths ({key!r} has {a.shape[axis]}, expected {n})"
                    )
            elif size is not None and a.shape[axis] != size:
                raise ValueError(f"{path}: array {key!r} has shape {a.shape}, expected size {size} on axis {axis}")
    for key, spec in specs.items():
        a = arrays[key]
        if spec.finite and not np.isfinite(a).all():
            raise ValueError(f"{path}: array {key!r} contains NaN or infinite values")
        if spec.values is not None and a.size:
            low, high = spec.values
            if isinstance(high, str):
                high = len(arrays[high]) - 1
            if a.min() < low or a.max() > high:
                raise ValueError(
                    f"{path}: array {key!r} has values in [{a.min()}, {a.max()}], expected [{low}, {high}]"
                )
    return arrays


class _Missing(Exception):
    pass


def write_npz(path, arrays):
    """Write arrays to ``path`` atomically (a temporary file, then a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # a short fixed prefix: a name the OS allows must not become too long for the temporary file
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".skrcd-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


# --------------------------------------------------------------------- filters
def select_domains(values, valid, name):
    """Normalise a domain filter (int or sequence of int) to a sorted list, checking each value."""
    if values is None:
        return None
    arr = np.atleast_1d(np.asarray(values))
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise TypeError(f"{name} must be an int or a sequence of ints, got {values!r}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty; pass None for all")
    bad = sorted(set(arr.tolist()) - set(valid))
    if bad:
        raise ValueError(f"{name} {bad} not available; valid values: {min(valid)}..{max(valid)}")
    return sorted(set(arr.tolist()))


def split_code(split):
    """``"train"`` -> 0, ``"test"`` -> 1, None -> None."""
    if split is None:
        return None
    if split in ("train", "test"):
        return 0 if split == "train" else 1
    raise ValueError(f"split must be 'train', 'test' or None, got {split!r}")


# --------------------------------------------------------------- output types
_ALIASES = {"numpy3d": "numpy3D", "numpy2d": "numpyflat", "numpy2D": "numpyflat"}


def as_return_type(X, return_type, dataset):
    """Convert a numpy3D panel to the requested sktime Panel mtype.

    ``numpyflat`` and ``pd-wide`` are univariate here (as :func:`skrcd.data.to_panel`
    reads them), so they are refused for multichannel data, where sktime would flatten
    the channels into one long series.
    """
    if return_type is None:
        return X
    mtype = _ALIASES.get(return_type, return_type)
    if mtype == "numpy3D":
        return X
    from sktime.datatypes import MTYPE_LIST_PANEL

    if mtype not in MTYPE_LIST_PANEL:
        options = ["numpy3D"] + sorted(set(MTYPE_LIST_PANEL) - {"numpy3D"})
        raise ValueError(f"return_type must be one of {options}, got {return_type!r}")
    if mtype in ("numpyflat", "pd-wide"):
        if X.shape[1] != 1:
            raise ValueError(
                f"return_type={return_type!r} holds univariate series only and {dataset} has {X.shape[1]} channels; "
                "use numpy3D, pd-multiindex, nested_univ or df-list"
            )
        flat = X[:, 0, :]
        if mtype == "numpyflat":
            return flat
        import pandas as pd

        return pd.DataFrame(flat)
    from sktime.datatypes import convert_to

    return convert_to(X, to_type=mtype)


# -------------------------------------------------------------------- scenario
@dataclass
class Scenario:
    """The paper protocol's pieces of one source -> target scenario.

    Attributes
    ----------
    X_src, y_src : labelled source train part
    X_tgt : unlabelled target train part
    X_test, y_test : labelled target test part (for evaluation only)
    X_src_test, y_src_test : labelled source test part
    y_tgt : target train labels (for evaluation only: never pass them to ``fit``)
    w_test : weights of the target test rows, or None
        Set by the skewed scenarios (:func:`~skrcd.datasets.skewed_scenario`):
        scoring ``X_test`` with them measures the classifier on the target's class
        profile; None scores every row alike.
    source_profile, target_profile : class shares of the train parts, or None
        Set by the skewed scenarios (evaluation only).

    Examples
    --------
    >>> import numpy as np
    >>> sc = Scenario(*(np.zeros(2),) * 8)
    >>> sorted(vars(sc))[:3]
    ['X_src', 'X_src_test', 'X_test']
    """

    X_src: object
    y_src: np.ndarray
    X_tgt: object
    X_test: object
    y_test: np.ndarray
    X_src_test: object
    y_src_test: np.ndarray
    y_tgt: np.ndarray = None
    w_test: np.ndarray = None
    source_profile: np.ndarray = None
    target_profile: np.ndarray = None


# ------------------------------------------------------------------- downloads
class UnverifiedDownloadWarning(UserWarning):
    """A download had no recorded sha256 checksum to verify it against.

    The message gives the file's sha256: record it (``sha256=`` argument or the
    module's table) so that later downloads are verified.
    """


def select_rows(arrays, domain_key, wanted, code, where, return_type, dataset):
    """Filter loaded arrays by domain and split; return ``(X, y, domain, split)``.

    Parameters
    ----------
    arrays : dict of numpy.ndarray
        ``X``, ``y``, ``split`` and the domain array ``domain_key``.
    domain_key : str
        ``"subject"`` or ``"load"``.
    wanted : list of int or None
        Domains to keep (all when None); one that is absent is an error.
    code : int or None
        Split code to keep (0 train, 1 test), all when None.
    where : str or path-like
        The file read, for messages.
    return_type : str
        sktime mtype of ``X`` (see :func:`as_return_type`).
    dataset : str
        Dataset name, for messages.

    Returns
    -------
    X, y, domain, split : numpy.ndarray

    Examples
    --------
    >>> import numpy as np
    >>> a = {"X": np.zeros((4, 1, 3), np.float32), "y": np.array([0, 1, 0, 1]),
    ...      "load": np.array([0, 0, 1, 1]), "split": np.array([0, 1, 0, 1])}
    >>> X, y, load, split = select_rows(a, "load", [1], 0, "f.npz", "numpy3D", "CWRU")
    >>> X.shape, load.tolist(), split.tolist()
    ((1, 1, 3), [1], [0])
    """
    keep = np.ones(arrays["X"].shape[0], dtype=bool)
    if wanted is not None:
        absent = sorted(set(wanted) - set(np.unique(arrays[domain_key]).tolist()))
        if absent:
            raise ValueError(f"{domain_key}s {absent} are not in {where}")
        keep &= np.isin(arrays[domain_key], wanted)
    if code is not None:
        keep &= arrays["split"] == code
    return (
        as_return_type(arrays["X"][keep].astype(np.float32), return_type, dataset),
        arrays["y"][keep].astype(np.int64),
        arrays[domain_key][keep].astype(np.int64),
        arrays["split"][keep].astype(np.int64),
    )


def file_digest(path, algorithm="sha256", chunk_size=1 << 20):
    """Hex digest of a file with a :mod:`hashlib` algorithm.

    Parameters
    ----------
    path : path-like
    algorithm : str, default="sha256"
        A :mod:`hashlib` name (``"md5"``, ``"sha1"``, ``"sha256"``, ``"sha512"``, ...).
    chunk_size : int, default=1 MiB

    Returns
    -------
    str

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "empty"
    >>> _ = p.write_bytes(b"")
    >>> file_digest(p, "md5")
    'd41d8cd98f00b204e9800998ecf8427e'
    """
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256sum(path, chunk_size=1 << 20):
    """Hex sha256 digest of a file.

    Parameters
    ----------
    path : path-like
    chunk_size : int, default=1 MiB

    Returns
    -------
    str

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "empty"
    >>> _ = p.write_bytes(b"")
    >>> sha256sum(p)[:16]
    'e3b0c44298fc1c14'
    """
    return file_digest(path, "sha256", chunk_size)


def download(urls, dest, sha256=None, timeout=60.0):
    """Download the first reachable URL to ``dest`` and verify its sha256.

    The file is written to a temporary name next to ``dest`` and renamed only once
    complete and verified, so an interrupted or corrupt download never leaves a
    file behind. ``file://`` URLs work (tests use them).

    Parameters
    ----------
    urls : str or sequence of str or of (str, str or None)
        Candidate URLs (mirrors), tried in order, each optionally paired with its
        expected sha256.
    dest : path-like
        Where to store the file.
    sha256 : str or None, default=None
        Expected hex digest for every URL (overrides the pairs). A download with no
        expected digest is kept with an :class:`UnverifiedDownloadWarning`.
    timeout : float, default=60
        Seconds per connection attempt.

    Returns
    -------
    pathlib.Path
        ``dest``.

    Raises
    ------
    ValueError
        The digest differs from ``sha256`` (the download is deleted).
    OSError
        No URL could be read.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "a.txt").write_bytes(b"abc")
    >>> digest = sha256sum(d / "a.txt")
    >>> download((d / "a.txt").as_uri(), d / "copy.txt", sha256=digest).read_bytes()
    b'abc'
    """
    if isinstance(urls, str):
        urls = [urls]
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    errors = []
    for item in urls:
        url, expected = item if isinstance(item, tuple) else (item, None)
        url = str(url)
        expected = sha256 if sha256 is not None else expected
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                shutil.copyfileobj(resp, out)
            digest = sha256sum(tmp)
            if expected is not None and digest != expected.lower():
                raise ValueError(
                    f"checksum mismatch for {url}: sha256 {digest}, expected {expected}; the download was deleted "
                    "(a changed or corrupt file, or a wrong mirror)"
                )
            if expected is None:
                warnings.warn(
                    f"{url} was downloaded without a recorded checksum to verify it against; its sha256 is {digest} "
                    "(pass it as sha256= to verify later downloads)",
                    UnverifiedDownloadWarning,
                    stacklevel=3,
                )
            os.replace(tmp, dest)
            return dest
        except ValueError:
            raise
        except OSError as exc:  # URLError and HTTPError are OSErrors
            errors.append(f"{url}: {exc}")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    raise OSError(f"could not download {dest.name}; tried {len(errors)} URL(s): " + "; ".join(errors))
