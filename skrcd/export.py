"""Deploying a fitted network alone: ONNX (float32 or int8) or TorchScript.

The exported file takes raw windows, float32 ``(batch, channels, length)`` with
any batch size, applies the input standardisation learned in ``fit`` and returns
the class probabilities of the student (or of the teacher), the same numbers as
:meth:`skrcd.RCDKDClassifier.predict_proba` (columns in the order of
``classes_``).

ONNX files are written in the form ONNX Runtime runs fastest on a CPU: batch
norm folded into the convolutions, the ``1/std`` of the standardisation folded
into the first convolution, and the 1D convolutions of the CNN written as 2D
convolutions of height 1, which ONNX Runtime's x86 layout optimisation (NCHWc)
accelerates and other runtimes run like any convolution. ``quantize="int8"``
adds static int8 quantisation with ONNX Runtime's own tool
(:mod:`onnxruntime.quantization`), calibrated on windows the caller passes.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = ["StudentWithStandardization", "student_module", "network_module", "export_student"]

_FORMATS = ("onnx", "torchscript")
_NETWORKS = ("student", "teacher")
_QUANTIZE = (None, "int8")


class StudentWithStandardization(nn.Module):
    """A network behind the input standardisation, returning probabilities.

    Parameters
    ----------
    student : torch.nn.Module
        A ``(logits, features)`` network (the student or the teacher).
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


class _PlanarCNN(nn.Module):
    """A :class:`~skrcd.nn.CNN1D` for inference, rewritten as 2D layers of height 1.

    Same function as ``StudentWithStandardization(cnn, mean, std)``: batch norm is
    folded into the convolutions, ``1/std`` into the first convolution's weights
    (exact: its zero padding is applied after the standardisation), dropout is gone.
    """

    def __init__(self, layers, head, mean):
        super().__init__()
        self.layers = nn.Sequential(*layers)
        self.head = head
        self.register_buffer("mean", torch.as_tensor(np.asarray(mean, dtype=np.float32)).view(1, -1, 1, 1))

    def forward(self, x):
        h = self.layers(x.unsqueeze(2) - self.mean)
        return torch.softmax(self.head(h.mean(dim=(2, 3))), dim=1)


def _planar_cnn(net, mean, std):
    """``net`` as a :class:`_PlanarCNN`, or None when it is not a plain CNN1D."""
    from .nn.networks import CNN1D

    if type(net) is not CNN1D or not isinstance(net.head, nn.Linear):
        return None
    mods = list(net.encoder)
    if len(mods) < 3 or not isinstance(mods[0], nn.Conv1d) or not isinstance(mods[-2], nn.AdaptiveAvgPool1d) \
            or mods[-2].output_size not in (1, (1,)) or not isinstance(mods[-1], nn.Flatten):
        return None
    layers, i = [], 0
    while i < len(mods) - 2:
        m = mods[i]
        if isinstance(m, nn.Conv1d):
            if m.padding_mode != "zeros" or isinstance(m.padding, str):
                return None
            if i + 1 < len(mods) and isinstance(mods[i + 1], nn.BatchNorm1d):
                if mods[i + 1].running_mean is None:
                    return None
                m = torch.nn.utils.fusion.fuse_conv_bn_eval(m, mods[i + 1])
                i += 1
            conv = nn.Conv2d(m.in_channels, m.out_channels, (1, m.kernel_size[0]), stride=(1, m.stride[0]),
                             padding=(0, m.padding[0]), dilation=(1, m.dilation[0]), groups=m.groups,
                             bias=m.bias is not None)
            weight = m.weight.detach().clone()
            if not layers:  # the first layer sees (x - mean): fold the division into its weights
                weight = weight / torch.as_tensor(np.asarray(std, dtype=np.float32)).view(1, -1, 1)
            conv.weight.data = weight.unsqueeze(2)
            if m.bias is not None:
                conv.bias.data = m.bias.detach().clone()
            layers.append(conv)
        elif isinstance(m, nn.ReLU):
            layers.append(nn.ReLU())
        elif isinstance(m, nn.MaxPool1d) and not m.return_indices:
            k, s, p, d = (int(np.ravel(v)[0]) for v in (m.kernel_size, m.stride, m.padding, m.dilation))
            layers.append(nn.MaxPool2d((1, k), (1, s), (0, p), (1, d), ceil_mode=m.ceil_mode))
        elif not isinstance(m, (nn.Dropout, nn.Identity)):
            return None
        i += 1
    planar = _PlanarCNN(layers, copy.deepcopy(net.head), mean).eval()
    planar.requires_grad_(False)
    return planar


def _fitted_network(estimator, network):
    from sklearn.utils.validation import check_is_fitted

    if network not in _NETWORKS:
        raise ValueError(f"network must be 'student' or 'teacher', got {network!r}")
    check_is_fitted(estimator, "student_")
    net = getattr(estimator, f"{network}_", None)
    if net is None:
        why = " (its fit was interrupted in the teacher stage)" if network == "student" else ""
        raise ValueError(f"this estimator has no {network} to export{why}")
    return net


def network_module(estimator, network="student", *, optimize=False):
    """A fitted network of ``estimator`` as a standalone CPU module: raw windows in, probabilities out.

    Parameters
    ----------
    estimator : skrcd.RCDKDClassifier
        A fitted estimator.
    network : {"student", "teacher"}, default="student"
    optimize : bool, default=False
        Return the inference form written to ONNX files: a :class:`~skrcd.nn.CNN1D`
        with batch norm and ``1/std`` folded into its convolutions, written as 2D
        convolutions of height 1. Networks of another kind (a TCN or custom
        teacher) are returned as with ``optimize=False``.

    Returns
    -------
    torch.nn.Module
        In eval mode, without gradients; ``module(x)`` maps float32 windows
        ``(batch, channels, length)`` to probabilities ``(batch, n_classes)``.

    Raises
    ------
    ValueError
        Unknown ``network``, or the estimator has no such network.

    Examples
    --------
    >>> import torch
    >>> from skrcd import RCDKDClassifier
    >>> from skrcd.datasets import make_domain_shift
    >>> X_src, y_src, X_tgt, _ = make_domain_shift(n_source=20, n_target=20, length=16, random_state=0)
    >>> clf = RCDKDClassifier(teacher_epochs=1, student_epochs=1, teacher_channels=(8, 8, 8),
    ...                       selector_hidden=8, random_state=0).fit(X_src, y_src, X_tgt)
    >>> fast = network_module(clf, "teacher", optimize=True)
    >>> proba = fast(torch.from_numpy(X_tgt)).numpy()
    >>> bool(abs(proba - clf.predict_proba(X_tgt, network="teacher")).max() < 1e-5)
    True
    """
    net = _fitted_network(estimator, network)
    n_channels = getattr(estimator, "n_channels_", None) or estimator.n_features_in_
    if getattr(estimator, "channel_mean_", None) is not None:  # the fit standardised (whatever set_params says now)
        mean, std = estimator.channel_mean_, estimator.channel_std_
    else:
        mean, std = np.zeros(n_channels, np.float32), np.ones(n_channels, np.float32)
    net = copy.deepcopy(net).cpu().eval()
    net.requires_grad_(False)
    if optimize:
        planar = _planar_cnn(net, mean, std)
        if planar is not None:
            return planar
    return StudentWithStandardization(net, mean, std).eval()


def student_module(estimator):
    """The fitted student of ``estimator`` as a standalone CPU module in eval mode.

    Same as ``network_module(estimator, "student")``.

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
    return network_module(estimator, "student")


# ---------------------------------------------------------------- exporter plumbing
class _DropBelowError(logging.Filter):
    """Drops the informational records that ``onnxruntime.quantization`` sends to the root logger."""

    def filter(self, record):
        return record.levelno >= logging.ERROR or "onnxruntime" not in record.pathname.replace("\\", "/")


@contextlib.contextmanager
def _quiet_exporter():
    """Silence the exporter's and the quantiser's chatter; errors still propagate and print.

    The ONNX exporter logs a warning per torchvision operator it cannot register
    when torchvision is not installed, and ``onnxruntime.quantization`` logs
    advice at warning level on the root logger: neither is about the user's model.
    """
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "onnxscript")]
    levels = [lg.level for lg in loggers]
    root_filter = _DropBelowError()
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    logging.getLogger().addFilter(root_filter)
    try:
        with warnings.catch_warnings():
            # deprecations inside torch's exporter and its helpers (some raised from copyreg, not from their
            # own modules); warnings of other kinds still show
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        logging.getLogger().removeFilter(root_filter)
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _tidy(model, metadata):
    """Strip what the runtime never reads (debug metadata, long names, shape annotations).

    Tensor names become ``t0, t1, ...`` (the input ``x`` and the output ``proba``
    keep theirs), node names and doc strings go; ``metadata`` is stored as the
    model's metadata properties.
    """
    graph = model.graph
    if any(a.type in (a.GRAPH, a.GRAPHS) for node in graph.node for a in node.attribute):
        raise RuntimeError("unexpected control flow in the exported graph")
    keep = {v.name for v in graph.input} | {v.name for v in graph.output}
    names = {}

    def short(name):
        if not name or name in keep:
            return name
        return names.setdefault(name, f"t{len(names)}")

    for init in graph.initializer:
        init.name = short(init.name)
        init.doc_string = ""
        del init.metadata_props[:]
    for node in graph.node:
        node.input[:] = [short(n) for n in node.input]
        node.output[:] = [short(n) for n in node.output]
        node.name = ""
        node.doc_string = ""
        del node.metadata_props[:]
    del graph.value_info[:]
    for v in list(graph.input) + list(graph.output):
        v.doc_string = ""
        del v.metadata_props[:]
    graph.doc_string = ""
    del graph.metadata_props[:]
    model.doc_string = ""
    model.producer_name, model.producer_version = "skrcd", ""
    del model.metadata_props[:]
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    return model


def _to_onnx(module, n_channels, length):
    """A torch module -> an in-memory ONNX model with a dynamic batch dimension."""
    example = torch.zeros(2, n_channels, length)
    with _quiet_exporter():
        program = torch.onnx.export(
            module, (example,), input_names=["x"], output_names=["proba"],
            dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1)}}, dynamo=True, verbose=False,
        )
    return program.model_proto


def _quantize_int8(model, calibration):
    """Static int8 quantisation (QDQ, per-channel weights) of a float model with ONNX Runtime's tool.

    Activations are uint8, weights int8 (ONNX Runtime's default for CPUs); the
    convolutions, their ReLU and the max pooling are quantised, the classifier
    head and the softmax stay float so that the probabilities keep full
    resolution. The activation ranges are the min/max over ``calibration``.
    """
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Windows(CalibrationDataReader):
        def __init__(self, X, batch=256):
            self._batches = iter([{"x": X[i : i + batch]} for i in range(0, len(X), batch)])

        def get_next(self):
            return next(self._batches, None)

    with tempfile.TemporaryDirectory(prefix="skrcd-quant-") as tmp:
        float_path, pre_path, int8_path = (os.path.join(tmp, f"{n}.onnx") for n in ("float", "pre", "int8"))
        onnx.save(model, float_path)
        with _quiet_exporter():
            quant_pre_process(float_path, pre_path)
            quantize_static(
                pre_path, int8_path, Windows(calibration),
                quant_format=QuantFormat.QDQ, per_channel=True,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                op_types_to_quantize=["Conv", "Relu", "MaxPool"], calibrate_method=CalibrationMethod.MinMax,
            )
        return onnx.load(int8_path)


def _check_calibration(calibration_data, estimator, network):
    from .data import to_panel

    X = to_panel(calibration_data, "calibration_data")
    n_channels, length = int(estimator.n_channels_), int(estimator.n_timepoints_)
    if X.shape[1] != n_channels:
        raise ValueError(f"calibration_data has {X.shape[1]} channels but the {network} was fitted on {n_channels}")
    if X.shape[2] != length:
        raise ValueError(
            f"calibration_data has windows of length {X.shape[2]} but the exported file takes windows of length "
            f"{length} (the length seen in fit)"
        )
    return np.ascontiguousarray(X, dtype=np.float32)


def _check_path(path):
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or path-like, got {type(path).__name__}")
    path = Path(path)
    if str(path) in ("", ".") or path.is_dir():
        raise ValueError(f"path {str(path)!r} is a directory: pass a file name, e.g. 'student.onnx'")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"the folder of path {str(path)!r} does not exist: create {str(path.parent)!r} first")
    return path


def export_student(estimator, path, format="onnx", *, network="student", quantize=None, calibration_data=None,
                   optimize=True):
    """Write the fitted student (or teacher), standardisation included, as ONNX or TorchScript.

    Input: raw float32 windows ``(batch, channels, length)`` (batch size dynamic,
    ``channels`` and ``length`` as in ``fit``); output: class probabilities
    ``(batch, n_classes)`` in the order of ``classes_``. ONNX names them ``x``
    and ``proba`` and stores ``classes`` (JSON), ``network`` and ``quantize`` as
    model metadata. TorchScript is deprecated upstream (torch >= 2.9) but still
    loads with ``torch.jit.load``.

    Parameters
    ----------
    estimator : skrcd.RCDKDClassifier
        A fitted estimator.
    path : str or path-like
        File to write (its folder must exist).
    format : {"onnx", "torchscript"}, default="onnx"
        ``"onnx"`` needs the ``onnx`` and ``onnxscript`` packages
        (``pip install -e ".[export]"``; ``onnxruntime`` runs the file).
    network : {"student", "teacher"}, default="student"
        Which network to export; the teacher, for comparison.
    quantize : {None, "int8"}, default=None
        ``"int8"`` (ONNX only): static int8 quantisation with
        :mod:`onnxruntime.quantization` in QDQ form (uint8 activations, int8
        per-channel weights) of the convolutions, their ReLU and the max pooling;
        the head and the softmax stay float32. Needs ``calibration_data`` and
        ``onnxruntime``.
    calibration_data : panel of shape (n_windows, channels, length), optional
        Raw, unlabelled windows of the domain the file will see, for example the
        target windows passed to ``fit`` as ``X_tgt``; the activation ranges of
        the int8 file are their min/max. A few hundred windows suffice; only
        used with ``quantize="int8"``.
    optimize : bool, default=True
        ONNX only: write the inference form of :func:`network_module`
        (``optimize=True``), which ONNX Runtime runs faster (measurements in
        ``docs/deploy.md``). ``False`` writes the network as trained. Ignored
        for TorchScript.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError
        Unknown ``format``, ``network`` or ``quantize``; ``quantize`` with
        TorchScript; ``quantize="int8"`` without ``calibration_data`` or
        ``calibration_data`` without it; calibration windows with the wrong
        channels or length, NaN or inf; ``path`` a directory; no such network.
    FileNotFoundError
        The folder of ``path`` does not exist.
    ImportError
        ``format="onnx"`` without the ONNX exporter's packages, or
        ``quantize="int8"`` without ``onnxruntime``.

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
    >>> export_student(clf, "student.onnx", quantize="int8")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: quantize='int8' needs calibration_data: raw unlabelled windows of the target domain ...
    """
    if format not in _FORMATS:
        raise ValueError(f"format must be 'onnx' or 'torchscript', got {format!r}")
    if network not in _NETWORKS:
        raise ValueError(f"network must be 'student' or 'teacher', got {network!r}")
    if not (quantize is None or isinstance(quantize, str) and quantize in _QUANTIZE):
        raise ValueError(f"quantize must be None or 'int8', got {quantize!r}")
    if not isinstance(optimize, (bool, np.bool_)):
        raise TypeError(f"optimize must be True or False, got {optimize!r}")
    if quantize is not None and format != "onnx":
        raise ValueError(f"quantize={quantize!r} needs format='onnx' (TorchScript files are float32 only)")
    if quantize is None and calibration_data is not None:
        raise ValueError("calibration_data is only used with quantize='int8'; pass quantize='int8' or drop it")
    if quantize == "int8" and calibration_data is None:
        raise ValueError(
            "quantize='int8' needs calibration_data: raw unlabelled windows of the target domain "
            "(n_windows, channels, length), e.g. the X_tgt passed to fit (the estimator does not keep them)"
        )
    path = _check_path(path)
    _fitted_network(estimator, network)
    calibration = None if calibration_data is None else _check_calibration(calibration_data, estimator, network)

    if format == "torchscript":
        module = network_module(estimator, network)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated upstream, still supported
            torch.jit.script(module).save(str(path))
        return path
    try:
        import onnx
        import onnxscript  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            f"format='onnx' needs the onnx and onnxscript packages ({exc}); install them with "
            "pip install -e '.[export]'"
        ) from None
    if quantize == "int8":
        try:
            import onnxruntime  # noqa: F401
        except ImportError as exc:
            raise ImportError(f"quantize='int8' needs onnxruntime ({exc}); pip install -e '.[export]'") from None
    module = network_module(estimator, network, optimize=bool(optimize))
    model = _to_onnx(module, int(estimator.n_channels_), int(estimator.n_timepoints_))
    if quantize == "int8":
        model = _quantize_int8(model, calibration)
    classes = [c.item() if hasattr(c, "item") else c for c in estimator.classes_]
    model = _tidy(model, {"classes": json.dumps(classes), "network": network, "quantize": quantize or "none"})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
