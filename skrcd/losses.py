"""Former path of :mod:`skrcd.nn.losses`, kept so that ``skrcd.losses`` imports keep working."""

from .nn.losses import *  # noqa: F401,F403
from .nn.losses import __all__  # noqa: F401
