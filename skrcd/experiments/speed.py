"""Speed benchmark: where a fit's time goes, measured on UCI-HAR 2 -> 11 at paper settings.

``skrcd benchmark speed`` times, in one process:
a teacher epoch, an RCD-KD student epoch (``selection="rl"``), and a plain-KD
student epoch that does the same forward/backward work (same episodes) without
selector, MC passes or rewards (``selection="all"``, the default), as medians of
the per-epoch durations recorded in ``history_`` after warm-up epochs. It prints
the ratios RCD-KD/plain-KD and RCD-KD/teacher, the student's ``predict``
throughput against the bare network's forward at the same batch size, and the
peak resident memory and time of a whole default fit (run in a child process).
``--busy`` repeats the epoch timings while another process keeps every core busy,
to choose thread defaults.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import time

import numpy as np
import torch

from .._device import torch_threads
from ..classifier import RCDKDClassifier
from ..datasets import load_scenario
from ._cli import (
    MAX_EPOCHS,
    MAX_WORKERS,
    add_param_option,
    bounded_int,
    check_data_home,
    check_device,
    check_out,
    command_line,
    command_main,
    command_parser,
    epochs_int,
    parse_ints,
    parse_param_options,
)

__all__ = ["epoch_times", "predict_throughput", "peak_memory_of_fit", "build_parser", "run", "main"]


def _median_dur(clf, stage, warmup):
    durs = [row["dur"] for row in clf.history_ if row["stage"] == stage][warmup:]
    return float(np.median(durs))


def epoch_times(epochs=6, warmup=2, n_threads=1, device="cpu", data_home=None, **params):
    """Median seconds per epoch of the teacher, RCD-KD student and plain-KD student stages.

    Parameters
    ----------
    epochs : int, default=6
        Epochs fitted per stage (the first ``warmup`` are not counted).
    warmup : int, default=2
    n_threads : int, default=1
    device : str, default="cpu"
    data_home : str, optional
    **params
        Further estimator parameters (e.g. ``teacher_refresh="episode"``).

    Returns
    -------
    dict
        ``teacher``, ``rcdkd``, ``plain_kd`` seconds per epoch, the fitted RCD-KD
        estimator under ``"estimator"`` and the target test windows under ``"X"``.
    """
    sc = load_scenario("uci_har", 2, 11, data_home=data_home)
    common = dict(random_state=0, n_threads=n_threads, device=device, verbose=0)
    rcd = RCDKDClassifier(teacher_epochs=epochs, student_epochs=epochs, selection="rl", **common, **params)
    rcd.fit(sc.X_src, sc.y_src, sc.X_tgt)
    plain = RCDKDClassifier(teacher=rcd.teacher_, discriminator=rcd.discriminator_, teacher_epochs=0,
                            student_epochs=epochs, selection="all", **common, **params)
    plain.fit(sc.X_src, sc.y_src, sc.X_tgt)
    return {
        "teacher": _median_dur(rcd, "teacher", warmup),
        "rcdkd": _median_dur(rcd, "student", warmup),
        "plain_kd": _median_dur(plain, "student", warmup),
        "estimator": rcd,
        "X": sc.X_test,
    }


def predict_throughput(clf, X, n_windows=16384, repeats=5):
    """Windows per second of ``clf.predict`` and of the bare student forward, same batch size.

    Parameters
    ----------
    clf : RCDKDClassifier
        A fitted estimator.
    X : numpy.ndarray of shape (n, channels, length)
        Windows, tiled to ``n_windows``.
    n_windows : int, default=16384
    repeats : int, default=5

    Returns
    -------
    dict
        ``predict`` and ``forward`` windows/s (best of ``repeats``).
    """
    big = np.ascontiguousarray(np.resize(X, (n_windows,) + X.shape[1:]).astype(np.float32))
    clf.predict(big[:64])
    best_predict = min(_timed(lambda: clf.predict(big)) for _ in range(repeats))
    device = next(clf.student_.parameters()).device
    if getattr(clf, "channel_mean_", None) is not None:  # what predict feeds the student: the windows standardised with the fitted statistics
        standardised = (big - clf.channel_mean_[None, :, None]) / clf.channel_std_[None, :, None]
    else:
        standardised = big
    xt = torch.from_numpy(np.ascontiguousarray(standardised, dtype=np.float32)).to(device)
    bs = clf.predict_batch_size

    def bare():
        with torch_threads(clf.n_threads), torch.inference_mode():
            for i in range(0, n_windows, bs):
                clf.student_(xt[i : i + bs])
            if device.type == "cuda":
                torch.cuda.synchronize()

    bare()
    best_forward = min(_timed(bare) for _ in range(repeats))
    return {"predict": n_windows / best_predict, "forward": n_windows / best_forward}


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def peak_memory_of_fit(epochs=80, n_threads=1, device="cpu", data_home=None, **params):
    """Peak resident memory (MiB) and wall time of a whole fit, run in a fresh child process.

    Parameters
    ----------
    epochs : int, default=80
        Epochs of each stage.
    n_threads : int, default=1
    device : str, default="cpu"
    data_home : str, optional
    **params
        Further estimator parameters (JSON values).

    Returns
    -------
    dict
        ``peak_rss_mib``, ``fit_seconds``, ``teacher_seconds``, ``student_seconds``.
    """
    settings = dict(teacher_epochs=epochs, student_epochs=epochs, random_state=0, n_threads=n_threads, device=device,
                    verbose=0, **params)
    out = subprocess.run([sys.executable, "-c", _FIT_IN_CHILD, json.dumps(data_home), json.dumps(settings)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# The child process of peak_memory_of_fit: argv = [data_home, estimator parameters], both JSON.
_FIT_IN_CHILD = """
import json, resource, sys, time
from skrcd import RCDKDClassifier
from skrcd.datasets import load_scenario
sc = load_scenario("uci_har", 2, 11, data_home=json.loads(sys.argv[1]))
clf = RCDKDClassifier(**json.loads(sys.argv[2]))
t = time.perf_counter()
clf.fit(sc.X_src, sc.y_src, sc.X_tgt)
wall = time.perf_counter() - t
print(json.dumps(dict(peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, fit_seconds=wall,
                      teacher_seconds=clf.fit_time_["teacher"], student_seconds=clf.fit_time_["student"])))
"""


#: The estimator parameters the speed benchmark sets itself (``--param`` may not): parameter -> how to set it.
RESERVED_PARAMS = {
    "random_state": "fixed at 0",
    "n_threads": "use --threads",
    "device": "use --device",
    "teacher_epochs": "use --epochs and --full-fit-epochs",
    "student_epochs": "use --epochs and --full-fit-epochs",
    "teacher": "the plain-KD run distils the RCD-KD run's teacher",
    "discriminator": "the plain-KD run distils the RCD-KD run's teacher",
    "selection": "RCD-KD's selection is timed against selection='all'",
    "verbose": "silent: a progress bar would be timed too",
}


def _burn(stop_at):
    while time.time() < stop_at:
        sum(i * i for i in range(10_000))


def build_parser(parser=None):
    """The options of ``skrcd benchmark speed``, added to ``parser`` (a new parser when None).

    Parameters
    ----------
    parser : argparse.ArgumentParser, optional

    Returns
    -------
    argparse.ArgumentParser
    """
    p = command_parser(parser, "benchmark speed", __doc__)
    p.add_argument("--epochs", type=epochs_int, default=6,
                   help=f"epochs per stage for the per-epoch timings, 1 to {MAX_EPOCHS} (default 6)")
    p.add_argument("--warmup", type=bounded_int(0, MAX_EPOCHS), default=2,
                   help="first epochs of each stage left out of the medians (default 2; fewer than --epochs)")
    p.add_argument("--threads", default="1",
                   help=f"comma-separated torch thread counts to compare, 1 to {MAX_WORKERS}, e.g. 1,2")
    p.add_argument("--busy", action="store_true", help="also time with every core kept busy by other processes")
    p.add_argument("--full-fit-epochs", type=bounded_int(0, MAX_EPOCHS), default=80,
                   help="epochs per stage of the whole-fit run (default 80; 0: skip it)")
    p.add_argument("--device", default="cpu", help="'cpu' (default), 'cuda', 'cuda:1', 'auto', ...")
    p.add_argument("--data-home", default=None, help="folder of the full UCI-HAR file (default: the bundled subset)")
    p.add_argument("--out", default=None, help="folder for speed.json and speed.md (default: print only)")
    add_param_option(p, example="selector_hidden=1024")
    return p


def main(argv=None):
    """``skrcd benchmark speed [options]`` (``--help`` lists them); ``argv``: the options, ``sys.argv[1:]`` by
    default."""
    return command_main(build_parser, run, argv)


def run(a, p, argv):
    """Check the parsed options (argparse errors before any work or file), then time.

    Parameters
    ----------
    a : argparse.Namespace
    p : argparse.ArgumentParser
        Reports the errors.
    argv : list of str
        The options as given (recorded in ``speed.md``).
    """
    threads_list = parse_ints(p, a.threads, "--threads", minimum=1, maximum=MAX_WORKERS)
    if a.warmup >= a.epochs:
        p.error(f"--warmup {a.warmup} leaves no epoch to time out of --epochs {a.epochs}")
    check_device(p, a.device)
    check_out(p, a.out)
    check_data_home(p, a.data_home)
    params = parse_param_options(p, a.param, RESERVED_PARAMS)
    lines = [
        f"Command: `{command_line('benchmark speed', argv)}`",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, device {a.device}"
        + (f" ({torch.cuda.get_device_name()})" if a.device.startswith("cuda") else ""),
        f"Selector: {params.get('selector_hidden', RCDKDClassifier().selector_hidden)} hidden units; "
        f"parameters other than the defaults: {params or 'none'}",
        "",
        "| threads | load | teacher epoch (s) | RCD-KD student epoch (s) | plain-KD epoch (s) | RCD-KD / plain-KD "
        "| RCD-KD / teacher |",
        "|---|---|---|---|---|---|---|",
    ]
    results = {"runs": []}
    last = None
    for load in ["idle"] + (["busy"] if a.busy else []):
        for threads in threads_list:
            burners = []
            if load == "busy":
                stop_at = time.time() + 3600
                burners = [mp.Process(target=_burn, args=(stop_at,), daemon=True) for _ in range(os.cpu_count() or 1)]
                for b in burners:
                    b.start()
            try:
                r = epoch_times(a.epochs, a.warmup, threads, a.device, a.data_home, **params)
            finally:
                for b in burners:
                    b.terminate()
            last = r
            row = {k: r[k] for k in ("teacher", "rcdkd", "plain_kd")}
            row.update(threads=threads, load=load)
            results["runs"].append(row)
            lines.append(f"| {threads} | {load} | {r['teacher']:.3f} | {r['rcdkd']:.3f} | {r['plain_kd']:.3f} | "
                         f"{r['rcdkd'] / r['plain_kd']:.2f} | {r['rcdkd'] / r['teacher']:.2f} |")
            print(lines[-1], flush=True)
    tp = predict_throughput(last["estimator"], last["X"])
    results["throughput"] = tp
    lines += ["", f"Student predict: {tp['predict']:,.0f} windows/s; bare student forward: {tp['forward']:,.0f} "
              f"windows/s ({100 * tp['predict'] / tp['forward']:.0f} %), batch {last['estimator'].predict_batch_size}"]
    print(lines[-1], flush=True)
    if a.full_fit_epochs:
        mem = peak_memory_of_fit(a.full_fit_epochs, threads_list[0], a.device, a.data_home, **params)
        results["full_fit"] = mem
        lines += [f"Whole fit at {a.full_fit_epochs} + {a.full_fit_epochs} epochs: {mem['fit_seconds']:.1f} s "
                  f"(teacher {mem['teacher_seconds']:.1f} s, student {mem['student_seconds']:.1f} s), "
                  f"peak resident memory {mem['peak_rss_mib']:.0f} MiB"]
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        with open(os.path.join(a.out, "speed.md"), "w") as f:
            f.write(text)
        with open(os.path.join(a.out, "speed.json"), "w") as f:
            json.dump(results, f, indent=2)
    print(text)

