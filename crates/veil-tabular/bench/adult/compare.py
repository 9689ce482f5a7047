#!/usr/bin/env python3
"""Side-by-side: `veil anonymize` and the Python Mondrian of PyPI `anonypy` on UCI Adult,
k = 5, both scored with the same information-loss metric computed here from their outputs.

The metric is the global certainty penalty (GCP): the normalized certainty penalty of every
quasi-identifier cell averaged over records and quasi-identifiers. A numeric cell costs
(max - min) / (range of the column); a categorical cell covering u of the column's |A|
distinct values costs u / |A| (0 when u = 1); a suppressed record costs 1 per column.
anonypy releases value sets, veil releases hierarchy labels, intervals or sets: u is counted
from each release's own representation (hierarchy labels through the ARX files here).

Usage: compare.py ADULT.csv VEIL_BINARY WORKDIR
"""
import csv
import json
import os
import subprocess
import sys
import time

import pandas as pd
from anonypy import mondrian

HERE = os.path.dirname(os.path.abspath(__file__))
QI = ["age", "workclass", "education", "marital-status", "race", "sex", "native-country", "salary-class"]
NUMERIC = {"age"}
SENSITIVE = "occupation"


def leaves_by_label(domain):
    """label -> number of data values under it, from the ARX hierarchy files."""
    out = {}
    for col in QI:
        path = os.path.join(HERE, f"{col}.csv")
        if not os.path.exists(path):
            continue
        counts = {}
        for row in csv.reader(open(path), delimiter=";"):
            if row[0] in domain[col]:
                for label in row[1:]:
                    counts[label] = counts.get(label, 0) + 1
        out[col] = counts
    return out


def gcp_of_release(rows, n, domain, rng, hier):
    total = 0.0
    for r in rows:
        for col in QI:
            v = r[col]
            if v == "*":
                total += 1.0
            elif col in NUMERIC:
                if "-" in v:
                    a, b = v.split("-")
                    total += (float(b) - float(a)) / rng[col]
            elif v in domain[col]:
                pass
            elif v.startswith("{"):
                total += len(v[1:-1].split("|")) / len(domain[col])
            else:
                total += hier[col][v] / len(domain[col])
    total += (n - len(rows)) * len(QI)
    return total / (n * len(QI))


def main(adult, veil, work):
    df = pd.read_csv(adult)
    n = len(df)
    domain = {c: set(df[c].astype(str)) for c in QI}
    rng = {c: float(df[c].max() - df[c].min()) for c in NUMERIC}
    hier = leaves_by_label(domain)
    results = []

    # anonypy: categorical QIs as pandas categories, as its README does.
    dfa = df.copy()
    for c in QI + [SENSITIVE]:
        if c not in NUMERIC:
            dfa[c] = dfa[c].astype("category")
    t0 = time.perf_counter()
    parts = mondrian.Mondrian(dfa, QI, SENSITIVE).partition(k=5)
    t_anonypy = time.perf_counter() - t0
    total = 0.0
    for p in parts:
        sub = dfa.loc[p]
        for c in QI:
            if c in NUMERIC:
                total += len(sub) * (sub[c].max() - sub[c].min()) / rng[c]
            else:
                u = sub[c].nunique()
                total += len(sub) * (0 if u == 1 else u / len(domain[c]))
    results.append(("anonypy 0.2.1 Mondrian, k=5", t_anonypy, total / (n * len(QI)), min(len(p) for p in parts), len(parts)))

    runs = [
        ("veil auto, k=5, suppression 5%", ["--k", "5", "--suppression", "0.05"]),
        ("veil flash, k=5, suppression 5%", ["--k", "5", "--suppression", "0.05", "--algorithm", "flash"]),
        ("veil mondrian, k=5", ["--k", "5", "--algorithm", "mondrian"]),
        ("veil auto, k=5 + recursive (4,3)-diversity + 0.2-closeness, suppression 5%",
         ["--k", "5", "--l", "3", "--l-variant", "recursive", "--c", "4", "--t", "0.2", "--suppression", "0.05"]),
        ("veil flash, k=5 + recursive (4,3)-diversity + 0.2-closeness, suppression 5%",
         ["--k", "5", "--l", "3", "--l-variant", "recursive", "--c", "4", "--t", "0.2", "--suppression", "0.05",
          "--algorithm", "flash"]),
    ]
    for name, extra in runs:
        out = os.path.join(work, "veil-out.csv")
        rep = os.path.join(work, "veil-report.json")
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            subprocess.run([veil, "anonymize", "--schema", os.path.join(HERE, "schema.toml"), *extra,
                            "--json", rep, "-q", adult, out], check=True)
            times.append(time.perf_counter() - t0)
        times.sort()
        rows = list(csv.DictReader(open(out)))
        report = json.load(open(rep))
        sizes = {}
        for r in rows:
            key = tuple(r[c] for c in QI)
            sizes[key] = sizes.get(key, 0) + 1
        results.append((f"{name} [{report['algorithm']}]", times[2], gcp_of_release(rows, n, domain, rng, hier),
                        min(sizes.values()), len(sizes)))
        print(f"  veil's own GCP for {name}: {report['after']['utility']['gcp']:.4f}", file=sys.stderr)

    print("| run | wall time (s, median of 5 for veil; 1 run for anonypy) | GCP | smallest class | classes |")
    print("|---|---|---|---|---|")
    for name, t, g, smallest, classes in results:
        print(f"| {name} | {t:.3f} | {g:.4f} | {smallest} | {classes} |")


if __name__ == "__main__":
    main(*sys.argv[1:4])
