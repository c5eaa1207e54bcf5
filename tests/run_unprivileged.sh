#!/bin/sh
# Runs a program as nobody (uid 65534), to check that vmemu needs no privilege.
# Exits 77 (skipped) when the test is not run as root, setpriv is missing, or nobody cannot
# reach the program.
if [ "$(id -u)" -ne 0 ]; then
    echo "skipped: switching to uid 65534 needs root"
    exit 77
fi
if ! command -v setpriv >/dev/null 2>&1; then
    echo "skipped: setpriv is not installed"
    exit 77
fi
run="setpriv --reuid=65534 --regid=65534 --clear-groups --"
if ! $run test -x "$1"; then
    echo "skipped: uid 65534 cannot reach $1"
    exit 77
fi
cd /tmp || exit 1
exec $run "$@"
