# Guest side of tests/vm/demo.sh (sourced after tests/vm/lib.sh, like a scenario).
P=/sys/bus/pci/devices
write_file /sys/bus/netdevsim/new_device "1 1"
wait_for 10 sh -c "ls /sys/bus/netdevsim/devices/netdevsim1/net | grep -q ."
log "config (/etc/sriov-offload/config.toml = examples/testbed.toml):"
grep -v '^#' /etc/sriov-offload/config.toml | grep . | sed 's/^/#   /'

echo "== plan: vf-pre --dry-run (IFACE=bond0, then the netdevsim PF)"
IFACE=bond0 vf-pre --dry-run
vf-pre --dry-run eth2
echo "== plan: vf-post --dry-run (everything)"
vf-post --dry-run

echo "== boot: vf-pre, bond enslavement, vf-post, irq-tune"
t0=$(now_ms)
check "vf-pre bond0 (pre-up)" sh -c "IFACE=bond0 vf-pre 2>&1"
check "vf-pre eth2" vf-pre eth2
t1=$(now_ms)
ip link add bond0 type bond mode active-backup miimon 100
ip link set eth0 down; ip link set eth1 down
ip link set eth0 master bond0; ip link set eth1 master bond0; ip link set bond0 up
t2=$(now_ms)
wait-offload --timeout 60s &
WPID=$!
check "vf-post (post-up)" sh -c "vf-post 2>&1"
t3=$(now_ms)
wait $WPID
check_eq "wait-offload woke with status 0" 0 "$?"
t4=$(now_ms)
if command -v irq-tune >/dev/null; then
    echo "== irq-tune (plan, then apply)"
    irq-tune --dry-run 2>&1
    check "irq-tune" sh -c "irq-tune 2>/tmp/irq.log"
    sed 's/^/#   /' /tmp/irq.log
fi
t5=$(now_ms)

echo "== state"
for pf in 0000:01:00.0 0000:81:00.0; do
    n=$(netdev_of $pf)
    drivers=$(for v in $(vfs_of $pf); do driver_of $v; done | sort | uniq -c | tr -s ' ' | tr '\n' ' ')
    echo "$pf $n: numvfs=$(cat $P/$pf/sriov_numvfs) master=$(basename "$(readlink /sys/class/net/$n/master)") VF drivers:$drivers numa_node=$(cat $P/$pf/numa_node)"
done
echo "netdevsim1 eth2: numvfs=$(cat /sys/bus/netdevsim/devices/netdevsim1/sriov_numvfs) $(devlink dev eswitch show netdevsim/netdevsim1)"
devlink port show | grep netdevsim1 | sed 's/^/  /'
ip link show dev eth0 | grep " vf " | sed 's/^/  /'
echo "== /run/sriov-offload/vf-map.json"
cat /run/sriov-offload/vf-map.json
echo "== /run/sriov-offload/ready"
cat /run/sriov-offload/ready
echo
echo "== second run (ifreload): must write nothing"
IFACE=bond0 vf-pre -v 2>&1 | tail -1
vf-post -v 2>&1 | tail -1
echo "== timings (TCG-emulated guest: absolute numbers are slow, ratios matter)"
echo "vf-pre (3 PFs, 18 VFs created):  $((t1 - t0)) ms"
echo "bond enslavement (ip):           $((t2 - t1)) ms"
echo "vf-post (bind 14 VFs, switchdev, 4 representors, markers): $((t3 - t2)) ms"
echo "wait-offload exit after vf-post: $((t4 - t3)) ms"
echo "irq-tune:                        $((t5 - t4)) ms"
echo "total to ready:                  $((t3 - t0)) ms"
