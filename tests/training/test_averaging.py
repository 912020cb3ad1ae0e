"""Weight averaging along training: the uniform (SWA) and exponential (EMA) averages, when the teacher's average
is taken, and that a fitted teacher is the average of the epochs its parameter names."""

import pytest
import torch
from skorch.callbacks import Callback

from conftest import TINY
from skrcd import RCDKDClassifier
from skrcd.datasets import make_domain_shift
from skrcd.training import WeightAverage


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv1d(2, 3, 3), torch.nn.BatchNorm1d(3))


def _visit(net, value):
    """Set every weight to ``value`` and run one training batch (batch norm's statistics and counter move)."""
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(value)
    net.train()(torch.full((4, 2, 8), value) + torch.arange(8.0))


def test_the_uniform_average_is_the_mean_of_the_visited_weights_and_statistics():
    live = _net()
    average = WeightAverage(live)
    states = []
    for value in (1.0, -2.0, 4.0):
        _visit(live, value)
        states.append({k: v.clone() for k, v in live.state_dict().items()})
        average.update()
    assert average.n_averaged == 3
    for key, value in average.model.state_dict().items():
        if value.is_floating_point():  # weights and running statistics: the mean over the three visits
            torch.testing.assert_close(value, sum(s[key] for s in states) / 3)
        else:  # the batch counter is the live one
            assert torch.equal(value, states[-1][key])
    assert not average.model.training and not any(p.requires_grad for p in average.model.parameters())


def test_the_exponential_average_moves_by_one_minus_decay_and_copies_the_statistics():
    live = _net()
    start = [p.clone() for p in live.parameters()]
    average = WeightAverage(live, decay=0.75)
    _visit(live, 2.0)
    average.update()
    for a, s, p in zip(average.model.parameters(), start, live.parameters()):
        torch.testing.assert_close(a, 0.75 * s + 0.25 * p)
    torch.testing.assert_close(average.model[1].running_mean, live[1].running_mean)


def test_only_epochs_from_start_on_are_averaged_and_apply_needs_one():
    live = torch.nn.Linear(1, 1, bias=False)
    average = WeightAverage(live, start=0.5)
    for epoch in range(4):
        live.weight.data.fill_(float(epoch))
        average.on_epoch_end(epoch, 4)
        if epoch == 0:
            average.apply()  # nothing averaged yet: the live weights stay
            assert live.weight.item() == 0.0
    assert average.n_averaged == 2 and average.model.weight.item() == pytest.approx(2.5)  # epochs 2 and 3
    average.apply()
    assert live.weight.item() == pytest.approx(2.5)


def test_the_state_restores_the_count_and_the_weights():
    live = torch.nn.Linear(2, 1)
    first = WeightAverage(live)
    for value in (1.0, 3.0):
        live.weight.data.fill_(value)
        first.update()
    second = WeightAverage(live)
    second.load_state_dict(first.state_dict())
    live.weight.data.fill_(8.0)
    second.update()  # the third update weighs 1/3
    assert second.n_averaged == 3 and second.model.weight[0, 0].item() == pytest.approx(4.0)
    with pytest.raises(ValueError, match="n_averaged must be a non-negative int, got -1"):
        second.load_state_dict({"weights": first.model.state_dict(), "n_averaged": -1})


@pytest.mark.parametrize("kw, match", [({"decay": 1.0}, "decay must be None or a float in"),
                                       ({"decay": True}, "decay"), ({"start": 1.0}, "start must be a float in"),
                                       ({"start": "half"}, "start")])
def test_bad_settings_are_refused(kw, match):
    with pytest.raises(ValueError, match=match):
        WeightAverage(torch.nn.Linear(1, 1), **kw)


@pytest.mark.parametrize("swa_start", [None, 0.5])
def test_each_teacher_member_ends_as_the_average_its_parameter_names(swa_start):
    """Two members, four epochs each: with 0.5 each keeps the mean of its weights after epochs 3 and 4, without
    it the weights after epoch 4."""
    class Record(Callback):
        def __init__(self):
            self.seen = {}

        def on_epoch_end(self, net, **kwargs):
            stage = net.stage_
            self.seen.setdefault(stage.name, []).append(
                {k: v.clone() for k, v in stage.model.state_dict().items()})

    X_src, y_src, X_tgt, _ = make_domain_shift(n_source=40, n_target=32, n_classes=3, length=16, random_state=0)
    record = Record()
    clf = RCDKDClassifier(**dict(TINY, teacher_epochs=4, n_teachers=2), teacher_swa_start=swa_start,
                          teacher_callbacks=[record]).fit(X_src, y_src, X_tgt)
    assert sorted(record.seen) == ["teacher", "teacher_2"]
    for member, name in zip(clf.teacher_.members, ("teacher", "teacher_2")):
        epochs = record.seen[name]
        kept = epochs[2:] if swa_start is not None else epochs[3:]
        assert len(epochs) == 4 and not torch.equal(epochs[2]["head.weight"], epochs[3]["head.weight"])
        for key, value in member.state_dict().items():
            if value.is_floating_point():
                torch.testing.assert_close(value, sum(e[key] for e in kept) / len(kept))
