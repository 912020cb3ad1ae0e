"""Quickstart: RCD-KD on the bundled UCI-HAR scenario 2 -> 11.

Run ``python examples/quickstart.py``; with ``SKRCD_FAST=1`` every stage trains for
2 epochs only (what CI does, to check the example runs).
"""

import os

from sklearn.metrics import f1_score

from skrcd import RCDKDClassifier
from skrcd.datasets import load_scenario

epochs = 2 if os.environ.get("SKRCD_FAST") else 40

# labelled source train part, unlabelled target train part, labelled target test part
sc = load_scenario("uci_har", source=2, target=11)

clf = RCDKDClassifier(teacher_epochs=epochs, student_epochs=epochs, random_state=0, verbose=1)
clf.fit(sc.X_src, sc.y_src, sc.X_tgt)

for network in ("teacher", "student"):
    f1 = f1_score(sc.y_test, clf.predict(sc.X_test, network=network), average="macro")
    print(f"{network:8s} macro-F1 on the target test part: {100 * f1:.2f}  "
          f"({clf.n_parameters_[network]:,} parameters)")

# one row per epoch and stage: losses, the fraction of target windows distilled (all of them by default; with
# selection="rl" the selector's share, its mean reward and DQN loss too)
last = clf.history_[-1]
print({k: round(v, 3) for k, v in last.items() if isinstance(v, float)})
