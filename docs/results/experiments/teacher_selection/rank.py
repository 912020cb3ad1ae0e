"""How well each label-free score ranks teacher candidates against their target macro-F1.

Reads ``rows.csv`` and ``probs/`` written by ``study.py``. Per (scenario, seed),
the candidates are ranked by each score (oriented so that higher should be
better); the table gives the mean Spearman correlation with the target macro-F1
(which no score reads), the mean regret (best candidate's target F1 minus the
chosen one's) and the mean target F1 of the chosen candidate, beside the fixed
rules "always method M" and the average of the candidates' probabilities
(``ensemble``). ``agreement`` is a candidate's mean agreement with the other
candidates' target predictions. Usage::

    python docs/results/experiments/teacher_selection/rank.py docs/results/experiments/teacher_selection/uci_har
"""
import os
import sys

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import f1_score

from skrcd.experiments.results import summarise_paired

SCORES = {"source_f1": 1, "source_loss": -1, "tgt_entropy": -1, "tgt_im": -1, "tgt_snd": 1, "agreement": 1}


def main(out, methods=None):
    df = pd.read_csv(os.path.join(out, "rows.csv"))
    if methods:
        df = df[df.method.isin(methods)]
    groups, ensemble = [], []
    for (ds, sc, seed), g in df.groupby(["dataset", "scenario", "seed"]):
        probs = {m: np.load(os.path.join(out, "probs", f"{ds}_{sc}_seed{seed}_{m}.npz")) for m in g.method}
        g = g.copy()
        g["agreement"] = [np.mean([(probs[m]["tgt"].argmax(1) == probs[o]["tgt"].argmax(1)).mean()
                                   for o in g.method if o != m]) if len(g) > 1 else np.nan for m in g.method]
        groups.append(g)
        y = probs[g.method.iloc[0]]["y_test"]
        avg = np.mean([probs[m]["test"] for m in g.method], axis=0)
        ensemble.append(dict(dataset=ds, scenario=sc, seed=seed, method="ensemble",
                             target_f1=100 * f1_score(y, avg.argmax(1), average="macro")))
    df = pd.concat(groups)
    table = pd.concat([df, pd.DataFrame(ensemble)]).pivot_table(index="method", columns="scenario", values="target_f1")
    table["mean"] = table.mean(axis=1)
    print(f"Target macro-F1 x 100 by candidate ({df.groupby(['scenario', 'seed']).ngroups} (scenario, seed) groups)\n")
    print(table.round(2).to_markdown())
    best = df.groupby(["scenario", "seed"]).target_f1.max()
    rows = []
    for score, sign in SCORES.items():
        rho, picked = [], []
        for key, g in df.groupby(["scenario", "seed"]):
            v = sign * g[score].to_numpy(float)
            if len(g) > 1 and np.isfinite(v).all() and np.ptp(v) > 0 and np.ptp(g.target_f1) > 0:
                rho.append(spearmanr(v, g.target_f1).statistic)
            picked.append(g.target_f1.iloc[int(np.nanargmax(v))] if np.isfinite(v).any() else np.nan)
        picked = pd.Series(picked, index=best.index)
        rows.append(dict(rule=f"max {score}", spearman=np.nanmean(rho) if rho else np.nan,
                         regret=(best - picked).mean(), chosen_f1=picked.mean()))
    for m in sorted(df.method.unique()):
        picked = df[df.method == m].set_index(["scenario", "seed"]).target_f1.reindex(best.index)
        rows.append(dict(rule=f"always {m}", spearman=np.nan, regret=(best - picked).mean(), chosen_f1=picked.mean()))
    ens = pd.DataFrame(ensemble).set_index(["scenario", "seed"]).target_f1.reindex(best.index)
    rows.append(dict(rule="ensemble of all", spearman=np.nan, regret=(best - ens).mean(), chosen_f1=ens.mean()))
    rows.append(dict(rule="oracle (reads target labels)", spearman=np.nan, regret=0.0, chosen_f1=best.mean()))
    print("\nSelection rules: mean Spearman of the score with target F1, mean regret, mean target F1 chosen\n")
    print(pd.DataFrame(rows).round(3).to_markdown(index=False))
    if "dann" in set(df.method):
        print("\nEach candidate against DANN, paired by (scenario, seed): target macro-F1 difference\n")
        print(summarise_paired(df.rename(columns={"target_f1": "macro_f1"}), baseline="dann"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2].split(",") if len(sys.argv) > 2 else None)
