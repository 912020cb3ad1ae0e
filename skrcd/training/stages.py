"""The training stages: what one optimisation step of each method does.

:func:`skrcd.training.run_stage` runs any of them. A stage (:class:`DANNStage`,
:class:`SourceOnlyStage`, :class:`DistillationStage`) holds its networks and
optimiser and returns, from each step, a dict of detached tensors to log; the loop
averages them over the epoch. A key ``"_n_" + key`` in that dict gives the number of
values summed under ``key`` in the step (the distillation stage logs once per
episode); without it the loop divides by the number of steps.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch.nn import functional as F

from ..nn.losses import coral_loss, dann_coefficient, distillation_loss, domain_adversarial_loss
from ..selection.record import SelectionRecord
from ..selection.strategies import class_balanced_weights
from .averaging import WeightAverage

__all__ = ["DomainTensors", "TrainingStage", "DANNStage", "SourceOnlyStage", "DistillationStage",
           "SourceDistillationStage", "CoralDistillationStage", "source_cross_entropy"]


@dataclass
class DomainTensors:
    """Training data of one fit, already validated, as tensors on the model's device.

    Attributes
    ----------
    X_src : torch.Tensor of shape (n_src, channels, length)
    y_src : torch.Tensor of shape (n_src,), long
    X_tgt : torch.Tensor of shape (n_tgt, channels, length)
    w_src : torch.Tensor of shape (n_src,) or None
        Weight of each source row in the source cross-entropy terms
        (``class_weight`` times ``sample_weight``); None: unweighted.

    Examples
    --------
    >>> import torch
    >>> data = DomainTensors(torch.zeros(4, 2, 8), torch.tensor([0, 1, 0, 1]), torch.zeros(3, 2, 8))
    >>> data.X_tgt.shape[0]
    3
    """

    X_src: torch.Tensor
    y_src: torch.Tensor
    X_tgt: torch.Tensor
    w_src: torch.Tensor | None = None


def source_cross_entropy(logits, data, idx):
    """Cross-entropy of the source rows ``idx`` against their labels, weighted by ``data.w_src`` if set.

    The weighted form is ``sum(w * loss) / sum(w)`` over the batch, the mean
    ``torch.nn.functional.cross_entropy`` computes with class weights.

    Parameters
    ----------
    logits : torch.Tensor of shape (len(idx), n_classes)
    data : DomainTensors
    idx : torch.Tensor
        Source row indices of the batch.

    Returns
    -------
    torch.Tensor
        A scalar.

    Examples
    --------
    >>> import torch
    >>> data = DomainTensors(torch.zeros(2, 1, 4), torch.tensor([0, 1]), torch.zeros(2, 1, 4))
    >>> logits = torch.tensor([[2.0, 0.0], [2.0, 0.0]])
    >>> plain = source_cross_entropy(logits, data, torch.arange(2))
    >>> data.w_src = torch.tensor([1.0, 0.0])  # the second row does not count
    >>> bool(source_cross_entropy(logits, data, torch.arange(2)) < plain)
    True
    """
    y = data.y_src[idx]
    if data.w_src is None:
        return F.cross_entropy(logits, y)
    w = data.w_src[idx]
    return (F.cross_entropy(logits, y, reduction="none") * w).sum() / w.sum().clamp_min(1e-12)


class TrainingStage:
    """One stage of training; the loop calls its hooks.

    Subclasses set ``name`` and implement :meth:`train_step`.

    Examples
    --------
    >>> import torch
    >>> class Nothing(TrainingStage):
    ...     name = "nothing"
    ...     def train_step(self, src_idx, tgt_idx, progress):
    ...         return {"loss": torch.tensor(0.0)}
    >>> Nothing().train_step(None, None, 0.0)
    {'loss': tensor(0.)}
    """

    name = "stage"

    #: A :class:`~skrcd.training.WeightAverage` of the network this stage trains, updated at the end of each
    #: epoch and copied into the network by :meth:`finish` (the teacher's ``teacher_swa_start``), or None.
    average = None

    def modules(self):
        """Modules trained by this stage (put in train mode at each epoch)."""
        return []

    def on_epoch_begin(self, epoch, n_epochs):
        """Called before the first step of an epoch (0-based)."""
        for m in self.modules():
            m.train()

    def on_epoch_end(self, epoch, n_epochs):
        """Called after the last step of an epoch (0-based), before checkpoints are written."""
        if self.average is not None:
            self.average.on_epoch_end(epoch, n_epochs)

    def finish(self):
        """End of a stage that ran to its end (not after a Ctrl-C): the network takes its ``average``, if any."""
        if self.average is not None:
            self.average.apply()

    def train_step(self, src_idx, tgt_idx, progress):
        """One optimisation step on the given rows; return a dict of detached tensors to log."""
        raise NotImplementedError

    def state_dict(self):
        """Training state between epochs: weights of :meth:`modules` and the ``optimizer``'s state.

        Used by checkpoints and by the loop's roll-back on Ctrl-C; stages holding
        more state extend it.

        Returns
        -------
        dict
            ``{"modules": [state dict per module], "optimizer": state dict}``
            (references to the live tensors, not copies).
        """
        state = {"modules": [m.state_dict() for m in self.modules()]}
        optimizer = getattr(self, "optimizer", None)
        if optimizer is not None:
            state["optimizer"] = optimizer.state_dict()
        if self.average is not None:
            state["average"] = self.average.state_dict()
        return state

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned.

        Parameters
        ----------
        state : dict
        """
        modules = self.modules()
        if len(modules) != len(state["modules"]):
            raise ValueError(f"stage {self.name!r} has {len(modules)} modules, the state {len(state['modules'])}")
        for m, sd in zip(modules, state["modules"]):
            m.load_state_dict(sd)
        if "optimizer" in state:
            self.optimizer.load_state_dict(state["optimizer"])
        if self.average is not None:
            self.average.load_state_dict(state["average"])


def _adam(params, lr, betas, weight_decay):
    return torch.optim.Adam(params, lr=lr, betas=tuple(betas), weight_decay=weight_decay)


class DANNStage(TrainingStage):
    """DANN: source cross-entropy plus a gradient-reversed domain loss.

    Source and target batches go through the network in separate forward passes
    (so each batch normalises with its own statistics, as in the reference code).

    Parameters
    ----------
    model : torch.nn.Module
        ``(logits, features)`` network being trained.
    discriminator : torch.nn.Module
        Domain discriminator on the model's features.
    data : DomainTensors
    lr, betas, weight_decay : optimiser settings (Adam, shared by both networks).
    domain_weight : float, default=1.0
        Weight of the domain loss.
    name : str, default="teacher"

    Examples
    --------
    >>> import torch
    >>> from skrcd.nn import CNN1D, DomainDiscriminator
    >>> data = DomainTensors(torch.randn(8, 2, 16), torch.tensor([0, 1] * 4), torch.randn(8, 2, 16))
    >>> net = CNN1D(2, 2, channels=(4, 4, 4))
    >>> stage = DANNStage(net, DomainDiscriminator(4), data)
    >>> sorted(stage.train_step(torch.arange(8), torch.arange(8), progress=0.5))
    ['loss', 'loss_cls', 'loss_domain', 'source_acc']
    """

    def __init__(self, model, discriminator, data, lr=1e-2, betas=(0.5, 0.99), weight_decay=1e-4,
                 domain_weight=1.0, name="teacher"):
        self.model, self.discriminator, self.data = model, discriminator, data
        self.domain_weight, self.name = domain_weight, name
        self.optimizer = _adam(list(model.parameters()) + list(discriminator.parameters()), lr, betas, weight_decay)

    def modules(self):
        return [self.model, self.discriminator]

    def _domain_loss(self, feats_s, logits_s, feats_t, logits_t, progress):
        """The alignment term (DANN's; conditional variants override this)."""
        return domain_adversarial_loss(self.discriminator, feats_s, feats_t, dann_coefficient(progress))

    def train_step(self, src_idx, tgt_idx, progress):
        d = self.data
        logits_s, feats_s = self.model(d.X_src[src_idx])
        logits_t, feats_t = self.model(d.X_tgt[tgt_idx])
        cls = source_cross_entropy(logits_s, d, src_idx)
        dom = self._domain_loss(feats_s, logits_s, feats_t, logits_t, progress)
        loss = cls + self.domain_weight * dom
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        acc = (logits_s.argmax(1) == d.y_src[src_idx]).float().mean()
        return {"loss": loss.detach(), "loss_cls": cls.detach(), "loss_domain": dom.detach(), "source_acc": acc}


class SourceOnlyStage(TrainingStage):
    """Plain supervised training on the labelled source (no adaptation).

    Parameters
    ----------
    model : torch.nn.Module
    data : DomainTensors
    lr, betas, weight_decay : Adam settings.
    name : str, default="source_only"

    Examples
    --------
    >>> import torch
    >>> from skrcd.nn import CNN1D
    >>> data = DomainTensors(torch.randn(8, 2, 16), torch.tensor([0, 1] * 4), torch.randn(8, 2, 16))
    >>> stage = SourceOnlyStage(CNN1D(2, 2, channels=(4, 4, 4)), data)
    >>> list(stage.train_step(torch.arange(8), None, progress=0.0))
    ['loss']
    """

    def __init__(self, model, data, lr=1e-2, betas=(0.5, 0.99), weight_decay=1e-4, name="source_only"):
        self.model, self.data, self.name = model, data, name
        self.optimizer = _adam(model.parameters(), lr, betas, weight_decay)

    def modules(self):
        return [self.model]

    def train_step(self, src_idx, tgt_idx, progress):
        logits, _ = self.model(self.data.X_src[src_idx])
        loss = source_cross_entropy(logits, self.data, src_idx)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.detach()}


class DistillationStage(TrainingStage):
    """RCD-KD student stage: selective KD on target plus adversarial domain confusion.

    For each source/target mini-batch pair, ``n_episodes`` episodes each run the
    student on the target batch, let the selection strategy pick samples, and take
    one step on ``kd_weight * KD(selected) + dc_weight * DC``, where DC is the
    discriminator's loss telling the teacher's source features from the adapted
    student target features behind a gradient-reversal layer (the discriminator
    learns to separate, student and adapter learn to confuse it).

    Parameters
    ----------
    student, adapter, discriminator : torch.nn.Module
    teacher_outputs : skrcd.training.TeacherOutputs
    strategy : skrcd.selection.SelectionStrategy
    data : DomainTensors
    n_episodes : int, default=5
    temperature : float, default=2.0
    kd_weight : float, default=10.0
    dc_weight : float, default=1.0
    lr, betas, weight_decay : Adam settings (student, adapter and discriminator).
    dc_schedule : bool, default=True
        Ramp the adversarial coefficient with DANN's schedule (else constant 1).
    dc_mode : {"grl", "flip"}, default="grl"
        How the student fools the discriminator: gradient reversal of the
        discriminator's loss (minimax), or a separate loss with flipped domain
        labels (non-saturating: keeps a gradient when the discriminator wins).
    dc_features : {"teacher", "student"}, default="teacher"
        The source side the discriminator sees: the teacher's source features
        (the paper), or the student's own, through the adapter, so that the
        student aligns its own two domains as in DANN.
    source_ce_weight : float, default=0.0
        Weight of the student's cross-entropy on the source labels.
    source_weight : torch.Tensor of shape (n_classes,), optional
        Importance of each source class (``target_prior / source_prior`` under
        label shift): multiplies the weight of each source row in the student's
        source cross-entropy and in the discriminator's source side.
    augment : callable, optional
        ``augment(x, generator)`` -> an augmented view of target windows (a
        :class:`skrcd.nn.SensorAugment`): the student sees a fresh view in each
        episode while its targets (the teacher's cached outputs, the EMA
        student's) come from the plain windows.
    generator : torch.Generator, optional
        Randomness of ``augment`` (on the data's device).
    consistency_weight : float, default=0.0
        Weight of ``KL(p_ema(x) || p_student(view))``: the student agrees with an
        exponential moving average of itself on the plain window (mean teacher,
        Tarvainen and Valpola, 2017); ramped up with DANN's schedule.
    ema_decay : float, default=0.99
        Decay of that moving average per step.
    keep_ema : bool, default=False
        Keep the moving average of the student's weights (decay ``ema_decay``)
        even without the consistency term; :meth:`finish` then copies it into the
        student (Polyak averaging of the weights along training).
    balance_classes : bool, default=False
        Rescale the selection's weights within each teacher-predicted class of
        the batch (:func:`skrcd.selection.class_balanced_weights`): the selection
        picks which windows of a class teach, never whether the class is taught.
    name : str, default="student"

    Notes
    -----
    Subclasses change what is distilled by overriding :meth:`student_loss` (the
    baselines' stages :class:`SourceDistillationStage` and
    :class:`CoralDistillationStage` do); the selection, the domain confusion and
    the step stay the same.

    Examples
    --------
    >>> import torch
    >>> from skrcd.nn import CNN1D, DomainDiscriminator
    >>> from skrcd.selection import SelectAll
    >>> from skrcd.training import TeacherOutputs
    >>> data = DomainTensors(torch.randn(8, 2, 16), torch.tensor([0, 1] * 4), torch.randn(8, 2, 16))
    >>> teacher, student = CNN1D(2, 2, channels=(8, 8, 8)), CNN1D(2, 2, channels=(4, 4, 4))
    >>> outputs = TeacherOutputs(teacher, data, need_mc=False)
    >>> stage = DistillationStage(student, torch.nn.Linear(4, 8), DomainDiscriminator(8), outputs,
    ...                           SelectAll(), data, n_episodes=2)
    >>> logs = stage.train_step(torch.arange(8), torch.arange(8), progress=0.1)
    >>> logs["_n_loss_kd"]  # one KD loss per episode
    2
    """

    def __init__(self, student, adapter, discriminator, teacher_outputs, strategy, data, n_episodes=5,
                 temperature=2.0, kd_weight=10.0, dc_weight=1.0, lr=1e-2, betas=(0.5, 0.99),
                 weight_decay=1e-4, dc_schedule=True, dc_mode="grl", dc_features="teacher",
                 source_ce_weight=0.0, source_weight=None, augment=None, generator=None, consistency_weight=0.0,
                 ema_decay=0.99, balance_classes=False, keep_ema=False, name="student"):
        if dc_mode not in ("grl", "flip"):
            raise ValueError(f"dc_mode must be 'grl' or 'flip', got {dc_mode!r}")
        if dc_features not in ("teacher", "student"):
            raise ValueError(f"dc_features must be 'teacher' or 'student', got {dc_features!r}")
        self.dc_mode, self.dc_features, self.source_ce_weight = dc_mode, dc_features, source_ce_weight
        self.student, self.adapter, self.discriminator = student, adapter, discriminator
        self.teacher_outputs, self.strategy, self.data = teacher_outputs, strategy, data
        self.n_episodes, self.temperature = max(int(n_episodes), 1), temperature
        self.kd_weight, self.dc_weight, self.dc_schedule, self.name = kd_weight, dc_weight, dc_schedule, name
        params = [*student.parameters(), *adapter.parameters()]
        if dc_weight:
            params += list(discriminator.parameters())
        self.optimizer = _adam(params, lr, betas, weight_decay)
        self.record = SelectionRecord(data.X_tgt.shape[0], data.X_tgt.device)
        self.source_weight, self.source_data = source_weight, data
        if source_weight is not None:
            row = source_weight.to(data.X_src.device, torch.float32)[data.y_src]
            self.source_data = replace(data, w_src=row if data.w_src is None else data.w_src * row)
        self.augment, self.generator = augment, generator
        self.consistency_weight, self.ema_decay = consistency_weight, ema_decay
        self.balance_classes = balance_classes
        self.keep_ema = keep_ema
        self.ema = WeightAverage(student, decay=ema_decay) if consistency_weight or keep_ema else None

    def modules(self):
        return [self.student, self.adapter, self.discriminator]

    def on_epoch_begin(self, epoch, n_epochs):
        super().on_epoch_begin(epoch, n_epochs)
        self.teacher_outputs.on_epoch_begin(epoch)
        self.strategy.on_epoch_begin(epoch)
        if epoch > len(self.record.epochs):  # the previous epoch ended
            self.record.end_epoch()

    def finish(self):
        """End of the stage: with ``keep_ema``, the student takes the moving average's weights."""
        if self.keep_ema:
            self.ema.apply()

    def finish_record(self):
        """Close the last epoch of ``record`` and return it as arrays (see :class:`~skrcd.selection.record.SelectionRecord`)."""
        if self.record._sums[2].any():
            self.record.end_epoch()
        return self.record.result()

    def state_dict(self):
        state = super().state_dict()
        state["strategy"] = self.strategy.state_dict() if hasattr(self.strategy, "state_dict") else {}
        state["teacher_outputs"] = self.teacher_outputs.state_dict()
        state["record"] = self.record.state_dict()
        if self.ema is not None:
            state["ema"] = self.ema.model.state_dict()  # the decay needs no count
        if self.generator is not None:
            state["augment_generator"] = self.generator.get_state()
        return state

    def load_state_dict(self, state):
        super().load_state_dict(state)
        if state.get("strategy") and hasattr(self.strategy, "load_state_dict"):
            self.strategy.load_state_dict(state["strategy"])
        self.teacher_outputs.load_state_dict(state["teacher_outputs"])
        if state.get("record") is not None:
            self.record.load_state_dict(state["record"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.model.load_state_dict(state["ema"])
        if self.generator is not None and state.get("augment_generator") is not None:
            self.generator.set_state(state["augment_generator"])

    #: Whether :meth:`student_loss` reads the student's outputs on the source batch
    #: (the step then computes them once per episode, as ``src_out``).
    uses_source_outputs = False

    def _needs_source_outputs(self):
        return (self.uses_source_outputs or self.source_ce_weight > 0
                or (self.dc_weight and self.dc_features == "student"))

    def student_loss(self, s_logits, s_feats, t_logits, weight, src_idx, log, src_out=None):
        """The student's loss of one episode before domain confusion.

        ``kd_weight`` times KD on the target, plus ``source_ce_weight`` times the
        student's cross-entropy on the source labels.

        Parameters
        ----------
        s_logits, s_feats : torch.Tensor
            The student's outputs on the target batch (with gradients).
        t_logits : torch.Tensor
            The teacher's logits on the target batch.
        weight : torch.Tensor
            Each target sample's distillation weight (the selection's action or soft weight).
        src_idx : torch.Tensor
            Indices of the paired source batch.
        log : callable
            ``log(name, value)`` adds a detached value to the epoch's history row.
        src_out : tuple of torch.Tensor or None
            The student's ``(logits, features)`` on the source batch (its own
            forward pass, so batch norm sees one domain), when the stage needs them.

        Returns
        -------
        loss, kd : torch.Tensor
            The loss to minimise and the KD term (logged as ``loss_kd``).
        """
        kd = distillation_loss(s_logits, t_logits, weight, self.temperature)
        loss = self.kd_weight * kd
        if self.source_ce_weight > 0:
            ce = source_cross_entropy(src_out[0], self.source_data, src_idx)
            log("loss_ce", ce.detach())
            loss = loss + self.source_ce_weight * ce
        return loss, kd

    def train_step(self, src_idx, tgt_idx, progress):
        x_t = self.data.X_tgt[tgt_idx]
        t_logits, src_feats, mc = self.teacher_outputs.batch(src_idx, tgt_idx)
        coeff = dann_coefficient(progress) if self.dc_schedule else 1.0
        logs = {}

        def log(key, value):  # sums and counts; the loop divides once per epoch
            logs[key] = logs.get(key, 0) + value
            logs["_n_" + key] = logs.get("_n_" + key, 0) + 1

        needs_source = self._needs_source_outputs()
        dc_weight = None if self.source_weight is None else self.source_weight[self.data.y_src[src_idx]]
        ema_probs = None
        if self.consistency_weight:
            with torch.no_grad():
                ema_probs = self.ema.model(x_t)[0].softmax(1)
        for episode in range(self.n_episodes):
            view = x_t if self.augment is None else self.augment(x_t, self.generator)
            s_logits, s_feats = self.student(view)
            src_out = self.student(self.data.X_src[src_idx]) if needs_source else None
            s_probs = s_logits.detach().softmax(1)
            state = self.strategy.make_state(s_feats.detach(), s_probs, mc)
            action = self.strategy.select(state, episode)
            weight = self.strategy.weights(action)
            if self.balance_classes:  # the teacher's class as the selection record gives it
                teacher_class = (mc if mc is not None else t_logits).argmax(1)
                weight = class_balanced_weights(weight, teacher_class, t_logits.shape[1])
            self.record.add(tgt_idx, action, weight, self.strategy.last_advantage)
            loss, kd = self.student_loss(s_logits, s_feats, t_logits, weight, src_idx, log, src_out)
            if ema_probs is not None:
                cons = F.kl_div(F.log_softmax(s_logits, dim=1), ema_probs, reduction="batchmean")
                log("loss_consistency", cons.detach())
                loss = loss + self.consistency_weight * coeff * cons
            self.optimizer.zero_grad(set_to_none=True)
            if self.dc_weight:
                adapted = self.adapter(s_feats)
                dc_src = self.adapter(src_out[1]) if self.dc_features == "student" else src_feats
                if self.dc_mode == "grl":
                    dc = domain_adversarial_loss(self.discriminator, dc_src, adapted, coeff, dc_weight)
                    loss = loss + self.dc_weight * dc
                    loss.backward()
                else:  # flipped labels: the student wants its target features called "source" (0)
                    fool = F.cross_entropy(self.discriminator(adapted), torch.zeros_like(action))
                    if self.dc_features == "student":  # and its source features called "target" (1)
                        fool = fool + F.cross_entropy(self.discriminator(dc_src), torch.ones_like(src_idx))
                    (loss + self.dc_weight * coeff * fool).backward()
                    self.discriminator.zero_grad(set_to_none=True)
                    dc = domain_adversarial_loss(self.discriminator, dc_src.detach(), adapted.detach(),
                                                 source_weight=dc_weight)
                    (self.dc_weight * dc).backward()
                    loss = loss + self.dc_weight * dc
                log("loss_dc", dc.detach())
            else:
                loss.backward()
            self.optimizer.step()
            if self.ema is not None:
                self.ema.update()
            log("loss", loss.detach())
            log("loss_kd", kd.detach())
            log("selected", action.float().mean())
            if weight is not action:
                log("kd_weight_mean", weight.float().mean())
            mc_ep = self.teacher_outputs.episode_mc(tgt_idx, mc)
            last = episode == self.n_episodes - 1
            observed = self.strategy.observe(state, action, s_probs, mc_ep, episode, last)
            for k, v in observed.items():
                log(k, v)
        return logs




class SourceDistillationStage(DistillationStage):
    """AAD-style student stage: KD on the labelled source batch instead of the target.

    The selection still runs on the target batch (the baselines select all), and the
    adapted target features still learn to fool the discriminator.

    Examples
    --------
    >>> import torch
    >>> from skrcd.nn import CNN1D, DomainDiscriminator
    >>> from skrcd.selection import SelectAll
    >>> from skrcd.training import TeacherOutputs
    >>> data = DomainTensors(torch.randn(8, 2, 16), torch.tensor([0, 1] * 4), torch.randn(8, 2, 16))
    >>> teacher, student = CNN1D(2, 2, channels=(8, 8, 8)), CNN1D(2, 2, channels=(4, 4, 4))
    >>> stage = SourceDistillationStage(student, torch.nn.Linear(4, 8), DomainDiscriminator(8),
    ...                                 TeacherOutputs(teacher, data, need_mc=False), SelectAll(), data, n_episodes=1)
    >>> sorted(k for k in stage.train_step(torch.arange(8), torch.arange(8), 0.5) if not k.startswith("_"))
    ['loss', 'loss_dc', 'loss_kd', 'selected']
    """

    uses_source_outputs = True

    def student_loss(self, s_logits, s_feats, t_logits, weight, src_idx, log, src_out=None):
        kd = distillation_loss(src_out[0], self.teacher_outputs.src_logits[src_idx], None, self.temperature)
        return self.kd_weight * kd, kd


class CoralDistillationStage(DistillationStage):
    """MobileDA-style student stage: target KD plus source cross-entropy and CORAL between the domains.

    Parameters
    ----------
    *args, **kwargs
        As :class:`DistillationStage`.
    source_ce_weight : float, default=1.0
        Weight of the cross-entropy on the source labels.
    coral_weight : float, default=1.0
        Weight of CORAL between the student's source and target features.

    Examples
    --------
    >>> import torch
    >>> from skrcd.nn import CNN1D, DomainDiscriminator
    >>> from skrcd.selection import SelectAll
    >>> from skrcd.training import TeacherOutputs
    >>> data = DomainTensors(torch.randn(8, 2, 16), torch.tensor([0, 1] * 4), torch.randn(8, 2, 16))
    >>> teacher, student = CNN1D(2, 2, channels=(8, 8, 8)), CNN1D(2, 2, channels=(4, 4, 4))
    >>> stage = CoralDistillationStage(student, torch.nn.Linear(4, 8), DomainDiscriminator(8),
    ...                                TeacherOutputs(teacher, data, need_mc=False), SelectAll(), data,
    ...                                n_episodes=1, dc_weight=0.0)
    >>> sorted(k for k in stage.train_step(torch.arange(8), torch.arange(8), 0.5) if not k.startswith("_"))
    ['loss', 'loss_ce', 'loss_coral', 'loss_kd', 'selected']
    """

    uses_source_outputs = True

    def __init__(self, *args, source_ce_weight=1.0, coral_weight=1.0, **kwargs):
        super().__init__(*args, source_ce_weight=source_ce_weight, **kwargs)
        self.coral_weight = coral_weight

    def student_loss(self, s_logits, s_feats, t_logits, weight, src_idx, log, src_out=None):
        loss, kd = super().student_loss(s_logits, s_feats, t_logits, weight, src_idx, log, src_out)
        co = coral_loss(src_out[1], s_feats)
        log("loss_coral", co.detach())
        return loss + self.coral_weight * co, kd
