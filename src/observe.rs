//! Reads the host into a `State`: PFs, their VFs and drivers, eswitch mode, representors.
//! Everything here is a read; sysfs is the source so that fixture trees describe a host fully,
//! netlink (through `Kernel`) adds what sysfs lacks on a real kernel.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::config::{EswitchMode, PfConfig, PfMatch};
use crate::host::{errno_of, Host};
use crate::kernel::Kernel;
use crate::types::Guid;

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Netdev {
    pub name: String,
    pub up: bool,
    pub master: Option<String>,
    pub switch_id: Option<String>,
    pub port_name: Option<String>,
    pub mac: Option<String>,
}

impl Netdev {
    /// A netdev someone relies on: administratively up, or enslaved to a bond/bridge/OVS.
    pub fn in_use(&self) -> bool {
        self.up || self.master.is_some()
    }
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct VfState {
    pub index: u32,
    /// PCI address of the VF function; `None` for devices without VF functions (netdevsim).
    pub pci: Option<String>,
    pub driver: Option<String>,
    pub driver_override: Option<String>,
    pub netdevs: Vec<Netdev>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub enum EswitchSource {
    Devlink,
    /// `/sys/class/net/PF/compat/devlink/mode` of old MLNX_OFED kernels.
    Compat,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PfState {
    pub name: String,
    pub device: PathBuf,
    /// devlink bus and device names (`pci`, `0000:3b:00.0`; `netdevsim`, `netdevsim1`).
    pub bus: String,
    pub dev_name: String,
    pub driver: Option<String>,
    pub numvfs: u32,
    pub totalvfs: Option<u32>,
    pub autoprobe: Option<bool>,
    pub netdev: Netdev,
    pub eswitch: Option<EswitchMode>,
    pub eswitch_source: Option<EswitchSource>,
    /// `X` in the `pfXvfY` names of this PF's representors.
    pub pf_number: u32,
    pub vfs: Vec<VfState>,
    /// VF index → representor netdev.
    pub reps: BTreeMap<u32, String>,
}

impl PfState {
    /// Why a VF must not be destroyed or rebound, if it must not. `keep_driver` is the driver
    /// this suite binds VFs to. In use: bound to a driver that gives the host no netdev
    /// (vfio-pci, pci-stub: a guest or DPDK owns it) other than `keep_driver`, or a netdev of
    /// the VF is up or enslaved. An idle VF netdev (autoprobed, down, no master) is not in use.
    pub fn vf_in_use(&self, vf: &VfState, keep_driver: Option<&str>) -> Option<String> {
        if let Some(d) = &vf.driver {
            if Some(d.as_str()) != keep_driver && vf.netdevs.is_empty() {
                return Some(format!("VF {} is bound to {d}", vf.index));
            }
        }
        for n in &vf.netdevs {
            if n.up {
                return Some(format!("VF {} netdev {} is up", vf.index, n.name));
            }
            if let Some(m) = &n.master {
                return Some(format!(
                    "VF {} netdev {} is enslaved to {m}",
                    vf.index, n.name
                ));
            }
        }
        None
    }
}

/// Finds the netdev a `[[pf]]` entry means; `None` if it is not on this host (yet).
pub fn resolve_pf(host: &Host, m: &PfMatch) -> Result<Option<String>> {
    match m {
        PfMatch::Name(n) => Ok(host
            .exists(&host.sys(format!("class/net/{n}")))
            .then(|| n.to_string())),
        PfMatch::Pci(p) => {
            let names = host.list(&host.sys(format!("bus/pci/devices/{p}/net")))?;
            Ok(names.into_iter().next())
        }
        PfMatch::Mac(mac) => {
            let want = mac.to_string();
            for n in host.list(&host.sys("class/net"))? {
                let dev = host.sys(format!("class/net/{n}/device"));
                if !host.exists(&dev) || host.exists(&dev.join("physfn")) {
                    continue;
                }
                let addr = host.read_opt(&host.sys(format!("class/net/{n}/address")))?;
                let is_pf = host.exists(&dev.join("sriov_numvfs"));
                if is_pf && addr.as_deref() == Some(want.as_str()) {
                    return Ok(Some(n));
                }
            }
            Ok(None)
        }
    }
}

/// Reads an attribute that some devices do not implement: the kernel answers EOPNOTSUPP,
/// EINVAL, ENODATA or ENODEV for "not applicable" (e.g. `phys_switch_id` of a plain NIC).
fn read_attr(host: &Host, p: &Path) -> Result<Option<String>> {
    match host.read_opt(p) {
        Ok(v) => Ok(v.filter(|s| !s.is_empty())),
        Err(e) if matches!(errno_of(&e), Some(95 | 22 | 61 | 19 | 20)) => Ok(None),
        Err(e) => Err(e),
    }
}

pub fn netdev(host: &Host, name: &str) -> Result<Netdev> {
    let base = host.sys(format!("class/net/{name}"));
    let flags = host
        .read(&base.join("flags"))
        .with_context(|| format!("interface {name}"))?;
    let flags = u32::from_str_radix(flags.trim_start_matches("0x"), 16)
        .with_context(|| format!("{}: {flags:?} is not hex", base.join("flags").display()))?;
    Ok(Netdev {
        name: name.to_string(),
        up: flags & 1 != 0, // IFF_UP
        master: host.link_name(&base.join("master"))?,
        switch_id: read_attr(host, &base.join("phys_switch_id"))?,
        port_name: read_attr(host, &base.join("phys_port_name"))?,
        mac: read_attr(host, &base.join("address"))?,
    })
}

/// Parses a representor's `phys_port_name` into (pf number, vf number).
pub fn parse_rep_port_name(s: &str) -> Option<(Option<u32>, u32)> {
    if let Some(rest) = s.strip_prefix("pf") {
        let (pf, vf) = rest.split_once("vf")?;
        return Some((Some(pf.parse().ok()?), vf.parse().ok()?));
    }
    // kernels before 4.20 named them `vfN` or just `N`
    let n = s.strip_prefix("vf").unwrap_or(s);
    Some((None, n.parse().ok()?))
}

fn pf_number(netdev: &Netdev, dev_name: &str) -> u32 {
    if let Some(n) = netdev.port_name.as_deref().and_then(|p| {
        p.strip_prefix("pf")
            .or_else(|| p.strip_prefix('p'))
            .and_then(|x| x.parse().ok())
    }) {
        return n;
    }
    // PCI function number: 0000:3b:00.1 → 1
    dev_name
        .rsplit_once('.')
        .and_then(|(_, f)| f.parse().ok())
        .unwrap_or(0)
}

pub fn observe_pf(host: &Host, kernel: &mut Kernel, name: &str) -> Result<PfState> {
    let base = host.sys(format!("class/net/{name}"));
    let devlink = base.join("device");
    let device = std::fs::canonicalize(&devlink).with_context(|| {
        format!(
            "{name} has no device ({}): not a physical function",
            devlink.display()
        )
    })?;
    let dev_name = device
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .with_context(|| format!("{}: no device name", device.display()))?;
    let bus = host
        .link_name(&device.join("subsystem"))?
        .unwrap_or_else(|| "pci".into());
    let numvfs_path = device.join("sriov_numvfs");
    let Some(numvfs) = host.read_u32_opt(&numvfs_path)? else {
        bail!(
            "{name} ({dev_name}) does not support SR-IOV: {} is missing (SR-IOV disabled in firmware or BIOS? see `sriov-offload check`)",
            numvfs_path.display()
        );
    };
    let pf_netdev = netdev(host, name)?;
    let pf_number = pf_number(&pf_netdev, &dev_name);
    let mut vfs = vec![];
    for i in 0..numvfs {
        let link = device.join(format!("virtfn{i}"));
        let pci = host.link_name(&link)?;
        let (driver, driver_override, netdevs) = match &pci {
            Some(_) => {
                let vdev = std::fs::canonicalize(&link)
                    .with_context(|| format!("resolving {}", link.display()))?;
                let ov = host
                    .read_opt(&vdev.join("driver_override"))?
                    .filter(|s| s != "(null)" && !s.is_empty());
                let mut nds = vec![];
                for n in host.list(&vdev.join("net"))? {
                    nds.push(netdev(host, &n)?);
                }
                (host.link_name(&vdev.join("driver"))?, ov, nds)
            }
            None => (None, None, vec![]),
        };
        vfs.push(VfState {
            index: i,
            pci,
            driver,
            driver_override,
            netdevs,
        });
    }
    let (eswitch, eswitch_source) = kernel.eswitch_mode(host, &bus, &dev_name, name)?;
    let mut st = PfState {
        name: name.to_string(),
        bus,
        dev_name,
        driver: host.link_name(&device.join("driver"))?,
        numvfs,
        totalvfs: host.read_u32_opt(&device.join("sriov_totalvfs"))?,
        autoprobe: host
            .read_opt(&device.join("sriov_drivers_autoprobe"))?
            .map(|s| s != "0"),
        device,
        netdev: pf_netdev,
        eswitch,
        eswitch_source,
        pf_number,
        vfs,
        reps: BTreeMap::new(),
    };
    st.reps = match kernel.vf_representors(&st.bus, &st.dev_name)? {
        Some(r) => r,
        None => representors(host, &st)?,
    };
    Ok(st)
}

/// Representors of a PF without devlink (fixture trees, old OFED kernels): netdevs on the same switch (`phys_switch_id`) whose port name says
/// `pf<X>vf<Y>` with X this PF's number. Names of netdevs are never interpreted.
pub fn representors(host: &Host, pf: &PfState) -> Result<BTreeMap<u32, String>> {
    let mut reps = BTreeMap::new();
    let Some(sw) = &pf.netdev.switch_id else {
        return Ok(reps);
    };
    for n in host.list(&host.sys("class/net"))? {
        if n == pf.name {
            continue;
        }
        let base = host.sys(format!("class/net/{n}"));
        // class/net also holds files such as bonding_masters
        if !base.is_dir() {
            continue;
        }
        if read_attr(host, &base.join("phys_switch_id"))?.as_ref() != Some(sw) {
            continue;
        }
        let Some(port) = read_attr(host, &base.join("phys_port_name"))? else {
            continue;
        };
        if let Some((pfn, vf)) = parse_rep_port_name(&port) {
            if pfn.is_none_or(|p| p == pf.pf_number) {
                reps.insert(vf, n);
            }
        }
    }
    Ok(reps)
}

/// VF-LAG state of an mlx5 PF, from debugfs; `None` when the file does not exist.
pub fn lag_state(host: &Host, pci: &str) -> Result<Option<String>> {
    host.read_opt(&lag_state_path(host, pci))
}

pub fn lag_state_path(host: &Host, pci: &str) -> PathBuf {
    host.sys(format!("kernel/debug/mlx5/{pci}/lag/state"))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum GuidKind {
    Node,
    Port,
}

impl GuidKind {
    pub fn file(self) -> &'static str {
        match self {
            GuidKind::Node => "node",
            GuidKind::Port => "port",
        }
    }
}

pub fn ib_guid_path(host: &Host, device: &str, vf: u32, kind: GuidKind) -> PathBuf {
    host.sys(format!(
        "class/infiniband/{device}/device/sriov/{vf}/{}",
        kind.file()
    ))
}

pub fn ib_guid(host: &Host, device: &str, vf: u32, kind: GuidKind) -> Result<Option<Guid>> {
    let p = ib_guid_path(host, device, vf, kind);
    match host.read_opt(&p)? {
        None => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|m: String| anyhow::anyhow!("{}: {m}", p.display())),
    }
}

/// The configured PFs found on this host, with their config.
pub struct Observed<'c> {
    pub pfs: Vec<(&'c PfConfig, PfState)>,
    /// Configured PFs not present (yet): matcher description.
    pub missing: Vec<&'c PfConfig>,
}

pub fn observe<'c>(host: &Host, kernel: &mut Kernel, pfs: &[&'c PfConfig]) -> Result<Observed<'c>> {
    let mut out = Observed {
        pfs: vec![],
        missing: vec![],
    };
    for pc in pfs {
        match resolve_pf(host, &pc.matcher)? {
            Some(name) => out.pfs.push((pc, observe_pf(host, kernel, &name)?)),
            None => out.missing.push(pc),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rep_port_names() {
        assert_eq!(parse_rep_port_name("pf0vf3"), Some((Some(0), 3)));
        assert_eq!(parse_rep_port_name("pf1vf31"), Some((Some(1), 31)));
        assert_eq!(parse_rep_port_name("vf7"), Some((None, 7)));
        assert_eq!(parse_rep_port_name("p0"), None);
        assert_eq!(parse_rep_port_name("pf0sf1"), None);
        assert_eq!(parse_rep_port_name("pf0hpf"), None);
    }
}
