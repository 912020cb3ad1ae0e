"""Paper-protocol benchmark: methods x scenarios x seeds on real data.

``skrcd benchmark`` fits each method on each
scenario and seed under the paper protocol (labelled source train part,
unlabelled target train part, macro-F1 on the target's whole test part).

The teacher is fitted once per scenario and seed (the ``teacher`` row) and shared
by every method that distils one (:data:`TEACHER_METHODS`): they receive the
trained teacher and its trained domain discriminator with ``teacher_epochs=0``.
Runs go through joblib (``--n-jobs``, ``--backend loky|threading|dask|ray``,
``--scheduler`` for a dask cluster) in three phases: the teachers, then every run
but ``kd_random``, then ``kd_random`` (which replays the per-epoch selected
fraction of the ``rcdkd`` run of the same scenario and seed).

Outputs in ``--out``: ``settings.json`` (what every run of the folder shares: the
data set, ``--epochs``, ``--param``, the variants and the skrcd version),
``runs.csv`` (one row per run, appended as runs finish; ``--resume`` skips the
runs it holds, and refuses a folder whose ``settings.json`` differs from the
command's), ``results.md`` (macro-F1 and accuracy, mean ± std over seeds, of
every run in ``runs.csv``), ``histories/*.json`` (each run's ``history_``),
``teachers/*.skrcd`` (the shared teachers, reused by ``--resume``) and, with
matplotlib, ``bars.png`` and ``rcdkd_curves.png``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import itertools
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from ..baselines import AADClassifier, DANNStudentClassifier, MobileDAClassifier, SourceOnlyClassifier
from ..classifier import PAPER_PARAMS, RCDKDClassifier
from ..datasets import (
    ADATIME_DATASETS,
    CWRU_SCENARIOS,
    DATASET_DOMAINS,
    PAPER_SCENARIOS,
    SKEWED_DATASETS,
    load_dataset,
    load_scenario,
)
from ..selection import SelectRandom
from ..selection.record import recent_share
from .._parameters import TEACHER, parameters_of_stage
from .._version import __version__
from ._cli import (
    MAX_EPOCHS,
    MAX_WORKERS,
    add_param_option,
    check_data_home,
    check_device,
    check_out,
    command_line,
    command_main,
    command_parser,
    epochs_int,
    parse_param_options,
    parse_seeds,
)
from .results import FIELDS, append_runs, read_runs, summarise, summarise_paired

__all__ = ["METHODS", "TEACHER_METHODS", "DATASET_PARAMS", "DATASET_EPOCHS", "SCENARIOS", "build_parser", "run",
           "main"]

#: Method name -> (estimator class, parameters overriding the defaults).
METHODS = {
    "rcdkd": (RCDKDClassifier, {"selection": "rl"}),  # the reinforced selection (the default distils every window)
    "rcdkd_unc": (RCDKDClassifier, {"selection": "rl", "alpha2": 0.0}),  # uncertainty-consistency reward only
    "rcdkd_tr": (RCDKDClassifier, {"selection": "rl", "alpha1": 0.0}),  # transferability reward only
    "kd_all": (RCDKDClassifier, {"selection": "all"}),
    "kd_random": (RCDKDClassifier, {}),  # selection set per run: the rcdkd run's per-epoch rate
    "kd_conf": (RCDKDClassifier, {"selection": "confident"}),  # the teacher's surest 70 % of each class
    "rcdkd_paper": (RCDKDClassifier, dict(PAPER_PARAMS)),  # the paper's configuration, with its own teacher
    "source_only": (SourceOnlyClassifier, {}),
    "dann_student": (DANNStudentClassifier, {}),
    "mobileda": (MobileDAClassifier, {}),
    "aad": (AADClassifier, {}),
}
#: Methods that distil a teacher: the benchmark fits one per scenario and seed and shares it among them.
TEACHER_METHODS = ("rcdkd", "rcdkd_unc", "rcdkd_tr", "kd_all", "kd_random", "kd_conf", "mobileda", "aad")
#: Estimator parameters of each data set, applied before the ``--param`` overrides: the first convolution and
#: the batch of the RCD-KD authors' per-set configuration (their public code, ``configs/``), which follow the
#: windows' shape. ``kernel_size``/``stride`` only set the first convolution of the CNNs (teacher and student);
#: the later ones keep kernel 8, stride 1. UCI-HAR, HHAR and WISDM (128 steps): kernel 5, stride 1, the
#: defaults. FD (5120 steps) and CWRU (1024, not in the paper; the FD setting): kernel 32, stride 6. SSC (3000
#: steps of EEG): kernel 25, stride 6, dropout 0.2, batch 128. The authors' per-set loss weights and
#: temperatures are not applied (skrcd's defaults were chosen on UCI-HAR and CWRU): ``docs/reproduce.md`` lists
#: them as ``--param`` options.
DATASET_PARAMS = {
    "uci_har": {},
    "cwru": {"kernel_size": 32, "stride": 6},
    "hhar": {},
    "wisdm": {},
    "fd": {"kernel_size": 32, "stride": 6},
    "ssc": {"kernel_size": 25, "stride": 6, "dropout": 0.2, "batch_size": 128},
}
DATASET_PARAMS.update({name: DATASET_PARAMS[base] for name, base in SKEWED_DATASETS.items()})
#: Epochs per stage of each data set when ``--epochs`` is not given: 80 for the paper's four sets (the
#: authors' code trains every set 80 + 80 epochs); WISDM, not in the paper: AdaTime's 40; CWRU, not in the
#: paper: 40, chosen without target labels from the teacher's source-test macro-F1 per epoch (README).
DATASET_EPOCHS = {"uci_har": 80, "hhar": 80, "fd": 80, "ssc": 80, "wisdm": 40, "cwru": 40}
DATASET_EPOCHS.update({name: DATASET_EPOCHS[base] for name, base in SKEWED_DATASETS.items()})
#: Named scenario lists of each data set (``--scenarios paper`` / ``adatime`` / ``all``), the first of each
#: data set's first list being the default. UCI-HAR ``all``: the paper's five scenarios and their reverses (ten,
#: all within the bundled subjects); CWRU and FD ``all``: the 12 ordered pairs of loads or working conditions;
#: ``adatime``: AdaTime's ten (Ragab et al., 2023); ``paper``: the RCD-KD paper's five (WISDM has none: it is
#: not in the paper).
SCENARIOS = {
    "uci_har": {"paper": tuple(PAPER_SCENARIOS),
                "all": tuple(PAPER_SCENARIOS) + tuple((t, s) for s, t in PAPER_SCENARIOS),
                "adatime": ADATIME_DATASETS["uci_har"].scenarios["adatime"]},
    "cwru": {"paper": tuple(CWRU_SCENARIOS), "all": tuple(itertools.permutations(DATASET_DOMAINS["cwru"], 2))},
}
SCENARIOS.update({name: dict(ADATIME_DATASETS[name].scenarios) for name in ("hhar", "wisdm", "fd", "ssc")})
SCENARIOS["fd"]["all"] = tuple(itertools.permutations(DATASET_DOMAINS["fd"], 2))
SCENARIOS.update({name: SCENARIOS[base] for name, base in SKEWED_DATASETS.items()})
_DOMAINS = {name: DATASET_DOMAINS[SKEWED_DATASETS.get(name, name)] for name in DATASET_PARAMS}
_BACKENDS = ("loky", "threading", "multiprocessing", "sequential", "dask", "ray")


def _worker_name():
    """The dask worker running this job, else ``host:pid``."""
    distributed = sys.modules.get("distributed")
    if distributed is not None:
        try:
            return distributed.get_worker().address
        except ValueError:  # not in a dask worker
            pass
    return f"{platform.node()}:{os.getpid()}"


def _fit_and_score(method, dataset, source, target, seed, epochs=None, data_home=None, n_threads=1, device="cpu",
                   extra_params=None, shared_teacher=None, random_state=None):
    """Fit one run; return ``(rows, history, estimator)``.

    ``method="teacher"`` fits the teacher stage only (``student_epochs=0``);
    ``shared_teacher`` (a dict with ``teacher``, ``discriminator``, ``fit_time``) is
    passed to the estimator as trained (``teacher_epochs=0``). A method that is not
    in :data:`METHODS` is a variant of ``rcdkd`` whose parameters are in
    ``extra_params``. The estimator's ``random_state`` is ``seed`` (which also draws
    the skewed data sets' subsets) unless ``random_state`` is given.
    """
    if method == "teacher":
        cls, method_params = RCDKDClassifier, {}
    else:
        cls, method_params = METHODS.get(method, METHODS["rcdkd"])
    per_set = DATASET_EPOCHS[dataset]  # --epochs, then --param, then the data set's epochs
    params = {"verbose": 0, **method_params, **DATASET_PARAMS[dataset], "teacher_epochs": per_set,
              "student_epochs": per_set, **(extra_params or {})}  # verbose: the benchmark draws its own bar
    if epochs is not None:
        params.update(teacher_epochs=epochs, student_epochs=epochs)
    if method == "teacher":  # no student stage; "all" skips the selector and the teacher's MC statistics
        params.update(student_epochs=0, selection="all")
    if shared_teacher is not None:
        params.update(teacher=shared_teacher["teacher"], discriminator=shared_teacher["discriminator"],
                      teacher_epochs=0)
    sc = load_scenario(dataset, source=source, target=target, data_home=data_home, seed=seed)
    clf = cls(random_state=seed if random_state is None else random_state, n_threads=n_threads, device=device, **params)
    t0 = time.perf_counter()
    clf.fit(sc.X_src, sc.y_src, sc.X_tgt)
    wall = time.perf_counter() - t0
    if getattr(clf, "interrupted_", None) is not None:  # Ctrl-C in this process: stop, record no partial run
        raise KeyboardInterrupt(f"{method} on {dataset} {source}-{target} seed {seed} was interrupted")
    base = {"dataset": dataset, "scenario": f"{source}-{target}", "seed": seed}
    teacher_time = shared_teacher["fit_time"] if shared_teacher is not None else clf.fit_time_.get("teacher", 0.0)
    if shared_teacher is None and getattr(clf, "teacher_", None) is None:
        teacher_time = 0.0
    networks = [("teacher", "teacher")] if method == "teacher" else [("student", method)]
    if method == "rcdkd" and shared_teacher is None:  # a stand-alone RCD-KD run also reports its own teacher
        networks.append(("teacher", "teacher"))
    rows = []
    for net, name in networks:
        pred = clf.predict(sc.X_test, network=net)
        student_time = 0.0 if name == "teacher" else clf.fit_time_.get("student", 0.0)
        rows.append(dict(
            base, method=name,
            **_scores(sc.y_test, pred, sc.w_test, clf.classes_),
            params=int(clf.n_parameters_[net]),
            fit_time_teacher=teacher_time,
            fit_time_student=student_time,
            fit_time_total=wall + (shared_teacher["fit_time"] if shared_teacher is not None else 0.0),
            selected_last=_last(clf, "selected") if name != "teacher" else float("nan"),
            selected_per_epoch=" ".join(
                f"{row['selected']:.4f}" for row in clf.history_ if row["stage"] == "student" and "selected" in row
            ) if name != "teacher" else "",
            selected_by_class=_selected_by_class(clf, sc.y_tgt) if name != "teacher" else "",
            worker=_worker_name(),
        ))
    return rows, [dict(r) for r in clf.history_], clf


def _scores(y_true, y_pred, weights, classes):
    """Macro-F1 and accuracy x 100 (weighted with ``weights`` when given), unweighted macro-F1, per-class recall.

    With weights, the macro average runs over the classes that have weight in the
    truth or the predictions: a class absent from the weighted target counts only
    where it is predicted (as a zero), as on a target that lacks it.
    """
    from sklearn.metrics import recall_score

    whole = 100 * f1_score(y_true, y_pred, average="macro")
    recall = recall_score(y_true, y_pred, labels=classes, average=None, zero_division=np.nan)
    out = dict(macro_f1=whole, accuracy=100 * accuracy_score(y_true, y_pred), macro_f1_whole=whole,
               recall=" ".join(f"{100 * r:.1f}" for r in recall))
    if weights is not None:
        kept = weights > 0
        labels = np.union1d(y_true[kept], y_pred[kept])
        out.update(macro_f1=100 * f1_score(y_true, y_pred, labels=labels, average="macro", sample_weight=weights),
                   accuracy=100 * accuracy_score(y_true, y_pred, sample_weight=weights))
    return out


def _selected_by_class(clf, y_tgt, window=10):
    """The share of each true target class's windows selected over the last ``window`` student epochs (diagnosis)."""
    record = getattr(clf, "selection_record_", None)
    if record is None or y_tgt is None or not len(record["selected"]):
        return ""
    per_window = recent_share(record["selected"], window)
    y = np.asarray(y_tgt)
    cells = []
    for c in range(len(clf.classes_)):
        vals = per_window[(y == c) & np.isfinite(per_window)]
        cells.append(f"{vals.mean():.3f}" if len(vals) else "nan")
    return " ".join(cells)


def _history_path(history_dir, method, scenario, seed):
    return os.path.join(history_dir, f"{method}_{scenario}_seed{seed}.json")


def _write_history(history_dir, method, scenario, seed, history):
    os.makedirs(history_dir, exist_ok=True)
    with open(_history_path(history_dir, method, scenario, seed), "w") as f:
        json.dump(history, f)


def _last(clf, key):
    vals = [row[key] for row in clf.history_ if key in row]
    return float(np.mean(vals[-10:])) if vals else float("nan")


def _parse_scenarios(text, dataset):
    """``"2-11,7-13"`` or a list name (``"paper"``, ...) -> list of (source, target); ValueError naming the problem.

    None is the first scenario of the data set's first list.
    """
    named = SCENARIOS[dataset]
    if text is None:
        return [next(iter(named.values()))[0]]
    if text in named:
        return list(named[text])
    out = []
    valid = _DOMAINS[dataset]
    lists = ", ".join(f"'{name}'" for name in named)
    for part in text.split(","):
        pieces = part.strip().split("-")
        if len(pieces) != 2 or not all(p.strip().isdigit() for p in pieces):
            hint = f"; {dataset} has no list {part!r}" if part.isidentifier() else ""
            raise ValueError(f"--scenarios: {part!r} is not SOURCE-TARGET (e.g. '2-11,7-13') or a list of {dataset} "
                             f"({lists}){hint}")
        s, t = (int(p) for p in pieces)
        for d in (s, t):
            if d not in valid:
                raise ValueError(f"--scenarios: {d} in {part!r} is not a domain of {dataset} "
                                 f"(valid: {min(valid)}..{max(valid)})")
        if s == t:
            raise ValueError(f"--scenarios: {part!r} has the same source and target")
        out.append((s, t))
    return list(dict.fromkeys(out))


def build_parser(parser=None):
    """The options of ``skrcd benchmark``, added to ``parser`` (a new parser when None).

    Parameters
    ----------
    parser : argparse.ArgumentParser, optional

    Returns
    -------
    argparse.ArgumentParser
    """
    p = command_parser(parser, "benchmark", __doc__)
    p.epilog = _scenario_listing()
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("--dataset", default="uci_har", choices=sorted(DATASET_PARAMS),
                   help="data set of the scenarios (default uci_har); the data file of each: uci_har (10 subjects "
                        "bundled), cwru (fetch_cwru), hhar, wisdm, fd, ssc (fetch_adatime): see the README")
    p.add_argument("--scenarios", default=None,
                   help="SOURCE-TARGET pairs ('2-11,7-13') or a named list of the data set, listed below: 'paper' "
                        "(the RCD-KD paper's), 'adatime' (AdaTime's ten), 'all'; default: the first scenario of "
                        "the data set's first list")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated random_state values (default 0,1,2)")
    p.add_argument("--methods", default="rcdkd,source_only",
                   help="comma-separated methods (default rcdkd,source_only) from: " + ",".join(METHODS)
                        + "; 'teacher' alone fits the shared teachers only. rcdkd is the reinforced selection "
                        "(selection='rl'); kd_all, every window distilled, is the estimator's default")
    p.add_argument("--epochs", type=epochs_int, default=None,
                   help=f"epochs of every stage, 1 to {MAX_EPOCHS} (default: the data set's, DATASET_EPOCHS: 80 for "
                        "the paper's sets, 40 for wisdm and cwru)")
    p.add_argument("--data-home", default=None, help="folder of the full data files (see get_data_home)")
    p.add_argument("--threads", type=int, default=1, help=f"torch threads of each run, 1 to {MAX_WORKERS} (default 1)")
    p.add_argument("--device", default="cpu", help="'cpu' (default), 'cuda', 'cuda:1', 'auto', ...")
    p.add_argument("--n-jobs", type=int, default=1, help="runs in parallel (joblib's n_jobs)")
    p.add_argument("--backend", default="loky", choices=_BACKENDS,
                   help="joblib backend; dask uses --scheduler's cluster (or a local one of --n-jobs "
                        "workers) and all its worker threads, whatever --n-jobs (joblib runs in this process "
                        "when the cluster has a single thread); ray needs ray installed")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS", help="dask scheduler (with --backend dask)")
    p.add_argument("--out", default="benchmark_out",
                   help="output folder, created if missing (default benchmark_out)")
    p.add_argument("--baselines", default="kd_all,kd_random",
                   help="methods the others are compared with, pair by pair (same scenario, seed and shared teacher), "
                        "in results.md and on the terminal; those not in --methods are skipped")
    p.add_argument("--resume", action="store_true",
                   help="keep --out/runs.csv and skip the runs it holds (same dataset, scenario, seed, method); "
                        "refused when --out/settings.json records another --dataset, --epochs, --param, the same "
                        "--variant name with other parameters, or another skrcd version")
    p.add_argument("--variant", action="append", default=[], metavar="NAME:PARAM=VALUE",
                   help="a variant of rcdkd (selection='rl') run as one more method on the same shared teacher, "
                        "e.g. --variant "
                        "kd_plain:source_ce_weight=0; repeat the NAME to give it several parameters (student-stage "
                        "parameters only: the teacher is shared)")
    add_param_option(p)
    return p


def _scenario_listing():
    """The ``--help`` epilog: every data set's named scenario lists, its default epochs and parameters."""
    lines = ["scenario lists (--scenarios NAME), per --dataset:"]
    for dataset, named in SCENARIOS.items():
        if dataset in SKEWED_DATASETS:
            continue
        params = ", ".join(f"{k}={v}" for k, v in DATASET_PARAMS[dataset].items()) or "defaults"
        lines.append(f"  {dataset} ({DATASET_EPOCHS[dataset]} epochs per stage; {params}):")
        for name, pairs in named.items():
            text = " ".join(f"{s}-{t}" for s, t in pairs) if len(pairs) <= 10 else f"{len(pairs)} ordered pairs"
            lines.append(f"    {name:<8} {text}")
    lines.append("  " + ", ".join(SKEWED_DATASETS) + ": the lists of " + ", ".join(SKEWED_DATASETS.values()))
    return "\n".join(lines)


#: The former name of :func:`build_parser`.
_parser = build_parser


def _check_args(p, a):
    """Validate the options (argparse errors before any run or file); return methods, scenarios, seeds."""
    methods = [m.strip() for m in a.methods.split(",") if m.strip()]
    for method in methods:
        if method not in METHODS and method != "teacher":
            p.error(f"unknown method {method!r}; available: {', '.join(METHODS)}")
    if not methods:
        p.error("--methods is empty")
    if "kd_random" in methods and ("rcdkd" not in methods or methods.index("rcdkd") > methods.index("kd_random")):
        p.error("kd_random uses the per-epoch selection rate of the rcdkd run: list rcdkd before it in --methods")
    methods = list(dict.fromkeys(methods))
    for name in _parse_variants(p, a.variant):
        if name not in methods:
            methods.append(name)
    try:
        scenarios = _parse_scenarios(a.scenarios, a.dataset)
    except ValueError as exc:
        p.error(str(exc))
    seeds = parse_seeds(p, a.seeds)
    for name in ("threads", "n_jobs"):
        if getattr(a, name) < 1 and not (name == "n_jobs" and getattr(a, name) == -1):
            p.error(f"--{name.replace('_', '-')} must be >= 1" + (" or -1" if name == "n_jobs" else ""))
        if getattr(a, name) > MAX_WORKERS:
            p.error(f"--{name.replace('_', '-')} must be <= {MAX_WORKERS}")
    check_device(p, a.device)
    check_out(p, a.out)
    check_data_home(p, a.data_home)
    if a.scheduler is not None and a.backend != "dask":
        p.error("--scheduler needs --backend dask")
    if a.backend == "dask" and not all(importlib.util.find_spec(m) for m in ("dask", "distributed")):
        p.error("--backend dask needs dask and distributed: pip install -e '.[dask]'")
    if a.backend == "ray" and importlib.util.find_spec("ray") is None:
        p.error("--backend ray needs ray: pip install 'ray[default]'")
    domains = sorted({d for sc in scenarios for d in sc})
    try:  # the data are there (one read of the test parts of every domain); the message names the fetch call
        load_dataset(SKEWED_DATASETS.get(a.dataset, a.dataset), domains=domains, split="test", data_home=a.data_home)
    except (OSError, ValueError) as exc:
        p.error(f"--dataset {a.dataset}: {exc}")
    return methods, scenarios, seeds


def _reserved_params(a):
    """The estimator parameters each run gets from an option: ``--param`` may not set them."""
    reserved = {"random_state": "use --seeds", "n_threads": "use --threads", "device": "use --device"}
    if a.epochs is not None:
        reserved.update(teacher_epochs="use --epochs, or --param without --epochs",
                        student_epochs="use --epochs, or --param without --epochs")
    return reserved


#: The file of ``--out`` that records the settings its runs share.
SETTINGS_FILE = "settings.json"


def _settings(a, params, variants):
    """What every run of an ``--out`` folder shares (its runs.csv key is dataset, scenario, seed and method)."""
    return {"dataset": a.dataset, "epochs": a.epochs, "params": params, "variants": variants, "skrcd": __version__}


def _resumed_settings(p, a, settings):
    """With ``--resume``: the folder's recorded settings, which must equal ``settings`` (a variant name may be new);
    an argparse error naming the differences otherwise. Returns the settings to record."""
    path = os.path.join(a.out, SETTINGS_FILE)
    if not os.path.exists(os.path.join(a.out, "runs.csv")):
        return settings
    if not os.path.exists(path):  # a folder of an earlier skrcd: its settings cannot be compared
        print(f"--resume: {a.out} has no {SETTINGS_FILE} (an earlier skrcd wrote it): its runs are taken to have "
              "this command's settings, which are now recorded there", file=sys.stderr)
        return settings
    try:
        with open(path) as f:
            old = json.load(f)
        if not isinstance(old, dict) or not isinstance(old.get("variants", {}), dict):
            raise ValueError("not a JSON object of settings")
    except (OSError, ValueError) as exc:
        p.error(f"--resume: cannot read {path} ({exc}); run in another --out, or without --resume to start over")
    diff = [f"{k}: {old.get(k)!r} then, {settings[k]!r} now" for k in ("dataset", "epochs", "params", "skrcd")
            if old.get(k) != settings[k]]
    old_variants = old.get("variants", {})
    for name, params in settings["variants"].items():
        if name in old_variants and old_variants[name] != params:
            diff.append(f"variant {name}: {old_variants[name]!r} then, {params!r} now")
    if diff:
        p.error(f"--resume: {a.out} holds runs made with other settings ({'; '.join(diff)}). Resume with the "
                f"recorded settings (see {path}), run these settings in another --out, or run without --resume to "
                "start this folder over")
    return dict(settings, variants={**old_variants, **settings["variants"]})


def _write_settings(out, settings):
    tmp = os.path.join(out, f".{SETTINGS_FILE}.tmp")
    with open(tmp, "w") as f:
        json.dump(settings, f, indent=1)
    os.replace(tmp, os.path.join(out, SETTINGS_FILE))


#: Parameters a variant may not set: they change the teacher stage, and the variants share the teacher.
TEACHER_STAGE_PARAMS = (*parameters_of_stage(TEACHER), "device", "n_threads")


def _parse_variants(parser, items, reserved=None):
    """``--variant NAME:PARAM=VALUE`` items -> ``{name: params}``; an argparse error naming a bad item (``reserved``:
    as :func:`~skrcd.experiments._cli.parse_param_options`)."""
    grouped = {}
    for item in items:
        name, sep, assignment = item.partition(":")
        name = name.strip()
        if not sep or not name or not assignment:
            parser.error(f"--variant {item!r} is not NAME:PARAM=VALUE")
        if name in METHODS or name == "teacher" or not name.replace("_", "").isalnum():
            parser.error(f"--variant name {name!r} must be new (not a method of --methods' list) and made of "
                         "letters, digits and underscores")
        grouped.setdefault(name, []).append(assignment)
    variants = {}
    for name, assignments in grouped.items():
        params = parse_param_options(parser, assignments, reserved)
        clash = sorted(set(params) & set(TEACHER_STAGE_PARAMS))
        if clash:
            parser.error(f"--variant {name}: {', '.join(clash)} change(s) the teacher, which the variants share; "
                         "run another --out with --param instead")
        variants[name] = params
    return variants


@contextlib.contextmanager
def _joblib_backend(backend, scheduler, n_jobs):
    """``joblib.parallel_config`` for the backend; with dask, a client on ``scheduler`` (or a local cluster)."""
    import joblib

    with contextlib.ExitStack() as stack:
        if backend == "dask":
            import distributed

            if scheduler is not None:
                stack.enter_context(distributed.Client(scheduler))
            else:
                try:
                    distributed.default_client()  # the caller's client
                except ValueError:
                    n_workers = (os.cpu_count() or 1) if n_jobs == -1 else n_jobs
                    stack.enter_context(distributed.Client(n_workers=n_workers, threads_per_worker=1,
                                                           dashboard_address=":0"))
        elif backend == "ray":
            from ray.util.joblib import register_ray

            register_ray()
        stack.enter_context(joblib.parallel_config(backend=backend))
        yield


@dataclass
class _Job:
    method: str
    source: int
    target: int
    seed: int
    extra: dict = field(default_factory=dict)
    shared_teacher: dict | None = None

    @property
    def scenario(self):
        return f"{self.source}-{self.target}"


def _execute(job, settings):
    """One run in a joblib worker: the rows, the history and (teacher runs) the fitted teacher estimator."""
    rows, history, clf = _fit_and_score(job.method, settings["dataset"], job.source, job.target, job.seed,
                                        settings["epochs"], settings["data_home"], settings["threads"],
                                        settings["device"], job.extra, job.shared_teacher)
    return job, rows, history, clf if job.method == "teacher" else None


def _run_jobs(jobs, settings, n_jobs, on_result):
    """Run the jobs through joblib, calling ``on_result`` as each one finishes."""
    import joblib

    if not jobs:
        return
    tasks = (joblib.delayed(_execute)(job, settings) for job in jobs)
    try:
        parallel = joblib.Parallel(n_jobs=n_jobs, batch_size=1, return_as="generator_unordered")
    except ValueError:  # backends that cannot yield results as they come (multiprocessing)
        parallel = joblib.Parallel(n_jobs=n_jobs, batch_size=1)
    for result in parallel(tasks):
        on_result(*result)


def _teacher_path(out, dataset, scenario, seed):
    return os.path.join(out, "teachers", f"{dataset}_{scenario}_seed{seed}.skrcd")


def _print_row(r, write):
    write(f"{r['scenario']:>6} seed {r['seed']} {r['method']:<12} macro-F1 {r['macro_f1']:6.2f} "
          f"acc {r['accuracy']:6.2f}  fit {r['fit_time_total']:.1f} s "
          f"(teacher {r['fit_time_teacher']:.1f} s, student {r['fit_time_student']:.1f} s)")


def main(argv=None):
    """``skrcd benchmark [options]`` (``--help`` lists them); ``argv``: the options, ``sys.argv[1:]`` by default.

    A progress bar over the runs goes to stderr, one line per finished run to stdout.
    """
    return command_main(build_parser, run, argv)


def run(a, p, argv):
    """Check the parsed options (argparse errors before any run or file), then run the benchmark.

    Parameters
    ----------
    a : argparse.Namespace
    p : argparse.ArgumentParser
        Reports the errors.
    argv : list of str
        The options as given (recorded in ``results.md``).
    """
    methods, scenarios, seeds = _check_args(p, a)
    params = parse_param_options(p, a.param, _reserved_params(a))
    variants = _parse_variants(p, a.variant, _reserved_params(a))
    settings = _settings(a, params, variants)
    runs_path = os.path.join(a.out, "runs.csv")
    old = []
    if a.resume:
        settings = _resumed_settings(p, a, settings)
        if os.path.exists(runs_path):
            try:
                old = read_runs(runs_path)
            except (OSError, ValueError) as exc:
                p.error(f"--resume: {exc}")
    backend = contextlib.ExitStack()  # a dask scheduler is reached before anything is written
    try:
        backend.enter_context(_joblib_backend(a.backend, a.scheduler, a.n_jobs))
    except (OSError, TimeoutError, ValueError) as exc:
        p.error(f"--backend {a.backend}" + (f" --scheduler {a.scheduler}" if a.scheduler else "") + f": {exc}")
    with backend:
        _run(a, argv, methods, scenarios, seeds, params, variants, settings, old)


def _run(a, argv, methods, scenarios, seeds, params, variants, settings, old):
    """:func:`run` once every option is checked (inside the joblib backend): ``settings`` go to settings.json,
    ``old`` are the rows of runs.csv kept by ``--resume``."""
    distils = set(TEACHER_METHODS) | set(variants)
    os.makedirs(a.out, exist_ok=True)
    _write_settings(a.out, settings)
    runs_path = os.path.join(a.out, "runs.csv")
    history_dir = os.path.join(a.out, "histories")
    every = list(old)  # results.md summarises every run of the folder, also those this command does not list
    if a.resume and os.path.exists(runs_path):
        with open(runs_path, newline="") as f:
            header = f.readline().strip().split(",")
        if tuple(header) != FIELDS:  # written before the later columns: rewrite it with them, atomically
            tmp = runs_path + ".tmp"
            append_runs(tmp, [], header=True)
            append_runs(tmp, old)
            os.replace(tmp, runs_path)
    else:
        append_runs(runs_path, [], header=True)
    wanted = {(f"{s}-{t}", seed) for s, t in scenarios for seed in seeds}
    old = [r for r in old if r["dataset"] == a.dataset and (r["scenario"], r["seed"]) in wanted
           and r["method"] in ["teacher", *methods]]
    done = {(r["scenario"], r["seed"], r["method"]): r for r in old}
    old = list(done.values())  # one row per run, even if the file repeats one
    job_settings = dict(dataset=a.dataset, epochs=a.epochs, data_home=a.data_home, threads=a.threads,
                        device=a.device)

    # what is left to run, and the teachers it needs
    pending = {(s, t, seed): [m for m in methods if (f"{s}-{t}", seed, m) not in done]
               for s, t in scenarios for seed in seeds}
    shared, rates, teacher_jobs = {}, {}, []
    for (s, t, seed), todo in pending.items():
        sc = f"{s}-{t}"
        if (sc, seed, "rcdkd") in done:
            rates[sc, seed] = [float(v) for v in done[sc, seed, "rcdkd"]["selected_per_epoch"].split()] or [0.5]
        if not any(m in distils for m in methods) and "teacher" not in methods:
            continue
        saved = _teacher_path(a.out, a.dataset, sc, seed)
        if (sc, seed, "teacher") in done and not any(m in distils for m in todo):
            continue
        if (sc, seed, "teacher") in done and os.path.exists(saved):
            clf = RCDKDClassifier.load(saved, device=a.device)
            shared[sc, seed] = dict(teacher=clf.teacher_, discriminator=clf.discriminator_,
                                    fit_time=done[sc, seed, "teacher"]["fit_time_teacher"])
        else:
            teacher_jobs.append(_Job("teacher", s, t, seed, dict(params)))
    phase2 = [(s, t, seed, m) for (s, t, seed), todo in pending.items() for m in todo
              if m not in ("kd_random", "teacher")]
    phase3 = [(s, t, seed, m) for (s, t, seed), todo in pending.items() for m in todo if m == "kd_random"]

    from tqdm import tqdm

    new = []
    bar = tqdm(total=len(teacher_jobs) + len(phase2) + len(phase3), desc="benchmark", unit="run", file=sys.stderr,
               dynamic_ncols=True)

    def on_result(job, rows, history, clf):
        if clf is not None:  # a shared teacher: keep it for the students and for --resume
            shared[job.scenario, job.seed] = dict(teacher=clf.teacher_, discriminator=clf.discriminator_,
                                                  fit_time=rows[0]["fit_time_teacher"])
            os.makedirs(os.path.join(a.out, "teachers"), exist_ok=True)
            clf.save(_teacher_path(a.out, a.dataset, job.scenario, job.seed))
        if job.method == "rcdkd":
            rates[job.scenario, job.seed] = [float(v) for v in rows[0]["selected_per_epoch"].split()] or [0.5]
        rows = [r for r in rows if (r["scenario"], r["seed"], r["method"]) not in done]  # a refitted teacher
        append_runs(runs_path, rows)
        _write_history(history_dir, job.method, job.scenario, job.seed, history)
        new.extend(rows)
        for r in rows:
            _print_row(r, lambda line: bar.write(line, file=sys.stdout))
        sys.stdout.flush()
        bar.update(1)

    def method_job(s, t, seed, m):
        extra = {**params, **variants.get(m, {})}
        if m == "kd_random":
            extra["selection"] = SelectRandom(rate=rates[f"{s}-{t}", seed])
        return _Job(m, s, t, seed, extra, shared.get((f"{s}-{t}", seed)) if m in distils else None)

    try:
        _run_jobs(teacher_jobs, job_settings, a.n_jobs, on_result)  # phase 1: the shared teachers
        _run_jobs([method_job(*j) for j in phase2], job_settings, a.n_jobs, on_result)  # phase 2
        _run_jobs([method_job(*j) for j in phase3], job_settings, a.n_jobs, on_result)  # phase 3: kd_random
    finally:
        bar.close()

    kept = {(r["scenario"], r["seed"], r["method"]): r for r in every if r["dataset"] == a.dataset}
    kept.update({(r["scenario"], r["seed"], r["method"]): r for r in old + new})  # one row per run, the newest
    order = {m: i for i, m in enumerate(["teacher", *methods])}
    sc_order = {f"{s}-{t}": i for i, (s, t) in enumerate(scenarios)}
    rows = sorted(kept.values(), key=lambda r: (sc_order.get(r["scenario"], len(sc_order)), r["scenario"], r["seed"],
                                                order.get(r["method"], len(order)), r["method"]))
    _write_results(a.out, argv, a, rows)
    _write_plots(a.out, rows, history_dir)


def _write_results(out, argv, a, rows):
    command = command_line("benchmark", argv)
    f1, acc = summarise(rows, "macro_f1"), summarise(rows, "accuracy")
    note = ("mean ± std over seeds; the last column is the mean over scenarios of each seed, then mean ± std "
            "over seeds")
    present = {r["method"] for r in rows}
    paired = [(b, summarise_paired(rows, b)) for b in dict.fromkeys(x.strip() for x in a.baselines.split(","))
              if b in present]
    paired_md = "".join(
        f"\n## Paired comparison with {b}\n\nMacro-F1 x 100, method minus {b} on the same scenario and seed (and the "
        "same shared teacher): mean over the pairs, 95 % bootstrap interval of the mean, two-sided Wilcoxon "
        f"signed-rank test on the non-tied pairs, and the pairs won / lost / tied.\n\n{table}\n"
        for b, table in paired)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(f"Command: `{command}`\n\nMachine: {platform.machine()}, {os.cpu_count()} CPUs, "
                f"{platform.python_implementation()} {platform.python_version()}; joblib backend {a.backend}, "
                f"{a.n_jobs} job(s), {a.threads} torch thread(s) per run, device {a.device}\n\n"
                f"Runs: every run of `runs.csv`, made with the settings of `{SETTINGS_FILE}` (the last command "
                "above may have added to runs of earlier ones, with `--resume`)\n\n"
                f"## Macro-F1\n\nMacro-F1 x 100 on the target test part, {note}.\n\n{f1}\n\n"
                f"## Accuracy\n\nAccuracy x 100 on the target test part, {note}.\n\n{acc}\n{paired_md}")
    print("macro-F1\n" + f1 + "\n\naccuracy\n" + acc)
    for b, table in paired:
        print(f"\npaired with {b} (macro-F1)\n" + table)


def _write_plots(out, rows, history_dir):
    """``bars.png`` and ``rcdkd_curves.png``; a one-line warning without matplotlib."""
    if importlib.util.find_spec("matplotlib") is None:
        print("matplotlib is not installed: no plots (pip install -e '.[plot]')", file=sys.stderr)
        return
    from matplotlib.figure import Figure  # Agg canvas, no pyplot state

    from .plots import plot_benchmark_curves, plot_benchmark_scores
    from .results import aggregate_scores

    methods, groups, _ = aggregate_scores(rows)
    fig = Figure(figsize=(max(6.0, 0.25 * len(groups) * (len(methods) + 1) + 1.5), 4.2), layout="constrained")
    plot_benchmark_scores(rows, ax=fig.subplots())
    fig.savefig(os.path.join(out, "bars.png"), dpi=120)
    histories = []
    for r in rows:
        path = _history_path(history_dir, r["method"], r["scenario"], r["seed"])
        if r["method"] == "rcdkd" and os.path.exists(path):
            with open(path) as f:
                histories.append((r["scenario"], json.load(f)))
    if histories:
        fig = Figure(figsize=(11, 6), layout="constrained")
        plot_benchmark_curves(histories, fig=fig)
        fig.suptitle("RCD-KD student stage per scenario: mean over seeds, band ± std")
        fig.savefig(os.path.join(out, "rcdkd_curves.png"), dpi=120)

