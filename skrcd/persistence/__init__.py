"""Saving and loading estimators in skrcd's safe file format.

- :mod:`skrcd.persistence.archive`: the file container (a zip of JSON metadata and
  tensors read with ``torch.load(weights_only=True)``), shared with the training
  checkpoints (:mod:`skrcd.training.checkpoints`);
- :mod:`skrcd.persistence.model_file`: saving and loading fitted estimators;
- :mod:`skrcd.persistence.history`: training histories stored as columns among the
  tensors (model files and checkpoints).
"""

from .archive import FORMAT_VERSION, ModelFileError, read_metadata
from .model_file import ModelFileMixin, load, save

__all__ = ["FORMAT_VERSION", "ModelFileError", "ModelFileMixin", "save", "load", "read_metadata"]
