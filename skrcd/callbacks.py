"""Former path of :mod:`skrcd.training.callbacks`, kept so that ``skrcd.callbacks`` imports keep working."""

from .training.callbacks import *  # noqa: F401,F403
from .training.callbacks import __all__  # noqa: F401
