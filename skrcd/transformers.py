"""scikit-learn transformers for time-series panels, for the steps before the estimator in a Pipeline."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .data import channel_stats, check_n_features, check_same_channels, is_flat_table, to_panel

__all__ = ["ChannelStandardScaler"]


class ChannelStandardScaler(TransformerMixin, BaseEstimator):
    """Standardise each channel of a panel with one mean and scale over all rows and time steps.

    Fit it on source and target rows stacked (the stacked form of
    :class:`~skrcd.RCDKDClassifier`: target rows labelled ``mask_label``) and both
    domains share one set of statistics; labels and ``sample_domain`` are ignored.
    In a :class:`~sklearn.pipeline.Pipeline` before the estimator, the target rows
    then go through the same transform as the source rows, which an ``X_tgt`` fit
    parameter never does.

    The output has the input's layout: a 2D array ``(n, length)`` (univariate
    series) stays 2D, anything else becomes a float32 array
    ``(n, channels, length)``. Any panel :func:`skrcd.data.to_panel` reads is
    accepted.

    Parameters
    ----------
    with_mean : bool, default=True
        Subtract each channel's mean.
    with_std : bool, default=True
        Divide by each channel's standard deviation (floored at ``1e-6``).

    Attributes
    ----------
    mean_ : numpy.ndarray of shape (n_channels,), float32
    scale_ : numpy.ndarray of shape (n_channels,), float32
    n_channels_ : int
    n_features_in_ : int
        ``X.shape[1]`` of the fit input, as scikit-learn counts features (the
        series length for a 2D array, the number of channels otherwise).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.stack([np.zeros((4, 8)), np.full((4, 8), 10.0)], axis=1)  # 2 channels
    >>> Xt = ChannelStandardScaler().fit_transform(X)
    >>> Xt.shape, float(Xt[:, 1].mean())
    ((4, 2, 8), 0.0)
    """

    def __init__(self, with_mean=True, with_std=True):
        self.with_mean = with_mean
        self.with_std = with_std

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    # With scikit-learn's metadata routing on (skada turns it on), a pipeline passes sample_domain only to the
    # steps that request it: this one ignores it, so it declines it and the pipeline's fit(..., sample_domain=)
    # reaches the classifier instead of raising UnsetMetadataPassedError here.
    __metadata_request__fit = {"sample_domain": False}

    def fit(self, X, y=None, sample_domain=None):
        """Compute each channel's mean and scale over all rows and time steps of ``X``.

        Parameters
        ----------
        X : panel of shape (n_samples, channels, length) or (n_samples, length)
        y : ignored
        sample_domain : ignored
            Every row counts, source and target alike.

        Returns
        -------
        self
        """
        panel = to_panel(X, "X")
        mean, std = channel_stats(panel)
        self.mean_ = mean if self.with_mean else np.zeros_like(mean)
        self.scale_ = std if self.with_std else np.ones_like(std)
        self.n_channels_ = panel.shape[1]
        self._fit_flat = is_flat_table(X, panel)
        self.n_features_in_ = panel.shape[2] if self._fit_flat else panel.shape[1]
        return self

    def transform(self, X):
        """Standardise ``X`` with the fitted statistics.

        Parameters
        ----------
        X : panel

        Returns
        -------
        numpy.ndarray, float32
            ``(n, length)`` for a 2D input, ``(n, channels, length)`` otherwise.
        """
        check_is_fitted(self, "mean_")
        panel = to_panel(X, "X")
        check_same_channels(panel, self.n_channels_, "X", "the data seen in fit")
        check_n_features(X, panel, self.n_features_in_, self._fit_flat, type(self).__name__)
        out = (panel - self.mean_[None, :, None]) / self.scale_[None, :, None]
        return out[:, 0, :] if is_flat_table(X, panel) else out
