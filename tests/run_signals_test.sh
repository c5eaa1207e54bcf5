#!/usr/bin/env bash
# vmemu run passes SIGTERM and SIGHUP sent to it on to the program, which ends by them, and
# ends with the program's status (128 + the signal); no program is left running.
# Usage: run_signals_test.sh VMEMU
set -uo pipefail
vmemu=$1
for signal in TERM HUP; do
    "$vmemu" run -- sleep 60 &
    runner=$!
    program=
    for _ in $(seq 100); do
        program=$(pgrep -P "$runner" sleep || true)
        [ -n "$program" ] && break
        sleep 0.1
    done
    [ -n "$program" ] || { echo "FAIL: the program did not start"; kill "$runner"; exit 1; }
    kill -"$signal" "$runner"
    wait "$runner"
    status=$?
    want=$((128 + $(kill -l "$signal")))
    [ "$status" = "$want" ] || { echo "FAIL: SIG$signal: status $status, expected $want"; exit 1; }
    kill -0 "$program" 2>/dev/null && { echo "FAIL: SIG$signal left the program running"; kill "$program"; exit 1; }
    echo "ok: SIG$signal ended the program, status $status"
done
