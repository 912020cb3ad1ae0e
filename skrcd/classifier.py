"""The scikit-learn estimator: :class:`RCDKDClassifier`."""

from __future__ import annotations

import copy

import torch
from sklearn.base import BaseEstimator, ClassifierMixin

from ._estimator_checks import (
    check_monitors,
    check_param_rules,
    replay_transitions,
    with_callback_params,
)
from ._fit_data import prepare_fit_data
from ._inference import forward, network_of
from ._param_validation import validate_params
from ._parameters import PARAMS_SCHEMA, document_parameters, parameter_constraints, teacher_names, upgrade_params
from ._traps import warn_masked_rows_scored
from .data import check_labels, check_network_input, check_network_output
from .domains import check_sample_domain
from .metrics import masked_accuracy
from .nn.augment import AUGMENT_PRESETS, SensorAugment
from .nn.label_shift import em_target_prior, prior_log_ratio, source_prior
from .nn.networks import CNN1D, TCN, DomainDiscriminator, TeacherEnsemble, TimeFrequencyCNN, feature_size
from .persistence import model_file
from .persistence.model_file import ModelFileMixin
from .selection.dqn import DQNSelector
from .selection.record import SelectionCollapseWarning, warn_if_collapsed, window_record
from .selection.strategies import make_selection
from .training.adaptation import TEACHER_OBJECTIVES
from .training.averaging import WeightAverage
from .training.fit import train_networks
from .training.stages import DistillationStage
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
    "selection": "rl",
    "selection_balance": "none",
}


# the docstring's {parameters} line is rendered from the parameter table, skrcd/_parameters.py
@document_parameters
class RCDKDClassifier(ModelFileMixin, ClassifierMixin, BaseEstimator):
    """Reinforced Cross-Domain Knowledge Distillation (RCD-KD) for time series.

    ``fit`` trains a wide teacher with domain adaptation (VADA by default; DANN in
    the paper) on the labelled source and the unlabelled target, then distils it into a compact student on the target: a
    temperature-scaled KD loss on every target sample (``selection="all"``, the
    default) or on the samples a reinforced selector (dueling double DQN with noisy
    layers; ``selection="rl"``, the paper's method) picks, plus the student's own domain adaptation: its
    cross-entropy on the source labels and adversarial confusion of the teacher's
    kept discriminator between its source and target features (the paper: between
    the teacher's source features and the student's target features). ``predict``
    uses the student.

    Defaults are the paper's UCI-HAR settings (Xu et al., NeurIPS 2024) except where
    paired measurements favoured another choice (``docs/method.md`` lists each, and
    :data:`~skrcd.PAPER_PARAMS` restores the paper's configuration).

    Parameters
    ----------
    {parameters}

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
    >>> clf = RCDKDClassifier(teacher_epochs=2, student_epochs=2, random_state=0)
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

    # Every __init__ parameter and the values it takes (skrcd._parameters), checked by fit before any work (and
    # the three that predict uses, by predict).
    _parameter_constraints = parameter_constraints()
    #: The parameter schema of the model files it writes; ``_upgrade_params`` brings the parameters of an older
    #: file to it (:mod:`skrcd.persistence.model_file`).
    _params_schema = PARAMS_SCHEMA
    _upgrade_params = staticmethod(upgrade_params)

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
            setattr(self, head, with_callback_params(getattr(self, head), values, head))
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
        teacher_vat_every=1,
        teacher_swa_start=None,
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
        selection="all",
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
        self.teacher_vat_every = teacher_vat_every
        self.teacher_swa_start = teacher_swa_start
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
        check_param_rules(self)

    def initialize_teacher(self, n_channels, n_classes):
        """Build (or copy) the teacher network: a :class:`~skrcd.nn.TeacherEnsemble` of ``n_teachers`` networks
        when there are several."""
        if isinstance(self.teacher, torch.nn.Module):
            return copy.deepcopy(self.teacher)
        members = [self._teacher_network(name, n_channels, n_classes)
                   for name in teacher_names(self.teacher, self.n_teachers)]
        return members[0] if len(members) == 1 else TeacherEnsemble(members)

    def _teacher_network(self, name, n_channels, n_classes):
        """One teacher network of kind ``name`` (``"cnn"``, ``"tfcnn"`` or ``"tcn"``)."""
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
        check_monitors(self)
        warm = self.warm_start and self._has_networks()
        if warm and resume:
            raise ValueError("fit(..., resume=True) restarts from a checkpoint and warm_start=True continues the "
                             "fitted networks: use one of them")
        data = prepare_fit_data(self, X, y, X_tgt, sample_domain, sample_weight, warm)
        self.target_mode_ = data.split.mode
        self.classes_ = data.classes
        self.n_channels_ = data.split.X_src.shape[1]
        self.n_timepoints_ = data.split.X_src.shape[2]
        self.n_features_in_ = self.n_timepoints_ if data.flat else self.n_channels_
        # predict standardises as the fit did: no statistics of an earlier fit remain
        vars(self).pop("channel_mean_", None)
        vars(self).pop("channel_std_", None)
        if data.stats is not None:
            self.channel_mean_, self.channel_std_ = data.stats
        train_networks(self, data, resume, warm)
        return self

    def _has_networks(self):
        return hasattr(self, "classes_") and any(getattr(self, a, None) is not None for a in ("teacher_", "student_"))

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
            stages = self.teacher_stages(ctx, member, disc, n_feats)
            if self.teacher_swa_start is not None:  # the member's last stage averages its weights
                stages[-1][0].average = WeightAverage(member, start=self.teacher_swa_start)
            for stage, n_epochs in stages:
                if i:  # distinct stage names: the history, the checkpoints and resume tell the members apart
                    stage.name = f"{stage.name}_{i + 1}"
                if ctx.run(stage, n_epochs):  # not after a Ctrl-C
                    stage.finish()

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
            selector.memory_capacity = min(self.memory_capacity, replay_transitions(self, 
                data.X_src.shape[0], data.X_tgt.shape[0], params["n_episodes"]))
        stage = self.distillation_stage(student, self.adapter_, self.discriminator_, outputs, strategy, data, **params)
        if ctx.run(stage, self.student_epochs):  # not after a Ctrl-C
            stage.finish()
        self.selection_record_ = window_record(stage, outputs)
        selector = getattr(strategy, "selector", None)
        if selector is not None:  # the replay memory and optimiser are training state, not model state
            selector.release_training_state()
            warn_if_collapsed(self.selection_record_, self.classes_)
        self.selector_ = selector

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
        proba = forward(self, X, network, "proba")
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
        logits = forward(self, X, network, "logits")
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
        return forward(self, X, network, "features")

    @property
    def module_(self):
        """The network ``predict`` uses (the student), under skorch's name.

        skada's ``DeepEmbeddedValidation`` scorer checks ``module_.layer_name`` (the
        student's class declares ``"encoder"``, the part of the network before the
        classifier head) and then reads features through :meth:`predict_features`.
        Reading it changes nothing.
        """
        return network_of(self, "student")
