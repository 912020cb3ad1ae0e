"""Two VADA teachers averaged against one: the teachers and their default RCD-KD students, paired by (scenario, seed).

The teachers come from a benchmark folder (``teachers/*.skrcd``, fitted by ``skrcd benchmark``, seeds ``0..n-1``).
For each (scenario, seed ``s``) the ensemble is the teachers of seeds ``s`` and ``s + 1 (mod n)`` (two independently
seeded VADA fits, as ``n_teachers=2`` trains); the student is the default RCD-KD student with ``random_state=s``
distilled from it (teacher stage skipped), so it pairs with the benchmark's ``rcdkd`` row of the same seed. No
choice here reads target labels: the target test labels only score. Usage::

    python docs/results/experiments/teacher_ensemble/run.py BENCH OUT --scenarios 2-11,7-13,12-16,9-18,6-23 \\
        --seeds 0,1,2,3,4 --data-home ../shared/data/uci_har
    python docs/results/experiments/teacher_ensemble/run.py BENCH OUT --dataset cwru --epochs 40 \\
        --scenarios 0-1,0-2,0-3,1-2,2-3,3-0 --seeds 0,1,2 --data-home ../shared/data/cwru

``--teachers-only`` scores the ensembles alone (no student). It writes ``OUT/runs.csv`` (benchmark columns; methods ``teacher x2`` and ``rcdkd (teacher x2)``) and prints the
paired comparisons with the benchmark's ``teacher`` and ``rcdkd`` rows.
"""
import argparse
import os

import pandas as pd
import torch
from joblib import Parallel, delayed

from skrcd import RCDKDClassifier
from skrcd.experiments.benchmark import _fit_and_score
from skrcd.experiments.results import append_runs, read_runs, summarise_paired
from skrcd.nn import TeacherEnsemble


def _one(bench, dataset, scenario, seed, partner, epochs, data_home, teachers_only):
    """The benchmark's own fit-and-score (``skrcd.experiments.benchmark``) with the averaged teachers shared."""
    torch.set_num_threads(1)
    src, tgt = (int(v) for v in scenario.split("-"))
    first, second = (RCDKDClassifier.load(os.path.join(bench, "teachers", f"{dataset}_{scenario}_seed{s}.skrcd"))
                     for s in (seed, partner))
    shared = dict(teacher=TeacherEnsemble([first.teacher_, second.teacher_]), discriminator=first.discriminator_,
                  fit_time=0.0)
    rows = []
    for method, name in (("teacher", "teacher x2"), ("rcdkd", "rcdkd (teacher x2)"))[:1 if teachers_only else 2]:
        fitted, _, _ = _fit_and_score(method, dataset, src, tgt, seed, epochs=epochs, data_home=data_home,
                                      shared_teacher=shared)
        rows += [dict(r, method=name) for r in fitted]
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bench")
    p.add_argument("out")
    p.add_argument("--dataset", default="uci_har")
    p.add_argument("--scenarios", required=True)
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--epochs", type=int, default=None, help="student epochs (default: the estimator's)")
    p.add_argument("--data-home", default=None)
    p.add_argument("--n-jobs", type=int, default=1)
    p.add_argument("--teachers-only", action="store_true", help="score the ensembles, fit no student")
    a = p.parse_args(argv)
    seeds = [int(s) for s in a.seeds.split(",")]
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, "runs.csv")
    done = set()
    if os.path.exists(path):
        done = {(r["scenario"], r["seed"]) for r in read_runs(path)}
    else:
        append_runs(path, [], header=True)
    jobs = [(sc, s, seeds[(i + 1) % len(seeds)]) for sc in a.scenarios.split(",") for i, s in enumerate(seeds)
            if (sc, s) not in done]
    for rows in Parallel(n_jobs=a.n_jobs, return_as="generator")(
            delayed(_one)(a.bench, a.dataset, sc, s, partner, a.epochs, a.data_home, a.teachers_only) for sc, s, partner in jobs):
        append_runs(path, rows)
        print(*(f"{r['scenario']} seed {r['seed']} {r['method']}: {r['macro_f1']:.2f}" for r in rows), sep="\n",
              flush=True)
    ours = pd.DataFrame(read_runs(path))
    bench = pd.DataFrame(read_runs(os.path.join(a.bench, "runs.csv")))
    keys = set(zip(ours.scenario, ours.seed))
    bench = bench[[k in keys for k in zip(bench.scenario, bench.seed)]]
    pairs = [(single, double) for single, double in (("teacher", "teacher x2"), ("rcdkd", "rcdkd (teacher x2)"))
             if double in set(ours.method)]
    both = pd.concat([bench[bench.method.isin([s for s, _ in pairs])], ours])
    means = both.pivot_table(index="method", columns="scenario", values="macro_f1", aggfunc="mean")
    means = means[list(dict.fromkeys(ours.scenario))]
    means["mean"] = both.groupby("method").macro_f1.mean()
    print(f"Macro-F1 x 100, mean over seeds {a.seeds}\n")
    print(means.loc[[m for pair in pairs for m in pair]].round(2).to_markdown(), end="\n\n")
    for single, double in pairs:
        rows = pd.concat([bench[bench.method == single], ours[ours.method == double]])
        print(summarise_paired(rows, baseline=single), end="\n\n")


if __name__ == "__main__":
    main()
