"""Deploy the student: export it to ONNX, run it with onnxruntime (no torch, no skrcd needed there).

Fits RCD-KD on the bundled UCI-HAR scenario 2 -> 11, then
:meth:`~skrcd.RCDKDClassifier.export_student` writes the student alone, with the
input standardisation learned in ``fit`` built in: the file takes raw float32
windows ``(batch, channels, length)``, any batch size, and returns the class
probabilities (columns in the order of ``classes_``). The script checks that
onnxruntime gives the same probabilities as ``predict_proba``, saves the class
names beside the model (they are also in the file's metadata), writes an int8
file calibrated on the unlabelled target windows and compares its predictions,
and does the same with TorchScript (``torch.jit.load``).

Run ``python examples/export_onnx.py`` (needs ``pip install -e ".[export]"``;
about a minute on 2 CPU cores); ``SKRCD_FAST=1`` trains 2 epochs of a smaller
teacher and selector (what CI does, to check the example runs; the student is the same).
"""

import json
import os
import time
import warnings

import numpy as np
import onnxruntime as ort
import torch

from skrcd import RCDKDClassifier
from skrcd.datasets import load_scenario

FAST = bool(os.environ.get("SKRCD_FAST"))
epochs = 2 if FAST else 20

sc = load_scenario("uci_har", source=2, target=11)
fast = dict(teacher_channels=(16, 16, 16), selector_hidden=64, mc_passes=2, n_episodes=2) if FAST else {}
clf = RCDKDClassifier(teacher_epochs=epochs, student_epochs=epochs, random_state=0, **fast)
clf.fit(sc.X_src, sc.y_src, sc.X_tgt)

# ---------------------------------------------------------------- export
path = clf.export_student("student.onnx")  # format="onnx" is the default
with open("classes.json", "w") as f:       # the model outputs column indices: keep the label of each column
    json.dump([c.item() if hasattr(c, "item") else c for c in clf.classes_], f)
print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB; student of {clf.n_parameters_['student']:,} parameters, "
      f"teacher {clf.n_parameters_['teacher']:,})")

# ---------------------------------------------------------------- on the device: onnxruntime only
session = ort.InferenceSession("student.onnx", providers=["CPUExecutionProvider"])
with open("classes.json") as f:
    classes = np.array(json.load(f))
x = np.ascontiguousarray(sc.X_test, dtype=np.float32)   # raw windows: standardisation is inside the model
t0 = time.perf_counter()
(proba,) = session.run(["proba"], {"x": x})
dt = time.perf_counter() - t0
pred = classes[proba.argmax(axis=1)]
print(f"onnxruntime: {len(x)} windows in {1000 * dt:.1f} ms, target test accuracy {100 * np.mean(pred == sc.y_test):.2f}")

diff = np.abs(proba - clf.predict_proba(sc.X_test)).max()
print(f"largest difference from predict_proba: {diff:.2e}")
assert diff < 1e-5 and np.array_equal(pred, clf.predict(sc.X_test))
(one,) = session.run(None, {"x": x[:1]})                 # any batch size, one window included
assert one.shape == (1, len(classes))

# ---------------------------------------------------------------- int8: calibrated on the unlabelled target windows
clf.export_student("student_int8.onnx", quantize="int8", calibration_data=sc.X_tgt)
int8 = ort.InferenceSession("student_int8.onnx", providers=["CPUExecutionProvider"])
(proba8,) = int8.run(["proba"], {"x": x})
pred8 = classes[proba8.argmax(axis=1)]
print(f"int8: {os.path.getsize('student_int8.onnx') / 1024:.0f} KiB, same class as the float32 file on "
      f"{100 * np.mean(pred8 == pred):.1f} % of the test windows, target test accuracy "
      f"{100 * np.mean(pred8 == sc.y_test):.2f}")
assert np.allclose(proba8.sum(axis=1), 1, atol=1e-5)

# ---------------------------------------------------------------- TorchScript, for a torch runtime
clf.export_student("student.pt", format="torchscript")
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated upstream, still supported
    scripted = torch.jit.load("student.pt")
with torch.inference_mode():
    proba_ts = scripted(torch.from_numpy(x)).numpy()
print(f"TorchScript: largest difference from predict_proba {np.abs(proba_ts - clf.predict_proba(sc.X_test)).max():.2e}")
