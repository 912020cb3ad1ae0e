"""The one device rule of skrcd, torch's thread count, and pickles that load on any machine.

:func:`resolve_device` turns the ``device`` parameter into a :class:`torch.device`:
``"auto"`` (or None) is CUDA when it is available, else the CPU; anything else is
parsed by torch. Asking for CUDA where there is none is an error in ``fit``; loading
a model file or unpickling an estimator passes ``fallback_to_cpu=True`` and gets the
CPU with a :class:`DeviceFallbackWarning` instead, so a model fitted on a GPU opens
on a laptop.
"""

from __future__ import annotations

import contextlib
import copy
import threading
import warnings

import torch

__all__ = ["DeviceFallbackWarning", "resolve_device", "torch_threads", "cpu_pickle_state", "restore_pickle_device"]


class DeviceFallbackWarning(UserWarning):
    """CUDA was asked for but is not available here: the networks are on the CPU."""


def resolve_device(device, fallback_to_cpu=False, what="device"):
    """The :class:`torch.device` that ``device`` asks for on this machine.

    Parameters
    ----------
    device : str, torch.device or None
        ``"auto"`` or None: CUDA when available, else the CPU; otherwise any
        device torch understands (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, ...).
    fallback_to_cpu : bool, default=False
        What to do when CUDA is asked for but not available: raise a
        ``ValueError`` (False), or return the CPU with a
        :class:`DeviceFallbackWarning` (True).
    what : str, default="device"
        How the warning or error names the request (e.g. ``"this estimator was
        fitted on"``).

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        Not a device name; a device type other than CPU, CUDA or MPS; CUDA (or
        that CUDA device index) or MPS asked for and not available, without
        ``fallback_to_cpu``.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"{what}={device!r} is not a device: use 'auto', 'cpu', 'cuda', 'cuda:<index>' or 'mps'") \
            from None
    if device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"{what}={str(device)!r}: skrcd runs on 'cpu', 'cuda' or 'mps' devices")
    if device.type == "cuda":
        missing = "CUDA is not available" if not torch.cuda.is_available() else None
        if missing is None and device.index is not None and device.index >= torch.cuda.device_count():
            missing = f"this machine has {torch.cuda.device_count()} CUDA device(s)"
    elif device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        missing = None if mps is not None and mps.is_available() else "MPS is not available"
    else:
        missing = None
    if missing is not None:
        if not fallback_to_cpu:
            raise ValueError(f"{what}={str(device)!r} was asked for but {missing}")
        warnings.warn(f"{what} {device} but {missing} here: the networks are on the CPU",
                      DeviceFallbackWarning, stacklevel=3)
        return torch.device("cpu")
    return device


class _ThreadRequests:
    """The blocks of :func:`torch_threads` now open in this process, and what to restore after the last one.

    torch's intra-op thread count is one setting for the whole process, while
    ``torch_threads`` blocks can be open in several threads at once (a grid search
    on joblib's threading backend). torch keeps the value per thread and hands the
    last one set to each thread that starts using torch, so restoring "the value
    seen on entry" in each block lets blocks that overlap in time leave the process
    at a block's setting after that block has ended. So the blocks are counted: the first to enter saves the
    setting, each exit applies the request of the newest block still open, and the
    last exit restores the saved setting.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.open = []  # [token, n] of every open block, oldest first
        self.saved = None

    def enter(self, n):
        token = object()
        with self.lock:
            if not self.open:
                self.saved = torch.get_num_threads()
            self.open.append((token, n))
            torch.set_num_threads(n)
        return token

    def exit(self, token):
        with self.lock:
            self.open = [item for item in self.open if item[0] is not token]
            # set even when this thread already runs with n: the value is also what threads that start
            # using torch later inherit, which another block may have changed
            torch.set_num_threads(self.open[-1][1] if self.open else self.saved)
            if not self.open:
                self.saved = None


_REQUESTS = _ThreadRequests()


@contextlib.contextmanager
def torch_threads(n):
    """Set torch's intra-op thread count for a block, then restore it (``None``: leave it).

    Safe when blocks overlap in several threads (joblib's threading backend): the
    setting from before the first open block is restored when the last one ends.

    Parameters
    ----------
    n : int or None

    Examples
    --------
    >>> import torch
    >>> before = torch.get_num_threads()
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    if n is None:
        yield
        return
    token = _REQUESTS.enter(int(n))
    try:
        yield
    finally:
        _REQUESTS.exit(token)


def cpu_pickle_state(state):
    """``__getstate__`` helper: copies of the non-CPU networks moved to the CPU, so a pickle loads anywhere.

    Parameters
    ----------
    state : dict
        The estimator's ``__dict__`` (as returned by ``BaseEstimator.__getstate__``).

    Returns
    -------
    dict
        A shallow copy with CPU copies of the networks that were elsewhere.
    """
    out = dict(state)
    for k, v in state.items():
        if isinstance(v, torch.nn.Module):
            p = next(v.parameters(), None)
            if p is not None and p.device.type != "cpu":
                out[k] = copy.deepcopy(v).cpu()
    return out


def restore_pickle_device(est):
    """``__setstate__`` helper: the networks back on ``device_``, or on the CPU where CUDA is missing.

    Moves every fitted network (a :class:`torch.nn.Module` attribute ending in
    ``_``) and sets ``device_`` to where they are.

    Parameters
    ----------
    est : skrcd.RCDKDClassifier
        The estimator whose ``__dict__`` was just restored.
    """
    device = getattr(est, "device_", None)
    if device is None:
        return
    device = resolve_device(device, fallback_to_cpu=True, what="this estimator was fitted on")
    for name, net in vars(est).items():
        if name.endswith("_") and isinstance(net, torch.nn.Module):
            net.to(device)
    est.device_ = device
