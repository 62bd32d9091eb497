#!/usr/bin/env bash
# run.sh BUILD - run every libFuzzer binary BUILD/fuzz/fuzz_* for
# $FUZZ_SECONDS seconds (default 60) each, $FUZZ_JOBS at a time (default 2),
# starting from the committed seeds (tests/fuzz/corpus/<target>/) and the
# regression inputs (tests/regress/<target>/).  The growing corpus is kept
# in BUILD/corpus/<target>/, crash/hang/OOM inputs in BUILD/crashes/<target>/,
# logs in BUILD/logs/.  Prints executions per target and exits 1 if any
# target found a crash.
set -u
B=${1:-build-fuzz}
S=${FUZZ_SECONDS:-60}
J=${FUZZ_JOBS:-2}
mkdir -p "$B/logs" "$B/corpus" "$B/crashes"
rm -f "$B"/logs/*.log "$B"/logs/*.rc
# the targets write their inputs to files: keep that in memory when we can
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi

one() {
    local bin=$1 t; t=$(basename "$bin")
    local corpus="$B/corpus/$t" crashes="$B/crashes/$t/"
    mkdir -p "$corpus" "$crashes"
    local extra=()
    [ -d "tests/regress/$t" ] && extra+=("tests/regress/$t")
    local maxlen=4096
    case "$t" in fuzz_dcnet) maxlen=8192;; esac
    # -close_fd_mask=3: the commands' own output is dropped, sanitizer
    # reports still reach the log.  -timeout=10: a hang is a finding.
    "$bin" -max_total_time="$S" -timeout=10 -rss_limit_mb=2048 -max_len=$maxlen \
        -close_fd_mask=3 -print_final_stats=1 -artifact_prefix="$crashes" \
        "$corpus" "tests/fuzz/corpus/$t" "${extra[@]}" >"$B/logs/$t.log" 2>&1
    echo "$? $t" >"$B/logs/$t.rc"
}
export -f one
export B S

bins=$(ls "$B"/fuzz/fuzz_* 2>/dev/null | grep -v '\.d$')
[ -n "$bins" ] || { echo "no fuzz binaries in $B/fuzz" >&2; exit 1; }
echo "fuzzing $(echo "$bins" | wc -l) targets for $S s each, $J at a time (TMPDIR=${TMPDIR:-/tmp})"
printf '%s\n' $bins | xargs -P "$J" -I{} bash -c 'one {}'

total=0 bad=0
printf '%-18s %12s %10s %8s %s\n' target executions exec/s corpus result
for bin in $bins; do
    t=$(basename "$bin")
    log="$B/logs/$t.log"
    n=$(grep -a 'stat::number_of_executed_units' "$log" | tail -1 | awk '{print $2}')
    r=$(grep -a 'stat::average_exec_per_sec' "$log" | tail -1 | awk '{print $2}')
    c=$(ls "$B/corpus/$t" | wc -l)
    rc=$(cut -d' ' -f1 "$B/logs/$t.rc")
    found=$(ls "$B/crashes/$t" 2>/dev/null | wc -l)
    res="ok"
    if [ "$rc" != 0 ] || [ "$found" != 0 ]; then
        res="FOUND $found input(s) in $B/crashes/$t (exit $rc; see $log)"; bad=$((bad + 1))
    fi
    printf '%-18s %12s %10s %8s %s\n' "$t" "${n:-?}" "${r:-?}" "$c" "$res"
    total=$((total + ${n:-0}))
done
echo "total executions: $total; targets with findings: $bad"
[ "$bad" -eq 0 ]
