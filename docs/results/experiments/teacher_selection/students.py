"""Do the students follow the teacher? Each method of a VADA-teacher benchmark folder against the same method of a
DANN-teacher folder, paired by (scenario, seed); pairs missing from either folder are left out. Usage::

    python docs/results/experiments/teacher_selection/students.py docs/results/uci_har_paper_vada docs/results/uci_har_all_dann
    python docs/results/experiments/teacher_selection/students.py docs/results/cwru_paper_vada docs/results/cwru_paper
"""
import os
import sys

import pandas as pd

from skrcd.experiments.results import read_runs, summarise_paired


def main(vada, dann):
    a, b = (pd.DataFrame(read_runs(os.path.join(d, "runs.csv"))) for d in (vada, dann))
    for method in [m for m in dict.fromkeys(a.method) if m in set(b.method)]:
        pairs = pd.concat([a[a.method == method].assign(method=f"{method} (VADA teacher)"),
                           b[b.method == method].assign(method=f"{method} (DANN teacher)")])
        print(summarise_paired(pairs, baseline=f"{method} (DANN teacher)"), end="\n\n")


if __name__ == "__main__":
    main(*sys.argv[1:3])
