"""export_student: the student alone, standardisation baked in, dynamic batch size."""

import warnings

import numpy as np
import pytest
import torch

from conftest import SMALL
from skrcd import RCDKDClassifier
from skrcd.datasets import make_domain_shift



@pytest.fixture(scope="module")
def data():
    # offset and gain: the standardisation matters
    return make_domain_shift(n_source=40, n_target=36, n_classes=3, length=32, scale=3.0, offset=5.0, random_state=0)


@pytest.fixture(scope="module")
def fitted(data):
    X_src, y_src, X_tgt, _ = data
    return RCDKDClassifier(**SMALL, random_state=0).fit(X_src, y_src, X_tgt)


def test_onnx_matches_predict_proba(fitted, data, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    X_tgt = data[2]
    path = fitted.export_student(tmp_path / "student.onnx", format="onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["x"]
    for batch in (X_tgt[:1], X_tgt[:7], X_tgt):  # dynamic batch size
        (proba,) = session.run(None, {"x": np.ascontiguousarray(batch, dtype=np.float32)})
        np.testing.assert_allclose(proba, fitted.predict_proba(batch), rtol=0, atol=1e-5)


def test_torchscript_matches_predict_proba(fitted, data, tmp_path):
    X_tgt = data[2]
    path = fitted.export_student(tmp_path / "student.pt", format="torchscript")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated upstream
        module = torch.jit.load(str(path))
    for batch in (X_tgt[:1], X_tgt[:7], X_tgt):
        with torch.no_grad():
            proba = module(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))).numpy()
        np.testing.assert_allclose(proba, fitted.predict_proba(batch), rtol=0, atol=1e-5)


def test_export_without_standardization(data, tmp_path):
    X_src, y_src, X_tgt, _ = data
    clf = RCDKDClassifier(**dict(SMALL, teacher_epochs=1, student_epochs=1), standardize=False, random_state=0)
    clf.fit(X_src, y_src, X_tgt)
    path = clf.export_student(tmp_path / "raw.pt", format="torchscript")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = torch.jit.load(str(path))
    np.testing.assert_allclose(module(torch.from_numpy(X_tgt)).detach().numpy(), clf.predict_proba(X_tgt), atol=1e-5)


def test_export_bad_format(fitted, tmp_path):
    with pytest.raises(ValueError, match="format must be"):
        fitted.export_student(tmp_path / "student.tflite", format="tflite")


# ---------------------------------------------------------------- int8, teacher, optimised form, arguments
def _windows(data, n):
    """``n`` target-like windows (the fixture's source and target stacked, repeated if needed)."""
    X = np.concatenate([data[0], data[2]])
    return np.ascontiguousarray(np.resize(X, (n,) + X.shape[1:]), dtype=np.float32)


def _session(path):
    ort = pytest.importorskip("onnxruntime")
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def int8_path(fitted, data, tmp_path_factory):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    path = tmp_path_factory.mktemp("int8") / "student_int8.onnx"
    return fitted.export_student(path, quantize="int8", calibration_data=data[2])


def test_int8_any_batch_probabilities_in_classes_order(fitted, data, int8_path):
    import json

    session = _session(int8_path)
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["classes"]) == fitted.classes_.tolist() and meta["quantize"] == "int8"
    assert [i.name for i in session.get_inputs()] == ["x"] and [o.name for o in session.get_outputs()] == ["proba"]
    for n in (1, 7, 64):
        x = _windows(data, n)
        (proba,) = session.run(None, {"x": x})
        assert proba.shape == (n, len(fitted.classes_)) and proba.dtype == np.float32
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
        assert (proba >= 0).all()
    x = _windows(data, 64)
    (proba,) = session.run(None, {"x": x})
    agree = np.mean(fitted.classes_[proba.argmax(axis=1)] == fitted.predict(x))
    assert agree >= 0.95, agree
    # the same columns as predict_proba: probabilities close, not only the arg-max
    assert np.abs(proba - fitted.predict_proba(x)).mean() < 0.05


def test_int8_is_quantised_and_small(fitted, data, int8_path, tmp_path):
    onnx = pytest.importorskip("onnx")
    ops = [n.op_type for n in onnx.load(str(int8_path)).graph.node]
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    assert ops[-1] == "Softmax"  # float probabilities, not quantised ones
    float_path = fitted.export_student(tmp_path / "student.onnx")
    assert int8_path.stat().st_size < 0.5 * float_path.stat().st_size


def test_teacher_export_matches_predict_proba(fitted, data, tmp_path):
    session = _session(fitted.export_student(tmp_path / "teacher.onnx", network="teacher"))
    assert session.get_modelmeta().custom_metadata_map["network"] == "teacher"
    for n in (1, 7, 64):
        x = _windows(data, n)
        (proba,) = session.run(None, {"x": x})
        np.testing.assert_allclose(proba, fitted.predict_proba(x, network="teacher"), rtol=0, atol=1e-5)
    session = _session(fitted.export_student(tmp_path / "teacher_int8.onnx", network="teacher", quantize="int8",
                                             calibration_data=data[2]))
    x = _windows(data, 64)
    (proba,) = session.run(None, {"x": x})
    assert np.mean(fitted.classes_[proba.argmax(1)] == fitted.predict(x, network="teacher")) >= 0.95


def test_optimized_form_folds_batch_norm_and_standardisation(fitted, data, tmp_path):
    onnx = pytest.importorskip("onnx")
    x = _windows(data, 64)
    for optimize in (True, False):
        path = fitted.export_student(tmp_path / f"s{optimize}.onnx", optimize=optimize)
        (proba,) = _session(path).run(None, {"x": x})
        np.testing.assert_allclose(proba, fitted.predict_proba(x), rtol=0, atol=1e-5)
        ops = [n.op_type for n in onnx.load(str(path)).graph.node]
        assert "BatchNormalization" not in ops
        if optimize:  # 1/std folded into the first convolution; no reshaping before the head
            assert "Div" not in ops and ops.count("Conv") == 3 and not {"Reshape", "Squeeze", "Flatten"} & set(ops)
    from skrcd.export import network_module

    module = network_module(fitted, optimize=True)
    assert not any(isinstance(m, (torch.nn.BatchNorm1d, torch.nn.Dropout)) for m in module.modules())


def test_export_without_standardization_onnx(data, tmp_path):
    X_src, y_src, X_tgt, _ = data
    clf = RCDKDClassifier(**dict(SMALL, teacher_epochs=1, student_epochs=1), standardize=False, random_state=0)
    clf.fit(X_src, y_src, X_tgt)
    (proba,) = _session(clf.export_student(tmp_path / "raw.onnx")).run(None, {"x": X_tgt})
    np.testing.assert_allclose(proba, clf.predict_proba(X_tgt), atol=1e-5)


def test_tcn_teacher_exports_unchanged(data, tmp_path):
    from skrcd.export import StudentWithStandardization, network_module

    X_src, y_src, X_tgt, _ = data
    clf = RCDKDClassifier(**dict(SMALL, teacher_epochs=1, student_epochs=1), teacher="tcn", random_state=0)
    clf.fit(X_src, y_src, X_tgt)
    assert isinstance(network_module(clf, "teacher", optimize=True), StudentWithStandardization)
    (proba,) = _session(clf.export_student(tmp_path / "tcn.onnx", network="teacher")).run(None, {"x": X_tgt[:7]})
    np.testing.assert_allclose(proba, clf.predict_proba(X_tgt[:7], network="teacher"), atol=1e-5)


def test_export_is_quiet_and_leaves_logging_alone(fitted, data, tmp_path, capfd):
    import logging

    pytest.importorskip("onnxscript")
    root_filters = list(logging.getLogger().filters)
    level = logging.getLogger("torch.onnx").level
    capfd.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fitted.export_student(tmp_path / "quiet.onnx", quantize="int8", calibration_data=data[2])
    out, err = capfd.readouterr()
    assert "torchvision" not in out + err and "WARNING" not in out + err, out + err
    assert not [w for w in caught if issubclass(w.category, (DeprecationWarning, FutureWarning))]
    assert logging.getLogger().filters == root_filters and logging.getLogger("torch.onnx").level == level


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(format="tflite"), ValueError, "format must be"),
    (dict(network="selector"), ValueError, "network must be 'student' or 'teacher'"),
    (dict(quantize="int4"), ValueError, "quantize must be None or 'int8'"),
    (dict(quantize=True), ValueError, "quantize must be None or 'int8'"),
    (dict(quantize="int8"), ValueError, "quantize='int8' needs calibration_data"),
    (dict(quantize="int8", format="torchscript", calibration_data="X"), ValueError, "needs format='onnx'"),
    (dict(calibration_data="X"), ValueError, "calibration_data is only used with quantize='int8'"),
    (dict(quantize="int8", calibration_data="2ch"), ValueError, "calibration_data has 2 channels but"),
    (dict(quantize="int8", calibration_data="short"), ValueError, "calibration_data has windows of length 16"),
    (dict(quantize="int8", calibration_data="nan"), ValueError, "calibration_data contains NaN"),
    (dict(quantize="int8", calibration_data="inf"), ValueError, "calibration_data contains"),
    (dict(quantize="int8", calibration_data="empty"), ValueError, "calibration_data"),
    (dict(optimize="yes"), TypeError, "optimize must be True or False"),
])
def test_export_argument_errors(fitted, data, tmp_path, kwargs, error, match):
    X = data[2]
    calib = {"X": X, "2ch": X[:, :2], "short": X[:, :, :16], "nan": np.where(np.arange(32) == 3, np.nan, X),
             "inf": np.where(np.arange(32) == 3, np.inf, X), "empty": X[:0]}
    if "calibration_data" in kwargs:
        kwargs = dict(kwargs, calibration_data=calib[kwargs["calibration_data"]])
    path = tmp_path / "student.onnx"
    with pytest.raises(error, match=match):
        fitted.export_student(path, **kwargs)
    assert not path.exists()


def test_export_path_errors(fitted, tmp_path):
    with pytest.raises(ValueError, match="is a directory"):
        fitted.export_student(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        fitted.export_student(tmp_path / "missing" / "student.onnx")
    with pytest.raises(TypeError, match="path must be a str or path-like"):
        fitted.export_student(42)


def test_export_unfitted_or_without_student(data, tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        RCDKDClassifier().export_student(tmp_path / "s.onnx")
