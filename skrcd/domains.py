"""Domain bookkeeping: where the unlabelled target comes from in a ``fit`` call.

One function, :func:`split_domains`, reads the three conventions in a fixed order:

1. ``X_tgt`` given: ``X, y`` are the labelled source;
2. ``sample_domain`` given: skada's convention (>= 0 source, < 0 target; target
   labels ignored);
3. rows of ``y`` equal to ``mask_label`` are unlabelled target (the semi-supervised
   convention of scikit-learn and skada);
4. otherwise there is no target: source-only mode (the source doubles as target).

``X_tgt`` and ``sample_domain`` together are refused (ambiguous). Source and target
may come in different formats (see :mod:`skrcd.data`); their channel counts must
match, and a target length different from the source's is accepted with a
:class:`~skrcd.data.LengthMismatchWarning` (the networks pool over time).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ._traps import ChannelsLastWarning, MaskedRowsScoredWarning, MaskLabelWarning, XTgtTrapWarning
from ._warnings import user_stacklevel
from .data import LengthMismatchWarning, check_labels, check_length, check_n_classes, check_same_channels, to_panel

__all__ = ["DomainSplit", "split_domains", "check_sample_domain", "is_masked", "NoTargetWarning", "XTgtTrapWarning",
           "LengthMismatchWarning", "ChannelsLastWarning", "MaskLabelWarning", "MaskedRowsScoredWarning"]


class NoTargetWarning(UserWarning):
    """Raised (as a warning) when ``fit`` gets no target domain and runs source-only."""


@dataclass
class DomainSplit:
    """Validated source and target panels of one fit.

    Attributes
    ----------
    X_src : numpy.ndarray of shape (n_src, channels, length), float32
    y_src : numpy.ndarray of shape (n_src,)
    X_tgt : numpy.ndarray of shape (n_tgt, channels, length), float32
    mode : str
        ``"X_tgt"``, ``"sample_domain"``, ``"masked"`` or ``"source_only"``.
    source_rows : numpy.ndarray of bool or None
        Which rows of the ``X`` given to ``fit`` are the source rows (stacked
        forms); None when every row is (``X_tgt`` and source-only modes).

    Examples
    --------
    >>> import numpy as np
    >>> split = DomainSplit(np.zeros((2, 1, 4)), np.array([0, 1]), np.zeros((3, 1, 4)), "X_tgt")
    >>> split.mode, split.X_tgt.shape[0]
    ('X_tgt', 3)
    """

    X_src: np.ndarray
    y_src: np.ndarray
    X_tgt: np.ndarray
    mode: str
    source_rows: np.ndarray | None = None


def is_masked(y, mask_label):
    """Boolean mask of the entries of ``y`` equal to ``mask_label`` (none when the types cannot match).

    Parameters
    ----------
    y : numpy.ndarray of shape (n_samples,)
    mask_label : int, float, str or None

    Returns
    -------
    numpy.ndarray of bool

    Examples
    --------
    >>> import numpy as np
    >>> is_masked(np.array([0, -1, 2]), -1).tolist(), is_masked(np.array([0, 1]), "?").tolist()
    ([False, True, False], [False, False])
    """
    if y.dtype.kind in "iuf" and not isinstance(mask_label, (int, float, np.number)):
        return np.zeros(y.shape[0], dtype=bool)
    return np.asarray(y == mask_label, dtype=bool)


def check_sample_domain(sample_domain, n_samples):
    """Validate skada's ``sample_domain`` (one entry per row) and return it as a numpy array.

    Parameters
    ----------
    sample_domain : array-like or torch.Tensor of shape (n_samples,) or None
    n_samples : int
        Number of rows of the matching panel.

    Returns
    -------
    numpy.ndarray or None

    Examples
    --------
    >>> check_sample_domain([1, -1], 2)
    array([ 1, -1])
    """
    if sample_domain is None:
        return None
    sd = np.asarray(sample_domain.detach().cpu() if hasattr(sample_domain, "detach") else sample_domain)
    if sd.ndim != 1 or sd.shape[0] != n_samples:
        raise ValueError(f"sample_domain must be 1D with one entry per row of X ({n_samples}), got shape {sd.shape}")
    return sd


def split_domains(X, y, X_tgt=None, sample_domain=None, mask_label=-1):
    """Validate a ``fit`` call's data and separate labelled source from unlabelled target.

    Parameters
    ----------
    X : panel
        Source panel, or source and target rows stacked.
    y : array-like of shape (n_samples,)
        Labels; with stacked rows, target rows carry ``mask_label`` (or any value
        when ``sample_domain`` marks them).
    X_tgt : panel, optional
        Unlabelled target panel.
    sample_domain : array-like of shape (n_samples,), optional
        Domain of each row of ``X``: >= 0 source, < 0 target.
    mask_label : int or str, default=-1
        Label marking unlabelled target rows.

    Returns
    -------
    DomainSplit

    Raises
    ------
    ValueError
        Invalid panels or labels (see :func:`skrcd.data.to_panel` and
        :func:`skrcd.data.check_labels`), channel counts differing between ``X``
        and ``X_tgt``, fewer than 2 source classes, no source row, or
        ``X_tgt`` and ``sample_domain`` both given.
    TypeError
        Non-numeric panels, or a ``sample_domain`` neither of integers nor of
        floats with whole values (skada's ``source_target_merge`` gives float64);
        a float ``sample_domain`` with a fraction, NaN or inf is a ``ValueError``.

    Warns
    -----
    LengthMismatchWarning
        ``X_tgt``'s series length differs from the source's.
    NoTargetWarning
        No target domain: source-only mode.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.zeros((4, 2, 16)); y = np.array([0, 1, -1, -1])
    >>> split = split_domains(X, y)
    >>> split.mode, split.X_src.shape[0], split.X_tgt.shape[0]
    ('masked', 2, 2)
    """
    split = _split(X, y, X_tgt, sample_domain, mask_label)
    try:
        check_n_classes(split.y_src, "y")
    except ValueError as exc:
        if split.mode != "masked":
            raise
        raise ValueError(f"{exc}; the rows labelled mask_label={mask_label!r} were read as unlabelled target: "
                         f"if {mask_label!r} is a real class, pass mask_label=None (or another value)") from None
    return split


def _split(X, y, X_tgt, sample_domain, mask_label):
    if X_tgt is not None and sample_domain is not None:
        raise ValueError(
            "pass either X_tgt (a separate target panel) or sample_domain (target rows stacked in X), not both"
        )
    Xa = to_panel(X, "X")
    ya = check_labels(y, Xa.shape[0], "y")
    if X_tgt is not None:
        Xt = to_panel(X_tgt, "X_tgt")
        check_same_channels(Xt, Xa.shape[1], "X_tgt", "X (source)")
        masked = is_masked(ya, mask_label)
        if masked.any():
            raise ValueError(
                f"y contains the mask label {mask_label!r} although X_tgt is given; with X_tgt, X and y "
                "must be the labelled source only"
            )
        check_length(Xt, Xa.shape[2], name="X_tgt", reference="X (source)",
                     stacklevel=user_stacklevel() + 1)
        return DomainSplit(Xa, ya, Xt, "X_tgt")
    if sample_domain is not None:
        sd = check_sample_domain(sample_domain, Xa.shape[0])
        if sd.dtype.kind == "f":  # skada's source_target_merge returns float64 domains: whole numbers are fine
            if not (np.isfinite(sd).all() and (sd == np.round(sd)).all()):
                bad = sd[~(np.isfinite(sd) & (sd == np.round(sd)))][0]
                raise ValueError(f"sample_domain must hold whole numbers (>= 0 source, < 0 target), got {bad!r} "
                                 f"in a {sd.dtype} array")
            sd = sd.astype(np.int64)
        if sd.dtype.kind not in "iu":
            raise TypeError(f"sample_domain must hold integers (>= 0 source, < 0 target), got dtype {sd.dtype}")
        src = sd >= 0
        if not src.any():
            raise ValueError("sample_domain marks no source row (>= 0)")
        y_src = ya[src]
        if is_masked(y_src, mask_label).any():
            raise ValueError(f"a source row (sample_domain >= 0) carries the mask label {mask_label!r}")
        if src.all():
            return _source_only(Xa, ya)
        return DomainSplit(Xa[src], y_src, Xa[~src], "sample_domain", src)
    masked = is_masked(ya, mask_label)
    if masked.any():
        if masked.all():
            raise ValueError(f"every label equals the mask label {mask_label!r}: there is no labelled source")
        return DomainSplit(Xa[~masked], ya[~masked], Xa[masked], "masked", ~masked)
    return _source_only(Xa, ya)


def _source_only(Xa, ya):
    warnings.warn(
        "fit got no target domain (no X_tgt, no sample_domain < 0, no masked labels): training in "
        "source-only mode, the source doubling as the target",
        NoTargetWarning,
        stacklevel=user_stacklevel(),
    )
    return DomainSplit(Xa, ya, Xa.copy(), "source_only")
