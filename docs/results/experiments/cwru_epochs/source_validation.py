"""Choose CWRU epochs without target labels: the teacher's macro-F1 on the *source* test part per epoch.

Run: python docs/results/experiments/cwru_epochs/source_validation.py DATA_HOME TEACHER_LR EPOCHS SOURCES [DOMAIN_WEIGHT] > OUT.txt
(e.g. ``../shared/data/cwru 1e-3 40 0,1,2,3 1.0``)

For each source load of the CWRU short list, fit the DANN teacher (kernel 32, stride 6: the paper's
bearing-fault first convolution) for EPOCHS epochs at TEACHER_LR and print the source-test macro-F1 every 5 epochs; the
target's labels are never read.
"""
import sys
import time

import numpy as np
import torch
from sklearn.metrics import f1_score
from skorch.callbacks import Callback

from skrcd import RCDKDClassifier
from skrcd.datasets import load_scenario


class SourceValidation(Callback):
    def __init__(self, X, y, every=5):
        self.X, self.y, self.every = X, y, every

    def on_epoch_end(self, net, **kwargs):
        row = net.history_[-1]
        if row["stage"] != "teacher" or row["epoch"] % self.every:
            return
        t = net._to_tensor(self.X.copy(), net.device_, net._source_stats)
        was = net.teacher_.training
        net.teacher_.eval()
        with torch.inference_mode():
            pred = net.teacher_(t)[0].argmax(1).cpu().numpy()
        net.teacher_.train(was)
        f1 = 100 * f1_score(self.y, net.classes_[pred], average="macro")
        print(f"  epoch {row['epoch']:3d}  source-test macro-F1 {f1:6.2f}  epoch time {row['dur']:.2f} s", flush=True)


home, lr, epochs = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
weight = float(sys.argv[5]) if len(sys.argv) > 5 else 1.0
targets = {0: 1, 1: 2, 2: 3, 3: 0}  # the target only provides unlabelled windows for DANN
for source in [int(s) for s in sys.argv[4].split(",")]:
    target = targets[source]
    sc = load_scenario("cwru", source, target, data_home=home)
    print(f"teacher_lr {lr}, domain weight {weight}, source load {source} (target {target}): {len(sc.y_src)} source train, {len(sc.y_src_test)} source test windows",
          flush=True)
    clf = RCDKDClassifier(kernel_size=32, stride=6, teacher_epochs=epochs, teacher_lr=lr, teacher_domain_weight=weight, student_epochs=0, random_state=0, n_threads=1,
                          callbacks=[SourceValidation(sc.X_src_test, sc.y_src_test)])
    t0 = time.perf_counter()
    clf.fit(sc.X_src, sc.y_src, sc.X_tgt)
    print(f"  teacher fit {time.perf_counter() - t0:.1f} s", flush=True)
