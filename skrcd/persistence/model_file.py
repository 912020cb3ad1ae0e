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
networks are rebuilt from their saved settings before their weights are loaded.
The file is untrusted input: its metadata are checked before any tensor is read,
only fitted-attribute names that shadow nothing are set, parameters go through
the estimator's parameter table, and each network is first built on torch's
``meta`` device and compared with the stored tensors, so a file cannot make
:func:`load` allocate more than it holds; a malformed field raises
:class:`~skrcd.persistence.ModelFileError` naming it. A
parameter that is not JSON-able (a custom teacher or discriminator module, a custom
selection strategy, callbacks, a ``RandomState``) is recorded by class path only;
:func:`load` sets it to ``None`` unless the caller passes it (``teacher=``,
``discriminator=``). ``checkpoint_dir`` is not restored: a folder named by a
file is never written to. The history is stored as columns among the tensors
(:mod:`skrcd.persistence.history`), so a long fit's history does not meet the
metadata cap. Corrupt, truncated, foreign or too-new files raise
:class:`~skrcd.persistence.ModelFileError`.

The parameters carry a schema number (``params_schema``; files without one are
schema 1). A file of an older schema lacks the parameters added since: each
upgrade step fills them with the values such files were fitted with (the
parameter table, ``skrcd/_parameters.py``), never with today's defaults; any
other missing parameter is a damaged file.
"""

from __future__ import annotations

import copy
import inspect
import math
import re
import warnings

import numpy as np
import torch
from skorch.history import History

from .._device import cpu_pickle_state, resolve_device, restore_pickle_device
from .._param_validation import validate_params
from .._warnings import user_stacklevel
from ..nn.networks import DomainDiscriminator
from ..selection.dqn import DQNSelector
from .archive import (
    FieldReader,
    ModelFileError,
    NotJSONError,
    class_path,
    encode,
    load_tensors,
    memory_errors_named,
    read_raw,
    short_repr,
    write_archive,
)
from .history import decode_history, encode_history

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
        if isinstance(est.teacher, (str, tuple, list)):  # built by name: the estimator's parameters rebuild it
            return {"build": "initialize_teacher"}
        return {"build": "argument", "argument": "teacher", "class": class_path(net)}
    build, klass = _REBUILT.get(attr, (None, None))
    if type(net) is klass:
        return {"build": build, **encode(_config(net))}
    if attr == "discriminator_":
        return {"build": "argument", "argument": "discriminator", "class": class_path(net)}
    return {"build": "none", "class": class_path(net)}


# ----------------------------------------------------------- reading untrusted files
#: Limits on what a model file's parameters and network settings may hold (sizes are checked against the stored
#: tensors; these bound the work of reading the settings themselves).
_MAX_ITEMS, _MAX_NAME = 256, 64
#: The fitted attributes ``load`` checks in detail: name -> what the value must be.
_CORE_ATTRIBUTES = {
    "classes_": "a 1-D array of at least one label",
    "n_channels_": "an int >= 1",
    "n_timepoints_": "an int >= 1",
    "n_features_in_": "n_channels_ or n_timepoints_",
    "channel_mean_": "a finite float array of shape (n_channels_,)",
    "channel_std_": "a positive finite float array of shape (n_channels_,)",
    "history_": "a list of dicts",
    "fit_time_": "a dict of numbers",
    "n_parameters_": "a dict of ints",
    "interrupted_": "None or a dict with stage, epoch and n_epochs",
    "target_mode_": "a str",
    "device_": "a device name",
}
_ATTRIBUTE_NAME = re.compile(r"[a-z][a-z0-9_]*_")


def _name(key):
    """A key of the file, as a field name in a message."""
    return key[:60] if isinstance(key, str) else short_repr(key)


def _is_int(value, low=None):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)) and (
        low is None or value >= low)


class _Array:
    """A fitted array stored among the tensors: read once the metadata has been checked."""

    def __init__(self, dtype):
        self.dtype = dtype

    def resolve(self, reader, name, arrays):
        tensor = arrays.get(name)
        if not isinstance(tensor, torch.Tensor) or tensor.dtype in (torch.bfloat16, torch.complex64,
                                                                     torch.complex128):
            raise reader.error(f"tensors arrays.{name}", "missing, or not a numeric tensor")
        return tensor.numpy().astype(self.dtype, copy=True)


class _History:
    """A fitted ``History`` stored as columns among the tensors (``name/<table>.<column>``)."""

    def __init__(self, spec):
        self.spec = spec

    def resolve(self, reader, name, arrays):
        prefix = f"{name}/"
        tensors = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
        return History(decode_history(reader, self.spec, tensors, f"attributes.{name}"))


class _ArrayDict:
    """A fitted dict of named arrays (``selection_record_``), each stored among the tensors as ``name/key``."""

    def __init__(self, dtypes):
        self.dtypes = dtypes

    def resolve(self, reader, name, arrays):
        return {key: _Array(dtype).resolve(reader, f"{name}/{key}", arrays) for key, dtype in self.dtypes.items()}


_ARRAY_KEY = re.compile(r"[a-z][a-z0-9_]{0,59}")
_MAX_ARRAY_KEYS = 16


def _is_array_dict(value):
    return (isinstance(value, dict) and 0 < len(value) <= _MAX_ARRAY_KEYS
            and all(isinstance(k, str) and _ARRAY_KEY.fullmatch(k) for k in value)
            and all(isinstance(v, np.ndarray) and v.dtype.kind in "biuf" for v in value.values()))


def _restore_attribute(reader, name, value):
    """One fitted attribute from its JSON form (an :class:`_Array` for an array stored among the tensors)."""
    field = f"attributes.{name}"
    if isinstance(value, dict) and len(value) == 1 and "__array_dict__" in value:
        dtypes = reader.get(value, "__array_dict__", dict, field)
        if not 0 < len(dtypes) <= _MAX_ARRAY_KEYS or not all(isinstance(k, str) and _ARRAY_KEY.fullmatch(k)
                                                            for k in dtypes):
            raise reader.error(field, f"not 1 to {_MAX_ARRAY_KEYS} array names")
        return _ArrayDict({k: _numeric_dtype(reader, reader.get(dtypes, k, str, f"{field}.{k}"), f"{field}.{k}")
                           for k in dtypes})
    if isinstance(value, dict) and len(value) <= 2 and value.keys() & {"__history__", "__device__", "__array__",
                                                                       "__ndarray__"}:
        if "__history__" in value:
            spec = reader.get(value, "__history__", (list, dict), field)
            if isinstance(spec, list):  # files before histories were stored as columns
                return History(decode_history(reader, spec, None, field))
            return _History(spec)
        if "__device__" in value:
            return reader.get(value, "__device__", str, field)[:_MAX_NAME]
        if "__array__" in value:
            return _Array(_numeric_dtype(reader, reader.get(value, "__array__", str, field), field))
        items = reader.decode(reader.get(value, "__ndarray__", list, field), field, limit=None)
        dtype_name = reader.get(value, "dtype", str, field + ".dtype")
        try:
            dtype = np.dtype(dtype_name)
        except (TypeError, ValueError):
            raise reader.error(field + ".dtype", f"{short_repr(dtype_name)} is not a dtype") from None
        if dtype.kind not in "UO" or dtype.itemsize > 4 * 1024:
            raise reader.error(field + ".dtype", f"{dtype} is not a string or object dtype of at most 1024 chars")
        try:
            return np.array(items, dtype=dtype)
        except (TypeError, ValueError) as exc:
            raise reader.error(field, f"not an array of that dtype ({exc})") from None
    return reader.decode(value, field, limit=None)


def _numeric_dtype(reader, name, field):
    try:
        dtype = np.dtype(name)
    except (TypeError, ValueError):
        raise reader.error(field, f"{short_repr(name)} is not a dtype") from None
    if dtype.kind not in "biuf" or dtype.itemsize > 16:
        raise reader.error(field, f"{dtype} is not a numeric dtype")
    return dtype


def _check_core_attributes(reader, attrs, standardize):
    """The fitted attributes that size the networks and the inputs of ``predict``."""
    def need(name, ok):
        if name not in attrs or not ok(attrs[name]):
            got = "missing" if name not in attrs else short_repr(attrs[name])
            raise reader.error(f"attributes.{name}", f"{got}, not {_CORE_ATTRIBUTES[name]}")

    need("classes_", lambda v: isinstance(v, np.ndarray) and v.ndim == 1 and v.size >= 1 and (
        v.dtype.kind != "O" or all(isinstance(x, (str, int, float)) for x in v)))
    need("n_channels_", lambda v: _is_int(v, 1))
    need("n_timepoints_", lambda v: _is_int(v, 1))
    need("n_features_in_", lambda v: _is_int(v, 1) and v in (attrs["n_channels_"], attrs["n_timepoints_"]))
    if standardize:
        shape = (attrs["n_channels_"],)
        need("channel_mean_", lambda v: isinstance(v, np.ndarray) and v.shape == shape and v.dtype.kind == "f"
             and bool(np.isfinite(v).all()))
        need("channel_std_", lambda v: isinstance(v, np.ndarray) and v.shape == shape and v.dtype.kind == "f"
             and bool(np.isfinite(v).all()) and bool((v > 0).all()))
    checks = {
        "history_": lambda v: isinstance(v, History),
        "fit_time_": lambda v: isinstance(v, dict) and all(isinstance(x, (int, float)) for x in v.values()),
        "n_parameters_": lambda v: isinstance(v, dict) and all(_is_int(x, 0) for x in v.values()),
        "interrupted_": lambda v: v is None or (isinstance(v, dict) and isinstance(v.get("stage"), str)
                                                and _is_int(v.get("epoch"), 0)
                                                and _is_int(v.get("n_epochs"), 0)
                                                and v["epoch"] <= v["n_epochs"]),
        "target_mode_": lambda v: isinstance(v, str),
        "device_": lambda v: isinstance(v, str),
    }
    for name, ok in checks.items():
        if name in attrs:
            need(name, ok)


def _check_attribute_name(reader, klass, name, params):
    """A fitted-attribute name that shadows nothing: lower-case, ending in ``_``, not a parameter, a network or
    anything the class defines (a method, a property, a class attribute)."""
    if (not isinstance(name, str) or len(name) > _MAX_NAME or not _ATTRIBUTE_NAME.fullmatch(name)
            or name in params or name in NETWORK_ATTRIBUTES or hasattr(klass, name)):
        raise reader.error(f"attributes.{_name(name)}", "not a fitted-attribute name this estimator can take "
                           "(fitted attributes end with '_' and shadow no method, property or parameter)")


def _network_config(reader, attr, spec, klass):
    """The constructor settings of a network rebuilt from its class: known names, plain values within limits."""
    allowed = set(inspect.signature(klass.__init__).parameters) - {"self"}
    config = {}
    for key, value in spec.items():
        if key == "build":
            continue
        field = f"networks.{attr}.{_name(key)}"
        if key not in allowed:
            raise reader.error(field, f"not a setting of {klass.__name__}")
        value = reader.decode(value, field)
        items = value if isinstance(value, (tuple, list)) and len(value) <= _MAX_NAME else (value,)
        if not all(_plain_setting(v) for v in items):
            raise reader.error(field, f"{short_repr(value)} is not a plain setting (numbers within [0, 2**31], "
                                      "booleans, short strings, or a short tuple of them)")
        config[key] = value
    return config


def _plain_setting(value):
    """A constructor setting read from a file: None, a bool, a string of at most 64 characters, an int within
    [0, 2**31] or a finite float (sizes are then checked against the stored tensors)."""
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, str):
        return len(value) <= _MAX_NAME
    if isinstance(value, int):
        return 0 <= value <= 2**31
    return isinstance(value, float) and math.isfinite(value)


def _check_state(reader, attr, expected, stored):
    """Stored weights against the tensors a network rebuilt from the file's settings has (names, shapes, kinds):
    checked on the meta device, before anything is allocated."""
    field = f"tensors networks.{attr}"
    if not isinstance(stored, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                               for k, v in stored.items()):
        raise reader.error(field, "missing, or not a dict of tensors")
    missing, unexpected = sorted(set(expected) - set(stored)), sorted(set(stored) - set(expected))
    if missing or unexpected:
        raise reader.error(field, f"the saved {attr} weights do not fit the network rebuilt from the saved "
                                  f"parameters (missing {missing[:3]}, unexpected {unexpected[:3]})")
    for key, want in expected.items():
        got = stored[key]
        if tuple(got.shape) != tuple(want.shape) or got.is_floating_point() != want.is_floating_point():
            raise reader.error(f"{field}.{key}", f"the saved {attr} weights do not fit the network rebuilt from the "
                                                 f"saved parameters: {got.dtype} {tuple(got.shape)} where the "
                                                 f"network has {want.dtype} {tuple(want.shape)}")
        if got.is_floating_point() and not bool(torch.isfinite(got).all()):
            raise reader.error(f"{field}.{key}", "not finite")


def _network_plan(reader, attr, spec, overrides):
    """How the file says to rebuild ``attr``, checked: ``("hook", name)``, ``("config", class, settings)`` or
    ``("argument", name)``."""
    if not isinstance(spec, dict):
        raise reader.error(f"networks.{attr}", f"a {type(spec).__name__}, not a dict")
    build = reader.get(spec, "build", str, f"networks.{attr}.build")
    if build in ("initialize_student", "initialize_teacher"):
        if build != f"initialize_{attr[:-1]}":
            raise reader.error(f"networks.{attr}.build", f"{build!r} does not build {attr}")
        return ("hook", build)
    if build in _BUILDERS:
        if _REBUILT.get(attr, (None,))[0] != build:
            raise reader.error(f"networks.{attr}.build", f"{build!r} does not build {attr}")
        klass = _BUILDERS[build]
        return ("config", klass, _network_config(reader, attr, spec, klass))
    if build == "argument":
        argument = reader.get(spec, "argument", str, f"networks.{attr}.argument")
        if argument != attr[:-1] or argument not in overrides:
            raise reader.error(f"networks.{attr}.argument", f"{short_repr(argument)} is not the argument for {attr}")
        return ("argument", argument)
    raise reader.error(f"networks.{attr}.build", f"{short_repr(build)} is not a way skrcd builds networks")


def _build_network(est, attr, plan, overrides, reader, stored):
    """Rebuild one network: first on the meta device (no memory) to check the stored tensors, then for real."""
    if plan[0] == "argument":
        if overrides[plan[1]] is None:
            return None
        net = copy.deepcopy(overrides[plan[1]])  # the caller's own module: trusted
        _check_state(reader, attr, net.state_dict(), stored)
        try:
            net.load_state_dict(stored)
        except (RuntimeError, TypeError, ValueError) as exc:
            raise reader.error(f"tensors networks.{attr}", f"the saved {attr} weights do not fit the module passed "
                                                           f"to load ({short_repr(str(exc))})") from None
        return net
    if plan[0] == "hook":
        def make():
            return getattr(est, plan[1])(est.n_channels_, len(est.classes_))
    else:
        def make():
            return plan[1](**plan[2])
    try:
        with torch.device("meta"):
            shape = make()
    except Exception as exc:  # noqa: BLE001 - settings the constructor refuses
        raise reader.error(f"networks.{attr}", f"the saved settings do not build a network ({type(exc).__name__}: "
                                               f"{short_repr(str(exc))})") from None
    _check_state(reader, attr, shape.state_dict(), stored)
    net = make()
    try:
        net.load_state_dict(stored)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise reader.error(f"tensors networks.{attr}",
                           f"the saved {attr} weights do not fit ({short_repr(str(exc))})") from None
    return net


def _fitted_attributes(est):
    """Split the fitted attributes into JSON values, tensors, skipped names and notes."""
    attrs, arrays, skipped, notes = {}, {}, [], []
    for name, value in sorted(vars(est).items()):
        if not name.endswith("_") or name.startswith("_") or name in NETWORK_ATTRIBUTES:
            continue
        if isinstance(value, History):
            try:
                spec, tensors, note = encode_history(value)
            except (NotJSONError, ValueError):
                skipped.append(name)
                continue
            attrs[name] = {"__history__": spec}
            arrays.update((f"{name}/{key}", tensor) for key, tensor in tensors.items())
            if note:
                notes.append(f"{name}: {note}")
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
    return attrs, arrays, skipped, notes


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
    ValueError
        The metadata would be larger than a file may hold (``load`` would
        refuse it); nothing is written.

    Examples
    --------
    See :meth:`skrcd.RCDKDClassifier.save`.
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator, "student_")
    params, unsaved = _encode_params(estimator)
    attrs, arrays, skipped, notes = _fitted_attributes(estimator)
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
        notes.insert(0, f"not saved (no safe format for them): {', '.join(skipped)}")
    if notes:
        warnings.warn("; ".join(notes), UserWarning, stacklevel=user_stacklevel())
    meta = {"class": class_path(estimator), "params": params, "unsaved_params": unsaved, "attributes": attrs,
            "networks": networks, "skipped": skipped}
    schema = getattr(type(estimator), "_params_schema", None)
    if schema is not None:
        meta["params_schema"] = schema
    return write_archive(path, "model", meta, {"networks": states, "arrays": arrays})


def load(path, cls=None, *, teacher=None, discriminator=None, device=None):
    """Load an estimator saved by :func:`~skrcd.persistence.model_file.save`; executes no code from the file.

    The file is untrusted input: only the estimator classes already defined are
    built, only fitted-attribute names that shadow nothing on the class are set,
    parameters are checked against the class's parameter table, and every
    network is first rebuilt on torch's ``meta`` device (no memory) from the
    saved settings and checked against the stored tensors (names and shapes)
    before it is allocated, so a file cannot make ``load`` allocate more than the
    weights it holds. ``checkpoint_dir`` is never restored from a file (it loads
    as ``None``, with a warning when the file named one), so a later ``fit`` writes
    nowhere the file chose.

    Parameters
    ----------
    path : str or path-like
    cls : type, optional
        The class expected (the file's class must be it or one of its
        subclasses); any :class:`~skrcd.persistence.model_file.ModelFileMixin` subclass by default.
    teacher, discriminator : torch.nn.Module, optional
        Modules of the same architecture as a custom teacher/discriminator that
        was passed to the saved estimator: their copies receive the saved weights
        (and become the loaded estimator's parameters). Without them, a custom
        network's fitted attribute and parameter are ``None`` (the student still
        predicts).
    device : str or torch.device, optional
        Where to put the networks; by default the estimator's ``device``
        parameter, or the CPU (with a warning) when it asks for CUDA and none is
        available. An explicit ``device`` follows the rule of ``fit``: a device
        that is not there is an error.

    Returns
    -------
    skrcd.RCDKDClassifier

    Raises
    ------
    ModelFileError
        Corrupt, truncated, foreign or hostile file (the message names the field),
        a file written by a newer format, a class not defined in this session,
        or weights that do not fit; also a file that needs more memory than
        there is.
    ValueError
        ``device`` names no device, or one that is not available.
    FileNotFoundError
        If ``path`` does not exist.
    IsADirectoryError
        If ``path`` is a directory.

    Examples
    --------
    See :meth:`skrcd.RCDKDClassifier.load`.
    """
    target = None if device is None else resolve_device(device)  # the caller's argument, before the file is read
    meta, raw = read_raw(path, "model")
    with memory_errors_named(path):
        return _load(path, cls, meta, raw, target, teacher, discriminator)


def _load(path, cls, meta, raw, target, teacher, discriminator):
    """:func:`load` once the metadata are read and the ``device`` argument resolved."""
    reader = FieldReader(path)
    # 1. the metadata, checked before any tensor is unpickled
    klass = _estimator_class(reader.get(meta, "class", str, "class"), cls)
    params, unsaved = _read_params(reader, meta, klass)
    overrides = {"teacher": teacher, "discriminator": discriminator}
    for name in unsaved:
        params[name] = overrides.get(name)
    valid = klass().get_params(deep=False)
    unknown = sorted(set(params) - set(valid))
    for name in unknown:
        del params[name]
    chosen_dir = params.get("checkpoint_dir")
    if "checkpoint_dir" in valid:  # a folder named by the file: never written to (a later fit would write there)
        params["checkpoint_dir"] = None
    est = klass(**params)
    attrs = {}
    for name, value in reader.get(meta, "attributes", dict, "attributes").items():
        _check_attribute_name(reader, klass, name, valid)
        attrs[name] = _restore_attribute(reader, name, value)
    specs = reader.get(meta, "networks", dict, "networks")
    for attr in specs:
        if attr not in NETWORK_ATTRIBUTES:
            raise reader.error(f"networks.{_name(attr)}", f"not one of {', '.join(NETWORK_ATTRIBUTES)}")
    plans = {attr: _network_plan(reader, attr, spec, overrides) for attr, spec in specs.items()}
    stopped_early = isinstance(attrs.get("interrupted_"), dict)  # a Ctrl-C in the teacher stage: no student yet
    if "student_" not in specs and not (stopped_early and "teacher_" in specs):
        raise reader.error("networks.student_", "missing")
    # 2. the tensors: fitted arrays, then each network checked on the meta device before it is allocated
    data = load_tensors(raw, path)
    arrays = reader.get(data, "arrays", dict, "tensors arrays")
    stored_networks = reader.get(data, "networks", dict, "tensors networks")
    for name, value in attrs.items():
        if isinstance(value, (_Array, _ArrayDict, _History)):
            attrs[name] = value.resolve(reader, name, arrays)
    # predict standardises when the fit stored statistics (not by the standardize parameter, which set_params may
    # have changed after the fit): both are checked wherever the file holds one of them
    _check_core_attributes(reader, attrs, "channel_mean_" in attrs or "channel_std_" in attrs)
    for name, value in attrs.items():
        setattr(est, name, value)
    if target is None:  # the saved device parameter; the CPU where it asks for CUDA and there is none
        target = resolve_device(est.device, fallback_to_cpu=True, what="the saved device parameter asks for")
    with torch.random.fork_rng(devices=[]):  # building networks draws init weights: leave the caller's RNG alone
        for attr in NETWORK_ATTRIBUTES:
            net = None
            if attr in plans:
                net = _build_network(est, attr, plans[attr], overrides, reader, stored_networks.get(attr))
            if net is not None:
                net = net.to(target).eval()
            setattr(est, attr, net)
    if hasattr(est, "device_") or "device_" in attrs:
        est.device_ = target
    notes = []
    if unknown:
        notes.append(f"parameters unknown to this skrcd were dropped: {', '.join(unknown)}")
    if chosen_dir is not None:
        notes.append(f"checkpoint_dir is not restored from a file (it named {short_repr(chosen_dir)}): set it "
                     "again to checkpoint a later fit")
    dropped = [f"{k} ({v})" for k, v in unsaved.items() if overrides.get(k) is None and k != "callbacks"]
    if dropped:
        notes.append(f"parameters saved by class only are now None: {', '.join(dropped)}")
    missing = [a for a, plan in plans.items() if getattr(est, a, None) is None and plan[0] == "argument"]
    if missing:
        notes.append(f"{', '.join(missing)} not restored: pass the module of the same architecture to load()")
    if notes:
        warnings.warn("; ".join(notes), UserWarning, stacklevel=user_stacklevel())
    return est


#: What a parameter added after a file was written stands for in that file: the behaviour before the parameter
#: existed (which may differ from its default today).
def _upgrade_params(reader, meta, klass, params, unsaved):
    """The file's parameters brought to the class's parameter schema (``klass._params_schema``).

    Files without ``params_schema`` are schema 1. ``klass._upgrade_params`` adds, one explicit step per schema,
    the parameters a file's schema lacks with the values such files were fitted with; a parameter that is still
    missing, or one the class does not have in a file of the current schema, is a damaged file. Schema 1 files may
    hold parameters of development versions that no longer exist: they are dropped.
    """
    current = getattr(klass, "_params_schema", None)
    if current is None:  # a class without a parameter schema: the parameters as saved
        return params
    schema = reader.get(meta, "params_schema", int, "params_schema", default=1)
    if not 1 <= schema <= current:
        raise reader.error("params_schema", f"{schema} is not a parameter schema this skrcd reads (1 to {current})"
                           + ("; upgrade skrcd to load this file" if schema > current else ""))
    params, missing = klass._upgrade_params(params, schema)
    missing = [name for name in missing if name not in unsaved]
    if missing:
        raise reader.error("params", f"missing {', '.join(missing)}, which every file of parameter schema "
                           f"{schema} holds")
    if schema > 1:
        unknown = sorted(set(params) - set(klass().get_params(deep=False)) - set(unsaved))
        if unknown:
            raise reader.error(f"params.{_name(unknown[0])}", f"not a parameter of {klass.__name__}")
    return params


def _read_params(reader, meta, klass):
    """The saved parameters, decoded within limits and checked against the class's parameter table."""
    raw = reader.get(meta, "params", dict, "params")
    if len(raw) > _MAX_ITEMS:
        raise reader.error("params", f"{len(raw)} entries (at most {_MAX_ITEMS})")
    params = {k: reader.decode(v, f"params.{_name(k)}") for k, v in raw.items()}
    unsaved = reader.get(meta, "unsaved_params", dict, "unsaved_params", default={})
    for name, value in unsaved.items():
        if not isinstance(value, str) or len(value) > 256:
            raise reader.error(f"unsaved_params.{_name(name)}", f"{short_repr(value)} is not a class path")
    params = _upgrade_params(reader, meta, klass, params, unsaved)
    constraints = getattr(klass, "_parameter_constraints", {})
    for name, value in params.items():
        if name in constraints and name not in unsaved:
            try:
                validate_params(constraints, {name: value}, [name])
            except ValueError as exc:  # InvalidParameterError
                raise reader.error(f"params.{name}", str(exc)) from None
    return params, dict(unsaved)
