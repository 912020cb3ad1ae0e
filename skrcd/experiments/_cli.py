"""The ``--param NAME=VALUE`` option shared by ``skrcd benchmark`` and ``skrcd benchmark speed``."""

from __future__ import annotations

import json

from ..classifier import RCDKDClassifier

__all__ = ["add_param_option", "parse_param_options"]


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
                             "else as a string); repeatable")


def parse_param_options(parser, items):
    """``--param`` values -> estimator parameters; an argparse error for a malformed item or an unknown name.

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
    return params
