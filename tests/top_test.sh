#!/usr/bin/env bash
# vmemu top finds a program running under vmemu run, by its stats segment, with its frames
# and fault rates; and the segment is gone when the program ends.
# Usage: top_test.sh VMEMU
set -uo pipefail
vmemu=$1
# The program runs until the test removes its flag file (at most a minute), however slow the
# machine is.
flag=$(mktemp)
trap 'rm -f "$flag"' EXIT
# python3 may be a shell script that execs the interpreter (pyenv's shims): the test runs the
# interpreter itself, so that the process pgrep finds is the one that stays.
python=$(python3 -c 'import sys; print(sys.executable)')
"$vmemu" run --frames 8M -- "$python" -c 'import os, sys, time
data = [bytearray(4096) for _ in range(3000)]
for _ in range(600):
    if not os.path.exists(sys.argv[1]):
        break
    time.sleep(0.1)' "$flag" &
runner=$!
for _ in $(seq 50); do
    program=$(pgrep -P "$runner" || true)
    [ -n "$program" ] && [ -e "/dev/shm/vmemu.$program" ] && break
    sleep 0.1
done
[ -e "/dev/shm/vmemu.${program:-none}" ] || { echo "FAIL: no stats segment for the program"; kill "$runner"; exit 1; }
# The segment is rewritten every 500 ms; on a loaded machine the program may still be starting
# when the first one is written, so the test asks again until the program has faulted (at most
# half a minute).
for _ in $(seq 60); do
    out=$("$vmemu" top -n 2 -d 0.2)
    line=$(grep -E "^ *$program +[^ ]+ +2048 " <<< "$out" | head -1)
    [ -n "$line" ] || { echo "$out"; echo "FAIL: vmemu top does not list pid $program with 2048 frames"; exit 1; }
    # The first report's rates are since the program's start.
    faults=$(awk '{ print $8 }' <<< "$line")
    [ "$faults" -gt 0 ] && break
    sleep 0.5
done
echo "$out"
[ "$faults" -gt 0 ] || { echo "FAIL: no faults per second in: $line"; exit 1; }
rm -f "$flag"
wait "$runner"
[ -e "/dev/shm/vmemu.$program" ] && { echo "FAIL: the segment outlived the program"; exit 1; }
echo "ok"
