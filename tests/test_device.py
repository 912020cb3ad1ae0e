"""The one device rule (skrcd/_device.py): fit refuses a missing CUDA; loading and unpickling fall back to the CPU."""

import pickle

import numpy as np
import pytest
import torch

from conftest import TINY
from skrcd import RCDKDClassifier
from skrcd._device import DeviceFallbackWarning, resolve_device
from skrcd.datasets import make_domain_shift


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_auto_and_explicit_devices(no_cuda):
    assert resolve_device("auto") == resolve_device(None) == torch.device("cpu")
    assert resolve_device("cpu") == resolve_device(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(ValueError, match="device='cuda:1' was asked for but CUDA is not available"):
        resolve_device("cuda:1")
    with pytest.warns(DeviceFallbackWarning, match="cuda:1 but CUDA is not available here"):
        assert resolve_device("cuda:1", fallback_to_cpu=True) == torch.device("cpu")


def test_fit_refuses_missing_cuda_and_load_falls_back(no_cuda, tmp_path):
    X_src, y_src, X_tgt, _ = make_domain_shift(n_source=30, n_target=30, length=16, random_state=0)
    with pytest.raises(ValueError, match="CUDA is not available"):
        RCDKDClassifier(**dict(TINY, device="cuda")).fit(X_src, y_src, X_tgt)
    clf = RCDKDClassifier(**TINY).fit(X_src, y_src, X_tgt)
    path = clf.set_params(device="cuda").save(tmp_path / "gpu.skrcd")  # as if fitted for a GPU
    with pytest.warns(DeviceFallbackWarning, match="the saved device parameter asks for cuda"):
        loaded = RCDKDClassifier.load(path)
    assert loaded.device_ == torch.device("cpu") and next(loaded.student_.parameters()).device.type == "cpu"
    np.testing.assert_array_equal(loaded.predict_proba(X_tgt), clf.predict_proba(X_tgt))
    with pytest.raises(ValueError, match="CUDA is not available"):  # asked for explicitly: no fallback
        RCDKDClassifier.load(path, device="cuda")
    gpu = pickle.loads(pickle.dumps(clf))
    gpu.device_ = torch.device("cuda:0")
    with pytest.warns(DeviceFallbackWarning, match="fitted on cuda:0"):
        assert pickle.loads(pickle.dumps(gpu)).device_ == torch.device("cpu")


def test_devices_that_are_not_there_or_not_supported(monkeypatch, tmp_path):
    """fit and load(device=...) follow one rule: a device that is not there, or not one skrcd runs on, is refused."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match="device='cuda:3' was asked for but this machine has 1 CUDA device"):
        resolve_device("cuda:3")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device='mps' was asked for but MPS is not available"):
        resolve_device("mps")
    with pytest.warns(DeviceFallbackWarning, match="MPS is not available here"):
        assert resolve_device("mps", fallback_to_cpu=True) == torch.device("cpu")
    for bad, match in [("meta", "skrcd runs on 'cpu', 'cuda' or 'mps'"), ("GPU", "is not a device")]:
        with pytest.raises(ValueError, match=match):
            resolve_device(bad)
    X_src, y_src, X_tgt, _ = make_domain_shift(n_source=30, n_target=30, length=16, random_state=0)
    with pytest.raises(ValueError, match="^device must be"):  # the parameter table names it before any work
        RCDKDClassifier(**dict(TINY, device="GPU")).fit(X_src, y_src, X_tgt)
    with pytest.raises(ValueError, match="device='meta'"):
        RCDKDClassifier(**dict(TINY, device="meta")).fit(X_src, y_src, X_tgt)
    path = RCDKDClassifier(**TINY).fit(X_src, y_src, X_tgt).save(tmp_path / "m.skrcd")
    for bad in ("GPU", "meta", "mps", "cuda:3"):
        with pytest.raises(ValueError, match="^device"):
            RCDKDClassifier.load(path, device=bad)
