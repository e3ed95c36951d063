# Fault injection on a real kernel: each fault gives a clear error, exit 1 (failed) or 3 (timed
# out), the failed marker and no ready marker, and no VF in use is touched. A guest VF on the
# NUMA-node-1 PF stays up throughout and must survive every fault.

igb_pair
mkdir -p /etc/sriov-offload
CFG=/etc/sriov-offload/config.toml

# the "guest": 2 VFs on S2, one netdev up
write_file $P/$NUMA1_PF/sriov_numvfs 2
require "guest VFs on $S2 bound" wait_for 20 sh -c "[ -n \"\$(ls $P/$(vfs_of $NUMA1_PF | head -1)/net 2>/dev/null)\" ]"
GUEST_VF=$(vfs_of "$NUMA1_PF" | head -1)
GUEST_DEV=$(netdev_of "$GUEST_VF")
ip link set "$GUEST_DEV" up
guest_ok() {
    [ "$(read_file $P/$NUMA1_PF/sriov_numvfs)" = 2 ] && [ "$(netdev_of "$GUEST_VF")" = "$GUEST_DEV" ] &&
        [ "$(driver_of "$GUEST_VF")" = igbvf ] && ip link show "$GUEST_DEV" | grep -q "UP"
}

# expect_fault NAME EXIT NEEDLE: runs `vf-post` (config already written), checks exit, message,
# markers and the guest VF.
expect_fault() {
    rm -f /run/sriov-offload/ready /run/sriov-offload/failed
    out=$(vf-post 2>&1)
    rc=$?
    check_eq "$1: exit $2" "$2" "$rc" || echo "$out" | sed 's/^/#   | /'
    check_contains "$1: message" "$3" "$out"
    check "$1: failed marker" test -e /run/sriov-offload/failed
    check "$1: no ready marker" test ! -e /run/sriov-offload/ready
    check "$1: guest VF $GUEST_DEV untouched" guest_ok
}

guest_pf_cfg="
[[pf]]
match = { name = \"$S2\" }
vfs = 2
"

# 1. the VF driver is not loaded (unloading igbvf would take the guest's VF with it: use a
#    VF driver the guest has not loaded)
DRV=ixgbevf
check "$DRV is not loaded" test ! -e /sys/bus/pci/drivers/$DRV
cat >$CFG <<EOF
[defaults]
timeout = "5s"
[[pf]]
match = { name = "$S1" }
vfs = 2
bind = "$DRV"
EOF
expect_fault "VF driver not loaded" 1 "cannot bind VFs to $DRV: the driver is not loaded (/sys/bus/pci/drivers/$DRV is missing)"
write_file $P/$ROOT_PF/sriov_numvfs 0
write_file $P/$ROOT_PF/sriov_drivers_autoprobe 1

# 2. eswitch change refused: igb has no eswitch
cat >$CFG <<EOF
[defaults]
timeout = "5s"
[[pf]]
match = { name = "$S1" }
vfs = 2
eswitch = "switchdev"
$guest_pf_cfg
EOF
expect_fault "eswitch refused" 1 "$S1: eswitch = switchdev is configured but $S1 has no eswitch"
check_eq "nothing written to $S1 when the plan is refused" 0 "$(read_file $P/$ROOT_PF/sriov_numvfs)"

# 3. a count change while the guest's VF is up: refused, nothing reset
cat >$CFG <<EOF
[[pf]]
match = { name = "$S2" }
vfs = 4
EOF
expect_fault "VFs in use" 1 "netdev $GUEST_DEV is up"
# the same refusal on a host that is ready: nothing changes, not even a marker
mkdir -p /run/sriov-offload
printf '{"boot_id":"%s","time":1}' "$(cat /proc/sys/kernel/random/boot_id)" >/run/sriov-offload/ready
rm -f /run/sriov-offload/failed
ready_before=$(cat /run/sriov-offload/ready)
out=$(vf-pre 2>&1)
check_eq "refusal on a ready host: exit 1" 1 "$?" || echo "$out" | sed 's/^/#   | /'
check_eq "refusal on a ready host: ready byte-identical" "$ready_before" "$(cat /run/sriov-offload/ready)"
check "refusal on a ready host: no failed marker" test ! -e /run/sriov-offload/failed
check "refusal on a ready host: guest VF $GUEST_DEV untouched" guest_ok
# a VF netdev moved into another network namespace (a container) is in use too, although
# this namespace no longer sees it
VF2=$(vfs_of "$NUMA1_PF" | sed -n 2p)
DEV2=$(netdev_of "$VF2")
mkdir -p /run/netns
ip netns add pod
ip link set "$DEV2" netns pod
out=$(vf-pre 2>&1)
check_eq "VF netdev in a container: exit 1" 1 "$?"
check_contains "VF netdev in a container: refusal names it" "VF 1 is bound to igbvf with no netdev in this network namespace" "$out"
check_eq "VF netdev in a container: still 2 VFs" 2 "$(read_file $P/$NUMA1_PF/sriov_numvfs)"
ip -n pod link set "$DEV2" netns 1
ip netns del pod

# 4. a representor that never appears: netdevsim in switchdev with 2 VFs, the representor of
#    VF 1 moved to another network namespace, so this namespace never sees it
mkdir -p /run/netns
ip netns add hidden
write_file /sys/bus/netdevsim/new_device "1 1"
wait_for 10 sh -c "ls /sys/bus/netdevsim/devices/netdevsim1/net | grep -q ."
NSIM=$(ls /sys/bus/netdevsim/devices/netdevsim1/net | head -1)
write_file /sys/bus/netdevsim/devices/netdevsim1/sriov_numvfs 2
devlink dev eswitch set netdevsim/netdevsim1 mode switchdev
rep_of() { grep -lx "$1" /sys/class/net/*/phys_port_name 2>/dev/null | cut -d/ -f5; }
wait_for 10 rep_of pf0vf1
REP1=$(rep_of pf0vf1)
require "representor of VF 1 ($REP1) moved to netns hidden" ip link set "$REP1" netns hidden
cat >$CFG <<EOF
[defaults]
timeout = "3s"
[[pf]]
match = { name = "$NSIM" }
vfs = 2
eswitch = "switchdev"
$guest_pf_cfg
EOF
t0=$(now_ms)
expect_fault "representor never appears" 3 "waiting for representors of $NSIM; missing: representor of VF 1"
el=$(elapsed_ms "$t0")
check "the timeout took about the configured 3 s ($el ms)" sh -c "[ $el -ge 2900 ] && [ $el -lt 8000 ]"

# 5. VF LAG over two ports that are not one NIC (the two igb PFs): refused before anything
#    is written, instead of waiting for a LAG that can never become active
write_file $P/$ROOT_PF/sriov_numvfs 0
ip link add bond0 type bond mode active-backup miimon 100
cat >$CFG <<EOF
[defaults]
timeout = "2s"
[[pf]]
match = { name = "$S1" }
vfs = 1
[[bond]]
name = "bond0"
slaves = ["$S1", "$S2"]
vf_lag = true
$guest_pf_cfg
EOF
expect_fault "VF LAG over two NICs" 1 "vf_lag needs the two ports of one NIC"
check_eq "nothing written to $S1 for a LAG that cannot be" 0 "$(read_file $P/$ROOT_PF/sriov_numvfs)"

# 6. a bond slave that never joins (systemd-networkd enslaves after network.target, vf-post
#    waits for it): bond0 exists, $S1 is not in it
cat >$CFG <<EOF
[defaults]
timeout = "2s"
[[pf]]
match = { name = "$S1" }
vfs = 1
[[bond]]
name = "bond0"
slaves = ["$S1"]
$guest_pf_cfg
EOF
t0=$(now_ms)
expect_fault "bond slave never joins" 3 "waiting for bond0 to enslave $S1; missing: $S1 (not enslaved)"
el=$(elapsed_ms "$t0")
check "the enslavement wait took about the configured 2 s ($el ms)" sh -c "[ $el -ge 1900 ] && [ $el -lt 7000 ]"
ip link del bond0

# 7. the PF disappears mid-run: netdevsim deleted while vf-post waits for the hidden
#    representor (deadline 60 s)
cat >$CFG <<EOF
[defaults]
timeout = "60s"
[[pf]]
match = { name = "$NSIM" }
vfs = 2
eswitch = "switchdev"
EOF
rm -f /run/sriov-offload/ready /run/sriov-offload/failed
vf-post >/tmp/gone.log 2>&1 &
VPID=$!
check "vf-post has taken the lock of netdevsim1" wait_for 10 test -e /run/sriov-offload/lock/netdevsim1
t0=$(now_ms)
write_file /sys/bus/netdevsim/del_device 1
wait $VPID
rc=$?
el=$(elapsed_ms "$t0")
check_eq "PF gone mid-run: exit 1" 1 "$rc" || sed 's/^/#   | /' /tmp/gone.log
check_contains "PF gone mid-run: the error names it" "$NSIM" "$(cat /tmp/gone.log)"
check "PF gone mid-run: noticed at once, not at the 60 s deadline ($el ms)" sh -c "[ $el -lt 10000 ]"
check "PF gone mid-run: failed marker" test -e /run/sriov-offload/failed
check "guest VF $GUEST_DEV untouched at the end" guest_ok

# 8. the kernel refuses a sysfs write: netdevsim allows 4 VFs (no sriov_totalvfs to check
#    against beforehand), so writing 6 to sriov_numvfs fails (ENOMEM); the error names the file
write_file /sys/bus/netdevsim/new_device "3 1"
wait_for 10 sh -c "ls /sys/bus/netdevsim/devices/netdevsim3/net | grep -q ."
NSIM=$(ls /sys/bus/netdevsim/devices/netdevsim3/net | head -1)
cat >$CFG <<EOF2
[defaults]
timeout = "5s"
[[pf]]
match = { name = "$NSIM" }
vfs = 6
$guest_pf_cfg
EOF2
expect_fault "sriov_numvfs write refused" 1 "writing \"6\" to /sys/devices/netdevsim3/sriov_numvfs"
check_eq "$NSIM left with 0 VFs" 0 "$(read_file /sys/bus/netdevsim/devices/netdevsim3/sriov_numvfs)"
