"""Augmentations of sensor windows, batched on the windows' device.

The family is the one used for wearable and machine sensors (Um et al., 2017;
Eldele et al., TS-TCC, 2021): additive jitter, per-channel scaling, smooth
magnitude warping, smooth time warping, segment permutation and channel dropout,
plus a cross-domain temporal mix (CoTMix, Eldele et al., 2023) that blends a
little of a smoothed source window into a target window. Every function takes a
``(n, channels, length)`` float tensor of standardised windows and returns a new
tensor of the same shape, dtype and device; randomness comes from the
``generator`` passed (a ``torch.Generator`` on the windows' device), so a fit
with a seed repeats. None of them reads a label.

:class:`SensorAugment` chains them with the strengths as parameters.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

__all__ = ["jitter", "scaling", "magnitude_warp", "time_warp", "permute_segments", "channel_dropout",
           "domain_mix", "SensorAugment", "AUGMENT_PRESETS"]


def _normal(shape, x, generator):
    return torch.randn(shape, generator=generator, device=x.device, dtype=x.dtype)


def _uniform(shape, x, generator):
    return torch.rand(shape, generator=generator, device=x.device, dtype=x.dtype)


def jitter(x, sigma=0.05, generator=None):
    """Add Gaussian noise of standard deviation ``sigma`` to every value.

    Parameters
    ----------
    x : torch.Tensor of shape (n, channels, length)
    sigma : float, default=0.05
    generator : torch.Generator, optional

    Returns
    -------
    torch.Tensor

    Examples
    --------
    >>> import torch
    >>> x = torch.zeros(2, 3, 100)
    >>> round(float(jitter(x, 0.1, torch.Generator().manual_seed(0)).std()), 1)
    0.1
    """
    return x + sigma * _normal(x.shape, x, generator)


def scaling(x, sigma=0.1, generator=None):
    """Multiply each channel of each window by ``1 + sigma * N(0, 1)`` (a sensor's gain).

    Examples
    --------
    >>> import torch
    >>> x = torch.ones(2, 3, 8)
    >>> y = scaling(x, 0.1, torch.Generator().manual_seed(0))
    >>> bool((y == y[:, :, :1]).all())  # one factor per channel and window
    True
    """
    return x * (1.0 + sigma * _normal((x.shape[0], x.shape[1], 1), x, generator))


def _smooth_curves(n, knots, length, x, sigma, generator, channels=1):
    """``(n, channels, length)`` curves around 1: ``knots + 2`` normal values linearly interpolated."""
    points = 1.0 + sigma * _normal((n, channels, knots + 2), x, generator)
    return F.interpolate(points, size=length, mode="linear", align_corners=True)


def magnitude_warp(x, sigma=0.2, knots=4, generator=None):
    """Multiply each channel by a smooth random curve around 1 (``knots`` inner knots, standard deviation ``sigma``).

    Examples
    --------
    >>> import torch
    >>> y = magnitude_warp(torch.ones(4, 2, 50), 0.2, generator=torch.Generator().manual_seed(0))
    >>> y.shape, bool((y - 1).abs().max() < 1.5)
    (torch.Size([4, 2, 50]), True)
    """
    return x * _smooth_curves(x.shape[0], knots, x.shape[2], x, sigma, generator, x.shape[1])


def time_warp(x, sigma=0.2, knots=4, generator=None):
    """Resample each window along a smooth random time distortion (the same for all its channels).

    The local speed is a smooth curve around 1 (standard deviation ``sigma``,
    floored at 0.1); its running sum, rescaled to the window's span, says where
    each output step reads the input (linear interpolation). The first and last
    steps stay in place.

    Examples
    --------
    >>> import torch
    >>> x = torch.arange(10.0).repeat(3, 2, 1)
    >>> y = time_warp(x, 0.3, generator=torch.Generator().manual_seed(0))
    >>> float(y[0, 0, 0]), float(y[0, 0, -1]), bool((y.diff(dim=2) >= 0).all())  # monotone, ends fixed
    (0.0, 9.0, True)
    """
    n, _, length = x.shape
    if length < 2:
        return x.clone()
    speed = _smooth_curves(n, knots, length - 1, x, sigma, generator).clamp_min(0.1)[:, 0]
    pos = torch.cat([torch.zeros(n, 1, dtype=x.dtype, device=x.device), speed.cumsum(1)], dim=1)
    pos = pos / pos[:, -1:] * (length - 1)
    left = pos.floor().clamp(0, length - 2).long()
    frac = (pos - left).unsqueeze(1)
    idx = left.unsqueeze(1).expand(-1, x.shape[1], -1)
    return torch.lerp(x.gather(2, idx), x.gather(2, idx + 1), frac)


def permute_segments(x, n_segments=4, generator=None):
    """Cut each window into ``n_segments`` equal segments and shuffle them (a tail shorter than one stays last).

    Examples
    --------
    >>> import torch
    >>> x = torch.arange(8.0).view(1, 1, 8)
    >>> y = permute_segments(x, 4, torch.Generator().manual_seed(1))
    >>> sorted(y.flatten().tolist()) == list(range(8)), y.view(4, 2)[:, 1].sub(y.view(4, 2)[:, 0]).tolist()
    (True, [1.0, 1.0, 1.0, 1.0])
    """
    n, _, length = x.shape
    seg = length // max(int(n_segments), 1)
    if n_segments < 2 or seg < 1:
        return x.clone()
    k = length // seg if length // seg <= n_segments else n_segments
    order = torch.rand((n, k), generator=generator, device=x.device).argsort(dim=1)
    t = torch.arange(k * seg, device=x.device)
    src = order[:, t // seg] * seg + t % seg
    src = torch.cat([src, torch.arange(k * seg, length, device=x.device).expand(n, -1)], dim=1)
    return x.gather(2, src.unsqueeze(1).expand(-1, x.shape[1], -1))


def channel_dropout(x, p=0.1, generator=None):
    """Zero each channel of each window with probability ``p`` (a window keeps at least one channel).

    Examples
    --------
    >>> import torch
    >>> y = channel_dropout(torch.ones(500, 3, 4), 0.5, torch.Generator().manual_seed(0))
    >>> bool((y.sum(dim=(1, 2)) > 0).all())
    True
    """
    keep = _uniform((x.shape[0], x.shape[1], 1), x, generator) >= p
    keep = keep | ~keep.any(dim=1, keepdim=True)
    return x * keep.to(x.dtype)


def domain_mix(x, other, ratio=0.1, kernel=5):
    """CoTMix's target-dominant mix: ``(1 - ratio) * x + ratio * moving_average(other)``.

    ``other`` (a batch from the other domain) is smoothed along time with a
    centred moving average of ``kernel`` steps and paired with ``x`` row by row
    (cycled when it has fewer rows), so the mix keeps the window's class and takes
    a little of the other domain's temporal context.

    Parameters
    ----------
    x, other : torch.Tensor of shape (n, channels, length), (m, channels, length)
    ratio : float, default=0.1
    kernel : int, default=5

    Returns
    -------
    torch.Tensor

    References
    ----------
    Eldele, E., Ragab, M., Chen, Z., Wu, M., Kwoh, C.-K., Li, X. "Contrastive
    Domain Adaptation for Time-Series via Temporal Mixup", IEEE TAI, 2023.

    Examples
    --------
    >>> import torch
    >>> x, other = torch.zeros(3, 2, 16), torch.ones(2, 2, 16)
    >>> round(float(domain_mix(x, other, 0.1).mean()), 6)
    0.1
    """
    rows = torch.arange(x.shape[0], device=x.device) % other.shape[0]
    o = other[rows]
    if kernel > 1:
        pad = (kernel // 2, kernel - 1 - kernel // 2)
        o = F.avg_pool1d(F.pad(o, pad, mode="replicate"), kernel, stride=1)
    return (1.0 - ratio) * x + ratio * o


class SensorAugment:
    """A chain of sensor augmentations with their strengths; 0 switches one off.

    Applied in the order of the parameters: time warp, segment permutation,
    magnitude warp, scaling, channel dropout, jitter. Strengths are in units of
    the standardised input (the estimator standardises each channel by default).

    Parameters
    ----------
    jitter : float, default=0.05
        Standard deviation of the additive noise.
    scaling : float, default=0.1
        Standard deviation of each channel's gain around 1.
    magnitude_warp : float, default=0.0
        Standard deviation of the smooth gain curve around 1.
    time_warp : float, default=0.0
        Standard deviation of the smooth local speed around 1.
    permutation : int, default=0
        Segments cut and shuffled (0 or 1: none).
    channel_dropout : float, default=0.0
        Probability of zeroing each channel.

    Examples
    --------
    >>> import torch
    >>> aug = SensorAugment(jitter=0.05, time_warp=0.2)
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(4, 3, 32)
    >>> aug(x, g).shape, aug.get_params()["time_warp"]
    (torch.Size([4, 3, 32]), 0.2)
    >>> bool(torch.equal(aug(x, torch.Generator().manual_seed(5)), aug(x, torch.Generator().manual_seed(5))))
    True
    """

    def __init__(self, jitter=0.05, scaling=0.1, magnitude_warp=0.0, time_warp=0.0, permutation=0,
                 channel_dropout=0.0):
        self.jitter = jitter
        self.scaling = scaling
        self.magnitude_warp = magnitude_warp
        self.time_warp = time_warp
        self.permutation = permutation
        self.channel_dropout = channel_dropout

    def get_params(self, deep=True):
        """The strengths by name (scikit-learn's protocol, so that ``augment__jitter`` can be searched)."""
        return {k: getattr(self, k) for k in ("jitter", "scaling", "magnitude_warp", "time_warp", "permutation",
                                               "channel_dropout")}

    def set_params(self, **params):
        """Set strengths by name; returns self."""
        valid = self.get_params()
        for k, v in params.items():
            if k not in valid:
                raise ValueError(f"SensorAugment has no parameter {k!r}; valid: {sorted(valid)}")
            setattr(self, k, v)
        return self

    def check(self):
        """Raise ``ValueError`` naming the first strength that is out of range."""
        for name in ("jitter", "scaling", "magnitude_warp", "time_warp"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 10:
                raise ValueError(f"SensorAugment {name} must be a number in [0, 10), got {v!r}")
        p = self.permutation
        if isinstance(p, bool) or not isinstance(p, int) or not 0 <= p <= 64:
            raise ValueError(f"SensorAugment permutation must be an int in [0, 64], got {p!r}")
        d = self.channel_dropout
        if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0 <= d < 1:
            raise ValueError(f"SensorAugment channel_dropout must be a number in [0, 1), got {d!r}")
        return self

    def __call__(self, x, generator=None):
        """An augmented copy of the windows ``x`` (``(n, channels, length)``)."""
        if self.time_warp:
            x = time_warp(x, self.time_warp, generator=generator)
        if self.permutation > 1:
            x = permute_segments(x, self.permutation, generator)
        if self.magnitude_warp:
            x = magnitude_warp(x, self.magnitude_warp, generator=generator)
        if self.scaling:
            x = scaling(x, self.scaling, generator)
        if self.channel_dropout:
            x = channel_dropout(x, self.channel_dropout, generator)
        if self.jitter:
            x = jitter(x, self.jitter, generator)
        return x

    def __repr__(self):
        changed = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"SensorAugment({changed})"

    def __eq__(self, other):
        return type(other) is type(self) and other.get_params() == self.get_params()

    __hash__ = None


#: Named strengths: ``"weak"`` (jitter and gain only, the view a teacher's target holds on) and ``"strong"``
#: (smooth warps of time and magnitude as well).
AUGMENT_PRESETS = {
    "weak": dict(jitter=0.05, scaling=0.1),
    "strong": dict(jitter=0.05, scaling=0.1, magnitude_warp=0.2, time_warp=0.2),
}
