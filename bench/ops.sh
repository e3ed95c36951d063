#!/bin/bash
# The operator tool's cost (issue 15): `sriov-offload status` and `check` on a fixture tree of a
# configured mlx5 host with 256 VFs (2 PFs x 128, switchdev, every VF bound with its netdev and
# representor: 514 netdevs, 528 queue IRQs), release build, spawn to exit as bench-helper
# measures it (N runs after 3 warm-up runs). Targets: status <= 50 ms, check <= 100 ms.
#
#   bench/ops.sh            (any user; builds the release binaries and bench-helper)
#
# Knobs: BENCH_OPS_N (50 runs), BENCH_OPS_PFS (2), BENCH_OPS_VFS (128 per PF). Not part of CI:
# a number from a shared 2-core machine is a reading, not a test.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
N=${BENCH_OPS_N:-50} PFS=${BENCH_OPS_PFS:-2} VFS=${BENCH_OPS_VFS:-128}
cargo build --release --bin sriov-offload >&2
cargo build --release --manifest-path bench/helper/Cargo.toml >&2
R=$CARGO_TARGET_DIR/release
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
python3 bench/ops_tree.py "$tree" "$PFS" "$VFS"
export SRIOV_OFFLOAD_ROOT=$tree
echo "fixture: $PFS PFs x $VFS VFs = $((PFS * VFS)) VFs, $(ls "$tree/sys/class/net" | wc -l) netdevs," \
    "$(($(wc -l <"$tree/proc/interrupts") - 1)) IRQs; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
"$R/sriov-offload" status >/dev/null && echo "status exits 0 on the tree (it matches the config)"
for c in "status" "status --json" "check" "plan"; do
    # shellcheck disable=SC2086
    echo "sriov-offload $c: $("$R/bench-helper" stats "$N" -- "$R/sriov-offload" $c)"
done
