# The systemd guest boots to multi-user with the test bed's modules, ifupdown2 brings up the bond
# of the two igb PFs from /etc/network/interfaces (boot-smoke.d/ in the overlay), Open vSwitch
# runs, and the project's binaries are on PATH. Runs as a oneshot unit after multi-user.target.

log "uptime at scenario start: $(cut -d' ' -f1 /proc/uptime)s"
check_eq "PID 1 is systemd" systemd "$(cat /proc/1/comm)"
check_eq "multi-user.target reached" active "$(systemctl is-active multi-user.target)"
failed=$(systemctl list-units --failed --no-legend --plain 2>&1)
check_eq "no failed units" "" "$failed"
check_eq "udev running" active "$(systemctl is-active systemd-udevd.service)"
for m in igb igbvf bonding netdevsim openvswitch; do
    check "module $m loaded (modules-load.d)" test -d /sys/module/$m
done
check_eq "networking.service (ifupdown2) succeeded" active "$(systemctl is-active networking.service)"
check "bond0 exists" test -d /sys/class/net/bond0/bonding
check_eq "bond0 slaves from /etc/network/interfaces" "eth0 eth1" "$(read_file /sys/class/net/bond0/bonding/slaves)"
check_eq "bond0 mode" "active-backup 1" "$(read_file /sys/class/net/bond0/bonding/mode)"
check "bond0 up" sh -c "ip link show bond0 | grep -q 'state UP'"
check_eq "openvswitch-switch running" active "$(systemctl is-active openvswitch-switch.service)"
check "ovs-vsctl talks to ovsdb" ovs-vsctl show
check "ifquery (ifupdown2) sees bond0 as configured" ifquery --check bond0
for b in vf-pre vf-post wait-offload; do
    check "$b on PATH" command -v $b
done
check_eq "numa_node of eth1's PF" 1 "$(read_file /sys/class/net/eth1/device/numa_node)"
log "uptime at scenario end: $(cut -d' ' -f1 /proc/uptime)s"
