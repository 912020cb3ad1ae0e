"""The one training loop of skrcd and the stages that configure it.

:func:`run_stage` iterates epochs and paired source/target mini-batches, records
one row per epoch in a skorch :class:`~skorch.history.History`, checks the losses
are finite and calls skorch callbacks. A stage (:class:`DANNStage`,
:class:`SourceOnlyStage`, :class:`DistillationStage`) only says what one step does.
Everything inside a step stays on the model's device: logged values are summed as
tensors and read back once per epoch.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .interrupt import TrainingInterrupted, interrupt_is_forced, note_interrupt, raise_if_requested, snapshot_state
from .nn.losses import coral_loss, dann_coefficient, distillation_loss, domain_adversarial_loss

__all__ = [
    "DomainTensors",
    "TrainingStage",
    "DANNStage",
    "SourceOnlyStage",
    "DistillationStage",
    "TeacherOutputs",
    "run_stage",
    "mc_dropout_mode",
]


@dataclass
class DomainTensors:
    """Training data of one fit, already validated, as tensors on the model's device.

    Attributes
    ----------
    X_src : torch.Tensor of shape (n_src, channels, length)
    y_src : torch.Tensor of shape (n_src,), long
    X_tgt : torch.Tensor of shape (n_tgt, channels, length)

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


class TrainingStage:
    """One stage of training; the loop calls its hooks.

    Subclasses set :attr:`name` and implement :meth:`train_step`.

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

    def modules(self):
        """Modules trained by this stage (put in train mode at each epoch)."""
        return []

    def on_epoch_begin(self, epoch, n_epochs):
        """Called before the first step of an epoch (0-based)."""
        for m in self.modules():
            m.train()

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

        Examples
        --------
        >>> from skrcd.nn import CNN1D
        >>> data = DomainTensors(torch.zeros(4, 2, 16), torch.tensor([0, 1, 0, 1]), torch.zeros(4, 2, 16))
        >>> stage = SourceOnlyStage(CNN1D(2, 2, (4, 4, 4)), data)
        >>> sorted(stage.state_dict())
        ['modules', 'optimizer']
        """
        state = {"modules": [m.state_dict() for m in self.modules()]}
        optimizer = getattr(self, "optimizer", None)
        if optimizer is not None:
            state["optimizer"] = optimizer.state_dict()
        return state

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned.

        Parameters
        ----------
        state : dict

        Examples
        --------
        >>> import copy
        >>> from skrcd.nn import CNN1D
        >>> data = DomainTensors(torch.zeros(4, 2, 16), torch.tensor([0, 1, 0, 1]), torch.zeros(4, 2, 16))
        >>> stage = SourceOnlyStage(CNN1D(2, 2, (4, 4, 4)), data)
        >>> saved = copy.deepcopy(stage.state_dict())
        >>> _ = stage.train_step(torch.arange(4), torch.arange(4), 0.0)
        >>> stage.load_state_dict(saved)
        >>> torch.equal(stage.model.head.weight, saved["modules"][0]["head.weight"])
        True
        """
        modules = self.modules()
        if len(modules) != len(state["modules"]):
            raise ValueError(f"stage {self.name!r} has {len(modules)} modules, the state {len(state['modules'])}")
        for m, sd in zip(modules, state["modules"]):
            m.load_state_dict(sd)
        if "optimizer" in state:
            self.optimizer.load_state_dict(state["optimizer"])


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

    def train_step(self, src_idx, tgt_idx, progress):
        d = self.data
        logits_s, feats_s = self.model(d.X_src[src_idx])
        _, feats_t = self.model(d.X_tgt[tgt_idx])
        cls = F.cross_entropy(logits_s, d.y_src[src_idx])
        dom = domain_adversarial_loss(self.discriminator, feats_s, feats_t, dann_coefficient(progress))
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
        loss = F.cross_entropy(logits, self.data.y_src[src_idx])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.detach()}


class mc_dropout_mode:
    """Context manager: eval mode (BatchNorm running stats) with dropout layers active.

    Parameters
    ----------
    module : torch.nn.Module

    Examples
    --------
    >>> from skrcd.nn import CNN1D
    >>> net = CNN1D(2, 2)
    >>> with mc_dropout_mode(net):
    ...     net.encoder[1].training, net.encoder[4].training
    (False, True)
    """

    def __init__(self, module):
        self.module = module

    def __enter__(self):
        self._was = self.module.training
        self.module.eval()
        for m in self.module.modules():
            if isinstance(m, nn.modules.dropout._DropoutNd):
                m.train()
        return self.module

    def __exit__(self, *exc):
        self.module.train(self._was)
        return False


class TeacherOutputs:
    """What the frozen teacher gives the distillation stage, cached or recomputed.

    The teacher is frozen while the student trains, so its eval-mode logits and
    features and its MC-dropout statistics can be computed once per fit and looked
    up by sample index (``refresh="fit"``), recomputed every epoch (``"epoch"``), once
    per mini-batch (``"batch"``) or in every episode as the research code does
    (``"episode"``). The MC passes always run as one batched forward.

    Parameters
    ----------
    teacher : torch.nn.Module
    data : DomainTensors
    mc_passes : int
        Number of MC-dropout passes.
    refresh : {"fit", "epoch", "batch", "episode"}
    need_mc : bool
        Whether MC statistics are needed at all.
    chunk_size : int, default=1024
        Windows per forward when filling the cache.

    Examples
    --------
    >>> import torch
    >>> from skrcd.nn import CNN1D
    >>> data = DomainTensors(torch.randn(6, 2, 16), torch.tensor([0, 1] * 3), torch.randn(5, 2, 16))
    >>> outputs = TeacherOutputs(CNN1D(2, 3, channels=(4, 4, 4)), data, mc_passes=4)
    >>> logits, src_feats, mc = outputs.batch(torch.tensor([0, 1]), torch.tensor([2, 3, 4]))
    >>> tuple(logits.shape), tuple(src_feats.shape), tuple(mc.shape)
    ((3, 3), (2, 4), (3, 3))
    """

    def __init__(self, teacher, data, mc_passes=10, refresh="fit", need_mc=True, chunk_size=1024):
        if refresh not in ("fit", "epoch", "batch", "episode"):
            raise ValueError(f"teacher_refresh must be 'fit', 'epoch', 'batch' or 'episode', got {refresh!r}")
        self.teacher, self.data, self.mc_passes = teacher, data, max(int(mc_passes), 1)
        self.refresh, self.need_mc, self.chunk_size = refresh, need_mc, chunk_size
        self.teacher.eval()
        self._fill()

    @torch.no_grad()
    def _eval_forward(self, X):
        outs = [self.teacher(X[i : i + self.chunk_size]) for i in range(0, X.shape[0], self.chunk_size)]
        return torch.cat([o[0] for o in outs]), torch.cat([o[1] for o in outs])

    @torch.no_grad()
    def mc_probs(self, X):
        """Mean softmax of ``mc_passes`` dropout-perturbed teacher passes (one batched forward per chunk)."""
        out = []
        step = max(self.chunk_size // self.mc_passes, 1)
        with mc_dropout_mode(self.teacher):
            for i in range(0, X.shape[0], step):
                x = X[i : i + step]
                logits, _ = self.teacher(x.repeat(self.mc_passes, 1, 1))
                out.append(logits.softmax(1).view(self.mc_passes, x.shape[0], -1).mean(0))
        return torch.cat(out)

    def _fill(self):
        self.tgt_logits, _ = self._eval_forward(self.data.X_tgt)
        self.src_logits, self.src_features = self._eval_forward(self.data.X_src)
        self.tgt_mc = self.mc_probs(self.data.X_tgt) if (self.need_mc and self.refresh in ("fit", "epoch")) else None

    def state_dict(self):
        """The cached MC statistics (drawn with dropout noise, so not recomputable).

        Examples
        --------
        >>> from skrcd.nn import CNN1D
        >>> data = DomainTensors(torch.zeros(4, 2, 16), torch.tensor([0, 1, 0, 1]), torch.zeros(4, 2, 16))
        >>> outputs = TeacherOutputs(CNN1D(2, 2, (4, 4, 4)), data, mc_passes=2)
        >>> outputs.state_dict()["tgt_mc"].shape
        torch.Size([4, 2])
        """
        return {"tgt_mc": self.tgt_mc}

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned.

        Examples
        --------
        >>> from skrcd.nn import CNN1D
        >>> data = DomainTensors(torch.zeros(4, 2, 16), torch.tensor([0, 1, 0, 1]), torch.zeros(4, 2, 16))
        >>> outputs = TeacherOutputs(CNN1D(2, 2, (4, 4, 4)), data, mc_passes=2)
        >>> outputs.load_state_dict({"tgt_mc": torch.full((4, 2), 0.5)})
        >>> float(outputs.tgt_mc.sum())
        4.0
        """
        mc = state["tgt_mc"]
        self.tgt_mc = None if mc is None else mc.to(self.tgt_logits.device)

    def on_epoch_begin(self, epoch):
        """Refresh the MC statistics each epoch when ``refresh="epoch"``."""
        if self.refresh == "epoch" and epoch > 0 and self.need_mc:
            self.tgt_mc = self.mc_probs(self.data.X_tgt)

    def batch(self, src_idx, tgt_idx):
        """Teacher target logits, source features and MC probabilities (or ``None``) for a batch."""
        mc = None
        if self.need_mc:
            mc = self.tgt_mc[tgt_idx] if self.tgt_mc is not None else self.mc_probs(self.data.X_tgt[tgt_idx])
        return self.tgt_logits[tgt_idx], self.src_features[src_idx], mc

    def episode_mc(self, tgt_idx, mc):
        """MC probabilities for one episode: fresh passes if ``refresh="episode"``."""
        if self.need_mc and self.refresh == "episode":
            return self.mc_probs(self.data.X_tgt[tgt_idx])
        return mc


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
    teacher_outputs : TeacherOutputs
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
    kd_domain : {"target", "source"}, default="target"
        Which batch is distilled: RCD-KD distils the (selected) target samples;
        AAD-style baselines distil on the labelled source.
    source_ce_weight : float, default=0.0
        Weight of a cross-entropy term on the source labels (baselines only).
    coral_weight : float, default=0.0
        Weight of a CORAL term between the student's source and target features
        (MobileDA-style baselines only).
    name : str, default="student"

    Examples
    --------
    >>> import torch
    >>> from skrcd.nn import CNN1D, DomainDiscriminator
    >>> from skrcd.selection import SelectAll
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
                 weight_decay=1e-4, dc_schedule=True, dc_mode="grl", kd_domain="target", source_ce_weight=0.0,
                 coral_weight=0.0, name="student"):
        if dc_mode not in ("grl", "flip"):
            raise ValueError(f"dc_mode must be 'grl' or 'flip', got {dc_mode!r}")
        if kd_domain not in ("target", "source"):
            raise ValueError(f"kd_domain must be 'target' or 'source', got {kd_domain!r}")
        self.dc_mode, self.kd_domain = dc_mode, kd_domain
        self.source_ce_weight, self.coral_weight = source_ce_weight, coral_weight
        # the student also sees the source batch only for the baselines' extra terms
        self._needs_source = bool(source_ce_weight or coral_weight or kd_domain == "source")
        self.student, self.adapter, self.discriminator = student, adapter, discriminator
        self.teacher_outputs, self.strategy, self.data = teacher_outputs, strategy, data
        self.n_episodes, self.temperature = max(int(n_episodes), 1), temperature
        self.kd_weight, self.dc_weight, self.dc_schedule, self.name = kd_weight, dc_weight, dc_schedule, name
        params = [*student.parameters(), *adapter.parameters()]
        if dc_weight:
            params += list(discriminator.parameters())
        self.optimizer = _adam(params, lr, betas, weight_decay)

    def modules(self):
        return [self.student, self.adapter, self.discriminator]

    def on_epoch_begin(self, epoch, n_epochs):
        super().on_epoch_begin(epoch, n_epochs)
        self.teacher_outputs.on_epoch_begin(epoch)
        self.strategy.on_epoch_begin(epoch)

    def state_dict(self):
        state = super().state_dict()
        state["strategy"] = self.strategy.state_dict() if hasattr(self.strategy, "state_dict") else {}
        state["teacher_outputs"] = self.teacher_outputs.state_dict()
        return state

    def load_state_dict(self, state):
        super().load_state_dict(state)
        if state.get("strategy") and hasattr(self.strategy, "load_state_dict"):
            self.strategy.load_state_dict(state["strategy"])
        self.teacher_outputs.load_state_dict(state["teacher_outputs"])

    def train_step(self, src_idx, tgt_idx, progress):
        x_t = self.data.X_tgt[tgt_idx]
        t_logits, src_feats, mc = self.teacher_outputs.batch(src_idx, tgt_idx)
        coeff = dann_coefficient(progress) if self.dc_schedule else 1.0
        logs = {}

        def log(key, value):  # sums and counts; the loop divides once per epoch
            logs[key] = logs.get(key, 0) + value
            logs["_n_" + key] = logs.get("_n_" + key, 0) + 1

        if self._needs_source:
            x_s, y_s = self.data.X_src[src_idx], self.data.y_src[src_idx]
        for ep in range(self.n_episodes):
            s_logits, s_feats = self.student(x_t)
            state = s_feats.detach()
            action = self.strategy.select(state, ep)
            if self._needs_source:  # separate forward: each domain batch-normalised on its own
                src_logits, src_student_feats = self.student(x_s)
            if self.kd_domain == "target":
                kd = distillation_loss(s_logits, t_logits, action, self.temperature)
            else:
                kd = distillation_loss(src_logits, self.teacher_outputs.src_logits[src_idx], None, self.temperature)
            loss = self.kd_weight * kd
            if self.source_ce_weight:
                ce = F.cross_entropy(src_logits, y_s)
                loss = loss + self.source_ce_weight * ce
                log("loss_ce", ce.detach())
            if self.coral_weight:
                co = coral_loss(src_student_feats, s_feats)
                loss = loss + self.coral_weight * co
                log("loss_coral", co.detach())
            self.optimizer.zero_grad(set_to_none=True)
            if self.dc_weight:
                adapted = self.adapter(s_feats)
                if self.dc_mode == "grl":
                    dc = domain_adversarial_loss(self.discriminator, src_feats, adapted, coeff)
                    loss = loss + self.dc_weight * dc
                    loss.backward()
                else:  # flipped labels: the student wants its target features called "source" (0)
                    fool = F.cross_entropy(self.discriminator(adapted), torch.zeros_like(action))
                    (loss + self.dc_weight * coeff * fool).backward()
                    self.discriminator.zero_grad(set_to_none=True)
                    dc = domain_adversarial_loss(self.discriminator, src_feats, adapted.detach())
                    (self.dc_weight * dc).backward()
                    loss = loss + self.dc_weight * dc
                log("loss_dc", dc.detach())
            else:
                loss.backward()
            self.optimizer.step()
            log("loss", loss.detach())
            log("loss_kd", kd.detach())
            log("selected", action.float().mean())
            mc_ep = self.teacher_outputs.episode_mc(tgt_idx, mc)
            last = ep == self.n_episodes - 1
            for k, v in self.strategy.observe(state, action, s_logits.detach().softmax(1), mc_ep, ep, last).items():
                log(k, v)
        return logs


def _batches(n, batch_size, n_steps, generator, device):
    """Row indices of ``n_steps`` shuffled mini-batches of one domain (>= 2 rows each)."""
    b = min(batch_size, n)
    if b < 2:  # BatchNorm needs two rows in training mode: draw with replacement
        idx = torch.randint(n, (n_steps, 2), generator=generator)
        return idx.to(device)
    perm = torch.randperm(n, generator=generator)
    reps = math.ceil(n_steps * b / n)
    if reps > 1:
        perm = torch.cat([perm] + [torch.randperm(n, generator=generator) for _ in range(reps - 1)])
    return perm[: n_steps * b].view(n_steps, b).to(device)


def run_stage(stage, data, n_epochs, batch_size, history, generator, callbacks=(), net=None, start_epoch=0):
    """Train one stage for ``n_epochs`` epochs; the single loop every method uses.

    Each epoch pairs ``max(1, min(n_src, n_tgt) // batch_size)`` shuffled source and
    target mini-batches (incomplete last batches are dropped, as in the reference
    code; a domain smaller than the batch is used whole).

    Parameters
    ----------
    stage : TrainingStage
    data : DomainTensors
    n_epochs : int
    batch_size : int
    history : skorch.history.History
        A row is appended per epoch, with ``stage``, ``epoch``, ``dur`` and the
        stage's logged values (means over the epoch's steps).
    generator : torch.Generator
        CPU generator for the shuffles.
    callbacks : sequence of skorch callbacks
        Their ``on_epoch_end(net, stage=..., ...)`` is called after each epoch.
    net : object, optional
        Passed to the callbacks as ``net`` (the estimator).
    start_epoch : int, default=0
        Epochs already done (resuming from a checkpoint): epochs ``start_epoch + 1``
        to ``n_epochs`` run, on the same schedule as in one uninterrupted run.

    Raises
    ------
    FloatingPointError
        If a logged loss becomes NaN or infinite (naming the stage and epoch).
    skrcd.interrupt.TrainingInterrupted
        On Ctrl-C (a :class:`KeyboardInterrupt` in a step or a callback, or a
        first Ctrl-C deferred by :func:`skrcd.interrupt.deferred_sigint` to the
        end of the step): the weights of the stage's networks are rolled back to
        the last completed epoch (optimiser and selector state are not: resume
        from a checkpoint to continue training exactly), ``history`` keeps only
        complete rows, the callbacks' ``on_train_end`` run, then this
        :class:`KeyboardInterrupt` subclass is raised. A second Ctrl-C propagates
        as a plain :class:`KeyboardInterrupt`.

    Examples
    --------
    >>> import torch
    >>> from skorch.history import History
    >>> from skrcd.nn import CNN1D
    >>> data = DomainTensors(torch.randn(8, 2, 16), torch.tensor([0, 1] * 4), torch.randn(8, 2, 16))
    >>> history = History()
    >>> stage = SourceOnlyStage(CNN1D(2, 2, channels=(4, 4, 4)), data)
    >>> run_stage(stage, data, n_epochs=2, batch_size=4, history=history, generator=torch.Generator())
    >>> [(row["stage"], row["epoch"]) for row in history]
    [('source_only', 1), ('source_only', 2)]
    """
    n_src, n_tgt = data.X_src.shape[0], data.X_tgt.shape[0]
    device = data.X_src.device
    b_src, b_tgt = min(batch_size, n_src), min(batch_size, n_tgt)
    n_steps = max(1, min(n_src // b_src, n_tgt // b_tgt))
    for cb in callbacks:
        cb.on_train_begin(net, stage=stage.name, n_epochs=n_epochs)
    done, n_rows = start_epoch, len(history)
    # what a Ctrl-C rolls back to: the networks' weights only (a few MB at most); the
    # selector, replay memory and optimisers are training state, saved by checkpoints
    last_done = snapshot_state(stage, weights_only=True)
    try:
        for epoch in range(start_epoch, n_epochs):
            t0 = time.perf_counter()
            stage.on_epoch_begin(epoch, n_epochs)
            src_b = _batches(n_src, batch_size, n_steps, generator, device)
            tgt_b = _batches(n_tgt, batch_size, n_steps, generator, device)
            sums = {}
            for step in range(n_steps):
                progress = (epoch * n_steps + step) / (n_epochs * n_steps)
                for k, v in stage.train_step(src_b[step], tgt_b[step], progress).items():
                    sums[k] = sums.get(k, 0) + v
                raise_if_requested()
            history.new_epoch()
            history.record("stage", stage.name)
            history.record("epoch", epoch + 1)
            for k, v in sums.items():
                if k.startswith("_n_"):
                    continue
                count = sums.get("_n_" + k, n_steps)
                value = float(v) / float(count)  # the one device sync of the epoch
                if k.startswith("loss") and not math.isfinite(value):
                    raise FloatingPointError(
                        f"{k} became {value} in stage {stage.name!r} at epoch {epoch + 1}/{n_epochs}; "
                        "check the input scale, or lower the learning rate"
                    )
                history.record(k, value)
            history.record("dur", time.perf_counter() - t0)
            last_done = snapshot_state(stage, weights_only=True)
            done, n_rows = epoch + 1, len(history)
            for cb in callbacks:
                cb.on_epoch_end(net, stage=stage.name, epoch=epoch + 1, n_epochs=n_epochs)
    except KeyboardInterrupt:
        if interrupt_is_forced():  # a second Ctrl-C: stop now
            raise
        note_interrupt()
        if last_done is not None:
            for module, weights in zip(stage.modules(), last_done["modules"]):
                module.load_state_dict(weights)
        del history[n_rows:]
        for cb in callbacks:
            cb.on_train_end(net, stage=stage.name)
        raise TrainingInterrupted(stage.name, done, n_epochs) from None
    for cb in callbacks:
        cb.on_train_end(net, stage=stage.name)
