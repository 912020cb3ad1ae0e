"""Refit the students of one (scenario, seed) from its saved teacher with other student seeds.

A benchmark run ties the student's ``random_state`` to the pair's seed. To tell a method's loss on one pair from
the student stage's own seed noise, this fits each method again from the same saved teacher, on the same data
draw, with other ``random_state`` values, and prints the macro-F1 x 100 (weighted to the target's class profile,
as the benchmark scores it) and the per-class recall of each fit. Target labels enter only the scores.

Usage::

    python docs/results/experiments/skewed/reseed_students.py BENCHMARK_DIR DATASET SCENARIO SEED DATA_HOME
        [--random-states 10,11,12] [--methods rcdkd,kd_all]
"""
import argparse

import torch

from skrcd import RCDKDClassifier
from skrcd.experiments.benchmark import _fit_and_score, _teacher_path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder")
    p.add_argument("dataset")
    p.add_argument("scenario")
    p.add_argument("seed", type=int)
    p.add_argument("data_home")
    p.add_argument("--random-states", default="10,11,12")
    p.add_argument("--methods", default="rcdkd,kd_all")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    source, target = (int(v) for v in a.scenario.split("-"))
    fitted = RCDKDClassifier.load(_teacher_path(a.folder, a.dataset, a.scenario, a.seed))
    shared = dict(teacher=fitted.teacher_, discriminator=fitted.discriminator_, fit_time=0.0)
    print(f"{a.dataset} {a.scenario}, seed {a.seed} (its saved teacher and data draw), students refitted with other "
          "random states\n")
    print("| random_state | method | macro-F1 | recall per class |\n|---|---|---|---|")
    for state in (int(v) for v in a.random_states.split(",")):
        for method in a.methods.split(","):
            (row,), _, _ = _fit_and_score(method, a.dataset, source, target, a.seed, data_home=a.data_home,
                                          shared_teacher=shared, random_state=state)
            print(f"| {state} | {method} | {row['macro_f1']:.2f} | {row['recall']} |", flush=True)


if __name__ == "__main__":
    main()
