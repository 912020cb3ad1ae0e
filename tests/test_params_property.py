"""Property: whatever values the parameters take, ``fit`` either trains (and ``predict`` works) or raises a
``ValueError``/``TypeError`` naming a parameter it was given, before the teacher's first epoch.

Hypothesis changes a few parameters at a time (every parameter can be drawn): a valid value from a practical range
(small networks, one epoch, so that an example takes a fraction of a second), a value from ``test_params.BAD``, or
junk of any type that the parameter table refuses. The teacher stage's ``on_epoch_begin`` hook records whether
training started.
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from skorch.callbacks import Callback

from conftest import TINY
from skrcd import RCDKDClassifier
from skrcd._param_validation import validate_params
from skrcd.datasets import make_domain_shift
from skrcd.selection import SelectAll, SelectRandom
from skrcd.training import DANNStage
from test_params import BAD

CONSTRAINTS = RCDKDClassifier._parameter_constraints
X_SRC, Y_SRC, X_TGT, _ = make_domain_shift(n_source=12, n_target=10, n_classes=3, length=16, random_state=0)


class _Teacher(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.head = torch.nn.Conv1d(3, 4, 3), torch.nn.Linear(4, 3)

    def forward(self, x):
        features = self.conv(x).mean(-1)
        return self.head(features), features


def _reals(low, high):
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


def _widths(n):
    return st.tuples(*[st.integers(1, 8)] * n)


#: Valid values in practical ranges (not every valid value: an epoch count of 10**9 is valid and would run for days).
VALID = {
    "teacher": st.sampled_from(["cnn", "tcn"]) | st.builds(_Teacher),
    "discriminator": st.none(),
    "teacher_channels": st.none() | st.integers(1, 3).flatmap(_widths),
    "student_channels": _widths(3) | _widths(3).map(list),
    "kernel_size": st.integers(1, 7),
    "stride": st.integers(1, 3),
    "dropout": _reals(0, 0.9),
    "standardize": st.sampled_from(["domain", "balanced", "joint", True, False]),
    "teacher_epochs": st.integers(0, 1),
    "student_epochs": st.integers(0, 1),
    "batch_size": st.integers(1, 64) | st.integers(1, 64).map(np.int64),
    "teacher_lr": _reals(1e-5, 0.1),
    "student_lr": _reals(1e-5, 0.1),
    "betas": st.tuples(_reals(0, 0.99), _reals(0, 0.999)),
    "weight_decay": _reals(0, 1e-2),
    "teacher_domain_weight": _reals(0, 10),
    "teacher_method": st.sampled_from(["dann", "vada", "dirtt", "cdan"]),
    "teacher_refine_epochs": st.integers(0, 1),
    "n_teachers": st.sampled_from(["auto", 1, 2]),
    "teacher_ent_weight": _reals(0, 1),
    "teacher_vat_weight": _reals(0, 2),
    "teacher_vat_every": st.integers(1, 4),
    "teacher_swa_start": st.one_of(st.none(), _reals(0, 0.9)),
    "vat_radius": _reals(0.1, 5),
    "kd_weight": _reals(0, 10),
    "dc_weight": _reals(0, 10),
    "dc_mode": st.sampled_from(["grl", "flip"]),
    "dc_features": st.sampled_from(["teacher", "student"]),
    "source_ce_weight": _reals(0, 2),
    "label_shift": st.sampled_from(["none", "em"]),
    "selection_balance": st.sampled_from(["none", "class"]),
    "augment": st.sampled_from([None, "weak", "strong", {"jitter": 0.1, "permutation": 3}]),
    "consistency_weight": _reals(0, 2),
    "ema_decay": _reals(0, 0.999),
    "student_ema": st.booleans(),
    "temperature": _reals(0.5, 5),
    "n_episodes": st.integers(1, 3),
    "mc_passes": st.integers(1, 3),
    "teacher_refresh": st.sampled_from(["fit", "epoch", "batch", "episode"]),
    "selection": st.sampled_from(["rl", "all", "random", "confident"]) | st.sampled_from([SelectAll, SelectRandom]).map(
        lambda cls: cls()),
    "alpha1": _reals(0, 2),
    "alpha2": _reals(0, 2),
    "reward_baseline": st.sampled_from(["batch", "class"]),
    "selector_state": st.sampled_from(["features", "informed"]),
    "selection_weighting": st.sampled_from(["hard", "soft"]),
    "reward_quantile": st.none() | _reals(0.05, 0.95),
    "selector_bias_noise": st.sampled_from(["in", "out"]),
    "selector_hidden": st.integers(1, 16),
    "selector_sigma0": _reals(0, 1),
    "selector_gamma": _reals(0, 1),
    "selector_lr": _reals(1e-5, 1e-2),
    "selector_batch_size": st.integers(1, 16),
    "memory_capacity": st.integers(1, 256),
    "learning_starts": st.integers(0, 50),
    "selector_tau": _reals(1e-3, 1),
    "mask_label": st.sampled_from([None, -1, -2.5, "unlabelled"]),
    "device": st.sampled_from(["cpu", "auto", "cuda", "mps", "meta", torch.device("cpu")]),
    "n_threads": st.sampled_from([None, 1, 2]),
    "predict_batch_size": st.integers(1, 10_000),
    "callbacks": st.sampled_from([None, (), [Callback()]]),
    "teacher_callbacks": st.sampled_from([None, [Callback()]]),
    "student_callbacks": st.sampled_from([None, ()]),
    "train_split": st.sampled_from([None, 0.25]),
    "class_weight": st.sampled_from([None, "balanced"]),
    "warm_start": st.booleans(),
    "checkpoint_dir": st.none(),
    "checkpoint_every": st.integers(1, 5),
    "random_state": st.none() | st.integers(0, 2**32 - 1) | st.builds(np.random.RandomState, st.integers(0, 9)),
    "verbose": st.sampled_from([0, False]),
}

#: Junk of every kind; only what the parameter table refuses is used as an invalid value.
JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**12), 10**12), st.floats(), st.text(max_size=4),
    st.lists(st.integers(-2, 9) | st.floats(), max_size=4), st.tuples(st.floats(), st.text(max_size=2)),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2), st.just(object()),
    st.sampled_from([np.nan, np.float32(np.inf), np.int64(-1), np.array([1, 2]), 3 + 1j, b"x", float("1e39")]),
)


def _refused(name, value):
    try:
        validate_params(CONSTRAINTS, {name: value}, [name])
    except ValueError:
        return True
    return False


@st.composite
def _changes(draw):
    names = draw(st.lists(st.sampled_from(sorted(CONSTRAINTS)), min_size=1, max_size=4, unique=True))
    changes, invalid = {}, set()
    for name in names:
        kind = draw(st.sampled_from(["valid", "valid", "bad", "junk"]))
        if kind == "valid":
            value = draw(VALID[name])
        elif kind == "bad":
            value = draw(st.sampled_from(BAD[name]))
        else:
            value = draw(JUNK.filter(lambda v, name=name: _refused(name, v)))
        changes[name] = value
        if _refused(name, value):
            invalid.add(name)
    return changes, invalid


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.data())
def test_the_valid_values_are_valid(data):
    assert set(VALID) == set(CONSTRAINTS)
    name = data.draw(st.sampled_from(sorted(VALID)))
    value = data.draw(VALID[name])
    assert not _refused(name, value), (name, value)


@pytest.mark.slow
@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(_changes())
@example(({"device": "meta"}, set()))  # valid names of devices skrcd does not run on, or that are not there
@example(({"device": "mps"}, set()))
@example(({"teacher": _Teacher(), "teacher_epochs": 0}, set()))  # a teacher trained elsewhere
@example(({"teacher_lr": 3.5e38, "kd_weight": 1e39}, {"teacher_lr", "kd_weight"}))  # beyond float32
def test_fit_trains_or_names_a_parameter_before_the_first_teacher_epoch(changes):
    params, invalid = changes
    started = []
    original = DANNStage.on_epoch_begin
    DANNStage.on_epoch_begin = lambda self, *args: started.append(1) or original(self, *args)
    clf = RCDKDClassifier(**dict(TINY, batch_size=8, selector_hidden=8)).set_params(**params)
    try:
        clf.fit(X_SRC, Y_SRC, X_TGT)
    except (ValueError, TypeError) as exc:
        message = str(exc)
        assert any(name in message for name in params), (params, message)
        assert not started, f"raised after the teacher started training: {message}"
        assert not hasattr(clf, "classes_")  # and nothing was left half-fitted
        return
    finally:
        DANNStage.on_epoch_begin = original
    assert not invalid, f"fit accepted invalid values for {sorted(invalid)}"
    proba = clf.predict_proba(X_TGT)
    assert proba.shape == (len(X_TGT), 3) and np.isfinite(proba).all()
    assert math.isclose(float(proba.sum(axis=1).mean()), 1.0, rel_tol=1e-5)
