#!/bin/sh
# Runs a command and checks its exit status and that its stderr is one line matching a pattern
# (with --lines, that one of its lines matches: for messages followed by a usage text).
#   expect_exit.sh [--lines] STATUS PATTERN -- COMMAND [ARGS...]
one_line=1
[ "$1" = "--lines" ] && { one_line=0; shift; }
want=$1
pattern=$2
shift 2
[ "$1" = "--" ] && shift
err=$(mktemp)
trap 'rm -f "$err"' EXIT
"$@" > /dev/null 2> "$err"
status=$?
if [ "$status" != "$want" ]; then
    echo "FAIL: exit status $status, expected $want"; cat "$err"; exit 1
fi
if [ -n "$pattern" ]; then
    if { [ "$one_line" = 1 ] && [ "$(wc -l < "$err")" -ne 1 ]; } || ! grep -q -- "$pattern" "$err"; then
        echo "FAIL: stderr does not match '$pattern' (one line unless --lines):"; cat "$err"; exit 1
    fi
fi
echo "ok: exit status $status"
