"""Experiments and benchmarks run on top of the public skrcd API (not part of the library API).

- :mod:`skrcd.experiments.deploy`: the deployment benchmark (``python -m skrcd.experiments.deploy``):
  teacher and student exported to ONNX, float32 and int8, timed in ONNX Runtime.
"""
