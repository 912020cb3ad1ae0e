"""Data conversion and validation at the public boundary.

Every public entry point converts its panels here, once, to a fresh C-contiguous
float32 numpy array of shape ``(n, channels, length)``; the caller's objects are
never written to (a copy is always made, read-only inputs are fine).

Accepted panels
---------------
- numpy 3D ``(n, channels, length)``;
- numpy 2D ``(n, length)``: ``n`` **univariate** series. This is also how sktime's
  ``numpyflat`` mtype is read, and sktime reads it the same way (its ``numpyflat`` ->
  ``numpy3D`` conversion gives one channel). A flattened multivariate panel
  ``(n, channels * length)`` cannot be told apart from a long univariate one, so it
  is never guessed: reshape it to ``(n, channels, length)`` first. A model fitted on
  several channels refuses a 2D array with a channel-count error saying so, and
  the estimator fitted on a 2D array expects 2D inputs of the same width (use the
  3D form ``(n, 1, length)`` to predict on series of another length);
- torch tensors of either shape (any device, ``requires_grad`` or not, bfloat16
  included);
- nested lists of numbers of either shape;
- every sktime Panel mtype that :func:`sktime.datatypes.check_is_scitype` detects
  (``pd-multiindex``, ``nested_univ``, ``df-list``, ``dask_panel`` / ``polars_panel``
  when those packages are installed, ...), converted with
  :func:`sktime.datatypes.convert_to`;
- the two 2D-like pandas layouts sktime keeps for internal use: ``pd-wide`` (a
  plain numeric DataFrame, rows = instances, columns = time points: univariate,
  read exactly like a 2D numpy array) and ``pd-long`` (recognised by its four column
  names, ``instances, timepoints, variable, value`` or
  ``case_id, reading_id, dim_id, value``).

Any real dtype comes in (float16/32/64, integers, bool); float32 is used inside.
An object array whose entries are all numbers is read as numbers (scikit-learn's
convention); any other object array is refused.

Validation (each a ``TypeError`` or ``ValueError`` whose message starts with the
argument's name): object arrays holding non-numbers, complex or other non-numeric
dtypes; an unreadable
container; a wrong number of dimensions; zero samples, channels or time steps; NaN
or infinite values (or values beyond float32's range); series of unequal lengths;
labels of the wrong shape, length or type (:func:`check_labels`); fewer than 2
source classes (:func:`check_n_classes`); a channel count different from the
reference (:func:`check_same_channels`); a series length the networks cannot take
(:func:`check_network_input`, a dry run of the network).

Series-length policy
--------------------
The CNNs end in a global average pool and the TCN reads its last time step, so the
networks take any length they can run on. A panel whose length differs from the
source length seen in ``fit`` (``X_tgt`` in ``fit``, ``X`` in ``predict``) is
accepted with a :class:`LengthMismatchWarning` after a dry run of the network has
confirmed it can take that length; otherwise a ``ValueError`` names the shortest
length the network takes. Resample the series to one length to silence the
warning: features pooled over windows of different duration are only comparable
when the sampling rate is the same.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from ._warnings import user_stacklevel

__all__ = [
    "to_panel",
    "is_flat_table",
    "check_n_features",
    "check_labels",
    "check_n_classes",
    "check_same_channels",
    "check_length",
    "check_network_input",
    "check_network_output",
    "find_non_finite",
    "channel_stats",
    "balanced_domain_stats",
    "standardized_tensor",
    "warn_unstandardized_scale",
    "LengthMismatchWarning",
    "DataScaleWarning",
]

_LONG_COLUMNS = (("instances", "timepoints", "variable", "value"), ("case_id", "reading_id", "dim_id", "value"))


class ComplexDataError(TypeError, ValueError):
    """Complex-valued input: a ``TypeError`` that is also the ``ValueError`` scikit-learn expects."""


class DataScaleWarning(UserWarning):
    """Raw (unstandardised) inputs at a scale where the float32 networks lose the signal."""


class LengthMismatchWarning(UserWarning):
    """A panel's series length differs from the source length seen in ``fit``.

    The networks pool over time, so this runs; it is a warning because features
    pooled over windows of different duration are only comparable at one sampling
    rate.
    """


# --------------------------------------------------------------------- readers
def _is_torch(X):
    import torch  # a hard dependency, imported when first needed

    return isinstance(X, torch.Tensor)


def _from_torch(X):
    import torch

    X = X.detach().cpu()
    if X.is_complex():
        return X.resolve_conj().numpy()
    if X.dtype.is_floating_point and X.dtype not in (torch.float16, torch.float32, torch.float64):
        X = X.float()  # bfloat16 and float8 have no numpy dtype
    return X.numpy()


def _is_pandas_like(X):
    import pandas as pd

    if isinstance(X, (pd.DataFrame, pd.Series)):
        return True
    if isinstance(X, (list, tuple)) and len(X) > 0 and all(isinstance(x, pd.DataFrame) for x in X):
        return True
    # dask / polars / gluonts containers: leave them to sktime
    module = type(X).__module__.split(".")[0]
    return module in ("dask", "polars", "gluonts")


def _wide_to_numpy(X, name):
    import pandas as pd

    bad = [c for c in X.columns if not (pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c]))]
    if bad:
        shown = ", ".join(repr(c) for c in bad[:5])
        raise TypeError(
            f"{name}: a flat DataFrame is read as pd-wide (rows = instances, columns = time points, "
            f"univariate) and must be numeric, but columns {shown} are not"
        )
    return X.to_numpy(dtype=np.float64, na_value=np.nan)[:, None, :]


def _multiindex_to_numpy(X, name):
    # Fallback for pd-multiindex panels whose instances have different time stamps
    # (sktime's converter aligns on the time index and fails on those).
    groups = [g.to_numpy() for _, g in X.groupby(level=0, sort=False)]
    lengths = {g.shape[0] for g in groups}
    if len(lengths) > 1:
        raise ValueError(
            f"{name}: its series have unequal lengths {sorted(lengths)[:5]}; resample or pad them to one length"
        )
    return np.stack([g.T for g in groups])


def _from_sktime(X, name):
    import pandas as pd
    from sktime.datatypes import check_is_scitype, convert, convert_to

    if isinstance(X, pd.Series):
        raise TypeError(
            f"{name} is a pandas Series, i.e. one series, not a panel; pass a DataFrame (pd-wide, "
            "pd-multiindex, nested_univ) or an array of shape (n, length) / (n, channels, length)"
        )
    if isinstance(X, tuple):  # a tuple of DataFrames: sktime's df-list is a list
        X = list(X)
    if isinstance(X, pd.DataFrame) and not isinstance(X.index, pd.MultiIndex):
        cols = tuple(str(c) for c in X.columns)
        if cols in _LONG_COLUMNS:
            X = convert(X, from_type="pd-long", to_type="pd-multiindex")
        elif not any(dtype == object for dtype in X.dtypes):  # nested_univ holds Series in object columns
            return _wide_to_numpy(X, name), "pd-wide"
    valid, msg, meta = check_is_scitype(X, scitype="Panel", return_metadata=True)
    if not valid:
        detail = "; ".join(f"{k}: {v}" for k, v in msg.items()) if isinstance(msg, dict) else str(msg)
        raise TypeError(
            f"{name}: could not read it as a time-series panel (numpy 2D/3D, torch tensor or an "
            f"sktime Panel mtype such as pd-multiindex, nested_univ or df-list): {detail}"
        )
    mtype = meta.get("mtype", "?")
    if meta.get("is_empty", False) or meta.get("n_instances", 1) == 0:
        return np.zeros((0, max(int(meta.get("n_features", 1) or 1), 1), 1)), mtype
    if not meta.get("is_equal_length", True):
        raise ValueError(f"{name}: its series have unequal lengths; resample or pad them to one length")
    if meta.get("has_nans", False):
        raise ValueError(f"{name} contains NaN values")
    try:
        out = convert_to(X, to_type="numpy3D")
    except Exception:
        if mtype != "pd-multiindex":
            raise
        out = _multiindex_to_numpy(X, name)
    return out, mtype


def _from_sequence(X, name):
    try:
        return np.asarray(X)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        lengths = _ragged_lengths(X)
        if lengths is not None:
            raise ValueError(
                f"{name}: its series have unequal lengths (e.g. {sorted(lengths)[:5]}); resample or pad them "
                "to one length"
            ) from None
        raise ValueError(f"{name}: could not read it as an array: {exc}") from None


def _ragged_lengths(X):
    lengths = set()

    def walk(x, depth):
        if depth > 3:
            return
        if isinstance(x, (list, tuple)) or (isinstance(x, np.ndarray) and x.ndim >= 1):
            if len(x) and not isinstance(x[0], (list, tuple, np.ndarray)):
                lengths.add(len(x))
            for item in x:
                walk(item, depth + 1)

    try:
        walk(X, 0)
    except TypeError:
        return None
    return lengths if len(lengths) > 1 else None


def _read(X, name):
    """Any accepted panel -> (numpy array, format name); no validation of contents yet."""
    if isinstance(X, np.ndarray):
        return X, f"numpy{X.ndim}D"
    if _is_torch(X):
        return _from_torch(X), "torch"
    if _is_pandas_like(X):
        return _from_sktime(X, name)
    if X is None:
        raise TypeError(f"{name} is None; pass a panel of shape (n, length) or (n, channels, length)")
    if type(X).__module__.startswith("scipy.sparse"):
        raise TypeError(f"{name}: sparse input is not supported; pass a dense array (X.toarray())")
    if isinstance(X, (str, bytes, dict)):
        raise TypeError(f"{name}: a {type(X).__name__} is not a time-series panel")
    return _from_sequence(X, name), "sequence"


# ------------------------------------------------------------------ validation
def to_panel(X, name="X"):
    """Validate a panel and return it as a new float32 array ``(n, channels, length)``.

    See the module documentation for the accepted formats and the rules.

    Parameters
    ----------
    X : array-like, torch.Tensor or sktime Panel
        The input panel. A 2D input ``(n, length)`` is read as ``n`` univariate
        series (this covers sktime's ``numpyflat`` and ``pd-wide``).
    name : str, default="X"
        Name of the argument, used in error messages.

    Returns
    -------
    numpy.ndarray of shape (n, channels, length), float32
        Always a fresh array: the caller's data are never aliased.

    Raises
    ------
    TypeError
        Object, complex or non-numeric dtype, or an unreadable container.
    ValueError
        Wrong number of dimensions, empty panel, NaN/inf values, unequal lengths.

    Examples
    --------
    >>> import numpy as np
    >>> to_panel(np.zeros((4, 100))).shape
    (4, 1, 100)
    >>> to_panel(np.ones((2, 3, 8), dtype=np.float64)).dtype
    dtype('float32')
    >>> import pandas as pd
    >>> from sktime.datatypes import convert_to
    >>> nested = convert_to(np.ones((2, 3, 8)), to_type="nested_univ")
    >>> to_panel(nested).shape
    (2, 3, 8)
    >>> to_panel(np.array([[1.0, np.nan]]), name="X_tgt")
    Traceback (most recent call last):
    ...
    ValueError: X_tgt contains NaN values
    """
    X, _ = _read(X, name)
    if X.dtype == object:  # numbers stored as Python objects are read as numbers, as scikit-learn does
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} has dtype object and not all entries are numbers ({exc}); "
                            "pass numeric (float) data") from None
    if np.iscomplexobj(X):
        raise ComplexDataError(f"{name} has a complex dtype ({X.dtype}); pass real-valued data "
                               "(Complex data not supported)")
    if not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
        raise TypeError(f"{name} has non-numeric dtype {X.dtype}; pass numeric (float) data")
    if X.ndim == 1 and X.shape[0] == 0:
        X = X.reshape(0, 1, 0)
    if X.ndim == 2:
        X = X[:, None, :]
    elif X.ndim != 3:
        hint = ("; Reshape your data: for a single series use X[None, :] (univariate) or X[None] (multivariate)"
                if X.ndim == 1 else "")
        raise ValueError(
            f"{name} must be 2D (n_samples, length) or 3D (n_samples, channels, length); got {X.ndim}D "
            f"with shape {X.shape}{hint}"
        )
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty (0 samples)")
    if X.shape[1] == 0 or X.shape[2] == 0:
        raise ValueError(f"{name} has shape {X.shape}: it needs at least one channel and one time step "
                         f"(0 feature(s) (shape={(X.shape[0], X.shape[1] * X.shape[2])}) while a minimum of 1 "
                         "is required)")
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.array(X, dtype=np.float32, order="C", copy=True)
    if not np.isfinite(out).all():
        if np.isnan(out).any():
            raise ValueError(f"{name} contains NaN values")
        raise ValueError(f"{name} contains infinite values (or values too large for float32)")
    return out


def is_flat_table(X, panel):
    """Whether ``X`` was a 2D table ``(n, length)``, read by :func:`to_panel` as univariate series.

    scikit-learn counts the features of such a table as its columns (the series
    length), those of a panel as its channels.

    Parameters
    ----------
    X : object
        What the caller passed.
    panel : numpy.ndarray of shape (n, channels, length)
        ``to_panel(X)``.

    Returns
    -------
    bool

    Examples
    --------
    >>> import numpy as np
    >>> X = np.zeros((4, 100))
    >>> is_flat_table(X, to_panel(X)), is_flat_table(X[:, None], to_panel(X[:, None]))
    (True, False)
    """
    if isinstance(X, (list, tuple)) and len(X) and hasattr(X[0], "columns"):  # sktime df-list
        return False
    try:
        shape = getattr(X, "shape", None) or np.shape(X)
    except Exception:  # noqa: BLE001 - unreadable here means not flat; to_panel has accepted it
        return False
    return len(shape) == 2 and panel.shape[1] == 1 and panel.shape[2] == shape[1]


def check_n_features(X, panel, n_features_in, fitted_on_table, owner):
    """scikit-learn's feature-count rule for a 2D table: as many columns as the table seen in ``fit``.

    Parameters
    ----------
    X, panel : object, numpy.ndarray
        As for :func:`is_flat_table`.
    n_features_in : int
        ``n_features_in_`` of the fitted estimator.
    fitted_on_table : bool
        Whether ``fit`` got a 2D table (otherwise a panel of another length is fine).
    owner : str
        The estimator's name, for the message.

    Raises
    ------
    ValueError
        A table with another number of columns than in ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.zeros((2, 8))
    >>> check_n_features(X, to_panel(X), 8, True, "Scaler")
    >>> check_n_features(X, to_panel(X), 6, True, "Scaler")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: X has 8 features, but Scaler is expecting 6 features as input: a 2D array is read as ...
    """
    if fitted_on_table and is_flat_table(X, panel) and panel.shape[2] != n_features_in:
        raise ValueError(
            f"X has {panel.shape[2]} features, but {owner} is expecting {n_features_in} features as input: a 2D "
            "array is read as univariate series and must have as many columns as in fit (pass a 3D array "
            "(n, 1, length) for series of another length)"
        )


def _mixed_label_types(name, kinds):
    return TypeError(f"{name} mixes label types {sorted(kinds)}; use one type (all strings or all numbers)")


def _missing_or_nested(v):
    """A label that the type check skips: None or NaN (refused as missing below) or a nested sequence."""
    return v is None or (isinstance(v, float) and v != v) or isinstance(v, (list, tuple, np.ndarray))


def check_labels(y, n_samples, name="y"):
    """Validate classification labels and check their length against ``X``.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels of any sklearn-acceptable type (ints, strings, bools, pandas
        Series or Categorical, torch tensors); a column vector is raveled.
    n_samples : int
        Number of rows of the matching panel.
    name : str, default="y"

    Returns
    -------
    numpy.ndarray
        A fresh 1D copy of the labels.

    Raises
    ------
    ValueError
        ``y`` missing, not 1D, of another length than ``X``, containing NaN, or
        continuous / multi-output.
    TypeError
        Labels mixing types that cannot be sorted (e.g. strings and numbers).

    Examples
    --------
    >>> check_labels(["a", "b"], 2)
    array(['a', 'b'], dtype='<U1')
    >>> check_labels([0, 1, 1], 2)
    Traceback (most recent call last):
    ...
    ValueError: y has 3 labels but X has 2 samples
    """
    from sklearn.utils.multiclass import check_classification_targets

    if y is None:
        raise ValueError(f"{name} is required: the labels of the source samples (this estimator requires y "
                         f"to be passed, but the target y is None)")
    if _is_torch(y):
        y = _from_torch(y)
    try:
        import pandas as pd

        if isinstance(y, (pd.Series, pd.DataFrame, pd.Categorical, pd.Index)):
            y = y.to_numpy()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(y, (list, tuple)):  # numpy would turn [0, "a"] into strings silently
        kinds = {"strings" if isinstance(v, (str, np.str_, bytes)) else type(v).__name__
                 for v in y if not _missing_or_nested(v)}
        if "strings" in kinds and len(kinds) > 1:
            raise _mixed_label_types(name, kinds)
    try:
        y = np.array(y, copy=True)
    except ValueError as exc:
        raise ValueError(f"{name}: could not read the labels as a 1D array: {exc}") from None
    if y.ndim == 2 and y.shape[1] == 1:
        from sklearn.utils.validation import column_or_1d

        y = column_or_1d(y, warn=True)  # scikit-learn's DataConversionWarning
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1D (n_samples,), got shape {y.shape}")
    if y.shape[0] != n_samples:
        X_name = "X_tgt" if name.endswith("_tgt") else "X"
        raise ValueError(f"{name} has {y.shape[0]} labels but {X_name} has {n_samples} samples")
    if np.iscomplexobj(y):
        raise TypeError(f"{name} has a complex dtype ({y.dtype}); class labels must be ints, strings or bools")
    if y.dtype.kind == "f" and np.isnan(y).any():
        raise ValueError(f"{name} contains NaN labels")
    if y.dtype == object:
        if any(v is None or (isinstance(v, float) and np.isnan(v)) for v in y):
            raise ValueError(f"{name} contains missing labels (None or NaN)")
        try:
            np.unique(y)
        except TypeError:
            raise _mixed_label_types(name, {type(v).__name__ for v in y}) from None
    try:
        check_classification_targets(y)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    return y


def check_n_classes(y, name="y"):
    """Raise unless the (source) labels hold at least 2 classes.

    Parameters
    ----------
    y : numpy.ndarray of shape (n_samples,)
        Source labels, already checked by :func:`check_labels`.
    name : str, default="y"

    Returns
    -------
    numpy.ndarray
        The sorted classes.

    Examples
    --------
    >>> check_n_classes(["a", "b", "a"])
    array(['a', 'b'], dtype='<U1')
    >>> check_n_classes([1, 1])
    Traceback (most recent call last):
    ...
    ValueError: y: the source must hold at least 2 classes, got 1 class: array([1])
    """
    classes = np.unique(np.asarray(y))
    if len(classes) < 2:
        unit = "class" if len(classes) == 1 else "classes"
        raise ValueError(f"{name}: the source must hold at least 2 classes, got {len(classes)} {unit}: {classes!r}")
    return classes


def check_same_channels(X, n_channels, name, reference="the training data"):
    """Raise if a panel's channel count differs from the fitted one.

    Parameters
    ----------
    X : numpy.ndarray of shape (n, channels, length)
    n_channels : int
        Expected number of channels.
    name : str
        Argument name for the message.
    reference : str
        What the expected count comes from, for the message.

    Raises
    ------
    ValueError
        With a reshaping hint when a univariate (2D) panel meets a multichannel model.

    Examples
    --------
    >>> import numpy as np
    >>> check_same_channels(np.zeros((1, 3, 8)), 3, "X")
    >>> check_same_channels(np.zeros((1, 2, 8)), 3, "X", "the data seen in fit")
    Traceback (most recent call last):
    ...
    ValueError: X has 2 channels but the data seen in fit has 3
    """
    if X.shape[1] != n_channels:
        hint = ""
        if X.shape[1] == 1 and n_channels > 1:
            hint = (
                "; a 2D array (n, length) is read as univariate: pass a flattened multivariate panel "
                "as X.reshape(n, channels, length)"
            )
        raise ValueError(f"{name} has {X.shape[1]} channels but {reference} has {n_channels}{hint}")


def _runs(module, n_channels, length, device):
    from .nn.networks import dry_run

    dry_run(module, n_channels, length, device)


def _min_length(module, n_channels, device, start, limit):
    """Shortest length in (start, limit] on which ``module`` runs, assuming monotonicity; None if none."""

    def ok(n):
        try:
            _runs(module, n_channels, n, device)
            return True
        except Exception:  # noqa: BLE001 - any failure of the dry run means "does not run"
            return False

    hi = max(start * 2, 2)
    while hi <= limit and not ok(hi):
        hi *= 2
    if hi > limit:
        return None
    lo = start  # known to fail
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


def check_network_input(module, n_channels, lengths, network="network"):
    """Dry-run a network on each series length it will see; raise a clear error if it cannot run.

    The module runs in eval mode without gradients on zeros of shape
    ``(2, n_channels, length)``. If that fails, the shortest length it takes is
    searched (doubling, then bisection, up to 65536 steps) and named in the message.

    Parameters
    ----------
    module : torch.nn.Module
        A ``(logits, features)`` network.
    n_channels : int
    lengths : int or dict of {str: int}
        The length to check, or argument name -> length.
    network : str, default="network"
        Name of the network for the message (``"teacher"``, ``"student"``).

    Raises
    ------
    ValueError
        Naming the argument, its length and the shortest length the network takes.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Conv1d(1, 1, kernel_size=9)  # no padding: needs 9 steps
    >>> check_network_input(net, 1, {"X": 16}, "teacher")
    >>> check_network_input(net, 1, {"X": 4}, "teacher")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: X has series of length 4, too short for the teacher network: it needs at least 9 time steps; ...
    """
    if isinstance(lengths, numbers.Integral):
        lengths = {"X": int(lengths)}
    params = next(iter(module.parameters()), None)
    device = params.device if params is not None else "cpu"
    was_training = module.training
    module.eval()
    try:
        by_length = {}
        for arg, length in lengths.items():
            by_length.setdefault(int(length), []).append(arg)
        for length, args in by_length.items():
            arg = " and ".join(args)
            try:
                _runs(module, n_channels, length, device)
                continue
            except Exception as exc:  # noqa: BLE001
                error = exc
            shortest = _min_length(module, n_channels, device, length, 65536)
            if shortest is None:
                raise ValueError(
                    f"{arg}: the {network} network cannot take input of shape (batch, {n_channels}, {length}) "
                    f"(a dry run failed: {type(error).__name__}: {error})"
                ) from error
            raise ValueError(
                f"{arg} {'have' if len(args) > 1 else 'has'} series of length {length}, too short for the "
                f"{network} network: it needs at least "
                f"{shortest} time steps; resample or pad the series (or use a smaller kernel_size / stride)"
            ) from error
    finally:
        module.train(was_training)


def check_length(X, reference_length, module=None, name="X", network="network",
                 reference="the source data seen in fit", stacklevel=3):
    """Apply the series-length policy to a panel (see the module documentation).

    Equal lengths pass silently. A different length is dry-run through ``module``
    (when given), then accepted with a :class:`LengthMismatchWarning`.

    Parameters
    ----------
    X : numpy.ndarray of shape (n, channels, length)
    reference_length : int
        Length of the source series seen in ``fit``.
    module : torch.nn.Module, optional
        Network that will process ``X``.
    name : str, default="X"
    network : str, default="network"
    reference : str
        What the reference length comes from, for the message.
    stacklevel : int, default=3

    Examples
    --------
    >>> import warnings, numpy as np
    >>> check_length(np.zeros((2, 1, 8)), 8)
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     check_length(np.zeros((2, 1, 6)), 8)
    >>> w[0].category.__name__
    'LengthMismatchWarning'
    """
    length = int(X.shape[2])
    if length == int(reference_length):
        return
    if module is not None:
        check_network_input(module, X.shape[1], {name: length}, network)
    warnings.warn(
        f"{name} has series of length {length} but {reference} has length {reference_length}: accepted "
        "because the networks pool over time, but resample to one length unless the sampling rates "
        "really are the same",
        LengthMismatchWarning,
        stacklevel=stacklevel,
    )


#: Panel elements per float64 chunk in :func:`channel_stats` (bounds its temporary memory to 8 MiB).
_STATS_CHUNK = 1 << 20


def _float64_chunks(panels, weights):
    """Float64 copies of consecutive blocks of rows of the panels (at most ``_STATS_CHUNK`` elements each), with
    the rows' weights."""
    for p, w in zip(panels, weights):
        rows = max(1, _STATS_CHUNK // max(1, p.shape[1] * p.shape[2]))
        for i in range(0, p.shape[0], rows):
            yield np.array(p[i : i + rows], dtype=np.float64), w[i : i + rows]  # a copy: the panel is never written


def channel_stats(*panels, rel_floor=1e-6, weights=None):
    """Per-channel mean and standard deviation over all samples and time steps of the panels.

    Computed in float64 (two passes, in chunks of rows), so values anywhere in
    float32's range (1e-30, 1e20, ...) give finite statistics. Panels may differ in
    length (not in channel count).

    The standard deviation of each channel is floored, relative to that channel's
    scale (its largest absolute value): at ``rel_floor`` times the scale, and at
    least float32's smallest normal number. A constant channel (or one that
    varies only by float32 rounding) then standardises to about zero at any
    scale, and dividing by the result never overflows. A channel that is zero
    everywhere gets a standard deviation of 1 (it stays zero, and values seen
    there later are not blown up).

    Parameters
    ----------
    *panels : numpy.ndarray of shape (n_i, channels, length_i)
    rel_floor : float, default=1e-6
        Floor of the standard deviation, as a fraction of the channel's scale.
    weights : sequence of numpy.ndarray of shape (n_i,), optional
        A non-negative weight per window of each panel (all its time steps
        count with it); equal weights by default.

    Returns
    -------
    mean, std : numpy.ndarray of shape (channels,), float32

    Examples
    --------
    >>> import numpy as np
    >>> mean, std = channel_stats(np.zeros((2, 2, 4)), np.ones((2, 2, 6)))
    >>> mean.dtype, std.dtype
    (dtype('float32'), dtype('float32'))
    >>> bool(np.allclose(mean, 0.6))
    True
    >>> X = np.stack([np.full((3, 8), 1e20), np.linspace(0, 1e-20, 24).reshape(3, 8)], axis=1)
    >>> mean, std = channel_stats(X.astype(np.float32))
    >>> bool(np.isfinite(mean).all() and np.isfinite(std).all()), round(float(std[0]) / 1e20, 9), bool(std[1] > 1e-21)
    (True, 1e-06, True)
    """
    n_channels = panels[0].shape[1]
    if weights is None:
        weights = [np.ones(p.shape[0]) for p in panels]
    row_weights = [np.asarray(w, dtype=np.float64) for w in weights]
    count = sum(w.sum() * p.shape[2] for w, p in zip(row_weights, panels))
    total, scale = np.zeros(n_channels), np.zeros(n_channels)
    for chunk, w in _float64_chunks(panels, row_weights):
        total += np.einsum("ijk,i->j", chunk, w)
        scale = np.maximum(scale, np.abs(chunk).max(axis=(0, 2)))
    mean = total / count
    squares = np.zeros(n_channels)
    for chunk, w in _float64_chunks(panels, row_weights):
        chunk -= mean[None, :, None]
        squares += np.einsum("ijk,ijk,i->j", chunk, chunk, w)
    std = np.sqrt(squares / count)
    floor = np.maximum(rel_floor * scale, np.finfo(np.float32).tiny)
    std = np.where(scale > 0, np.maximum(std, floor), 1.0)
    return mean.astype(np.float32), std.astype(np.float32)


def standardized_tensor(X, device, stats=None):
    """A float32 panel as a tensor on ``device``, standardised per channel with ``stats``.

    ``X`` must be an array the caller owns (:func:`to_panel` returns a fresh copy): on the CPU the tensor
    shares its memory, and the standardisation runs in place, with no temporary arrays.

    Parameters
    ----------
    X : numpy.ndarray of shape (n_samples, channels, length)
    device : torch.device or str
    stats : tuple of numpy.ndarray or None
        ``(mean, std)`` per channel (:func:`channel_stats`); None leaves the values raw.

    Returns
    -------
    torch.Tensor
    """
    import torch

    t = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).to(device)
    if stats is not None:
        mean, std = stats
        t.sub_(torch.as_tensor(mean, device=device)[None, :, None])
        t.div_(torch.as_tensor(std, device=device)[None, :, None])
    return t


def _window_summaries(X, mean, std):
    """Per-window mean and log standard deviation of each standardised channel: ``(n, 2 * channels)``."""
    Z = (np.asarray(X, dtype=np.float64) - mean[None, :, None]) / std[None, :, None]
    return np.concatenate([Z.mean(axis=2), np.log(Z.std(axis=2) + 1e-3)], axis=1)


def balanced_domain_stats(X_src, y_src, X_tgt, n_rounds=3, max_weight=10.0):
    """Per-domain channel statistics that do not move with the domains' class shares (``standardize="balanced"``).

    Each domain's own mean and standard deviation remove its sensor's offset and
    gain, but they also move with the domain's class mix: a subject who mostly
    lies still has a smaller spread of every channel than one who mostly walks, and
    standardising each with its own statistics stretches one against the other
    (label shift turned into covariate shift). Here each domain's statistics are
    taken as if its classes were equally frequent: the source's with its labels
    (each class weighs the same), the target's with weights that a small,
    label-free model gives its windows: a class-balanced logistic regression on
    the per-window mean and log spread of each channel, trained on the source,
    gives each target window's class probabilities; EM on them estimates the
    target's class prior ``pi`` (:func:`skrcd.nn.em_target_prior`), and a window
    weighs ``1 / sum_c p_c pi_c`` (capped at ``max_weight`` times the mean), which
    gives the target's classes equal mass. The target's statistics and the
    weights are refined ``n_rounds`` times. On a target whose classes are already
    balanced the weights stay near 1 and the result is the domain's own
    statistics. No target label is read.

    Parameters
    ----------
    X_src : numpy.ndarray of shape (n_src, channels, length)
    y_src : numpy.ndarray of shape (n_src,)
        Class indices ``0..k - 1`` of the source windows.
    X_tgt : numpy.ndarray of shape (n_tgt, channels, length)
    n_rounds : int, default=3
    max_weight : float, default=10.0

    Returns
    -------
    (mean_src, std_src), (mean_tgt, std_tgt) : tuples of numpy.ndarray of shape (channels,), float32

    Examples
    --------
    Two classes whose channel levels differ by 4; the target is the same sensor with
    an offset of 1 and 90 % of its windows from class 1:

    >>> rng = np.random.default_rng(0)
    >>> def domain(n0, n1, offset):
    ...     y = np.r_[np.zeros(n0, int), np.ones(n1, int)]
    ...     return (rng.normal(size=(len(y), 1, 16)) + 4.0 * y[:, None, None] + offset).astype(np.float32), y
    >>> X_src, y_src = domain(50, 50, 0.0)
    >>> X_tgt, _ = domain(10, 90, 1.0)
    >>> (m_s, _), (m_t, _) = balanced_domain_stats(X_src, y_src, X_tgt)
    >>> round(float(m_t[0] - m_s[0]), 1)  # the offset, not the class mix (the plain means differ by 2.6)
    1.0
    """
    import torch
    from sklearn.linear_model import LogisticRegression

    from .nn.label_shift import em_target_prior  # torch-based: imported with torch, when first needed

    y_src = np.asarray(y_src)
    classes, y_idx, counts = np.unique(y_src, return_inverse=True, return_counts=True)
    src = channel_stats(X_src, weights=[1.0 / counts[y_idx]])
    tgt = channel_stats(X_tgt)
    if len(classes) < 2:
        return src, tgt
    F_src = _window_summaries(X_src, *src)
    for _ in range(int(n_rounds)):
        model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=1000)
        model.fit(F_src, y_idx)
        proba = model.predict_proba(_window_summaries(X_tgt, *tgt))
        uniform = torch.full((len(classes),), 1.0 / len(classes), dtype=torch.float64)
        prior = em_target_prior(torch.as_tensor(proba), uniform).numpy()
        w = 1.0 / np.maximum(proba @ prior, 1e-12)
        w = np.minimum(w / w.mean(), max_weight)
        tgt = channel_stats(X_tgt, weights=[w])
    return src, tgt


#: Largest absolute input value, without standardisation, below which the networks' float32 batch-norm statistics
#: stay far from overflow (their squares overflow float32 from about 1.8e19).
_RAW_SCALE_HIGH = 1e15
#: Smallest absolute input value, without standardisation, above which the signal stands clear of batch norm's
#: eps (1e-5, a standard deviation of about 3e-3).
_RAW_SCALE_LOW = 1e-3


def warn_unstandardized_scale(panels, names, stacklevel=None):
    """Warn when raw inputs (``standardize=False``) are too large or too small for float32 networks.

    Values beyond ``1e15`` make the batch-norm variances of the networks overflow
    float32 as training proceeds; a panel whose largest absolute value is below
    ``1e-3`` drowns in batch norm's ``eps``. Either way the model tends to predict
    one class for every window. Standardisation (``standardize="domain"`` or
    ``"joint"``) handles any scale.

    Parameters
    ----------
    panels : sequence of numpy.ndarray
    names : sequence of str
        The argument name of each panel, for the message.
    stacklevel : int, optional
        Of :func:`warnings.warn`; by default the first caller outside skrcd.

    Warns
    -----
    DataScaleWarning

    Examples
    --------
    >>> import numpy as np, warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_unstandardized_scale([np.full((2, 1, 4), 1e20, np.float32)], ["X"])
    >>> print(caught[0].message)  # doctest: +ELLIPSIS
    X has values up to 1e+20 and standardize=False: ...
    """
    if stacklevel is None:
        stacklevel = user_stacklevel()
    for X, name in zip(panels, names):
        top = max(float(X.max()), -float(X.min()))
        if top > _RAW_SCALE_HIGH:
            why = f"values up to {top:.3g}"
        elif 0 < top < _RAW_SCALE_LOW:
            why = f"values no larger than {top:.3g}"
        else:
            continue
        warnings.warn(
            f"{name} has {why} and standardize=False: at this scale the float32 networks lose the signal "
            f"(batch-norm variances overflow above about {_RAW_SCALE_HIGH:.0e} or vanish in its eps below about "
            f"{_RAW_SCALE_LOW:.0e}) and the model tends to predict one class; use standardize='domain' or 'joint', "
            "or rescale the data",
            DataScaleWarning, stacklevel=stacklevel,
        )


def check_network_output(module, n_channels, length, n_classes, network="teacher"):
    """Dry-run a ``(logits, features)`` network once and check what it returns; give its feature size.

    The module runs in eval mode without gradients on zeros of shape
    ``(2, n_channels, length)`` and must return a pair of tensors: logits of shape
    ``(2, n_classes)`` and features of shape ``(2, n_features)``.

    Parameters
    ----------
    module : torch.nn.Module
    n_channels, length, n_classes : int
    network : str, default="teacher"
        Name of the network for the message.

    Returns
    -------
    int
        The feature size.

    Raises
    ------
    TypeError
        Not a pair of tensors.
    ValueError
        Logits or features of the wrong shape (the message gives the shapes).

    Examples
    --------
    >>> import torch
    >>> from skrcd.nn import CNN1D
    >>> check_network_output(CNN1D(2, 3, (4, 4, 4)), 2, 16, 3)
    4
    >>> check_network_output(CNN1D(2, 5, (4, 4, 4)), 2, 16, 3)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: the teacher network returned logits of shape (2, 5) for a batch of 2 windows: expected (2, 3), ...
    """
    import torch

    from .nn.networks import dry_run

    out = dry_run(module, n_channels, length)
    how = f"the {network} network must return (logits, features) from forward"
    if not (isinstance(out, (tuple, list)) and len(out) == 2 and all(isinstance(t, torch.Tensor) for t in out)):
        kinds = type(out).__name__
        if isinstance(out, (tuple, list)):
            kinds += " of " + ", ".join(type(t).__name__ for t in out)
        raise TypeError(f"{how}, a pair of tensors; {type(module).__name__} returned a {kinds}")
    logits, features = out
    if tuple(logits.shape) != (2, n_classes):
        raise ValueError(
            f"the {network} network returned logits of shape {tuple(logits.shape)} for a batch of 2 windows: "
            f"expected (2, {n_classes}), one score per class ({n_classes} classes in y); {how}"
        )
    if features.dim() != 2 or features.shape[0] != 2 or features.shape[1] < 1:
        raise ValueError(
            f"the {network} network returned features of shape {tuple(features.shape)} for a batch of 2 windows: "
            f"expected (2, n_features); {how}"
        )
    return int(features.shape[1])


def find_non_finite(module, panels=(), batch_size=4096):
    """The first non-finite weight of a ``(logits, features)`` network, or of its outputs on some panels.

    The outputs are computed in eval mode without gradients (no state of the
    module changes, no random number is drawn), ``batch_size`` windows at a time.

    Parameters
    ----------
    module : torch.nn.Module
    panels : dict of {str: torch.Tensor}, optional
        Input name -> batch of windows on the module's device.
    batch_size : int, default=4096

    Returns
    -------
    str or None
        What is not finite (``"weight head.weight"``, ``"logits on X_tgt"``), or
        None when everything is finite.

    Examples
    --------
    >>> import torch
    >>> from skrcd.nn import CNN1D
    >>> net = CNN1D(2, 3, (4, 4, 4))
    >>> print(find_non_finite(net, {"X": torch.randn(5, 2, 16)}))
    None
    >>> with torch.no_grad():
    ...     net.head.bias[0] = float("nan")
    >>> find_non_finite(net, {"X": torch.randn(5, 2, 16)})
    'weight head.bias'
    """
    import torch

    for name, tensor in module.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            return f"weight {name}"
    if not panels:
        return None
    from .nn.networks import eval_forward

    for arg, X in panels.items():
        logits, features = eval_forward(module, X, batch_size)
        if not bool(torch.isfinite(logits).all()):
            return f"logits on {arg}"
        if features is not None and not bool(torch.isfinite(features).all()):
            return f"features on {arg}"
    return None
