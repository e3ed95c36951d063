//! Reads the host into one [`HostState`]: the configured PFs, their VFs and drivers, eswitch
//! mode, representors, and the facts the planners need beyond sysfs (VF properties,
//! hw-tc-offload, VF LAG, IB GUIDs). Everything here is a read, through the host model (sysfs:
//! fixture trees describe a host fully) and the kernel facade (netlink adds what sysfs lacks on
//! a real kernel). irq-tune's reading of interrupts, CPUs and queues is in [`irq`].

pub mod configured;
pub mod ib;
pub mod irq;
pub mod ovs;
pub mod system;

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use serde::Serialize;

use crate::config::{Config, EswitchMode, ParamCmode, PfConfig};
use crate::host::net::NetdevState;
use crate::host::Host;
use crate::kernel::{cmode_from_devlink, EswitchModes, EswitchSource, Kernel};
use crate::netlink::devlink::{ParamType, ParamValue};
use crate::netlink::rtnl::VfInfo;
use crate::netlink::DevlinkHandle;
use crate::select::Target;
use crate::types::{Guid, GuidKind, IfName, PciAddr};

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct VfState {
    pub index: u32,
    /// PCI address of the VF function; `None` for devices without VF functions (netdevsim).
    pub pci: Option<PciAddr>,
    pub driver: Option<String>,
    pub driver_override: Option<String>,
    pub netdevs: Vec<NetdevState>,
    /// The VF's RDMA device when its port is InfiniBand (`mlx5_1`): with no IPoIB it is what
    /// the host's driver gives the VF instead of a netdev.
    pub ib_device: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PfState {
    pub name: IfName,
    /// devlink bus and device names (`pci`, `0000:3b:00.0`; `netdevsim`, `netdevsim1`).
    pub bus: String,
    pub dev_name: String,
    pub driver: Option<String>,
    pub numvfs: u32,
    pub totalvfs: Option<u32>,
    pub autoprobe: Option<bool>,
    pub netdev: NetdevState,
    pub eswitch: Option<EswitchMode>,
    pub eswitch_source: Option<EswitchSource>,
    /// `X` in the `pfXvfY` names of this PF's representors.
    pub pf_number: u32,
    pub vfs: Vec<VfState>,
    /// VF index → representor netdev.
    pub reps: BTreeMap<u32, IfName>,
    /// The PF has no netdev (an InfiniBand port without IPoIB): `name` is its RDMA device's
    /// name and `netdev` a stand-in that is down, unenslaved and on no switch (see
    /// [`ib::no_netdev`]).
    pub no_netdev: bool,
}

impl PfState {
    pub fn devlink(&self) -> DevlinkHandle {
        DevlinkHandle {
            bus: self.bus.clone(),
            dev: self.dev_name.clone(),
        }
    }

    /// Why a VF must not be destroyed or rebound, if it must not. `keep_driver` is the driver
    /// this suite binds VFs to. In use: bound to a driver that gives the host no netdev
    /// (vfio-pci, pci-stub: a guest or DPDK owns it) other than `keep_driver`, or a netdev of
    /// the VF is up or enslaved. An idle VF netdev (autoprobed, down, no master) is not in use,
    /// nor is an InfiniBand VF's RDMA device on the host (no IPoIB: it has no netdev).
    pub fn vf_in_use(&self, vf: &VfState, keep_driver: Option<&str>) -> Option<String> {
        if let Some(d) = &vf.driver {
            // Bound with no netdev visible here: a driver that gives the host none (vfio-pci,
            // pci-stub: a guest or DPDK owns it), or a netdev driver whose netdev was moved
            // into another network namespace (a container, a pod). Only our own driver with
            // its netdev here is idle. Even our driver without one is in use: it gives every
            // VF a netdev at probe.
            // an InfiniBand VF without IPoIB has an RDMA device on the host instead: the
            // host's driver holds it, and nothing here shows a user of it
            if vf.netdevs.is_empty() && vf.ib_device.is_none() {
                let whose = if Some(d.as_str()) == keep_driver {
                    "its netdev was moved into another network namespace (a container, a pod?)"
                } else {
                    "a guest, DPDK or a container holds it"
                };
                return Some(format!(
                    "VF {} is bound to {d} with no netdev in this network namespace: {whose}",
                    vf.index
                ));
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

/// Facts the plan needs that are not in sysfs; each `None` means unknown, and unknown
/// means "do it" (writes are idempotent).
#[derive(Default, Clone, Debug)]
pub struct Facts {
    /// PF → VF properties as the driver reports them.
    pub vf_info: BTreeMap<IfName, Vec<VfInfo>>,
    /// netdev (PF or representor) → hw-tc-offload active, for those that can have it. Only
    /// known on a real kernel (ethtool netlink); unknown means not planned, since a fixture
    /// tree cannot apply it.
    pub hw_tc: BTreeMap<IfName, bool>,
    /// (PF, VF, kind) → current GUID, read where the PF's GUIDs are set ([`GuidVia`]).
    pub guids: BTreeMap<GuidKey, Guid>,
    /// PF → how its VFs' GUIDs are set, for PFs with IB GUIDs configured.
    pub guid_via: BTreeMap<IfName, GuidVia>,
    /// PF → VF LAG active.
    pub lag_active: BTreeMap<IfName, bool>,
    /// PF → its VFs' IB port policies, for PFs with `ib.policy` ([`ib`]).
    pub ib: BTreeMap<IfName, ib::IbFacts>,
    /// `None` when it cannot be read: `auto` GUIDs then cannot be computed.
    pub hostname: Option<String>,
    /// Open vSwitch, when the config uses it for these PFs ([`ovs`]).
    pub ovs: Option<ovs::OvsFacts>,
    /// netdev → MTU (sysfs `mtu`), for PFs with `mtu` and VF netdevs with a per-VF `mtu`.
    pub mtu: BTreeMap<IfName, u32>,
    /// PF → its devlink parameters, for PFs with `devlink_params` configured.
    pub devlink_params: BTreeMap<IfName, ParamsSeen>,
    /// PF → its eswitch's inline and encap mode, for PFs with either configured.
    pub eswitch_modes: BTreeMap<IfName, EswitchModes>,
}

/// A devlink parameter as the device reports it (DEVLINK_CMD_PARAM_GET).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamState {
    pub ty: ParamType,
    pub generic: bool,
    /// The value in each cmode the driver supports (and only those).
    pub values: BTreeMap<ParamCmode, ParamValue>,
}

/// A PF's devlink parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParamsSeen {
    /// By name; empty for a device without any (or without a devlink instance).
    Read(BTreeMap<String, ParamState>),
    /// They cannot be read here (a fixture tree has no kernel): why.
    Unreadable(String),
}

impl Facts {
    /// Takes in the per-PF facts of another observation of other PFs (the host-wide ones,
    /// host name and OVS, stay this one's). Destructured whole so that a new per-PF field
    /// cannot be forgotten here.
    pub fn absorb(&mut self, other: Facts) {
        let Facts {
            vf_info,
            hw_tc,
            guids,
            guid_via,
            lag_active,
            ib,
            hostname: _,
            ovs: _,
            mtu,
            devlink_params,
            eswitch_modes,
        } = other;
        self.mtu.extend(mtu);
        self.vf_info.extend(vf_info);
        self.hw_tc.extend(hw_tc);
        self.guids.extend(guids);
        self.guid_via.extend(guid_via);
        self.lag_active.extend(lag_active);
        self.ib.extend(ib);
        self.devlink_params.extend(devlink_params);
        self.eswitch_modes.extend(eswitch_modes);
    }
}

/// (PF, VF index, node or port): which GUID.
pub type GuidKey = (IfName, u32, GuidKind);

/// How the IB GUIDs of a PF's VFs are set. Each VF's GUIDs go to its own PF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GuidVia {
    /// MLNX_OFED's per-PF `sriov/N/{node,port}` files.
    Sysfs,
    /// MLNX_OFED's per-PF files of an Ethernet (RoCE) port: `sriov/N/node` only, no `port`
    /// (port GUIDs are an InfiniBand port's). Says so, naming the file that is not there.
    SysfsNodeOnly(String),
    /// rtnetlink `IFLA_VF_IB_NODE_GUID` / `_PORT_GUID` on the PF (upstream kernels).
    Netlink,
    /// The PF has no VFs yet: decided when the step runs (its VFs are new, so none is bound).
    NoVfsYet,
    /// Neither: why, naming what is missing.
    Missing(String),
}

/// The host as the planners see it: for the offload flow the targeted PFs with their config,
/// and the facts; for irq-tune the devices it tunes. Each flow leaves the other's part empty.
pub struct HostState<'c> {
    pub pfs: Vec<(&'c PfConfig, PfState)>,
    pub facts: Facts,
    /// irq-tune's devices, in target order.
    pub irq: Vec<irq::Device>,
}

impl HostState<'_> {
    pub fn pf(&self, name: &IfName) -> Option<&PfState> {
        self.pfs.iter().map(|(_, s)| s).find(|s| &s.name == name)
    }
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

fn pf_number(netdev: &NetdevState, dev_name: &str) -> u32 {
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

pub fn observe_pf(host: &Host, kernel: &mut Kernel, name: &IfName) -> Result<PfState> {
    observe_pf_in(host, kernel, name, &mut Switches::default())
}

/// Every netdev's `phys_switch_id` and `phys_port_name`, read once on first use and shared by
/// the PFs of one observation: without devlink each PF's representors are found among all
/// netdevs, and a host with 256 VFs has over 500 of them.
#[derive(Default)]
pub struct Switches(Option<Vec<(IfName, String, Option<String>)>>);

impl Switches {
    fn get(&mut self, host: &Host) -> Result<&[(IfName, String, Option<String>)]> {
        if self.0.is_none() {
            let mut v = vec![];
            for n in host.netdevs()? {
                // only netdevs on a switch can be representors
                if let Some(sw) = n.phys_switch_id()? {
                    v.push((n.name().clone(), sw, n.phys_port_name()?));
                }
            }
            self.0 = Some(v);
        }
        Ok(self.0.as_deref().unwrap_or_default())
    }
}

/// [`observe_pf`] with a [`Switches`] index shared across the PFs of one observation.
pub fn observe_pf_in(
    host: &Host,
    kernel: &mut Kernel,
    name: &IfName,
    switches: &mut Switches,
) -> Result<PfState> {
    let nd = host.netdev(name);
    let no_netdev = host.is_ib_only_pf(name);
    let device = host.pf_device(name)?;
    let dev_name = device.name().to_string();
    let bus = device.bus()?.unwrap_or_else(|| "pci".into());
    let Some(numvfs) = device.numvfs()? else {
        bail!(
            "{name} ({dev_name}) does not support SR-IOV: {} is missing (SR-IOV disabled in firmware or BIOS? see `sriov-offload check`)",
            device.numvfs_file().display()
        );
    };
    let pf_netdev = if no_netdev {
        ib::no_netdev(name)
    } else {
        nd.state()?
    };
    let pf_number = pf_number(&pf_netdev, &dev_name);
    let mut vfs = vec![];
    for i in 0..numvfs {
        let vf = device.virtfn(i)?;
        let st = match &vf {
            Some(v) => VfState {
                index: i,
                pci: v.pci(),
                driver: v.driver()?,
                driver_override: v.driver_override()?,
                netdevs: v
                    .netdevs()?
                    .iter()
                    .map(|n| n.state())
                    .collect::<Result<_>>()?,
                ib_device: v.infiniband_port()?,
            },
            None => VfState {
                index: i,
                pci: None,
                driver: None,
                driver_override: None,
                netdevs: vec![],
                ib_device: None,
            },
        };
        vfs.push(st);
    }
    let handle = DevlinkHandle {
        bus: bus.clone(),
        dev: dev_name.clone(),
    };
    let (eswitch, eswitch_source) = kernel.eswitch_mode(&handle, &nd)?;
    let mut st = PfState {
        name: name.clone(),
        bus,
        dev_name,
        driver: device.driver()?,
        numvfs,
        totalvfs: device.totalvfs()?,
        autoprobe: device.autoprobe()?,
        netdev: pf_netdev,
        eswitch,
        eswitch_source,
        pf_number,
        vfs,
        reps: BTreeMap::new(),
        no_netdev,
    };
    st.reps = match kernel.vf_representors(&handle)? {
        Some(r) => r,
        None => representors_in(&st, switches.get(host)?),
    };
    Ok(st)
}

/// Representors of a PF without devlink (fixture trees, old OFED kernels): netdevs on the
/// same switch (`phys_switch_id`) whose port name says `pf<X>vf<Y>` with X this PF's number.
/// Names of netdevs are never interpreted.
pub fn representors(host: &Host, pf: &PfState) -> Result<BTreeMap<u32, IfName>> {
    Ok(representors_in(pf, Switches::default().get(host)?))
}

/// [`representors`] among the netdevs of a [`Switches`] index.
fn representors_in(
    pf: &PfState,
    netdevs: &[(IfName, String, Option<String>)],
) -> BTreeMap<u32, IfName> {
    let mut reps = BTreeMap::new();
    let Some(sw) = &pf.netdev.switch_id else {
        return reps;
    };
    for (name, switch, port) in netdevs {
        if name == &pf.name || switch != sw {
            continue;
        }
        let Some(port) = port else { continue };
        if let Some((pfn, vf)) = parse_rep_port_name(port) {
            if pfn.is_none_or(|p| p == pf.pf_number) {
                reps.insert(vf, name.clone());
            }
        }
    }
    reps
}

/// A PF's representors as they are now: devlink's port list, or (no devlink) sysfs with the
/// PF's switch id re-read, since it can appear only with switchdev.
pub fn current_reps(
    host: &Host,
    kernel: &mut Kernel,
    pf: &PfState,
) -> Result<BTreeMap<u32, IfName>> {
    if let Some(r) = kernel.vf_representors(&pf.devlink())? {
        return Ok(r);
    }
    let mut p = pf.clone();
    p.netdev = host.netdev(&pf.name).state()?;
    representors(host, &p)
}

/// Where a PF's VF GUIDs are set, and what they are now.
fn guids(
    host: &Host,
    s: &PfState,
    info: Option<&Vec<VfInfo>>,
) -> Result<(GuidVia, Vec<(GuidKey, Guid)>)> {
    let dev = host.pf_device(&s.name)?;
    let reported = |vf: u32, kind: GuidKind| {
        let v = info?.iter().find(|i| i.vf == vf)?;
        match kind {
            GuidKind::Node => v.node_guid,
            GuidKind::Port => v.port_guid,
        }
        .map(Guid)
    };
    let via = if s.numvfs == 0 {
        // a PF without a netdev can only use MLNX_OFED's files: known before its VFs exist
        if s.no_netdev && !dev.has_vf_sysfs_dir() {
            GuidVia::Missing(format!(
                "cannot set the IB GUIDs of its VFs: there is no {} (MLNX_OFED's per-PF GUID files) and it has no netdev for rtnetlink's VF GUIDs (no IPoIB)",
                dev.vf_sysfs_dir().display()
            ))
        } else {
            GuidVia::NoVfsYet
        }
    } else if dev.has_vf_guid_files() && dev.has_vf_port_guid_file() {
        GuidVia::Sysfs
    } else if dev.has_vf_guid_files() {
        GuidVia::SysfsNodeOnly(format!(
            "{} is an Ethernet port: MLNX_OFED gives its VFs node GUIDs only ({} has no port file next to node); port GUIDs are an InfiniBand port's",
            s.name,
            dev.vf_guid_file(0, GuidKind::Port)
                .parent()
                .map_or_else(String::new, |d| d.display().to_string())
        ))
    } else if reported(0, GuidKind::Node).is_some() {
        GuidVia::Netlink
    } else {
        GuidVia::Missing(format!(
            "cannot set the IB GUIDs of its VFs: there is no {} (MLNX_OFED's per-PF GUID files) and {}",
            dev.vf_guid_file(0, GuidKind::Node).display(),
            if s.no_netdev {
                "it has no netdev for rtnetlink's VF GUIDs (no IPoIB)"
            } else if host.is_real() {
                "the driver reports no VF GUIDs through rtnetlink (not an InfiniBand-capable PF?)"
            } else {
                "rtnetlink is not used on a fixture tree"
            }
        ))
    };
    let mut found = vec![];
    for vf in 0..s.numvfs {
        for kind in [GuidKind::Node, GuidKind::Port] {
            let g = match via {
                GuidVia::Sysfs => dev.vf_guid(vf, kind)?,
                GuidVia::SysfsNodeOnly(_) if kind == GuidKind::Node => dev.vf_guid(vf, kind)?,
                GuidVia::Netlink => reported(vf, kind),
                _ => None,
            };
            if let Some(g) = g {
                found.push(((s.name.clone(), vf, kind), g));
            }
        }
    }
    Ok((via, found))
}

/// The MTUs a PF's plan compares: its own netdev's when it has `mtu`, its VFs' netdevs' when
/// they have one.
fn mtus(host: &Host, pc: &PfConfig, s: &PfState) -> Result<Vec<(IfName, u32)>> {
    let mut names = vec![];
    if pc.mtu.is_some() {
        names.push(s.name.clone());
    }
    for v in &s.vfs {
        let want = u16::try_from(v.index)
            .ok()
            .and_then(|i| pc.vf.get(&i))
            .is_some_and(|c| c.mtu.is_some());
        if want {
            names.extend(v.netdevs.iter().map(|n| n.name.clone()));
        }
    }
    let mut out = vec![];
    for n in names {
        if let Some(m) = host.netdev(&n).mtu()? {
            out.push((n, m));
        }
    }
    Ok(out)
}

/// The facts beyond sysfs for the observed PFs.
pub fn facts(
    host: &Host,
    kernel: &mut Kernel,
    cfg: &Config,
    states: &[(&PfConfig, PfState)],
) -> Result<Facts> {
    let mut x = Facts {
        hostname: host.hostname().ok().filter(|h| !h.is_empty()),
        ..Facts::default()
    };
    for (pc, s) in states {
        let ib = cfg.bond_of(s.name.as_str()).and_then(|b| b.ib.as_ref());
        // without a netdev there is no rtnetlink link to ask (plan refuses `vf` settings)
        if (!pc.vf.is_empty() || ib.is_some() || pc.ib.is_some()) && !s.no_netdev {
            if let Some(info) = kernel.vf_info(&s.name)? {
                x.vf_info.insert(s.name.clone(), info);
            }
        }
        x.mtu.extend(mtus(host, pc, s)?);
        if pc.hw_tc_offload && host.is_real() && !s.no_netdev {
            // a PF without the feature reads as "off": enabling it then fails, naming it
            let on = kernel.feature(&s.name, "hw-tc-offload")?.unwrap_or(false);
            x.hw_tc.insert(s.name.clone(), on);
            for rep in s.reps.values() {
                if let Some(f) = kernel.feature_state(rep, "hw-tc-offload")? {
                    if f.supported() {
                        x.hw_tc.insert(rep.clone(), f.active);
                    }
                }
            }
        }
        if !pc.devlink.params.is_empty() {
            let seen = match kernel.devlink_params(&s.devlink())? {
                Some(params) => ParamsSeen::Read(
                    params
                        .into_iter()
                        .map(|p| {
                            let st = ParamState {
                                ty: p.ty,
                                generic: p.generic,
                                values: p
                                    .values
                                    .into_iter()
                                    .map(|(m, v)| (cmode_from_devlink(m), v))
                                    .collect(),
                            };
                            (p.name, st)
                        })
                        .collect(),
                ),
                None => ParamsSeen::Unreadable(
                    "devlink parameters are read through devlink netlink, which is not used on a fixture tree (SRIOV_OFFLOAD_ROOT is set)".into(),
                ),
            };
            x.devlink_params.insert(s.name.clone(), seen);
        }
        if pc.devlink.inline_mode.is_some() || pc.devlink.encap_mode.is_some() {
            let m = kernel.eswitch_modes(
                s.eswitch_source.as_ref(),
                &s.devlink(),
                &host.netdev(&s.name),
            )?;
            x.eswitch_modes.insert(s.name.clone(), m);
        }
        if let Some(b) = cfg.bond_of(s.name.as_str()) {
            if b.vf_lag {
                let st = host.mlx5_lag_state(&s.dev_name)?;
                x.lag_active
                    .insert(s.name.clone(), st.as_deref() == Some("active"));
            }
            if b.ib.is_some() {
                let (via, found) = guids(host, s, x.vf_info.get(&s.name))?;
                x.guids.extend(found);
                x.guid_via.insert(s.name.clone(), via);
            }
        }
        if let Some(pib) = &pc.ib {
            if let Some(d) = &pib.device {
                ib::check_device(host, s, d, &pc.origin)?;
            }
            if pib.node_guids.is_some() || pib.port_guids.is_some() {
                let (via, found) = guids(host, s, x.vf_info.get(&s.name))?;
                x.guids.extend(found);
                x.guid_via.insert(s.name.clone(), via);
            }
            if pib.policy.is_some() {
                let f = ib::observe(host, s, x.vf_info.get(&s.name))?;
                x.ib.insert(s.name.clone(), f);
            }
        }
    }
    Ok(x)
}

/// Observes the targeted PFs and the facts about them.
pub fn observe<'c>(
    host: &Host,
    kernel: &mut Kernel,
    cfg: &Config,
    targets: &[Target<'c>],
) -> Result<HostState<'c>> {
    let mut switches = Switches::default();
    let pfs = targets
        .iter()
        .map(|t| Ok((t.cfg, observe_pf_in(host, kernel, &t.name, &mut switches)?)))
        .collect::<Result<Vec<_>>>()?;
    let mut facts = facts(host, kernel, cfg, &pfs)?;
    facts.ovs = ovs::observe(host, cfg, &pfs);
    Ok(HostState {
        pfs,
        facts,
        irq: vec![],
    })
}

/// irq-tune's state: one [`irq::Device`] per target that could be read ([`irq::observe_target`]),
/// in target order, and the targets that could not be read with why. `cpus` and `interrupts`
/// are read once per run, for every target.
pub fn observe_irq(
    host: &Host,
    kernel: &mut Kernel,
    cpus: &irq::Cpus,
    interrupts: &BTreeMap<u32, Vec<String>>,
    targets: &[crate::select::irq::Target],
) -> (HostState<'static>, Vec<(IfName, anyhow::Error)>) {
    let mut state = HostState {
        pfs: vec![],
        facts: Facts::default(),
        irq: vec![],
    };
    let mut unread = vec![];
    for t in targets {
        match irq::observe_target(host, kernel, cpus, interrupts, t) {
            Ok(d) => state.irq.push(d),
            Err(e) => unread.push((t.ifname.clone(), e)),
        }
    }
    (state, unread)
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
