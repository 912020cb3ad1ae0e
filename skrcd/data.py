"""Data conversion and validation at the public boundary.

Every public entry point converts its panels here, once, to a fresh C-contiguous
float32 numpy array of shape ``(n, channels, length)``; the caller's objects are
never written to. Accepted: numpy 3D ``(n, channels, length)``, numpy 2D
``(n, length)`` (univariate), torch tensors of either shape, and every sktime Panel
mtype (``pd-multiindex``, ``nested_univ``, ``df-list``, ``numpyflat``, ...), detected
and converted with :mod:`sktime.datatypes`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["to_panel", "check_labels", "check_same_channels"]


def _from_sktime(X, name):
    from sktime.datatypes import check_is_scitype, convert_to

    valid, msg, meta = check_is_scitype(X, scitype="Panel", return_metadata=True)
    if not valid:
        raise TypeError(
            f"{name}: could not read it as a time-series panel (numpy 2D/3D, torch tensor or an "
            f"sktime Panel mtype such as pd-multiindex, nested_univ or df-list): {msg}"
        )
    if not meta.get("is_equal_length", True):
        raise ValueError(f"{name}: its series have unequal lengths; resample or pad them to one length")
    if meta.get("has_nans", False):
        raise ValueError(f"{name} contains NaN values")
    return convert_to(X, to_type="numpy3D")


def to_panel(X, name="X", allow_empty=False):
    """Validate a panel and return it as a new float32 array ``(n, channels, length)``.

    Parameters
    ----------
    X : array-like, torch.Tensor or sktime Panel
        The input panel.
    name : str, default="X"
        Name of the argument, used in error messages.
    allow_empty : bool, default=False
        Accept zero samples.

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
    """
    try:
        import torch

        if isinstance(X, torch.Tensor):
            X = X.detach().cpu().numpy()
    except ImportError:  # pragma: no cover - torch is a hard dependency
        pass
    if not isinstance(X, np.ndarray):
        try:
            import pandas as pd

            is_pandas = isinstance(X, (pd.DataFrame, pd.Series)) or (
                isinstance(X, list) and len(X) > 0 and all(isinstance(x, pd.DataFrame) for x in X)
            )
        except ImportError:  # pragma: no cover
            is_pandas = False
        if is_pandas:
            X = _from_sktime(X, name)
        else:
            try:
                X = np.asarray(X)
            except Exception as exc:  # ragged lists and the like
                raise ValueError(f"{name}: could not read it as an array: {exc}") from None
    if X.dtype == object:
        raise TypeError(f"{name} has dtype object; pass numeric (float) data")
    if np.iscomplexobj(X):
        raise TypeError(f"{name} has a complex dtype ({X.dtype}); pass real-valued data")
    if not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
        raise TypeError(f"{name} has non-numeric dtype {X.dtype}")
    if X.ndim == 2:
        X = X[:, None, :]
    elif X.ndim != 3:
        raise ValueError(
            f"{name} must be 2D (n_samples, length) or 3D (n_samples, channels, length); got {X.ndim}D "
            f"with shape {X.shape}"
        )
    if X.shape[0] == 0 and not allow_empty:
        raise ValueError(f"{name} is empty (0 samples)")
    if X.shape[1] == 0 or X.shape[2] == 0:
        raise ValueError(f"{name} has shape {X.shape}: it needs at least one channel and one time step")
    out = np.array(X, dtype=np.float32, order="C", copy=True)
    if not np.isfinite(out).all():
        kind = "NaN" if np.isnan(out).any() else "infinite"
        raise ValueError(f"{name} contains {kind} values (or values too large for float32)")
    return out


def check_labels(y, n_samples, name="y"):
    """Validate classification labels and check their length against ``X``.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels of any sklearn-acceptable type (ints, strings, pandas Series).
    n_samples : int
        Number of rows of the matching panel.
    name : str, default="y"

    Returns
    -------
    numpy.ndarray
        A fresh 1D copy of the labels.

    Examples
    --------
    >>> check_labels(["a", "b"], 2)
    array(['a', 'b'], dtype='<U1')
    """
    from sklearn.utils.multiclass import check_classification_targets

    if y is None:
        raise ValueError(f"{name} is required: the labels of the source samples")
    try:
        import torch

        if isinstance(y, torch.Tensor):
            y = y.detach().cpu().numpy()
    except ImportError:  # pragma: no cover
        pass
    y = np.array(y, copy=True)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1D (n_samples,), got shape {y.shape}")
    if y.shape[0] != n_samples:
        raise ValueError(f"{name} has {y.shape[0]} labels but X has {n_samples} samples")
    check_classification_targets(y)
    return y


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

    Examples
    --------
    >>> import numpy as np
    >>> check_same_channels(np.zeros((1, 3, 8)), 3, "X")
    """
    if X.shape[1] != n_channels:
        raise ValueError(f"{name} has {X.shape[1]} channels but {reference} has {n_channels}")
