"""Scale-out on a local dask.distributed cluster (worker processes on this machine, loopback only).

GridSearchCV runs its fits there through joblib's dask backend; an sktime benchmark runs there as one task.
The cluster lives in a child process (this file run as a script), so its scheduler, threads and imports
never touch the state of the test process.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, KFold

from conftest import TINY
from skrcd import RCDKDClassifier
from skrcd.datasets import make_domain_shift



def _benchmark(X, y):
    from sklearn.metrics import accuracy_score
    from sktime.benchmarking.classification import ClassificationBenchmark

    from skrcd.sktime import RCDKDSktimeClassifier

    bench = ClassificationBenchmark()
    bench.add_estimator(RCDKDSktimeClassifier(RCDKDClassifier(**TINY)), "rcdkd")
    bench.add_task((X, y), KFold(2, shuffle=True, random_state=0), [accuracy_score], task_id="synthetic",
                   error_score="raise")
    return bench


def run_on_local_cluster():
    """The checks, run in the child process."""
    import warnings

    import distributed
    import joblib

    warnings.filterwarnings("ignore", category=RuntimeWarning)  # sktime: the std over 1 fold... is fine
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
        # an sktime benchmark on the same cluster: the whole run is one task on a worker (sktime 1.2's own
        # backend="dask" fails for classification, see docs/ecosystem.md); results only hold the experiments
        # that succeeded, so a full table means no failed experiment
        bench = _benchmark(X, y)
        with distributed.get_task_stream(client) as bench_stream:
            results = client.submit(bench.run).result()
    assert ran_on and ran_on <= workers, (ran_on, workers)  # the fits ran in the cluster's worker processes
    assert len(stream.data) >= 8  # 4 candidates x 2 folds ran as tasks on the cluster
    assert len(results) == 1 and results["model_id"].tolist() == ["rcdkd"]
    assert {task["worker"] for task in bench_stream.data} <= workers and len(bench_stream.data) >= 1
    # the same search in this process gives the same scores: the cluster changes where, not what
    local = GridSearchCV(RCDKDClassifier(**TINY), grid, cv=cv, n_jobs=1, error_score="raise").fit(X, y)
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"])
    assert search.best_params_ == local.best_params_
    print("cluster checks passed")


@pytest.mark.slow
def test_grid_search_and_sktime_benchmark_on_a_local_dask_cluster():
    pytest.importorskip("distributed")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, __file__], capture_output=True, text=True, timeout=540, env=env)
    assert out.returncode == 0 and "cluster checks passed" in out.stdout, out.stderr[-4000:]


if __name__ == "__main__":  # the child process (and nothing in the workers, which import this as __main__)
    import torch

    torch.set_num_threads(1)
    run_on_local_cluster()
