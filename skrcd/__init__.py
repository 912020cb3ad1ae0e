"""skrcd: Reinforced Cross-Domain Knowledge Distillation (RCD-KD) as a scikit-learn estimator."""

from ._version import __version__
from .baselines import AADClassifier, DANNStudentClassifier, MobileDAClassifier, SourceOnlyClassifier
from .classifier import PAPER_PARAMS, RCDKDClassifier, SelectionCollapseWarning
from .persistence import load

__all__ = [
    "RCDKDClassifier",
    "SourceOnlyClassifier",
    "DANNStudentClassifier",
    "MobileDAClassifier",
    "AADClassifier",
    "SelectionCollapseWarning",
    "PAPER_PARAMS",
    "load",
    "__version__",
]
