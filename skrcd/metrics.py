"""Scoring that knows about masked rows: scikit-learn scorers and sktime metrics that skip the unlabelled target.

In the stacked form (the target rows in ``X``, labelled ``mask_label``), a
cross-validation's test fold holds masked rows, and a stock scorer counts their
label (-1) as a class. :func:`make_masked_scorer` wraps a scikit-learn scorer and
:func:`masked_metric` an ``(y_true, y_pred)`` metric so that those rows are dropped
before scoring:

- ``GridSearchCV(..., scoring=make_masked_scorer("f1_macro"))``,
  ``cross_val_score(..., scoring=make_masked_scorer("accuracy"))``;
- sktime: ``evaluate(..., scoring=masked_metric(accuracy_score))``,
  ``TSCGridSearchCV(..., scoring=masked_metric(f1_score, average="macro"))``,
  ``ClassificationBenchmark.add_task(..., [masked_metric(accuracy_score)])``.

``RCDKDClassifier.score`` and ``RCDKDSktimeClassifier.score`` skip masked rows
themselves; a stock scikit-learn scorer or sktime evaluation that is about to score
masked rows triggers a :class:`~skrcd.domains.MaskedRowsScoredWarning`.
"""

from __future__ import annotations

import numpy as np

from .domains import is_masked

__all__ = ["make_masked_scorer", "masked_metric", "masked_accuracy", "labelled_rows", "take_rows", "mask_label_of"]

#: The mask label used when an estimator does not say (skrcd's default).
DEFAULT_MASK_LABEL = -1


def mask_label_of(estimator, default=DEFAULT_MASK_LABEL):
    """The ``mask_label`` of an estimator, looked up through pipelines, searches and adapters.

    Parameters
    ----------
    estimator : object
        An skrcd estimator, a :class:`~sklearn.pipeline.Pipeline` ending with one, a
        fitted search (``best_estimator_``), an sktime adapter (``estimator``), ...
    default : object, default=-1
        Returned when no ``mask_label`` is found.

    Returns
    -------
    int, float, str or None

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from skrcd import RCDKDClassifier
    >>> from skrcd.transformers import ChannelStandardScaler
    >>> mask_label_of(make_pipeline(ChannelStandardScaler(), RCDKDClassifier(mask_label="?")))
    '?'
    """
    seen = 0
    while estimator is not None and seen < 8:
        seen += 1
        if hasattr(estimator, "mask_label"):
            return estimator.mask_label
        steps = getattr(estimator, "steps", None)
        if steps:
            estimator = steps[-1][1]
            continue
        for attr in ("best_estimator_", "estimator_", "estimator"):
            inner = getattr(estimator, attr, None)
            if inner is not None:
                estimator = inner
                break
        else:
            return default
    return default


def labelled_rows(y, mask_label):
    """Boolean mask of the rows of ``y`` whose label is not ``mask_label`` (all rows when it is None).

    Parameters
    ----------
    y : array-like of shape (n_samples,)
    mask_label : int, float, str or None

    Returns
    -------
    numpy.ndarray of bool

    Examples
    --------
    >>> labelled_rows([0, -1, 2, -1], -1).tolist()
    [True, False, True, False]
    """
    y = np.asarray(y)
    if mask_label is None:
        return np.ones(y.shape[0], dtype=bool)
    return ~is_masked(y.reshape(y.shape[0], -1)[:, 0] if y.ndim > 1 else y, mask_label)


def take_rows(X, keep):
    """The rows (instances) of ``X`` where ``keep`` is True, in ``X``'s own type.

    Parameters
    ----------
    X : numpy.ndarray, torch.Tensor, pandas object (sktime's ``pd-multiindex`` too), list or array-like
    keep : numpy.ndarray of bool of shape (n_rows,)

    Returns
    -------
    object
        The kept rows, of ``X``'s type.

    Examples
    --------
    >>> take_rows([[1, 2], [3, 4], [5, 6]], np.array([True, False, True]))
    [[1, 2], [5, 6]]
    """
    import torch

    if isinstance(X, np.ndarray):
        return X[keep]
    if isinstance(X, torch.Tensor):
        return X[torch.as_tensor(keep, device=X.device)]
    if hasattr(X, "iloc"):
        import pandas as pd

        if isinstance(X.index, pd.MultiIndex):  # sktime's pd-multiindex: instances on the first level
            instances = X.index.get_level_values(0).unique()
            return X.loc[instances[keep]]
        return X.iloc[np.flatnonzero(keep)]
    if isinstance(X, (list, tuple)):
        return [x for x, k in zip(X, keep) if k]
    from sklearn.utils import _safe_indexing

    return _safe_indexing(X, np.flatnonzero(keep))


def masked_accuracy(y, y_pred, mask_label, sample_weight=None):
    """Accuracy of ``y_pred`` on the rows of ``y`` not labelled ``mask_label``: the ``score`` of skrcd's estimators.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
    y_pred : array-like of shape (n_samples,)
    mask_label : int, float, str or None
    sample_weight : array-like of shape (n_samples,), optional

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If every row is labelled ``mask_label``.

    Examples
    --------
    >>> masked_accuracy([0, 1, -1, -1], [0, 0, 1, 1], mask_label=-1)
    0.5
    """
    from sklearn.metrics import accuracy_score

    y, y_pred = np.asarray(y), np.asarray(y_pred)
    labelled = labelled_rows(y, mask_label)
    if not labelled.any():
        raise ValueError(f"every row of y carries the mask label {mask_label!r}: nothing to score")
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight)[labelled]
    return float(accuracy_score(y[labelled], y_pred[labelled], sample_weight=sample_weight))


class _MaskedScorer:
    """A scikit-learn scorer that first drops the rows labelled ``mask_label``; see :func:`make_masked_scorer`."""

    def __init__(self, scorer, mask_label="auto", name=None):
        self.scorer, self.mask_label, self.name = scorer, mask_label, name

    def __call__(self, estimator, X, y_true, sample_weight=None, **kwargs):
        mask = mask_label_of(estimator) if isinstance(self.mask_label, str) and self.mask_label == "auto" \
            else self.mask_label
        y = np.asarray(y_true)
        n = y.shape[0]
        keep = labelled_rows(y, mask)
        if not keep.any():
            raise ValueError(f"every row of y carries the mask label {mask!r}: nothing to score")
        if not keep.all():
            X, y_true = take_rows(X, keep), take_rows(y_true, keep) if hasattr(y_true, "iloc") else y[keep]
            if sample_weight is not None:
                sample_weight = np.asarray(sample_weight)[keep]
            kwargs = {k: (np.asarray(v)[keep] if _is_per_row(v, n) else v) for k, v in kwargs.items()}
        if sample_weight is not None:
            kwargs["sample_weight"] = sample_weight
        return self.scorer(estimator, X, y_true, **kwargs)

    def get_metadata_routing(self):
        """The wrapped scorer's metadata requests (scikit-learn's metadata routing)."""
        from sklearn.utils.metadata_routing import get_routing_for_object

        return get_routing_for_object(self.scorer)

    def set_score_request(self, **kwargs):
        """Request metadata for the wrapped scorer (``sample_weight``, ``sample_domain``, ...); returns ``self``."""
        self.scorer.set_score_request(**kwargs)
        return self

    def __repr__(self):
        return f"make_masked_scorer({self.name or self.scorer!r})"


def _is_per_row(value, n):
    try:
        return hasattr(value, "__len__") and not isinstance(value, (str, dict)) and len(value) == n
    except TypeError:
        return False


def make_masked_scorer(scoring, *, mask_label="auto"):
    """A scikit-learn scorer that scores only the labelled rows (rows labelled ``mask_label`` are dropped).

    Use it as ``scoring=`` of ``GridSearchCV``, ``cross_val_score``,
    ``cross_validate``, ... on stacked data: the masked target rows of a test fold
    are not counted as a class. Other per-row arguments (``sample_weight``, routed
    metadata) are sliced alike.

    Parameters
    ----------
    scoring : str or callable
        A scikit-learn scorer name (``"f1_macro"``, ``"accuracy"``,
        ``"neg_log_loss"``, ...) or a scorer ``(estimator, X, y) -> float`` (for
        example from :func:`sklearn.metrics.make_scorer`).
    mask_label : "auto", int, float, str or None, default="auto"
        The label of the rows to drop; ``"auto"`` reads the estimator's own
        ``mask_label`` (through pipelines, searches and the sktime adapter; -1 when
        it has none). None drops nothing.

    Returns
    -------
    callable
        A scorer ``(estimator, X, y, sample_weight=None, **kwargs) -> float``.

    Raises
    ------
    ValueError
        When called on a fold whose rows are all masked.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.model_selection import cross_val_score
    >>> from skrcd import RCDKDClassifier
    >>> from skrcd.datasets import make_domain_shift
    >>> X_src, y_src, X_tgt, _ = make_domain_shift(n_source=40, n_target=40, length=16, random_state=0)
    >>> X, y = np.concatenate([X_src, X_tgt]), np.r_[y_src, np.full(len(X_tgt), -1)]
    >>> clf = RCDKDClassifier(teacher_epochs=1, student_epochs=1, selector_hidden=8, random_state=0)
    >>> scores = cross_val_score(clf, X, y, cv=2, scoring=make_masked_scorer("f1_macro"))
    >>> scores.shape
    (2,)
    """
    from sklearn.metrics import get_scorer

    name = scoring if isinstance(scoring, str) else None
    scorer = get_scorer(scoring) if isinstance(scoring, str) else scoring
    if not callable(scorer):
        raise TypeError(f"scoring must be a scikit-learn scorer name or a callable scorer, got {scoring!r}")
    return _MaskedScorer(scorer, mask_label, repr(name) if name else None)


def masked_metric(metric, mask_label=DEFAULT_MASK_LABEL, **metric_kwargs):
    """A metric ``(y_true, y_pred) -> float`` that skips the rows whose true label is ``mask_label``.

    For sktime, whose evaluation and tuners take metric functions:
    ``evaluate(..., scoring=masked_metric(accuracy_score))``,
    ``TSCGridSearchCV(..., scoring=masked_metric(f1_score, average="macro"))``,
    ``ClassificationBenchmark.add_task(..., [masked_metric(accuracy_score)])``.

    Parameters
    ----------
    metric : callable
        ``metric(y_true, y_pred, **kwargs) -> float``, e.g. :func:`sklearn.metrics.accuracy_score`.
    mask_label : int, float, str or None, default=-1
        The label of the rows to skip (None: skip nothing).
    **metric_kwargs
        Passed to ``metric`` (e.g. ``average="macro"``).

    Returns
    -------
    callable
        Named ``masked_<metric name>``, so that sktime reports it under its own name
        and infers its direction from the suffix (``_score``: higher is better).

    Examples
    --------
    >>> from sklearn.metrics import accuracy_score
    >>> acc = masked_metric(accuracy_score)
    >>> acc.__name__, acc([0, 1, -1, -1], [0, 0, 1, 1])
    ('masked_accuracy_score', 0.5)
    """
    def scored(y_true, y_pred, **kwargs):
        y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
        keep = labelled_rows(y_true, mask_label)
        if not keep.any():
            raise ValueError(f"every row of y_true carries the mask label {mask_label!r}: nothing to score")
        n = y_true.shape[0]
        kwargs = {k: (np.asarray(v)[keep] if _is_per_row(v, n) else v) for k, v in kwargs.items()}
        return metric(y_true[keep], y_pred[keep], **{**metric_kwargs, **kwargs})

    base = getattr(metric, "__name__", "metric")
    scored.__name__ = scored.__qualname__ = f"masked_{base}"
    scored.__doc__ = f"{base} over the rows whose true label is not {mask_label!r}."
    scored.skips_masked_rows = True
    return scored
