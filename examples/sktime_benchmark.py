"""An sktime benchmark: RCD-KD vs a non-adaptive classifier on UCI-HAR cross-subject scenarios.

sktime's ``ClassificationBenchmark`` fits each estimator on each task and scores
it. For domain adaptation, each task is one scenario in the *stacked* form
(:func:`skrcd.sktime.scenario_task`): labelled source training windows, target
training windows labelled -1 (unlabelled), and labelled target test windows, with
a ``PredefinedSplit`` that trains on the first two blocks and tests on the third,
so no target label is seen in training. The estimators:

- ``rcdkd``: :class:`skrcd.sktime.RCDKDSktimeClassifier`, the sktime adapter of
  :class:`~skrcd.RCDKDClassifier` (reads the -1 rows as the unlabelled target);
- ``summary_rf``: sktime's ``SummaryClassifier`` (summary statistics + random
  forest) wrapped in :class:`skrcd.sktime.DropMaskedClassifier`, which trains it
  on the labelled (source) rows only: the non-adaptive baseline.

sktime logs a failing experiment and carries on, so the script checks
``failed_experiments``.

Run ``python examples/sktime_benchmark.py`` (the bundled UCI-HAR subjects; a few
minutes on 2 CPU cores: 20 epochs per stage instead of the paper's 80);
``SKRCD_FAST=1`` runs one scenario with 2 epochs of small networks (what CI does,
to check the example runs).
"""

import os
import warnings

from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, f1_score
from sktime.benchmarking.classification import ClassificationBenchmark
from sktime.classification.feature_based import SummaryClassifier

from skrcd import RCDKDClassifier
from skrcd.sktime import DropMaskedClassifier, RCDKDSktimeClassifier, scenario_task

FAST = bool(os.environ.get("SKRCD_FAST"))


def macro_f1(y_true, y_pred):
    return f1_score(y_true, y_pred, average="macro")


if FAST:
    rcdkd = RCDKDClassifier(teacher_epochs=2, student_epochs=2, teacher_channels=(16, 16, 16),
                            selector_hidden=64, mc_passes=2, n_episodes=2, random_state=0)
    scenarios = [(2, 11)]
else:
    rcdkd = RCDKDClassifier(teacher_epochs=20, student_epochs=20, random_state=0)
    scenarios = [(2, 11), (7, 13), (9, 18)]

bench = ClassificationBenchmark()
bench.add_estimator(RCDKDSktimeClassifier(rcdkd), "rcdkd")
bench.add_estimator(
    DropMaskedClassifier(SummaryClassifier(estimator=RandomForestClassifier(n_estimators=100, random_state=0))),
    "summary_rf",
)
for source, target in scenarios:
    X, y, cv = scenario_task(source, target)  # stacked: source, masked target, target test
    bench.add_task((X, y), cv, [accuracy_score, macro_f1], task_id=f"uci_har_{source}-{target}")

with warnings.catch_warnings():
    # one fold per task: sktime's standard deviation over folds is undefined (NaN) and numpy says so
    warnings.filterwarnings("ignore", "Degrees of freedom", RuntimeWarning)
    warnings.filterwarnings("ignore", "invalid value encountered", RuntimeWarning)
    results = bench.run()
if bench.failed_experiments:  # sktime swallows errors: say so loudly
    raise SystemExit(f"failed experiments: {bench.failed_experiments}")

columns = [c for c in results.columns if c.endswith("_mean") and ("accuracy" in c or "macro_f1" in c)]
print(results[["validation_id", "model_id", *columns]].to_string(index=False))
