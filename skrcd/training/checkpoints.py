"""Training checkpoints: writing them during ``fit`` and resuming from the last one.

A checkpoint is a skrcd file (:mod:`skrcd.persistence.archive`) of kind
``"checkpoint"``, written by ``RCDKDClassifier(checkpoint_dir=...)``.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import math
import os
import socket
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import Callback

from ..persistence.archive import (
    FieldReader,
    NotJSONError,
    class_path,
    encode,
    load_tensors,
    read_raw,
    short_repr,
    write_archive,
)
from ..persistence.history import decode_history, encode_history

__all__ = ["CHECKPOINT_FILE", "LOCK_FILE", "FitCheckpoints", "CheckpointCallback", "CheckpointDirInUseError",
           "checkpoint_lock"]

#: The file name of the checkpoint in ``checkpoint_dir``.
CHECKPOINT_FILE = "checkpoint.skrcd"
#: The lock file in ``checkpoint_dir`` (locked while a fit uses the directory; the file itself stays).
LOCK_FILE = "checkpoint.skrcd.lock"


class CheckpointDirInUseError(RuntimeError):
    """Another fit (in this process or another) is using the same ``checkpoint_dir``."""


def _try_lock(fd):
    """Lock an open file without waiting; False if someone else holds it. The lock ends when ``fd`` is closed."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (BlockingIOError, PermissionError):
        return False
    return True


@contextlib.contextmanager
def checkpoint_lock(directory):
    """Hold ``directory``'s checkpoint lock for a block; refuse if another fit holds it.

    The lock is an OS file lock on ``directory/checkpoint.skrcd.lock`` (``flock``;
    ``msvcrt.locking`` on Windows), so it is released when the block ends and also
    when the process dies, even by SIGKILL: a crashed fit never leaves a stale
    lock. The file records the holder's process id and host for the refusal
    message.

    Parameters
    ----------
    directory : str or path-like
        A checkpoint directory (created if missing).

    Raises
    ------
    CheckpointDirInUseError
        Another fit holds the lock.
    ValueError
        ``directory`` names something that is not a directory.

    Examples
    --------
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> with checkpoint_lock(d):
    ...     try:
    ...         with checkpoint_lock(d):
    ...             pass
    ...     except CheckpointDirInUseError as exc:
    ...         print(str(exc)[:39])
    checkpoint_dir is in use by another fit
    """
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ValueError(f"checkpoint_dir {str(directory)!r} exists and is not a directory") from None
    path = directory / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not _try_lock(fd):
            try:
                owner = path.read_text(errors="replace").strip()[:200] or "unknown"
            except OSError:
                owner = "unknown"
            raise CheckpointDirInUseError(
                f"checkpoint_dir is in use by another fit (pid and host: {owner}; lock file {path}): concurrent "
                "fits must not share a checkpoint directory; give each its own checkpoint_dir"
            )
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
        yield path
    finally:
        os.close(fd)


def _state_hash(module):
    h = hashlib.blake2b(digest_size=16)
    for k, v in module.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _training_fingerprint(est, split, y_idx):
    # the parameters that do not change what training computes are ignored (imported here: the parameter table
    # reads the training package's objective registry)
    from .._parameters import RUN, parameters_of_stage

    not_training = set(parameters_of_stage(RUN))
    params = {}
    for name, value in est.get_params(deep=False).items():
        if name in not_training:
            continue
        try:
            params[name] = encode(value)
        except NotJSONError:
            if isinstance(value, torch.nn.Module):
                params[name] = f"{class_path(value)}:{_state_hash(value)}"
            else:
                params[name] = class_path(value)
    h = hashlib.blake2b(digest_size=16)
    for a in (split.X_src, np.asarray(y_idx, dtype=np.int64), split.X_tgt):
        a = np.ascontiguousarray(a)
        h.update(repr((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    h.update(repr(np.asarray(est.classes_).tolist()).encode())
    return {"class": class_path(est), "params": params, "data": h.hexdigest()}


def _params_then(old, new):
    """The parameters a checkpoint's fit used: a parameter added to the table after the file was written (absent from
    it, present now) was, in that fit, the value fits had before the parameter existed (its ``before``)."""
    from .._parameters import upgrade_params  # imported here, as in _training_fingerprint

    befores, _ = upgrade_params({}, 1)  # every parameter added since schema 1, with the value fits had before it
    then = {name: encode(value) for name, value in befores.items() if name in new}
    then.update(old)
    return then


# ------------------------------------------------------------ reading untrusted checkpoints
#: The most stages a checkpoint may list, and the longest stage name.
_MAX_STAGES, _MAX_NAME = 16, 64


def _read_checkpoint_meta(reader, meta):
    """Check every field of a checkpoint's metadata before anything is restored; return them decoded (the
    history's storage as written: :func:`_read_history` reads it with the tensors)."""
    out = {"stage": reader.get(meta, "stage", str, "stage")[:_MAX_NAME]}
    n_epochs = reader.get(meta, "n_epochs", int, "n_epochs")
    epoch = reader.get(meta, "epoch", int, "epoch")
    if not 0 <= epoch <= n_epochs:
        raise reader.error("epoch", f"{epoch} is not an epoch of a stage of {n_epochs} epochs")
    out.update(epoch=epoch, n_epochs=n_epochs)
    completed = reader.get(meta, "completed_stages", list, "completed_stages")
    if len(completed) > _MAX_STAGES or not all(isinstance(c, str) and len(c) <= _MAX_NAME for c in completed) \
            or out["stage"] in completed or len(set(completed)) != len(completed):
        raise reader.error("completed_stages", f"{short_repr(completed)} is not a list of other, distinct stage names")
    out["completed_stages"] = completed
    history = reader.get(meta, "history", (list, dict), "history")
    if isinstance(history, list):  # checkpoints before histories were stored as columns
        _check_history(reader, out, decode_history(reader, history, None, "history"))
    out["history"] = history
    fingerprint = reader.get(meta, "fingerprint", dict, "fingerprint")
    reader.get(fingerprint, "class", str, "fingerprint.class")
    reader.get(fingerprint, "params", dict, "fingerprint.params")
    reader.get(fingerprint, "data", str, "fingerprint.data")
    out["fingerprint"] = fingerprint
    return out


def _check_history(reader, meta, history):
    """The stage and epoch reached must be consistent with the history: one row per epoch of the checkpoint's
    stage, numbered 1 to ``epoch``; return the history."""
    epochs = [row.get("epoch") for row in history if row.get("stage") == meta["stage"]]
    if epochs != list(range(1, meta["epoch"] + 1)):
        raise reader.error("epoch", f"{meta['epoch']}, but the history holds epochs {short_repr(epochs)} of stage "
                                    f"{meta['stage']!r}")
    return history


def _read_history(reader, meta, data):
    """The checkpoint's history, decoded (from the tensors where it is stored as columns) and checked."""
    return _check_history(reader, meta, decode_history(reader, meta["history"], data.get("history"), "history"))


def _check_checkpoint_tensors(reader, data):
    """The tensors of a checkpoint: the containers restoring reads, byte RNG states, every tensor finite."""
    reader.get(data, "stage", dict, "tensors stage")
    networks = reader.get(data, "networks", dict, "tensors networks")
    for attr, sd in networks.items():
        if not isinstance(sd, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                               for k, v in sd.items()):
            raise reader.error(f"tensors networks.{short_repr(attr)}", "not a dict of tensors")
    rng = reader.get(data, "rng", dict, "tensors rng")
    for key in ("torch", "generator"):
        state = reader.get(rng, key, torch.Tensor, f"tensors rng.{key}")
        if state.dtype != torch.uint8 or state.dim() != 1:
            raise reader.error(f"tensors rng.{key}", f"a {state.dtype} tensor of shape {tuple(state.shape)}, not "
                                                     "a byte vector")
    _check_finite(reader, data, "tensors")


def _check_finite(reader, obj, field):
    """Every floating tensor of a checkpoint's payload is finite."""
    todo = [(obj, field)]
    while todo:
        obj, field = todo.pop()
        if isinstance(obj, torch.Tensor):
            if obj.is_floating_point() and not bool(torch.isfinite(obj).all()):
                raise reader.error(field, "not finite")
        elif isinstance(obj, dict):
            todo.extend((v, f"{field}.{FieldReader.key(k)}") for k, v in obj.items())
        elif isinstance(obj, (list, tuple)):
            todo.extend((v, f"{field}[{i}]") for i, v in enumerate(obj))


def _check_like(reader, template, value, field):
    """``value`` has the structure of ``template`` (a fresh stage's own state): its keys (more are left to the
    loaders), lengths, tensor shapes and kinds; where the template holds ``None`` or an empty dict (state a fresh
    stage does not have yet), anything goes (checked after loading)."""
    if template is None or (isinstance(template, dict) and not template):
        return
    if isinstance(template, torch.Tensor):
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != tuple(template.shape) or (
                value.is_floating_point() != template.is_floating_point()):
            got = (f"{value.dtype} {tuple(value.shape)}" if isinstance(value, torch.Tensor)
                   else type(value).__name__)
            raise reader.error(field, f"{got} where this fit has {template.dtype} {tuple(template.shape)}")
    elif isinstance(template, dict):
        if not isinstance(value, dict):
            raise reader.error(field, f"a {type(value).__name__} where this fit has a dict")
        for key in template:
            if key not in value:
                raise reader.error(f"{field}.{FieldReader.key(key)}", "missing")
            _check_like(reader, template[key], value[key], f"{field}.{FieldReader.key(key)}")
    elif isinstance(template, (list, tuple)):
        if not isinstance(value, (list, tuple)) or len(value) != len(template):
            got = f"{len(value)} items" if isinstance(value, (list, tuple)) else short_repr(value)
            raise reader.error(field, f"{got} where this fit has {len(template)} items")
        for i, (t, v) in enumerate(zip(template, value)):
            _check_like(reader, t, v, f"{field}[{i}]")
    elif isinstance(template, bool) or isinstance(value, bool):
        if type(value) is not type(template):
            raise reader.error(field, f"{short_repr(value)} where this fit has a {type(template).__name__}")
    elif isinstance(template, (int, float)) and not isinstance(value, (int, float)):
        raise reader.error(field, f"{short_repr(value)} where this fit has a number")


def _trains(trained, value):
    """Whether a stage that trains the modules ``trained`` trains ``value`` or a part of it (one teacher of a
    :class:`~skrcd.nn.TeacherEnsemble`)."""
    if not isinstance(value, torch.nn.Module):
        return False
    parts = {id(m) for m in value.modules()}
    return any(id(m) in parts for m in trained)


def _load_stage_state(reader, stage, state):
    """Restore a stage from a checkpoint: structure checked first, loading errors named, what a fresh stage could
    not show checked after (optimiser states against their parameters, replay-memory shapes and counters)."""
    _check_like(reader, stage.state_dict(), state, "tensors stage")
    try:
        stage.load_state_dict(state)
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        raise reader.error("tensors stage", f"cannot be restored ({type(exc).__name__}: {short_repr(str(exc))})") \
            from None
    _check_restored(reader, stage.state_dict(), state, "tensors stage")
    strategy = getattr(stage, "strategy", None)
    selector = getattr(strategy, "selector", None)
    for name, optimizer in (("optimizer", getattr(stage, "optimizer", None)),
                            ("strategy.optimizer", getattr(selector, "optimizer", None))):
        if optimizer is not None:
            _check_optimizer(reader, f"tensors stage.{name}", optimizer)
    memory = getattr(selector, "memory", None)
    if memory is not None:
        capacity = memory.state.shape[0]
        if not (0 <= memory.size <= capacity and 0 <= memory.position < max(capacity, 1)):
            raise reader.error("tensors stage.strategy.memory", f"size {memory.size} and position "
                                                                f"{memory.position} in a memory of {capacity}")


def _check_optimizer(reader, field, optimizer):
    """A restored optimiser: every setting of its kind in each group, one set of state keys (Adam's at least),
    each state tensor finite and shaped like its parameter (a wrong one fails only at the next step)."""
    keys = {frozenset(state) for state in optimizer.state.values() if state}
    adam = {"step", "exp_avg", "exp_avg_sq"} if isinstance(optimizer, (torch.optim.Adam, torch.optim.AdamW)) else set()
    if len(keys) > 1 or (keys and not adam <= next(iter(keys))):
        raise reader.error(f"{field}.state", f"per-parameter states with the keys {sorted(map(sorted, keys))[:2]}, "
                                             f"not one set of {type(optimizer).__name__}'s")
    for group in optimizer.param_groups:
        for key, default in optimizer.defaults.items():
            value = group.get(key, ...)
            if isinstance(default, bool):
                ok = isinstance(value, bool)
            elif default is None:
                ok = value is None or isinstance(value, bool)
            elif isinstance(default, (int, float)):
                ok = _is_number(value)
            elif isinstance(default, tuple):
                ok = isinstance(value, (tuple, list)) and len(value) == len(default) and all(map(_is_number, value))
            else:
                ok = value is not ...
            if not ok:
                raise reader.error(f"{field}.param_groups.{key}", f"{'missing' if value is ... else short_repr(value)}"
                                                                  f", not a setting of {type(optimizer).__name__}")
        for param in group["params"]:
            for key, value in optimizer.state.get(param, {}).items():
                if _is_number(value):
                    continue
                if isinstance(value, torch.Tensor) and (value.dim() == 0 or value.shape == param.shape) and bool(
                        torch.isfinite(value).all()) and not (key == "step" and bool((value < 0).any())):
                    continue
                got = f"{value.dtype} {tuple(value.shape)}" if isinstance(value, torch.Tensor) else short_repr(value)
                raise reader.error(f"{field}.state.{key}", f"{got} does not fit a parameter of shape "
                                                           f"{tuple(param.shape)}, or is not a finite count")


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_restored(reader, live, state, field):
    """After loading: each tensor of the checkpoint has the shape of what it was loaded into (``copy_`` would
    broadcast a smaller one silently)."""
    if isinstance(state, torch.Tensor):
        if isinstance(live, torch.Tensor) and tuple(live.shape) != tuple(state.shape):
            raise reader.error(field, f"{tuple(state.shape)} where this fit has {tuple(live.shape)}")
    elif isinstance(state, dict) and isinstance(live, dict):
        for key in state.keys() & live.keys():
            _check_restored(reader, live[key], state[key], f"{field}.{FieldReader.key(key)}")
    elif isinstance(state, (list, tuple)) and isinstance(live, (list, tuple)):
        for i, (a, b) in enumerate(zip(live, state)):
            _check_restored(reader, a, b, f"{field}[{i}]")


def _load_weights(reader, field, net, state_dict):
    try:
        net.load_state_dict(state_dict)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise reader.error(f"tensors {field}", f"the weights do not fit ({short_repr(str(exc))})") from None


def _rng_state(generator, device):
    state = {"torch": torch.get_rng_state(), "generator": generator.get_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(reader, state, generator, device):
    for key, setter in (("torch", torch.set_rng_state), ("generator", generator.set_state)) + (
            (("cuda", lambda s: torch.cuda.set_rng_state(s, device)),) if device.type == "cuda" and "cuda" in state
            else ()):
        try:
            setter(state[key])
        except (RuntimeError, TypeError, ValueError) as exc:
            raise reader.error(f"tensors rng.{key}", f"not a random-generator state ({short_repr(str(exc))})") \
                from None


class CheckpointCallback(Callback):
    """skorch callback writing a checkpoint every ``every`` epochs and at each stage's end.

    Built by :meth:`FitCheckpoints.prepare` for one stage of one fit.

    Parameters
    ----------
    checkpoints : FitCheckpoints
    stage : skrcd.training.TrainingStage
    generator : torch.Generator
        The fit's shuffle generator (its state is saved).
    """

    def __init__(self, checkpoints, stage, generator):
        self.checkpoints, self.stage, self.generator = checkpoints, stage, generator

    def on_epoch_end(self, net, epoch=None, n_epochs=None, **kwargs):
        if epoch % self.checkpoints.every == 0 or epoch == n_epochs:
            self.checkpoints.write(self.stage, self.generator, epoch, n_epochs)


class FitCheckpoints:
    """Checkpoints of one ``fit``: writing them, and resuming from the last one.

    A checkpoint (``checkpoint_dir/checkpoint.skrcd``, replaced atomically each
    time) holds the running stage's state (networks, optimiser, selector with its
    replay memory and optimiser, the teacher's cached MC statistics), the weights
    of the networks of completed stages, the torch RNG states (global, shuffle
    generator, CUDA), the history and the stage/epoch position, plus a
    fingerprint of the training parameters and data. Resuming restores all of it,
    so an interrupted and resumed fit ends where an uninterrupted one would.

    Parameters
    ----------
    estimator : skrcd.RCDKDClassifier
    directory : str or path-like or None
        Where checkpoints go (created if missing); None writes none.
    every : int
        Write every ``every`` epochs (and at the end of each stage).
    resume : bool
        Continue from the checkpoint in ``directory`` if there is one.
    split : skrcd.domains.DomainSplit
        The fit's data (fingerprinted).
    y_idx : numpy.ndarray
        Source labels as class indices.
    device : torch.device

    Raises
    ------
    ValueError
        ``resume=True`` without a directory, or a checkpoint written for other
        parameters or other data.
    skrcd.persistence.ModelFileError
        An unreadable checkpoint file.

    Examples
    --------
    >>> import tempfile
    >>> from skrcd import RCDKDClassifier
    >>> from skrcd.datasets import make_domain_shift
    >>> X_src, y_src, X_tgt, _ = make_domain_shift(n_source=20, n_target=20, length=16, random_state=0)
    >>> kw = dict(teacher_epochs=2, student_epochs=2, teacher_channels=(8, 8, 8), selector_hidden=8,
    ...           random_state=0, checkpoint_dir=tempfile.mkdtemp(), checkpoint_every=1)
    >>> a = RCDKDClassifier(**kw).fit(X_src, y_src, X_tgt)
    >>> b = RCDKDClassifier(**kw).fit(X_src, y_src, X_tgt, resume=True)  # already done: nothing left to train
    >>> bool((a.predict_proba(X_tgt) == b.predict_proba(X_tgt)).all())
    True
    """

    def __init__(self, estimator, directory, every, resume, split, y_idx, device):
        self.estimator, self.every, self.device = estimator, int(every), device
        self.path = None if directory is None else Path(directory) / CHECKPOINT_FILE
        self.completed, self.done_networks = [], []
        self.resume_from = None
        if resume and self.path is None:
            raise ValueError("fit(..., resume=True) needs checkpoint_dir: the directory of the checkpoints to resume")
        if self.path is None:
            self.fingerprint = None
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fingerprint = _training_fingerprint(estimator, split, y_idx)
        if resume and self.path.exists():
            meta, raw = read_raw(self.path, "checkpoint")  # the metadata first, the tensors once it is consistent
            reader = FieldReader(self.path)
            meta = _read_checkpoint_meta(reader, meta)
            self._check_fingerprint(meta["fingerprint"])
            data = load_tensors(raw, self.path)
            _check_checkpoint_tensors(reader, data)
            meta["history"] = _read_history(reader, meta, data)
            self.resume_from = (meta, data)

    def _check_fingerprint(self, old):
        new = self.fingerprint
        if old.get("class") != new["class"]:
            raise ValueError(f"{self.path} was written by a {old.get('class')}, not a {new['class']}")
        old_params = _params_then(old.get("params", {}), new["params"])
        diff = sorted(k for k in set(old_params) | set(new["params"]) if old_params.get(k) != new["params"].get(k))
        if diff:
            detail = ", ".join(f"{k}: {old_params.get(k)!r} then, {new['params'].get(k)!r} now" for k in diff)
            raise ValueError(f"cannot resume from {self.path}: it was written with other parameters ({detail})")
        if old.get("data") != new["data"]:
            raise ValueError(f"cannot resume from {self.path}: it was written for other training data")

    def prepare(self, stage, generator, n_epochs):
        """Restore ``stage`` if resuming; return ``(start_epoch, extra_callbacks)``.

        A stage the checkpoint had completed gets its networks' weights and
        ``start_epoch == n_epochs`` (nothing left to train); the checkpoint's own
        stage gets its whole state, the RNG states and the history.
        """
        est, start = self.estimator, 0
        if self.resume_from is not None:
            meta, data = self.resume_from
            reader = FieldReader(self.path)
            if meta["stage"] == stage.name:
                if meta["n_epochs"] != n_epochs:
                    raise reader.error("n_epochs", f"{meta['n_epochs']}, but stage {stage.name!r} of this fit has "
                                                   f"{n_epochs} epochs")
                _load_stage_state(reader, stage, data["stage"])
                _set_rng_state(reader, data["rng"], generator, self.device)
                self._restore_history(meta)
                self.completed = list(meta["completed_stages"])
                start = meta["epoch"]
                self.resume_from = None
            elif stage.name in meta["completed_stages"]:
                trained = stage.modules()
                for attr, sd in data["networks"].items():
                    net = getattr(est, attr, None)
                    if net is not None and _trains(trained, net):
                        _load_weights(reader, f"networks.{attr}", net, sd)
                self._restore_history(meta)
                start = n_epochs
            else:  # stages run in order: the checkpoint's own stage or a completed one must come first
                raise reader.error("stage", f"the checkpoint is in stage {meta['stage']!r} with completed stages "
                                            f"{meta['completed_stages']}, but this fit runs stage {stage.name!r} "
                                            "before them")
        callbacks = [] if self.path is None else [CheckpointCallback(self, stage, generator)]
        return start, callbacks

    def _restore_history(self, meta):
        history = self.estimator.history_
        history.clear()
        history.extend(copy.deepcopy(meta["history"]))

    def stage_done(self, stage):
        """Record that ``stage`` finished (its networks go into later checkpoints)."""
        est = self.estimator
        if stage.name not in self.completed:
            self.completed.append(stage.name)
        trained = stage.modules()
        for attr, value in vars(est).items():  # the fitted networks this stage trained
            if attr.endswith("_") and attr not in self.done_networks and _trains(trained, value):
                self.done_networks.append(attr)

    def write(self, stage, generator, epoch, n_epochs):
        """Write the checkpoint of the end of ``epoch`` of ``stage`` (atomically).

        Called by :class:`CheckpointCallback`; see the class example for a fit
        that writes and resumes checkpoints.
        """
        est = self.estimator
        networks = {}
        for attr in self.done_networks:
            net = getattr(est, attr, None)
            if net is not None:
                networks[attr] = net.state_dict()
        history, history_tensors, _ = encode_history(est.history_)  # beyond the limits: saved without batch rows
        meta = {"class": class_path(est), "stage": stage.name, "epoch": int(epoch), "n_epochs": int(n_epochs),
                "completed_stages": list(self.completed), "history": history, "fingerprint": self.fingerprint}
        data = {"stage": stage.state_dict(), "networks": networks, "rng": _rng_state(generator, self.device),
                "history": history_tensors}
        write_archive(self.path, "checkpoint", meta, data)
