"""Pick RCD-KD hyperparameters without target labels, with skada's unsupervised scorers.

The UCI-HAR scenario 2 -> 11 (bundled subset): the labelled source train part and
the unlabelled target train part are stacked skada-style (``sample_domain`` 1 for
source rows, -2 for target rows). ``GridSearchCV`` splits them with
``SourceTargetShuffleSplit`` and ranks the candidates by the entropy of the
student's predictions on the held-out target rows (``PredictionEntropyScorer``);
soft neighbourhood density and deep embedded validation are reported beside it. No target label reaches ``fit`` or any scorer:
the target test part is only read at the end, to show how the chosen model does.

Run ``python examples/select_hyperparameters_skada.py`` (needs ``pip install -e
".[skada]"`` from the checkout); ``SKRCD_FAST=1`` trains 2 epochs of tiny networks on a subset (what
CI does, to check the example runs).
"""

import os

import numpy as np
import skada  # noqa: F401 - importing skada switches scikit-learn's metadata routing on
from skada.metrics import DeepEmbeddedValidation, PredictionEntropyScorer, SoftNeighborhoodDensity
from skada.model_selection import SourceTargetShuffleSplit
from sklearn.model_selection import GridSearchCV

from skrcd import RCDKDClassifier
from skrcd.datasets import load_scenario

FAST = bool(os.environ.get("SKRCD_FAST"))

sc = load_scenario("uci_har", source=2, target=11)
X_src, y_src, X_tgt = sc.X_src, sc.y_src, sc.X_tgt
if FAST:
    X_src, y_src, X_tgt = X_src[::3], y_src[::3], X_tgt[::3]

X = np.concatenate([X_src, X_tgt])
# the target rows carry the mask label: no target label exists in the training data
y = np.concatenate([y_src, np.full(len(X_tgt), -1)])
sample_domain = np.r_[np.ones(len(X_src), dtype=int), np.full(len(X_tgt), -2)]

if FAST:
    base = RCDKDClassifier(teacher_epochs=2, student_epochs=2, teacher_channels=(16, 16, 16),
                           student_channels=(8, 8, 8), selector_hidden=32, mc_passes=2, n_episodes=2,
                           random_state=0)
    grid = {"temperature": [2.0, 4.0], "alpha2": [0.5, 1.8]}
else:
    base = RCDKDClassifier(teacher_epochs=40, student_epochs=40, random_state=0)
    grid = {"temperature": [1.0, 2.0, 4.0], "alpha1": [0.2, 1.0], "alpha2": [0.5, 1.8]}

scoring = {
    "entropy": PredictionEntropyScorer(),  # lower entropy is better: skada negates it
    "snd": SoftNeighborhoodDensity(),
    "dev": DeepEmbeddedValidation(random_state=0),  # reads the student's features (predict_features)
}
search = GridSearchCV(base, grid, cv=SourceTargetShuffleSplit(n_splits=2, random_state=0), scoring=scoring,
                      refit="entropy", error_score="raise")
search.fit(X, y, sample_domain=sample_domain)

res = search.cv_results_
print("candidate" + "".join(f"{name:>13s}" for name in scoring))
for i, params in enumerate(res["params"]):
    print(f"{params}" + "".join(f"{res[f'mean_test_{name}'][i]:13.4f}" for name in scoring))
print("chosen without target labels:", search.best_params_)

# only now are target labels read, to show how the choice did
acc = np.mean(search.best_estimator_.predict(sc.X_test) == sc.y_test)
print(f"accuracy of the chosen student on the target test part: {100 * acc:.2f}")
