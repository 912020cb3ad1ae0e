"""Predictions recorded before the package was reorganised (issue 15): a move of code must change none of them.

``tests/data/frozen_predictions.npz`` holds, for fixed-seed fits at small settings on
``make_domain_shift`` data, the student's (and the teacher's) ``predict_proba`` and ``predict``
of RCD-KD and of every baseline; ``tests/data/frozen_model.skrcd`` is a model file written by
``RCDKDClassifier.save`` of skrcd 0.1.0 at commit dd8904a (the flat layout). Both were written
by running this file as a script at that commit (``python tests/test_frozen_behaviour.py``);
re-running it overwrites them, so do that only when a change is meant to alter predictions.
"""

from pathlib import Path

import numpy as np
import pytest

from skrcd import AADClassifier, DANNStudentClassifier, MobileDAClassifier, RCDKDClassifier, SourceOnlyClassifier
from skrcd.datasets import make_domain_shift

DATA = Path(__file__).resolve().parent / "data"
PREDICTIONS = DATA / "frozen_predictions.npz"
MODEL = DATA / "frozen_model.skrcd"

# Small enough for a second per fit; large enough that the DQN learns (memory > learning_starts) in epoch 1.
SETTINGS = dict(teacher_epochs=2, student_epochs=2, teacher_channels=(8, 8, 8), student_channels=(4, 4, 4),
                selector_hidden=8, learning_starts=10, mc_passes=3, n_episodes=2, batch_size=16, n_threads=1,
                device="cpu", random_state=0, teacher_method="dann", n_teachers=1,
                dc_weight=1.0, dc_features="teacher", source_ce_weight=0.0,
                selection_balance="none")  # the defaults when recorded
RUNS = {
    "rcdkd": (RCDKDClassifier, dict(selection="rl")),  # the default when recorded
    "rcdkd_flip_episode_batch_joint": (RCDKDClassifier, dict(selection="rl", dc_mode="flip", teacher_refresh="episode",
                                                              reward_baseline="batch", standardize="joint")),
    "rcdkd_tcn_random": (RCDKDClassifier, dict(teacher="tcn", teacher_channels=(8, 8), selection="random")),
    "source_only": (SourceOnlyClassifier, {}),
    "dann_student": (DANNStudentClassifier, {}),
    "mobileda": (MobileDAClassifier, {}),
    "aad": (AADClassifier, {}),
}


def _data():
    return make_domain_shift(n_source=40, n_target=36, n_classes=3, length=32, random_state=0)


def _fit(name):
    cls, params = RUNS[name]
    X_src, y_src, X_tgt, _ = _data()
    return cls(**dict(SETTINGS, **params)).fit(X_src, y_src, X_tgt)


def _outputs(clf, X):
    out = {"proba": clf.predict_proba(X), "pred": clf.predict(X)}
    if getattr(clf, "teacher_", None) is not None:
        out["teacher_proba"] = clf.predict_proba(X, network="teacher")
    return out


@pytest.fixture(scope="module")
def recorded():
    with np.load(PREDICTIONS) as f:
        return dict(f)


@pytest.mark.parametrize("name", list(RUNS))
def test_fit_predicts_what_was_recorded(recorded, name):
    X_tgt = _data()[2]
    for key, value in _outputs(_fit(name), X_tgt).items():
        expected = recorded[f"{name}/{key}"]
        if key == "pred":
            np.testing.assert_array_equal(value, expected)
        else:
            np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-6)


def test_model_file_of_the_flat_layout_loads_and_predicts_the_same(recorded):
    import skrcd
    from skrcd.persistence import load

    X_tgt = _data()[2]
    for loaded in (RCDKDClassifier.load(MODEL), skrcd.load(MODEL), load(MODEL)):
        assert type(loaded) is RCDKDClassifier
        assert loaded.get_params()["teacher_channels"] == (8, 8, 8) and loaded.selector_ is not None
        # the file predates both parameters: its teacher was one DANN network
        assert loaded.teacher_method == "dann" and loaded.n_teachers == 1
        for key, value in _outputs(loaded, X_tgt).items():
            if key == "pred":
                np.testing.assert_array_equal(value, recorded[f"model/{key}"])
            else:  # float32 kernels differ by an ulp or so between x86 CPUs
                np.testing.assert_allclose(value, recorded[f"model/{key}"], rtol=1e-5, atol=1e-6)


if __name__ == "__main__":  # writes the fixtures (see the module docstring)
    X_tgt = _data()[2]
    arrays = {}
    for name in RUNS:
        clf = _fit(name)
        arrays.update({f"{name}/{k}": v for k, v in _outputs(clf, X_tgt).items()})
        if name == "rcdkd":
            clf.save(MODEL)
            arrays.update({f"model/{k}": v for k, v in _outputs(RCDKDClassifier.load(MODEL), X_tgt).items()})
    np.savez_compressed(PREDICTIONS, **arrays)
    for name in RUNS:
        proba = np.sort(arrays[f"{name}/proba"], axis=1)
        print(f"{name:32s} smallest top-2 margin {np.min(proba[:, -1] - proba[:, -2]):.2e}")
