"""Property-based tests of the boundary rules (skrcd.data, skrcd.domains); no network is trained."""

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays
from sktime.datatypes import convert_to

from skrcd.data import LengthMismatchWarning, check_labels, to_panel
from skrcd.domains import NoTargetWarning, split_domains

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
REAL_DTYPES = [np.float16, np.float32, np.float64, np.int8, np.int32, np.int64, np.uint8, np.bool_]
NAMES = st.sampled_from(["X", "X_tgt"])


def panels(min_dims=2, max_dims=3, dtypes=REAL_DTYPES, max_side=6):
    return st.sampled_from(dtypes).flatmap(
        lambda dt: arrays(
            dt,
            array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=max_side),
            elements=st.floats(-1e3, 1e3, width=16) if np.dtype(dt).kind == "f" else None,
        )
    )


@SETTINGS
@given(X=panels(), name=NAMES)
def test_any_real_panel_becomes_a_fresh_float32_copy(X, name):
    X.setflags(write=False)
    before = X.copy()
    out = to_panel(X, name)
    expected = X.astype(np.float32)
    if X.ndim == 2:
        expected = expected[:, None, :]
    assert out.dtype == np.float32 and out.ndim == 3 and out.flags.c_contiguous and out.flags.writeable
    np.testing.assert_array_equal(out, expected)
    assert not np.shares_memory(out, X)
    np.testing.assert_array_equal(X, before)


@SETTINGS
@given(X=panels(dtypes=[np.float32, np.float64]), bad=st.sampled_from([np.nan, np.inf, -np.inf]),
       where=st.integers(0, 10**6), name=NAMES)
def test_nan_or_inf_anywhere_is_a_value_error_naming_the_argument(X, bad, where, name):
    X = X.copy()
    X.flat[where % X.size] = bad
    kind = "NaN" if np.isnan(bad) else "infinite"
    with pytest.raises(ValueError, match=f"^{name} contains {kind} values"):
        to_panel(X, name)
    with pytest.raises(ValueError, match=f"^{name} contains {kind} values"):
        to_panel(torch.from_numpy(X), name)


@SETTINGS
@given(shape=st.one_of(array_shapes(min_dims=1, max_dims=1, min_side=1),
                       array_shapes(min_dims=4, max_dims=5, min_side=1, max_side=3)), name=NAMES)
def test_wrong_number_of_dimensions(shape, name):
    with pytest.raises(ValueError, match=rf"^{name} must be 2D \(n_samples, length\) or 3D .* got {len(shape)}D"):
        to_panel(np.zeros(shape), name)


@SETTINGS
@given(dtype=st.sampled_from([np.complex64, np.complex128, "U3", "datetime64[s]"]), name=NAMES)
def test_complex_and_non_numeric_dtypes_are_type_errors(dtype, name):
    with pytest.raises(TypeError, match=f"^{name} has"):
        to_panel(np.zeros((2, 3), dtype=dtype), name)


@SETTINGS
@given(n=st.integers(1, 8), m=st.integers(0, 8))
def test_labels_must_match_the_samples(n, m):
    y = np.arange(m) % 2
    if m == n:
        np.testing.assert_array_equal(check_labels(y, n), y)
    else:
        with pytest.raises(ValueError, match=f"^y has {m} labels but X has {n} samples"):
            check_labels(y, n)


@SETTINGS
@given(c_src=st.integers(1, 4), c_tgt=st.integers(1, 4), n=st.integers(2, 6), length=st.integers(1, 8))
def test_source_and_target_channels_must_agree(c_src, c_tgt, n, length):
    X = np.random.default_rng(0).normal(size=(n, c_src, length))
    y = np.arange(n) % 2
    X_tgt = np.zeros((3, c_tgt, length))
    if c_src == c_tgt:
        assert split_domains(X, y, X_tgt).X_tgt.shape == (3, c_src, length)
    else:
        with pytest.raises(ValueError, match=f"^X_tgt has {c_tgt} channels but X \\(source\\) has {c_src}"):
            split_domains(X, y, X_tgt)


@SETTINGS
@given(label=st.one_of(st.integers(0, 5), st.text(min_size=1, max_size=3)), n=st.integers(1, 6))
def test_a_single_source_class_is_refused(label, n):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoTargetWarning)
        with pytest.raises(ValueError, match="^y: the source must hold at least 2 classes, got 1"):
            split_domains(np.zeros((n, 1, 4)), [label] * n, mask_label=-1)


@SETTINGS
@given(lengths=st.lists(st.integers(1, 6), min_size=2, max_size=5).filter(lambda v: len(set(v)) > 1),
       container=st.sampled_from(["df-list", "lists", "arrays"]), name=NAMES)
def test_unequal_lengths_inside_one_panel(lengths, container, name):
    if container == "df-list":
        X = [pd.DataFrame(np.zeros((n, 2))) for n in lengths]
    elif container == "lists":
        X = [[0.0] * n for n in lengths]
    else:
        X = [np.zeros((2, n)) for n in lengths]
    with pytest.raises(ValueError, match=f"^{name}: its series have unequal lengths"):
        to_panel(X, name)


@SETTINGS
@given(X=arrays(np.float64, array_shapes(min_dims=3, max_dims=3, min_side=1, max_side=4),
                elements=st.floats(-100, 100, width=32)),
       fmt=st.sampled_from(["pd-multiindex", "nested_univ", "df-list", "pd-long", "torch", "list"]))
def test_every_format_round_trips_to_numpy3d(X, fmt):
    if fmt == "torch":
        inp = torch.from_numpy(X.copy())
    elif fmt == "list":
        inp = X.tolist()
    else:
        inp = convert_to(X, to_type=fmt)
    np.testing.assert_array_equal(to_panel(inp), X.astype(np.float32))


@SETTINGS
@given(X=arrays(np.float64, array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6),
                elements=st.floats(-100, 100, width=32)),
       fmt=st.sampled_from(["numpyflat", "pd-wide", "nested_univ"]))
def test_2d_like_formats_are_univariate(X, fmt):
    if fmt == "numpyflat":
        inp = X
    elif fmt == "pd-wide":
        inp = pd.DataFrame(X)
    else:
        inp = convert_to(X[:, None, :], to_type="nested_univ")
    out = to_panel(inp)
    assert out.shape == (X.shape[0], 1, X.shape[1])
    np.testing.assert_array_equal(out[:, 0], X.astype(np.float32))


@SETTINGS
@given(l_src=st.integers(1, 12), l_tgt=st.integers(1, 12))
def test_target_length_policy(l_src, l_tgt):
    X = np.random.default_rng(0).normal(size=(4, 2, l_src))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        split = split_domains(X, [0, 1, 0, 1], np.zeros((3, 2, l_tgt)))
    mismatch = [w for w in caught if issubclass(w.category, LengthMismatchWarning)]
    assert len(mismatch) == (l_src != l_tgt)
    assert split.X_tgt.shape[2] == l_tgt


@SETTINGS
@given(n_src=st.integers(1, 5), n_tgt=st.integers(0, 3))
def test_masked_form_splits_rows_and_never_mutates(n_src, n_tgt):
    n = n_src + 1
    X = np.arange(n * 2 * 3 + n_tgt * 6, dtype=np.float64).reshape(-1, 2, 3)
    y = np.r_[np.arange(n) % 2, -np.ones(n_tgt, int)]
    X.setflags(write=False)
    y.setflags(write=False)
    X0, y0 = X.copy(), y.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoTargetWarning)
        split = split_domains(X, y)
    assert split.X_src.shape[0] == n and split.X_tgt.shape[0] == (n_tgt or n)
    assert split.mode == ("masked" if n_tgt else "source_only")
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
