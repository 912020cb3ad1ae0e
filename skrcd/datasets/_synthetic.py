"""Synthetic multichannel panels with a controllable domain shift."""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["make_domain_shift"]


def _class_counts(n, weights):
    """``n`` split in proportion to ``weights`` (largest remainders; a zero weight gives no sample)."""
    w = np.asarray(weights, dtype=float) / np.sum(weights)
    counts = np.floor(w * n).astype(int)
    rest = n - counts.sum()
    counts[np.argsort(-(w * n - counts), kind="stable")[:rest]] += 1
    return counts


def _panel(n, n_classes, n_channels, length, freqs, rng, noise, weights=None):
    if weights is None:
        y = np.arange(n) % n_classes
    else:
        y = np.repeat(np.arange(n_classes), _class_counts(n, weights))
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
    source_class_weights=None,
    target_class_weights=None,
    random_state=None,
):
    """Source and target panels of one classification task under a domain shift.

    Each class has its own frequency per channel; a window is a noisy sinusoid per
    channel with random phase and amplitude. The target domain applies, in this
    order, a time warp (resampling the time axis by ``1 + time_warp``), a sensor
    rotation (mixing channel pairs by ``rotation`` radians), a per-channel gain drawn
    around ``scale``, a per-channel ``offset`` and extra noise.

    Classes are balanced unless ``source_class_weights``/``target_class_weights``
    give their proportions; a zero weight leaves the class out of that domain (a
    class missing from the target, as activities missing for a subject).

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
    source_class_weights, target_class_weights : array-like of shape (n_classes,), optional
        Relative class proportions of each domain (non-negative, not all zero);
        balanced when None. The source must keep at least two classes.
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

    An imbalanced source and a target without class 2:

    >>> _, y_src, _, y_tgt = make_domain_shift(n_source=60, n_target=40, source_class_weights=[4, 1, 1],
    ...                                        target_class_weights=[1, 1, 0], random_state=0)
    >>> np.bincount(y_src).tolist(), np.bincount(y_tgt, minlength=3).tolist()
    ([40, 10, 10], [20, 20, 0])
    """
    for name, v in (("n_source", n_source), ("n_target", n_target), ("n_classes", n_classes),
                    ("n_channels", n_channels), ("length", length)):
        if int(v) != v or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if n_classes < 2:
        raise ValueError(f"n_classes must be >= 2, got {n_classes}")
    for name, w in (("source_class_weights", source_class_weights), ("target_class_weights", target_class_weights)):
        if w is None:
            continue
        w = np.asarray(w, dtype=float)
        if w.shape != (n_classes,) or not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"{name} must hold {n_classes} finite, non-negative numbers, not all zero; got {w!r}")
    if source_class_weights is not None and np.count_nonzero(source_class_weights) < 2:
        raise ValueError("source_class_weights must keep at least two classes in the source")
    rng = check_random_state(random_state)
    freqs = rng.choice(np.arange(1, 4 * n_classes + 2), size=(n_classes, n_channels), replace=True).astype(float)
    freqs[:, 0] = 1.5 + 2.0 * np.arange(n_classes)  # channel 0 alone separates the classes
    X_src, y_src = _panel(n_source, n_classes, n_channels, length, freqs, rng, noise, source_class_weights)
    X_tgt, y_tgt = _panel(n_target, n_classes, n_channels, length, freqs * (1 + time_warp), rng,
                          noise if target_noise is None else target_noise, target_class_weights)
    if rotation:
        c, s = np.cos(rotation), np.sin(rotation)
        for i in range(0, n_channels - 1, 2):
            a, b = X_tgt[:, i].copy(), X_tgt[:, i + 1].copy()
            X_tgt[:, i], X_tgt[:, i + 1] = c * a - s * b, s * a + c * b
    gain = scale * rng.uniform(0.8, 1.2, size=(1, n_channels, 1))
    shift = offset * rng.choice([-1.0, 1.0], size=(1, n_channels, 1))
    X_tgt = X_tgt * gain + shift
    return X_src.astype(np.float32), y_src, X_tgt.astype(np.float32), y_tgt
