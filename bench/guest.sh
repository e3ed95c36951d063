# vm-timeout: 2700
# Guest side of bench/run.sh (sourced after tests/vm/lib.sh, like a scenario). One boot:
#   A. REPS rounds of: seed (bond.offload.pre/post) | ours (vf-pre, vf-post) | floor (raw writes),
#      each from the same reset state, order rotated per round; each verified afterwards
#   B. per-VF costs and parallel binding on raw sysfs (bench-helper)
#   C. wait-offload wake-up vs the seed's `sleep 1` loop
#   D. start-up time and peak RSS of each binary
#   E. sleep/poll system calls (strace -f -c)
#   F. irq-tune
#   G. the firmware-bound probe model (tests/vm/probe-model, delay SLOW_DELAY ms): SLOW_REPS
#      rounds of seed | sequential floor | parallel floor | ours with probe_jobs 1, 2, 4, 8, auto,
#      order rotated per round; VF creation against the VF count; sleeps of the pool
#   H. scaling: 7 / 14 VFs × delays SCALE_DELAYS, SCALE_REPS rounds of the two floors and ours
# Machine-readable lines start with "R "; bench/run.sh turns them into bench/results.md.
# ONLY=slow runs G and H alone (a quick look at the section; results.md needs the whole run).
: "${REPS:=5}" "${WAKE_N:=60}" "${SEED_WAKE_N:=8}" "${STARTUP_N:=60}" "${EXP_REPS:=5}"
: "${SLOW_REPS:=5}" "${SLOW_DELAY:=300}" "${SCALE_REPS:=3}" "${SCALE_DELAYS:=100 300 1000}" "${ONLY:=}"
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
# strace_counts FILE: "name=calls ..." from strace -c output
strace_counts() { awk '$NF ~ /^[a-z_0-9]+$/ && $(NF-1) ~ /^[0-9]+$/ && $NF != "total" {printf "%s=%s ", $NF, ($(NF-2) ~ /^[0-9]+$/ && NF >= 6 ? $(NF-2) : $(NF-1))}' "$1"; }

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

# A–F are the plain benchmark (igbvf: its probe is CPU work in the emulated guest)
if [ "$ONLY" != slow ]; then
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
fi # A–F

# --- G. the firmware-bound probe model: binding is what costs ---
log "at $(cut -d' ' -f1 /proc/uptime)s"
echo "== G. slow probe (delay ${SLOW_DELAY} ms): $SLOW_REPS rounds of seed, floors, ours with probe_jobs 1/2/4/auto"
load_probe_model delay_ms=$SLOW_DELAY
M=/sys/module/slowprobe/parameters
# slow_cfg NAME PROBE_JOBS PF...: a config binding the PFs' 7 VFs each to the model
slow_cfg() {
    f=/etc/bench/$1.toml
    n=$2
    shift 2
    printf '[defaults]\ntimeout = "120s"\nprobe_jobs = %s\n' "$n" >$f
    for pf in "$@"; do printf '\n[[pf]]\nmatch = { pci = "%s" }\nvfs = 7\nbind = "slowprobe"\n' "$pf" >>$f; done
}
for j in 1 2 4 8; do slow_cfg slow-j$j $j $PF1 $PF2; done
slow_cfg slow-jauto '"auto"' $PF1 $PF2
slow_cfg slow7-jauto '"auto"' $PF1
# on_model: VFs of the PFs bound to the model
on_model() {
    n=0
    for pf in $PF1 $PF2; do
        for v in $(vfs_of $pf); do [ "$(driver_of "$v")" = slowprobe ] && n=$((n + 1)); done
    done
    echo $n
}
# slow FLOW ROUND [N [TAG]]: one flow from the reset state, N VFs (14: both PFs; 7: PF1),
# verified; prints "R TAG FLOW ..." (TAG: slow) with pre (creation) and post (binding) times
# and the model's peak
slow() {
    reset
    echo 0 >$M/peak
    n=${3:-14}
    pfs="$PF1 $PF2" vfs="$VFS1 $VFS2" cfg=-jauto
    [ "$n" = 7 ] && pfs=$PF1 vfs=$VFS1 cfg=7-jauto
    case $1 in
    seed)
        a=$($H run -- sh $B/seed/slow.offload.pre)
        b=$($H run -- sh $B/seed/slow.offload.post)
        pre=$(field us "$a") post=$(field us "$b") extra=
        ;;
    floor_seq | floor_par)
        a=$(FLOOR_PFS=$pfs $H run -- sh $B/floor/slow-pre.sh)
        th=1
        [ $1 = floor_par ] && th=$n
        b=$($H bind slowprobe $th $vfs)
        pre=$(field us "$a") post=$(field total_us "$b") extra=
        ;;
    ours_*)
        [ "$n" = 14 ] && cfg=-j${1#ours_}
        a=$($H run -- vf-pre --config /etc/bench/slow$cfg.toml)
        b=$($H run -- vf-post --config /etc/bench/slow$cfg.toml)
        pre=$(field us "$a") post=$(field us "$b")
        extra="pre_rss=$(field maxrss_kib "$a") post_rss=$(field maxrss_kib "$b") exit=$(field exit "$a")$(field exit "$b")"
        ;;
    esac
    check_eq "$1 round $2 ($n VFs, ${DELAY_NOW} ms): $n VFs bound to the model" "$n" "$(on_model)"
    echo "R ${4:-slow} $1 round=$2 n=$n delay=$DELAY_NOW pre_us=$pre post_us=$post peak=$(cat $M/peak) $extra"
}
# rotate K WORD...: the words rotated left by K
rotate() {
    k=$1
    shift
    i=0
    for w in "$@"; do [ $i -ge "$k" ] && printf '%s ' "$w"; i=$((i + 1)); done
    i=0
    for w in "$@"; do [ $i -lt "$k" ] && printf '%s ' "$w"; i=$((i + 1)); done
}
DELAY_NOW=$SLOW_DELAY
echo "== plan of ours (probe_jobs auto) from the reset state"
reset
vf-pre --config /etc/bench/slow-jauto.toml 2>/dev/null
vf-post --config /etc/bench/slow-jauto.toml --dry-run 2>&1 | sed 's/^/#   /'
FLOWS="seed floor_seq floor_par ours_1 ours_2 ours_4 ours_8 ours_auto"
r=1
while [ $r -le "$SLOW_REPS" ]; do
    for f in $(rotate $(((r - 1) % 8)) $FLOWS); do slow $f $r; done
    r=$((r + 1))
done
# VF creation against the VF count (autoprobe off as ours and the floor create; on as the seed):
# a fixed part per PF (igb resets the PF) and a part per VF, to extrapolate from
log "at $(cut -d' ' -f1 /proc/uptime)s"
echo "== G. VF creation: sriov_numvfs 0 -> K on both PFs one after the other, K = 1, 4, 7 ($EXP_REPS rounds)"
r=1
while [ $r -le "$EXP_REPS" ]; do
    for ap in 0 1; do
        for k in 1 4 7; do
            reset
            echo $ap >$P/$PF1/sriov_drivers_autoprobe
            echo $ap >$P/$PF2/sriov_drivers_autoprobe
            o=$($H numvfs $P/$PF1/sriov_numvfs=$k $P/$PF2/sriov_numvfs=$k)
            echo "R create ap=$ap k=$k round=$r $o"
        done
    done
    r=$((r + 1))
done
# the pool makes no sleep call either: msleep is the kernel's, inside the probe
reset
vf-pre --config /etc/bench/slow-jauto.toml 2>/dev/null
strace -f -c -o /tmp/st-slow-post -e trace=$SC vf-post --config /etc/bench/slow-jauto.toml 2>/dev/null
check_eq "slow vf-post under strace: 14 VFs bound" 14 "$(on_model)"
sed 's/^/#   slow vf-post | /' /tmp/st-slow-post
echo "R strace ours_slow_post $(strace_counts /tmp/st-slow-post)"

# --- H. scaling over VF count and probe delay ---
log "at $(cut -d' ' -f1 /proc/uptime)s"
echo "== H. scaling: 7 (one PF) and 14 VFs x delays $SCALE_DELAYS ms, $SCALE_REPS rounds of floor_seq, floor_par, ours_auto"
r=1
while [ $r -le "$SCALE_REPS" ]; do
    for d in $SCALE_DELAYS; do
        echo "$d" >$M/delay_ms
        DELAY_NOW=$d
        for n in 7 14; do
            for f in $(rotate $(((r - 1) % 3)) floor_seq floor_par ours_auto); do slow $f $r $n scale; done
        done
    done
    r=$((r + 1))
done
echo "$SLOW_DELAY" >$M/delay_ms
reset
