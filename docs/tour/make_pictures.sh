#!/bin/sh
# Makes every picture and output of docs/tour.md again, with vmemu itself, into docs/tour/.
#   docs/tour/make_pictures.sh BUILD_DIR      (a build with the examples and the vmemu command)
# Needs /usr/bin/python3, perl, and chromium for the screenshot of the report page.
set -eu
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
vmemu="$build/libvmemu/cli/vmemu"
tour="$build/examples/tour"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The chapters that run on the library, each with its picture.
"$tour" maps --svg "$here/maps.svg" > "$here/maps.txt"
"$tour" walk --svg "$here/walk.svg" > "$here/walk.txt"
"$tour" buddy --svg "$here/buddy.svg" > "$here/buddy.txt"
"$tour" cow --svg "$here/cow.svg" > "$here/cow.txt"
"$build/examples/demand_paging" 4096 > "$here/demand_paging.txt"
"$tour" latency --seconds 5 > "$here/latency.txt"

# at FRACTION TRACE: the moment FRACTION of the way through the trace, in seconds.
at() {
    duration=$("$vmemu" report "$2" -o "$work/probe.html" 2>&1 | sed -n 's/.* over \([0-9.]*\) s$/\1/p')
    awk -v d="$duration" -v f="$1" 'BEGIN { printf "%.6f", d * f }'
}

# A real program under vmemu: Python building 40 MiB on 16 MiB of frames.
"$vmemu" run --frames 16M --stats "$work/grow.stats" --trace "$work/grow.trace" -- \
    /usr/bin/python3 "$here/grow.py" > "$here/grow.out"
"$vmemu" report "$work/grow.trace" -o "$work/grow.html" --svg "$here/frames-filling.svg" --at "$(at 0.2 "$work/grow.trace")"
"$vmemu" report "$work/grow.trace" -o "$work/grow.html" --svg "$here/frames-swapping.svg" --at "$(at 0.9 "$work/grow.trace")"
sed -n '/^Node 0, zone/p' "$work/grow.stats" > "$here/buddyinfo.txt"
grep -E '^(pgfault|pgmajfault|pswpin|pswpout|pgsteal_kswapd|pgsteal_direct|pgscan_kswapd|pgscan_direct|workingset_refault_anon) ' \
    "$work/grow.stats" > "$here/grow-vmstat.txt"
sed -n '/^minor_fault:/,$p' "$work/grow.stats" > "$here/grow-histograms.txt"
# kswapd's first round, from its wake-up: the events of reclaim and swap-out, in order.
awk '/ mm_vmscan_kswapd_wake: / { on = 1 }
     on && / (mm_vmscan_kswapd_wake|mm_vmscan_lru_isolate|mm_vmscan_lru_shrink_inactive|mm_vmscan_write_folio|swap_io_done|mm_vmscan_kswapd_sleep): / {
         print; if (++n == 16) exit }' "$work/grow.trace" > "$here/grow-trace.txt"
if command -v chromium > /dev/null; then
    chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --virtual-time-budget=10000 \
        --window-size=1280,2600 --screenshot="$here/report.png" "$work/grow.html" 2> /dev/null
fi

# Slab caches: perl, which keeps its objects to the end, as the heap's slabinfo shows them.
"$vmemu" run --frames 16M --stats "$work/perl.stats" -- \
    perl -e 'my %h; $h{$_} = "value $_" for 1..100000; print scalar(keys %h), "\n"' > /dev/null
sed -n '/^slabinfo - version/,/^kmalloc-16 /p' "$work/perl.stats" > "$here/slabinfo.txt"
"$tour" slab --slabinfo "$work/perl.stats" --svg "$here/slab.svg" > "$here/slab.txt"

# The page cache: Python reading a 20 MiB file three times through mmap, on 16 MiB of frames.
head -c 20000000 /dev/urandom > "$work/data.bin"
"$vmemu" run --frames 16M --trace "$work/file.trace" -- /usr/bin/python3 "$here/read_file.py" "$work/data.bin" \
    > /dev/null
"$vmemu" report "$work/file.trace" -o "$work/file.html" --svg "$here/frames-page-cache.svg" --at "$(at 0.9 "$work/file.trace")"
python3 "$here/render.py"
echo "docs/tour: made again, and docs/tour.md from them"
