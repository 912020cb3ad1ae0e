"""Fits are transactions: a ``fit`` that raises leaves the estimator as it was before the call.

:func:`fit_transaction` wraps an estimator's ``fit``. It records the estimator's
attributes before the call and, if the call raises (any exception, a second
Ctrl-C's :class:`KeyboardInterrupt` included), puts them back: a fresh estimator
stays unfitted, a fitted one keeps its previous model (deep copies of its fitted
attributes are taken first, so a fit that changed them in place cannot leave a
half-trained model behind). A first Ctrl-C is not an exception for ``fit``: it
ends training gracefully (``interrupted_``), see ``docs/reliability.md``.

With ``checkpoint_dir`` set, the wrapper also holds that directory's lock
(:func:`skrcd.training.checkpoints.checkpoint_lock`) for the whole call, so two
fits cannot write the same checkpoint.
"""

from __future__ import annotations

import copy
import functools
import os
from contextlib import nullcontext

from .checkpoints import checkpoint_lock

__all__ = ["fit_transaction"]


def _is_fitted_name(name):
    return name.endswith("_") and not name.startswith("_")


def _copy_or_share(value):
    try:
        return copy.deepcopy(value)
    except Exception:  # noqa: BLE001 - a value that cannot be copied is kept by reference
        return value


def fit_transaction(fit):
    """Decorate an estimator's ``fit`` so that a failed call leaves the estimator unchanged.

    Parameters
    ----------
    fit : callable
        ``fit(self, *args, **kwargs)``, returning ``self``.

    Returns
    -------
    callable
        The wrapped ``fit``.

    Examples
    --------
    >>> class Counter:
    ...     @fit_transaction
    ...     def fit(self, fail=False):
    ...         self.n_fits_ = getattr(self, "n_fits_", 0) + 1
    ...         if fail:
    ...             raise ValueError("failed")
    ...         return self
    >>> est = Counter().fit()
    >>> try:
    ...     est.fit(fail=True)
    ... except ValueError:
    ...     pass
    >>> est.n_fits_
    1
    """

    @functools.wraps(fit)
    def transactional_fit(self, *args, **kwargs):
        state = vars(self)
        before = dict(state)
        previous = {k: _copy_or_share(v) for k, v in before.items() if _is_fitted_name(k)}
        lock = nullcontext()
        directory = getattr(self, "checkpoint_dir", None)
        if isinstance(directory, (str, os.PathLike)):
            check = getattr(self, "_check_params", None)
            if check is not None:
                check()  # a bad parameter is named before the directory is touched
            lock = checkpoint_lock(directory)
        try:
            with lock:
                return fit(self, *args, **kwargs)
        except BaseException:
            state.clear()
            state.update(before)
            state.update(previous)
            raise

    return transactional_fit
