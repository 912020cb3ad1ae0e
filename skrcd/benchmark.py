"""Former path of :mod:`skrcd.experiments.benchmark`: ``python -m skrcd.benchmark`` (cited by the committed results pages) still runs it."""

from .experiments.benchmark import *  # noqa: F401,F403
from .experiments.benchmark import __all__, main  # noqa: F401

if __name__ == "__main__":
    main()
