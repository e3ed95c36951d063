#!/bin/bash
# Boots the test bed VM once and runs one scenario in it.
#
#   tests/vm/run-scenario.sh [--flavour initramfs|systemd] [--bin-dir DIR] [--timeout S] [-v] SCENARIO
#
# SCENARIO is a shell file (tests/vm/scenarios/NAME.sh); a directory NAME.d/ beside it, if any, is
# copied over the guest's / (extra /etc files, units ...). Files from --bin-dir go to
# /opt/sriov-offload/bin (on PATH). Default flavour: systemd for scenarios under scenarios/systemd/,
# initramfs otherwise. Needs tests/vm/setup.sh to have run.
#
# Prints the scenario's output (and the guest console when it failed or with -v) and exits with
# the scenario's exit status, or:
#   90 the test bed is not set up (no qemu, no cache)   91 boot/scenario timeout (VM killed)
#   92 the VM stopped without reporting SCENARIO_EXIT    93 bad usage
set -uo pipefail
# shellcheck source=tests/vm/common.sh
. "$(dirname "$0")/common.sh"

usage() { sed -n '2,16s/^# \{0,1\}//p' "$0" >&2; exit 93; }
FLAVOUR='' BIN_DIR='' TIMEOUT=${SRIOV_TESTBED_TIMEOUT:-} VERBOSE=${SRIOV_TESTBED_VERBOSE:-0} SCENARIO=''
while [ $# -gt 0 ]; do
    case $1 in
    --flavour) FLAVOUR=$2; shift 2 ;;
    --bin-dir) BIN_DIR=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    -v | --verbose) VERBOSE=1; shift ;;
    -h | --help) usage ;;
    -*) echo "unknown option $1" >&2; usage ;;
    *) [ -z "$SCENARIO" ] || usage; SCENARIO=$1; shift ;;
    esac
done
[ -n "$SCENARIO" ] && [ -f "$SCENARIO" ] || { echo "testbed: no scenario file '${SCENARIO}'" >&2; usage; }
SCENARIO=$(realpath "$SCENARIO")
NAME=$(basename "$SCENARIO" .sh)
if [ -z "$FLAVOUR" ]; then
    case $SCENARIO in */scenarios/systemd/*) FLAVOUR=systemd ;; *) FLAVOUR=initramfs ;; esac
fi
case $FLAVOUR in initramfs | systemd) ;; *) echo "testbed: unknown flavour $FLAVOUR" >&2; exit 93 ;; esac
[ -z "$BIN_DIR" ] || [ -d "$BIN_DIR" ] || { echo "testbed: --bin-dir $BIN_DIR is not a directory" >&2; exit 93; }

notready() { echo "testbed: not set up: $* (run tests/vm/setup.sh as root)" >&2; exit 90; }
QEMU=$(command -v qemu-system-x86_64) || notready "qemu-system-x86_64 not found"
KVER=$(current_kver) || notready "no cache in $CACHE"
KDIR=$CACHE/$KVER
KERNEL=$KDIR/vmlinuz
if [ "$FLAVOUR" = initramfs ]; then
    PARTS=("$KDIR/initramfs.cpio.gz")
    MEM_NODE=512
    RDINIT=/init
    : "${TIMEOUT:=300}"
else
    PARTS=("$CACHE/debootstrap-bookworm.cpio.gz" "$KDIR/systemd-kernel.cpio.gz")
    MEM_NODE=1024
    RDINIT=/lib/systemd/systemd
    : "${TIMEOUT:=600}"
fi
for f in "$KERNEL" "${PARTS[@]}"; do [ -s "$f" ] || notready "missing $f"; done
# a scenario may ask for more time: a line "# vm-timeout: SECONDS"
t=$(sed -n 's/^# vm-timeout: *\([0-9]\+\).*/\1/p' "$SCENARIO" | head -1)
[ -n "$t" ] && [ -z "${SRIOV_TESTBED_TIMEOUT:-}" ] && TIMEOUT=$t

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sriov-testbed-$NAME.XXXXXX")
[ "${SRIOV_TESTBED_KEEP:-0}" = 1 ] || trap 'rm -rf "$WORK"' EXIT

# --- per-run overlay: scenario, lib.sh, binaries (+ any shared library the base lacks) ---
OV=$WORK/overlay
D=$OV/opt/sriov-offload
mkdir -p "$D/bin"
# "# vm-debs: PKG..." installs packages: their files go into the overlay at the package's paths
# (dpkg-deb -x; /lib, /sbin, /bin moved under /usr, the guest is merged-/usr) and the .debs to
# /opt/sriov-offload/debs. `sriov-offload` is this project's .deb, built now by debian/build-deb.sh from
# the --bin-dir binaries; other names are .debs cached by mk-systemd.sh ($CACHE/debs).
for pkg in $(sed -n 's/^# vm-debs: *//p' "$SCENARIO" | head -1); do
    mkdir -p "$D/debs"
    if [ "$pkg" = sriov-offload ]; then
        command -v cargo-deb >/dev/null || notready "cargo-deb not installed (cargo install cargo-deb)"
        [ -n "$BIN_DIR" ] || { echo "testbed: vm-debs: sriov-offload needs --bin-dir" >&2; exit 93; }
        mkdir -p "$WORK/target/release"
        for b in "$BIN_DIR"/*; do
            [ -f "$b" ] && [ -x "$b" ] || continue
            cp "$b" "$WORK/target/release/"
            strip --strip-debug "$WORK/target/release/${b##*/}" 2>/dev/null || true
        done
        # debian/build-deb.sh: man pages and completions from the binaries, then cargo-deb
        (cd "$TESTBED_DIR/../.." && CARGO_TARGET_DIR=$WORK/target SRIOV_DEB_NO_BUILD=1 \
            debian/build-deb.sh --offline --no-strip --fast -q -o "$D/debs/") >"$WORK/cargo-deb.log" 2>&1 ||
            { cat "$WORK/cargo-deb.log" >&2; echo "testbed: cargo deb failed" >&2; exit 93; }
        deb=$(ls "$D"/debs/sriov-offload_*.deb)
    else
        deb=$(ls -t "$CACHE/debs/${pkg}"_*.deb 2>/dev/null | head -1)
        [ -n "$deb" ] || notready "no cached $pkg .deb in $CACHE/debs"
        cp "$deb" "$D/debs/"
    fi
    x=$WORK/deb-$pkg
    dpkg-deb -x "$deb" "$x"
    for dir in bin sbin lib lib64; do
        [ -d "$x/$dir" ] && [ ! -L "$x/$dir" ] || continue
        mkdir -p "$x/usr/$dir"
        cp -a "$x/$dir/." "$x/usr/$dir/"
        rm -rf "${x:?}/$dir"
    done
    cp -a "$x/." "$OV/"
done
scen_dir=${SCENARIO%.sh}.d
[ -d "$scen_dir" ] && cp -a "$scen_dir/." "$OV/"
cp "$SCENARIO" "$D/scenario.sh"
# helpers shared by the scenarios of a directory: its lib/ (not a scenario: no .sh beside them)
[ -d "$(dirname "$SCENARIO")/lib" ] && cp -a "$(dirname "$SCENARIO")/lib" "$D/"
cp "$TESTBED_DIR/lib.sh" "$D/lib.sh"
echo "$NAME" >"$D/name"
if [ -n "$BIN_DIR" ]; then
    for b in "$BIN_DIR"/*; do
        [ -f "$b" ] && [ -x "$b" ] || continue
        cp "$b" "$D/bin/"
        # debug builds carry ~45 MB of DWARF each: drop it (symbols stay for backtraces)
        [ "${SRIOV_TESTBED_NOSTRIP:-0}" = 1 ] || strip --strip-debug "$D/bin/${b##*/}" 2>/dev/null || true
        ldd "$b" 2>/dev/null | awk '/=> \// {print $3}'
    done | sort -u | while read -r lib; do
        real=$(realpath "$lib")
        if ! grep -qxF ".$real" "${PARTS[0]%.cpio.gz}.files"; then
            mkdir -p "$OV$(dirname "$real")"
            cp "$real" "$OV$real"
            base=$(basename "$lib")
            [ "$base" = "$(basename "$real")" ] || ln -sf "$(basename "$real")" "$OV$(dirname "$real")/$base"
        fi
    done
fi
# test-only kernel modules setup.sh builds out of tree, for scenarios to insmod (not loaded at
# boot): the firmware-bound probe model
if [ -f "$KDIR/probe-model/slowprobe.ko" ]; then
    mkdir -p "$D/modules"
    cp "$KDIR/probe-model/slowprobe.ko" "$D/modules/"
fi
(cd "$OV" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$WORK/overlay.cpio"
# Concatenated archives: the kernel looks for an uncompressed one only at a 4-byte boundary.
for p in "${PARTS[@]}" "$WORK/overlay.cpio"; do
    cat "$p"
    head -c $(((4 - $(stat -c %s "$p") % 4) % 4)) /dev/zero
done >"$WORK/initrd"

# --- the VM: q35, TCG, 4 vCPUs in 2 NUMA nodes, two igb NICs (SR-IOV, 7 VFs each) ---
# eth0: igb on the root complex, 0000:01:00.0, numa_node -1
# eth1: igb behind a pxb-pcie on NUMA node 1, 0000:81:00.0, numa_node 1 (local_cpulist 2-3)
# Both NICs hang on one QEMU hub, so they can reach each other.
APPEND="console=ttyS0,115200 net.ifnames=0 panic=-1 rdinit=$RDINIT"
[ "$FLAVOUR" = systemd ] && APPEND+=" systemd.unit=multi-user.target systemd.show_status=1"
touch "$WORK/console.log" "$WORK/report.log"
T0=$(date +%s.%N)
timeout --kill-after=10 "$TIMEOUT" "$QEMU" \
    -nodefaults -no-user-config -display none -no-reboot \
    -machine q35 -accel "tcg,thread=${SRIOV_TESTBED_TCG_THREAD:-single}" -cpu max \
    -smp 4,sockets=2,cores=2,threads=1 -m $((2 * MEM_NODE))M \
    -object memory-backend-ram,id=mem0,size=${MEM_NODE}M \
    -object memory-backend-ram,id=mem1,size=${MEM_NODE}M \
    -numa node,nodeid=0,cpus=0-1,memdev=mem0 \
    -numa node,nodeid=1,cpus=2-3,memdev=mem1 \
    -kernel "$KERNEL" -initrd "$WORK/initrd" -append "$APPEND" \
    -serial "file:$WORK/console.log" -serial "file:$WORK/report.log" \
    -netdev hubport,id=hp0,hubid=0 -netdev hubport,id=hp1,hubid=0 \
    -device pcie-root-port,id=rp0,bus=pcie.0,chassis=1,slot=1,addr=0x2 \
    -device igb,id=nic0,bus=rp0,netdev=hp0,mac=52:54:00:12:34:10,romfile= \
    -device pxb-pcie,id=pxb1,bus=pcie.0,bus_nr=128,numa_node=1,addr=0x3 \
    -device pcie-root-port,id=rp1,bus=pxb1,chassis=2,slot=1,addr=0x0 \
    -device igb,id=nic1,bus=rp1,netdev=hp1,mac=52:54:00:12:34:11,romfile= \
    >"$WORK/qemu.log" 2>&1 </dev/null &
QPID=$!
# Under TCG a vCPU sometimes stops getting its timer interrupts: the guest reports RCU stalls
# and then limps or hangs until the timeout. Stop at the first report instead (exit 91, the
# console says why; tests/vm.rs boots once more only in that case).
(
    # grep's status alone (pipefail would make it tail's, which ends by SIGPIPE)
    if grep -a -m1 -q 'rcu: INFO: rcu_preempt detected stalls' < <(tail -n +1 -F "$WORK/console.log" 2>/dev/null); then
        touch "$WORK/stalled"
        kill "$QPID" 2>/dev/null
    fi
) &
WPID=$!
wait "$QPID"
QRC=$?
pkill -P "$WPID" 2>/dev/null
kill "$WPID" 2>/dev/null
wait "$WPID" 2>/dev/null
SECS=$(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $T0}")

tr -d '\r' <"$WORK/report.log" >"$WORK/report.txt"
EXIT_LINE=$(grep -a '^SCENARIO_EXIT=' "$WORK/report.txt" | tail -1)
if [ -e "$WORK/stalled" ]; then
    RC=91 WHY="guest RCU stall (emulated vCPU starved of timer interrupts): VM stopped"
elif [ $QRC -eq 124 ] || [ $QRC -eq 137 ]; then
    RC=91 WHY="timeout: VM killed after ${TIMEOUT}s"
elif [ -z "$EXIT_LINE" ]; then
    RC=92 WHY="the VM stopped (qemu status $QRC) without reporting SCENARIO_EXIT"
else
    RC=${EXIT_LINE#SCENARIO_EXIT=}
    case $RC in '' | *[!0-9]*) WHY="bad exit line '$EXIT_LINE'"; RC=92 ;; *) WHY="scenario exit status $RC" ;; esac
fi
if [ "$RC" != 0 ] || [ "$VERBOSE" = 1 ]; then
    echo "----- guest console ($FLAVOUR, kernel $KVER) -----"
    tr -d '\r' <"$WORK/console.log"
    if [ -s "$WORK/qemu.log" ]; then
        echo "----- qemu -----"
        cat "$WORK/qemu.log"
    fi
fi
echo "----- scenario $NAME ($FLAVOUR guest) -----"
cat "$WORK/report.txt"
echo "----- testbed: $NAME: $WHY; boot+scenario ${SECS}s -----"
exit "$RC"
