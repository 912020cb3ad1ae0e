"""Faults of round three at the estimator level (``docs/reliability.md``): sizes checked before any work, warm
start refusing another architecture, threads, ``class_weight``, ``standardize`` after fit, labels and domains."""

import copy
import threading
import warnings

import numpy as np
import pytest

import skrcd._estimator_checks
import skrcd.classifier
import skrcd.selection.dqn
from conftest import TINY
from skrcd import RCDKDClassifier
from skrcd._param_validation import InvalidParameterError
from skrcd.datasets import make_domain_shift

pytestmark = pytest.mark.filterwarnings("ignore::skrcd.SelectionCollapseWarning")


@pytest.fixture(scope="module")
def data():
    return make_domain_shift(n_source=24, n_target=20, n_classes=3, length=16, random_state=0)


@pytest.fixture(scope="module")
def fitted(data):
    X_src, y_src, X_tgt, _ = data
    return RCDKDClassifier(**TINY).fit(X_src, y_src, X_tgt)


def _no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("fit started training before checking the sizes")

    monkeypatch.setattr(skrcd.classifier, "train_networks", refuse)


@pytest.mark.parametrize("name, value", [("stride", 10**5), ("stride", 10**6), ("n_threads", 2**31 - 1),
                                         ("selector_hidden", 10**6), ("kernel_size", 10**9),
                                         ("memory_capacity", 2**40), ("student_channels", (4, 4, 10**6)),
                                         ("teacher_channels", (8,) * 100), ("batch_size", 2**40),
                                         ("n_episodes", 10**9), ("mc_passes", 10**9), ("student_epochs", 10**20)])
def test_huge_sizes_are_named_before_any_work(data, monkeypatch, name, value):
    _no_training(monkeypatch)
    X_src, y_src, X_tgt, _ = data
    with pytest.raises(InvalidParameterError, match=f"^{name} must be"):
        RCDKDClassifier(**TINY).set_params(**{name: value}).fit(X_src, y_src, X_tgt)


def test_a_stride_longer_than_the_series_is_named_before_any_work(data, monkeypatch):
    _no_training(monkeypatch)
    X_src, y_src, X_tgt, _ = data
    with pytest.raises(ValueError, match=r"^stride=17 exceeds the series length \(16 time steps\)"):
        RCDKDClassifier(**TINY, stride=17).fit(X_src, y_src, X_tgt)


def test_a_replay_memory_beyond_the_budget_is_named_before_the_teacher_stage(data, monkeypatch):
    _no_training(monkeypatch)
    monkeypatch.setattr(skrcd._estimator_checks, "REPLAY_MEMORY_BUDGET", 2**20)
    X_src, y_src, X_tgt, _ = data
    clf = RCDKDClassifier(**dict(TINY, student_epochs=10**5), memory_capacity=10**9)
    with pytest.raises(ValueError, match=r"^memory_capacity=1000000000: this fit pushes up to"):
        clf.fit(X_src, y_src, X_tgt)


def test_the_replay_memory_holds_no_more_than_the_fit_pushes(data, fitted, monkeypatch):
    sizes = []
    original = skrcd.selection.dqn.ReplayMemory.__init__

    def spy(self, capacity, state_dim, device="cpu"):
        sizes.append(capacity)
        original(self, capacity, state_dim, device)

    monkeypatch.setattr(skrcd.selection.dqn.ReplayMemory, "__init__", spy)
    X_src, y_src, X_tgt, _ = data
    clf = RCDKDClassifier(**TINY, memory_capacity=10**9).fit(X_src, y_src, X_tgt)
    # 1 epoch x 1 step x 1 episode x 16 target windows
    assert sizes == [16]
    np.testing.assert_array_equal(clf.predict_proba(X_tgt), fitted.predict_proba(X_tgt))


@pytest.mark.parametrize("change", [dict(student_channels=(4, 4, 8)), dict(teacher_channels=(8, 8, 4)),
                                    dict(n_teachers=2), dict(kernel_size=3), dict(stride=2), dict(teacher="tcn"),
                                    dict(selector_hidden=8), dict(selector_state="informed")])
def test_warm_start_refuses_another_architecture_before_any_training(data, fitted, monkeypatch, change):
    X_src, y_src, X_tgt, _ = data
    clf = copy.deepcopy(fitted)
    expected = clf.predict_proba(X_tgt)
    _no_training(monkeypatch)
    clf.set_params(warm_start=True, **change)
    with pytest.raises(ValueError, match=r"^warm_start=True continues the fitted networks, but") as exc:
        clf.fit(X_src, y_src, X_tgt)
    name = next(iter(change))
    assert name in str(exc.value) or (name == "n_teachers" and "n_teachers or teacher" in str(exc.value)) or (
        name == "teacher" and "teacher" in str(exc.value)), str(exc.value)
    np.testing.assert_array_equal(clf.predict_proba(X_tgt), expected)  # the fitted model is kept


def test_clones_fitted_in_threads_equal_the_same_fits_one_after_the_other(data, fitted):  # fitted: torch warmed up
    from joblib import Parallel, delayed
    from sklearn.base import clone

    X_src, y_src, X_tgt, _ = data
    models = [RCDKDClassifier(**dict(TINY, random_state=seed)) for seed in (0, 1)]

    def fit(model):
        return clone(model).fit(X_src, y_src, X_tgt).predict_proba(X_tgt)

    alone = [fit(m) for m in models]
    threaded = Parallel(n_jobs=2, backend="threading")(delayed(fit)(m) for m in models)
    for a, b in zip(alone, threaded):
        np.testing.assert_array_equal(a, b)


def test_two_threaded_grid_searches_give_identical_results(data, fitted):
    from sklearn.model_selection import GridSearchCV

    X_src, y_src, X_tgt, _ = data

    def search():
        grid = GridSearchCV(RCDKDClassifier(**TINY), {"kd_weight": [0.5, 1.0]}, cv=2, n_jobs=2)
        with joblib_threads():
            grid.fit(X_src, y_src, X_tgt=X_tgt)
        return grid.cv_results_

    first, second = search(), search()
    for key in ("mean_test_score", "split0_test_score", "split1_test_score"):
        np.testing.assert_array_equal(first[key], second[key])


def joblib_threads():
    from joblib import parallel_backend

    return parallel_backend("threading", n_jobs=2)


@pytest.mark.parametrize("weights, match", [
    ({0: -1.0}, r"^class_weight must map each label to a finite weight >= 0; the weight of 0 is -1.0"),
    ({1: float("nan")}, r"^class_weight must map .* the weight of 1 is nan"),
    ({2: float("inf")}, r"^class_weight must map .* the weight of 2 is inf"),
    ({0: "2"}, r"^class_weight must map .* the weight of 0 is '2'"),
    ({0: 0, 1: 0.0, 2: 0}, r"^class_weight=.* weighs every class of y 0: nothing would be learnt"),
    ({0: 1.0, 7: 2.0}, r"^class_weight names \[7\], which is not a class of y; the classes are \[0, 1, 2\]"),
])
def test_a_bad_class_weight_dict_is_named_before_any_work(data, monkeypatch, weights, match):
    _no_training(monkeypatch)
    X_src, y_src, X_tgt, _ = data
    original = dict(weights)
    with pytest.raises(ValueError, match=match):
        RCDKDClassifier(**TINY, class_weight=weights).fit(X_src, y_src, X_tgt)
    assert weights.keys() == original.keys()  # not mutated


@pytest.mark.parametrize("fit_with, then", [("domain", False), (False, "domain"), ("joint", "balanced")])
def test_set_params_standardize_after_fit_does_not_change_predictions(data, fitted, tmp_path, fit_with, then):
    X_src, y_src, X_tgt, _ = data
    clf = RCDKDClassifier(**TINY, standardize=fit_with).fit(X_src, y_src, X_tgt)
    expected = clf.predict_proba(X_tgt)
    clf.set_params(standardize=then)
    np.testing.assert_array_equal(clf.predict_proba(X_tgt), expected)
    loaded = RCDKDClassifier.load(clf.save(tmp_path / "model.skrcd"))  # the model file keeps the fit's choice
    np.testing.assert_array_equal(loaded.predict_proba(X_tgt), expected)


def test_a_refit_without_standardisation_drops_the_old_statistics(data, fitted):
    X_src, y_src, X_tgt, _ = data
    clf = copy.deepcopy(fitted).set_params(standardize=False).fit(X_src, y_src, X_tgt)
    assert not hasattr(clf, "channel_mean_") and not hasattr(clf, "channel_std_")
    np.testing.assert_array_equal(
        clf.predict_proba(X_tgt), RCDKDClassifier(**TINY, standardize=False).fit(X_src, y_src, X_tgt).predict_proba(X_tgt))


@pytest.mark.parametrize("labels", [[0, "a"], ("a", 1.5), [True, "b"]])
def test_mixed_label_types_are_a_type_error(data, monkeypatch, labels):
    _no_training(monkeypatch)
    X_src, _, X_tgt, _ = data
    y = list(labels) * (len(X_src) // len(labels))
    with pytest.raises(TypeError, match="^y mixes label types"):
        RCDKDClassifier(**TINY).fit(X_src[: len(y)], y, X_tgt)
    from skrcd.data import check_labels  # one type is fine: strings, or ints and floats together

    assert check_labels([0, 1.0], 2).dtype.kind == "f" and check_labels(["a", "b"], 2).dtype.kind == "U"


def test_mask_label_rows_among_the_labelled_rows_warn_without_x_tgt(data, fitted):
    from skrcd.domains import MaskLabelWarning

    X_src, y_src, _, _ = data
    y = np.where(np.arange(len(y_src)) % 4 == 0, -1, y_src)  # a class -1 of the data, among the others
    with pytest.warns(MaskLabelWarning, match=r"^fit got no X_tgt and 6 rows of y labelled mask_label=-1") as rec:
        clf = RCDKDClassifier(**TINY).fit(X_src, y)
    assert rec[0].filename == __file__
    assert clf.target_mode_ == "masked" and -1 not in clf.classes_
    stacked = np.r_[y_src[:16], np.full(8, -1)]  # the stacked form: target rows after the labelled ones
    with warnings.catch_warnings():
        warnings.simplefilter("error", MaskLabelWarning)
        RCDKDClassifier(**TINY).fit(X_src, stacked)


def test_a_float_sample_domain_of_whole_numbers_is_accepted(data, fitted):
    from skrcd.domains import split_domains

    X_src, y_src, X_tgt, _ = data
    X = np.concatenate([X_src, X_tgt])
    y = np.r_[y_src, np.full(len(X_tgt), -1)]
    sd = np.r_[np.ones(len(X_src)), -2 * np.ones(len(X_tgt))]  # float64, as skada's source_target_merge gives
    original = sd.copy()
    split = split_domains(X, y, sample_domain=sd)
    assert split.mode == "sample_domain" and split.X_tgt.shape[0] == len(X_tgt)
    np.testing.assert_array_equal(sd, original)
    for bad in (0.5, np.nan, np.inf):
        with pytest.raises(ValueError, match="^sample_domain must hold whole numbers"):
            split_domains(X, y, sample_domain=np.r_[sd[:-1], bad])
    with pytest.raises(TypeError, match="^sample_domain must hold integers"):
        split_domains(X, y, sample_domain=sd.astype(str))


def test_write_npz_takes_a_file_name_as_long_as_the_os_allows(tmp_path):
    from skrcd.datasets._base import write_npz

    path = tmp_path / ("d" * 251 + ".npz")  # 255 characters: the limit of common file systems
    write_npz(path, {"a": np.arange(3)})
    np.testing.assert_array_equal(np.load(path)["a"], np.arange(3))
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_set_params_reaches_a_named_callback_as_in_skorch():
    from sklearn.base import clone
    from skorch.callbacks import EarlyStopping

    es = EarlyStopping(monitor="train_loss", patience=5)
    clf = RCDKDClassifier(callbacks=[("es", es)], student_callbacks=[EarlyStopping(patience=2)])
    clf.set_params(callbacks__es__patience=3, student_callbacks__EarlyStopping__threshold=0.5, kd_weight=2.0)
    assert clf.callbacks[0][0] == "es" and clf.callbacks[0][1].patience == 3 and clf.kd_weight == 2.0
    assert clf.student_callbacks[0].threshold == 0.5
    assert es.patience == 5  # the caller's callback is copied, not changed
    assert clone(clf).callbacks[0][1].patience == 3  # what GridSearchCV does: clone, then set_params
    with pytest.raises(ValueError, match="no callback named 'stop'.*'es'"):
        clf.set_params(callbacks__stop__patience=1)
    with pytest.raises(ValueError, match="EarlyStopping has no parameter 'patiense'"):
        clf.set_params(callbacks__es__patiense=1)
    with pytest.raises(ValueError, match="callbacks__es: set a callback's parameter"):
        clf.set_params(callbacks__es=1)


def test_a_pipeline_passes_sample_domain_to_the_classifier_with_metadata_routing_on(data):
    import sklearn
    from sklearn.pipeline import make_pipeline

    from skrcd.transformers import ChannelStandardScaler

    X_src, y_src, X_tgt, _ = data
    X = np.concatenate([X_src, X_tgt])
    y = np.concatenate([y_src, np.full(len(X_tgt), -1)])
    sd = np.r_[np.ones(len(X_src), int), -np.ones(len(X_tgt), int)]
    with sklearn.config_context(enable_metadata_routing=True):  # as in any process that imported skada
        pipe = make_pipeline(ChannelStandardScaler(), RCDKDClassifier(**dict(TINY, student_epochs=0, selection="all")))
        pipe.fit(X, y, sample_domain=sd)
    clf = pipe[-1]
    assert clf.target_mode_ == "sample_domain" and len(clf.classes_) == 3  # the -1 rows were the target, not a class
