"""The one training loop of skrcd (:func:`run_stage`) and what the stage hooks of a fit share (:class:`FitContext`).

:func:`run_stage` iterates epochs and paired source/target mini-batches, records
one row per epoch in a skorch :class:`~skorch.history.History`, checks the losses
are finite, calls the callbacks and stops gracefully on Ctrl-C. Everything inside
a step stays on the model's device: logged values are summed as tensors and read
back once per epoch (one device sync per logged key).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch

from .interrupt import TrainingInterrupted, interrupt_is_forced, note_interrupt, raise_if_requested, snapshot_weights

__all__ = ["run_stage", "FitContext"]


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
    stage : skrcd.training.TrainingStage
    data : skrcd.training.DomainTensors
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
    skrcd.training.TrainingInterrupted
        On Ctrl-C (a :class:`KeyboardInterrupt` in a step or a callback, or a
        first Ctrl-C deferred by :func:`skrcd.training.deferred_sigint` to the
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
    >>> from skrcd.training import DomainTensors, SourceOnlyStage
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
    last_done = snapshot_weights(stage)
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
                value = float(v) / float(count)  # one device sync per logged key and epoch
                if k.startswith("loss") and not math.isfinite(value):
                    raise FloatingPointError(
                        f"{k} became {value} in stage {stage.name!r} at epoch {epoch + 1}/{n_epochs}; "
                        "check the input scale, or lower the learning rate"
                    )
                history.record(k, value)
            history.record("dur", time.perf_counter() - t0)
            last_done = snapshot_weights(stage)
            done, n_rows = epoch + 1, len(history)
            for cb in callbacks:
                cb.on_epoch_end(net, stage=stage.name, epoch=epoch + 1, n_epochs=n_epochs)
    except KeyboardInterrupt:
        if interrupt_is_forced():  # a second Ctrl-C: stop now
            raise
        note_interrupt()
        for module, weights in zip(stage.modules(), last_done):
            module.load_state_dict(weights)
        del history[n_rows:]
        for cb in callbacks:
            cb.on_train_end(net, stage=stage.name)
        raise TrainingInterrupted(stage.name, done, n_epochs) from None
    for cb in callbacks:
        cb.on_train_end(net, stage=stage.name)


@dataclass
class FitContext:
    """What the stage hooks of one ``fit`` share, and how they run a stage.

    :meth:`skrcd.RCDKDClassifier.fit` builds one and passes it to each hook
    (``fit_teacher(ctx)``, ``fit_student(ctx)``); a hook builds its networks and
    its stage and calls :meth:`run`.

    Attributes
    ----------
    data : skrcd.training.DomainTensors
        The fit's data on the device.
    n_channels, n_classes : int
    device : torch.device
    generator : torch.Generator
        The shuffle generator of the fit.
    batch_size : int
    history : skorch.history.History
        Where the loop appends one row per epoch.
    callbacks : list
        Callbacks of every stage (the estimator's, the progress bar).
    net : object, optional
        Passed to the callbacks as ``net`` (the estimator).
    checkpoints : skrcd.training.FitCheckpoints or None
        Writes checkpoints and resumes from them (None: no checkpoints).
    interrupted : dict or None
        None until a Ctrl-C stops a stage; then ``{"stage", "epoch", "n_epochs"}``.

    Examples
    --------
    A stage hook of an estimator subclass (as in :mod:`skrcd.baselines`) builds
    its networks and stage from the context, then runs the stage through it::

        def fit_student(self, ctx):
            self.student_ = self.initialize_student(ctx.n_channels, ctx.n_classes).to(ctx.device)
            ctx.run(SourceOnlyStage(self.student_, ctx.data), self.student_epochs)
    """

    data: object
    n_channels: int
    n_classes: int
    device: torch.device
    generator: torch.Generator
    batch_size: int
    history: object
    callbacks: list = field(default_factory=list)
    net: object = None
    checkpoints: object = None
    interrupted: dict | None = None

    def run(self, stage, n_epochs):
        """Train ``stage`` for ``n_epochs`` epochs with :func:`run_stage`, resuming and checkpointing.

        A Ctrl-C ends the stage gracefully (see :func:`run_stage`): the stage
        keeps its last completed epoch, :attr:`interrupted` says where, and the
        stages run after it in the same fit do nothing.

        Parameters
        ----------
        stage : skrcd.training.TrainingStage
        n_epochs : int

        Returns
        -------
        bool
            Whether the stage ran to its end.
        """
        if self.interrupted is not None:  # an earlier stage of this fit was stopped
            return False
        start, extra = (0, []) if self.checkpoints is None else self.checkpoints.prepare(stage, self.generator, n_epochs)
        try:
            run_stage(stage, self.data, n_epochs, self.batch_size, self.history, self.generator,
                      [*self.callbacks, *extra], self.net, start_epoch=start)
        except TrainingInterrupted as exc:
            self.interrupted = {"stage": exc.stage, "epoch": exc.epoch, "n_epochs": exc.n_epochs}
            return False
        if self.checkpoints is not None:
            self.checkpoints.stage_done(stage)
        return True
