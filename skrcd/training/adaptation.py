"""Teacher objectives, each a stage (or stages) of the one training loop, and the registry that names them.

- :class:`VADAStage`: DANN plus the target's conditional entropy and virtual
  adversarial training on both domains (VADA, the first phase of DIRT-T);
- :class:`RefinementStage`: DIRT-T's second phase, the target alone: conditional
  entropy and VAT, kept close to the previous iterate;
- :class:`CDANStage`: conditional adversarial alignment of features x predictions
  (CDAN+E);
- :class:`TemporalMixupStage`: DANN plus cross-domain temporal mixup (CoTMix's
  source- and target-dominant mixes) and the target's conditional entropy.

:data:`TEACHER_OBJECTIVES` maps each ``teacher_method`` name to a
:class:`TeacherObjective`: its description and the function that builds its
stages from the estimator's settings. :func:`register_teacher_objective` adds one;
the estimator's ``teacher_method`` accepts every registered name.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from numbers import Integral
from typing import Callable

import torch
from torch.nn import functional as F

from ..nn.augment import domain_mix
from ..nn.losses import conditional_adversarial_loss, conditional_entropy, dann_coefficient, vat_loss
from ..nn.networks import DomainDiscriminator
from .stages import DANNStage, TrainingStage, _adam, source_cross_entropy

__all__ = ["VADAStage", "RefinementStage", "CDANStage", "TemporalMixupStage", "TeacherObjective",
           "TEACHER_OBJECTIVES", "register_teacher_objective"]


@dataclass(frozen=True)
class TeacherObjective:
    """A teacher objective: what it trains, and how to build its stages.

    Attributes
    ----------
    name : str
        The ``teacher_method`` value.
    description : str
        One line: what the objective minimises.
    build : callable
        ``build(est, ctx, teacher, discriminator, n_features)`` -> list of
        ``(stage, n_epochs)``: the stages that train one teacher network, built
        from the estimator ``est``'s parameters (``teacher_lr``, ``betas``,
        ``teacher_epochs``, ...) on the fit context ``ctx``
        (:class:`~skrcd.training.FitContext`); ``discriminator`` is the domain
        discriminator the student stage will reuse, ``n_features`` the
        teacher's feature size.
    """

    name: str
    description: str
    build: Callable


#: ``teacher_method`` name -> :class:`TeacherObjective`.
TEACHER_OBJECTIVES: dict[str, TeacherObjective] = {}


def register_teacher_objective(name, description, build, *, replace=False):
    """Add a teacher objective under ``name`` (the estimator's ``teacher_method`` accepts it at once).

    Parameters
    ----------
    name : str
    description : str
    build : callable
        See :class:`TeacherObjective`.
    replace : bool, default=False
        Allow replacing an objective of the same name.

    Returns
    -------
    TeacherObjective

    Examples
    --------
    A source-only teacher (no adaptation), trained by the DANN stage with no domain loss:

    >>> from skrcd.training import DANNStage
    >>> def source_only(est, ctx, teacher, discriminator, n_features):
    ...     stage = DANNStage(teacher, discriminator, ctx.data, lr=est.teacher_lr, domain_weight=0.0)
    ...     return [(stage, est.teacher_epochs)]
    >>> objective = register_teacher_objective("plain_source", "source cross-entropy only", source_only)
    >>> from skrcd import RCDKDClassifier
    >>> RCDKDClassifier(teacher_method="plain_source")._check_params()
    >>> _ = TEACHER_OBJECTIVES.pop("plain_source")  # keep the doctest's registry clean
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"a teacher objective's name must be a non-empty str, got {name!r}")
    if not callable(build):
        raise TypeError(f"build must be callable, got {build!r}")
    if name in TEACHER_OBJECTIVES and not replace:
        raise ValueError(f"a teacher objective {name!r} is registered already (replace=True to replace it)")
    objective = TeacherObjective(name, description, build)
    TEACHER_OBJECTIVES[name] = objective
    return objective


class VADAStage(DANNStage):
    """VADA: DANN's losses plus the target's conditional entropy and VAT on both domains.

    ``loss = CE_src + domain_weight * L_dom + ent_weight * H(p_tgt)
    + vat_weight * (VAT_src + VAT_tgt)``. The conditional entropy pushes decision
    boundaries away from dense regions of the target; VAT makes the network locally
    smooth there, so that entropy minimisation does not simply sharpen it.

    Parameters
    ----------
    model, discriminator, data, lr, betas, weight_decay, domain_weight, name
        As :class:`~skrcd.training.DANNStage`.
    ent_weight : float, default=0.1
        Weight of the target conditional entropy.
    vat_weight : float, default=1.0
        Weight of the VAT terms (source + target).
    vat_radius : float, default=3.5
        L2 norm of a window's adversarial perturbation (inputs are standardised).
    vat_every : int, default=1
        VAT on the first step of each epoch and then on every ``vat_every``-th
        (its weight unchanged); the other steps are DANN + entropy steps, about a
        third of the time. ``loss_vat`` is logged as 0 on them.

    References
    ----------
    Shu, R., Bui, H. H., Narui, H., Ermon, S. "A DIRT-T Approach to Unsupervised
    Domain Adaptation", ICLR 2018.

    Examples
    --------
    >>> import torch
    >>> from skrcd.nn import CNN1D, DomainDiscriminator
    >>> from skrcd.training import DomainTensors
    >>> data = DomainTensors(torch.randn(8, 2, 16), torch.tensor([0, 1] * 4), torch.randn(8, 2, 16))
    >>> stage = VADAStage(CNN1D(2, 2, channels=(4, 4, 4)), DomainDiscriminator(4), data)
    >>> sorted(stage.train_step(torch.arange(8), torch.arange(8), progress=0.5))
    ['loss', 'loss_cls', 'loss_domain', 'loss_ent', 'loss_vat', 'source_acc']
    """

    def __init__(self, model, discriminator, data, lr=1e-2, betas=(0.5, 0.99), weight_decay=1e-4,
                 domain_weight=1.0, ent_weight=0.1, vat_weight=1.0, vat_radius=3.5, vat_every=1, name="teacher"):
        super().__init__(model, discriminator, data, lr, betas, weight_decay, domain_weight, name)
        self.ent_weight, self.vat_weight, self.vat_radius = ent_weight, vat_weight, vat_radius
        if isinstance(vat_every, bool) or not isinstance(vat_every, Integral) or vat_every < 1:
            raise ValueError(f"vat_every must be a positive int, got {vat_every!r}")
        self.vat_every, self._step = int(vat_every), 0

    def on_epoch_begin(self, epoch, n_epochs):
        super().on_epoch_begin(epoch, n_epochs)
        self._step = 0  # the cadence restarts each epoch, so a resumed fit applies VAT on the same steps

    def train_step(self, src_idx, tgt_idx, progress):
        d = self.data
        x_s, x_t, y_s = d.X_src[src_idx], d.X_tgt[tgt_idx], d.y_src[src_idx]
        logits_s, feats_s = self.model(x_s)
        logits_t, feats_t = self.model(x_t)
        cls = source_cross_entropy(logits_s, d, src_idx)
        dom = self._domain_loss(feats_s, logits_s, feats_t, logits_t, progress)
        ent = conditional_entropy(logits_t)
        loss = cls + self.domain_weight * dom + self.ent_weight * ent
        vat = torch.zeros((), device=loss.device)
        use_vat = self.vat_weight and self._step % self.vat_every == 0
        self._step += 1
        if use_vat:  # the costly part: two more forward passes and a backward per domain
            vat = vat_loss(self.model, x_s, logits_s, self.vat_radius) + vat_loss(self.model, x_t, logits_t,
                                                                                  self.vat_radius)
            loss = loss + self.vat_weight * vat
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        acc = (logits_s.argmax(1) == y_s).float().mean()
        return {"loss": loss.detach(), "loss_cls": cls.detach(), "loss_domain": dom.detach(),
                "loss_ent": ent.detach(), "loss_vat": vat.detach(), "source_acc": acc}


class RefinementStage(TrainingStage):
    """DIRT-T's refinement: the target alone, conditional entropy + VAT, near the previous iterate.

    ``loss = ent_weight * H(p_tgt) + vat_weight * VAT_tgt + prox_weight *
    KL(p_prev || p)``, where ``p_prev`` is a frozen copy of the network taken at the
    start of each epoch: the network moves towards decision boundaries in
    low-density regions of the target without drifting far per epoch. Run it after
    :class:`VADAStage` (the source is no longer used).

    Parameters
    ----------
    model : torch.nn.Module
    data : skrcd.training.DomainTensors
    lr : float, default=1e-3
    betas, weight_decay : Adam settings.
    ent_weight, vat_weight, prox_weight : float, default=1.0
    vat_radius : float, default=3.5
    name : str, default="teacher_refine"

    Examples
    --------
    >>> import torch
    >>> from skrcd.nn import CNN1D
    >>> from skrcd.training import DomainTensors
    >>> data = DomainTensors(torch.randn(8, 2, 16), torch.tensor([0, 1] * 4), torch.randn(8, 2, 16))
    >>> stage = RefinementStage(CNN1D(2, 2, channels=(4, 4, 4)), data)
    >>> stage.on_epoch_begin(0, 1)
    >>> sorted(stage.train_step(None, torch.arange(8), progress=0.0))
    ['loss', 'loss_ent', 'loss_prox', 'loss_vat']
    """

    def __init__(self, model, data, lr=1e-3, betas=(0.5, 0.99), weight_decay=1e-4, ent_weight=1.0,
                 vat_weight=1.0, prox_weight=1.0, vat_radius=3.5, name="teacher_refine"):
        self.model, self.data, self.name = model, data, name
        self.ent_weight, self.vat_weight, self.prox_weight = ent_weight, vat_weight, prox_weight
        self.vat_radius = vat_radius
        self.optimizer = _adam(model.parameters(), lr, betas, weight_decay)
        self.previous = None

    def modules(self):
        return [self.model]

    def on_epoch_begin(self, epoch, n_epochs):
        super().on_epoch_begin(epoch, n_epochs)
        self.previous = copy.deepcopy(self.model).eval().requires_grad_(False)

    def train_step(self, src_idx, tgt_idx, progress):
        x_t = self.data.X_tgt[tgt_idx]
        logits_t, _ = self.model(x_t)
        with torch.no_grad():
            old, _ = self.previous(x_t)
        ent = conditional_entropy(logits_t)
        prox = F.kl_div(F.log_softmax(logits_t, dim=1), F.softmax(old, dim=1), reduction="batchmean")
        loss = self.ent_weight * ent + self.prox_weight * prox
        vat = torch.zeros((), device=loss.device)
        if self.vat_weight:
            vat = vat_loss(self.model, x_t, logits_t, self.vat_radius)
            loss = loss + self.vat_weight * vat
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.detach(), "loss_ent": ent.detach(), "loss_vat": vat.detach(),
                "loss_prox": prox.detach()}


class CDANStage(DANNStage):
    """CDAN+E: source cross-entropy plus the conditional adversarial loss on features x predictions.

    The discriminator takes ``n_features * n_classes`` inputs (see
    :func:`skrcd.nn.conditional_adversarial_loss`), so it differs from the one the
    student stage uses on teacher features.

    Parameters
    ----------
    model, discriminator, data, lr, betas, weight_decay, domain_weight, name
        As :class:`~skrcd.training.DANNStage` (``discriminator`` on the joint input).
    entropy_conditioning : bool, default=True
        Weight samples by ``1 + exp(-entropy)`` (CDAN+E).

    Examples
    --------
    >>> import torch
    >>> from skrcd.nn import CNN1D, DomainDiscriminator
    >>> from skrcd.training import DomainTensors
    >>> data = DomainTensors(torch.randn(8, 2, 16), torch.tensor([0, 1] * 4), torch.randn(8, 2, 16))
    >>> stage = CDANStage(CNN1D(2, 2, channels=(4, 4, 4)), DomainDiscriminator(4 * 2), data)
    >>> sorted(stage.train_step(torch.arange(8), torch.arange(8), progress=0.5))
    ['loss', 'loss_cls', 'loss_domain', 'source_acc']
    """

    def __init__(self, model, discriminator, data, lr=1e-2, betas=(0.5, 0.99), weight_decay=1e-4,
                 domain_weight=1.0, entropy_conditioning=True, name="teacher"):
        super().__init__(model, discriminator, data, lr, betas, weight_decay, domain_weight, name)
        self.entropy_conditioning = entropy_conditioning

    def _domain_loss(self, feats_s, logits_s, feats_t, logits_t, progress):
        return conditional_adversarial_loss(self.discriminator, feats_s, logits_s, feats_t, logits_t,
                                            dann_coefficient(progress), self.entropy_conditioning)


class TemporalMixupStage(DANNStage):
    """DANN plus cross-domain temporal mixup: CoTMix's two mixes as extra training signal.

    Each step builds a source-dominant mix ``(1 - r) x_s + r MA(x_t)`` that keeps
    its source label (cross-entropy), and a target-dominant mix
    ``(1 - r) x_t + r MA(x_s)`` whose prediction must agree with the plain target
    window's (``KL(p(x_t) || p(x_mix))``, the plain prediction as a fixed
    target), where ``MA`` is a centred moving average over ``kernel`` steps
    (:func:`skrcd.nn.augment.domain_mix`). Both mixes carry a little of the other
    domain's temporal context, so the network learns what of a window survives
    it; the target's conditional entropy keeps the decision boundaries out of
    the target's dense regions. The mixes cost two forward passes per step, no
    VAT.

    Parameters
    ----------
    model, discriminator, data, lr, betas, weight_decay, domain_weight, name
        As :class:`~skrcd.training.DANNStage`.
    mix_ratio : float, default=0.1
        Share ``r`` of the other domain in a mix.
    kernel : int, default=5
        Moving-average width of the other domain's window.
    mix_weight : float, default=1.0
        Weight of the two mix terms.
    ent_weight : float, default=0.1
        Weight of the target conditional entropy.

    References
    ----------
    Eldele, E., Ragab, M., Chen, Z., Wu, M., Kwoh, C.-K., Li, X. "Contrastive
    Domain Adaptation for Time-Series via Temporal Mixup", IEEE TAI, 2023
    (CoTMix; it ties the target-dominant mix to the target window with a
    contrastive loss, here a consistency term).

    Examples
    --------
    >>> import torch
    >>> from skrcd.nn import CNN1D, DomainDiscriminator
    >>> from skrcd.training import DomainTensors
    >>> data = DomainTensors(torch.randn(8, 2, 16), torch.tensor([0, 1] * 4), torch.randn(8, 2, 16))
    >>> stage = TemporalMixupStage(CNN1D(2, 2, channels=(4, 4, 4)), DomainDiscriminator(4), data)
    >>> sorted(stage.train_step(torch.arange(8), torch.arange(8), progress=0.5))
    ['loss', 'loss_cls', 'loss_domain', 'loss_ent', 'loss_mix_src', 'loss_mix_tgt', 'source_acc']
    """

    def __init__(self, model, discriminator, data, lr=1e-2, betas=(0.5, 0.99), weight_decay=1e-4,
                 domain_weight=1.0, mix_ratio=0.1, kernel=5, mix_weight=1.0, ent_weight=0.1, name="teacher"):
        super().__init__(model, discriminator, data, lr, betas, weight_decay, domain_weight, name)
        self.mix_ratio, self.kernel, self.mix_weight, self.ent_weight = mix_ratio, kernel, mix_weight, ent_weight

    def train_step(self, src_idx, tgt_idx, progress):
        d = self.data
        x_s, x_t = d.X_src[src_idx], d.X_tgt[tgt_idx]
        logits_s, feats_s = self.model(x_s)
        logits_t, feats_t = self.model(x_t)
        logits_sm, _ = self.model(domain_mix(x_s, x_t, self.mix_ratio, self.kernel))
        logits_tm, _ = self.model(domain_mix(x_t, x_s, self.mix_ratio, self.kernel))
        cls = source_cross_entropy(logits_s, d, src_idx)
        dom = self._domain_loss(feats_s, logits_s, feats_t, logits_t, progress)
        ent = conditional_entropy(logits_t)
        mix_src = source_cross_entropy(logits_sm, d, src_idx)
        mix_tgt = F.kl_div(F.log_softmax(logits_tm, dim=1), F.softmax(logits_t.detach(), dim=1),
                           reduction="batchmean")
        loss = cls + self.domain_weight * dom + self.ent_weight * ent + self.mix_weight * (mix_src + mix_tgt)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        acc = (logits_s.argmax(1) == d.y_src[src_idx]).float().mean()
        return {"loss": loss.detach(), "loss_cls": cls.detach(), "loss_domain": dom.detach(),
                "loss_ent": ent.detach(), "loss_mix_src": mix_src.detach(), "loss_mix_tgt": mix_tgt.detach(),
                "source_acc": acc}


# ------------------------------------------------------------------ the registered objectives
def _common(est):
    return dict(lr=est.teacher_lr, betas=est.betas, weight_decay=est.weight_decay,
                domain_weight=est.teacher_domain_weight, name="teacher")


def _vada_settings(est):
    return dict(ent_weight=est.teacher_ent_weight, vat_weight=est.teacher_vat_weight, vat_radius=est.vat_radius,
                vat_every=est.teacher_vat_every)


def _dann(est, ctx, teacher, discriminator, n_features):
    return [(DANNStage(teacher, discriminator, ctx.data, **_common(est)), est.teacher_epochs)]


def _vada(est, ctx, teacher, discriminator, n_features):
    return [(VADAStage(teacher, discriminator, ctx.data, **_common(est), **_vada_settings(est)), est.teacher_epochs)]


#: DIRT-T's refinement settings (Shu et al.): a tenth of the learning rate, unit weights.
DIRTT_REFINEMENT = dict(lr_factor=0.1, ent_weight=1.0, vat_weight=1.0, prox_weight=1.0)


def _dirtt(est, ctx, teacher, discriminator, n_features):
    stages = _vada(est, ctx, teacher, discriminator, n_features)
    if est.teacher_refine_epochs:
        r = DIRTT_REFINEMENT
        refine = RefinementStage(teacher, ctx.data, lr=est.teacher_lr * r["lr_factor"], betas=est.betas,
                                 weight_decay=est.weight_decay, ent_weight=r["ent_weight"],
                                 vat_weight=r["vat_weight"], prox_weight=r["prox_weight"], vat_radius=est.vat_radius)
        stages.append((refine, est.teacher_refine_epochs))
    return stages


def _cdan(est, ctx, teacher, discriminator, n_features):
    joint = DomainDiscriminator(n_features * ctx.n_classes).to(ctx.device)
    return [(CDANStage(teacher, joint, ctx.data, **_common(est)), est.teacher_epochs)]


def _mixup(est, ctx, teacher, discriminator, n_features):
    stage = TemporalMixupStage(teacher, discriminator, ctx.data, **_common(est), ent_weight=est.teacher_ent_weight)
    return [(stage, est.teacher_epochs)]


register_teacher_objective("dann", "DANN: source cross-entropy + gradient-reversed domain loss", _dann)
register_teacher_objective("vada", "VADA: DANN + target conditional entropy + VAT on source and target", _vada)
register_teacher_objective(
    "dirtt", "DIRT-T: VADA, then a refinement on the target alone (conditional entropy, VAT, proximity)", _dirtt)
register_teacher_objective(
    "cdan", "CDAN+E: the domain discriminator sees features x predictions, entropy-weighted", _cdan)
register_teacher_objective(
    "mixup", "DANN + cross-domain temporal mixup (CoTMix's mixes) + target conditional entropy; no VAT", _mixup)
