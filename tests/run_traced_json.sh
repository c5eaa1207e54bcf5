#!/usr/bin/env bash
# `vmemu run --trace FILE.json --trace-events ...` on the preload workload: the trace is in the
# Chrome trace format, holds only the events asked for, and its fault slices and histograms
# agree. Usage: run_traced_json.sh VMEMU WORKLOAD
set -euo pipefail
vmemu=$1
workload=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$vmemu" run --frames 8M --trace "$work/run.json" --trace-events exceptions,vmemu:page_fault_exit,vmemu:zone_sample,vmscan \
    -- "$workload" io > /dev/null
python3 - "$work/run.json" <<'PY'
import json, sys
from collections import Counter
trace = json.load(open(sys.argv[1]))
events = trace["traceEvents"]
kinds = Counter((e["ph"], e.get("cat")) for e in events)
faults = kinds[("X", "page_fault")]
histograms = trace["otherData"]["latency_histograms_ns"]
counted = sum(histograms["minor_fault"]["log2_buckets"]) + sum(histograms["major_fault"]["log2_buckets"])
allowed = {"page_fault", "vmscan", "vmemu", "exceptions", "__metadata"}
stray = {e.get("cat") for e in events} - allowed
assert faults > 0, kinds
assert not stray, f"events the filter left out: {stray}"
assert kinds[("C", "vmemu")] > 0, "no zone samples"
# Faults that failed (the program's own SIGSEGVs) have slices but no latency bucket.
assert counted <= faults, (counted, faults)
print(f"ok: {len(events)} events, {faults} fault slices, {counted} faults in the histograms")
PY
