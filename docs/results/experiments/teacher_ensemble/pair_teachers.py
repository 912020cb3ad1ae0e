"""Pair the teacher rows of benchmark folders by (scenario, seed) and compare them with a baseline folder.

Usage::

    python docs/results/experiments/teacher_ensemble/pair_teachers.py NAME=RUNS.csv[@METHOD] [...] --baseline NAME

Takes the rows of method ``teacher`` of each ``runs.csv``, or of ``METHOD`` where given (for example the
``teacher x2`` rows that ``run.py`` writes). Prints, as Markdown, the teacher's macro-F1 per pair for each
folder, its mean teacher-stage time, and each folder against the baseline pair by pair (mean difference, 95 %
bootstrap interval, Wilcoxon p, wins / losses / ties: :func:`skrcd.experiments.results.summarise_paired`). Target
labels enter only the scores.
"""

import argparse

import pandas as pd

from skrcd.experiments.results import summarise_paired


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="NAME=path/to/runs.csv, or NAME=path/to/runs.csv@METHOD")
    p.add_argument("--baseline", required=True)
    a = p.parse_args(argv)
    frames = []
    for item in a.runs:
        name, _, spec = item.partition("=")
        path, _, method = spec.partition("@")
        d = pd.read_csv(path)
        d = d[d.method == (method or "teacher")].assign(method=name)
        if d.empty:
            p.error(f"{path} has no rows of method {method or 'teacher'!r}")
        frames.append(d[["scenario", "seed", "method", "macro_f1", "fit_time_teacher"]])
    rows = pd.concat(frames, ignore_index=True)
    common = rows.groupby(["scenario", "seed"]).method.nunique() == rows.method.nunique()
    keys = set(common[common].index)
    rows = rows[[k in keys for k in zip(rows.scenario, rows.seed)]]
    table = rows.pivot(index=["scenario", "seed"], columns="method", values="macro_f1")
    print(f"Teacher macro-F1 x 100 on the target test part, the {len(table)} pairs every folder holds\n")
    print(table.round(2).to_markdown())
    print("\nMean:", ", ".join(f"{m} {v:.2f}" for m, v in table.mean().items()))
    times = rows.groupby("method").fit_time_teacher.mean()
    print("Mean teacher-stage time (s, as each run recorded it):",
          ", ".join(f"{m} {v:.0f}" for m, v in times.items()))
    print()
    print(summarise_paired(rows, baseline=a.baseline))


if __name__ == "__main__":
    main()
