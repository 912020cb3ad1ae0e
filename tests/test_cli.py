import csv

from skrcd.__main__ import main as cli_main
from skrcd.benchmark import main as benchmark_main
from skrcd.demo import run_demo


def test_demo_reports_f1_params_and_time(capsys):
    res = run_demo(epochs=1, verbose=0)
    out = capsys.readouterr().out
    assert "teacher  macro-F1" in out and "student  macro-F1" in out and "fit time" in out
    assert res["teacher_params"] == 200_902 and res["student_params"] == 13_366
    assert 0 <= res["student_f1"] <= 100 and res["fit_time"] > 0


def test_benchmark_writes_csv_and_table(tmp_path, capsys):
    benchmark_main(["--epochs", "1", "--seeds", "0", "--methods", "rcdkd,source_only", "--out", str(tmp_path)])
    rows = list(csv.DictReader(open(tmp_path / "runs.csv")))
    assert [r["method"] for r in rows] == ["rcdkd", "teacher", "source_only"]
    assert all(0 <= float(r["macro_f1"]) <= 100 for r in rows)
    table = (tmp_path / "results.md").read_text()
    assert "| rcdkd |" in table and "Command: `python -m skrcd.benchmark --epochs 1" in table


def test_cli_usage(capsys):
    assert cli_main([]) == 0
    assert "demo" in capsys.readouterr().out
    assert cli_main(["nope"]) == 2
