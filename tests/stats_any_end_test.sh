#!/usr/bin/env bash
# vmemu run --stats FILE leaves statistics however the program ends: by exit(), by _exit()
# (dash ends that way; the shim writes them whole), or killed by SIGKILL or SIGABRT (no exit
# handler runs: vmemu run writes the counters the program last published, and says so).
# Usage: stats_any_end_test.sh VMEMU
set -uo pipefail
vmemu=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
check() { # NAME WANT_STATUS WANT_LINE_IN_FILE COMMAND...
    local name=$1 want=$2 line=$3
    shift 3
    rm -f "$work/stats" "$work/err"
    "$vmemu" run --stats "$work/stats" -- "$@" 2> "$work/err"
    local status=$?
    [ "$status" = "$want" ] || { echo "FAIL: $name: status $status, expected $want"; cat "$work/err"; exit 1; }
    [ -s "$work/stats" ] || { echo "FAIL: $name: no statistics"; cat "$work/err"; exit 1; }
    grep -q "$line" "$work/stats" || { echo "FAIL: $name: no '$line' in the statistics"; exit 1; }
    echo "ok: $name"
}
check "exit" 0 '^MemTotal:' /bin/true
check "_exit" 3 '^MemTotal:' /bin/sh -c 'exit 3'
check "SIGKILL" 137 '^pgfault ' /bin/sh -c "echo \$\$ > $work/pid; kill -KILL \$\$"
grep -q "ended by signal KILL without writing its statistics" "$work/err" || { echo "FAIL: SIGKILL: no word of it"; cat "$work/err"; exit 1; }
[ -e "/dev/shm/vmemu.$(cat "$work/pid")" ] && { echo "FAIL: SIGKILL: the program's stats segment was left"; exit 1; }
check "SIGABRT" 134 '^nr_free_pages ' /bin/sh -c 'kill -ABRT $$'
echo "ok"
