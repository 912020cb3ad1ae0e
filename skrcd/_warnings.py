"""Warnings that point at the user's line, however deep inside skrcd they are raised."""

from __future__ import annotations

import os
import sys

_PACKAGE = os.path.dirname(os.path.abspath(__file__))


def user_stacklevel():
    """The ``stacklevel`` of :func:`warnings.warn` that names the first frame outside skrcd.

    Call it in the function that calls ``warnings.warn``.

    Returns
    -------
    int

    Examples
    --------
    >>> user_stacklevel() >= 1
    True
    """
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE + os.sep):
        frame, level = frame.f_back, level + 1
    return level
