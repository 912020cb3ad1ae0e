"""sktime adapters: RCD-KD as an sktime classifier, and tools for cross-domain sktime benchmarks.

sktime classifiers cannot sit in scikit-learn's ``GridSearchCV`` and scikit-learn
estimators cannot be added to sktime benchmarks, so this module bridges the two:

- :class:`RCDKDSktimeClassifier` is an sktime ``BaseClassifier`` (numpy3D inner
  type, multivariate) that delegates to a configured
  :class:`~skrcd.RCDKDClassifier`. sktime's ``fit(X, y)`` has no place for a
  target domain, so rows whose label is the estimator's ``mask_label`` (-1 by
  default) are read as the unlabelled target: the stacked form.
- :class:`DropMaskedClassifier` wraps any sktime classifier so that it trains on
  the labelled rows only: a non-adaptive baseline fed the same stacked data.
- :func:`scenario_task` builds one cross-domain scenario as a benchmark task: the
  stacked data and a :class:`~sklearn.model_selection.PredefinedSplit` under which
  no target label is ever seen in training.

Both adapters' ``score`` skips the rows labelled ``mask_label``; sktime's
``evaluate``, tuners and benchmarks take metric functions, for which
:func:`skrcd.metrics.masked_metric` does the same.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import PredefinedSplit
from sktime.classification.base import BaseClassifier

from .classifier import RCDKDClassifier
from .domains import is_masked
from .metrics import labelled_rows, mask_label_of, masked_accuracy, take_rows

__all__ = ["RCDKDSktimeClassifier", "DropMaskedClassifier", "scenario_task"]

#: Settings that make one fit take well under a second on the tiny test panels of sktime's checks.
_TEST_SETTINGS = dict(
    teacher_epochs=1, student_epochs=1, teacher_channels=(8, 8, 8), student_channels=(4, 4, 4),
    selector_hidden=16, learning_starts=10, mc_passes=2, n_episodes=1, batch_size=8,
    device="cpu", n_threads=1, random_state=0,
)


def _set_classes(clf, classes):
    clf.classes_ = np.asarray(classes)
    clf.n_classes_ = len(clf.classes_)
    clf._class_dictionary = {c: i for i, c in enumerate(clf.classes_)}


class _MaskedScore:
    """``score`` that skips the rows labelled ``mask_label`` (sktime's scores every row)."""

    def score(self, X, y) -> float:
        """Accuracy of :meth:`predict` on the labelled rows of ``X`` (rows labelled ``mask_label`` are skipped).

        Parameters
        ----------
        X : sktime Panel
        y : array-like of shape (n_instances,)

        Returns
        -------
        float

        Raises
        ------
        ValueError
            If every row is labelled ``mask_label``.
        """
        self.check_is_fitted()
        y = np.asarray(y).reshape(len(y), -1)[:, 0] if np.ndim(y) > 1 else np.asarray(y)
        mask = mask_label_of(self)
        keep = labelled_rows(y, mask)
        if not keep.any():
            raise ValueError(f"every label equals the mask label {mask!r}: nothing to score")
        return masked_accuracy(y[keep], self.predict(X if keep.all() else take_rows(X, keep)), None)


class RCDKDSktimeClassifier(_MaskedScore, BaseClassifier):
    """RCD-KD as an sktime classifier: a thin adapter around :class:`~skrcd.RCDKDClassifier`.

    ``fit(X, y)`` reads the rows labelled with the estimator's ``mask_label``
    (-1 by default) as the unlabelled target domain and the others as the
    labelled source, then fits a clone of ``estimator``; ``predict`` and
    ``predict_proba`` use its student. The classes are those of the labelled
    rows: the mask label is never predicted, and ``score`` skips the masked rows.

    Parameters
    ----------
    estimator : RCDKDClassifier or None, default=None
        The configured core estimator (cloned in ``fit``, never changed); a default
        :class:`~skrcd.RCDKDClassifier` when None. Its parameters are reachable as
        ``estimator__<name>`` in ``get_params``/``set_params``.

    Attributes
    ----------
    estimator_ : RCDKDClassifier
        The fitted clone (absent when the labelled rows hold a single class: sktime
        then predicts that class).
    classes_ : numpy.ndarray
        Labels of the labelled (source) rows.

    Examples
    --------
    >>> import numpy as np
    >>> from skrcd import RCDKDClassifier
    >>> from skrcd.datasets import make_domain_shift
    >>> from skrcd.sktime import RCDKDSktimeClassifier
    >>> X_src, y_src, X_tgt, _ = make_domain_shift(n_source=30, n_target=20, length=32, random_state=0)
    >>> X = np.concatenate([X_src, X_tgt])
    >>> y = np.concatenate([y_src, np.full(len(X_tgt), -1)])  # target rows: masked
    >>> clf = RCDKDSktimeClassifier(RCDKDClassifier(teacher_epochs=1, student_epochs=1, random_state=0))
    >>> clf.fit(X, y).predict(X_tgt).shape
    (20,)
    >>> clf.estimator_.target_mode_, clf.classes_.tolist()
    ('masked', [0, 1, 2])
    """

    _tags = {
        "authors": ["skrcd developers"],
        "maintainers": ["skrcd developers"],
        "python_dependencies": "torch",
        "X_inner_mtype": "numpy3D",
        "y_inner_mtype": "numpy1D",
        "capability:multivariate": True,
        "capability:predict_proba": True,
    }

    def __init__(self, estimator=None):
        self.estimator = estimator
        super().__init__()

    def fit(self, X, y):
        """Fit a clone of ``estimator``: masked rows are the target, the others the labelled source.

        Parameters
        ----------
        X : sktime Panel
        y : array-like of shape (n_instances,)
            Labels; rows labelled ``estimator.mask_label`` are the unlabelled target.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            If every row carries the mask label: there is no labelled source (sktime
            would otherwise fit nothing and predict the one label it saw, the mask
            label).
        """
        mask_label = (self.estimator if self.estimator is not None else RCDKDClassifier()).mask_label
        labels = np.asarray(y)
        if labels.ndim == 1 and labels.shape[0] and mask_label is not None and is_masked(labels, mask_label).all():
            raise ValueError(f"every label equals the mask label {mask_label!r}: there is no labelled source")
        return super().fit(X, y)

    def _fit(self, X, y):
        estimator = clone(self.estimator) if self.estimator is not None else RCDKDClassifier()
        labelled = ~is_masked(np.asarray(y), estimator.mask_label)
        classes = np.unique(np.asarray(y)[labelled])
        if len(classes) == 0:
            raise ValueError(f"every label equals the mask label {estimator.mask_label!r}: there is no labelled source")
        if len(classes) == 1:  # sktime's convention: predict the single class seen, fit nothing
            _set_classes(self, classes)
            return self
        self.estimator_ = estimator.fit(X, y)
        _set_classes(self, self.estimator_.classes_)
        return self

    def _predict(self, X):
        return self.estimator_.predict(X)

    def _predict_proba(self, X):
        return self.estimator_.predict_proba(X)

    @classmethod
    def get_test_params(cls, parameter_set="default"):
        """Fast parameter sets for sktime's conformance tests.

        Parameters
        ----------
        parameter_set : str, default="default"

        Returns
        -------
        list of dict
        """
        return [
            {"estimator": RCDKDClassifier(**_TEST_SETTINGS)},
            {"estimator": RCDKDClassifier(**_TEST_SETTINGS, selection="all", dc_mode="flip")},
        ]


class DropMaskedClassifier(_MaskedScore, BaseClassifier):
    """Train an sktime classifier on the labelled rows only (rows labelled ``mask_label`` are dropped).

    A non-adaptive baseline for benchmarks whose data carry the unlabelled target
    rows stacked with the source (see :func:`scenario_task`).

    Parameters
    ----------
    classifier : sktime BaseClassifier
        The classifier to train (cloned in ``fit``).
    mask_label : int or str, default=-1
        Label of the rows to drop.

    Attributes
    ----------
    classifier_ : sktime BaseClassifier
        The fitted clone.

    Examples
    --------
    >>> import numpy as np
    >>> from sktime.classification.dummy import DummyClassifier
    >>> from skrcd.sktime import DropMaskedClassifier
    >>> X = np.zeros((6, 2, 10)); y = np.array([0, 0, 0, 1, -1, -1])
    >>> clf = DropMaskedClassifier(DummyClassifier()).fit(X, y)
    >>> clf.predict(X[:2]).tolist(), clf.classes_.tolist()
    ([0, 0], [0, 1])
    """

    _tags = {
        "authors": ["skrcd developers"],
        "maintainers": ["skrcd developers"],
        "X_inner_mtype": "numpy3D",
        "y_inner_mtype": "numpy1D",
        "capability:multivariate": True,
        "capability:predict_proba": True,
    }

    def __init__(self, classifier, mask_label=-1):
        self.classifier = classifier
        self.mask_label = mask_label
        super().__init__()
        self.clone_tags(classifier, ["capability:multivariate"])

    def _fit(self, X, y):
        labelled = ~is_masked(np.asarray(y), self.mask_label)
        if not labelled.any():
            raise ValueError(f"every label equals the mask label {self.mask_label!r}: nothing to train on")
        self.classifier_ = self.classifier.clone().fit(X[labelled], np.asarray(y)[labelled])
        _set_classes(self, self.classifier_.classes_)
        return self

    def _predict(self, X):
        return self.classifier_.predict(X)

    def _predict_proba(self, X):
        return self.classifier_.predict_proba(X)

    @classmethod
    def get_test_params(cls, parameter_set="default"):
        """Parameter sets for sktime's conformance tests.

        Parameters
        ----------
        parameter_set : str, default="default"

        Returns
        -------
        list of dict
        """
        from sktime.classification.dummy import DummyClassifier

        return [{"classifier": DummyClassifier()}, {"classifier": DummyClassifier(strategy="uniform"), "mask_label": -2}]


def scenario_task(source, target, dataset="uci_har", mask_label=-1, data_home=None):
    """One cross-domain scenario as stacked benchmark data and a split that hides every target label.

    The rows are, in order: the labelled source training part, the target training
    part with every label replaced by ``mask_label`` (the unlabelled target), and
    the labelled target test part. The :class:`~sklearn.model_selection.PredefinedSplit`
    trains on the first two blocks and tests on the third, so an estimator sees the
    target's inputs but never its labels before it is scored on the target test part.

    Parameters
    ----------
    source, target : int
        Source and target domains (see :func:`skrcd.datasets.load_scenario`).
    dataset : str, default="uci_har"
    mask_label : int, default=-1
    data_home : str or path-like, optional

    Returns
    -------
    X : numpy.ndarray of shape (n, channels, length), float32
    y : numpy.ndarray of shape (n,)
    cv : sklearn.model_selection.PredefinedSplit
        One split: train = source and masked target rows, test = target test rows.

    Examples
    --------
    >>> X, y, cv = scenario_task(2, 11)
    >>> X.shape, int((y == -1).sum()), cv.get_n_splits()
    ((527, 9, 128), 221, 1)
    >>> train, test = next(cv.split(X))
    >>> bool((y[train] == -1).any()), bool((y[test] == -1).any())
    (True, False)
    """
    from .datasets import load_scenario

    sc = load_scenario(dataset, source, target, data_home=data_home)
    X = np.concatenate([sc.X_src, sc.X_tgt, sc.X_test]).astype(np.float32)
    y = np.concatenate([sc.y_src, np.full(len(sc.X_tgt), mask_label, dtype=sc.y_src.dtype), sc.y_test])
    test_fold = np.r_[np.full(len(sc.X_src) + len(sc.X_tgt), -1), np.zeros(len(sc.X_test), dtype=int)]
    return X, y, PredefinedSplit(test_fold)
