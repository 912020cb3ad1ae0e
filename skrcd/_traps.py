"""Traps a scikit-learn user walks into with skrcd, detected where they can be, and the warnings that name them.

From the calling frames, the two ways scikit-learn alters an ``X_tgt`` fit parameter:

1. Cross-validation (``cross_validate``, ``GridSearchCV``, ...) slices every fit
   parameter whose length equals ``len(X)`` to the training fold
   (``sklearn.utils.validation._check_method_params``). A sliced ``X_tgt`` arrives
   with exactly as many rows as the fold's ``X``.
2. A :class:`~sklearn.pipeline.Pipeline` transforms ``X`` through its earlier steps
   but hands fit parameters to the last step unchanged: ``X_tgt`` arrives raw.

The estimator cannot see either from its arguments, so :func:`x_tgt_traps` walks up
the call stack (a few dozen frames, only when ``X_tgt`` is given) and names the
trap. Both are harmless in the stacked form (target rows in ``X`` labelled
``mask_label``), which every splitter and every pipeline step treats as rows.

Also from the calling frames: a stock scikit-learn or sktime scorer about to compare
predictions with labels that include masked rows (:func:`warn_masked_rows_scored`).
And from the data alone: a panel that looks channels-last
(:func:`warn_channels_last`), and a ``mask_label`` whose type cannot match the
labels (:func:`warn_mask_label_type`).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Mapping

import numpy as np

from ._warnings import user_stacklevel

__all__ = [
    "XTgtTrapWarning",
    "ChannelsLastWarning",
    "MaskLabelWarning",
    "MaskedRowsScoredWarning",
    "x_tgt_traps",
    "warn_x_tgt_traps",
    "warn_channels_last",
    "warn_mask_label_type",
    "warn_mask_label_rows",
    "warn_masked_rows_scored",
]


class XTgtTrapWarning(UserWarning):
    """``fit`` got ``X_tgt`` where scikit-learn changed it on the way (see ``docs/ecosystem.md``).

    Inside cross-validation a fit parameter as long as ``X`` is sliced to the
    training fold, and a :class:`~sklearn.pipeline.Pipeline` never transforms fit
    parameters. The stacked form (target rows in ``X`` labelled ``mask_label``)
    avoids both. Also importable from :mod:`skrcd.domains`.
    """


class ChannelsLastWarning(UserWarning):
    """``fit`` got a panel with far more channels than time steps: probably ``(n, length, channels)``.

    skrcd reads 3D input as ``(n_samples, channels, length)``. Transpose a
    channels-last array with ``X.transpose(0, 2, 1)``; filter this warning where
    such a shape is meant. Also importable from :mod:`skrcd.domains`.
    """


class MaskLabelWarning(UserWarning):
    """``mask_label`` cannot equal any label (a number with string labels, or a string with numbers), or may be
    a real class.

    In the first case no row is read as unlabelled target, and ``score`` skips
    none. In the second, ``fit`` got no ``X_tgt`` and rows labelled ``mask_label``
    lie among the labelled rows instead of after them (the stacked form): they
    were read as the unlabelled target, which silently drops a class if
    ``mask_label`` is one. Also importable from :mod:`skrcd.domains`.
    """


class MaskedRowsScoredWarning(UserWarning):
    """A stock scikit-learn or sktime scorer is scoring rows labelled ``mask_label`` as if it were a class.

    Use :func:`skrcd.metrics.make_masked_scorer` (scikit-learn) or
    :func:`skrcd.metrics.masked_metric` (sktime). Also importable from
    :mod:`skrcd.domains`.
    """

_MESSAGES = {
    "pipeline": (
        "X_tgt reached {cls} untransformed: a Pipeline sends X through its earlier steps but passes fit "
        "parameters such as X_tgt to the last step unchanged, so the source is transformed and the target "
        "is not. Stack the target rows into X with the label mask_label={mask!r} (or pass sample_domain) "
        "so they go through every step."
    ),
    "sliced": (
        "X_tgt arrived with as many rows as X inside a scikit-learn cross-validation: a fit parameter as "
        "long as X is sliced to the training fold, so {cls} saw only the target rows at the source fold's "
        "positions. Stack the target rows into X with the label mask_label={mask!r} instead: every "
        "splitter then treats them as rows."
    ),
}


def _is_pipeline_fit(frame):
    if frame.f_globals.get("__name__") != "sklearn.pipeline" or not frame.f_code.co_name.startswith("fit"):
        return False
    steps = getattr(frame.f_locals.get("self"), "steps", None)
    if not steps:
        return False
    return any(est is not None and not (isinstance(est, str) and est == "passthrough") for _, est in steps[:-1])


def _is_cv_fit(frame):
    return (frame.f_globals.get("__name__") == "sklearn.model_selection._validation"
            and frame.f_code.co_name == "_fit_and_score")


def _num_samples(obj):
    try:
        return len(obj)
    except TypeError:
        shape = getattr(obj, "shape", None)
        return shape[0] if shape else None


def _values_under(frame, suffix, depth=3, limit=8):
    """Values stored under string keys ending with ``suffix`` in the mappings a frame's locals reach."""
    found = []

    def visit(obj, d):
        if len(found) >= limit:
            return
        for key, value in list(obj.items())[:64]:
            if isinstance(key, str) and key.endswith(suffix):
                found.append(value)
            elif d > 0 and isinstance(value, Mapping):
                visit(value, d - 1)

    for value in list(frame.f_locals.values()):
        if isinstance(value, Mapping):
            visit(value, depth - 1)
    return found


def _was_sliced(cv_frame, X_tgt, n_tgt, max_depth=12):
    """Whether the ``X_tgt`` that reached ``fit`` is a fold's slice of the one given to the cross-validation.

    scikit-learn slices a fit parameter iff it is as long as the whole ``X`` (a
    local of ``_fit_and_score``). The parameter as passed in is found in a frame
    above (the caller's ``params``, or the call arguments a joblib worker holds): if
    it is the very object ``fit`` got, nothing was sliced. When it cannot be found,
    ``X_tgt`` being as long as the fold's ``X`` is taken as the sign.
    """
    n_full = _num_samples(cv_frame.f_locals.get("X"))
    if n_full is not None and n_tgt == n_full:
        return False  # a sliced parameter is shorter than the whole X
    frame = cv_frame.f_back
    for _ in range(max_depth):
        if frame is None:
            break
        originals = _values_under(frame, "X_tgt")
        if originals and X_tgt is not None:
            if any(o is X_tgt for o in originals):
                return False
            return any(_num_samples(o) == n_full for o in originals)
        frame = frame.f_back
    return True


def x_tgt_traps(n_x, n_tgt, max_depth=40, X_tgt=None):
    """Name the scikit-learn traps the current ``fit(X, y, X_tgt)`` call is in.

    Parameters
    ----------
    n_x, n_tgt : int
        Rows of ``X`` and ``X_tgt`` as ``fit`` received them.
    max_depth : int, default=40
        Frames to inspect above the caller.
    X_tgt : object, optional
        The ``X_tgt`` object ``fit`` received: with it, a target that merely has
        as many rows as the training fold is told apart from a sliced one.

    Returns
    -------
    list of str
        ``"pipeline"`` when a :class:`~sklearn.pipeline.Pipeline` with transforming
        steps called ``fit``; ``"sliced"`` when a scikit-learn cross-validation
        called it and sliced ``X_tgt`` to the training fold.

    Examples
    --------
    >>> x_tgt_traps(10, 10)
    []
    """
    found = []
    try:
        frame = sys._getframe(1)
    except ValueError:  # pragma: no cover - no caller frame
        return found
    for _ in range(max_depth):
        if frame is None:
            break
        try:
            if "pipeline" not in found and _is_pipeline_fit(frame):
                found.append("pipeline")
            if "sliced" not in found and n_x == n_tgt and _is_cv_fit(frame) and _was_sliced(frame, X_tgt, n_tgt):
                found.append("sliced")
        except Exception:  # noqa: BLE001 - introspection must never break fit
            pass
        frame = frame.f_back
    return found


def warn_x_tgt_traps(estimator, n_x, n_tgt, X_tgt=None):
    """Warn with :class:`XTgtTrapWarning` for each trap :func:`x_tgt_traps` finds.

    Parameters
    ----------
    estimator : object
        The estimator being fitted (named in the message; its ``mask_label`` is quoted).
    n_x, n_tgt : int
        Rows of ``X`` and ``X_tgt``.
    X_tgt : object, optional
        The ``X_tgt`` object ``fit`` received (see :func:`x_tgt_traps`).

    Returns
    -------
    list of str
        The traps found.

    Examples
    --------
    >>> from skrcd import RCDKDClassifier
    >>> warn_x_tgt_traps(RCDKDClassifier(), 10, 12)
    []
    """
    traps = x_tgt_traps(n_x, n_tgt, X_tgt=X_tgt)
    for trap in traps:
        msg = _MESSAGES[trap].format(cls=type(estimator).__name__, mask=getattr(estimator, "mask_label", -1))
        warnings.warn(msg, XTgtTrapWarning, stacklevel=user_stacklevel())
    return traps


#: Time steps per channel below which a panel is read as probably channels-last.
CHANNELS_LAST_RATIO = 4


def warn_channels_last(n_channels, n_timepoints):
    """Warn with :class:`ChannelsLastWarning` when a panel has at least 4x more channels than time steps.

    Parameters
    ----------
    n_channels, n_timepoints : int
        ``X.shape[1]`` and ``X.shape[2]`` of a 3D panel.

    Returns
    -------
    bool
        Whether it warned.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_channels_last(128, 9), warn_channels_last(9, 128)
    (True, False)
    >>> str(caught[0].message)[:54]
    'X has 128 channels of 9 time steps each: is it (n, len'
    """
    if n_channels < CHANNELS_LAST_RATIO * n_timepoints:
        return False
    warnings.warn(
        f"X has {n_channels} channels of {n_timepoints} time steps each: is it (n, length, channels)? skrcd reads "
        f"3D input as (n_samples, channels, length); transpose with X.transpose(0, 2, 1). Filter "
        "skrcd.domains.ChannelsLastWarning if this shape is meant.",
        ChannelsLastWarning,
        stacklevel=user_stacklevel(),
    )
    return True


def _kinds(y, mask_label):
    """(labels are strings, mask_label is a string), or None when either cannot be told."""
    y = np.asarray(y)
    if y.size == 0 or mask_label is None:
        return None
    if y.dtype.kind in "iufb":
        labels_are_str = False
    elif y.dtype.kind in "US":
        labels_are_str = True
    elif y.dtype.kind == "O":
        kinds = {isinstance(v, str) for v in y.ravel()[:1000]}
        if len(kinds) != 1:
            return None
        labels_are_str = kinds.pop()
    else:
        return None
    return labels_are_str, isinstance(mask_label, str)


def warn_mask_label_rows(source_rows, mask_label):
    """Warn with :class:`MaskLabelWarning` when the rows read as unlabelled target lie among the labelled rows.

    The stacked form puts the target rows (labelled ``mask_label``) after the
    labelled source rows; masked rows in between suggest that ``mask_label`` is a
    real class of the data, which ``fit`` has just read as the unlabelled target.

    Parameters
    ----------
    source_rows : numpy.ndarray of bool
        Which rows of ``y`` are labelled (not ``mask_label``).
    mask_label : int, float, str or None

    Returns
    -------
    bool
        Whether it warned.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> with warnings.catch_warnings(record=True):
    ...     warnings.simplefilter("always")
    ...     warn_mask_label_rows(np.array([1, 1, 0, 0], bool), -1), warn_mask_label_rows(np.array([1, 0, 1], bool), -1)
    (False, True)
    """
    source_rows = np.asarray(source_rows, dtype=bool)
    first_masked = int(np.argmin(source_rows)) if not source_rows.all() else source_rows.size
    interleaved = int(source_rows[first_masked:].sum())
    if not interleaved:
        return False
    n_masked = int((~source_rows).sum())
    warnings.warn(
        f"fit got no X_tgt and {n_masked} rows of y labelled mask_label={mask_label!r}, {interleaved} labelled rows "
        f"coming after the first of them: they were read as the unlabelled target (the stacked form puts the target "
        f"rows after the labelled ones). If {mask_label!r} is a real class, pass mask_label=None (or pass the "
        "target as X_tgt)",
        MaskLabelWarning,
        stacklevel=user_stacklevel(),
    )
    return True


def warn_mask_label_type(y, mask_label, what="fit"):
    """Warn with :class:`MaskLabelWarning` when ``mask_label`` cannot equal any label of ``y``.

    Parameters
    ----------
    y : array-like
        The labels.
    mask_label : int, float, str or None
    what : str, default="fit"
        What the message says is affected.

    Returns
    -------
    bool
        Whether it warned.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_mask_label_type(["walk", "run"], -1), warn_mask_label_type(["walk", "?"], "?")
    (True, False)
    """
    kinds = _kinds(y, mask_label)
    if kinds is None or kinds[0] == kinds[1]:
        return False
    labels = "strings" if kinds[0] else "numbers"
    hint = "a string such as mask_label='?'" if kinds[0] else "a number such as mask_label=-1"
    warnings.warn(
        f"mask_label={mask_label!r} cannot equal any label of y (the labels are {labels}): no row is read as "
        f"unlabelled target in {what}. Mark the unlabelled rows with {hint} and pass it, or pass "
        "mask_label=None when no row is unlabelled.",
        MaskLabelWarning,
        stacklevel=user_stacklevel(),
    )
    return True


_SCORING_FRAMES = ("sklearn.metrics", "sktime.")
_LABEL_LOCALS = ("y_true", "y_test")


def warn_masked_rows_scored(n_rows, mask_label, max_depth=12):
    """Warn with :class:`MaskedRowsScoredWarning` when a stock scorer is about to score masked rows.

    Called by ``predict``/``predict_proba``: a scikit-learn scorer (module
    ``sklearn.metrics``) or sktime's evaluation asks for predictions of ``n_rows``
    rows while holding their labels as ``y_true``/``y_test``; if some are
    ``mask_label``, they will be counted as a class. Scorers made with
    :mod:`skrcd.metrics` drop those rows first and never trigger it.

    Parameters
    ----------
    n_rows : int
        Rows being predicted.
    mask_label : int, float, str or None
        None: nothing is masked, nothing to check.
    max_depth : int, default=12
        Frames to inspect above the caller.

    Returns
    -------
    bool
        Whether it warned.

    Examples
    --------
    >>> warn_masked_rows_scored(10, -1)  # not called by a scorer
    False
    """
    if mask_label is None:
        return False
    try:
        frame = sys._getframe(1)
    except ValueError:  # pragma: no cover - no caller frame
        return False
    for _ in range(max_depth):
        if frame is None:
            return False
        try:
            if frame.f_globals.get("__name__", "").startswith(_SCORING_FRAMES):
                if getattr(frame.f_locals.get("metric"), "skips_masked_rows", False):  # skrcd.metrics.masked_metric
                    return False
                for name in _LABEL_LOCALS:
                    y = frame.f_locals.get(name)
                    if y is not None and _num_samples(y) == n_rows:
                        y = np.asarray(y)
                        if y.ndim == 2 and y.shape[1] == 1:  # a one-column frame (sktime)
                            y = y[:, 0]
                        if y.ndim == 1 and (y == mask_label).any():
                            warnings.warn(
                                f"a scorer is comparing predictions with labels that include rows labelled "
                                f"mask_label={mask_label!r} (unlabelled target rows): they count as a class "
                                "and lower the score. Score with skrcd.metrics.make_masked_scorer(...) "
                                "(scikit-learn) or skrcd.metrics.masked_metric(...) (sktime), or the "
                                "estimator's own score, which drop these rows.",
                                MaskedRowsScoredWarning,
                                stacklevel=user_stacklevel(),
                            )
                            return True
        except Exception:  # noqa: BLE001 - introspection must never break predict
            pass
        frame = frame.f_back
    return False
