"""Training checkpoints: writing them during ``fit`` and resuming from the last one.

A checkpoint is a skrcd file (:mod:`skrcd.persistence.archive`) of kind
``"checkpoint"``, written by ``RCDKDClassifier(checkpoint_dir=...)``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import Callback

from ..persistence.archive import NotJSONError, class_path, decode, encode, read_archive, write_archive

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
# parameters that do not change what training computes: ignored when matching a checkpoint
_NOT_TRAINING = {"verbose", "callbacks", "checkpoint_dir", "checkpoint_every", "n_threads",
                 "predict_batch_size", "device"}


def _state_hash(module):
    h = hashlib.blake2b(digest_size=16)
    for k, v in module.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _training_fingerprint(est, split, y_idx):
    params = {}
    for name, value in est.get_params(deep=False).items():
        if name in _NOT_TRAINING:
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


def _rng_state(generator, device):
    state = {"torch": torch.get_rng_state(), "generator": generator.get_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state, generator, device):
    torch.set_rng_state(state["torch"])
    generator.set_state(state["generator"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


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
            meta, data = read_archive(self.path, "checkpoint")
            self._check_fingerprint(meta.get("fingerprint", {}))
            self.resume_from = (meta, data)

    def _check_fingerprint(self, old):
        new = self.fingerprint
        if old.get("class") != new["class"]:
            raise ValueError(f"{self.path} was written by a {old.get('class')}, not a {new['class']}")
        old_params = old.get("params", {})
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
            if meta["stage"] == stage.name:
                stage.load_state_dict(data["stage"])
                _set_rng_state(data["rng"], generator, self.device)
                self._restore_history(meta)
                self.completed = list(meta["completed_stages"])
                start = int(meta["epoch"])
                self.resume_from = None
            elif stage.name in meta["completed_stages"]:
                trained = stage.modules()
                for attr, sd in data["networks"].items():
                    net = getattr(est, attr, None)
                    if net is not None and any(net is m for m in trained):
                        net.load_state_dict(sd)
                self._restore_history(meta)
                start = n_epochs
        callbacks = [] if self.path is None else [CheckpointCallback(self, stage, generator)]
        return start, callbacks

    def _restore_history(self, meta):
        history = self.estimator.history_
        history.clear()
        history.extend(decode(meta["history"]))

    def stage_done(self, stage):
        """Record that ``stage`` finished (its networks go into later checkpoints)."""
        est = self.estimator
        if stage.name not in self.completed:
            self.completed.append(stage.name)
        trained = stage.modules()
        for attr, value in vars(est).items():  # the fitted networks this stage trained
            if attr.endswith("_") and attr not in self.done_networks and any(value is m for m in trained):
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
        meta = {"class": class_path(est), "stage": stage.name, "epoch": int(epoch), "n_epochs": int(n_epochs),
                "completed_stages": list(self.completed), "history": encode(list(est.history_)),
                "fingerprint": self.fingerprint}
        data = {"stage": stage.state_dict(), "networks": networks, "rng": _rng_state(generator, self.device)}
        write_archive(self.path, "checkpoint", meta, data)
