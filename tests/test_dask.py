"""Scale-out: GridSearchCV over the estimator on a local dask.distributed cluster through joblib's dask backend."""

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, KFold

from conftest import FAST
from skrcd import RCDKDClassifier
from skrcd.datasets import make_domain_shift

TINY = dict(FAST, teacher_epochs=1, student_epochs=1, teacher_channels=(8, 8, 8), student_channels=(4, 4, 4),
            selector_hidden=16, mc_passes=2, n_episodes=1, batch_size=16, random_state=0)


def _benchmark(X, y, backend, backend_params):
    from sklearn.metrics import accuracy_score
    from sktime.benchmarking.classification import ClassificationBenchmark

    from skrcd.sktime import RCDKDSktimeClassifier

    bench = ClassificationBenchmark(backend=backend, backend_params=backend_params)
    bench.add_estimator(RCDKDSktimeClassifier(RCDKDClassifier(**TINY)), "rcdkd")
    bench.add_task((X, y), KFold(2, shuffle=True, random_state=0), [accuracy_score], task_id="synthetic",
                   error_score="raise")
    return bench


@pytest.mark.filterwarnings("ignore::RuntimeWarning:numpy.*")
def test_grid_search_and_sktime_benchmark_on_a_local_dask_cluster():
    distributed = pytest.importorskip("distributed")
    import joblib

    X_src, y_src, X_tgt, _ = make_domain_shift(n_source=40, n_target=32, n_classes=2, length=32, random_state=0)
    X = np.concatenate([X_src, X_tgt])
    y = np.concatenate([y_src, np.full(len(X_tgt), -1)])  # stacked form: every fold keeps its target rows
    grid = {"temperature": [2.0, 4.0], "n_episodes": [1, 2]}
    cv = KFold(2, shuffle=True, random_state=0)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=":0", silence_logs=40) as cluster, \
            distributed.Client(cluster) as client:
        with distributed.get_task_stream(client) as stream, joblib.parallel_backend("dask"):
            search = GridSearchCV(RCDKDClassifier(**TINY), grid, cv=cv, n_jobs=-1, error_score="raise").fit(X, y)
        ran_on = {task["worker"] for task in stream.data}
        workers = set(client.scheduler_info()["workers"])
        # sktime's benchmark on the same cluster: its joblib backend with joblib's dask backend sends each
        # task's folds to the client (sktime's own backend="dask" also needs dask[dataframe], i.e. pyarrow)
        with distributed.get_task_stream(client) as bench_stream:
            bench = _benchmark(X, y, backend="joblib", backend_params={"backend": "dask", "n_jobs": -1})
            results = bench.run()
    assert bench.failed_experiments == [] and len(results) == 1
    assert {task["worker"] for task in bench_stream.data} <= workers and len(bench_stream.data) >= 2
    assert ran_on and ran_on <= workers  # the fits ran in the cluster's worker processes
    assert len(stream.data) >= 8  # 4 candidates x 2 folds ran as tasks on the cluster
    # the same search on the default (loky) backend gives the same scores: the cluster changes where, not what
    local = GridSearchCV(RCDKDClassifier(**TINY), grid, cv=cv, n_jobs=1, error_score="raise").fit(X, y)
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"])
    assert search.best_params_ == local.best_params_
