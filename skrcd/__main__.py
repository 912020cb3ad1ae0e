"""``skrcd`` command line: ``skrcd demo``, ``skrcd benchmark``, ``skrcd benchmark speed``, ``skrcd benchmark deploy``."""

from __future__ import annotations

import importlib
import sys

#: Command words -> (module whose ``main(argv)`` runs it, one-line description).
COMMANDS = {
    ("demo",): ("skrcd.experiments.demo", "RCD-KD on the bundled UCI-HAR scenario 2 -> 11"),
    ("benchmark",): ("skrcd.experiments.benchmark",
                     "methods x scenarios x seeds under the paper protocol (CSV, tables, plots)"),
    ("benchmark", "speed"): ("skrcd.experiments.speed", "seconds per epoch, predict throughput, peak memory"),
    ("benchmark", "deploy"): ("skrcd.experiments.deploy",
                              "exported teacher and student (float32, int8) in ONNX Runtime: size, latency, F1"),
}


def main(argv=None):
    """Dispatch ``skrcd <command> [options]`` (see :data:`COMMANDS`).

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
    usage: skrcd {demo,benchmark,benchmark speed,benchmark deploy} [options]
      demo              RCD-KD on the bundled UCI-HAR scenario 2 -> 11
      benchmark         methods x scenarios x seeds under the paper protocol (CSV, tables, plots)
      benchmark speed   seconds per epoch, predict throughput, peak memory
      benchmark deploy  exported teacher and student (float32, int8) in ONNX Runtime: size, latency, F1
    0
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    words = max((c for c in COMMANDS if tuple(argv[: len(c)]) == c), key=len, default=None)
    if words is None:
        names = [" ".join(c) for c in COMMANDS]
        print("usage: skrcd {%s} [options]" % ",".join(names))
        for name, (_, text) in zip(names, COMMANDS.values()):
            print(f"  {name:<16}  {text}")
        return 0 if (not argv or argv[0] in ("-h", "--help")) else 2
    importlib.import_module(COMMANDS[words][0]).main(argv[len(words):])
    return 0


if __name__ == "__main__":
    sys.exit(main())
