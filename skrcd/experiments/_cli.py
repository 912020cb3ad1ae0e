"""What the commands share: the ``--param NAME=VALUE`` option and the argument checks run before any work.

Each command (``skrcd demo``, ``skrcd benchmark``, ``skrcd benchmark speed``,
``skrcd benchmark deploy``) validates its options with these, so that a bad value
is an argparse error (exit status 2, the usage line, one message) before any file
is created or any data is read.
"""

from __future__ import annotations

import json
import os

from ..classifier import RCDKDClassifier

__all__ = ["add_param_option", "parse_param_options", "check_device", "check_out", "parse_ints",
           "positive_int", "non_negative_int"]


def add_param_option(parser, example="standardize=joint"):
    """Add the repeatable ``--param NAME=VALUE`` option (an estimator parameter for every fit) to a parser.

    Parameters
    ----------
    parser : argparse.ArgumentParser
    example : str, default="standardize=joint"
        Shown in the help.

    Examples
    --------
    >>> import argparse
    >>> p = argparse.ArgumentParser()
    >>> add_param_option(p)
    >>> p.parse_args(["--param", "temperature=3.5"]).param
    ['temperature=3.5']
    """
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help=f"estimator parameter of every fit, e.g. --param {example} (VALUE is read as JSON, "
                             "else as a string; checked against the estimator's parameter table); repeatable")


def parse_param_options(parser, items):
    """``--param`` values -> estimator parameters; an argparse error for a malformed item, name or value.

    Each value is checked with the estimator's parameter table
    (``RCDKDClassifier._parameter_constraints``) and the rules that tie
    parameters together, as ``fit`` would check it.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        Reports the error (exit status 2) before any run.
    items : list of str
        ``NAME=VALUE`` strings; VALUE is read as JSON, else kept as a string.

    Returns
    -------
    dict

    Examples
    --------
    >>> import argparse
    >>> parse_param_options(argparse.ArgumentParser(), ["selector_hidden=64", "standardize=joint"])
    {'selector_hidden': 64, 'standardize': 'joint'}
    """
    known = RCDKDClassifier().get_params()
    params = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            parser.error(f"--param {item!r} is not NAME=VALUE")
        if name not in known:
            parser.error(f"--param {name!r} is not an estimator parameter; known: {', '.join(sorted(known))}")
        try:
            params[name] = json.loads(value)
        except json.JSONDecodeError:
            params[name] = value
    try:
        RCDKDClassifier(**params)._check_params()
    except ValueError as exc:  # InvalidParameterError: the message starts with the parameter's name
        parser.error(f"--param: {exc}")
    return params


def check_device(parser, device, option="--device"):
    """An argparse error unless torch can use ``device`` here (``"auto"``, ``"cpu"``, ``"cuda"`` with CUDA, ...).

    Parameters
    ----------
    parser : argparse.ArgumentParser
    device : str
    option : str, default="--device"

    Examples
    --------
    >>> import argparse
    >>> check_device(argparse.ArgumentParser(), "cpu")
    """
    from .._device import resolve_device

    try:
        resolve_device(device, what=option)
    except (ValueError, RuntimeError) as exc:
        parser.error(f"{option} {device!r}: {exc}")


def check_out(parser, path, option="--out"):
    """An argparse error when ``path`` exists and is not a folder (it would be written into).

    Parameters
    ----------
    parser : argparse.ArgumentParser
    path : str or None
    option : str, default="--out"

    Examples
    --------
    >>> import argparse, tempfile
    >>> check_out(argparse.ArgumentParser(), tempfile.mkdtemp())
    """
    if path is not None and os.path.exists(path) and not os.path.isdir(path):
        parser.error(f"{option} {path!r} exists and is not a folder")


def parse_ints(parser, text, option, minimum=None):
    """``"1,2"`` -> ``[1, 2]`` (duplicates dropped, order kept); an argparse error naming ``option`` otherwise.

    Parameters
    ----------
    parser : argparse.ArgumentParser
    text : str
    option : str
    minimum : int, optional
        Smallest value allowed.

    Returns
    -------
    list of int

    Examples
    --------
    >>> import argparse
    >>> parse_ints(argparse.ArgumentParser(), "1, 2,1", "--threads", minimum=1)
    [1, 2]
    """
    try:
        values = list(dict.fromkeys(int(v) for v in str(text).split(",")))
    except ValueError:
        parser.error(f"{option} must be integers separated by commas, got {text!r}")
    if minimum is not None and any(v < minimum for v in values):
        parser.error(f"{option} must be >= {minimum}, got {text!r}")
    return values


def _int_at_least(minimum):
    def convert(text):
        import argparse

        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    convert.__name__ = f"int >= {minimum}"
    return convert


#: argparse ``type=``: an integer >= 1 (the error names the option, e.g. ``argument --epochs: must be >= 1``).
positive_int = _int_at_least(1)
#: argparse ``type=``: an integer >= 0.
non_negative_int = _int_at_least(0)
