# irq-tune on a real kernel: the igb PF behind the NUMA-node-1 bridge gets its queue IRQs on
# CPUs 2-3 only (its local_cpulist), the PF on the root bus (numa_node -1) is spread over all
# online CPUs and the log says why; VF netdevs (igbvf) are tuned too; channels and rings are
# clamped to the device maxima through ethtool netlink; a channel change re-creates igb's
# vectors and the new ones are placed in the same run; XPS follows the IRQs; a second run
# writes nothing; without a [tune] section nothing changes at all. igb requests its vectors only
# when the link goes up: interfaces go up first.

igb_pair
ROOT_DEV=$(netdev_of "$ROOT_PF")
NUMA1_DEV=$(netdev_of "$NUMA1_PF")
log "root bus PF $ROOT_PF ($ROOT_DEV), NUMA node 1 PF $NUMA1_PF ($NUMA1_DEV), online CPUs $(cat /sys/devices/system/cpu/online)"

require "2 VFs on $NUMA1_PF" write_file $P/$NUMA1_PF/sriov_numvfs 2
vf_netdevs() { for vf in $(vfs_of "$NUMA1_PF"); do [ -n "$(netdev_of "$vf")" ] || return 1; done; }
require "VF netdevs of $NUMA1_PF" wait_for 30 vf_netdevs
VF_DEVS=$(for vf in $(vfs_of "$NUMA1_PF"); do netdev_of "$vf"; done)

mkdir -p /etc/sriov-offload
write_config() { # ROOT_PF_CHANNELS
    cat >/etc/sriov-offload/config.toml <<EOF
[[pf]]
match = { pci = "$ROOT_PF" }
vfs = 0
tune = { channels = $1 }

[[pf]]
match = { name = "$NUMA1_DEV" }
vfs = 2

[tune]
rss_hfunc = "toeplitz"
rings = 8192
channels = "numa-local"
irq_affinity = "numa-local"
xps = true
EOF
}

for d in $ROOT_DEV $NUMA1_DEV $VF_DEVS; do
    check "$d up" ip link set "$d" up
done
# igb requests its vectors in ndo_open: they exist when `ip link set up` returns
has_queue_irqs() { grep -q " $1-\(TxRx\|rx\|tx\)-" /proc/interrupts; }
for d in $ROOT_DEV $NUMA1_DEV $VF_DEVS; do
    check "$d has queue vectors" has_queue_irqs "$d"
done

# queue_irqs DEV: IRQ numbers of DEV's queue vectors (igb names them DEV-TxRx-N / -rx-N / -tx-N)
queue_irqs() { sed -n "s/^ *\([0-9]*\):.* $1-\(TxRx\|rx\|tx\)-[0-9]*$/\1/p" /proc/interrupts; }
cpus_of() { for i in $(queue_irqs "$1"); do cat /proc/irq/$i/smp_affinity_list; done | sort -u | tr '\n' ' '; }

# the default: without a [tune] section irq-tune changes nothing
cat >/etc/sriov-offload/config.toml <<EOF
[[pf]]
match = { name = "$NUMA1_DEV" }
vfs = 2
EOF
before=$(cpus_of "$NUMA1_DEV")
out=$(irq-tune -v 2>&1)
check_eq "irq-tune without [tune] exits 0" 0 "$?"
check_contains "without [tune] irq-tune leaves $NUMA1_DEV alone" "$NUMA1_DEV: no [tune] key applies" "$out"
check_contains "... and writes nothing" "0 step(s), 0 write(s)" "$out"
check_eq "$NUMA1_DEV's queue IRQs stay where they were ($before)" "$before" "$(cpus_of "$NUMA1_DEV")"

# a channel change makes igb request new vectors: they are found and placed in the same run
write_config 2
out=$(irq-tune -v "$ROOT_DEV" 2>&1)
check_eq "irq-tune with 2 channels on $ROOT_DEV exits 0" 0 "$?"
printf '%s\n' "$out" | grep "channels" | sed 's/^/#   | /'
check_eq "$ROOT_DEV has the vectors of 2 channels, placed on CPUs 0 and 1" "0 1 " "$(cpus_of "$ROOT_DEV")"

write_config 16
log "plan:"
irq-tune --dry-run 2>&1 | sed 's/^/#   /'

t0=$(now_ms)
out=$(irq-tune -v 2>&1)
rc=$?
ms=$(elapsed_ms "$t0")
printf '%s\n' "$out" | sed 's/^/#   | /'
check_eq "irq-tune exits 0" 0 "$rc"
log "irq-tune took $ms ms for $ROOT_DEV, $NUMA1_DEV and $(echo $VF_DEVS | wc -w) VF netdevs"
check_contains "the log says why $ROOT_DEV uses all CPUs" "numa_node of $ROOT_PF is -1" "$out"
check_contains "16 channels clamped to the device maximum" \
    "$ROOT_DEV: 16 combined channels (configured) clamped to the device maximum" "$out"
check_contains "$ROOT_DEV channels back from 2 to the maximum" "$ROOT_DEV: channels combined 2 -> " "$out"
check_contains "rings clamped to the device maximum" "$NUMA1_DEV: rx ring 8192 clamped to the device maximum" "$out"

n1=$(cpus_of "$NUMA1_DEV")
log "$NUMA1_DEV queue IRQs on CPUs: $n1"
only_local() { [ -n "$1" ] && for c in $1; do case $c in 2 | 3) ;; *) return 1 ;; esac; done; }
check "$NUMA1_DEV queue IRQs on CPUs 2-3 only (got $n1)" only_local "$n1"
for v in $VF_DEVS; do
    vc=$(cpus_of "$v")
    log "$v queue IRQs on CPUs: $vc"
    check "$v queue IRQs on CPUs 2-3 only (got $vc)" only_local "$vc"
done
check_eq "$ROOT_DEV queue IRQs spread over all 4 online CPUs" "0 1 2 3 " "$(cpus_of "$ROOT_DEV")"
for q in /sys/class/net/$NUMA1_DEV/queues/tx-* /sys/class/net/$ROOT_DEV/queues/tx-*; do
    log "$q/xps_cpus: $(cat $q/xps_cpus)"
done

t0=$(now_ms)
out2=$(irq-tune -v 2>&1)
rc=$?
ms2=$(elapsed_ms "$t0")
check_eq "second run exits 0" 0 "$rc"
check_contains "second run writes nothing" "0 step(s), 0 write(s)" "$out2"
log "second run took $ms2 ms"
check_contains "second plan is empty" "nothing to do" "$(irq-tune --dry-run 2>&1)"

# the udev path: one VF netdev alone, nothing left to do for it
v1=$(echo $VF_DEVS | cut -d' ' -f1)
t0=$(now_ms)
out3=$(irq-tune -v "$v1" 2>&1)
check_eq "irq-tune $v1 exits 0" 0 "$?"
log "irq-tune $v1 took $(elapsed_ms "$t0") ms"
check_contains "nothing left to do for $v1" "0 step(s), 0 write(s)" "$out3"
check_eq "an interface not in the config is not ours" "" "$(irq-tune lo 2>&1)"
