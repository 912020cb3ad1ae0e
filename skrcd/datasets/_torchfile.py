"""Reading a ``torch.save`` file of tensors and numeric numpy arrays without running code from it."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

__all__ = ["read_torch_arrays"]

_NUMERIC = (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
            np.float16, np.float32, np.float64)


def _numpy_globals():
    """What a pickled numeric numpy array needs, under numpy 2's and numpy 1's module names.

    Object, string and structured dtypes are left out, so such arrays are refused
    like any other pickled object.
    """
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    return [_reconstruct, (_reconstruct, "numpy.core.multiarray._reconstruct"),
            (_reconstruct, "numpy._core.multiarray._reconstruct"), np.ndarray, np.dtype,
            *(type(np.dtype(t)) for t in _NUMERIC)]


def _unpickler_detail(text):
    """The reason in torch's ``weights_only`` error, without its advice to load unsafely."""
    _, _, rest = text.partition("WeightsUnpickler error:")
    lines = [line.strip() for line in (rest or text).splitlines() if line.strip()]
    return (lines[0] if lines else text).split(". Please")[0][:300]


def read_torch_arrays(path, keys):
    """The arrays ``keys`` of a ``torch.save`` dict file, as numpy arrays.

    The file is read with ``torch.load(..., weights_only=True)`` and only numeric
    numpy arrays allowed besides tensors, so a file holding any other pickled
    object is refused before that object is built.

    Parameters
    ----------
    path : path-like
    keys : sequence of str
        Entries the dict must hold.

    Returns
    -------
    dict of {str: numpy.ndarray}

    Raises
    ------
    ImportError
        torch older than 2.5.
    ValueError
        Unreadable file, a refused object, not a dict, a missing key, or an entry
        that is neither a tensor nor a numeric array.

    Examples
    --------
    >>> import tempfile, pathlib, torch
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "train_0.pt"
    >>> torch.save({"samples": torch.zeros(2, 3), "labels": np.array([0, 1])}, path)
    >>> {k: v.shape for k, v in read_torch_arrays(path, ["samples", "labels"]).items()}
    {'samples': (2, 3), 'labels': (2,)}
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    if not hasattr(torch.serialization, "safe_globals"):  # torch 2.4 cannot allow numpy arrays for one call
        raise ImportError(f"reading {path.name} safely needs torch >= 2.5 (torch.serialization.safe_globals); "
                          f"this is torch {torch.__version__}")
    try:
        with torch.serialization.safe_globals(_numpy_globals()):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = _unpickler_detail(str(exc))
        if "global" in detail.lower() or "allowlisted" in detail:
            raise ValueError(f"{path}: refused: it holds a pickled object other than tensors and numeric arrays, "
                             f"which loading would build (and could run code); delete it ({detail})") from None
        raise ValueError(f"{path}: not a readable torch file (corrupt or truncated? delete it): {detail}") from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError) as exc:
        raise ValueError(f"{path}: not a readable torch file (corrupt or truncated? delete it): "
                         f"{type(exc).__name__}: {str(exc)[:200]}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: holds a {type(obj).__name__}, expected a dict with {list(keys)}")
    missing = [k for k in keys if k not in obj]
    if missing:
        raise ValueError(f"{path}: missing entries {missing}; it has {sorted(map(str, obj))}")
    out = {}
    for key in keys:
        value = obj[key]
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
            raise ValueError(f"{path}: entry {key!r} is a {type(value).__name__}, expected a tensor or a numeric array")
        out[key] = value
    return out
