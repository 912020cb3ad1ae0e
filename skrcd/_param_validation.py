"""Declarative parameter validation, in the style of scikit-learn's ``_parameter_constraints``.

An estimator lists, for each ``__init__`` parameter, the constraints a value may
satisfy (one is enough)::

    _parameter_constraints = {
        "batch_size": [Interval(Integral, 1, None)],
        "dc_mode": [Options("grl", "flip")],
        "discriminator": [None, InstanceOf(torch.nn.Module)],
        ...
    }

and calls :func:`validate_params` before doing any work. A value that satisfies no
constraint raises :class:`InvalidParameterError` (a ``ValueError`` and a
``TypeError``) naming the parameter, what it must be and what it got. The
constraints are skrcd's own small set (scikit-learn's live in a private module);
``None`` in a list means the value ``None``, a class means "an instance of it".
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = [
    "InvalidParameterError",
    "Constraint",
    "Interval",
    "Options",
    "KeyOf",
    "InstanceOf",
    "HasMethods",
    "SequenceOf",
    "Device",
    "validate_params",
]


#: The largest float32: real parameters end up in float32 arithmetic, so larger ones count as not finite.
_FLOAT32_MAX = float(np.finfo(np.float32).max)


class InvalidParameterError(ValueError, TypeError):
    """A parameter value that satisfies none of its constraints (both a ``ValueError`` and a ``TypeError``)."""


class Constraint:
    """One acceptable form of a parameter value: :meth:`is_satisfied_by` and a description (``str``)."""

    def is_satisfied_by(self, value):
        """Whether ``value`` has this form."""
        raise NotImplementedError

    def __str__(self):
        raise NotImplementedError


def _is_bool(value):
    return isinstance(value, (bool, np.bool_))


_INT64_MAX = 2**63 - 1


class Interval(Constraint):
    """A number in a range; reals must be finite (within float32's range), ints within int64's, and booleans are
    not numbers here.

    Parameters
    ----------
    kind : {numbers.Integral, numbers.Real}
        ``Integral``: an int (Python or numpy); ``Real``: an int or a float.
    low, high : float or None
        The bounds (None: unbounded on that side).
    closed : {"both", "left", "right", "neither"}, default="both"
        Which bounds belong to the range.

    Examples
    --------
    >>> from numbers import Integral, Real
    >>> str(Interval(Integral, 1, None)), Interval(Integral, 1, None).is_satisfied_by(0)
    ('an int >= 1', False)
    >>> tau = Interval(Real, 0, 1, closed="right")
    >>> str(tau), tau.is_satisfied_by(0.0), tau.is_satisfied_by(1), tau.is_satisfied_by(float("nan"))
    ('a finite number in (0, 1]', False, True, False)
    """

    def __init__(self, kind, low=None, high=None, closed="both"):
        if kind not in (numbers.Integral, numbers.Real) or closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"bad Interval({kind!r}, closed={closed!r})")
        self.kind, self.low, self.high, self.closed = kind, low, high, closed

    def is_satisfied_by(self, value):
        if _is_bool(value) or not isinstance(value, self.kind):
            return False
        if self.kind is numbers.Real and not (math.isfinite(value) and abs(value) <= _FLOAT32_MAX):
            return False  # the networks compute in float32: a larger number overflows there
        if self.kind is numbers.Integral and abs(int(value)) > _INT64_MAX:
            return False  # torch takes sizes, strides and counts as 64-bit integers
        if self.low is not None and (value < self.low or (value == self.low and self.closed in ("right", "neither"))):
            return False
        if self.high is not None and (value > self.high or (value == self.high and self.closed in ("left", "neither"))):
            return False
        return True

    def __str__(self):
        what = "an int" if self.kind is numbers.Integral else "a finite number"
        left, right = self.closed in ("both", "left"), self.closed in ("both", "right")
        if self.low is not None and self.high is not None:
            return f"{what} in {'[' if left else '('}{self.low}, {self.high}{']' if right else ')'}"
        if self.low is not None:
            return f"{what} {'>=' if left else '>'} {self.low}"
        if self.high is not None:
            return f"{what} {'<=' if right else '<'} {self.high}"
        return what


class Options(Constraint):
    """One of a few values; a string option matches only strings, a boolean only booleans.

    Examples
    --------
    >>> mode = Options("grl", "flip")
    >>> str(mode), mode.is_satisfied_by("flip"), mode.is_satisfied_by("GRL")
    ("'grl' or 'flip'", True, False)
    >>> Options(True, False).is_satisfied_by(1)  # 1 == True, but it is not a boolean
    False
    """

    def __init__(self, *values):
        self.values = values

    def is_satisfied_by(self, value):
        for option in self.values:
            if _is_bool(option):
                if _is_bool(value) and bool(value) == option:
                    return True
            elif isinstance(value, type(option)) and not _is_bool(value) and value == option:
                return True
        return False

    def __str__(self):
        names = [repr(v) for v in self.values]
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


class KeyOf(Options):
    """One of the keys of a mapping that may grow (a registry): the keys are read each time a value is checked.

    Examples
    --------
    >>> registry = {"a": 1}
    >>> key = KeyOf(registry)
    >>> registry["b"] = 2
    >>> key.is_satisfied_by("b"), str(key)
    (True, "'a' or 'b'")
    """

    def __init__(self, mapping):
        self.mapping = mapping

    @property
    def values(self):
        return tuple(self.mapping)


class InstanceOf(Constraint):
    """An instance of a class (or of one of several).

    Examples
    --------
    >>> import os
    >>> str(InstanceOf((str, os.PathLike), "a path"))
    'a path'
    """

    def __init__(self, types, description=None):
        self.types = types if isinstance(types, tuple) else (types,)
        self.description = description

    def is_satisfied_by(self, value):
        return isinstance(value, self.types)

    def __str__(self):
        if self.description:
            return self.description
        return " or ".join(f"a {t.__module__ + '.' if t.__module__ != 'builtins' else ''}{t.__qualname__}"
                           for t in self.types)


class HasMethods(Constraint):
    """An object with the given methods (duck typing).

    Examples
    --------
    >>> str(HasMethods("on_epoch_end"))
    'an object with on_epoch_end()'
    """

    def __init__(self, *methods):
        self.methods = methods

    def is_satisfied_by(self, value):
        return all(callable(getattr(value, m, None)) for m in self.methods)

    def __str__(self):
        return "an object with " + ", ".join(f"{m}()" for m in self.methods)


class SequenceOf(Constraint):
    """A tuple or list whose items all satisfy one constraint, of a given length.

    Parameters
    ----------
    item : Constraint
    length : int or None, default=None
        The exact length (None: any length from ``min_length`` to ``max_length``).
    min_length : int, default=0
    max_length : int or None, default=None
        The longest length accepted (None: no limit).

    Examples
    --------
    >>> from numbers import Integral
    >>> widths = SequenceOf(Interval(Integral, 1, None), length=3)
    >>> str(widths), widths.is_satisfied_by((16, 32, 32)), widths.is_satisfied_by((16, 0, 32))
    ('a tuple of 3 ints >= 1', True, False)
    """

    def __init__(self, item, length=None, min_length=0, max_length=None):
        self.item, self.length, self.min_length, self.max_length = item, length, min_length, max_length

    def is_satisfied_by(self, value):
        if not isinstance(value, (tuple, list)):
            return False
        if (self.length is not None and len(value) != self.length) or len(value) < self.min_length:
            return False
        if self.max_length is not None and len(value) > self.max_length:
            return False
        return all(self.item.is_satisfied_by(v) for v in value)

    def __str__(self):
        item = str(self.item)
        plural = item.replace("an int", "ints").replace("a finite number", "finite numbers").replace("an object",
                                                                                                     "objects")
        if self.length is not None:
            return f"a tuple of {self.length} {plural}"
        if self.min_length and self.max_length is not None:
            return f"a tuple of {self.min_length} to {self.max_length} {plural}"
        if self.min_length:
            return f"a tuple of at least {self.min_length} {plural}"
        return f"a tuple of {plural}"


class Callbacks(Constraint):
    """A list of skorch callbacks as skorch's ``callbacks`` takes them: instances, classes or ``(name, callback)``.

    Each must be a :class:`skorch.callbacks.Callback` (instance or subclass): the
    training loop initialises and configures callbacks as skorch does.

    Examples
    --------
    >>> from skorch.callbacks import EarlyStopping, PrintLog
    >>> cbs = Callbacks()
    >>> cbs.is_satisfied_by([EarlyStopping(), PrintLog, ("stop", EarlyStopping())]), cbs.is_satisfied_by([object()])
    (True, False)
    """

    def _is_callback(self, item):
        from skorch.callbacks import Callback

        return isinstance(item, Callback) or (isinstance(item, type) and issubclass(item, Callback))

    def is_satisfied_by(self, value):
        if not isinstance(value, (tuple, list)):
            return False
        for item in value:
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
                item = item[1]
            if not self._is_callback(item):
                return False
        return True

    def __str__(self):
        return "a list of skorch callbacks (instances, classes or (name, callback) tuples)"


class Device(Constraint):
    """A device that torch can name: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, ... or a ``torch.device``.

    Only the name is checked (no device needs to be present): ``fit`` checks that
    CUDA is there when it is asked for.

    Examples
    --------
    >>> device = Device()
    >>> [device.is_satisfied_by(d) for d in ("auto", "cuda:1", "mps", "gpu", 0)]
    [True, True, True, False, False]
    """

    def is_satisfied_by(self, value):
        import torch

        if isinstance(value, torch.device):
            return True
        if not isinstance(value, str):
            return False
        if value == "auto":
            return True
        try:
            torch.device(value)
        except (RuntimeError, ValueError):
            return False
        return True

    def __str__(self):
        return "'auto' or a torch device name ('cpu', 'cuda', 'cuda:1', 'mps', ...)"


def _make_constraint(c):
    if c is None:
        return Options(None)
    if isinstance(c, type):
        return InstanceOf(c)
    return c


def validate_params(constraints, params, names=None):
    """Check parameter values against their constraints; raise on the first that fits none.

    Parameters
    ----------
    constraints : dict
        Parameter name -> list of constraints (``None``, a class or a
        :class:`Constraint`); a value must satisfy at least one.
    params : dict
        Parameter name -> value.
    names : iterable of str, optional
        Check only these parameters (default: every one in ``constraints``).

    Raises
    ------
    InvalidParameterError
        ``"<name> must be <what>, got <value>"``.

    Examples
    --------
    >>> from numbers import Integral
    >>> rules = {"batch_size": [Interval(Integral, 1, None)], "dc_mode": [Options("grl", "flip")]}
    >>> validate_params(rules, {"batch_size": 32, "dc_mode": "grl"})
    >>> validate_params(rules, {"batch_size": 0, "dc_mode": "grl"})
    Traceback (most recent call last):
    ...
    skrcd._param_validation.InvalidParameterError: batch_size must be an int >= 1, got 0
    """
    for name in constraints if names is None else names:
        value = params[name]
        options = [_make_constraint(c) for c in constraints[name]]
        if any(c.is_satisfied_by(value) for c in options):
            continue
        what = " or ".join(str(c) for c in options)
        raise InvalidParameterError(f"{name} must be {what}, got {value!r}")
