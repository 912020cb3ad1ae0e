"""Saving and loading fitted estimators as skrcd model files.

A model file is a skrcd file (:mod:`skrcd.persistence.archive`) of kind
``"model"``. Its metadata add the estimator's class path, its JSON-able
parameters, its fitted attributes (``classes_``, ``history_``, ...) and how to
rebuild each network: the student (and a built-in teacher) by the estimator's own
``initialize_*`` hooks, the adapter, the discriminator and the selector from their
constructor settings (``get_config()``); the tensors are the networks' weights and
the fitted arrays.

Loading never executes code from the file: JSON is parsed, tensors are read
with ``weights_only=True``, the estimator class is looked up among the classes
already defined (the subclasses of :class:`ModelFileMixin`, such as
:class:`~skrcd.RCDKDClassifier` and its subclasses; nothing is imported) and the
networks are rebuilt from their saved settings before their weights are loaded. A
parameter that is not JSON-able (a custom teacher or discriminator module, a custom
selection strategy, callbacks, a ``RandomState``) is recorded by class path only;
:func:`load` sets it to ``None`` unless the caller passes it (``teacher=``,
``discriminator=``). Corrupt, truncated, foreign or too-new files raise
:class:`~skrcd.persistence.ModelFileError`.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import torch
from skorch.history import History

from .._device import cpu_pickle_state, resolve_device, restore_pickle_device
from ..nn.networks import DomainDiscriminator
from ..selection.dqn import DQNSelector
from .archive import ModelFileError, NotJSONError, class_path, decode, encode, read_archive, write_archive

__all__ = ["ModelFileMixin", "save", "load"]

#: The fitted networks of an estimator, in the order a model file lists them.
NETWORK_ATTRIBUTES = ("teacher_", "student_", "adapter_", "discriminator_", "selector_")
#: Fitted networks rebuilt from their constructor settings: attribute -> (build name in the file, class).
_REBUILT = {"adapter_": ("linear", torch.nn.Linear), "discriminator_": ("domain_discriminator", DomainDiscriminator),
            "selector_": ("dqn_selector", DQNSelector)}
_BUILDERS = dict(_REBUILT.values())


class ModelFileMixin:
    """Base of the estimators a model file may hold; their pickles load on machines without CUDA.

    :func:`load` rebuilds only subclasses of this class that are already defined
    (so a file cannot make it import or build anything else). Pickling moves
    copies of the networks to the CPU; unpickling puts them back on ``device_``,
    or on the CPU with a warning where CUDA is missing.
    """

    def __getstate__(self):
        return cpu_pickle_state(super().__getstate__())

    def __setstate__(self, state):
        super().__setstate__(state)
        restore_pickle_device(self)


def _encode_params(est):
    params, unsaved = {}, {}
    for name, value in est.get_params(deep=False).items():
        try:
            params[name] = encode(value)
        except NotJSONError:
            unsaved[name] = class_path(value)
    return params, unsaved


def _estimator_class(path_name, cls):
    known, todo = {}, [ModelFileMixin]
    while todo:  # the classes already defined: nothing is imported
        c = todo.pop()
        known.setdefault(class_path(c), c)
        todo.extend(c.__subclasses__())
    klass = known.get(path_name)
    if klass is None or klass is ModelFileMixin:
        raise ModelFileError(
            f"the file holds a {path_name}, which is not a skrcd estimator class defined in this session "
            "(import the module that defines it first)"
        )
    if cls is not None and not issubclass(klass, cls):
        raise ModelFileError(f"the file holds a {path_name}, not a {class_path(cls)}: load it with that class")
    return klass


# --------------------------------------------------------------------- networks
def _config(net):
    if type(net) is torch.nn.Linear:
        return {"in_features": net.in_features, "out_features": net.out_features}
    return net.get_config()


def _network_spec(est, attr, net):
    """How ``load`` rebuilds a network: a build name and, for a built-in class, its constructor settings."""
    if attr == "student_":
        return {"build": "initialize_student"}
    if attr == "teacher_":
        if isinstance(est.teacher, str):
            return {"build": "initialize_teacher"}
        return {"build": "argument", "argument": "teacher", "class": class_path(net)}
    build, klass = _REBUILT.get(attr, (None, None))
    if type(net) is klass:
        return {"build": build, **encode(_config(net))}
    if attr == "discriminator_":
        return {"build": "argument", "argument": "discriminator", "class": class_path(net)}
    return {"build": "none", "class": class_path(net)}


def _build_network(est, spec, overrides):
    build = spec.get("build")
    if build in ("initialize_student", "initialize_teacher"):
        n_channels = getattr(est, "n_channels_", None) or est.n_features_in_
        return getattr(est, build)(n_channels, len(est.classes_))
    if build in _BUILDERS:
        return _BUILDERS[build](**{k: decode(v) for k, v in spec.items() if k != "build"})
    if build == "argument" and overrides.get(spec["argument"]) is not None:
        return copy.deepcopy(overrides[spec["argument"]])
    return None


def _fitted_attributes(est):
    """Split the fitted attributes into JSON values, tensors and skipped names."""
    attrs, arrays, skipped = {}, {}, []
    for name, value in sorted(vars(est).items()):
        if not name.endswith("_") or name.startswith("_") or name in NETWORK_ATTRIBUTES:
            continue
        if isinstance(value, History):
            attrs[name] = {"__history__": encode(list(value))}
        elif isinstance(value, torch.device):
            attrs[name] = {"__device__": str(value)}
        elif isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            arrays[name] = torch.from_numpy(np.ascontiguousarray(value).copy())
            attrs[name] = {"__array__": value.dtype.str}
        elif _is_array_dict(value):  # e.g. selection_record_: one tensor per key
            for key, array in value.items():
                arrays[f"{name}/{key}"] = torch.from_numpy(np.ascontiguousarray(array).copy())
            attrs[name] = {"__array_dict__": {key: array.dtype.str for key, array in value.items()}}
        elif isinstance(value, np.ndarray) and value.dtype.kind in "UO":
            try:
                attrs[name] = {"__ndarray__": encode(value.tolist()), "dtype": value.dtype.str}
            except NotJSONError:
                skipped.append(name)
        elif isinstance(value, torch.nn.Module):
            skipped.append(name)
        else:
            try:
                attrs[name] = encode(value)
            except NotJSONError:
                skipped.append(name)
    return attrs, arrays, skipped


def _is_array_dict(value):
    return (isinstance(value, dict) and bool(value) and all(isinstance(k, str) for k in value)
            and all(isinstance(v, np.ndarray) and v.dtype.kind in "biuf" for v in value.values()))


def _restore_attribute(value, arrays, name):
    if isinstance(value, dict):
        if "__history__" in value:
            return History(decode(value["__history__"]))
        if "__device__" in value:
            return torch.device(value["__device__"])
        if "__array__" in value:
            return arrays[name].numpy().astype(np.dtype(value["__array__"]), copy=True)
        if "__ndarray__" in value:
            return np.array(decode(value["__ndarray__"]), dtype=np.dtype(value["dtype"]))
        if "__array_dict__" in value:
            return {key: arrays[f"{name}/{key}"].numpy().astype(np.dtype(dtype), copy=True)
                    for key, dtype in value["__array_dict__"].items()}
    return decode(value)


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
    See :meth:`skrcd.RCDKDClassifier.save`.
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator, "student_")
    params, unsaved = _encode_params(estimator)
    attrs, arrays, skipped = _fitted_attributes(estimator)
    networks, states = {}, {}
    for attr in NETWORK_ATTRIBUTES:
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
    meta = {"class": class_path(estimator), "params": params, "unsaved_params": unsaved, "attributes": attrs,
            "networks": networks, "skipped": skipped}
    return write_archive(path, "model", meta, {"networks": states, "arrays": arrays})


def load(path, cls=None, *, teacher=None, discriminator=None, device=None):
    """Load an estimator saved by :func:`save`; executes no code from the file.

    Parameters
    ----------
    path : str or path-like
    cls : type, optional
        The class expected (the file's class must be it or one of its
        subclasses); any :class:`ModelFileMixin` subclass by default.
    teacher, discriminator : torch.nn.Module, optional
        Modules of the same architecture as a custom teacher/discriminator that
        was passed to the saved estimator: their copies receive the saved weights
        (and become the loaded estimator's parameters). Without them, a custom
        network's fitted attribute and parameter are ``None`` (the student still
        predicts).
    device : str or torch.device, optional
        Where to put the networks; by default the estimator's ``device``
        parameter, or the CPU (with a warning) when it asks for CUDA and none is
        available.

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
    See :meth:`skrcd.RCDKDClassifier.load`.
    """
    meta, data = read_archive(path, "model")
    try:
        klass = _estimator_class(meta["class"], cls)
        params = {k: decode(v) for k, v in meta["params"].items()}
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
            for attr in NETWORK_ATTRIBUTES:
                spec = meta["networks"].get(attr)
                if spec is None:
                    setattr(est, attr, None)
                    continue
                net = _build_network(est, spec, overrides)
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
