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
