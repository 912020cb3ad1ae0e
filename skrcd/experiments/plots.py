"""Plots of benchmark results: scores per scenario and method, and per-epoch curves over many runs.

matplotlib is imported only when a function here is called (``pip install -e
".[plot]"`` from a checkout).

- :func:`plot_benchmark_scores`: the benchmark's scores per scenario and method
  (grouped bars, mean ± std over seeds, plus the mean over scenarios).
- :func:`plot_benchmark_curves`: per-epoch curves of many runs (losses, selected
  fraction, mean reward), one line per label with a ± std band over its runs.
"""

from __future__ import annotations

import warnings

import numpy as np

from .._mpl import history_rows, pyplot, root_figure
from .results import aggregate_scores

__all__ = ["plot_benchmark_scores", "plot_benchmark_curves"]

_METRIC_LABELS = {"macro_f1": "macro-F1 x 100", "accuracy": "accuracy x 100"}


def plot_benchmark_scores(rows, *, metric="macro_f1", ax=None):
    """Grouped bars of a benchmark's scores: one group per scenario plus ``"mean"``, one bar per method.

    Each bar is the mean over seeds with a ± std error bar; the ``"mean"`` group is
    the mean over scenarios of each seed, then mean ± std over seeds (as in
    ``results.md``, see :func:`skrcd.experiments.results.aggregate_scores`).

    Parameters
    ----------
    rows : list of dict or pandas.DataFrame
        Runs with ``method``, ``scenario``, ``seed`` and ``metric``: the rows of a
        benchmark's ``runs.csv`` (:func:`skrcd.experiments.results.read_runs`, or
        ``pandas.read_csv("runs.csv")``).
    metric : str, default="macro_f1"
        Column to draw (``"macro_f1"`` or ``"accuracy"``).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure by default.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        No rows.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from skrcd.experiments.plots import plot_benchmark_scores
    >>> rows = [dict(method=m, scenario=sc, seed=s, macro_f1=70.0 + 5 * i + s)
    ...         for i, m in enumerate(["source_only", "rcdkd"]) for sc in ["2-11", "7-13"] for s in (0, 1)]
    >>> fig = plot_benchmark_scores(rows)
    >>> [t.get_text() for t in fig.axes[0].get_xticklabels()]
    ['2-11', '7-13', 'mean']
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    ['source_only', 'rcdkd']
    >>> fig.savefig("bars.png")  # doctest: +SKIP
    >>> plt.close(fig)
    """
    if hasattr(rows, "to_dict"):
        rows = rows.to_dict("records")
    rows = list(rows)
    if not rows:
        raise ValueError("no rows: nothing to plot")
    methods, groups, stats = aggregate_scores(rows, metric)
    if ax is None:
        _, ax = pyplot().subplots(figsize=(max(6.0, 0.25 * len(groups) * (len(methods) + 1) + 1.5), 4.2),
                                   layout="constrained")
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if len(methods) <= 10 else "tab20"]
    width = 0.8 / len(methods)
    pos = np.arange(len(groups))
    top = 0.0
    for i, m in enumerate(methods):
        mean = np.array([stats[m, g][0] if (m, g) in stats else np.nan for g in groups])
        std = np.array([stats[m, g][1] if (m, g) in stats else 0.0 for g in groups])
        ax.bar(pos + (i - (len(methods) - 1) / 2) * width, mean, width, yerr=std, capsize=2, label=m,
               color=cmap(i % cmap.N), error_kw={"elinewidth": 0.8})
        top = max(top, float(np.nanmax(mean + std)) if np.isfinite(mean).any() else 0.0)
    ax.axvline(len(groups) - 1.5, color="grey", lw=0.8, ls=":")  # the scenarios | their mean
    ax.set_xticks(pos, groups)
    ax.set_xlabel("scenario")
    label = _METRIC_LABELS.get(metric, metric)
    ax.set_ylabel(label)
    ax.set_ylim(0, 100 if top <= 100 else None)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(f"{label} on the target test part (mean ± std over seeds)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=min(5, len(methods)), fontsize="small",
              frameon=False)
    return root_figure(ax)


_CURVE_TITLES = {"selected": "selected fraction", "reward": "mean reward", "loss": "loss (total)",
                 "loss_kd": "loss_kd (distillation)", "loss_dc": "loss_dc (domain confusion)",
                 "loss_cls": "loss_cls (source labels)", "loss_ce": "loss_ce (source labels)",
                 "loss_domain": "loss_domain (discriminator)", "loss_coral": "loss_coral (CORAL)"}


def plot_benchmark_curves(histories, *, stage="student", keys=None, fig=None):
    """Per-epoch curves of many runs: one panel per quantity, one line per label (mean ± std band over its runs).

    For the runs of a benchmark, e.g. label = scenario and one history per seed:
    the line is the mean over the label's runs at each epoch, the band ± their
    standard deviation.

    Parameters
    ----------
    histories : sequence of (str, history)
        ``(label, history)`` pairs; a history is a fitted estimator, a skorch
        History or a list of dicts (e.g. a ``histories/*.json`` file of the
        benchmark). Runs with the same label are averaged.
    stage : str, default="student"
        Stage whose rows are drawn.
    keys : sequence of str, optional
        History keys to draw, one panel each; default: every ``loss*`` key of the
        stage, then ``selected`` (selected fraction) and ``reward`` (mean reward)
        where recorded.
    fig : matplotlib.figure.Figure or SubFigure, optional
        An empty figure to draw into; a new figure by default.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        No history holds the stage, or none of the keys.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from skrcd.experiments.plots import plot_benchmark_curves
    >>> def run(shift):
    ...     return [dict(stage="student", epoch=e, loss=1.0 / e + shift, selected=0.5 + shift, reward=shift)
    ...             for e in (1, 2, 3)]
    >>> fig = plot_benchmark_curves([("2-11", run(0.0)), ("2-11", run(0.1)), ("7-13", run(0.2))])
    >>> [ax.get_title() for ax in fig.axes if ax.get_visible()]
    ['loss (total)', 'selected fraction', 'mean reward']
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    ['2-11 (2 runs)', '7-13']
    >>> import json  # the benchmark's files
    >>> fig = plot_benchmark_curves([("2-11", json.load(open("histories/rcdkd_2-11_seed0.json")))])  # doctest: +SKIP
    >>> plt.close("all")
    """
    runs = []
    for label, history in histories:
        stage_rows = [r for r in history_rows(history) if r["stage"] == stage]
        if stage_rows:
            runs.append((str(label), stage_rows))
    if not runs:
        raise ValueError(f"no history holds stage {stage!r}")
    present = list(dict.fromkeys(k for _, rs in runs for r in rs for k in r))
    if keys is None:
        losses = sorted((k for k in present if k.startswith("loss")), key=lambda k: k != "loss")  # the total first
        keys = losses + [k for k in ("selected", "reward") if k in present]
    keys = [k for k in keys if k in present]
    if not keys:
        raise ValueError(f"none of the keys is in the {stage!r} rows; they hold {present}")
    from matplotlib.ticker import MaxNLocator

    n_cols = min(3, len(keys))
    n_rows = -(-len(keys) // n_cols)
    if fig is None:
        fig = pyplot().figure(figsize=(3.8 * n_cols, 3.0 * n_rows), layout="constrained")
    axes = np.asarray(fig.subplots(n_rows, n_cols, squeeze=False)).ravel()
    labels = list(dict.fromkeys(label for label, _ in runs))
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if len(labels) <= 10 else "tab20"]
    for ax, key in zip(axes, keys):
        for i, label in enumerate(labels):
            group = [{r["epoch"]: r.get(key, np.nan) for r in rs} for lab, rs in runs if lab == label]
            epochs = np.array(sorted({e for g in group for e in g}))
            values = np.array([[g.get(e, np.nan) for e in epochs] for g in group], dtype=float)
            if not np.isfinite(values).any():
                continue
            with warnings.catch_warnings():  # an epoch where no run recorded the key: a gap, on purpose
                warnings.simplefilter("ignore", RuntimeWarning)
                mean = np.nanmean(values, axis=0)
                std = np.nanstd(values, axis=0)
            name = f"{label} ({len(group)} runs)" if len(group) > 1 else label
            ax.plot(epochs, mean, color=cmap(i % cmap.N), marker="." if len(epochs) < 30 else None, label=name)
            if len(group) > 1:
                ax.fill_between(epochs, mean - std, mean + std, color=cmap(i % cmap.N), alpha=0.2, lw=0)
        ax.set_title(_CURVE_TITLES.get(key, key))
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if key == "selected":
            ax.set_ylim(-0.02, 1.02)
    for ax in axes[len(keys):]:
        ax.set_visible(False)
    axes[0].legend(fontsize="small")
    return root_figure(axes[0])

