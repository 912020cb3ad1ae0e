"""Paired comparison of RCD-KD variants run into separate benchmark folders on the same shared teachers.

Each folder is a ``skrcd benchmark --resume`` output whose teachers are the base
folder's (the same (scenario, seed) teacher for every variant); its ``rcdkd`` rows
are renamed to the folder's variant name and compared, pair by pair, with the base
folder's ``rcdkd``, ``kd_all`` and ``kd_random`` rows. Usage::

    python docs/results/experiments/variants/paired.py BASE_DIR NAME=DIR [NAME=DIR ...]
"""
import os
import sys

import pandas as pd

from skrcd.experiments.results import read_runs, summarise, summarise_paired


def main(base, variants):
    rows = [r for r in read_runs(os.path.join(base, "runs.csv"))]
    for name, folder in variants:
        rows += [dict(r, method=name) for r in read_runs(os.path.join(folder, "runs.csv")) if r["method"] == "rcdkd"]
    df = pd.DataFrame(rows)
    print(f"Runs: {base} and {', '.join(f'{n}={d}' for n, d in variants)}\n")
    print(summarise(df))
    for baseline in ("rcdkd", "kd_all", "kd_random"):
        if baseline in set(df.method):
            print(f"\nAgainst {baseline}, paired by (scenario, seed) on the same teacher\n")
            print(summarise_paired(df, baseline=baseline))
    if "selected_last" in df:
        sel = df[df.method != "teacher"].groupby("method")["selected_last"].agg(["mean", "min", "max"]).round(3)
        print("\nSelected share in the last student epoch (mean, min, max over runs)\n")
        print(sel.to_markdown())


if __name__ == "__main__":
    main(sys.argv[1], [tuple(a.split("=", 1)) for a in sys.argv[2:]])
