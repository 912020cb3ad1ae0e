"""Tables of benchmark results: ``runs.csv`` rows in and out, mean ± std over seeds (pandas; no estimator here).

The plots of :mod:`skrcd.experiments.plots` and the tables of ``results.md``
both read :func:`aggregate_scores`.
"""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd

__all__ = ["FIELDS", "read_runs", "append_runs", "aggregate_scores", "summarise", "paired_comparison",
           "summarise_paired"]

#: Columns of ``runs.csv``. On the skewed families ``macro_f1`` and ``accuracy`` weigh the target's test rows
#: to the target's class profile and ``macro_f1_whole`` scores every test row alike (elsewhere the two are equal);
#: ``recall`` is each class's recall x 100 on the test part and ``selected_by_class`` the share of each true
#: target class's windows that the selection picked over the last 10 student epochs (both for diagnosis: no
#: choice reads them).
FIELDS = ("dataset", "scenario", "seed", "method", "macro_f1", "accuracy", "params", "fit_time_teacher",
          "fit_time_student", "fit_time_total", "selected_last", "selected_per_epoch", "worker", "macro_f1_whole",
          "recall", "selected_by_class")
#: The columns that files written before them lack (read as NaN or empty).
_LATER_FIELDS = ("macro_f1_whole", "recall", "selected_by_class")
_INT_FIELDS = {"seed", "params"}
_FLOAT_FIELDS = {"macro_f1", "accuracy", "fit_time_teacher", "fit_time_student", "fit_time_total", "selected_last",
                 "macro_f1_whole"}


def read_runs(path):
    """The rows of a ``runs.csv``, numbers converted.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    list of dict

    Raises
    ------
    ValueError
        The file's columns are not :data:`FIELDS`, nor the earlier columns without
        the later ones (another version of the benchmark wrote it).
    """
    earlier = tuple(f for f in FIELDS if f not in _LATER_FIELDS)
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) not in (FIELDS, earlier):
            raise ValueError(f"{path} has columns {reader.fieldnames}, not {list(FIELDS)}: it was written by "
                             "another version of the benchmark; use a new --out")
        rows = []
        for r in reader:
            for k in _LATER_FIELDS:
                r.setdefault(k, "")
            for k in _INT_FIELDS:
                r[k] = int(r[k])
            for k in _FLOAT_FIELDS:
                r[k] = float(r[k]) if r[k] != "" else float("nan")
            rows.append(r)
    return rows


def append_runs(path, rows, header=False):
    """Append rows to a ``runs.csv`` (``header=True``: start a new file with the header line).

    Parameters
    ----------
    path : str or path-like
    rows : list of dict
    header : bool, default=False
    """
    with open(path, "w" if header else "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        if header:
            writer.writeheader()
        writer.writerows(rows)


def aggregate_scores(rows, metric="macro_f1"):
    """Mean and standard deviation over seeds of a metric, per method and scenario, and over scenarios.

    The ``"mean"`` group is the mean over scenarios of each seed, then the mean and
    standard deviation (``ddof=1``) of these over seeds; only seeds that have every
    scenario count. A run listed twice counts once (the last row).

    Parameters
    ----------
    rows : list of dict or pandas.DataFrame
        Runs with ``method``, ``scenario``, ``seed`` and ``metric`` (``runs.csv``).
    metric : str, default="macro_f1"

    Returns
    -------
    methods : list of str
        In order of first appearance.
    groups : list of str
        The scenarios in order of first appearance, then ``"mean"``.
    stats : dict
        ``(method, group) -> (mean, std, n_seeds)`` for the pairs that have runs.

    Examples
    --------
    >>> rows = [dict(method="m", scenario=sc, seed=s, macro_f1=80.0 + s + 10 * i)
    ...         for i, sc in enumerate(["2-11", "7-13"]) for s in (0, 1)]
    >>> methods, groups, stats = aggregate_scores(rows)
    >>> groups, [round(float(v), 2) for v in stats["m", "mean"]]
    (['2-11', '7-13', 'mean'], [85.5, 0.71, 2.0])
    """
    df = pd.DataFrame(rows)
    df = df[["method", "scenario", "seed", metric]].astype({metric: float})
    df = df.drop_duplicates(["method", "scenario", "seed"], keep="last")
    methods, scenarios = list(dict.fromkeys(df["method"])), list(dict.fromkeys(df["scenario"]))
    table = df.pivot(index=["method", "seed"], columns="scenario", values=metric).reindex(columns=scenarios)
    stats = {}
    for m in methods:
        by_seed = table.loc[m]
        for s in scenarios:
            values = by_seed[s].dropna()
            if len(values):
                stats[m, s] = _mean_std(values)
        complete = by_seed.dropna()
        if len(complete):
            stats[m, "mean"] = _mean_std(complete.mean(axis=1))
    return methods, scenarios + ["mean"], stats


def _mean_std(values):
    values = np.asarray(values, dtype=float)
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return float(np.mean(values)), sd, len(values)


def summarise(rows, metric="macro_f1"):
    """Markdown table of a metric: mean ± std over seeds per method and scenario, plus the mean over scenarios.

    Parameters
    ----------
    rows : list of dict or pandas.DataFrame
        Runs (``runs.csv``).
    metric : {"macro_f1", "accuracy"}, default="macro_f1"

    Returns
    -------
    str
        One line per method; the last column is the mean over scenarios (see
        :func:`aggregate_scores`).

    Examples
    --------
    >>> rows = [dict(method="m", scenario="2-11", seed=s, macro_f1=90.0 + s, accuracy=91.0) for s in (0, 1)]
    >>> print(summarise(rows))
    | method | 2-11 | mean |
    |---|---|---|
    | m | 90.50 ± 0.71 | 90.50 ± 0.71 |
    """
    methods, groups, stats = aggregate_scores(rows, metric)
    lines = ["| method | " + " | ".join(groups) + " |", "|" + "---|" * (len(groups) + 1)]
    for m in methods:
        cells = [f"{stats[m, g][0]:.2f} ± {stats[m, g][1]:.2f}" if (m, g) in stats else "-" for g in groups]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paired_comparison(rows, baseline="kd_all", metric="macro_f1", n_boot=10_000, tie=1e-6, random_state=0):
    """Each method against ``baseline`` on the same runs: per-pair differences, their mean, CI, test and counts.

    A pair is one (data set, scenario, seed): both methods distilled the same
    shared teacher with the same seed, so the difference removes the teacher's and
    the scenario's variance.

    Parameters
    ----------
    rows : list of dict or pandas.DataFrame
        Runs (``runs.csv``); ``dataset`` is optional.
    baseline : str, default="kd_all"
    metric : str, default="macro_f1"
    n_boot : int, default=10000
        Bootstrap resamples of the pairs for the 95 % percentile interval of the mean.
    tie : float, default=1e-6
        Differences within this are ties (excluded from the Wilcoxon test, as
        its ``zero_method="wilcox"`` does).
    random_state : int, default=0
        Seed of the bootstrap.

    Returns
    -------
    pandas.DataFrame
        One row per method that shares pairs with the baseline: ``method``,
        ``baseline``, ``n_pairs``, ``mean_diff``, ``ci_low``, ``ci_high``,
        ``p_wilcoxon`` (two-sided signed-rank test; NaN when every pair ties),
        ``wins``, ``losses``, ``ties``.

    Examples
    --------
    >>> rows = [dict(method=m, scenario=sc, seed=s, macro_f1=80.0 + (2.0 if m == "rl" else 0.0) + s)
    ...         for m in ("kd_all", "rl") for sc in ("2-11", "9-18") for s in range(5)]
    >>> out = paired_comparison(rows)
    >>> out[["method", "n_pairs", "mean_diff", "wins", "losses"]].values.tolist()
    [['rl', 10, 2.0, 10, 0]]
    """
    from scipy.stats import wilcoxon

    df = pd.DataFrame(rows)
    if "dataset" not in df:
        df = df.assign(dataset="")
    df = df.drop_duplicates(["dataset", "scenario", "seed", "method"], keep="last")
    values = df.pivot(index=["dataset", "scenario", "seed"], columns="method", values=metric).astype(float)
    if baseline not in values:
        return pd.DataFrame(columns=["method", "baseline", "n_pairs", "mean_diff", "ci_low", "ci_high", "p_wilcoxon",
                                     "wins", "losses", "ties"])
    rng = np.random.default_rng(random_state)
    out = []
    for method in dict.fromkeys(df["method"]):
        if method == baseline:
            continue
        d = (values[method] - values[baseline]).dropna().to_numpy()
        if not len(d):
            continue
        boot = d[rng.integers(0, len(d), size=(n_boot, len(d)))].mean(axis=1)
        nonzero = d[np.abs(d) > tie]
        p = float(wilcoxon(nonzero).pvalue) if len(nonzero) else float("nan")
        out.append(dict(method=method, baseline=baseline, n_pairs=len(d), mean_diff=float(d.mean()),
                        ci_low=float(np.percentile(boot, 2.5)), ci_high=float(np.percentile(boot, 97.5)),
                        p_wilcoxon=p, wins=int((d > tie).sum()), losses=int((d < -tie).sum()),
                        ties=int((np.abs(d) <= tie).sum())))
    return pd.DataFrame(out)


def summarise_paired(rows, baseline="kd_all", metric="macro_f1"):
    """Markdown table of :func:`paired_comparison`.

    Parameters
    ----------
    rows : list of dict or pandas.DataFrame
    baseline : str, default="kd_all"
    metric : str, default="macro_f1"

    Returns
    -------
    str

    Examples
    --------
    >>> rows = [dict(method=m, scenario="2-11", seed=s, macro_f1=90.0 + (s if m == "rl" else 0)) for m in ("kd_all", "rl")
    ...         for s in range(3)]
    >>> print(summarise_paired(rows).splitlines()[2])
    | rl | 3 | +1.00 | [+0.00, +2.00] | 0.500 | 2 / 0 / 1 |
    """
    table = paired_comparison(rows, baseline, metric)
    lines = [f"| method | pairs | mean difference vs {baseline} | 95 % bootstrap CI | Wilcoxon p | wins / losses / ties |",
             "|---|---|---|---|---|---|"]
    for r in table.itertuples():
        p = "-" if np.isnan(r.p_wilcoxon) else f"{r.p_wilcoxon:.3f}"
        lines.append(f"| {r.method} | {r.n_pairs} | {r.mean_diff:+.2f} | [{r.ci_low:+.2f}, {r.ci_high:+.2f}] | {p} | "
                     f"{r.wins} / {r.losses} / {r.ties} |")
    return "\n".join(lines)
