#!/usr/bin/env python3
"""Peer benchmark for docs/bench/local.md: llama-cpp-python on the same GGUF, prompt, threads.

Usage: python3 scripts/bench-local-peer.py MODEL.gguf THREADS TOKENS RUNS
Prints time to first token, decode tokens/s (median), peak RSS, like the veil-local bench.
"""
import resource, statistics, sys, time
from llama_cpp import Llama

path, threads, tokens, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
t0 = time.perf_counter()
llm = Llama(model_path=path, n_threads=threads, n_threads_batch=threads, n_ctx=2048, verbose=False)
load = time.perf_counter() - t0
messages = [{"role": "user", "content": "Write a short story about a lighthouse keeper who finds a message in a bottle."}]
ttfts, rates = [], []
for _ in range(runs):
    llm.reset()
    start = time.perf_counter()
    first, n = None, 0
    for chunk in llm.create_chat_completion(messages=messages, max_tokens=tokens, temperature=0.0, stream=True):
        if chunk["choices"][0]["delta"].get("content"):
            n += 1
            if first is None:
                first = time.perf_counter() - start
    total = time.perf_counter() - start
    ttfts.append(first)
    rates.append((n - 1) / (total - first))
    print(f"run: generated {n} chunks, ttft {first:.3f}s, decode {rates[-1]:.1f} tok/s", file=sys.stderr)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"llama-cpp-python threads={threads} load={load:.2f}s ttft_median={statistics.median(ttfts):.3f}s "
      f"decode_tok_s_median={statistics.median(rates):.1f} peak_rss_kb={peak}")
