import itertools

import pytest
import torch

from skrcd.selection.rewards import (
    entropy,
    kl_divergence,
    selection_reward,
    transferability_reward,
    uncertainty_consistency_reward,
)


@pytest.mark.parametrize("action,s_conf,t_conf", list(itertools.product([0, 1], [True, False], [True, False])))
def test_uncertainty_consistency_truth_table(action, s_conf, t_conf):
    # sample 0 is the one under test; sample 1 is its opposite so the batch mean sits between them
    hs = torch.tensor([0.1 if s_conf else 0.9, 0.9 if s_conf else 0.1])
    ht = torch.tensor([0.1 if t_conf else 0.9, 0.9 if t_conf else 0.1])
    r = uncertainty_consistency_reward(torch.tensor([action, 0]), hs, ht)[0].item()
    expected = 1.0 if (action == 1 and s_conf and t_conf) or (action == 0 and not s_conf and not t_conf) else -1.0
    assert r == expected


@pytest.mark.parametrize("action,low", list(itertools.product([0, 1], [True, False])))
def test_transferability_truth_table(action, low):
    d = torch.tensor([0.0 if low else 1.0, 1.0 if low else 0.0])
    r = transferability_reward(torch.tensor([action, 1]), d)[0].item()
    expected = 1.0 if (action == 1 and low) or (action == 0 and not low) else -1.0
    assert r == expected


def test_transferability_at_the_mean_counts_as_high():
    d = torch.tensor([1.0, 1.0])  # equal to the mean: "at or above"
    assert transferability_reward(torch.tensor([0, 1]), d).tolist() == [1.0, -1.0]


def test_selection_reward_combines_with_offsets():
    p_conf = torch.tensor([0.98, 0.01, 0.01])
    p_unsure = torch.tensor([0.34, 0.33, 0.33])
    student = torch.stack([p_conf, p_unsure])
    teacher = torch.stack([p_conf, p_conf])  # sample 1: student unsure and far from the teacher
    r = selection_reward(torch.tensor([1, 1]), student, teacher, alpha1=0.2, alpha2=1.8, baseline="batch")
    # sample 0: teacher entropy equals the mean -> teacher "unsure" -> r_unc = -1; KL 0 < mean -> r_tr = +1
    assert r[0].item() == pytest.approx(0.2 * (-1 - 0.5) + 1.8 * (1 - 0.5))
    # sample 1: selected although far (KL above mean) and student unsure -> both -1
    assert r[1].item() == pytest.approx(0.2 * (-1.5) + 1.8 * (-1.5))


def test_entropy_and_kl():
    p = torch.tensor([[0.25, 0.25, 0.25, 0.25]])
    assert entropy(p).item() == pytest.approx(torch.log(torch.tensor(4.0)).item())
    q = torch.tensor([[0.7, 0.1, 0.1, 0.1]])
    expected = (p * (p.log() - q.log())).sum().item()
    assert kl_divergence(p, q).item() == pytest.approx(expected)
    assert kl_divergence(q, q).item() == pytest.approx(0.0, abs=1e-7)


def test_class_baseline_compares_within_each_teacher_class():
    # class 0 samples all have a high KL, class 1 samples a low one: against the batch mean every class-0
    # sample looks "far" (skipping the whole class pays); against its class mean, half of each class is "near"
    teacher = torch.tensor([[0.9, 0.1]] * 4 + [[0.1, 0.9]] * 4)
    kl = torch.tensor([3.0, 3.1, 3.2, 3.3, 0.1, 0.2, 0.3, 0.4])
    select_all = torch.ones(8, dtype=torch.long)
    batch = transferability_reward(select_all, kl)
    assert batch[:4].tolist() == [-1.0] * 4  # the whole class 0 is punished when selected
    groups = teacher.argmax(1)
    per_class = transferability_reward(select_all, kl, groups, 2)
    assert per_class.tolist() == [1.0, 1.0, -1.0, -1.0, 1.0, 1.0, -1.0, -1.0]
    r = selection_reward(select_all, torch.full((8, 2), 0.5), teacher, baseline="class")
    assert r.shape == (8,)
    with pytest.raises(ValueError, match="baseline"):
        selection_reward(select_all, teacher, teacher, baseline="median")


def test_a_class_alone_in_the_batch_is_judged_against_the_batch():
    # the paper's rule against the mean of one value is never "below": a singleton class was always rewarded
    # for being skipped. Now it is compared with the batch mean.
    teacher = torch.tensor([[0.9, 0.1]] * 3 + [[0.1, 0.9]])  # class 1 has one sample
    kl = torch.tensor([1.0, 2.0, 3.0, 0.5])  # the singleton's KL is the lowest of the batch
    groups = teacher.argmax(1)
    r_sel = transferability_reward(torch.ones(4, dtype=torch.long), kl, groups, 2)
    assert r_sel[3] == 1  # selecting it is right
    r_skip = transferability_reward(torch.zeros(4, dtype=torch.long), kl, groups, 2)
    assert r_skip[3] == -1


def test_rank_fraction_within_groups_by_hand():
    from skrcd.selection.rewards import rank_fraction

    x = torch.tensor([5.0, 1.0, 3.0, 10.0, 0.0, 7.0])
    groups = torch.tensor([0, 0, 0, 1, 1, 2])  # group 2 is a singleton: ranked in the whole batch
    frac = rank_fraction(x, groups, 3)
    assert torch.allclose(frac, torch.tensor([5 / 6, 1 / 6, 3 / 6, 3 / 4, 1 / 4, (4 + 0.5) / 6]))


@pytest.mark.parametrize("q,expected", [(0.5, [True, True, False, False]), (0.25, [True, False, False, False]),
                                        (0.9, [True, True, True, True])])
def test_quantile_threshold_keeps_a_fixed_share(q, expected):
    from skrcd.selection.rewards import is_low

    kl = torch.tensor([0.1, 0.2, 0.3, 40.0])  # skewed: the mean rule calls 3 of 4 "low"
    assert is_low(kl, quantile=q).tolist() == expected
    assert is_low(kl).tolist() == [True, True, True, False]


def test_selection_reward_with_a_quantile_per_class():
    teacher = torch.tensor([[0.9, 0.1]] * 4 + [[0.1, 0.9]] * 4)
    shift = torch.tensor([0.0, 0.3, 0.05, 0.1] * 2)  # distinct KLs: 0 < 0.05 < 0.1 < 0.3 shift in each class
    student = torch.stack([teacher[:, 0] - shift * torch.sign(teacher[:, 0] - 0.5),
                           teacher[:, 1] + shift * torch.sign(teacher[:, 0] - 0.5)], dim=1)
    r = selection_reward(torch.ones(8, dtype=torch.long), student, teacher, alpha1=0.0, alpha2=1.0,
                         baseline="class", quantile=0.5)
    high = kl_divergence(student, teacher)
    for cls in (range(0, 4), range(4, 8)):  # the lower half of each class is rewarded for being selected
        order = sorted(cls, key=lambda i: float(high[i]))
        assert [float(r[i]) for i in order] == [0.5, 0.5, -1.5, -1.5]
