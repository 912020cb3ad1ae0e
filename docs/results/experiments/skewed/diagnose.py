"""Why a student falls under its teacher on small, skewed targets: per-class recall and selection, from runs.csv.

Reads a ``skrcd benchmark`` folder (``runs.csv``, whose ``recall`` and ``selected_by_class`` columns hold each
run's per-class recall x 100 on the target's test part and the share of each true target class's windows that the
selection picked over the last 10 student epochs) and prints, per method:

- the paired comparison with the teacher of the same (scenario, seed), with ``kd_all`` and with the previous
  default student (``rcdkd`` or ``none``, whichever the folder holds), all run from the same teacher;
- the classes whose recall the student loses: how many (run, class) pairs have recall 0 where the teacher's is
  above 50 %, and the mean recall of the teacher and the student on the classes the teacher gets right;
- the selection per class by the class's share of the target (the target's class profile of the skewed recipe),
  so that starving of small classes shows.

Target labels enter only these diagnostics (nothing here chooses a setting). Usage::

    python docs/results/experiments/skewed/diagnose.py BENCHMARK_DIR [METHOD ...]
"""
import os
import sys

import numpy as np
import pandas as pd

from skrcd.datasets import load_scenario
from skrcd.experiments.results import read_runs, summarise_paired


def _vector(text):
    return np.array([float(v) for v in text.split()]) if isinstance(text, str) and text.strip() else None


def main(folder, methods=None):
    df = pd.DataFrame(read_runs(os.path.join(folder, "runs.csv")))
    methods = methods or [m for m in dict.fromkeys(df.method) if m != "teacher"]
    print(f"Runs: {folder} ({df.dataset.iloc[0]}, {df[['scenario', 'seed']].drop_duplicates().shape[0]} pairs)\n")
    print("## Paired with the teacher of the same (scenario, seed)\n")
    print(summarise_paired(df, baseline="teacher"))
    # distilling every window; the previous default student (named rcdkd in runs made while it was the default,
    # none where it is the variant selection_balance="none")
    for baseline in ("kd_all", "rcdkd", "none"):
        if baseline in set(df.method):
            print(f"\n## Paired with {baseline} on the same teacher\n")
            print(summarise_paired(df[df.method != "teacher"], baseline=baseline))
    teacher = {(r.scenario, r.seed): _vector(r.recall) for r in df[df.method == "teacher"].itertuples()}
    profiles = {}
    print("\n## Classes the student loses\n")
    skewed = df.dataset.iloc[0].endswith("_skewed")
    print("| method | (run, class) pairs with teacher recall > 50 | student recall 0 there | of which absent from "
          "the target's train part | mean teacher recall there | mean student recall there |")
    print("|---|---|---|---|---|---|")
    by_share = []
    for m in methods:
        lost, lost_absent, n, t_rec, s_rec = 0, 0, 0, [], []
        for r in df[df.method == m].itertuples():
            t, s = teacher.get((r.scenario, r.seed)), _vector(r.recall)
            if t is None or s is None:
                continue
            share = None
            if skewed:
                key = (r.scenario, r.seed)
                if key not in profiles:
                    src, tgt = (int(x) for x in r.scenario.split("-"))
                    profiles[key] = load_scenario(df.dataset.iloc[0], src, tgt, seed=r.seed,
                                                  data_home=os.environ.get("SKRCD_DATA_HOME")).target_profile
                share = profiles[key]
            good = t > 50
            n += int(good.sum())
            lost_here = (s == 0) & good
            lost += int(lost_here.sum())
            if share is not None:
                lost_absent += int((lost_here & (share == 0)).sum())
            t_rec += list(t[good])
            s_rec += list(s[good])
            sel = _vector(r.selected_by_class)
            if sel is not None and share is not None:
                for c in np.flatnonzero(share > 0):
                    by_share.append(dict(method=m, share=share[c], selected=sel[c], student=s[c], teacher=t[c]))
        absent = lost_absent if skewed else "-"
        print(f"| {m} | {n} | {lost} | {absent} | {np.mean(t_rec):.1f} | {np.mean(s_rec):.1f} |")
    if by_share:
        sel = pd.DataFrame(by_share)
        sel["target share"] = pd.cut(sel.share, [0, 0.05, 0.12, 0.2, 1.0], labels=["<= 5 %", "5-12 %", "12-20 %",
                                                                                    "> 20 %"])
        table = sel.groupby(["method", "target share"], observed=True)[["selected", "teacher", "student"]].mean()
        print("\n## Selection and recall by the class's share of the target\n")
        print("Mean over (run, class) of the share of the class's target windows selected over the last 10 student "
              "epochs, and the class's recall x 100 of the teacher and the student.\n")
        print(table.round(3).to_markdown())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:] or None)
