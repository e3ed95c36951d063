#!/bin/bash
# Boot-time benchmark (issues 8 and 17): the seed's bond.offload.pre/post, ours (vf-pre + vf-post)
# and the kernel floor (raw sysfs writes) side by side in ONE boot of the test bed VM (tests/vm),
# plus per-VF costs, parallel binding, wait-offload's wake-up, start-up, peak RSS and sleep calls;
# then the same with the test bed's firmware-bound probe model (tests/vm/probe-model): seed,
# sequential and parallel floors, ours with probe_jobs 1/2/4/auto, and a scaling table.
# Writes bench/results.md and prints it; the guest's raw output goes to bench/last-run.log.
#
#   bench/run.sh            (as root on Debian bookworm, like tests/vm/demo.sh)
#
# Knobs (environment): BENCH_REPS (5 rounds of the three flows), BENCH_WAKE_N (60),
# BENCH_SEED_WAKE_N (8), BENCH_STARTUP_N (60), BENCH_EXP_REPS (5); slow probe: BENCH_SLOW_REPS (5),
# BENCH_SLOW_DELAY (300 ms), BENCH_SCALE_REPS (3), BENCH_SCALE_DELAYS ("100 300 1000");
# BENCH_ONLY=slow runs only the slow-probe sections and prints the guest output (results.md and
# the logs stay as they are). Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v python3 >/dev/null || { echo "bench/run.sh: needs python3 (for the table)" >&2; exit 1; }
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
tests/vm/setup.sh >&2
cargo build --release --bins >&2
cargo build --release --manifest-path bench/helper/Cargo.toml >&2

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$work/bench.d/opt/bench" "$work/bench.d/etc/bench"
for b in vf-pre vf-post wait-offload irq-tune bench-helper; do cp "$CARGO_TARGET_DIR/release/$b" "$work/bin/"; done
cp -r bench/seed bench/floor "$work/bench.d/opt/bench/"
cp bench/etc/ours.toml "$work/bench.d/etc/bench/"
{
    sed -n '1p' bench/guest.sh # the vm-timeout line
    echo "REPS=${BENCH_REPS:-5} WAKE_N=${BENCH_WAKE_N:-60} SEED_WAKE_N=${BENCH_SEED_WAKE_N:-8}"
    echo "STARTUP_N=${BENCH_STARTUP_N:-60} EXP_REPS=${BENCH_EXP_REPS:-5}"
    echo "SLOW_REPS=${BENCH_SLOW_REPS:-5} SLOW_DELAY=${BENCH_SLOW_DELAY:-300} SCALE_REPS=${BENCH_SCALE_REPS:-3}"
    echo "SCALE_DELAYS='${BENCH_SCALE_DELAYS:-100 300 1000}' ONLY=${BENCH_ONLY:-}"
    sed '1d' bench/guest.sh
} >"$work/bench.sh"
if [ "${BENCH_ONLY:-}" = slow ]; then
    rc=0
    tests/vm/run-scenario.sh --bin-dir "$work/bin" "$work/bench.sh" || rc=$?
    exit $rc
fi

# start-up on the build host itself (no emulation): the same spawn → wait4 measurement
R=$CARGO_TARGET_DIR/release
: >"$work/empty.toml"
for c in "bench-helper noop" "vf-pre --config $work/empty.toml" "vf-post --config $work/empty.toml" \
    "irq-tune --config $work/empty.toml" "vf-pre --help" "wait-offload --help"; do
    set -- $c
    b=$1
    shift
    echo "H $b:${1:-} $("$R/bench-helper" stats 200 -- "$R/$b" "$@")"
done | sed "s|$work/empty.toml|EMPTY|" >bench/host-startup.log
# wait-offload's wake-up on the host too (a fixture root: real inotify, no emulation)
root=$work/root
mkdir -p "$root/proc/sys/kernel/random" "$root/run/sriov-offload"
cp /proc/sys/kernel/random/boot_id "$root/proc/sys/kernel/random/boot_id"
echo "H wait-offload:wake(marker→exit) $(SRIOV_OFFLOAD_ROOT=$root "$R/bench-helper" wake 100 "$root/run/sriov-offload" -- "$R/wait-offload" --timeout 60s)" >>bench/host-startup.log

echo "before: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min load), $(pgrep -c qemu-system || true) VM(s) running" >bench/host-load.log
rc=0
tests/vm/run-scenario.sh --bin-dir "$work/bin" "$work/bench.sh" >"$work/out.log" 2>&1 || rc=$?
cp "$work/out.log" bench/last-run.log
echo "after: $(cut -d' ' -f1-3 /proc/loadavg)" >>bench/host-load.log
if [ $rc != 0 ]; then
    cat "$work/out.log"
    echo "bench/run.sh: the guest run failed (status $rc); see above" >&2
    exit $rc
fi
python3 bench/report.py bench/last-run.log bench/host-startup.log bench/host-load.log >bench/results.md
cat bench/results.md
