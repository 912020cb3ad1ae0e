"""Histories in model files and checkpoints: what save writes, load reads, whatever the history's length or rows."""

import json
import warnings
import zipfile

import numpy as np
import pytest
from skorch.history import History

import skrcd.persistence.history as stored
from conftest import TINY
from skrcd import RCDKDClassifier
from skrcd.datasets import make_domain_shift
from skrcd.persistence import ModelFileError, load
from skrcd.persistence.archive import MAX_METADATA_BYTES, FieldReader

#: What a 500,000-row history may add to a model file (docs/reliability.md): 6 or 7 bytes per batch row.
LONG_HISTORY_BYTES = 4 * 2**20


@pytest.fixture(scope="module")
def data():
    return make_domain_shift(n_source=20, n_target=16, n_classes=3, length=16, random_state=0)


@pytest.fixture(scope="module")
def fitted(data):
    X_src, y_src, X_tgt, _ = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return RCDKDClassifier(**TINY).fit(X_src, y_src, X_tgt)


def _long_history(n_epochs, n_batches):
    """A history shaped like a fit's: float32 losses and the batch size per batch row, an epoch row each."""
    losses = np.random.default_rng(0).random((n_epochs, n_batches), dtype=np.float32).tolist()
    return History([{"batches": [{"train_loss": x, "train_batch_size": 64} for x in losses[e]], "epoch": e + 1,
                     "stage": "teacher" if e < n_epochs // 2 else "student", "train_batch_count": n_batches,
                     "loss": float(np.mean(losses[e])), "dur": 0.25, "train_loss": 0.5, "train_loss_best": e == 0}
                    for e in range(n_epochs)])


def test_a_history_of_500000_batch_rows_round_trips_within_the_documented_size(fitted, data, tmp_path):
    """As JSON metadata this history takes about 45 MB (a long fit's 11.8 MiB already met the 8 MiB cap); stored as
    columns it adds under 4 MiB, and load gives it back equal, key order included."""
    plain = fitted.save(tmp_path / "plain.skrcd").stat().st_size
    est = RCDKDClassifier.load(tmp_path / "plain.skrcd")
    est.history_ = _long_history(500, 1000)
    assert len(json.dumps(list(est.history_))) > MAX_METADATA_BYTES
    path = est.save(tmp_path / "long.skrcd")
    assert path.stat().st_size - plain < LONG_HISTORY_BYTES
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo("skrcd.json").file_size < 64 * 1024
    again = load(path)
    assert again.history_ == est.history_
    assert [list(r) for r in again.history_[:2]] == [list(r) for r in est.history_[:2]]
    np.testing.assert_array_equal(again.predict_proba(data[2]), fitted.predict_proba(data[2]))


def test_rows_of_any_keys_and_values_round_trip_exactly(fitted, tmp_path):
    rows = [
        {"batches": [{"train_loss": 0.1, "n": 3}, {"n": 2, "train_loss": 0.2, "note": "x"}], "epoch": 1,
         "dur": 0.1, "flag": True, "big": 2**62, "f64": 0.1, "mixed": 1},
        {"epoch": 2, "batches": [], "stage": "s", "none": None, "nested": [1, [2, {"a": (3, 4)}]], "mixed": 1.5,
         "f64": float("inf"), "flag": False, "huge": 10**30},
        {"epoch": 3, "other": "only here"},
    ]
    fitted_copy = RCDKDClassifier.load(fitted.save(tmp_path / "a.skrcd"))
    fitted_copy.history_ = History(rows)
    again = load(fitted_copy.save(tmp_path / "b.skrcd"))
    assert list(again.history_) == rows
    for got, want in zip(again.history_, rows):
        assert list(got) == list(want)
        assert [type(v) for v in got.values()] == [type(v) for v in want.values()]
    assert again.history_[1]["nested"][1][1]["a"] == (3, 4)


def test_a_history_beyond_the_limits_is_saved_without_its_batch_rows(fitted, tmp_path, monkeypatch):
    est = RCDKDClassifier.load(fitted.save(tmp_path / "a.skrcd"))
    est.history_ = _long_history(4, 100)
    monkeypatch.setattr(stored, "MAX_HISTORY_VALUES", 200)
    with pytest.warns(UserWarning, match="history_: the per-batch rows of the history were not saved"):
        path = est.save(tmp_path / "b.skrcd")
    again = load(path)
    assert [r["batches"] for r in again.history_] == [[]] * 4
    assert [{k: v for k, v in r.items() if k != "batches"} for r in again.history_] == [
        {k: v for k, v in r.items() if k != "batches"} for r in est.history_]


def test_a_history_with_no_json_form_is_skipped_with_a_warning(fitted, tmp_path):
    est = RCDKDClassifier.load(fitted.save(tmp_path / "a.skrcd"))
    est.history_ = History([{"epoch": 1, "weights": np.zeros(3)}])
    with pytest.warns(UserWarning, match="not saved .*history_"):
        path = est.save(tmp_path / "b.skrcd")
    assert "history_" not in vars(load(path))  # the rest of the model loads


@pytest.mark.parametrize("edit, match", [
    (lambda s, t: s["epochs"].update(rows=10**9), "epochs.rows: 1000000000 is not a row count"),
    (lambda s, t: s["epochs"]["columns"].append(["x", "pickle"]), "epochs.columns\\[.*\\]: .* is not \\[name, kind\\]"),
    (lambda s, t: s["epochs"]["layouts"].append([0, 0]), "epochs.layouts\\[1\\]"),
    (lambda s, t: s["batches"]["layouts"][0].append(99), "batches.layouts\\[0\\]"),
    (lambda s, t: t.update({"epochs.layout": np.full(2, 7, np.uint8)}), "epochs.layout: names layout 7"),
    (lambda s, t: t.update({"batches.0": np.zeros(5, np.float32)}), "batches.train_loss: a torch.float32 tensor"),
    (lambda s, t: t.update({"batches.0": np.zeros(3, np.int64)}), "batches.train_loss: a torch.int64 tensor"),
    (lambda s, t: t.update({"epochs.2": np.zeros(2, np.float32)}), "epochs.stage: missing, or not the bytes"),
    (lambda s, t: t.update({"epochs.2": np.frombuffer(bytearray(b"[1,"), np.uint8)}), "epochs.stage: not valid JSON"),
    (lambda s, t: t.update({"epochs.2": np.frombuffer(bytearray(b'["a",1,2]'), np.uint8)}), "epochs.stage: not a list of 2"),
    (lambda s, t: t.update({"epochs.0": np.array([2, 2])}), "epochs.batches: batch counts summing to 4"),
    (lambda s, t: s.pop("batches"), "epochs.columns\\[0\\]"),
], ids=["rows_huge", "kind_unknown", "layout_repeats_a_column", "layout_names_no_column", "layout_id_out_of_range",
        "column_too_long", "column_of_ints_for_floats", "json_column_of_floats", "json_invalid", "json_column_too_long",
        "batch_counts_inconsistent", "batch_table_missing"])
def test_each_malformed_field_of_a_stored_history_is_named(edit, match):
    import torch

    rows = [{"batches": [{"train_loss": 0.5}, {"train_loss": 0.25}], "epoch": 1, "stage": "teacher"},
            {"batches": [{"train_loss": 0.125}], "epoch": 2, "stage": "student"}]
    spec, tensors, _ = stored.encode_history(rows)
    spec, tensors = json.loads(json.dumps(spec)), dict(tensors)
    assert [c[0] for c in spec["epochs"]["columns"]] == ["batches", "epoch", "stage"]
    edit(spec, tensors)
    tensors = {k: torch.as_tensor(v) for k, v in tensors.items()}
    with pytest.raises(ModelFileError, match=match):
        stored.decode_history(FieldReader("f.skrcd"), spec, tensors, "attributes.history_")


@pytest.mark.slow
def test_a_long_fit_checkpoints_its_whole_history(data, tmp_path, monkeypatch):
    """A checkpoint stores the history as columns too: resuming from one whose history is beyond the old metadata
    cap restores it (the history is made long by a callback that logs many batch rows)."""
    from skorch.callbacks import Callback

    class ManyBatches(Callback):
        def on_epoch_end(self, net, **kwargs):
            net.history[-1]["batches"].extend({"train_loss": 0.5, "train_batch_size": 16} for _ in range(100_000))

    X_src, y_src, X_tgt, _ = data
    params = dict(TINY, teacher_epochs=2, student_epochs=1, checkpoint_every=1, checkpoint_dir=tmp_path / "ck")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = RCDKDClassifier(**params, callbacks=[ManyBatches()]).fit(X_src, y_src, X_tgt)
        assert len(json.dumps(list(full.history_))) > MAX_METADATA_BYTES
        resumed = RCDKDClassifier(**params, callbacks=[ManyBatches()]).fit(X_src, y_src, X_tgt, resume=True)
    assert resumed.history_ == full.history_
