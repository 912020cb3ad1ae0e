"""``skrcd benchmark``: the CI smoke run of every method, teacher sharing, --resume, argument errors, dask, CWRU."""

import csv
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

import skrcd.experiments.benchmark as bench
from skrcd import RCDKDClassifier
from skrcd.experiments.benchmark import METHODS, TEACHER_METHODS, main
from skrcd.datasets import load_scenario

ONE = ["--scenarios", "2-11", "--seeds", "0", "--threads", "1"]
CWRU_HOME = Path(__file__).resolve().parents[3] / "shared" / "data" / "cwru"


def _rows(out):
    with open(out / "runs.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def fits(monkeypatch):
    """Spy on the fits the benchmark runs (in this process: --n-jobs 1): method -> fitted estimator."""
    seen = {}
    real = bench._fit_and_score

    def spy(method, *args, **kwargs):
        rows, history, clf = real(method, *args, **kwargs)
        seen[method] = clf
        return rows, history, clf

    monkeypatch.setattr(bench, "_fit_and_score", spy)
    return seen


@pytest.mark.slow
def test_smoke_all_methods(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from matplotlib.image import imread

    t0 = time.perf_counter()
    main([*ONE, "--epochs", "2", "--methods", ",".join(METHODS), "--out", str(tmp_path)])
    elapsed = time.perf_counter() - t0
    out, err = capsys.readouterr()
    rows = _rows(tmp_path)
    assert sorted(r["method"] for r in rows) == sorted([*METHODS, "teacher"])  # one row each, one teacher row
    by_method = {r["method"]: r for r in rows}
    for r in rows:
        assert 0 <= float(r["macro_f1"]) <= 100 and 0 <= float(r["accuracy"]) <= 100
        assert r["params"] == str(int(r["params"])) and int(r["params"]) > 0
        assert (r["dataset"], r["scenario"], r["seed"]) == ("uci_har", "2-11", "0") and r["worker"]
    # the default teacher: two paper-sized teachers averaged (n_teachers="auto")
    assert int(by_method["teacher"]["params"]) == 2 * 200_902 and int(by_method["rcdkd"]["params"]) == 13_366
    teacher_time = float(by_method["teacher"]["fit_time_teacher"])
    assert teacher_time > 0
    for m in METHODS:  # the shared teacher's fit time is reported by the methods that use it, and only by them
        if m in TEACHER_METHODS:
            assert float(by_method[m]["fit_time_teacher"]) == teacher_time, m
        elif m == "rcdkd_paper":  # the paper's configuration trains its own teacher (raw inputs)
            assert 0 < float(by_method[m]["fit_time_teacher"]) != teacher_time
        else:
            assert float(by_method[m]["fit_time_teacher"]) == 0.0, m
    # results.md: a macro-F1 and an accuracy table, each with every method
    results = (tmp_path / "results.md").read_text()
    f1_part, acc_part = results.split("## Macro-F1")[1].split("## Accuracy")
    for part in (f1_part, acc_part):
        for m in [*METHODS, "teacher"]:
            assert f"| {m} | " in part, m
        assert "| method | 2-11 | mean |" in part
    # paired comparisons with both default baselines, every other method a row of its own
    for baseline in ("kd_all", "kd_random"):
        table = results.split(f"## Paired comparison with {baseline}")[1].split("##")[0]
        assert f"mean difference vs {baseline}" in table
        for m in [*METHODS, "teacher"]:
            assert (f"| {m} | 1 | " in table) == (m != baseline), (baseline, m)
        assert f"paired with {baseline}" in out
    # one line per run on stdout, the progress bar on stderr
    for m in [*METHODS, "teacher"]:
        assert f"  2-11 seed 0 {m} " in out, m
    assert f"{len(METHODS) + 1}/{len(METHODS) + 1}" in err
    for name in ("bars.png", "rcdkd_curves.png"):
        path = tmp_path / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        image = imread(path)
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    histories = {p.name: json.loads(p.read_text()) for p in (tmp_path / "histories").glob("*.json")}
    assert set(histories) == {f"{m}_2-11_seed0.json" for m in [*METHODS, "teacher"]}
    assert [r["stage"] for r in histories["teacher_2-11_seed0.json"]] == ["teacher"] * 2 + ["teacher_2"] * 2
    assert [r["stage"] for r in histories["rcdkd_2-11_seed0.json"]] == ["student"] * 2  # no teacher stage of its own
    print(f"smoke benchmark: {elapsed:.1f} s")


@pytest.mark.slow
def test_methods_distil_exactly_the_shared_teacher(tmp_path, fits):
    main([*ONE, "--epochs", "1", "--methods", "rcdkd,mobileda,aad,source_only", "--out", str(tmp_path)])
    assert set(fits) == {"teacher", "rcdkd", "mobileda", "aad", "source_only"}  # the teacher was fitted once
    teacher = fits["teacher"]
    saved = RCDKDClassifier.load(tmp_path / "teachers" / "uci_har_2-11_seed0.skrcd")
    sc = load_scenario("uci_har", 2, 11)
    expected = teacher.predict_proba(sc.X_test, network="teacher")
    np.testing.assert_array_equal(saved.predict_proba(sc.X_test, network="teacher"), expected)
    for m in ("rcdkd", "mobileda", "aad"):
        clf = fits[m]
        np.testing.assert_array_equal(clf.predict_proba(sc.X_test, network="teacher"), expected)
        assert clf.teacher_ is not teacher.teacher_ and clf.discriminator_ is not teacher.discriminator_  # copies
        assert {row["stage"] for row in clf.history_} == {m if m != "rcdkd" else "student"}  # no teacher training
    assert fits["source_only"].teacher_ is None
    # distilling trained the students' copies of the discriminator, not the shared one
    for name, value in teacher.discriminator_.state_dict().items():
        assert np.array_equal(value.numpy(), saved.discriminator_.state_dict()[name].numpy())
    assert any(not np.array_equal(v.numpy(), teacher.discriminator_.state_dict()[k].numpy())
               for k, v in fits["aad"].discriminator_.state_dict().items())


@pytest.mark.slow
def test_resume_skips_finished_runs(tmp_path, fits):
    main([*ONE, "--epochs", "1", "--methods", "rcdkd,source_only", "--out", str(tmp_path)])
    first = {r["method"]: r for r in _rows(tmp_path)}
    assert set(first) == {"teacher", "rcdkd", "source_only"}
    with open(tmp_path / "runs.csv", newline="") as f:  # an interrupted benchmark: source_only did not finish
        lines = [line for line in f if ",source_only," not in line]
    (tmp_path / "runs.csv").write_text("".join(lines))
    fits.clear()
    main([*ONE, "--epochs", "1", "--methods", "rcdkd,kd_random,source_only", "--resume", "--out", str(tmp_path)])
    assert set(fits) == {"source_only", "kd_random"}  # the teacher was read from teachers/, rcdkd kept
    rows = _rows(tmp_path)
    assert sorted(r["method"] for r in rows) == ["kd_random", "rcdkd", "source_only", "teacher"]
    again = {r["method"]: r for r in rows}
    assert again["rcdkd"] == first["rcdkd"] and again["teacher"] == first["teacher"]
    kd_random = fits["kd_random"]
    rates = [float(v) for v in first["rcdkd"]["selected_per_epoch"].split()]
    assert kd_random.selection.rate == rates  # the rcdkd run's rates, read back from runs.csv
    assert "| kd_random |" in (tmp_path / "results.md").read_text()
    main([*ONE, "--epochs", "1", "--methods", "rcdkd,kd_random,source_only", "--resume", "--out", str(tmp_path)])
    assert len(_rows(tmp_path)) == 4  # nothing left to run


def test_resume_refuses_other_settings_and_results_keep_every_run(tmp_path, fits, capsys):
    """--resume with other --epochs and --param used to run nothing and head results.md with the new command over
    the old numbers; it is refused, naming the differences, and results.md summarises every run of the folder."""
    main([*ONE, "--epochs", "1", "--methods", "source_only", "--out", str(tmp_path)])
    settings = json.loads((tmp_path / "settings.json").read_text())
    assert settings == {"dataset": "uci_har", "epochs": 1, "params": {}, "variants": {},
                        "skrcd": settings["skrcd"]}
    before = {name: (tmp_path / name).read_bytes() for name in ("runs.csv", "results.md", "settings.json")}
    fits.clear()
    with pytest.raises(SystemExit) as exc:
        main([*ONE, "--epochs", "5", "--param", "student_lr=0.001", "--methods", "source_only", "--resume",
              "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "--resume: " in err and "holds runs made with other settings" in err
    assert "epochs: 1 then, 5 now" in err and "params: {} then, {'student_lr': 0.001} now" in err
    assert fits == {} and before == {name: (tmp_path / name).read_bytes() for name in before}
    # the same settings on another scenario: results.md keeps the first scenario's run
    main(["--scenarios", "7-13", "--seeds", "0", "--epochs", "1", "--methods", "source_only", "--resume", "--out",
          str(tmp_path)])
    assert set(fits) == {"source_only"} and len(_rows(tmp_path)) == 2
    results = (tmp_path / "results.md").read_text()
    assert "2-11" in results and "7-13" in results
    # a folder of an earlier skrcd (no settings.json) resumes with a notice, and records the settings
    (tmp_path / "settings.json").unlink()
    fits.clear()
    main([*ONE, "--epochs", "1", "--methods", "source_only", "--resume", "--out", str(tmp_path)])
    assert fits == {} and "has no settings.json" in capsys.readouterr().err
    assert json.loads((tmp_path / "settings.json").read_text())["epochs"] == 1


@pytest.mark.parametrize("argv, message", [
    (["--dataset", "mnist"], "invalid choice: 'mnist'"),
    (["--methods", "rcdkd,best_method"], "unknown method 'best_method'"),
    (["--methods", "kd_random,rcdkd"], "list rcdkd before it"),
    (["--methods", "kd_random"], "list rcdkd before it"),
    (["--scenarios", "2_11"], "'2_11' is not SOURCE-TARGET"),
    (["--scenarios", "papers"], "uci_har has no list 'papers'"),
    (["--scenarios", "2-11,2-99"], "99 in '2-99' is not a domain of uci_har"),
    (["--scenarios", "2-2"], "same source and target"),
    (["--scenarios", "1-3"], "--dataset uci_har: uci_har_subjects.npz not found"),
    (["--dataset", "cwru", "--scenarios", "0-5"], "5 in '0-5' is not a domain of cwru"),
    (["--dataset", "cwru", "--scenarios", "paper"], "--dataset cwru: cwru_loads.npz"),
    (["--dataset", "cwru"], "--dataset cwru: cwru_loads.npz"),  # the default scenario is the data set's own
    (["--dataset", "hhar", "--scenarios", "paper"], "hhar_domains.npz not found"),
    (["--dataset", "ssc", "--scenarios", "adatime"], "run skrcd.datasets.fetch_adatime('ssc')"),
    (["--dataset", "wisdm", "--scenarios", "paper"], "a list of wisdm ('adatime'); wisdm has no list 'paper'"),
    (["--dataset", "fd", "--scenarios", "0-4"], "4 in '0-4' is not a domain of fd"),
    (["--seeds", "0,a"], "--seeds must be integers"),
    (["--backend", "spark"], "invalid choice: 'spark'"),
    (["--scheduler", "tcp://127.0.0.1:8786"], "--scheduler needs --backend dask"),
    (["--n-jobs", "0"], "--n-jobs must be >= 1 or -1"),
    (["--param", "selector_hidden"], "--param 'selector_hidden' is not NAME=VALUE"),
    (["--param", "hidden=64"], "--param 'hidden' is not an estimator parameter"),
    (["--param", "student_ema=True"], "--param student_ema=True: values are read as JSON; write student_ema=true"),
    (["--variant", "v:reward_quantile=None"], "values are read as JSON; write reward_quantile=null"),
])
def test_argument_errors_before_any_run(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.delenv("SKRCD_DATA_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # no full data files
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_runs_on_a_dask_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    # two worker threads: on a cluster of one thread, joblib runs everything in the calling process
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0",
                                  silence_logs=40) as cluster:
        workers = {w.address for w in cluster.workers.values()}
        main([*ONE, "--backend", "dask", "--scheduler", cluster.scheduler_address, "--methods", "source_only",
              "--epochs", "1", "--out", str(tmp_path)])
        prefixes = set(cluster.scheduler.task_prefixes)
    rows = _rows(tmp_path)
    assert [r["method"] for r in rows] == ["source_only"]
    assert rows[0]["worker"] in workers  # the fit ran in the cluster's worker
    assert any("_execute" in p for p in prefixes), prefixes  # ... as a task of the scheduler


@pytest.mark.skipif(not (CWRU_HOME / "cwru_loads.npz").is_file(), reason="no CWRU data file")
def test_cwru_uses_the_bearing_preset(tmp_path):
    from skrcd.nn.networks import CNN1D, count_parameters

    main(["--dataset", "cwru", "--data-home", str(CWRU_HOME), "--scenarios", "0-1", "--seeds", "0", "--methods",
          "source_only", "--epochs", "1", "--out", str(tmp_path)])
    (row,) = _rows(tmp_path)
    assert (row["dataset"], row["scenario"]) == ("cwru", "0-1") and 0 <= float(row["macro_f1"]) <= 100
    assert int(row["params"]) == count_parameters(CNN1D(1, 9, (16, 32, 32), kernel_size=32, stride=6))
    assert os.path.exists(tmp_path / "bars.png") or pytest.importorskip("matplotlib") is None


def test_without_matplotlib_the_plots_are_skipped(tmp_path, monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    main([*ONE, "--epochs", "1", "--methods", "source_only", "--out", str(tmp_path)])
    assert "matplotlib is not installed: no plots" in capsys.readouterr().err
    assert (tmp_path / "results.md").exists() and not (tmp_path / "bars.png").exists()


def test_speed_rejects_unknown_params_before_timing(capsys):
    from skrcd.experiments.speed import main as speed_main

    with pytest.raises(SystemExit) as exc:
        speed_main(["--param", "selector_width=64"])
    assert exc.value.code == 2
    assert "'selector_width' is not an estimator parameter" in capsys.readouterr().err


def _tiny_adatime(home, name, domains, n=6, seed=0):
    """A small data file of an AdaTime set: n train and n test windows per domain, labels cycling through the classes."""
    from skrcd.datasets import ADATIME_DATASETS
    from skrcd.datasets._base import write_npz

    spec = ADATIME_DATASETS[name]
    rng = np.random.default_rng(seed)
    rows = len(domains) * 2 * n
    y = np.arange(rows) % len(spec.classes)
    X = rng.standard_normal((rows, spec.channels, spec.length)).astype(np.float32) + y[:, None, None]
    write_npz(home / name / spec.filename, {
        "X": X, "y": y.astype(np.int8), "domain": np.repeat(domains, 2 * n).astype(np.int16),
        "split": np.tile(np.repeat([0, 1], n), len(domains)).astype(np.int8)})


def test_help_lists_every_data_sets_scenarios(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--dataset", "ssc", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for line in ("ssc (80 epochs per stage; kernel_size=25, stride=6, dropout=0.2, batch_size=128):",
                 "paper    0-11 12-5 7-18 16-1 9-14", "paper    2-7 0-6 1-6 3-8 4-5",
                 "adatime  7-18 20-30 35-31 17-23 6-19 2-11 33-12 5-26 28-4 23-32",
                 "adatime  0-1 0-3 1-0 1-2 1-3 2-1 2-3 3-0 3-1 3-2", "wisdm (40 epochs per stage; defaults):"):
        assert line in out, line


def test_an_adatime_set_runs_offline_with_its_settings(tmp_path):
    from skrcd.nn.networks import CNN1D, count_parameters

    _tiny_adatime(tmp_path / "home", "ssc", [0, 11], n=5)  # every class in each part
    main(["--dataset", "ssc", "--data-home", str(tmp_path / "home"), "--seeds", "0", "--methods", "source_only",
          "--epochs", "1", "--out", str(tmp_path / "out")])
    (row,) = _rows(tmp_path / "out")
    assert (row["dataset"], row["scenario"]) == ("ssc", "0-11") and 0 <= float(row["macro_f1"]) <= 100
    assert int(row["params"]) == count_parameters(CNN1D(1, 5, (16, 32, 32), kernel_size=25, stride=6))


def test_the_data_sets_epochs_apply_unless_given(tmp_path, fits, monkeypatch, capsys):
    _tiny_adatime(tmp_path / "home", "hhar", [2, 7])
    monkeypatch.setitem(bench.DATASET_EPOCHS, "hhar", 2)
    args = ["--dataset", "hhar", "--data-home", str(tmp_path / "home"), "--scenarios", "2-7", "--seeds", "0",
            "--methods", "source_only"]
    main([*args, "--out", str(tmp_path / "a")])
    assert fits["source_only"].student_epochs == 2 and len(fits["source_only"].history_) == 2
    main([*args, "--param", "student_epochs=1", "--out", str(tmp_path / "b")])
    assert fits["source_only"].student_epochs == 1  # --param overrides the data set's epochs
    fits.clear()
    with pytest.raises(SystemExit) as exc:  # --epochs and --param on the same epochs: refused before any fit
        main([*args, "--param", "student_epochs=3", "--epochs", "1", "--out", str(tmp_path / "c")])
    assert exc.value.code == 2 and not fits
    assert "sets student_epochs itself" in capsys.readouterr().err
