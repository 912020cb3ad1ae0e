"""The speed benchmark's measurements run (at 1-2 epochs on the bundled UCI-HAR subset)."""

import numpy as np
import pytest

from skrcd.experiments.speed import epoch_times, peak_memory_of_fit, predict_throughput


@pytest.mark.slow
def test_epoch_times_and_throughput():
    t = epoch_times(epochs=2, warmup=1, selector_hidden=16, mc_passes=2, n_episodes=1)
    assert all(t[k] > 0 for k in ("teacher", "rcdkd", "plain_kd"))
    clf = t["estimator"]
    assert [r["stage"] for r in clf.history_] == ["teacher"] * 2 + ["teacher_2"] * 2 + ["student"] * 2
    tp = predict_throughput(clf, t["X"], n_windows=256, repeats=1)
    assert sorted(tp) == ["forward", "predict"] and tp["predict"] > 0 and tp["forward"] > 0


@pytest.mark.slow
def test_peak_memory_of_a_fit_in_a_child_process():
    m = peak_memory_of_fit(epochs=1, selector_hidden=16, student_channels=[8, 8, 8])
    assert sorted(m) == ["fit_seconds", "peak_rss_mib", "student_seconds", "teacher_seconds"]
    assert np.isfinite(list(m.values())).all() and m["peak_rss_mib"] > 50
