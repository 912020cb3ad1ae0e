"""Seconds per epoch of one teacher member for each teacher objective and network, in one process, one thread.

Fits one member (``n_teachers=1``) of each configuration on UCI-HAR 2 -> 11 for a few epochs, one after the
other, and prints the median duration of its epochs after the first (``history_``'s ``dur``). A teacher stage
costs the sum over its members of epochs x seconds per epoch, so the figures price any ensemble of these members.
Run it on an idle machine; the figures move with the machine's load. Usage::

    python docs/results/experiments/teacher_objectives/epoch_times.py --data-home ../shared/data/uci_har
"""
import argparse

import torch

from skrcd import RCDKDClassifier
from skrcd.datasets import load_scenario
from skrcd.experiments.speed import _median_dur

CONFIGS = {
    "vada_cnn (the default's member)": dict(),
    "vada_cnn, VAT every 2nd step": dict(teacher_vat_every=2),
    "vada_cnn, VAT every 3rd step": dict(teacher_vat_every=3),
    "vada_tfcnn": dict(teacher="tfcnn"),
    "mixup_cnn": dict(teacher_method="mixup"),
    "dann_cnn (the paper's)": dict(teacher_method="dann"),
}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-home", default=None)
    p.add_argument("--epochs", type=int, default=5)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    sc = load_scenario("uci_har", 2, 11, data_home=a.data_home)
    print(f"Median seconds per teacher epoch (one member), UCI-HAR 2 -> 11, one thread, epochs 2-{a.epochs}\n")
    print("| member | s / epoch |\n|---|---|")
    for name, params in CONFIGS.items():
        clf = RCDKDClassifier(teacher_epochs=a.epochs, student_epochs=0, n_teachers=1, random_state=0, n_threads=1,
                              verbose=0, **params)
        clf.fit(sc.X_src, sc.y_src, sc.X_tgt)
        print(f"| {name} | {_median_dur(clf, 'teacher', 1):.3f} |", flush=True)


if __name__ == "__main__":
    main()
