"""Every parameter of :class:`~skrcd.RCDKDClassifier`, described once.

One row of :data:`PARAMETERS` per ``__init__`` parameter holds what the package asks about it:

- ``constraints``: the values it accepts, checked by ``fit`` before any work (:mod:`skrcd._param_validation`);
- ``stage``: what a change of it retrains. :data:`TEACHER`: the teacher stage and everything after it;
  :data:`STUDENT`: the student stage only, so runs that differ in these alone may share a teacher (the benchmark's
  ``--variant``); :data:`RUN`: how a fit runs and reports, not what it computes, so a checkpoint written with
  another value still resumes;
- ``since`` and ``before``: the model-file parameter schema (:data:`PARAMS_SCHEMA`) that first saved it, and the
  value with which files of older schemas were fitted: :func:`upgrade_params` fills it in, one explicit step per
  schema, instead of the current default;
- ``kind`` and ``doc``: its type and description; the class docstring's Parameters section is rendered from them
  and the ``__init__`` defaults (:func:`document_parameters`).

A new parameter is one row here and one argument of ``__init__``; ``tests/test_params.py`` fails until the two
agree. A parameter added after the current schema raises :data:`PARAMS_SCHEMA` by one and gets ``since`` = the new
number and a ``before`` value.
"""

from __future__ import annotations

import inspect
import os
import textwrap
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import torch
from skorch.dataset import ValidSplit

from ._param_validation import Callbacks, Device, InstanceOf, Interval, KeyOf, Options, SequenceOf
from .nn.augment import AUGMENT_PRESETS
from .selection.strategies import SelectionStrategy
from .training.adaptation import TEACHER_OBJECTIVES

__all__ = ["TEACHER", "STUDENT", "RUN", "PARAMS_SCHEMA", "Parameter", "PARAMETERS", "TEACHER_NETWORKS",
           "parameter_constraints", "parameters_of_stage", "parameters_section", "teacher_names", "upgrade_params",
           "document_parameters"]

#: Stages of a parameter (see the module docstring).
TEACHER, STUDENT, RUN = "teacher", "student", "run"

#: The parameter schema of the model files this version writes (files without one are schema 1).
PARAMS_SCHEMA = 4

#: The teacher networks skrcd builds by name (``teacher``): the 1D-CNN, the time-frequency CNN, the TCN.
TEACHER_NETWORKS = ("cnn", "tfcnn", "tcn")

# Upper bounds of the size parameters, checked before any work: far above any setting the method uses (the paper's
# widest network has 128 channels, its selector 1024 units), low enough that a typo (10**6, 2**31 - 1) is named
# here instead of crashing, hanging or exhausting memory inside torch.
#: Channel width of a network block, kernel of the first convolution, units of the selector.
MAX_WIDTH = 4096
#: Stride of the first convolution (torch's CPU convolution crashes the process from a stride of 2**16).
MAX_STRIDE = 4096
#: Blocks of a teacher (a TCN doubles its dilation per block); teachers of an ensemble.
MAX_BLOCKS, MAX_TEACHERS = 32, 32
#: Rows of a training mini-batch or a replay batch; windows of one ``predict`` forward pass.
MAX_BATCH, MAX_PREDICT_BATCH = 2**16, 2**22
#: Epochs of a stage; episodes per mini-batch and MC-dropout passes; torch threads.
MAX_EPOCHS, MAX_PASSES, MAX_THREADS = 10**6, 1000, 1024
#: Transitions of the replay memory.
MAX_MEMORY = 2**31 - 1

_POSITIVE_INT, _COUNT = Interval(Integral, 1, None), Interval(Integral, 0, None)
_POSITIVE, _NON_NEGATIVE = Interval(Real, 0, None, closed="neither"), Interval(Real, 0, None)
_MODULE = InstanceOf(torch.nn.Module, "a torch.nn.Module")
_NO_VALUE = object()


@dataclass(frozen=True)
class Parameter:
    """One ``__init__`` parameter of :class:`~skrcd.RCDKDClassifier` (see the module docstring).

    ``doc=None`` documents it together with the row above (``teacher_lr, student_lr : float``).
    """

    name: str
    stage: str
    constraints: list
    since: int = 1
    before: object = _NO_VALUE
    kind: str | None = None
    doc: str | None = None

    def __post_init__(self):
        if self.stage not in (TEACHER, STUDENT, RUN):
            raise ValueError(f"{self.name}: stage must be TEACHER, STUDENT or RUN, got {self.stage!r}")
        if not 1 <= self.since <= PARAMS_SCHEMA:
            raise ValueError(f"{self.name}: since={self.since} is not a schema in 1..{PARAMS_SCHEMA}")
        if (self.since > 1) != (self.before is not _NO_VALUE):
            raise ValueError(f"{self.name}: a parameter added after schema 1, and only such a parameter, needs "
                             "the value older files were fitted with (before=)")
        if (self.kind is None) != (self.doc is None):
            raise ValueError(f"{self.name}: give both kind and doc, or neither (documented with the row above)")


PARAMETERS = (
    Parameter("teacher", TEACHER, [Options(*TEACHER_NETWORKS),
                                   SequenceOf(Options(*TEACHER_NETWORKS), min_length=1),
                                   _MODULE],
              since=1,
              kind='{"cnn", "tfcnn", "tcn"}, tuple of these or torch.nn.Module',
              doc="""
        Teacher network: the 1D-CNN, the time-frequency CNN (the CNN beside a
        CNN on each channel's log-magnitude spectrum,
        :class:`skrcd.nn.TimeFrequencyCNN`) or the TCN. A tuple of names trains
        one teacher of each kind and averages them (a heterogeneous ensemble;
        ``n_teachers`` then stays ``"auto"``). A module must return ``(logits,
        features)``; pass ``teacher_epochs=0`` to use it as already trained.
        """),
    Parameter("discriminator", TEACHER, [None, _MODULE], since=1,
              kind='torch.nn.Module or None',
              doc="""
        Domain discriminator on teacher features (2 outputs); a new
        ``Linear(d, 64)-ReLU-Linear(64, 64)-ReLU-Linear(64, 2)`` when None.
        """),
    Parameter("teacher_channels", TEACHER,
              [None, SequenceOf(Interval(Integral, 1, MAX_WIDTH), min_length=1, max_length=MAX_BLOCKS)],
              since=1,
              kind='tuple of int or None',
              doc="""
        Widths of the teacher's blocks; None means (64, 128, 128) for the CNN
        teacher and (75, 150) for the TCN.
        """),
    Parameter("student_channels", STUDENT, [SequenceOf(Interval(Integral, 1, MAX_WIDTH), length=3)], since=1,
              kind='tuple of int',
              doc="""
        Widths of the student's blocks.
        """),
    Parameter("kernel_size", TEACHER, [Interval(Integral, 1, MAX_WIDTH)], since=1,
              kind='int',
              doc="""
        Kernel of the first convolution of the CNNs.
        """),
    Parameter("stride", TEACHER, [Interval(Integral, 1, MAX_STRIDE)], since=1,
              kind='int',
              doc="""
        Stride of the first convolution of the CNNs.
        """),
    Parameter("dropout", TEACHER, [Interval(Real, 0, 1, closed="left")], since=1,
              kind='float',
              doc="""
        Dropout after each CNN block (the teacher's also drives MC-dropout).
        """),
    Parameter("standardize", TEACHER, [Options("domain", "balanced", "joint", True, False)], since=1,
              kind='{"domain", "balanced", "joint"} or bool',
              doc="""
        ``"domain"``: standardise each channel of each domain with that domain's
        mean and standard deviation (removes per-domain gain and offset), and use
        the target's statistics in ``predict``. ``"balanced"``: the same, with each
        domain's statistics taken as if its classes were equally frequent (the
        source's from its labels, the target's from label-free weights,
        :func:`skrcd.data.balanced_domain_stats`), so that a domain's class mix
        does not move them. ``True``/``"joint"``: one set of statistics from the
        source and target training data together. ``False``: raw values.
        Statistics are stored (``channel_mean_``, ``channel_std_``) and ``predict``
        uses them whatever ``standardize`` says after the fit (a change by
        ``set_params`` takes effect at the next fit). ``"domain"``
        gave a markedly better teacher on UCI-HAR than ``"joint"`` (see
        ``docs/results/experiments``).
        """),
    Parameter("teacher_epochs", TEACHER, [Interval(Integral, 0, MAX_EPOCHS)], since=1,
              kind='int',
              doc="""
        Epochs of each teacher's training (0 skips it; ``teacher_method`` says how).
        """),
    Parameter("student_epochs", STUDENT, [Interval(Integral, 0, MAX_EPOCHS)], since=1,
              kind='int',
              doc="""
        Epochs of student distillation.
        """),
    Parameter("batch_size", TEACHER, [Interval(Integral, 1, MAX_BATCH)], since=1,
              kind='int',
              doc="""
        Mini-batch size of each domain.
        """),
    Parameter("teacher_lr", TEACHER, [_POSITIVE], since=1,
              kind='float',
              doc="""
        Adam learning rates of the teacher stage (teacher and discriminator) and
        the student stage (student, adapter and discriminator).
        """),
    Parameter("student_lr", STUDENT, [_POSITIVE], since=1),  # documented with the one above
    Parameter("betas", TEACHER, [SequenceOf(Interval(Real, 0, 1, closed="left"), length=2)], since=1,
              kind='tuple of float',
              doc="""
        Adam betas of both stages.
        """),
    Parameter("weight_decay", TEACHER, [_NON_NEGATIVE], since=1,
              kind='float',
              doc="""
        Adam weight decay of both stages.
        """),
    Parameter("teacher_domain_weight", TEACHER, [_NON_NEGATIVE], since=1,
              kind='float',
              doc="""
        Weight of the adversarial domain loss in the teacher stage.
        """),
    Parameter("teacher_method", TEACHER, [KeyOf(TEACHER_OBJECTIVES)], since=2, before="dann",
              kind='{"vada", "dann", "dirtt", "cdan", "mixup"} or a registered name',
              doc="""
        The teacher's domain-adaptation objective (all run in the same loop;
        :data:`skrcd.training.TEACHER_OBJECTIVES` lists them and
        :func:`skrcd.training.register_teacher_objective` adds one):
        VADA (DANN + the target's conditional entropy + virtual adversarial
        training on both domains); DANN (the paper); DIRT-T (VADA, then
        ``teacher_refine_epochs`` epochs of refinement on the target alone);
        CDAN+E (a discriminator on features x predictions); mixup (DANN +
        cross-domain temporal mixup and the target's conditional entropy,
        :class:`skrcd.training.TemporalMixupStage`). VADA became the
        default on paired UCI-HAR and CWRU runs (``docs/method.md``); its epochs
        cost about 2.7 times DANN's.
        """),
    Parameter("n_teachers", TEACHER, [Options("auto"), Interval(Integral, 1, MAX_TEACHERS)], since=2, before=1,
              kind='int or "auto"',
              doc="""
        Number of independently initialised teachers trained one after the
        other and averaged (:class:`skrcd.nn.TeacherEnsemble`): the student
        distils the mean of their probabilities; the domain discriminator and
        the features the student's adapter maps to are the first teacher's.
        ``"auto"``: 2 for a teacher built by skrcd by name, one per name for a
        tuple of names, 1 for a teacher module (a module is trained as given; pass a
        ``TeacherEnsemble`` of modules for several). Each teacher costs a
        teacher stage of time. Two became the default on paired UCI-HAR and
        CWRU runs (``docs/method.md``); ``1`` is the paper.
        """),
    Parameter("teacher_refine_epochs", TEACHER, [Interval(Integral, 0, MAX_EPOCHS)], since=2, before=20,
              kind='int',
              doc="""
        Epochs of DIRT-T's refinement (``teacher_method="dirtt"`` only).
        """),
    Parameter("teacher_ent_weight", TEACHER, [_NON_NEGATIVE], since=2, before=0.1,
              kind='float',
              doc="""
        Weight of the target conditional entropy (VADA, DIRT-T).
        """),
    Parameter("teacher_vat_weight", TEACHER, [_NON_NEGATIVE], since=2, before=1.0,
              kind='float',
              doc="""
        Weight of virtual adversarial training (VADA, DIRT-T).
        """),
    Parameter("teacher_vat_every", TEACHER, [Interval(Integral, 1, MAX_EPOCHS)], since=3, before=1,
              kind='int',
              doc="""
        Apply VAT on one step in this many of VADA's (the first step of each
        epoch, then every ``teacher_vat_every``-th; the weight is not scaled up).
        VAT is most of a VADA step's time, so ``3`` nearly halves a member's
        epoch; it lost accuracy on paired UCI-HAR and CWRU runs, with the same
        or a tripled ``teacher_vat_weight`` (``docs/method.md``).
        """),
    Parameter("teacher_swa_start", TEACHER, [None, Interval(Real, 0, 1, closed="left")], since=4, before=None,
              kind='float in [0, 1) or None',
              doc="""
        Stochastic weight averaging of each teacher network: from this fraction
        of its last stage's epochs on, the weights at the end of each epoch are
        averaged (uniformly, with batch norm's running statistics), and the
        network keeps the average (``0.5``: the second half). None: the last
        epoch's weights. It costs one average per epoch. On paired runs one
        averaged network did not stand for the two-network default, and two
        averaged networks were level with it on UCI-HAR and under it on CWRU
        (``docs/method.md``).
        """),
    Parameter("vat_radius", TEACHER, [_POSITIVE], since=2, before=3.5,
              kind='float',
              doc="""
        L2 norm of the adversarial perturbation of one standardised window (VAT).
        """),
    Parameter("kd_weight", STUDENT, [_NON_NEGATIVE], since=1,
              kind='float',
              doc="""
        Weight of the distillation loss.
        """),
    Parameter("dc_weight", STUDENT, [_NON_NEGATIVE], since=1,
              kind='float',
              doc="""
        Weight of the adversarial domain-confusion loss of the student stage (the
        paper: 1.0). What the discriminator compares is ``dc_features``.
        """),
    Parameter("dc_mode", STUDENT, [Options("grl", "flip")], since=1,
              kind='{"grl", "flip"}',
              doc="""
        How the student and adapter fool the discriminator: a gradient-reversal
        layer (minimax on one loss) or flipped domain labels (a separate,
        non-saturating loss); the discriminator keeps learning in both.
        """),
    Parameter("dc_features", STUDENT, [Options("teacher", "student")], since=2, before="teacher",
              kind='{"student", "teacher"}',
              doc="""
        What the discriminator tells the adapted student target features from:
        the student's own source features through the adapter, so that the
        student aligns its own two domains as DANN does, or the teacher's source
        features (the paper, in :data:`~skrcd.PAPER_PARAMS`: the discriminator
        wins within a few epochs, and the term did not help on paired runs).
        Used only when ``dc_weight > 0``. ``"student"`` with
        ``source_ce_weight=1`` became the default on paired UCI-HAR and CWRU runs
        (``docs/method.md``).
        """),
    Parameter("source_ce_weight", STUDENT, [_NON_NEGATIVE], since=2, before=0.0,
              kind='float',
              doc="""
        Weight of the student's cross-entropy on the source labels during
        distillation (0: the student learns from the teacher only, the paper).
        """),
    Parameter("label_shift", STUDENT, [Options("none", "em")], since=2, before="none",
              kind='{"none", "em"}',
              doc="""
        Correction of the student stage for a target whose classes come in other
        shares than the source's. ``"em"``: the target's class prior
        (``target_prior_``) is estimated from the teacher's target probabilities
        by EM (Saerens et al., 2002); the teacher's targets are moved from the
        source prior to it (Bayes' rule), and the student's source cross-entropy
        and the discriminator's source side weigh each source class by
        ``target_prior / source_prior`` (importance weighting), so that a class
        the target lacks is not taught and a rare one is not drowned.
        """),
    Parameter("augment", STUDENT, [None,
                                   Options(*AUGMENT_PRESETS),
                                   InstanceOf(dict, "a dict of SensorAugment strengths")],
              since=2, before=None,
              kind='{"weak", "strong"}, dict or None',
              doc="""
        Sensor augmentations of the target windows the student trains on
        (:class:`skrcd.nn.SensorAugment`; a dict gives its strengths, e.g.
        ``{"jitter": 0.05, "time_warp": 0.2}``): in each episode the student sees
        a fresh view of each window and learns the teacher's output for the plain
        window, which the teacher gives once per fit. None: plain windows.
        """),
    Parameter("consistency_weight", STUDENT, [_NON_NEGATIVE], since=2, before=0.0,
              kind='float',
              doc="""
        Weight of the student's agreement on its view with an exponential moving
        average of itself on the plain window (mean teacher); 0 switches it off.
        """),
    Parameter("ema_decay", STUDENT, [Interval(Real, 0, 1, closed="left")], since=2, before=0.99,
              kind='float',
              doc="""
        Per-step decay of that moving average (with ``consistency_weight > 0``
        or ``student_ema``).
        """),
    Parameter("student_ema", STUDENT, [Options(True, False)], since=2, before=False,
              kind='bool',
              doc="""
        The fitted student is the exponential moving average of its weights
        along the student stage (Polyak averaging) rather than the last step's
        weights.
        """),
    Parameter("temperature", STUDENT, [_POSITIVE], since=1,
              kind='float',
              doc="""
        Distillation temperature.
        """),
    Parameter("n_episodes", STUDENT, [Interval(Integral, 1, MAX_PASSES)], since=1,
              kind='int',
              doc="""
        Selector episodes (student steps) per mini-batch pair.
        """),
    Parameter("mc_passes", STUDENT, [Interval(Integral, 1, MAX_PASSES)], since=1,
              kind='int',
              doc="""
        MC-dropout passes of the teacher for its uncertainty.
        """),
    Parameter("teacher_refresh", STUDENT, [Options("fit", "epoch", "batch", "episode")], since=1,
              kind='{"fit", "epoch", "batch", "episode"}',
              doc="""
        How often the frozen teacher's outputs and MC statistics are computed:
        once per fit (looked up by sample index), each epoch, each mini-batch, or
        each episode (as the research code does).
        """),
    Parameter("selection", STUDENT, [Options("rl", "all", "random", "confident"),
                                     InstanceOf(SelectionStrategy, "a SelectionStrategy")],
              since=1,
              kind='{"rl", "all", "random", "confident"} or SelectionStrategy',
              doc="""
        Which target samples are distilled: every sample (``"all"``, the default),
        the reinforced selector (``"rl"``: the paper's method, in
        ``PAPER_PARAMS``), a random half, or the teacher's most confident 70 % of
        each predicted class (:class:`~skrcd.selection.SelectConfident`). Why
        every sample is the default: over every paired study of this project the
        reinforced selection never scored above distilling every sample by more
        than noise and cost up to a point on small, skewed targets
        (``docs/method.md``, "Why the default distils every window"). The
        selector's parameters (``selector_*``, ``alpha1``, ``alpha2``,
        ``reward_*``, ``memory_capacity``, ``learning_starts``) act with
        ``selection="rl"`` only.
        """),
    Parameter("selection_balance", STUDENT, [Options("none", "class")], since=2, before="none",
              kind='{"none", "class"}',
              doc="""
        ``"class"``: the selection's distillation weights are rescaled within each
        teacher-predicted class of a batch so that every class keeps its share of
        the distillation (a class with nothing selected is distilled whole): the
        selection decides which windows of a class teach, never whether the class
        is taught (:func:`skrcd.selection.class_balanced_weights`). ``"none"``:
        the weights as the selection gives them (the paper; in ``PAPER_PARAMS``).
        No effect with ``selection="all"`` (every weight is 1). Why it is the
        default of the other selections: ``docs/method.md``, "Small, skewed
        targets".
        """),
    Parameter("alpha1", STUDENT, [_NON_NEGATIVE], since=1,
              kind='float',
              doc="""
        Weight of the uncertainty-consistency reward.
        """),
    Parameter("alpha2", STUDENT, [_NON_NEGATIVE], since=1,
              kind='float',
              doc="""
        Weight of the transferability reward.
        """),
    Parameter("reward_baseline", STUDENT, [Options("batch", "class")], since=1,
              kind='{"batch", "class"}',
              doc="""
        What a sample's entropy and teacher-student KL are compared with in the
        rewards: the mean over the batch's samples of the same teacher-predicted
        class ("class"), so that the selector cannot skip a whole class, or the
        batch mean (the paper). "class" was better on the mean of the five UCI-HAR
        paper scenarios (``docs/results/experiments``).
        """),
    Parameter("selector_state", STUDENT, [Options("features", "informed")], since=2, before="features",
              kind='{"features", "informed"}',
              doc="""
        What the selector sees of a target sample: the student's feature vector
        (the paper), or that plus the statistics its rewards are computed from
        (student and teacher probabilities and entropies, their KL, each relative
        to the sample's teacher-predicted class, the teacher's confidence).
        """),
    Parameter("selection_weighting", STUDENT, [Options("hard", "soft")], since=2, before="hard",
              kind='{"hard", "soft"}',
              doc="""
        Distillation weight of a sample: its 0/1 action, or
        ``sigmoid(Q(select) - Q(skip))`` (``selection="rl"`` only).
        """),
    Parameter("reward_quantile", STUDENT, [None, Interval(Real, 0, 1, closed="neither")], since=2, before=None,
              kind='float in (0, 1) or None',
              doc="""
        What counts as low entropy and low KL in the rewards: below the mean of
        the group (None, the paper), or among the lowest ``reward_quantile`` of the
        group by rank.
        """),
    Parameter("selector_bias_noise", STUDENT, [Options("in", "out")], since=2, before="in",
              kind='{"in", "out"}',
              doc="""
        Initial bias noise of the selector's noisy layers: ``sigma0 /
        sqrt(in_features)`` (Fortunato et al.) or ``sigma0 / sqrt(out_features)``
        (the research code: about ten times more exploration at the output).
        """),
    Parameter("selector_hidden", STUDENT, [Interval(Integral, 1, MAX_WIDTH)], since=1,
              kind='int',
              doc="""
        Width of the selector's Q-network. The paper uses 1024; 128 was as
        accurate on UCI-HAR and makes a student epoch 4x faster
        (``docs/results/experiments``).
        """),
    Parameter("selector_sigma0", STUDENT, [_NON_NEGATIVE], since=1,
              kind='float',
              doc="""
        Initial noise scale of its noisy layers.
        """),
    Parameter("selector_gamma", STUDENT, [Interval(Real, 0, 1, closed="both")], since=1,
              kind='float',
              doc="""
        Discount factor.
        """),
    Parameter("selector_lr", STUDENT, [_POSITIVE], since=1,
              kind='float',
              doc="""
        Adam learning rate of the selector.
        """),
    Parameter("selector_batch_size", STUDENT, [Interval(Integral, 1, MAX_BATCH)], since=1,
              kind='int',
              doc="""
        Replay batch size of one DQN update.
        """),
    Parameter("memory_capacity", STUDENT, [Interval(Integral, 1, MAX_MEMORY)], since=1,
              kind='int',
              doc="""
        Replay memory capacity (at most 2**31 - 1). The memory is preallocated
        for no more transitions than the fit can push, and ``fit`` refuses one
        above 4 GiB before the teacher stage.
        """),
    Parameter("learning_starts", STUDENT, [_COUNT], since=1,
              kind='int',
              doc="""
        DQN updates start once the memory holds more transitions than this.
        """),
    Parameter("selector_tau", STUDENT, [Interval(Real, 0, 1, closed="right")], since=1,
              kind='float',
              doc="""
        Soft-update rate of the selector's target network.
        """),
    Parameter("mask_label", TEACHER, [None, str, Interval(Real)], since=1,
              kind='int, str or None',
              doc="""
        Label marking unlabelled target rows in ``y`` (stacked form); ``score``
        skips these rows. ``None`` switches the convention off (for data where -1
        is a real class). See ``docs/ecosystem.md`` for the three ways to pass the
        target and the scikit-learn traps of ``X_tgt``.
        """),
    Parameter("device", RUN, [Device()], since=1,
              kind='str',
              doc="""
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
        """),
    Parameter("n_threads", RUN, [None, Interval(Integral, 1, MAX_THREADS)], since=1,
              kind='int or None',
              doc="""
        torch intra-op threads during ``fit``/``predict`` (restored afterwards);
        ``None`` leaves torch's setting. One thread is fastest for these small
        networks on small CPUs (see the README's measurement).
        """),
    Parameter("predict_batch_size", RUN, [Interval(Integral, 1, MAX_PREDICT_BATCH)], since=1,
              kind='int',
              doc="""
        Windows per forward pass in ``predict``/``predict_proba``.
        """),
    Parameter("callbacks", RUN, [None, Callbacks()], since=1,
              kind='list of skorch callbacks or None',
              doc="""
        Callbacks of every training stage (instances, classes or ``(name,
        callback)`` tuples, as skorch's ``callbacks``). Each stage is one skorch fit
        of a :class:`skrcd.training.StageNet` that the callbacks get as ``net``:
        ``net.module_`` is the stage's network (teacher, student), ``net.history``
        the stage's rows, and a ``KeyboardInterrupt`` raised by a callback
        (``EarlyStopping``) ends that stage, not the fit. A callback given here is
        initialised again at the start of each stage. See ``docs/ecosystem.md``.
        """),
    Parameter("teacher_callbacks", TEACHER, [None, Callbacks()], since=2, before=None,
              kind='list of skorch callbacks or None',
              doc="""
        Callbacks of the teacher stage only, and of the student stage only (a
        baseline's single stage is its student stage); run after ``callbacks``.
        """),
    Parameter("student_callbacks", STUDENT, [None, Callbacks()], since=2, before=None),  # documented with the one above
    Parameter("train_split", TEACHER, [None,
                                       Interval(Real, 0, 1, closed="neither"),
                                       InstanceOf(ValidSplit, "a skorch ValidSplit")],
              since=2, before=None,
              kind='float, skorch.dataset.ValidSplit or None',
              doc="""
        Hold out part of the labelled source for validation: a fraction in (0, 1)
        (a stratified split drawn from ``random_state``) or a skorch ``ValidSplit``.
        Each epoch of each stage then records ``valid_loss`` (cross-entropy),
        ``valid_acc`` and ``valid_f1`` (macro) of the stage's network on these rows
        (source labels only: no target label is read), and the rows are not
        trained on. None (default, the paper's data use): every source row trains.
        """),
    Parameter("class_weight", TEACHER, [None, Options("balanced"), InstanceOf(dict, "a dict {label: weight}")],
              since=2, before=None,
              kind='"balanced", dict or None',
              doc="""
        Weights of the classes in the source cross-entropy terms (the teacher's
        DANN loss, the baselines' source losses), as in scikit-learn: ``"balanced"``
        weights inversely to the class frequencies of the source, a dict maps a
        label to its weight (others weigh 1). The distillation losses on the
        target are unweighted.
        """),
    Parameter("warm_start", TEACHER, [Options(True, False)], since=2, before=False,
              kind='bool',
              doc="""
        When True and the estimator is fitted, ``fit`` continues training its
        networks instead of building new ones: ``teacher_epochs`` more epochs of the
        teacher (0: keep it as is) and ``student_epochs`` more of the student,
        adapter and selector. Optimisers and the adversarial schedules start
        afresh; ``history_`` keeps the earlier rows (epochs keep counting per
        stage); the classes and channels must be the fitted ones, and the
        parameters must build the fitted architecture: a change of
        ``student_channels``, ``teacher_channels``, ``n_teachers``, ``teacher``,
        ``kernel_size``, ``stride``, ``dropout``, ``selector_hidden``, ... since the
        fit raises a ``ValueError`` naming it, before any training.
        """),
    Parameter("checkpoint_dir", RUN, [None, InstanceOf((str, os.PathLike), "a str or path-like")], since=1,
              kind='str, path-like or None',
              doc="""
        Directory of training checkpoints (created if missing; one directory per
        fit, not shared between concurrent fits): ``checkpoint.skrcd`` is
        rewritten atomically every ``checkpoint_every`` epochs and at the end of
        each stage. ``fit(..., resume=True)`` continues from it. None writes none.
        """),
    Parameter("checkpoint_every", RUN, [_POSITIVE_INT], since=1,
              kind='int',
              doc="""
        Epochs between checkpoints (used only with ``checkpoint_dir``).
        """),
    Parameter("random_state", TEACHER, [None,
                                        Interval(Integral, 0, 2**32 - 1),
                                        InstanceOf(np.random.RandomState, "a RandomState")],
              since=1,
              kind='int, RandomState or None',
              doc="""
        Seed of weights, shuffles, dropout and selector noise.
        """),
    Parameter("verbose", RUN, [_COUNT, Options(True, False)], since=1,
              kind='int',
              doc="""
        ``1`` shows a progress bar over each stage's epochs (on stderr, one bar
        per stage, named after it); ``0`` is silent; ``>= 2`` prints
        skorch's ``PrintLog`` table of each epoch instead. Also the ``verbose`` of
        the nets the callbacks get (skorch callbacks print only when it is > 0).
        """),
)

_BY_NAME = {p.name: p for p in PARAMETERS}


def parameter_constraints():
    """``{name: constraints}`` of every parameter, in ``__init__`` order (``_parameter_constraints``)."""
    return {p.name: p.constraints for p in PARAMETERS}


def parameters_of_stage(*stages):
    """The names of the parameters of the given stages, in ``__init__`` order."""
    return tuple(p.name for p in PARAMETERS if p.stage in stages)


def upgrade_params(params, schema):
    """Bring the parameters of a model file of parameter schema ``schema`` to :data:`PARAMS_SCHEMA`.

    Each step ``s -> s + 1`` adds the parameters with ``since == s + 1`` that the file does not hold, with the value
    files of schema ``s`` were fitted with (``before``). A file of the current schema must hold every parameter.

    Parameters
    ----------
    params : dict
        The file's parameters (not modified).
    schema : int
        The file's parameter schema, 1 to :data:`PARAMS_SCHEMA`.

    Returns
    -------
    upgraded : dict
    missing : list of str
        Parameters that are neither in the file nor added by an upgrade step (a damaged file).

    Examples
    --------
    >>> from skrcd._parameters import upgrade_params
    >>> params, missing = upgrade_params({"teacher_epochs": 80}, 1)
    >>> params["teacher_method"], params["n_teachers"], params["teacher_epochs"]
    ('dann', 1, 80)
    """
    out = dict(params)
    for step in range(schema + 1, PARAMS_SCHEMA + 1):
        for p in PARAMETERS:
            if p.since == step:
                out.setdefault(p.name, p.before)
    return out, [p.name for p in PARAMETERS if p.name not in out]


def teacher_names(teacher, n_teachers):
    """The network name of each teacher the parameters ``teacher`` and ``n_teachers`` build.

    Examples
    --------
    >>> from skrcd._parameters import teacher_names
    >>> teacher_names("cnn", "auto"), teacher_names(("cnn", "tfcnn"), "auto")
    (['cnn', 'cnn'], ['cnn', 'tfcnn'])
    """
    if isinstance(teacher, (tuple, list)):
        return list(teacher)
    return [teacher] * (2 if n_teachers == "auto" else n_teachers)


def _default_text(value):
    return f'"{value}"' if isinstance(value, str) else repr(value)


def parameters_section(init):
    """The numpydoc Parameters entries of :data:`PARAMETERS`, with the defaults of ``init``'s signature."""
    defaults = {n: p.default for n, p in inspect.signature(init).parameters.items() if n != "self"}
    if list(defaults) != [p.name for p in PARAMETERS]:
        missing = sorted(set(defaults) ^ {p.name for p in PARAMETERS})
        raise RuntimeError(f"__init__ and skrcd._parameters.PARAMETERS disagree on {missing}")
    blocks = []
    for p in PARAMETERS:
        if p.doc is None:
            names, kind, doc = blocks[-1]
            blocks[-1] = (names + [p.name], kind, doc)
        else:
            blocks.append(([p.name], p.kind, p.doc))
    lines = []
    for names, kind, doc in blocks:
        shown = {_default_text(defaults[n]) for n in names}
        if len(shown) != 1:
            raise RuntimeError(f"{', '.join(names)} are documented together but have different defaults")
        lines.append(f"{', '.join(names)} : {kind}, default={shown.pop()}")
        lines.extend(("    " + line) if line else "" for line in textwrap.dedent(doc).strip("\n").splitlines())
    return "\n".join(lines)


def document_parameters(cls):
    """Class decorator: replace the ``{parameters}`` line of ``cls.__doc__`` by :func:`parameters_section`."""
    if cls.__doc__ and "{parameters}" in cls.__doc__:
        marker = next(line for line in cls.__doc__.splitlines() if line.strip() == "{parameters}")
        indent = marker[: len(marker) - len(marker.lstrip())]
        section = textwrap.indent(parameters_section(cls.__init__), indent).lstrip()
        cls.__doc__ = cls.__doc__.replace("{parameters}", section)
    return cls
