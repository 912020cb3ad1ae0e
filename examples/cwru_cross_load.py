"""Bearing-fault diagnosis across motor loads: RCD-KD on the CWRU scenario 0 HP -> 1 HP.

The CWRU data (9 fault classes, univariate drive-end vibration, windows of 1024
samples at 12 kHz) are not bundled: :func:`skrcd.datasets.load_cwru` reads
``cwru_loads.npz`` from the data home, found in this order: the ``data_home=``
argument, the ``SKRCD_DATA_HOME`` environment variable, ``~/.cache/skrcd``
(``skrcd.datasets.fetch_cwru()`` builds the file there from the original
recordings). This script also looks in ``shared/data`` beside the repository
checkout (where the project's CI keeps it). Without the file it says so and exits
cleanly.

As in the paper's fault-diagnosis experiments, the first convolution of teacher
and student has kernel 32 and stride 6 (long univariate windows). The networks
train 10 epochs per stage here (about two minutes on 2 CPU cores), not the
benchmark setting; ``SKRCD_FAST=1`` trains 1 epoch of small networks on a quarter
of the windows (what CI does, to check the example runs).
"""

import os
import sys
from pathlib import Path

from sklearn.metrics import f1_score

from skrcd import RCDKDClassifier, SourceOnlyClassifier
from skrcd.datasets import CWRU_CLASSES, get_data_home, load_scenario

FAST = bool(os.environ.get("SKRCD_FAST"))
SOURCE, TARGET = 0, 1  # motor loads (HP)


def find_cwru():
    """The data home holding cwru_loads.npz, or None."""
    candidates = [None, Path(__file__).resolve().parents[2] / "shared" / "data"]
    for home in candidates:
        try:
            return load_scenario("cwru", source=SOURCE, target=TARGET, data_home=home)
        except FileNotFoundError:
            continue
    return None


sc = find_cwru()
if sc is None:
    print(f"cwru_loads.npz was not found in {get_data_home()} (nor beside the checkout): set SKRCD_DATA_HOME to the "
          "folder holding it, or run skrcd.datasets.fetch_cwru(); skipping this example")
    sys.exit(0)

X_src, y_src, X_tgt = sc.X_src, sc.y_src, sc.X_tgt
if FAST:
    X_src, y_src, X_tgt = X_src[::4], y_src[::4], X_tgt[::4]
print(f"CWRU load {SOURCE} -> {TARGET}: {len(X_src)} labelled source windows, {len(X_tgt)} unlabelled target "
      f"windows, {len(sc.X_test)} target test windows of shape {X_src.shape[1:]}, {len(CWRU_CLASSES)} classes")

epochs = 1 if FAST else 10
params = dict(kernel_size=32, stride=6, teacher_epochs=epochs, student_epochs=epochs, random_state=0)
if FAST:
    params.update(teacher_channels=(16, 16, 16), student_channels=(8, 8, 8), selector_hidden=64, mc_passes=2,
                  n_episodes=2)

rcdkd = RCDKDClassifier(**params, verbose=0 if FAST else 1).fit(X_src, y_src, X_tgt)
source_only = SourceOnlyClassifier(**params).fit(X_src, y_src, X_tgt)

for name, clf, network in (("teacher", rcdkd, "teacher"), ("RCD-KD student", rcdkd, "student"),
                           ("source-only student", source_only, "student")):
    f1 = f1_score(sc.y_test, clf.predict(sc.X_test, network=network), average="macro")
    print(f"{name:20s} macro-F1 on load {TARGET}'s test part: {100 * f1:6.2f}  "
          f"({clf.n_parameters_[network]:,} parameters)")
