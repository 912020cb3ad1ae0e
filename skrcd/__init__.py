"""skrcd: Reinforced Cross-Domain Knowledge Distillation (RCD-KD) as a scikit-learn estimator."""

from .classifier import RCDKDClassifier

__version__ = "0.1.0"

__all__ = ["RCDKDClassifier", "__version__"]
