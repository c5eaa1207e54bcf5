#!/bin/sh
# Runs a command natively and under `vmemu run`, and checks that the two print the same bytes
# and end the same way, and, with --swaps, that the vmemu run did swap; with --file-pages,
# that it read file pages through vmemu's page cache (pgpgin). The command must succeed
# natively.
#   run_preloaded.sh VMEMU FRAMES [--swaps [--no-heap]] [--file-pages] [--traces] [--uffd] -- COMMAND [ARGS...]
vmemu=$1
frames=$2
shift 2
want_swap=no
if [ "$1" = "--swaps" ]; then
    want_swap=yes
    shift
fi
# --no-heap: the program swaps without a heap of small objects (one big buffer).
want_slabs=$want_swap
if [ "$1" = "--no-heap" ]; then
    want_slabs=no
    shift
fi
want_file_pages=no
if [ "$1" = "--file-pages" ]; then
    want_file_pages=yes
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
# require_counter NAME WHAT UNIT: the vmemu run's vmstat counter NAME is not 0.
require_counter() {
    value=$(awk -v name="$1" '$1 == name { print $2 }' "$work/stats")
    if [ -z "$value" ] || [ "$value" -eq 0 ]; then
        echo "FAIL: no $2 ($1 ${value:-missing})"
        exit 1
    fi
    echo "$1: $value $3"
}
# The heap's slab caches, as /proc/slabinfo shows them at the end: never more objects in use
# than the slabs hold, and, for a program that swapped, slabs (a tidy program has freed its
# objects by then, but not every slab).
if ! awk -v want_slabs="$want_slabs" '/^slabinfo - version: 2.1$/ { header = 1 }
          /^kmalloc-/ { caches++; slabs += $15; if ($2 > $3 || $3 != $15 * $5 || $14 > $15) bad = bad " " $1 }
          END { exit !(header && caches == 19 && (slabs > 0 || want_slabs != "yes") && bad == "") }' "$work/stats"; then
    echo "FAIL: the statistics have no consistent slabinfo"
    sed -n '/^slabinfo/,/^kmalloc-16 /p' "$work/stats"
    exit 1
fi
[ "$want_swap" = yes ] && require_counter pswpout "pages were swapped out" pages
[ "$want_file_pages" = yes ] && require_counter pgpgin "file pages were read through vmemu" KiB
if [ "$want_trace" = yes ]; then
    if [ "$(head -1 "$work/trace")" != "# tracer: nop" ]; then
        echo "FAIL: the trace does not start as ftrace's does"
        exit 1
    fi
    for event in page_fault_user page_fault_exit mm_page_alloc mm_vmscan_write_folio swap_read_folio swap_io_done \
        zone_sample lru_sample frame_state; do
        count=$(grep -c "^ *.*-[0-9]* *\[[0-9]*\] \.\.\.\.\. *[0-9.]*: $event: " "$work/trace")
        if [ "$count" -eq 0 ]; then
            echo "FAIL: no $event events in the trace"
            exit 1
        fi
        echo "trace: $count $event events"
    done
    # The latency histograms close the trace and the statistics.
    for file in trace stats; do
        if ! grep -q "minor_fault: [0-9]* in all, average [0-9]* nsecs" "$work/$file"; then
            echo "FAIL: no histogram of minor faults in the $file"
            exit 1
        fi
    done
fi
echo "ok: same output ($(wc -c < "$work/native.out") bytes) and exit status $native_status"
