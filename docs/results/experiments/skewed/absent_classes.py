"""How much a skewed target's absent classes cost the teacher, and whether anything label-free can tell them apart.

Reads the saved teachers of ``skrcd benchmark`` folders of the skewed families (``teachers/*.skrcd``, written by
the benchmark's first phase) and, for each (scenario, seed), scores the teacher on the target's test part as the
benchmark does (macro-F1 x 100 weighted to the target's class profile), three ways:

- ``teacher``: its predictions as they are;
- ``present only``: the arg-max over the classes the target's train part holds (an oracle: it reads the target's
  labels, so it bounds what a label-shift correction could gain; no method can use it);
- ``em``: its probabilities moved from the source prior to the target prior that EM estimates from its
  probabilities of the target's train windows (``label_shift="em"``'s estimate, :func:`skrcd.nn.em_target_prior`).

Then, over every (run, class) whose class is absent from the target's train part or holds at most 11 % of it, the
area under the ROC curve with which three label-free statistics of the teacher on the target's train windows
separate present from absent classes: the EM prior, the share of windows predicted as the class, and the mean
top probability of those windows (0 where none is). An area of 1 would let a correction drop exactly the absent
classes; the last column counts the small present classes that a threshold removing four in five absent classes
would remove too.

Target labels enter only the scores and the grouping (nothing here chooses a setting). Usage::

    python docs/results/experiments/skewed/absent_classes.py DATA_HOME_ROOT BENCHMARK_DIR [BENCHMARK_DIR ...]

where ``DATA_HOME_ROOT`` holds ``uci_har/`` and ``cwru/`` (``../shared/data``).
"""
import glob
import os
import re
import sys

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from skrcd import RCDKDClassifier
from skrcd.datasets import load_scenario
from skrcd.experiments.benchmark import _scores
from skrcd.experiments.results import summarise_paired
from skrcd.nn import em_target_prior

_NAME = re.compile(r"(?P<dataset>\w+_skewed)_(?P<source>\d+)-(?P<target>\d+)_seed(?P<seed>\d+)\.skrcd$")


def _one(path, data_root):
    m = _NAME.search(os.path.basename(path))
    dataset, source, target, seed = m["dataset"], int(m["source"]), int(m["target"]), int(m["seed"])
    clf = RCDKDClassifier.load(path)
    sc = load_scenario(dataset, source, target, seed=seed,
                       data_home=os.path.join(data_root, dataset.removesuffix("_skewed")))
    k = len(clf.classes_)
    prior_s = np.bincount(sc.y_src, minlength=k) / len(sc.y_src)
    share_t = np.bincount(sc.y_tgt, minlength=k) / len(sc.y_tgt)
    proba_tgt = clf.predict_proba(sc.X_tgt, network="teacher")
    proba_test = clf.predict_proba(sc.X_test, network="teacher")
    prior_em = em_target_prior(torch.as_tensor(proba_tgt, dtype=torch.float64), torch.as_tensor(prior_s)).numpy()
    present = share_t > 0
    run = dict(dataset=dataset, scenario=f"{source}-{target}", seed=seed, n_absent=int((~present).sum()))
    scores = [dict(run, method=name, macro_f1=_scores(sc.y_test, proba.argmax(1), sc.w_test, clf.classes_)["macro_f1"])
              for name, proba in (("teacher", proba_test), ("present only", np.where(present, proba_test, -1.0)),
                                  ("em", proba_test * prior_em / prior_s))]
    top, predicted = proba_tgt.max(1), proba_tgt.argmax(1)
    classes = [dict(run, share=share_t[c], em_prior=prior_em[c], predicted_share=np.mean(predicted == c),
                    mean_top=top[predicted == c].mean() if np.any(predicted == c) else 0.0) for c in range(k)]
    return scores, classes


def main(data_root, folders):
    torch.set_num_threads(1)
    scores, classes = [], []
    for folder in folders:
        for path in sorted(glob.glob(os.path.join(folder, "teachers", "*.skrcd"))):
            s, c = _one(path, data_root)
            scores += s
            classes += c
    scores, classes = pd.DataFrame(scores), pd.DataFrame(classes)
    for dataset, df in scores.groupby("dataset", sort=False):
        pairs = df[["scenario", "seed"]].drop_duplicates().shape[0]
        print(f"## {dataset}: {pairs} teachers\n")
        print("Macro-F1 x 100 on the target's test part, mean over the teachers, by the number of classes absent "
              "from the target's train part:\n")
        table = df.pivot_table(index="n_absent", columns="method", values="macro_f1", aggfunc="mean")
        table.loc["all"] = df.groupby("method").macro_f1.mean()
        table.insert(0, "teachers", list(df[df.method == "teacher"].groupby("n_absent").size()) + [pairs])
        print(table[["teachers", "teacher", "present only", "em"]].round(2).to_markdown() + "\n")
        print(summarise_paired(df, baseline="teacher"))
        wide = df.pivot(index=["scenario", "seed"], columns="method", values="macro_f1")
        worst = wide.drop(columns="teacher").sub(wide["teacher"], axis=0).min()
        print("\nWorst pair against the teacher: " + ", ".join(f"{m} {v:+.2f}" for m, v in worst.items()))
        c = classes[(classes.dataset == dataset) & (classes.share <= 0.11)]
        absent = c.share == 0
        print(f"\nSeparating the target's absent classes ({absent.sum()} (run, class) pairs) from its present "
              f"classes of at most 11 % ({(~absent).sum()}), from the teacher's outputs on the target's train "
              "windows only:\n")
        print("| statistic | ROC AUC | mean, absent | mean, present <= 11 % | present <= 11 % caught where 80 % of "
              "the absent are |\n|---|---|---|---|---|")
        for col in ("em_prior", "predicted_share", "mean_top"):
            cut = np.quantile(c[absent][col], 0.8)  # a threshold that would remove four in five absent classes
            caught = c[~absent][col] <= cut
            print(f"| {col} | {roc_auc_score(~absent, c[col]):.3f} | {c[absent][col].mean():.4f} | "
                  f"{c[~absent][col].mean():.4f} | {caught.sum()} of {len(caught)} |")
        print()


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
