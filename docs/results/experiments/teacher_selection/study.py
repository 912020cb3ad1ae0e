"""Teacher candidates per (scenario, seed): target macro-F1 and label-free selection scores.

Fits one teacher per candidate objective (``teacher_method``) and records, beside
the target test macro-F1 (the score of interest, read by nothing else), the
scores a user could compute without target labels:

``source_f1``, ``source_loss``
    macro-F1 and log-loss on the source's held-out test part (source risk);
``tgt_entropy``, ``tgt_im``
    mean prediction entropy on the unlabelled target windows of ``fit``, and
    the information-maximisation score (that entropy minus the entropy of the
    mean prediction);
``tgt_snd``
    soft neighbourhood density (Saito et al., 2021) of the target predictions.

Rows go to ``OUT/rows.csv``, the probabilities to ``OUT/probs/*.npz`` (``rank.py``
reads both), the teachers to ``OUT/teachers/`` (not committed). Resumable: rows
already in ``rows.csv`` are skipped. Run from the repository root::

    python docs/results/experiments/teacher_selection/study.py --scenarios paper --seeds 0,1,2,3,4 \
        --methods vada,cdan,dann --data-home ../shared/data/uci_har --out docs/results/experiments/teacher_selection/uci_har
"""
import argparse
import csv
import json
import os
import time

import numpy as np
from joblib import Parallel, delayed

METHODS = ("dann", "vada", "dirtt", "cdan")
DATASET_PARAMS = {"uci_har": {}, "cwru": {"kernel_size": 32, "stride": 6}}
FIELDS = ["dataset", "scenario", "seed", "method", "target_f1", "source_f1", "source_loss", "tgt_entropy", "tgt_im",
          "tgt_snd", "fit_time"]


def entropy(p):
    return float(-(p * np.log(p + 1e-12)).sum(1).mean())


def soft_neighbourhood_density(p, tau=0.05):
    u = p / np.linalg.norm(p, axis=1, keepdims=True)
    s = u @ u.T
    np.fill_diagonal(s, -np.inf)
    s = s / tau - (s / tau).max(1, keepdims=True)
    e = np.exp(s)
    e /= e.sum(1, keepdims=True)
    return float(-(e * np.log(e + 1e-12)).sum(1).mean())


def run(dataset, s, t, seed, method, epochs, data_home, out):
    import torch
    from sklearn.metrics import f1_score, log_loss

    from skrcd import RCDKDClassifier
    from skrcd.data import channel_stats
    from skrcd.datasets import load_scenario

    torch.set_num_threads(1)
    sc = load_scenario(dataset, source=s, target=t, data_home=data_home)
    name = f"{dataset}_{s}-{t}_seed{seed}_{method}"
    path = os.path.join(out, "teachers", name + ".skrcd")
    t0 = time.perf_counter()
    if os.path.exists(path):
        clf = RCDKDClassifier.load(path)
    else:
        params = {**DATASET_PARAMS[dataset], "teacher_method": method, "student_epochs": 0}
        if epochs:
            params["teacher_epochs"] = epochs
        clf = RCDKDClassifier(random_state=seed, n_threads=1, **params).fit(sc.X_src, sc.y_src, sc.X_tgt)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        clf.save(path)
    fit_time = time.perf_counter() - t0
    p_tgt = clf.predict_proba(sc.X_tgt, network="teacher")
    p_test = clf.predict_proba(sc.X_test, network="teacher")
    # predict standardises with the target's statistics: give the source test part the target's
    # scale after standardising it with the source's, as the teacher saw the source in training
    m, sd = channel_stats(sc.X_src.astype(np.float32))
    Xs = sc.X_src_test
    if clf.standardize == "domain":
        Xs = (Xs - m[None, :, None]) / sd[None, :, None] * clf.channel_std_[None, :, None] + clf.channel_mean_[None, :, None]
    p_src = clf.predict_proba(Xs.astype(np.float32), network="teacher")
    classes = clf.classes_
    y_src = np.searchsorted(classes, sc.y_src_test)
    row = dict(dataset=dataset, scenario=f"{s}-{t}", seed=seed, method=method,
               target_f1=100 * f1_score(sc.y_test, classes[p_test.argmax(1)], average="macro"),
               source_f1=100 * f1_score(sc.y_src_test, classes[p_src.argmax(1)], average="macro"),
               source_loss=float(log_loss(y_src, p_src, labels=np.arange(len(classes)))),
               tgt_entropy=entropy(p_tgt), tgt_im=entropy(p_tgt) - entropy(p_tgt.mean(0, keepdims=True)),
               tgt_snd=soft_neighbourhood_density(p_tgt), fit_time=fit_time)
    os.makedirs(os.path.join(out, "probs"), exist_ok=True)
    np.savez(os.path.join(out, "probs", name + ".npz"), tgt=p_tgt, test=p_test, src_test=p_src,
             y_test=np.searchsorted(classes, sc.y_test), y_src_test=y_src)
    return row


def main():
    from skrcd.datasets import CWRU_SCENARIOS, PAPER_SCENARIOS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="uci_har", choices=sorted(DATASET_PARAMS))
    ap.add_argument("--scenarios", default="paper", help="'2-11,7-13' or 'paper'")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--methods", default="vada,cdan,dann", help=f"comma-separated, from {','.join(METHODS)}")
    ap.add_argument("--epochs", type=int, default=None, help="teacher epochs (default: the estimator's 80)")
    ap.add_argument("--data-home", default=None)
    ap.add_argument("--n-jobs", type=int, default=1)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    paper = {"uci_har": PAPER_SCENARIOS, "cwru": CWRU_SCENARIOS}[a.dataset]
    scenarios = (paper if a.scenarios == "paper"
                 else [tuple(int(v) for v in sc.split("-")) for sc in a.scenarios.split(",")])
    methods = a.methods.split(",")
    if set(methods) - set(METHODS):
        ap.error(f"--methods: unknown {sorted(set(methods) - set(METHODS))}")
    os.makedirs(a.out, exist_ok=True)
    rows_path = os.path.join(a.out, "rows.csv")
    done = set()
    if os.path.exists(rows_path):
        with open(rows_path) as f:
            done = {(r["dataset"], r["scenario"], int(r["seed"]), r["method"]) for r in csv.DictReader(f)}
    else:
        with open(rows_path, "w", newline="") as f:
            csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore").writeheader()
    jobs = [(a.dataset, s, t, seed, m) for m in methods for seed in (int(v) for v in a.seeds.split(","))
            for s, t in scenarios if (a.dataset, f"{s}-{t}", seed, m) not in done]
    for row in Parallel(n_jobs=a.n_jobs, batch_size=1, return_as="generator_unordered")(
            delayed(run)(*j, a.epochs, a.data_home, a.out) for j in jobs):
        with open(rows_path, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore").writerow(row)
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}), flush=True)


if __name__ == "__main__":
    main()
