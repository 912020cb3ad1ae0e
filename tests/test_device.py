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


def _fresh_thread_count():
    """The thread count a thread that starts using torch now gets (torch hands it the last value set)."""
    import threading

    seen = []
    t = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    t.start()
    t.join()
    return seen[0]


def test_thread_count_is_restored_when_blocks_overlap_in_threads():
    import threading

    from skrcd._device import torch_threads

    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
        seen_in_b = []

        def a():  # enters first, leaves while b is still inside
            with torch_threads(1):
                a_in.set()
                b_in.wait(5)
            a_out.set()

        def b():
            a_in.wait(5)
            with torch_threads(2):
                b_in.set()
                a_out.wait(5)
                seen_in_b.append(_fresh_thread_count())

        threads = [threading.Thread(target=a), threading.Thread(target=b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert seen_in_b == [2]  # a's exit left b's request in place
        assert _fresh_thread_count() == 3  # the setting from before the first block
        with torch_threads(1), torch_threads(2):  # nested in one thread
            assert torch.get_num_threads() == 2
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_grid_search_on_the_threading_backend_restores_the_thread_count():
    import joblib
    from sklearn.model_selection import GridSearchCV

    X_src, y_src, X_tgt, _ = make_domain_shift(n_source=24, n_target=16, length=16, random_state=0)
    X = np.concatenate([X_src, X_tgt])
    y = np.r_[y_src, np.full(len(X_tgt), -1)]
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with joblib.parallel_backend("threading", n_jobs=2):
            GridSearchCV(RCDKDClassifier(**TINY), {"temperature": [2.0, 4.0]}, cv=2).fit(X, y)
        assert torch.get_num_threads() == 2 and _fresh_thread_count() == 2
    finally:
        torch.set_num_threads(before)
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
