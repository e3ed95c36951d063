# Checks of a PF's life after boot (sourced after boot-checks.sh): a PF that goes away and comes
# back (a driver reload or firmware reset does this to mlx5) is re-applied by its own instance
# of sriov-offload-reapply@, for that PF alone, and `ready` is withdrawn in between.

# ready_state: ready | pending | failed | none
ready_state() {
    if [ -e /run/sriov-offload/failed ]; then echo failed
    elif [ -e /run/sriov-offload/ready ]; then echo ready
    elif [ -e /run/sriov-offload/pending ]; then echo pending
    else echo none; fi
}

reapply_checks() {
    check_eq "ready before the re-appearing PFs" ready "$(ready_state)"

    # --- netdevsim1 deleted and created again: switchdev and representors come back --------
    # a VF of the other PFs in use, to see that nothing else is touched
    # shellcheck disable=SC2046 # word splitting of the VF list is wanted
    set -- $(vfs_of 0000:01:00.0)
    guest_vf=$1
    guest_dev=$(netdev_of "$guest_vf")
    ip link set "$guest_dev" up
    guest_ifindex=$(read_file /sys/class/net/$guest_dev/ifindex)
    log "guest VF $guest_vf netdev $guest_dev (ifindex $guest_ifindex) up"
    since=$(date '+%Y-%m-%d %H:%M:%S')
    write_file /sys/bus/netdevsim/del_device 1
    check "netdevsim1 gone: ready withdrawn (pending)" wait_for 10 sh -c '[ -e /run/sriov-offload/pending ] && [ ! -e /run/sriov-offload/ready ]'
    check_contains "pending names the PF that is gone" 'configured PF (name eth2) is gone' "$(cat /run/sriov-offload/pending 2>&1)"
    t0=$(now_ms)
    write_file /sys/bus/netdevsim/new_device "1 1"
    check "netdevsim1 back: ready again" wait_for 60 test -e /run/sriov-offload/ready
    ms=$(elapsed_ms "$t0")
    log "netdevsim1 re-created -> ready again: $ms ms"
    check_contains "netdevsim1 in switchdev again" "mode switchdev" "$(devlink dev eswitch show netdevsim/netdevsim1 2>&1)"
    check_eq "netdevsim1 has ${NSIM_VFS:-2} VFs again" "${NSIM_VFS:-2}" "$(read_file /sys/bus/netdevsim/devices/netdevsim1/sriov_numvfs)"
    reps=$(devlink port show 2>&1 | grep '^netdevsim/netdevsim1/' | grep 'flavour pcivf' | grep -c ' netdev ')
    check_eq "netdevsim1's ${NSIM_VFS:-2} representors again" "${NSIM_VFS:-2}" "$reps"
    check "no pending marker left" test ! -e /run/sriov-offload/pending
    # ready is written by vf-post; irq-tune still runs after it
    check "sriov-offload-reapply@eth2 ran and finished" wait_for 30 sh -c '[ "$(systemctl is-active sriov-offload-reapply@eth2.service)" = inactive ]'
    check_eq "sriov-offload-reapply@eth2 succeeded" success "$(show sriov-offload-reapply@eth2.service Result)"
    steps=$(journalctl -u sriov-offload-reapply@eth2.service --since "$since" -o export 2>/dev/null | grep -a '^SRIOV_PF=' | grep -v '^SRIOV_PF=-$' | sort -u | tr '\n' ' ')
    check_eq "the re-apply took steps for eth2 alone" "SRIOV_PF=eth2 " "$steps"

    reapply_igb_slave ifupdown
    check_eq "the other PF's in-use VF kept its netdev" "$guest_ifindex" "$(read_file /sys/class/net/$guest_dev/ifindex)"
    check_eq "the other PF still has 4 VFs" 4 "$(read_file $P/0000:01:00.0/sriov_numvfs)"
    check "no failed marker after the re-appearances" test ! -e /run/sriov-offload/failed
    ip link set "$guest_dev" down
}

# reapply_igb_slave ifupdown|networkd: the igb driver of bond0's slave 0000:81:00.0 unbound and
# bound again. ifupdown does not re-enslave it: the journal must say `ifup bond0`, which then
# finds nothing left to do. systemd-networkd re-enslaves it by itself, within about a second,
# before the re-apply's pre steps run: the re-apply works on a PF that is a slave again.
reapply_igb_slave() {
    kind=$1
    since=$(date '+%Y-%m-%d %H:%M:%S')
    pf=$(ls $P/0000:81:00.0/net)
    other=$(ls $P/0000:01:00.0/net)
    check_contains "per-PF state of $pf: ready" '"state": "ready"' "$(read_file /run/sriov-offload/pf/$pf)"
    write_file /sys/bus/pci/drivers/igb/unbind 0000:81:00.0
    check "0000:81:00.0 gone: ready withdrawn" wait_for 10 sh -c '[ ! -e /run/sriov-offload/ready ]'
    check_contains "per-PF state of $pf: gone" '"state": "gone"' "$(read_file /run/sriov-offload/pf/$pf)"
    check_contains "per-PF state of $other: still ready" '"state": "ready"' "$(read_file /run/sriov-offload/pf/$other)"
    check "wait-offload --pf $other: ready while $pf is gone" wait-offload --pf "$other" --timeout 1s
    wait-offload --pf "$pf" --timeout 100ms 2>/dev/null
    check_eq "wait-offload --pf $pf: times out (exit 3) while it is gone" 3 "$?"
    t0=$(now_ms)
    write_file /sys/bus/pci/drivers/igb/bind 0000:81:00.0
    check "0000:81:00.0 back: ready again" wait_for 60 test -e /run/sriov-offload/ready
    ms=$(elapsed_ms "$t0")
    log "igb PF 0000:81:00.0 re-bound -> ready again ($kind): $ms ms"
    check_eq "0000:81:00.0 has 4 VFs again" 4 "$(read_file $P/0000:81:00.0/sriov_numvfs)"
    bound=0
    for vf in $(vfs_of 0000:81:00.0); do [ "$(driver_of "$vf")" = igbvf ] && bound=$((bound + 1)); done
    check_eq "its 4 VFs bound to igbvf again" 4 "$bound"
    check_eq "it has its name again" "$pf" "$(ls $P/0000:81:00.0/net)"
    check_contains "per-PF state of $pf: ready again" '"state": "ready"' "$(read_file /run/sriov-offload/pf/$pf)"
    wait_for 30 sh -c "[ \"\$(systemctl is-active sriov-offload-reapply@$pf.service)\" = inactive ]"
    check_eq "sriov-offload-reapply@$pf succeeded" success "$(show "sriov-offload-reapply@$pf.service" Result)"
    journal=$(journalctl -u "sriov-offload-reapply@$pf.service" --since "$since" --no-pager -o short-precise 2>&1)
    echo "$journal" | tail -20 | sed 's/^/#   /'
    steps=$(journalctl -u "sriov-offload-reapply@$pf.service" --since "$since" -o export 2>/dev/null | grep -a '^SRIOV_PF=' | grep -v '^SRIOV_PF=-$' | sort -u | tr '\n' ' ')
    check_eq "the re-apply took steps for $pf alone" "SRIOV_PF=$pf " "$steps"
    case $kind in
    ifupdown)
        check_contains "the journal says ifup is needed to re-enslave it" "ifup bond0" "$journal"
        # what the journal told the operator to do: ifup of the bond re-enslaves it, its hooks
        # find nothing left to do (not ifreload -a here: it would drop br-offload's
        # representor ports, which its stanza does not list)
        check "ifup bond0 re-enslaves $pf" ifup bond0
        ;;
    networkd)
        # when networkd took it back, relative to the re-apply's steps above
        journalctl -u systemd-networkd.service --since "$since" --no-pager -o short-precise 2>&1 |
            grep -a "$pf" | tail -5 | sed 's/^/#   networkd: /'
        check_eq "networkd re-enslaved $pf (nobody ran ifup)" bond0 "$(basename "$(readlink /sys/class/net/$pf/master)")"
        case $journal in
        *"ifup bond0"*) fail "the journal asks for ifup on a networkd host" ;;
        esac
        ;;
    esac
    check_eq "$pf is a slave of bond0 again" bond0 "$(basename "$(readlink /sys/class/net/$pf/master)")"
    check "still ready after the re-enslavement" test -e /run/sriov-offload/ready
    check "no failed marker after the re-appearance" test ! -e /run/sriov-offload/failed
}
