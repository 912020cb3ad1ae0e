"""skada integration: DA pipelines, domain-aware splitters and unsupervised scorers inside GridSearchCV.

``import skada`` switches scikit-learn's metadata routing on for the whole process,
so skada is imported by a fixture (never at module level, which would run at
collection time) and routing is switched back off after this module.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import sklearn
from sklearn.model_selection import GridSearchCV

from conftest import TINY
from skrcd import RCDKDClassifier
from skrcd.datasets import make_domain_shift
from skrcd.transformers import ChannelStandardScaler



@pytest.fixture(scope="module")
def skada():
    before = sklearn.get_config()["enable_metadata_routing"]
    skada = pytest.importorskip("skada")
    sklearn.set_config(enable_metadata_routing=True)  # what `import skada` does the first time
    yield skada
    sklearn.set_config(enable_metadata_routing=before)


@pytest.fixture(scope="module")
def da_data():
    """Source and target stacked skada-style: sample_domain 1 (source) / -2 (target), true target labels in y."""
    X_src, y_src, X_tgt, y_tgt = make_domain_shift(n_source=48, n_target=40, n_classes=2, length=32, random_state=0)
    X = np.concatenate([X_src, X_tgt])
    y = np.concatenate([y_src, y_tgt])
    sd = np.r_[np.ones(len(X_src), int), np.full(len(X_tgt), -2)]
    return X, y, sd


@pytest.mark.slow
def test_importing_skrcd_leaves_skada_and_routing_alone():
    code = ("import sys, sklearn, skrcd, skrcd.sktime, skrcd.transformers; "
            "assert 'skada' not in sys.modules; assert not sklearn.get_config()['enable_metadata_routing']")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert out.returncode == 0, out.stderr[-2000:]


def test_make_da_pipeline_fits_the_stacked_domains(skada, da_data):
    X, y, sd = da_data
    pipe = skada.make_da_pipeline(ChannelStandardScaler(), RCDKDClassifier(**dict(TINY, standardize=False)))
    y_given = y.copy()  # skada's selectors write the mask label into the target rows of the y they get
    pipe.fit(X, y_given, sample_domain=sd)
    est = pipe[-1].get_estimator()
    assert est.target_mode_ == "sample_domain"
    assert est.n_channels_ == 3 and len(est.classes_) == 2
    # the scaler was fitted on both domains, so the target rows went through the same transform
    np.testing.assert_allclose(pipe[0].get_estimator().mean_, X.mean(axis=(0, 2)), rtol=1e-4, atol=1e-5)
    target = sd < 0
    assert pipe.predict(X[target], sample_domain=sd[target]).shape == (target.sum(),)
    assert pipe.predict_proba(X[target], sample_domain=sd[target], allow_source=True).shape == (target.sum(), 2)
    assert 0.0 <= pipe.score(X[target], y[target], sample_domain=sd[target]) <= 1.0


def _scorers(skada):
    from skada.metrics import (
        DeepEmbeddedValidation,
        ImportanceWeightedScorer,
        MixValScorer,
        PredictionEntropyScorer,
        SoftNeighborhoodDensity,
    )

    return {
        "entropy": PredictionEntropyScorer(),
        "snd": SoftNeighborhoodDensity(),
        "iw": ImportanceWeightedScorer(),
        "dev": DeepEmbeddedValidation(random_state=0),
        "mixval": MixValScorer(random_state=0),
    }


@pytest.mark.parametrize("splitter", ["SourceTargetShuffleSplit", "DomainShuffleSplit"])
def test_grid_search_with_every_unsupervised_scorer(skada, da_data, splitter):
    """The bare estimator: DeepEmbeddedValidation reads the student's features through predict_features."""
    from skada import model_selection

    X, y, sd = da_data
    cv = getattr(model_selection, splitter)(n_splits=2, random_state=0)
    scorers = _scorers(skada)
    search = GridSearchCV(RCDKDClassifier(**TINY), {"temperature": [2.0, 4.0], "alpha1": [0.2, 1.0]}, cv=cv,
                          scoring=scorers, refit="entropy", error_score="raise")
    search.fit(X, y.copy(), sample_domain=sd)
    for name in scorers:
        scores = search.cv_results_[f"mean_test_{name}"]
        assert scores.shape == (4,) and np.isfinite(scores).all(), name
    assert search.best_estimator_.target_mode_ == "sample_domain"
    assert search.best_estimator_.module_.layer_name == "encoder"


def test_grid_search_over_a_da_pipeline_with_nested_params(skada, da_data):
    from skada.model_selection import SourceTargetShuffleSplit

    X, y, sd = da_data
    scorers = {k: v for k, v in _scorers(skada).items() if k != "dev"}  # dev: see the bare-estimator test
    pipe = skada.make_da_pipeline(ChannelStandardScaler(), RCDKDClassifier(**dict(TINY, standardize=False)))
    grid = {"rcdkdclassifier__teacher_channels": [(8, 8, 8), (12, 12, 12)], "rcdkdclassifier__alpha2": [0.5, 1.8]}
    search = GridSearchCV(pipe, grid, cv=SourceTargetShuffleSplit(n_splits=2, random_state=0), scoring=scorers,
                          refit="snd", error_score="raise")
    search.fit(X, y.copy(), sample_domain=sd)
    for name in scorers:
        assert np.isfinite(search.cv_results_[f"mean_test_{name}"]).all(), name
    assert search.best_params_["rcdkdclassifier__alpha2"] in (0.5, 1.8)
