"""UCI-HAR, one domain per subject: loader and paper scenarios."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

__all__ = ["load_uci_har", "load_scenario", "PAPER_SCENARIOS", "BUNDLED_SUBJECTS", "get_data_home"]

#: The five cross-subject scenarios of the RCD-KD paper (source, target).
PAPER_SCENARIOS = ((2, 11), (7, 13), (12, 16), (9, 18), (6, 23))
#: Subjects of the bundled demo subset (the ten subjects of the paper scenarios).
BUNDLED_SUBJECTS = (2, 11, 7, 13, 12, 16, 9, 18, 6, 23)
_FULL_FILE = "uci_har_subjects.npz"
_KEYS = {"X": 3, "y": 1, "subject": 1, "split": 1}


def get_data_home(data_home=None):
    """Folder holding the full data files.

    Order: the ``data_home`` argument, else the ``SKRCD_DATA_HOME`` environment
    variable, else ``~/.cache/skrcd``.

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
    env = os.environ.get("SKRCD_DATA_HOME")
    if env:
        return Path(env).expanduser()
    return Path("~/.cache/skrcd").expanduser()


def _read_npz(path):
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in _KEYS if k not in f.files]
            if missing:
                raise ValueError(f"{path}: missing arrays {missing}; expected {sorted(_KEYS)}")
            arrays = {k: f[k] for k in _KEYS}
    except (OSError, EOFError, ValueError) as exc:
        if isinstance(exc, ValueError) and "missing arrays" in str(exc):
            raise
        raise ValueError(f"{path}: not a readable UCI-HAR .npz file ({exc})") from exc
    for k, ndim in _KEYS.items():
        if arrays[k].ndim != ndim:
            raise ValueError(f"{path}: array {k!r} has {arrays[k].ndim} dimensions, expected {ndim}")
    n = arrays["X"].shape[0]
    if any(arrays[k].shape[0] != n for k in _KEYS):
        raise ValueError(f"{path}: arrays have different lengths")
    return arrays


def _find_full_file(data_home):
    home = get_data_home(data_home)
    for candidate in (home / _FULL_FILE, home / "uci_har" / _FULL_FILE):
        if candidate.is_file():
            return candidate
    return None


def load_uci_har(subjects=None, split=None, data_home=None):
    """Load UCI-HAR windows (9 channels x 128 steps, 6 activities), one domain per subject.

    Reads ``uci_har_subjects.npz`` from the data home (see :func:`get_data_home`);
    when it is absent and the requested subjects are all in the bundled demo
    subset (subjects 2, 6, 7, 9, 11, 12, 13, 16, 18, 23, stored as float16), the
    bundled subset is used.

    Parameters
    ----------
    subjects : int or sequence of int, optional
        Subjects (1..30) to keep; all by default.
    split : {"train", "test"} or None, default=None
        Keep only each subject's train or test part.
    data_home : str or path-like, optional
        Folder with the full file.

    Returns
    -------
    X : numpy.ndarray of shape (n, 9, 128), float32
    y : numpy.ndarray of shape (n,), int64
        Activity 0..5: walk, upstairs, downstairs, sit, stand, lie.
    subject : numpy.ndarray of shape (n,), int64
    split : numpy.ndarray of shape (n,), int64
        0 = train part, 1 = test part.

    Examples
    --------
    >>> X, y, subject, split = load_uci_har(subjects=2, split="train")
    >>> X.shape
    (211, 9, 128)
    """
    if split not in (None, "train", "test"):
        raise ValueError(f"split must be 'train', 'test' or None, got {split!r}")
    wanted = None if subjects is None else sorted({int(s) for s in np.atleast_1d(subjects)})
    path = _find_full_file(data_home)
    if path is None:
        if wanted is None or not set(wanted) <= set(BUNDLED_SUBJECTS):
            raise FileNotFoundError(
                f"{_FULL_FILE} not found in {get_data_home(data_home)} (set data_home= or SKRCD_DATA_HOME); "
                f"the bundled subset only holds subjects {sorted(BUNDLED_SUBJECTS)}"
            )
        path = resources.files("skrcd.datasets") / "data" / "uci_har_demo.npz"
    a = _read_npz(path)
    keep = np.ones(a["X"].shape[0], dtype=bool)
    if wanted is not None:
        keep &= np.isin(a["subject"], wanted)
    if split is not None:
        keep &= a["split"] == (0 if split == "train" else 1)
    return (
        a["X"][keep].astype(np.float32),
        a["y"][keep].astype(np.int64),
        a["subject"][keep].astype(np.int64),
        a["split"][keep].astype(np.int64),
    )


@dataclass
class Scenario:
    """The paper protocol's pieces of one source -> target scenario.

    Attributes
    ----------
    X_src, y_src : labelled source train part
    X_tgt : unlabelled target train part
    X_test, y_test : labelled target test part (for evaluation only)
    X_src_test, y_src_test : labelled source test part
    """

    X_src: np.ndarray
    y_src: np.ndarray
    X_tgt: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    X_src_test: np.ndarray
    y_src_test: np.ndarray


def load_scenario(dataset="uci_har", source=2, target=11, data_home=None):
    """Pieces of a cross-domain scenario under the paper protocol.

    Parameters
    ----------
    dataset : {"uci_har"}, default="uci_har"
    source, target : int
        Source and target domains (subjects for UCI-HAR).
    data_home : str or path-like, optional

    Returns
    -------
    Scenario

    Examples
    --------
    >>> sc = load_scenario("uci_har", source=2, target=11)
    >>> sc.X_src.shape, sc.X_tgt.shape, sc.X_test.shape
    ((211, 9, 128), (221, 9, 128), (95, 9, 128))
    """
    if dataset != "uci_har":
        raise ValueError(f"unknown dataset {dataset!r}; available: 'uci_har'")
    X, y, subj, split = load_uci_har(subjects=[source, target], data_home=data_home)
    s, t = subj == source, subj == target
    tr, te = split == 0, split == 1
    return Scenario(X[s & tr], y[s & tr], X[t & tr], X[t & te], y[t & te], X[s & te], y[s & te])
