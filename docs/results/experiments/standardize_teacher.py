"""The script that produced standardize_teacher.jsonl (run as: python standardize_teacher.py 9-18,12-16,7-13,6-23)."""
import sys, json, time, numpy as np
from sklearn.metrics import f1_score
from skrcd import RCDKDClassifier
from skrcd.datasets import load_scenario
for sc_name in sys.argv[1].split(","):
    s, t = map(int, sc_name.split("-"))
    sc = load_scenario("uci_har", s, t, data_home="/work/shared/data/uci_har")
    for seed in (0, 1):
        for std in ("domain", True):
            clf = RCDKDClassifier(standardize=std, student_epochs=1, selection="all", random_state=seed).fit(sc.X_src, sc.y_src, sc.X_tgt)
            f1 = 100 * f1_score(sc.y_test, clf.predict(sc.X_test, network="teacher"), average="macro")
            print(json.dumps(dict(sc=sc_name, seed=seed, standardize=std, teacher=round(f1, 2))), flush=True)
