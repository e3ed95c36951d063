# VF tx rates, MTU and per-VF bind on a real kernel. One igb PF: PF MTU 9000, VF 0 on igbvf
# with its own MTU, VF 1 `bind = "none"` (left unbound), VF 2 on igbvf. A netdevsim PF in
# legacy mode (its VF ndo's refuse everything in switchdev): min and max tx rate on both VFs,
# read back from the kernel. A second run plans nothing. Then igb refuses min_tx_rate (the
# error names PF, VF and min_tx_rate); igb's max_tx_rate is set once the link is up; a changed
# bind rebinds an idle VF (igbvf → the probe model's driver) and refuses one whose netdev is
# up, naming it.

igb_pair
load_probe_model delay_ms=0

NSIM=/sys/bus/netdevsim/devices/netdevsim2
require "netdevsim device 2 with 1 port" write_file /sys/bus/netdevsim/new_device "2 1"
require "netdevsim2 has its port netdev" wait_for 10 sh -c "ls $NSIM/net | grep -q ."
NSIM_PF=$(ls $NSIM/net | head -1)
log "igb PF $ROOT_PF ($S1), netdevsim PF $NSIM_PF"

mkdir -p /etc/sriov-offload
write_config() { # EXTRA_IGB_VF_KEYS VF0_BIND VF2_BIND
cat >/etc/sriov-offload/config.toml <<EOF
[defaults]
timeout = "60s"

[[pf]]
match = { pci = "$ROOT_PF" }
vfs = 3
bind = "igbvf"
mtu = 9000
vf = { 0 = { mtu = 9000, bind = "$2" }, 1 = { bind = "none" }, 2 = { bind = "$3" $1 } }

[[pf]]
match = { name = "$NSIM_PF" }
vfs = 2
mtu = 9000
vf = { "0-1" = { max_tx_rate = 1000, min_tx_rate = 100 } }
EOF
}
write_config "" igbvf igbvf

check "vf-pre succeeds" sh -c "vf-pre -v 2>/tmp/pre.log"
sed 's/^/#   pre | /' /tmp/pre.log
check "vf-post succeeds" sh -c "vf-post -v 2>/tmp/post.log"
sed 's/^/#   post| /' /tmp/post.log

set -- $(vfs_of "$ROOT_PF")
VF0=$1 VF1=$2 VF2=$3
check_eq "$ROOT_PF has 3 VFs" 3 "$(read_file $P/$ROOT_PF/sriov_numvfs)"
check_eq "VF 0 on igbvf (its own bind)" igbvf "$(driver_of "$VF0")"
check_eq "VF 1 left unbound (bind = \"none\")" "" "$(driver_of "$VF1")"
check_eq "VF 2 on igbvf (the PF's bind)" igbvf "$(driver_of "$VF2")"
check_eq "no driver_override left on VF 0" "(null)" "$(read_file $P/$VF0/driver_override)"
check_contains "PF $S1 MTU 9000 through rtnetlink" " mtu 9000 " "$(ip link show dev "$S1")"
VF0_DEV=$(netdev_of "$VF0")
VF2_DEV=$(netdev_of "$VF2")
check_eq "VF 0 netdev $VF0_DEV MTU 9000" 9000 "$(read_file /sys/class/net/$VF0_DEV/mtu)"
check_eq "VF 2 netdev $VF2_DEV keeps its MTU" 1500 "$(read_file /sys/class/net/$VF2_DEV/mtu)"
check_contains "netdevsim PF MTU 9000" " mtu 9000 " "$(ip link show dev "$NSIM_PF")"
for vf in 0 1; do
    line=$(ip link show dev "$NSIM_PF" | grep "vf $vf ")
    check_contains "netdevsim VF $vf max_tx_rate read back" "max_tx_rate 1000Mbps" "$line"
    check_contains "netdevsim VF $vf min_tx_rate read back" "min_tx_rate 100Mbps" "$line"
done
check "status: every PF as configured" sh -c "sriov-offload status >/tmp/status.txt"
sed 's/^/#   status| /' /tmp/status.txt

# --- a second run plans nothing ---
check "second vf-pre succeeds" sh -c "vf-pre -v 2>/tmp/pre2.log"
check "second vf-post succeeds" sh -c "vf-post -v 2>/tmp/post2.log"
check_contains "second vf-pre: 0 writes" "0 step(s), 0 write(s)" "$(cat /tmp/pre2.log)"
check_contains "second vf-post: 0 writes" "0 step(s), 0 write(s)" "$(cat /tmp/post2.log)"
sed 's/^/#   post2| /' /tmp/post2.log

# --- igb has no minimum rate: the error names the PF, the VF and min_tx_rate ---
write_config ", min_tx_rate = 10" igbvf igbvf
vf-pre 2>/tmp/min.log
check_eq "vf-pre with min_tx_rate on igb fails with exit 1" 1 "$?"
check_contains "the error names the VF and the PF" "setting VF 2 tx rate (min_tx_rate 10, max_tx_rate 0 Mbit/s) on $S1" "$(cat /tmp/min.log)"
check_contains "the error says the driver refuses min_tx_rate" "the driver of $S1 refuses min_tx_rate 10" "$(cat /tmp/min.log)"

# --- igb's max_tx_rate needs the link up (igb_ndo_set_vf_bw checks it) ---
ip link set "$S1" up
require "$S1 has carrier" wait_for 20 sh -c "[ \"\$(cat /sys/class/net/$S1/carrier)\" = 1 ]"
write_config ", max_tx_rate = 500" igbvf igbvf
check "vf-pre sets igb VF 2 max_tx_rate" sh -c "vf-pre -v 2>/tmp/max.log"
sed 's/^/#   max| /' /tmp/max.log
check_contains "igb VF 2 max_tx_rate read back" "max_tx_rate 500Mbps" "$(ip link show dev "$S1" | grep "vf 2 ")"
check "vf-pre again: nothing" sh -c "vf-pre -v 2>&1 | grep -q '0 step(s), 0 write(s)'"

# --- a changed bind: the idle VF 2 is rebound, VF 0 (netdev up) is refused ---
VF0_IDX=$(cat /sys/class/net/$VF0_DEV/ifindex)
write_config ", max_tx_rate = 500" igbvf slowprobe
check "vf-post rebinds idle VF 2 to slowprobe" sh -c "vf-post -v 2>/tmp/rebind.log"
sed 's/^/#   rebind| /' /tmp/rebind.log
check_eq "VF 2 now on slowprobe" slowprobe "$(driver_of "$VF2")"
check_eq "VF 0 untouched (same ifindex)" "$VF0_IDX" "$(cat /sys/class/net/$VF0_DEV/ifindex)"
check "vf-post again: nothing" sh -c "vf-post -v 2>&1 | grep -q '0 step(s), 0 write(s)'"
ip link set "$VF0_DEV" up
write_config ", max_tx_rate = 500" slowprobe slowprobe
vf-post 2>/tmp/inuse.log
check_eq "vf-post refuses to rebind VF 0 in use: exit 1" 1 "$?"
check_contains "the refusal names VF 0, its driver and its use" "VF 0 ($VF0) is bound to igbvf but bind wants slowprobe, and it is in use (VF 0 netdev $VF0_DEV is up)" "$(cat /tmp/inuse.log)"
check_eq "VF 0 still on igbvf" igbvf "$(driver_of "$VF0")"
check "a refusal on a ready host leaves ready" test -e /run/sriov-offload/ready
