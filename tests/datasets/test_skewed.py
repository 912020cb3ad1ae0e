import numpy as np
import pytest

from skrcd.datasets import (
    SKEWED_PROFILES,
    Scenario,
    load_scenario,
    profile_weights,
    skewed_indices,
    skewed_profile,
    skewed_scenario,
)


def _balanced(n_classes=6, per_class=40, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), per_class)
    y_test = np.repeat(np.arange(n_classes), 10)
    return Scenario(rng.normal(size=(len(y), 2, 8)), y, rng.normal(size=(len(y), 2, 8)),
                    rng.normal(size=(len(y_test), 2, 8)), y_test, None, None, y.copy())


def test_profiles_span_the_stated_shares():
    for k, shares in SKEWED_PROFILES.items():
        assert len(shares) == k and sum(shares) == pytest.approx(1.0)
        assert 0.35 <= shares[0] <= 0.45 and 0.02 <= shares[-1] <= 0.05
    assert skewed_profile(5)[0] / skewed_profile(5)[-1] == pytest.approx(10.0)


@pytest.mark.parametrize("seed", range(6))
def test_skewed_scenario_is_reproducible_and_has_the_profile(seed):
    sc = _balanced()
    a, b = skewed_scenario(sc, seed, 2, 11), skewed_scenario(sc, seed, 2, 11)
    assert np.array_equal(a.y_src, b.y_src) and np.array_equal(a.X_tgt, b.X_tgt)
    profile = skewed_profile(6)
    assert sorted(a.source_profile) == pytest.approx(sorted(profile))
    # the target's order is the source's with two classes' ranks swapped (before the absent classes go)
    rank_src = np.argsort(-a.source_profile, kind="stable")
    present = a.target_profile > 0
    moved = [c for c in range(6) if present[c] and np.flatnonzero(rank_src == c)[0]
             != np.flatnonzero(np.argsort(-a.target_profile, kind="stable") == c)[0]]
    assert len(moved) <= 2 + 2 * (seed % 3)
    assert (a.target_profile == 0).sum() == seed % 3  # 0, 1 or 2 classes absent from the target
    for y, shares in ((a.y_src, a.source_profile), (a.y_tgt, a.target_profile)):
        counts = np.bincount(y, minlength=6)
        assert (counts[shares == 0] == 0).all() and (counts[shares > 0] >= 1).all()
        np.testing.assert_allclose(counts / counts.sum(), shares, atol=0.02)
        assert len(y) <= 100
    # another scenario or seed draws another order of the classes
    assert not np.array_equal(a.target_profile, skewed_scenario(sc, seed + 3, 2, 11).target_profile) or \
        not np.array_equal(a.source_profile, skewed_scenario(sc, seed, 11, 2).source_profile)
    # the test part is whole; its weights give it the target's profile
    assert len(a.y_test) == len(sc.y_test)
    mass = np.bincount(a.y_test, weights=a.w_test, minlength=6)
    np.testing.assert_allclose(mass / mass.sum(), a.target_profile, atol=1e-9)


def test_skewed_indices_shrink_when_a_class_is_short():
    y = np.r_[np.zeros(100, int), np.ones(5, int)]
    idx = skewed_indices(y, [0.5, 0.5], size=100, random_state=0)
    assert np.bincount(y[idx]).tolist() == [5, 5]
    with pytest.raises(ValueError, match="no rows"):
        skewed_indices(np.zeros(5, int), [0.5, 0.5])


def test_profile_weights_zero_for_an_absent_class():
    w = profile_weights(np.array([0, 1, 2, 2]), [0.5, 0.5, 0.0])
    assert w.tolist() == [1.0, 1.0, 0.0, 0.0]


def test_load_scenario_skewed_family_on_the_bundled_subjects():
    sk = load_scenario("uci_har_skewed", source=2, target=11, seed=2)
    assert (sk.target_profile == 0).sum() == 2 and sk.w_test.shape == sk.y_test.shape
    with pytest.raises(ValueError, match="seed"):
        load_scenario("uci_har_skewed", source=2, target=11, seed=-1)
