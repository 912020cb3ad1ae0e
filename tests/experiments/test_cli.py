import argparse
import csv

import pytest

import skrcd
from skrcd.__main__ import build_parser
from skrcd.__main__ import main as cli_main
from skrcd.experiments.benchmark import main as benchmark_main
from skrcd.experiments.demo import run_demo


def test_demo_reports_f1_params_and_time(capsys):
    res = run_demo(epochs=1, verbose=0)
    out = capsys.readouterr().out
    assert "teacher  macro-F1" in out and "student  macro-F1" in out and "fit time" in out
    assert res["teacher_params"] == 2 * 200_902 and res["student_params"] == 13_366  # two teachers averaged
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
    assert [row["stage"] for row in teacher] == ["teacher", "teacher_2"]  # the default: two teachers


def test_cli_usage_version_and_mistyped_commands(capsys):
    assert cli_main([]) == 0
    out = capsys.readouterr().out
    for command in ("skrcd demo", "skrcd benchmark ", "skrcd benchmark speed", "skrcd benchmark deploy"):
        assert command in out, command
    with pytest.raises(SystemExit) as exc:
        cli_main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"skrcd {skrcd.__version__}"
    for argv, choices in [(["demp"], "'demo', 'benchmark'"), (["benchmark", "sped"], "'speed', 'deploy'")]:
        with pytest.raises(SystemExit) as exc:
            cli_main(argv)
        assert exc.value.code == 2
        assert f"invalid choice: '{argv[-1]}' (choose from {choices})" in capsys.readouterr().err


def test_every_option_of_every_command_has_help_text():
    parsers = [build_parser()]
    seen = []
    while parsers:
        parser = parsers.pop()
        seen.append(parser.prog)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                parsers.extend(action.choices.values())
            else:
                assert action.help, (parser.prog, action.option_strings or action.dest)
    assert sorted(seen) == ["skrcd", "skrcd benchmark", "skrcd benchmark deploy", "skrcd benchmark speed",
                            "skrcd demo"]


@pytest.fixture
def no_cuda(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.mark.parametrize("argv, message", [
    (["benchmark", "--device", "cuda"], "--device 'cuda': --device='cuda' was asked for but CUDA is not available"),
    (["benchmark", "--device", "gpu"], "--device 'gpu'"),
    (["benchmark", "--param", "temperature=0"], "--param: temperature must be"),
    (["benchmark", "--param", "teacher_channels=[8,8]"], "teacher_channels must hold 3 widths"),
    (["benchmark", "speed", "--threads", "a"], "--threads must be integers separated by commas, got 'a'"),
    (["benchmark", "speed", "--threads", "0"], "--threads must be >= 1"),
    (["benchmark", "speed", "--epochs", "-1"], "argument --epochs: must be >= 1, got -1"),
    (["benchmark", "speed", "--epochs", "2", "--warmup", "2"], "--warmup 2 leaves no epoch to time"),
    (["benchmark", "speed", "--device", "cuda"], "CUDA is not available"),
    (["benchmark", "speed", "--param", "temperature=0"], "--param: temperature must be"),
    (["demo", "--device", "cuda"], "CUDA is not available"),
    (["demo", "--epochs", "0"], "argument --epochs: must be >= 1"),
    (["demo", "--source", "31"], "--source 31: UCI-HAR subjects are 1..30"),
    (["demo", "--source", "11"], "--source and --target are the same subject"),
])
def test_commands_refuse_bad_arguments_before_creating_any_file(no_cuda, tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    if argv[0] == "benchmark":
        argv = argv + ["--out", str(out)]
    with pytest.raises(SystemExit) as exc:
        cli_main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err, err
    assert "usage: skrcd " in err and "teacher_epochs" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["benchmark"], ["benchmark", "speed"], ["benchmark", "deploy"]])
def test_out_naming_an_existing_file_is_refused(tmp_path, capsys, command):
    path = tmp_path / "file"
    path.write_text("kept")
    with pytest.raises(SystemExit) as exc:
        cli_main([*command, "--out", str(path)])
    assert exc.value.code == 2 and f"--out '{path}' exists and is not a folder" in capsys.readouterr().err
    assert path.read_text() == "kept" and list(tmp_path.iterdir()) == [path]


def test_cli_dispatches_the_longest_command(capsys):
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
