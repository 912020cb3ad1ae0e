"""scikit-learn integration: conformance checks, target conventions, metadata routing, grid search, pipelines."""

import warnings

import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from conftest import FAST, TINY
from skrcd import RCDKDClassifier
from skrcd.datasets import make_domain_shift
from skrcd.domains import NoTargetWarning, XTgtTrapWarning
from skrcd.transformers import ChannelStandardScaler

# Settings for scikit-learn's own checks: 2D inputs there are tabular blobs read as univariate series of
# length 2, on which this reaches the accuracy check_classifiers_train asks for (> 0.83) with every seed
# tried; the checks use the labels -1 and 1, so the masked-label convention is switched off.
CHECK_SETTINGS = dict(FAST, teacher_epochs=4, student_epochs=4, teacher_channels=(16, 16, 16),
                      student_channels=(8, 8, 8), selector_hidden=16, mc_passes=2, n_episodes=1, batch_size=16,
                      dropout=0.1, mask_label=None)


@pytest.mark.filterwarnings("ignore::skrcd.domains.NoTargetWarning")  # the checks give no target: source-only
@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")  # check_supervised_y_no_nan
def _expected_failures(estimator):
    if not isinstance(estimator, RCDKDClassifier):
        return {}
    # as for scikit-learn's own SGD-trained estimators: a row weighted 2 is drawn as often as any other row and
    # counts twice in its mini-batch's loss, while a repeated row is drawn twice per epoch; both mean the same
    # objective, not the same sequence of steps
    return {"check_sample_weight_equivalence_on_dense_data": "mini-batch training: a weight of 2 and a repeated "
                                                             "row give the same objective, not the same steps"}


@parametrize_with_checks([RCDKDClassifier().set_params(**CHECK_SETTINGS), ChannelStandardScaler()],
                         expected_failed_checks=_expected_failures)
def test_sklearn_check_estimator(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def data():
    # 3 channels, 32 steps; domains of different sizes (so X_tgt is never sliced by CV)
    return make_domain_shift(n_source=48, n_target=40, n_classes=2, length=32, random_state=0)


@pytest.fixture(scope="module")
def stacked(data):
    X_src, y_src, X_tgt, y_tgt = data
    X = np.concatenate([X_src, X_tgt])
    y = np.concatenate([y_src, np.full(len(X_tgt), -1)])
    return X, y


@pytest.fixture(scope="module")
def fitted(data):
    X_src, y_src, X_tgt, _ = data
    return RCDKDClassifier(**TINY).fit(X_src, y_src, X_tgt)


# ------------------------------------------------------------------ the three target conventions


def test_three_target_conventions_and_their_order(data):
    X_src, y_src, X_tgt, _ = data
    X = np.concatenate([X_src, X_tgt])
    sd = np.r_[np.zeros(len(X_src), int), -np.ones(len(X_tgt), int)]
    y_true_tgt = np.concatenate([y_src, np.zeros(len(X_tgt), int)])  # target labels ignored with sample_domain
    y_masked = np.concatenate([y_src, np.full(len(X_tgt), -1)])
    ref = RCDKDClassifier(**TINY).fit(X_src, y_src, X_tgt)
    by_domain = RCDKDClassifier(**TINY).fit(X, y_true_tgt, sample_domain=sd)
    masked = RCDKDClassifier(**TINY).fit(X, y_masked)
    assert (ref.target_mode_, by_domain.target_mode_, masked.target_mode_) == ("X_tgt", "sample_domain", "masked")
    for other in (by_domain, masked):
        np.testing.assert_allclose(other.predict_proba(X_tgt), ref.predict_proba(X_tgt), atol=1e-6)
    # sample_domain wins over masked labels: a masked source row is an error, not target
    with pytest.raises(ValueError, match="source row"):
        RCDKDClassifier(**TINY).fit(X, y_masked, sample_domain=np.zeros(len(X), int))
    # X_tgt wins: masked rows in y are then an error
    with pytest.raises(ValueError, match="mask label"):
        RCDKDClassifier(**TINY).fit(X, y_masked, X_tgt)
    with pytest.warns(NoTargetWarning):
        assert RCDKDClassifier(**TINY).fit(X_src, y_src).target_mode_ == "source_only"


def test_callers_labels_and_domains_are_never_written(data):
    import pandas as pd

    X_src, y_src, X_tgt, _ = data
    X = np.concatenate([X_src, X_tgt])
    y = np.concatenate([y_src, np.full(len(X_tgt), 7)])
    sd = np.r_[np.ones(len(X_src), int), -np.ones(len(X_tgt), int)]
    y_series = pd.Series(np.concatenate([y_src, np.full(len(X_tgt), -1)]))
    before = (y.copy(), sd.copy(), y_series.copy())
    RCDKDClassifier(**TINY).fit(X, y, sample_domain=sd)
    RCDKDClassifier(**TINY).fit(X, y_series)
    np.testing.assert_array_equal(y, before[0])
    np.testing.assert_array_equal(sd, before[1])
    pd.testing.assert_series_equal(y_series, before[2])


def test_string_labels_with_a_string_mask_and_minus_one_as_a_real_class(data):
    X_src, y_src, X_tgt, _ = data
    names = np.array(["sit", "walk"])[y_src]
    y = np.concatenate([names, np.full(len(X_tgt), "?")])
    clf = RCDKDClassifier(**TINY, mask_label="?").fit(np.concatenate([X_src, X_tgt]), y)
    assert clf.target_mode_ == "masked" and clf.classes_.tolist() == ["sit", "walk"]
    signed = np.where(y_src == 0, -1, 1)  # -1 is a class here: the default mask reads it as target
    with pytest.raises(ValueError, match="mask_label=None"):
        RCDKDClassifier(**TINY).fit(X_src, signed)
    with pytest.warns(NoTargetWarning):
        clf = RCDKDClassifier(**TINY, mask_label=None).fit(X_src, signed)
    assert clf.classes_.tolist() == [-1, 1]


def test_two_d_input_is_univariate_and_n_features_in_follows_sklearn(data):
    X_src, y_src, X_tgt, _ = data
    flat = RCDKDClassifier(**TINY).fit(X_src[:, 0], y_src, X_tgt[:, 0])
    assert (flat.n_features_in_, flat.n_channels_, flat.n_timepoints_) == (32, 1, 32)
    assert flat.predict(X_tgt[:, :1]).shape == (40,)  # the 3D form of the same univariate series
    with pytest.raises(ValueError, match="X has 16 features, but RCDKDClassifier is expecting 32"):
        flat.predict(X_tgt[:, 0, :16])
    panel = RCDKDClassifier(**TINY).fit(X_src, y_src, X_tgt)
    assert (panel.n_features_in_, panel.n_channels_) == (3, 3)


# ------------------------------------------------------------------ predict / score arguments


def test_predict_and_score_accept_domain_arguments(fitted, data):
    X_src, y_src, X_tgt, y_tgt = data
    sd = -np.ones(len(X_tgt), int)
    np.testing.assert_array_equal(fitted.predict(X_tgt, sample_domain=sd, allow_source=True), fitted.predict(X_tgt))
    np.testing.assert_array_equal(fitted.predict_proba(X_tgt, sample_domain=sd), fitted.predict_proba(X_tgt))
    with pytest.raises(ValueError, match="sample_domain"):
        fitted.predict(X_tgt, sample_domain=sd[:3])
    acc = fitted.score(X_tgt, y_tgt)
    assert acc == pytest.approx(np.mean(fitted.predict(X_tgt) == y_tgt))
    w = (y_tgt == 0).astype(float)
    assert fitted.score(X_tgt, y_tgt, sample_weight=w, sample_domain=sd, allow_source=True) == pytest.approx(
        np.mean(fitted.predict(X_tgt)[y_tgt == 0] == 0))


def test_score_skips_masked_rows(fitted, data):
    X_src, y_src, X_tgt, _ = data
    X = np.concatenate([X_src, X_tgt])
    y = np.concatenate([y_src, np.full(len(X_tgt), -1)])
    assert fitted.score(X, y) == pytest.approx(fitted.score(X_src, y_src))
    with pytest.raises(ValueError, match="nothing to score"):
        fitted.score(X_tgt, np.full(len(X_tgt), -1))


def test_class_level_metadata_requests():
    routing = RCDKDClassifier().get_metadata_routing()
    assert routing.consumes("fit", ["X_tgt", "sample_domain"]) == {"X_tgt", "sample_domain"}
    for method in ("predict", "predict_proba"):
        assert routing.consumes(method, ["sample_domain", "allow_source"]) == {"sample_domain", "allow_source"}
    assert routing.consumes("score", ["sample_weight", "sample_domain", "allow_source"]) == {
        "sample_weight", "sample_domain", "allow_source"}


# ------------------------------------------------------------------ grid search

GRID = {"teacher_channels": [(8, 8, 8), (12, 12, 12)], "temperature": [2.0, 4.0]}


@pytest.mark.slow
@pytest.mark.parametrize("routing", [False, True], ids=["routing-off", "routing-on"])
def test_grid_search_with_x_tgt_parallel(data, routing):
    X_src, y_src, X_tgt, _ = data
    with sklearn.config_context(enable_metadata_routing=routing):
        search = GridSearchCV(RCDKDClassifier(**TINY), GRID, cv=KFold(2, shuffle=True, random_state=0), n_jobs=2,
                              error_score="raise")
        search.fit(X_src, y_src, X_tgt=X_tgt)
    assert len(search.cv_results_["params"]) == 4
    assert search.best_estimator_.target_mode_ == "X_tgt"
    assert search.best_estimator_.predict(X_tgt).shape == (40,)


@pytest.mark.parametrize("routing", [False, True], ids=["routing-off", "routing-on"])
def test_grid_search_stacked_nested_params_in_pipeline(stacked, routing):
    X, y = stacked
    pipe = make_pipeline(ChannelStandardScaler(), RCDKDClassifier(**dict(TINY, standardize=False)))
    grid = {"rcdkdclassifier__n_episodes": [1, 2], "rcdkdclassifier__alpha1": [0.2, 1.0],
            "rcdkdclassifier__alpha2": [1.8]}
    with sklearn.config_context(enable_metadata_routing=routing):
        search = GridSearchCV(pipe, grid, cv=KFold(2, shuffle=True, random_state=0), n_jobs=2, error_score="raise")
        search.fit(X, y)
    assert len(search.cv_results_["mean_test_score"]) == 4
    best = search.best_estimator_
    assert best[-1].target_mode_ == "masked"
    labelled = y != -1  # score() skips the target rows: the accuracy of the labelled ones
    assert best.score(X, y) == np.mean(best.predict(X[labelled]) == y[labelled])


# ------------------------------------------------------------------ the traps


def test_trap_x_tgt_sliced_by_cross_validation_warns(data):
    X_src, y_src, X_tgt, _ = data
    same = X_tgt[: len(X_src) - 8]
    with pytest.warns(XTgtTrapWarning, match="sliced to the training fold"):
        cross_validate(RCDKDClassifier(**TINY), X_src[:-8], y_src[:-8], cv=2, params={"X_tgt": same})
    with warnings.catch_warnings():  # a target of another length is passed whole: no warning
        warnings.simplefilter("error", XTgtTrapWarning)
        cross_validate(RCDKDClassifier(**TINY), X_src, y_src, cv=2, params={"X_tgt": X_tgt})
        RCDKDClassifier(**TINY).fit(X_src[:40], y_src[:40], X_tgt)  # equal lengths outside CV: fine


def test_trap_x_tgt_with_the_fold_s_length_but_not_sliced_does_not_warn(data):
    X_src, y_src, X_tgt, _ = data
    with warnings.catch_warnings():  # 40 source rows, cv=2: 20 per training fold, and a 20-row target passed whole
        warnings.simplefilter("error", XTgtTrapWarning)
        cross_validate(RCDKDClassifier(**TINY), X_src[:40], y_src[:40], cv=2, params={"X_tgt": X_tgt[:20]})
        GridSearchCV(RCDKDClassifier(**TINY), {"temperature": [2.0]}, cv=2).fit(X_src[:40], y_src[:40],
                                                                               X_tgt=X_tgt[:20])


def test_trap_pipeline_never_transforms_x_tgt_warns(data, stacked):
    X_src, y_src, X_tgt, _ = data
    pipe = Pipeline([("scale", ChannelStandardScaler()), ("clf", RCDKDClassifier(**TINY))])
    with pytest.warns(XTgtTrapWarning, match="untransformed"):
        pipe.fit(X_src, y_src, clf__X_tgt=X_tgt)
    with warnings.catch_warnings():
        warnings.simplefilter("error", XTgtTrapWarning)
        Pipeline([("scale", "passthrough"), ("clf", RCDKDClassifier(**TINY))]).fit(X_src, y_src, clf__X_tgt=X_tgt)
        pipe.fit(*stacked)  # the stacked form: no trap


def test_pipeline_transforms_target_rows_of_the_stacked_form(stacked):
    X, y = stacked
    est = RCDKDClassifier(**dict(TINY, standardize=False))
    pipe = make_pipeline(ChannelStandardScaler(), clone(est)).fit(X, y)
    Xs = ChannelStandardScaler().fit_transform(X)  # statistics of both domains
    manual = clone(est).fit(Xs, y)
    np.testing.assert_allclose(pipe.predict_proba(X), manual.predict_proba(Xs), atol=1e-6)
    # the target rows were scaled with the source: the scaler saw every row
    np.testing.assert_allclose(pipe[0].mean_, X.mean(axis=(0, 2)), rtol=1e-4, atol=1e-5)


def test_channel_scaler_keeps_layout_and_uses_every_row(stacked):
    X, _ = stacked
    scaler = ChannelStandardScaler().fit(X)
    out = scaler.transform(X)
    assert out.shape == X.shape and out.dtype == np.float32
    np.testing.assert_allclose(out.mean(axis=(0, 2)), 0, atol=1e-4)
    flat = ChannelStandardScaler().fit_transform(X[:, 0])
    assert flat.shape == X[:, 0].shape
