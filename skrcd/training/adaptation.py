"""Teacher objectives besides DANN, each a stage of the one training loop.

- :class:`VADAStage`: DANN plus the target's conditional entropy and virtual
  adversarial training on both domains (VADA, the first phase of DIRT-T);
- :class:`RefinementStage`: DIRT-T's second phase, the target alone: conditional
  entropy and VAT, kept close to the previous iterate;
- :class:`CDANStage`: conditional adversarial alignment of features x predictions
  (CDAN+E).

:data:`TEACHER_OBJECTIVES` names them for the estimator's ``teacher_method``.
"""

from __future__ import annotations

import copy

import torch
from torch.nn import functional as F

from ..nn.losses import conditional_adversarial_loss, conditional_entropy, dann_coefficient, vat_loss
from .stages import DANNStage, TrainingStage, _adam, source_cross_entropy

__all__ = ["VADAStage", "RefinementStage", "CDANStage", "TEACHER_OBJECTIVES"]

#: ``teacher_method`` values and what each trains (DANN is :class:`~skrcd.training.DANNStage`).
TEACHER_OBJECTIVES = {
    "dann": "DANN: source cross-entropy + gradient-reversed domain loss",
    "vada": "VADA: DANN + target conditional entropy + VAT on source and target",
    "dirtt": "DIRT-T: VADA, then a refinement on the target alone (conditional entropy, VAT, proximity)",
    "cdan": "CDAN+E: the domain discriminator sees features x predictions, entropy-weighted",
}


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
                 domain_weight=1.0, ent_weight=0.1, vat_weight=1.0, vat_radius=3.5, name="teacher"):
        super().__init__(model, discriminator, data, lr, betas, weight_decay, domain_weight, name)
        self.ent_weight, self.vat_weight, self.vat_radius = ent_weight, vat_weight, vat_radius

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
        if self.vat_weight:  # the costly part: two more forward passes and a backward per domain
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
