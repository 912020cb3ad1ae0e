import inspect

import pytest
import torch

from skrcd.nn import augment as A
from skrcd.nn.augment import AUGMENT_PRESETS, SensorAugment

FUNCS = {
    "jitter": lambda x, g: A.jitter(x, 0.1, g),
    "scaling": lambda x, g: A.scaling(x, 0.2, g),
    "magnitude_warp": lambda x, g: A.magnitude_warp(x, 0.2, generator=g),
    "time_warp": lambda x, g: A.time_warp(x, 0.3, generator=g),
    "permute_segments": lambda x, g: A.permute_segments(x, 4, g),
    "channel_dropout": lambda x, g: A.channel_dropout(x, 0.3, g),
    "sensor_strong": lambda x, g: SensorAugment(**AUGMENT_PRESETS["strong"], permutation=3, channel_dropout=0.1)(x, g),
}


def _gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", list(FUNCS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_each_augmentation_keeps_shape_dtype_and_is_seeded(name, dtype):
    x = torch.randn(6, 3, 50, dtype=dtype)
    before = x.clone()
    y1, y2, y3 = FUNCS[name](x, _gen(1)), FUNCS[name](x, _gen(1)), FUNCS[name](x, _gen(2))
    assert y1.shape == x.shape and y1.dtype == dtype and y1.device == x.device
    assert torch.equal(x, before)  # the caller's windows are not modified
    assert torch.equal(y1, y2) and not torch.equal(y1, y3)
    assert torch.isfinite(y1).all()


def test_augmentations_take_no_labels():
    for fn in (A.jitter, A.scaling, A.magnitude_warp, A.time_warp, A.permute_segments, A.channel_dropout):
        assert not {"y", "labels", "target"} & set(inspect.signature(fn).parameters)


def test_time_warp_is_monotone_and_identity_at_zero_strength():
    ramp = torch.arange(64.0).repeat(4, 2, 1)
    warped = A.time_warp(ramp, 0.4, generator=_gen(0))
    assert (warped.diff(dim=2) >= -1e-5).all() and not torch.allclose(warped, ramp)
    torch.testing.assert_close(A.time_warp(ramp, 0.0, generator=_gen(0)), ramp)


def test_permutation_moves_whole_segments_and_keeps_the_tail():
    x = torch.arange(10.0).view(1, 1, 10).repeat(3, 2, 1)
    y = A.permute_segments(x, 4, _gen(3))  # segments of 2 steps, the last 2 steps stay
    assert torch.equal(y[..., 8:], x[..., 8:])
    segs = y[..., :8].reshape(3, 2, 4, 2)
    assert (segs[..., 1] - segs[..., 0] == 1).all()  # each segment intact
    assert torch.equal(y.sort(dim=2).values, x)


def test_channel_dropout_never_empties_a_window_and_scaling_is_per_channel():
    y = A.channel_dropout(torch.ones(200, 2, 8), 0.9, _gen(0))
    assert (y.abs().sum(dim=(1, 2)) > 0).all()
    s = A.scaling(torch.ones(5, 3, 8), 0.5, _gen(0))
    assert (s == s[..., :1]).all()


def test_domain_mix_formula():
    x, other = torch.zeros(3, 1, 8), torch.arange(8.0).repeat(2, 1, 1)
    mixed = A.domain_mix(x, other, ratio=0.25, kernel=1)
    torch.testing.assert_close(mixed, 0.25 * other[[0, 1, 0]])


@pytest.mark.parametrize("bad", [dict(jitter=-0.1), dict(permutation=2.5), dict(channel_dropout=1.0),
                                 dict(time_warp="a")])
def test_sensor_augment_check_names_the_strength(bad):
    name = next(iter(bad))
    with pytest.raises(ValueError, match=name):
        SensorAugment(**bad).check()
