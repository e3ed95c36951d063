# vm-timeout: 300
# Idempotence and the lock on a real kernel: after the bond flow has run once (two igb PFs,
# VFs bound to igbvf, VF properties set) and guests' VF netdevs are up, 100 more runs of
# vf-pre + vf-post (ifupdown's IFACE=bond0 and the units' all-PFs form, alternately) each
# report `0 step(s), 0 write(s)` and leave every VF netdev as it was (name, ifindex, driver,
# flags, VF properties). Then 10 times two runs started together on the same PF both succeed.

igb_pair
RUNS=100
ROUNDS=10

mkdir -p /etc/sriov-offload
cat >/etc/sriov-offload/config.toml <<EOF
[defaults]
timeout = "60s"

[[pf]]
match = { name = "$S1" }
vfs = 3
bind = "igbvf"
vf = { 1 = { mac = "02:00:00:00:01:01", vlan = 100, trust = true, spoofchk = false } }

[[pf]]
match = { name = "$S2" }
vfs = 3
bind = "igbvf"
vf = { 0 = { mac = "02:00:00:00:02:00" }, 2 = { spoofchk = false } }

[[bond]]
name = "bond0"
slaves = ["$S1", "$S2"]
EOF

# --- the first run: ifupdown's bond flow ---
require "IFACE=bond0 vf-pre" sh -c "IFACE=bond0 vf-pre -v 2>/tmp/pre.log"
ip link add bond0 type bond mode active-backup miimon 100
ip link set "$S1" down
ip link set "$S2" down
require "$S1 enslaved" ip link set "$S1" master bond0
require "$S2 enslaved" ip link set "$S2" master bond0
ip link set bond0 up
require "IFACE=bond0 vf-post" sh -c "IFACE=bond0 vf-post -v 2>/tmp/post.log"
sed 's/^/#   first post| /' /tmp/post.log
for pf in $ROOT_PF $NUMA1_PF; do
    bound=0
    for vf in $(vfs_of "$pf"); do [ "$(driver_of "$vf")" = igbvf ] && bound=$((bound + 1)); done
    check_eq "3 VFs of $pf bound to igbvf" 3 "$bound"
done
check "ready marker" test -e /run/sriov-offload/ready

# guests are using the VFs now
for pf in $ROOT_PF $NUMA1_PF; do
    for vf in $(vfs_of "$pf"); do ip link set "$(netdev_of "$vf")" up; done
done

# everything a reset would change: VF count, each VF's netdev name, ifindex, driver and
# flags (IFF_UP), and the PFs' per-VF properties (MAC, VLAN, spoof checking, trust)
snapshot() {
    for pf in $ROOT_PF $NUMA1_PF; do
        echo "$pf numvfs=$(read_file $P/$pf/sriov_numvfs)"
        for vf in $(vfs_of "$pf"); do
            n=$(netdev_of "$vf")
            echo "  $vf $n ifindex=$(read_file /sys/class/net/$n/ifindex) $(driver_of "$vf") flags=$(read_file /sys/class/net/$n/flags)"
        done
        ip link show dev "$(netdev_of "$pf")" | grep ' vf ' | sed 's/^ */  /'
    done
}
before=$(snapshot)
log "VF netdevs before the runs:"
printf '%s\n' "$before" | sed 's/^/#   /'
check_eq "6 VF netdevs up" 6 "$(printf '%s\n' "$before" | grep -c 'flags=0x[0-9a-f]*[13579bdf]$')"
vf1=$(printf '%s\n' "$before" | grep -m1 ' vf 1 ')
check_contains "VF 1 of $S1 has its MAC" "link/ether 02:00:00:00:01:01 " "$vf1"
check_contains "VF 1 of $S1 has its VLAN, spoofchk, trust" "vlan 100, spoof checking off, link-state auto, trust on" "$vf1"

# --- RUNS x (vf-pre + vf-post) ---
# summary "N step(s), M write(s), T ms" of a -v log: "N M T"
summary() { sed -n 's/.* \([0-9][0-9]*\) step(s), \([0-9][0-9]*\) write(s), \([0-9][0-9]*\) ms.*/\1 \2 \3/p' "$1" | tail -1; }
quiet=0 steps=0 writes=0 self_ms=0 max_ms=0 failed=0 first_bad=
t_all=$(now_ms)
i=1
while [ $i -le $RUNS ]; do
    # odd runs as ifupdown's hooks for the bond, even runs as the units (every PF)
    if [ $((i % 2)) -eq 1 ]; then iface=bond0; else iface=; fi
    t=$(now_ms)
    IFACE=$iface vf-pre -v 2>/tmp/run.pre.log
    rc_pre=$?
    IFACE=$iface vf-post -v 2>/tmp/run.post.log
    rc_post=$?
    ms=$(elapsed_ms "$t")
    [ "$ms" -gt "$max_ms" ] && max_ms=$ms
    ok=1
    [ $rc_pre -eq 0 ] && [ $rc_post -eq 0 ] || { ok=0; failed=$((failed + 1)); }
    for l in /tmp/run.pre.log /tmp/run.post.log; do
        set -- $(summary $l)
        if [ $# -ne 3 ]; then
            ok=0
            continue
        fi
        steps=$((steps + $1)) writes=$((writes + $2)) self_ms=$((self_ms + $3))
        [ "$1" -eq 0 ] && [ "$2" -eq 0 ] || ok=0
    done
    if [ $ok -eq 1 ]; then
        quiet=$((quiet + 1))
    elif [ -z "$first_bad" ]; then
        first_bad=$i
        echo "# run $i (IFACE='$iface'): pre exit $rc_pre, post exit $rc_post"
        sed 's/^/#   pre | /' /tmp/run.pre.log
        sed 's/^/#   post| /' /tmp/run.post.log
    fi
    i=$((i + 1))
done
total_ms=$(elapsed_ms "$t_all")
log "$RUNS runs of vf-pre + vf-post: $total_ms ms in all, $((total_ms / RUNS)) ms per run (pre + post, max $max_ms ms), $((self_ms / (2 * RUNS))) ms per binary as it reports itself"
log "steps executed: $steps, writes: $writes, runs that failed: $failed"
check_eq "all $RUNS runs succeeded" 0 "$failed"
check_eq "all $RUNS runs reported 0 step(s), 0 write(s) (pre and post)" "$RUNS" "$quiet"
check_eq "writes in all $RUNS runs" 0 "$writes"
after=$(snapshot)
check_eq "VF netdevs unchanged (names, ifindex, driver, flags, VF properties)" "$before" "$after"
check "ready marker still there" test -e /run/sriov-offload/ready
check "no failed marker" test ! -e /run/sriov-offload/failed

# --- two runs together on the same PF, ROUNDS times: both succeed, serialised by the lock ---
both_ok=0 waited=0
r=1
while [ $r -le $ROUNDS ]; do
    # one as udev/the unit (the PF), one as ifupdown's hook (the bond): both lock $ROOT_PF
    (vf-post -v "$S1" 2>/tmp/race1.log; echo $? >/tmp/race1.rc) &
    (IFACE=bond0 vf-post -v 2>/tmp/race2.log; echo $? >/tmp/race2.rc) &
    wait
    if [ "$(cat /tmp/race1.rc) $(cat /tmp/race2.rc)" = "0 0" ]; then
        both_ok=$((both_ok + 1))
    else
        echo "# round $r: exits $(cat /tmp/race1.rc) $(cat /tmp/race2.rc)"
        sed 's/^/#   1| /' /tmp/race1.log
        sed 's/^/#   2| /' /tmp/race2.log
    fi
    cat /tmp/race1.log /tmp/race2.log | grep -q "another run holds the lock" && waited=$((waited + 1))
    r=$((r + 1))
done
log "$ROUNDS rounds of two concurrent runs: $both_ok with both succeeding, $waited in which one waited for the other's lock"
check_eq "$ROUNDS rounds: both concurrent runs succeed" "$ROUNDS" "$both_ok"
check_eq "VF netdevs unchanged after the concurrent runs" "$before" "$(snapshot)"
