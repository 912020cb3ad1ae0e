"""sktime integration: the adapter passes sktime's conformance suite and runs in a ClassificationBenchmark."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score

from conftest import TINY
from skrcd import RCDKDClassifier
from skrcd.datasets import load_scenario, make_domain_shift
from skrcd.sktime import DropMaskedClassifier, RCDKDSktimeClassifier, scenario_task



@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::skrcd.domains.NoTargetWarning")  # sktime's test data have no masked rows
@pytest.mark.parametrize("cls", [RCDKDSktimeClassifier, DropMaskedClassifier])
def test_sktime_check_estimator(cls):
    from sktime.utils.estimator_checks import check_estimator

    results = check_estimator(cls, raise_exceptions=False, verbose=False)
    failed = {name: str(err)[:300] for name, err in results.items() if err != "PASSED"}
    assert not failed, failed
    assert len(results) > 100


def test_adapter_reads_masked_rows_as_target_and_matches_the_core_estimator():
    X_src, y_src, X_tgt, _ = make_domain_shift(n_source=30, n_target=24, length=32, random_state=0)
    X = np.concatenate([X_src, X_tgt])
    y = np.concatenate([y_src, np.full(len(X_tgt), -1)])
    y_before = y.copy()
    adapter = RCDKDSktimeClassifier(RCDKDClassifier(**TINY)).fit(X, y)
    np.testing.assert_array_equal(y, y_before)
    assert adapter.estimator_.target_mode_ == "masked"
    assert adapter.classes_.tolist() == [0, 1, 2]  # the mask label is not a class
    core = RCDKDClassifier(**TINY).fit(X_src, y_src, X_tgt)
    np.testing.assert_allclose(adapter.predict_proba(X_tgt), core.predict_proba(X_tgt), atol=1e-6)
    assert adapter.get_params()["estimator__temperature"] == 2.0  # nested parameters reachable
    # a single labelled class: sktime's convention (predict it), the inner estimator is not fitted
    single = RCDKDSktimeClassifier(RCDKDClassifier(**TINY)).fit(X, np.where(y == -1, -1, 5))
    assert set(single.predict(X_tgt)) == {5} and not hasattr(single, "estimator_")


@pytest.mark.parametrize("labels, mask_label", [
    (np.full(10, -1), -1),
    (np.full(10, "unlabelled"), "unlabelled"),
    (np.full(10, -1.0), -1),
])
def test_adapter_never_predicts_the_mask_label_when_every_row_is_masked(labels, mask_label):
    """sktime fits nothing and predicts the one label it saw when y holds a single label: that would be the mask
    label, so the adapter refuses at fit."""
    X = np.random.default_rng(0).normal(size=(10, 2, 16))
    adapter = RCDKDSktimeClassifier(RCDKDClassifier(**TINY, mask_label=mask_label))
    with pytest.raises(ValueError, match=f"every label equals the mask label {mask_label!r}: there is no labelled"):
        adapter.fit(X, labels)
    assert not adapter.is_fitted
    with pytest.raises(ValueError, match="every label equals the mask label -1"):
        RCDKDSktimeClassifier().fit(X, np.full(10, -1))  # the default estimator's mask label
    # mask_label=None switches the convention off: -1 is then a real (single) class, predicted as sktime does
    plain = RCDKDSktimeClassifier(RCDKDClassifier(**TINY, mask_label=None)).fit(X, np.full(10, -1))
    assert set(plain.predict(X)) == {-1}


def test_scenario_task_hides_every_target_label_from_training():
    X, y, cv = scenario_task(2, 11)
    sc = load_scenario("uci_har", 2, 11)
    (train, test), = list(cv.split(X))
    n_src, n_tgt = len(sc.X_src), len(sc.X_tgt)
    np.testing.assert_array_equal(train, np.arange(n_src + n_tgt))
    assert (y[n_src:n_src + n_tgt] == -1).all()  # target training rows: inputs only
    np.testing.assert_array_equal(y[test], sc.y_test)
    np.testing.assert_array_equal(X[test], sc.X_test)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::RuntimeWarning:numpy.*")  # the std over a single fold is NaN
def test_classification_benchmark_on_uci_har_scenarios():
    from sklearn.ensemble import RandomForestClassifier
    from sktime.benchmarking.classification import ClassificationBenchmark
    from sktime.classification.feature_based import SummaryClassifier

    bench = ClassificationBenchmark()
    rcdkd = RCDKDClassifier(**dict(TINY, teacher_epochs=2, student_epochs=2, teacher_channels=(16, 16, 16),
                                   student_channels=(8, 8, 8), batch_size=32))
    bench.add_estimator(RCDKDSktimeClassifier(rcdkd), "rcdkd")
    baseline = SummaryClassifier(estimator=RandomForestClassifier(n_estimators=20, random_state=0), random_state=0)
    bench.add_estimator(DropMaskedClassifier(baseline), "summary_source_only")
    for source, target in [(2, 11), (7, 13)]:
        X, y, cv = scenario_task(source, target)
        bench.add_task((X, y), cv, [accuracy_score], task_id=f"uci_har_{source}_{target}", error_score="raise")
    results = bench.run()
    assert bench.failed_experiments == []  # sktime logs and swallows the errors of an experiment
    assert len(results) == 4
    assert set(results["model_id"]) == {"rcdkd", "summary_source_only"}
    assert np.isfinite(results["accuracy_score_mean"].to_numpy(dtype=float)).all()
