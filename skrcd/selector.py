"""Former path of :mod:`skrcd.selection.dqn`, kept so that ``skrcd.selector`` imports keep working."""

from .selection.dqn import *  # noqa: F401,F403
from .selection.dqn import __all__  # noqa: F401
