# Parallel VF binding on a real kernel, with the firmware-bound probe model (tests/vm/probe-model:
# driver "slowprobe", bound only through driver_override, its probe sleeps delay_ms and counts
# how many probes run at once). With probe_jobs = 4, vf-post binds every VF of both igb PFs (one
# PF to igbvf, the other to slowprobe), 4 at a time per PF, PFs side by side; a second run writes
# nothing. A VF whose probe fails (slowprobe's fail_vf) is named with its error while every other
# VF binds, and the run exits 1 with the failed marker; once the fault is gone the next run binds
# just that VF and the one after writes nothing. Then auto (4 per PF here) and probe_jobs = 1.
# No timing thresholds: the module's peak count is the proof of what ran at once.

igb_pair
DELAY=500
load_probe_model delay_ms=$DELAY
M=/sys/module/slowprobe/parameters
check "slowprobe is a PCI driver" test -d /sys/bus/pci/drivers/slowprobe
log "igb PFs: $ROOT_PF ($S1, numa_node $(read_file $P/$ROOT_PF/numa_node)), $NUMA1_PF ($S2, numa_node $(read_file $P/$NUMA1_PF/numa_node)); probe delay $DELAY ms"

mkdir -p /etc/sriov-offload
CFG=/etc/sriov-offload/config.toml
write_config() { # PROBE_JOBS DRIVER_OF_PF1 DRIVER_OF_PF2
    cat >$CFG <<EOF
[defaults]
timeout = "60s"
probe_jobs = $1

[[pf]]
match = { pci = "$ROOT_PF" }
vfs = 7
bind = "$2"

[[pf]]
match = { pci = "$NUMA1_PF" }
vfs = 7
bind = "$3"
EOF
}
# bound PF DRIVER: how many VFs of PF are bound to DRIVER
bound() {
    n=0
    for vf in $(vfs_of "$1"); do [ "$(driver_of "$vf")" = "$2" ] && n=$((n + 1)); done
    echo $n
}
# reset: no VFs, autoprobe on, no markers, the model's counters at 0
reset() {
    for pf in $ROOT_PF $NUMA1_PF; do
        write_file $P/$pf/sriov_numvfs 0
        write_file $P/$pf/sriov_drivers_autoprobe 1
    done
    rm -f /run/sriov-offload/ready /run/sriov-offload/failed /run/sriov-offload/vf-map.json
    write_file $M/peak 0
    write_file $M/probes 0
}
# flow NAME: vf-pre then vf-post (-v), output in /tmp/NAME.{pre,post}, vf-post's status in RC
flow() {
    vf-pre -v 2>/tmp/$1.pre || { fail "$1: vf-pre failed"; sed 's/^/#   | /' /tmp/$1.pre; }
    t0=$(now_ms)
    vf-post -v 2>/tmp/$1.post
    RC=$?
    log "$1: vf-post exit $RC in $(elapsed_ms $t0) ms; slowprobe: $(read_file $M/probes) probes, at most $(read_file $M/peak) at once"
    sed "s/^/#   $1 | /" /tmp/$1.post
}

# --- 1. probe_jobs = 4: igbvf on one PF, slowprobe on the other ---
reset
write_config 4 igbvf slowprobe
flow jobs4
check_eq "jobs4: vf-post exit 0" 0 "$RC"
check_eq "jobs4: 7 VFs of $ROOT_PF bound to igbvf" 7 "$(bound $ROOT_PF igbvf)"
check_eq "jobs4: 7 VFs of $NUMA1_PF bound to slowprobe" 7 "$(bound $NUMA1_PF slowprobe)"
check_eq "jobs4: each slowprobe VF probed once" 7 "$(read_file $M/probes)"
check_eq "jobs4: 4 slowprobe probes ran at once, never more" 4 "$(read_file $M/peak)"
for pf in $ROOT_PF $NUMA1_PF; do
    check_eq "jobs4: autoprobe of $pf back to 1" 1 "$(read_file $P/$pf/sriov_drivers_autoprobe)"
    over=0
    for vf in $(vfs_of $pf); do [ "$(read_file $P/$vf/driver_override)" = "(null)" ] || over=$((over + 1)); done
    check_eq "jobs4: no driver_override left on the VFs of $pf" 0 "$over"
done
check "jobs4: ready marker" test -e /run/sriov-offload/ready
check_eq "jobs4: VF map lists 14 VFs" 14 "$(grep -c '"vf":' /run/sriov-offload/vf-map.json)"
check_eq "jobs4: VF map in PF then VF order" \
    "$(printf '%s\n' $(vfs_of $ROOT_PF) $(vfs_of $NUMA1_PF))" \
    "$(sed -n 's/.*"pci": "\([^"]*\)".*/\1/p' /run/sriov-offload/vf-map.json)"
check_contains "jobs4: journal has one bind step for $S2" "$S2: bind VFs 0-6 to slowprobe" "$(cat /tmp/jobs4.post)"

# a second run (ifreload, a restarted unit) writes nothing and probes nothing
write_file $M/probes 0
vf-pre -v 2>/tmp/again.pre
vf-post -v 2>/tmp/again.post
check_contains "second vf-pre: 0 writes" "0 step(s), 0 write(s)" "$(cat /tmp/again.pre)"
check_contains "second vf-post: 0 writes" "0 step(s), 0 write(s)" "$(cat /tmp/again.post)"
check_eq "second run: no probe" 0 "$(read_file $M/probes)"

# --- 2. VF 3's probe fails: named with its error, every other VF binds, exit 1, failed ---
reset
write_file $M/fail_vf 3
flow fail
BAD_VF=$(vfs_of $NUMA1_PF | sed -n 4p)
check_eq "fail: vf-post exits 1" 1 "$RC"
check_contains "fail: the VF is named with its error" \
    "VF 3: $BAD_VF did not bind to slowprobe (driver now: none)" "$(cat /tmp/fail.post)"
check_contains "fail: the count of failures and successes" "1 of 7 VFs did not bind to slowprobe (the other 6 did; 4 at a time)" "$(cat /tmp/fail.post)"
check_eq "fail: every VF of $NUMA1_PF was tried" 7 "$(read_file $M/probes)"
check_eq "fail: the other 6 VFs of $NUMA1_PF are bound to slowprobe" 6 "$(bound $NUMA1_PF slowprobe)"
check_eq "fail: VF 3 is unbound" "" "$(driver_of $BAD_VF)"
check_eq "fail: the other PF's 7 VFs are bound to igbvf" 7 "$(bound $ROOT_PF igbvf)"
check "fail: failed marker" test -e /run/sriov-offload/failed
check_contains "fail: failed marker names VF 3" "VF 3: $BAD_VF" "$(cat /run/sriov-offload/failed)"
check "fail: no ready marker" test ! -e /run/sriov-offload/ready
# the fault goes away: the next run binds just VF 3, the one after writes nothing
write_file $M/fail_vf -1
write_file $M/probes 0
flow fixed
check_eq "fixed: vf-post exit 0" 0 "$RC"
check_contains "fixed: binds only VF 3" "$S2: bind VFs 3 to slowprobe" "$(cat /tmp/fixed.post)"
check_eq "fixed: one probe" 1 "$(read_file $M/probes)"
check_eq "fixed: 7 VFs of $NUMA1_PF bound to slowprobe" 7 "$(bound $NUMA1_PF slowprobe)"
check "fixed: ready marker" test -e /run/sriov-offload/ready
check "fixed: no failed marker" test ! -e /run/sriov-offload/failed
vf-post -v 2>/tmp/fixed2.post
check_contains "fixed: the run after writes nothing" "0 step(s), 0 write(s)" "$(cat /tmp/fixed2.post)"

# --- 3. auto with slowprobe on both PFs: 4 per PF here (local CPUs 0-3 and 2-3, at least 4),
#        PFs side by side: 8 at once ---
reset
write_config '"auto"' slowprobe slowprobe
flow auto
check_eq "auto: vf-post exit 0" 0 "$RC"
check_eq "auto: 14 VFs bound to slowprobe" 14 "$(($(bound $ROOT_PF slowprobe) + $(bound $NUMA1_PF slowprobe)))"
check_eq "auto: 4 per PF, both PFs at once: 8 probes at once" 8 "$(read_file $M/peak)"

# --- 4. probe_jobs = 1: one VF at a time per PF (2 at once over the two PFs) ---
reset
write_config 1 slowprobe slowprobe
flow one
check_eq "one: vf-post exit 0" 0 "$RC"
check_eq "one: 14 VFs bound to slowprobe" 14 "$(($(bound $ROOT_PF slowprobe) + $(bound $NUMA1_PF slowprobe)))"
check_eq "one: one probe per PF at a time" 2 "$(read_file $M/peak)"
reset
