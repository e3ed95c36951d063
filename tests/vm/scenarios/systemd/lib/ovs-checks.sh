# Open vSwitch checks of boot-ifupdown2 (sourced after boot-checks.sh): netdevsim1 (eth2) in
# switchdev with 4 VFs and ovs = { bridge = "br-offload" } (the bridge from ifupdown2).
NSIM=netdevsim/netdevsim1
CONFDB=/etc/openvswitch/conf.db

# netdevsim1's VF representor netdevs, sorted
nsim_reps() {
    devlink port show 2>/dev/null | grep "^$NSIM/" | grep 'flavour pcivf' |
        sed -n 's/.* netdev \([^ ]*\) .*/\1/p' | sort
}
sorted_ports() { ovs-vsctl list-ports br-offload 2>&1 | sort | tr '\n' ' '; }
# committed transactions so far: ovsdb-server appends one record per commit to its file
records() { ovsdb-tool show-log "$CONFDB" 2>/dev/null | grep -c '^record '; }
# the "N ms" of vf-post's summary line in a -v run's output
summary_ms() { sed -n 's/.* step(s), [0-9]* write(s), \([0-9]*\) ms.*/\1/p' | tail -1; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

boot_ovs_checks() {
    log "--- Open vSwitch"
    check_contains "the generator made ovs-vswitchd run sriov-offload-ovs first" \
        "ExecStartPre=-/usr/bin/sriov-offload-ovs" \
        "$(cat /run/systemd/generator/ovs-vswitchd.service.d/50-sriov-offload.conf 2>&1)"
    check_eq "ovs-vswitchd.service active" active "$(systemctl is-active ovs-vswitchd.service)"
    check_eq "other_config:hw-offload" '"true"' "$(ovs-vsctl get Open_vSwitch . other_config:hw-offload 2>&1)"

    # journal order: sriov-offload-ovs's record against ovs-vswitchd's start
    set_us=$(journalctl -b -o json --no-pager SYSLOG_IDENTIFIER=sriov-offload-ovs 2>/dev/null | python3 -c '
import json, sys
for l in sys.stdin:
    e = json.loads(l)
    if "hw-offload=true" in str(e.get("MESSAGE")) and e.get("SRIOV_STEP") == "ovs-hw-offload":
        print(e.get("_SOURCE_MONOTONIC_TIMESTAMP") or e["__MONOTONIC_TIMESTAMP"]); break')
    vsw_s=$(show ovs-vswitchd.service ExecMainStartTimestampMonotonic)
    journalctl -b --no-pager -o short-monotonic SYSLOG_IDENTIFIER=sriov-offload-ovs 2>&1 | sed 's/^/#   /'
    lt "hw-offload=true was set (sriov-offload-ovs, ExecStartPre) before ovs-vswitchd started" "$set_us" "$vsw_s"
    check_eq "sriov-offload-ovs ran in ovs-vswitchd.service" ovs-vswitchd.service \
        "$(journalctl -b -o json --no-pager SYSLOG_IDENTIFIER=sriov-offload-ovs 2>/dev/null | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline()).get("_SYSTEMD_UNIT"))')"
    check_contains "ovs-vswitchd enabled the flow API at start (it read hw-offload=true)" "Flow API Enabled" \
        "$(grep 'Flow API' /var/log/openvswitch/ovs-vswitchd.log 2>&1)"

    reps=$(nsim_reps | tr '\n' ' ')
    check_eq "4 representors" 4 "$(nsim_reps | wc -l)"
    check_eq "the uplink and the 4 representors are the ports of br-offload" \
        "$(printf '%s\n' eth2 $reps | sort | tr '\n' ' ')" "$(sorted_ports)"
    r0=$(nsim_reps | head -1)
    check_eq "representor ports carry their PF's device" '"netdevsim/netdevsim1"' \
        "$(ovs-vsctl get Port "$r0" external_ids:sriov-offload-pf 2>&1)"
    check_contains "the VF map names each representor's bridge" '"ovs_bridge": "br-offload"' \
        "$(cat /run/sriov-offload/vf-map.json 2>&1)"
    log "vf-post's OVS steps at boot (journal):"
    journalctl -b --no-pager -o cat SYSLOG_IDENTIFIER=vf-post 2>&1 | grep -E 'OVS|Open_vSwitch' | sed 's/^/#   /'
    boot_ms=$(journalctl -b --no-pager -o cat SYSLOG_IDENTIFIER=vf-post 2>&1 | grep -E "OVS bridge|Open_vSwitch" |
        sed -n 's/.*(\([0-9]*\) ms)$/\1/p' | awk '{s+=$1} END {print s+0}')
    log "MEASURE ovs steps in the boot's vf-post: ${boot_ms} ms (sum of the OVS step times)"

    log "--- rerun: nothing to do, no OVSDB transaction"
    n0=$(records)
    out=$(vf-post -v 2>&1)
    echo "$out" | sed 's/^/#   /'
    check_contains "vf-post rerun: 0 steps, 0 writes" "0 step(s), 0 write(s)" "$out"
    out=$(sriov-offload-ovs -v 2>&1)
    check_contains "sriov-offload-ovs rerun: already true" "already true" "$out"
    n1=$(records)
    check_eq "no transaction committed by the reruns (records in $CONFDB: $n0)" "$n0" "$n1"

    # what OVS adds to a vf-post that has nothing to do: 3 runs each, with and without ovs
    grep -v '^ovs = ' /etc/sriov-offload/config.toml >/tmp/no-ovs.toml
    with=$(for i in 1 2 3; do vf-post -v 2>&1 | summary_ms; done | median)
    without=$(for i in 1 2 3; do vf-post -v --config /tmp/no-ovs.toml 2>&1 | summary_ms; done | median)
    log "MEASURE vf-post with nothing to do, median of 3: ${with} ms with ovs, ${without} ms without (OVSDB read ~$((with - without)) ms)"

    log "--- 4 -> 2 VFs: the representors of VFs 2 and 3 go, so do their ports"
    old_reps=$(nsim_reps)
    printf '[[pf]]\nmatch = { name = "eth2" }\nvfs = 2\n' >/etc/sriov-offload/conf.d/50-two-vfs.toml
    # netdevsim makes representors only when switching to switchdev with VFs present (mlx5 also
    # makes them on a VF count change): back to legacy by hand, vf-post switches again
    check "eswitch of $NSIM back to legacy" devlink dev eswitch set $NSIM mode legacy
    check "vf-pre eth2 (4 -> 0 -> 2 VFs)" vf-pre eth2
    n0=$(records)
    t0=$(now_ms)
    out=$(vf-post -v eth2 2>&1)
    st=$?
    t=$(elapsed_ms "$t0")
    echo "$out" | sed 's/^/#   /'
    check_eq "vf-post eth2 succeeded" 0 "$st"
    new_reps=$(nsim_reps)
    check_eq "2 representors" 2 "$(echo "$new_reps" | grep -c .)"
    check_eq "br-offload: the uplink and the 2 representors" \
        "$(printf '%s\n' eth2 $new_reps | sort | tr '\n' ' ')" "$(sorted_ports)"
    gone=0
    for r in $old_reps; do echo "$new_reps" | grep -qx "$r" || gone=$((gone + 1)); done
    check_eq "the 2 stale ports removed (representors of VFs 2 and 3)" 2 "$gone"
    d=$(echo "$out" | grep -n 'detach eth2 from OVS bridge br-offload' | cut -d: -f1)
    m=$(echo "$out" | grep -n 'set eswitch mode switchdev' | cut -d: -f1)
    a=$(echo "$out" | grep -n 're-attach eth2 to OVS bridge br-offload' | cut -d: -f1)
    check "eth2 detached before the eswitch mode change, re-attached after (lines ${d:-?} < ${m:-?} < ${a:-?})" \
        test "${d:-0}" -gt 0 -a "${d:-0}" -lt "${m:-0}" -a "${m:-0}" -lt "${a:-0}"
    log "MEASURE vf-post eth2 4->2 VFs: ${t} ms wall, OVSDB records committed: $(( $(records) - n0 ))"
    out=$(vf-post -v 2>&1)
    check_contains "rerun after the change: 0 steps" "0 step(s), 0 write(s)" "$out"
}
