"""Networks of RCD-KD: the 1D-CNN teacher and student, the TCN teacher, the domain
discriminator and the gradient-reversal function.

Every classifier network here follows one protocol: ``forward(x)`` takes a float
tensor of shape ``(batch, channels, length)`` and returns ``(logits, features)``,
and the attribute ``n_features`` gives the feature size. A user-supplied teacher
module only has to follow the same protocol.

Every network here also remembers its constructor arguments: ``get_config()``
returns them, and ``type(net)(**net.get_config())`` builds the same architecture
(this is how a model file rebuilds a network before loading its weights).
"""

from __future__ import annotations

import inspect
import math

import torch
from torch import nn

__all__ = [
    "ConfigMixin",
    "CNN1D",
    "TimeFrequencyCNN",
    "TCN",
    "DomainDiscriminator",
    "TeacherEnsemble",
    "grad_reverse",
    "count_parameters",
    "dry_run",
    "feature_size",
    "eval_forward",
]


class ConfigMixin:
    """A module that keeps each constructor argument under its own name, as scikit-learn estimators do.

    :meth:`get_config` reads them back, so a network can be rebuilt from plain
    values without looking inside it.

    Examples
    --------
    >>> from skrcd.nn import DomainDiscriminator
    >>> disc = DomainDiscriminator(32, hidden=16)
    >>> disc.get_config()
    {'in_features': 32, 'hidden': 16}
    >>> type(disc)(**disc.get_config()).get_config() == disc.get_config()
    True
    """

    def get_config(self):
        """The constructor arguments of this network, by name.

        Returns
        -------
        dict
            ``type(self)(**self.get_config())`` builds the same architecture.
        """
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names}


class _GradReverseFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, coeff):
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output):
        return -ctx.coeff * grad_output, None


def grad_reverse(x: torch.Tensor, coeff: float = 1.0) -> torch.Tensor:
    """Identity in the forward pass, gradient multiplied by ``-coeff`` backwards.

    Parameters
    ----------
    x : torch.Tensor
        Input tensor.
    coeff : float, default=1.0
        Scale of the reversed gradient (DANN's ``alpha``).

    Returns
    -------
    torch.Tensor
        ``x`` unchanged, with a reversing backward hook.

    Examples
    --------
    >>> import torch
    >>> x = torch.ones(2, requires_grad=True)
    >>> grad_reverse(x, 0.5).sum().backward()
    >>> x.grad
    tensor([-0.5000, -0.5000])
    """
    return _GradReverseFn.apply(x, float(coeff))


class CNN1D(ConfigMixin, nn.Module):
    """Three-block 1D-CNN used for both the teacher and the student.

    Each block is Conv1d (no bias) -> BatchNorm1d -> ReLU -> MaxPool1d(2, 2, padding=1)
    -> Dropout. The first convolution uses ``kernel_size``/``stride`` with padding
    ``kernel_size // 2``; the second and third use kernel 8, padding 4. A global
    average pool gives the feature vector, a linear head the logits.

    Parameters
    ----------
    in_channels : int
        Number of input channels.
    n_classes : int
        Number of classes.
    channels : tuple of int, default=(64, 128, 128)
        Output channels of the three blocks (the teacher's; the student uses
        ``(16, 32, 32)``).
    kernel_size : int, default=5
        Kernel of the first convolution.
    stride : int, default=1
        Stride of the first convolution.
    dropout : float, default=0.5
        Dropout rate after each block.

    Examples
    --------
    >>> import torch
    >>> net = CNN1D(9, 6, channels=(16, 32, 32))
    >>> logits, feats = net(torch.zeros(4, 9, 128))
    >>> tuple(logits.shape), tuple(feats.shape), net.n_features
    ((4, 6), (4, 32), 32)
    """

    #: The sub-module whose output is the feature vector (skada's ``layer_name`` convention).
    layer_name = "encoder"

    def __init__(
        self,
        in_channels: int,
        n_classes: int,
        channels=(64, 128, 128),
        kernel_size: int = 5,
        stride: int = 1,
        dropout: float = 0.5,
    ):
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if len(channels) != 3:
            raise ValueError(f"channels must hold three widths, got {channels!r}")
        self.in_channels, self.n_classes, self.channels = in_channels, n_classes, channels
        self.kernel_size, self.stride, self.dropout = kernel_size, stride, dropout
        kernels = [(kernel_size, stride, kernel_size // 2), (8, 1, 4), (8, 1, 4)]
        blocks = []
        c_in = in_channels
        for c_out, (k, s, p) in zip(channels, kernels):
            blocks += [
                nn.Conv1d(c_in, c_out, k, stride=s, padding=p, bias=False),
                nn.BatchNorm1d(c_out),
                nn.ReLU(),
                nn.MaxPool1d(2, 2, padding=1),
                nn.Dropout(dropout),
            ]
            c_in = c_out
        self.encoder = nn.Sequential(*blocks, nn.AdaptiveAvgPool1d(1), nn.Flatten())
        self.head = nn.Linear(c_in, n_classes)
        self.n_features = c_in

    def forward(self, x):
        feats = self.encoder(x)
        return self.head(feats), feats


class TimeFrequencyCNN(ConfigMixin, nn.Module):
    """A temporal CNN and a spectral CNN side by side: two views of each window, one feature vector.

    The temporal branch is :class:`CNN1D`'s encoder on the window. The spectral
    branch runs the same kind of encoder along the frequency axis of each
    channel's log-magnitude spectrum (``log(1 + |rfft(x)|)``, which does not
    change when the window is shifted in time): it sees the rhythm of a gait or
    the harmonics of a fault directly, where the temporal branch must learn them
    from phase-shifted examples. The two feature vectors are concatenated, so a
    domain discriminator on the features aligns both views at once, and a
    linear head classifies them.

    Parameters
    ----------
    in_channels : int
        Number of input channels.
    n_classes : int
        Number of classes.
    channels : tuple of int, default=(64, 128, 128)
        Widths of the temporal branch (as :class:`CNN1D`).
    spectral_channels : tuple of int, default=(32, 64, 64)
        Widths of the spectral branch.
    kernel_size, stride : int, default=5, 1
        First convolution of the temporal branch (the spectral branch uses kernel 5, stride 1).
    dropout : float, default=0.5

    References
    ----------
    He, H., Queen, O., Koker, T., Cuevas, C., Tsiligkaridis, T., Zitnik, M.
    "Domain Adaptation for Time Series Under Feature and Label Shifts"
    (RAINCOAT), ICML 2023: frequency features beside temporal ones for
    time-series domain adaptation.

    Examples
    --------
    >>> import torch
    >>> net = TimeFrequencyCNN(3, 4, channels=(8, 8, 8), spectral_channels=(4, 4, 4))
    >>> logits, feats = net(torch.randn(5, 3, 64))
    >>> tuple(logits.shape), tuple(feats.shape), net.n_features
    ((5, 4), (5, 12), 12)

    A shift in time leaves the spectral branch's input unchanged:

    >>> x = torch.randn(2, 3, 64)
    >>> bool(torch.allclose(net.spectrum(x), net.spectrum(torch.roll(x, 7, dims=2)), atol=1e-4))
    True
    """

    def __init__(self, in_channels, n_classes, channels=(64, 128, 128), spectral_channels=(32, 64, 64),
                 kernel_size=5, stride=1, dropout=0.5):
        super().__init__()
        self.in_channels, self.n_classes = in_channels, n_classes
        self.channels, self.spectral_channels = tuple(int(c) for c in channels), tuple(int(c) for c in spectral_channels)
        self.kernel_size, self.stride, self.dropout = kernel_size, stride, dropout
        temporal = CNN1D(in_channels, n_classes, self.channels, kernel_size, stride, dropout)
        spectral = CNN1D(in_channels, n_classes, self.spectral_channels, 5, 1, dropout)
        self.encoder = temporal.encoder
        self.spectral_encoder = spectral.encoder
        self.n_features = temporal.n_features + spectral.n_features
        self.head = nn.Linear(self.n_features, n_classes)

    @staticmethod
    def spectrum(x):
        """``log(1 + |rfft(x)|)`` along time: ``(n, channels, length // 2 + 1)``."""
        return torch.log1p(torch.fft.rfft(x, dim=-1).abs())

    def forward(self, x):
        feats = torch.cat([self.encoder(x), self.spectral_encoder(self.spectrum(x))], dim=1)
        return self.head(feats), feats


class _TemporalBlock(nn.Module):
    def __init__(self, c_in, c_out, kernel_size, dilation, dropout):
        super().__init__()
        self.pad = (kernel_size - 1) * dilation
        self.conv1 = nn.Conv1d(c_in, c_out, kernel_size, padding=self.pad, dilation=dilation)
        self.conv2 = nn.Conv1d(c_out, c_out, kernel_size, padding=self.pad, dilation=dilation)
        self.drop = nn.Dropout(dropout)
        self.down = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x):
        n = x.shape[-1]
        # causal convolution: pad both sides, keep the first n outputs (the "chomp")
        h = self.drop(torch.relu(self.conv1(x)[..., :n]))
        h = self.drop(torch.relu(self.conv2(h)[..., :n]))
        return torch.relu(h + self.down(x))


class TCN(ConfigMixin, nn.Module):
    """Temporal convolutional network teacher (dilated causal residual blocks).

    The paper's TCN->CNN teacher/student pair uses this as the teacher. Block ``i``
    has dilation ``2**i``; the feature vector is the last time step of the last
    block (it has seen the whole window through the causal receptive field).

    Parameters
    ----------
    in_channels : int
        Number of input channels.
    n_classes : int
        Number of classes.
    channels : tuple of int, default=(75, 150)
        Output channels of the residual blocks.
    kernel_size : int, default=17
        Kernel of every convolution.
    dropout : float, default=0.0
        Dropout inside the blocks (set > 0 for MC-dropout uncertainty).

    Examples
    --------
    >>> import torch
    >>> net = TCN(9, 6)
    >>> logits, feats = net(torch.zeros(2, 9, 128))
    >>> tuple(logits.shape), net.n_features
    ((2, 6), 150)
    """

    def __init__(self, in_channels, n_classes, channels=(75, 150), kernel_size=17, dropout=0.0):
        super().__init__()
        self.in_channels, self.n_classes, self.channels = in_channels, n_classes, tuple(int(c) for c in channels)
        self.kernel_size, self.dropout = kernel_size, dropout
        blocks, c_in = [], in_channels
        for i, c_out in enumerate(channels):
            blocks.append(_TemporalBlock(c_in, int(c_out), kernel_size, 2**i, dropout))
            c_in = int(c_out)
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(c_in, n_classes)
        self.n_features = c_in

    def forward(self, x):
        feats = self.blocks(x)[..., -1]
        return self.head(feats), feats


class DomainDiscriminator(ConfigMixin, nn.Module):
    """Domain classifier Linear(d, h)-ReLU-Linear(h, h)-ReLU-Linear(h, 2).

    Outputs two logits (source, target): unlike a one-logit softmax, the
    cross-entropy on two logits has a useful gradient.

    Parameters
    ----------
    in_features : int, default=128
        Feature size of the teacher.
    hidden : int, default=64
        Width of the two hidden layers.

    Examples
    --------
    >>> import torch
    >>> DomainDiscriminator(128)(torch.zeros(5, 128)).shape
    torch.Size([5, 2])
    """

    def __init__(self, in_features: int = 128, hidden: int = 64):
        super().__init__()
        self.in_features, self.hidden = in_features, hidden
        self.net = nn.Sequential(
            nn.Linear(in_features, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 2),
        )

    def forward(self, x):
        return self.net(x)


class TeacherEnsemble(nn.Module):
    """Several teachers that predict as one: the mean of their class probabilities.

    ``forward`` returns ``(log of the members' mean softmax, features of the first
    member)``: the "logits" give the mean probabilities back under a softmax and
    a temperature-softened version of them under ``softmax(logits / T)``. The
    features, and so the feature size, the student's adapter and the domain
    discriminator, are the first member's; the members themselves are
    independently initialised networks trained one after the other by the
    teacher stage (``RCDKDClassifier(n_teachers=...)``). In training mode each
    member keeps its own dropout, so MC-dropout passes sample every member.

    Parameters
    ----------
    members : sequence of torch.nn.Module
        At least one network of the ``(logits, features)`` protocol, all with
        the same classes.

    Examples
    --------
    >>> import torch
    >>> members = [CNN1D(3, 4, channels=(8, 8, 8)) for _ in range(2)]
    >>> ens = TeacherEnsemble(members).eval()
    >>> x = torch.randn(5, 3, 32)
    >>> logits, feats = ens(x)
    >>> mean = sum(m(x)[0].softmax(dim=1) for m in members) / 2
    >>> bool(torch.allclose(logits.softmax(dim=1), mean, atol=1e-6)), tuple(feats.shape) == (5, ens.n_features)
    (True, True)
    """

    def __init__(self, members):
        super().__init__()
        members = list(members)
        if not members or not all(isinstance(m, nn.Module) for m in members):
            raise ValueError("TeacherEnsemble needs at least one torch.nn.Module member")
        self.members = nn.ModuleList(members)
        first = members[0]
        if hasattr(first, "n_features"):
            self.n_features = first.n_features

    def forward(self, x):
        outs = [m(x) for m in self.members]
        log_probs = torch.log_softmax(torch.stack([logits for logits, _ in outs]), dim=2)
        return torch.logsumexp(log_probs, dim=0) - math.log(len(outs)), outs[0][1]


def eval_forward(module: nn.Module, X: torch.Tensor, batch_size: int):
    """The outputs of ``module`` on ``X`` in evaluation mode, without gradients, ``batch_size`` rows at a time.

    The module's training mode is restored afterwards.

    Parameters
    ----------
    module : torch.nn.Module
        Returns ``(logits, features)``, or logits alone.
    X : torch.Tensor of shape (n, channels, length)
    batch_size : int

    Returns
    -------
    logits : torch.Tensor of shape (n, n_classes)
    features : torch.Tensor of shape (n, n_features) or None
        None for a module that returns logits alone.

    Examples
    --------
    >>> net = CNN1D(2, 3, channels=(4, 4, 4))
    >>> logits, features = eval_forward(net, torch.randn(10, 2, 16), batch_size=4)
    >>> tuple(logits.shape), tuple(features.shape), net.training  # dropout off inside, mode restored
    ((10, 3), (10, 4), True)
    """
    was_training = module.training
    module.eval()
    logits, features = [], []
    try:
        with torch.no_grad():
            for i in range(0, X.shape[0], batch_size):
                out = module(X[i : i + batch_size])
                logits.append(out[0] if isinstance(out, tuple) else out)
                if isinstance(out, tuple):
                    features.append(out[1])
    finally:
        module.train(was_training)
    return torch.cat(logits), (torch.cat(features) if features else None)


def count_parameters(module: nn.Module) -> int:
    """Number of parameters of a module.

    Parameters
    ----------
    module : torch.nn.Module
        The network.

    Returns
    -------
    int
        The parameter count.

    Examples
    --------
    >>> count_parameters(CNN1D(9, 6, channels=(16, 32, 32)))
    13366
    """
    return sum(p.numel() for p in module.parameters())


def dry_run(module: nn.Module, in_channels: int, length: int, device=None):
    """The output of ``module`` on a batch of two zero windows, in evaluation mode and without gradients.

    The module's training mode is restored afterwards. It shows what a network returns and whether it runs on
    ``length`` time steps, before any data go through it.

    Parameters
    ----------
    module : torch.nn.Module
    in_channels, length : int
        The shape of one window.
    device : torch.device or str, optional
        Where the zeros are made (default: where the module's first parameter is, else the CPU).

    Returns
    -------
    object
        What ``module`` returns (``(logits, features)`` for skrcd's networks).

    Examples
    --------
    >>> logits, features = dry_run(CNN1D(3, 2), 3, 64)
    >>> tuple(logits.shape), tuple(features.shape)
    ((2, 2), (2, 128))
    """
    if device is None:
        p = next(module.parameters(), None)
        device = p.device if p is not None else "cpu"
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            return module(torch.zeros(2, in_channels, length, device=device))
    finally:
        module.train(was_training)


def feature_size(module: nn.Module, in_channels: int, length: int) -> int:
    """Feature size of a ``(logits, features)`` network.

    Reads ``module.n_features`` when present, else runs one dry forward pass in
    eval mode on zeros.

    Parameters
    ----------
    module : torch.nn.Module
        A network following the ``(logits, features)`` protocol.
    in_channels, length : int
        Input shape used for the dry run.

    Returns
    -------
    int
        The feature size.

    Examples
    --------
    >>> feature_size(CNN1D(3, 2), 3, 64)
    128
    """
    n = getattr(module, "n_features", None)
    if isinstance(n, int):
        return n
    out = dry_run(module, in_channels, length)
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise TypeError(
            "a teacher/student module must return (logits, features) from forward; "
            f"{type(module).__name__} returned {type(out).__name__}"
        )
    return int(out[1].shape[-1])
