"""Deployment benchmark: what the distilled student costs on a device, against its teacher.

``skrcd benchmark deploy`` fits RCD-KD on UCI-HAR scenarios and seeds
(by default the five paper scenarios, seeds 0, 1, 2, at the estimator's default
settings), exports each fitted model as ONNX files (by default the float32
teacher, the float32 student and the int8 student, see
:meth:`skrcd.RCDKDClassifier.export_student`) and measures every file:

- ``params``: trainable parameters of the torch network (``n_parameters_``);
- ``bytes``: the file's size;
- ``macs``: multiply-accumulates per window, counted from the ONNX graph: each
  ``Conv`` contributes (output elements per window) x (input channels per group)
  x (kernel size), each ``Gemm`` (outputs) x (inputs); pooling, activations and
  the softmax are not counted;
- ``lat_median_us`` / ``lat_p99_us``: ONNX Runtime latency of one
  ``session.run`` on one window, over every timed call;
- ``throughput``: windows per second at ``--batch`` windows per call (256),
  from the median call time;
- ``memory_mib``: peak resident memory added by the runtime session (its
  creation, one call at batch 1 and one at ``--batch``), measured in a fresh
  interpreter that imports only numpy and onnxruntime;
- ``macro_f1`` (x 100): target test windows scored by running the exported file,
  not the torch module; ``agree``: fraction of those windows on which the file
  predicts the class that ``predict`` gives (``network="teacher"`` for teacher
  files).

Every session uses one intra-op and one inter-op thread and the runtime's default
graph optimisations. Timing runs in a child process with only numpy and
onnxruntime, interleaving the files of one fitted model (``--rounds`` rounds, in
each round every file gets ``--latency-runs`` batch-1 calls and
``--throughput-runs`` batch calls), so the ratios between files of one run share
the machine's load; ``os.getloadavg()`` is recorded before and after.

Fitting (the slow part, parallel over ``--n-jobs`` processes) is separate from
timing: fitted estimators are saved in ``OUT/models/`` with
:meth:`~skrcd.RCDKDClassifier.save`, and ``--reuse`` loads them instead of fitting
again, so the timing can be re-run alone on an idle machine. ``--reuse`` never
fits: it refuses, before anything is written, when a model of the requested
scenarios, seeds and ``--epochs`` is missing or was fitted with other settings
(its file records them). Outputs in ``--out``:
``runs.csv`` (one row per file), ``results.md`` (the command, the machine and its
load, a table per scenario and the mean, the deployment targets) and
``deploy.png`` (when matplotlib is installed).
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

__all__ = ["VARIANTS", "DEFAULT_VARIANTS", "count_macs", "score_file", "build_parser", "run", "main"]

#: Exported files the benchmark can measure: name -> arguments of ``export_student``.
VARIANTS = {
    "teacher_f32": dict(network="teacher", quantize=None, optimize=True),
    "student_f32": dict(network="student", quantize=None, optimize=True),
    "student_int8": dict(network="student", quantize="int8", optimize=True),
    "teacher_int8": dict(network="teacher", quantize="int8", optimize=True),
    "teacher_f32_plain": dict(network="teacher", quantize=None, optimize=False),
    "student_f32_plain": dict(network="student", quantize=None, optimize=False),
}
DEFAULT_VARIANTS = ("teacher_f32", "student_f32", "student_int8")
PAPER_SCENARIOS = ((2, 11), (7, 13), (12, 16), (9, 18), (6, 23))
FIELDS = ["dataset", "scenario", "seed", "variant", "network", "quantize", "optimize", "params", "bytes", "macs",
          "lat_median_us", "lat_p99_us", "batch", "throughput", "memory_mib", "macro_f1", "agree", "n_disagree",
          "n_test", "load_before", "load_after", "epochs", "fit_time_s"]


# ---------------------------------------------------------------- runtime probes (numpy + onnxruntime only)
# These functions run in a fresh interpreter that loads this file without the skrcd package (see
# _run_probe), so that the measured process holds what a device would: numpy and onnxruntime.
def _session(path):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _status_kib():
    with open("/proc/self/status") as f:
        return {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in f) if k in ("VmRSS", "VmHWM")}


def _probe_memory(spec):
    """Peak RSS added by creating a session on ``spec["path"]`` and running it (Linux: /proc)."""
    x = np.load(spec["windows"])
    one, batch = np.ascontiguousarray(x[:1]), np.ascontiguousarray(x[: spec["batch"]])
    import onnxruntime  # noqa: F401  (imported before the baseline)

    if not os.path.exists("/proc/self/clear_refs"):
        return {"memory_mib": float("nan")}
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak (VmHWM) to the current RSS
    before = _status_kib()["VmRSS"]
    session = _session(spec["path"])
    session.run(None, {"x": one})
    session.run(None, {"x": batch})
    return {"memory_mib": (_status_kib()["VmHWM"] - before) / 1024}


def _probe_timing(spec):
    """Interleaved batch-1 latency and batch throughput of the files in ``spec["paths"]``."""
    x = np.load(spec["windows"])
    one, batch = np.ascontiguousarray(x[:1]), np.ascontiguousarray(x[: spec["batch"]])
    sessions = {name: _session(path) for name, path in spec["paths"].items()}
    lat = {name: [] for name in sessions}
    thr = {name: [] for name in sessions}
    timer = time.perf_counter_ns
    for _ in range(spec["rounds"]):
        for name, s in sessions.items():
            feed = {"x": one}
            for _ in range(max(10, spec["latency_runs"] // 10)):  # warm-up
                s.run(None, feed)
            calls = lat[name]
            for _ in range(spec["latency_runs"]):
                t0 = timer()
                s.run(None, feed)
                calls.append(timer() - t0)
            feed = {"x": batch}
            s.run(None, feed)
            for _ in range(spec["throughput_runs"]):
                t0 = timer()
                s.run(None, feed)
                thr[name].append(timer() - t0)
    out = {}
    for name in sessions:
        ns, nb = np.asarray(lat[name]), np.asarray(thr[name])
        out[name] = {"lat_median_us": float(np.median(ns)) / 1e3, "lat_p99_us": float(np.percentile(ns, 99)) / 1e3,
                     "throughput": spec["batch"] / (float(np.median(nb)) / 1e9)}
    return out


def _probe(spec):
    return {"memory": _probe_memory, "timing": _probe_timing}[spec["kind"]](spec)


_CHILD = ("import importlib.util, json, sys; spec = importlib.util.spec_from_file_location('_skrcd_deploy_probe', "
          "sys.argv[1]); m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); "
          "print(json.dumps(m._probe(json.loads(sys.argv[2]))))")


def _run_probe(spec):
    """Run :func:`_probe` in a fresh interpreter that imports numpy and onnxruntime, not skrcd or torch."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", _CHILD, os.path.abspath(__file__), json.dumps(spec)],
                          capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"the onnxruntime probe ({spec['kind']}) failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- files: MACs, scores
def count_macs(path):
    """Multiply-accumulates per input window of an ONNX file, counted from its graph.

    Each ``Conv`` (float, or fed by ``DequantizeLinear`` in a QDQ file) counts
    (output elements per window) x (weight elements per output channel); each
    ``Gemm``/``MatMul`` (outputs per window) x (inner dimension). Pooling,
    activations, the standardisation and the softmax are not counted.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    int

    Raises
    ------
    ValueError
        A counted node whose shapes shape inference cannot resolve.

    Examples
    --------
    >>> import os, tempfile, onnx
    >>> from onnx import TensorProto, helper
    >>> w = helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 1, 5], [0.0] * 60)
    >>> node = helper.make_node("Conv", ["x", "w"], ["y"], pads=[0, 2, 0, 2])
    >>> graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 1, 10])],
    ...                           [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    >>> path = os.path.join(tempfile.mkdtemp(), "conv.onnx")
    >>> onnx.save(helper.make_model(graph), path)
    >>> count_macs(path)  # 4 channels x 10 steps x (3 x 5) weights
    600
    """
    import onnx

    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    shapes = {init.name: list(init.dims) for init in model.graph.initializer}
    for v in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output):
        dims = v.type.tensor_type.shape.dim
        shapes[v.name] = [d.dim_value if d.HasField("dim_value") else None for d in dims]

    def known(name, skip_batch):
        dims = shapes.get(name)
        dims = None if dims is None else dims[1:] if skip_batch else dims
        if dims is None or any(d is None for d in dims):
            raise ValueError(f"cannot count MACs: the shape of {name!r} is not known")
        return dims

    total = 0
    for node in model.graph.node:
        if node.op_type == "Conv":
            total += math.prod(known(node.output[0], True)) * math.prod(known(node.input[1], False)[1:])
        elif node.op_type in ("Gemm", "MatMul"):
            inner = shapes.get(node.input[1], [None])  # B: (K, N), or (N, K) with transB
            trans_b = any(at.name == "transB" and at.i for at in node.attribute)
            k = inner[-1] if trans_b else inner[0] if len(inner) == 2 else None
            if k is None:
                raise ValueError(f"cannot count MACs: the shape of {node.input[1]!r} is not known")
            total += math.prod(known(node.output[0], True)) * k
    return int(total)


def score_file(path, X, y, reference):
    """Macro-F1 of an exported file run in ONNX Runtime, and its agreement with ``reference``.

    Parameters
    ----------
    path : str or path-like
        A file written by :meth:`skrcd.RCDKDClassifier.export_student` (its
        ``classes`` metadata maps columns to labels).
    X : numpy.ndarray of shape (n, channels, length)
        Raw windows.
    y : array-like of shape (n,)
        True labels.
    reference : array-like of shape (n,)
        Labels to compare with, e.g. ``clf.predict(X)``.

    Returns
    -------
    dict
        ``macro_f1`` (x 100), ``agree`` (fraction), ``n_disagree``, ``n_test``.
    """
    from sklearn.metrics import f1_score

    session = _session(path)
    classes = np.asarray(json.loads(session.get_modelmeta().custom_metadata_map["classes"]))
    (proba,) = session.run(["proba"], {"x": np.ascontiguousarray(X, dtype=np.float32)})
    pred = classes[proba.argmax(axis=1)]
    same = pred == np.asarray(reference)
    return {"macro_f1": 100 * f1_score(y, pred, average="macro"), "agree": float(same.mean()),
            "n_disagree": int((~same).sum()), "n_test": int(len(same))}


# ---------------------------------------------------------------- fitting
def _stem(scenario, seed, epochs):
    return f"uci_har_{scenario[0]}-{scenario[1]}_seed{seed}_" + ("default" if epochs is None else f"e{epochs}")


def _fit_one(scenario, seed, epochs, data_home, path):
    import torch

    from skrcd import RCDKDClassifier
    from skrcd.datasets import load_scenario

    torch.set_num_threads(1)
    sc = load_scenario("uci_har", *scenario, data_home=data_home)
    kw = {} if epochs is None else dict(teacher_epochs=epochs, student_epochs=epochs)
    clf = RCDKDClassifier(random_state=seed, n_threads=1, device="cpu", verbose=0, **kw).fit(sc.X_src, sc.y_src, sc.X_tgt)
    clf.save(path)
    return path, float(clf.fit_time_["total"])


def _fit_all(jobs, n_jobs):
    """Fit ``jobs`` (scenario, seed, epochs, data_home, path) in up to ``n_jobs`` processes."""
    from joblib import Parallel, delayed

    results = []
    for path, seconds in Parallel(n_jobs=min(n_jobs, len(jobs)), return_as="generator")(
            delayed(_fit_one)(*job) for job in jobs):
        print(f"fitted {os.path.basename(path)} in {seconds:.0f} s", flush=True)
        results.append((path, seconds))
    return dict(results)


# ---------------------------------------------------------------- one fitted model: export, score, time
def _measure(clf, sc, scenario, seed, variants, folder, a, fit_time):
    os.makedirs(folder, exist_ok=True)
    paths = {}
    for v in variants:
        kw = dict(VARIANTS[v])
        if kw["quantize"]:
            kw["calibration_data"] = sc.X_tgt  # the unlabelled target windows of fit
        paths[v] = str(clf.export_student(os.path.join(folder, f"{v}.onnx"), **kw))
    predicted = {net: clf.predict(sc.X_test, network=net) for net in {VARIANTS[v]["network"] for v in variants}}
    rows = {}
    for v in variants:
        net = VARIANTS[v]["network"]
        rows[v] = dict(dataset="uci_har", scenario=f"{scenario[0]}-{scenario[1]}", seed=seed, variant=v,
                       network=net, quantize=VARIANTS[v]["quantize"] or "none", optimize=VARIANTS[v]["optimize"],
                       params=int(clf.n_parameters_[net]), bytes=os.path.getsize(paths[v]),
                       macs=count_macs(paths[v]), batch=a.batch, epochs=a.epochs or "default",
                       fit_time_s=fit_time, **score_file(paths[v], sc.X_test, sc.y_test, predicted[net]))
    with tempfile.TemporaryDirectory(prefix="skrcd-deploy-") as tmp:
        windows = os.path.join(tmp, "windows.npy")
        test = np.ascontiguousarray(sc.X_test, dtype=np.float32)
        np.save(windows, np.resize(test, (max(a.batch, 1),) + test.shape[1:]))  # real windows, repeated to --batch
        for v in variants:
            rows[v].update(_run_probe(dict(kind="memory", path=paths[v], windows=windows, batch=a.batch)))
        load_before = os.getloadavg()[0]
        timing = _run_probe(dict(kind="timing", paths=paths, windows=windows, batch=a.batch, rounds=a.rounds,
                                 latency_runs=a.latency_runs, throughput_runs=a.throughput_runs))
        load_after = os.getloadavg()[0]
    for v in variants:
        rows[v].update(timing[v], load_before=load_before, load_after=load_after)
    return [rows[v] for v in variants]


# ---------------------------------------------------------------- summaries
def _mean(rows, key):
    vals = [float(r[key]) for r in rows]
    return float(np.mean(vals)) if vals else float("nan")


def _ratios(rows, variants):
    """Per fitted model (scenario, seed): ratios between its files, measured in the same timing run."""
    by_run = {}
    for r in rows:
        by_run.setdefault((r["scenario"], r["seed"]), {})[r["variant"]] = r
    out = {}

    def add(name, num, den, key, invert=False):
        vals = [float(f[num][key]) / float(f[den][key]) for f in by_run.values() if num in f and den in f]
        if vals:
            vals = [1 / v for v in vals] if invert else vals
            out[name] = (float(np.mean(vals)), float(np.min(vals)), float(np.max(vals)))

    for s in ("student_f32", "student_int8"):
        add(f"teacher_f32 / {s} latency", "teacher_f32", s, "lat_median_us")
        add(f"{s} / teacher_f32 throughput", s, "teacher_f32", "throughput")
    add("student_int8 / student_f32 latency", "student_int8", "student_f32", "lat_median_us")
    add("student_int8 / student_f32 throughput", "student_int8", "student_f32", "throughput")
    add("student_int8 / student_f32 bytes", "student_int8", "student_f32", "bytes")
    for v in ("teacher", "student"):
        add(f"{v}_f32_plain / {v}_f32 latency", f"{v}_f32_plain", f"{v}_f32", "lat_median_us")
        add(f"{v}_f32 / {v}_f32_plain throughput", f"{v}_f32", f"{v}_f32_plain", "throughput")
    return out


def _targets(rows, ratios, batch):
    """The deployment targets: (text, measured, met) for the ones this run can check."""
    means = {v: {k: _mean([r for r in rows if r["variant"] == v], k) for k in ("macro_f1",)}
             for v in {r["variant"] for r in rows}}
    out = []
    if "student_int8 / student_f32 bytes" in ratios:
        m = ratios["student_int8 / student_f32 bytes"]
        out.append(("int8 student file <= 1/3 of the float32 student's bytes", f"{m[0]:.4f} (max {m[2]:.4f})",
                    m[2] <= 1 / 3))
    if "student_int8" in means and "student_f32" in means:
        d = means["student_int8"]["macro_f1"] - means["student_f32"]["macro_f1"]
        out.append(("int8 mean macro-F1 within 0.5 points of float32", f"{d:+.2f} points", abs(d) <= 0.5))
    for s in ("student_f32", "student_int8"):
        k = f"teacher_f32 / {s} latency"
        if k in ratios:
            out.append((f"{s} batch-1 latency >= 6x below teacher_f32",
                        f"{ratios[k][0]:.2f}x (min {ratios[k][1]:.2f}x)",
                        ratios[k][0] >= 6))
        k = f"{s} / teacher_f32 throughput"
        if k in ratios:
            out.append((f"{s} batch-{batch} throughput >= 12x teacher_f32",
                        f"{ratios[k][0]:.2f}x (min {ratios[k][1]:.2f}x)",
                        ratios[k][0] >= 12))
    k = "student_int8 / student_f32 latency"
    if k in ratios:
        out.append(("student_int8 no slower than student_f32 at batch 1 (latency ratio <= 1)",
                    f"{ratios[k][0]:.2f} (max {ratios[k][2]:.2f})", ratios[k][0] <= 1))
        k = "student_int8 / student_f32 throughput"
        out.append((f"student_int8 no slower than student_f32 at batch {batch} (throughput ratio >= 1)",
                    f"{ratios[k][0]:.2f} (min {ratios[k][1]:.2f})", ratios[k][0] >= 1))
    for v in ("student_f32", "teacher_f32"):
        sub = [r for r in rows if r["variant"] == v]
        if sub:
            n = sum(int(r["n_disagree"]) for r in sub)
            out.append((f"{v} predictions equal predict on every test window",
                        f"{n} of {sum(int(r['n_test']) for r in sub)} differ", n == 0))
    return out


_COLUMNS = [("params", "params", "{:,.0f}"), ("bytes", "file bytes", "{:,.0f}"), ("macs", "MACs/window", "{:,.0f}"),
            ("lat_median_us", "batch-1 median (us)", "{:.1f}"), ("lat_p99_us", "batch-1 p99 (us)", "{:.1f}"),
            ("throughput", "batch throughput (windows/s)", "{:,.0f}"), ("memory_mib", "session memory (MiB)",
                                                                       "{:.1f}"),
            ("macro_f1", "macro-F1", "{:.2f}"), ("agree", "agreement with predict (%)", "{:.2%}")]


def _table(rows, variants, scenarios, batch):
    names = [c[1].replace("batch throughput", f"batch-{batch} throughput") for c in _COLUMNS]
    head = "| scenario | file | " + " | ".join(names) + " |"
    lines = [head, "|" + "---|" * (len(_COLUMNS) + 2)]
    groups = [(s, [r for r in rows if r["scenario"] == s]) for s in scenarios] + [("mean", rows)]
    for name, sub in groups:
        for v in variants:
            vs = [r for r in sub if r["variant"] == v]
            if not vs:
                continue
            cells = [fmt.format(_mean(vs, k)).replace("%", "") for k, _, fmt in _COLUMNS]
            label = f"**{name}**" if name == "mean" else name
            lines.append(f"| {label} | {v} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _write_results(out, argv, a, rows, variants, scenarios, seeds):
    import onnxruntime

    from ._cli import command_line

    command = command_line("benchmark deploy", argv)
    ratios = _ratios(rows, variants)
    loads = [float(r[k]) for r in rows for k in ("load_before", "load_after")]
    n_runs = len({(r["scenario"], r["seed"]) for r in rows})
    lines = [
        f"Command: `{command}`", "",
        f"Machine: {_cpu_name()}, {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, Python "
        f"{platform.python_version()}, onnxruntime {onnxruntime.__version__}; one intra-op and one inter-op thread "
        "per session, default graph optimisations.", "",
        f"**Load**: 1-minute load average {min(loads):.2f} to {max(loads):.2f} during the timing runs "
        f"(`os.getloadavg()` before and after each), on {os.cpu_count()} CPUs. Other processes share the machine, "
        "so absolute times carry that noise; the files of one fitted model are timed in one child process, "
        "interleaved round by round, so the ratios below compare them under the same load. The p99 latencies show "
        "the load most: a call that loses its core to another process waits a scheduler time slice.", "",
        f"{n_runs} fitted model(s) ({len(scenarios)} scenario(s) x {len(seeds)} seed(s)), epochs per stage: "
        f"{a.epochs or 'the estimator default (80 + 80)'}; timing: {a.rounds} round(s) x "
        f"{a.latency_runs} batch-1 calls and {a.throughput_runs} calls at batch {a.batch} per file. "
        "Rows: mean over seeds; the last rows: mean over every fitted model. Macro-F1 x 100 on the target's test "
        "part, computed from the exported file's outputs. How each column is measured: the docstring of "
        "`skrcd/experiments/deploy.py`.", "",
        _table(rows, variants, [f"{s}-{t}" for s, t in scenarios], a.batch), "",
        "## Ratios within one timing run", "",
        "Mean (min, max) over the fitted models of the ratio between two files timed in the same run.", "",
        "| ratio | mean | min | max |", "|---|---|---|---|",
        *[f"| {k} | {m:.3f} | {lo:.3f} | {hi:.3f} |" for k, (m, lo, hi) in ratios.items()], "",
        "## Targets", "", "| target | measured | met |", "|---|---|---|",
        *[f"| {t} | {m} | {'yes' if ok else '**no**'} |" for t, m, ok in _targets(rows, ratios, a.batch)], "",
    ]
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write("\n".join(lines))
    return "\n".join(lines)


def _write_plot(out, rows, variants, batch):
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        print("matplotlib is not installed: no plot (pip install -e '.[plot]')", file=sys.stderr)
        return None
    from matplotlib.figure import Figure  # Agg canvas, no pyplot state
    from matplotlib.ticker import FuncFormatter, NullFormatter

    panels = [("bytes", "file size (KiB)", 1 / 1024, True), ("lat_median_us", "batch-1 latency (us), median", 1, True),
              ("throughput", f"batch-{batch} throughput (windows/s)", 1, True),
              ("macro_f1", "target macro-F1", 1, False)]
    fig = Figure(figsize=(12, 3.4), layout="constrained")
    colors = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860"]
    for ax, (key, title, scale, log) in zip(fig.subplots(1, len(panels)), panels):
        vals = [np.array([float(r[key]) * scale for r in rows if r["variant"] == v]) for v in variants]
        means = [v.mean() for v in vals]
        err = np.array([[m - v.min() for m, v in zip(means, vals)], [v.max() - m for m, v in zip(means, vals)]])
        bars = ax.bar(range(len(variants)), means, yerr=err, color=colors[: len(variants)], capsize=3)
        ax.bar_label(bars, labels=[f"{m:,.1f}" if m < 100 else f"{m:,.0f}" for m in means], fontsize=7,
                     label_type="center")
        if key == "lat_median_us":
            p99 = [np.mean([float(r["lat_p99_us"]) for r in rows if r["variant"] == v]) for v in variants]
            ax.plot(range(len(variants)), p99, "k_", markersize=14, label="p99")
            ax.legend(loc="upper right", fontsize=8)
        if log:
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
        else:
            lo = min(v.min() for v in vals)
            ax.set_ylim(max(0, lo - 10), 100)
        ax.set_xticks(range(len(variants)), variants, rotation=30, ha="right", fontsize=8)
        ax.set_title(title, fontsize=9)
    fig.suptitle("ONNX Runtime, 1 thread: mean over fitted models, bars min..max", fontsize=10)
    path = os.path.join(out, "deploy.png")
    fig.savefig(path, dpi=110)
    return path


# ---------------------------------------------------------------- command line
def build_parser(parser=None):
    """The options of ``skrcd benchmark deploy``, added to ``parser`` (a new parser when None).

    Parameters
    ----------
    parser : argparse.ArgumentParser, optional

    Returns
    -------
    argparse.ArgumentParser
    """
    from ._cli import command_parser  # lazily: the timing child loads this file without the package

    p = command_parser(parser, "benchmark deploy", __doc__)
    p.add_argument("--scenarios", default="paper",
                   help="'paper' (2-11,7-13,12-16,9-18,6-23) or UCI-HAR subject pairs SOURCE-TARGET, e.g. 2-11,7-13")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated random_state values (default 0,1,2)")
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs per stage (teacher and student), 1 to 10000; default: the estimator's (80 + 80)")
    p.add_argument("--variants", default=",".join(DEFAULT_VARIANTS),
                   help=f"exported files to measure, comma-separated from {', '.join(VARIANTS)}")
    p.add_argument("--data-home", default=None, help="folder of the full UCI-HAR file (see skrcd.datasets)")
    p.add_argument("--out", required=True, help="output folder (runs.csv, results.md, deploy.png, models/)")
    p.add_argument("--reuse", action="store_true",
                   help="load the fitted estimators already in OUT/models/ instead of fitting them again (refused "
                        "when one is missing or was fitted with other settings: pass the fitting run's --scenarios, "
                        "--seeds and --epochs)")
    p.add_argument("--n-jobs", type=int, default=2, help="parallel fitting processes (default 2)")
    p.add_argument("--batch", type=int, default=256, help="windows per call for the throughput (default 256)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds per fitted model (default 5)")
    p.add_argument("--latency-runs", type=int, default=400, help="batch-1 calls per file and round (default 400)")
    p.add_argument("--throughput-runs", type=int, default=20,
                   help="calls at --batch per file and round (default 20)")
    return p


#: The former name of :func:`build_parser`.
_parser = build_parser


#: Upper bounds of the integer options (``--epochs``: the commands' :data:`~skrcd.experiments._cli.MAX_EPOCHS`).
_MAXIMA = {"n_jobs": 1024, "batch": 65536, "rounds": 10**6, "latency_runs": 10**6, "throughput_runs": 10**6,
           "epochs": 10_000}


def _check_args(p, a):
    """Validated (scenarios, seeds, variants); argparse errors before any file is written."""
    from skrcd.datasets import load_uci_har

    from ._cli import check_data_home, check_out, parse_seeds

    if a.scenarios == "paper":
        scenarios = list(PAPER_SCENARIOS)
    else:
        scenarios = []
        for part in a.scenarios.split(","):
            pieces = part.strip().split("-")
            if len(pieces) != 2 or not all(x.strip().isdigit() for x in pieces):
                p.error(f"--scenarios: {part!r} is not SOURCE-TARGET (e.g. 2-11,7-13) or 'paper'")
            s, t = (int(x) for x in pieces)
            if not (1 <= s <= 30 and 1 <= t <= 30):
                p.error(f"--scenarios: {part!r}: UCI-HAR subjects are 1..30")
            if s == t:
                p.error(f"--scenarios: {part!r} has the same source and target")
            scenarios.append((s, t))
        scenarios = list(dict.fromkeys(scenarios))
    seeds = parse_seeds(p, a.seeds)
    variants = list(dict.fromkeys(v.strip() for v in a.variants.split(",") if v.strip()))
    for v in variants:
        if v not in VARIANTS:
            p.error(f"--variants: unknown file {v!r}; available: {', '.join(VARIANTS)}")
    if not variants:
        p.error("--variants is empty")
    for name, maximum in _MAXIMA.items():
        value = getattr(a, name)
        if value is not None and value < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
        if value is not None and value > maximum:
            p.error(f"--{name.replace('_', '-')} must be <= {maximum}")
    check_out(p, a.out)
    check_data_home(p, a.data_home)
    for module in ("onnx", "onnxscript", "onnxruntime"):
        import importlib.util

        if importlib.util.find_spec(module) is None:
            p.error(f"the deployment benchmark needs {module}: pip install -e '.[export]'")
    try:  # the data are there (one read of the test parts of every subject)
        load_uci_har(subjects=sorted({d for sc in scenarios for d in sc}), split="test", data_home=a.data_home)
    except (OSError, ValueError) as exc:
        p.error(f"--scenarios {a.scenarios}: {exc}")
    return scenarios, seeds, variants


def _check_reuse(p, a, runs):
    """With ``--reuse``: every model is there and was fitted with the requested seed and epochs (read from its file);
    an argparse error naming what is missing or different otherwise (nothing is fitted behind the user's back)."""
    from skrcd import RCDKDClassifier
    from skrcd.persistence import ModelFileError, read_metadata

    defaults = RCDKDClassifier().get_params()
    epochs = (defaults["teacher_epochs"], defaults["student_epochs"]) if a.epochs is None else (a.epochs, a.epochs)
    missing, different = [], []
    for sc, seed, path in runs:
        if not os.path.exists(path):
            missing.append(os.path.basename(path))
            continue
        try:
            params = read_metadata(path).get("params", {})
        except (OSError, ModelFileError) as exc:
            p.error(f"--reuse: {exc}")
        got = (params.get("random_state"), (params.get("teacher_epochs"), params.get("student_epochs")))
        if got != (seed, epochs):
            different.append(f"{os.path.basename(path)} (random_state {got[0]}, epochs {got[1]}; wanted {seed}, "
                             f"{epochs})")
    if missing or different:
        folder = os.path.join(a.out, "models")
        found = sorted(n for n in os.listdir(folder) if n.endswith(".skrcd")) if os.path.isdir(folder) else []
        p.error("--reuse fits nothing, and " + "; ".join(
            ([f"these models are missing: {', '.join(missing)}"] if missing else [])
            + ([f"these were fitted with other settings: {', '.join(different)}"] if different else []))
            + f". {folder} holds: {', '.join(found) or 'nothing'}. Pass the --scenarios, --seeds and --epochs of the "
            "run that fitted them, or run without --reuse to fit")


def main(argv=None):
    """``skrcd benchmark deploy --out DIR [options]`` (``--help`` lists them); ``argv``: the options,
    ``sys.argv[1:]`` by default. Returns the rows written to ``runs.csv``."""
    from ._cli import command_main

    return command_main(build_parser, run, argv)


def run(a, p, argv):
    """Check the parsed options (argparse errors before any file), then fit, export and measure.

    Parameters
    ----------
    a : argparse.Namespace
    p : argparse.ArgumentParser
        Reports the errors.
    argv : list of str
        The options as given (recorded in ``results.md``).

    Returns
    -------
    list of dict
        The rows written to ``runs.csv``.
    """
    scenarios, seeds, variants = _check_args(p, a)

    import torch

    from skrcd import RCDKDClassifier
    from skrcd.datasets import load_scenario

    models = os.path.join(a.out, "models")
    runs = [(sc, seed, os.path.join(models, _stem(sc, seed, a.epochs) + ".skrcd"))
            for sc in scenarios for seed in seeds]
    if a.reuse:
        _check_reuse(p, a, runs)
    torch.set_num_threads(1)
    os.makedirs(models, exist_ok=True)
    jobs = [] if a.reuse else [(sc, seed, a.epochs, a.data_home, path) for sc, seed, path in runs]
    if jobs:
        print(f"fitting {len(jobs)} model(s) at {a.epochs or 'the default'} epochs per stage, in up to "
              f"{min(a.n_jobs, len(jobs))} process(es) (--reuse times saved ones instead)", flush=True)
    fit_times = _fit_all(jobs, a.n_jobs) if jobs else {}
    rows = []
    for sc, seed, path in runs:
        clf = RCDKDClassifier.load(path, device="cpu")
        data = load_scenario("uci_har", *sc, data_home=a.data_home)
        fit_time = fit_times.get(path, float(clf.fit_time_["total"]))
        new = _measure(clf, data, sc, seed, variants, os.path.join(models, _stem(sc, seed, a.epochs)), a, fit_time)
        for r in new:
            print(f"{r['scenario']} seed {r['seed']} {r['variant']:18s} {r['bytes']:>8,d} B  "
                  f"{r['lat_median_us']:8.1f} us  {r['throughput']:>9,.0f}/s  F1 {r['macro_f1']:6.2f}  "
                  f"agree {r['agree']:.3f}  load {r['load_before']:.2f}", flush=True)
        rows.extend(new)
    with open(os.path.join(a.out, "runs.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    print(_write_results(a.out, argv, a, rows, variants, scenarios, seeds))
    _write_plot(a.out, rows, variants, a.batch)
    return rows

