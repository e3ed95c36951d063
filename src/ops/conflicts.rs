//! `check`'s rules about other software that can fight ours or leave it unused: OVS's
//! hw-offload, irqbalance, NetworkManager and systemd-networkd managing our VFs or
//! representors, `.link` files with SR-IOV settings, seed-era scripts still wired in, and
//! whether sriov-offload.target is enabled.

use glob::Pattern;

use super::finding::{finding, ok, Finding, Severity};
use crate::config::{Config, EswitchMode};
use crate::host::system::TextFile;
use crate::observe::configured::Configured;
use crate::observe::system::{our_netdevs, SystemFacts};
use crate::observe::HostState;
use crate::types::IfName;

pub fn rules(
    cfg: &Config,
    valid: bool,
    seen: &Configured,
    sys: &SystemFacts,
    out: &mut Vec<Finding>,
) {
    ovs(cfg, sys, out);
    irqbalance(cfg, sys, out);
    networkmanager(&seen.state, sys, out);
    networkd(&seen.state, sys, out);
    link_files(&seen.state, sys, out);
    seed_scripts(cfg, sys, out);
    if valid && !cfg.pfs.is_empty() {
        target(sys, out);
    }
}

fn ovs(cfg: &Config, sys: &SystemFacts, out: &mut Vec<Finding>) {
    if !cfg
        .pfs
        .iter()
        .any(|p| p.eswitch == Some(EswitchMode::Switchdev))
    {
        return;
    }
    let fix = "ovs-vsctl set Open_vSwitch . other_config:hw-offload=true, then systemctl restart \
               openvswitch-switch (ovs-vswitchd reads it only when it starts)";
    match &sys.ovs {
        None => out.push(ok(
            "ovs-hw-offload",
            None,
            "Open vSwitch is not installed",
        )),
        Some(Err(e)) => out.push(finding(
            "ovs-hw-offload",
            Severity::Warning,
            None,
            format!("Open vSwitch is installed but its database could not be read: {e}"),
            "with other_config:hw-offload unset, OVS keeps every flow in software",
            "run as root; check ovsdb-server",
        )),
        Some(Ok(None)) => out.push(finding(
            "ovs-hw-offload",
            Severity::Warning,
            None,
            "Open vSwitch is installed but ovsdb-server is not running (no /run/openvswitch/db.sock): hw-offload unknown",
            "with other_config:hw-offload unset, OVS keeps every flow in software",
            fix,
        )),
        Some(Ok(Some(m))) => match m.get("hw-offload").map(String::as_str) {
            Some("true") => out.push(ok(
                "ovs-hw-offload",
                None,
                "Open vSwitch has other_config:hw-offload=true",
            )),
            v => out.push(finding(
                "ovs-hw-offload",
                Severity::Warning,
                None,
                format!(
                    "a PF is in switchdev but Open vSwitch's other_config:hw-offload is {}",
                    v.map_or("unset".to_string(), |v| format!("{v:?}"))
                ),
                "OVS keeps every flow in software: the eswitch's offload goes unused",
                fix,
            )),
        },
    }
}

fn irqbalance(cfg: &Config, sys: &SystemFacts, out: &mut Vec<Finding>) {
    if !sys.running.contains("irqbalance") {
        return;
    }
    let affinity = cfg.tune.irq_affinity == Some(true)
        || cfg.pf_tune.values().any(|t| t.irq_affinity == Some(true));
    if affinity {
        out.push(finding(
            "irqbalance",
            Severity::Warning,
            None,
            "irqbalance is running and [tune] irq_affinity = \"numa-local\" is configured",
            "irqbalance rewrites IRQ affinity every 10 s: it undoes what irq-tune sets",
            "systemctl disable --now irqbalance, or keep it off these IRQs with \
             IRQBALANCE_ARGS=\"--banirq=N ...\" in /etc/default/irqbalance, or drop irq_affinity from [tune]",
        ));
    } else {
        out.push(ok(
            "irqbalance",
            None,
            "irqbalance is running and places IRQs ([tune] irq_affinity is not set)",
        ));
    }
}

/// NetworkManager's `unmanaged-devices=` items that name an interface by name (or all).
fn nm_unmanaged(conf: &[TextFile]) -> Vec<Pattern> {
    conf.iter()
        .flat_map(|f| f.text.lines())
        .filter_map(|l| l.trim().strip_prefix("unmanaged-devices="))
        .flat_map(|v| v.split(';'))
        .filter_map(|item| {
            let item = item.trim();
            if item == "*" {
                return Pattern::new("*").ok();
            }
            Pattern::new(item.strip_prefix("interface-name:")?).ok()
        })
        .collect()
}

fn networkmanager(state: &HostState, sys: &SystemFacts, out: &mut Vec<Finding>) {
    if !sys.running.contains("NetworkManager") {
        return;
    }
    let unmanaged = nm_unmanaged(&sys.nm_conf);
    let managed: Vec<IfName> = our_netdevs(state)
        .into_iter()
        .filter(|n| {
            !sys.udev_env
                .get(n)
                .is_some_and(|e| e.iter().any(|x| x == "NM_UNMANAGED=1"))
                && !unmanaged.iter().any(|p| p.matches(n.as_str()))
        })
        .collect();
    if managed.is_empty() {
        out.push(ok(
            "networkmanager",
            None,
            "NetworkManager runs and leaves the VF netdevs and representors alone",
        ));
        return;
    }
    out.push(finding(
        "networkmanager",
        Severity::Warning,
        None,
        format!(
            "NetworkManager runs and may manage {} VF netdev(s)/representor(s): {}",
            managed.len(),
            list(&managed)
        ),
        "it brings them up, runs DHCP on them and may rename or reset them under a guest or OVS",
        "mark them unmanaged: a udev rule ENV{NM_UNMANAGED}=\"1\" for them (match \
         ACTION==\"add|change|move\"), or unmanaged-devices=interface-name:PATTERN in \
         /etc/NetworkManager/conf.d/sriov-offload.conf",
    ));
}

fn list(v: &[IfName]) -> String {
    let mut s: Vec<String> = v.iter().take(6).map(|n| n.to_string()).collect();
    if v.len() > 6 {
        s.push(format!("and {} more", v.len() - 6));
    }
    s.join(", ")
}

/// The `[Match]` keys of a networkd file, and the value of `key` in `section`.
struct Unit<'a> {
    text: &'a str,
}

impl Unit<'_> {
    fn values(&self, section: &str, key: &str) -> Vec<String> {
        let mut cur = "";
        let mut out = vec![];
        for l in self.text.lines().map(str::trim) {
            if l.starts_with('#') || l.starts_with(';') || l.is_empty() {
                continue;
            }
            if l.starts_with('[') && l.ends_with(']') {
                cur = l;
                continue;
            }
            if cur == section {
                if let Some((k, v)) = l.split_once('=') {
                    if k.trim() == key {
                        out.push(v.trim().to_string());
                    }
                }
            }
        }
        out
    }

    fn has_section(&self, section: &str) -> bool {
        self.text.lines().any(|l| l.trim() == section)
    }

    /// Keys of `[Match]` this reader does not evaluate: the file is not judged then.
    fn unknown_match_keys(&self, known: &[&str]) -> bool {
        let mut cur = "";
        for l in self.text.lines().map(str::trim) {
            if l.starts_with('[') {
                cur = l;
            } else if cur == "[Match]" {
                if let Some((k, _)) = l.split_once('=') {
                    if !known.contains(&k.trim()) && !l.starts_with('#') {
                        return true;
                    }
                }
            }
        }
        false
    }
}

/// A whitespace-separated glob list as systemd reads it; a leading `!` inverts it. No values:
/// no constraint.
fn glob_list_matches(values: &[String], what: &str) -> bool {
    values.iter().all(|v| {
        let (neg, v) = v
            .strip_prefix('!')
            .map_or((false, v.as_str()), |r| (true, r));
        let any = v
            .split_whitespace()
            .any(|g| Pattern::new(g).is_ok_and(|p| p.matches(what)));
        any != neg
    })
}

fn networkd(state: &HostState, sys: &SystemFacts, out: &mut Vec<Finding>) {
    if !sys.running.contains("systemd-network") {
        return;
    }
    let mut claimed: Vec<(IfName, String)> = vec![];
    for n in our_netdevs(state) {
        // networkd applies the first file (by name) that matches
        let first = sys.networkd_network.iter().find(|f| {
            let u = Unit { text: &f.text };
            !u.unknown_match_keys(&["Name", "Type"])
                && glob_list_matches(&u.values("[Match]", "Name"), n.as_str())
                && glob_list_matches(&u.values("[Match]", "Type"), "ether")
        });
        if let Some(f) = first {
            let u = Unit { text: &f.text };
            if !u
                .values("[Link]", "Unmanaged")
                .iter()
                .any(|v| matches!(v.as_str(), "yes" | "true" | "1" | "on"))
            {
                claimed.push((n, f.path.display().to_string()));
            }
        }
    }
    if claimed.is_empty() {
        out.push(ok(
            "networkd",
            None,
            "systemd-networkd runs and no .network file claims a VF netdev or representor",
        ));
        return;
    }
    let names: Vec<IfName> = claimed.iter().map(|(n, _)| n.clone()).collect();
    let mut files: Vec<&str> = claimed.iter().map(|(_, f)| f.as_str()).collect();
    files.dedup();
    out.push(finding(
        "networkd",
        Severity::Warning,
        None,
        format!(
            "systemd-networkd configures {} VF netdev(s)/representor(s) ({}) through {}",
            names.len(),
            list(&names),
            files.join(", ")
        ),
        "it brings them up and configures addresses on them, under a guest or OVS",
        "add a .network file that sorts before it, e.g. /etc/systemd/network/10-sriov-offload.network \
         with [Match] Name=<the names> and [Link] Unmanaged=yes",
    ));
}

fn link_files(state: &HostState, sys: &SystemFacts, out: &mut Vec<Finding>) {
    for (_, s) in &state.pfs {
        for f in &sys.networkd_link {
            let u = Unit { text: &f.text };
            let sriov = u.has_section("[SR-IOV]")
                || !u.values("[Link]", "SR-IOVVirtualFunctions").is_empty();
            if !sriov
                || u.unknown_match_keys(&["OriginalName", "MACAddress", "Driver", "Path", "Type"])
            {
                continue;
            }
            let mac = s.netdev.mac.as_deref().unwrap_or("");
            let hit = glob_list_matches(&u.values("[Match]", "OriginalName"), s.name.as_str())
                && u.values("[Match]", "MACAddress")
                    .iter()
                    .all(|v| v.split_whitespace().any(|m| m.eq_ignore_ascii_case(mac)))
                && glob_list_matches(
                    &u.values("[Match]", "Driver"),
                    s.driver.as_deref().unwrap_or(""),
                )
                && glob_list_matches(&u.values("[Match]", "Path"), &format!("pci-{}", s.dev_name))
                && glob_list_matches(&u.values("[Match]", "Type"), "ether");
            if hit {
                out.push(finding(
                    "link-file",
                    Severity::Error,
                    Some(s.name.to_string()),
                    format!(
                        "{} sets SR-IOV ([SR-IOV] or SR-IOVVirtualFunctions=) for {}, which the config manages",
                        f.path.display(),
                        s.name
                    ),
                    "udev applies it whenever the PF appears: two owners of the VF count and VF settings \
                     reset each other's VFs",
                    format!(
                        "remove the SR-IOV settings from {} (keep them in the sriov-offload config)",
                        f.path.display()
                    ),
                ));
            }
        }
    }
}

/// What a seed-era script line does.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Seed {
    /// Writes sriov_numvfs, the eswitch mode, binds VFs or runs bond.offload.*: an owner of
    /// the VFs besides us.
    Resets,
    /// Waits for the seed's marker.
    Waits,
    /// IRQ or queue tuning.
    Tunes,
}

fn seed_line(line: &str) -> Option<(Seed, &'static str)> {
    let l = line.trim();
    if l.starts_with('#') {
        return None;
    }
    if l.contains("sriov_numvfs") && l.contains('>') {
        return Some((Seed::Resets, "writes sriov_numvfs"));
    }
    if l.contains("bond.offload.pre") || l.contains("bond.offload.post") {
        return Some((Seed::Resets, "runs bond.offload.pre/post"));
    }
    if l.contains("compat/devlink/mode") && l.contains('>') {
        return Some((Seed::Resets, "writes the eswitch mode"));
    }
    if l.contains("drivers/mlx5_core/bind") || l.contains("drivers/mlx5_core/unbind") {
        return Some((Seed::Resets, "binds or unbinds VFs"));
    }
    if l.contains("vf_done.offload") {
        return Some((Seed::Waits, "waits for /tmp/vf_done.offload"));
    }
    if l.contains("set_irq_affinity") || l.contains("ethtool -L") || l.contains("ethtool -G") {
        return Some((Seed::Tunes, "tunes IRQs, channels or rings"));
    }
    None
}

fn seed_scripts(cfg: &Config, sys: &SystemFacts, out: &mut Vec<Finding>) {
    let legacy = cfg.boot.legacy_marker.is_some();
    let mut any = false;
    for f in sys.boot_scripts.iter().chain(&sys.ifupdown) {
        let hits: Vec<(usize, Seed, &str)> = f
            .text
            .lines()
            .enumerate()
            .filter_map(|(i, l)| seed_line(l).map(|(k, w)| (i + 1, k, w)))
            .collect();
        let Some(worst) = hits.iter().map(|h| h.1).min() else {
            continue;
        };
        any = true;
        let what: Vec<String> = hits
            .iter()
            .take(6)
            .map(|(n, _, w)| format!("line {n} {w}"))
            .collect();
        let path = f.path.display();
        let (severity, why, fix) = match worst {
            Seed::Resets => (
                Severity::Error,
                "a second owner of the VFs: it resets them at every run (a guest using one loses \
                 it) and races the sriov-offload units"
                    .to_string(),
                format!(
                    "remove these lines from {path} (the config does this now); delete \
                     /etc/network/bond.offload.pre and .post and the pre-up/post-up lines calling them"
                ),
            ),
            Seed::Waits if legacy => (
                Severity::Warning,
                "it polls once a second for the legacy marker, which [boot] legacy_marker still \
                 writes: consumers start up to a second late"
                    .to_string(),
                format!("replace the loop in {path} with `wait-offload --timeout 600`"),
            ),
            Seed::Waits => (
                Severity::Error,
                "nothing writes /tmp/vf_done.offload any more ([boot] legacy_marker is not set): \
                 it waits its whole loop at every boot"
                    .to_string(),
                format!(
                    "replace the loop in {path} with `wait-offload --timeout 600`, or set [boot] \
                     legacy_marker = \"/tmp/vf_done.offload\""
                ),
            ),
            Seed::Tunes => (
                Severity::Warning,
                "it tunes what irq-tune's [tune] manages; the last one to run wins".to_string(),
                format!("remove these lines from {path} and set [tune] in the config instead"),
            ),
        };
        out.push(finding(
            "seed-script",
            severity,
            Some(path.to_string()),
            what.join("; "),
            why,
            fix,
        ));
    }
    if !any {
        out.push(ok(
            "seed-script",
            None,
            "no rc.local, rc.local.* or bond.offload.* script and no ifupdown line does SR-IOV setup",
        ));
    }
}

fn target(sys: &SystemFacts, out: &mut Vec<Finding>) {
    if sys.target_wanted_by.is_empty() {
        out.push(finding(
            "target-enabled",
            Severity::Error,
            Some("sriov-offload.target".into()),
            "sriov-offload.target is not enabled (no /etc/systemd/system/*.wants/sriov-offload.target)",
            "at boot only vf-pre runs (from udev): vf-post, irq-tune and the ready marker need the \
             target, and the consumers of [boot] before wait for it",
            "systemctl enable sriov-offload.target",
        ));
    } else {
        out.push(ok(
            "target-enabled",
            Some("sriov-offload.target".into()),
            format!("enabled ({})", sys.target_wanted_by.join(", ")),
        ));
    }
}
