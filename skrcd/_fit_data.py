"""What ``fit`` makes of its arguments before any training: the domain split, the classes, the row weights, the
validation rows and the standardisation statistics (:func:`prepare_fit_data`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skorch.dataset import ValidSplit
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.validation import _check_sample_weight, check_random_state

from ._estimator_checks import check_class_weight_keys, check_sizes, check_warm_architecture, check_warm_start
from ._traps import warn_channels_last, warn_mask_label_rows, warn_mask_label_type, warn_x_tgt_traps
from .data import balanced_domain_stats, channel_stats, is_flat_table, warn_unstandardized_scale
from .domains import split_domains

__all__ = ["FitData", "prepare_fit_data", "validation_rows"]


@dataclass
class FitData:
    """The checked inputs of one fit.

    Attributes
    ----------
    split : skrcd.domains.DomainSplit
        The labelled source and the unlabelled target.
    classes, y_idx : numpy.ndarray
        The sorted class labels and each source row's class index.
    flat : bool
        Whether ``X`` was a flat table (its columns are the time steps).
    weights : numpy.ndarray or None
        Each source row's weight (``sample_weight`` times ``class_weight``).
    seed : int
        The fit's seed, drawn from ``random_state``.
    train, valid : numpy.ndarray or None
        The source rows to train on and to validate on (``train_split``), or None.
    stats : tuple of numpy.ndarray or None
        ``(mean, std)`` per channel that ``predict`` applies (None: raw inputs).
    source_stats : tuple of numpy.ndarray or None
        The source's own statistics where they differ from ``stats`` (``standardize="domain"`` or
        ``"balanced"``).
    """

    split: object
    classes: np.ndarray
    y_idx: np.ndarray
    flat: bool
    weights: np.ndarray | None
    seed: int
    train: np.ndarray | None
    valid: np.ndarray | None
    stats: tuple | None
    source_stats: tuple | None


def prepare_fit_data(est, X, y, X_tgt, sample_domain, sample_weight, warm):
    """Split, check and weigh the data of ``est.fit`` and compute the standardisation statistics.

    Warns about the usual input mistakes (:mod:`skrcd._traps`) and raises, before any training, on sizes the data
    make impossible and, with ``warm``, on data or parameters the fitted networks cannot continue with.

    Parameters
    ----------
    est : skrcd.RCDKDClassifier
    X, y, X_tgt, sample_domain, sample_weight
        The arguments of ``fit``.
    warm : bool
        Whether the fit continues the fitted networks (``warm_start``).

    Returns
    -------
    FitData
    """
    split = split_domains(X, y, X_tgt, sample_domain, est.mask_label)
    if split.mode == "X_tgt":
        warn_x_tgt_traps(est, split.X_src.shape[0], split.X_tgt.shape[0], X_tgt)
    elif split.mode == "source_only" and sample_domain is None:
        warn_mask_label_type(split.y_src, est.mask_label)
    elif split.mode == "masked":
        warn_mask_label_rows(split.source_rows, est.mask_label)
    flat = is_flat_table(X, split.X_src)
    if not flat:
        warn_channels_last(split.X_src.shape[1], split.X_src.shape[2])
    classes, y_idx = np.unique(split.y_src, return_inverse=True)  # >= 2: split_domains checked
    check_sizes(est, split, len(classes))
    if warm:
        check_warm_start(est, classes, split.X_src.shape[1])
        check_warm_architecture(est)
    n_rows = split.X_src.shape[0] if split.source_rows is None else split.source_rows.shape[0]
    weights = None
    if sample_weight is not None:
        weights = _check_sample_weight(sample_weight, np.empty((n_rows, 0)), dtype=np.float64,
                                       ensure_non_negative=True)
        if split.source_rows is not None:
            weights = weights[split.source_rows]
    if isinstance(est.class_weight, dict):
        check_class_weight_keys(est.class_weight, classes)
    if est.class_weight is not None:
        cw = compute_class_weight(est.class_weight, classes=classes, y=split.y_src)
        weights = cw[y_idx] if weights is None else weights * cw[y_idx]
    seed = int(check_random_state(est.random_state).randint(0, 2**31 - 1))
    train, valid = validation_rows(est.train_split, y_idx, seed)
    X_train = split.X_src if train is None else split.X_src[train]
    stats = source_stats = None
    if est.standardize == "domain":  # each domain with its own statistics; predict uses the target's
        stats, source_stats = channel_stats(split.X_tgt), channel_stats(X_train)
    elif est.standardize == "balanced":  # the same, as if each domain's classes were equally frequent
        source_stats, stats = balanced_domain_stats(X_train, y_idx if train is None else y_idx[train], split.X_tgt)
    elif est.standardize:
        stats = channel_stats(X_train, split.X_tgt)
    else:
        warn_unstandardized_scale((split.X_src, split.X_tgt), ("the source data", "the target data"))
    return FitData(split, classes, y_idx, flat, weights, seed, train, valid, stats, source_stats)


def validation_rows(train_split, y_idx, seed):
    """``(train, valid)`` row indices of the labelled source for ``train_split``, or ``(None, None)``.

    Parameters
    ----------
    train_split : float, skorch.dataset.ValidSplit or None
        A float is the validation share of a stratified split seeded with ``seed``.
    y_idx : numpy.ndarray
        The class index of each labelled source row.
    seed : int

    Returns
    -------
    tuple of numpy.ndarray or (None, None)
    """
    if train_split is None:
        return None, None
    splitter = train_split
    if not isinstance(splitter, ValidSplit):
        splitter = ValidSplit(cv=float(splitter), stratified=True, random_state=seed)
    try:
        train, valid = splitter(np.arange(len(y_idx)), y=y_idx)
    except ValueError as exc:
        raise ValueError(f"train_split={train_split!r} cannot split the {len(y_idx)} labelled source "
                         f"rows: {exc}") from None
    train, valid = np.asarray(train.indices), np.asarray(valid.indices)
    if len(valid) == 0 or len(np.unique(y_idx[train])) < 2:
        raise ValueError(f"train_split={train_split!r} leaves {len(valid)} validation rows and "
                         f"{len(np.unique(y_idx[train]))} classes to train on: the source is too small for it")
    return train, valid
