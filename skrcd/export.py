"""Deploying the distilled student alone: ONNX or TorchScript.

The exported module takes raw windows, float32 ``(batch, channels, length)``
with any batch size, applies the input standardisation learned in ``fit`` and
returns the student's class probabilities, the same numbers as
:meth:`skrcd.RCDKDClassifier.predict_proba` (columns in the order of
``classes_``).
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = ["StudentWithStandardization", "student_module", "export_student"]


class StudentWithStandardization(nn.Module):
    """A student network behind the input standardisation, returning probabilities.

    Parameters
    ----------
    student : torch.nn.Module
        A ``(logits, features)`` network.
    mean, std : array-like of shape (channels,)
        Per-channel statistics; the input is ``(x - mean) / std``.

    Examples
    --------
    >>> import torch
    >>> from skrcd.nn import CNN1D
    >>> m = StudentWithStandardization(CNN1D(2, 3, (4, 4, 4)).eval(), [0.0, 0.0], [1.0, 1.0])
    >>> m(torch.zeros(5, 2, 16)).shape
    torch.Size([5, 3])
    """

    def __init__(self, student, mean, std):
        super().__init__()
        self.student = student
        self.register_buffer("mean", torch.as_tensor(np.asarray(mean, dtype=np.float32)).view(1, -1, 1))
        self.register_buffer("std", torch.as_tensor(np.asarray(std, dtype=np.float32)).view(1, -1, 1))

    def forward(self, x):
        logits, _ = self.student((x - self.mean) / self.std)
        return torch.softmax(logits, dim=1)


def student_module(estimator):
    """The fitted student of ``estimator`` as a standalone CPU module in eval mode.

    Parameters
    ----------
    estimator : skrcd.RCDKDClassifier
        A fitted estimator.

    Returns
    -------
    StudentWithStandardization

    Raises
    ------
    ValueError
        If the estimator has no student (its fit was interrupted in the teacher stage).

    Examples
    --------
    >>> import torch
    >>> from skrcd import RCDKDClassifier
    >>> from skrcd.datasets import make_domain_shift
    >>> X_src, y_src, X_tgt, _ = make_domain_shift(n_source=20, n_target=20, length=16, random_state=0)
    >>> clf = RCDKDClassifier(teacher_epochs=1, student_epochs=1, teacher_channels=(8, 8, 8),
    ...                       selector_hidden=8, random_state=0).fit(X_src, y_src, X_tgt)
    >>> proba = student_module(clf)(torch.from_numpy(X_tgt)).detach().numpy()
    >>> bool(abs(proba - clf.predict_proba(X_tgt)).max() < 1e-5)
    True
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator, "student_")
    if estimator.student_ is None:
        raise ValueError("this estimator has no student to export (its fit was interrupted in the teacher stage)")
    n_channels = getattr(estimator, "n_channels_", None) or estimator.n_features_in_
    if getattr(estimator, "standardize", False) and hasattr(estimator, "channel_mean_"):
        mean, std = estimator.channel_mean_, estimator.channel_std_
    else:
        mean, std = np.zeros(n_channels, np.float32), np.ones(n_channels, np.float32)
    student = copy.deepcopy(estimator.student_).cpu().eval()
    student.requires_grad_(False)
    return StudentWithStandardization(student, mean, std).eval()


def export_student(estimator, path, format="onnx"):
    """Write the fitted student, standardisation included, as ONNX or TorchScript.

    Input: float32 windows ``(batch, channels, length)`` (batch size dynamic,
    ``channels`` and ``length`` as in ``fit``); output: class probabilities
    ``(batch, n_classes)`` in the order of ``classes_``. ONNX names them ``x``
    and ``proba``. TorchScript is deprecated upstream (torch >= 2.9) but still
    loads with ``torch.jit.load``.

    Parameters
    ----------
    estimator : skrcd.RCDKDClassifier
        A fitted estimator.
    path : str or path-like
        File to write.
    format : {"onnx", "torchscript"}, default="onnx"
        ``"onnx"`` needs the ``onnx`` and ``onnxscript`` packages
        (``pip install "skrcd[export]"``; ``onnxruntime`` runs the file).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError
        Unknown format, or no student.
    ImportError
        ``format="onnx"`` without the ONNX exporter's packages.

    Examples
    --------
    >>> import os, tempfile, torch
    >>> from skrcd import RCDKDClassifier
    >>> from skrcd.datasets import make_domain_shift
    >>> X_src, y_src, X_tgt, _ = make_domain_shift(n_source=20, n_target=20, length=16, random_state=0)
    >>> clf = RCDKDClassifier(teacher_epochs=1, student_epochs=1, teacher_channels=(8, 8, 8),
    ...                       selector_hidden=8, random_state=0).fit(X_src, y_src, X_tgt)
    >>> path = export_student(clf, os.path.join(tempfile.mkdtemp(), "student.pt"), format="torchscript")
    >>> import warnings; warnings.simplefilter("ignore", DeprecationWarning)
    >>> proba = torch.jit.load(str(path))(torch.from_numpy(X_tgt)).numpy()
    >>> bool(abs(proba - clf.predict_proba(X_tgt)).max() < 1e-5)
    True
    """
    if format not in ("onnx", "torchscript"):
        raise ValueError(f"format must be 'onnx' or 'torchscript', got {format!r}")
    module = student_module(estimator)
    path = Path(path)
    n_channels = module.mean.shape[1]
    example = torch.zeros(2, n_channels, int(estimator.n_timepoints_))
    if format == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated upstream, still supported
            torch.jit.script(module).save(str(path))
        return path
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            f"format='onnx' needs the onnx and onnxscript packages ({exc}); install them with "
            "pip install 'skrcd[export]'"
        ) from None
    batch = torch.export.Dim("batch", min=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation chatter
        program = torch.onnx.export(
            module, (example,), input_names=["x"], output_names=["proba"], dynamic_shapes={"x": {0: batch}},
            dynamo=True, verbose=False,
        )
    program.save(str(path), external_data=False)
    return path
