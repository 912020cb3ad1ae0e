"""AdaTime's preprocessed data sets (UCI-HAR, HHAR, WISDM, FD, SSC) on NTU's Dataverse: registry, fetcher, loader.

AdaTime (Ragab et al., TKDD 2023) publishes one Dataverse dataset per data set,
each domain a pair of files ``train_<id>.pt`` and ``test_<id>.pt`` holding a dict
with ``samples`` (windows; channels first or last, or 2-D for one channel) and
``labels``. :func:`fetch_adatime` resolves the DOI to its file list, downloads the
domain files verified against the checksums the repository publishes, converts
them with :func:`parse_adatime` and caches one ``.npz`` per data set, which
:func:`load_adatime` (and :func:`~skrcd.datasets.load_scenario`) read.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._base import ArraySpec, find_file, get_data_home, read_npz, select_domains, select_rows, split_code, write_npz
from ._dataverse import DATAVERSE_SERVER, dataset_record, download_file, is_verified_copy
from ._torchfile import read_torch_arrays

__all__ = ["AdaTimeDataset", "ADATIME_DATASETS", "fetch_adatime", "load_adatime", "parse_adatime"]


@dataclass(frozen=True, eq=False)
class AdaTimeDataset:
    """One of AdaTime's preprocessed data sets: where it is published, its form and its scenario lists.

    Attributes
    ----------
    name : str
        skrcd's name (``load_scenario``, ``skrcd benchmark --dataset``).
    title : str
    doi : str
        The Dataverse dataset on :data:`~skrcd.datasets.DATAVERSE_SERVER`.
    domains : tuple of int
        Domain ids (the ``<id>`` of the file names).
    domain_kind : str
        What a domain is (``"subject"``, ``"user"``, ``"working condition"``).
    channels, length : int
        Shape of a window: ``(channels, length)``.
    classes : tuple of str
        Names of the labels ``0..len(classes) - 1``.
    scenarios : dict of {str: tuple of (int, int)}
        Named (source, target) lists: ``"paper"`` (the RCD-KD paper's, where it
        uses the data set) and ``"adatime"`` (AdaTime's ten).
    source : str
        The original data.
    filename : str
        The cached ``.npz`` (in ``<data home>/<name>/``).
    domain_key : str
        Name of the domain array in the ``.npz``.

    Examples
    --------
    >>> spec = ADATIME_DATASETS["hhar"]
    >>> spec.channels, spec.length, len(spec.classes), spec.scenarios["paper"][0]
    (3, 128, 6, (2, 7))
    """

    name: str
    title: str
    doi: str
    domains: tuple
    domain_kind: str
    channels: int
    length: int
    classes: tuple
    scenarios: dict = field(repr=False)
    source: str = field(repr=False)
    filename: str = ""
    domain_key: str = "domain"

    def array_specs(self):
        """What ``read_npz`` checks in the cached file."""
        return {
            "X": ArraySpec(("n", self.channels, self.length), "f", finite=True),
            "y": ArraySpec(("n",), "iu", (0, len(self.classes) - 1)),
            self.domain_key: ArraySpec(("n",), "iu", (min(self.domains), max(self.domains))),
            "split": ArraySpec(("n",), "iu", (0, 1)),
        }


def _pairs(text):
    return tuple(tuple(int(d) for d in pair.split("-")) for pair in text.split())


# Scenario lists: "adatime" from AdaTime's configs/data_model_configs.py; "paper" from the RCD-KD authors'
# public code (configs/data_model_configs.py), whose lists are the paper's. WISDM is not in the paper.
#: The data sets :func:`fetch_adatime` knows, by skrcd name.
ADATIME_DATASETS = {
    spec.name: spec for spec in (
        AdaTimeDataset(
            "uci_har", "UCI-HAR", "doi:10.21979/N9/0SYHTZ", tuple(range(1, 31)), "subject", 9, 128,
            ("walk", "upstairs", "downstairs", "sit", "stand", "lie"),
            {"paper": _pairs("2-11 7-13 12-16 9-18 6-23"),
             "adatime": _pairs("2-11 6-23 7-13 9-18 12-16 18-27 20-5 24-8 28-27 30-20")},
            "UCI Human Activity Recognition Using Smartphones (Anguita et al., 2013)",
            "uci_har_subjects.npz", "subject"),
        AdaTimeDataset(
            "hhar", "HHAR", "doi:10.21979/N9/OWDFXO", tuple(range(9)), "user", 3, 128,
            ("bike", "sit", "stand", "walk", "stairs_up", "stairs_down"),
            {"paper": _pairs("2-7 0-6 1-6 3-8 4-5"),
             "adatime": _pairs("0-6 1-6 2-7 3-8 4-5 5-0 6-1 7-4 8-3 0-2")},
            "Heterogeneity Human Activity Recognition (Stisen et al., 2015), Samsung devices' accelerometers",
            "hhar_domains.npz"),
        AdaTimeDataset(
            "wisdm", "WISDM", "doi:10.21979/N9/KJWE5B", tuple(range(36)), "user", 3, 128,
            ("walk", "jog", "sit", "stand", "upstairs", "downstairs"),
            {"adatime": _pairs("7-18 20-30 35-31 17-23 6-19 2-11 33-12 5-26 28-4 23-32")},
            "WISDM activity prediction (Kwapisz et al., 2011), phone accelerometer", "wisdm_domains.npz"),
        AdaTimeDataset(
            "fd", "FD (Paderborn bearings)", "doi:10.21979/N9/PU85XN", tuple(range(4)), "working condition",
            1, 5120, ("Healthy", "D1", "D2"),
            {"paper": _pairs("0-3 0-1 2-1 1-2 2-3"),
             "adatime": _pairs("0-1 0-3 1-0 1-2 1-3 2-1 2-3 3-0 3-1 3-2")},
            "Paderborn University bearing data center (Lessmeier et al., 2016), vibration", "fd_domains.npz"),
        AdaTimeDataset(
            "ssc", "SSC (Sleep-EDF)", "doi:10.21979/N9/UD1IM9", tuple(range(20)), "subject", 1, 3000,
            ("W", "N1", "N2", "N3", "REM"),
            {"paper": _pairs("0-11 12-5 7-18 16-1 9-14"),
             "adatime": _pairs("0-11 7-18 9-14 12-5 16-1 3-19 18-12 13-17 5-15 6-2")},
            "Sleep-EDF on PhysioNet (Kemp et al., 2000), one EEG channel, 30 s epochs at 100 Hz",
            "ssc_domains.npz"),
    )
}
_FILE = re.compile(r"(train|test)_(\d+)\.pt")


def _spec(name):
    if name not in ADATIME_DATASETS:
        raise ValueError(f"unknown AdaTime data set {name!r}; available: {sorted(ADATIME_DATASETS)}")
    return ADATIME_DATASETS[name]


def _as_windows(samples, spec, where):
    """``(n, channels, length)`` float32 from 2-D or channels-first/last 3-D samples, by the known shape."""
    c, length = spec.channels, spec.length
    if samples.ndim == 2 and c == 1 and samples.shape[1] == length:
        samples = samples[:, None, :]
    elif samples.ndim == 3 and samples.shape[1:] == (c, length):
        pass
    elif samples.ndim == 3 and samples.shape[1:] == (length, c):
        samples = samples.transpose(0, 2, 1)
    else:
        raise ValueError(f"{where}: samples have shape {samples.shape}; expected {spec.title} windows of {c} "
                         f"channel(s) x {length} steps, channels first (n, {c}, {length}) or last (n, {length}, {c})"
                         + (f" or (n, {length})" if c == 1 else ""))
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    if not np.isfinite(samples).all():
        raise ValueError(f"{where}: samples contain NaN or infinite values")
    return samples


def _as_labels(labels, n, spec, where):
    labels = labels.reshape(-1) if labels.ndim == 2 and 1 in labels.shape else labels
    if labels.shape != (n,):
        raise ValueError(f"{where}: labels have shape {labels.shape}, expected ({n},) (one per window)")
    if labels.dtype.kind == "f" and not (np.isfinite(labels).all() and (labels == np.round(labels)).all()):
        raise ValueError(f"{where}: labels are not whole numbers")
    labels = labels.astype(np.int64)
    if n and (labels.min() < 0 or labels.max() >= len(spec.classes)):
        raise ValueError(f"{where}: labels in [{labels.min()}, {labels.max()}], expected 0..{len(spec.classes) - 1} "
                         f"({', '.join(spec.classes)})")
    return labels


def parse_adatime(name, folder):
    """Convert AdaTime's ``train_<id>.pt`` / ``test_<id>.pt`` files of a data set to the loader's arrays.

    Each file is read with ``torch.load(..., weights_only=True)`` (numeric numpy
    arrays allowed too): a file holding any other pickled object is refused
    without building it. The windows' layout (channels first or last, or 2-D for a
    single channel) is detected from the data set's known channel count and
    window length; anything else is an error naming the file.

    Parameters
    ----------
    name : {"uci_har", "hhar", "wisdm", "fd", "ssc"}
    folder : str or path-like
        Folder holding the two files of every domain of :data:`ADATIME_DATASETS` ``[name]``.

    Returns
    -------
    dict
        ``X`` (n, channels, length) float32, ``y`` (n,) int8, the domain array
        (``domain``; ``subject`` for UCI-HAR) and ``split`` (n,) int8 (0 = the
        domain's ``train`` file, 1 = its ``test`` file), ``classes`` (str); rows
        ordered by domain, then train before test, in file order.

    Raises
    ------
    FileNotFoundError
        A domain's file is missing.
    ValueError
        A refused, unreadable or malformed file (naming it).

    Examples
    --------
    >>> import tempfile, pathlib, torch
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for d in ADATIME_DATASETS["fd"].domains:
    ...     for part in ("train", "test"):
    ...         torch.save({"samples": torch.zeros(2, 5120), "labels": torch.tensor([0, 2])},
    ...                    folder / f"{part}_{d}.pt")
    >>> a = parse_adatime("fd", folder)
    >>> a["X"].shape, a["domain"].tolist()[:5], a["split"].tolist()[:5]
    ((16, 1, 5120), [0, 0, 0, 0, 1], [0, 0, 1, 1, 0])
    """
    spec = _spec(name)
    folder = Path(folder)
    X, y, domain, split = [], [], [], []
    for d in spec.domains:
        for code, part in enumerate(("train", "test")):
            path = folder / f"{part}_{d}.pt"
            if not path.is_file():
                raise FileNotFoundError(f"{path} is missing: {spec.title} needs train_<id>.pt and test_<id>.pt for "
                                        f"every domain {min(spec.domains)}..{max(spec.domains)}")
            arrays = read_torch_arrays(path, ("samples", "labels"))
            windows = _as_windows(arrays["samples"], spec, path)
            X.append(windows)
            y.append(_as_labels(arrays["labels"], len(windows), spec, path))
            domain.append(np.full(len(windows), d))
            split.append(np.full(len(windows), code))
    return {
        "X": np.concatenate(X),
        "y": np.concatenate(y).astype(np.int8),
        spec.domain_key: np.concatenate(domain).astype(np.int16),
        "split": np.concatenate(split).astype(np.int8),
        "classes": np.array(spec.classes, dtype=str),
    }


def load_adatime(name, domains=None, split=None, data_home=None, return_type="numpy3D"):
    """Load one of AdaTime's preprocessed data sets, one domain per subject, user or working condition.

    Reads the ``.npz`` that :func:`fetch_adatime` writes (``<name>_domains.npz``;
    ``uci_har_subjects.npz`` for UCI-HAR) from the data home (see
    :func:`~skrcd.datasets.get_data_home`; also its ``<name>/`` folder). Everything
    read is validated (arrays, shapes, dtypes, value ranges, finite values).

    ========  ====================  =========  ========  =======  ===========
    name      domains               channels   length    classes  kind
    ========  ====================  =========  ========  =======  ===========
    uci_har   1..30                 9          128       6        subject
    hhar      0..8                  3          128       6        user
    wisdm     0..35                 3          128       6        user
    fd        0..3                  1          5120      3        condition
    ssc       0..19                 1          3000      5        subject
    ========  ====================  =========  ========  =======  ===========

    Parameters
    ----------
    name : {"hhar", "wisdm", "fd", "ssc", "uci_har"}
    domains : int or sequence of int, optional
        Domains to keep; all by default.
    split : {"train", "test"} or None, default=None
        Keep only each domain's train or test part (AdaTime's split).
    data_home : str or path-like, optional
    return_type : str, default="numpy3D"
        sktime Panel mtype of ``X`` (see :func:`~skrcd.datasets.load_uci_har`).

    Returns
    -------
    X : numpy.ndarray of shape (n, channels, length), float32, or the requested mtype
    y : numpy.ndarray of shape (n,), int64
        Class ``0..k-1``, names in ``ADATIME_DATASETS[name].classes``.
    domain : numpy.ndarray of shape (n,), int64
    split : numpy.ndarray of shape (n,), int64
        0 = train part, 1 = test part.

    Raises
    ------
    FileNotFoundError
        The file is not in the data home (the message names the fetch call).
    ValueError
        Unknown name or domain, or a corrupt, truncated or malformed file.

    Examples
    --------
    >>> X, y, domain, split = load_adatime("hhar", domains=[0, 6])  # doctest: +SKIP
    >>> ADATIME_DATASETS["ssc"].classes
    ('W', 'N1', 'N2', 'N3', 'REM')
    """
    spec = _spec(name)
    code = split_code(split)
    wanted = select_domains(domains, spec.domains, "domains")
    path = find_file(spec.filename, spec.name, data_home)
    if path is None:
        raise FileNotFoundError(
            f"{spec.filename} not found in {get_data_home(data_home)} (nor in its {spec.name}/ folder); set "
            f"data_home= or SKRCD_DATA_HOME, or run skrcd.datasets.fetch_adatime({spec.name!r})")
    arrays = read_npz(path, spec.array_specs(), spec.title)
    return select_rows(arrays, spec.domain_key, wanted, code, path, return_type, spec.title)


def _domain_files(record, spec):
    """``{file name: DataverseFile}`` of the record's domain files; an error naming what is missing or doubled."""
    found = {}
    for f in record.files:
        match = _FILE.fullmatch(f.filename)
        if match is None:  # notebooks, scripts, READMEs
            continue
        if f.filename in found:
            raise ValueError(f"{record.doi}: {f.filename} is in the record twice ({found[f.filename].directory!r} "
                             f"and {f.directory!r})")
        found[f.filename] = f
    wanted = [f"{part}_{d}.pt" for d in spec.domains for part in ("train", "test")]
    missing = [w for w in wanted if w not in found]
    if missing:
        raise ValueError(f"{record.doi} ({record.server}) lacks {len(missing)} domain file(s) of {spec.title}: "
                         f"{missing[:6]}{' ...' if len(missing) > 6 else ''}")
    return {w: found[w] for w in wanted}


def fetch_adatime(name, data_home=None, *, server=None, doi=None, force=False, timeout=60.0, opener=None,
                  progress=True):
    """Download one of AdaTime's preprocessed data sets from its Dataverse DOI, verify it and cache the arrays.

    Does nothing when the data set's ``.npz`` is already in the data home (unless
    ``force``). Otherwise:

    1. asks the Dataverse native API for the DOI's latest version
       (``{server}/api/datasets/:persistentId/?persistentId={doi}``): its files,
       their published checksums and the licence;
    2. downloads each ``train_<id>.pt`` / ``test_<id>.pt`` of the data set's
       domains from ``{server}/api/access/datafile/{id}`` to
       ``<home>/<name>/raw/`` with a progress bar (files already there and matching
       their checksum are reused), each checked against its published size and
       checksum (MD5, SHA-1, SHA-256 or SHA-512, as the API names it) before it is
       renamed into place: a corrupt or interrupted download leaves no file;
    3. converts them with :func:`parse_adatime` (``weights_only`` loading: a file
       holding a pickled object other than tensors and numeric arrays is refused)
       and writes ``<home>/<name>/<file>.npz`` atomically, with the DOI, the
       version and the licence as published in its ``provenance`` and ``license``
       arrays.

    For ``"uci_har"`` the file is ``uci_har_subjects.npz``, which
    :func:`~skrcd.datasets.load_uci_har` reads: AdaTime's per-subject split, the
    paper's (:func:`~skrcd.datasets.fetch_uci_har` parses the original archive
    with a split of its own).

    Parameters
    ----------
    name : {"hhar", "wisdm", "fd", "ssc", "uci_har"}
    data_home : str or path-like, optional
        See :func:`~skrcd.datasets.get_data_home`.
    server : str, optional
        Dataverse installation; default :data:`~skrcd.datasets.DATAVERSE_SERVER` (NTU's).
    doi : str, optional
        Default: the data set's (:data:`ADATIME_DATASETS`).
    force : bool, default=False
        Download and convert again even if the files exist.
    timeout : float, default=60
        Seconds per connection attempt.
    opener : callable, optional
        ``opener(url, timeout)`` returning a readable binary response (a context
        manager); :func:`urllib.request.urlopen` by default. Tests pass one that
        serves local bytes.
    progress : bool, default=True
        A progress bar over the bytes to download (stderr).

    Returns
    -------
    pathlib.Path
        The cached ``.npz`` file.

    Raises
    ------
    OSError
        The repository could not be reached (no network).
    ValueError
        Unknown name; an unexpected API answer; a domain file missing from the
        record; a size or checksum mismatch (the download is deleted); a refused
        or malformed ``.pt`` file.

    Examples
    --------
    >>> path = fetch_adatime("hhar")  # doctest: +SKIP
    >>> X, y, user, split = load_adatime("hhar")  # doctest: +SKIP
    """
    spec = _spec(name)
    home = get_data_home(data_home)
    existing = find_file(spec.filename, spec.name, home)
    if existing is not None and not force:
        return existing
    server = DATAVERSE_SERVER if server is None else server
    record = dataset_record(spec.doi if doi is None else doi, server, opener, timeout)
    files = _domain_files(record, spec)
    raw = home / spec.name / "raw"
    todo = [f for f in files.values() if force or not is_verified_copy(raw / f.filename, f)]
    from tqdm import tqdm

    with tqdm(total=sum(f.size or 0 for f in todo), desc=f"{spec.name} ({len(todo)} files)", unit="B",
              unit_scale=True, unit_divisor=1024, file=sys.stderr, disable=not progress or not todo) as bar:
        for f in todo:
            download_file(f, raw / f.filename, server, opener, timeout, bar)
    arrays = parse_adatime(spec.name, raw)
    checks = sorted({f.algorithm.upper() for f in files.values() if f.algorithm}) or ["no"]
    arrays["provenance"] = np.array(
        f"AdaTime's preprocessed {spec.title} (Ragab et al., TKDD 2023): {record.doi} on {server}, version "
        f"{record.version}; {len(files)} files verified against the repository's {'/'.join(checks)} checksums. "
        f"Original data: {spec.source}")
    arrays["license"] = np.array(record.license)
    return write_npz(home / spec.name / spec.filename, arrays)
