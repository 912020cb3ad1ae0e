"""What the commands share: their parser and entry point, the command line they record, the ``--param
NAME=VALUE`` option and the argument checks run before any work.

Each command (``skrcd demo``, ``skrcd benchmark``, ``skrcd benchmark speed``,
``skrcd benchmark deploy``) validates its options with these, so that a bad value
is an argparse error (exit status 2, the usage line, one message) before any file
is created or any data is read: integers within their bounds (seeds within
``[0, 2**32 - 1]``, epochs within ``[1, MAX_EPOCHS]``), ``--param`` values that the
estimator's parameter table accepts and that no dedicated option sets, and an
``--out`` folder that exists and is writable, or can be created.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys

from ..classifier import RCDKDClassifier

__all__ = ["command_parser", "command_main", "command_line", "MAX_EPOCHS", "MAX_SEED", "MAX_WORKERS", "add_param_option", "parse_param_options", "check_device",
           "check_out", "check_data_home", "parse_ints", "parse_seeds", "bounded_int", "positive_int",
           "non_negative_int", "epochs_int", "seed_int"]

def command_parser(parser, words, doc):
    """The parser of the command ``skrcd <words>``: ``parser`` itself (the ``skrcd`` sub-parser), or a new one.

    Parameters
    ----------
    parser : argparse.ArgumentParser or None
    words : str
        The command words after ``skrcd`` (``"benchmark speed"``).
    doc : str
        The command module's docstring; its first line describes the command.

    Returns
    -------
    argparse.ArgumentParser
    """
    return parser or argparse.ArgumentParser(prog=f"skrcd {words}", description=doc.splitlines()[0])


def command_main(build_parser, run, argv=None):
    """Parse ``argv`` with ``build_parser()`` and ``run`` the command: what ``skrcd <command>`` does.

    Parameters
    ----------
    build_parser : callable
        ``build_parser()`` -> the command's parser.
    run : callable
        ``run(args, parser, argv)``: checks the options, then does the work.
    argv : list of str, optional
        The command's options; ``sys.argv[1:]`` by default.

    Returns
    -------
    object
        What ``run`` returns.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    return run(parser.parse_args(argv), parser, argv)


def command_line(words, argv):
    """The command line a result file records: what a user types to run it again.

    Parameters
    ----------
    words : str
        The command words after ``skrcd``.
    argv : list of str
        The options as given.

    Returns
    -------
    str

    Examples
    --------
    >>> command_line("benchmark speed", ["--threads", "1,2", "--out", "my results"])
    "skrcd benchmark speed --threads 1,2 --out 'my results'"
    """
    return " ".join(["skrcd", words, *(shlex.quote(x) for x in argv)])


#: The most epochs per stage a command accepts (the paper trains 80).
MAX_EPOCHS = 10_000
#: The largest seed (``random_state``) a command accepts, as the estimator.
MAX_SEED = 2**32 - 1
#: The most torch threads or parallel jobs a command accepts.
MAX_WORKERS = 1024


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


#: Python spellings of JSON literals, which ``--param`` would otherwise read as strings.
_PYTHON_LITERALS = {"True": "true", "False": "false", "None": "null"}


def parse_param_options(parser, items, reserved=None):
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
    reserved : dict of str to str, optional
        Parameters the command sets itself -> how to set them instead (an
        option such as ``"use --seeds"``, or why it is fixed): refused by name.

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
        if reserved and name in reserved:
            parser.error(f"--param {name}: this command sets {name} itself ({reserved[name]})")
        if value in _PYTHON_LITERALS:
            parser.error(f"--param {name}={value}: values are read as JSON; write {name}={_PYTHON_LITERALS[value]}")
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
    """An argparse error unless ``path`` is a writable folder or can be created as one (nothing is created).

    Parameters
    ----------
    parser : argparse.ArgumentParser
    path : str or None
        None: the command writes no folder.
    option : str, default="--out"

    Examples
    --------
    >>> import argparse, os, tempfile
    >>> check_out(argparse.ArgumentParser(), os.path.join(tempfile.mkdtemp(), "new", "folder"))
    """
    if path is None:
        return
    if not path:
        parser.error(f"{option} is empty")
    if os.path.exists(path) and not os.path.isdir(path):
        parser.error(f"{option} {path!r} exists and is not a folder")
    existing, missing = os.path.abspath(path), []
    while not os.path.exists(existing):  # the folders to create, up to the first that exists
        existing, name = os.path.split(existing)
        missing.append(name)
    if not os.path.isdir(existing):
        parser.error(f"{option} {path!r} cannot be created: {existing!r} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "is not writable" if not missing else f"cannot be created: {existing!r} is not writable"
        parser.error(f"{option} {path!r} {what}")
    try:
        longest = os.pathconf(existing, "PC_NAME_MAX")
    except (AttributeError, OSError, ValueError):
        longest = 255
    for name in missing:
        if len(os.fsencode(name)) > longest:
            parser.error(f"{option} {path!r} cannot be created: the name {name[:40]!r}... is longer than the "
                         f"{longest} bytes this file system allows")


def check_data_home(parser, path, option="--data-home"):
    """An argparse error unless ``path`` (when given) is an existing folder.

    Parameters
    ----------
    parser : argparse.ArgumentParser
    path : str or None
    option : str, default="--data-home"

    Examples
    --------
    >>> import argparse, tempfile
    >>> check_data_home(argparse.ArgumentParser(), tempfile.mkdtemp())
    """
    if path is not None and not os.path.isdir(path):
        parser.error(f"{option} {path!r} is not a folder")


def parse_ints(parser, text, option, minimum=None, maximum=None):
    """``"1,2"`` -> ``[1, 2]`` (duplicates dropped, order kept); an argparse error naming ``option`` otherwise.

    Parameters
    ----------
    parser : argparse.ArgumentParser
    text : str
    option : str
    minimum, maximum : int, optional
        Smallest and largest values allowed.

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
    if maximum is not None and any(v > maximum for v in values):
        parser.error(f"{option} must be <= {maximum}, got {text!r}")
    return values


def parse_seeds(parser, text, option="--seeds"):
    """Comma-separated seeds within ``[0, MAX_SEED]`` (the estimator's ``random_state``); an argparse error otherwise.

    Parameters
    ----------
    parser : argparse.ArgumentParser
    text : str
    option : str, default="--seeds"

    Returns
    -------
    list of int

    Examples
    --------
    >>> import argparse
    >>> parse_seeds(argparse.ArgumentParser(), "0,1,2")
    [0, 1, 2]
    """
    return parse_ints(parser, text, option, minimum=0, maximum=MAX_SEED)


def bounded_int(minimum, maximum=None):
    """An argparse ``type=``: an integer within ``[minimum, maximum]`` (the error names the option).

    Parameters
    ----------
    minimum : int
    maximum : int, optional

    Returns
    -------
    callable

    Examples
    --------
    >>> bounded_int(1, 10)("3")
    3
    """
    def convert(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be <= {maximum}, got {text[:30]}")
        return value

    convert.__name__ = f"int >= {minimum}" if maximum is None else f"int in [{minimum}, {maximum}]"
    return convert


#: argparse ``type=``: an integer >= 1 (the error names the option, e.g. ``argument --epochs: must be >= 1``).
positive_int = bounded_int(1)
#: argparse ``type=``: an integer >= 0.
non_negative_int = bounded_int(0)
#: argparse ``type=``: epochs of a stage, within ``[1, MAX_EPOCHS]``.
epochs_int = bounded_int(1, MAX_EPOCHS)
#: argparse ``type=``: a seed, within ``[0, MAX_SEED]``.
seed_int = bounded_int(0, MAX_SEED)
