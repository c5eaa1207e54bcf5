#!/usr/bin/env bash
# `vmemu report` in a real browser. A traced run of the preload workload becomes a report;
# headless Chromium loads it, tests/report_interact.js drives it as a user would (seek, play,
# export PNG and SVG, hover, zoom and pan the timeline), and the page must report no error and
# Chromium no console message. A screenshot must show the frame map: its pixels are counted
# by colour. A truncated trace with a corrupt line must still give a page that says where the
# trace breaks. Usage: report_browser_test.sh VMEMU WORKLOAD [SCREENSHOT.png]
set -uo pipefail
vmemu=$1
workload=$2
keep_screenshot=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v chromium >/dev/null; then
    echo "SKIP: no chromium to load the report in (Debian's package chromium; .ci/deps installs it)"
    exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() {
    echo "FAIL: $*"
    exit 1
}
chromium_flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --virtual-time-budget=10000)

# load PAGE: Chromium's DOM after the page ran, and its console, into $work/dom and $work/console.
load() {
    timeout 300 chromium "${chromium_flags[@]}" --enable-logging=stderr --v=0 --dump-dom "file://$1" \
        > "$work/dom" 2> "$work/chromium.err" || fail "chromium could not load $1"
    grep -F CONSOLE "$work/chromium.err" > "$work/console" || true
    # The <body> tag comes before the page's data: its first match is the page's own.
    body=$(grep -o -m1 '<body[^>]*>' "$work/dom")
}
attribute() { sed -n "s/.* $1=\"\\([^\"]*\\)\".*/\\1/p" <<< "$body"; }
expect_clean_page() {
    [ "$(attribute data-vmemu-ready)" = 1 ] || fail "$1: the page never got ready: $body"
    [ "$(attribute data-vmemu-errors)" = 0 ] || fail "$1: the page had errors: $(attribute data-vmemu-last-error)"
    [ -s "$work/console" ] && fail "$1: console messages: $(cat "$work/console")"
    echo "$1: ready in $(attribute data-vmemu-ready-ms) ms, no errors"
}

"$vmemu" run --frames 8M --trace "$work/run.trace" -- "$workload" threads > /dev/null || fail "the traced run failed"
"$vmemu" report "$work/run.trace" -o "$work/report.html" --svg "$work/map.svg" --at 0.1 || fail "vmemu report failed"
python3 "$here/check_svg.py" "$work/map.svg" 51 || fail "the SVG frame map is not what it should be"

{ cat "$work/report.html"; printf '\n<script>\n'; cat "$here/report_interact.js"; printf '</script>\n'; } > "$work/interact.html"
load "$work/interact.html"
expect_clean_page "report"
[ "$(attribute data-vmemu-test-done)" = 1 ] || fail "the interaction did not finish: $(attribute data-vmemu-test)"
grep -q 'image/png' <<< "$(attribute data-vmemu-test)" || fail "no PNG export: $(attribute data-vmemu-test)"
grep -q 'image/svg+xml' <<< "$(attribute data-vmemu-test)" || fail "no SVG export"

timeout 300 chromium "${chromium_flags[@]}" --window-size=1400,2000 --screenshot="$work/report.png" \
    "file://$work/report.html" > /dev/null 2>&1
[ -s "$work/report.png" ] || fail "no screenshot"
python3 "$here/count_png_colours.py" "$work/report.png" || fail "the screenshot shows no frame map"
[ -n "$keep_screenshot" ] && cp "$work/report.png" "$keep_screenshot"

# A trace cut short, with a corrupt line in it: the report says where, and draws the rest.
size=$(stat -c %s "$work/run.trace")
head -c $((size * 2 / 3)) "$work/run.trace" | sed '20s/.*/garbage where an event should be/' > "$work/cut.trace"
"$vmemu" report "$work/cut.trace" -o "$work/cut.html" 2> "$work/cut.err" || fail "vmemu report gave up on a cut trace"
grep -q "cut.trace: line 20: not an event line" "$work/cut.err" || fail "the corrupt line is not named: $(cat "$work/cut.err")"
grep -q "the trace ends mid-line" "$work/cut.err" || fail "the cut is not named: $(cat "$work/cut.err")"
load "$work/cut.html"
expect_clean_page "cut report"
grep -q "the trace ends mid-line" "$work/dom" || fail "the cut report does not show where the trace breaks"
echo "ok"
