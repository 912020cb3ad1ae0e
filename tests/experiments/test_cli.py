import argparse
import csv
import os

import pytest

import skrcd
from skrcd.__main__ import build_parser
from skrcd.__main__ import main as cli_main
from skrcd.experiments.benchmark import main as benchmark_main
from skrcd.experiments.demo import run_demo


@pytest.mark.slow
def test_demo_reports_f1_params_and_time(capsys):
    res = run_demo(epochs=1, verbose=0)
    out = capsys.readouterr().out
    assert "teacher  macro-F1" in out and "student  macro-F1" in out and "fit time" in out
    assert res["teacher_params"] == 2 * 200_902 and res["student_params"] == 13_366  # two teachers averaged
    assert 0 <= res["student_f1"] <= 100 and res["fit_time"] > 0


@pytest.mark.slow
def test_benchmark_writes_csv_and_table(tmp_path, capsys):
    benchmark_main(["--epochs", "1", "--seeds", "0", "--methods", "rcdkd,source_only", "--out", str(tmp_path)])
    rows = list(csv.DictReader(open(tmp_path / "runs.csv")))
    assert [r["method"] for r in rows] == ["teacher", "rcdkd", "source_only"]  # the shared teacher first
    assert all(0 <= float(r["macro_f1"]) <= 100 for r in rows)
    table = (tmp_path / "results.md").read_text()
    assert "| rcdkd |" in table and "Command: `skrcd benchmark --epochs 1" in table
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


# ------------------------------------------------------------ every argument checked before any file
@pytest.fixture
def no_full_data(tmp_path, monkeypatch):
    """No full data files: only the bundled UCI-HAR subjects are there."""
    monkeypatch.delenv("SKRCD_DATA_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.mark.parametrize("argv, message", [
    (["demo", "--seed", "99999999999"], "argument --seed: must be <= 4294967295"),
    (["demo", "--seed", "-1"], "argument --seed: must be >= 0"),
    (["demo", "--source", "1", "--target", "3"], "--source 1 --target 3: uci_har_subjects.npz not found"),
    (["demo", "--epochs", "100000000000000000000"], "argument --epochs: must be <= 10000"),
    (["benchmark", "--seeds", "-1"], "--seeds must be >= 0, got '-1'"),
    (["benchmark", "--seeds", "0,4294967296"], "--seeds must be <= 4294967295"),
    (["benchmark", "--param", "random_state=3"], "--param random_state: this command sets random_state itself "
                                                 "(use --seeds)"),
    (["benchmark", "--param", "n_threads=2"], "(use --threads)"),
    (["benchmark", "--param", "device=cpu"], "(use --device)"),
    (["benchmark", "--epochs", "2", "--param", "student_epochs=5"], "(use --epochs, or --param without --epochs)"),
    (["benchmark", "--epochs", "2", "--variant", "v:student_epochs=5"], "--param student_epochs: this command"),
    (["benchmark", "--epochs", "100000000000000000000"], "argument --epochs: must be <= 10000"),
    (["benchmark", "--threads", "100000000000000000000"], "--threads must be <= 1024"),
    (["benchmark", "--n-jobs", "5000"], "--n-jobs must be <= 1024"),
    (["benchmark", "--data-home", "/no/such/folder"], "--data-home '/no/such/folder' is not a folder"),
    (["benchmark", "speed", "--param", "n_threads=2"], "--param n_threads: this command sets n_threads itself "
                                                       "(use --threads)"),
    (["benchmark", "speed", "--param", "random_state=1"], "(fixed at 0)"),
    (["benchmark", "speed", "--param", "selection=all"], "timed against selection='all'"),
    (["benchmark", "speed", "--param", "teacher_epochs=3"], "use --epochs and --full-fit-epochs"),
    (["benchmark", "speed", "--epochs", "100000000000000000000"], "argument --epochs: must be <= 10000"),
    (["benchmark", "speed", "--threads", "1,100000"], "--threads must be <= 1024"),
    (["benchmark", "deploy", "--scenarios", "1-3"], "--scenarios 1-3: uci_har_subjects.npz not found"),
    (["benchmark", "deploy", "--epochs", "100000000000000000000"], "--epochs must be <= 10000"),
    (["benchmark", "deploy", "--seeds", "99999999999"], "--seeds must be <= 4294967295"),
    (["benchmark", "deploy", "--batch", "100000000"], "--batch must be <= 65536"),
], ids=["demo_seed_huge", "demo_seed_negative", "demo_subjects_without_data", "demo_epochs_huge",
        "benchmark_seeds_negative", "benchmark_seed_huge", "benchmark_param_random_state", "benchmark_param_n_threads",
        "benchmark_param_device", "benchmark_param_epochs_with_epochs", "benchmark_variant_epochs_with_epochs",
        "benchmark_epochs_huge", "benchmark_threads_huge", "benchmark_n_jobs_huge", "benchmark_data_home_missing",
        "speed_param_n_threads", "speed_param_random_state", "speed_param_selection", "speed_param_epochs",
        "speed_epochs_huge", "speed_threads_huge", "deploy_scenarios_without_data", "deploy_epochs_huge",
        "deploy_seed_huge", "deploy_batch_huge"])
def test_named_bad_arguments_are_usage_errors_before_any_file(no_full_data, tmp_path, capsys, argv, message):
    """Each used to end in a traceback, several after files were created."""
    out = tmp_path / "out"
    if argv[0] == "benchmark":
        argv = argv + ["--out", str(out)]
    with pytest.raises(SystemExit) as exc:
        cli_main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err, err
    assert "usage: skrcd " in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("command", [["benchmark"], ["benchmark", "speed"], ["benchmark", "deploy"]],
                         ids=["benchmark", "speed", "deploy"])
def test_out_under_a_file_or_in_a_read_only_folder_is_refused(tmp_path, capsys, command):
    blocker = tmp_path / "file"
    blocker.write_text("kept")
    with pytest.raises(SystemExit) as exc:
        cli_main([*command, "--out", str(blocker / "sub" / "out")])
    assert exc.value.code == 2
    assert f"cannot be created: '{blocker}' is a file, not a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli_main([*command, "--out", str(tmp_path / ("x" * 300))])
    assert exc.value.code == 2 and "is longer than the" in capsys.readouterr().err
    assert sorted(tmp_path.iterdir()) == [blocker] and blocker.read_text() == "kept"
    if os.geteuid() == 0:  # root writes anywhere: no read-only folder to test
        return
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    for out in (locked, locked / "out"):
        with pytest.raises(SystemExit) as exc:
            cli_main([*command, "--out", str(out)])
        assert exc.value.code == 2 and "writable" in capsys.readouterr().err
    assert list(locked.iterdir()) == []


class _Reached(Exception):
    """The command passed its checks and was about to work."""


def _stop_before_work(monkeypatch):
    import skrcd.experiments.benchmark as bench
    import skrcd.experiments.demo as demo
    import skrcd.experiments.deploy as deploy
    import skrcd.experiments.speed as speed

    def reached(*args, **kwargs):
        raise _Reached

    def checked_then_reached(*args, **kwargs):
        real_check(*args, **kwargs)
        raise _Reached

    real_check = deploy._check_args
    monkeypatch.setattr(bench, "_run", reached)
    monkeypatch.setattr(demo, "run_demo", reached)
    monkeypatch.setattr(speed, "epoch_times", reached)
    monkeypatch.setattr(deploy, "_check_args", checked_then_reached)


#: Extreme and malformed values tried on every option of every command.
JUNK = ["", " ", "-1", "0", "1.5", "nan", "x", ",", "1,,2", "-", "100000000000000000000", "2-11,", "99-1"]


def test_no_value_of_any_option_gives_a_traceback_or_writes_before_the_checks(no_full_data, tmp_path, monkeypatch,
                                                                             capsys):
    """Every option of every command with extreme and malformed values: a usage error (status 2), or the command
    passes its checks and is stopped where it would start working; nothing written in either case."""
    _stop_before_work(monkeypatch)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    parsers = {(): build_parser()}
    for action in parsers[()]._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                parsers[(name,)] = sub
                for sub_action in sub._actions:
                    if isinstance(sub_action, argparse._SubParsersAction):
                        parsers.update({(name, n): p for n, p in sub_action.choices.items()})
    outcomes, tried = {"usage error": 0, "checked": 0}, 0
    for words, parser in parsers.items():
        if not words:
            continue
        for action in parser._actions:
            if not action.option_strings or action.nargs == 0 or isinstance(action, argparse._SubParsersAction):
                continue
            for value in JUNK:
                argv = [*words, action.option_strings[-1], value]
                if action.dest != "out" and words != ("demo",):
                    argv += ["--out", str(tmp_path / "out")]
                tried += 1
                try:
                    cli_main(argv)
                except SystemExit as exc:
                    assert exc.code == 2, argv
                    outcomes["usage error"] += 1
                except _Reached:
                    outcomes["checked"] += 1
                err = capsys.readouterr().err
                assert "Traceback" not in err, (argv, err)
                assert list(work.iterdir()) == [] and not (tmp_path / "out").exists(), argv
    assert tried > 400 and outcomes["usage error"] > 300 and outcomes["checked"] > 20, (tried, outcomes)


def test_ctrl_c_in_the_demos_teacher_stage_is_reported_without_a_traceback(monkeypatch, capsys):
    """The fit stops well; the demo used to raise KeyError: 'student' after it."""
    from skrcd.training.loop import StageNet

    def interrupted(self, batch, **fit_params):
        raise KeyboardInterrupt

    monkeypatch.setattr(StageNet, "train_step", interrupted)
    with pytest.warns(Warning, match="fit interrupted in stage 'teacher'"), pytest.raises(SystemExit) as exc:
        cli_main(["demo", "--epochs", "1", "--quiet"])
    out = capsys.readouterr().out
    assert exc.value.code == 130
    assert "interrupted (Ctrl-C) in stage 'teacher' after 0 of 1 epochs" in out and "no scores reported" in out


def test_a_keyboard_interrupt_in_any_command_exits_130_without_a_traceback(monkeypatch, capsys):
    import skrcd.experiments.speed as speed

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(speed, "epoch_times", interrupted)
    assert cli_main(["benchmark", "speed", "--epochs", "2", "--warmup", "1"]) == 130
    assert capsys.readouterr().err.strip() == "skrcd benchmark speed: interrupted (Ctrl-C)"
