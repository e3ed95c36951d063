# The offload flow on two standalone PFs, on a real kernel: vf-pre + vf-post from one config
# create VFs on both igb PFs with autoprobe off, bind them to igbvf (driver_override +
# drivers_probe), set VF properties through rtnetlink, switch netdevsim to switchdev through
# devlink and wait for its representors, enable hw-tc-offload, publish the VF map and the
# ready marker. Then: a second run changes nothing; a count change with a VF netdev up is
# refused and, the host being ready, leaves the markers as they are; wait-offload wakes on the
# marker.

igb_pair

NSIM=/sys/bus/netdevsim/devices/netdevsim1
require "netdevsim device 1 with 1 port" write_file /sys/bus/netdevsim/new_device "1 1"
require "netdevsim1 has its port netdev" wait_for 10 sh -c "ls $NSIM/net | grep -q ."
NSIM_PF=$(ls $NSIM/net | head -1)
log "igb PFs: $ROOT_PF ($(netdev_of "$ROOT_PF")), $NUMA1_PF ($(netdev_of "$NUMA1_PF")); netdevsim PF $NSIM_PF"

mkdir -p /etc/sriov-offload
write_config() { # ROOT_VFS
cat >/etc/sriov-offload/config.toml <<EOF
[defaults]
timeout = "60s"

[[pf]]
match = { pci = "$ROOT_PF" }
vfs = $1
bind = "igbvf"
reserved_vfs = [0]
vf = { 1 = { mac = "02:00:00:00:01:01", trust = true, spoofchk = false, vlan = 100 } }

[[pf]]
match = { pci = "$NUMA1_PF" }
vfs = 7
bind = "igbvf"

[[pf]]
match = { name = "$NSIM_PF" }
vfs = 2
eswitch = "switchdev"

[boot]
legacy_marker = "/tmp/vf_done.offload"
EOF
}
write_config 7

check "vf-pre --dry-run plans without writing" sh -c "vf-pre --dry-run >/tmp/plan.pre && [ \$(cat $P/$ROOT_PF/sriov_numvfs) = 0 ]"
log "plan (pre):"; sed 's/^/#   /' /tmp/plan.pre
check "vf-post --dry-run" sh -c "vf-post --dry-run >/tmp/plan.post"
log "plan (post):"; sed 's/^/#   /' /tmp/plan.post

t0=$(now_ms)
check "vf-pre succeeds" sh -c "vf-pre -v 2>/tmp/pre.log"
t1=$(now_ms)
check "vf-post succeeds" sh -c "vf-post -v 2>/tmp/post.log"
t2=$(now_ms)
log "vf-pre $((t1 - t0)) ms, vf-post $((t2 - t1)) ms, flow $((t2 - t0)) ms for 3 PFs"
sed 's/^/#   pre | /' /tmp/pre.log
sed 's/^/#   post| /' /tmp/post.log

for pf in $ROOT_PF $NUMA1_PF; do
    check_eq "$pf has 7 VFs" 7 "$(read_file $P/$pf/sriov_numvfs)"
    bound=0
    for vf in $(vfs_of "$pf"); do [ "$(driver_of "$vf")" = igbvf ] && bound=$((bound + 1)); done
    check_eq "all 7 VFs of $pf bound to igbvf" 7 "$bound"
    check_eq "autoprobe of $pf restored to 1" 1 "$(read_file $P/$pf/sriov_drivers_autoprobe)"
    check_eq "no driver_override left on VF 0 of $pf" "(null)" "$(read_file $P/$(vfs_of "$pf" | head -1)/driver_override)"
done
ROOT_DEV=$(netdev_of "$ROOT_PF")
vfline=$(ip link show dev "$ROOT_DEV" | grep "vf 1 ")
check_contains "VF 1 MAC set through rtnetlink" "02:00:00:00:01:01" "$vfline"
check_contains "VF 1 VLAN 100" "vlan 100" "$vfline"
check_contains "VF 1 trusted" "trust on" "$vfline"
check_contains "VF 1 spoof checking off" "spoof checking off" "$vfline"
check_contains "netdevsim eswitch is switchdev" "mode switchdev" "$(devlink dev eswitch show netdevsim/netdevsim1 2>&1)"
for port in pf0vf0 pf0vf1; do
    check "representor $port present" sh -c "grep -lx $port /sys/class/net/*/phys_port_name"
    rep=$(grep -lx $port /sys/class/net/*/phys_port_name | cut -d/ -f5)
    tc=$(/usr/sbin/ethtool -k "$rep" | grep '^hw-tc-offload:')
    log "representor $rep: $tc"
    check "hw-tc-offload on representor $rep, or fixed off by its driver ($tc)" sh -c "case '$tc' in *': on'*|*'[fixed]'*) ;; *) exit 1 ;; esac"
done
check "ready marker of this boot" grep -q "$(cat /proc/sys/kernel/random/boot_id)" /run/sriov-offload/ready
check "legacy marker touched" test -e /tmp/vf_done.offload
check "no failed marker" test ! -e /run/sriov-offload/failed
check_eq "VF map lists 16 VFs" 16 "$(grep -c '"vf":' /run/sriov-offload/vf-map.json)"
check_contains "VF map: netdevsim VF 1 has its representor" '"representor": "' "$(grep -A4 "\"pf\": \"$NSIM_PF\"" /run/sriov-offload/vf-map.json)"
check "hw-tc-offload on $NSIM_PF" sh -c "/usr/sbin/ethtool -k $NSIM_PF | grep -q 'hw-tc-offload: on'"

# --- a second run (ifreload, a unit restarted) changes nothing ---
ip link set "$(netdev_of "$(vfs_of "$ROOT_PF" | sed -n 3p)")" up
check "second vf-pre succeeds" sh -c "vf-pre -v 2>/tmp/pre2.log"
check "second vf-post succeeds" sh -c "vf-post -v 2>/tmp/post2.log"
check_contains "second vf-pre: 0 writes" "0 step(s), 0 write(s)" "$(cat /tmp/pre2.log)"
check_contains "second vf-post: 0 writes" "0 step(s), 0 write(s)" "$(cat /tmp/post2.log)"
sed 's/^/#   post2| /' /tmp/post2.log

# --- a new VF count while a VF netdev is up: refused, nothing touched ---
write_config 4
vf-pre "$ROOT_DEV" 2>/tmp/refuse.log
check_eq "vf-pre refuses with exit 1" 1 "$?"
check_contains "refusal names the VF that is up" "netdev $(netdev_of "$(vfs_of "$ROOT_PF" | sed -n 3p)") is up" "$(cat /tmp/refuse.log)"
check_eq "$ROOT_PF still has 7 VFs" 7 "$(read_file $P/$ROOT_PF/sriov_numvfs)"
# a refusal on a host that is ready writes nothing, markers included: offload still works
check "no failed marker: the host is still ready" test ! -e /run/sriov-offload/failed
check "ready marker kept" test -e /run/sriov-offload/ready
write_config 7

# --- wait-offload blocks until the marker, then wakes ---
rm -f /run/sriov-offload/failed /run/sriov-offload/ready
wait-offload --timeout 30s &
WPID=$!
check "wait-offload still waiting without a marker" kill -0 $WPID
check "vf-post republishes the marker" vf-post
wait $WPID
check_eq "wait-offload exit 0 once ready" 0 "$?"
wait-offload --timeout 100ms
check_eq "wait-offload with the marker present returns 0 at once" 0 "$?"
