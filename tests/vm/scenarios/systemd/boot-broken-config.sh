# vm-debs: sriov-offload
# boot-ifupdown2's setup (the .deb, ifupdown2 bond, netdevsim, fake-nova.service in [boot]
# before) with a syntax error in /etc/sriov-offload/config.toml: the generator reports it on
# /dev/kmsg, sriov-offload-pre.service fails with the file:line:col message in its journal, post
# does not run (Requires= pre), the failed marker is written, the target is not reached and the
# consumer does not start; the rest of the boot (the bond) goes on.

. /opt/sriov-offload/lib/boot-checks.sh
ERR=/etc/sriov-offload/config.toml:9:
log "uptime at scenario start: $(cut -d' ' -f1 /proc/uptime)s"
check_eq "multi-user.target reached anyway" active "$(systemctl is-active multi-user.target)"
check_eq "networking.service (the bond) came up anyway" active "$(systemctl is-active networking.service)"
check_eq "bond0 slaves" "eth0 eth1" "$(read_file /sys/class/net/bond0/bonding/slaves)"

log "--- kernel log of the generator"
journalctl -b -k --no-pager -o short-monotonic 2>&1 | grep sriov-offload-generator | sed 's/^/#   /'
check_contains "the generator reported the error on /dev/kmsg" "sriov-offload-generator: $ERR" \
    "$(journalctl -b -k --no-pager 2>&1)"
check_contains "the generator kept fake-nova ordered after the target" "Requires=sriov-offload.target" \
    "$(cat /run/systemd/generator/fake-nova.service.d/50-sriov-offload.conf 2>&1)"
check "no device dependencies generated" test ! -e /run/systemd/generator/sriov-offload-pre.service.d/50-devices.conf

log "--- journal of sriov-offload-pre.service and -post.service"
journalctl -b --no-pager -o short-monotonic -u sriov-offload-pre.service -u sriov-offload-post.service \
    2>&1 | sed 's/^/#   /'
check_eq "sriov-offload-pre.service failed" failed "$(systemctl is-active sriov-offload-pre.service)"
check_eq "vf-pre exit status 2 (config error)" 2 "$(show sriov-offload-pre.service ExecMainStatus)"
check_contains "vf-pre's file:line:col message in the unit's journal" "$ERR" \
    "$(journalctl -b --no-pager -u sriov-offload-pre.service 2>&1)"
check "sriov-offload-post.service did not run" test "$(show sriov-offload-post.service ExecMainStartTimestampMonotonic)" = 0
check_contains "post's job failed on its dependency" "Dependency failed" \
    "$(journalctl -b --no-pager -u sriov-offload-post.service 2>&1)"
log "--- networking.service journal lines of the hooks"
journalctl -b --no-pager -u networking.service 2>&1 | grep -i "sriov\|config.toml" | sed 's/^/#   /'

check "the failed marker is present" test -e /run/sriov-offload/failed
check_contains "the failed marker has the error" "$ERR" "$(cat /run/sriov-offload/failed 2>&1)"
check "no ready marker" test ! -e /run/sriov-offload/ready
check_eq "sriov-offload.target not reached" inactive "$(systemctl is-active sriov-offload.target)"
check_eq "the consumer did not start" inactive "$(systemctl is-active fake-nova.service)"
check "the consumer never ran" test ! -e /run/fake-nova.started
check_contains "the consumer's job failed on its dependency" "Dependency failed" \
    "$(journalctl -b --no-pager -u fake-nova.service 2>&1)"
check_eq "VFs of eth0 untouched" 0 "$(read_file /sys/class/net/eth0/device/sriov_numvfs)"
