import sys
import warnings

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402

from skrcd import RCDKDClassifier, SourceOnlyClassifier  # noqa: E402
from skrcd.datasets import make_domain_shift  # noqa: E402
from skrcd.plotting import (  # noqa: E402
    plot_confusion_matrix,
    plot_embedding,
    plot_history,
    plot_per_class_f1,
    plot_selection_record,
)

from conftest import TINY  # noqa: E402

PARAMS = dict(TINY, teacher_epochs=2, student_epochs=2, selector_hidden=32, n_episodes=2)


@pytest.fixture(scope="module")
def fitted():
    X_src, y_src, X_tgt, y_tgt = make_domain_shift(n_source=48, n_target=48, length=32, random_state=0)
    clf = RCDKDClassifier(**PARAMS).fit(X_src, y_src, X_tgt)
    so = SourceOnlyClassifier(**PARAMS).fit(X_src, y_src, X_tgt)
    return clf, so, (X_src, y_src, X_tgt, y_tgt)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _titles(fig):
    return [ax.get_title() for ax in fig.axes if ax.get_visible()]


def test_history_draws_each_stage_and_quantity(fitted, tmp_path):
    clf = fitted[0]
    fig = plot_history(clf)
    assert _titles(fig) == ["teacher: losses", "teacher: source accuracy", "student: losses",
                            "student: selected fraction", "student: mean reward", "student: DQN loss"]
    student_losses = fig.axes[4]  # second row starts after the 4 columns of the first
    assert student_losses.get_title() == "student: losses"
    assert {line.get_label() for line in student_losses.get_lines()} == {"loss", "loss_kd", "loss_dc"}
    selected = next(ax for ax in fig.axes if ax.get_title() == "student: selected fraction")
    y = selected.get_lines()[0].get_ydata()
    np.testing.assert_allclose(y, [row["selected"] for row in clf.history_ if row["stage"] == "student"])
    fig.savefig(tmp_path / "h.png")
    assert (tmp_path / "h.png").stat().st_size > 0


def test_history_accepts_a_history_or_rows_and_filters_stages(fitted):
    clf = fitted[0]
    assert _titles(plot_history(clf.history_, stages=["student"]))[0] == "student: losses"
    rows = [dict(r) for r in clf.history_]
    assert len(_titles(plot_history(rows))) == 6
    so_fig = plot_history(fitted[1])  # a baseline's own stage name
    assert _titles(so_fig) == ["source_only: losses"]


def test_history_gaps_for_missing_values():
    rows = [{"stage": "student", "epoch": 1, "loss": 1.0}, {"stage": "student", "epoch": 2, "loss": 0.5,
                                                             "dqn_loss": 0.1}]
    fig = plot_history(rows)
    dqn = next(ax for ax in fig.axes if ax.get_title() == "student: DQN loss")
    assert np.isnan(dqn.get_lines()[0].get_ydata()[0])


def test_history_into_a_given_figure(fitted):
    fig = plt.figure()
    sub = fig.subfigures(1, 2)[1]
    assert plot_history(fitted[0], stages=["teacher"], fig=sub) is fig


def test_history_errors(fitted):
    with pytest.raises(NotFittedError):
        plot_history(RCDKDClassifier())
    with pytest.raises(ValueError, match="empty"):
        plot_history([])
    with pytest.raises(ValueError, match="not in the history"):
        plot_history(fitted[0], stages=["nope"])
    with pytest.raises(ValueError, match="'stage' and 'epoch'"):
        plot_history([{"loss": 1.0}])


def test_confusion_matrix(fitted):
    clf, _, (_, _, X_tgt, y_tgt) = fitted
    fig = plot_confusion_matrix(clf, X_tgt, y_tgt)
    ax = fig.axes[0]
    assert ax.get_title().startswith("student: accuracy")
    # normalised by true class: each row sums to 1
    cells = np.array([float(t.get_text()) for t in ax.texts]).reshape(3, 3)
    np.testing.assert_allclose(cells.sum(axis=1), 1.0, atol=0.02)

    fig2, ax2 = plt.subplots()
    assert plot_confusion_matrix(clf, X_tgt, y_tgt, network="teacher", normalize=None, ax=ax2) is fig2
    counts = np.array([int(t.get_text()) for t in ax2.texts])
    assert counts.sum() == len(y_tgt)
    with pytest.raises(ValueError, match="display_labels"):
        plot_confusion_matrix(clf, X_tgt, y_tgt, display_labels=["a"])


def test_per_class_f1(fitted):
    clf, so, (_, _, X_tgt, y_tgt) = fitted
    fig = plot_per_class_f1(clf, X_tgt, y_tgt, others={"source only": so}, display_labels=["a", "b", "c"])
    ax = fig.axes[0]
    assert len(ax.patches) == 3 * 3  # 3 models x 3 classes
    assert all(0 <= p.get_height() <= 1 for p in ax.patches)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    # a source-only estimator has no teacher: it is left out
    fig = plot_per_class_f1(so, X_tgt, y_tgt)
    assert [t.get_text().split(" (")[0] for t in fig.axes[0].get_legend().get_texts()] == ["student"]
    with pytest.raises(ValueError, match="networks"):
        plot_per_class_f1(clf, X_tgt, y_tgt, networks=("adapter",))


def test_per_class_f1_refuses_other_classes(fitted):
    clf, _, (X_src, y_src, X_tgt, y_tgt) = fitted
    other = SourceOnlyClassifier(**PARAMS).fit(X_src, np.where(y_src == 2, 1, y_src), X_tgt)
    with pytest.raises(ValueError, match="classes"):
        plot_per_class_f1(clf, X_tgt, y_tgt, others={"two classes": other})


def test_embedding_before_and_after(fitted):
    clf, so, (X_src, y_src, X_tgt, y_tgt) = fitted
    fig = plot_embedding(clf, X_src, X_tgt, y_src=y_src, y_tgt=y_tgt, before=so, max_samples=30)
    assert _titles(fig) == ["before adaptation: SourceOnlyClassifier student",
                            "after adaptation: RCDKDClassifier student"]
    for ax in fig.axes:
        n = sum(len(c.get_offsets()) for c in ax.collections)
        assert n == 30 + 30  # max_samples per domain
    legend = [t.get_text() for t in fig.axes[-1].get_legend().get_texts()]
    assert legend[:2] == ["source", "target"] and set(legend[2:]) == {"0", "1", "2"}


def test_embedding_without_labels_tsne_teacher_and_pandas_input(fitted):
    pd = pytest.importorskip("pandas")
    from sktime.datatypes import convert_to

    clf, _, (X_src, _, X_tgt, _) = fitted
    X_tgt_frame = convert_to(X_tgt, to_type="pd-multiindex")
    assert isinstance(X_tgt_frame, pd.DataFrame)
    fig, ax = plt.subplots()
    out = plot_embedding(clf, X_src, X_tgt_frame, network="teacher", method="tsne", axes=[ax])
    assert out is fig
    assert ax.get_title() == "after adaptation: RCDKDClassifier teacher"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["source", "target"]


def test_embedding_errors(fitted):
    clf, so, (X_src, y_src, X_tgt, _) = fitted
    with pytest.raises(ValueError, match="method"):
        plot_embedding(clf, X_src, X_tgt, method="umap")
    with pytest.raises(ValueError, match="axes"):
        plot_embedding(clf, X_src, X_tgt, before=so, axes=[plt.subplots()[1]])
    with pytest.raises(ValueError, match="y_src"):
        plot_embedding(clf, X_src, X_tgt, y_src=y_src[:-1])
    with pytest.raises(ValueError, match="max_samples"):
        plot_embedding(clf, X_src, X_tgt, max_samples=1)


def test_selection_record_one_point_per_target_window(fitted):
    clf, so, (_, _, X_tgt, y_tgt) = fitted
    rec = clf.selection_record_
    fig = plot_selection_record(clf, y=y_tgt, last_epochs=1)
    ax = fig.axes[0]
    offsets = np.concatenate([c.get_offsets() for c in ax.collections])
    assert len(offsets) == len(X_tgt)
    wrong = clf.classes_[rec["teacher_class"]] != y_tgt
    crosses = sum(len(c.get_offsets()) for c, t in zip(ax.collections, ax.get_legend().get_texts())
                  if "teacher wrong" in t.get_text())
    assert crosses == wrong.sum()
    np.testing.assert_allclose(np.sort(offsets[:, 0]), np.sort(rec["teacher_confidence"]), rtol=1e-6)
    np.testing.assert_allclose(np.sort(offsets[:, 1]), np.sort(rec["selected"][-1]), rtol=1e-6)
    with pytest.raises(ValueError, match="y has 3 labels"):
        plot_selection_record(clf, y=y_tgt[:3])
    with pytest.raises(ValueError, match="last_epochs"):
        plot_selection_record(clf, last_epochs=0)


def test_selection_record_window_not_drawn_in_the_last_epochs_gives_no_warning(fitted, monkeypatch):
    clf = fitted[0]
    rec = {k: np.array(v, copy=True) if isinstance(v, np.ndarray) else v for k, v in clf.selection_record_.items()}
    rec["selected"] = rec["selected"].astype(float)
    rec["selected"][-2:, 0] = np.nan  # no episode of the last two epochs drew window 0
    monkeypatch.setattr(clf, "selection_record_", rec)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plot_selection_record(clf, last_epochs=2)
    offsets = np.concatenate([c.get_offsets() for c in fig.axes[0].collections])
    undrawn = np.isnan(rec["selected"][-2:]).all(axis=0)
    assert undrawn[0] and np.isnan(offsets[:, 1]).sum() == undrawn.sum()  # no share for them, and only them


def test_clear_error_without_matplotlib(fitted, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)  # import fails as if not installed
    with pytest.raises(ImportError, match=r"pip install matplotlib \(from a checkout: pip install -e '\.\[plot\]'\)"):
        plot_history(fitted[0])


def test_importing_skrcd_does_not_import_matplotlib():
    import subprocess

    code = "import sys, skrcd, skrcd.plotting; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr[-2000:]
