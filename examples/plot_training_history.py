"""Plot what RCD-KD did: training curves, target confusion matrix, per-class F1, feature maps.

Fits RCD-KD and a source-only student (same student network, no adaptation) on
the bundled UCI-HAR scenario 2 -> 11 and saves four PNG files in the current
directory:

- ``history.png``: per stage and epoch, the losses, the teacher's source accuracy,
  the fraction of target windows the selector distilled, its mean reward and its
  DQN loss (:func:`skrcd.plotting.plot_history`; the example runs the reinforced
  selection, ``selection="rl"``, so that these show: the default distils every
  window and has no selector);
- ``confusion_matrix.png``: the student on the target test part;
- ``per_class_f1.png``: teacher, RCD-KD student and source-only student per class;
- ``embedding.png``: PCA maps of source and target features, before adaptation
  (the source-only student) and after (the RCD-KD student).

Run ``python examples/plot_training_history.py`` (needs ``pip install -e
".[plot]"`` from the checkout; two to three minutes on 2 CPU cores); ``SKRCD_FAST=1`` trains 2
epochs of smaller networks (what CI does, to check the example runs).
"""

import os

import matplotlib

matplotlib.use("Agg")  # files only, no window

from skrcd import RCDKDClassifier, SourceOnlyClassifier  # noqa: E402
from skrcd.datasets import UCI_HAR_CLASSES, load_scenario  # noqa: E402
from skrcd.plotting import plot_confusion_matrix, plot_embedding, plot_history, plot_per_class_f1  # noqa: E402

FAST = bool(os.environ.get("SKRCD_FAST"))
epochs = 2 if FAST else 40

# labelled source train part, unlabelled target train part, labelled target test part
sc = load_scenario("uci_har", source=2, target=11)

params = dict(teacher_epochs=epochs, student_epochs=epochs, random_state=0)
rl = dict(selection="rl")  # the reinforced selection, for the RCD-KD student only (the source-only one distils nothing)
if FAST:  # smaller teacher and selector too: the plots are only checked to be drawn
    params.update(teacher_channels=(16, 16, 16), selector_hidden=64, mc_passes=2, n_episodes=2)
clf = RCDKDClassifier(**params, **rl, verbose=0 if FAST else 1).fit(sc.X_src, sc.y_src, sc.X_tgt)
source_only = SourceOnlyClassifier(**params).fit(sc.X_src, sc.y_src, sc.X_tgt)

figures = {
    "history.png": plot_history(clf),
    "confusion_matrix.png": plot_confusion_matrix(clf, sc.X_test, sc.y_test, display_labels=UCI_HAR_CLASSES),
    "per_class_f1.png": plot_per_class_f1(clf, sc.X_test, sc.y_test, others={"source-only student": source_only},
                                          display_labels=UCI_HAR_CLASSES),
    # target labels colour the map only: they were never used in training
    "embedding.png": plot_embedding(clf, sc.X_src, sc.X_tgt, y_src=sc.y_src, y_tgt=sc.y_tgt, before=source_only,
                                    display_labels=UCI_HAR_CLASSES),
}
for name, fig in figures.items():
    fig.savefig(name, dpi=100)
    print("wrote", os.path.abspath(name))
