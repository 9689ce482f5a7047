#!/bin/bash
# Throughput of `veil redact` (release): 3 runs per command, wall and user CPU seconds and
# maximum RSS from /usr/bin/time. Inputs from make_redact_input.py. Usage:
#   python3 testdata/bench/make_redact_input.py /tmp/veil-bench 16
#   VEIL=$PWD/target/release/veil testdata/bench/run_redact_bench.sh /tmp/veil-bench
set -u
V=${VEIL:-$PWD/target/release/veil}
cd "${1:-/tmp/veil-bench}" || exit 1
export VEIL_MASTER_KEY=$(printf '42%.0s' {1..32})   # a fixed benchmark key, not a secret
run() {
    label=$1; shift
    for i in 1 2 3; do
        /usr/bin/time -f "$label run$i: %e s wall, %U s user, %S s sys, %M KiB maxrss" "$@" \
            > /dev/null 2> err.txt
        tail -1 err.txt
    done
}
run "scan text (reference)" "$V" scan redact.txt
run "redact text keep" "$V" redact redact.txt --default-operator keep
run "redact text tag" "$V" redact redact.txt
run "redact text surrogate" "$V" redact redact.txt --default-operator surrogate
run "redact text encrypt" "$V" redact redact.txt --default-operator encrypt
run "redact jsonl tag --jsonl-field text" "$V" redact redact.jsonl --jsonl-field text
run "redact csv tag --csv-column text" "$V" redact redact.csv --csv-column text
