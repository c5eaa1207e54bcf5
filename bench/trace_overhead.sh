#!/usr/bin/env bash
# What the tracepoints cost: the first-touch benchmark built with them (off, histograms on,
# events on) and built without them, run alternately ROUNDS times, as the issue's target
# is stated: "compiled in but off" within 2% of "compiled out". The fault path is mostly the
# kernel's mmap, whose cost on a shared machine swings by tens of percent from run to run:
# each build's figure for a round is the fastest of its repetitions, the least disturbed.
# Prints each round's ns per page, and the medians and their ratios.
# Usage: bench/trace_overhead.sh BUILD_DIR [ROUNDS]   (BUILD_DIR: a Release build with benches)
set -euo pipefail
build=$1
rounds=${2:-7}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for round in $(seq "$rounds"); do
    "$build/bench/trace_overhead_compiled_out" --benchmark_format=json --benchmark_repetitions=5 \
        > "$work/out.$round.json" 2> /dev/null
    "$build/bench/trace_overhead" --benchmark_format=json --benchmark_repetitions=5 > "$work/in.$round.json" 2> /dev/null
done
python3 - "$work" "$rounds" <<'PY'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
def medians(path):
    runs = json.load(open(path))["benchmarks"]
    fastest = {}
    for r in runs:
        if r.get("run_type") == "iteration":
            name = r["run_name"].split("/")[1]
            fastest[name] = min(fastest.get(name, float("inf")), r["ns_per_page"])
    return fastest
table = {"compiled_out": [], "tracing_off": [], "histograms_on": [], "events_on": []}
for round in range(1, rounds + 1):
    out, inside = medians(f"{work}/out.{round}.json"), medians(f"{work}/in.{round}.json")
    table["compiled_out"].append(out["tracing_off"])
    for name in ("tracing_off", "histograms_on", "events_on"):
        table[name].append(inside[name])
    print(f"round {round}: " + "  ".join(f"{k} {v[-1]:.0f} ns" for k, v in table.items()))
base = statistics.median(table["compiled_out"])
print(f"ns per first-touch fault, fastest of 5 repetitions, median of {rounds} rounds; ratios to compiled out:")
for name, values in table.items():
    ratios = [v / o for v, o in zip(values, table["compiled_out"])]
    print(f"  {name:13} {statistics.median(values):7.0f} ns   x{statistics.median(values) / base:.3f}"
          f"   (per round {min(ratios):.3f}..{max(ratios):.3f})")
PY
