"""The bundled demo: RCD-KD on UCI-HAR scenario 2 -> 11 (paper protocol).

Run with ``python -m skrcd demo`` (or ``skrcd demo``). It trains the teacher with
DANN on subject 2's train part (labelled) and subject 11's train part
(unlabelled), distils the student, and reports macro-F1 on subject 11's test part.
"""

from __future__ import annotations

import time

from sklearn.metrics import f1_score

from ..classifier import RCDKDClassifier
from ..datasets import load_scenario, load_uci_har
from ._cli import MAX_EPOCHS, check_device, command_main, command_parser, epochs_int, seed_int

__all__ = ["run_demo", "build_parser", "run", "main"]

#: The demo's defaults: fewer epochs than the paper's 80 + 80 so that it finishes
#: in a couple of minutes on 2 CPU cores; ``--epochs 80`` gives the paper setting.
DEMO_EPOCHS = 40


def run_demo(epochs=DEMO_EPOCHS, source=2, target=11, random_state=0, device="auto", verbose=1):
    """Fit RCD-KD on a UCI-HAR scenario and print the teacher's and student's target macro-F1.

    Parameters
    ----------
    epochs : int, default=40
        Epochs of each stage (the paper uses 80).
    source, target : int, default=2, 11
        Source and target subjects.
    random_state : int, default=0
    device : str, default="auto"
    verbose : int, default=1
        Show progress bars.

    Returns
    -------
    dict
        Macro-F1 (x100) of teacher and student, parameter counts and fit times;
        after a Ctrl-C that stopped the fit, ``{"interrupted": clf.interrupted_}``
        only (no scores: one network or both did not finish training).
    """
    sc = load_scenario("uci_har", source=source, target=target)
    clf = RCDKDClassifier(teacher_epochs=epochs, student_epochs=epochs, random_state=random_state,
                          device=device, verbose=verbose)
    t0 = time.perf_counter()
    clf.fit(sc.X_src, sc.y_src, sc.X_tgt)
    wall = time.perf_counter() - t0
    info = clf.interrupted_
    if info is not None:
        print(f"UCI-HAR {source} -> {target}: interrupted (Ctrl-C) in stage {info['stage']!r} after "
              f"{info['epoch']} of {info['n_epochs']} epochs, {wall:.1f} s; no scores reported")
        return {"interrupted": info}
    result = {
        "teacher_f1": 100 * f1_score(sc.y_test, clf.predict(sc.X_test, network="teacher"), average="macro"),
        "student_f1": 100 * f1_score(sc.y_test, clf.predict(sc.X_test), average="macro"),
        "teacher_params": clf.n_parameters_["teacher"],
        "student_params": clf.n_parameters_["student"],
        "fit_time": wall,
        "teacher_time": clf.fit_time_["teacher"],
        "student_time": clf.fit_time_["student"],
    }
    print(f"UCI-HAR {source} -> {target}, {epochs} + {epochs} epochs, seed {random_state}, device {clf.device_}")
    print(f"  train: {len(sc.X_src)} labelled source windows, {len(sc.X_tgt)} unlabelled target windows; "
          f"test: {len(sc.X_test)} target windows")
    print(f"  teacher  macro-F1 {result['teacher_f1']:6.2f}   parameters {result['teacher_params']:>7,}")
    print(f"  student  macro-F1 {result['student_f1']:6.2f}   parameters {result['student_params']:>7,}"
          f"   ({result['teacher_params'] / result['student_params']:.1f}x smaller)")
    print(f"  fit time {wall:.1f} s (teacher {result['teacher_time']:.1f} s, student {result['student_time']:.1f} s)")
    return result


def build_parser(parser=None):
    """The options of ``skrcd demo``, added to ``parser`` (a new parser when None).

    Parameters
    ----------
    parser : argparse.ArgumentParser, optional

    Returns
    -------
    argparse.ArgumentParser
    """
    p = command_parser(parser, "demo", __doc__)
    p.add_argument("--epochs", type=epochs_int, default=DEMO_EPOCHS,
                   help=f"epochs of each stage, 1 to {MAX_EPOCHS} (default {DEMO_EPOCHS}; the paper: 80)")
    p.add_argument("--source", type=int, default=2,
                   help="source subject of UCI-HAR, 1-30 (default 2; subjects outside the bundled ten need the "
                        "full data, see skrcd.datasets.fetch_uci_har)")
    p.add_argument("--target", type=int, default=11, help="target subject of UCI-HAR, 1-30 (default 11)")
    p.add_argument("--seed", type=seed_int, default=0,
                   help="random_state of the estimator, 0 to 2**32 - 1 (default 0)")
    p.add_argument("--device", default="auto", help="'auto' (CUDA when available), 'cpu', 'cuda', 'cuda:1', ...")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def run(args, parser, argv=None):
    """Check the parsed options (argparse errors before any work), then run the demo.

    Parameters
    ----------
    args : argparse.Namespace
    parser : argparse.ArgumentParser
        Reports the errors.
    argv : list of str, optional
        The options as given (unused: the demo writes no file).

    Returns
    -------
    dict
        What :func:`run_demo` returns.

    Raises
    ------
    SystemExit
        Status 2 for a bad option (argparse); status 130 when a Ctrl-C stopped
        the fit (after the demo says where).
    """
    for option, subject in (("--source", args.source), ("--target", args.target)):
        if not 1 <= subject <= 30:
            parser.error(f"{option} {subject}: UCI-HAR subjects are 1..30")
    if args.source == args.target:
        parser.error("--source and --target are the same subject")
    check_device(parser, args.device)
    try:  # the subjects' data are there (the bundled ten, or the full file)
        load_uci_har(subjects=[args.source, args.target], split="test")
    except (OSError, ValueError) as exc:
        parser.error(f"--source {args.source} --target {args.target}: {exc}")
    result = run_demo(args.epochs, args.source, args.target, args.seed, args.device,
                      verbose=0 if args.quiet else 1)
    if "interrupted" in result:
        raise SystemExit(130)
    return result


def main(argv=None):
    """``skrcd demo [options]`` (``--help`` lists them); ``argv``: the options, ``sys.argv[1:]`` by default."""
    return command_main(build_parser, run, argv)

