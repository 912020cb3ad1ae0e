"""One fit of an estimator: its stages in order, under the fit's seed, threads, device and Ctrl-C handling.

:func:`train_networks` is what ``RCDKDClassifier.fit`` runs once its inputs are checked
(``skrcd._fit_data.prepare_fit_data``): it moves the data to the device, calls the estimator's stage hooks
(``fit_teacher``, then ``fit_student``) through one :class:`~skrcd.training.FitContext`, and sets the fitted
attributes that do not belong to a stage (``history_``, ``fit_time_``, ``interrupted_``, ``n_parameters_``).
"""

from __future__ import annotations

import os
import threading
import time
import warnings

import torch
from skorch.history import History

from .._device import resolve_device, torch_threads
from .._warnings import user_stacklevel
from ..data import find_non_finite, standardized_tensor
from ..nn.networks import count_parameters
from .callbacks import EpochProgressBar
from .checkpoints import FitCheckpoints
from .interrupt import FitInterruptedWarning, deferred_sigint
from .loop import FitContext
from .stages import DomainTensors

__all__ = ["TRAINING_LOCK", "MAX_EPOCHS_VARIABLE", "epoch_cap", "train_networks"]

#: The environment variable that caps the epochs of every stage of every fit: smoke tests of recipes, pipelines
#: and the documentation's code (``SKRCD_MAX_EPOCHS=1``); each capped fit warns.
MAX_EPOCHS_VARIABLE = "SKRCD_MAX_EPOCHS"

#: Held by each fit around its seeded training: torch's random generators and thread count are process-wide, so
#: fits in threads of one process train one at a time (re-entrant: a callback may fit another estimator).
TRAINING_LOCK = threading.RLock()

#: The fitted networks of an estimator, in the order the stages make them.
_NETWORKS = ("teacher_", "discriminator_", "student_", "adapter_")


def train_networks(est, data, resume=False, warm=False):
    """Train ``est``'s stages on the prepared ``data``.

    Parameters
    ----------
    est : skrcd.RCDKDClassifier
        With ``classes_``, ``n_channels_`` and ``n_timepoints_`` set.
    data : skrcd._fit_data.FitData
    resume : bool, default=False
        Continue from the checkpoint in ``est.checkpoint_dir``.
    warm : bool, default=False
        Continue the fitted networks (``warm_start``).
    """
    device = resolve_device(est.device)
    est.device_ = device
    checkpoints = None
    if est.checkpoint_dir is not None or resume:
        checkpoints = FitCheckpoints(est, est.checkpoint_dir, est.checkpoint_every, resume, data.split, data.y_idx,
                                     device)
    stats = data.stats  # what the fit stored as channel_mean_ and channel_std_
    source_stats = data.source_stats or stats
    split, train, valid, y_idx = data.split, data.train, data.valid, data.y_idx
    with TRAINING_LOCK, torch_threads(est.n_threads), torch.random.fork_rng(
        devices=[device] if device.type == "cuda" else []
    ), deferred_sigint():
        torch.manual_seed(data.seed)
        generator = torch.Generator().manual_seed(data.seed)
        y_train = y_idx if train is None else y_idx[train]
        w_train = None if data.weights is None else (data.weights if train is None else data.weights[train])
        tensors = DomainTensors(
            standardized_tensor(split.X_src if train is None else split.X_src[train], device, source_stats),
            torch.as_tensor(y_train, dtype=torch.long, device=device),
            standardized_tensor(split.X_tgt, device, stats),
            None if w_train is None else torch.as_tensor(w_train, dtype=torch.float32, device=device),
        )
        valid_data = None
        if valid is not None:
            valid_data = (standardized_tensor(split.X_src[valid], device, source_stats),
                          torch.as_tensor(y_idx[valid], dtype=torch.long, device=device))
        _run_stages(est, tensors, device, generator, checkpoints, valid_data, warm)


def epoch_cap():
    """The epoch cap that :data:`MAX_EPOCHS_VARIABLE` sets (None when unset or empty), with a warning when set.

    Returns
    -------
    int or None

    Raises
    ------
    ValueError
        If the variable is not a positive integer.
    """
    raw = os.environ.get(MAX_EPOCHS_VARIABLE, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"the environment variable {MAX_EPOCHS_VARIABLE}={raw!r} must be a positive integer "
                         "(the most epochs of each stage), or unset")
    cap = int(raw)
    warnings.warn(f"{MAX_EPOCHS_VARIABLE}={cap} is set: each stage of this fit trains at most {cap} epoch(s) "
                  f"whatever its parameters say; unset it for real fits", UserWarning, stacklevel=user_stacklevel())
    return cap


def _run_stages(est, data, device, generator, checkpoints, valid, warm):
    callbacks = list(est.callbacks or [])
    if est.verbose == 1:
        callbacks.append(EpochProgressBar())
    if not warm or getattr(est, "history_", None) is None:
        est.history_ = History()
    if not warm:
        est.selector_ = None
    est.fit_time_ = {}
    est.interrupted_ = None
    ctx = FitContext(data, est.n_channels_, len(est.classes_), device, generator, est.batch_size,
                     est.history_, callbacks, net=est, checkpoints=checkpoints, valid=valid,
                     verbose=int(est.verbose),
                     role_callbacks={"teacher": list(est.teacher_callbacks or []),
                                     "student": list(est.student_callbacks or [])},
                     warm_start=warm, max_epochs=epoch_cap())
    t_start = time.perf_counter()
    for name, hook in (("teacher", est.fit_teacher), ("student", est.fit_student)):
        t0 = time.perf_counter()
        ctx.role = name
        hook(ctx)
        est.fit_time_[name] = time.perf_counter() - t0
        if ctx.interrupted is not None:
            break
        _check_finite(est, name, ctx)
    est.fit_time_["total"] = time.perf_counter() - t_start
    est.interrupted_ = ctx.interrupted
    if est.interrupted_ is not None:
        _finish_interrupted(est)
    for attr in _NETWORKS:
        if getattr(est, attr) is not None:
            getattr(est, attr).eval()
    est.n_parameters_ = {
        k: count_parameters(getattr(est, k + "_")) for k in ("teacher", "student") if getattr(est, k + "_") is not None
    }


def _check_finite(est, name, ctx):
    """After stage ``name``: every network's weights, and the outputs of the stage's own network on the
    training data, must be finite; otherwise a ``FloatingPointError`` names the stage and its last epoch."""
    data = {"X (source)": ctx.data.X_src, "X_tgt": ctx.data.X_tgt}
    for attr in _NETWORKS:
        net = getattr(est, attr, None)
        if net is None:
            continue
        bad = find_non_finite(net, data if attr == name + "_" else {}, est.predict_batch_size)
        if bad is None:
            continue
        rows = [r for r in est.history_ if r.get("epoch") is not None]
        where = (f"after epoch {rows[-1]['epoch']} of stage {rows[-1]['stage']!r}" if rows
                 else f"in stage {name!r} (no epoch was trained)")
        raise FloatingPointError(
            f"{attr} has a non-finite {bad} {where}: the {name} stage diverged; lower {name}_lr or check the "
            "input scale"
        )


def _finish_interrupted(est):
    """After a Ctrl-C: fill the attributes of stages that never ran, and warn where fit stopped."""
    for attr in _NETWORKS:
        if getattr(est, attr, None) is None:
            setattr(est, attr, None)
    info = est.interrupted_
    done = f"the end of its epoch {info['epoch']}" if info["epoch"] else "its initial weights (no epoch completed)"
    msg = (f"fit interrupted in stage {info['stage']!r} during epoch {info['epoch'] + 1}/{info['n_epochs']}: "
           f"the estimator holds {done}")
    if est.student_ is None:
        msg += "; there is no student yet: predict uses the teacher"
    if est.checkpoint_dir is not None:
        msg += "; fit(..., resume=True) continues from the last checkpoint"
    warnings.warn(msg, FitInterruptedWarning, stacklevel=user_stacklevel())
