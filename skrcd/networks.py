"""Former path of :mod:`skrcd.nn.networks`, kept so that ``skrcd.networks`` imports keep working."""

from .nn.networks import *  # noqa: F401,F403
from .nn.networks import __all__  # noqa: F401
