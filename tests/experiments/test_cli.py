import csv

from skrcd.__main__ import main as cli_main
from skrcd.experiments.benchmark import main as benchmark_main
from skrcd.experiments.demo import run_demo


def test_demo_reports_f1_params_and_time(capsys):
    res = run_demo(epochs=1, verbose=0)
    out = capsys.readouterr().out
    assert "teacher  macro-F1" in out and "student  macro-F1" in out and "fit time" in out
    assert res["teacher_params"] == 200_902 and res["student_params"] == 13_366
    assert 0 <= res["student_f1"] <= 100 and res["fit_time"] > 0


def test_benchmark_writes_csv_and_table(tmp_path, capsys):
    benchmark_main(["--epochs", "1", "--seeds", "0", "--methods", "rcdkd,source_only", "--out", str(tmp_path)])
    rows = list(csv.DictReader(open(tmp_path / "runs.csv")))
    assert [r["method"] for r in rows] == ["teacher", "rcdkd", "source_only"]  # the shared teacher first
    assert all(0 <= float(r["macro_f1"]) <= 100 for r in rows)
    table = (tmp_path / "results.md").read_text()
    assert "| rcdkd |" in table and "Command: `python -m skrcd.benchmark --epochs 1" in table
    import json

    history = json.loads((tmp_path / "histories" / "rcdkd_2-11_seed0.json").read_text())
    assert [row["stage"] for row in history] == ["student"] and "selected" in history[0]
    teacher = json.loads((tmp_path / "histories" / "teacher_2-11_seed0.json").read_text())
    assert [row["stage"] for row in teacher] == ["teacher"]


def test_cli_usage(capsys):
    assert cli_main([]) == 0
    assert "demo" in capsys.readouterr().out
    assert cli_main(["nope"]) == 2


def test_cli_dispatches_the_longest_command(capsys):
    import pytest

    with pytest.raises(SystemExit) as exc:  # the speed benchmark's option check, not the benchmark's
        cli_main(["benchmark", "speed", "--param", "selector_width=64"])
    assert exc.value.code == 2
    assert "usage: skrcd benchmark speed" in capsys.readouterr().err


def test_benchmark_param_reaches_the_estimator(tmp_path, monkeypatch):
    import skrcd.experiments.benchmark as bench

    seen = []
    real = bench._fit_and_score

    def spy(*args, **kwargs):
        rows, history, clf = real(*args, **kwargs)
        seen.append(clf.get_params())
        return rows, history, clf

    monkeypatch.setattr(bench, "_fit_and_score", spy)
    benchmark_main(["--epochs", "1", "--seeds", "0", "--methods", "source_only", "--param", "standardize=joint",
                    "--param", "temperature=3.5", "--out", str(tmp_path)])
    assert [(p["standardize"], p["temperature"], p["student_epochs"]) for p in seen] == [("joint", 3.5, 1)]
