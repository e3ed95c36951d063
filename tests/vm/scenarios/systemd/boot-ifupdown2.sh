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
# the devices, and the critical chain of sriov-offload.target for idle waits. Then day 2: the
# operator's `sriov-offload status` (exit 0, every PF), `check` (only the missing IOMMU is an
# error), `plan`, `metrics`, and last a manual `echo 0 > sriov_numvfs` that status names.

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

# --- day 2: the operator's tool on the booted host (read-only; the drift comes last) -------
log "--- sriov-offload status"
out=$(sriov-offload status 2>&1)
rc=$?
printf '%s\n' "$out" | sed 's/^/#   | /'
check_eq "status exits 0 after boot (the host matches the config)" 0 "$rc"
sriov-offload status --json >/tmp/status.json 2>&1
js() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1" 2>&1; }
check_eq "status --json lists every configured PF" "eth0 eth1 eth2" \
    "$(js /tmp/status.json '" ".join(p["name"] or "?" for p in d["pfs"])')"
check_eq "status --json: version 1, matches, marker ready" "1 True ready" \
    "$(js /tmp/status.json '"%s %s %s" % (d["version"], d["matches"], d["marker"]["state"])')"
check_eq "status --json: 4+4 igbvf VFs and $NSIM_VFS netdevsim representors observed" "4 4 $NSIM_VFS" \
    "$(js /tmp/status.json '" ".join(str(x) for x in [d["pfs"][0]["bound"], d["pfs"][1]["bound"], d["pfs"][2]["representors"]["have"]])')"

log "--- sriov-offload check"
out=$(sriov-offload check 2>&1)
rc=$?
printf '%s\n' "$out" | sed 's/^/#   | /'
check_eq "check exits 1: the test bed guest has no IOMMU" 1 "$rc"
sriov-offload check --json >/tmp/check.json 2>&1
check_eq "the IOMMU is the only error finding (no false error)" "iommu" \
    "$(js /tmp/check.json '" ".join(f["rule"] for f in d["findings"] if f["severity"] == "error")')"
check_contains "the IOMMU finding gives its fix" "iommu=pt" \
    "$(js /tmp/check.json '[f["fix"] for f in d["findings"] if f["rule"] == "iommu"][0]')"
check_eq "passed: target enabled, igbvf loaded, eswitch of eth2, VF counts" \
    "bind-driver eswitch sriov-totalvfs target-enabled" \
    "$(js /tmp/check.json '" ".join(sorted({f["rule"] for f in d["findings"] if f["severity"] == "ok" and f["rule"] in ("bind-driver", "eswitch", "sriov-totalvfs", "target-enabled")}))')"

out=$(sriov-offload plan 2>&1)
check_eq "plan exits 0" 0 "$?"
printf '%s\n' "$out" | sed 's/^/#   | /'
check_eq "plan: nothing to do for vf-pre, vf-post, irq-tune" 3 "$(printf '%s\n' "$out" | grep -c 'nothing to do')"
out=$(sriov-offload metrics 2>&1)
printf '%s\n' "$out" | grep -v '^#' | sed 's/^/#   | /'
check_contains "metrics: ready" "sriov_offload_ready 1" "$out"
check_contains "metrics: eth1's VFs" 'sriov_offload_vfs{pf="eth1",device="0000:81:00.0"} 4' "$out"
check "the .deb installed the man page and completions" test -f /usr/share/man/man1/sriov-offload.1.gz \
    -a -f /usr/share/bash-completion/completions/sriov-offload

reapply_checks
# it changes netdevsim1's VF count (and the config with it)
boot_ovs_checks

# last: the host no longer matches the config afterwards
log "--- drift: echo 0 > sriov_numvfs of eth1 (0000:81:00.0), by hand"
check "eth1's VFs removed by hand" write_file $P/0000:81:00.0/sriov_numvfs 0
out=$(sriov-offload status 2>&1)
rc=$?
printf '%s\n' "$out" | sed 's/^/#   | /'
check_eq "status exits 1 after the manual reset" 1 "$rc"
check_contains "status names eth1's VF count" "eth1: 0 VFs, want 4 (sriov_numvfs)" "$out"
sriov-offload status --json >/tmp/drift.json 2>&1
check_eq "only eth1 differs" "eth1" \
    "$(js /tmp/drift.json '" ".join(sorted({x["pf"] for x in d["differences"]}))')"
