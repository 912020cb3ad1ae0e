"""What skrcd's plots share (:mod:`skrcd.plotting`, :mod:`skrcd.experiments.plots`): matplotlib, imported only
when a plot is drawn, and the rows of a training history."""

from __future__ import annotations

__all__ = ["pyplot", "root_figure", "history_rows"]


def pyplot():
    """``matplotlib.pyplot``, or an ``ImportError`` that says how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "skrcd's plots need matplotlib: pip install matplotlib (from a checkout: pip install -e '.[plot]')"
        ) from exc
    return plt


def root_figure(ax):
    """The figure ``ax`` is drawn in (its root figure where matplotlib has sub-figures)."""
    try:
        return ax.get_figure(root=True)
    except TypeError:  # matplotlib < 3.10
        return ax.figure


def history_rows(source):
    """Rows (dicts) of an estimator's ``history_``, a skorch History or a list of dicts."""
    if hasattr(source, "get_params") and not hasattr(source, "history_"):
        from sklearn.exceptions import NotFittedError

        raise NotFittedError(f"this {type(source).__name__} is not fitted yet: it has no history_ to plot")
    rows = getattr(source, "history_", source)
    rows = [dict(r) for r in rows]
    if not rows:
        raise ValueError("the history is empty: nothing to plot")
    if any("stage" not in r or "epoch" not in r for r in rows):
        raise ValueError("every history row needs 'stage' and 'epoch' keys (as in RCDKDClassifier.history_)")
    return rows
