# vm-debs: sriov-offload ifupdown ifenslave
# boot-ifupdown2.sh with classic ifupdown (+ ifenslave for the bond) instead of ifupdown2. Both
# packages (cached on the host by mk-systemd.sh; the guest has no network) are booted from their
# files at their packaged paths, over the base's ifupdown2 (they conflict): /usr/sbin/ifup and
# networking.service are classic ifupdown's, with its ifupdown-pre.service (udevadm settle).
# Path tested: the package default, units and hooks (classic ifupdown always runs the hooks).

. /opt/sriov-offload/lib/boot-checks.sh
log "uptime at scenario start: $(cut -d' ' -f1 /proc/uptime)s"
check_contains "ifup is classic ifupdown" "ifup version 0.8" "$(ifup -V 2>&1 | head -1)"
check_eq "networking.service runs classic ifup" "/sbin/ifup" \
    "$(show networking.service ExecStart | sed -n 's/.*path=\([^ ;]*\).*/\1/p' | head -1)"
check "ifenslave's hook is installed" test -x /etc/network/if-pre-up.d/ifenslave
boot_package_checks
boot_flow_checks
boot_dpkg_checks
