"""The reinforced selection against distilling every window (``kd_all``), over every committed paired study.

Usage (from the repository root)::

    python docs/results/experiments/selection_vs_kd_all.py

Reads the ``runs.csv`` of the committed benchmark folders listed in :data:`STUDIES` (no fit). In each, the
selection's student and ``kd_all`` distilled the same teacher with the same seed, so each (scenario, seed) is one
pair. Prints, as Markdown, one row per study (the selection's method in that folder minus ``kd_all``: mean,
95 % bootstrap interval, Wilcoxon p, wins / losses / ties, from
:func:`skrcd.experiments.results.summarise_paired`), then the pairs of the studies of the last default that
selected (the student's own DANN with KD, class-balanced reinforced selection) pooled. Target labels enter only the
scores.
"""

import argparse

import pandas as pd

from skrcd.experiments.results import summarise_paired

R = "docs/results/"
#: (folder, method of the selection's student, data, teacher, student stage, the last selecting default?)
STUDIES = [
    (R + "uci_har_all_vada", "rcdkd", "UCI-HAR 10 x 5", "one VADA", "KD only, unbalanced", False),
    (R + "experiments/variants/uci_har_all/dann_student_kd", "rcdkd", "UCI-HAR 10 x 5", "one VADA",
     "own DANN + KD, unbalanced", False),
    (R + "uci_har_all_default", "rcdkd", "UCI-HAR 10 x 5", "two VADA", "own DANN + KD, class-balanced", True),
    (R + "cwru_paper_vada_default", "rcdkd", "CWRU 6 x 3", "one VADA", "KD only, unbalanced", False),
    (R + "experiments/variants/cwru_default/dann_student_kd", "rcdkd", "CWRU 6 x 3", "one VADA",
     "own DANN + KD, unbalanced", False),
    (R + "experiments/skewed/uci_har_all", "bal", "skewed UCI-HAR 10 x 5", "one VADA",
     "own DANN + KD, class-balanced", True),
    (R + "experiments/skewed/uci_har_all", "none", "skewed UCI-HAR 10 x 5", "one VADA",
     "own DANN + KD, unbalanced", False),
    (R + "experiments/skewed/uci_har_all_default", "rcdkd", "skewed UCI-HAR 10 x 5", "two VADA",
     "own DANN + KD, class-balanced", True),
    (R + "experiments/skewed/uci_har_all_default", "none", "skewed UCI-HAR 10 x 5", "two VADA",
     "own DANN + KD, unbalanced", False),
    (R + "experiments/skewed/cwru_paper_seeds0-5", "rcdkd", "skewed CWRU 6 x 6", "one VADA",
     "own DANN + KD, class-balanced", True),
]


def _pairs(folder, method):
    runs = pd.read_csv(f"{folder}/runs.csv")
    runs = runs[runs.method.isin([method, "kd_all"])].assign(dataset=folder)
    return runs.replace({"method": {method: "selection"}})


def _cells(pairs):
    """The cells after the method of :func:`summarise_paired`'s one row (the selection against ``kd_all``)."""
    row = summarise_paired(pairs, baseline="kd_all").splitlines()[2]
    return row.removeprefix("| selection | ").removesuffix(" |")


def main(argv=None):
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    print("Macro-F1 x 100 on the target test part: the selection's student minus `kd_all`, paired by scenario and "
          "seed on the same teacher\n")
    print("| folder | method | data (scenarios x seeds) | teacher | student stage | pairs | mean difference | "
          "95 % bootstrap CI | Wilcoxon p | wins / losses / ties |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    last = []
    for folder, method, data, teacher, stage, current in STUDIES:
        pairs = _pairs(folder, method)
        print(f"| {folder.removeprefix(R)} | {method} | {data} | {teacher} | {stage} | "
              f"{_cells(pairs)} |")
        if current:
            last.append(pairs)
    pooled = pd.concat(last, ignore_index=True)
    print(f"\nPooled over the {len(last)} studies of the last default that selected (own DANN + KD, "
          "class-balanced selection; each pair counted once):\n")
    print("| pairs | mean difference | 95 % bootstrap CI | Wilcoxon p | wins / losses / ties |")
    print("|---|---|---|---|---|")
    print(f"| {_cells(pooled)} |")


if __name__ == "__main__":
    main()
