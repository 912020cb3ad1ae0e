"""Synthetic multichannel panels with a controllable domain shift."""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["make_domain_shift"]


def _panel(n, n_classes, n_channels, length, freqs, rng, noise):
    y = np.arange(n) % n_classes
    rng.shuffle(y)
    t = np.arange(length) / length
    phase = rng.uniform(0, 2 * np.pi, size=(n, n_channels, 1))
    amp = rng.uniform(0.8, 1.2, size=(n, n_channels, 1))
    f = freqs[y][:, :, None]  # (n, channels, 1): class-specific frequency per channel
    X = amp * np.sin(2 * np.pi * f * t[None, None, :] + phase)
    X += noise * rng.normal(size=X.shape)
    return X, y


def make_domain_shift(
    n_source=200,
    n_target=200,
    n_classes=3,
    n_channels=3,
    length=64,
    scale=1.5,
    offset=1.0,
    noise=0.3,
    target_noise=None,
    time_warp=0.0,
    rotation=0.0,
    random_state=None,
):
    """Source and target panels of one classification task under a domain shift.

    Each class has its own frequency per channel; a window is a noisy sinusoid per
    channel with random phase and amplitude. The target domain applies, in this
    order, a time warp (resampling the time axis by ``1 + time_warp``), a sensor
    rotation (mixing channel pairs by ``rotation`` radians), a per-channel gain drawn
    around ``scale``, a per-channel ``offset`` and extra noise.

    Parameters
    ----------
    n_source, n_target : int, default=200
        Samples per domain.
    n_classes : int, default=3
    n_channels : int, default=3
    length : int, default=64
    scale : float, default=1.5
        Mean per-channel gain of the target.
    offset : float, default=1.0
        Magnitude of the per-channel offset of the target.
    noise : float, default=0.3
        Noise standard deviation of the source.
    target_noise : float or None, default=None
        Noise of the target (``noise`` when None).
    time_warp : float, default=0.0
        Relative speed change of the target (0.2 = 20 % faster).
    rotation : float, default=0.0
        Rotation angle (radians) mixing consecutive channel pairs of the target.
    random_state : int, RandomState or None

    Returns
    -------
    X_src : numpy.ndarray of shape (n_source, n_channels, length), float32
    y_src : numpy.ndarray of shape (n_source,)
    X_tgt : numpy.ndarray of shape (n_target, n_channels, length), float32
    y_tgt : numpy.ndarray of shape (n_target,)
        Target labels, for evaluation only.

    Examples
    --------
    >>> X_src, y_src, X_tgt, y_tgt = make_domain_shift(n_source=10, n_target=8, random_state=0)
    >>> X_src.shape, X_tgt.shape
    ((10, 3, 64), (8, 3, 64))
    """
    for name, v in (("n_source", n_source), ("n_target", n_target), ("n_classes", n_classes),
                    ("n_channels", n_channels), ("length", length)):
        if int(v) != v or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if n_classes < 2:
        raise ValueError(f"n_classes must be >= 2, got {n_classes}")
    rng = check_random_state(random_state)
    freqs = rng.choice(np.arange(1, 4 * n_classes + 2), size=(n_classes, n_channels), replace=True).astype(float)
    freqs[:, 0] = 1.5 + 2.0 * np.arange(n_classes)  # channel 0 alone separates the classes
    X_src, y_src = _panel(n_source, n_classes, n_channels, length, freqs, rng, noise)
    X_tgt, y_tgt = _panel(n_target, n_classes, n_channels, length, freqs * (1 + time_warp), rng,
                          noise if target_noise is None else target_noise)
    if rotation:
        c, s = np.cos(rotation), np.sin(rotation)
        for i in range(0, n_channels - 1, 2):
            a, b = X_tgt[:, i].copy(), X_tgt[:, i + 1].copy()
            X_tgt[:, i], X_tgt[:, i + 1] = c * a - s * b, s * a + c * b
    gain = scale * rng.uniform(0.8, 1.2, size=(1, n_channels, 1))
    shift = offset * rng.choice([-1.0, 1.0], size=(1, n_channels, 1))
    X_tgt = X_tgt * gain + shift
    return X_src.astype(np.float32), y_src, X_tgt.astype(np.float32), y_tgt
