"""The one training loop of skrcd, on skorch's callback protocol: :class:`~skrcd.training.loop.StageNet`, :func:`~skrcd.training.loop.run_stage`.

Each training stage (the teacher's DANN, the student's distillation, a baseline's
stage) runs as one skorch fit of a :class:`StageNet`, a
:class:`skorch.NeuralNetClassifier` whose ``train_step`` is the stage's
multi-network step. skorch's own machinery does the rest, unchanged: callbacks are
initialised and named as in any skorch net (``(name, callback)`` tuples, classes,
instances), ``notify`` fires ``on_train_begin``, ``on_epoch_begin``,
``on_batch_begin``, ``on_grad_computed``, ``on_batch_end``, ``on_epoch_end`` and
``on_train_end`` with skorch's arguments, the history has skorch's rows
(``epoch``, ``dur``, ``train_loss``, ``valid_loss``, ``batches``, ``event_*``),
``save_params``/``load_params`` write and read the stage's networks, optimiser and
history. So ``EarlyStopping``, ``LRScheduler``, ``Checkpoint``/``LoadInitState``,
``GradientNormClipping``, ``EpochScoring``, ``PrintLog`` and ``ProgressBar`` keep
their documented meaning within a stage:

- ``net.module_`` is the network the stage trains for prediction (the teacher,
  the student, a baseline's network); the stage's other trained networks are
  registered under the estimator's names (``net.discriminator_``,
  ``net.adapter_``); ``net.optimizer_`` is the stage's optimiser;
  ``net.criterion_`` the cross-entropy of the validation loss.
- ``net.history`` holds the rows of this stage only (epochs count from 1 in each
  stage), so a scheduler or an early stop sees its own stage; every row also goes
  to the estimator's ``history_``, with a ``stage`` column.
- A batch is the step's source rows ``(X, y)``; ``batch.src_idx`` and
  ``batch.tgt_idx`` are the rows of both domains the step used.
- ``on_grad_computed`` fires before each step of the stage's optimiser (after the
  backward passes), so ``GradientNormClipping`` clips the stage's networks.
- Scores are computed at the end of the epoch by a forward pass (``use_caching``
  is off: a multi-network step has no single prediction per source row).
- A :class:`KeyboardInterrupt` raised by a callback (``EarlyStopping``) ends the
  stage cleanly, ``on_train_end`` runs and the fit goes on to the next stage; a
  Ctrl-C rolls the stage back to its last completed epoch and ends the fit (see
  :mod:`skrcd.training.interrupt`).

Every value written to the history is checked to be finite at the end of each
epoch; the error names the stage, the epoch and the key.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np
import torch
from skorch import NeuralNetClassifier
from skorch.callbacks import EpochScoring, EpochTimer, PrintLog
from skorch.dataset import Dataset
from skorch.history import History
from skorch.utils import TeeGenerator
from torch.utils.data import default_collate

from .callbacks import _LossColumn
from .interrupt import (
    TrainingInterrupted,
    interrupt_is_forced,
    is_user_interrupt,
    note_interrupt,
    raise_if_requested,
    snapshot_weights,
)

__all__ = ["StageNet", "StepBatch", "run_stage", "FitContext"]

#: Rows per forward pass when a callback or the validation predicts (eval mode: the batch size changes nothing).
INFERENCE_BATCH_SIZE = 1024


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


def n_steps_per_epoch(n_src, n_tgt, batch_size):
    """Steps of one epoch: ``max(1, min(n_src // b_src, n_tgt // b_tgt))`` with ``b = min(batch_size, n)``.

    Incomplete last batches are dropped, as in the reference code; a domain smaller
    than the batch is used whole.

    Examples
    --------
    >>> n_steps_per_epoch(100, 40, 32), n_steps_per_epoch(10, 5, 32)
    (1, 1)
    >>> n_steps_per_epoch(300, 250, 32)
    7
    """
    b_src, b_tgt = min(batch_size, n_src), min(batch_size, n_tgt)
    return max(1, min(n_src // b_src, n_tgt // b_tgt))


class StepBatch(tuple):
    """One training step's batch as skorch callbacks see it: ``(X, y)`` of the step's source rows.

    Attributes
    ----------
    src_idx, tgt_idx : torch.Tensor
        Row indices of the source and target mini-batches of the step.

    Examples
    --------
    >>> import torch
    >>> batch = StepBatch(torch.zeros(2, 3, 8), torch.tensor([0, 1]), torch.tensor([4, 7]), torch.tensor([0, 2]))
    >>> X, y = batch
    >>> X.shape[0], batch.tgt_idx.tolist()
    (2, [0, 2])
    """

    def __new__(cls, X, y, src_idx, tgt_idx):
        batch = super().__new__(cls, (X, y))
        batch.src_idx, batch.tgt_idx = src_idx, tgt_idx
        return batch


class _PairedBatches:
    """The training iterator of a stage (skorch's ``iterator_train``): one epoch of paired mini-batches.

    Each pass draws ``n_steps`` shuffled source and target mini-batches from the
    fit's generator (source first, then target) and yields one :class:`StepBatch`
    per step.
    """

    def __init__(self, dataset, batch_size, n_target, n_steps, generator):
        self.dataset, self.batch_size, self.n_target = dataset, batch_size, n_target
        self.n_steps, self.generator = n_steps, generator

    def __len__(self):
        return self.n_steps

    def __iter__(self):
        X, y = self.dataset.X, self.dataset.y
        src = _batches(X.shape[0], self.batch_size, self.n_steps, self.generator, X.device)
        tgt = _batches(self.n_target, self.batch_size, self.n_steps, self.generator, X.device)
        for step in range(self.n_steps):
            yield StepBatch(X[src[step]], y[src[step]], src[step], tgt[step])


class _SequentialBatches:
    """The evaluation iterator of a stage (skorch's ``iterator_valid``): consecutive slices, no shuffling.

    Slices a skorch :class:`~skorch.dataset.Dataset` of arrays or tensors directly;
    other datasets are read item by item. Never touches a random number generator.
    """

    def __init__(self, dataset, batch_size):
        self.dataset, self.batch_size = dataset, batch_size

    def __len__(self):
        return math.ceil(len(self.dataset) / self.batch_size)

    def __iter__(self):
        ds, b, n = self.dataset, self.batch_size, len(self.dataset)
        X, y = getattr(ds, "X", None), getattr(ds, "y", None)
        if isinstance(ds, Dataset) and isinstance(X, (torch.Tensor, np.ndarray)):
            for i in range(0, n, b):
                yield X[i : i + b], (None if y is None else y[i : i + b])
            return
        for i in range(0, n, b):
            yield default_collate([ds[j] for j in range(i, min(i + b, n))])


def _plain(value):
    """numpy scalars as Python numbers (what JSON and the model file store)."""
    return value.item() if isinstance(value, np.generic) else value


class StageNet(NeuralNetClassifier):
    """A skorch net that runs one training stage: skorch's callbacks, history and persistence on skrcd's step.

    Built by :func:`run_stage`; see :mod:`skrcd.training.loop` for what callbacks
    see. Constructor arguments are skorch's (``module`` is the stage's main
    network, ``iterator_train`` the paired mini-batches); :meth:`for_stage` builds
    one for a stage.

    Attributes
    ----------
    stage_ : skrcd.training.TrainingStage
        The stage being trained.
    estimator_ : object or None
        The estimator whose fit runs the stage (None when :func:`run_stage` is
        called directly).
    data_ : skrcd.training.DomainTensors
        The stage's training data on the device (``data_.X_tgt``: the unlabelled target).
    valid_ : tuple of torch.Tensor or None
        ``(X, y)`` of the source validation rows, or None.
    n_epochs_ : int
        Epochs the stage was asked for in this fit.
    """

    @classmethod
    def for_stage(cls, stage, data, n_epochs, batch_size, generator, *, callbacks=(), estimator=None,
                  history=None, start_epoch=0, valid=None, n_classes=None, verbose=0):
        """A net for ``stage``, ready for ``partial_fit(data.X_src, data.y_src)``.

        Parameters
        ----------
        stage : skrcd.training.TrainingStage
        data : skrcd.training.DomainTensors
        n_epochs : int
            Epochs of the stage in this fit.
        batch_size : int
        generator : torch.Generator
            CPU generator for the shuffles.
        callbacks : sequence, default=()
            skorch callbacks: instances, classes or ``(name, callback)`` tuples.
        estimator : object, optional
            Reachable from the callbacks as ``net.estimator_``; the names of the
            stage's other networks are its attribute names.
        history : skorch.history.History, optional
            The fit's history: this stage's rows are appended to it (and are the
            rows of the net's own history).
        start_epoch : int, default=0
            Epochs already done (resuming from a checkpoint).
        valid : tuple of torch.Tensor, optional
            ``(X, y)`` of the source validation rows.
        n_classes : int, optional
            Number of classes (default: from ``data.y_src``).
        verbose : int, default=0
            The net's ``verbose`` (read by ``PrintLog`` and other callbacks); ``>= 2``
            adds skorch's ``PrintLog`` to the default callbacks.

        Returns
        -------
        StageNet
        """
        modules = stage.modules()
        if not modules:
            raise ValueError(f"stage {stage.name!r} trains no network: its modules() is empty")
        if n_classes is None:
            n_classes = int(data.y_src.max()) + 1
        n_src = data.X_src.shape[0]
        n_steps = n_steps_per_epoch(n_src, data.X_tgt.shape[0], batch_size)
        optimizer = getattr(stage, "optimizer", None)
        net = cls(
            module=modules[0],
            criterion=torch.nn.CrossEntropyLoss,
            optimizer=type(optimizer) if optimizer is not None else torch.optim.Adam,
            max_epochs=max(0, n_epochs - start_epoch),
            batch_size=batch_size,
            iterator_train=_PairedBatches,
            iterator_train__n_target=data.X_tgt.shape[0],
            iterator_train__n_steps=n_steps,
            iterator_train__generator=generator,
            iterator_valid=_SequentialBatches,
            iterator_valid__batch_size=INFERENCE_BATCH_SIZE,
            train_split=None,
            callbacks=list(callbacks),
            classes=list(range(n_classes)),
            verbose=int(verbose),
            device=str(data.X_src.device),
            use_caching=False,
        )
        net.stage_, net.estimator_, net.data_, net.valid_ = stage, estimator, data, valid
        net.n_epochs_, net.start_epoch_ = int(n_epochs), int(start_epoch)
        net.n_steps_ = n_steps
        net.fit_history_ = History() if history is None else history
        net._extra_modules = _extra_module_names(modules[1:], estimator)
        # this stage's rows already in the fit's history: when resuming, its trailing rows (they stay in
        # place); otherwise earlier rows of a stage of the same name (warm start: epochs keep counting)
        rows = net.fit_history_
        if start_epoch:
            first = len(rows)
            while first > 0 and rows[first - 1].get("stage") == stage.name:
                first -= 1
            net._row0, net._prior = first, []
        else:
            net._row0, net._prior = len(rows), [r for r in rows if r.get("stage") == stage.name]
        return net

    # ------------------------------------------------------------- skorch hooks
    def _get_param_names(self):
        return [k for k in super()._get_param_names() if not k.startswith("_")]

    @property
    def _default_callbacks(self):
        callbacks = [
            ("epoch_timer", EpochTimer()),
            ("train_loss", _LossColumn(name="train_loss", on_train=True)),
            ("valid_loss", _LossColumn(name="valid_loss")),
        ]
        if getattr(self, "valid_", None) is not None:
            callbacks += [
                ("valid_acc", EpochScoring("accuracy", name="valid_acc", lower_is_better=False)),
                ("valid_f1", EpochScoring("f1_macro", name="valid_f1", lower_is_better=False)),
            ]
        if self.verbose >= 2:
            callbacks.append(("print_log", PrintLog()))
        return callbacks

    @property
    def stage_name(self):
        """Name of the stage (``"teacher"``, ``"student"``, a baseline's)."""
        return self.stage_.name

    @property
    def history(self):
        """This stage's rows (skorch's ``net.history``); setting it also replaces them in the fit's history."""
        return self.history_

    @history.setter
    def history(self, value):
        self.history_ = value
        self._rows_done = len(value)
        self._sync_history()

    def _sync_history(self):
        """Make the fit's history end with this stage's new rows (the same row dicts)."""
        self.fit_history_[self._row0:] = list(self.history_)[len(self._prior):]

    def initialize_module(self):
        self.module_ = self.module
        for name, module in self._extra_modules:
            setattr(self, name, module)
        return self

    def initialize_optimizer(self, triggered_directly=None):
        optimizer = getattr(self.stage_, "optimizer", None)
        if optimizer is not None and (self._prior or self.start_epoch_):
            # a schedule that continues (warm start, resume) is built with last_epoch >= 0, which torch
            # accepts only from param groups that know their initial learning rate
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        self.optimizer_ = optimizer
        return self

    def initialize_history(self):
        self.history_ = History(self._prior if not self.start_epoch_ else self.fit_history_[self._row0:])
        self._rows_done = len(self.history_)
        return self

    def get_all_learnable_params(self):
        """The named parameters the stage's optimiser updates (what ``GradientNormClipping`` clips)."""
        optimizer = getattr(self, "optimizer_", None)
        updated = None if optimizer is None else {id(p) for g in optimizer.param_groups for p in g["params"]}
        seen = set()
        for name in self._modules:
            for pname, param in getattr(self, name + "_").named_parameters():
                if id(param) in seen or (updated is not None and id(param) not in updated):
                    continue
                seen.add(id(param))
                yield pname, param

    def get_split_datasets(self, X, y=None, **fit_params):
        valid = None if self.valid_ is None else self.get_dataset(*self.valid_)
        return self.get_dataset(X, y), valid

    def get_loss(self, y_pred, y_true, *args, **kwargs):
        if isinstance(y_pred, tuple):  # skrcd networks return (logits, features)
            y_pred = y_pred[0]
        return super().get_loss(y_pred, y_true, *args, **kwargs)

    def notify(self, method_name, **cb_kwargs):
        """Call the net's hook, then every callback's, with skorch's arguments plus ``stage``/``epoch``/``n_epochs``.

        A :class:`KeyboardInterrupt` from a callback is a request to stop the stage
        (``EarlyStopping``), unless it stands for a Ctrl-C
        (:func:`~skrcd.training.interrupt.is_user_interrupt`). After ``on_epoch_end``
        the epoch's row is checked to be finite, also when a callback stops the stage.
        """
        cb_kwargs.setdefault("stage", self.stage_name)
        if method_name in ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end"):
            cb_kwargs.setdefault("n_epochs", self.n_epochs_)
        if method_name in ("on_epoch_begin", "on_epoch_end"):
            cb_kwargs.setdefault("epoch", self._epoch + 1)
        getattr(self, method_name)(self, **cb_kwargs)
        name = None
        try:
            for name, cb in self.callbacks_:
                getattr(cb, method_name)(self, **cb_kwargs)
        except KeyboardInterrupt:
            if is_user_interrupt():
                raise
            self._stopped_by = (name, method_name)
            if method_name == "on_epoch_end":
                self._check_row()
            raise
        except KeyError as exc:
            key = str(exc.args[0]) if exc.args else ""
            if self.valid_ is None and "'valid_" in key:
                raise KeyError(f"{key} Callback {name!r} of stage {self.stage_name!r} reads a validation column, "
                               "and there is no validation data: set train_split (e.g. train_split=0.2) or "
                               "monitor a training column ('train_loss') or TargetEntropy's 'target_entropy'"
                               ) from exc
            raise
        if method_name == "on_epoch_end":
            self._check_row()

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        super().on_epoch_begin(net, dataset_train=dataset_train, dataset_valid=dataset_valid, **kwargs)
        self.history.record("stage", self.stage_name)
        self._sync_history()

    def on_epoch_end(self, net, **kwargs):
        """Record the means of the values the stage's steps logged, check them, and keep the epoch's weights."""
        n_steps = max(self._step, 1)
        for key, total in self._sums.items():
            if key.startswith("_n_"):
                continue
            value = float(total) / float(self._sums.get("_n_" + key, n_steps))  # one device sync per key
            self._check_value(key, value)
            self.history.record(key, value)
        self.stage_.on_epoch_end(self._epoch, self.n_epochs_)
        self._snapshot = snapshot_weights(self.stage_)
        self._done, self._rows_done = self._epoch + 1, len(self.history)

    def train_step(self, batch, **fit_params):
        """One step of the stage on ``batch`` (a :class:`StepBatch`); returns skorch's ``{"loss", "y_pred"}``."""
        for module in self.stage_.modules():  # a callback may have predicted (eval mode) since the last step
            module.train()
        self._batch = batch
        progress = (self._epoch * self.n_steps_ + self._step) / (self.n_epochs_ * self.n_steps_)
        logs = self.stage_.train_step(batch.src_idx, batch.tgt_idx, progress)
        self._step += 1
        for key, value in logs.items():
            self._sums[key] = self._sums.get(key, 0) + value
        if "loss" not in logs:
            raise ValueError(f"stage {self.stage_name!r}: train_step must log the step's loss under 'loss'")
        loss = torch.as_tensor(logs["loss"]) / logs.get("_n_loss", 1)
        raise_if_requested()  # a first Ctrl-C stops training here, at the end of a step
        return {"loss": loss, "y_pred": None}

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        """skorch's fit loop over the stage's epochs: paired training batches, then the validation rows."""
        epochs = self.max_epochs if epochs is None else epochs
        dataset_train, dataset_valid = self.get_split_datasets(X, y)
        on_epoch_kwargs = {"dataset_train": dataset_train, "dataset_valid": dataset_valid}
        iterator_train = self.get_iterator(dataset_train, training=True)
        iterator_valid = None if dataset_valid is None else self.get_iterator(dataset_valid, training=False)
        for _ in range(epochs):
            self._sums, self._step = {}, 0
            self.notify("on_epoch_begin", **on_epoch_kwargs)
            self.stage_.on_epoch_begin(self._epoch, self.n_epochs_)
            self.run_single_epoch(iterator_train, training=True, prefix="train", step_fn=self.train_step)
            self.run_single_epoch(iterator_valid, training=False, prefix="valid", step_fn=self.validation_step)
            self.notify("on_epoch_end", **on_epoch_kwargs)
            self._epoch += 1
        return self

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Train the stage (skorch's ``partial_fit``), telling a callback's stop from a Ctrl-C.

        A :class:`KeyboardInterrupt` raised by a callback ends the stage as in
        skorch: ``on_train_end`` runs and this returns. A Ctrl-C rolls the stage's
        networks back to the end of the last completed epoch, drops the incomplete
        history row, runs ``on_train_end`` and raises
        :class:`~skrcd.training.TrainingInterrupted`; a second Ctrl-C propagates at once.

        Parameters
        ----------
        X, y : torch.Tensor
            The stage's source rows and labels (``data.X_src``, ``data.y_src``).
        classes : ignored
        **fit_params : ignored

        Returns
        -------
        self
        """
        if not self.initialized_:
            self.initialize()
        self._epoch = self._done = self.start_epoch_
        self._stopped_by, self._batch, self._sums, self._step = None, None, {}, 0
        hook = None
        if getattr(self, "optimizer_", None) is not None:
            hook = self.optimizer_.register_step_pre_hook(self._on_optimizer_step)
        try:
            self.notify("on_train_begin", X=X, y=y)
            self._snapshot = snapshot_weights(self.stage_)  # what a Ctrl-C rolls back to (weights only)
            self._rows_done = len(self.history)
            try:
                self.fit_loop(X, y)
            except KeyboardInterrupt:
                if interrupt_is_forced():  # a second Ctrl-C: stop now
                    raise
                if self._stopped_by is None:  # a Ctrl-C, not a callback's stop request
                    note_interrupt()
                    for module, weights in zip(self.stage_.modules(), self._snapshot):
                        module.load_state_dict(weights)
                    del self.history[self._rows_done:]
                    self._sync_history()
                    self.notify("on_train_end", X=X, y=y)
                    raise TrainingInterrupted(self.stage_name, self._done, self.n_epochs_) from None
            self.notify("on_train_end", X=X, y=y)
        finally:
            if hook is not None:
                hook.remove()
        return self

    # ----------------------------------------------------------------- helpers
    def _on_optimizer_step(self, optimizer, args, kwargs):
        self.notify("on_grad_computed", named_parameters=TeeGenerator(self.get_all_learnable_params()),
                    batch=self._batch, training=True)

    def _check_value(self, key, value):
        if isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isfinite(value):
            raise FloatingPointError(
                f"{key} became {value} in stage {self.stage_name!r} at epoch {self._epoch + 1}/{self.n_epochs_}; "
                "check the input scale, or lower the learning rate"
            )

    def _check_row(self):
        """Every number of the epoch's row (and of its batches) finite; numpy scalars made Python numbers."""
        row = self.history[-1]
        for key, value in list(row.items()):
            if key == "batches":
                for batch in value:
                    for k, v in list(batch.items()):
                        batch[k] = _plain(v)
                        self._check_value(f"{k} (batch)", batch[k])
                continue
            row[key] = _plain(value)
            self._check_value(key, row[key])


def _extra_module_names(modules, estimator):
    """``(attribute name, module)`` of a stage's other networks: the estimator's names, else ``module<i>_``."""
    out = []
    owned = {} if estimator is None else {id(v): k for k, v in vars(estimator).items()
                                          if k.endswith("_") and isinstance(v, torch.nn.Module)}
    taken = {"module_", "criterion_", "optimizer_"}
    for i, module in enumerate(modules, start=1):
        name = owned.get(id(module), f"module{i}_")
        if name in taken:
            name = f"module{i}_"
        taken.add(name)
        out.append((name, module))
    return out


def run_stage(stage, data, n_epochs, batch_size, history, generator, callbacks=(), net=None, start_epoch=0, *,
              valid=None, n_classes=None, verbose=0):
    """Train one stage for ``n_epochs`` epochs; the single loop every method uses.

    Runs a :class:`StageNet` (skorch's loop and callback protocol; see
    :mod:`skrcd.training.loop`). Each epoch pairs ``max(1, min(n_src, n_tgt) //
    batch_size)`` shuffled source and target mini-batches (incomplete last batches
    are dropped, as in the reference code; a domain smaller than the batch is used
    whole), then scores the validation rows if any.

    Parameters
    ----------
    stage : skrcd.training.TrainingStage
    data : skrcd.training.DomainTensors
    n_epochs : int
    batch_size : int
    history : skorch.history.History
        The fit's history: a row is appended per epoch, with ``stage``, ``epoch``,
        ``dur``, skorch's ``train_loss`` (and ``valid_loss``, ``valid_acc``,
        ``valid_f1`` with ``valid``), ``batches``, the stage's logged values (means
        over the epoch's steps) and what callbacks record.
    generator : torch.Generator
        CPU generator for the shuffles.
    callbacks : sequence of skorch callbacks
        Run with skorch's protocol on a :class:`StageNet` (``net``), initialised at
        the start of the stage.
    net : object, optional
        The estimator, reachable from callbacks as ``net.estimator_``.
    start_epoch : int, default=0
        Epochs already done (resuming from a checkpoint): epochs ``start_epoch + 1``
        to ``n_epochs`` run, on the same schedule as in one uninterrupted run.
    valid : tuple of torch.Tensor, optional
        ``(X, y)`` of labelled source rows held out for validation.
    n_classes : int, optional
        Number of classes (default: from ``data.y_src``).
    verbose : int, default=0
        The net's ``verbose`` (``>= 2``: skorch's ``PrintLog`` table).

    Returns
    -------
    StageNet
        The net that ran the stage.

    Raises
    ------
    FloatingPointError
        If a value of the history becomes NaN or infinite (naming the stage, the
        epoch and the key).
    skrcd.training.TrainingInterrupted
        On Ctrl-C (a :class:`KeyboardInterrupt` in a step, or a first Ctrl-C
        deferred by :func:`skrcd.training.deferred_sigint` to the end of the step):
        the weights of the stage's networks are rolled back to the last completed
        epoch (optimiser and selector state are not: resume from a checkpoint to
        continue training exactly), ``history`` keeps only complete rows, the
        callbacks' ``on_train_end`` run, then this :class:`KeyboardInterrupt`
        subclass is raised. A second Ctrl-C propagates as a plain
        :class:`KeyboardInterrupt`. A :class:`KeyboardInterrupt` raised by a
        callback (``EarlyStopping``) ends the stage normally.

    Examples
    --------
    >>> import torch
    >>> from skorch.callbacks import EarlyStopping
    >>> from skorch.history import History
    >>> from skrcd.nn import CNN1D
    >>> from skrcd.training import DomainTensors, SourceOnlyStage
    >>> data = DomainTensors(torch.randn(8, 2, 16), torch.tensor([0, 1] * 4), torch.randn(8, 2, 16))
    >>> history = History()
    >>> stage = SourceOnlyStage(CNN1D(2, 2, channels=(4, 4, 4)), data)
    >>> net = run_stage(stage, data, n_epochs=2, batch_size=4, history=history, generator=torch.Generator())
    >>> [(row["stage"], row["epoch"]) for row in history], "train_loss" in history[-1]
    ([('source_only', 1), ('source_only', 2)], True)
    >>> stop = EarlyStopping(monitor="train_loss", patience=1, threshold=10.0, sink=lambda msg: None)
    >>> _ = run_stage(stage, data, 5, 4, History(), torch.Generator(), callbacks=[stop])
    >>> stop.best_epoch_  # no epoch improved tenfold on the first: stopped after the second
    1
    """
    stage_net = StageNet.for_stage(stage, data, n_epochs, batch_size, generator, callbacks=callbacks,
                                   estimator=net, history=history, start_epoch=start_epoch, valid=valid,
                                   n_classes=n_classes, verbose=verbose)
    stage_net.partial_fit(data.X_src, data.y_src)
    return stage_net


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
        Callbacks of every stage (the estimator's ``callbacks``, the progress bar).
    net : object, optional
        The estimator (``net.estimator_`` in the callbacks).
    checkpoints : skrcd.training.FitCheckpoints or None
        Writes checkpoints and resumes from them (None: no checkpoints).
    interrupted : dict or None
        None until a Ctrl-C stops a stage; then ``{"stage", "epoch", "n_epochs"}``.
    role : str or None
        Which hook is running (``"teacher"``, ``"student"``): picks the callbacks
        of ``role_callbacks`` that :meth:`run` adds.
    role_callbacks : dict
        Callbacks per role (the estimator's ``teacher_callbacks``, ``student_callbacks``).
    valid : tuple of torch.Tensor or None
        ``(X, y)`` of the source validation rows (``train_split``), or None.
    verbose : int
        The estimator's ``verbose``.
    warm_start : bool
        Whether the hooks continue from the fitted networks.
    max_epochs : int or None
        At most this many epochs per stage (``SKRCD_MAX_EPOCHS``); None: as asked.

    Examples
    --------
    A stage hook of an estimator subclass (as in ``skrcd.baselines``) builds
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
    role: str | None = None
    role_callbacks: dict = field(default_factory=dict)
    valid: tuple | None = None
    verbose: int = 0
    warm_start: bool = False
    max_epochs: int | None = None

    def run(self, stage, n_epochs):
        """Train ``stage`` for ``n_epochs`` epochs with :func:`run_stage`, resuming and checkpointing.

        A callback's stop request (``EarlyStopping``) ends the stage normally. A
        Ctrl-C ends it gracefully (see :func:`run_stage`): the stage keeps its last
        completed epoch, ``interrupted`` says where, and the stages run after
        it in the same fit do nothing.

        Parameters
        ----------
        stage : skrcd.training.TrainingStage
        n_epochs : int

        Returns
        -------
        bool
            Whether the stage ended without a Ctrl-C.
        """
        if self.interrupted is not None:  # an earlier stage of this fit was stopped
            return False
        if self.max_epochs is not None:
            n_epochs = min(n_epochs, self.max_epochs)
        start, extra = (0, []) if self.checkpoints is None else self.checkpoints.prepare(stage, self.generator, n_epochs)
        callbacks = [*self.callbacks, *self.role_callbacks.get(self.role, ()), *extra]
        try:
            run_stage(stage, self.data, n_epochs, self.batch_size, self.history, self.generator, callbacks, self.net,
                      start_epoch=start, valid=self.valid, n_classes=self.n_classes, verbose=self.verbose)
        except TrainingInterrupted as exc:
            self.interrupted = {"stage": exc.stage, "epoch": exc.epoch, "n_epochs": exc.n_epochs}
            return False
        if self.checkpoints is not None:
            self.checkpoints.stage_done(stage)
        return True
