"""Diagnose the RCD-KD student collapse on UCI-HAR 2->11, seed 2 (run as: python selector_collapse_diag.py 2)."""
import numpy as np, torch, json, sys
from sklearn.metrics import f1_score, confusion_matrix
from skrcd import RCDKDClassifier
from skrcd.datasets import load_scenario
seed = int(sys.argv[1])
sc = load_scenario("uci_har", 2, 11, data_home="/work/shared/data/uci_har")
clf = RCDKDClassifier(random_state=seed).fit(sc.X_src, sc.y_src, sc.X_tgt)
print("teacher", f1_score(sc.y_test, clf.predict(sc.X_test, network="teacher"), average="macro"))
print("student", f1_score(sc.y_test, clf.predict(sc.X_test), average="macro"))
print(confusion_matrix(sc.y_test, clf.predict(sc.X_test)))
h = [r for r in clf.history_ if r["stage"] == "student"]
print("selected", [round(r["selected"], 2) for r in h[::8]])
print("loss_kd", [round(r["loss_kd"], 3) for r in h[::8]])
print("loss_dc", [round(r["loss_dc"], 3) for r in h[::8]])
print("reward", [round(r["reward"], 2) for r in h[::8]])
feats = torch.as_tensor(clf.predict_features(sc.X_tgt))
clf.selector_.online.eval()
with torch.no_grad():
    a = clf.selector_.online(feats).argmax(1).numpy()
y_tgt = sc.y_tgt if hasattr(sc, "y_tgt") else None
print("final selector rate per true class (eval mode):", [round(float(a[y_tgt == c].mean()), 2) for c in range(6)])
