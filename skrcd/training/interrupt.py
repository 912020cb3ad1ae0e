"""Graceful Ctrl-C for training: finish the current step, roll back, stop.

:func:`deferred_sigint` (entered by :meth:`skrcd.RCDKDClassifier.fit`) turns the
first Ctrl-C into a request that the training loop (:func:`skrcd.training.run_stage`)
honours at the end of the current step; a second Ctrl-C raises
:class:`KeyboardInterrupt` at once and is never swallowed. The loop then restores
the stage's networks to their last completed epoch (a copy from
:func:`snapshot_weights`) and raises :class:`TrainingInterrupted`, which the
estimator turns into a :class:`FitInterruptedWarning` and a usable fitted estimator.

skorch callbacks stop training the same way, by raising :class:`KeyboardInterrupt`
(``EarlyStopping``); :func:`is_user_interrupt` is how the loop tells the two apart.
"""

from __future__ import annotations

import contextlib
import signal
import threading

import torch

__all__ = [
    "TrainingInterrupted",
    "FitInterruptedWarning",
    "deferred_sigint",
    "raise_if_requested",
    "interrupt_is_forced",
    "is_user_interrupt",
    "note_interrupt",
    "snapshot_weights",
]


class TrainingInterrupted(KeyboardInterrupt):
    """A training stage stopped on Ctrl-C, rolled back to its last completed epoch.

    A :class:`KeyboardInterrupt` subclass: code that does not handle it stops as
    on any Ctrl-C. :meth:`skrcd.RCDKDClassifier.fit` handles it.

    Parameters
    ----------
    stage : str
        Name of the stage that was running.
    epoch : int
        Epochs of that stage completed (and kept).
    n_epochs : int
        Epochs the stage was asked for.

    Examples
    --------
    >>> exc = TrainingInterrupted("teacher", 2, 5)
    >>> isinstance(exc, KeyboardInterrupt), exc.stage, exc.epoch
    (True, 'teacher', 2)
    """

    def __init__(self, stage, epoch, n_epochs):
        super().__init__(
            f"training interrupted in stage {stage!r} during epoch {epoch + 1}/{n_epochs}; "
            f"rolled back to the end of epoch {epoch}"
        )
        self.stage, self.epoch, self.n_epochs = stage, int(epoch), int(n_epochs)


class FitInterruptedWarning(UserWarning):
    """``fit`` stopped early on Ctrl-C; the estimator holds the last completed epoch.

    Also issued by ``predict`` when, stopped in the teacher stage, it uses the teacher.
    """


class _SigintState:
    def __init__(self):
        self.active = False  # a deferred_sigint block with our handler is running
        self.requests = 0  # Ctrl-C presses (or caught KeyboardInterrupts) seen in it
        self.pending = False  # a press the loop has not acted on yet


_STATE = _SigintState()


def _handler(signum, frame):
    _STATE.requests += 1
    if _STATE.requests > 1:  # the second Ctrl-C: stop now
        _STATE.pending = False
        raise KeyboardInterrupt
    _STATE.pending = True


@contextlib.contextmanager
def deferred_sigint():
    """Defer the first Ctrl-C to the end of the current training step.

    Only in the main thread and only while Python's default SIGINT handler is
    installed (a custom handler, e.g. a notebook's, is left alone; so is an
    enclosing ``deferred_sigint``). Inside the block, the first Ctrl-C sets a flag
    that :func:`raise_if_requested` turns into :class:`KeyboardInterrupt` at the
    next step boundary; a second one raises :class:`KeyboardInterrupt` at once. A
    request left when the block ends (pressed after the last step) is raised then.

    Examples
    --------
    >>> with deferred_sigint():
    ...     raise_if_requested()  # nothing pressed: no-op
    """
    install = (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )
    if not install:
        yield
        return
    _STATE.active, _STATE.requests, _STATE.pending = True, 0, False
    signal.signal(signal.SIGINT, _handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        pending = _STATE.pending
        _STATE.active, _STATE.requests, _STATE.pending = False, 0, False
    if pending:  # pressed when no step was left to finish: do not swallow it
        raise KeyboardInterrupt


def raise_if_requested():
    """Raise :class:`KeyboardInterrupt` if a deferred Ctrl-C is waiting (called between steps)."""
    if _STATE.pending:
        _STATE.pending = False
        raise KeyboardInterrupt


def note_interrupt():
    """Count a Ctrl-C the loop handled gracefully: a later one is the second; a waiting press is used up."""
    if _STATE.active:
        _STATE.requests = max(_STATE.requests, 1)
        _STATE.pending = False


def interrupt_is_forced():
    """Whether the KeyboardInterrupt being handled came from a second Ctrl-C.

    Examples
    --------
    >>> interrupt_is_forced()
    False
    """
    return _STATE.active and _STATE.requests > 1


def is_user_interrupt():
    """Whether a :class:`KeyboardInterrupt` raised by a callback stands for a Ctrl-C rather than a stop request.

    A callback stops training by raising :class:`KeyboardInterrupt` (skorch's
    ``EarlyStopping``). While :func:`deferred_sigint` holds Ctrl-C, a press never
    raises inside a callback: it is only recorded, so a callback's
    :class:`KeyboardInterrupt` is its own stop request unless a press is waiting (or
    this is the second press, raised by the handler). Where the handler is not
    installed (a thread other than the main one, a foreign SIGINT handler), a
    callback's :class:`KeyboardInterrupt` is taken as a stop request.

    Examples
    --------
    >>> is_user_interrupt()
    False
    """
    return _STATE.active and (_STATE.pending or _STATE.requests > 1)


def snapshot_weights(stage):
    """Detached copies of the weights of ``stage.modules()``: what a Ctrl-C rolls back to.

    Cheap (a few MB at most), unlike the selector's replay memory and the
    optimisers' state, which only checkpoints keep.

    Parameters
    ----------
    stage : skrcd.training.TrainingStage

    Returns
    -------
    list of dict
        One cloned state dict per module.

    Examples
    --------
    >>> import torch
    >>> from skrcd.training import TrainingStage
    >>> class Tiny(TrainingStage):
    ...     def __init__(self):
    ...         self.net = torch.nn.Linear(2, 1)
    ...     def modules(self):
    ...         return [self.net]
    >>> stage = Tiny()
    >>> snap = snapshot_weights(stage)
    >>> _ = stage.net.weight.data.zero_()
    >>> bool(snap[0]["weight"].abs().sum() > 0)
    True
    """
    return [_clone(m.state_dict()) for m in stage.modules()]


def _clone(obj):
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, dict):
        out = type(obj)((k, _clone(v)) for k, v in obj.items())
        if hasattr(obj, "_metadata"):  # module state dicts carry per-module versions
            out._metadata = obj._metadata
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(_clone(v) for v in obj)
    return obj
