# vm-debs: sriov-offload
# The boot integration on a real systemd boot with ifupdown2: the project's .deb (cargo-deb,
# booted from its files at their packaged paths: the guest has no disk to install to and reboot,
# see the end for dpkg -i), sriov-offload.target enabled, the config (boot-ifupdown2.d/) for the
# two igb PFs (4 VFs each, igbvf) in an active-backup bond0 from /etc/network/interfaces, plus
# netdevsim1 (created by sriov-testbed-netdevsim.service) in switchdev with 4 VFs whose uplink and
# representors are ports of the OVS bridge br-offload (an ifupdown2 OVSBridge stanza, the way
# Proxmox does it), and fake-nova.service in [boot] before. Path tested: the package default, units *and* ifupdown hooks (ifupdown2's
# addon_scripts_support=1): each step runs once, whoever reaches it first.
# Runs after the boot finished; checks order from the journal and systemctl show, the markers,
# the devices, and the critical chain of sriov-offload.target for idle waits.

. /opt/sriov-offload/lib/boot-checks.sh
. /opt/sriov-offload/lib/reapply-checks.sh
. /opt/sriov-offload/lib/ovs-checks.sh
NSIM_VFS=4
log "uptime at scenario start: $(cut -d' ' -f1 /proc/uptime)s"
check_contains "ifupdown2 runs the hooks (addon_scripts_support=1)" addon_scripts_support=1 \
    "$(grep '^addon_scripts_support' /etc/network/ifupdown2/ifupdown2.conf)"
check_contains "networking.service is ifupdown2's" ifupdown2 "$(show networking.service ExecStart)"
boot_package_checks
boot_flow_checks
boot_dpkg_checks
reapply_checks
# last: it changes the VF count
boot_ovs_checks
