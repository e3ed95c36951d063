# The bond flow of seed 000 (bond.offload.pre / post), as ifupdown runs it: `vf-pre` with
# IFACE=bond0 before the bond enslaves its slaves, the bond is made, `vf-post` with IFACE=bond0
# after. Then an `ifreload` (pre + post again) with guests' VF netdevs up changes nothing, and
# two runs started together on the same PFs serialise on the lock and both succeed.

igb_pair

mkdir -p /etc/sriov-offload
cat >/etc/sriov-offload/config.toml <<EOF
[defaults]
timeout = "60s"

[[pf]]
match = { name = "$S1" }
vfs = 4
bind = "igbvf"
reserved_vfs = [0]

[[pf]]
match = { name = "$S2" }
vfs = 4
bind = "igbvf"

[[bond]]
name = "bond0"
slaves = ["$S1", "$S2"]

[boot]
legacy_marker = "/tmp/vf_done.offload"
EOF

# a stale legacy marker from "before the reboot" must not survive the run's start
touch /tmp/vf_done.offload

t0=$(now_ms)
check "IFACE=bond0 vf-pre (pre-up of the bond)" sh -c "IFACE=bond0 vf-pre -v 2>/tmp/pre.log"
sed 's/^/#   pre | /' /tmp/pre.log
check "stale legacy marker removed at the start" test ! -e /tmp/vf_done.offload
check "no ready marker before post" test ! -e /run/sriov-offload/ready
for pf in $ROOT_PF $NUMA1_PF; do
    check_eq "$pf has 4 VFs after pre" 4 "$(read_file $P/$pf/sriov_numvfs)"
    check_eq "VFs of $pf unbound after pre (autoprobe off)" "" "$(for v in $(vfs_of $pf); do driver_of $v; done)"
done

t1=$(now_ms)
ip link add bond0 type bond mode active-backup miimon 100
ip link set "$S1" down
ip link set "$S2" down
check "$S1 enslaved" ip link set "$S1" master bond0
check "$S2 enslaved" ip link set "$S2" master bond0
ip link set bond0 up
t2=$(now_ms)

check "IFACE=bond0 vf-post (post-up of the bond)" sh -c "IFACE=bond0 vf-post -v 2>/tmp/post.log"
t3=$(now_ms)
sed 's/^/#   post| /' /tmp/post.log
log "pre $((t1 - t0)) ms, enslave $((t2 - t1)) ms, post $((t3 - t2)) ms"
for pf in $ROOT_PF $NUMA1_PF; do
    bound=0
    for vf in $(vfs_of "$pf"); do [ "$(driver_of "$vf")" = igbvf ] && bound=$((bound + 1)); done
    check_eq "all 4 VFs of $pf bound to igbvf" 4 "$bound"
done
check_eq "bond0 still has both slaves" "$S1 $S2" "$(read_file /sys/class/net/bond0/bonding/slaves)"
check "ready marker" test -e /run/sriov-offload/ready
check "legacy marker" test -e /tmp/vf_done.offload
check_contains "VF 0 of $S1 is reserved in the map" '"reserved": true' "$(grep -A6 "\"pf\": \"$S1\"" /run/sriov-offload/vf-map.json | head -8)"

# guests are using VFs now
for pf in $ROOT_PF $NUMA1_PF; do
    for vf in $(vfs_of "$pf"); do ip link set "$(netdev_of "$vf")" up; done
done
numvfs_before="$(read_file $P/$ROOT_PF/sriov_numvfs) $(read_file $P/$NUMA1_PF/sriov_numvfs)"
vf_before=$(for vf in $(vfs_of "$ROOT_PF") $(vfs_of "$NUMA1_PF"); do netdev_of "$vf"; done | tr '\n' ' ')

# ifreload: pre and post run again
check "ifreload: vf-pre again" sh -c "IFACE=bond0 vf-pre -v 2>/tmp/pre2.log"
check "ifreload: vf-post again" sh -c "IFACE=bond0 vf-post -v 2>/tmp/post2.log"
check_contains "ifreload vf-pre wrote nothing" "0 step(s), 0 write(s)" "$(cat /tmp/pre2.log)"
check_contains "ifreload vf-post wrote nothing" "0 step(s), 0 write(s)" "$(cat /tmp/post2.log)"
check_eq "VF counts unchanged" "$numvfs_before" "$(read_file $P/$ROOT_PF/sriov_numvfs) $(read_file $P/$NUMA1_PF/sriov_numvfs)"
check_eq "the same VF netdevs still exist" "$vf_before" "$(for vf in $(vfs_of "$ROOT_PF") $(vfs_of "$NUMA1_PF"); do netdev_of "$vf"; done | tr '\n' ' ')"

# udev, the unit and the hook reaching the PFs at once: they serialise on the lock
(IFACE=bond0 vf-post -v 2>/tmp/race1.log; echo $? >/tmp/race1.rc) &
(IFACE=bond0 vf-post -v 2>/tmp/race2.log; echo $? >/tmp/race2.rc) &
wait
check_eq "two concurrent runs both succeed" "0 0" "$(cat /tmp/race1.rc) $(cat /tmp/race2.rc)"

# a slave the config does not know is not ours: exit 0, silently
check "vf-pre for an unconfigured interface is a silent no-op" sh -c "[ -z \"\$(IFACE=lo vf-pre 2>&1)\" ]"
