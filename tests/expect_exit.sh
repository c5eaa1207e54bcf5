#!/bin/sh
# Runs a command and checks its exit status and that its stderr is one line matching a pattern.
#   expect_exit.sh STATUS PATTERN -- COMMAND [ARGS...]
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
    if [ "$(wc -l < "$err")" -ne 1 ] || ! grep -q -- "$pattern" "$err"; then
        echo "FAIL: stderr is not one line matching '$pattern':"; cat "$err"; exit 1
    fi
fi
echo "ok: exit status $status"
