# vm-timeout: 1500
# Guest side of bench/run.sh (sourced after tests/vm/lib.sh, like a scenario). One boot:
#   A. REPS rounds of: seed (bond.offload.pre/post) | ours (vf-pre, vf-post) | floor (raw writes),
#      each from the same reset state, order rotated per round; each verified afterwards
#   B. per-VF costs and parallel binding on raw sysfs (bench-helper)
#   C. wait-offload wake-up vs the seed's `sleep 1` loop
#   D. start-up time and peak RSS of each binary
#   E. sleep/poll system calls (strace -f -c)
#   F. irq-tune
# Machine-readable lines start with "R "; bench/run.sh turns them into bench/results.md.
: "${REPS:=5}" "${WAKE_N:=60}" "${SEED_WAKE_N:=8}" "${STARTUP_N:=60}" "${EXP_REPS:=5}"
P=/sys/bus/pci/devices
H=bench-helper
B=/opt/bench
PF1=0000:01:00.0
PF2=0000:81:00.0
NSIM=/sys/bus/netdevsim/devices/netdevsim1
CFG=/etc/bench/ours.toml
EMPTY=/etc/bench/empty.toml
SC="nanosleep,clock_nanosleep,select,pselect6,poll,ppoll,epoll_wait,epoll_pwait"

require "netdevsim1 created" write_file /sys/bus/netdevsim/new_device "1 1"
require "netdevsim1 netdev" wait_for 10 sh -c "ls $NSIM/net | grep -q ."
require "names as the seed scripts expect (eth0, eth1 igb; eth2 netdevsim)" \
    test "$(netdev_of $PF1) $(netdev_of $PF2) $(ls $NSIM/net)" = "eth0 eth1 eth2"
log "$(nproc) vCPUs; kernel $(uname -r)"

reset() {
    devlink dev eswitch set netdevsim/netdevsim1 mode legacy 2>/dev/null
    echo 0 >$NSIM/sriov_numvfs
    for pf in $PF1 $PF2; do
        echo 0 >$P/$pf/sriov_numvfs
        echo 1 >$P/$pf/sriov_drivers_autoprobe
    done
    rm -f /run/sriov-offload/ready /run/sriov-offload/failed /run/sriov-offload/vf-map.json \
        /tmp/vf_done.offload /run/floor/ready
}
bound_igbvf() {
    n=0
    for pf in $PF1 $PF2; do
        for v in $(vfs_of $pf); do [ "$(driver_of "$v")" = igbvf ] && n=$((n + 1)); done
    done
    echo $n
}
reps() {
    n=0
    for f in /sys/class/net/*/phys_port_name; do
        x=
        { read -r x <"$f"; } 2>/dev/null
        case $x in pf0vf*) n=$((n + 1)) ;; esac
    done
    echo $n
}
# verify FLOW MARKER: the same end state for every flow
verify() {
    check_eq "$1: 14 igb VFs bound to igbvf, 4 representors, switchdev, marker" \
        "14 4 switchdev yes" \
        "$(bound_igbvf) $(reps) $(devlink dev eswitch show netdevsim/netdevsim1 | sed -n 's/.*mode \([a-z]*\).*/\1/p') $([ -e "$2" ] && echo yes)"
}
# field NAME LINE: value of NAME=... in a helper output line
field() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# the VF addresses (for the floor, which does no discovery) and a first look at the flows
reset
echo 0 >$P/$PF1/sriov_drivers_autoprobe
echo 0 >$P/$PF2/sriov_drivers_autoprobe
echo 7 >$P/$PF1/sriov_numvfs
echo 7 >$P/$PF2/sriov_numvfs
VFS1=$(vfs_of $PF1 | tr '\n' ' ')
VFS2=$(vfs_of $PF2 | tr '\n' ' ')
export FLOOR_PFS="$PF1 $PF2" FLOOR_VFS="$VFS1 $VFS2"
log "VFs: $FLOOR_VFS"
reset
echo "== plan of ours from the reset state (vf-pre --dry-run; vf-post --dry-run after vf-pre)"
vf-pre --config $CFG --dry-run 2>&1 | sed 's/^/#   /'
vf-pre --config $CFG 2>/dev/null
vf-post --config $CFG --dry-run 2>&1 | sed 's/^/#   /'
reset

# --- A. the three flows ---
run_seed() {
    a=$($H run -- sh $B/seed/bond.offload.pre)
    b=$($H run -- sh -c "sh $B/seed/bond.offload.post >/tmp/seed-post.log 2>&1")
    polls=$(grep -c "wait vf ready" /tmp/seed-post.log)
    verify "seed round $1" /tmp/vf_done.offload
    echo "R flow seed round=$1 pre_us=$(field us "$a") post_us=$(field us "$b") polls=$polls"
}
run_ours() {
    a=$($H run -- vf-pre --config $CFG)
    b=$($H run -- vf-post --config $CFG)
    verify "ours round $1" /run/sriov-offload/ready
    echo "R flow ours round=$1 pre_us=$(field us "$a") post_us=$(field us "$b") pre_rss=$(field maxrss_kib "$a") post_rss=$(field maxrss_kib "$b") exit=$(field exit "$a")$(field exit "$b")"
}
run_floor() {
    a=$($H run -- sh $B/floor/pre.sh)
    b=$($H run -- sh $B/floor/post.sh)
    verify "floor round $1" /run/floor/ready
    echo "R flow floor round=$1 pre_us=$(field us "$a") post_us=$(field us "$b")"
}
log "at $(cut -d' ' -f1 /proc/uptime)s"
echo "== A. flows: $REPS rounds (order rotated), each from the reset state"
r=1
while [ $r -le "$REPS" ]; do
    case $((r % 3)) in
    1) order="seed ours floor" ;;
    2) order="ours floor seed" ;;
    0) order="floor seed ours" ;;
    esac
    for f in $order; do
        reset
        run_$f $r
    done
    r=$((r + 1))
done

# --- B. per-VF costs, parallel binding (raw sysfs, bench-helper) ---
log "at $(cut -d' ' -f1 /proc/uptime)s"
echo "== B. per-VF costs and parallel binding ($EXP_REPS rounds)"
ALL="$VFS1 $VFS2"
both_numvfs() { $H numvfs "$@" $P/$PF1/sriov_numvfs=$N $P/$PF2/sriov_numvfs=$N; }
r=1
while [ $r -le "$EXP_REPS" ]; do
    # VF creation: autoprobe on (the seed: each VF probed by igbvf inside the write), then off
    reset
    N=7
    o=$(both_numvfs); echo "R exp numvfs_ap1_seq round=$r $o"
    o=$($H unbind $ALL); echo "R exp unbind_14 round=$r $o"
    reset
    echo 0 >$P/$PF1/sriov_drivers_autoprobe; echo 0 >$P/$PF2/sriov_drivers_autoprobe
    o=$(both_numvfs); echo "R exp numvfs_ap0_seq round=$r $o"
    # binding: 14 VFs sequentially, one thread per PF, K threads over all / within one PF
    o=$($H bind igbvf 1 $ALL); echo "R exp bind14_t1 round=$r $o"
    $H unbind $ALL >/dev/null
    t0=$($H now)
    $H bind igbvf 1 $VFS1 >/tmp/b1 &
    $H bind igbvf 1 $VFS2 >/tmp/b2 &
    wait
    t1=$($H now)
    echo "R exp bind14_perpf round=$r total_us=$((t1 - t0)) pf1_us=$(field total_us "$(cat /tmp/b1)") pf2_us=$(field total_us "$(cat /tmp/b2)")"
    $H unbind $ALL >/dev/null
    for k in 2 4 14; do
        o=$($H bind igbvf $k $ALL); echo "R exp bind14_t$k round=$r $o"
        $H unbind $ALL >/dev/null
    done
    for k in 1 2 4 7; do
        o=$($H bind igbvf $k $VFS1); echo "R exp bind7pf1_t$k round=$r $o"
        $H unbind $VFS1 >/dev/null
    done
    check_eq "round $r: all unbound again" 0 "$(bound_igbvf)"
    # creation on both PFs at once (autoprobe off)
    N=0; both_numvfs >/dev/null
    N=7; o=$(both_numvfs --parallel); echo "R exp numvfs_ap0_par round=$r $o"
    r=$((r + 1))
done
o=$($H bind igbvf 14 $ALL) && check_eq "14 threads bound all 14 VFs" 14 "$(bound_igbvf)"

# --- C. wake-up after the marker appears ---
log "at $(cut -d' ' -f1 /proc/uptime)s"
echo "== C. wait-offload wake-up ($WAKE_N samples) vs the seed's sleep-1 loop ($SEED_WAKE_N samples)"
reset
o=$($H wake "$WAKE_N" /run/sriov-offload -- /opt/sriov-offload/bin/wait-offload --timeout 60s)
echo "R wake ours $o"
o=$($H wake-seed "$SEED_WAKE_N" /tmp/vf_done.offload)
echo "R wake seed $o"

# --- D. start-up and peak RSS ---
log "at $(cut -d' ' -f1 /proc/uptime)s"
echo "== D. start-up (spawn..wait4, $STARTUP_N samples after 3 warm-up) and peak RSS"
: >$EMPTY
mkdir -p /run/sriov-offload
printf '{"boot_id": "%s", "time": 0}' "$(cat /proc/sys/kernel/random/boot_id)" >/run/sriov-offload/ready
st() { o=$($H stats "$STARTUP_N" -- "$@"); echo "R startup $1:$2 $o"; }
st $(command -v bench-helper) noop
st /bin/true
st /opt/sriov-offload/bin/vf-pre --help
st /opt/sriov-offload/bin/vf-post --help
st /opt/sriov-offload/bin/wait-offload --help
st /opt/sriov-offload/bin/irq-tune --help
st /opt/sriov-offload/bin/vf-pre --config $EMPTY
st /opt/sriov-offload/bin/vf-post --config $EMPTY
st /opt/sriov-offload/bin/irq-tune --config $EMPTY
st /opt/sriov-offload/bin/wait-offload --timeout 1s
rm -f /run/sriov-offload/ready

# --- E. sleeps and polls ---
log "at $(cut -d' ' -f1 /proc/uptime)s"
echo "== E. strace -f -c -e trace=$SC"
# strace_counts FILE: "name=calls ..." from strace -c output
strace_counts() { awk '$NF ~ /^[a-z_0-9]+$/ && $(NF-1) ~ /^[0-9]+$/ && $NF != "total" {printf "%s=%s ", $NF, ($(NF-2) ~ /^[0-9]+$/ && NF >= 6 ? $(NF-2) : $(NF-1))}' "$1"; }
reset
strace -f -c -o /tmp/st-pre -e trace=$SC vf-pre --config $CFG 2>/dev/null
strace -f -c -o /tmp/st-post -e trace=$SC vf-post --config $CFG 2>/dev/null
verify "ours under strace" /run/sriov-offload/ready
reset
strace -f -e trace=$SC -o /tmp/st-pre-calls vf-pre --config $CFG 2>/dev/null
strace -f -e trace=$SC -o /tmp/st-post-calls vf-post --config $CFG 2>/dev/null
sed 's/^/#   vf-pre calls  | /' /tmp/st-pre-calls
sed 's/^/#   vf-post calls | /' /tmp/st-post-calls
sed 's/^/#   vf-pre  | /' /tmp/st-pre
sed 's/^/#   vf-post | /' /tmp/st-post
echo "R strace ours_pre $(strace_counts /tmp/st-pre)"
echo "R strace ours_post $(strace_counts /tmp/st-post)"
reset
strace -f -c -o /tmp/st-seed -e trace=$SC sh -c "sh $B/seed/bond.offload.pre; sh $B/seed/bond.offload.post >/dev/null 2>&1"
verify "seed under strace" /tmp/vf_done.offload
sed 's/^/#   seed    | /' /tmp/st-seed
echo "R strace seed $(strace_counts /tmp/st-seed)"

# --- F. irq-tune (PFs and VFs up, as after the bond's post-up) ---
log "at $(cut -d' ' -f1 /proc/uptime)s"
echo "== F. irq-tune"
reset
vf-pre --config $CFG 2>/dev/null && vf-post --config $CFG 2>/dev/null
for n in $(ls /sys/class/net); do ip link set "$n" up 2>/dev/null; done
sleep 2
for i in 1 2 3; do
    o=$($H run -- irq-tune --config $CFG)
    echo "R irq run=$i $o"
done
irq-tune --config $CFG -v 2>&1 | tail -1 | sed 's/^/#   rerun: /'
