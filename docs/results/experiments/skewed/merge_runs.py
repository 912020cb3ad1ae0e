"""Assemble one benchmark folder's ``runs.csv`` from the runs of others, keeping and renaming methods.

Usage::

    python docs/results/experiments/skewed/merge_runs.py OUT_DIR RUNS.csv:METHOD[=NAME],... [RUNS.csv:...]

Each argument names a ``runs.csv`` and the methods taken from it (``rcdkd=none`` takes the ``rcdkd`` rows and
calls them ``none``); rows keep their order and every other column. ``OUT_DIR/settings.json`` is written by hand
(the variants whose rows the folder holds), so that ``skrcd benchmark --resume`` on ``OUT_DIR`` writes the tables.
"""
import csv
import os
import sys


def main(out_dir, sources):
    header, rows = None, []
    for source in sources:
        path, _, spec = source.rpartition(":")
        rename = dict((item.split("=") + [item])[:2] for item in spec.split(","))
        with open(path, newline="") as fh:
            reader = csv.reader(fh)
            head = next(reader)
            if header is not None and head != header:
                raise SystemExit(f"{path}: columns differ from the first file's")
            header, at = head, head.index("method")
            for row in reader:
                if row[at] in rename:
                    rows.append(row[:at] + [rename[row[at]]] + row[at + 1:])
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "runs.csv"), "w", newline="") as fh:
        csv.writer(fh).writerows([header] + rows)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
