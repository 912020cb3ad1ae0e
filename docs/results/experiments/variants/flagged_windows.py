"""Can a label-free signal find the target windows the teacher gets wrong? (a diagnostic that reads target labels)

Selection can only beat distilling every window (``kd_all``) if what it skips is
mostly where the teacher is wrong. This script takes the stored test-part class
probabilities of the teacher study's VADA teachers (one file per scenario and
seed) and, for each signal a selector could compute without labels, reports the
share of windows it flags (would skip) and the teacher's accuracy on the flagged
and on the kept windows:

- ``unsure_30``: the teacher's least confident 30 % of each teacher-predicted
  class (what ``selection="confident"``, the benchmark's ``kd_conf``, skips);
- ``disagree``: two teachers of different seeds predict different classes (the
  teacher is their average, as with ``n_teachers=2``).

The labels of the target's test part are read here to explain a result, never to
choose anything. The test part stands in for the target windows a student is
distilled on (the same subject, a disjoint split). Usage::

    python docs/results/experiments/variants/flagged_windows.py docs/results/experiments/teacher_selection/uci_har
    python docs/results/experiments/variants/flagged_windows.py docs/results/experiments/teacher_selection/cwru
"""
import itertools
import os
import sys

import numpy as np
import pandas as pd
import torch

from skrcd.selection import SelectConfident

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "teacher_ensemble"))
from subsets import stored_test_probs  # noqa: E402  (the stored files' reader, shared with that study)


def unsure_within_class(probs, share=0.3):
    """What ``selection="confident"`` skips (the library's own rule): the least confident ``share`` of each
    teacher-predicted class, here ranked over the whole set at once rather than per mini-batch."""
    kept = SelectConfident(quantile=1 - share).select(torch.as_tensor(probs), episode=0)
    return ~kept.bool().numpy()


def describe(signal, scenario, teachers, probs, y, flagged):
    right = probs.argmax(1) == y
    return dict(signal=signal, scenario=scenario, teachers=teachers, flagged_share=flagged.mean(),
                acc_flagged=right[flagged].mean() if flagged.any() else np.nan,
                acc_kept=right[~flagged].mean(), acc_all=right.mean(),
                wrong_caught=flagged[~right].mean() if (~right).any() else np.nan)


def main(folder, method="vada"):
    rows = []
    for scenario, (probs, y) in stored_test_probs(folder, method).items():
        for p in probs.values():
            rows.append(describe("unsure_30", scenario, 1, p, y, unsure_within_class(p)))
        for a, b in itertools.combinations(sorted(probs), 2):
            mean = (probs[a] + probs[b]) / 2
            rows.append(describe("unsure_30", scenario, 2, mean, y, unsure_within_class(mean)))
            rows.append(describe("disagree", scenario, 2, mean, y, probs[a].argmax(1) != probs[b].argmax(1)))
    df = pd.DataFrame(rows)
    cols = ["flagged_share", "acc_flagged", "acc_kept", "acc_all", "wrong_caught"]
    by_scenario = df.groupby(["signal", "teachers", "scenario"])[cols].mean()
    overall = by_scenario.groupby(["signal", "teachers"]).mean()
    print(f"{folder}: {method} teachers; means over seeds (1 teacher) or seed pairs (2 teachers), accuracy as a share;")
    print("wrong_caught = share of the teacher's wrong windows that the signal flags (empty where it has none)\n")
    print((100 * by_scenario).round(1).reset_index().to_markdown(index=False))
    print("\nMean over scenarios\n")
    print((100 * overall).round(1).reset_index().to_markdown(index=False))


if __name__ == "__main__":
    main(sys.argv[1])
