"""What the student-stage histories of benchmark folders say: how often the domain-confusion loss was dead
(``loss_dc`` < 0.01) and how many RCD-KD runs ended with the collapse warning's condition (mean selected share of
the last 10 student epochs above 99 % or below 5 %). Usage::

    python docs/results/experiments/variants/histories.py docs/results/uci_har_all_dann docs/results/uci_har_paper_vada
"""
import json
import sys
from pathlib import Path

import numpy as np


def student_rows(path):
    data = json.loads(Path(path).read_text())
    rows = data if isinstance(data, list) else data["history"]
    return [r for r in rows if r.get("stage") == "student"]


def main(folders):
    dc = []
    for folder in folders:
        files = sorted(Path(folder, "histories").glob("*.json"))
        dc += [r["loss_dc"] for f in files for r in student_rows(f) if "loss_dc" in r]
        last10 = np.array([np.mean([r["selected"] for r in student_rows(f)[-10:]])
                           for f in files if f.name.startswith("rcdkd_")])
        print(f"{folder}: {len(last10)} rcdkd runs; last-10-epoch selected share above 99 %: {(last10 > 0.99).sum()}, "
              f"below 5 %: {(last10 < 0.05).sum()}, range {last10.min():.3f}-{last10.max():.3f}")
    dc = np.array(dc)
    if len(dc):
        print(f"loss_dc below 0.01 in {(dc < 0.01).mean():.1%} of {len(dc):,} student epochs (every method with "
              "the term)")
    else:
        print("no student epoch with a loss_dc column (dc_weight=0)")


if __name__ == "__main__":
    main(sys.argv[1:])
