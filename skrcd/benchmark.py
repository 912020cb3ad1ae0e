"""Paper-protocol benchmark: methods x scenarios x seeds on real data.

``python -m skrcd.benchmark`` (or ``skrcd benchmark``) fits each method on each
scenario and seed under the paper protocol (labelled source train part,
unlabelled target train part, macro-F1 on the target's whole test part) and writes
``runs.csv`` (one row per run) and ``results.md`` (mean ± std over seeds) to
``--out``. The ``rcdkd`` method also reports its teacher (``teacher`` rows).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shlex
import sys
import time

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from .baselines import AADClassifier, DANNStudentClassifier, MobileDAClassifier, SourceOnlyClassifier
from .classifier import RCDKDClassifier
from .selection import SelectRandom
from .datasets import PAPER_SCENARIOS, load_scenario

__all__ = ["METHODS", "run_one", "summarise", "main"]

#: Method name -> (estimator class, parameters overriding the defaults).
METHODS = {
    "rcdkd": (RCDKDClassifier, {}),
    "rcdkd_unc": (RCDKDClassifier, {"alpha2": 0.0}),  # uncertainty-consistency reward only
    "rcdkd_tr": (RCDKDClassifier, {"alpha1": 0.0}),  # transferability reward only
    "kd_all": (RCDKDClassifier, {"selection": "all"}),
    "kd_random": (RCDKDClassifier, {}),  # selection set per run: the rcdkd run's per-epoch rate
    "source_only": (SourceOnlyClassifier, {}),
    "dann_student": (DANNStudentClassifier, {}),
    "mobileda": (MobileDAClassifier, {}),
    "aad": (AADClassifier, {}),
}


def run_one(method, dataset, source, target, seed, epochs=None, data_home=None, n_threads=1, device="cpu",
            extra_params=None, history_dir=None):
    """Fit one method on one scenario and seed; return result rows.

    Parameters
    ----------
    method : str
        A key of :data:`METHODS`.
    dataset : str
        ``"uci_har"``.
    source, target : int
        Scenario domains.
    seed : int
        ``random_state`` of the estimator.
    epochs : int, optional
        Epochs of every stage (the paper's 80 when None).
    data_home : str, optional
        Where the full data file lies (the bundled subset otherwise).
    n_threads : int, default=1
    device : str, default="cpu"
    extra_params : dict, optional
        Further estimator parameters.
    history_dir : str, optional
        Folder where the run's ``history_`` is written as JSON
        (``{method}_{scenario}_seed{seed}.json``: losses, selected fraction, reward per epoch).

    Returns
    -------
    list of dict
        One row for the method (and one for its teacher when it has one), with
        macro-F1 and accuracy x 100 on the target test part, stage fit times and
        parameter counts.

    Examples
    --------
    >>> rows = run_one("source_only", "uci_har", 2, 11, seed=0, epochs=1)
    >>> [(r["method"], r["scenario"], r["params"]) for r in rows]
    [('source_only', '2-11', 13366)]
    >>> 0 <= rows[0]["macro_f1"] <= 100
    True
    """
    cls, params = METHODS[method]
    params = dict(params, **(extra_params or {}))
    if epochs is not None:
        params.update(teacher_epochs=epochs, student_epochs=epochs)
    sc = load_scenario(dataset, source=source, target=target, data_home=data_home)
    clf = cls(random_state=seed, n_threads=n_threads, device=device, **params)
    t0 = time.perf_counter()
    clf.fit(sc.X_src, sc.y_src, sc.X_tgt)
    wall = time.perf_counter() - t0
    base = {"dataset": dataset, "scenario": f"{source}-{target}", "seed": seed}
    if history_dir is not None:
        os.makedirs(history_dir, exist_ok=True)
        with open(os.path.join(history_dir, f"{method}_{source}-{target}_seed{seed}.json"), "w") as f:
            json.dump(list(clf.history_), f)
    rows = []
    for net, name in (("student", method), ("teacher", "teacher")):
        if getattr(clf, net + "_", None) is None:
            continue
        pred = clf.predict(sc.X_test, network=net)
        rows.append(dict(
            base, method=name,
            macro_f1=100 * f1_score(sc.y_test, pred, average="macro"),
            accuracy=100 * accuracy_score(sc.y_test, pred),
            params=clf.n_parameters_[net],
            fit_time_teacher=clf.fit_time_.get("teacher", 0.0),
            fit_time_student=clf.fit_time_.get("student", 0.0),
            fit_time_total=wall,
            selected_last=_last(clf, "selected"),
            selected_per_epoch=" ".join(
                f"{row['selected']:.4f}" for row in clf.history_ if row["stage"] == "student" and "selected" in row
            ),
        ))
        if method != "rcdkd":
            break  # other methods' teachers (if any) are not reported
    return rows


def _last(clf, key):
    vals = [row[key] for row in clf.history_ if key in row]
    return float(np.mean(vals[-10:])) if vals else float("nan")


def summarise(rows):
    """Markdown table: macro-F1 (mean ± std over seeds) per method and scenario, plus the mean.

    Parameters
    ----------
    rows : list of dict
        Rows from :func:`run_one`.

    Returns
    -------
    str

    Examples
    --------
    >>> rows = [dict(method="m", scenario="2-11", seed=s, macro_f1=90.0 + s, accuracy=91.0) for s in (0, 1)]
    >>> print(summarise(rows).splitlines()[2])
    | m | 90.50 ± 0.71 | 90.50 ± 0.71 | 91.00 |
    """
    methods = list(dict.fromkeys(r["method"] for r in rows))
    scenarios = list(dict.fromkeys(r["scenario"] for r in rows))
    head = "| method | " + " | ".join(scenarios) + " | mean macro-F1 | mean accuracy |"
    lines = [head, "|" + "---|" * (len(scenarios) + 3)]
    for m in methods:
        cells = []
        for s in scenarios:
            v = [r["macro_f1"] for r in rows if r["method"] == m and r["scenario"] == s]
            cells.append(_fmt(v))
        # mean over scenarios per seed, then mean ± std over seeds
        seeds = sorted({r["seed"] for r in rows if r["method"] == m})
        per_seed = [np.mean([r["macro_f1"] for r in rows if r["method"] == m and r["seed"] == sd]) for sd in seeds]
        acc = np.mean([r["accuracy"] for r in rows if r["method"] == m])
        lines.append(f"| {m} | " + " | ".join(cells) + f" | {_fmt(per_seed)} | {acc:.2f} |")
    return "\n".join(lines)


def _fmt(values):
    if not values:
        return "-"
    sd = np.std(values, ddof=1) if len(values) > 1 else 0.0
    return f"{np.mean(values):.2f} ± {sd:.2f}"


def _parse_scenarios(text):
    if text == "paper":
        return list(PAPER_SCENARIOS)
    out = []
    for part in text.split(","):
        s, t = part.split("-")
        out.append((int(s), int(t)))
    return out


def main(argv=None):
    """Command-line entry: ``skrcd benchmark [--scenarios ...] [--seeds ...] [--methods ...]``.

    ``skrcd benchmark speed ...`` runs the speed benchmark (:mod:`skrcd.speed`).

    Parameters
    ----------
    argv : list of str, optional
        Options (``--help`` lists them); ``sys.argv[1:]`` by default.

    Examples
    --------
    >>> import contextlib, io, os, tempfile
    >>> out = tempfile.mkdtemp()
    >>> with contextlib.redirect_stdout(io.StringIO()):  # one line per run, then the table
    ...     main(["--scenarios", "2-11", "--seeds", "0", "--methods", "source_only", "--epochs", "1",
    ...           "--out", out])
    >>> {"runs.csv", "results.md"} <= set(os.listdir(out))
    True
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["speed"]:
        from .speed import main as speed_main

        return speed_main(argv[1:])
    p = argparse.ArgumentParser(prog="skrcd benchmark", description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="uci_har")
    p.add_argument("--scenarios", default="2-11", help="'2-11,7-13' or 'paper'")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--methods", default="rcdkd,source_only", help=",".join(METHODS))
    p.add_argument("--epochs", type=int, default=None, help="epochs of every stage (default: the paper's 80)")
    p.add_argument("--data-home", default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="benchmark_out")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="estimator parameter for every method, e.g. --param standardize='\"joint\"' "
                        "(VALUE is read as JSON, else as a string); repeatable")
    a = p.parse_args(argv)
    params = {}
    for item in a.param:
        name, _, value = item.partition("=")
        try:
            params[name] = json.loads(value)
        except json.JSONDecodeError:
            params[name] = value
    os.makedirs(a.out, exist_ok=True)
    rows = []
    for method in a.methods.split(","):  # fail before any run
        if method not in METHODS:
            p.error(f"unknown method {method!r}; available: {', '.join(METHODS)}")
    methods = a.methods.split(",")
    if "kd_random" in methods and ("rcdkd" not in methods or methods.index("rcdkd") > methods.index("kd_random")):
        p.error("kd_random uses the per-epoch selection rate of the rcdkd run: list rcdkd before it in --methods")
    for source, target in _parse_scenarios(a.scenarios):
        for seed in [int(s) for s in a.seeds.split(",")]:
            rates = None
            for method in methods:
                extra = dict(params)
                if method == "kd_random":
                    extra["selection"] = SelectRandom(rate=rates)
                new = run_one(method, a.dataset, source, target, seed, a.epochs, a.data_home, a.threads, a.device,
                              extra, history_dir=os.path.join(a.out, "histories"))
                if method == "rcdkd":
                    rates = [float(v) for v in new[0]["selected_per_epoch"].split()] or [0.5]
                for r in new:
                    print(f"{r['scenario']:>6} seed {seed} {r['method']:<12} macro-F1 {r['macro_f1']:6.2f} "
                          f"acc {r['accuracy']:6.2f}  fit {r['fit_time_total']:.1f} s "
                          f"(teacher {r['fit_time_teacher']:.1f} s, student {r['fit_time_student']:.1f} s)",
                          flush=True)
                rows.extend(new)
    with open(os.path.join(a.out, "runs.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    table = summarise(rows)
    command = "python -m skrcd.benchmark " + " ".join(shlex.quote(x) for x in argv)
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write(f"Command: `{command}`\n\nMachine: {platform.machine()}, {os.cpu_count()} CPUs, "
                f"{platform.python_implementation()} {platform.python_version()}\n\n"
                "Macro-F1 x 100 on the target test part, mean ± std over seeds.\n\n" + table + "\n")
    print(table)


if __name__ == "__main__":
    main()
