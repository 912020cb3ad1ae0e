"""Plots of a fitted estimator: training history, target confusion matrix, per-class F1, feature embeddings.

matplotlib is an optional dependency (``pip install -e ".[plot]"``), imported
only when a function here is called. Every function returns the matplotlib
:class:`~matplotlib.figure.Figure` it drew on; pass ``ax=`` (or ``axes=``/``fig=``)
to draw into a figure of your own. Save with ``fig.savefig("name.png")``.

- :func:`plot_history`: per stage and epoch, the losses, the source accuracy of
  the teacher, the fraction of target samples the selector picked, the mean reward
  and the DQN loss, read from ``history_``.
- :func:`plot_confusion_matrix`: the student's (or teacher's) confusion matrix on
  labelled target data.
- :func:`plot_per_class_f1`: teacher vs student (vs other estimators) F1 per class.
- :func:`plot_embedding`: a 2-D PCA or t-SNE map of source and target features,
  before adaptation (a non-adaptive model such as
  :class:`~skrcd.SourceOnlyClassifier`) and after (the RCD-KD student).

The plots of benchmark results are in :mod:`skrcd.experiments.plots`.
"""

from __future__ import annotations

import numpy as np

from ._mpl import history_rows, pyplot, root_figure
from .selection.record import recent_share

__all__ = ["plot_history", "plot_confusion_matrix", "plot_per_class_f1", "plot_embedding", "plot_selection_record"]

#: Panels of :func:`plot_history`: title -> how to find the history keys it draws.
_PANELS = (
    ("losses", lambda k: k.startswith("loss")),
    ("source accuracy", lambda k: k == "source_acc"),
    ("selected fraction", lambda k: k == "selected"),
    ("mean reward", lambda k: k == "reward"),
    ("DQN loss", lambda k: k == "dqn_loss"),
)


def plot_history(history, *, stages=None, fig=None):
    """Training curves of each stage: losses, selected fraction, mean reward, DQN loss.

    One row of panels per stage (``"teacher"``, ``"student"``, or a baseline's
    stage), one panel per quantity the stage recorded: every ``loss*`` key of the
    stage together (total loss, classification, domain, KD, domain-confusion ...),
    the teacher's source accuracy, the fraction of target samples the selector
    chose, the mean reward of the selector and its DQN loss. Epochs where a
    quantity was not recorded (for example the DQN loss before the replay memory
    holds ``learning_starts`` transitions) are gaps.

    Parameters
    ----------
    history : RCDKDClassifier, skorch.history.History or list of dict
        A fitted estimator (its ``history_`` is read) or the history itself: rows
        with ``"stage"`` and ``"epoch"`` keys.
    stages : sequence of str, optional
        Stages to draw, in this order; default: every stage, in training order.
    fig : matplotlib.figure.Figure or SubFigure, optional
        An empty figure (or subfigure) to draw the grid of panels into; a new
        figure by default.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    sklearn.exceptions.NotFittedError
        An estimator that is not fitted.
    ValueError
        An empty history, or a stage that is not in it.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")  # no window: draw to files only
    >>> import matplotlib.pyplot as plt
    >>> from skrcd import RCDKDClassifier
    >>> from skrcd.datasets import make_domain_shift
    >>> from skrcd.plotting import plot_history
    >>> X_src, y_src, X_tgt, _ = make_domain_shift(n_source=40, n_target=40, length=32, random_state=0)
    >>> clf = RCDKDClassifier(teacher_epochs=2, student_epochs=2, selection="rl", selector_hidden=16,
    ...                       learning_starts=10, random_state=0).fit(X_src, y_src, X_tgt)
    >>> fig = plot_history(clf)
    >>> [ax.get_title() for ax in fig.axes if ax.get_visible()]  # doctest: +NORMALIZE_WHITESPACE
    ['teacher: losses', 'teacher: source accuracy', 'teacher_2: losses', 'teacher_2: source accuracy',
     'student: losses', 'student: selected fraction', 'student: mean reward', 'student: DQN loss']
    >>> fig.savefig("history.png")  # doctest: +SKIP
    >>> plt.close(fig)
    """
    rows = history_rows(history)
    present = list(dict.fromkeys(r["stage"] for r in rows))
    if stages is None:
        stages = present
    else:
        stages = list(stages)
        missing = [s for s in stages if s not in present]
        if missing:
            raise ValueError(f"stages {missing} are not in the history; it holds {present}")
    layout = []
    for stage in stages:
        stage_rows = [r for r in rows if r["stage"] == stage]
        keys = list(dict.fromkeys(k for r in stage_rows for k in r))
        panels = []
        for title, wanted in _PANELS:
            drawn = [k for k in keys if wanted(k)]
            if drawn:
                panels.append((title, drawn))
        layout.append((stage, stage_rows, panels))
    from matplotlib.ticker import MaxNLocator

    n_cols = max(1, max(len(p) for _, _, p in layout))
    if fig is None:
        fig = pyplot().figure(figsize=(3.2 * n_cols, 2.6 * len(layout)), layout="constrained")
    axes = np.asarray(fig.subplots(len(layout), n_cols, squeeze=False))
    for i, (stage, stage_rows, panels) in enumerate(layout):
        epochs = np.array([r["epoch"] for r in stage_rows])
        for j in range(n_cols):
            ax = axes[i, j]
            if j >= len(panels):
                ax.set_visible(False)
                continue
            title, keys = panels[j]
            for key in keys:
                values = np.array([r.get(key, np.nan) for r in stage_rows], dtype=float)
                ax.plot(epochs, values, marker="." if len(epochs) < 30 else None, label=key)
            ax.set_title(f"{stage}: {title}")
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if title == "selected fraction":
                ax.set_ylim(-0.02, 1.02)
            if len(keys) > 1:
                ax.legend(fontsize="small")
    return root_figure(axes[0, 0])


def _class_names(estimator, display_labels):
    if display_labels is None:
        return [str(c) for c in estimator.classes_]
    if len(display_labels) != len(estimator.classes_):
        raise ValueError(
            f"display_labels has {len(display_labels)} names but the estimator has {len(estimator.classes_)} classes"
        )
    return [str(c) for c in display_labels]


def plot_confusion_matrix(estimator, X, y, *, network="student", normalize="true", display_labels=None, ax=None,
                          cmap="Blues"):
    """Confusion matrix of the student (or teacher) on labelled data, e.g. the target test part.

    Parameters
    ----------
    estimator : RCDKDClassifier
        A fitted estimator (any skrcd estimator with ``predict(X, network=...)``).
    X : panel of shape (n_samples, channels, length)
        Any input ``predict`` accepts.
    y : array-like of shape (n_samples,)
        True labels (evaluation only: never used in training).
    network : {"student", "teacher"}, default="student"
    normalize : {"true", "pred", "all"} or None, default="true"
        As in :func:`sklearn.metrics.confusion_matrix`: ``"true"`` shows each row
        (true class) as fractions, i.e. the recall of each class on the diagonal;
        None shows counts.
    display_labels : sequence of str, optional
        Class names in the order of ``estimator.classes_`` (e.g.
        :data:`skrcd.datasets.UCI_HAR_CLASSES`); the labels themselves by default.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure by default.
    cmap : str, default="Blues"

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from skrcd import RCDKDClassifier
    >>> from skrcd.datasets import make_domain_shift
    >>> from skrcd.plotting import plot_confusion_matrix
    >>> X_src, y_src, X_tgt, y_tgt = make_domain_shift(n_source=40, n_target=40, length=32, random_state=0)
    >>> clf = RCDKDClassifier(teacher_epochs=2, student_epochs=2, random_state=0).fit(X_src, y_src, X_tgt)
    >>> fig = plot_confusion_matrix(clf, X_tgt, y_tgt, display_labels=["a", "b", "c"])
    >>> [t.get_text() for t in fig.axes[0].get_xticklabels()]
    ['a', 'b', 'c']
    >>> plt.close(fig)
    """
    from sklearn.metrics import ConfusionMatrixDisplay, accuracy_score, confusion_matrix

    plt = pyplot()
    names = _class_names(estimator, display_labels)
    y = np.asarray(y)
    y_pred = estimator.predict(X, network=network)
    cm = confusion_matrix(y, y_pred, labels=estimator.classes_, normalize=normalize)
    if ax is None:
        size = 1.0 + 0.55 * len(names)
        _, ax = plt.subplots(figsize=(max(4.0, size + 1.0), max(3.5, size)), layout="constrained")
    disp = ConfusionMatrixDisplay(cm, display_labels=names)
    disp.plot(ax=ax, cmap=cmap, colorbar=False, values_format=".2f" if normalize else "d",
              xticks_rotation=45 if max(len(n) for n in names) > 3 else "horizontal")
    ax.set_title(f"{network}: accuracy {accuracy_score(y, y_pred):.1%}")
    return root_figure(ax)


def plot_per_class_f1(estimator, X, y, *, networks=("teacher", "student"), others=None, display_labels=None,
                      ax=None):
    """F1 score of each class, teacher vs student (and optionally other estimators' students).

    Grouped bars, one group per class; the legend gives each model's macro-F1.

    Parameters
    ----------
    estimator : RCDKDClassifier
        A fitted estimator.
    X : panel of shape (n_samples, channels, length)
        E.g. the target test part.
    y : array-like of shape (n_samples,)
        True labels (evaluation only).
    networks : sequence of {"teacher", "student"}, default=("teacher", "student")
        Networks of ``estimator`` to compare; a network the estimator does not have
        (the teacher of a :class:`~skrcd.SourceOnlyClassifier`) is left out.
    others : dict of {str: estimator}, optional
        Further fitted estimators with the same classes, drawn with their
        ``predict`` under the given names, e.g. ``{"source only": source_only}``.
    display_labels : sequence of str, optional
        Class names in the order of ``estimator.classes_``.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure by default.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from skrcd import RCDKDClassifier, SourceOnlyClassifier
    >>> from skrcd.datasets import make_domain_shift
    >>> from skrcd.plotting import plot_per_class_f1
    >>> X_src, y_src, X_tgt, y_tgt = make_domain_shift(n_source=40, n_target=40, length=32, random_state=0)
    >>> params = dict(teacher_epochs=2, student_epochs=2, random_state=0)
    >>> clf = RCDKDClassifier(**params).fit(X_src, y_src, X_tgt)
    >>> so = SourceOnlyClassifier(**params).fit(X_src, y_src, X_tgt)
    >>> fig = plot_per_class_f1(clf, X_tgt, y_tgt, others={"source only": so})
    >>> [t.get_text().split(" (")[0] for t in fig.axes[0].get_legend().get_texts()]
    ['teacher', 'student', 'source only']
    >>> plt.close(fig)
    """
    from sklearn.metrics import f1_score

    plt = pyplot()
    names = _class_names(estimator, display_labels)
    y = np.asarray(y)
    models = []
    for net in networks:
        if net not in ("teacher", "student"):
            raise ValueError(f"networks may hold 'teacher' and 'student', got {net!r}")
        if getattr(estimator, net + "_", None) is not None:
            models.append((net, estimator.predict(X, network=net)))
    for name, other in (others or {}).items():
        if list(np.asarray(other.classes_)) != list(np.asarray(estimator.classes_)):
            raise ValueError(f"others[{name!r}] has classes {other.classes_!r}, not {estimator.classes_!r}")
        models.append((name, other.predict(X)))
    if not models:
        raise ValueError("nothing to draw: the estimator has none of the networks asked for and no others were given")
    if ax is None:
        _, ax = plt.subplots(figsize=(max(5.0, 0.5 + 0.35 * len(names) * (len(models) + 1)), 3.6),
                             layout="constrained")
    width = 0.8 / len(models)
    pos = np.arange(len(names))
    for i, (name, pred) in enumerate(models):
        per_class = f1_score(y, pred, labels=estimator.classes_, average=None, zero_division=0)
        macro = f1_score(y, pred, labels=estimator.classes_, average="macro", zero_division=0)
        ax.bar(pos + (i - (len(models) - 1) / 2) * width, per_class, width, label=f"{name} (macro-F1 {macro:.3f})")
    ax.set_xticks(pos, names, rotation=45 if max(len(n) for n in names) > 3 else 0)
    ax.set_ylim(0, 1.3)  # room for the legend above the bars
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_ylabel("F1")
    ax.set_title("per-class F1")
    ax.legend(fontsize="small", loc="upper center", ncol=min(3, len(models)), frameon=False)
    return root_figure(ax)


def _project(features, method, random_state):
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=random_state).fit_transform(features)
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = float(min(30.0, max(1.0, (features.shape[0] - 1) / 3)))
        return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=random_state).fit_transform(
            features)
    raise ValueError(f"method must be 'pca' or 'tsne', got {method!r}")


def plot_embedding(estimator, X_src, X_tgt, *, y_src=None, y_tgt=None, before=None, network="student", method="pca",
                   max_samples=500, display_labels=None, random_state=0, axes=None):
    """2-D map (PCA or t-SNE) of the source and target features, before and after adaptation.

    Each panel projects the feature vectors (the output of the network before its
    classification head, :meth:`~skrcd.RCDKDClassifier.predict_features`) of the
    source and the target rows of one model, fitted on both domains together.
    Source rows are circles, target rows crosses; with labels, colour is the class,
    else the domain. Well-adapted features put each target class on top of the same
    source class.

    *Before* and *after* compare two networks of the same architecture: ``before``
    is a model trained without adaptation (we recommend a
    :class:`~skrcd.SourceOnlyClassifier` with the same ``student_channels``: the
    student trained on the source labels only) and ``estimator`` the adapted one
    (the RCD-KD student). The teacher is not used as "before": it is a different,
    wider network and it is itself adapted (DANN); pass ``network="teacher"`` to
    map the teacher's features instead of the student's.

    Parameters
    ----------
    estimator : RCDKDClassifier
        The fitted, adapted model ("after").
    X_src, X_tgt : panel of shape (n, channels, length)
        Source and target rows to map (e.g. the source train part and the target
        test part).
    y_src, y_tgt : array-like, optional
        Their labels, to colour by class (target labels are for evaluation only).
    before : fitted estimator, optional
        The non-adaptive model, drawn in a first panel from its student's
        features; only the "after" panel is drawn when None.
    network : {"student", "teacher"}, default="student"
        Which network of ``estimator`` gives the "after" features.
    method : {"pca", "tsne"}, default="pca"
        :class:`sklearn.decomposition.PCA` or :class:`sklearn.manifold.TSNE`
        (slower; perplexity ``min(30, (n - 1) / 3)``).
    max_samples : int, default=500
        At most this many rows of each domain are mapped (a random subset).
    display_labels : sequence of str, optional
        Class names in the order of ``estimator.classes_``.
    random_state : int, default=0
        Seed of the subset and of the projection.
    axes : sequence of matplotlib.axes.Axes, optional
        One per panel (two with ``before``, else one); a new figure by default.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from skrcd import RCDKDClassifier, SourceOnlyClassifier
    >>> from skrcd.datasets import make_domain_shift
    >>> from skrcd.plotting import plot_embedding
    >>> X_src, y_src, X_tgt, y_tgt = make_domain_shift(n_source=40, n_target=40, length=32, random_state=0)
    >>> params = dict(teacher_epochs=2, student_epochs=2, random_state=0)
    >>> clf = RCDKDClassifier(**params).fit(X_src, y_src, X_tgt)
    >>> so = SourceOnlyClassifier(**params).fit(X_src, y_src, X_tgt)
    >>> fig = plot_embedding(clf, X_src, X_tgt, y_src=y_src, y_tgt=y_tgt, before=so)
    >>> [ax.get_title() for ax in fig.axes]
    ['before adaptation: SourceOnlyClassifier student', 'after adaptation: RCDKDClassifier student']
    >>> plt.close(fig)
    """
    plt = pyplot()
    if not (isinstance(max_samples, (int, np.integer)) and max_samples >= 2):
        raise ValueError(f"max_samples must be an integer >= 2, got {max_samples!r}")
    rng = np.random.default_rng(random_state)

    def subset(n):
        return np.sort(rng.choice(n, max_samples, replace=False)) if n > max_samples else np.arange(n)

    from .data import to_panel

    X_src, X_tgt = to_panel(X_src, "X_src"), to_panel(X_tgt, "X_tgt")  # numpy3D copies of any accepted input
    labels = []
    for name, y, X in (("y_src", y_src, X_src), ("y_tgt", y_tgt, X_tgt)):
        if y is not None:
            y = np.asarray(y)
            if y.ndim != 1 or y.shape[0] != len(X):
                raise ValueError(f"{name} must be 1D with one label per row ({len(X)}), got shape {y.shape}")
        labels.append(y)
    i_src, i_tgt = subset(len(X_src)), subset(len(X_tgt))
    X_src, X_tgt = X_src[i_src], X_tgt[i_tgt]
    labels = [None if y is None else y[i] for y, i in zip(labels, (i_src, i_tgt))]
    names = dict(zip(estimator.classes_.tolist(), _class_names(estimator, display_labels)))

    panels = []
    if before is not None:
        panels.append((f"before adaptation: {type(before).__name__} student", before, "student"))
    panels.append((f"after adaptation: {type(estimator).__name__} {network}", estimator, network))
    if axes is None:
        _, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.2), layout="constrained",
                               squeeze=False)
        axes = axes[0]
    axes = np.atleast_1d(np.asarray(axes, dtype=object)).ravel()
    if len(axes) != len(panels):
        raise ValueError(f"axes must hold {len(panels)} Axes (one per panel), got {len(axes)}")

    cmap = plt.get_cmap("tab10")
    for ax, (title, model, net) in zip(axes, panels):
        f_src = model.predict_features(X_src, network=net)
        f_tgt = model.predict_features(X_tgt, network=net)
        emb = _project(np.concatenate([f_src, f_tgt]).astype(np.float64), method, random_state)
        e_src, e_tgt = emb[: len(f_src)], emb[len(f_src):]
        for dom, e, lab, marker in (("source", e_src, labels[0], "o"), ("target", e_tgt, labels[1], "x")):
            if lab is None:
                ax.scatter(e[:, 0], e[:, 1], s=12, marker=marker, alpha=0.7,
                           color=cmap(0 if dom == "source" else 1), label=dom)
                continue
            for k, c in enumerate(estimator.classes_):
                m = lab == c
                if m.any():
                    ax.scatter(e[m, 0], e[m, 1], s=12, marker=marker, alpha=0.7, color=cmap(k % 10),
                               label=f"{dom}: {names[c]}")
        ax.set_title(title)
        ax.set_xlabel(f"{method.upper() if method == 'pca' else 't-SNE'} 1")
        ax.set_ylabel(f"{method.upper() if method == 'pca' else 't-SNE'} 2")
    # one legend: markers for the domains, colours for the classes
    handles, texts = axes[-1].get_legend_handles_labels()
    if labels[0] is not None or labels[1] is not None:
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], ls="", marker="o", color="grey", label="source"),
                   Line2D([], [], ls="", marker="x", color="grey", label="target")]
        present = set()
        for lab in labels:
            if lab is not None:
                present.update(lab.tolist())
        handles += [Line2D([], [], ls="", marker="s", color=cmap(k % 10), label=names[c])
                    for k, c in enumerate(estimator.classes_) if c in present]
        texts = [h.get_label() for h in handles]
    axes[-1].legend(handles, texts, fontsize="small", loc="best")
    return root_figure(axes[0])


def plot_selection_record(estimator, *, last_epochs=10, y=None, display_labels=None, ax=None):
    """What the selection did to each target window of ``fit``, against the teacher's confidence.

    One point per target window: x is the teacher's confidence (the maximum of its
    mean MC-dropout prediction), y the share of episodes in which the window was
    selected over the last ``last_epochs`` student epochs (``selection_weighting="soft"``:
    its mean distillation weight), coloured by the class the teacher predicts. With ``y``
    (the target's true labels, for a diagnosis only: ``fit`` never sees them),
    windows the teacher gets wrong are drawn as crosses, so one sees whether the
    selector keeps them out.

    Parameters
    ----------
    estimator : RCDKDClassifier
        A fitted estimator with a ``selection_record_``.
    last_epochs : int, default=10
        Student epochs averaged.
    y : array-like of shape (n_target,), optional
        True labels of the target windows passed to ``fit``, in the same order.
    display_labels : sequence of str, optional
        Class names in the order of ``estimator.classes_``.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from skrcd import RCDKDClassifier
    >>> from skrcd.datasets import make_domain_shift
    >>> from skrcd.plotting import plot_selection_record
    >>> X_src, y_src, X_tgt, y_tgt = make_domain_shift(n_source=40, n_target=40, length=32, random_state=0)
    >>> clf = RCDKDClassifier(teacher_epochs=2, student_epochs=2, selection="rl", selector_hidden=16,
    ...                       learning_starts=10, selector_state="informed", random_state=0).fit(X_src, y_src, X_tgt)
    >>> fig = plot_selection_record(clf, y=y_tgt)
    >>> fig.axes[0].get_xlabel()
    "teacher's confidence (MC-dropout mean, max probability)"
    >>> plt.close(fig)
    """
    record = getattr(estimator, "selection_record_", None)
    if record is None:
        raise ValueError("the estimator has no selection_record_: fit it first (a student stage records it)")
    if not (isinstance(last_epochs, (int, np.integer)) and last_epochs >= 1):
        raise ValueError(f"last_epochs must be an integer >= 1, got {last_epochs!r}")
    plt = pyplot()
    names = _class_names(estimator, display_labels)
    # the selection's own weights where they are soft; otherwise the 0/1 choices (the distillation weights also
    # carry selection_balance's per-class rescaling, which is not the selector's choice)
    soft = getattr(estimator, "selection_weighting", "hard") == "soft"
    share = recent_share(record["weight"] if soft else record["selected"], last_epochs)  # NaN: not drawn
    conf, cls = record["teacher_confidence"], record["teacher_class"]
    wrong = np.zeros(len(conf), bool)
    if y is not None:
        y = np.asarray(y)
        if y.shape != conf.shape:
            raise ValueError(f"y has {len(y)} labels but the fit had {len(conf)} target windows")
        wrong = estimator.classes_[cls] != y
    if ax is None:
        _, ax = plt.subplots(figsize=(6.0, 4.0), layout="constrained")
    colors = plt.get_cmap("tab10")
    for k, name in enumerate(names):
        for is_wrong, marker in ((False, "o"), (True, "x")):
            m = (cls == k) & (wrong == is_wrong)
            if m.any():
                ax.scatter(conf[m], share[m], s=18, marker=marker, color=colors(k % 10), alpha=0.7,
                           label=f"{name}{' (teacher wrong)' if is_wrong else ''}")
    ax.set_xlabel("teacher's confidence (MC-dropout mean, max probability)")
    ax.set_ylabel(("mean distillation weight" if soft else "share of episodes selected")
                  + f", last {min(last_epochs, len(record['selected']))} epochs")
    ax.set_ylim(-0.05, 1.05)
    ax.set_title("selection per target window, by the teacher's predicted class")
    ax.legend(fontsize="x-small", loc="lower left", ncol=2, frameon=False)
    return root_figure(ax)
