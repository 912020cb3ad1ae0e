"""Baselines and ablations that reuse the estimator's networks, stages and loop.

Each baseline is a subclass of :class:`~skrcd.RCDKDClassifier` that overrides a
stage hook (``fit_teacher``/``fit_student``) or the distillation stage's settings
(``distillation_overrides``); the training loop is never copied. The selection
ablations (``selection="all"``, ``"random"``) and the reward ablations
(``alpha1=0`` or ``alpha2=0``) are plain parameters of the estimator.
"""

from __future__ import annotations

from .classifier import RCDKDClassifier
from .nn.networks import DomainDiscriminator, feature_size
from .selection.strategies import SelectAll
from .training.stages import CoralDistillationStage, DANNStage, SourceDistillationStage, SourceOnlyStage

__all__ = ["SourceOnlyClassifier", "DANNStudentClassifier", "MobileDAClassifier", "AADClassifier"]


class _NoTeacher:
    """Mixin: no teacher stage (the student is trained on its own)."""

    def fit_teacher(self, ctx):
        self.teacher_ = None
        if not ctx.warm_start:  # a DANN student's discriminator belongs to its student stage: keep it
            self.discriminator_ = None


class SourceOnlyClassifier(_NoTeacher, RCDKDClassifier):
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

    def fit_student(self, ctx):
        student = self.fitted_network(ctx, "student_")
        self.student_ = student if student is not None else \
            self.initialize_student(ctx.n_channels, ctx.n_classes).to(ctx.device)
        self.adapter_ = None
        stage = SourceOnlyStage(self.student_, ctx.data, self.student_lr, self.betas, self.weight_decay,
                                name="source_only")
        ctx.run(stage, self.student_epochs)


class DANNStudentClassifier(_NoTeacher, RCDKDClassifier):
    """The compact student trained with DANN directly (no teacher, no distillation).

    Uses the teacher stage's DANN settings (``teacher_lr``, ``teacher_domain_weight``)
    for ``student_epochs`` epochs, with a new discriminator on the student's features.

    Examples
    --------
    >>> from skrcd.datasets import make_domain_shift
    >>> X_src, y_src, X_tgt, _ = make_domain_shift(n_source=40, n_target=40, random_state=0)
    >>> clf = DANNStudentClassifier(student_epochs=2, random_state=0).fit(X_src, y_src, X_tgt)
    >>> [row["stage"] for row in clf.history_]
    ['dann_student', 'dann_student']
    """

    def fit_student(self, ctx):
        student = self.fitted_network(ctx, "student_")
        self.student_ = student if student is not None else \
            self.initialize_student(ctx.n_channels, ctx.n_classes).to(ctx.device)
        self.adapter_ = None
        disc = self.fitted_network(ctx, "discriminator_")
        if disc is None:
            disc = DomainDiscriminator(feature_size(self.student_, ctx.n_channels, self.n_timepoints_)).to(ctx.device)
        self.discriminator_ = disc
        stage = DANNStage(self.student_, disc, ctx.data, self.teacher_lr, self.betas, self.weight_decay,
                          self.teacher_domain_weight, name="dann_student")
        ctx.run(stage, self.student_epochs)


class MobileDAClassifier(RCDKDClassifier):
    """MobileDA-style baseline: source cross-entropy + KD on all target samples + CORAL.

    After Yang et al., "MobileDA: Toward Edge-Domain Adaptation" (IEEE Internet of
    Things Journal, 2020), from the paper's description: the student learns the
    source labels, mimics the teacher's softened predictions on the target, and
    aligns its source and target feature statistics (here with CORAL). The teacher
    is the same teacher as RCD-KD's (``teacher_method``), so only the student side differs. One
    step per mini-batch (no episodes, no selection, no adversarial term).

    Examples
    --------
    >>> from skrcd.datasets import make_domain_shift
    >>> X_src, y_src, X_tgt, _ = make_domain_shift(n_source=40, n_target=40, random_state=0)
    >>> clf = MobileDAClassifier(teacher_epochs=1, student_epochs=1, random_state=0).fit(X_src, y_src, X_tgt)
    >>> sorted(k for k in clf.history_[-1] if k.startswith("loss"))
    ['loss', 'loss_ce', 'loss_coral', 'loss_kd']
    """

    distillation_stage = CoralDistillationStage

    def initialize_selection(self):
        return SelectAll()

    def distillation_overrides(self):
        return {"n_episodes": 1, "dc_weight": 0.0, "source_ce_weight": 1.0, "name": "mobileda"}


class AADClassifier(RCDKDClassifier):
    """AAD-style baseline: KD on the labelled source + adversarial target adaptation.

    After Ryu et al., "Knowledge Distillation for BERT Unsupervised Domain
    Adaptation" (Knowledge and Information Systems, 2022), from the paper's
    description (Adversarial Adaptation with Distillation): the student distils the
    teacher on source samples, while its adapted target features learn to fool a
    discriminator that tells them from the teacher's source features (weight 1,
    whatever ``dc_weight`` says). Uses the same teacher and discriminator as
    RCD-KD; one step per mini-batch.

    Examples
    --------
    >>> from skrcd.datasets import make_domain_shift
    >>> X_src, y_src, X_tgt, _ = make_domain_shift(n_source=40, n_target=40, random_state=0)
    >>> clf = AADClassifier(teacher_epochs=1, student_epochs=1, random_state=0).fit(X_src, y_src, X_tgt)
    >>> clf.history_[-1]["stage"]
    'aad'
    """

    distillation_stage = SourceDistillationStage

    def initialize_selection(self):
        return SelectAll()

    def distillation_overrides(self):
        # AAD's own adversarial adaptation, against the teacher's source features
        return {"n_episodes": 1, "dc_weight": 1.0, "dc_features": "teacher", "source_ce_weight": 0.0, "name": "aad"}
