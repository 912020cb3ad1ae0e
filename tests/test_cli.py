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
    import json

    history = json.load(open(tmp_path / "histories" / "rcdkd_2-11_seed0.json"))
    assert [row["stage"] for row in history] == ["teacher", "student"] and "selected" in history[1]


def test_cli_usage(capsys):
    assert cli_main([]) == 0
    assert "demo" in capsys.readouterr().out
    assert cli_main(["nope"]) == 2


def test_benchmark_all_methods_share_the_loop(tmp_path):
    import pytest

    benchmark_main(["--epochs", "1", "--seeds", "0", "--methods", "rcdkd,kd_random,rcdkd_tr,dann_student,mobileda,aad",
                    "--out", str(tmp_path)])
    rows = {r["method"]: r for r in csv.DictReader(open(tmp_path / "runs.csv"))}
    assert set(rows) == {"rcdkd", "teacher", "kd_random", "rcdkd_tr", "dann_student", "mobileda", "aad"}
    assert rows["dann_student"]["fit_time_teacher"] == "0.0" or float(rows["dann_student"]["fit_time_teacher"]) < 0.01
    with pytest.raises(SystemExit):
        benchmark_main(["--methods", "kd_random,rcdkd", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        benchmark_main(["--methods", "best_method", "--out", str(tmp_path)])


def test_benchmark_param_reaches_the_estimator(tmp_path, monkeypatch):
    import skrcd.benchmark as bench

    seen = []
    real = bench.run_one

    def spy(*args, **kwargs):
        seen.append(args[9] if len(args) > 9 else kwargs.get("extra_params"))
        return real(*args, **kwargs)

    monkeypatch.setattr(bench, "run_one", spy)
    benchmark_main(["--epochs", "1", "--seeds", "0", "--methods", "source_only", "--param", "standardize=joint",
                    "--param", "temperature=3.5", "--out", str(tmp_path)])
    assert seen == [{"standardize": "joint", "temperature": 3.5}]
