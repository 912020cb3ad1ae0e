"""Checkpoints as untrusted input: every malformed field is a ModelFileError naming it, an impossible epoch is
refused, and a fuzz over every field resumes correctly or is refused; nothing else escapes."""

import io
import json
import shutil
import zipfile

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from conftest import TINY
from skrcd import RCDKDClassifier
from skrcd.datasets import make_domain_shift
from skrcd.persistence import ModelFileError
from skrcd.training import CHECKPOINT_FILE

PARAMS = dict(TINY, teacher_epochs=2, student_epochs=2, checkpoint_every=1, memory_capacity=64, selector_hidden=4)


@pytest.fixture(scope="module")
def data():
    return make_domain_shift(n_source=20, n_target=16, n_classes=3, length=16, random_state=0)


@pytest.fixture(scope="module")
def checkpoint(data, tmp_path_factory):
    """The checkpoint written at the end of student epoch 1 of 2 (replay memory, optimisers and RNG states in
    use), and the predictions of the uninterrupted fit."""
    X_src, y_src, X_tgt, _ = data
    directory, keep = tmp_path_factory.mktemp("ckpt"), tmp_path_factory.mktemp("kept") / CHECKPOINT_FILE

    class Keep(Callback):
        def on_epoch_end(self, net, **kwargs):
            # runs before this epoch's checkpoint: the file then holds the student's epoch 1
            if net.stage_.name == "student" and len(net.history) == 2:
                shutil.copy(directory / CHECKPOINT_FILE, keep)

    full = RCDKDClassifier(**PARAMS, checkpoint_dir=directory, callbacks=[Keep()]).fit(X_src, y_src, X_tgt)
    with zipfile.ZipFile(keep) as zf:
        meta, raw = json.loads(zf.read("skrcd.json")), zf.read("tensors.pt")
    return meta, torch.load(io.BytesIO(raw), weights_only=True), full.predict_proba(X_tgt)


def _write(directory, meta, tensors):
    buf = io.BytesIO()
    torch.save(tensors, buf)
    directory.mkdir(exist_ok=True)
    with zipfile.ZipFile(directory / CHECKPOINT_FILE, "w") as zf:
        zf.writestr("skrcd.json", json.dumps(meta))
        zf.writestr("tensors.pt", buf.getvalue())
    return directory


def _resume(data, directory):
    X_src, y_src, X_tgt, _ = data
    return RCDKDClassifier(**PARAMS, checkpoint_dir=directory).fit(X_src, y_src, X_tgt, resume=True)


def test_the_untampered_checkpoint_resumes_to_the_uninterrupted_fit(data, checkpoint, tmp_path):
    meta, tensors, expected = checkpoint
    assert meta["stage"] == "student" and meta["epoch"] == 1
    clf = _resume(data, _write(tmp_path / "ok", meta, tensors))
    np.testing.assert_array_equal(clf.predict_proba(data[2]), expected)


def test_a_checkpoint_written_before_a_parameter_existed_resumes_with_its_earlier_value(data, checkpoint, tmp_path):
    meta, tensors, expected = checkpoint
    old = json.loads(json.dumps(meta))
    del old["fingerprint"]["params"]["teacher_vat_every"]  # written before the parameter: VAT on every step
    clf = _resume(data, _write(tmp_path / "old", old, tensors))
    np.testing.assert_array_equal(clf.predict_proba(data[2]), expected)
    X_src, y_src, X_tgt, _ = data
    with pytest.raises(ValueError, match="other parameters.*teacher_vat_every: 1 then, 3 now"):
        RCDKDClassifier(**PARAMS, teacher_vat_every=3, checkpoint_dir=tmp_path / "old").fit(X_src, y_src, X_tgt,
                                                                                           resume=True)


def _stage(tensors):
    return tensors["stage"]


@pytest.mark.parametrize("edit, match", [
    (lambda m, t: m.update(epoch=999), "epoch: 999 is not an epoch of a stage of 2 epochs"),
    (lambda m, t: m.update(epoch=-1), "epoch: -1 is not an epoch"),
    (lambda m, t: m.update(epoch=2), "epoch: 2, but the history holds epochs \\[1\\]"),
    (lambda m, t: m.update(epoch=0), "epoch: 0, but the history holds epochs \\[1\\]"),
    (lambda m, t: m.update(n_epochs=5, epoch=1), "n_epochs: 5, but stage 'student' of this fit has 2 epochs"),
    (lambda m, t: m.update(epoch="1"), "epoch: a str"),
    (lambda m, t: m.update(stage=3), "stage: an int"),
    (lambda m, t: m.update(stage="evil"), "of stage 'evil'"),
    (lambda m, t: m.update(completed_stages="teacher"), "completed_stages: a str"),
    (lambda m, t: m.update(completed_stages=["student"]), "completed_stages"),
    (lambda m, t: m.update(history={"a": 1}), "history: {'a': 1} is not a stored history"),
    (lambda m, t: m["history"]["epochs"].update(rows=10**9), "history.epochs.rows: 1000000000 is not a row count"),
    (lambda m, t: t["history"].update({"epochs.layout": torch.zeros(7, dtype=torch.uint8)}),
     "tensors history.epochs.layout: a torch.uint8 tensor of shape \\(7,\\)"),
    (lambda m, t: t["history"].pop("batches.0"), "tensors history.batches.train_loss: missing"),
    (lambda m, t: m.update(history=[1, 2]), "history: a row is not a dict"),
    (lambda m, t: m.update(fingerprint=[]), "fingerprint: a list"),
    (lambda m, t: m["fingerprint"].pop("data"), "fingerprint.data: missing"),
    (lambda m, t: t.update(rng={"torch": torch.zeros(3)}), "rng.torch: a torch.float32 tensor"),
    (lambda m, t: t["rng"].update(generator=torch.zeros(5, dtype=torch.uint8)), "rng.generator: not a random"),
    (lambda m, t: t.update(networks=[1]), "tensors networks: a list"),
    (lambda m, t: t["networks"]["teacher_"].update({"head.weight": torch.zeros(2)}), "networks.teacher_"),
    (lambda m, t: _stage(t)["modules"][0].update({"head.weight": torch.zeros(7, 7)}),
     "tensors stage.modules\\[0\\].head.weight: torch.float32 \\(7, 7\\) where this fit has"),
    (lambda m, t: _stage(t)["modules"].pop(), "tensors stage.modules: .* where this fit has 3 items"),
    (lambda m, t: _stage(t)["modules"][0].update({"head.weight": torch.full((3, 4), float("nan"))}),
     "tensors.stage.modules\\[0\\].head.weight: not finite"),
    (lambda m, t: _stage(t)["strategy"]["memory"].update(size=10**9), "stage.strategy.memory: size 1000000000"),
    (lambda m, t: _stage(t)["strategy"]["memory"].update(state=torch.zeros(1, 4)),
     "stage.strategy.memory.state: \\(1, 4\\) where this fit has \\([0-9]+, 4\\)"),
    (lambda m, t: _stage(t)["strategy"]["memory"].update(position="x"), "tensors stage: cannot be restored"),
    (lambda m, t: _stage(t)["optimizer"]["state"][0].update(exp_avg=torch.zeros(2)),
     "stage.optimizer.state.exp_avg: torch.float32 \\(2,\\) does not fit a parameter"),
    (lambda m, t: _stage(t)["strategy"]["optimizer"]["state"][0].update(step=torch.tensor(-5.0)),
     "stage.strategy.optimizer.state.step"),
    (lambda m, t: _stage(t)["teacher_outputs"].update(tgt_mc=torch.zeros(2, 3)), "teacher_outputs.tgt_mc"),
    (lambda m, t: t.update(stage=[]), "tensors stage: a list"),
], ids=[
    'epoch_999', 'epoch_negative', 'epoch_2_with_one_row', 'epoch_0_with_one_row', 'n_epochs_mismatch', 'epoch_str',
    'stage_int', 'stage_unknown', 'completed_stages_str', 'completed_stages_has_own_stage', 'history_dict',
    'history_rows_huge', 'history_layout_length', 'history_column_missing', 'history_rows_not_dicts', 'fingerprint_list', 'fingerprint_without_data', 'rng_float', 'rng_generator_short',
    'networks_list', 'teacher_weight_shape', 'stage_weight_shape', 'stage_module_missing', 'stage_weight_nan',
    'memory_size_beyond_capacity', 'memory_state_shape', 'memory_position_str', 'optimizer_state_shape',
    'selector_optimizer_step_negative', 'tgt_mc_shape', 'stage_list'
])
def test_each_malformed_checkpoint_field_is_named(data, checkpoint, tmp_path, edit, match):
    meta, tensors, _ = checkpoint
    meta, tensors = json.loads(json.dumps(meta)), _copy(tensors)
    edit(meta, tensors)
    with pytest.raises(ModelFileError, match=match):
        _resume(data, _write(tmp_path / "bad", meta, tensors))


def _copy(tree):
    if isinstance(tree, dict):
        return {k: _copy(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_copy(v) for v in tree]
    return tree


def _leaves(tree, prefix=()):
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _leaves(v, prefix + (k,))
    elif isinstance(tree, list) and tree and isinstance(tree[0], (dict, list, torch.Tensor)):
        for i, v in enumerate(tree):
            yield from _leaves(v, prefix + (i,))
    else:
        yield prefix, tree


def _set(tree, path, value):
    for key in path[:-1]:
        tree = tree[key]
    if value is _DELETE:
        del tree[path[-1]]
    else:
        tree[path[-1]] = value


_DELETE = object()


@pytest.mark.slow
def test_fuzz_every_field_of_a_checkpoint(data, checkpoint, tmp_path):
    """Each metadata field and a spread of the stored values (every RNG state, replay-memory tensor and counter,
    optimiser setting and teacher statistic, every seventh weight or optimiser state) deleted or given another type
    or shape: fit(..., resume=True) raises ModelFileError, refuses a checkpoint of other parameters or data
    (ValueError), or resumes and predicts."""
    meta, tensors, _ = checkpoint
    cases = []
    for path, value in _leaves(meta):
        if path[0] == "history" and (path[1] != "epochs" or path[2] == "columns" and path[3] % 4):
            continue  # the epoch table's storage (a spread of its columns) is enough: the batch table is alike
        if path[0] == "fingerprint" and path[1] == "params" and path[2] not in ("alpha1", "student_channels"):
            continue
        if path[0] == "versions" and path[1] != "skrcd":
            continue
        for new in (_DELETE, [None, "x"][len(cases) % 2], [-1, 10**12, [1], 1.5][len(cases) % 4]):
            cases.append(("meta", path, new))
    leaves = list(_leaves(tensors))
    for i, (path, value) in enumerate(leaves):
        if i % 7 and path[0] != "rng" and not {"memory", "teacher_outputs"} & set(path) and not (
                "param_groups" in path and i % 3 == 0):
            continue
        variants = [_DELETE, [None, "x"][i % 2]]
        if isinstance(value, torch.Tensor):
            variants += [value.reshape(-1)[:-1] if value.numel() > 1 else torch.zeros(3),
                         value.to(torch.int64) if value.is_floating_point() else value.float()]
            if i % 8 == 0:
                variants.append(value * 2 if value.is_floating_point() else value)  # a value that still fits
        for new in variants[i % 2::2] if len(variants) > 2 else variants:
            cases.append(("tensors", path, new))
    outcomes = {}
    for where, path, new in cases:
        m, t = json.loads(json.dumps(meta)), _copy(tensors)
        _set(m if where == "meta" else t, path, new)
        directory = _write(tmp_path / "fuzz", m, t)
        label = f"{where}:{'.'.join(map(str, path))}={type(new).__name__}"
        try:
            clf = _resume(data, directory)
            assert np.isfinite(clf.predict_proba(data[2])).all(), label
            outcome = "resumed"
        except ModelFileError:
            outcome = "refused"
        except ValueError as exc:
            assert "cannot resume" in str(exc) or "was written by" in str(exc), f"{label}: {exc}"
            outcome = "other parameters or data"
        except Exception as exc:  # noqa: BLE001 - the point of the test
            raise AssertionError(f"{label}: {type(exc).__name__}: {exc}") from None
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    assert len(cases) > 80 and outcomes.get("refused", 0) > 50 and outcomes.get("resumed", 0) > 5, outcomes
