"""Former path of :mod:`skrcd.training.interrupt`, kept so that ``skrcd.interrupt`` imports keep working."""

from .training.interrupt import *  # noqa: F401,F403
from .training.interrupt import __all__  # noqa: F401
