"""The deployment benchmark (skrcd benchmark deploy) end to end, at tiny settings."""

import csv
import os

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from skrcd.experiments import deploy  # noqa: E402

TINY_RUN = ["--epochs", "1", "--scenarios", "2-11", "--seeds", "0", "--rounds", "1", "--latency-runs", "5",
            "--throughput-runs", "1", "--batch", "16", "--n-jobs", "1"]


@pytest.mark.slow
def test_benchmark_end_to_end_and_reuse(tmp_path, capsys):
    out = tmp_path / "deploy"
    rows = deploy.main(TINY_RUN + ["--out", str(out)])
    printed = capsys.readouterr().out
    assert "fitting 1 model(s) at 1 epochs per stage" in printed and "fitted uci_har_2-11_seed0_e1.skrcd" in printed
    assert {"runs.csv", "results.md", "models"} <= set(os.listdir(out))
    with open(out / "runs.csv") as f:
        csv_rows = list(csv.DictReader(f))
    assert [r["variant"] for r in csv_rows] == list(deploy.DEFAULT_VARIANTS) == [r["variant"] for r in rows]
    by = {r["variant"]: r for r in rows}
    # UCI-HAR: 9 channels x 128 steps; student (16, 32, 32) and teacher (64, 128, 128) counted by hand
    assert by["student_f32"]["macs"] == 16 * 128 * 9 * 5 + 32 * 66 * 16 * 8 + 32 * 35 * 32 * 8 + 6 * 32
    one_teacher = 64 * 128 * 9 * 5 + 128 * 66 * 64 * 8 + 128 * 35 * 128 * 8 + 6 * 128
    assert by["teacher_f32"]["macs"] == 2 * one_teacher  # the default teacher: two averaged
    assert by["student_int8"]["macs"] == by["student_f32"]["macs"]
    assert by["student_int8"]["bytes"] < by["student_f32"]["bytes"] < by["teacher_f32"]["bytes"]
    assert by["student_f32"]["agree"] == 1.0 and by["teacher_f32"]["agree"] == 1.0  # float files == predict
    for r in rows:
        assert r["lat_median_us"] > 0 and r["lat_p99_us"] >= r["lat_median_us"] and r["throughput"] > 0
        assert 0 <= r["macro_f1"] <= 100 and r["n_test"] == 95
        assert r["memory_mib"] > 0 or r["memory_mib"] != r["memory_mib"]  # NaN off Linux
    text = (out / "results.md").read_text()
    assert text.startswith("Command: `skrcd benchmark deploy --epochs 1")
    assert "load average" in text and "| **mean** | student_int8 |" in text and "## Targets" in text
    pytest.importorskip("matplotlib")
    assert (out / "deploy.png").stat().st_size > 0
    # --reuse without the fitting run's --epochs: refused, nothing fitted or replaced (it used to refit 80 + 80
    # epochs in silence and replace runs.csv)
    before = {name: (out / name).read_bytes() for name in ("runs.csv", "results.md")}
    without_epochs = TINY_RUN[2:]
    assert TINY_RUN[:2] == ["--epochs", "1"]
    with pytest.raises(SystemExit) as exc:
        deploy.main(without_epochs + ["--out", str(out), "--reuse"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "--reuse fits nothing" in err
    assert "missing: uci_har_2-11_seed0_default.skrcd" in err and "holds: uci_har_2-11_seed0_e1.skrcd" in err
    assert before == {name: (out / name).read_bytes() for name in before}
    # a model file of the right name but other settings is refused too
    models = out / "models"
    os.replace(models / "uci_har_2-11_seed0_e1.skrcd", models / "uci_har_2-11_seed0_e2.skrcd")
    with pytest.raises(SystemExit):
        deploy.main(TINY_RUN[:1] + ["2"] + TINY_RUN[2:] + ["--out", str(out), "--reuse"])
    assert "uci_har_2-11_seed0_e2.skrcd (random_state 0, epochs (1, 1); wanted 0, (2, 2))" in capsys.readouterr().err
    os.replace(models / "uci_har_2-11_seed0_e2.skrcd", models / "uci_har_2-11_seed0_e1.skrcd")
    # timing again with the saved estimator: no fit
    deploy.main(TINY_RUN + ["--out", str(out), "--reuse", "--variants", "student_f32,student_f32_plain"])
    assert "fitted uci_har" not in capsys.readouterr().out
    with open(out / "runs.csv") as f:
        assert [r["variant"] for r in csv.DictReader(f)] == ["student_f32", "student_f32_plain"]


@pytest.mark.parametrize("args, match", [
    (["--scenarios", "2-2"], "same source and target"),
    (["--scenarios", "2to11"], "is not SOURCE-TARGET"),
    (["--scenarios", "2-31"], "subjects are 1..30"),
    (["--seeds", "a"], "--seeds must be integers"),
    (["--seeds", "-1"], "--seeds must be >= 0"),
    (["--variants", "student_fp16"], "unknown file 'student_fp16'"),
    (["--variants", ","], "--variants is empty"),
    (["--epochs", "0"], "--epochs must be >= 1"),
    (["--reuse"], "--reuse fits nothing, and these models are missing: uci_har_2-11_seed0_default.skrcd"),
    (["--batch", "0"], "--batch must be >= 1"),
    (["--rounds", "0"], "--rounds must be >= 1"),
    (["--n-jobs", "0"], "--n-jobs must be >= 1"),
    (["--data-home", "/no/such/folder"], "is not a folder"),
])
def test_benchmark_argument_errors_before_any_file(tmp_path, capsys, args, match):
    out = tmp_path / "never"
    with pytest.raises(SystemExit) as exc:
        deploy.main(args + ["--out", str(out)])
    assert exc.value.code == 2 and match in capsys.readouterr().err
    assert not out.exists()


def test_benchmark_out_must_be_a_folder(tmp_path, capsys):
    path = tmp_path / "file"
    path.write_text("")
    with pytest.raises(SystemExit):
        deploy.main(["--out", str(path)])
    assert "is not a folder" in capsys.readouterr().err


def test_benchmark_needs_out(capsys):
    with pytest.raises(SystemExit):
        deploy.main([])
    assert "--out" in capsys.readouterr().err
