"""``skrcd`` command line: ``skrcd demo`` (the bundled UCI-HAR demo), ``skrcd benchmark``."""

from __future__ import annotations

import sys

COMMANDS = {"demo": "skrcd.demo", "benchmark": "skrcd.benchmark"}


def main(argv=None):
    """Dispatch ``skrcd <command> [options]``: ``demo`` or ``benchmark`` (``benchmark speed``).

    Parameters
    ----------
    argv : list of str, optional
        Command and options; ``sys.argv[1:]`` by default.

    Returns
    -------
    int
        Exit status: 0, or 2 for an unknown command.

    Examples
    --------
    >>> main(["--help"])
    usage: skrcd {demo,benchmark} [options]
      demo       RCD-KD on the bundled UCI-HAR scenario 2 -> 11
      benchmark  methods x scenarios x seeds under the paper protocol (CSV, tables, plots)
    0
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print("usage: skrcd {%s} [options]" % ",".join(COMMANDS))
        print("  demo       RCD-KD on the bundled UCI-HAR scenario 2 -> 11")
        print("  benchmark  methods x scenarios x seeds under the paper protocol (CSV, tables, plots)")
        return 0 if (not argv or argv[0] in ("-h", "--help")) else 2
    import importlib

    importlib.import_module(COMMANDS[argv[0]]).main(argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
