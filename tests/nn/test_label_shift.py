import math

import numpy as np
import pytest
import torch

from skrcd.nn.label_shift import em_target_prior, prior_log_ratio, source_prior


def _gaussian_posteriors(prior_train, prior_draw, n=20_000, seed=0):
    """Exact Bayes posteriors (under ``prior_train``) of 1-D Gaussian classes drawn with ``prior_draw``."""
    rng = np.random.default_rng(seed)
    means = np.array([-2.0, 0.0, 2.5])
    y = rng.choice(3, size=n, p=prior_draw)
    x = rng.normal(means[y], 1.0)
    lik = np.exp(-0.5 * (x[:, None] - means[None, :]) ** 2)
    post = lik * np.asarray(prior_train)[None, :]
    return torch.as_tensor(post / post.sum(1, keepdims=True))


@pytest.mark.parametrize("target", [(0.7, 0.2, 0.1), (0.05, 0.15, 0.8), (0.5, 0.0, 0.5)])
def test_em_recovers_a_known_target_prior_under_label_shift(target):
    source = (1 / 3, 1 / 3, 1 / 3)
    estimate = em_target_prior(_gaussian_posteriors(source, target), torch.tensor(source))
    assert estimate.sum().item() == pytest.approx(1.0)
    np.testing.assert_allclose(estimate.numpy(), target, atol=0.02)


def test_em_stays_at_the_training_prior_without_shift():
    source = (0.6, 0.3, 0.1)
    estimate = em_target_prior(_gaussian_posteriors(source, source), torch.tensor(source))
    np.testing.assert_allclose(estimate.numpy(), source, atol=0.02)


def test_em_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="do not match"):
        em_target_prior(torch.full((4, 3), 1 / 3), torch.tensor([0.5, 0.5]))


def test_source_prior_counts_row_weights():
    y = torch.tensor([0, 0, 1, 2])
    assert source_prior(y, 3).tolist() == [0.5, 0.25, 0.25]
    assert source_prior(y, 4, torch.tensor([1.0, 1.0, 2.0, 0.0])).tolist() == [0.5, 0.5, 0.0, 0.0]


def test_corrected_soft_targets_on_a_hand_made_example():
    # a teacher trained on a 75/25 source says 50/50 for a window; on a 25/75 target Bayes' rule gives 1/10 vs 9/10
    logits = torch.log(torch.tensor([[0.5, 0.5]]))
    ratio = prior_log_ratio(torch.tensor([0.25, 0.75]), torch.tensor([0.75, 0.25]))
    assert ratio.tolist() == pytest.approx([math.log(1 / 3), math.log(3)])
    corrected = (logits + ratio).softmax(1)
    assert corrected[0].tolist() == pytest.approx([0.1, 0.9], abs=1e-6)
    # an absent class is floored, not -inf: its share falls by the floor over its source share
    absent = prior_log_ratio(torch.tensor([1.0, 0.0]), torch.tensor([0.5, 0.5]), floor=1e-4)
    assert torch.isfinite(absent).all() and absent[1].item() == pytest.approx(math.log(1e-4 / 0.5), rel=1e-5)
