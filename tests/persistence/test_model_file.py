"""Pickle, save/load in the safe format, and what corrupt or hostile files do."""

import io
import json
import pickle
import zipfile

import numpy as np
import pytest
import torch

from conftest import SMALL
from skrcd import RCDKDClassifier
from skrcd.baselines import SourceOnlyClassifier
from skrcd.datasets import make_domain_shift
from skrcd.persistence import FORMAT_VERSION, ModelFileError, load, read_metadata



@pytest.fixture(scope="module")
def data():
    return make_domain_shift(n_source=40, n_target=36, n_classes=3, length=32, random_state=0)


@pytest.fixture(scope="module")
def fitted(data):
    X_src, y_src, X_tgt, _ = data
    names = np.array(["walk", "sit", "lie"])[y_src]
    return RCDKDClassifier(**SMALL, random_state=0).fit(X_src, names, X_tgt)


@pytest.fixture(scope="module")
def saved(fitted, tmp_path_factory):
    return fitted.save(tmp_path_factory.mktemp("model") / "model.skrcd")


def _rewrite(src, dst, meta=None, tensors=None):
    """Copy a skrcd archive, replacing its metadata and/or its tensor payload."""
    with zipfile.ZipFile(src) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    if meta is not None:
        members["skrcd.json"] = json.dumps(meta).encode()
    if tensors is not None:
        members["tensors.pt"] = tensors
    with zipfile.ZipFile(dst, "w") as zf:
        for n, b in members.items():
            zf.writestr(n, b)
    return dst


# ------------------------------------------------------------------ pickle
def test_pickle_round_trip(fitted, data):
    X_tgt = data[2]
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.predict_proba(X_tgt), fitted.predict_proba(X_tgt))
    assert again.device_ == torch.device("cpu")


def test_gpu_fitted_pickle_loads_on_cpu_only_machine(fitted, data, monkeypatch):
    X_tgt = data[2]
    blob = pickle.dumps(fitted)
    gpu = pickle.loads(blob)
    gpu.device_ = torch.device("cuda:0")  # as if fitted on a GPU (its networks are pickled from the CPU)
    blob = pickle.dumps(gpu)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match="fitted on cuda:0 but CUDA is not available"):
        cpu = pickle.loads(blob)
    assert cpu.device_ == torch.device("cpu")
    assert all(p.device.type == "cpu" for p in cpu.student_.parameters())
    np.testing.assert_array_equal(cpu.predict_proba(X_tgt), fitted.predict_proba(X_tgt))


# ------------------------------------------------------------------ save/load
def test_save_load_round_trip(fitted, saved, data):
    X_tgt = data[2]
    torch.manual_seed(0)
    expected_rng = torch.rand(2)
    torch.manual_seed(0)
    loaded = RCDKDClassifier.load(saved)
    assert torch.equal(torch.rand(2), expected_rng)  # loading leaves the global RNG alone
    assert type(loaded) is RCDKDClassifier
    assert loaded.get_params() == fitted.get_params()
    np.testing.assert_array_equal(loaded.classes_, fitted.classes_)
    assert loaded.classes_.dtype == fitted.classes_.dtype
    for name in ("predict_proba", "predict_features"):
        np.testing.assert_array_equal(getattr(loaded, name)(X_tgt), getattr(fitted, name)(X_tgt))
    np.testing.assert_array_equal(loaded.predict(X_tgt, network="teacher"), fitted.predict(X_tgt, network="teacher"))
    np.testing.assert_array_equal(loaded.channel_mean_, fitted.channel_mean_)
    assert list(loaded.history_) == list(fitted.history_)
    assert loaded.fit_time_ == fitted.fit_time_ and loaded.n_parameters_ == fitted.n_parameters_
    for k, v in fitted.selector_.state_dict().items():
        assert torch.equal(loaded.selector_.state_dict()[k], v)
    assert not loaded.student_.training and loaded.interrupted_ is None


def test_file_records_versions_and_is_plain_json(saved):
    meta = read_metadata(saved)
    assert meta["format_version"] == FORMAT_VERSION and meta["kind"] == "model"
    assert meta["versions"]["torch"] == torch.__version__
    assert meta["versions"]["skrcd"] == __import__("skrcd").__version__
    with zipfile.ZipFile(saved) as zf:
        assert sorted(zf.namelist()) == ["skrcd.json", "tensors.pt"]
        torch.load(io.BytesIO(zf.read("tensors.pt")), weights_only=True)  # plain tensors only


def test_subclass_round_trip_and_class_check(data, tmp_path):
    X_src, y_src, X_tgt, _ = data
    base = SourceOnlyClassifier(**SMALL, random_state=0).fit(X_src, y_src, X_tgt)
    path = base.save(tmp_path / "src_only.skrcd")
    loaded = RCDKDClassifier.load(path)  # the saved class, looked up among defined subclasses
    assert type(loaded) is SourceOnlyClassifier and loaded.teacher_ is None
    np.testing.assert_array_equal(loaded.predict_proba(X_tgt), base.predict_proba(X_tgt))
    rcd = RCDKDClassifier(**dict(SMALL, teacher_epochs=1, student_epochs=1), random_state=0).fit(X_src, y_src, X_tgt)
    with pytest.raises(ModelFileError, match="not a skrcd.baselines.SourceOnlyClassifier"):
        SourceOnlyClassifier.load(rcd.save(tmp_path / "rcd.skrcd"))


def test_custom_teacher_is_saved_as_weights_only(fitted, data, tmp_path):
    X_src, y_src, X_tgt, _ = data
    clf = RCDKDClassifier(**dict(SMALL, teacher_epochs=0), teacher=fitted.teacher_, random_state=0)
    clf.fit(X_src, y_src, X_tgt)
    path = clf.save(tmp_path / "custom.skrcd")
    assert read_metadata(path)["unsaved_params"] == {"teacher": "skrcd.nn.networks.CNN1D"}
    with pytest.warns(UserWarning, match="teacher_ not restored"):
        bare = RCDKDClassifier.load(path)
    assert bare.teacher_ is None and bare.teacher is None
    np.testing.assert_array_equal(bare.predict_proba(X_tgt), clf.predict_proba(X_tgt))
    full = RCDKDClassifier.load(path, teacher=fitted.teacher_)
    np.testing.assert_array_equal(full.predict(X_tgt, network="teacher"), clf.predict(X_tgt, network="teacher"))


def test_save_unfitted_raises():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        RCDKDClassifier().save("never-written.skrcd")


# ------------------------------------------------------------ bad files
def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nope.skrcd")


def test_random_bytes(tmp_path):
    path = tmp_path / "junk.skrcd"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ModelFileError, match="not a skrcd file, or it is truncated or corrupt"):
        load(path)


@pytest.mark.parametrize("keep", [0.5, 0.99])
def test_truncated_file(saved, tmp_path, keep):
    raw = saved.read_bytes()
    path = tmp_path / "cut.skrcd"
    path.write_bytes(raw[: int(len(raw) * keep)])
    with pytest.raises(ModelFileError, match="truncated or corrupt"):
        load(path)


def test_flipped_byte_in_tensors_fails_the_crc(saved, tmp_path):
    raw = bytearray(saved.read_bytes())
    with zipfile.ZipFile(saved) as zf:
        info = zf.getinfo("tensors.pt")
    raw[info.header_offset + 30 + len(info.filename) + info.file_size // 2] ^= 0xFF  # inside the stored payload
    path = tmp_path / "flipped.skrcd"
    path.write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match="corrupt"):
        load(path)


def test_newer_format_version(saved, tmp_path):
    meta = read_metadata(saved)
    meta["format_version"] = FORMAT_VERSION + 1
    path = _rewrite(saved, tmp_path / "future.skrcd", meta=meta)
    with pytest.raises(ModelFileError, match=f"format version {FORMAT_VERSION + 1}.*upgrade skrcd"):
        load(path)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda m: m.update(format="other"), "not a skrcd file"),
        (lambda m: m.update(format_version="1"), "format_version '1'"),
        (lambda m: m.pop("networks"), "corrupt or incomplete"),
        (lambda m: m.update({"class": "os.system"}), "not a skrcd estimator class"),
        (lambda m: m.update({"class": "sklearn.svm._classes.SVC"}), "not a skrcd estimator class"),
        (lambda m: m.update({"class": "skrcd.persistence.model_file.ModelFileMixin"}), "not a skrcd estimator class"),
        (lambda m: m["params"].update(student_channels={"__tuple__": [4, 4, 4]}), "do not fit"),
    ],
    ids=["foreign_format", "version_not_int", "missing_key", "unknown_class", "not_an_estimator_of_skrcd",
         "the_mixin_itself", "weights_do_not_fit"],
)
def test_tampered_metadata(saved, tmp_path, edit, match):
    meta = read_metadata(saved)
    edit(meta)
    path = _rewrite(saved, tmp_path / "tampered.skrcd", meta=meta)
    with pytest.raises(ModelFileError, match=match):
        load(path)


def test_invalid_json(saved, tmp_path):
    path = tmp_path / "bad_json.skrcd"
    with zipfile.ZipFile(saved) as zf, zipfile.ZipFile(path, "w") as out:
        out.writestr("skrcd.json", b"{not json")
        out.writestr("tensors.pt", zf.read("tensors.pt"))
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load(path)


class _Boom:
    """Pickles to a call that would flip a flag when unpickled: loading must not run it."""

    ran = False

    def __reduce__(self):
        return (_set_ran, ())


def _set_ran():
    _Boom.ran = True
    return {}


def test_pickle_payload_is_never_executed(saved, tmp_path):
    buf = io.BytesIO()
    torch.save({"networks": _Boom(), "arrays": {}}, buf)
    path = _rewrite(saved, tmp_path / "hostile.skrcd", tensors=buf.getvalue())
    with pytest.raises(ModelFileError, match="cannot be read safely"):
        load(path)
    assert _Boom.ran is False


def test_interrupted_estimator_saves_and_loads(data, tmp_path, monkeypatch):
    from skrcd.training import DANNStage, FitInterruptedWarning

    X_src, y_src, X_tgt, _ = data
    original = DANNStage.train_step
    calls = {"n": 0}

    def step(self, *args):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(DANNStage, "train_step", step)
    with pytest.warns(FitInterruptedWarning):
        clf = RCDKDClassifier(**SMALL, random_state=0).fit(X_src, y_src, X_tgt)
    loaded = RCDKDClassifier.load(clf.save(tmp_path / "half.skrcd"))
    assert loaded.student_ is None and loaded.interrupted_ == clf.interrupted_
    with pytest.warns(FitInterruptedWarning):
        np.testing.assert_array_equal(loaded.predict(X_tgt), clf.predict(X_tgt, network="teacher"))


# ------------------------------------------------------------ writing
def test_threads_saving_to_one_path_always_leave_one_complete_file(fitted, data, tmp_path):
    """Two threads save to one path 15 times each while a third loads it: every save and every load succeeds, and
    no temporary file is left (they used to share one temporary name: FileNotFoundError, or a corrupt file)."""
    import threading

    path, errors = tmp_path / "model.skrcd", []
    fitted.save(path)
    expected = fitted.predict_proba(data[2])
    done = threading.Event()

    def save():
        try:
            for _ in range(15):
                fitted.save(path)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def read():
        while not done.is_set():
            try:
                np.testing.assert_array_equal(load(path).predict_proba(data[2]), expected)
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
                return

    threads = [threading.Thread(target=save), threading.Thread(target=save)]
    reader = threading.Thread(target=read)
    for t in [*threads, reader]:
        t.start()
    for t in threads:
        t.join()
    done.set()
    reader.join()
    assert errors == []
    assert [p.name for p in tmp_path.iterdir()] == ["model.skrcd"]
    np.testing.assert_array_equal(load(path).predict_proba(data[2]), expected)


def test_a_long_file_name_the_os_allows_can_be_saved(fitted, data, tmp_path):
    path = fitted.save(tmp_path / ("m" * 244 + ".skrcd"))  # 250 characters: the temporary name is short
    assert len(path.name) == 250
    np.testing.assert_array_equal(load(path).predict_proba(data[2]), fitted.predict_proba(data[2]))
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_save_refuses_metadata_that_load_would_refuse(fitted, tmp_path):
    import copy

    est = copy.deepcopy(fitted)
    est.notes_ = ["x" * 100] * 100_000  # 10 MB of JSON: more than a file's metadata may hold
    with pytest.raises(ValueError, match="more than the 8388608 a skrcd file may hold"):
        est.save(tmp_path / "m.skrcd")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------ parameter schema
def test_a_file_records_its_parameter_schema(saved):
    from skrcd._parameters import PARAMS_SCHEMA

    assert read_metadata(saved)["params_schema"] == PARAMS_SCHEMA == RCDKDClassifier._params_schema


def test_a_schema_1_file_gets_the_values_it_was_fitted_with_not_todays_defaults(fitted, saved, data, tmp_path):
    from skrcd._parameters import PARAMETERS

    added = {p.name: p.before for p in PARAMETERS if p.since == 2}
    assert {"selection_balance", "n_teachers", "teacher_method", "source_ce_weight"} <= set(added)
    meta = read_metadata(saved)
    del meta["params_schema"]
    for name in added:
        meta["params"].pop(name, None)
        meta.get("unsaved_params", {}).pop(name, None)
    meta["params"]["an_old_development_parameter"] = 3  # schema 1 files may hold such names: dropped
    with pytest.warns(UserWarning, match="unknown to this skrcd were dropped: an_old_development_parameter"):
        loaded = load(_rewrite(saved, tmp_path / "schema1.skrcd", meta=meta))
    params = loaded.get_params()
    for name, value in added.items():
        assert params[name] == value, name
    # a parameter whose value today's default would change: the file's fit used the value before it existed
    assert params["selection_balance"] == "none" != RCDKDClassifier().selection_balance
    np.testing.assert_array_equal(loaded.predict(data[2]), fitted.predict(data[2]))


@pytest.mark.parametrize("schema, expected", [(2, {"teacher_vat_every": 1, "teacher_swa_start": None}),
                                              (3, {"teacher_swa_start": None})])
def test_a_file_of_a_later_schema_gets_the_values_of_the_parameters_added_since(fitted, saved, data, tmp_path,
                                                                                 schema, expected):
    """Schema 3 added ``teacher_vat_every`` (VAT on every step before), schema 4 ``teacher_swa_start`` (the
    teacher's last weights before); a file without them loads with those values."""
    from skrcd._parameters import PARAMETERS

    assert {p.name for p in PARAMETERS if p.since > schema} == set(expected)
    meta = read_metadata(saved)
    meta["params_schema"] = schema
    for name in expected:
        meta["params"].pop(name)
        meta.get("unsaved_params", {}).pop(name, None)
    loaded = load(_rewrite(saved, tmp_path / f"schema{schema}.skrcd", meta=meta))
    assert {name: loaded.get_params()[name] for name in expected} == expected
    np.testing.assert_array_equal(loaded.predict(data[2]), fitted.predict(data[2]))


@pytest.mark.parametrize("edit, match", [
    (lambda m: m["params"].pop("temperature"), "params: missing temperature, which every file of parameter schema 4"),
    (lambda m: m.pop("params_schema") and m["params"].pop("kd_weight"),
     "params: missing kd_weight, which every file of parameter schema 1"),
    (lambda m: m["params"].update(not_a_parameter=1), "params.not_a_parameter: not a parameter of RCDKDClassifier"),
    (lambda m: m.update(params_schema=99), "params_schema: 99 is not a parameter schema .*upgrade skrcd"),
    (lambda m: m.update(params_schema=0), "params_schema: 0 is not a parameter schema"),
    (lambda m: m.update(params_schema="2"), "params_schema: a str .*not an int"),
], ids=["missing_in_the_current_schema", "missing_in_schema_1", "unknown_in_the_current_schema", "newer_schema",
        "schema_0", "schema_not_an_int"])
def test_a_damaged_or_newer_parameter_schema_is_named(saved, tmp_path, edit, match):
    meta = read_metadata(saved)
    edit(meta)
    with pytest.raises(ModelFileError, match=match):
        load(_rewrite(saved, tmp_path / "damaged.skrcd", meta=meta))
