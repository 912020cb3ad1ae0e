"""A selector that learns its rewards: what it selects and what the student gets, on single runs.

The selector gets the reward's inputs in its state (``selector_state="informed"``), median thresholds
(``reward_quantile=0.5``), no discount (``selector_gamma=0``) and a 10x learning rate; the student is otherwise the
default, distilled from a benchmark folder's teacher of the same (scenario, seed) and paired with that folder's
``rcdkd`` row. Exploratory (a few runs, not a paired evaluation). Usage::

    python docs/results/experiments/variants/learned_selector.py BENCH 0 2-11,7-13,12-16 --data-home ../shared/data/uci_har

with BENCH a UCI-HAR benchmark folder holding ``teachers/`` (``docs/results/uci_har_all_vada`` once its teachers
are fitted again).
"""
import argparse
import os

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import f1_score

from skrcd import RCDKDClassifier
from skrcd.datasets import load_scenario
from skrcd.experiments.results import read_runs

LEARNED = dict(selector_state="informed", reward_quantile=0.5, selector_gamma=0.0, selector_lr=1e-3)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bench")
    p.add_argument("seed", type=int)
    p.add_argument("scenarios")
    p.add_argument("--data-home", default=None)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    runs = pd.DataFrame(read_runs(os.path.join(a.bench, "runs.csv")))
    print(f"learned selector: {LEARNED}\n")
    print("| scenario | seed | selected, last 10 epochs | student (learned selector) | student (default rcdkd row) |")
    print("|---|---|---|---|---|")
    for scenario in a.scenarios.split(","):
        src, tgt = (int(v) for v in scenario.split("-"))
        sc = load_scenario("uci_har", source=src, target=tgt, data_home=a.data_home)
        saved = RCDKDClassifier.load(os.path.join(a.bench, "teachers", f"uci_har_{scenario}_seed{a.seed}.skrcd"))
        clf = RCDKDClassifier(random_state=a.seed, n_threads=1, teacher=saved.teacher_,
                              discriminator=saved.discriminator_, teacher_epochs=0, **LEARNED)
        clf.fit(sc.X_src, sc.y_src, sc.X_tgt)
        selected = np.mean([r["selected"] for r in clf.history_ if r["stage"] == "student"][-10:])
        f1 = 100 * f1_score(sc.y_test, clf.predict(sc.X_test), average="macro")
        row = runs[(runs.scenario == scenario) & (runs.seed == a.seed) & (runs.method == "rcdkd")]
        default = f"{row.macro_f1.iloc[0]:.2f}" if len(row) else "-"
        print(f"| {scenario} | {a.seed} | {selected:.2f} | {f1:.2f} | {default} |", flush=True)


if __name__ == "__main__":
    main()
