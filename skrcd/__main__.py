"""``skrcd`` command line: ``skrcd demo``, ``skrcd benchmark``, ``skrcd benchmark speed``, ``skrcd benchmark deploy``.

One argparse parser with sub-parsers: each command's options come from its module
(``build_parser``) and the command runs through the module's ``run``, which checks
the options (argparse errors, exit status 2) before any file is created.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ._version import __version__

#: Command words -> (module with ``build_parser(parser)`` and ``run(args, parser, argv)``, one-line description).
COMMANDS = {
    ("demo",): ("skrcd.experiments.demo", "RCD-KD on the bundled UCI-HAR scenario 2 -> 11"),
    ("benchmark",): ("skrcd.experiments.benchmark",
                     "methods x scenarios x seeds under the paper protocol (CSV, tables, plots)"),
    ("benchmark", "speed"): ("skrcd.experiments.speed", "seconds per epoch, predict throughput, peak memory"),
    ("benchmark", "deploy"): ("skrcd.experiments.deploy",
                              "exported teacher and student (float32, int8) in ONNX Runtime: size, latency, F1"),
}


def build_parser():
    """The ``skrcd`` parser: ``--version``, and a sub-parser per command of :data:`COMMANDS`.

    Returns
    -------
    argparse.ArgumentParser

    Examples
    --------
    >>> p = build_parser()
    >>> p.parse_args(["benchmark", "speed", "--epochs", "3"]).epochs
    3
    """
    listing = "\n".join(f"  skrcd {' '.join(words):<18} {text}" for words, (_, text) in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="skrcd", description="Reinforced Cross-Domain Knowledge Distillation (RCD-KD): demo and benchmarks.",
        epilog=f"every command:\n{listing}\n\n'skrcd COMMAND --help' lists a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"skrcd {__version__}",
                        help="print the version and exit")
    groups = {(): parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")}
    for words, (module_name, text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        sub = groups[words[:-1]].add_parser(words[-1], help=text, description=text)
        module.build_parser(sub)
        sub.set_defaults(_run=module.run, _parser=sub, _words=words)
        if any(other[: len(words)] == words and len(other) > len(words) for other in COMMANDS):
            groups[words] = sub.add_subparsers(dest="_".join(words) + "_command", metavar="[SUBCOMMAND]",
                                               title=f"{' '.join(words)} sub-commands")
    return parser


def main(argv=None):
    """Run ``skrcd <command> [options]`` (see :data:`COMMANDS`; ``skrcd --help``).

    Parameters
    ----------
    argv : list of str, optional
        Command and options; ``sys.argv[1:]`` by default.

    Returns
    -------
    int
        Exit status 0; 130 when a Ctrl-C stopped the command (it says so on
        stderr, without a traceback). argparse exits with status 2 on a bad
        command or option, before any file is written.

    Examples
    --------
    >>> main(["--version"])
    Traceback (most recent call last):
    SystemExit: 0
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv:
        parser.print_help()
        return 0
    args = parser.parse_args(argv)
    words = args._words
    options = argv[argv.index(words[-1]) + 1:] if words[-1] in argv else []
    try:
        args._run(args, args._parser, options)
    except KeyboardInterrupt:
        print(f"skrcd {' '.join(words)}: interrupted (Ctrl-C)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
