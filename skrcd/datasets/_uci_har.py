"""UCI-HAR, one domain per subject: loader, parser of the original archive, fetcher."""

from __future__ import annotations

import io
import zipfile
from importlib import resources
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
    "load_uci_har",
    "parse_uci_har",
    "fetch_uci_har",
    "PAPER_SCENARIOS",
    "BUNDLED_SUBJECTS",
    "UCI_HAR_CLASSES",
    "UCI_HAR_SIGNALS",
    "UCI_HAR_URLS",
    "get_data_home",
]

#: The five cross-subject scenarios of the RCD-KD paper (source, target).
PAPER_SCENARIOS = ((2, 11), (7, 13), (12, 16), (9, 18), (6, 23))
#: Subjects of the bundled demo subset (the ten subjects of the paper scenarios).
BUNDLED_SUBJECTS = (2, 11, 7, 13, 12, 16, 9, 18, 6, 23)
#: Activity names of the labels 0..5.
UCI_HAR_CLASSES = ("walk", "upstairs", "downstairs", "sit", "stand", "lie")
#: The nine channels, in order: the "Inertial Signals" file stems of the original archive.
UCI_HAR_SIGNALS = (
    "body_acc_x", "body_acc_y", "body_acc_z",
    "body_gyro_x", "body_gyro_y", "body_gyro_z",
    "total_acc_x", "total_acc_y", "total_acc_z",
)
#: Where :func:`fetch_uci_har` looks for the original archive, in order, as
#: ``(url, sha256)`` pairs. The checksums are None: they were not recorded because
#: this was written without network access. Such a download is accepted with an
#: :class:`~skrcd.datasets.UnverifiedDownloadWarning` that prints the digest to record.
UCI_HAR_URLS = (
    ("https://archive.ics.uci.edu/static/public/240/human+activity+recognition+using+smartphones.zip", None),
    ("https://archive.ics.uci.edu/ml/machine-learning-databases/00240/UCI%20HAR%20Dataset.zip", None),
)
SUBJECTS = tuple(range(1, 31))
_FULL_FILE = "uci_har_subjects.npz"
_SPECS = {
    "X": ArraySpec(("n", 9, 128), "f", finite=True),
    "y": ArraySpec(("n",), "iu", (0, 5)),
    "subject": ArraySpec(("n",), "iu", (1, 30)),
    "split": ArraySpec(("n",), "iu", (0, 1)),
}


def _bundled():
    return resources.files("skrcd.datasets") / "data" / "uci_har_demo.npz"


def load_uci_har(subjects=None, split=None, data_home=None, return_type="numpy3D"):
    """Load UCI-HAR windows (9 channels x 128 steps, 6 activities), one domain per subject.

    Reads ``uci_har_subjects.npz`` from the data home (see
    :func:`~skrcd.datasets.get_data_home`; the AdaTime per-subject windows and
    split that the RCD-KD paper uses). When it is absent and the requested subjects
    are all in the bundled demo subset (subjects 2, 6, 7, 9, 11, 12, 13, 16, 18, 23,
    stored as float16), the bundled subset is used. Everything read is validated
    (arrays, shapes, dtypes, value ranges, finite values).

    Parameters
    ----------
    subjects : int or sequence of int, optional
        Subjects (1..30) to keep; all by default.
    split : {"train", "test"} or None, default=None
        Keep only each subject's train or test part.
    data_home : str or path-like, optional
        Folder with the full file.
    return_type : str, default="numpy3D"
        sktime Panel mtype of ``X``: ``"numpy3D"``, ``"pd-multiindex"``,
        ``"nested_univ"``, ``"df-list"``, ... (``"numpyflat"`` and ``"pd-wide"``
        are univariate only and refused for these 9 channels).

    Returns
    -------
    X : numpy.ndarray of shape (n, 9, 128), float32, or the requested mtype
        Channels: body_acc x/y/z, body_gyro x/y/z, total_acc x/y/z.
    y : numpy.ndarray of shape (n,), int64
        Activity 0..5: walk, upstairs, downstairs, sit, stand, lie.
    subject : numpy.ndarray of shape (n,), int64
    split : numpy.ndarray of shape (n,), int64
        0 = train part, 1 = test part.

    Raises
    ------
    FileNotFoundError
        The full file is needed (subjects outside the bundled subset) but absent.
    ValueError
        Invalid arguments, or a corrupt, truncated or malformed file.

    Examples
    --------
    >>> X, y, subject, split = load_uci_har(subjects=2, split="train")
    >>> X.shape
    (211, 9, 128)
    >>> X, *_ = load_uci_har(subjects=2, split="test", return_type="pd-multiindex")
    >>> X.shape, list(X.index.names)
    ((11648, 9), ['instances', 'timepoints'])
    """
    code = split_code(split)
    wanted = select_domains(subjects, SUBJECTS, "subjects")
    path = find_file(_FULL_FILE, "uci_har", data_home)
    if path is None:
        if wanted is None or not set(wanted) <= set(BUNDLED_SUBJECTS):
            raise FileNotFoundError(
                f"{_FULL_FILE} not found in {get_data_home(data_home)} (nor in its uci_har/ folder); set "
                f"data_home= or SKRCD_DATA_HOME, or run skrcd.datasets.fetch_uci_har(). The bundled subset only "
                f"holds subjects {sorted(BUNDLED_SUBJECTS)}"
            )
        with resources.as_file(_bundled()) as bundled:
            a = read_npz(bundled, _SPECS, "UCI-HAR")
        path = "the bundled subset"
    else:
        a = read_npz(path, _SPECS, "UCI-HAR")
    return select_rows(a, "subject", wanted, code, path, return_type, "UCI-HAR")


# ------------------------------------------------------------------- parsing
class _Archive:
    """Files of the original layout, in a folder, a zip, or a zip inside a zip."""

    def __init__(self, path):
        self.path = Path(path)
        self.zip = None
        if self.path.is_dir():
            self.names = sorted(p.relative_to(self.path).as_posix() for p in self.path.rglob("*.txt"))
        elif self.path.is_file():
            try:
                self.zip = zipfile.ZipFile(self.path)
                self._descend()
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise ValueError(f"{self.path}: not a readable zip archive (corrupt or truncated?): {exc}") from exc
        else:
            raise FileNotFoundError(f"{self.path} does not exist")

    def _descend(self):
        names = [n for n in self.zip.namelist() if not n.startswith("__MACOSX")]
        if not any("Inertial Signals/" in n for n in names):
            inner = [n for n in names if n.lower().endswith(".zip")]
            if len(inner) == 1:  # the current UCI download wraps the original zip
                self.zip = zipfile.ZipFile(io.BytesIO(self.zip.read(inner[0])))
                names = [n for n in self.zip.namelist() if not n.startswith("__MACOSX")]
        self.names = names

    def read(self, suffix):
        hits = [n for n in self.names if n == suffix or n.endswith("/" + suffix)]
        if not hits:
            raise ValueError(f"{self.path}: no file .../{suffix} (not the UCI HAR Dataset layout?)")
        if len(hits) > 1:
            raise ValueError(f"{self.path}: several files match .../{suffix}: {hits[:3]}")
        try:
            data = self.zip.read(hits[0]) if self.zip is not None else (self.path / hits[0]).read_bytes()
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ValueError(f"{self.path}: could not read {hits[0]} (corrupt or truncated?): {exc}") from exc
        return hits[0], data.decode("ascii", errors="replace")


def _loadtxt(archive, suffix, dtype, ndmin):
    where, text = archive.read(suffix)
    try:
        a = np.loadtxt(io.StringIO(text), dtype=dtype, ndmin=ndmin)
    except ValueError as exc:
        raise ValueError(f"{archive.path}: {where}: {exc}") from None
    return where, a


def _per_group_split(groups, train_fraction):
    """0 for the first ``round(train_fraction * k)`` rows of each group (in row order), 1 for the rest."""
    split = np.ones(len(groups), dtype=np.int8)
    for g in np.unique(groups):
        rows = np.flatnonzero(groups == g)
        split[rows[: int(round(train_fraction * len(rows)))]] = 0
    return split


def parse_uci_har(path, train_fraction=0.7):
    """Read the original UCI-HAR archive ("UCI HAR Dataset") into the loader's arrays.

    Reads, for the archive's ``train`` and ``test`` parts, the nine
    ``Inertial Signals/<signal>_<part>.txt`` files (one 128-step window per line),
    ``y_<part>.txt`` (activities 1..6) and ``subject_<part>.txt`` (volunteers 1..30),
    from a zip (also the current UCI download, which wraps the original zip in
    another) or an extracted folder.

    The original archive splits by subject; for one domain per subject each
    subject's windows are split instead: the first ``train_fraction`` of its windows
    of each activity, in recording order, are its train part. This is not the
    AdaTime split of ``uci_har_subjects.npz`` (which is not published as a rule), so
    results on a parsed archive are close to, not identical with, the paper's protocol.

    Parameters
    ----------
    path : str or path-like
        The zip archive or the extracted folder.
    train_fraction : float, default=0.7

    Returns
    -------
    dict
        ``X`` (n, 9, 128) float32, ``y`` (n,) int8 0..5, ``subject`` (n,) int8,
        ``split`` (n,) int8, in the archive's row order (train part, then test part).

    Raises
    ------
    ValueError
        Missing or malformed files (naming the file), corrupt archive.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> root = pathlib.Path(tempfile.mkdtemp()) / "UCI HAR Dataset"
    >>> for part, subj in (("train", 1), ("test", 2)):
    ...     (root / part / "Inertial Signals").mkdir(parents=True)
    ...     for s in UCI_HAR_SIGNALS:
    ...         np.savetxt(root / part / "Inertial Signals" / f"{s}_{part}.txt", np.zeros((4, 128)))
    ...     np.savetxt(root / part / f"y_{part}.txt", [1, 1, 2, 2], fmt="%d")
    ...     np.savetxt(root / part / f"subject_{part}.txt", [subj] * 4, fmt="%d")
    >>> a = parse_uci_har(root)
    >>> a["X"].shape, a["subject"].tolist(), a["split"].tolist()
    ((8, 9, 128), [1, 1, 1, 1, 2, 2, 2, 2], [0, 1, 0, 1, 0, 1, 0, 1])
    """
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction!r}")
    archive = _Archive(path)
    Xs, ys, subjects = [], [], []
    for part in ("train", "test"):
        channels = []
        for sig in UCI_HAR_SIGNALS:
            where, a = _loadtxt(archive, f"{part}/Inertial Signals/{sig}_{part}.txt", np.float64, 2)
            if a.shape[1] != 128 or (channels and a.shape[0] != channels[0].shape[0]):
                expected = channels[0].shape[0] if channels else "n"
                raise ValueError(f"{archive.path}: {where} has shape {a.shape}, expected ({expected}, 128)")
            if not np.isfinite(a).all():
                raise ValueError(f"{archive.path}: {where} contains NaN or infinite values")
            channels.append(a)
        n = channels[0].shape[0]
        for stem, store, (low, high) in (("y", ys, (1, 6)), ("subject", subjects, (1, 30))):
            where, a = _loadtxt(archive, f"{part}/{stem}_{part}.txt", np.int64, 1)
            if a.shape != (n,):
                raise ValueError(f"{archive.path}: {where} has {a.shape[0]} rows but the signals have {n}")
            if n and (a.min() < low or a.max() > high):
                raise ValueError(f"{archive.path}: {where} has values outside {low}..{high}")
            store.append(a)
        Xs.append(np.stack(channels, axis=1))
    subject = np.concatenate(subjects)
    y = np.concatenate(ys) - 1
    return {
        "X": np.concatenate(Xs).astype(np.float32),
        "y": y.astype(np.int8),
        "subject": subject.astype(np.int8),
        "split": _per_group_split(subject * 10 + y, train_fraction),
    }


def fetch_uci_har(data_home=None, urls=None, sha256=None, force=False, timeout=60.0):
    """Download the original UCI-HAR archive, verify it, parse it and cache the arrays.

    Does nothing when ``uci_har_subjects.npz`` is already in the data home (unless
    ``force``). Otherwise downloads the archive to ``<home>/uci_har/raw/``, checks its
    sha256, parses it with :func:`parse_uci_har` (note its per-subject split) and
    writes ``<home>/uci_har/uci_har_subjects.npz``, which :func:`load_uci_har` then reads.

    Parameters
    ----------
    data_home : str or path-like, optional
        See :func:`~skrcd.datasets.get_data_home`.
    urls : str or sequence of str, optional
        Mirrors to try in order; default: the URLs of ``UCI_HAR_URLS``.
    sha256 : str, optional
        Expected digest of the archive; default: the one recorded with the URL (none
        yet: such downloads warn with the digest to record).
    force : bool, default=False
        Download and parse again even if the files exist.
    timeout : float, default=60
        Seconds per connection attempt.

    Returns
    -------
    pathlib.Path
        The cached ``.npz`` file.

    Raises
    ------
    OSError
        No URL could be read (no network).
    ValueError
        Checksum mismatch (the download is deleted) or a malformed archive.

    Examples
    --------
    >>> path = fetch_uci_har()  # doctest: +SKIP
    >>> X, y, subject, split = load_uci_har()  # doctest: +SKIP
    """
    home = get_data_home(data_home)
    existing = find_file(_FULL_FILE, "uci_har", home)
    if existing is not None and not force:
        return existing
    target = home / "uci_har" / _FULL_FILE
    archive = home / "uci_har" / "raw" / "UCI_HAR_Dataset.zip"
    if force or not archive.is_file():
        download(UCI_HAR_URLS if urls is None else urls, archive, sha256=sha256, timeout=timeout)
    arrays = parse_uci_har(archive)
    arrays["provenance"] = np.array(
        "parsed from the original UCI HAR Dataset archive; split: first 70 % of each subject's windows "
        "of each activity = train (not the AdaTime split)"
    )
    return write_npz(target, arrays)
