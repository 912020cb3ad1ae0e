"""The scikit-learn estimator: :class:`RCDKDClassifier`."""

from __future__ import annotations

import copy
import os
import time
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted, check_random_state
from skorch.history import History

from ._device import resolve_device, torch_threads
from ._param_validation import (
    Device,
    HasMethods,
    InstanceOf,
    Interval,
    InvalidParameterError,
    Options,
    SequenceOf,
    validate_params,
)
from ._traps import warn_x_tgt_traps
from .data import (
    channel_stats,
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
from .domains import _is_masked, check_sample_domain, split_domains
from .nn.networks import CNN1D, TCN, DomainDiscriminator, count_parameters, feature_size
from .persistence import model_file
from .persistence.model_file import ModelFileMixin
from .selection.strategies import SelectionStrategy, make_selection
from .training.callbacks import EpochProgressBar
from .training.checkpoints import FitCheckpoints
from .training.interrupt import FitInterruptedWarning, deferred_sigint
from .training.loop import FitContext
from .training.stages import DANNStage, DistillationStage, DomainTensors
from .training.teacher_cache import TeacherOutputs
from .training.transaction import fit_transaction

__all__ = ["RCDKDClassifier"]

_POSITIVE_INT, _COUNT = Interval(Integral, 1, None), Interval(Integral, 0, None)
_POSITIVE, _NON_NEGATIVE = Interval(Real, 0, None, closed="neither"), Interval(Real, 0, None)
_MODULE = InstanceOf(torch.nn.Module, "a torch.nn.Module")


class RCDKDClassifier(ModelFileMixin, ClassifierMixin, BaseEstimator):
    """Reinforced Cross-Domain Knowledge Distillation (RCD-KD) for time series.

    ``fit`` trains a wide teacher with DANN on the labelled source and the
    unlabelled target, then distils it into a compact student on the target: a
    temperature-scaled KD loss on the samples a reinforced selector (dueling double
    DQN with noisy layers) picks, plus adversarial domain confusion against the
    teacher's discriminator. ``predict`` uses the student.

    Defaults are the paper's UCI-HAR settings (Xu et al., NeurIPS 2024).

    Parameters
    ----------
    teacher : {"cnn", "tcn"} or torch.nn.Module, default="cnn"
        Teacher network. A module must return ``(logits, features)``; pass
        ``teacher_epochs=0`` to use it as already trained.
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
    standardize : {"domain", "joint"} or bool, default="domain"
        ``"domain"``: standardise each channel of each domain with that domain's
        mean and standard deviation (removes per-domain gain and offset), and use
        the target's statistics in ``predict``. ``True``/``"joint"``: one set of
        statistics from the source and target training data together. ``False``:
        raw values. Statistics are stored (``channel_mean_``, ``channel_std_``).
        ``"domain"`` gave a markedly better teacher on UCI-HAR (see
        ``docs/results/experiments``).
    teacher_epochs : int, default=80
        Epochs of DANN teacher training (0 skips it).
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
        Weight of the DANN domain loss in the teacher stage.
    kd_weight : float, default=10.0
        Weight of the distillation loss.
    dc_weight : float, default=1.0
        Weight of the adversarial domain-confusion loss of the student stage.
    dc_mode : {"grl", "flip"}, default="grl"
        How the student and adapter fool the discriminator: a gradient-reversal
        layer (minimax on one loss) or flipped domain labels (a separate,
        non-saturating loss); the discriminator keeps learning in both.
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
    selection : {"rl", "all", "random"} or SelectionStrategy, default="rl"
        Sample selection: the reinforced selector, every sample (KD ablation), or a
        random half.
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
        Replay memory capacity.
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
        Extra callbacks; each gets ``on_train_begin``/``on_epoch_end``/
        ``on_train_end`` per stage with the estimator as ``net``.
    checkpoint_dir : str, path-like or None, default=None
        Directory of training checkpoints (created if missing; one directory per
        fit, not shared between concurrent fits): ``checkpoint.skrcd`` is
        rewritten atomically every ``checkpoint_every`` epochs and at the end of
        each stage. ``fit(..., resume=True)`` continues from it. None writes none.
    checkpoint_every : int, default=5
        Epochs between checkpoints (used only with ``checkpoint_dir``).
    random_state : int, RandomState or None, default=None
        Seed of weights, shuffles, dropout and selector noise.
    verbose : int, default=0
        ``> 0`` shows a progress bar over each stage's epochs.

    Attributes
    ----------
    teacher_ : torch.nn.Module
        The trained teacher.
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
        One row per epoch of each stage (``stage``, ``epoch``, losses, ``selected``,
        ``reward``, ``dqn_loss``, ``dur``).
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

    # Every __init__ parameter and the values it takes, checked by fit before any work (and the three that
    # predict uses, by predict). A new parameter adds one line here.
    _parameter_constraints = {
        "teacher": [Options("cnn", "tcn"), _MODULE],
        "discriminator": [None, _MODULE],
        "teacher_channels": [None, SequenceOf(_POSITIVE_INT, min_length=1)],
        "student_channels": [SequenceOf(_POSITIVE_INT, length=3)],
        "kernel_size": [_POSITIVE_INT],
        "stride": [_POSITIVE_INT],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "standardize": [Options("domain", "joint", True, False)],
        "teacher_epochs": [_COUNT],
        "student_epochs": [_COUNT],
        "batch_size": [_POSITIVE_INT],
        "teacher_lr": [_POSITIVE],
        "student_lr": [_POSITIVE],
        "betas": [SequenceOf(Interval(Real, 0, 1, closed="left"), length=2)],
        "weight_decay": [_NON_NEGATIVE],
        "teacher_domain_weight": [_NON_NEGATIVE],
        "kd_weight": [_NON_NEGATIVE],
        "dc_weight": [_NON_NEGATIVE],
        "dc_mode": [Options("grl", "flip")],
        "temperature": [_POSITIVE],
        "n_episodes": [_POSITIVE_INT],
        "mc_passes": [_POSITIVE_INT],
        "teacher_refresh": [Options("fit", "epoch", "batch", "episode")],
        "selection": [Options("rl", "all", "random"), InstanceOf(SelectionStrategy, "a SelectionStrategy")],
        "alpha1": [_NON_NEGATIVE],
        "alpha2": [_NON_NEGATIVE],
        "reward_baseline": [Options("batch", "class")],
        "selector_hidden": [_POSITIVE_INT],
        "selector_sigma0": [_NON_NEGATIVE],
        "selector_gamma": [Interval(Real, 0, 1, closed="both")],
        "selector_lr": [_POSITIVE],
        "selector_batch_size": [_POSITIVE_INT],
        "memory_capacity": [_POSITIVE_INT],
        "learning_starts": [_COUNT],
        "selector_tau": [Interval(Real, 0, 1, closed="right")],
        "mask_label": [None, str, Interval(Real)],
        "device": [Device()],
        "n_threads": [None, _POSITIVE_INT],
        "predict_batch_size": [_POSITIVE_INT],
        "callbacks": [None, SequenceOf(HasMethods("on_train_begin", "on_epoch_end", "on_train_end"))],
        "checkpoint_dir": [None, InstanceOf((str, os.PathLike), "a str or path-like")],
        "checkpoint_every": [_POSITIVE_INT],
        "random_state": [None, Interval(Integral, 0, 2**32 - 1), InstanceOf(np.random.RandomState, "a RandomState")],
        "verbose": [_COUNT, Options(True, False)],
    }

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
        kd_weight=10.0,
        dc_weight=1.0,
        dc_mode="grl",
        temperature=2.0,
        n_episodes=5,
        mc_passes=10,
        teacher_refresh="fit",
        selection="rl",
        alpha1=0.2,
        alpha2=1.8,
        reward_baseline="class",
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
        checkpoint_dir=None,
        checkpoint_every=5,
        random_state=None,
        verbose=0,
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
        self.kd_weight = kd_weight
        self.dc_weight = dc_weight
        self.dc_mode = dc_mode
        self.temperature = temperature
        self.n_episodes = n_episodes
        self.mc_passes = mc_passes
        self.teacher_refresh = teacher_refresh
        self.selection = selection
        self.alpha1 = alpha1
        self.alpha2 = alpha2
        self.reward_baseline = reward_baseline
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
        if self.teacher_epochs == 0 and not teacher_module:
            raise InvalidParameterError("teacher_epochs=0 skips teacher training: pass a trained teacher module")
        if self.teacher == "cnn" and self.teacher_channels is not None and len(self.teacher_channels) != 3:
            raise InvalidParameterError(
                f"teacher_channels must hold 3 widths for the CNN teacher, got {self.teacher_channels!r}"
            )

    def initialize_teacher(self, n_channels, n_classes):
        """Build (or copy) the teacher network."""
        if isinstance(self.teacher, torch.nn.Module):
            return copy.deepcopy(self.teacher)
        if self.teacher == "tcn":
            return TCN(n_channels, n_classes, channels=self.teacher_channels or (75, 150), dropout=self.dropout)
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
                hidden=self.selector_hidden,
                sigma0=self.selector_sigma0, gamma=self.selector_gamma, lr=self.selector_lr,
                batch_size=self.selector_batch_size, memory_capacity=self.memory_capacity,
                learning_starts=self.learning_starts, target_tau=self.selector_tau,
            )
        return copy.deepcopy(make_selection(self.selection))

    # -------------------------------------------------------------------- fit
    @property
    def history(self):
        """Alias of ``history_`` for skorch callbacks."""
        return self.history_

    @fit_transaction
    def fit(self, X, y, X_tgt=None, sample_domain=None, resume=False):
        """Train the teacher (DANN), then distil it into the student on the target.

        Ctrl-C stops training at the end of the current step: the estimator keeps
        the last completed epoch of the running stage, ``interrupted_`` says
        where, and a :class:`~skrcd.training.FitInterruptedWarning` is issued; a
        second Ctrl-C raises :class:`KeyboardInterrupt` at once. A fit that
        raises (a second Ctrl-C included) leaves the estimator as it was before
        the call: unfitted, or with its previous model.

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
            Per row of ``X``: >= 0 source, < 0 target (skada's convention).
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
        ValueError
            Invalid data or parameters; ``resume=True`` without ``checkpoint_dir``
            or with a checkpoint written for other parameters or data.
        skrcd.persistence.ModelFileError
            An unreadable checkpoint file.
        FloatingPointError
            A loss became NaN or infinite, or a stage left non-finite weights or
            outputs (the message names stage and epoch).
        skrcd.training.checkpoints.CheckpointDirInUseError
            Another fit is using ``checkpoint_dir``.
        """
        self._check_params()
        split = split_domains(X, y, X_tgt, sample_domain, self.mask_label)
        if split.mode == "X_tgt":
            warn_x_tgt_traps(self, split.X_src.shape[0], split.X_tgt.shape[0])
        self.target_mode_ = split.mode
        self.classes_, y_idx = np.unique(split.y_src, return_inverse=True)  # >= 2: split_domains checked
        self.n_channels_ = split.X_src.shape[1]
        self.n_timepoints_ = split.X_src.shape[2]
        self.n_features_in_ = split.X_src.shape[2] if is_flat_table(X, split.X_src) else self.n_channels_
        if not self.standardize:
            warn_unstandardized_scale((split.X_src, split.X_tgt), ("the source data", "the target data"), stacklevel=4)
        source_stats = None  # the source's own statistics with standardize="domain"
        if self.standardize == "domain":  # each domain with its own statistics; predict uses the target's
            self.channel_mean_, self.channel_std_ = channel_stats(split.X_tgt)
            source_stats = channel_stats(split.X_src)
        elif self.standardize:
            self.channel_mean_, self.channel_std_ = channel_stats(split.X_src, split.X_tgt)
        seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        device = resolve_device(self.device)
        self.device_ = device
        checkpoints = None
        if self.checkpoint_dir is not None or resume:
            checkpoints = FitCheckpoints(self, self.checkpoint_dir, self.checkpoint_every, resume, split, y_idx, device)
        with torch_threads(self.n_threads), torch.random.fork_rng(
            devices=[device] if device.type == "cuda" else []
        ), deferred_sigint():
            torch.manual_seed(seed)
            generator = torch.Generator().manual_seed(seed)
            data = DomainTensors(
                self._to_tensor(split.X_src, device, source_stats),
                torch.as_tensor(y_idx, dtype=torch.long, device=device),
                self._to_tensor(split.X_tgt, device),
            )
            self._fit_networks(data, device, generator, checkpoints)
        return self

    def _to_tensor(self, X, device, stats=None):
        """A validated float32 array owned by the estimator -> standardised tensor on ``device``.

        ``X`` comes from :func:`~skrcd.data.to_panel` (always a fresh copy), so the
        standardisation runs in place, on the device, with no temporary arrays.
        ``stats`` overrides the fitted ``(channel_mean_, channel_std_)``.
        """
        t = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).to(device)
        if self.standardize:
            mean, std = stats if stats is not None else (self.channel_mean_, self.channel_std_)
            t.sub_(torch.as_tensor(mean, device=device)[None, :, None])
            t.div_(torch.as_tensor(std, device=device)[None, :, None])
        return t

    def _fit_networks(self, data, device, generator, checkpoints):
        callbacks = list(self.callbacks or [])
        if self.verbose:
            callbacks.append(EpochProgressBar())
        self.history_ = History()
        self.fit_time_ = {}
        self.selector_ = None
        self.interrupted_ = None
        ctx = FitContext(data, self.n_channels_, len(self.classes_), device, generator, self.batch_size,
                         self.history_, callbacks, net=self, checkpoints=checkpoints)
        t_start = time.perf_counter()
        for name, hook in (("teacher", self.fit_teacher), ("student", self.fit_student)):
            t0 = time.perf_counter()
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
        warnings.warn(msg, FitInterruptedWarning, stacklevel=5)

    def fit_teacher(self, ctx):
        """Stage 1: build the teacher and discriminator and train them with DANN.

        Sets ``teacher_`` and ``discriminator_``. Subclasses (baselines) override
        this hook to change the stage, never the loop.

        Parameters
        ----------
        ctx : skrcd.training.FitContext
            The fit's data, shapes, device and shuffle generator; ``ctx.run(stage,
            n_epochs)`` trains a stage.
        """
        data = ctx.data
        teacher = self.initialize_teacher(ctx.n_channels, ctx.n_classes).to(ctx.device)
        check_network_input(teacher, ctx.n_channels, {"X": data.X_src.shape[2], "X_tgt": data.X_tgt.shape[2]},
                            "teacher")
        t_feats = check_network_output(teacher, ctx.n_channels, self.n_timepoints_, ctx.n_classes, "teacher")
        self.teacher_ = teacher
        self.discriminator_ = self.initialize_discriminator(t_feats).to(ctx.device)
        if self.teacher_epochs > 0:
            stage = DANNStage(teacher, self.discriminator_, data, self.teacher_lr, self.betas, self.weight_decay,
                              self.teacher_domain_weight, name="teacher")
            ctx.run(stage, self.teacher_epochs)

    def fit_student(self, ctx):
        """Stage 2: distil the frozen teacher into the student on the target.

        Sets ``student_``, ``adapter_`` and ``selector_``.

        Parameters
        ----------
        ctx : skrcd.training.FitContext
        """
        data, n_channels = ctx.data, ctx.n_channels
        t_feats = feature_size(self.teacher_, n_channels, self.n_timepoints_)
        student = self.initialize_student(n_channels, ctx.n_classes).to(ctx.device)
        check_network_input(student, n_channels, {"X": data.X_src.shape[2], "X_tgt": data.X_tgt.shape[2]}, "student")
        s_feats = feature_size(student, n_channels, self.n_timepoints_)
        self.student_ = student
        self.adapter_ = torch.nn.Linear(s_feats, t_feats).to(ctx.device)
        strategy = self.initialize_selection()
        strategy.setup(s_feats, ctx.device)
        outputs = TeacherOutputs(self.teacher_, data, self.mc_passes, self.teacher_refresh,
                                 need_mc=strategy.needs_teacher_uncertainty)
        params = dict(n_episodes=self.n_episodes, temperature=self.temperature, kd_weight=self.kd_weight,
                      dc_weight=self.dc_weight, lr=self.student_lr, betas=self.betas,
                      weight_decay=self.weight_decay, dc_mode=self.dc_mode, name="student")
        params.update(self.distillation_overrides())
        stage = DistillationStage(student, self.adapter_, self.discriminator_, outputs, strategy, data, **params)
        ctx.run(stage, self.student_epochs)
        selector = getattr(strategy, "selector", None)
        if selector is not None:  # the replay memory and optimiser are training state, not model state
            selector.release_training_state()
        self.selector_ = selector

    def distillation_overrides(self):
        """Extra :class:`~skrcd.training.DistillationStage` settings (empty for RCD-KD).

        Baselines that distil differently (other loss terms, other batch) return
        them here, and share the stage and loop.
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
        from sklearn.metrics import accuracy_score

        from .data import check_labels

        y_pred = self.predict(X, sample_domain=sample_domain, allow_source=allow_source)
        y = check_labels(y, y_pred.shape[0], "y")
        labelled = ~_is_masked(y, self.mask_label)
        if not labelled.any():
            raise ValueError(f"every row of y carries the mask label {self.mask_label!r}: nothing to score")
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight)[labelled]
        return float(accuracy_score(y[labelled], y_pred[labelled], sample_weight=sample_weight))

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

        skada's ``DeepEmbeddedValidation`` scorer checks ``module_.layer_name`` and
        then reads features through :meth:`predict_features`; ``layer_name`` is
        set to ``"encoder"`` (the part of the network before the classifier head).
        """
        net = self._network("student")
        if getattr(net, "layer_name", None) is None:
            net.layer_name = "encoder"
        return net
