# vm-debs: sriov-offload
# The boot integration on a systemd-networkd host with no ifupdown in the path: networking.service
# (ifupdown2) masked, systemd-networkd enabled and making bond0 of the two igb PFs from
# boot-networkd.d/etc/systemd/network (a .netdev, the slaves' and the bond's .network, and a
# catch-all `Name=e*` DHCP .network), netdevsim1 in switchdev with its representors named by the
# shipped example rule 83 (eth2_pf0vf0 ...), the .deb's files at their paths, fake-nova.service
# in [boot] before. Checks from the journal and systemctl: pre finished before networkd started
# and before the first enslavement, vf-post's steps came after the last one (it may start
# earlier, networkd reaches network.target first: then it waited), VFs bound, representors,
# markers, target, consumer; `systemctl restart sriov-offload-post.service` writes nothing; the
# VF netdevs and representors, which the catch-all matches, stay down and unmanaged. Then, on the
# running system: vf-post with a slave out of the bond waits for it and goes on when it is back.
# Open vSwitch (in the base image, ordered Before=network.target) is masked here: under TCG it
# holds network.target for 5-10 s, long enough for networkd to have enslaved both PFs before
# post starts; without it post starts as early as on a networkd host without OVS, before the
# enslavement, and must wait for it.

. /opt/sriov-offload/lib/boot-checks.sh
. /opt/sriov-offload/lib/reapply-checks.sh
NET_UNIT=systemd-networkd.service
# no hooks run the binaries before the units: each unit's is their first execution, which TCG
# must translate first (1.0-1.4 s from systemd's "Starting" to the binary's own clock on a quiet
# host, up to 2.6 s with four other guests on its two cores; printed below)
STARTUP_MS=3000
log "uptime at scenario start: $(cut -d' ' -f1 /proc/uptime)s"

# --- the host kind: networkd, no ifupdown ---
check_eq "networking.service (ifupdown2) masked" masked "$(systemctl is-enabled networking.service 2>&1)"
check_eq "networking.service never started" 0 "$(show networking.service ExecMainStartTimestampMonotonic)"
check_eq "systemd-networkd.service active" active "$(systemctl is-active systemd-networkd.service)"
# networkd's view of a link: its state file, which networkctl reads too (networkctl itself needs
# D-Bus, which this minimal guest has not)
# nd_state NETDEV KEY: ADMIN_STATE (networkctl's SETUP: configured, unmanaged ...), NETWORK_FILE
nd_state() { sed -n "s/^$2=//p" /run/systemd/netif/links/$(cat /sys/class/net/$1/ifindex) 2>/dev/null; }
check_eq "networkd configured bond0" "configured /etc/systemd/network/20-bond0.network" \
    "$(nd_state bond0 ADMIN_STATE) $(nd_state bond0 NETWORK_FILE)"
for s in eth0 eth1; do
    check_eq "networkd enslaved $s" "configured /etc/systemd/network/10-bond0-slaves.network bond0" \
        "$(nd_state $s ADMIN_STATE) $(nd_state $s NETWORK_FILE) $(basename "$(readlink /sys/class/net/$s/master)")"
done
check_contains "pre is ordered before systemd-networkd.service" systemd-networkd.service \
    "$(show sriov-offload-pre.service Before)"

boot_package_checks
for f in /usr/lib/udev/rules.d/81-sriov-offload-unmanaged.rules \
    /usr/lib/systemd/network/00-sriov-offload-unmanaged.network \
    /usr/share/doc/sriov-offload/examples/83-sriov-offload-representor-pf-names.rules; do
    check "packaged $f" test -f "$f"
done
# the rule under test is the shipped example with one line filled in
check_eq "83 rule = the shipped example with netdevsim1's line filled in" \
    '<#KERNELS=="0000:3b:00.0", NAME="ens1f0_$attr{phys_port_name}"|>KERNELS=="netdevsim1", NAME="eth2_$attr{phys_port_name}"' \
    "$(diff /usr/share/doc/sriov-offload/examples/83-sriov-offload-representor-pf-names.rules \
        /etc/udev/rules.d/83-sriov-offload-representor-pf-names.rules | sed -n 's/^\([<>]\) /\1/p' | tr '\n' '|' | sed 's/|$//')"

boot_flow_checks
# what the chain durations of our units are made of: systemd's Starting/Finished lines around
# the binaries' own (start-up under TCG is the difference to their self-reported run time)
log "--- journal of our units (monotonic)"
journalctl -b --no-pager -o short-monotonic -u sriov-offload-pre.service \
    -u sriov-offload-post.service -u sriov-offload-irq.service 2>&1 |
    grep -v ": irq [0-9]* \|xps_cpus" | sed 's/^/#   /'

# --- VF netdevs and representors: matched by the catch-all, yet down and unmanaged ---
log "--- links: name, networkd's setup state and .network file, flags, MAC"
for n in /sys/class/net/*/; do
    n=${n%/}
    d=${n##*/}
    log "  $d $(nd_state $d ADMIN_STATE) $(nd_state $d NETWORK_FILE) $(cat $n/flags) $(cat $n/address)"
done
flags_up() { [ $(($(cat /sys/class/net/$1/flags) & 1)) -eq 1 ]; }
vfdevs=""
for pf in 0000:01:00.0 0000:81:00.0; do
    for vf in $(vfs_of $pf); do vfdevs="$vfdevs $(netdev_of "$vf")"; done
done
reps=$(for n in /sys/class/net/*; do
    case "$(cat $n/phys_port_name 2>/dev/null)" in pf*vf*) echo "${n##*/}" ;; esac
done | sort | tr '\n' ' ')
check_eq "8 VF netdevs" 8 "$(echo $vfdevs | wc -w)"
check_eq "netdevsim1's representors named by the 83 rule" "eth2_pf0vf0 eth2_pf0vf1 " "$reps"
check_contains "the VF map names the renamed representors" '"representor": "eth2_pf0vf0"' \
    "$(cat /run/sriov-offload/vf-map.json 2>&1)"
check "the unmanaged flag is present ([boot] unmanage_vfs default)" test -e /run/sriov-offload/vfs-unmanaged
for d in $vfdevs $reps; do
    case $d in e*) ;; *) fail "$d does not match the catch-all's Name=e*" ;; esac
    check "$d down (IFF_UP clear in flags $(cat /sys/class/net/$d/flags))" sh -c "[ \$((\$(cat /sys/class/net/$d/flags) & 1)) -eq 0 ]"
    check_eq "$d unmanaged by networkd" unmanaged "$(nd_state $d ADMIN_STATE)"
    props=$(udevadm info -q property -p /sys/class/net/$d 2>&1)
    check_contains "$d: udev SRIOV_OFFLOAD_UNMANAGED=1" SRIOV_OFFLOAD_UNMANAGED=1 "$props"
    check_contains "$d: udev NM_UNMANAGED=1" NM_UNMANAGED=1 "$props"
done
# the catch-all is live: it took eth2, the netdevsim PF (no VF, no representor)
check "eth2 (the netdevsim PF) up: the catch-all applies" flags_up eth2
state=$(nd_state eth2 ADMIN_STATE)
check "eth2 managed by networkd (setup state: $state)" sh -c "[ '$state' != unmanaged ] && [ -n '$state' ]"
check_eq "eth2 got the catch-all" /etc/systemd/network/90-catchall.network "$(nd_state eth2 NETWORK_FILE)"

# --- a second boot-time run: systemctl restart of post writes nothing ---
cp /run/sriov-offload/vf-map.json /tmp/vf-map.boot.json
log "VF MACs: at the igbvf probe (kernel log) -> now"
for pf in 0000:01:00.0 0000:81:00.0; do
    for vf in $(vfs_of $pf); do
        log "  $vf $(journalctl -b -k --no-pager -o cat | sed -n "s/^igbvf $vf: Address: //p" | tr '\n' ' ')-> $(cat /sys/bus/pci/devices/$vf/net/*/address)"
    done
done
ready_before=$(stat -c %Y.%y /run/sriov-offload/ready /run/sriov-offload/vf-map.json 2>&1)
ifindexes() { for d in $vfdevs $reps; do cat /sys/class/net/$d/ifindex; done | tr '\n' ' '; }
idx_before=$(ifindexes)
check "systemctl restart sriov-offload-post.service" systemctl restart sriov-offload-post.service
inv=$(show sriov-offload-post.service InvocationID)
check_eq "the restart ran: post active, exit 0" "active 0" \
    "$(systemctl is-active sriov-offload-post.service) $(show sriov-offload-post.service ExecMainStatus)"
check_eq "the restarted vf-post took no step (no step record in its journal)" "" \
    "$(journalctl -b --no-pager -o cat _SYSTEMD_INVOCATION_ID=$inv MESSAGE_ID=5a1b7e0f2c6d4e8a9b3c1d2e4f607182 2>&1)"
check_eq "ready marker and VF map not rewritten (mtimes)" "$ready_before" \
    "$(stat -c %Y.%y /run/sriov-offload/ready /run/sriov-offload/vf-map.json 2>&1)"
diff /tmp/vf-map.boot.json /run/sriov-offload/vf-map.json | sed 's/^/#   map diff: /'
check_eq "VF netdevs and representors kept (ifindexes)" "$idx_before" "$(ifindexes)"
check_eq "target and consumer still active" "active active" \
    "$(systemctl is-active sriov-offload.target) $(systemctl is-active fake-nova.service)"
check "vf-post -v by hand" sh -c "vf-post -v 2>/tmp/post-again.log"
check_contains "vf-post by hand: 0 steps, 0 writes" "0 step(s), 0 write(s)" "$(cat /tmp/post-again.log)"

# --- vf-post while a slave is out of the bond: waits (events, no polling), goes on when back ---
check "eth1 out of bond0 (ip link set nomaster)" ip link set eth1 nomaster
(vf-post -v 2>/tmp/post-wait.log; echo $? >/tmp/post-wait.rc) &
t0=$(now_ms)
wait_for 3 test -e /tmp/post-wait.rc
check "vf-post still waiting after 3 s (eth1 not enslaved)" test ! -e /tmp/post-wait.rc
check "eth1 back in bond0" ip link set eth1 master bond0
check "vf-post finished within 10 s of the enslavement" wait_for 10 test -e /tmp/post-wait.rc
el=$(elapsed_ms "$t0")
sed 's/^/#   | /' /tmp/post-wait.log
check_eq "vf-post exit 0" 0 "$(cat /tmp/post-wait.rc 2>&1)"
check_contains "its wait-slaves step" "eth1: wait for bond0 to enslave eth0, eth1" "$(cat /tmp/post-wait.log)"
wait_ms=$(sed -n 's/.*wait for bond0 to enslave eth0, eth1 (\([0-9]*\) ms).*/\1/p' /tmp/post-wait.log | head -1)
log "vf-post waited ${wait_ms:-?} ms for eth1 ($el ms from its start to its exit)"
check "the wait lasted until the enslavement (>= 3000 ms: ${wait_ms:-?})" test "${wait_ms:-0}" -ge 3000
check_eq "bond0 slaves again" "eth0 eth1" "$(tr ' ' '\n' </sys/class/net/bond0/bonding/slaves | sort | xargs)"
check "ready marker still there" test -e /run/sriov-offload/ready

# --- a bond slave's driver reloaded after boot: networkd re-enslaves it, its re-apply runs ------
# shellcheck disable=SC2046 # word splitting of the VF list is wanted
set -- $(vfs_of 0000:01:00.0)
guest_dev=$(netdev_of "$1")
ip link set "$guest_dev" up
guest_ifindex=$(read_file /sys/class/net/$guest_dev/ifindex)
reapply_igb_slave networkd
check_eq "the other PF's in-use VF kept its netdev" "$guest_ifindex" "$(read_file /sys/class/net/$guest_dev/ifindex)"
check_eq "the other PF still has 4 VFs" 4 "$(read_file $P/0000:01:00.0/sriov_numvfs)"
ip link set "$guest_dev" down

boot_dpkg_checks
