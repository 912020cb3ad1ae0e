"""Research tools, apart from the library API: the paper-protocol benchmark, its result tables and plots, the
speed benchmark and the bundled demo.

- :mod:`skrcd.experiments.benchmark`: ``skrcd benchmark`` (methods x scenarios x seeds);
- :mod:`skrcd.experiments.results`: ``runs.csv`` rows, mean ± std tables (no estimator imported);
- :mod:`skrcd.experiments.plots`: bars and per-epoch curves of benchmark results;
- :mod:`skrcd.experiments.speed`: ``skrcd benchmark speed``;
- :mod:`skrcd.experiments.deploy`: ``skrcd benchmark deploy`` (exported teacher and student files,
  float32 and int8, timed in ONNX Runtime);
- :mod:`skrcd.experiments.demo`: ``skrcd demo``.

This package imports none of its modules; :mod:`~skrcd.experiments.results` and
:mod:`~skrcd.experiments.plots` import no estimator module.
"""
