"""The parameter table: every ``__init__`` parameter is checked, in ``fit`` before any work, and in ``predict``."""

import inspect
import math
import re

import numpy as np
import pytest
import torch

import skrcd._fit_data
from conftest import TINY
from skrcd import AADClassifier, DANNStudentClassifier, MobileDAClassifier, RCDKDClassifier, SourceOnlyClassifier
from skrcd._param_validation import InvalidParameterError
from skrcd._parameters import (
    PARAMETERS,
    PARAMS_SCHEMA,
    RUN,
    STUDENT,
    TEACHER,
    Parameter,
    parameters_of_stage,
    parameters_section,
)
from skrcd.datasets import make_domain_shift

ESTIMATORS = [RCDKDClassifier, SourceOnlyClassifier, DANNStudentClassifier, MobileDAClassifier, AADClassifier]

#: For each parameter, values that must be refused (the first error names the parameter).
BAD = {
    "teacher": ["lstm", 3],
    "discriminator": ["mlp"],
    "teacher_channels": [(8, 0, 8), (8, 8), 8, 64, (), (8, 8.5, 8), (8, 10**6, 8), (8,) * 33],
    "student_channels": [(4, 4), (4, -1, 4), (0, 8, 8), None, (4, 4, 10**6)],
    "kernel_size": [0, 2.5, 10**9],
    "stride": [0, 10**5, 10**6],
    "dropout": [1.0, -0.1, math.nan],
    "standardize": ["per_sample", 1, None],
    "teacher_epochs": [-1, 1.5, True, 10**20],
    "student_epochs": [-1, 10**7],
    "batch_size": [0, np.float64(32), 2**31],
    "teacher_lr": [0, math.inf, "0.01"],
    "student_lr": [-1e-2],
    "betas": [(0.5,), (0.5, 1.0), (0.5, math.nan), 0.9],
    "weight_decay": [-1e-4],
    "teacher_domain_weight": [-1.0],
    "teacher_method": ["dirt", None],
    "n_teachers": [0, "two", 1.5, None, 10**4],
    "teacher_refine_epochs": [-1, 2.5, 10**9],
    "teacher_ent_weight": [-0.1, math.nan],
    "teacher_vat_weight": [math.inf],
    "teacher_vat_every": [0, 1.5, "3", 10**9],
    "teacher_swa_start": [1.0, -0.1, "half", True, math.nan],
    "vat_radius": [0, -1.0],
    "kd_weight": [math.nan],
    "dc_weight": [-1],
    "dc_mode": ["reverse"],
    "dc_features": ["both", None],
    "source_ce_weight": [-1.0, math.nan],
    "label_shift": ["bbse", None, True],
    "selection_balance": ["batch", None],
    "augment": ["medium", 3, {"jitter": -0.1}, {"warp": 0.2}, {"permutation": 2.5}],
    "consistency_weight": [-0.5, math.inf],
    "ema_decay": [1.0, -0.1],
    "student_ema": [1, "yes"],
    "temperature": [0],
    "n_episodes": [0, 10**6],
    "mc_passes": [0, 10**6],
    "teacher_refresh": ["x"],
    "selection": ["best", None],
    "alpha1": [-0.2, math.inf],
    "alpha2": [math.inf],
    "reward_baseline": ["median"],
    "selector_state": ["student", None],
    "selection_weighting": ["fuzzy"],
    "reward_quantile": [0, 1, 1.5, "0.5"],
    "selector_bias_noise": ["both"],
    "selector_hidden": [0, 10**6],
    "selector_sigma0": [-0.1, -1],
    "selector_gamma": [1.5, -1, 5],
    "selector_lr": [0],
    "selector_batch_size": [0, 10**9],
    "memory_capacity": [0, 2**40],
    "learning_starts": [-1, -5],
    "selector_tau": [0, 5, 1.0001, -1],
    "mask_label": [[1], math.nan],
    "device": ["gpu", "cuda:x", 0, None],
    "n_threads": [0, 1.0, 2**31 - 1],
    "predict_batch_size": [0, 2**40],
    "callbacks": [[object()], "bar"],
    "teacher_callbacks": [[object()], ("stop", 3)],
    "student_callbacks": [[("name",)], [3]],
    "train_split": [0, 1.0, -0.2, "0.2", True],
    "class_weight": ["auto", [1.0, 2.0], {0: -1.0}, {0: math.nan}],
    "warm_start": [1, "yes", None],
    "checkpoint_dir": [5],
    "checkpoint_every": [0],
    "random_state": [-1, "seed", np.random.default_rng(0)],
    "verbose": [-1],
}
CASES = [(name, value) for name, values in BAD.items() for value in values]


def _case_id(name, value):
    text = repr(value)
    return f"{name}={type(value).__name__ if ' at 0x' in text else text}"  # no memory address in a test id

def _named_callback():
    from skorch.callbacks import EarlyStopping

    return ("stop", EarlyStopping(monitor="train_loss"))


def _valid_split():
    from skorch.dataset import ValidSplit

    return ValidSplit(5, stratified=True)


#: Edge values that must be accepted.
GOOD = {
    "selector_gamma": [0, 1.0], "selector_tau": [1], "selector_sigma0": [0.0], "learning_starts": [0],
    "betas": [(0.0, 0.999), [0.9, 0.99]], "dropout": [0], "teacher_channels": [None, [8, 16, 16]],
    "student_channels": [np.array([4, 8, 8]).tolist(), (np.int64(4), 4, 4)], "batch_size": [np.int32(8)],
    "device": ["auto", "cpu", "cuda", "cuda:1", "mps", torch.device("cpu")], "standardize": [True, False, "joint"],
    "mask_label": [None, "unlabelled", -1.0], "n_threads": [None, 2], "random_state": [None, 0, np.random.RandomState(0)],
    "verbose": [True, 2], "checkpoint_dir": [None, "ckpt"], "teacher_lr": [np.float32(1e-3)],
    "reward_quantile": [None, 0.5], "teacher_method": ["vada", "dirtt", "cdan"], "teacher_refine_epochs": [0],
    "n_teachers": [1, np.int64(3), "auto"],
    "callbacks": [[], None], "student_callbacks": [[_named_callback()]],
    "train_split": [0.2, _valid_split()], "class_weight": ["balanced", {0: 2.0}], "warm_start": [True, np.bool_(False)],
}


def test_every_init_parameter_has_constraints_and_bad_cases():
    for cls in ESTIMATORS:
        params = set(inspect.signature(cls.__init__).parameters) - {"self"}
        assert set(cls._parameter_constraints) == params, cls.__name__
    assert set(BAD) == set(RCDKDClassifier._parameter_constraints)


def test_every_parameter_is_classified_once_in_init_order():
    for cls in ESTIMATORS:
        names = [n for n in inspect.signature(cls.__init__).parameters if n != "self"]
        assert [p.name for p in PARAMETERS] == names, cls.__name__
    for p in PARAMETERS:
        assert p.stage in (TEACHER, STUDENT, RUN), p.name
        assert 1 <= p.since <= PARAMS_SCHEMA, p.name
        if p.since > 1:  # the value files written before it existed were fitted with: a valid value
            RCDKDClassifier(**{p.name: p.before})._check_params([p.name])


@pytest.mark.parametrize("row, match", [
    (dict(name="x", stage="both", constraints=[None]), "stage must be TEACHER, STUDENT or RUN"),
    (dict(name="x", stage=STUDENT, constraints=[None], since=PARAMS_SCHEMA + 1), "is not a schema"),
    (dict(name="x", stage=STUDENT, constraints=[None], since=2), "needs the value older files were fitted with"),
    (dict(name="x", stage=STUDENT, constraints=[None], since=1, before=0), "needs the value older files"),
    (dict(name="x", stage=STUDENT, constraints=[None], kind="int"), "give both kind and doc"),
])
def test_a_row_that_does_not_classify_its_parameter_is_refused(row, match):
    with pytest.raises(ValueError, match=match):
        Parameter(**row)


def test_the_stages_are_what_checkpoints_and_the_benchmark_variants_use():
    from skrcd.experiments.benchmark import TEACHER_STAGE_PARAMS

    assert set(TEACHER_STAGE_PARAMS) == set(parameters_of_stage(TEACHER)) | {"device", "n_threads"}
    assert {"teacher_method", "batch_size", "standardize", "random_state"} <= set(TEACHER_STAGE_PARAMS)
    assert {"verbose", "device", "n_threads", "checkpoint_dir"} == set(parameters_of_stage(RUN)) - {
        "callbacks", "checkpoint_every", "predict_batch_size"}
    assert not set(parameters_of_stage(STUDENT)) & set(TEACHER_STAGE_PARAMS)


def test_the_docstring_documents_every_parameter_with_its_init_default():
    doc = RCDKDClassifier.__doc__
    for name, param in inspect.signature(RCDKDClassifier.__init__).parameters.items():
        if name == "self":
            continue
        shown = f'"{param.default}"' if isinstance(param.default, str) else repr(param.default)
        assert re.search(rf"^    (\w+, )*{name}(, \w+)* : .*, default={re.escape(shown)}$", doc, re.M), name
    assert "{parameters}" not in doc


def test_a_table_that_disagrees_with_init_is_named():
    def init(self, teacher="cnn"):
        pass

    with pytest.raises(RuntimeError, match="disagree on .*'verbose'"):
        parameters_section(init)


@pytest.fixture(scope="module")
def data():
    return make_domain_shift(n_source=40, n_target=36, n_classes=3, length=32, random_state=0)


@pytest.mark.parametrize("name, value", CASES, ids=[_case_id(n, v) for n, v in CASES])
def test_fit_refuses_a_bad_value_before_any_work(data, monkeypatch, name, value):
    def no_work(*args, **kwargs):
        raise AssertionError("fit read the data before checking its parameters")

    monkeypatch.setattr(skrcd._fit_data, "split_domains", no_work)
    X_src, y_src, X_tgt, _ = data
    clf = RCDKDClassifier(**TINY).set_params(**{name: value})
    with pytest.raises(InvalidParameterError) as exc:
        clf.fit(X_src, y_src, X_tgt)
    assert isinstance(exc.value, ValueError) and isinstance(exc.value, TypeError)
    assert str(exc.value).startswith(name), str(exc.value)


def test_a_teacher_trained_elsewhere_is_needed_for_no_teacher_epochs():
    with pytest.raises(ValueError, match="teacher_epochs=0 skips teacher training: pass a trained teacher module"):
        RCDKDClassifier(teacher_epochs=0).fit(np.zeros((4, 1, 8)), [0, 1, 0, 1])


@pytest.mark.parametrize("name", sorted(GOOD))
def test_edge_values_are_accepted(name):
    for value in GOOD[name]:
        RCDKDClassifier(**{name: value})._check_params()
    RCDKDClassifier(teacher="tcn", teacher_channels=(8,))._check_params()  # the TCN takes any number of blocks


def test_predict_checks_the_parameters_it_uses(data, tmp_path):
    X_src, y_src, X_tgt, _ = data
    clf = RCDKDClassifier(**dict(TINY, teacher_epochs=1, student_epochs=1)).fit(X_src, y_src, X_tgt)
    expected = clf.predict_proba(X_tgt)
    for name, value in [("predict_batch_size", 0), ("n_threads", "2"), ("n_threads", 0), ("device", "gpu")]:
        bad = RCDKDClassifier.load(clf.save(tmp_path / "model.skrcd")).set_params(**{name: value})
        for method in ("predict", "predict_proba", "predict_features"):
            with pytest.raises(InvalidParameterError, match=f"^{name} must be"):
                getattr(bad, method)(X_tgt)
    # a valid change after fit is used: smaller predict batches, same numbers
    np.testing.assert_allclose(clf.set_params(predict_batch_size=5).predict_proba(X_tgt), expected, atol=1e-6)
