"""The estimator's checks that need more than one parameter's table row, or the data, run before any training.

:class:`~skrcd.RCDKDClassifier` calls them from ``fit`` (and ``set_params`` for the callback parameters); each
raises a ``ValueError`` (:class:`~skrcd._param_validation.InvalidParameterError` for parameter values) that names
the parameter, what is wrong and what to do.
"""

from __future__ import annotations

import copy
from numbers import Real

import numpy as np
import torch

from ._param_validation import InvalidParameterError
from ._parameters import teacher_names
from .nn.augment import SensorAugment
from .nn.networks import feature_size
from .selection.dqn import DQNSelector
from .training.loop import n_steps_per_epoch

__all__ = ["REPLAY_MEMORY_BUDGET", "check_param_rules", "with_callback_params", "check_class_weight_values",
           "check_class_weight_keys", "check_sizes", "replay_transitions", "check_warm_start", "check_warm_architecture", "all_callbacks",
           "check_monitors"]


#: Bytes the replay memory may take (it is preallocated when the student stage starts; fit checks it before the
#: teacher stage).
REPLAY_MEMORY_BUDGET = 4 * 2**30


def with_callback_params(callbacks, values, list_name):
    """A copy of the callback list ``callbacks`` with ``{"<name>__<param>": value}`` set on copies of the named
    callbacks; a name or parameter that does not exist is a ``ValueError`` naming it."""
    items = list(callbacks or [])
    names = [item[0] if isinstance(item, tuple) else type(item).__name__ for item in items]
    for key, value in values.items():
        name, sep, param = key.partition("__")
        if not sep or not param:
            raise ValueError(f"{list_name}__{key}: set a callback's parameter as {list_name}__<name>__<param>")
        if name not in names:
            raise ValueError(f"{list_name}__{key}: {list_name} has no callback named {name!r} (its names: "
                             f"{', '.join(map(repr, names)) or 'none'}); name one with a (name, callback) tuple")
        i = names.index(name)
        cb = items[i][1] if isinstance(items[i], tuple) else items[i]
        if isinstance(cb, type):
            raise ValueError(f"{list_name}__{key}: the callback {name!r} is given as a class; pass an instance")
        if param not in cb.get_params(deep=False):
            raise ValueError(f"{list_name}__{key}: {type(cb).__name__} has no parameter {param!r}")
        cb = copy.deepcopy(cb)
        cb.set_params(**{param: value})
        items[i] = (name, cb) if isinstance(items[i], tuple) else cb
    return items


def check_class_weight_values(class_weight):
    """Refuse a ``class_weight`` dict whose weights are not finite non-negative numbers."""
    for label, weight in class_weight.items():
        if isinstance(weight, (bool, np.bool_)) or not isinstance(weight, Real) or not np.isfinite(weight) \
                or weight < 0:
            raise InvalidParameterError(
                f"class_weight must map each label to a finite weight >= 0; the weight of {label!r} is {weight!r}")


def check_param_rules(est):
    """The rules that tie two parameters together (each parameter alone is checked by its table row)."""
    teacher_module = isinstance(est.teacher, torch.nn.Module)
    keeps_fitted_teacher = est.warm_start and getattr(est, "teacher_", None) is not None
    if est.teacher_epochs == 0 and not teacher_module and not keeps_fitted_teacher:
        raise InvalidParameterError("teacher_epochs=0 skips teacher training: pass a trained teacher module")
    if teacher_module and est.n_teachers not in ("auto", 1):
        raise InvalidParameterError(
            f"n_teachers={est.n_teachers!r} needs a teacher built by skrcd ('cnn' or 'tcn'): a teacher module "
            "is trained as given; pass skrcd.nn.TeacherEnsemble([module, ...]) for several"
        )
    names = teacher_names(est.teacher, est.n_teachers) if not teacher_module else []
    if isinstance(est.teacher, (tuple, list)) and est.n_teachers not in ("auto", len(est.teacher)):
        raise InvalidParameterError(
            f"teacher={tuple(est.teacher)!r} names {len(est.teacher)} teachers and n_teachers="
            f"{est.n_teachers!r}: leave n_teachers='auto' or give one name per teacher"
        )
    if isinstance(est.class_weight, dict):
        check_class_weight_values(est.class_weight)
    if isinstance(est.augment, dict):
        try:
            SensorAugment(**est.augment).check()
        except (TypeError, ValueError) as exc:
            raise InvalidParameterError(f"augment={est.augment!r}: {exc}") from None
    if est.teacher_channels is not None and names:
        cnn_like = any(n != "tcn" for n in names)
        if cnn_like and "tcn" in names:
            raise InvalidParameterError(
                f"teacher_channels={est.teacher_channels!r} cannot set both a TCN's and a CNN's widths "
                f"(teacher={est.teacher!r}): leave it None"
            )
        if cnn_like and len(est.teacher_channels) != 3:
            raise InvalidParameterError(
                f"teacher_channels must hold 3 widths for the CNN teacher, got {est.teacher_channels!r}"
            )


def check_class_weight_keys(class_weight, classes):
    """Refuse a ``class_weight`` dict naming a label that is not a class of ``y``, or weighing every class 0."""
    known = set(classes.tolist())
    unknown = [label for label in class_weight if label not in known]
    if unknown:
        raise ValueError(f"class_weight names {unknown!r}, which {'is' if len(unknown) == 1 else 'are'} not a "
                         f"class of y; the classes are {classes.tolist()!r}")
    if all(class_weight.get(c, 1.0) == 0 for c in classes.tolist()):
        raise ValueError(f"class_weight={class_weight!r} weighs every class of y 0: nothing would be learnt")


def check_sizes(est, split, n_classes):
    """Refuse, before any work, sizes that the data make impossible or that would exceed the memory budget.

    ``stride`` must not exceed the series length (the first convolution would read one position and torch
    may crash on such strides), and the replay memory that the student stage preallocates must fit
    :data:`REPLAY_MEMORY_BUDGET`. The memory never holds more than the transitions the fit can push
    (:func:`replay_transitions`), whatever ``memory_capacity`` says.
    """
    length = min(split.X_src.shape[2], split.X_tgt.shape[2])
    if est.stride > length:
        raise ValueError(f"stride={est.stride} exceeds the series length ({length} time steps): the first "
                         "convolution would see one position; use a stride of at most the length")
    if isinstance(est.selection, str) and est.selection == "rl" and est.student_epochs:
        n_src = split.X_src.shape[0]
        pushes = replay_transitions(est, n_src, split.X_tgt.shape[0], est.n_episodes)
        capacity = min(est.memory_capacity, pushes)
        state_dim = est.initialize_selection().state_size(est.student_channels[-1], n_classes)
        nbytes = capacity * (2 * 4 * state_dim + 16)  # two float32 states, a long action, reward and done
        if nbytes > REPLAY_MEMORY_BUDGET:
            raise ValueError(
                f"memory_capacity={est.memory_capacity}: this fit pushes up to {pushes} transitions of "
                f"{state_dim} values into the replay memory, {nbytes / 2**30:.1f} GiB for {capacity} of them, "
                f"above the budget of {REPLAY_MEMORY_BUDGET / 2**30:.0f} GiB: lower memory_capacity (e.g. "
                f"{max(1, REPLAY_MEMORY_BUDGET // (2 * 4 * state_dim + 16))})"
            )


def replay_transitions(est, n_src, n_tgt, n_episodes):
    """The most transitions the student stage pushes into the replay memory: one per target window of each
    episode of each step of each epoch."""
    steps = n_steps_per_epoch(n_src, n_tgt, est.batch_size)
    return max(1, est.student_epochs * steps * n_episodes * max(2, min(est.batch_size, n_tgt)))


def all_callbacks(est):
    """Every callback of the fit: ``callbacks``, ``teacher_callbacks`` and ``student_callbacks``."""
    return [*(est.callbacks or []), *(est.teacher_callbacks or []), *(est.student_callbacks or [])]


def check_monitors(est):
    """Refuse, before any training, a callback that monitors a validation column when there is none."""
    if est.train_split is not None:
        return
    for cb in all_callbacks(est):
        cb = cb[1] if isinstance(cb, tuple) else cb
        monitor = getattr(cb, "monitor", None)
        if isinstance(monitor, str) and monitor.startswith("valid_"):
            raise ValueError(
                f"{type(cb).__name__}(monitor={monitor!r}) reads a validation column, and there is no "
                "validation data: set train_split (e.g. train_split=0.2, a stratified fifth of the labelled "
                "source) or monitor 'train_loss' or TargetEntropy's 'target_entropy'"
            )


def _plain(value):
    """A constructor setting as comparable plain data, or None for what is not (modules, arrays)."""
    if isinstance(value, (bool, int, float, str, type(None))):
        return value
    if isinstance(value, (tuple, list)) and all(isinstance(v, (bool, int, float, str)) for v in value):
        return tuple(value)
    return None


def _architecture(net):
    """``[(module name, class name, settings)]`` of every module of ``net``: its constructor settings
    (``get_config``) where it has them, and the shape of each of its own weights."""
    out = []
    for name, module in net.named_modules():
        settings = {}
        if hasattr(module, "get_config"):
            settings = {k: _plain(v) for k, v in module.get_config().items() if _plain(v) is not None}
        for pname, tensor in module.named_parameters(recurse=False):
            settings[f"{pname}.shape"] = tuple(tensor.shape)
        for bname, tensor in module.named_buffers(recurse=False):
            if tensor is not None:
                settings[f"{bname}.shape"] = tuple(tensor.shape)
        out.append((name, type(module).__name__, settings))
    return out


def check_warm_start(est, classes, n_channels):
    if len(classes) != len(est.classes_) or not np.array_equal(classes, est.classes_):
        raise ValueError(f"warm_start=True continues the fitted networks, whose classes are "
                         f"{est.classes_.tolist()}; y has the classes {classes.tolist()}")
    if n_channels != est.n_channels_:
        raise ValueError(f"warm_start=True continues the fitted networks, which take {est.n_channels_} "
                         f"channels; X has {n_channels}")


#: The parameter that sets each constructor setting of a network, for the warm-start message.
_SETTING_PARAMETER = {("teacher", "channels"): "teacher_channels", ("student", "channels"): "student_channels",
                      ("selector", "hidden"): "selector_hidden", ("selector", "bias_noise"): "selector_bias_noise",
                      ("selector", "state_dim"): "selector_state or student_channels"}


def check_warm_architecture(est):
    """With ``warm_start``, refuse parameters that now build networks other than the fitted ones.

    The networks the parameters would build are constructed on the meta device (no memory, no random
    numbers) and compared with the fitted ones, module by module: type, constructor settings
    (``get_config``) and weight shapes. The first difference raises a ``ValueError`` naming it.
    """
    n_channels, n_classes = est.n_channels_, len(est.classes_)
    with torch.device("meta"):
        fresh = {"teacher": est.initialize_teacher(n_channels, n_classes),
                 "student": est.initialize_student(n_channels, n_classes)}
        fitted_teacher = getattr(est, "teacher_", None)
        if fitted_teacher is not None and getattr(est, "discriminator_", None) is not None:
            fresh["discriminator"] = est.initialize_discriminator(
                feature_size(fitted_teacher, n_channels, est.n_timepoints_))
    for role, net in fresh.items():
        fitted = getattr(est, role + "_", None)
        if fitted is not None:
            _compare_architecture(role, _architecture(fitted), _architecture(net))
    selector, student = getattr(est, "selector_", None), getattr(est, "student_", None)
    if isinstance(selector, DQNSelector) and isinstance(est.selection, str) and est.selection == "rl":
        strategy = est.initialize_selection()
        params = dict(strategy.selector_params)
        now = {"hidden": params.get("hidden"), "bias_noise": params.get("bias_noise")}
        if student is not None:
            now["state_dim"] = strategy.state_size(feature_size(student, n_channels, est.n_timepoints_),
                                                   n_classes)
        was = {key: getattr(selector, key) for key in now}
        _compare_architecture("selector", [("", "DQNSelector", was)], [("", "DQNSelector", now)])


def _compare_architecture(role, fitted, fresh):
    if len(fitted) != len(fresh):
        what = ("n_teachers or teacher" if role == "teacher" else role)
        raise ValueError(
            f"warm_start=True continues the fitted networks, but the parameters now build another {role}: "
            f"{len(fresh)} modules instead of the fitted {len(fitted)} (set_params changed {what}); fit with "
            "warm_start=False to train new networks, or set the parameters back"
        )
    for (name, kind, was), (_, kind_now, now) in zip(fitted, fresh):
        where = f"{role}.{name}" if name else role
        if kind != kind_now:
            raise ValueError(
                f"warm_start=True continues the fitted networks, but the parameters now build another {role}: "
                f"{where} is a {kind_now}, the fitted one a {kind} (set_params changed "
                f"{'teacher' if role == 'teacher' else role}); fit with warm_start=False to train new networks"
            )
        for key in sorted(set(was) | set(now)):
            if was.get(key) != now.get(key):
                param = _SETTING_PARAMETER.get((role, key), key)
                raise ValueError(
                    f"warm_start=True continues the fitted networks, but {param} changed since they were "
                    f"fitted: {where}.{key} was {was.get(key)!r} and would now be {now.get(key)!r}; fit with "
                    f"warm_start=False to train new networks, or set {param} back"
                )
