"""CWRU bearing faults, one domain per motor load: loader, ``.mat`` parser, fetcher."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ._base import (
    ArraySpec,
    select_rows,
    download,
    find_file,
    get_data_home,
    read_npz,
    select_domains,
    split_code,
    write_npz,
)

__all__ = [
    "load_cwru",
    "parse_cwru",
    "fetch_cwru",
    "CWRU_CLASSES",
    "CWRU_FILES",
    "CWRU_RPM",
    "CWRU_SCENARIOS",
    "CWRU_URL",
    "CWRU_SHA256",
]

#: Fault classes of the labels 0..8: ball (B), inner race (IR), outer race centred
#: at 6:00 (OR@6), each at 7, 14 and 21 mil fault diameter.
CWRU_CLASSES = ("B_7", "B_14", "B_21", "IR_7", "IR_14", "IR_21", "OR@6_7", "OR@6_14", "OR@6_21")
#: Nominal motor speed (rpm) at loads 0..3 HP.
CWRU_RPM = (1797, 1772, 1750, 1730)
#: A common short list of the 12 ordered cross-load pairs (source load, target load).
CWRU_SCENARIOS = ((0, 1), (0, 2), (0, 3), (1, 2), (2, 3), (3, 0))
#: The 12 kHz drive-end recordings of the CWRU Bearing Data Center used by
#: :func:`fetch_cwru`: class -> file numbers at loads 0, 1, 2, 3 HP (``<number>.mat``).
#: Taken from the Data Center's file table; check them against it before relying
#: on a fetched copy (they could not be checked here, without network access).
CWRU_FILES = {
    "B_7": (118, 119, 120, 121),
    "B_14": (185, 186, 187, 188),
    "B_21": (222, 223, 224, 225),
    "IR_7": (105, 106, 107, 108),
    "IR_14": (169, 170, 171, 172),
    "IR_21": (209, 210, 211, 212),
    "OR@6_7": (130, 131, 132, 133),
    "OR@6_14": (197, 198, 199, 200),
    "OR@6_21": (234, 235, 236, 237),
}
#: Download URL template of one recording (``{number}`` is replaced).
CWRU_URL = "https://engineering.case.edu/sites/default/files/{number}.mat"
#: Recorded sha256 of each ``<number>.mat`` (empty: not recorded yet, for lack of
#: network access; unverified downloads warn with the digest to record).
CWRU_SHA256 = {}
LOADS = (0, 1, 2, 3)
_FULL_FILE = "cwru_loads.npz"
_SPECS = {
    "X": ArraySpec(("n", 1, None), "f", finite=True),
    "y": ArraySpec(("n",), "iu", (0, "classes")),
    "load": ArraySpec(("n",), "iu", (0, 3)),
    "split": ArraySpec(("n",), "iu", (0, 1)),
    "classes": ArraySpec((None,), "U"),
    "rpm": ArraySpec((4,), "iu"),
}


def load_cwru(loads=None, split=None, data_home=None, return_type="numpy3D"):
    """Load CWRU bearing-fault windows (1 channel x 1024 steps, 9 classes), one domain per motor load.

    Reads ``cwru_loads.npz`` from the data home (see
    :func:`~skrcd.datasets.get_data_home`); there is no bundled subset. Everything
    read is validated (arrays, shapes, dtypes, value ranges, finite values).

    Parameters
    ----------
    loads : int or sequence of int, optional
        Motor loads (0..3 HP) to keep; all by default.
    split : {"train", "test"} or None, default=None
        Keep only the train part (first 70 % of each recording's windows) or the
        test part (the last 30 %).
    data_home : str or path-like, optional
    return_type : str, default="numpy3D"
        sktime Panel mtype of ``X`` (the data are univariate, so ``"numpyflat"`` and
        ``"pd-wide"`` work too).

    Returns
    -------
    X : numpy.ndarray of shape (n, 1, 1024), float32, or the requested mtype
        Drive-end acceleration at 12 kHz, raw.
    y : numpy.ndarray of shape (n,), int64
        Fault class 0..8, names in :data:`CWRU_CLASSES`.
    load : numpy.ndarray of shape (n,), int64
        Motor load 0..3 (the domain).
    split : numpy.ndarray of shape (n,), int64
        0 = train part, 1 = test part.

    Raises
    ------
    FileNotFoundError
        ``cwru_loads.npz`` is not in the data home.
    ValueError
        Invalid arguments, or a corrupt, truncated or malformed file.

    Examples
    --------
    >>> X, y, load, split = load_cwru(loads=0, split="train")  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (747, 1, 1024)
    >>> CWRU_CLASSES[:3]
    ('B_7', 'B_14', 'B_21')
    """
    code = split_code(split)
    wanted = select_domains(loads, LOADS, "loads")
    path = find_file(_FULL_FILE, "cwru", data_home)
    if path is None:
        raise FileNotFoundError(
            f"{_FULL_FILE} not found in {get_data_home(data_home)} (nor in its cwru/ folder); set data_home= or "
            "SKRCD_DATA_HOME, or run skrcd.datasets.fetch_cwru()"
        )
    a = read_npz(path, _SPECS, "CWRU")
    return select_rows(a, "load", wanted, code, path, return_type, "CWRU")


def _read_mat(path, number):
    import scipy.io

    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: recording {number} is missing")
    try:
        contents = scipy.io.loadmat(path)
    except Exception as exc:  # noqa: BLE001 - scipy raises many types on malformed files
        raise ValueError(
            f"{path}: not a readable MATLAB .mat file (corrupt or truncated?): {type(exc).__name__}: {exc}"
        ) from exc
    keys = [k for k in contents if k.endswith("_DE_time")]
    own = [k for k in keys if re.fullmatch(rf"X0*{int(number)}_DE_time", k)]
    if len(own) == 1:
        key = own[0]
    elif len(keys) == 1:
        key = keys[0]
    else:
        raise ValueError(
            f"{path}: expected one drive-end signal 'X{number:03d}_DE_time', found {keys or 'none'}"
        )
    signal = np.asarray(contents[key])
    if signal.dtype.kind not in "iuf" or signal.ndim > 2 or (signal.ndim == 2 and min(signal.shape) != 1):
        raise ValueError(f"{path}: {key} has shape {signal.shape} and dtype {signal.dtype}, expected a numeric vector")
    signal = signal.astype(np.float64).ravel()
    if not np.isfinite(signal).all():
        raise ValueError(f"{path}: {key} contains NaN or infinite values")
    return signal


def parse_cwru(folder, files=None, window=1024, train_fraction=0.7, rpm=CWRU_RPM):
    """Cut the CWRU ``.mat`` recordings into the loader's windows and split.

    Each recording ``<folder>/<number>.mat`` holds the drive-end acceleration
    ``X<number>_DE_time``. It is cut into non-overlapping windows of ``window``
    samples (the remainder is dropped); its first ``round(train_fraction * k)``
    windows are the train part, the rest the test part, so no window overlaps the
    other part. Rows are ordered by load, class, part, then time.

    Parameters
    ----------
    folder : str or path-like
        Folder with the ``.mat`` files.
    files : dict of {str: sequence of 4 int}, optional
        Class name -> recording numbers at loads 0..3; default :data:`CWRU_FILES`.
        The class labels follow the dict's order.
    window : int, default=1024
    train_fraction : float, default=0.7
    rpm : sequence of 4 int, default=CWRU_RPM
        Nominal speeds stored with the arrays.

    Returns
    -------
    dict
        ``X`` (n, 1, window) float32, ``y``, ``load``, ``split`` (n,) int8,
        ``classes`` (n_classes,) str, ``rpm`` (4,) int64.

    Raises
    ------
    FileNotFoundError
        A recording is missing.
    ValueError
        A corrupt file, no drive-end signal, or a recording shorter than two windows.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, scipy.io
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> table = {"B_7": (1, 2, 3, 4), "IR_7": (5, 6, 7, 8)}
    >>> for n in range(1, 9):
    ...     scipy.io.savemat(folder / f"{n}.mat", {f"X{n:03d}_DE_time": np.ones((10 * 32 + 5, 1))})
    >>> a = parse_cwru(folder, files=table, window=32)
    >>> a["X"].shape, a["classes"].tolist(), int((a["split"] == 0).sum())
    ((80, 1, 32), ['B_7', 'IR_7'], 56)
    """
    files = CWRU_FILES if files is None else files
    if int(window) != window or window < 1:
        raise ValueError(f"window must be a positive integer, got {window!r}")
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction!r}")
    if len(files) < 2 or any(len(v) != len(LOADS) for v in files.values()):
        raise ValueError("files must map at least 2 class names to 4 recording numbers each (loads 0..3)")
    folder = Path(folder)
    X, y, load, split = [], [], [], []
    for li in range(len(LOADS)):
        for ci, name in enumerate(files):
            number = int(files[name][li])
            path = folder / f"{number}.mat"
            signal = _read_mat(path, number)
            k = signal.shape[0] // window
            if k < 2:
                raise ValueError(f"{path}: {signal.shape[0]} samples, fewer than two windows of {window}")
            n_train = int(round(train_fraction * k))
            X.append(signal[: k * window].reshape(k, 1, window))
            y.append(np.full(k, ci))
            load.append(np.full(k, li))
            split.append((np.arange(k) >= n_train).astype(int))
    return {
        "X": np.concatenate(X).astype(np.float32),
        "y": np.concatenate(y).astype(np.int8),
        "load": np.concatenate(load).astype(np.int8),
        "split": np.concatenate(split).astype(np.int8),
        "classes": np.array(list(files), dtype=str),
        "rpm": np.asarray(rpm, dtype=np.int64),
    }


def fetch_cwru(data_home=None, url=None, files=None, sha256=None, force=False, timeout=60.0):
    """Download the CWRU ``.mat`` recordings, verify them, parse them and cache the arrays.

    Does nothing when ``cwru_loads.npz`` is already in the data home (unless
    ``force``). Otherwise downloads each recording of ``files`` to
    ``<home>/cwru/raw/<number>.mat`` (files already there are reused), checks its
    sha256, parses them with :func:`parse_cwru` and writes
    ``<home>/cwru/cwru_loads.npz``, which :func:`load_cwru` then reads.

    Parameters
    ----------
    data_home : str or path-like, optional
    url : str, optional
        URL template with a ``{number}`` field; default ``CWRU_URL``.
    files : dict, optional
        Class -> recording numbers at loads 0..3; default :data:`CWRU_FILES`.
    sha256 : dict of {int: str}, optional
        Expected digests by recording number; default ``CWRU_SHA256``. A
        recording without one is kept with an
        :class:`~skrcd.datasets.UnverifiedDownloadWarning` naming its digest.
    force : bool, default=False
    timeout : float, default=60

    Returns
    -------
    pathlib.Path
        The cached ``.npz`` file.

    Raises
    ------
    OSError
        A recording could not be downloaded (no network).
    ValueError
        Checksum mismatch (the download is deleted) or a malformed recording.

    Examples
    --------
    >>> path = fetch_cwru()  # doctest: +SKIP
    >>> X, y, load, split = load_cwru()  # doctest: +SKIP
    """
    home = get_data_home(data_home)
    existing = find_file(_FULL_FILE, "cwru", home)
    if existing is not None and not force:
        return existing
    files = CWRU_FILES if files is None else files
    url = CWRU_URL if url is None else url
    if "{number}" not in url:
        raise ValueError(f"url must contain a {{number}} field, got {url!r}")
    sums = dict(CWRU_SHA256 if sha256 is None else sha256)
    raw = home / "cwru" / "raw"
    for numbers in files.values():
        for number in numbers:
            dest = raw / f"{int(number)}.mat"
            if force or not dest.is_file():
                download(url.format(number=int(number)), dest, sha256=sums.get(int(number)), timeout=timeout)
    return write_npz(home / "cwru" / _FULL_FILE, parse_cwru(raw, files=files))
