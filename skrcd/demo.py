"""Former path of :mod:`skrcd.experiments.demo`: ``python -m skrcd.demo`` still runs the demo (``skrcd demo``)."""

from .experiments.demo import *  # noqa: F401,F403
from .experiments.demo import __all__, main  # noqa: F401

if __name__ == "__main__":
    main()
