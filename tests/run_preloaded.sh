#!/bin/sh
# Runs a command natively and under `vmemu run`, and checks that the two print the same bytes
# and end the same way, and, with --swaps, that the vmemu run did swap. The command must
# succeed natively.
#   run_preloaded.sh VMEMU FRAMES [--swaps] -- COMMAND [ARGS...]
vmemu=$1
frames=$2
shift 2
want_swap=no
if [ "$1" = "--swaps" ]; then
    want_swap=yes
    shift
fi
want_trace=no
if [ "$1" = "--traces" ]; then
    want_trace=yes
    shift
fi
backend=auto
if [ "$1" = "--uffd" ]; then
    backend=uffd
    shift
fi
[ "$1" = "--" ] && shift
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$@" > "$work/native.out" 2> "$work/native.err"
native_status=$?
traced=
[ "$want_trace" = yes ] && traced=yes
"$vmemu" run --frames "$frames" --backend "$backend" --stats "$work/stats" ${traced:+--trace "$work/trace"} -- "$@" \
    > "$work/vmemu.out" 2> "$work/vmemu.err"
vmemu_status=$?
if [ "$native_status" != 0 ]; then
    echo "FAIL: the command fails natively (status $native_status)"
    cat "$work/native.out" "$work/native.err"
    exit 1
fi
if ! cmp -s "$work/native.out" "$work/vmemu.out"; then
    echo "FAIL: the output differs from the native run's"
    diff "$work/native.out" "$work/vmemu.out" | head -20
    cat "$work/vmemu.err"
    exit 1
fi
if [ "$native_status" != "$vmemu_status" ]; then
    echo "FAIL: exit status $vmemu_status under vmemu, $native_status natively"
    cat "$work/vmemu.err"
    exit 1
fi
if [ "$want_swap" = yes ]; then
    pswpout=$(awk '$1 == "pswpout" { print $2 }' "$work/stats")
    if [ -z "$pswpout" ] || [ "$pswpout" -eq 0 ]; then
        echo "FAIL: no pages were swapped out (pswpout ${pswpout:-missing})"
        exit 1
    fi
    echo "swapped out $pswpout pages"
fi
if [ "$want_trace" = yes ]; then
    if [ "$(head -1 "$work/trace")" != "# tracer: nop" ]; then
        echo "FAIL: the trace does not start as ftrace's does"
        exit 1
    fi
    for event in page_fault_user page_fault_exit mm_page_alloc mm_vmscan_write_folio swap_read_folio; do
        count=$(grep -c "^ *.*-[0-9]* *\[[0-9]*\] \.\.\.\.\. *[0-9.]*: $event: " "$work/trace")
        if [ "$count" -eq 0 ]; then
            echo "FAIL: no $event events in the trace"
            exit 1
        fi
        echo "trace: $count $event events"
    done
fi
echo "ok: same output ($(wc -c < "$work/native.out") bytes) and exit status $native_status"
