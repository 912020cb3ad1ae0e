"""Former path of :mod:`skrcd.selection.rewards`, kept so that ``skrcd.rewards`` imports keep working."""

from .selection.rewards import *  # noqa: F401,F403
from .selection.rewards import __all__  # noqa: F401
