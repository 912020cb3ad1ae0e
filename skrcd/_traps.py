"""Detect, from the calling frames, the two ways scikit-learn alters an ``X_tgt`` fit parameter.

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
"""

from __future__ import annotations

import sys
import warnings

__all__ = ["XTgtTrapWarning", "x_tgt_traps", "warn_x_tgt_traps"]


class XTgtTrapWarning(UserWarning):
    """``fit`` got ``X_tgt`` where scikit-learn changed it on the way (see ``docs/ecosystem.md``).

    Inside cross-validation a fit parameter as long as ``X`` is sliced to the
    training fold, and a :class:`~sklearn.pipeline.Pipeline` never transforms fit
    parameters. The stacked form (target rows in ``X`` labelled ``mask_label``)
    avoids both. Also importable from :mod:`skrcd.domains`.
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


def x_tgt_traps(n_x, n_tgt, max_depth=40):
    """Name the scikit-learn traps the current ``fit(X, y, X_tgt)`` call is in.

    Parameters
    ----------
    n_x, n_tgt : int
        Rows of ``X`` and ``X_tgt`` as ``fit`` received them.
    max_depth : int, default=40
        Frames to inspect above the caller.

    Returns
    -------
    list of str
        ``"pipeline"`` when a :class:`~sklearn.pipeline.Pipeline` with transforming
        steps called ``fit``; ``"sliced"`` when a scikit-learn cross-validation
        called it and ``X_tgt`` is as long as ``X`` (it was sliced to the fold).

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
            if "sliced" not in found and n_x == n_tgt and _is_cv_fit(frame):
                found.append("sliced")
        except Exception:  # noqa: BLE001 - introspection must never break fit
            pass
        frame = frame.f_back
    return found


def warn_x_tgt_traps(estimator, n_x, n_tgt):
    """Warn with :class:`XTgtTrapWarning` for each trap :func:`x_tgt_traps` finds.

    Parameters
    ----------
    estimator : object
        The estimator being fitted (named in the message; its ``mask_label`` is quoted).
    n_x, n_tgt : int
        Rows of ``X`` and ``X_tgt``.

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
    traps = x_tgt_traps(n_x, n_tgt)
    for trap in traps:
        msg = _MESSAGES[trap].format(cls=type(estimator).__name__, mask=getattr(estimator, "mask_label", -1))
        warnings.warn(msg, XTgtTrapWarning, stacklevel=4)
    return traps
