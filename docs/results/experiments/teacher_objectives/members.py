"""Teachers assembled from the members of fitted teachers: single members and ensembles across objectives.

A benchmark folder of ``--methods teacher`` holds, per (scenario, seed), one fitted teacher (``teachers/*.skrcd``);
with ``n_teachers=2`` or a tuple of networks it is an ensemble of two members trained one after the other. This
script scores teachers made of chosen members of those files, for the same (scenario, seed), without training:

- ``NAME=FOLDER:0`` is the first member alone (a single teacher of that member's kind and objective);
- ``NAME=FOLDER_A:0,FOLDER_B:1`` averages the first member of one folder's teacher and the second of another's:
  the kind of teacher a fit training those two members would give, not the same networks (a fit initialises all
  its members, then the discriminator, then trains them one after the other, so each member's random stream
  depends on the others).

Every teacher is scored by the benchmark's own fit-and-score (teacher stage skipped); its ``fit_time_teacher`` is
the sum of the chosen members' stage times in the folders' histories (``teacher`` for the first member,
``teacher_2`` for the second). Target labels enter only the scores. Usage::

    python docs/results/experiments/teacher_objectives/members.py OUT --folder default=BENCH_A --folder mixup=BENCH_B \\
        --teacher vada_mixup=default:0,mixup:1 --teacher vada=default:0 --scenarios 2-11,12-16 --seeds 0,1 \\
        --data-home ../shared/data/uci_har

It appends to ``OUT/runs.csv`` (benchmark columns, method = NAME), skipping (scenario, seed, NAME) rows it holds.
"""
import argparse
import json
import os

import torch
from joblib import Parallel, delayed

from skrcd import RCDKDClassifier
from skrcd.experiments.benchmark import _fit_and_score
from skrcd.experiments.results import append_runs, read_runs
from skrcd.nn import TeacherEnsemble

_STAGES = ("teacher", "teacher_2")


def _members(net):
    return list(net.members) if isinstance(net, TeacherEnsemble) else [net]


def _load(folder, dataset, scenario, seed):
    """A folder's fitted teacher of (scenario, seed) and its teacher-stage history rows."""
    fitted = RCDKDClassifier.load(os.path.join(folder, "teachers", f"{dataset}_{scenario}_seed{seed}.skrcd"))
    with open(os.path.join(folder, "histories", f"teacher_{scenario}_seed{seed}.json")) as f:
        return fitted, json.load(f)


def _one(folders, dataset, scenario, seed, name, picks, data_home):
    torch.set_num_threads(1)
    src, tgt = (int(v) for v in scenario.split("-"))
    loaded = {key: _load(folders[key], dataset, scenario, seed) for key in dict.fromkeys(k for k, _ in picks)}
    nets, seconds = [], 0.0
    for key, index in picks:
        fitted, history = loaded[key]
        members = _members(fitted.teacher_)
        if index >= len(members):
            raise ValueError(f"{key}'s teacher of {scenario} seed {seed} has {len(members)} member(s), not {index + 1}")
        nets.append(members[index])
        seconds += sum(r["dur"] for r in history if r.get("stage") == _STAGES[index])
    teacher = nets[0] if len(nets) == 1 else TeacherEnsemble(nets)
    first, _ = loaded[picks[0][0]]  # the first pick's discriminator (the teacher stage is skipped: unused there)
    shared = dict(teacher=teacher, discriminator=first.discriminator_, fit_time=seconds)
    rows, _, _ = _fit_and_score("teacher", dataset, src, tgt, seed, data_home=data_home, shared_teacher=shared)
    return [dict(r, method=name) for r in rows]


def _picks(spec, folders, parser):
    picks = []
    for part in spec.split(","):
        key, _, index = part.partition(":")
        if key not in folders or not index.isdigit() or int(index) >= len(_STAGES):
            parser.error(f"{part!r}: give FOLDER:0 or FOLDER:1 with a FOLDER named by --folder")
        picks.append((key, int(index)))
    return picks


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--folder", action="append", required=True, help="KEY=benchmark folder with teachers/")
    p.add_argument("--teacher", action="append", required=True, help="NAME=KEY:i[,KEY:j]")
    p.add_argument("--dataset", default="uci_har")
    p.add_argument("--scenarios", required=True)
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--data-home", default=None)
    p.add_argument("--n-jobs", type=int, default=1)
    a = p.parse_args(argv)
    folders = dict(item.split("=", 1) for item in a.folder)
    teachers = {name: _picks(spec, folders, p) for name, spec in (item.split("=", 1) for item in a.teacher)}
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, "runs.csv")
    done = set()
    if os.path.exists(path):
        done = {(r["scenario"], r["seed"], r["method"]) for r in read_runs(path)}
    else:
        append_runs(path, [], header=True)
    jobs = [(sc, int(s), name) for sc in a.scenarios.split(",") for s in a.seeds.split(",") for name in teachers
            if (sc, int(s), name) not in done]
    for rows in Parallel(n_jobs=a.n_jobs, return_as="generator")(
            delayed(_one)(folders, a.dataset, sc, s, name, teachers[name], a.data_home) for sc, s, name in jobs):
        append_runs(path, rows)
        print(*(f"{r['scenario']} seed {r['seed']} {r['method']}: {r['macro_f1']:.2f}" for r in rows), sep="\n",
              flush=True)


if __name__ == "__main__":
    main()
