"""From continuous recordings (a long table or per-recording arrays) to the windows and domain ids ``fit`` takes."""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["make_windows"]

_RULES = ("majority", "strict")


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _plain(value):
    """A numpy scalar as the Python number it holds (for messages and ids)."""
    return value.item() if isinstance(value, np.generic) else value


def _recordings_from_table(table, channels, label, domain, recording, time):
    """``[(domain, recording, values (T, C) float64, step labels (T,) or None)]`` from a long table."""
    import pandas as pd

    named = {"domain": domain, "recording": recording, "label": label, "time": time}
    for what, column in named.items():
        if column is not None and column not in table.columns:
            raise ValueError(f"{what}={column!r} is not a column of the table; columns: {list(table.columns)}")
    if domain is None:
        raise ValueError("domain must name the table's domain column (subject, device or machine)")
    used = {c for c in named.values() if c is not None}
    if channels is None:
        channels = [c for c in table.columns if c not in used and pd.api.types.is_numeric_dtype(table[c])]
    else:
        channels = list(channels)
        absent = [c for c in channels if c not in table.columns]
        if absent or not channels:
            raise ValueError(f"channels {absent or channels} are not columns of the table; columns: "
                             f"{list(table.columns)}")
        clash = sorted(set(channels) & used, key=str)
        if clash:
            raise ValueError(f"channels {clash} are also the domain, recording, label or time column")
        text = [c for c in channels if not pd.api.types.is_numeric_dtype(table[c])]
        if text:
            raise ValueError(f"channels {text} are not numeric (dtypes {[str(table[c].dtype) for c in text]})")
    if not channels:
        raise ValueError("the table has no numeric channel column besides the domain, recording, label and time "
                         "columns; name them with channels=[...]")
    keys = [domain] + ([recording] if recording is not None else [])
    for key in keys:
        if table[key].isna().any():
            raise ValueError(f"column {key!r} has missing values: every row needs its domain and recording")
    out = []
    for key, rows in table.groupby(keys, sort=False):
        d, r = (_plain(key[0]), _plain(key[-1]))  # one recording per domain without a recording column
        if time is not None:
            rows = rows.sort_values(time, kind="stable")
            doubled = rows[time][rows[time].duplicated()]
            if len(doubled):
                raise ValueError(f"domain {d!r}, recording {r!r}: time {doubled.tolist()[0]!r} appears twice")
        values = rows[channels].to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            empty = [c for c, col in zip(channels, bad.T) if col.all()]
            if empty:
                raise ValueError(f"domain {d!r}, recording {r!r} has no values for channel(s) {empty}: every domain "
                                 "needs every channel (a device without this sensor?)")
            row, col = np.argwhere(bad)[0]
            raise ValueError(f"domain {d!r}, recording {r!r}: channel {channels[col]!r} is missing or not finite at "
                             f"row {rows.index[row]!r}")
        steps = None
        if label is not None:  # numpy dtypes as they are (fast); extension dtypes (Int64, string) as objects
            column = rows[label]
            steps = column.to_numpy() if isinstance(column.dtype, np.dtype) else column.to_numpy(dtype=object)
        out.append((d, r, values, steps))
    return out, channels


def _recordings_from_arrays(arrays, labels, domains):
    """The same list from per-recording arrays ``(T, channels)``; recordings are numbered in order."""
    arrays = list(arrays)
    if not arrays:
        raise ValueError("recordings is empty")
    for name, given in (("labels", labels), ("domains", domains)):
        if given is not None and (isinstance(given, str) or len(given) != len(arrays)):
            raise ValueError(f"{name} must hold one entry per recording ({len(arrays)}), got {given!r:.80}")
    domains = list(range(len(arrays))) if domains is None else list(domains)
    out, n_channels = [], None
    for i, a in enumerate(arrays):
        values = np.asarray(a)
        if values.ndim == 1:
            values = values[:, None]
        if values.ndim != 2 or values.dtype.kind not in "biuf":
            raise ValueError(f"recording {i} (domain {domains[i]!r}) has shape {values.shape} and dtype {values.dtype}; "
                             "expected numbers of shape (time steps, channels)")
        if n_channels is None:
            n_channels = values.shape[1]
        elif values.shape[1] != n_channels:
            raise ValueError(f"recording {i} (domain {domains[i]!r}) has {values.shape[1]} channels, recording 0 has "
                             f"{n_channels}: every recording needs the same channels, in the same order")
        if not np.isfinite(values).all():
            raise ValueError(f"recording {i} (domain {domains[i]!r}) contains NaN or infinite values")
        steps = None
        if labels is not None and labels[i] is not None:
            steps = np.asarray(labels[i]).reshape(-1)
            if steps.dtype.kind not in "biufUSO":
                raise ValueError(f"labels[{i}] has dtype {steps.dtype}; expected numbers or strings")
            if steps.shape[0] != values.shape[0]:
                raise ValueError(f"labels[{i}] has {steps.shape[0]} entries, recording {i} has {values.shape[0]} "
                                 "time steps")
        out.append((domains[i], i, values.astype(np.float64, copy=False), steps))
    return out, list(range(n_channels))


def _missing(steps):
    """Which steps carry no label: NaN for floats, None/NaN/NA for objects; numbers and strings always have one."""
    import pandas as pd

    if steps.dtype.kind == "f":
        return np.isnan(steps)
    if steps.dtype.kind == "O":
        return np.asarray(pd.isna(steps), dtype=bool)
    return np.zeros(len(steps), dtype=bool)


def _label_codes(recordings):
    """Sorted classes, and per recording the step codes (-1 where a step has no label)."""
    import pandas as pd

    labelled = [(i, steps, _missing(steps)) for i, (_, _, _, steps) in enumerate(recordings) if steps is not None]
    parts = [steps[~miss] for _, steps, miss in labelled]
    kinds = {p.dtype.kind for p in parts if p.size}
    if kinds <= set("US"):  # strings (or no label at all)
        pooled = np.concatenate(parts) if kinds else np.array([], dtype=np.int64)
        dtype = str if kinds else np.int64
    elif kinds <= set("biuf"):  # numbers, without a Python-object pass
        pooled = np.concatenate([p for p in parts if p.size])
        dtype = np.int64 if pooled.dtype.kind != "f" or (pooled == np.round(pooled)).all() else np.float64
    else:  # Python objects (a pandas object column): one type throughout, checked in C
        pooled = np.concatenate([p.astype(object) for p in parts])
        kind = pd.api.types.infer_dtype(pooled, skipna=True)
        if kind in ("string", "unicode"):
            dtype = str
        elif kind in ("integer", "boolean", "floating", "mixed-integer-float"):
            floats = pooled.astype(np.float64)
            dtype = np.int64 if (floats == np.round(floats)).all() else np.float64  # 0.0, 1.0 ... from a NaN column
        else:
            raise ValueError(f"the labels must be all numbers or all strings; they are {kind!r}")
    classes = np.unique(pooled.astype(dtype))
    codes = [np.full(len(values), -1, dtype=np.int64) for _, _, values, _ in recordings]
    for i, steps, miss in labelled:
        codes[i][~miss] = np.searchsorted(classes, steps[~miss].astype(dtype))
    return classes, codes


def _id_dtype(ids):
    """One dtype for the domain (or recording) ids: str, int64 or float64 when they all are; else object."""
    if all(isinstance(v, str) for v in ids):
        return np.array(ids, dtype=str).dtype  # wide enough for the longest
    if all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in ids):
        return np.int64
    if all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in ids):
        return np.float64
    return object


def _window_codes(codes, n_classes, length, step, rule):
    """Per window start: the window's label code (-1: unlabelled) and whether the rule keeps it."""
    starts = np.arange(0, len(codes) - length + 1, step)
    index = np.where(codes < 0, n_classes, codes)  # no label = one more class, last, so it loses ties
    counts = np.empty((len(starts), n_classes + 1), dtype=np.int64)
    cumulative = np.zeros(len(codes) + 1, dtype=np.int64)
    for k in range(n_classes + 1):  # a running count per class: memory of one recording, not recording x classes
        np.cumsum(index == k, out=cumulative[1:])
        counts[:, k] = cumulative[starts + length] - cumulative[starts]
    winner = counts.argmax(axis=1)  # first maximum: the first label in sorted order wins ties
    keep = counts.max(axis=1) == length if rule == "strict" else np.ones(len(starts), dtype=bool)
    return np.where(winner == n_classes, -1, winner), keep


def _labels_out(classes, win_codes, unlabelled):
    if (win_codes >= 0).all():
        return classes[win_codes]
    fill = np.asarray(unlabelled)
    if fill.ndim or fill.dtype.kind not in "biufUS" or (
            classes.size and (fill.dtype.kind in "US") != (classes.dtype.kind in "US")):
        raise ValueError(f"unlabelled={unlabelled!r} does not suit labels of dtype {classes.dtype}: pass a value of "
                         "the labels' type that is not a label (e.g. unlabelled='?' for string labels)")
    if classes.size and unlabelled in classes.tolist():
        raise ValueError(f"unlabelled={unlabelled!r} is also one of the labels")
    y = np.full(len(win_codes), unlabelled, dtype=np.result_type(classes, fill) if classes.size else fill.dtype)
    y[win_codes >= 0] = classes[win_codes[win_codes >= 0]]
    return y


def make_windows(recordings, length, step=None, *, label_rule="majority", channels=None, domain="domain",
                 recording=None, label=None, time=None, labels=None, domains=None, unlabelled=-1):
    """Cut continuous recordings into the ``(n, channels, length)`` windows, labels and domain ids ``fit`` takes.

    Each recording (one subject's session, one device's log, one machine's run) is
    windowed on its own with :func:`numpy.lib.stride_tricks.sliding_window_view`
    (a view; only the windows kept are copied), so no window crosses from one
    recording into the next. The window's label follows ``label_rule``:

    - ``"majority"``: the label of most of its steps (ties go to the first label
      in sorted order). Steps without a label count as one more label that loses
      ties; a window where they are the most is unlabelled.
    - ``"strict"``: only windows whose steps all carry the same label (or all
      none) are kept, so no window crosses a label change.

    Parameters
    ----------
    recordings : pandas.DataFrame or sequence of array-like
        A long table, one row per time step (read it with :func:`pandas.read_csv`,
        :func:`pandas.read_parquet`, ...): a ``domain`` column, optionally a
        ``recording`` column (recordings of one domain), a ``time`` column, a
        ``label`` column and numeric channel columns. Rows of a recording are taken
        in table order, or sorted by ``time``. Or a sequence of arrays of shape
        ``(time steps, channels)`` (``(time steps,)`` for one channel), one per
        recording, with ``labels`` and ``domains``.
    length : int
        Steps per window.
    step : int, optional
        Steps between the starts of consecutive windows; default ``length``
        (back to back, no overlap).
    label_rule : {"majority", "strict"}, default="majority"
    channels : list of str, optional
        Table only: the channel columns, in order; default every numeric column
        other than the named ones.
    domain : str, default="domain"
        Table only: the domain column.
    recording : str, optional
        Table only: the recording column (recording ids may repeat across
        domains); default one recording per domain.
    label : str, optional
        Table only: the per-step label column (missing values: steps without a
        label, e.g. the whole unlabelled target domain); default no labels.
    time : str, optional
        Table only: a column to sort each recording's rows by (no duplicates).
    labels : sequence of array-like or None, optional
        Arrays only: per-step labels of each recording (None for an unlabelled one).
    domains : sequence, optional
        Arrays only: the domain of each recording; default its position.
    unlabelled : scalar, default=-1
        ``y`` of windows without a label (the estimator's ``mask_label``); of the
        labels' type (e.g. ``"?"`` for string labels).

    Returns
    -------
    X : numpy.ndarray of shape (n, channels, length), float32
    y : numpy.ndarray of shape (n,)
        Window labels, ``unlabelled`` where a window has none.
    domain : numpy.ndarray of shape (n,)
    recording : numpy.ndarray of shape (n,)
        The window's recording (its id in the table; its position for arrays).

    Raises
    ------
    ValueError
        Bad arguments, unknown columns, non-numeric or missing channel values (by
        domain, recording and row), a domain without a channel, recordings with
        different channel counts, labels of mixed types, or no window at all.
    TypeError
        ``recordings`` is neither a table nor a sequence of arrays.

    Warns
    -----
    UserWarning
        A domain gives no window (its recordings are shorter than ``length``, or
        ``"strict"`` dropped them all).

    Notes
    -----
    numpy's ``sliding_window_view`` does the windowing; sktime's
    ``SlidingWindowSegmenter`` does not fit here: it is univariate, pads the
    series' ends (windows of invented values at the edges) and moves one step at
    a time.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"device": ["a"] * 6 + ["b"] * 4, "acc": range(10),
    ...                       "activity": ["sit"] * 4 + ["walk"] * 2 + [None] * 4})
    >>> X, y, domain, rec = make_windows(table, length=2, domain="device", label="activity", unlabelled="?")
    >>> X.shape, y.tolist(), domain.tolist()
    ((5, 1, 2), ['sit', 'sit', 'walk', '?', '?'], ['a', 'a', 'a', 'b', 'b'])
    >>> X[3, 0].tolist()  # the first window of "b" starts at b's first step: no window crosses recordings
    [6.0, 7.0]
    >>> make_windows(table, length=3, step=1, domain="device", label="activity", unlabelled="?",
    ...              label_rule="strict")[1].tolist()
    ['sit', 'sit', '?', '?']
    """
    import pandas as pd

    length = _positive_int(length, "length")
    step = length if step is None else _positive_int(step, "step")
    if label_rule not in _RULES:
        raise ValueError(f"label_rule must be one of {_RULES}, got {label_rule!r}")
    if isinstance(recordings, pd.DataFrame):
        if labels is not None or domains is not None:
            raise ValueError("labels= and domains= are for a sequence of arrays; for a table name the columns "
                             "with label= and domain=")
        recs, _ = _recordings_from_table(recordings, channels, label, domain, recording, time)
    elif isinstance(recordings, (list, tuple)) or (isinstance(recordings, np.ndarray) and recordings.dtype == object):
        if channels is not None or recording is not None or label is not None or time is not None:
            raise ValueError("channels=, recording=, label= and time= name table columns; for arrays pass "
                             "labels= and domains=")
        recs, _ = _recordings_from_arrays(recordings, labels, domains)
    else:
        raise TypeError(f"recordings must be a pandas DataFrame or a list of arrays (time steps, channels), got "
                        f"{type(recordings).__name__}")
    classes, codes = _label_codes(recs)
    domain_dtype, recording_dtype = _id_dtype([r[0] for r in recs]), _id_dtype([r[1] for r in recs])
    X, win_codes, dom, rec, windowed = [], [], [], [], set()
    for (d, r, values, _), c in zip(recs, codes):
        if len(values) < length:
            continue
        wc, keep = _window_codes(c, len(classes), length, step, label_rule)
        windows = sliding_window_view(values.astype(np.float32, copy=False), length, axis=0)[::step]
        X.append(np.ascontiguousarray(windows if keep.all() else windows[keep]))
        win_codes.append(wc[keep])
        dom.append(np.full(int(keep.sum()), d, dtype=domain_dtype))
        rec.append(np.full(int(keep.sum()), r, dtype=recording_dtype))
        if keep.any():
            windowed.add(d)
    n = sum(len(x) for x in X)
    if n == 0:
        longest = max(len(values) for _, _, values, _ in recs)
        raise ValueError(f"no window of {length} steps" + (" with one label throughout" if label_rule == "strict"
                                                           else "") + f": the longest recording has {longest} steps")
    silent = [d for d in dict.fromkeys(r[0] for r in recs) if d not in windowed]
    if silent:
        warnings.warn(f"domain(s) {silent} gave no window of {length} steps (recordings too short, or "
                      f"label_rule={label_rule!r} dropped them all)", UserWarning, stacklevel=2)
    y = _labels_out(classes, np.concatenate(win_codes), unlabelled)
    return np.concatenate(X), y, np.concatenate(dom), np.concatenate(rec)
