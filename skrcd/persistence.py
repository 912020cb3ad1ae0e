"""Saving, loading and checkpointing estimators in a safe file format.

A skrcd file is a zip archive of two members:

``skrcd.json``
    Metadata as JSON: the format name and version, the kind of file (``"model"``
    or ``"checkpoint"``), the skrcd, torch, numpy and Python versions that wrote
    it, the estimator's class path, its JSON-able parameters, its fitted
    attributes (``classes_``, ``history_``, ...) and how to rebuild each network.
``tensors.pt``
    ``torch.save`` of a dict of plain tensors and state dicts, read back with
    ``torch.load(weights_only=True)``.

Loading never executes code from the file: JSON is parsed, tensors are read
with ``weights_only=True``, the estimator class is looked up among the classes
already defined (:class:`~skrcd.RCDKDClassifier` and its subclasses; nothing is
imported) and the networks are rebuilt by that class's own ``initialize_*``
hooks. A parameter that is not JSON-able (a custom teacher or discriminator
module, a custom selection strategy, callbacks, a ``RandomState``) is recorded
by class path only; :func:`load` sets it to ``None`` unless the caller passes
it (``teacher=``, ``discriminator=``). Corrupt, truncated, foreign or too-new
files raise :class:`ModelFileError`.

The same container holds the training checkpoints written by
``RCDKDClassifier(checkpoint_dir=...)`` (see :class:`FitCheckpoints`).
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import platform
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import Callback
from skorch.history import History

from ._device import resolve_device
from ._version import __version__

__all__ = [
    "FORMAT_VERSION",
    "ModelFileError",
    "save",
    "load",
    "read_metadata",
    "FitCheckpoints",
    "CheckpointCallback",
]

FORMAT_NAME = "skrcd"
FORMAT_VERSION = 1
CHECKPOINT_FILE = "checkpoint.skrcd"
_META, _TENSORS = "skrcd.json", "tensors.pt"
_NETWORKS = ("teacher_", "student_", "adapter_", "discriminator_", "selector_")
# parameters that do not change what training computes: ignored when matching a checkpoint
_NOT_TRAINING = {"verbose", "callbacks", "checkpoint_dir", "checkpoint_every", "n_threads",
                 "predict_batch_size", "device"}


class ModelFileError(ValueError):
    """A file is not a readable skrcd file: corrupt, truncated, foreign or written by a newer skrcd.

    Examples
    --------
    >>> issubclass(ModelFileError, ValueError)
    True
    """


# ------------------------------------------------------------------ JSON values
class _NotJSON(TypeError):
    pass


def _class_path(obj):
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def _encode(v):
    """Plain Python/numpy values -> JSON values (tuples tagged); anything else raises _NotJSON."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    if isinstance(v, tuple):
        return {"__tuple__": [_encode(x) for x in v]}
    if isinstance(v, list):
        return [_encode(x) for x in v]
    if isinstance(v, dict) and all(isinstance(k, str) for k in v):
        return {k: _encode(x) for k, x in v.items()}
    raise _NotJSON(type(v).__name__)


def _decode(v):
    if isinstance(v, list):
        return [_decode(x) for x in v]
    if isinstance(v, dict):
        if set(v) == {"__tuple__"}:
            return tuple(_decode(x) for x in v["__tuple__"])
        return {k: _decode(x) for k, x in v.items()}
    return v


def _versions():
    return {"skrcd": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


# ---------------------------------------------------------------- the container
def _write_archive(path, kind, meta, tensors):
    """Write metadata and tensors atomically (a temporary file, then a rename)."""
    path = Path(path)
    meta = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "kind": kind, "versions": _versions(), **meta}
    text = json.dumps(meta, indent=1).encode("utf-8")
    buf = io.BytesIO()
    torch.save(tensors, buf)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            with zipfile.ZipFile(f, "w") as zf:
                zf.writestr(zipfile.ZipInfo(_META, (1980, 1, 1, 0, 0, 0)), text, zipfile.ZIP_DEFLATED)
                zf.writestr(zipfile.ZipInfo(_TENSORS, (1980, 1, 1, 0, 0, 0)), buf.getvalue(), zipfile.ZIP_STORED)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _check_meta(meta, path, kind):
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{path} is not a skrcd file (its metadata names no skrcd format)")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelFileError(f"{path} is corrupt: format_version {version!r} is not a positive integer")
    if version > FORMAT_VERSION:
        wrote = meta.get("versions", {}).get("skrcd", "?")
        raise ModelFileError(
            f"{path} has file format version {version}, written by skrcd {wrote}; this skrcd reads format "
            f"versions up to {FORMAT_VERSION}: upgrade skrcd to load it"
        )
    if kind is not None and meta.get("kind") != kind:
        hint = " (resume it with fit(..., resume=True))" if meta.get("kind") == "checkpoint" else ""
        raise ModelFileError(f"{path} holds a skrcd {meta.get('kind')!r}, not a {kind!r}{hint}")


def _read_archive(path, kind=None, tensors=True):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if _META not in names or (tensors and _TENSORS not in names):
                raise ModelFileError(f"{path} is not a skrcd file (it lacks {_META} or {_TENSORS})")
            try:
                meta = json.loads(zf.read(_META).decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ModelFileError(f"{path} is corrupt: its metadata is not valid JSON ({exc})") from None
            _check_meta(meta, path, kind)
            raw = zf.read(_TENSORS) if tensors else None
    except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise ModelFileError(f"{path} is not a skrcd file, or it is truncated or corrupt ({exc})") from None
    if raw is None:
        return meta, None
    try:
        data = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure here means an unreadable or unsafe payload
        raise ModelFileError(
            f"{path}: its tensors cannot be read safely with torch.load(weights_only=True) ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''})"
        ) from None
    if not isinstance(data, dict):
        raise ModelFileError(f"{path} is corrupt: its tensors are a {type(data).__name__}, not a dict")
    return meta, data


def read_metadata(path):
    """The JSON metadata of a skrcd model or checkpoint file (versions, class, parameters, ...).

    Reads no tensors and executes nothing.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    dict

    Raises
    ------
    ModelFileError
        If the file is not a readable skrcd file.

    Examples
    --------
    >>> import tempfile, os
    >>> from skrcd import RCDKDClassifier
    >>> from skrcd.datasets import make_domain_shift
    >>> X_src, y_src, X_tgt, _ = make_domain_shift(n_source=20, n_target=20, length=16, random_state=0)
    >>> clf = RCDKDClassifier(teacher_epochs=1, student_epochs=1, teacher_channels=(8, 8, 8),
    ...                       selector_hidden=8, random_state=0).fit(X_src, y_src, X_tgt)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.skrcd")
    >>> _ = clf.save(path)
    >>> meta = read_metadata(path)
    >>> meta["kind"], meta["class"], sorted(meta["versions"])
    ('model', 'skrcd.classifier.RCDKDClassifier', ['numpy', 'python', 'skrcd', 'torch'])
    """
    return _read_archive(path, None, tensors=False)[0]


# ------------------------------------------------------------------- parameters
def _encode_params(est):
    params, unsaved = {}, {}
    for name, value in est.get_params(deep=False).items():
        try:
            params[name] = _encode(value)
        except _NotJSON:
            unsaved[name] = _class_path(value)
    return params, unsaved


def _estimator_class(path_name, cls):
    from .classifier import RCDKDClassifier

    known, todo = {}, [RCDKDClassifier]
    while todo:  # the classes already defined: nothing is imported
        c = todo.pop()
        known.setdefault(_class_path(c), c)
        todo.extend(c.__subclasses__())
    klass = known.get(path_name)
    if klass is None:
        raise ModelFileError(
            f"the file holds a {path_name}, which is not a skrcd estimator class defined in this session "
            "(import the module that defines it first)"
        )
    if cls is not None and not issubclass(klass, cls):
        raise ModelFileError(f"the file holds a {path_name}, not a {_class_path(cls)}: load it with that class")
    return klass


# --------------------------------------------------------------------- networks
def _network_spec(est, attr, net):
    from .nn.networks import DomainDiscriminator
    from .selection.dqn import DQNSelector

    if attr == "student_":
        return {"build": "initialize_student"}
    if attr == "teacher_":
        if isinstance(est.teacher, str):
            return {"build": "initialize_teacher"}
        return {"build": "argument", "argument": "teacher", "class": _class_path(net)}
    if attr == "adapter_" and type(net) is torch.nn.Linear:
        return {"build": "linear", "in_features": net.in_features, "out_features": net.out_features}
    if attr == "discriminator_":
        if type(net) is DomainDiscriminator:
            first = net.net[0]
            return {"build": "domain_discriminator", "in_features": first.in_features, "hidden": first.out_features}
        return {"build": "argument", "argument": "discriminator", "class": _class_path(net)}
    if attr == "selector_" and type(net) is DQNSelector:
        return {"build": "dqn_selector", "state_dim": net.state_dim, "hidden": net.online.trunk[0].out_features,
                "gamma": net.gamma, "lr": net.lr, "batch_size": net.batch_size,
                "memory_capacity": net.memory_capacity, "learning_starts": net.learning_starts,
                "target_tau": net.target_tau}
    return {"build": "none", "class": _class_path(net)}


def _build_network(est, attr, spec, overrides):
    from .nn.networks import DomainDiscriminator
    from .selection.dqn import DQNSelector

    n_channels = getattr(est, "n_channels_", None) or est.n_features_in_
    n_classes = len(est.classes_)
    build = spec.get("build")
    if build == "initialize_student":
        return est.initialize_student(n_channels, n_classes)
    if build == "initialize_teacher":
        return est.initialize_teacher(n_channels, n_classes)
    if build == "linear":
        return torch.nn.Linear(int(spec["in_features"]), int(spec["out_features"]))
    if build == "domain_discriminator":
        return DomainDiscriminator(int(spec["in_features"]), int(spec["hidden"]))
    if build == "dqn_selector":
        kw = {k: spec[k] for k in ("state_dim", "hidden", "gamma", "lr", "batch_size", "memory_capacity",
                                   "learning_starts", "target_tau")}
        return DQNSelector(**kw)
    if build == "argument" and overrides.get(spec["argument"]) is not None:
        return copy.deepcopy(overrides[spec["argument"]])
    return None


def _fitted_attributes(est):
    """Split the fitted attributes into JSON values, tensors and skipped names."""
    attrs, arrays, skipped = {}, {}, []
    for name, value in sorted(vars(est).items()):
        if not name.endswith("_") or name.startswith("_") or name in _NETWORKS:
            continue
        if isinstance(value, History):
            attrs[name] = {"__history__": _encode(list(value))}
        elif isinstance(value, torch.device):
            attrs[name] = {"__device__": str(value)}
        elif isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            arrays[name] = torch.from_numpy(np.ascontiguousarray(value).copy())
            attrs[name] = {"__array__": value.dtype.str}
        elif isinstance(value, np.ndarray) and value.dtype.kind in "UO":
            try:
                attrs[name] = {"__ndarray__": _encode(value.tolist()), "dtype": value.dtype.str}
            except _NotJSON:
                skipped.append(name)
        elif isinstance(value, torch.nn.Module):
            skipped.append(name)
        else:
            try:
                attrs[name] = _encode(value)
            except _NotJSON:
                skipped.append(name)
    return attrs, arrays, skipped


def _restore_attribute(value, arrays, name):
    if isinstance(value, dict):
        if "__history__" in value:
            return History(_decode(value["__history__"]))
        if "__device__" in value:
            return torch.device(value["__device__"])
        if "__array__" in value:
            return arrays[name].numpy().astype(np.dtype(value["__array__"]), copy=True)
        if "__ndarray__" in value:
            return np.array(_decode(value["__ndarray__"]), dtype=np.dtype(value["dtype"]))
    return _decode(value)


# ----------------------------------------------------------------- save / load
def save(estimator, path):
    """Save a fitted estimator to ``path`` in the safe skrcd format.

    Parameters
    ----------
    estimator : skrcd.RCDKDClassifier
        A fitted estimator (or subclass).
    path : str or path-like
        File to write (replaced atomically if it exists).

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the estimator is not fitted.

    Examples
    --------
    >>> import tempfile, os
    >>> from skrcd import RCDKDClassifier
    >>> from skrcd.datasets import make_domain_shift
    >>> X_src, y_src, X_tgt, _ = make_domain_shift(n_source=20, n_target=20, length=16, random_state=0)
    >>> clf = RCDKDClassifier(teacher_epochs=1, student_epochs=1, teacher_channels=(8, 8, 8),
    ...                       selector_hidden=8, random_state=0).fit(X_src, y_src, X_tgt)
    >>> path = save(clf, os.path.join(tempfile.mkdtemp(), "model.skrcd"))
    >>> again = load(path)
    >>> bool((again.predict_proba(X_tgt) == clf.predict_proba(X_tgt)).all())
    True
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator, "student_")
    params, unsaved = _encode_params(estimator)
    attrs, arrays, skipped = _fitted_attributes(estimator)
    networks, states = {}, {}
    for attr in _NETWORKS:
        net = getattr(estimator, attr, None)
        if net is None:
            continue
        spec = _network_spec(estimator, attr, net)
        if spec["build"] == "none":
            skipped.append(attr)
            continue
        networks[attr] = spec
        states[attr] = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    if skipped:
        warnings.warn(f"not saved (no safe format for them): {', '.join(skipped)}", UserWarning, stacklevel=3)
    meta = {"class": _class_path(estimator), "params": params, "unsaved_params": unsaved, "attributes": attrs,
            "networks": networks, "skipped": skipped}
    return _write_archive(path, "model", meta, {"networks": states, "arrays": arrays})


def load(path, cls=None, *, teacher=None, discriminator=None, device=None):
    """Load an estimator saved by :func:`save`; executes no code from the file.

    Parameters
    ----------
    path : str or path-like
    cls : type, optional
        Expected estimator class (the file's class must be it or a subclass).
    teacher, discriminator : torch.nn.Module, optional
        Modules of the same architecture as a custom teacher/discriminator that
        was passed to the saved estimator: their copies receive the saved weights
        (and become the loaded estimator's parameters). Without them, a custom
        network's fitted attribute and parameter are ``None`` (the student still
        predicts).
    device : str or torch.device, optional
        Where to put the networks; by default the estimator's ``device``
        parameter, or the CPU when it asks for CUDA and none is available.

    Returns
    -------
    skrcd.RCDKDClassifier

    Raises
    ------
    ModelFileError
        Corrupt, truncated or foreign file, a file written by a newer format, a
        class not defined in this session, or weights that do not fit.
    FileNotFoundError
        If ``path`` does not exist.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "junk.skrcd")
    >>> _ = open(path, "wb").write(b"not a model")
    >>> try:
    ...     load(path)
    ... except ModelFileError as exc:
    ...     print("truncated or corrupt" in str(exc))
    True
    """
    meta, data = _read_archive(path, "model")
    try:
        klass = _estimator_class(meta["class"], cls)
        params = {k: _decode(v) for k, v in meta["params"].items()}
        unsaved = dict(meta.get("unsaved_params", {}))
        overrides = {"teacher": teacher, "discriminator": discriminator}
        for name in unsaved:
            params[name] = overrides.get(name)
        valid = klass().get_params(deep=False)
        unknown = sorted(set(params) - set(valid))
        for name in unknown:
            del params[name]
        est = klass(**params)
        for name, value in meta["attributes"].items():
            setattr(est, name, _restore_attribute(value, data["arrays"], name))
        if device is None:  # the saved device parameter; the CPU where it asks for CUDA and there is none
            target = resolve_device(est.device, fallback_to_cpu=True, what="the saved device parameter asks for")
        else:
            target = resolve_device(device)
        with torch.random.fork_rng(devices=[]):  # building networks draws init weights: leave the caller's RNG alone
            for attr in _NETWORKS:
                spec = meta["networks"].get(attr)
                if spec is None:
                    setattr(est, attr, None)
                    continue
                net = _build_network(est, attr, spec, overrides)
                if net is not None:
                    try:
                        net.load_state_dict(data["networks"][attr])
                    except RuntimeError as exc:
                        raise ModelFileError(
                            f"{path}: the saved {attr} weights do not fit the network rebuilt from the saved "
                            f"parameters ({str(exc).splitlines()[0]})"
                        ) from None
                    net = net.to(target).eval()
                setattr(est, attr, net)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ModelFileError(f"{path} is corrupt or incomplete: {type(exc).__name__}: {exc}") from None
    if hasattr(est, "device_"):
        est.device_ = target
    notes = []
    if unknown:
        notes.append(f"parameters unknown to this skrcd were dropped: {', '.join(unknown)}")
    dropped = [f"{k} ({v})" for k, v in unsaved.items() if overrides.get(k) is None and k != "callbacks"]
    if dropped:
        notes.append(f"parameters saved by class only are now None: {', '.join(dropped)}")
    missing = [a for a, s in meta["networks"].items() if getattr(est, a, None) is None and s.get("build") == "argument"]
    if missing:
        notes.append(f"{', '.join(missing)} not restored: pass the module of the same architecture to load()")
    if notes:
        warnings.warn("; ".join(notes), UserWarning, stacklevel=2)
    return est


# ------------------------------------------------------------------ checkpoints
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
            params[name] = _encode(value)
        except _NotJSON:
            if isinstance(value, torch.nn.Module):
                params[name] = f"{_class_path(value)}:{_state_hash(value)}"
            else:
                params[name] = _class_path(value)
    h = hashlib.blake2b(digest_size=16)
    for a in (split.X_src, np.asarray(y_idx, dtype=np.int64), split.X_tgt):
        a = np.ascontiguousarray(a)
        h.update(repr((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    h.update(repr(np.asarray(est.classes_).tolist()).encode())
    return {"class": _class_path(est), "params": params, "data": h.hexdigest()}


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

    Examples
    --------
    >>> CheckpointCallback.__mro__[1].__name__
    'Callback'
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
    ModelFileError
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
            meta, data = _read_archive(self.path, "checkpoint")
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

        Examples
        --------
        >>> from skrcd.training import TrainingStage
        >>> no_checkpoints = FitCheckpoints(None, None, 1, False, None, None, torch.device("cpu"))
        >>> no_checkpoints.prepare(TrainingStage(), torch.Generator(), n_epochs=3)
        (0, [])
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
        history.extend(_decode(meta["history"]))

    def stage_done(self, stage):
        """Record that ``stage`` finished (its networks go into later checkpoints).

        Examples
        --------
        >>> from skrcd.training import TrainingStage
        >>> checkpoints = FitCheckpoints(None, None, 1, False, None, None, torch.device("cpu"))
        >>> checkpoints.stage_done(TrainingStage())
        >>> checkpoints.completed
        ['stage']
        """
        est = self.estimator
        if stage.name not in self.completed:
            self.completed.append(stage.name)
        for attr in _NETWORKS:
            if attr not in self.done_networks and any(getattr(est, attr, None) is m for m in stage.modules()):
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
        meta = {"class": _class_path(est), "stage": stage.name, "epoch": int(epoch), "n_epochs": int(n_epochs),
                "completed_stages": list(self.completed), "history": _encode(list(est.history_)),
                "fingerprint": self.fingerprint}
        data = {"stage": stage.state_dict(), "networks": networks, "rng": _rng_state(generator, self.device)}
        _write_archive(self.path, "checkpoint", meta, data)
