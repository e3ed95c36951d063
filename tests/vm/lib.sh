# Helpers for test bed scenarios (tests/vm/scenarios/*.sh). Sourced by the guest before the
# scenario; the scenario is then sourced too and `finish` runs after it. POSIX sh: runs under
# busybox sh (initramfs guest) and dash (systemd guest). See tests/vm/README.md.
#
# Output is TAP-like: "ok N - what" / "not ok N - what" followed by the failing command's output.
# `finish` exits 1 if any check failed, 0 otherwise.

export PATH=/opt/sriov-offload/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
T_COUNT=0
T_FAILED=0
T_START_MS=

# busybox sh runs its own applets before PATH: make iproute2's tools win by full path.
ip() { /usr/sbin/ip "$@"; }
devlink() { /usr/sbin/devlink "$@"; }
tc() { /usr/sbin/tc "$@"; }
bridge() { /usr/sbin/bridge "$@"; }

# milliseconds since boot (busybox date has no %N)
now_ms() {
    read -r _up _ </proc/uptime
    _cs=${_up%.*}${_up#*.}
    _cs=${_cs#"${_cs%%[!0]*}"}
    echo $((${_cs:-0} * 10))
}
T_START_MS=$(now_ms)

# elapsed_ms SINCE_MS: milliseconds since SINCE_MS (a now_ms value)
elapsed_ms() { echo $(($(now_ms) - $1)); }

log() { echo "# $*"; }

pass() {
    T_COUNT=$((T_COUNT + 1))
    echo "ok $T_COUNT - $*"
}

# fail "what went wrong": a failed check without a command
fail() {
    T_COUNT=$((T_COUNT + 1))
    T_FAILED=$((T_FAILED + 1))
    echo "not ok $T_COUNT - $*"
    return 1
}

# check "description" cmd args...: runs cmd, passes if it exits 0; shows its output on failure.
# Returns cmd's status, so `check ... || return` / `|| finish` stop early where needed.
check() {
    _desc=$1
    shift
    _out=$("$@" 2>&1)
    _rc=$?
    if [ $_rc -eq 0 ]; then
        pass "$_desc"
    else
        fail "$_desc"
        echo "#   command: $*"
        echo "#   exit status: $_rc"
        [ -n "$_out" ] && printf '%s\n' "$_out" | sed 's/^/#   | /'
    fi
    return $_rc
}

# require "description" cmd args...: like check, but ends the scenario when it fails.
require() { check "$@" || finish; }

# check_eq "description" EXPECTED ACTUAL
check_eq() {
    if [ "$2" = "$3" ]; then
        pass "$1"
    else
        fail "$1"
        echo "#   expected: '$2'"
        echo "#   actual:   '$3'"
        return 1
    fi
}

# check_contains "description" NEEDLE HAYSTACK
check_contains() {
    case "$3" in
    *"$2"*) pass "$1" ;;
    *)
        fail "$1"
        echo "#   expected to contain: '$2'"
        echo "#   actual: '$3'"
        return 1
        ;;
    esac
}

# wait_for TIMEOUT_S cmd args...: polls cmd every 0.1 s until it succeeds; 1 on timeout.
wait_for() {
    _deadline=$(($(now_ms) + $1 * 1000))
    shift
    while ! "$@" >/dev/null 2>&1; do
        [ "$(now_ms)" -ge "$_deadline" ] && return 1
        sleep 0.1
    done
}

# wait_for_file PATH [TIMEOUT_S=10]: waits until PATH exists.
wait_for_file() { wait_for "${2:-10}" test -e "$1"; }

# read_file PATH: contents of a sysfs/proc file ("<missing>" if it cannot be read)
read_file() { cat "$1" 2>/dev/null || echo "<missing>"; }

# write_file PATH VALUE: writes VALUE to PATH, reporting the error (e.g. EBUSY) on failure.
write_file() { echo "$2" >"$1"; }

# --- devices of the test bed VM ---

# igb_pfs: PCI addresses of the igb physical functions, one per line
igb_pfs() {
    for d in /sys/bus/pci/devices/*; do
        [ -e "$d/sriov_totalvfs" ] && [ "$(basename "$(readlink "$d/driver")")" = igb ] && basename "$d"
    done
}
# pf_on_numa NODE: the igb PF whose numa_node is NODE (-1 = root complex)
pf_on_numa() {
    for p in $(igb_pfs); do
        [ "$(cat /sys/bus/pci/devices/$p/numa_node)" = "$1" ] && echo "$p" && return 0
    done
    return 1
}
# igb_pair: the test bed's two igb PFs: sets P (the PCI devices dir), ROOT_PF and NUMA1_PF
# (PCI addresses: root complex, NUMA node 1) and S1, S2 (their netdevs), or ends the scenario.
igb_pair() {
    P=/sys/bus/pci/devices
    ROOT_PF=$(pf_on_numa -1)
    NUMA1_PF=$(pf_on_numa 1)
    require "two igb PFs" test -n "$ROOT_PF" -a -n "$NUMA1_PF"
    S1=$(netdev_of "$ROOT_PF")
    S2=$(netdev_of "$NUMA1_PF")
}
# netdev_of BDF: the network interface name of a PCI function (empty if none)
netdev_of() { ls "/sys/bus/pci/devices/$1/net" 2>/dev/null | head -1; }
# driver_of BDF: the bound driver's name (empty if unbound)
driver_of() { [ -e "/sys/bus/pci/devices/$1/driver" ] && basename "$(readlink "/sys/bus/pci/devices/$1/driver")"; }
# vfs_of BDF: PCI addresses of the PF's VFs, in virtfn order
vfs_of() {
    _n=0
    while [ -e "/sys/bus/pci/devices/$1/virtfn$_n" ]; do
        basename "$(readlink "/sys/bus/pci/devices/$1/virtfn$_n")"
        _n=$((_n + 1))
    done
}
# msix_irqs BDF: IRQ numbers of the function's MSI/MSI-X vectors
msix_irqs() { ls "/sys/bus/pci/devices/$1/msi_irqs" 2>/dev/null | sort -n; }

# load_probe_model [PARAM=VALUE...]: loads the firmware-bound probe model (tests/vm/probe-model:
# PCI driver "slowprobe", binds only through driver_override, its probe sleeps delay_ms) with
# these parameters, or ends the scenario. Parameters: /sys/module/slowprobe/parameters/.
load_probe_model() {
    require "probe model module present (tests/vm/setup.sh builds it)" test -f /opt/sriov-offload/modules/slowprobe.ko
    require "probe model loaded ($*)" insmod /opt/sriov-offload/modules/slowprobe.ko "$@"
}

finish() {
    if [ "$T_FAILED" -gt 0 ]; then
        echo "# FAILED: $T_FAILED of $T_COUNT checks failed ($(elapsed_ms "$T_START_MS") ms)"
        exit 1
    fi
    echo "# passed: $T_COUNT checks ($(elapsed_ms "$T_START_MS") ms)"
    exit 0
}
