"""Every warning and error class skrcd raises, in one place.

Each class lives beside the code that raises it; this module re-exports them all, so that
``from skrcd.exceptions import ...`` finds any of them and a filter such as
``warnings.simplefilter("error", skrcd.exceptions.SelectionCollapseWarning)`` needs no search.

Warnings
    :class:`SelectionCollapseWarning` (the selection left the student untaught),
    :class:`FitInterruptedWarning` (Ctrl-C ended a fit early, the fitted state is usable),
    :class:`NoTargetWarning` (no target rows: a source-only fit), :class:`XTgtTrapWarning`,
    :class:`ChannelsLastWarning`, :class:`MaskLabelWarning`, :class:`MaskedRowsScoredWarning` (traps of the
    scikit-learn and data conventions), :class:`DataScaleWarning`, :class:`LengthMismatchWarning` (the data),
    :class:`DeviceFallbackWarning` (a device that is not there), :class:`UnverifiedDownloadWarning` (a download
    without a published checksum).
Errors
    :class:`InvalidParameterError` (a parameter outside its constraint table; a ``ValueError`` and a
    ``TypeError``), :class:`ComplexDataError`, :class:`ModelFileError` (a model file or checkpoint that cannot be
    read safely), :class:`NotJSONError`, :class:`CheckpointDirInUseError`, :class:`TrainingInterrupted` (the
    ``KeyboardInterrupt`` a stage raises when Ctrl-C stops it).

Examples
--------
>>> from skrcd import RCDKDClassifier
>>> from skrcd.exceptions import InvalidParameterError
>>> try:
...     RCDKDClassifier(kd_weight=-1).fit([[0.0, 1.0]] * 4, [0, 1, 0, 1])
... except InvalidParameterError as exc:  # checked before the data are read
...     print(exc)
kd_weight must be a finite number >= 0, got -1
"""

from ._device import DeviceFallbackWarning
from ._param_validation import InvalidParameterError
from ._traps import ChannelsLastWarning, MaskedRowsScoredWarning, MaskLabelWarning, XTgtTrapWarning
from .selection.record import SelectionCollapseWarning
from .data import ComplexDataError, DataScaleWarning, LengthMismatchWarning
from .datasets import UnverifiedDownloadWarning
from .domains import NoTargetWarning
from .persistence.archive import ModelFileError, NotJSONError
from .training.checkpoints import CheckpointDirInUseError
from .training.interrupt import FitInterruptedWarning, TrainingInterrupted

__all__ = [
    "SelectionCollapseWarning", "FitInterruptedWarning", "NoTargetWarning", "XTgtTrapWarning", "ChannelsLastWarning",
    "MaskLabelWarning", "MaskedRowsScoredWarning", "DataScaleWarning", "LengthMismatchWarning",
    "DeviceFallbackWarning", "UnverifiedDownloadWarning", "InvalidParameterError", "ComplexDataError",
    "ModelFileError", "NotJSONError", "CheckpointDirInUseError", "TrainingInterrupted",
]
