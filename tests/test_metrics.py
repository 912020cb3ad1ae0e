"""Scoring that knows about masked rows (skrcd/metrics.py), in scikit-learn and sktime; docs/ecosystem.md cites it."""

import warnings

import numpy as np
import pytest
import sklearn
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score, cross_validate
from sklearn.pipeline import make_pipeline

from conftest import TINY
from skrcd import RCDKDClassifier
from skrcd.datasets import make_domain_shift
from skrcd.domains import MaskedRowsScoredWarning
from skrcd.metrics import make_masked_scorer, mask_label_of, masked_metric
from skrcd.sktime import RCDKDSktimeClassifier
from skrcd.transformers import ChannelStandardScaler


@pytest.fixture(scope="module")
def stacked():
    X_src, y_src, X_tgt, y_tgt = make_domain_shift(n_source=40, n_target=40, n_classes=3, length=32, random_state=0)
    return np.concatenate([X_src, X_tgt]), np.r_[y_src, np.full(len(X_tgt), -1)]


@pytest.fixture(scope="module")
def fitted(stacked):
    return RCDKDClassifier(**TINY).fit(*stacked)


def test_masked_scorer_scores_the_labelled_rows_only(stacked, fitted):
    X, y = stacked
    labelled = y != -1
    pred = fitted.predict(X[labelled])
    assert make_masked_scorer("accuracy")(fitted, X, y) == accuracy_score(y[labelled], pred)
    assert make_masked_scorer("f1_macro")(fitted, X, y) == f1_score(y[labelled], pred, average="macro")
    assert make_masked_scorer("accuracy")(fitted, X, y) == fitted.score(X, y)
    w = np.linspace(1, 2, len(y))
    assert make_masked_scorer("accuracy")(fitted, X, y, sample_weight=w) == pytest.approx(
        accuracy_score(y[labelled], pred, sample_weight=w[labelled]))
    assert np.isfinite(make_masked_scorer("neg_log_loss")(fitted, X, y))
    with pytest.raises(ValueError, match="nothing to score"):
        make_masked_scorer("accuracy")(fitted, X[~labelled], y[~labelled])


def test_stock_scorers_on_masked_rows_warn(stacked, fitted):
    X, y = stacked
    with pytest.warns(MaskedRowsScoredWarning, match="make_masked_scorer"):
        stock = sklearn.metrics.get_scorer("accuracy")(fitted, X, y)
    assert stock < make_masked_scorer("accuracy")(fitted, X, y)  # the -1 rows counted as errors
    with warnings.catch_warnings():
        warnings.simplefilter("error", MaskedRowsScoredWarning)
        make_masked_scorer("accuracy")(fitted, X, y)
        fitted.score(X, y)
        sklearn.metrics.get_scorer("accuracy")(fitted, X[y != -1], y[y != -1])


@pytest.mark.parametrize("routing", [False, True], ids=["routing-off", "routing-on"])
def test_masked_scorer_in_grid_search_and_cross_validation(stacked, routing):
    X, y = stacked
    cv = KFold(2, shuffle=True, random_state=0)
    with sklearn.config_context(enable_metadata_routing=routing), warnings.catch_warnings():
        warnings.simplefilter("error", MaskedRowsScoredWarning)
        search = GridSearchCV(RCDKDClassifier(**TINY), {"temperature": [2.0, 4.0]}, cv=cv,
                              scoring={"f1": make_masked_scorer("f1_macro"), "acc": make_masked_scorer("accuracy")},
                              refit="f1").fit(X, y)
        per_fold = cross_validate(RCDKDClassifier(**TINY), X, y, cv=cv, return_estimator=True,
                                  return_indices=True, scoring=make_masked_scorer("f1_macro"))
    assert search.best_params_["temperature"] in (2.0, 4.0) and np.isfinite(search.cv_results_["mean_test_acc"]).all()
    for est, test, score in zip(per_fold["estimator"], per_fold["indices"]["test"], per_fold["test_score"]):
        keep = test[y[test] != -1]
        assert score == f1_score(y[keep], est.predict(X[keep]), average="macro")
    pipe = make_pipeline(ChannelStandardScaler(), RCDKDClassifier(**TINY, standardize=False, mask_label="?"))
    assert mask_label_of(pipe) == "?" and mask_label_of(search) == -1
    scores = cross_val_score(RCDKDClassifier(**TINY), X, y, cv=cv, scoring=make_masked_scorer("accuracy"))
    assert scores.shape == (2,)


def test_sktime_adapter_score_and_evaluation_skip_masked_rows(stacked):
    from sktime.classification.model_evaluation import evaluate
    from sktime.classification.model_selection import TSCGridSearchCV

    X, y = stacked
    labelled = y != -1
    adapter = RCDKDSktimeClassifier(RCDKDClassifier(**TINY)).fit(X, y)
    assert adapter.score(X, y) == accuracy_score(y[labelled], adapter.predict(X[labelled]))
    cv = KFold(2, shuffle=True, random_state=0)
    with pytest.warns(MaskedRowsScoredWarning, match="masked_metric"):
        stock = evaluate(RCDKDSktimeClassifier(RCDKDClassifier(**TINY)), cv=cv, X=X, y=y, scoring=accuracy_score)
    with warnings.catch_warnings():
        warnings.simplefilter("error", MaskedRowsScoredWarning)
        results = evaluate(RCDKDSktimeClassifier(RCDKDClassifier(**TINY)), cv=cv, X=X, y=y,
                           scoring=masked_metric(accuracy_score), return_data=True)
    for (_, row), low in zip(results.iterrows(), stock["test_accuracy_score"]):
        y_test, y_pred = np.asarray(row["y_test"]).ravel(), np.asarray(row["y_pred"]).ravel()
        keep = y_test != -1
        assert row["test_masked_accuracy_score"] == accuracy_score(y_test[keep], y_pred[keep]) > low
    tuned = TSCGridSearchCV(RCDKDSktimeClassifier(RCDKDClassifier(**TINY)), {"estimator__temperature": [2.0]},
                            cv=cv, scoring=masked_metric(f1_score, average="macro")).fit(X, y)
    assert 0 <= tuned.best_score_ <= 1
