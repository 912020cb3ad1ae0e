"""Your own raw recordings -> windows -> RCD-KD, predicting on a device it never saw.

Recordings usually arrive as one long table per study: one row per time step, the
device (or subject, or machine) that recorded it, a session id, a time stamp, one
column per channel and, where someone annotated it, the activity at that step. This
example writes such a table as CSV (synthetic accelerometer sessions of three phones
standing in for yours), reads it back as you would, and goes on with
:func:`skrcd.datasets.make_windows`:

1. cut every session into windows of 64 steps every 32 steps (numpy's
   ``sliding_window_view``, session by session: no window spans two sessions);
   ``label_rule="strict"`` keeps a labelled window only if one activity covers it,
   so no window straddles an activity change;
2. fit on the labelled ``lab`` phone (source) and the unlabelled ``field`` phone
   (target; its rows carry no activity);
3. predict on the ``new`` phone, held out of training.

Other formats work the same way: ``pd.read_parquet`` for parquet (with pyarrow
installed), or a list of numpy arrays ``(time steps, channels)`` with
``labels=`` and ``domains=``.

Run ``python examples/raw_recordings.py`` (a few minutes on 2 CPU cores);
``SKRCD_FAST=1`` uses shorter sessions and trains 2 epochs of small networks (what
CI does, to check the example runs).
"""

import os

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from skrcd import RCDKDClassifier
from skrcd.datasets import make_windows

FAST = bool(os.environ.get("SKRCD_FAST"))
RATE = 50  # Hz
ACTIVITIES = {"idle": (0.0, 0.0), "walk": (1.0, 2.0), "run": (2.5, 3.0)}  # amplitude, frequency (Hz)


# ---------------------------------------------------------------- stand-in for your recordings
def session(rng, seconds, gain, offset, noise):
    """One continuous session: activity segments of 5-20 s, three accelerometer channels."""
    names, steps = [], 0
    while steps < seconds * RATE:
        n = int(rng.uniform(5, 20) * RATE)
        names += [rng.choice(list(ACTIVITIES))] * n
        steps += n
    names = np.array(names[: seconds * RATE])
    t = np.arange(len(names)) / RATE
    amp = np.array([ACTIVITIES[a][0] for a in names])
    freq = np.array([ACTIVITIES[a][1] for a in names])
    acc = np.stack([amp * np.sin(2 * np.pi * freq * t + phase) for phase in (0.0, 1.0, 2.0)], axis=1)
    acc = gain * acc + offset + noise * rng.standard_normal(acc.shape)
    return pd.DataFrame({"t": np.round(t, 3), "acc_x": acc[:, 0], "acc_y": acc[:, 1], "acc_z": acc[:, 2],
                         "activity": names})


rng = np.random.default_rng(0)
seconds = 60 if FAST else 120
frames = []
for device, gain, offset, noise in (("lab", 1.0, 0.0, 0.1), ("field", 1.4, 0.3, 0.3), ("new", 1.4, 0.3, 0.3)):
    for s in range(2):
        frames.append(session(rng, seconds, gain, offset, noise).assign(device=device, session=f"s{s}"))
recorded = pd.concat(frames, ignore_index=True)
recorded.loc[recorded.device != "lab", "activity"] = None  # only the lab phone was annotated
recorded.sample(frac=1.0, random_state=0).to_csv("recordings.csv", index=False)  # rows in any order
# the activities of the new phone, known here only for scoring; in the CSV's row order, so that its windows
# come in the same order as below
truth = pd.concat(frames, ignore_index=True).sample(frac=1.0, random_state=0)

# ---------------------------------------------------------------- what you would write
table = pd.read_csv("recordings.csv")  # device, session, t, acc_x, acc_y, acc_z, activity
X, y, device, session_id = make_windows(
    table, length=64, step=32, label_rule="strict", domain="device", recording="session", time="t",
    label="activity", channels=["acc_x", "acc_y", "acc_z"], unlabelled="?")
names, counts = np.unique(device, return_counts=True)
print(f"{len(X)} windows of {X.shape[1]} channels x {X.shape[2]} steps; per device:",
      ", ".join(f"{d} {c}" for d, c in zip(names, counts)))
src, tgt, new = device == "lab", device == "field", device == "new"

fast = dict(teacher_channels=(16, 16, 16), selector_hidden=32, mc_passes=2, n_episodes=2) if FAST else {}
epochs = 2 if FAST else 15
clf = RCDKDClassifier(teacher_epochs=epochs, student_epochs=epochs, random_state=0, **fast)
clf.fit(X[src], y[src], X[tgt])
pred = clf.predict(X[new])
print("classes:", clf.classes_.tolist(), "| first predictions on the new phone:", pred[:6].tolist())

# ---------------------------------------------------------------- scoring (synthetic data only)
new_rows = truth[truth.device == "new"]
_, y_new, *_ = make_windows(new_rows, length=64, step=32, domain="device", recording="session", time="t",
                            label="activity", channels=["acc_x", "acc_y", "acc_z"], unlabelled="?")
print(f"student macro-F1 on the held-out phone: {100 * f1_score(y_new, pred, average='macro'):.2f}")
