# Smoke test of the kernel features sriov-offload relies on, on the test bed's real kernel:
# SR-IOV on igb (VF creation, igbvf binding, autoprobe off + driver_override), IRQ affinity and
# NUMA locality of a PF on NUMA node 1, bonding of the two igb PFs, netdevsim in switchdev mode
# with representors. (Sourced by the guest after lib.sh; `finish` runs after it.)

P=/sys/bus/pci/devices
ROOT_PF=$(pf_on_numa -1)
NUMA1_PF=$(pf_on_numa 1)
require "two igb PFs: one on the root complex, one on NUMA node 1 (got: $(igb_pfs | tr '\n' ' '))" \
    test -n "$ROOT_PF" -a -n "$NUMA1_PF"
ROOT_DEV=$(netdev_of "$ROOT_PF")
NUMA1_DEV=$(netdev_of "$NUMA1_PF")
log "root complex PF $ROOT_PF ($ROOT_DEV), NUMA node 1 PF $NUMA1_PF ($NUMA1_DEV)"

# --- NUMA locality ---
check_eq "sriov_totalvfs of $ROOT_PF" 7 "$(read_file $P/$ROOT_PF/sriov_totalvfs)"
check_eq "sriov_totalvfs of $NUMA1_PF" 7 "$(read_file $P/$NUMA1_PF/sriov_totalvfs)"
check_eq "numa_node of $NUMA1_PF" 1 "$(read_file $P/$NUMA1_PF/numa_node)"
check_eq "local_cpulist of $NUMA1_PF" 2-3 "$(read_file $P/$NUMA1_PF/local_cpulist)"
check_eq "numa_node of $ROOT_PF (no locality)" -1 "$(read_file $P/$ROOT_PF/numa_node)"
check_eq "local_cpulist of $ROOT_PF (all CPUs)" 0-3 "$(read_file $P/$ROOT_PF/local_cpulist)"

# --- VFs created and bound to igbvf (autoprobe on, the default) ---
vfs_bound() { # PF N: N VFs, each bound to igbvf with a netdev
    [ "$(vfs_of "$1" | wc -l)" -eq "$2" ] || return 1
    for vf in $(vfs_of "$1"); do
        [ "$(driver_of "$vf")" = igbvf ] && [ -n "$(netdev_of "$vf")" ] || return 1
    done
}
t0=$(now_ms)
check "7 VFs created on $ROOT_PF" write_file $P/$ROOT_PF/sriov_numvfs 7
check "all 7 VFs of $ROOT_PF bound to igbvf with a netdev" wait_for 30 vfs_bound "$ROOT_PF" 7
log "7 VFs up in $(elapsed_ms "$t0") ms: $(for vf in $(vfs_of "$ROOT_PF"); do printf '%s=%s ' "$vf" "$(netdev_of "$vf")"; done)"
check "sriov_numvfs 7 -> 3 is refused (EBUSY: non-zero to non-zero)" \
    sh -c "! echo 3 > $P/$ROOT_PF/sriov_numvfs"
check "VFs of $ROOT_PF removed" write_file $P/$ROOT_PF/sriov_numvfs 0
check_eq "no virtfn left on $ROOT_PF" "" "$(vfs_of "$ROOT_PF")"

# --- VFs created with sriov_drivers_autoprobe=0 stay unbound; bound by driver_override ---
check "sriov_drivers_autoprobe=0 on $NUMA1_PF" write_file $P/$NUMA1_PF/sriov_drivers_autoprobe 0
check "3 VFs created on $NUMA1_PF" write_file $P/$NUMA1_PF/sriov_numvfs 3
check "3 virtfn links on $NUMA1_PF" wait_for 10 sh -c "[ \$(ls -d $P/$NUMA1_PF/virtfn* | wc -l) -eq 3 ]"
sleep 1
unbound=0
for vf in $(vfs_of "$NUMA1_PF"); do [ -z "$(driver_of "$vf")" ] && unbound=$((unbound + 1)); done
check_eq "VFs of $NUMA1_PF stay unbound with autoprobe off" 3 "$unbound"
VF0=$(vfs_of "$NUMA1_PF" | head -1)
check_eq "VF $VF0 inherits numa_node 1" 1 "$(read_file $P/$VF0/numa_node)"
check "driver_override=igbvf on $VF0" write_file $P/$VF0/driver_override igbvf
check "drivers_probe of $VF0" write_file /sys/bus/pci/drivers_probe "$VF0"
check_eq "$VF0 bound to igbvf after drivers_probe" igbvf "$(driver_of "$VF0")"
check "$VF0 has a netdev" wait_for 10 sh -c "ls $P/$VF0/net | grep -q ."
check "VFs of $NUMA1_PF removed" write_file $P/$NUMA1_PF/sriov_numvfs 0
write_file $P/$NUMA1_PF/sriov_drivers_autoprobe 1

# --- IRQ affinity on a vector of the NUMA node 1 PF (igb requests its vectors on link up) ---
check "$NUMA1_DEV up" ip link set "$NUMA1_DEV" up
IRQ=
for i in $(msix_irqs "$NUMA1_PF"); do
    ls -d /proc/irq/"$i"/"$NUMA1_DEV"-* >/dev/null 2>&1 && { IRQ=$i; break; }
done
if check "a queue vector of $NUMA1_DEV in /proc/irq (vectors: $(msix_irqs "$NUMA1_PF" | tr '\n' ' '))" test -n "$IRQ"; then
    log "vector $IRQ: $(cd /proc/irq/"$IRQ" && echo "$NUMA1_DEV"-*)"
    check "smp_affinity_list of IRQ $IRQ set to 2-3" write_file /proc/irq/"$IRQ"/smp_affinity_list 2-3
    check_eq "smp_affinity_list of IRQ $IRQ reads back" 2-3 "$(read_file /proc/irq/"$IRQ"/smp_affinity_list)"
    eff=$(read_file /proc/irq/"$IRQ"/effective_affinity_list)
    check "effective affinity of IRQ $IRQ ($eff) within 2-3" sh -c "case '$eff' in 2|3|2-3) ;; *) exit 1 ;; esac"
fi

# --- a bond of the two igb PFs ---
check "bond0 created (active-backup)" ip link add bond0 type bond mode active-backup miimon 100
ip link set "$ROOT_DEV" down
ip link set "$NUMA1_DEV" down
check "$ROOT_DEV enslaved to bond0" ip link set "$ROOT_DEV" master bond0
check "$NUMA1_DEV enslaved to bond0" ip link set "$NUMA1_DEV" master bond0
check "bond0 up" ip link set bond0 up
check_eq "bond0 slaves" "$ROOT_DEV $NUMA1_DEV" "$(read_file /sys/class/net/bond0/bonding/slaves)"
check_eq "bond0 mode" "active-backup 1" "$(read_file /sys/class/net/bond0/bonding/mode)"
check "bond0 has an active slave" wait_for 10 sh -c "[ -n \"\$(cat /sys/class/net/bond0/bonding/active_slave)\" ]"
check "bond0 deleted" ip link del bond0

# --- netdevsim in switchdev with representors ---
NSIM=/sys/bus/netdevsim/devices/netdevsim1
check "netdevsim device 1 with 1 port" write_file /sys/bus/netdevsim/new_device "1 1"
check "netdevsim1 has its port netdev" wait_for 10 sh -c "ls $NSIM/net | grep -q ."
NSIM_PF=$(ls $NSIM/net | head -1)
check "2 VFs on netdevsim1" write_file $NSIM/sriov_numvfs 2
DL=$(basename "$(readlink $NSIM/subsystem)")/netdevsim1
check "devlink eswitch switchdev on $DL" devlink dev eswitch set "$DL" mode switchdev
check_contains "devlink reports switchdev" "mode switchdev" "$(devlink dev eswitch show "$DL" 2>&1)"
PF_SWID=$(read_file /sys/class/net/"$NSIM_PF"/phys_switch_id)
log "netdevsim PF $NSIM_PF: phys_port_name $(read_file /sys/class/net/"$NSIM_PF"/phys_port_name), switch id $PF_SWID"
rep_of() { # phys_port_name -> netdev
    for n in /sys/class/net/*; do
        [ "$(cat "$n/phys_port_name" 2>/dev/null)" = "$1" ] && basename "$n" && return 0
    done
    return 1
}
for port in pf0vf0 pf0vf1; do
    if check "representor $port exists" wait_for 10 rep_of "$port"; then
        rep=$(rep_of "$port")
        check_eq "representor $rep ($port) shares the PF's phys_switch_id" "$PF_SWID" \
            "$(read_file /sys/class/net/"$rep"/phys_switch_id)"
    fi
done
check_eq "devlink ports of $DL with flavour pcivf" 2 "$(devlink port show | grep "^$DL/" | grep -c "flavour pcivf")"
check "netdevsim1 deleted" write_file /sys/bus/netdevsim/del_device 1
