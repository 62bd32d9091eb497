#!/usr/bin/env bash
# bench_mpi.sh - dissect-mpi on 1 and 2 ranks on this machine, and a model of
# 8 to 64 ranks from the measured per-point time and reduction size.
#
#   make mpi && bash bench/bench_mpi.sh [POINT_SECONDS]
#
# Measures (each rank: 1 dissector thread, OPENBLAS_NUM_THREADS=1):
#   - a 9-point sweep on the NetDissect-Lite mini fixture (120 images, 256
#     units; alphas 0, 0.25, 0.5, 0.75, 1 x 2 draws) on 1 and 2 ranks;
#   - `units` (one layer split over image shards) on 1 and 2 ranks, with the
#     bytes each rank puts into reductions (reported by dissect-mpi);
#   - a sweep of sharded points (--shard-points always: alpha 0 and 0.5 x 1
#     draw, every point computed by all ranks, each over its image shard) on
#     1 and 2 ranks, with the per-point times of sweep.log and the bytes
#     rank 0 put into reductions, per point.
# Then models a Broden-scale sweep and a Broden-scale sharded layer on 8..64
# ranks.  POINT_SECONDS (default 31.4, the rotated point of `make bench-full`
# on this machine, bench/README.md) is the single-rank time of one point at
# Broden scale.  Timings on a shared machine are noisy: run it quiet.
set -u
BUILD=${BUILD:-build}
BIN=$PWD/$BUILD/dissect-mpi
SHARED=${ND_SHARED:-$(cd .. && pwd)/shared}
T_POINT_BRODEN=${1:-31.4}
command -v mpirun >/dev/null || { echo "bench_mpi: no mpirun (make deps)"; exit 1; }
[ -x "$BIN" ] || { echo "bench_mpi: no $BIN (make mpi)"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1 ND_QUIET=1
export DATA=$SHARED
FIX=$SHARED/fixtures/netdissect-lite-mini
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
sed -e 's/^alphas = .*/alphas = 0, 0.25, 0.5, 0.75, 1/' experiments/configs/quick-lite-mini.ini >"$T/bench.ini"
sed -i "s|\${DATA}|$SHARED|g" "$T/bench.ini"
P=9
now() { date +%s.%N; }

echo "== dissect-mpi on this machine ($(nproc) cores; 1 thread per rank; load $(cut -d' ' -f1-3 /proc/loadavg))"
declare -A SW UN
for np in 1 2; do
    t0=$(now); mpirun --oversubscribe -np $np "$BIN" sweep "$T/bench.ini" -t 1 --no-plot --out "$T/sw$np" >/dev/null 2>&1 \
        || { echo "sweep on $np ranks failed"; exit 1; }
    SW[$np]=$(echo "$(now) - $t0" | bc -l)
    t0=$(now); mpirun --oversubscribe -np $np "$BIN" units --dataset $FIX/dataset --features $FIX/features.npy \
        --field -64,163,16 --threads 1 --out "$T/un$np" 2>"$T/un$np.err" >/dev/null || { echo "units failed"; exit 1; }
    UN[$np]=$(echo "$(now) - $t0" | bc -l)
    MB[$np]=$(grep -o '[0-9.]* MB per rank' "$T/un$np.err" | cut -d' ' -f1)
    printf "  %d rank(s): sweep of %d points %6.2f s (%.2f s/point)   units %5.2f s, %s MB per rank into reductions\n" \
        $np $P "${SW[$np]}" "$(echo "${SW[$np]} / $P" | bc -l)" "${UN[$np]}" "${MB[$np]}"
done
cmp -s "$T/sw1/sweep.csv" "$T/sw2/sweep.csv" && echo "  sweep.csv identical on 1 and 2 ranks" || echo "  sweep.csv DIFFERS"
sed -e 's/^alphas = .*/alphas = 0, 0.5/' -e 's/^draws = .*/draws = 1/' "$T/bench.ini" >"$T/shard.ini"
declare -A SH SHP SHM
for np in 1 2; do
    t0=$(now); mpirun --oversubscribe -np $np /usr/bin/time -f "rank CPU %U %S" "$BIN" sweep --shard-points always "$T/shard.ini" -t 1 --no-plot \
        --out "$T/sh$np" >/dev/null 2>"$T/sh$np.err" || { echo "sharded sweep on $np ranks failed"; exit 1; }
    SH[$np]=$(echo "$(now) - $t0" | bc -l)
    SHP[$np]=$(grep -o 'a0.5_d0 (seed 1) in [0-9.]* s' "$T/sh$np/sweep.log" | grep -o '[0-9.]* s$' | cut -d' ' -f1)
    SHM[$np]=$(grep -o '[0-9.]* MB from rank 0' "$T/sh$np.err" | cut -d' ' -f1)
    # CPU seconds (user + sys) of each rank over the whole run (MPI's waiting
    # polls count too: on an oversubscribed machine a waiting rank still spins)
    CPU=$(grep '^rank CPU' "$T/sh$np.err" | awk '{printf "%s%.2f", (NR > 1 ? " + " : ""), $3 + $4}')
    printf "  %d rank(s): sharded points: rotated point a0.5_d0 %5.2f s; whole run %5.2f s (CPU s per rank: %s); %s MB from rank 0 into reductions (%.2f MB per point)\n" \
        $np "${SHP[$np]}" "${SH[$np]}" "$CPU" "${SHM[$np]}" "$(echo "${SHM[$np]} / 2" | bc -l)"
done
diff -rq -x sweep.log -x .sweep.lock -x config.effective.ini "$T/sh1" "$T/sh2" >/dev/null \
    && echo "  sharded points: every file identical on 1 and 2 ranks" || echo "  sharded points: files DIFFER"
printf "  sharded rotated point: speed-up of 2 ranks over 1: %.2fx\n" "$(echo "${SHP[1]} / ${SHP[2]}" | bc -l)"
printf "  speed-up 2 ranks / 1 rank: sweep %.2fx, units %.2fx (2 cores shared with other work: noisy)\n" \
    "$(echo "${SW[1]} / ${SW[2]}" | bc -l)" "$(echo "${UN[1]} / ${UN[2]}" | bc -l)"

# ---- model ---------------------------------------------------------------
# Sweep: points are independent; dynamic scheduling gives
#   T(R) = ceil(P / R) * t_point + t_start
# (one point's files are written by its rank; rank 0 writes the tables at
# the end: negligible).  Communication per point: a counter fetch (8 bytes),
# and once per run rank 0's done flags (1 byte per point) and the computed
# points' counts gathered to rank 0 (8 bytes per count: 8*(3+3*C) per point).
# Sharded layer (units, or a sweep point too big for one machine): each rank
# reads N/R images; the reductions per dissection are
#   histograms: per pass a flag per 256 bins (K*65536/256*4 bytes in pass 1,
#               twice that in pass 2) plus the occupied 256-bin blocks -
#               at most 3*K*65536*4 bytes (pass 1 K*256 KB, pass 2 K*512 KB)
#   tally:      8*(L + K*L + K*C + K) bytes (int64), reduced to rank 0
#   maxima:     4*N*K bytes (per-image maxima, summed as bit patterns)
#   rotation:   8*K*K bytes (R broadcast from rank 0; sweep points only)
# modelled as ring allreduces, time 2*V*(R-1)/R / B + 2*log2(R)*lat.
python3 - "$T_POINT_BRODEN" "$(echo "${SW[1]} / $P" | bc -l)" "${MB[1]}" "$(echo "${SHM[2]} / 2" | bc -l)" "${SHP[1]}" <<'EOF'
import math, sys
B, lat, t_start = 1.25e9, 50e-6, 2.0       # 10 GbE bytes/s, latency, job start-up (s)
P = 1 + 10 * 5                             # the demo grid: alpha 0..1 step 0.1 x 5 draws

def table(title, t_point, vol, t_shard):
    print(f"  {title}: {t_point:.2f} s per point on one rank ({t_shard:.2f} s sharded on one rank);"
          f" sharded: {vol/1e6:.2f} MB into reductions per rank")
    print("    ranks | sweep of %d points | efficiency | one point sharded (compute/R + reductions)" % P)
    for R in (1, 8, 16, 32, 64):
        ts = math.ceil(P / R) * t_point + t_start
        eff = P * t_point / (R * (ts - t_start))
        comm = 0 if R == 1 else 2 * vol * (R - 1) / R / B + 4 * math.log2(R) * lat
        print(f"    {R:5d} | {ts:17.1f} s | {eff:10.0%} | {t_shard / R + comm:6.2f} s ({t_shard / R:.2f} + {comm:.3f})")

print(f"== model: T_sweep(R) = ceil(P/R) t_point + {t_start:.0f} s start-up (dynamic scheduling, independent"
      f" points, 8 bytes of communication per point: the task counter);")
print(f"   T_sharded(R) = t_point/R + ring allreduce 2 V (R-1)/R / B + 4 log2(R) latency;"
      f" B = {B/1e9:.2f} GB/s (10 GbE), latency {lat*1e6:.0f} us")
# sharded compute: the measured one-rank time of a sharded rotated point (two
# histogram passes: at 120 images far slower than the whole point's one-pass stream)
table("measured here (mini fixture, 120 images, K = 256)", float(sys.argv[2]), float(sys.argv[4]) * 1e6,
      float(sys.argv[5]))
K, L, C = 256, 1198, 6                     # AlexNet conv5 on Broden, 63,305 images (bench_broden's shape)
N = 63305
vol = 3 * K * 65536 * 4 + 8 * (L + K * L + K * C + K) + 4 * N * K + 8 * K * K  # dense histograms, tally, maxima, R
# sharded compute at Broden scale: t_point, assuming each rank holds its shard's
# rotated copy (11 GB / R <= --rank-memory / 2) -
# one rotation pass; a streamed shard reads three (two histogram passes + tally)
table("Broden scale (t_point from make bench-full, bench/README.md; histogram volume at its dense bound)",
      float(sys.argv[1]), vol, float(sys.argv[1]))
EOF
