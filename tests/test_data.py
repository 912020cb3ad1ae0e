"""Input formats and validation at the public boundary (named cases).

Property-based versions of the rules are in test_validation_hypothesis.py.
"""

import copy
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sktime.datatypes import convert, convert_to
from torch import nn

from conftest import TINY
from skrcd import RCDKDClassifier
from skrcd.data import LengthMismatchWarning, channel_stats, check_labels, to_panel
from skrcd.datasets import make_domain_shift
from skrcd.domains import split_domains



def as_format(X, fmt):
    """A numpy3D panel in another accepted format."""
    if fmt == "numpy3D":
        return X.copy()
    if fmt == "numpy3D-float64":
        return X.astype(np.float64)
    if fmt == "numpy3D-float16-exact":
        return X.astype(np.float16)
    if fmt == "torch":
        return torch.from_numpy(X.copy())
    if fmt == "torch-float64-grad":
        return torch.tensor(X, dtype=torch.float64, requires_grad=True)
    if fmt == "list":
        return X.tolist()
    if fmt in ("numpyflat", "numpy2D"):
        assert X.shape[1] == 1
        return X[:, 0, :].copy()
    if fmt == "pd-wide":
        assert X.shape[1] == 1
        return pd.DataFrame(X[:, 0, :])
    return convert_to(X, to_type=fmt)


MULTI_FORMATS = ["numpy3D", "numpy3D-float64", "torch", "torch-float64-grad", "list", "pd-multiindex",
                 "nested_univ", "df-list", "pd-long"]
UNI_FORMATS = MULTI_FORMATS + ["numpyflat", "pd-wide"]


@pytest.fixture(scope="module")
def data():
    X_src, y_src, X_tgt, y_tgt = make_domain_shift(n_source=24, n_target=20, n_channels=3, length=24, random_state=0)
    return X_src, y_src, X_tgt, y_tgt


@pytest.fixture(scope="module")
def fitted(data):
    X_src, y_src, X_tgt, _ = data
    return RCDKDClassifier(**TINY).fit(X_src, y_src, X_tgt)


@pytest.fixture(scope="module")
def uni_data():
    X_src, y_src, X_tgt, y_tgt = make_domain_shift(n_source=24, n_target=20, n_channels=1, length=24, random_state=1)
    return X_src, y_src, X_tgt, y_tgt


# ------------------------------------------------------------------ formats
@pytest.mark.parametrize("fmt", UNI_FORMATS)
def test_every_format_converts_to_the_same_float32_panel(uni_data, fmt):
    X = uni_data[0]
    inp = as_format(X, fmt)
    before = copy.deepcopy(inp)
    out = to_panel(inp)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, X)
    # caller's object untouched
    if isinstance(inp, pd.DataFrame):
        pd.testing.assert_frame_equal(inp, before)
    elif isinstance(inp, torch.Tensor):
        assert torch.equal(inp.detach(), before.detach())
    elif isinstance(inp, np.ndarray):
        np.testing.assert_array_equal(inp, before)


@pytest.mark.parametrize("fmt", MULTI_FORMATS)
def test_multichannel_formats(data, fmt):
    X = data[0][:5]
    np.testing.assert_array_equal(to_panel(as_format(X, fmt)), X)


def test_float16_bfloat16_int_and_numeric_object_inputs():
    X = np.arange(24, dtype=np.int64).reshape(2, 3, 4)
    np.testing.assert_array_equal(to_panel(X.astype(object)), X.astype(np.float32))  # as scikit-learn reads them
    np.testing.assert_array_equal(to_panel(X), X.astype(np.float32))
    np.testing.assert_array_equal(to_panel(X.astype(np.float16)), X.astype(np.float32))
    np.testing.assert_array_equal(to_panel(torch.from_numpy(X).to(torch.bfloat16)), X.astype(np.float32))
    np.testing.assert_array_equal(to_panel(X.astype(bool)), (X > 0).astype(np.float32))


def test_plain_2d_array_is_univariate_and_numpyflat_reads_the_same():
    X2 = np.arange(12.0).reshape(3, 4)
    assert to_panel(X2).shape == (3, 1, 4)
    # sktime reads numpyflat the same way: one channel
    np.testing.assert_array_equal(to_panel(X2), convert(X2, from_type="numpyflat", to_type="numpy3D"))
    np.testing.assert_array_equal(to_panel(X2), to_panel(pd.DataFrame(X2)))  # pd-wide


def test_predict_on_every_format_equals_numpy3d(fitted, data):
    X_tgt = data[2]
    ref = fitted.predict_proba(X_tgt)
    for fmt in MULTI_FORMATS:
        np.testing.assert_array_equal(fitted.predict_proba(as_format(X_tgt, fmt)), ref, err_msg=fmt)
        np.testing.assert_array_equal(fitted.predict(as_format(X_tgt, fmt)), fitted.predict(X_tgt), err_msg=fmt)


def test_fit_on_mixed_formats_equals_numpy3d(fitted, data):
    X_src, y_src, X_tgt, _ = data
    ref = fitted.predict_proba(X_tgt)
    for src_fmt, tgt_fmt, pred_fmt in (("pd-multiindex", "torch", "df-list"), ("nested_univ", "list", "pd-long")):
        clf = RCDKDClassifier(**TINY).fit(as_format(X_src, src_fmt), pd.Series(y_src), as_format(X_tgt, tgt_fmt))
        np.testing.assert_array_equal(clf.predict_proba(as_format(X_tgt, pred_fmt)), ref, err_msg=src_fmt)


def test_univariate_fit_on_2d_predict_on_sktime_formats(uni_data):
    X_src, y_src, X_tgt, _ = uni_data
    ref = RCDKDClassifier(**TINY).fit(X_src, y_src, X_tgt)
    flat = RCDKDClassifier(**TINY).fit(X_src[:, 0, :], y_src, pd.DataFrame(X_tgt[:, 0, :]))
    for fmt in UNI_FORMATS:
        np.testing.assert_array_equal(flat.predict_proba(as_format(X_tgt, fmt)), ref.predict_proba(X_tgt), err_msg=fmt)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.DataConversionWarning")
@pytest.mark.parametrize("labels", [
    lambda y: np.array(["walk", "sit", "lie"])[y],
    lambda y: pd.Series(np.array(["a", "b", "c"])[y], index=np.arange(len(y)) + 100),
    lambda y: pd.Categorical(np.array(["x", "y", "z"])[y]),
    lambda y: torch.from_numpy(y),
    lambda y: (y * 1.0).tolist(),
    lambda y: (y + 10).reshape(-1, 1),
])
def test_label_types_map_back(data, labels):
    X_src, y_src, X_tgt, _ = data
    y = labels(y_src)
    clf = RCDKDClassifier(**TINY).fit(X_src, y, X_tgt)
    expected = np.unique(np.asarray(y).ravel() if not isinstance(y, torch.Tensor) else y.numpy())
    np.testing.assert_array_equal(clf.classes_, expected)
    assert set(clf.predict(X_tgt)) <= set(expected.tolist())
    assert 0.0 <= clf.score(X_tgt, clf.predict(X_tgt)) <= 1.0


# --------------------------------------------------------------- validation
@pytest.mark.parametrize("X, exc, match", [
    (np.array([[[1.0, np.nan]]]), ValueError, "X contains NaN values"),
    (np.array([[[1.0, np.inf]]]), ValueError, "X contains infinite values"),
    (np.array([[[1e300, 0.0]]]), ValueError, "too large for float32"),
    (np.zeros((0, 2, 5)), ValueError, r"X is empty \(0 samples\)"),
    (np.zeros((3, 0, 5)), ValueError, "at least one channel and one time step"),
    (np.zeros((3, 2, 0)), ValueError, "at least one channel and one time step"),
    ([], ValueError, "X is empty"),
    (np.zeros(5), ValueError, r"must be 2D .* got 1D .* X\[None, :\]"),
    (np.zeros((2, 2, 2, 2)), ValueError, "got 4D"),
    (np.float64(3.0), ValueError, "got 0D"),
    (np.array([[1.0, "a"]], dtype=object), TypeError, "dtype object and not all entries are numbers"),
    (np.zeros((2, 3), dtype=complex), TypeError, "complex dtype"),
    (torch.zeros(2, 3, dtype=torch.complex64), TypeError, "complex dtype"),
    (np.array([["a", "b"]]), TypeError, "non-numeric dtype"),
    (np.zeros((2, 3), dtype="datetime64[s]"), TypeError, "non-numeric dtype"),
    ([[1.0, 2.0], [1.0]], ValueError, "unequal lengths"),
    ([np.zeros((2, 5)), np.zeros((2, 4))], ValueError, "unequal lengths"),
    ([pd.DataFrame(np.zeros((5, 2))), pd.DataFrame(np.zeros((4, 2)))], ValueError, "unequal lengths"),
    (pd.Series([1.0, 2.0]), TypeError, "one series, not a panel"),
    (pd.DataFrame({"a": ["x", "y"]}), TypeError, "must be numeric"),
    (pd.DataFrame({"a": pd.Series([1.0, "x"], dtype=object)}), TypeError, "time-series panel"),
    (pd.DataFrame({"a": pd.array(["x", "y"], dtype="string"), "b": [1.0, 2.0]}), TypeError, "must be numeric"),
    (pd.DataFrame([[1.0, np.nan]]), ValueError, "NaN"),
    (None, TypeError, "X is None"),
    ("abc", TypeError, "not a time-series panel"),
])
def test_to_panel_rules(X, exc, match):
    with pytest.raises(exc, match=match):
        to_panel(X)


def test_to_panel_names_the_argument():
    with pytest.raises(ValueError, match="^X_tgt contains NaN"):
        to_panel(np.array([[np.nan]]), name="X_tgt")
    nested = convert_to(np.zeros((2, 1, 4)), to_type="nested_univ")
    nested.iloc[1, 0] = pd.Series(np.zeros(3))
    with pytest.raises(ValueError, match="^X_tgt: its series have unequal lengths"):
        to_panel(nested, name="X_tgt")


def test_pd_multiindex_with_per_instance_time_stamps():
    # each instance has its own time stamps: sktime's aligning converter fails, the fallback reads rows in order
    idx = pd.MultiIndex.from_tuples([(i, pd.Timestamp("2020-01-01") + pd.Timedelta(seconds=4 * i + t))
                                     for i in range(3) for t in range(3)])
    df = pd.DataFrame({"a": np.arange(9.0), "b": -np.arange(9.0)}, index=idx)
    out = to_panel(df)
    assert out.shape == (3, 2, 3)
    np.testing.assert_array_equal(out[1, 0], [3, 4, 5])


@pytest.mark.parametrize("y, exc, match", [
    (None, ValueError, "y is required"),
    ([0, 1], ValueError, "y has 2 labels but X has 3 samples"),
    (np.zeros((3, 2)), ValueError, r"1D \(n_samples,\)"),
    ([0.5, 1.5, 2.7], ValueError, "^y: Unknown label type"),
    ([0.0, np.nan, 1.0], ValueError, "NaN labels"),
    (["a", None, "b"], ValueError, "missing labels"),
    (np.array(["a", 1, "b"], dtype=object), TypeError, "mixes label types"),
    (np.array([1j, 2j, 3j]), TypeError, "complex"),
])
def test_label_rules(y, exc, match):
    with pytest.raises(exc, match=match):
        check_labels(y, 3)


@pytest.mark.filterwarnings("ignore::skrcd.domains.NoTargetWarning")
@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(X_tgt=np.zeros((4, 2, 8))), ValueError, "X_tgt has 2 channels but X \\(source\\) has 3"),
    (dict(X_tgt=np.zeros((0, 3, 8))), ValueError, r"X_tgt is empty \(0 samples\)"),
    (dict(X_tgt=np.full((4, 3, 8), np.nan)), ValueError, "X_tgt contains NaN"),
    (dict(y=np.zeros(6, int)), ValueError, "at least 2 classes, got 1"),
    (dict(y=np.array([0, 1, 0, 1, 0])), ValueError, "y has 5 labels but X has 6 samples"),
    (dict(X=np.zeros((0, 3, 8)), y=np.zeros(0, int)), ValueError, r"X is empty"),
    (dict(X_tgt=np.zeros((4, 3, 8)), sample_domain=np.ones(6, int)), ValueError, "not both"),
    (dict(y=np.array([0, 1, 0, 1, -1, -1]), X_tgt=np.zeros((4, 3, 8))), ValueError, "mask label"),
    (dict(y=-np.ones(6, int)), ValueError, "no labelled source"),
    (dict(sample_domain=-np.ones(6, int)), ValueError, "no source row"),
    (dict(sample_domain=np.full(6, 1.5)), ValueError, "sample_domain must hold whole numbers"),
    (dict(sample_domain=np.ones(6).astype(str)), TypeError, "sample_domain must hold integers"),
    (dict(sample_domain=np.ones(5, int)), ValueError, "sample_domain must be 1D with one entry per row"),
    (dict(y=np.array([0, 0, 0, 0, -1, -1])), ValueError, "at least 2 classes"),
])
def test_split_domains_rules(kwargs, exc, match):
    args = dict(X=np.random.default_rng(0).normal(size=(6, 3, 8)), y=np.array([0, 1, 0, 1, 0, 1]))
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        split_domains(**args)


def test_fit_validation_names_the_argument(data):
    X_src, y_src, X_tgt, _ = data
    clf = RCDKDClassifier(**TINY)
    bad_tgt = X_tgt.copy()
    bad_tgt[3, 1, 5] = np.inf
    cases = [
        ((X_src, y_src, bad_tgt), ValueError, "^X_tgt contains infinite"),
        ((X_src, y_src[:-1], X_tgt), ValueError, "^y has 23 labels but X has 24 samples"),
        ((X_src, np.zeros(24, int), X_tgt), ValueError, "at least 2 classes"),
        ((X_src, y_src, X_tgt[:, :2]), ValueError, "^X_tgt has 2 channels but X \\(source\\) has 3"),
        ((X_src, y_src, X_tgt[:0]), ValueError, "^X_tgt is empty"),
        ((X_src[:0], y_src[:0], X_tgt), ValueError, "^X is empty"),
        ((X_src[0, 0], y_src, X_tgt), ValueError, "^X must be 2D"),
        ((X_src.astype(complex), y_src, X_tgt), TypeError, "^X has a complex dtype"),
        ((np.where(X_src > 0, X_src, "x").astype(object), y_src, X_tgt), TypeError, "^X has dtype object"),
    ]
    for args, exc, match in cases:
        with pytest.raises(exc, match=match):
            clf.fit(*args)


def test_predict_validation(fitted, data):
    X_tgt = data[2]
    with pytest.raises(NotFittedError):
        RCDKDClassifier().predict(X_tgt)
    with pytest.raises(NotFittedError):
        RCDKDClassifier().predict_proba(X_tgt)
    with pytest.raises(ValueError, match="^X has 2 channels but the data seen in fit has 3"):
        fitted.predict(X_tgt[:, :2])
    with pytest.raises(ValueError, match="read as univariate.*reshape"):
        fitted.predict(X_tgt.reshape(len(X_tgt), -1))  # flattened multivariate: never guessed
    with pytest.raises(ValueError, match="^X contains NaN"):
        fitted.predict(np.full_like(X_tgt, np.nan))
    with pytest.raises(ValueError, match="^X is empty"):
        fitted.predict(X_tgt[:0])


# ----------------------------------------------------------- series length
class NoPadTeacher(nn.Module):
    """A user-supplied teacher with an unpadded kernel-9 convolution: needs >= 9 steps."""

    def __init__(self, c_in=3, n_classes=3):
        super().__init__()
        self.conv = nn.Conv1d(c_in, 8, 9)
        self.head = nn.Linear(8, n_classes)
        self.drop = nn.Dropout(0.2)
        self.n_features = 8

    def forward(self, x):
        h = self.drop(torch.relu(self.conv(x))).mean(-1)
        return self.head(h), h


def test_too_short_for_the_networks_is_a_clear_error(data):
    X_src, y_src, X_tgt, _ = data
    clf = RCDKDClassifier(**TINY, teacher=NoPadTeacher())
    with pytest.raises(ValueError, match="^X and X_tgt have series of length 6, too short for the teacher network: "
                                         "it needs at least 9 time steps"):
        clf.fit(X_src[:, :, :6], y_src, X_tgt[:, :, :6])
    with pytest.raises(ValueError, match="^X_tgt has series of length 5, too short for the teacher"):
        with pytest.warns(LengthMismatchWarning):
            clf.fit(X_src, y_src, X_tgt[:, :, :5])
    clf.fit(X_src, y_src, X_tgt)
    with pytest.raises(ValueError, match="^X has series of length 4, too short for the teacher network"):
        clf.predict(X_tgt[:, :, :4], network="teacher")
    with pytest.warns(LengthMismatchWarning):
        assert clf.predict(X_tgt[:, :, :12], network="teacher").shape == (20,)


def test_custom_network_that_never_runs_is_named(data):
    X_src, y_src, X_tgt, _ = data
    with pytest.raises(ValueError, match="the teacher network cannot take input of shape"):
        RCDKDClassifier(**TINY, teacher=NoPadTeacher(c_in=5)).fit(X_src, y_src, X_tgt)


def test_builtin_networks_take_any_length(data):
    X_src, y_src, X_tgt, _ = data
    for teacher in ("cnn", "tcn"):
        clf = RCDKDClassifier(**TINY, teacher=teacher)
        clf.fit(X_src[:, :, :1], y_src, X_tgt[:, :, :1])
        assert clf.predict(X_tgt[:, :, :1]).shape == (20,)


def test_target_length_differs_warns_and_fits(data):
    X_src, y_src, X_tgt, _ = data
    short_tgt = X_tgt[:, :, :16]
    with pytest.warns(LengthMismatchWarning, match="X_tgt has series of length 16 but X \\(source\\) has length 24"):
        clf = RCDKDClassifier(**TINY).fit(X_src, y_src, short_tgt)
    mean, std = channel_stats(to_panel(short_tgt))  # standardize="domain": predict uses the target's statistics
    np.testing.assert_allclose(clf.channel_mean_, mean)
    joint = RCDKDClassifier(**TINY, standardize="joint").fit(X_src, y_src, short_tgt)
    np.testing.assert_allclose(joint.channel_mean_, channel_stats(to_panel(X_src), to_panel(short_tgt))[0])
    with pytest.warns(LengthMismatchWarning, match="^X has series of length 16 but the source data seen in fit"):
        assert clf.predict(short_tgt).shape == (20,)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.predict(X_src)  # the source length: silent


def test_channel_stats_equal_lengths_match_concatenation():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 2, 7)).astype(np.float32), rng.normal(size=(3, 2, 7)).astype(np.float32)
    both = np.concatenate([a, b])
    mean, std = channel_stats(a, b)
    np.testing.assert_allclose(mean, both.astype(np.float64).mean(axis=(0, 2)), rtol=1e-6)
    np.testing.assert_allclose(std, both.astype(np.float64).std(axis=(0, 2)), rtol=1e-6)
    c = rng.normal(size=(2, 2, 3)).astype(np.float32)
    flat = np.concatenate([x.transpose(1, 0, 2).reshape(2, -1) for x in (a, c)], axis=1)
    np.testing.assert_allclose(channel_stats(a, c)[0], flat.mean(1), rtol=1e-6)


# ---------------------------------------------------- small samples, batches
@pytest.mark.parametrize("n_src, n_tgt, batch_size", [(2, 1, 32), (3, 2, 1), (4, 40, 8), (2, 2, 2)])
def test_fewer_samples_than_batch_and_batches_of_one(data, n_src, n_tgt, batch_size):
    X_src, y_src, X_tgt, _ = data
    order = np.argsort(y_src, kind="stable")
    pick = np.r_[order[:1], order[-1:], order[1 : n_src - 1]][:n_src]  # both ends: at least 2 classes
    clf = RCDKDClassifier(**dict(TINY, batch_size=batch_size), predict_batch_size=1)
    clf.fit(X_src[pick], y_src[pick], X_tgt[:n_tgt] if n_tgt <= 20 else np.concatenate([X_tgt, X_tgt]))
    assert clf.predict(X_tgt[:1]).shape == (1,)
    assert np.isfinite(clf.predict_proba(X_tgt[:3])).all()


def test_caller_data_never_mutated(data):
    X_src, y_src, X_tgt, _ = data
    src = convert_to(X_src, to_type="pd-multiindex")
    src_before = src.copy(deep=True)
    tgt = torch.from_numpy(X_tgt.copy())
    tgt_before = tgt.clone()
    y = pd.Series(y_src)
    y_before = y.copy()
    ro = X_tgt.copy()
    ro.setflags(write=False)
    clf = RCDKDClassifier(**TINY).fit(src, y, tgt)
    clf.predict(ro)
    clf.predict(src)
    pd.testing.assert_frame_equal(src, src_before)
    pd.testing.assert_series_equal(y, y_before)
    assert torch.equal(tgt, tgt_before)
    np.testing.assert_array_equal(ro, X_tgt)
    # stacked / masked form with read-only arrays
    X = np.concatenate([X_src, X_tgt])
    yy = np.r_[y_src, -np.ones(len(X_tgt), int)]
    for a in (X, yy):
        a.setflags(write=False)
    split = split_domains(X, yy)
    assert split.mode == "masked" and split.X_src.flags.writeable


def test_channel_stats_weights_count_each_window_as_often_as_its_weight():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5, 2, 7)).astype(np.float32)
    w = np.array([1.0, 0.0, 2.0, 1.0, 3.0])
    repeated = np.repeat(X, w.astype(int), axis=0)
    mean_w, std_w = channel_stats(X, weights=[w])
    mean_r, std_r = channel_stats(repeated)
    np.testing.assert_allclose(mean_w, mean_r, rtol=1e-6)
    np.testing.assert_allclose(std_w, std_r, rtol=1e-5)


def _two_class_domain(n0, n1, offset, gain, seed):
    rng = np.random.default_rng(seed)
    y = np.r_[np.zeros(n0, int), np.ones(n1, int)]
    base = rng.normal(size=(len(y), 2, 32)) * np.where(y == 1, 3.0, 0.5)[:, None, None]  # class 1 moves more
    base += np.array([0.0, 2.0])[None, :, None] * y[:, None, None]
    return (gain * base + offset).astype(np.float32), y


def test_balanced_domain_stats_follow_the_sensor_not_the_class_mix():
    from skrcd.data import balanced_domain_stats

    X_src, y_src = _two_class_domain(60, 60, 0.0, 1.0, 0)
    X_bal, _ = _two_class_domain(60, 60, 1.0, 2.0, 1)  # the same classes seen by another sensor: offset 1, gain 2
    X_skew, _ = _two_class_domain(108, 12, 1.0, 2.0, 2)  # ... with 90 % of its windows from class 0
    (_, _), (m_bal, s_bal) = balanced_domain_stats(X_src, y_src, X_bal)
    (_, _), (m_skew, s_skew) = balanced_domain_stats(X_src, y_src, X_skew)
    plain_mean, plain_std = channel_stats(X_skew)
    # the plain statistics of the skewed target are far from the balanced target's; the balanced ones are close
    assert np.abs(plain_std / s_bal - 1).max() > 0.4
    np.testing.assert_allclose(s_skew / s_bal, 1.0, atol=0.2)
    np.testing.assert_allclose(m_skew - m_bal, 0.0, atol=0.35)
    # on an already balanced target the weights change little: close to the plain statistics
    np.testing.assert_allclose(s_bal / channel_stats(X_bal)[1], 1.0, atol=0.1)
