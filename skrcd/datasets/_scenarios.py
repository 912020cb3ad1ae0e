"""The cross-domain scenarios of every data set under the paper protocol, and one loader for them all."""

from __future__ import annotations

from functools import partial

from ._adatime import ADATIME_DATASETS, load_adatime
from ._base import Scenario, as_return_type
from ._cwru import LOADS, load_cwru
from ._skewed import skewed_scenario
from ._uci_har import SUBJECTS, load_uci_har

__all__ = ["load_scenario", "load_dataset", "Scenario", "DATASET_DOMAINS", "SKEWED_DATASETS"]

# name -> (loader, its domain argument, valid domains, what a domain is)
_DATASETS = {
    "uci_har": (load_uci_har, "subjects", SUBJECTS, "subject"),
    "cwru": (load_cwru, "loads", LOADS, "load"),
}
_DATASETS.update({name: (partial(load_adatime, name), "domains", spec.domains, spec.domain_kind)
                  for name, spec in ADATIME_DATASETS.items() if name not in _DATASETS})
#: The valid domain ids of each balanced data set (subjects, users, loads, operating conditions).
DATASET_DOMAINS = {name: tuple(entry[2]) for name, entry in _DATASETS.items()}
#: The skewed families: the balanced data set they subsample (:func:`~skrcd.datasets.skewed_scenario`).
SKEWED_DATASETS = {"uci_har_skewed": "uci_har", "cwru_skewed": "cwru"}


def load_dataset(dataset, domains=None, split=None, data_home=None, return_type="numpy3D"):
    """Load any balanced data set by name: ``(X, y, domain, split)``.

    One entry point for :func:`~skrcd.datasets.load_uci_har`,
    :func:`~skrcd.datasets.load_cwru` and :func:`~skrcd.datasets.load_adatime`.

    Parameters
    ----------
    dataset : {"uci_har", "cwru", "hhar", "wisdm", "fd", "ssc"}
    domains : int or sequence of int, optional
        Domains to keep (:data:`DATASET_DOMAINS` lists the valid ones); all by default.
    split : {"train", "test"} or None, default=None
    data_home : str or path-like, optional
    return_type : str, default="numpy3D"

    Returns
    -------
    X, y, domain, split : numpy.ndarray
        As the data set's own loader returns them.

    Raises
    ------
    FileNotFoundError
        The data file is absent (the message names the fetch function).
    ValueError
        Unknown data set or domain, or a malformed file.

    Examples
    --------
    >>> X, y, subject, split = load_dataset("uci_har", domains=2, split="test")
    >>> X.shape, sorted(DATASET_DOMAINS["fd"])
    ((91, 9, 128), [0, 1, 2, 3])
    """
    if dataset not in _DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; available: {sorted(_DATASETS)}")
    loader, arg, _, _ = _DATASETS[dataset]
    return loader(**{arg: domains}, split=split, data_home=data_home, return_type=return_type)


def load_scenario(dataset="uci_har", source=2, target=11, data_home=None, return_type="numpy3D", seed=0):
    """Pieces of a cross-domain scenario under the paper protocol.

    Adapt with the source domain's train part (labelled) and the target domain's
    train part (unlabelled); evaluate on the target domain's test part.

    Parameters
    ----------
    dataset : {"uci_har", "cwru", "hhar", "wisdm", "fd", "ssc", "uci_har_skewed", "cwru_skewed"}, default="uci_har"
        ``*_skewed``: the small, skewed version of the scenario (label shift
        between source and target; :func:`~skrcd.datasets.skewed_scenario`),
        drawn for ``seed``.
    source, target : int
        Source and target domains: subjects 1..30 for UCI-HAR (e.g. the paper's
        :data:`~skrcd.datasets.PAPER_SCENARIOS`), motor loads 0..3 for CWRU (e.g.
        :data:`~skrcd.datasets.CWRU_SCENARIOS`); for the AdaTime sets, the ids of
        :data:`~skrcd.datasets.DATASET_DOMAINS` (their named lists are
        ``ADATIME_DATASETS[name].scenarios``).
    data_home : str or path-like, optional
        See :func:`~skrcd.datasets.get_data_home`; UCI-HAR scenarios within the
        bundled subjects work without it. The others need their data file
        (:func:`~skrcd.datasets.fetch_cwru`, :func:`~skrcd.datasets.fetch_adatime`).
    return_type : str, default="numpy3D"
        sktime Panel mtype of the ``X_*`` pieces (see :func:`load_uci_har`).
    seed : int, default=0
        The skewed families' draw (ignored by the balanced data sets).

    Returns
    -------
    Scenario
        ``X_src, y_src`` (source train), ``X_tgt`` (target train, unlabelled),
        ``X_test, y_test`` (target test), ``X_src_test, y_src_test`` (source test)
        and ``y_tgt`` (target train labels, for evaluation only); the skewed
        families add ``w_test``, ``source_profile`` and ``target_profile``.

    Raises
    ------
    ValueError
        Unknown data set or domain, or ``source == target``.

    Examples
    --------
    >>> sc = load_scenario("uci_har", source=2, target=11)
    >>> sc.X_src.shape, sc.X_tgt.shape, sc.X_test.shape
    ((211, 9, 128), (221, 9, 128), (95, 9, 128))
    >>> sk = load_scenario("uci_har_skewed", source=2, target=11, seed=1)
    >>> len(sk.y_src) <= 100, int((sk.target_profile == 0).sum())  # seed 1: one class absent from the target
    (True, 1)
    >>> sc = load_scenario("cwru", source=0, target=1)  # doctest: +SKIP
    >>> sc = load_scenario("ssc", source=0, target=11)  # doctest: +SKIP
    """
    if dataset in SKEWED_DATASETS:
        if isinstance(seed, bool) or not isinstance(seed, int) and not hasattr(seed, "__index__") or int(seed) < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        balanced = load_scenario(SKEWED_DATASETS[dataset], source, target, data_home, return_type="numpy3D")
        sk = skewed_scenario(balanced, int(seed), int(source), int(target))
        if return_type != "numpy3D":
            for name in ("X_src", "X_tgt", "X_test", "X_src_test"):
                setattr(sk, name, as_return_type(getattr(sk, name), return_type, SKEWED_DATASETS[dataset]))
        return sk
    if dataset not in _DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; available: {sorted([*_DATASETS, *SKEWED_DATASETS])}")
    loader, arg, valid, what = _DATASETS[dataset]
    for name, value in (("source", source), ("target", target)):
        if isinstance(value, bool) or not isinstance(value, int) and not hasattr(value, "__index__"):
            raise TypeError(f"{name} must be an int ({what}), got {value!r}")
        if int(value) not in valid:
            raise ValueError(f"{name}={value!r} is not a {what} of {dataset}; valid: {min(valid)}..{max(valid)}")
    source, target = int(source), int(target)
    if source == target:
        raise ValueError(f"source and target are both {what} {source}: a scenario needs two domains")
    X, y, domain, split = loader(**{arg: [source, target]}, data_home=data_home)
    s, t = domain == source, domain == target
    tr, te = split == 0, split == 1

    def part(mask):
        return as_return_type(X[mask], return_type, dataset)

    return Scenario(
        part(s & tr), y[s & tr], part(t & tr), part(t & te), y[t & te], part(s & te), y[s & te], y[t & tr]
    )
