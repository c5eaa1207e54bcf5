#!/usr/bin/env python3
"""Checks a Chrome trace event file written by vmemu: it is JSON in the object form, every
event has the fields its phase needs, duration slices nest per thread, async slices pair up,
and the counts of faults, swap I/O and samples are what the caller expects.
Usage: check_chrome_trace.py FILE FAULTS SWAP_IOS  (prints 'ok' or what is wrong)"""
import json
import sys
from collections import Counter, defaultdict

path, faults, swap_ios = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path) as f:
    trace = json.load(f)
problems = []
events = trace["traceEvents"]
phases = Counter(e["ph"] for e in events)
for e in events:
    for field in ("name", "ph", "pid", "tid", "ts"):
        if field not in e:
            problems.append(f"{field} missing in {e}")
    if e["ph"] == "X" and not (e.get("dur", -1) >= 0):
        problems.append(f"a slice without a duration: {e}")
    if e["ph"] in "be" and "id" not in e:
        problems.append(f"an async event without an id: {e}")
open_slices = defaultdict(list)
for e in events:
    if e["ph"] == "B":
        open_slices[e["tid"]].append(e["name"])
    elif e["ph"] == "E":
        if not open_slices[e["tid"]] or open_slices[e["tid"]].pop() != e["name"]:
            problems.append(f"an end without its begin: {e}")
in_flight = {}
for e in events:
    if e["ph"] == "b":
        in_flight[(e["name"], e["id"])] = e["ts"]
    elif e["ph"] == "e":
        if in_flight.pop((e["name"], e["id"]), None) is None:
            problems.append(f"an async end without its begin: {e}")
x = sum(1 for e in events if e["ph"] == "X" and e["cat"] == "page_fault")
if x != faults:
    problems.append(f"{x} fault slices, expected {faults}")
if phases["b"] != swap_ios or phases["e"] != swap_ios:
    problems.append(f"{phases['b']} swap I/O begins and {phases['e']} ends, expected {swap_ios}")
counters = Counter(e["name"] for e in events if e["ph"] == "C")
if phases["B"] == 0 or phases["B"] != phases["E"]:
    problems.append(f"direct reclaim slices: {phases['B']} begins, {phases['E']} ends")
if not (counters["free frames"] > 0 and counters["free frames"] == counters["LRU lists"] == counters["swap traffic"]):
    problems.append(f"counter samples: {dict(counters)}")
names = {e["args"]["name"] for e in events if e["ph"] == "M"}
if "vmemu-sampler" not in names:
    problems.append(f"thread names: {names}")
histograms = trace["otherData"]["latency_histograms_ns"]
if sum(histograms["minor_fault"]["log2_buckets"]) + sum(histograms["major_fault"]["log2_buckets"]) != faults:
    problems.append("the fault histograms do not count every fault")
print("\n".join(problems[:20]) if problems else "ok")
