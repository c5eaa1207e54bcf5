#!/usr/bin/env bash
# vmemu run --stats NAME with "%p" in NAME: the program and every process it starts write
# statistics of their own, to NAME with "%p" as their pid, never over each other's; "%%" is a
# '%'. Without "%p" the processes the program starts write none.
# Usage: stats_per_process_test.sh VMEMU
set -uo pipefail
vmemu=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$vmemu" run --stats "$work/stats.%p" -- /bin/sh -c '/bin/true; /bin/true; /bin/true' || { echo "FAIL: vmemu run failed"; exit 1; }
files=$(ls "$work" | grep -cE '^stats\.[0-9]+$')
[ "$files" -ge 3 ] || { echo "FAIL: $files statistics files, expected one for each of the three children at least:"; ls "$work"; exit 1; }
for file in "$work"/stats.*; do
    grep -q '^nr_free_pages ' "$file" || { echo "FAIL: $file holds no statistics"; exit 1; }
done
rm -f "$work"/*
"$vmemu" run --stats "$work/a%%b.%p" -- /bin/true || { echo "FAIL: vmemu run failed"; exit 1; }
ls "$work" | grep -qE '^a%b\.[0-9]+$' || { echo "FAIL: %% is not a '%':"; ls "$work"; exit 1; }
rm -f "$work"/*
"$vmemu" run --stats "$work/one" -- /bin/sh -c '/bin/true; /bin/true'
[ "$(ls "$work" | grep -vc '^one$')" = 0 ] || { echo "FAIL: children wrote statistics without %p:"; ls "$work"; exit 1; }
echo "ok: $files files"
