"""``make_windows``: window counts and labels on recordings with known segments, no window across a recording
boundary (or a label change when strict), per-domain channel checks, errors, and the path on to ``fit``."""

import numpy as np
import pandas as pd
import pytest
from conftest import TINY

from skrcd import RCDKDClassifier
from skrcd.datasets import make_windows

# (domain, recording, labels of its steps in order); None = no label
SEGMENTS = [
    ("a", "r1", [0] * 8 + [1] * 7 + [2] * 5),
    ("a", "r2", [1] * 9),
    ("b", "r1", [None] * 12),  # the same recording id in another domain: another recording
]
MAJORITY = [0, 0, 0, 0, 1, 1, 1, 2, 2] + [1, 1, 1] + [-1] * 5  # length 4, step 2 (a tie at step 6 goes to 0)
STRICT = [0, 0, 0, 1, 1, 2] + [1, 1, 1] + [-1] * 5


def recording_table(shuffle=True):
    """One row per step: ``t`` (the step within its recording), ``code`` (which recording), two channels.

    ``shuffle``: each recording's rows out of time order (recordings keep their order of first appearance,
    which is the order of the windows).
    """
    frames = []
    for code, (domain, rec, labels) in enumerate(SEGMENTS):
        n = len(labels)
        frame = pd.DataFrame({"subject": domain, "session": rec, "t": np.arange(n), "step": np.arange(n),
                              "code": code, "activity": pd.array(labels, dtype="Int64")})
        frames.append(frame.sample(frac=1.0, random_state=code) if shuffle else frame)
    return pd.concat(frames, ignore_index=True)


def check_no_crossing(X):
    assert (X[:, 1] == X[:, 1, :1]).all()  # one recording per window
    assert (np.diff(X[:, 0], axis=1) == 1).all()  # consecutive steps of it


@pytest.mark.parametrize("rule, labels", [("majority", MAJORITY), ("strict", STRICT)])
def test_counts_and_labels_on_known_segments(rule, labels):
    table = recording_table()
    before = table.copy()
    X, y, domain, recording = make_windows(table, length=4, step=2, label_rule=rule, domain="subject",
                                           recording="session", label="activity", time="t",
                                           channels=["step", "code"])
    pd.testing.assert_frame_equal(table, before)  # the caller's table is not modified
    assert X.shape == (len(labels), 2, 4) and X.dtype == np.float32
    assert y.tolist() == labels and y.dtype == np.int64
    assert domain.tolist() == ["a"] * (len(labels) - 5) + ["b"] * 5
    assert recording.tolist() == ["r1"] * (len(labels) - 8) + ["r2"] * 3 + ["r1"] * 5
    check_no_crossing(X)
    starts = X[:, 0, 0].astype(int).tolist()
    if rule == "majority":
        assert starts == [0, 2, 4, 6, 8, 10, 12, 14, 16] + [0, 2, 4] + [0, 2, 4, 6, 8]
    else:  # the windows across the label changes at steps 8 and 15 are dropped
        assert starts == [0, 2, 4, 8, 10, 16] + [0, 2, 4] + [0, 2, 4, 6, 8]


@pytest.mark.parametrize("length, step", [(1, 1), (3, 1), (4, 4), (5, 3), (9, 2), (12, 5)])
def test_window_count_per_recording(length, step):
    X, *_ = make_windows(recording_table(), length, step, domain="subject", recording="session", time="t",
                         channels=["step", "code"])
    sizes = [len(labels) for _, _, labels in SEGMENTS]
    assert len(X) == sum((n - length) // step + 1 for n in sizes if n >= length)
    check_no_crossing(X) if length > 1 else None


def test_arrays_give_the_same_windows_as_the_table():
    table = recording_table(shuffle=False)
    arrays = [table.loc[table.code == c, ["step", "code"]].to_numpy() for c in range(3)]
    labels = [np.array(lab, dtype=object) for _, _, lab in SEGMENTS[:2]] + [None]
    X, y, domain, recording = make_windows(arrays, 4, 2, labels=labels, domains=["a", "a", "b"])
    Xt, yt, dt, _ = make_windows(table, 4, 2, domain="subject", recording="session", label="activity",
                                 channels=["step", "code"])
    np.testing.assert_array_equal(X, Xt)
    assert y.tolist() == yt.tolist() == MAJORITY and domain.tolist() == dt.tolist()
    assert recording.tolist() == [0] * 9 + [1] * 3 + [2] * 5  # positions in the list
    X1, y1, d1, _ = make_windows([np.arange(10.0)], 5)  # one channel, no labels, domain = position
    assert X1.shape == (2, 1, 5) and y1.tolist() == [-1, -1] and d1.tolist() == [0, 0]


def test_string_labels_and_the_unlabelled_value():
    table = pd.DataFrame({"device": ["a"] * 6 + ["b"] * 4, "x": np.arange(10.0),
                          "activity": ["sit"] * 4 + ["walk"] * 2 + [np.nan] * 4})
    X, y, *_ = make_windows(table, 2, domain="device", label="activity", unlabelled="?")
    assert y.tolist() == ["sit", "sit", "walk", "?", "?"]
    with pytest.raises(ValueError, match="unlabelled=-1 does not suit labels of dtype <U4"):
        make_windows(table, 2, domain="device", label="activity")
    with pytest.raises(ValueError, match="unlabelled='sit' is also one of the labels"):
        make_windows(table, 2, domain="device", label="activity", unlabelled="sit")
    assert make_windows(table.iloc[:6], 2, domain="device", label="activity")[1].tolist() == ["sit", "sit", "walk"]
    float_labels = table.assign(activity=[0.0] * 4 + [1.0] * 2 + [np.nan] * 4)  # ints with NaN: a float column
    y = make_windows(float_labels, 2, domain="device", label="activity")[1]
    assert y.tolist() == [0, 0, 1, -1, -1] and y.dtype == np.int64


def test_channel_checks_per_domain():
    table = pd.DataFrame({"dom": ["a"] * 6 + ["b"] * 6, "acc": np.arange(12.0), "gyro": np.arange(12.0)})
    no_gyro = table.assign(gyro=np.where(table.dom == "b", np.nan, table.gyro))
    with pytest.raises(ValueError, match=r"domain 'b', recording 'b' has no values for channel\(s\) \['gyro'\]"):
        make_windows(no_gyro, 3, domain="dom")
    gap = table.copy()
    gap.loc[4, "acc"] = np.inf
    with pytest.raises(ValueError, match="domain 'a', recording 'a': channel 'acc' is missing or not finite at row 4"):
        make_windows(gap, 3, domain="dom")
    with pytest.raises(ValueError, match=r"recording 1 \(domain 'b'\) has 2 channels, recording 0 has 3"):
        make_windows([np.zeros((6, 3)), np.zeros((6, 2))], 3, domains=["a", "b"])
    with pytest.raises(ValueError, match=r"channels \['dom'\] are not numeric"):
        make_windows(table.assign(dom2=table.dom), 3, domain="dom2", channels=["acc", "dom"])
    assert make_windows(table, 3, domain="dom")[0].shape == (4, 2, 3)  # numeric columns by default
    numbered = table.assign(dom=np.repeat([3, 5], 6))
    X, y, domain, recording = make_windows(numbered, 3, domain="dom", channels=["acc"])
    assert domain.tolist() == [3, 3, 5, 5] and domain.dtype == np.int64 and recording.tolist() == [3, 3, 5, 5]


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(length=0), ValueError, "length must be a positive integer"),
    (dict(length=3, step=0), ValueError, "step must be a positive integer"),
    (dict(length=2.5), ValueError, "length must be a positive integer"),
    (dict(length=3, label_rule="mode"), ValueError, r"label_rule must be one of \('majority', 'strict'\)"),
    (dict(length=3, domain="user"), ValueError, "domain='user' is not a column"),
    (dict(length=3, domain=None), ValueError, "domain must name the table's domain column"),
    (dict(length=3, label="y"), ValueError, "label='y' is not a column"),
    (dict(length=3, channels=["acc", "mag"]), ValueError, r"channels \['mag'\] are not columns"),
    (dict(length=3, channels=["acc", "dom"]), ValueError, r"channels \['dom'\] are also the domain"),
    (dict(length=3, channels=["acc", "lab"]), ValueError, r"channels \['lab'\] are not numeric"),
    (dict(length=3, time="t"), ValueError, "time 1 appears twice"),
    (dict(length=3, labels=[[0] * 12]), ValueError, "labels= and domains= are for a sequence of arrays"),
    (dict(length=30), ValueError, "no window of 30 steps: the longest recording has 6 steps"),
])
def test_argument_errors(kwargs, exc, match):
    table = pd.DataFrame({"dom": ["a"] * 6 + ["b"] * 6, "acc": np.arange(12.0), "t": [0, 1, 1, 2, 3, 4] * 2,
                          "lab": ["x"] * 12})
    kwargs = {"domain": "dom", **kwargs}
    with pytest.raises(exc, match=match):
        make_windows(table, **kwargs) if "time" in kwargs else make_windows(table.drop(columns="t"), **kwargs)


def test_more_errors_and_warnings():
    with pytest.raises(TypeError, match="recordings must be a pandas DataFrame or a list of arrays"):
        make_windows({"a": np.zeros(10)}, 3)
    with pytest.raises(ValueError, match="channels=, recording=, label= and time= name table columns"):
        make_windows([np.zeros(10)], 3, label="y")
    with pytest.raises(ValueError, match=r"labels\[0\] has 9 entries, recording 0 has 10"):
        make_windows([np.zeros(10)], 3, labels=[np.zeros(9)])
    with pytest.raises(ValueError, match="domains must hold one entry per recording"):
        make_windows([np.zeros(10), np.zeros(10)], 3, domains=["a"])
    with pytest.raises(ValueError, match="the labels must be all numbers or all strings"):
        make_windows([np.zeros(4), np.zeros(4)], 2, labels=[[1, 1, 1, 1], ["a"] * 4])
    with pytest.raises(ValueError, match="contains NaN"):
        make_windows([np.array([0.0, np.nan, 1.0])], 2)
    with pytest.raises(ValueError, match="with one label throughout"):
        make_windows([np.zeros(4)], 4, labels=[[0, 1, 0, 1]], label_rule="strict")
    with pytest.warns(UserWarning, match=r"domain\(s\) \['short'\] gave no window of 5 steps"):
        X, _, d, _ = make_windows([np.zeros(10), np.zeros(3)], 5, domains=["long", "short"])
    assert d.tolist() == ["long", "long"]


@pytest.mark.filterwarnings("ignore::skrcd.SelectionCollapseWarning")  # one epoch of training
def test_from_a_raw_table_to_fit_and_predict_on_a_held_out_domain():
    rng = np.random.default_rng(0)
    rows = []
    for dev, gain in (("lab", 1.0), ("field", 1.5), ("new", 1.5)):
        labels = np.repeat(rng.integers(0, 2, 12), 32)
        t = np.arange(len(labels))
        signal = np.where(labels == 1, np.sin(t / 2.0), 0.2 * rng.standard_normal(len(t)))
        rows.append(pd.DataFrame({"device": dev, "x": gain * signal, "y": gain * signal + 1,
                                  "activity": labels if dev == "lab" else np.nan}))
    table = pd.concat(rows, ignore_index=True)
    X, y, domain, _ = make_windows(table, 32, 16, domain="device", label="activity", label_rule="strict")
    src, tgt, new = domain == "lab", domain == "field", domain == "new"
    assert (y[src] >= 0).all() and (y[tgt] == -1).all()
    clf = RCDKDClassifier(**TINY).fit(X[src], y[src], X[tgt])
    pred = clf.predict(X[new])
    assert pred.shape == (int(new.sum()),) and set(pred.tolist()) <= {0, 1}
