"""Teachers averaged in subsets of every size, from the stored test probabilities of the teacher study.

For each scenario, the mean macro-F1 x 100 over all subsets of ``k`` of its VADA seeds of the average of their
class probabilities, then the mean over scenarios. Usage::

    python docs/results/experiments/teacher_ensemble/subsets.py docs/results/experiments/teacher_selection/uci_har
    python docs/results/experiments/teacher_ensemble/subsets.py docs/results/experiments/teacher_selection/cwru
"""
import glob
import itertools
import os
import re
import sys

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score


def stored_test_probs(folder, method="vada"):
    """``{scenario: ({seed: test-part probabilities}, test labels)}`` of the teacher study's stored files."""
    files = {}
    for path in glob.glob(os.path.join(folder, "probs", f"*_{method}.npz")):
        scenario, seed = re.match(r".*_(\d+-\d+)_seed(\d+)_", os.path.basename(path)).groups()
        files.setdefault(scenario, {})[int(seed)] = path
    return {scenario: ({s: np.load(p)["test"] for s, p in by_seed.items()},
                       np.load(next(iter(by_seed.values())))["y_test"])
            for scenario, by_seed in sorted(files.items())}


def main(folder, method="vada"):
    rows = []
    for scenario, (probs, y) in stored_test_probs(folder, method).items():
        for k in range(1, len(probs) + 1):
            scores = [100 * f1_score(y, sum(probs[s] for s in subset).argmax(1), average="macro")
                      for subset in itertools.combinations(sorted(probs), k)]
            rows.append(dict(scenario=scenario, teachers=k, macro_f1=np.mean(scores)))
    table = pd.DataFrame(rows).pivot(index="teachers", columns="scenario", values="macro_f1")
    table["mean"] = table.mean(axis=1)
    print(f"{folder}: {method} teachers averaged, mean macro-F1 x 100 over the subsets of each size\n")
    print(table.round(2).to_markdown())


if __name__ == "__main__":
    main(sys.argv[1])
