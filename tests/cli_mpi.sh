#!/usr/bin/env bash
# cli_mpi.sh - dissect-mpi (experiments/mpi_main.c) against the single process:
# `units` over 2 and 3 ranks, both profiles, gives result files byte-identical
# to `dissect units`; a quick sweep over 2 and 3 ranks gives the files of
# `dissect sweep` (sweep.log aside: a log, with pids and times); so does a
# sweep of sharded points (--shard-points always: every point, rotated ones
# included, computed by all ranks over image shards) on 2 and 3 ranks, a mixed
# one (auto with a budget that shards only the rotated point) and the resume
# of a sharded point; a rank killed mid-sweep makes the job fail with mpirun's
# message naming the rank, and a rerun completes with identical files.
#
# Open MPI refuses to run as root unless told: OMPI_ALLOW_RUN_AS_ROOT=1 and
# OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 (set here; harmless for other users).
# --oversubscribe lets 3 ranks run on this 2-core machine; every rank uses
# one dissector thread (--threads 1 / -t 1), and OpenBLAS one thread.
# Under `make asan` the ranks run sanitized, with tests/lsan-openmpi.supp.
# Skipped (0 tests) when mpirun or build/dissect-mpi is absent.
source tests/lib_cli.sh
MPI_BIN=${ND_MPI_BIN:-$(dirname "$ND_BIN")/dissect-mpi}
if ! command -v mpirun >/dev/null 2>&1 || [ ! -x "$MPI_BIN" ]; then
    echo "  skipped: no mpirun or no $MPI_BIN (make deps installs Open MPI; make mpi builds it)"
    finish; exit $?
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_rmaps_base_oversubscribe=1 ND_QUIET=1 DATA=$ND_SHARED
# under `make asan` the ranks are sanitized too; Open MPI's own allocations
# that live until exit are not our leaks.  The suppressions need whole stacks
# (Open MPI is built without frame pointers: fast_unwind_on_malloc=0) and its
# plugins still loaded at exit (no dlclose), or the frames have no module name.
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan-openmpi.supp:print_suppressions=0:fast_unwind_on_malloc=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export OMPI_MCA_mca_base_component_disable_dlclose=1 PMIX_MCA_mca_base_component_disable_dlclose=1
# A sanitized build (make asan) runs about 4x slower on 2 cores: there, only
# the 2-rank units (one profile), sweep and sharded sweep run, which still check the
# transport code for leaks and memory errors; the plain build runs all.
SAN=0; ldd "$MPI_BIN" 2>/dev/null | grep -q libasan && SAN=1
[ $SAN = 1 ] && echo "  sanitized build: 2-rank units, sweep and sharded sweep only (the plain make test runs every case)"
FIX=$ND_SHARED/fixtures/netdissect-lite-mini
CFG=experiments/configs/quick-lite-mini.ini
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
run_mpi() { local np=$1; shift; mpirun -np "$np" "$MPI_BIN" "$@"; }
same_files() { # NAME DIR_A DIR_B FILES...: each file byte-identical
    local name=$1 a=$2 b=$3 f bad_files=""; shift 3
    for f in "$@"; do cmp -s "$a/$f" "$b/$f" || bad_files="$bad_files $f"; done
    if [ -z "$bad_files" ]; then ok "$name"; else bad "$name: differ:$bad_files"; fi
}
# every file of two run folders but sweep.log and the lock; config.effective.ini
# names the output folder, which differs by construction
same_run() { # NAME DIR_A DIR_B
    local name=$1 a=$2 b=$3 d
    d=$(diff -r -x sweep.log -x .sweep.lock -x config.effective.ini "$a" "$b" 2>&1 | head -3)
    if ! diff <(grep -v '^dir = ' "$a/config.effective.ini") <(grep -v '^dir = ' "$b/config.effective.ini") >/dev/null; then
        d="$d config.effective.ini"; fi
    local n; n=$(find "$a" -type f | wc -l)
    if [ -z "$d" ] && [ "$n" -gt 10 ]; then ok "$name ($n files)"; else bad "$name: $d"; fi
}

echo "[units over ranks == dissect units]"
PROFILES="netdissect netdissect-lite" RANKS="2 3"
[ $SAN = 1 ] && PROFILES=netdissect RANKS=2
for p in $PROFILES; do
    "$ND_BIN" units --dataset $FIX/dataset --features $FIX/features.npy --profile $p --field -64,163,16 \
        --threads 1 --out $T/single-$p 2>/dev/null
    for np in $RANKS; do
        expect_ok "units $p, $np ranks" run_mpi $np units --dataset $FIX/dataset --features $FIX/features.npy \
            --profile $p --field -64,163,16 --threads 1 --out $T/mpi$np-$p
        same_files "units $p, $np ranks: result.csv, summary.json, thresholds.npy, maxact.npy byte-identical" \
            $T/single-$p $T/mpi$np-$p result.csv summary.json thresholds.npy maxact.npy
    done
done
if [ $SAN = 0 ]; then
    expect_ok "units with given thresholds and a label store, 3 ranks" run_mpi 3 units --dataset $FIX/dataset \
        --features $FIX/features.npy --profile netdissect-lite --thresholds $FIX/thresholds.npy \
        --label-store $T/mini.store --threads 1 --out $T/mpi-store
    "$ND_BIN" units --dataset $FIX/dataset --features $FIX/features.npy --profile netdissect-lite \
        --thresholds $FIX/thresholds.npy --out $T/single-given 2>/dev/null
    same_files "given thresholds + label store built by rank 0: identical" $T/single-given $T/mpi-store result.csv summary.json maxact.npy
fi
err=$(run_mpi 2 units --dataset $FIX/dataset --features $T/none.npy --field -64,163,16 --threads 1 --out $T/bad 2>&1 >/dev/null); rc=$?
if [ $rc -ne 0 ] && echo "$err" | grep -q "^dissect-mpi: rank [01]: .*none.npy" && ! echo "$err" | grep -q "another rank"; then
    ok "missing activations: exit $rc, one line per failing rank naming the file"
else bad "missing activations: exit $rc: $(echo "$err" | head -3)"; fi

echo "[sweep over ranks == dissect sweep]"
"$ND_BIN" sweep $CFG -t 1 --out $T/sweep-single >/dev/null 2>&1
for np in $RANKS; do
    expect_ok "quick sweep, $np ranks" run_mpi $np sweep $CFG -t 1 --out $T/sweep-mpi$np
    same_run "quick sweep, $np ranks: every file identical but sweep.log" $T/sweep-single $T/sweep-mpi$np
done

echo "[sharded sweep points (every rank over its image shard) == dissect sweep]"
# 2 points (kept small: a sharded point pays two histogram passes of 65,536
# bins per unit, heavy for 120 images): alpha 0, and alpha 0.5 of one draw
# (R = Q^0.5 through the Schur form; each rank rotates its own shard)
sed -e 's/^alphas = .*/alphas = 0, 0.5/' -e 's/^draws = .*/draws = 1/' $CFG >$T/shard.ini
"$ND_BIN" sweep $T/shard.ini -t 1 --out $T/shard-single >/dev/null 2>&1
sharded_lines() { # DIR WHAT: how many sweep.log lines say WHAT
    grep -c "computed .*$2" "$1/sweep.log"
}
for np in $RANKS; do
    expect_ok "--shard-points always, $np ranks" run_mpi $np sweep --shard-points always $T/shard.ini -t 1 --out $T/shard$np
    same_run "--shard-points always, $np ranks: every file identical but sweep.log" $T/shard-single $T/shard$np
    n=$(sharded_lines $T/shard$np "sharded over $np ranks")
    [ "$n" = 2 ] && ok "both points were sharded over $np ranks (sweep.log)" || bad "$n of 2 points sharded"
done
if [ $SAN = 0 ]; then
    # auto with a budget between the unrotated point's 20 MB (its activations)
    # and a rotated point's 40 MB (plus the rotated copy): mixed mode
    expect_ok "--rank-memory 30M (auto), 2 ranks" run_mpi 2 sweep --rank-memory 30M $T/shard.ini -t 1 --out $T/mixed
    same_run "mixed (alpha 0 whole, alpha 0.5 sharded): every file identical" $T/shard-single $T/mixed
    n=$(sharded_lines $T/mixed "sharded over 2 ranks"); w=$(sharded_lines $T/mixed "distributed run")
    [ "$n" = 1 ] && [ "$w" = 1 ] && ok "auto sharded the rotated point, ran alpha 0 whole" || bad "sharded $n, whole $w"
    # resume: one finished point made unfinished is the only one computed again;
    # a 16M budget shards every point and holds no 10 MB shard copy (half the
    # budget is the limit): the rotated shard is streamed through every pass
    rm $T/mixed/points/a0.5_d0/point.csv
    expect_ok "resume of a sharded point (streamed shard), 2 ranks" run_mpi 2 sweep --rank-memory 16M $T/shard.ini -t 1 --out $T/mixed
    same_run "resumed: every file identical" $T/shard-single $T/mixed
    n=$(grep -c "computed a" $T/mixed/sweep.log); s=$(grep -c "skipped" $T/mixed/sweep.log)
    [ "$n" = 3 ] && [ "$s" = 1 ] && ok "resume computed only the unfinished point (3 computations in all, 1 skip)" \
        || bad "resume: $n computations, $s skips"
    err=$(run_mpi 2 sweep --shard-points sometimes $T/shard.ini 2>&1 >/dev/null); rc=$?
    [ $rc = 2 ] && [ "$(echo "$err" | grep -c "shard-points 'sometimes'")" = 1 ] && ok "bad --shard-points: exit 2, one line" \
        || bad "bad --shard-points: exit $rc: $err"
fi

[ $SAN = 1 ] && { finish; exit $?; }
echo "[a rank killed mid-run]"
# rank 1 kills itself (SIGKILL) when it asks for its second point: step 11
# counts rank 1's transport calls (the steps check, lock, extract, load, resume key,
# prepare, scan; rank 0's done flags; the task list) and task requests
err=$(ND_MPI_TEST_KILL=1:11 run_mpi 2 sweep $CFG -t 1 --out $T/sweep-killed 2>&1 >/dev/null); rc=$?
if [ $rc -ne 0 ] && echo "$err" | grep -q "rank 1 .*exited on signal 9"; then
    ok "killed rank: job fails (exit $rc): $(echo "$err" | grep -o 'mpirun noticed.*signal 9[^.]*')"
else bad "killed rank: exit $rc: $(echo "$err" | head -5)"; fi
[ ! -f $T/sweep-killed/sweep.csv ] && ok "killed run wrote no sweep.csv" || bad "killed run wrote sweep.csv"
expect_ok "rerun after the kill" run_mpi 2 sweep $CFG -t 1 --out $T/sweep-killed
same_run "rerun after the kill: identical to one process" $T/sweep-single $T/sweep-killed
twice=$(grep -o 'computed a[^ ]*' $T/sweep-killed/sweep.log | sort | uniq -d)
n=$(grep -c 'computed a' $T/sweep-killed/sweep.log)
[ -z "$twice" ] && ok "no point computed twice over the killed run and the rerun ($n computations, 5 points)" \
    || bad "computed twice: $twice"
finish
