# devlink parameters on a real kernel (netdevsim: `max_macs`, a generic u32, and `test1`, a bool,
# both driverinit only, and `devlink dev reload`): wrong values are refused before any write;
# vf-pre sets the parameters, reloads the driver once and then creates the VFs; a second run
# changes nothing; a change while the PF has VFs is refused unless --force, which removes the VFs,
# reloads and re-creates them. netdevsim has no eswitch inline/encap mode: a configured inline
# mode fails the run that switches to switchdev (the kernel's answer), and later runs do not
# try it again and again.
#
# Checked with what the kernel says (devlink(8) here, never in the product): the values devlink
# reports, the values netdevsim runs with (debugfs: they change only at a reload), and devlink's
# own count of reloads (`devlink -s dev show`).

NSIM=/sys/bus/netdevsim/devices/netdevsim1
DBG=/sys/kernel/debug/netdevsim/netdevsim1
DL=netdevsim/netdevsim1
require "netdevsim device 1 with 1 port" write_file /sys/bus/netdevsim/new_device "1 1"
require "netdevsim1 has its port netdev" wait_for 10 sh -c "ls $NSIM/net | grep -q ."
NSIM_PF=$(ls $NSIM/net | head -1)
log "netdevsim PF $NSIM_PF ($DL)"

# driver_reinit reloads devlink counted for DL ("stats: reload: driver_reinit: unspecified N")
reloads() {
    devlink -s dev show "$DL" | awk '/driver_reinit/ { getline; for (i = 1; i < NF; i++) if ($i == "unspecified") { print $(i + 1); exit } }'
}
# the driverinit value devlink reports (the one the next reload applies)
dl_value() { devlink dev param show "$DL" name "$1" | sed -n 's/.*cmode driverinit value \([^ ]*\).*/\1/p'; }
numvfs() { read_file $NSIM/sriov_numvfs; }

log "devlink -s dev show: $(devlink -s dev show "$DL" | tr '\n' ' ')"
check_eq "netdevsim runs with max_macs 32 (its default)" 32 "$(read_file $DBG/max_macs)"
check_eq "netdevsim runs with test1 on (its default)" Y "$(read_file $DBG/test1)"
check_eq "no reload yet" 0 "$(reloads)"

mkdir -p /etc/sriov-offload
write_config() { # DEVLINK_PARAMS [VFS]
cat >/etc/sriov-offload/config.toml <<EOF
[defaults]
timeout = "60s"

[[pf]]
match = { name = "$NSIM_PF" }
vfs = ${2:-2}
eswitch = "switchdev"
devlink_params = { $1 }
EOF
}

# --- wrong values: refused at plan time, exit 1, nothing written ---
for c in \
    'max_macs = "abc"|devlink param max_macs of netdevsim/netdevsim1 is a u32 (0..=4294967295), but the config gives "abc" (a string) (cmode driverinit)' \
    'test1 = 5|devlink param test1 of netdevsim/netdevsim1 is a bool (true or false), but the config gives 5 (an integer)' \
    'no_such_param = 1|netdevsim/netdevsim1 has no devlink param "no_such_param": it has max_macs (u32, generic; cmode driverinit), test1 (bool; cmode driverinit)' \
    'max_macs = { value = 16, cmode = "runtime" }|devlink param max_macs of netdevsim/netdevsim1 (u32, generic; cmode driverinit) cannot be set in cmode runtime' \
    'max_macs = 4294967296|devlink param max_macs of netdevsim/netdevsim1 is a u32 (0..=4294967295), and the config'"'"'s 4294967296 is out of its range'; do
    params=${c%%|*}
    want=${c#*|}
    write_config "$params"
    vf-pre -v 2>/tmp/bad.log
    check_eq "{ $params }: vf-pre exits 1" 1 "$?"
    check_contains "{ $params }: the refusal names PF, parameter, type and cmodes" "$NSIM_PF: $want" "$(cat /tmp/bad.log)"
    check_eq "{ $params }: sriov_numvfs still 0" 0 "$(numvfs)"
    check_eq "{ $params }: no reload" 0 "$(reloads)"
    check_eq "{ $params }: max_macs still 32 in devlink" 32 "$(dl_value max_macs)"
done
sed 's/^/#   refused| /' /tmp/bad.log

# --- the parameters set, the driver reloaded once, then the VFs ---
write_config 'max_macs = 16, test1 = false'
check "vf-pre --dry-run" sh -c "vf-pre --dry-run >/tmp/plan.pre"
sed 's/^/#   plan| /' /tmp/plan.pre
check_eq "the plan: parameters, one reload, then the VFs" \
    "$NSIM_PF: set devlink param max_macs to 16 (driverinit)
$NSIM_PF: set devlink param test1 to false (driverinit)
$NSIM_PF: reload the driver (devlink dev reload, driver reinit) for its driverinit parameters
$NSIM_PF: set sriov_numvfs to 2" "$(cat /tmp/plan.pre)"
check_eq "the dry run reloaded nothing" 0 "$(reloads)"
check_eq "the dry run set nothing" 32 "$(dl_value max_macs)"

check "vf-pre succeeds" sh -c "vf-pre -v 2>/tmp/pre.log"
sed 's/^/#   pre | /' /tmp/pre.log
check_eq "devlink counts one reload" 1 "$(reloads)"
check_eq "one reload step in vf-pre's log" 1 "$(grep -c 'reload the driver' /tmp/pre.log)"
check_eq "devlink reports max_macs 16" 16 "$(dl_value max_macs)"
check_eq "devlink reports test1 false" false "$(dl_value test1)"
check_eq "netdevsim runs with max_macs 16 (the reload applied it)" 16 "$(read_file $DBG/max_macs)"
check_eq "netdevsim runs with test1 off" N "$(read_file $DBG/test1)"
check_eq "2 VFs, created after the reload" 2 "$(numvfs)"
check "$NSIM_PF is back after the reload" test -e /sys/class/net/"$NSIM_PF"
check "vf-post succeeds" sh -c "vf-post -v 2>/tmp/post.log"
sed 's/^/#   post| /' /tmp/post.log
check_contains "netdevsim eswitch is switchdev" "mode switchdev" "$(devlink dev eswitch show "$DL" 2>&1)"
check "status: the host matches the config" sh -c "sriov-offload status >/tmp/status.txt"
sed 's/^/#   status| /' /tmp/status.txt
st=$(tr -s ' \n' '  ' </tmp/status.txt)
check_contains "status shows max_macs as set" "max_macs 16 (driverinit, want 16)" "$st"
check_contains "status shows test1 as set" "test1 false (driverinit, want false)" "$st"
sriov-offload status --json >/tmp/status.json
check_contains "status --json has the parameters" '"name": "max_macs"' "$(cat /tmp/status.json)"

# --- the second run changes nothing, reloads nothing ---
check "second vf-pre succeeds" sh -c "vf-pre -v 2>/tmp/pre2.log"
check "second vf-post succeeds" sh -c "vf-post -v 2>/tmp/post2.log"
check_contains "second vf-pre: 0 writes" "0 step(s), 0 write(s)" "$(cat /tmp/pre2.log)"
check_contains "second vf-post: 0 writes" "0 step(s), 0 write(s)" "$(cat /tmp/post2.log)"
check_eq "still one reload" 1 "$(reloads)"

# --- a new value while the PF has VFs: a reload would destroy them ---
write_config 'max_macs = 8, test1 = false'
vf-pre -v 2>/tmp/refuse.log
check_eq "vf-pre refuses with exit 1" 1 "$?"
sed 's/^/#   refused| /' /tmp/refuse.log
check_contains "the refusal names the parameter, the reload and --force" \
    "$NSIM_PF: devlink param max_macs (driverinit) is 16, want 8: a driverinit value takes effect only with a driver reload (devlink dev reload), which destroys the PF's VFs, and it has 2 VFs. Not changed without --force" \
    "$(tr -s ' \n' '  ' </tmp/refuse.log)"
check_eq "VFs kept" 2 "$(numvfs)"
check_eq "no reload" 1 "$(reloads)"
check_eq "max_macs not set" 16 "$(dl_value max_macs)"
check "vf-pre --force succeeds" sh -c "vf-pre --force -v 2>/tmp/force.log"
sed 's/^/#   force| /' /tmp/force.log
check_eq "--force: the VFs were removed first" 1 "$(grep -c "$NSIM_PF: set sriov_numvfs to 0 (" /tmp/force.log)"
check_eq "--force: one more reload" 2 "$(reloads)"
check_eq "--force: netdevsim runs with max_macs 8" 8 "$(read_file $DBG/max_macs)"
check_eq "--force: 2 VFs again" 2 "$(numvfs)"
check "vf-post after --force succeeds" sh -c "vf-post -v 2>/tmp/post3.log"
sed 's/^/#   post3| /' /tmp/post3.log
check_contains "switchdev again" "mode switchdev" "$(devlink dev eswitch show "$DL" 2>&1)"
check "vf-pre then" sh -c "vf-pre -v 2>/tmp/pre4.log"
check "vf-post then" sh -c "vf-post -v 2>/tmp/post4.log"
check_contains "then vf-pre: 0 writes" "0 step(s), 0 write(s)" "$(cat /tmp/pre4.log)"
check_contains "then vf-post: 0 writes" "0 step(s), 0 write(s)" "$(cat /tmp/post4.log)"
check_eq "then still two reloads" 2 "$(reloads)"

# --- an inline mode on netdevsim, which reports none and sets none ---
check "netdevsim device 2" write_file /sys/bus/netdevsim/new_device "2 1"
check "netdevsim2 has its port netdev" wait_for 10 sh -c "ls /sys/bus/netdevsim/devices/netdevsim2/net | grep -q ."
NSIM2_PF=$(ls /sys/bus/netdevsim/devices/netdevsim2/net | head -1)
log "devlink dev eswitch show netdevsim/netdevsim2: $(devlink dev eswitch show netdevsim/netdevsim2 2>&1)"
check "netdevsim reports no inline-mode" sh -c "! devlink dev eswitch show netdevsim/netdevsim2 | grep -q inline-mode"
cat >/etc/sriov-offload/config.toml <<EOF
[[pf]]
match = { name = "$NSIM2_PF" }
vfs = 0
eswitch = "switchdev"
eswitch_inline_mode = "transport"
EOF
check_contains "the plan carries it with the change to switchdev" \
    "$NSIM2_PF: set eswitch mode switchdev inline-mode transport" "$(vf-post --dry-run 2>&1)"
vf-post -v 2>/tmp/inline.log
check_eq "the run that switches fails (the kernel has no inline mode for netdevsim)" 1 "$?"
sed 's/^/#   inline| /' /tmp/inline.log
check_contains "naming what was refused" "setting eswitch mode switchdev inline-mode transport on $NSIM2_PF (netdevsim/netdevsim2)" "$(cat /tmp/inline.log)"
check_contains "and why" "Operation not supported (EOPNOTSUPP)" "$(cat /tmp/inline.log)"
check "the next run does not try again: it finishes the rest and succeeds" sh -c "vf-post -v 2>/tmp/inline2.log"
sed 's/^/#   inline2| /' /tmp/inline2.log
check "it did not touch the eswitch" sh -c "! grep -q 'set eswitch' /tmp/inline2.log"
check "and the one after it" sh -c "vf-post -v 2>/tmp/inline3.log"
check_contains "has nothing to do" "0 step(s), 0 write(s)" "$(cat /tmp/inline3.log)"
check_contains "netdevsim2 in switchdev" "mode switchdev" "$(devlink dev eswitch show netdevsim/netdevsim2 2>&1)"
check "netdevsim devices deleted" sh -c "echo 2 >/sys/bus/netdevsim/del_device && echo 1 >/sys/bus/netdevsim/del_device"
