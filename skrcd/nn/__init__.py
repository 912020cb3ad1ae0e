"""Pure torch building blocks: the networks (:mod:`skrcd.nn.networks`) and the loss terms (:mod:`skrcd.nn.losses`)."""

from .losses import (
    conditional_adversarial_loss,
    conditional_entropy,
    coral_loss,
    dann_coefficient,
    distillation_loss,
    domain_adversarial_loss,
    vat_loss,
)
from .augment import SensorAugment
from .label_shift import em_target_prior, prior_log_ratio, source_prior
from .networks import (
    CNN1D,
    TCN,
    ConfigMixin,
    DomainDiscriminator,
    TeacherEnsemble,
    TimeFrequencyCNN,
    count_parameters,
    dry_run,
    eval_forward,
    feature_size,
    grad_reverse,
)

__all__ = [
    "CNN1D",
    "TimeFrequencyCNN",
    "TCN",
    "DomainDiscriminator",
    "TeacherEnsemble",
    "ConfigMixin",
    "grad_reverse",
    "count_parameters",
    "dry_run",
    "eval_forward",
    "feature_size",
    "distillation_loss",
    "domain_adversarial_loss",
    "dann_coefficient",
    "coral_loss",
    "conditional_adversarial_loss",
    "conditional_entropy",
    "vat_loss",
    "SensorAugment",
    "em_target_prior",
    "source_prior",
    "prior_log_ratio",
]
