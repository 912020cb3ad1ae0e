"""Pool the UCI-HAR paper-protocol runs of seeds 0-2 (``../uci_har_paper``) and 3-4 (``uci_har_seeds3-4``).

Run from the repository root: ``python docs/results/experiments/pool_seeds.py > docs/results/experiments/pool_seeds.txt``.
Prints macro-F1 x 100 per method and seed (mean over the five paper scenarios), then mean ± std over the five seeds.
"""
import pandas as pd

a = pd.read_csv("docs/results/uci_har_paper/runs.csv")
b = pd.read_csv("docs/results/experiments/uci_har_seeds3-4/runs.csv")
runs = pd.concat([a, b])
runs = runs[runs.method.isin(sorted(set(b.method)))]
per_seed = runs.groupby(["method", "seed"]).macro_f1.mean().unstack()
print("Mean macro-F1 over the five scenarios, per seed:")
print(per_seed.round(2).to_string())
print("\nOver seeds 0-4 (mean ± std, ddof=1):")
for method, row in per_seed.iterrows():
    print(f"{method:<10} {row.mean():.2f} ± {row.std(ddof=1):.2f}")
