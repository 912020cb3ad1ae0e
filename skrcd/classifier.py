"""The scikit-learn estimator: :class:`RCDKDClassifier`."""

from __future__ import annotations

import copy
import os
import threading
import time
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, check_random_state
from skorch.dataset import ValidSplit
from skorch.history import History

from ._device import resolve_device, torch_threads
from ._param_validation import (
    Callbacks,
    Device,
    InstanceOf,
    Interval,
    InvalidParameterError,
    KeyOf,
    Options,
    SequenceOf,
    validate_params,
)
from ._traps import warn_channels_last, warn_mask_label_rows, warn_mask_label_type, warn_masked_rows_scored, warn_x_tgt_traps
from ._warnings import user_stacklevel
from .data import (
    balanced_domain_stats,
    channel_stats,
    check_labels,
    check_length,
    check_n_features,
    check_network_input,
    check_network_output,
    check_same_channels,
    find_non_finite,
    is_flat_table,
    to_panel,
    warn_unstandardized_scale,
)
from .domains import check_sample_domain, split_domains
from .metrics import masked_accuracy
from .nn.augment import AUGMENT_PRESETS, SensorAugment
from .nn.label_shift import em_target_prior, prior_log_ratio, source_prior
from .nn.networks import (
    CNN1D,
    TCN,
    DomainDiscriminator,
    TeacherEnsemble,
    TimeFrequencyCNN,
    count_parameters,
    feature_size,
)
from .persistence import model_file
from .persistence.model_file import ModelFileMixin
from .selection.dqn import DQNSelector
from .selection.strategies import SelectionStrategy, make_selection
from .training.callbacks import EpochProgressBar
from .training.checkpoints import FitCheckpoints
from .training.interrupt import FitInterruptedWarning, deferred_sigint
from .training.loop import FitContext, n_steps_per_epoch
from .training.adaptation import TEACHER_OBJECTIVES
from .training.stages import DistillationStage, DomainTensors
from .training.teacher_cache import TeacherOutputs
from .training.transaction import fit_transaction

__all__ = ["RCDKDClassifier", "SelectionCollapseWarning", "PAPER_PARAMS"]

#: The configuration of the RCD-KD paper and its research code, for every setting where skrcd offers a choice:
#: ``RCDKDClassifier(**PAPER_PARAMS)``. The other defaults are the paper's UCI-HAR settings already. Differences
#: from the defaults and why they were changed: ``docs/method.md``.
PAPER_PARAMS = {
    "standardize": False,  # the research code's input normalisation is an identity
    "teacher_method": "dann",
    "n_teachers": 1,
    "selector_hidden": 1024,
    "reward_baseline": "batch",
    "reward_quantile": None,
    "selector_state": "features",
    "selection_weighting": "hard",
    "selector_bias_noise": "out",
    "dc_weight": 1.0,
    "dc_mode": "grl",
    "dc_features": "teacher",
    "source_ce_weight": 0.0,
    "selection_balance": "none",
}


def _with_callback_params(callbacks, values, list_name):
    """A copy of the callback list ``callbacks`` with ``{"<name>__<param>": value}`` set on copies of the named
    callbacks; a name or parameter that does not exist is a ``ValueError`` naming it."""
    items = list(callbacks or [])
    names = [item[0] if isinstance(item, tuple) else type(item).__name__ for item in items]
    for key, value in values.items():
        name, sep, param = key.partition("__")
        if not sep or not param:
            raise ValueError(f"{list_name}__{key}: set a callback's parameter as {list_name}__<name>__<param>")
        if name not in names:
            raise ValueError(f"{list_name}__{key}: {list_name} has no callback named {name!r} (its names: "
                             f"{', '.join(map(repr, names)) or 'none'}); name one with a (name, callback) tuple")
        i = names.index(name)
        cb = items[i][1] if isinstance(items[i], tuple) else items[i]
        if isinstance(cb, type):
            raise ValueError(f"{list_name}__{key}: the callback {name!r} is given as a class; pass an instance")
        if param not in cb.get_params(deep=False):
            raise ValueError(f"{list_name}__{key}: {type(cb).__name__} has no parameter {param!r}")
        cb = copy.deepcopy(cb)
        cb.set_params(**{param: value})
        items[i] = (name, cb) if isinstance(items[i], tuple) else cb
    return items


class SelectionCollapseWarning(ConvergenceWarning):
    """The reinforced selection left the student (almost) without distillation, or without a class.

    Issued after ``fit`` when, over the last 10 student epochs, the mean
    distillation weight of the target windows is below 5 % (almost nothing was
    distilled), or when the windows of a class the teacher predicts (three or
    more of them) got a mean weight below 5 % (the class was not taught). Selecting
    (almost) every window is not warned about: it is plain distillation, and
    ``history_`` (``selected``) and ``selection_record_`` record it.
    """

#: The teacher networks skrcd builds by name (``teacher``): the 1D-CNN, the time-frequency CNN, the TCN.
TEACHER_NETWORKS = ("cnn", "tfcnn", "tcn")

_POSITIVE_INT, _COUNT = Interval(Integral, 1, None), Interval(Integral, 0, None)

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
#: Bytes the replay memory may take (it is preallocated when the student stage starts; fit checks it before the
#: teacher stage).
REPLAY_MEMORY_BUDGET = 4 * 2**30
_POSITIVE, _NON_NEGATIVE = Interval(Real, 0, None, closed="neither"), Interval(Real, 0, None)
_MODULE = InstanceOf(torch.nn.Module, "a torch.nn.Module")


def _check_class_weight_values(class_weight):
    """Refuse a ``class_weight`` dict whose weights are not finite non-negative numbers."""
    for label, weight in class_weight.items():
        if isinstance(weight, (bool, np.bool_)) or not isinstance(weight, Real) or not np.isfinite(weight) \
                or weight < 0:
            raise InvalidParameterError(
                f"class_weight must map each label to a finite weight >= 0; the weight of {label!r} is {weight!r}")


def _check_class_weight_keys(class_weight, classes):
    """Refuse a ``class_weight`` dict naming a label that is not a class of ``y``, or weighing every class 0."""
    known = set(classes.tolist())
    unknown = [label for label in class_weight if label not in known]
    if unknown:
        raise ValueError(f"class_weight names {unknown!r}, which {'is' if len(unknown) == 1 else 'are'} not a "
                         f"class of y; the classes are {classes.tolist()!r}")
    if all(class_weight.get(c, 1.0) == 0 for c in classes.tolist()):
        raise ValueError(f"class_weight={class_weight!r} weighs every class of y 0: nothing would be learnt")


#: Held by each fit around its seeded training: torch's random generators and thread count are process-wide, so
#: fits in threads of one process train one at a time (re-entrant: a callback may fit another estimator).
_TRAINING_LOCK = threading.RLock()


def _plain(value):
    """A constructor setting as comparable plain data, or None for what is not (modules, arrays)."""
    if isinstance(value, (bool, int, float, str, type(None))):
        return value
    if isinstance(value, (tuple, list)) and all(isinstance(v, (bool, int, float, str)) for v in value):
        return tuple(value)
    return None


def _architecture(net):
    """``[(module name, class name, settings)]`` of every module of ``net``: its constructor settings
    (``get_config``) where it has them, and the shape of each of its own weights."""
    out = []
    for name, module in net.named_modules():
        settings = {}
        if hasattr(module, "get_config"):
            settings = {k: _plain(v) for k, v in module.get_config().items() if _plain(v) is not None}
        for pname, tensor in module.named_parameters(recurse=False):
            settings[f"{pname}.shape"] = tuple(tensor.shape)
        for bname, tensor in module.named_buffers(recurse=False):
            if tensor is not None:
                settings[f"{bname}.shape"] = tuple(tensor.shape)
        out.append((name, type(module).__name__, settings))
    return out


class RCDKDClassifier(ModelFileMixin, ClassifierMixin, BaseEstimator):
    """Reinforced Cross-Domain Knowledge Distillation (RCD-KD) for time series.

    ``fit`` trains a wide teacher with domain adaptation (VADA by default; DANN in
    the paper) on the labelled source and the unlabelled target, then distils it into a compact student on the target: a
    temperature-scaled KD loss on the samples a reinforced selector (dueling double
    DQN with noisy layers) picks, plus the student's own domain adaptation: its
    cross-entropy on the source labels and adversarial confusion of the teacher's
    kept discriminator between its source and target features (the paper: between
    the teacher's source features and the student's target features). ``predict``
    uses the student.

    Defaults are the paper's UCI-HAR settings (Xu et al., NeurIPS 2024) except where
    paired measurements favoured another choice (``docs/method.md`` lists each, and
    :data:`~skrcd.PAPER_PARAMS` restores the paper's configuration).

    Parameters
    ----------
    teacher : {"cnn", "tfcnn", "tcn"}, tuple of these or torch.nn.Module, default="cnn"
        Teacher network: the 1D-CNN, the time-frequency CNN (the CNN beside a
        CNN on each channel's log-magnitude spectrum,
        :class:`skrcd.nn.TimeFrequencyCNN`) or the TCN. A tuple of names trains
        one teacher of each kind and averages them (a heterogeneous ensemble;
        ``n_teachers`` then stays ``"auto"``). A module must return ``(logits,
        features)``; pass ``teacher_epochs=0`` to use it as already trained.
    discriminator : torch.nn.Module or None, default=None
        Domain discriminator on teacher features (2 outputs); a new
        ``Linear(d, 64)-ReLU-Linear(64, 64)-ReLU-Linear(64, 2)`` when None.
    teacher_channels : tuple of int or None, default=None
        Widths of the teacher's blocks; None means (64, 128, 128) for the CNN
        teacher and (75, 150) for the TCN.
    student_channels : tuple of int, default=(16, 32, 32)
        Widths of the student's blocks.
    kernel_size : int, default=5
        Kernel of the first convolution of the CNNs.
    stride : int, default=1
        Stride of the first convolution of the CNNs.
    dropout : float, default=0.5
        Dropout after each CNN block (the teacher's also drives MC-dropout).
    standardize : {"domain", "balanced", "joint"} or bool, default="domain"
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
    teacher_epochs : int, default=80
        Epochs of each teacher's training (0 skips it; ``teacher_method`` says how).
    student_epochs : int, default=80
        Epochs of student distillation.
    batch_size : int, default=32
        Mini-batch size of each domain.
    teacher_lr, student_lr : float, default=1e-2
        Adam learning rates of the teacher stage (teacher and discriminator) and
        the student stage (student, adapter and discriminator).
    betas : tuple of float, default=(0.5, 0.99)
        Adam betas of both stages.
    weight_decay : float, default=1e-4
        Adam weight decay of both stages.
    teacher_domain_weight : float, default=1.0
        Weight of the adversarial domain loss in the teacher stage.
    teacher_method : {"vada", "dann", "dirtt", "cdan", "mixup"} or a registered name, default="vada"
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
    n_teachers : int or "auto", default="auto"
        Number of independently initialised teachers trained one after the
        other and averaged (:class:`skrcd.nn.TeacherEnsemble`): the student
        distils the mean of their probabilities; the domain discriminator and
        the features the student's adapter maps to are the first teacher's.
        ``"auto"``: 2 for a teacher built by skrcd by name, one per name for a
        tuple of names, 1 for a teacher module (a module is trained as given; pass a
        ``TeacherEnsemble`` of modules for several). Each teacher costs a
        teacher stage of time. Two became the default on paired UCI-HAR and
        CWRU runs (``docs/method.md``); ``1`` is the paper.
    teacher_refine_epochs : int, default=20
        Epochs of DIRT-T's refinement (``teacher_method="dirtt"`` only).
    teacher_ent_weight : float, default=0.1
        Weight of the target conditional entropy (VADA, DIRT-T).
    teacher_vat_weight : float, default=1.0
        Weight of virtual adversarial training (VADA, DIRT-T).
    vat_radius : float, default=3.5
        L2 norm of the adversarial perturbation of one standardised window (VAT).
    kd_weight : float, default=10.0
        Weight of the distillation loss.
    dc_weight : float, default=1.0
        Weight of the adversarial domain-confusion loss of the student stage (the
        paper: 1.0). What the discriminator compares is ``dc_features``.
    dc_mode : {"grl", "flip"}, default="grl"
        How the student and adapter fool the discriminator: a gradient-reversal
        layer (minimax on one loss) or flipped domain labels (a separate,
        non-saturating loss); the discriminator keeps learning in both.
    dc_features : {"student", "teacher"}, default="student"
        What the discriminator tells the adapted student target features from:
        the student's own source features through the adapter, so that the
        student aligns its own two domains as DANN does, or the teacher's source
        features (the paper, in :data:`~skrcd.PAPER_PARAMS`: the discriminator
        wins within a few epochs, and the term did not help on paired runs).
        Used only when ``dc_weight > 0``. ``"student"`` with
        ``source_ce_weight=1`` became the default on paired UCI-HAR and CWRU runs
        (``docs/method.md``).
    source_ce_weight : float, default=1.0
        Weight of the student's cross-entropy on the source labels during
        distillation (0: the student learns from the teacher only, the paper).
    label_shift : {"none", "em"}, default="none"
        Correction of the student stage for a target whose classes come in other
        shares than the source's. ``"em"``: the target's class prior
        (``target_prior_``) is estimated from the teacher's target probabilities
        by EM (Saerens et al., 2002); the teacher's targets are moved from the
        source prior to it (Bayes' rule), and the student's source cross-entropy
        and the discriminator's source side weigh each source class by
        ``target_prior / source_prior`` (importance weighting), so that a class
        the target lacks is not taught and a rare one is not drowned.
    augment : {"weak", "strong"}, dict or None, default=None
        Sensor augmentations of the target windows the student trains on
        (:class:`skrcd.nn.SensorAugment`; a dict gives its strengths, e.g.
        ``{"jitter": 0.05, "time_warp": 0.2}``): in each episode the student sees
        a fresh view of each window and learns the teacher's output for the plain
        window, which the teacher gives once per fit. None: plain windows.
    consistency_weight : float, default=0.0
        Weight of the student's agreement on its view with an exponential moving
        average of itself on the plain window (mean teacher); 0 switches it off.
    ema_decay : float, default=0.99
        Per-step decay of that moving average (with ``consistency_weight > 0``
        or ``student_ema``).
    student_ema : bool, default=False
        The fitted student is the exponential moving average of its weights
        along the student stage (Polyak averaging) rather than the last step's
        weights.
    temperature : float, default=2.0
        Distillation temperature.
    n_episodes : int, default=5
        Selector episodes (student steps) per mini-batch pair.
    mc_passes : int, default=10
        MC-dropout passes of the teacher for its uncertainty.
    teacher_refresh : {"fit", "epoch", "batch", "episode"}, default="fit"
        How often the frozen teacher's outputs and MC statistics are computed:
        once per fit (looked up by sample index), each epoch, each mini-batch, or
        each episode (as the research code does).
    selection : {"rl", "all", "random", "confident"} or SelectionStrategy, default="rl"
        Sample selection: the reinforced selector, every sample (KD ablation), a
        random half, or the teacher's most confident 70 % of each predicted class
        (:class:`~skrcd.selection.SelectConfident`).
    selection_balance : {"none", "class"}, default="class"
        ``"class"``: the selection's distillation weights are rescaled within each
        teacher-predicted class of a batch so that every class keeps its share of
        the distillation (a class with nothing selected is distilled whole): the
        selection decides which windows of a class teach, never whether the class
        is taught (:func:`skrcd.selection.class_balanced_weights`). ``"none"``:
        the weights as the selection gives them (the paper; in ``PAPER_PARAMS``).
        Why it is the default: ``docs/method.md``, "Small, skewed targets".
    alpha1 : float, default=0.2
        Weight of the uncertainty-consistency reward.
    alpha2 : float, default=1.8
        Weight of the transferability reward.
    reward_baseline : {"batch", "class"}, default="class"
        What a sample's entropy and teacher-student KL are compared with in the
        rewards: the mean over the batch's samples of the same teacher-predicted
        class ("class"), so that the selector cannot skip a whole class, or the
        batch mean (the paper). "class" was better on the mean of the five UCI-HAR
        paper scenarios (``docs/results/experiments``).
    selector_state : {"features", "informed"}, default="features"
        What the selector sees of a target sample: the student's feature vector
        (the paper), or that plus the statistics its rewards are computed from
        (student and teacher probabilities and entropies, their KL, each relative
        to the sample's teacher-predicted class, the teacher's confidence).
    selection_weighting : {"hard", "soft"}, default="hard"
        Distillation weight of a sample: its 0/1 action, or
        ``sigmoid(Q(select) - Q(skip))`` (``selection="rl"`` only).
    reward_quantile : float in (0, 1) or None, default=None
        What counts as low entropy and low KL in the rewards: below the mean of
        the group (None, the paper), or among the lowest ``reward_quantile`` of the
        group by rank.
    selector_bias_noise : {"in", "out"}, default="in"
        Initial bias noise of the selector's noisy layers: ``sigma0 /
        sqrt(in_features)`` (Fortunato et al.) or ``sigma0 / sqrt(out_features)``
        (the research code: about ten times more exploration at the output).
    selector_hidden : int, default=128
        Width of the selector's Q-network. The paper uses 1024; 128 was as
        accurate on UCI-HAR and makes a student epoch 4x faster
        (``docs/results/experiments``).
    selector_sigma0 : float, default=0.4
        Initial noise scale of its noisy layers.
    selector_gamma : float, default=0.9
        Discount factor.
    selector_lr : float, default=1e-4
        Adam learning rate of the selector.
    selector_batch_size : int, default=32
        Replay batch size of one DQN update.
    memory_capacity : int, default=100_000
        Replay memory capacity (at most 2**31 - 1). The memory is preallocated
        for no more transitions than the fit can push, and ``fit`` refuses one
        above 4 GiB before the teacher stage.
    learning_starts : int, default=100
        DQN updates start once the memory holds more transitions than this.
    selector_tau : float, default=0.001
        Soft-update rate of the selector's target network.
    mask_label : int, str or None, default=-1
        Label marking unlabelled target rows in ``y`` (stacked form); ``score``
        skips these rows. ``None`` switches the convention off (for data where -1
        is a real class). See ``docs/ecosystem.md`` for the three ways to pass the
        target and the scikit-learn traps of ``X_tgt``.
    device : str, default="auto"
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
    n_threads : int or None, default=1
        torch intra-op threads during ``fit``/``predict`` (restored afterwards);
        ``None`` leaves torch's setting. One thread is fastest for these small
        networks on small CPUs (see the README's measurement).
    predict_batch_size : int, default=4096
        Windows per forward pass in ``predict``/``predict_proba``.
    callbacks : list of skorch callbacks or None, default=None
        Callbacks of every training stage (instances, classes or ``(name,
        callback)`` tuples, as skorch's ``callbacks``). Each stage is one skorch fit
        of a :class:`skrcd.training.StageNet` that the callbacks get as ``net``:
        ``net.module_`` is the stage's network (teacher, student), ``net.history``
        the stage's rows, and a ``KeyboardInterrupt`` raised by a callback
        (``EarlyStopping``) ends that stage, not the fit. A callback given here is
        initialised again at the start of each stage. See ``docs/ecosystem.md``.
    teacher_callbacks, student_callbacks : list of skorch callbacks or None, default=None
        Callbacks of the teacher stage only, and of the student stage only (a
        baseline's single stage is its student stage); run after ``callbacks``.
    train_split : float, skorch.dataset.ValidSplit or None, default=None
        Hold out part of the labelled source for validation: a fraction in (0, 1)
        (a stratified split drawn from ``random_state``) or a skorch ``ValidSplit``.
        Each epoch of each stage then records ``valid_loss`` (cross-entropy),
        ``valid_acc`` and ``valid_f1`` (macro) of the stage's network on these rows
        (source labels only: no target label is read), and the rows are not
        trained on. None (default, the paper's data use): every source row trains.
    class_weight : "balanced", dict or None, default=None
        Weights of the classes in the source cross-entropy terms (the teacher's
        DANN loss, the baselines' source losses), as in scikit-learn: ``"balanced"``
        weights inversely to the class frequencies of the source, a dict maps a
        label to its weight (others weigh 1). The distillation losses on the
        target are unweighted.
    warm_start : bool, default=False
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
    checkpoint_dir : str, path-like or None, default=None
        Directory of training checkpoints (created if missing; one directory per
        fit, not shared between concurrent fits): ``checkpoint.skrcd`` is
        rewritten atomically every ``checkpoint_every`` epochs and at the end of
        each stage. ``fit(..., resume=True)`` continues from it. None writes none.
    checkpoint_every : int, default=5
        Epochs between checkpoints (used only with ``checkpoint_dir``).
    random_state : int, RandomState or None, default=None
        Seed of weights, shuffles, dropout and selector noise.
    verbose : int, default=1
        ``1`` shows a progress bar over each stage's epochs (on stderr, one bar
        per stage, named after it); ``0`` is silent; ``>= 2`` prints
        skorch's ``PrintLog`` table of each epoch instead. Also the ``verbose`` of
        the nets the callbacks get (skorch callbacks print only when it is > 0).

    Attributes
    ----------
    teacher_ : torch.nn.Module
        The trained teacher: a :class:`skrcd.nn.TeacherEnsemble` when several
        teachers were trained (``n_teachers``).
    student_ : torch.nn.Module
        The distilled student (used by ``predict``).
    adapter_ : torch.nn.Linear
        Student-to-teacher feature adapter.
    discriminator_ : torch.nn.Module
        The domain discriminator.
    selector_ : skrcd.selection.DQNSelector or None
        The trained selector (``None`` unless ``selection="rl"``).
    classes_ : numpy.ndarray
        Class labels.
    n_features_in_ : int
        ``X.shape[1]`` of the ``fit`` input, as scikit-learn counts features: the
        number of channels for a 3D panel (or an sktime Panel), the series length
        for a 2D array ``(n, length)`` (read as univariate series).
    n_channels_ : int
        Number of channels.
    n_timepoints_ : int
        Series length seen in ``fit``.
    history_ : skorch.history.History
        One row per epoch of each stage: ``stage``, ``epoch`` (counted per stage),
        skorch's ``train_loss``, ``dur`` and ``batches`` (per step ``train_loss``,
        ``train_batch_size``), the stage's own means (``loss``, ``loss_cls``,
        ``loss_kd``, ``selected``, ``reward``, ``dqn_loss``, ...), with
        ``train_split`` ``valid_loss``/``valid_acc``/``valid_f1``, and what callbacks
        record (``event_lr``, ``target_entropy``, ...). No column reads a target
        label.
    target_prior_ : numpy.ndarray of shape (n_classes,)
        The target's class shares estimated without labels: EM on the
        teacher's probabilities of the target windows (see ``label_shift``,
        which decides whether the student stage uses it).
    fit_time_ : dict
        Seconds spent in each stage (``teacher``, ``student``) and in total.
    n_parameters_ : dict
        Parameter count of the ``teacher`` and the ``student`` (those that exist).
    device_ : torch.device
        Where the networks are (``device`` resolved at fit time).
    channel_mean_, channel_std_ : numpy.ndarray of shape (n_channels,)
        The per-channel statistics ``predict`` standardises with (with ``standardize``
        set; the target's with ``"domain"``).
    target_mode_ : str
        How the target was given: ``"X_tgt"``, ``"sample_domain"``, ``"masked"``,
        ``"source_only"``.
    interrupted_ : dict or None
        ``None`` after a complete fit; after a Ctrl-C, ``{"stage", "epoch",
        "n_epochs"}``: the stage that was stopped and how many of its epochs the
        networks hold. Stopped in the teacher stage, the estimator has no student
        (``student_``, ``adapter_`` are None) and ``predict`` uses the teacher,
        with a warning. See ``docs/reliability.md``.

    Notes
    -----
    Threads: an estimator is not to be shared between threads while one of them
    fits it. ``fit`` replaces the fitted attributes one after the other
    (``classes_`` before ``student_``, ...), so a ``predict`` running meanwhile in
    another thread may combine the new labels with the old network. Clone the
    estimator for each thread (``sklearn.base.clone``), or wait for ``fit`` to
    return before predicting. Once fitted, ``predict``, ``predict_proba`` and
    ``score`` may run in several threads at once. Fits of clones in threads of
    one process train one after the other (see ``fit``), so each gives the
    result it gives alone.

    References
    ----------
    Xu, Q., Wu, M., Li, X., Mao, K., Chen, Z. "Reinforced Cross-Domain Knowledge
    Distillation on Time Series Data", NeurIPS 2024.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from skrcd import RCDKDClassifier
    >>> from skrcd.datasets import make_domain_shift
    >>> X_src, y_src, X_tgt, y_tgt = make_domain_shift(n_source=40, n_target=40, length=32, random_state=0)
    >>> clf = RCDKDClassifier(teacher_epochs=2, student_epochs=2, selector_hidden=16, random_state=0)
    >>> clf.fit(X_src, y_src, X_tgt).predict(X_tgt[:4]).shape
    (4,)
    >>> clf.predict_proba(X_tgt).shape, clf.predict_features(X_tgt, network="teacher").shape
    ((40, 3), (40, 128))

    The stacked form: target rows in ``X``, labelled ``mask_label`` (-1); ``score``
    skips them.

    >>> X = np.concatenate([X_src, X_tgt])
    >>> y = np.r_[y_src, np.full(len(X_tgt), -1)]
    >>> clf.fit(X, y).target_mode_
    'masked'

    Saving and loading (no code is executed from the file):

    >>> path = clf.save(os.path.join(tempfile.mkdtemp(), "model.skrcd"))
    >>> bool((RCDKDClassifier.load(path).predict_proba(X_tgt) == clf.predict_proba(X_tgt)).all())
    True
    """

    # Metadata routing (scikit-learn >= 1.4, skada): the target conventions and
    # skada's domain arguments are requested once for the class, so routed
    # meta-estimators pass them without set_*_request calls.
    __metadata_request__fit = {"X_tgt": True, "sample_domain": True}
    __metadata_request__predict = {"sample_domain": True, "allow_source": True}
    __metadata_request__predict_proba = {"sample_domain": True, "allow_source": True}
    __metadata_request__score = {"sample_domain": True, "allow_source": True, "sample_weight": True}

    #: The student stage's class (:class:`~skrcd.training.DistillationStage`); baselines that distil
    #: something else set a subclass with its own ``student_loss``.
    distillation_stage = DistillationStage

    # Every __init__ parameter and the values it takes, checked by fit before any work (and the three that
    # predict uses, by predict). A new parameter adds one line here.
    _parameter_constraints = {
        "teacher": [Options(*TEACHER_NETWORKS), SequenceOf(Options(*TEACHER_NETWORKS), min_length=1), _MODULE],
        "discriminator": [None, _MODULE],
        "teacher_channels": [None, SequenceOf(Interval(Integral, 1, MAX_WIDTH), min_length=1, max_length=MAX_BLOCKS)],
        "student_channels": [SequenceOf(Interval(Integral, 1, MAX_WIDTH), length=3)],
        "kernel_size": [Interval(Integral, 1, MAX_WIDTH)],
        "stride": [Interval(Integral, 1, MAX_STRIDE)],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "standardize": [Options("domain", "balanced", "joint", True, False)],
        "teacher_epochs": [Interval(Integral, 0, MAX_EPOCHS)],
        "student_epochs": [Interval(Integral, 0, MAX_EPOCHS)],
        "batch_size": [Interval(Integral, 1, MAX_BATCH)],
        "teacher_lr": [_POSITIVE],
        "student_lr": [_POSITIVE],
        "betas": [SequenceOf(Interval(Real, 0, 1, closed="left"), length=2)],
        "weight_decay": [_NON_NEGATIVE],
        "teacher_domain_weight": [_NON_NEGATIVE],
        "teacher_method": [KeyOf(TEACHER_OBJECTIVES)],
        "n_teachers": [Options("auto"), Interval(Integral, 1, MAX_TEACHERS)],
        "teacher_refine_epochs": [Interval(Integral, 0, MAX_EPOCHS)],
        "teacher_ent_weight": [_NON_NEGATIVE],
        "teacher_vat_weight": [_NON_NEGATIVE],
        "vat_radius": [_POSITIVE],
        "kd_weight": [_NON_NEGATIVE],
        "dc_weight": [_NON_NEGATIVE],
        "dc_mode": [Options("grl", "flip")],
        "dc_features": [Options("teacher", "student")],
        "source_ce_weight": [_NON_NEGATIVE],
        "label_shift": [Options("none", "em")],
        "augment": [None, Options(*AUGMENT_PRESETS), InstanceOf(dict, "a dict of SensorAugment strengths")],
        "consistency_weight": [_NON_NEGATIVE],
        "ema_decay": [Interval(Real, 0, 1, closed="left")],
        "student_ema": [Options(True, False)],
        "temperature": [_POSITIVE],
        "n_episodes": [Interval(Integral, 1, MAX_PASSES)],
        "mc_passes": [Interval(Integral, 1, MAX_PASSES)],
        "teacher_refresh": [Options("fit", "epoch", "batch", "episode")],
        "selection": [Options("rl", "all", "random", "confident"), InstanceOf(SelectionStrategy, "a SelectionStrategy")],
        "selection_balance": [Options("none", "class")],
        "alpha1": [_NON_NEGATIVE],
        "alpha2": [_NON_NEGATIVE],
        "reward_baseline": [Options("batch", "class")],
        "selector_state": [Options("features", "informed")],
        "selection_weighting": [Options("hard", "soft")],
        "reward_quantile": [None, Interval(Real, 0, 1, closed="neither")],
        "selector_bias_noise": [Options("in", "out")],
        "selector_hidden": [Interval(Integral, 1, MAX_WIDTH)],
        "selector_sigma0": [_NON_NEGATIVE],
        "selector_gamma": [Interval(Real, 0, 1, closed="both")],
        "selector_lr": [_POSITIVE],
        "selector_batch_size": [Interval(Integral, 1, MAX_BATCH)],
        "memory_capacity": [Interval(Integral, 1, MAX_MEMORY)],
        "learning_starts": [_COUNT],
        "selector_tau": [Interval(Real, 0, 1, closed="right")],
        "mask_label": [None, str, Interval(Real)],
        "device": [Device()],
        "n_threads": [None, Interval(Integral, 1, MAX_THREADS)],
        "predict_batch_size": [Interval(Integral, 1, MAX_PREDICT_BATCH)],
        "callbacks": [None, Callbacks()],
        "teacher_callbacks": [None, Callbacks()],
        "student_callbacks": [None, Callbacks()],
        "train_split": [None, Interval(Real, 0, 1, closed="neither"), InstanceOf(ValidSplit, "a skorch ValidSplit")],
        "class_weight": [None, Options("balanced"), InstanceOf(dict, "a dict {label: weight}")],
        "warm_start": [Options(True, False)],
        "checkpoint_dir": [None, InstanceOf((str, os.PathLike), "a str or path-like")],
        "checkpoint_every": [_POSITIVE_INT],
        "random_state": [None, Interval(Integral, 0, 2**32 - 1), InstanceOf(np.random.RandomState, "a RandomState")],
        "verbose": [_COUNT, Options(True, False)],
    }

    #: The parameters that hold lists of skorch callbacks (``set_params(callbacks__<name>__<param>=...)``).
    _CALLBACK_LISTS = ("callbacks", "teacher_callbacks", "student_callbacks")

    def set_params(self, **params):
        """Set parameters, as scikit-learn does; and, as skorch does, a named callback's own parameters.

        ``callbacks__<name>__<param>=value`` (also ``teacher_callbacks__...``,
        ``student_callbacks__...``) sets ``<param>`` of the callback named ``<name>``
        in that list: the name of a ``(name, callback)`` tuple, or the class name of
        a callback given as an instance. The callback is copied first, so the object
        the caller passed is left as it was.

        Parameters
        ----------
        **params : dict
            Estimator parameters and callback parameters.

        Returns
        -------
        self : RCDKDClassifier
        """
        routed = {}
        for key in list(params):
            head, sep, rest = key.partition("__")
            if sep and head in self._CALLBACK_LISTS:
                routed.setdefault(head, {})[rest] = params.pop(key)
        super().set_params(**params)  # a new list first, then its members' parameters
        for head, values in routed.items():
            setattr(self, head, _with_callback_params(getattr(self, head), values, head))
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True  # (n, length): univariate series
        tags.input_tags.three_d_array = True  # (n, channels, length)
        return tags

    def __init__(
        self,
        teacher="cnn",
        discriminator=None,
        teacher_channels=None,
        student_channels=(16, 32, 32),
        kernel_size=5,
        stride=1,
        dropout=0.5,
        standardize="domain",
        teacher_epochs=80,
        student_epochs=80,
        batch_size=32,
        teacher_lr=1e-2,
        student_lr=1e-2,
        betas=(0.5, 0.99),
        weight_decay=1e-4,
        teacher_domain_weight=1.0,
        teacher_method="vada",
        n_teachers="auto",
        teacher_refine_epochs=20,
        teacher_ent_weight=0.1,
        teacher_vat_weight=1.0,
        vat_radius=3.5,
        kd_weight=10.0,
        dc_weight=1.0,
        dc_mode="grl",
        dc_features="student",
        source_ce_weight=1.0,
        label_shift="none",
        augment=None,
        consistency_weight=0.0,
        ema_decay=0.99,
        student_ema=False,
        temperature=2.0,
        n_episodes=5,
        mc_passes=10,
        teacher_refresh="fit",
        selection="rl",
        selection_balance="class",
        alpha1=0.2,
        alpha2=1.8,
        reward_baseline="class",
        selector_state="features",
        selection_weighting="hard",
        reward_quantile=None,
        selector_bias_noise="in",
        selector_hidden=128,
        selector_sigma0=0.4,
        selector_gamma=0.9,
        selector_lr=1e-4,
        selector_batch_size=32,
        memory_capacity=100_000,
        learning_starts=100,
        selector_tau=0.001,
        mask_label=-1,
        device="auto",
        n_threads=1,
        predict_batch_size=4096,
        callbacks=None,
        teacher_callbacks=None,
        student_callbacks=None,
        train_split=None,
        class_weight=None,
        warm_start=False,
        checkpoint_dir=None,
        checkpoint_every=5,
        random_state=None,
        verbose=1,
    ):
        self.teacher = teacher
        self.discriminator = discriminator
        self.teacher_channels = teacher_channels
        self.student_channels = student_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.dropout = dropout
        self.standardize = standardize
        self.teacher_epochs = teacher_epochs
        self.student_epochs = student_epochs
        self.batch_size = batch_size
        self.teacher_lr = teacher_lr
        self.student_lr = student_lr
        self.betas = betas
        self.weight_decay = weight_decay
        self.teacher_domain_weight = teacher_domain_weight
        self.teacher_method = teacher_method
        self.n_teachers = n_teachers
        self.teacher_refine_epochs = teacher_refine_epochs
        self.teacher_ent_weight = teacher_ent_weight
        self.teacher_vat_weight = teacher_vat_weight
        self.vat_radius = vat_radius
        self.kd_weight = kd_weight
        self.dc_weight = dc_weight
        self.dc_mode = dc_mode
        self.dc_features = dc_features
        self.source_ce_weight = source_ce_weight
        self.label_shift = label_shift
        self.augment = augment
        self.consistency_weight = consistency_weight
        self.ema_decay = ema_decay
        self.student_ema = student_ema
        self.temperature = temperature
        self.n_episodes = n_episodes
        self.mc_passes = mc_passes
        self.teacher_refresh = teacher_refresh
        self.selection = selection
        self.selection_balance = selection_balance
        self.alpha1 = alpha1
        self.alpha2 = alpha2
        self.reward_baseline = reward_baseline
        self.selector_state = selector_state
        self.selection_weighting = selection_weighting
        self.reward_quantile = reward_quantile
        self.selector_bias_noise = selector_bias_noise
        self.selector_hidden = selector_hidden
        self.selector_sigma0 = selector_sigma0
        self.selector_gamma = selector_gamma
        self.selector_lr = selector_lr
        self.selector_batch_size = selector_batch_size
        self.memory_capacity = memory_capacity
        self.learning_starts = learning_starts
        self.selector_tau = selector_tau
        self.mask_label = mask_label
        self.device = device
        self.n_threads = n_threads
        self.predict_batch_size = predict_batch_size
        self.callbacks = callbacks
        self.teacher_callbacks = teacher_callbacks
        self.student_callbacks = student_callbacks
        self.train_split = train_split
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ hooks
    def _check_params(self, names=None):
        """Check parameters against :attr:`_parameter_constraints` (``names``: only these), then the rules
        that tie two parameters together; an :class:`~skrcd._param_validation.InvalidParameterError`
        (a ``ValueError`` and a ``TypeError``) names the first bad one."""
        validate_params(self._parameter_constraints, self.get_params(deep=False), names)
        if names is not None:
            return
        teacher_module = isinstance(self.teacher, torch.nn.Module)
        keeps_fitted_teacher = self.warm_start and getattr(self, "teacher_", None) is not None
        if self.teacher_epochs == 0 and not teacher_module and not keeps_fitted_teacher:
            raise InvalidParameterError("teacher_epochs=0 skips teacher training: pass a trained teacher module")
        if teacher_module and self.n_teachers not in ("auto", 1):
            raise InvalidParameterError(
                f"n_teachers={self.n_teachers!r} needs a teacher built by skrcd ('cnn' or 'tcn'): a teacher module "
                "is trained as given; pass skrcd.nn.TeacherEnsemble([module, ...]) for several"
            )
        names = self._teacher_names() if not teacher_module else []
        if isinstance(self.teacher, (tuple, list)) and self.n_teachers not in ("auto", len(self.teacher)):
            raise InvalidParameterError(
                f"teacher={tuple(self.teacher)!r} names {len(self.teacher)} teachers and n_teachers="
                f"{self.n_teachers!r}: leave n_teachers='auto' or give one name per teacher"
            )
        if isinstance(self.class_weight, dict):
            _check_class_weight_values(self.class_weight)
        if isinstance(self.augment, dict):
            try:
                SensorAugment(**self.augment).check()
            except (TypeError, ValueError) as exc:
                raise InvalidParameterError(f"augment={self.augment!r}: {exc}") from None
        if self.teacher_channels is not None and names:
            cnn_like = any(n != "tcn" for n in names)
            if cnn_like and "tcn" in names:
                raise InvalidParameterError(
                    f"teacher_channels={self.teacher_channels!r} cannot set both a TCN's and a CNN's widths "
                    f"(teacher={self.teacher!r}): leave it None"
                )
            if cnn_like and len(self.teacher_channels) != 3:
                raise InvalidParameterError(
                    f"teacher_channels must hold 3 widths for the CNN teacher, got {self.teacher_channels!r}"
                )

    def initialize_teacher(self, n_channels, n_classes):
        """Build (or copy) the teacher network: a :class:`~skrcd.nn.TeacherEnsemble` of ``n_teachers`` networks
        when there are several."""
        if isinstance(self.teacher, torch.nn.Module):
            return copy.deepcopy(self.teacher)
        members = [self._teacher_network(name, n_channels, n_classes) for name in self._teacher_names()]
        return members[0] if len(members) == 1 else TeacherEnsemble(members)

    def _teacher_names(self):
        """The network name of each teacher to build: ``teacher`` repeated ``n_teachers`` times, or its tuple."""
        if isinstance(self.teacher, (tuple, list)):
            return list(self.teacher)
        return [self.teacher] * (2 if self.n_teachers == "auto" else self.n_teachers)

    def _teacher_network(self, name, n_channels, n_classes):
        if name == "tcn":
            return TCN(n_channels, n_classes, channels=self.teacher_channels or (75, 150), dropout=self.dropout)
        if name == "tfcnn":
            return TimeFrequencyCNN(n_channels, n_classes, self.teacher_channels or (64, 128, 128),
                                    kernel_size=self.kernel_size, stride=self.stride, dropout=self.dropout)
        return CNN1D(n_channels, n_classes, self.teacher_channels or (64, 128, 128), self.kernel_size,
                     self.stride, self.dropout)

    def initialize_student(self, n_channels, n_classes):
        """Build the student network."""
        return CNN1D(n_channels, n_classes, self.student_channels, self.kernel_size, self.stride, self.dropout)

    def initialize_discriminator(self, teacher_features):
        """Build (or copy) the domain discriminator."""
        if self.discriminator is not None:
            return copy.deepcopy(self.discriminator)
        return DomainDiscriminator(teacher_features)

    def initialize_selection(self):
        """Build the sample-selection strategy of the student stage."""
        if self.selection == "rl":
            return make_selection(
                "rl", alpha1=self.alpha1, alpha2=self.alpha2, reward_baseline=self.reward_baseline,
                state=self.selector_state, weighting=self.selection_weighting, reward_quantile=self.reward_quantile,
                hidden=self.selector_hidden, sigma0=self.selector_sigma0, gamma=self.selector_gamma,
                lr=self.selector_lr, batch_size=self.selector_batch_size, memory_capacity=self.memory_capacity,
                learning_starts=self.learning_starts, target_tau=self.selector_tau,
                bias_noise=self.selector_bias_noise,
            )
        return copy.deepcopy(make_selection(self.selection))

    # -------------------------------------------------------------------- fit
    @property
    def history(self):
        """Alias of ``history_`` (skorch's name). Callbacks get each stage's own rows as ``net.history``."""
        return self.history_

    @fit_transaction
    def fit(self, X, y, X_tgt=None, *args, sample_domain=None, sample_weight=None, resume=False):
        """Train the teacher (``teacher_method``), then distil it into the student on the target.

        Each stage runs skrcd's training loop on skorch's callback protocol (see
        ``callbacks``). Ctrl-C stops training at the end of the current step: the
        estimator keeps the last completed epoch of the running stage,
        ``interrupted_`` says where, and a
        :class:`~skrcd.training.FitInterruptedWarning` is issued; a second Ctrl-C
        raises :class:`KeyboardInterrupt` at once. A fit that
        raises (a second Ctrl-C included) leaves the estimator as it was before the
        call: unfitted, or with its previous model.

        Training draws from torch's random generators, which are process-wide:
        fits running in threads of one process (joblib's threading backend,
        ``GridSearchCV(n_jobs=2)`` with it) hold one lock around their training and
        so train one after the other, each giving the result it gives alone. The
        checks and data preparation before training run concurrently; processes
        (joblib's default backend) train in parallel.

        Parameters
        ----------
        X : panel of shape (n_samples, channels, length)
            Labelled source, or source and target rows stacked (see ``sample_domain``
            and ``mask_label``). numpy 2D/3D, torch tensor or sktime Panel.
        y : array-like of shape (n_samples,)
            Source labels (any type); target rows of a stacked ``X`` carry
            ``mask_label``.
        X_tgt : panel, optional
            Unlabelled target panel.
        sample_domain : array-like of int, optional
            Keyword only. Per row of ``X``: >= 0 source, < 0 target (skada's convention).
        sample_weight : array-like of shape (n_samples,), optional
            Keyword only. Non-negative weight of each row of ``X`` in the source
            cross-entropy terms (multiplied by ``class_weight``); entries of target
            rows of a stacked ``X`` are not used.
        resume : bool, default=False
            Continue from the checkpoint in ``checkpoint_dir`` (written by an
            earlier, interrupted or crashed, fit with the same parameters and
            data): networks, optimisers, selector and replay memory, RNG states,
            history and stage/epoch position are restored, and the result equals
            an uninterrupted fit's. Without a checkpoint there, trains from the
            start. ``fit_time_`` covers this call only.

        Returns
        -------
        self

        Raises
        ------
        TypeError
            A fourth positional argument (``fit(X_src, y_src, X_tgt, y_tgt)``): the
            target's labels are never used to train.
        ValueError
            Invalid data or parameters; ``resume=True`` without ``checkpoint_dir``
            or with a checkpoint written for other parameters or data; a callback
            that monitors a validation column without ``train_split``.
        skrcd.persistence.ModelFileError
            An unreadable checkpoint file.
        FloatingPointError
            A value of the history became NaN or infinite (the message names stage,
            epoch and key).
            A stage left non-finite weights or outputs (the message names the stage).
        skrcd.training.checkpoints.CheckpointDirInUseError
            Another fit is using ``checkpoint_dir``.
        """
        if args:
            raise TypeError(
                f"{type(self).__name__}.fit takes X, y and X_tgt as positional arguments, got {3 + len(args)}. "
                "The target's labels are never used to train (unsupervised domain adaptation): call "
                "fit(X_src, y_src, X_tgt) and measure on the target with score(X_tgt, y_tgt). "
                "sample_domain, sample_weight and resume are keyword arguments: fit(X, y, sample_domain=sd)."
            )
        self._check_params()
        self._check_monitors()
        warm = self.warm_start and self._has_networks()
        if warm and resume:
            raise ValueError("fit(..., resume=True) restarts from a checkpoint and warm_start=True continues the "
                             "fitted networks: use one of them")
        split = split_domains(X, y, X_tgt, sample_domain, self.mask_label)
        if split.mode == "X_tgt":
            warn_x_tgt_traps(self, split.X_src.shape[0], split.X_tgt.shape[0], X_tgt)
        elif split.mode == "source_only" and sample_domain is None:
            warn_mask_label_type(split.y_src, self.mask_label)
        elif split.mode == "masked":
            warn_mask_label_rows(split.source_rows, self.mask_label)
        flat = is_flat_table(X, split.X_src)
        if not flat:
            warn_channels_last(split.X_src.shape[1], split.X_src.shape[2])
        classes, y_idx = np.unique(split.y_src, return_inverse=True)  # >= 2: split_domains checked
        self._check_sizes(split, len(classes))
        if warm:
            self._check_warm_start(classes, split.X_src.shape[1])
            self._check_warm_architecture()
        n_rows = split.X_src.shape[0] if split.source_rows is None else split.source_rows.shape[0]
        weights = None
        if sample_weight is not None:
            weights = _check_sample_weight(sample_weight, np.empty((n_rows, 0)), dtype=np.float64,
                                           ensure_non_negative=True)
            if split.source_rows is not None:
                weights = weights[split.source_rows]
        if isinstance(self.class_weight, dict):
            _check_class_weight_keys(self.class_weight, classes)
        if self.class_weight is not None:
            cw = compute_class_weight(self.class_weight, classes=classes, y=split.y_src)
            weights = cw[y_idx] if weights is None else weights * cw[y_idx]
        self.target_mode_ = split.mode
        self.classes_ = classes
        self.n_channels_ = split.X_src.shape[1]
        self.n_timepoints_ = split.X_src.shape[2]
        self.n_features_in_ = split.X_src.shape[2] if flat else self.n_channels_
        if not self.standardize:  # predict standardises as the fit did: no statistics of an earlier fit remain
            vars(self).pop("channel_mean_", None)
            vars(self).pop("channel_std_", None)
            warn_unstandardized_scale((split.X_src, split.X_tgt), ("the source data", "the target data"))
        seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        train, valid = self._validation_rows(y_idx, seed)
        X_train = split.X_src if train is None else split.X_src[train]
        source_stats = None  # the source's own statistics with standardize="domain" or "balanced"
        if self.standardize == "domain":  # each domain with its own statistics; predict uses the target's
            self.channel_mean_, self.channel_std_ = channel_stats(split.X_tgt)
            source_stats = channel_stats(X_train)
        elif self.standardize == "balanced":  # the same, as if each domain's classes were equally frequent
            source_stats, (self.channel_mean_, self.channel_std_) = balanced_domain_stats(
                X_train, y_idx if train is None else y_idx[train], split.X_tgt)
        elif self.standardize:
            self.channel_mean_, self.channel_std_ = channel_stats(X_train, split.X_tgt)
        device = resolve_device(self.device)
        self.device_ = device
        checkpoints = None
        if self.checkpoint_dir is not None or resume:
            checkpoints = FitCheckpoints(self, self.checkpoint_dir, self.checkpoint_every, resume, split, y_idx, device)
        with _TRAINING_LOCK, torch_threads(self.n_threads), torch.random.fork_rng(
            devices=[device] if device.type == "cuda" else []
        ), deferred_sigint():
            torch.manual_seed(seed)
            generator = torch.Generator().manual_seed(seed)
            y_train = y_idx if train is None else y_idx[train]
            w_train = None if weights is None else (weights if train is None else weights[train])
            data = DomainTensors(
                self._to_tensor(X_train, device, source_stats),
                torch.as_tensor(y_train, dtype=torch.long, device=device),
                self._to_tensor(split.X_tgt, device),
                None if w_train is None else torch.as_tensor(w_train, dtype=torch.float32, device=device),
            )
            valid_data = None
            if valid is not None:
                valid_data = (self._to_tensor(split.X_src[valid], device, source_stats),
                              torch.as_tensor(y_idx[valid], dtype=torch.long, device=device))
            self._fit_networks(data, device, generator, checkpoints, valid_data, warm)
        return self

    def _check_sizes(self, split, n_classes):
        """Refuse, before any work, sizes that the data make impossible or that would exceed the memory budget.

        ``stride`` must not exceed the series length (the first convolution would read one position and torch
        may crash on such strides), and the replay memory that the student stage preallocates must fit
        :data:`REPLAY_MEMORY_BUDGET`. The memory never holds more than the transitions the fit can push
        (:meth:`_replay_transitions`), whatever ``memory_capacity`` says.
        """
        length = min(split.X_src.shape[2], split.X_tgt.shape[2])
        if self.stride > length:
            raise ValueError(f"stride={self.stride} exceeds the series length ({length} time steps): the first "
                             "convolution would see one position; use a stride of at most the length")
        if isinstance(self.selection, str) and self.selection == "rl" and self.student_epochs:
            n_src = split.X_src.shape[0]
            pushes = self._replay_transitions(n_src, split.X_tgt.shape[0], self.n_episodes)
            capacity = min(self.memory_capacity, pushes)
            state_dim = self.initialize_selection().state_size(self.student_channels[-1], n_classes)
            nbytes = capacity * (2 * 4 * state_dim + 16)  # two float32 states, a long action, reward and done
            if nbytes > REPLAY_MEMORY_BUDGET:
                raise ValueError(
                    f"memory_capacity={self.memory_capacity}: this fit pushes up to {pushes} transitions of "
                    f"{state_dim} values into the replay memory, {nbytes / 2**30:.1f} GiB for {capacity} of them, "
                    f"above the budget of {REPLAY_MEMORY_BUDGET / 2**30:.0f} GiB: lower memory_capacity (e.g. "
                    f"{max(1, REPLAY_MEMORY_BUDGET // (2 * 4 * state_dim + 16))})"
                )

    def _replay_transitions(self, n_src, n_tgt, n_episodes):
        """The most transitions the student stage pushes into the replay memory: one per target window of each
        episode of each step of each epoch."""
        steps = n_steps_per_epoch(n_src, n_tgt, self.batch_size)
        return max(1, self.student_epochs * steps * n_episodes * max(2, min(self.batch_size, n_tgt)))

    def _has_networks(self):
        return hasattr(self, "classes_") and any(getattr(self, a, None) is not None for a in ("teacher_", "student_"))

    def _check_warm_start(self, classes, n_channels):
        if len(classes) != len(self.classes_) or not np.array_equal(classes, self.classes_):
            raise ValueError(f"warm_start=True continues the fitted networks, whose classes are "
                             f"{self.classes_.tolist()}; y has the classes {classes.tolist()}")
        if n_channels != self.n_channels_:
            raise ValueError(f"warm_start=True continues the fitted networks, which take {self.n_channels_} "
                             f"channels; X has {n_channels}")

    #: The parameter that sets each constructor setting of a network, for the warm-start message.
    _SETTING_PARAMETER = {("teacher", "channels"): "teacher_channels", ("student", "channels"): "student_channels",
                          ("selector", "hidden"): "selector_hidden", ("selector", "bias_noise"): "selector_bias_noise",
                          ("selector", "state_dim"): "selector_state or student_channels"}

    def _check_warm_architecture(self):
        """With ``warm_start``, refuse parameters that now build networks other than the fitted ones.

        The networks the parameters would build are constructed on the meta device (no memory, no random
        numbers) and compared with the fitted ones, module by module: type, constructor settings
        (``get_config``) and weight shapes. The first difference raises a ``ValueError`` naming it.
        """
        n_channels, n_classes = self.n_channels_, len(self.classes_)
        with torch.device("meta"):
            fresh = {"teacher": self.initialize_teacher(n_channels, n_classes),
                     "student": self.initialize_student(n_channels, n_classes)}
            fitted_teacher = getattr(self, "teacher_", None)
            if fitted_teacher is not None and getattr(self, "discriminator_", None) is not None:
                fresh["discriminator"] = self.initialize_discriminator(
                    feature_size(fitted_teacher, n_channels, self.n_timepoints_))
        for role, net in fresh.items():
            fitted = getattr(self, role + "_", None)
            if fitted is not None:
                self._compare_architecture(role, _architecture(fitted), _architecture(net))
        selector, student = getattr(self, "selector_", None), getattr(self, "student_", None)
        if isinstance(selector, DQNSelector) and isinstance(self.selection, str) and self.selection == "rl":
            strategy = self.initialize_selection()
            params = dict(strategy.selector_params)
            now = {"hidden": params.get("hidden"), "bias_noise": params.get("bias_noise")}
            if student is not None:
                now["state_dim"] = strategy.state_size(feature_size(student, n_channels, self.n_timepoints_),
                                                       n_classes)
            was = {key: getattr(selector, key) for key in now}
            self._compare_architecture("selector", [("", "DQNSelector", was)], [("", "DQNSelector", now)])

    def _compare_architecture(self, role, fitted, fresh):
        if len(fitted) != len(fresh):
            what = ("n_teachers or teacher" if role == "teacher" else role)
            raise ValueError(
                f"warm_start=True continues the fitted networks, but the parameters now build another {role}: "
                f"{len(fresh)} modules instead of the fitted {len(fitted)} (set_params changed {what}); fit with "
                "warm_start=False to train new networks, or set the parameters back"
            )
        for (name, kind, was), (_, kind_now, now) in zip(fitted, fresh):
            where = f"{role}.{name}" if name else role
            if kind != kind_now:
                raise ValueError(
                    f"warm_start=True continues the fitted networks, but the parameters now build another {role}: "
                    f"{where} is a {kind_now}, the fitted one a {kind} (set_params changed "
                    f"{'teacher' if role == 'teacher' else role}); fit with warm_start=False to train new networks"
                )
            for key in sorted(set(was) | set(now)):
                if was.get(key) != now.get(key):
                    param = self._SETTING_PARAMETER.get((role, key), key)
                    raise ValueError(
                        f"warm_start=True continues the fitted networks, but {param} changed since they were "
                        f"fitted: {where}.{key} was {was.get(key)!r} and would now be {now.get(key)!r}; fit with "
                        f"warm_start=False to train new networks, or set {param} back"
                    )

    def _all_callbacks(self):
        return [*(self.callbacks or []), *(self.teacher_callbacks or []), *(self.student_callbacks or [])]

    def _check_monitors(self):
        """Refuse, before any training, a callback that monitors a validation column when there is none."""
        if self.train_split is not None:
            return
        for cb in self._all_callbacks():
            cb = cb[1] if isinstance(cb, tuple) else cb
            monitor = getattr(cb, "monitor", None)
            if isinstance(monitor, str) and monitor.startswith("valid_"):
                raise ValueError(
                    f"{type(cb).__name__}(monitor={monitor!r}) reads a validation column, and there is no "
                    "validation data: set train_split (e.g. train_split=0.2, a stratified fifth of the labelled "
                    "source) or monitor 'train_loss' or TargetEntropy's 'target_entropy'"
                )

    def _validation_rows(self, y_idx, seed):
        """``(train, valid)`` row indices of the labelled source (``train_split``), or ``(None, None)``."""
        if self.train_split is None:
            return None, None
        splitter = self.train_split
        if not isinstance(splitter, ValidSplit):
            splitter = ValidSplit(cv=float(splitter), stratified=True, random_state=seed)
        try:
            train, valid = splitter(np.arange(len(y_idx)), y=y_idx)
        except ValueError as exc:
            raise ValueError(f"train_split={self.train_split!r} cannot split the {len(y_idx)} labelled source "
                             f"rows: {exc}") from None
        train, valid = np.asarray(train.indices), np.asarray(valid.indices)
        if len(valid) == 0 or len(np.unique(y_idx[train])) < 2:
            raise ValueError(f"train_split={self.train_split!r} leaves {len(valid)} validation rows and "
                             f"{len(np.unique(y_idx[train]))} classes to train on: the source is too small for it")
        return train, valid

    def _to_tensor(self, X, device, stats=None):
        """A validated float32 array owned by the estimator -> standardised tensor on ``device``.

        ``X`` comes from :func:`~skrcd.data.to_panel` (always a fresh copy), so the
        standardisation runs in place, on the device, with no temporary arrays.
        ``stats`` overrides the fitted ``(channel_mean_, channel_std_)``. Without either, the values are
        used raw: whether the inputs are standardised is decided by the fit (the statistics it stored), not by
        the ``standardize`` parameter, which ``set_params`` may have changed since.
        """
        t = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).to(device)
        if stats is None and getattr(self, "channel_mean_", None) is not None:
            stats = (self.channel_mean_, self.channel_std_)
        if stats is not None:
            mean, std = stats
            t.sub_(torch.as_tensor(mean, device=device)[None, :, None])
            t.div_(torch.as_tensor(std, device=device)[None, :, None])
        return t

    def _fit_networks(self, data, device, generator, checkpoints, valid=None, warm=False):
        callbacks = list(self.callbacks or [])
        if self.verbose == 1:
            callbacks.append(EpochProgressBar())
        if not warm or getattr(self, "history_", None) is None:
            self.history_ = History()
        if not warm:
            self.selector_ = None
        self.fit_time_ = {}
        self.interrupted_ = None
        ctx = FitContext(data, self.n_channels_, len(self.classes_), device, generator, self.batch_size,
                         self.history_, callbacks, net=self, checkpoints=checkpoints, valid=valid,
                         verbose=int(self.verbose),
                         role_callbacks={"teacher": list(self.teacher_callbacks or []),
                                         "student": list(self.student_callbacks or [])},
                         warm_start=warm)
        t_start = time.perf_counter()
        for name, hook in (("teacher", self.fit_teacher), ("student", self.fit_student)):
            t0 = time.perf_counter()
            ctx.role = name
            hook(ctx)
            self.fit_time_[name] = time.perf_counter() - t0
            if ctx.interrupted is not None:
                break
            self._check_finite(name, ctx)
        self.fit_time_["total"] = time.perf_counter() - t_start
        self.interrupted_ = ctx.interrupted
        if self.interrupted_ is not None:
            self._finish_interrupted()
        for net in (self.teacher_, self.student_, self.adapter_, self.discriminator_):
            if net is not None:
                net.eval()
        self.n_parameters_ = {
            k: count_parameters(getattr(self, k + "_")) for k in ("teacher", "student") if getattr(self, k + "_") is not None
        }

    def _check_finite(self, name, ctx):
        """After stage ``name``: every network's weights, and the outputs of the stage's own network on the
        training data, must be finite; otherwise a ``FloatingPointError`` names the stage and its last epoch."""
        data = {"X (source)": ctx.data.X_src, "X_tgt": ctx.data.X_tgt}
        for attr in ("teacher_", "discriminator_", "student_", "adapter_"):
            net = getattr(self, attr, None)
            if net is None:
                continue
            bad = find_non_finite(net, data if attr == name + "_" else {}, self.predict_batch_size)
            if bad is None:
                continue
            rows = [r for r in self.history_ if r.get("epoch") is not None]
            where = (f"after epoch {rows[-1]['epoch']} of stage {rows[-1]['stage']!r}" if rows
                     else f"in stage {name!r} (no epoch was trained)")
            raise FloatingPointError(
                f"{attr} has a non-finite {bad} {where}: the {name} stage diverged; lower {name}_lr or check the "
                "input scale"
            )

    def _finish_interrupted(self):
        """After a Ctrl-C: fill the attributes of stages that never ran, and warn where fit stopped."""
        for attr in ("teacher_", "discriminator_", "student_", "adapter_"):
            if not hasattr(self, attr) or getattr(self, attr) is None:
                setattr(self, attr, None)
        info = self.interrupted_
        done = f"the end of its epoch {info['epoch']}" if info["epoch"] else "its initial weights (no epoch completed)"
        msg = (f"fit interrupted in stage {info['stage']!r} during epoch {info['epoch'] + 1}/{info['n_epochs']}: "
               f"the estimator holds {done}")
        if self.student_ is None:
            msg += "; there is no student yet: predict uses the teacher"
        if self.checkpoint_dir is not None:
            msg += "; fit(..., resume=True) continues from the last checkpoint"
        warnings.warn(msg, FitInterruptedWarning, stacklevel=user_stacklevel())

    def fit_teacher(self, ctx):
        """Stage 1: build the teacher and discriminator and train them (``teacher_method``).

        Sets ``teacher_`` and ``discriminator_``. Subclasses (baselines) override
        this hook to change the stage, never the loop.

        Parameters
        ----------
        ctx : skrcd.training.FitContext
            The fit's data, shapes, device and shuffle generator; ``ctx.run(stage,
            n_epochs)`` trains a stage.
        """
        data = ctx.data
        teacher = self.fitted_network(ctx, "teacher_")
        if teacher is None:
            teacher = self.initialize_teacher(ctx.n_channels, ctx.n_classes).to(ctx.device)
        check_network_input(teacher, ctx.n_channels, {"X": data.X_src.shape[2], "X_tgt": data.X_tgt.shape[2]},
                            "teacher")
        t_feats = check_network_output(teacher, ctx.n_channels, self.n_timepoints_, ctx.n_classes, "teacher")
        self.teacher_ = teacher
        discriminator = self.fitted_network(ctx, "discriminator_")
        if discriminator is None:
            discriminator = self.initialize_discriminator(t_feats).to(ctx.device)
        self.discriminator_ = discriminator
        if self.teacher_epochs == 0:
            return
        # each member of an ensemble trains alone, one after the other; the first keeps its discriminator
        members = list(teacher.members) if isinstance(teacher, TeacherEnsemble) else [teacher]
        for i, member in enumerate(members):
            n_feats = t_feats if i == 0 else feature_size(member, ctx.n_channels, self.n_timepoints_)
            disc = discriminator if i == 0 else DomainDiscriminator(n_feats).to(ctx.device)
            for stage, n_epochs in self.teacher_stages(ctx, member, disc, n_feats):
                if i:  # distinct stage names: the history, the checkpoints and resume tell the members apart
                    stage.name = f"{stage.name}_{i + 1}"
                ctx.run(stage, n_epochs)

    def teacher_stages(self, ctx, teacher, discriminator, n_features):
        """The stages that train one teacher network for ``teacher_method``, with their epochs.

        Looks the objective up in :data:`skrcd.training.TEACHER_OBJECTIVES` (see
        :func:`skrcd.training.register_teacher_objective`).

        Parameters
        ----------
        ctx : skrcd.training.FitContext
        teacher, discriminator : torch.nn.Module
            The teacher and the domain discriminator kept for the student stage
            (CDAN trains a discriminator of its own on features x predictions).
        n_features : int
            The teacher's feature size.

        Returns
        -------
        list of (skrcd.training.TrainingStage, int)
        """
        return TEACHER_OBJECTIVES[self.teacher_method].build(self, ctx, teacher, discriminator, n_features)

    def fit_student(self, ctx):
        """Stage 2: distil the frozen teacher into the student on the target.

        Sets ``student_``, ``adapter_``, ``selector_`` and ``selection_record_``.

        Parameters
        ----------
        ctx : skrcd.training.FitContext
        """
        data, n_channels = ctx.data, ctx.n_channels
        t_feats = feature_size(self.teacher_, n_channels, self.n_timepoints_)
        student = self.fitted_network(ctx, "student_")
        if student is None:
            student = self.initialize_student(n_channels, ctx.n_classes).to(ctx.device)
        check_network_input(student, n_channels, {"X": data.X_src.shape[2], "X_tgt": data.X_tgt.shape[2]}, "student")
        s_feats = feature_size(student, n_channels, self.n_timepoints_)
        self.student_ = student
        adapter = self.fitted_network(ctx, "adapter_")
        self.adapter_ = adapter if adapter is not None else torch.nn.Linear(s_feats, t_feats).to(ctx.device)
        strategy = self.initialize_selection()
        selector = self.fitted_network(ctx, "selector_")
        if selector is not None and getattr(strategy, "selector", False) is None:  # the RL strategy: keep learning
            strategy.selector = selector
        strategy.setup(strategy.state_size(s_feats, ctx.n_classes), ctx.device)
        outputs = TeacherOutputs(self.teacher_, data, self.mc_passes, self.teacher_refresh,
                                 need_mc=strategy.needs_teacher_uncertainty)
        prior_s = source_prior(data.y_src, ctx.n_classes, data.w_src)
        prior_t = em_target_prior(outputs.tgt_logits.softmax(1), prior_s)
        self.target_prior_ = prior_t.cpu().numpy()
        source_weight = None
        if self.label_shift == "em":
            log_ratio = prior_log_ratio(prior_t, prior_s)
            outputs.set_prior_shift(log_ratio)
            source_weight = log_ratio.exp()
        augment, generator = None, None
        if self.augment is not None:
            augment = SensorAugment(**(AUGMENT_PRESETS[self.augment] if isinstance(self.augment, str)
                                       else self.augment))
            seed = int(torch.randint(2**62, (1,), generator=ctx.generator))
            generator = torch.Generator(device=ctx.device).manual_seed(seed)
        params = dict(n_episodes=self.n_episodes, temperature=self.temperature, kd_weight=self.kd_weight,
                      dc_weight=self.dc_weight, lr=self.student_lr, betas=self.betas,
                      weight_decay=self.weight_decay, dc_mode=self.dc_mode, dc_features=self.dc_features,
                      source_ce_weight=self.source_ce_weight, source_weight=source_weight, augment=augment,
                      generator=generator, consistency_weight=self.consistency_weight,
                      ema_decay=self.ema_decay, balance_classes=self.selection_balance == "class",
                      keep_ema=self.student_ema, name="student")
        params.update(self.distillation_overrides())
        selector = getattr(strategy, "selector", None)
        if isinstance(selector, DQNSelector):  # preallocate no more than the stage can ever push
            selector.memory_capacity = min(self.memory_capacity, self._replay_transitions(
                data.X_src.shape[0], data.X_tgt.shape[0], params["n_episodes"]))
        stage = self.distillation_stage(student, self.adapter_, self.discriminator_, outputs, strategy, data, **params)
        ctx.run(stage, self.student_epochs)
        if ctx.interrupted is None:
            stage.finish()
        self.selection_record_ = self._selection_record(stage, outputs)
        selector = getattr(strategy, "selector", None)
        if selector is not None:  # the replay memory and optimiser are training state, not model state
            selector.release_training_state()
            self._warn_if_collapsed()
        self.selector_ = selector

    @staticmethod
    def _selection_record(stage, outputs):
        record = stage.finish_record()
        confidence, predicted = outputs.target_probs().max(dim=1)
        record["teacher_confidence"] = confidence.cpu().numpy().astype(np.float32)
        record["teacher_class"] = predicted.cpu().numpy()
        return record

    def _warn_if_collapsed(self, window=10, low=0.05, min_windows=3):
        weights = self.selection_record_["weight"][-window:]
        if not len(weights):
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a window no epoch of the window saw
            per_window = np.nanmean(weights, axis=0)
        seen = np.isfinite(per_window)
        if not seen.any():
            return
        overall = float(per_window[seen].mean())
        problem = None
        if overall < low:
            problem = f"the target windows' mean distillation weight was {overall:.1%}: almost nothing was distilled"
        else:
            teacher_class = self.selection_record_["teacher_class"]
            starved = []
            for c in range(len(self.classes_)):
                members = seen & (teacher_class == c)
                if members.sum() >= min_windows and per_window[members].mean() < low:
                    starved.append(f"{self.classes_[c].tolist()!r} ({int(members.sum())} windows)")
            if starved:
                problem = (f"the windows the teacher assigns to class(es) {', '.join(starved)} had a mean "
                           f"distillation weight below {low:.0%}: the student was not taught them")
        if problem is None:
            return
        warnings.warn(
            f"over the last {min(window, len(weights))} student epochs {problem}. selection_record_ holds each "
            "window's share; selection_balance='class' (the default) keeps every class the teacher predicts taught, "
            "and short training settings "
            "(few student epochs or steps before learning_starts) are the usual cause of a selector that "
            "distils nothing",
            SelectionCollapseWarning, stacklevel=user_stacklevel(),
        )

    def fitted_network(self, ctx, attr):
        """With ``warm_start``, the network ``attr`` of the previous fit, on the fit's device; else None.

        The stage hooks build a new network where this returns None.

        Parameters
        ----------
        ctx : skrcd.training.FitContext
        attr : str
            ``"teacher_"``, ``"student_"``, ``"discriminator_"``, ``"adapter_"``, ``"selector_"``.

        Returns
        -------
        torch.nn.Module or None
        """
        net = getattr(self, attr, None) if ctx.warm_start else None
        return None if net is None else net.to(ctx.device)

    def distillation_overrides(self):
        """Extra settings of the student stage (:attr:`distillation_stage`; empty for RCD-KD).

        Baselines that distil differently return them here (and set
        :attr:`distillation_stage` to a stage with another
        :meth:`~skrcd.training.DistillationStage.student_loss`), and share the loop.
        """
        return {}

    # ------------------------------------------------------------ persistence
    def save(self, path):
        """Save the fitted estimator in skrcd's safe format (JSON + ``weights_only`` tensors).

        See :mod:`skrcd.persistence` for the format and its limits (custom
        modules are stored as weights only).

        Parameters
        ----------
        path : str or path-like

        Returns
        -------
        pathlib.Path
        """
        return model_file.save(self, path)

    @classmethod
    def load(cls, path, *, teacher=None, discriminator=None, device=None):
        """Load an estimator written by :meth:`save`; executes no code from the file.

        Parameters
        ----------
        path : str or path-like
        teacher, discriminator : torch.nn.Module, optional
            Same-architecture modules for a custom teacher/discriminator (see
            :func:`skrcd.persistence.load`).
        device : str or torch.device, optional
            Where to put the networks (default: the ``device`` parameter; the CPU,
            with a warning, when it asks for CUDA and there is none).

        Returns
        -------
        RCDKDClassifier
            An instance of the saved class (``cls`` or a subclass).

        Raises
        ------
        skrcd.persistence.ModelFileError
            Corrupt, truncated, foreign or newer-format file.
        """
        return model_file.load(path, cls, teacher=teacher, discriminator=discriminator, device=device)

    def export_student(self, path, format="onnx", *, network="student", quantize=None, calibration_data=None,
                       optimize=True):
        """Export the student (or the teacher), input standardisation included, for deployment.

        Input: raw float32 windows ``(batch, channels, length)``, any batch size;
        output: the probabilities of :meth:`predict_proba`. See
        :func:`skrcd.export.export_student` and ``docs/deploy.md``.

        Parameters
        ----------
        path : str or path-like
        format : {"onnx", "torchscript"}, default="onnx"
        network : {"student", "teacher"}, default="student"
        quantize : {None, "int8"}, default=None
            ``"int8"``: a statically quantised ONNX file (ONNX Runtime's tool),
            calibrated on ``calibration_data``.
        calibration_data : panel of shape (n_windows, channels, length), optional
            Raw unlabelled target windows (e.g. the ``X_tgt`` of ``fit``); required
            with ``quantize="int8"``.
        optimize : bool, default=True
            ONNX only: write the faster inference form (batch norm and
            standardisation folded into the convolutions).

        Returns
        -------
        pathlib.Path
        """
        from .export import export_student

        return export_student(self, path, format, network=network, quantize=quantize,
                              calibration_data=calibration_data, optimize=optimize)

    # ---------------------------------------------------------------- predict
    def _network(self, network):
        check_is_fitted(self, "student_")
        if network not in ("student", "teacher"):
            raise ValueError(f"network must be 'student' or 'teacher', got {network!r}")
        net = self.student_ if network == "student" else self.teacher_
        if net is None and network == "student" and getattr(self, "interrupted_", None) and self.teacher_ is not None:
            warnings.warn(
                f"fit was interrupted in stage {self.interrupted_['stage']!r} before the student was trained: "
                "using the teacher", FitInterruptedWarning, stacklevel=4,
            )
            net = self.teacher_
        if net is None:
            raise ValueError(f"this {type(self).__name__} has no {network} network")
        return net

    def _forward(self, X, network, output):
        self._check_params(("predict_batch_size", "n_threads", "device"))  # set_params or load may have changed them
        net = self._network(network)
        Xa = to_panel(X, "X")
        check_same_channels(Xa, self.n_channels_, "X", "the data seen in fit")
        fitted_on_table = self.n_channels_ == 1 and self.n_features_in_ == self.n_timepoints_
        check_n_features(X, Xa, self.n_features_in_, fitted_on_table, type(self).__name__)
        check_length(Xa, self.n_timepoints_, net, "X", network, stacklevel=4)
        device = next(net.parameters()).device
        outs = []
        with torch_threads(self.n_threads), torch.inference_mode():
            net.eval()
            for i in range(0, Xa.shape[0], self.predict_batch_size):
                logits, feats = net(self._to_tensor(Xa[i : i + self.predict_batch_size], device))
                if output == "proba":
                    outs.append(torch.softmax(logits, dim=1))
                elif output == "features":
                    outs.append(feats)
                else:
                    outs.append(logits)
        return torch.cat(outs).cpu().numpy()

    def predict_proba(self, X, network="student", *, sample_domain=None, allow_source=False):
        """Class probabilities of the student (or the teacher).

        Parameters
        ----------
        X : panel of shape (n_samples, channels, length)
        network : {"student", "teacher"}, default="student"
        sample_domain : array-like of int, optional
            skada's domain of each row; accepted for skada pipelines and scorers
            (only its length is checked): the network predicts every row alike.
        allow_source : bool, default=False
            Accepted for skada; source rows are always allowed.

        Returns
        -------
        numpy.ndarray of shape (n_samples, n_classes)
        """
        proba = self._forward(X, network, "proba")
        check_sample_domain(sample_domain, proba.shape[0])
        warn_masked_rows_scored(proba.shape[0], self.mask_label)
        return proba

    def predict(self, X, network="student", *, sample_domain=None, allow_source=False):
        """Predicted class labels of the student (or the teacher).

        Parameters
        ----------
        X : panel of shape (n_samples, channels, length)
        network : {"student", "teacher"}, default="student"
        sample_domain : array-like of int, optional
            Accepted for skada (see :meth:`predict_proba`).
        allow_source : bool, default=False
            Accepted for skada (see :meth:`predict_proba`).

        Returns
        -------
        numpy.ndarray of shape (n_samples,)
        """
        logits = self._forward(X, network, "logits")
        check_sample_domain(sample_domain, logits.shape[0])
        warn_masked_rows_scored(logits.shape[0], self.mask_label)
        return self.classes_[logits.argmax(axis=1)]

    def score(self, X, y, sample_weight=None, *, sample_domain=None, allow_source=False):
        """Mean accuracy of the student on the labelled rows of ``X``.

        Rows labelled ``mask_label`` (unlabelled target rows of the stacked form)
        are skipped, so a cross-validation over stacked source and target rows
        scores the held-out labelled rows only.

        Parameters
        ----------
        X : panel of shape (n_samples, channels, length)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional
        sample_domain : array-like of int, optional
            Accepted for skada (see :meth:`predict_proba`).
        allow_source : bool, default=False
            Accepted for skada (see :meth:`predict_proba`).

        Returns
        -------
        float

        Raises
        ------
        ValueError
            If every row is labelled ``mask_label``.
        """
        y_pred = self.predict(X, sample_domain=sample_domain, allow_source=allow_source)
        return masked_accuracy(check_labels(y, y_pred.shape[0], "y"), y_pred, self.mask_label, sample_weight)

    def predict_features(self, X, network="student"):
        """Feature vectors (before the classification head) of the student or teacher.

        Parameters
        ----------
        X : panel of shape (n_samples, channels, length)
        network : {"student", "teacher"}, default="student"

        Returns
        -------
        numpy.ndarray of shape (n_samples, n_features)
        """
        return self._forward(X, network, "features")

    @property
    def module_(self):
        """The network ``predict`` uses (the student), under skorch's name.

        skada's ``DeepEmbeddedValidation`` scorer checks ``module_.layer_name`` (the
        student's class declares ``"encoder"``, the part of the network before the
        classifier head) and then reads features through :meth:`predict_features`.
        Reading it changes nothing.
        """
        return self._network("student")
