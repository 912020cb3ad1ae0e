"""Baselines that reuse the estimator's networks, stages and loop.

Each baseline is a subclass of :class:`~skrcd.RCDKDClassifier` that overrides a
stage hook (``fit_teacher``/``fit_student``); the training loop is never copied.
"""

from __future__ import annotations

from .classifier import RCDKDClassifier
from .training import SourceOnlyStage

__all__ = ["SourceOnlyClassifier"]


class SourceOnlyClassifier(RCDKDClassifier):
    """The student network trained on the labelled source only (no teacher, no adaptation).

    Accepts the same parameters as :class:`~skrcd.RCDKDClassifier`; only
    ``student_channels``, ``kernel_size``, ``stride``, ``dropout``, ``standardize``,
    ``student_epochs``, ``batch_size``, ``student_lr``, ``betas``, ``weight_decay``,
    ``device``, ``n_threads`` and ``random_state`` matter. The target passed to
    ``fit`` is only used for the input standardisation statistics.

    Examples
    --------
    >>> from skrcd.datasets import make_domain_shift
    >>> X_src, y_src, X_tgt, _ = make_domain_shift(n_source=40, n_target=40, random_state=0)
    >>> clf = SourceOnlyClassifier(student_epochs=2, random_state=0).fit(X_src, y_src, X_tgt)
    >>> clf.teacher_ is None
    True
    """

    def fit_teacher(self, data, n_channels, n_classes, device, generator, callbacks):
        self.teacher_ = None
        self.discriminator_ = None

    def fit_student(self, data, n_channels, n_classes, device, generator, callbacks):
        self.student_ = self.initialize_student(n_channels, n_classes).to(device)
        self.adapter_ = None
        stage = SourceOnlyStage(self.student_, data, self.student_lr, self.betas, self.weight_decay,
                                name="source_only")
        self._run(stage, data, self.student_epochs, generator, callbacks)
