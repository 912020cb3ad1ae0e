"""Benchmark result tables: the pandas aggregation reproduces the committed ``results.md`` tables."""

import contextlib
import importlib.util
import io
import shlex
from pathlib import Path

import pandas as pd
import numpy as np
import pytest

from skrcd.experiments.results import FIELDS, aggregate_scores, append_runs, read_runs, summarise

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results"
# the results written by the current benchmark (a macro-F1 and an accuracy table); older pages have other tables,
# and folders of variant runs (docs/results/experiments/variants) have runs.csv only
RUNS = sorted(p.parent for p in RESULTS.rglob("runs.csv")
              if (p.parent / "results.md").is_file() and "## Accuracy" in (p.parent / "results.md").read_text())


@pytest.mark.parametrize("folder", RUNS, ids=[p.relative_to(RESULTS).as_posix() for p in RUNS])
def test_tables_of_the_committed_results_are_reproduced(folder):
    runs = pd.read_csv(folder / "runs.csv")  # in the order the runs finished; results.md sorts the methods
    text = (folder / "results.md").read_text()
    for metric, title in (("macro_f1", "## Macro-F1"), ("accuracy", "## Accuracy")):
        table = text.split(title)[1].split("\n\n")[2].strip().splitlines()
        lines = summarise(runs, metric).splitlines()
        assert lines[:2] == table[:2] and sorted(lines[2:]) == sorted(table[2:]), metric


def test_incomplete_seeds_do_not_enter_the_mean_and_repeated_runs_count_once():
    rows = [dict(method="m", scenario=sc, seed=s, macro_f1=v)
            for sc, s, v in [("a", 0, 80.0), ("b", 0, 90.0), ("a", 1, 70.0), ("a", 1, 60.0)]]
    methods, groups, stats = aggregate_scores(rows)
    assert (methods, groups) == (["m"], ["a", "b", "mean"])
    assert stats["m", "a"] == (70.0, pytest.approx(14.142135), 2)  # seed 1's second row replaces its first
    assert stats["m", "b"] == (90.0, 0.0, 1)
    assert stats["m", "mean"] == (85.0, 0.0, 1)  # seed 1 has no run of scenario b


def test_runs_csv_round_trip(tmp_path):
    row = dict(dataset="uci_har", scenario="2-11", seed=0, method="rcdkd", macro_f1=91.5, accuracy=92.0, params=13366,
               fit_time_teacher=1.0, fit_time_student=2.0, fit_time_total=3.0, selected_last=0.9,
               selected_per_epoch="0.9000 0.9500", worker="host:1", macro_f1_whole=90.0, recall="90.0 93.0",
               selected_by_class="0.800 1.000")
    path = tmp_path / "runs.csv"
    append_runs(path, [], header=True)
    append_runs(path, [row])
    assert read_runs(path) == [row]
    # a file of the version before the diagnosis columns reads with them empty
    earlier = [f for f in FIELDS if f not in ("macro_f1_whole", "recall", "selected_by_class")]
    path.write_text(",".join(earlier) + "\n" + ",".join(str(row[f]) for f in earlier) + "\n")
    (old,) = read_runs(path)
    assert old["macro_f1"] == 91.5 and np.isnan(old["macro_f1_whole"]) and old["recall"] == ""
    path.write_text(",".join(FIELDS[:-1]) + "\n")
    with pytest.raises(ValueError, match="another version of the benchmark"):
        read_runs(path)


REPO = RESULTS.parents[1]
PAIRED = sorted(p for p in RESULTS.rglob("compare*.md")
                if p.read_text().startswith("`python docs/results/experiments/teacher_ensemble/pair_teachers.py "))
PAIRED.append(RESULTS / "experiments" / "selection_vs_kd_all.md")  # the evidence for the default selection


@pytest.mark.parametrize("page", PAIRED, ids=[p.relative_to(RESULTS).as_posix() for p in PAIRED])
def test_paired_pages_are_what_their_command_prints(page, monkeypatch):
    # each page opens with the command that wrote it, then its output: run it again from the repository root (in
    # this process: a new interpreter per page would spend most of the test importing torch again)
    head, _, body = page.read_text().partition("\n\n")
    argv = shlex.split(head.strip("`"))
    assert argv[0] == "python"
    spec = importlib.util.spec_from_file_location(Path(argv[1]).stem, REPO / argv[1])
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    monkeypatch.chdir(REPO)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        script.main(argv[2:])
    assert out.getvalue().strip() == body.strip()
