"""Your own data: windows in a long pandas table (sktime's ``pd-multiindex``) -> RCD-KD.

Sensor data often arrive as a long table: one row per time step, a window id, a
time index, one column per channel, and a separate table of the windows with
their domain and (for the labelled domain only) their label. This example writes
such tables as CSV files (from a synthetic domain shift standing in for your
recordings), reads them back as a user would, and fits RCD-KD on them:

1. ``X``: ``set_index(["window", "t"])`` gives a ``pd-multiindex`` frame, which
   every skrcd entry point reads directly (the rows of a window in time order;
   windows keep the table's order);
2. ``y``: one label per window, in the order of ``X``'s windows; the unlabelled
   target windows carry the mask label (here ``"?"``, as the labels are strings):
   the *stacked* form, which passes through pipelines and cross-validation;
3. ``fit(X, y)``, then ``predict`` on new target windows, also a ``pd-multiindex``
   frame.

Run ``python examples/own_data_multiindex.py`` (a minute or so on 2 CPU cores);
``SKRCD_FAST=1`` trains 2 epochs of small networks (what CI does, to check the
example runs).
"""

import os

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from skrcd import RCDKDClassifier
from skrcd.datasets import make_domain_shift

FAST = bool(os.environ.get("SKRCD_FAST"))
CHANNELS = ["acc_x", "acc_y", "acc_z"]
ACTIVITIES = np.array(["idle", "walk", "run"])

# ---------------------------------------------------------------- stand-in for your recordings
# "lab": labelled source domain; "field": unlabelled target domain (scaled, offset, noisier)
X_lab, y_lab, X_field, y_field = make_domain_shift(n_source=200, n_target=240, n_classes=3, n_channels=3,
                                                   length=64, random_state=0)
X_field, X_new, y_field, y_new = X_field[:160], X_field[160:], y_field[:160], y_field[160:]


def to_long(X, prefix):
    """(n, channels, length) -> long table: one row per window and time step."""
    n, c, length = X.shape
    frame = pd.DataFrame(X.transpose(0, 2, 1).reshape(n * length, c), columns=CHANNELS)
    frame.insert(0, "window", np.repeat([f"{prefix}-{i:04d}" for i in range(n)], length))
    frame.insert(1, "t", np.tile(np.arange(length), n))
    return frame


pd.concat([to_long(X_lab, "lab"), to_long(X_field, "field")]).to_csv("signals.csv", index=False)
pd.DataFrame({
    "window": [f"lab-{i:04d}" for i in range(len(X_lab))] + [f"field-{i:04d}" for i in range(len(X_field))],
    "domain": ["lab"] * len(X_lab) + ["field"] * len(X_field),
    "activity": list(ACTIVITIES[y_lab]) + [None] * len(X_field),  # no labels in the field
}).to_csv("windows.csv", index=False)
to_long(X_new, "new").to_csv("new_signals.csv", index=False)

# ---------------------------------------------------------------- what you would write
signals = pd.read_csv("signals.csv")
windows = pd.read_csv("windows.csv").set_index("window")

X = signals.set_index(["window", "t"])[CHANNELS]        # sktime pd-multiindex: (window, t) x channels
order = X.index.get_level_values("window").unique()     # windows in the order skrcd reads them
y = windows.loc[order, "activity"].fillna("?").to_numpy()  # unlabelled target windows -> mask label "?"
print(f"{len(order)} windows ({(y != '?').sum()} labelled), {len(CHANNELS)} channels, "
      f"{X.loc[order[0]].shape[0]} time steps each")

fast = dict(teacher_channels=(16, 16, 16), selector_hidden=64, mc_passes=2, n_episodes=2) if FAST else {}
clf = RCDKDClassifier(mask_label="?", teacher_epochs=2 if FAST else 30, student_epochs=2 if FAST else 30,
                      random_state=0, **fast)
clf.fit(X, y)
print("target given as:", clf.target_mode_, "| classes:", clf.classes_.tolist())

# ---------------------------------------------------------------- predict new field windows
X_new_frame = pd.read_csv("new_signals.csv").set_index(["window", "t"])[CHANNELS]
pred = clf.predict(X_new_frame)
print("first predictions:", pred[:8].tolist())
# the true activities of the new windows are known here only because the data are synthetic
print(f"student macro-F1 on new field windows: {100 * f1_score(ACTIVITIES[y_new], pred, average='macro'):.2f}")
