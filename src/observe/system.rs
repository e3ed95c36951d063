//! The host beyond the configured devices, for `sriov-offload check`: IOMMU, kernel command line
//! and log, the drivers VFs are bound to, and other software that can fight ours (irqbalance,
//! NetworkManager, systemd-networkd, seed-era scripts, OVS). Read once, through the host model.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;

use super::HostState;
use crate::config::{Bind, Config};
use crate::host::system::TextFile;
use crate::host::Host;
use crate::types::IfName;

/// The kernel's message when enabling VFs found no room for their BARs (drivers/pci/iov.c).
/// Boot-time "no space for [mem ...]" lines are not taken: the allocator may still place the
/// BARs later, and only this one says VFs could not be created.
pub const MMIO_MESSAGES: [&str; 1] = ["not enough MMIO resources for SR-IOV"];

/// Processes whose presence a check cares about.
pub const WATCHED: [&str; 5] = [
    "irqbalance",
    "NetworkManager",
    "systemd-network",
    "ovs-vswitchd",
    "ovsdb-server",
];

#[derive(Clone, Debug)]
pub struct Driver {
    pub loaded: bool,
    /// Listed in modules.dep / modules.builtin; `None` when unknown.
    pub available: Option<bool>,
}

#[derive(Clone, Debug)]
pub struct SystemFacts {
    pub is_root: bool,
    pub iommu_groups: usize,
    pub cmdline: Option<String>,
    pub cpu_vendor: Option<String>,
    /// Kernel log lines about VF BAR space; `None` when the log is not readable.
    pub mmio_log: Option<Vec<String>>,
    /// The [`WATCHED`] processes that run.
    pub running: BTreeSet<String>,
    pub boot_scripts: Vec<TextFile>,
    pub ifupdown: Vec<TextFile>,
    /// The `.wants` directories that hold `sriov-offload.target`.
    pub target_wanted_by: Vec<String>,
    pub nm_conf: Vec<TextFile>,
    pub networkd_network: Vec<TextFile>,
    pub networkd_link: Vec<TextFile>,
    /// udev's `E:` properties of the VF netdevs and representors, when NetworkManager runs.
    pub udev_env: BTreeMap<IfName, Vec<String>>,
    /// Every driver of a `bind = "..."`.
    pub drivers: BTreeMap<String, Driver>,
    /// `None`: OVS is not installed. Else its `other_config` (`Ok(None)`: not running).
    pub ovs: Option<Result<Option<BTreeMap<String, String>>, String>>,
}

/// The VF netdevs and representors of the observed PFs.
pub fn our_netdevs(state: &HostState) -> Vec<IfName> {
    let mut out = vec![];
    for (_, s) in &state.pfs {
        for v in &s.vfs {
            out.extend(v.netdevs.iter().map(|n| n.name.clone()));
        }
        out.extend(s.reps.values().cloned());
    }
    out
}

pub fn observe_system(host: &Host, cfg: Option<&Config>, state: &HostState) -> Result<SystemFacts> {
    let running: BTreeSet<String> = host
        .process_names()?
        .into_iter()
        .filter(|p| WATCHED.contains(&p.as_str()))
        .collect();
    let mut udev_env = BTreeMap::new();
    if running.contains("NetworkManager") {
        for n in our_netdevs(state) {
            if let Some(env) = host.udev_netdev_env(&n)? {
                udev_env.insert(n, env);
            }
        }
    }
    let mut drivers = BTreeMap::new();
    for pc in cfg.map(|c| c.pfs.as_slice()).unwrap_or_default() {
        // the PF's bind and its VFs' own
        let binds = std::iter::once(&pc.bind).chain(pc.vf.values().map(|v| &v.bind));
        for d in binds.filter_map(|b| match b {
            Some(Bind::Driver(d)) => Some(d),
            _ => None,
        }) {
            if !drivers.contains_key(d) {
                let loaded = host.pci_driver(d).is_loaded();
                let available = if loaded {
                    Some(true)
                } else {
                    host.module_available(d)?
                };
                drivers.insert(d.clone(), Driver { loaded, available });
            }
        }
    }
    // the database's other_config through the one OVSDB client; no socket: not running
    let ovs = host.ovs_installed().then(|| {
        if !host.exists(&host.ovsdb_socket()) {
            return Ok(None);
        }
        crate::ovs::Ovs::connect(host)
            .and_then(|mut o| o.read())
            .map(|snap| Some(snap.other_config))
            .map_err(|e| format!("{e:#}"))
    });
    Ok(SystemFacts {
        is_root: nix::unistd::geteuid().is_root(),
        iommu_groups: host.iommu_groups()?,
        cmdline: host.kernel_cmdline()?,
        cpu_vendor: host.cpu_vendor()?,
        mmio_log: host.kernel_log_matching(&MMIO_MESSAGES)?,
        running,
        boot_scripts: host.boot_scripts()?,
        ifupdown: host.ifupdown_files()?,
        target_wanted_by: host.unit_wanted_by("sriov-offload.target")?,
        nm_conf: host.networkmanager_conf()?,
        networkd_network: host.networkd_files(".network")?,
        networkd_link: host.networkd_files(".link")?,
        udev_env,
        drivers,
        ovs,
    })
}
