"""Former path of :mod:`skrcd.experiments.speed`: ``python -m skrcd.speed`` (cited by the committed results pages) still runs it."""

from .experiments.speed import *  # noqa: F401,F403
from .experiments.speed import __all__, main  # noqa: F401

if __name__ == "__main__":
    main()
