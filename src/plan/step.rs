//! The steps a plan is made of: what each does, its PF, its journal kind, and how `--dry-run`
//! prints it.

use std::fmt;

use serde::Serialize;

use crate::config::{EswitchMode, IbPolicy, ParamCmode, VfConfig};
use crate::kernel::EswitchModes;
use crate::netlink::devlink::ParamValue;
use crate::ovsdb::vswitch::PortSpec;
use crate::types::{BridgeName, Guid, GuidKind, IfName};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Step {
    Autoprobe {
        pf: IfName,
        on: bool,
    },
    NumVfs {
        pf: IfName,
        count: u32,
    },
    Unbind {
        pf: IfName,
        vf: u32,
        driver: String,
    },
    /// A mode change. To switchdev it carries the configured inline and encap mode, set in the
    /// same request (the kernel applies them right after the mode).
    Eswitch {
        pf: IfName,
        mode: EswitchMode,
        modes: EswitchModes,
    },
    /// The inline and/or encap mode (those that differ) of an eswitch in switchdev already.
    EswitchModes {
        pf: IfName,
        modes: EswitchModes,
    },
    /// DEVLINK_CMD_PARAM_SET of one parameter (`plan::devlink`).
    DevlinkParam {
        pf: IfName,
        name: String,
        cmode: ParamCmode,
        value: ParamValue,
    },
    /// `devlink dev reload` (driver reinit), once, after the driverinit values were set: they
    /// take effect only then. The driver re-creates its netdevs (the step waits for the PF's)
    /// and destroys its VFs, so it is planned only where the PF has none.
    DevlinkReload {
        pf: IfName,
    },
    VfProps {
        pf: IfName,
        vf: u32,
        #[serde(skip)]
        cfg: VfConfig,
    },
    /// Post on a configured slave of a bond that is not enslaved to it yet: wait until the bond
    /// has every configured slave. systemd-networkd enslaves after `network.target`, which is
    /// all a unit can be ordered after; ifupdown has enslaved them before its post-up. First in
    /// the plan: mode changes after the bond, the LAG and VF binding need the bond.
    WaitSlaves {
        bond: IfName,
        pf: IfName,
        slaves: Vec<IfName>,
    },
    WaitLag {
        bond: IfName,
        pf: IfName,
    },
    WaitReps {
        pf: IfName,
        vfs: Vec<u32>,
    },
    /// Written to the VF's own PF ([`GuidVia`]: MLNX_OFED's per-PF files or rtnetlink).
    Guid {
        pf: IfName,
        vf: u32,
        kind: GuidKind,
        guid: Guid,
    },
    /// MLNX_OFED's `sriov/N/policy` of the VF's PF, or its VF link state (see `observe::ib`).
    IbPolicy {
        pf: IfName,
        vf: u32,
        policy: IbPolicy,
    },
    Bind {
        pf: IfName,
        vfs: Vec<u32>,
        driver: String,
    },
    /// The PF netdev's MTU (`now`: as observed, `None` unknown).
    Mtu {
        pf: IfName,
        mtu: u32,
        now: Option<u32>,
    },
    /// The MTU of a VF's own netdev; `netdev` `None`: the VF is bound by this run, its
    /// netdevs are found when the step runs (none: nothing to set, see `plan::vf`).
    VfMtu {
        pf: IfName,
        vf: u32,
        mtu: u32,
        netdev: Option<IfName>,
    },
    /// On the PF, and on every representor of it that can have it (representors are
    /// enumerated when the step runs: they may be created by this very run).
    HwTcOffload {
        pf: IfName,
    },
    // --- Open vSwitch (plan/ovs.rs): each step is one OVSDB transaction at most ---
    /// `other_config:hw-offload=true`, host-wide (carried by one PF's plan). `vswitchd`: the
    /// pid of an ovs-vswitchd already running, which reads it only when it starts.
    OvsHwOffload {
        pf: IfName,
        vswitchd: Option<u32>,
    },
    /// Creates the PF's bridge (`create_bridge = true`).
    OvsAddBridge {
        pf: IfName,
        bridge: BridgeName,
    },
    /// Takes the PF's port out of its bridge before an eswitch mode change.
    OvsDetach {
        pf: IfName,
        bridge: String,
        port: PortSpec,
    },
    /// Puts it back as it was, after the mode change.
    OvsReattach {
        pf: IfName,
        bridge: String,
        port: PortSpec,
    },
    /// Makes the bridge's ports for this PF what `ovs` says (the uplink if `uplink`, the
    /// representors of `vfs`), removing ports added for the PF that name none of them. `add` and
    /// `remove` as planned; `pending`: representor names are resolved when the step runs.
    OvsPorts {
        pf: IfName,
        bridge: BridgeName,
        uplink: bool,
        vfs: Vec<u32>,
        add: Vec<String>,
        remove: Vec<String>,
        pending: bool,
    },
}

impl Step {
    pub fn pf(&self) -> &IfName {
        match self {
            Step::Autoprobe { pf, .. }
            | Step::NumVfs { pf, .. }
            | Step::Unbind { pf, .. }
            | Step::Eswitch { pf, .. }
            | Step::EswitchModes { pf, .. }
            | Step::DevlinkParam { pf, .. }
            | Step::DevlinkReload { pf }
            | Step::VfProps { pf, .. }
            | Step::WaitSlaves { pf, .. }
            | Step::WaitLag { pf, .. }
            | Step::WaitReps { pf, .. }
            | Step::Guid { pf, .. }
            | Step::IbPolicy { pf, .. }
            | Step::Bind { pf, .. }
            | Step::HwTcOffload { pf }
            | Step::Mtu { pf, .. }
            | Step::VfMtu { pf, .. }
            | Step::OvsHwOffload { pf, .. }
            | Step::OvsAddBridge { pf, .. }
            | Step::OvsDetach { pf, .. }
            | Step::OvsReattach { pf, .. }
            | Step::OvsPorts { pf, .. } => pf,
        }
    }

    /// A step whose whole effect is one sysfs file write (so a fixture tree can show it stuck):
    /// not binding, netlink or waits. MTUs are netlink on a real kernel, the `mtu` attribute on a
    /// fixture tree.
    pub fn is_file_write(&self) -> bool {
        matches!(
            self,
            Step::Autoprobe { .. }
                | Step::NumVfs { .. }
                | Step::Guid { .. }
                | Step::Mtu { .. }
                | Step::VfMtu { .. }
                | Step::IbPolicy { .. }
        )
    }

    /// Short machine-readable name, for the journal's SRIOV_STEP field.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Autoprobe { .. } => "autoprobe",
            Step::NumVfs { .. } => "numvfs",
            Step::Unbind { .. } => "unbind",
            Step::Eswitch { .. } => "eswitch",
            Step::EswitchModes { .. } => "eswitch-modes",
            Step::DevlinkParam { .. } => "devlink-param",
            Step::DevlinkReload { .. } => "devlink-reload",
            Step::VfProps { .. } => "vf-props",
            Step::WaitSlaves { .. } => "wait-slaves",
            Step::WaitLag { .. } => "wait-lag",
            Step::WaitReps { .. } => "wait-representors",
            Step::Guid { .. } => "ib-guid",
            Step::IbPolicy { .. } => "ib-policy",
            Step::Bind { .. } => "bind",
            Step::HwTcOffload { .. } => "hw-tc-offload",
            Step::Mtu { .. } => "mtu",
            Step::VfMtu { .. } => "vf-mtu",
            Step::OvsHwOffload { .. } => "ovs-hw-offload",
            Step::OvsAddBridge { .. } => "ovs-add-bridge",
            Step::OvsDetach { .. } => "ovs-detach",
            Step::OvsReattach { .. } => "ovs-reattach",
            Step::OvsPorts { .. } => "ovs-ports",
        }
    }
}

/// `0-3,5,7-9` for sorted VF indices.
pub fn ranges(v: &[u32]) -> String {
    let mut out: Vec<String> = vec![];
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1] == v[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            v[i].to_string()
        } else {
            format!("{}-{}", v[i], v[j])
        });
        i = j + 1;
    }
    out.join(",")
}

/// ` inline-mode X encap-mode Y`, for what is set.
fn modes_text(m: &EswitchModes) -> String {
    let mut out = String::new();
    if let Some(i) = m.inline {
        out.push_str(&format!(" inline-mode {i}"));
    }
    if let Some(e) = m.encap {
        out.push_str(&format!(" encap-mode {e}"));
    }
    out
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Autoprobe { pf, on } => {
                write!(f, "{pf}: set sriov_drivers_autoprobe to {}", u8::from(*on))
            }
            Step::NumVfs { pf, count } => write!(f, "{pf}: set sriov_numvfs to {count}"),
            Step::Unbind { pf, vf, driver } => write!(f, "{pf}: unbind VF {vf} from {driver}"),
            Step::Eswitch { pf, mode, modes } => {
                write!(f, "{pf}: set eswitch mode {mode}{}", modes_text(modes))
            }
            Step::EswitchModes { pf, modes } => {
                write!(f, "{pf}: set eswitch{}", modes_text(modes))
            }
            Step::DevlinkParam {
                pf,
                name,
                cmode,
                value,
            } => {
                write!(f, "{pf}: set devlink param {name} to {value} ({cmode})")?;
                if *cmode == ParamCmode::Permanent {
                    write!(f, ", in effect after a firmware reset or a power cycle")?;
                }
                Ok(())
            }
            Step::DevlinkReload { pf } => write!(
                f,
                "{pf}: reload the driver (devlink dev reload, driver reinit) for its driverinit parameters"
            ),
            Step::VfProps { pf, vf, cfg } => {
                write!(f, "{pf}: set VF {vf}")?;
                if let Some(m) = cfg.mac {
                    write!(f, " mac {m}")?;
                }
                if let Some(v) = cfg.vlan {
                    write!(f, " vlan {v}")?;
                }
                if let Some(q) = cfg.qos {
                    write!(f, " qos {q}")?;
                }
                if let Some(t) = cfg.trust {
                    write!(f, " trust {}", if t { "on" } else { "off" })?;
                }
                if let Some(s) = cfg.spoofchk {
                    write!(f, " spoofchk {}", if s { "on" } else { "off" })?;
                }
                if let Some(l) = cfg.link_state {
                    write!(f, " link-state {l:?}")?;
                }
                if let Some(r) = cfg.max_tx_rate {
                    write!(f, " max_tx_rate {r}")?;
                }
                if let Some(r) = cfg.min_tx_rate {
                    write!(f, " min_tx_rate {r}")?;
                }
                Ok(())
            }
            Step::WaitSlaves { bond, pf, slaves } => {
                let names: Vec<&str> = slaves.iter().map(IfName::as_str).collect();
                write!(f, "{pf}: wait for {bond} to enslave {}", names.join(", "))
            }
            Step::WaitLag { bond, pf } => write!(f, "{pf}: wait for VF LAG of {bond} to be active"),
            Step::WaitReps { pf, vfs } => {
                write!(f, "{pf}: wait for representors of VFs {}", ranges(vfs))
            }
            Step::Guid { pf, vf, kind, guid } => {
                write!(f, "{pf}: set VF {vf} {} GUID {guid}", kind.file())
            }
            Step::IbPolicy { pf, vf, policy } => {
                write!(f, "{pf}: set VF {vf} IB port policy {policy}")
            }
            Step::Bind { pf, vfs, driver } => {
                write!(f, "{pf}: bind VFs {} to {driver}", ranges(vfs))
            }
            Step::HwTcOffload { pf } => write!(f, "{pf}: enable hw-tc-offload"),
            Step::Mtu { pf, mtu, now } => {
                write!(f, "{pf}: set MTU {mtu}")?;
                if let Some(n) = now {
                    write!(f, " (now {n})")?;
                }
                Ok(())
            }
            Step::VfMtu {
                pf,
                vf,
                mtu,
                netdev,
            } => match netdev {
                Some(n) => write!(f, "{pf}: set MTU {mtu} on VF {vf} netdev {n}"),
                None => write!(
                    f,
                    "{pf}: set MTU {mtu} on VF {vf}'s netdev (named when the step runs)"
                ),
            },
            Step::OvsHwOffload { pf, vswitchd } => {
                write!(f, "{pf}: set Open_vSwitch other_config:hw-offload=true")?;
                if let Some(pid) = vswitchd {
                    write!(f, "; ovs-vswitchd (pid {pid}) is running and reads it only when it starts: restart it (systemctl restart ovs-vswitchd) for offload to take effect")?;
                }
                Ok(())
            }
            Step::OvsAddBridge { pf, bridge } => write!(f, "{pf}: create OVS bridge {bridge}"),
            Step::OvsDetach { pf, bridge, .. } => write!(
                f,
                "{pf}: detach {pf} from OVS bridge {bridge} for the eswitch mode change"
            ),
            Step::OvsReattach { pf, bridge, .. } => write!(
                f,
                "{pf}: re-attach {pf} to OVS bridge {bridge} as it was, after the eswitch mode change"
            ),
            Step::OvsPorts {
                pf,
                bridge,
                uplink,
                vfs,
                add,
                remove,
                pending,
            } => {
                write!(f, "{pf}: OVS bridge {bridge}: ")?;
                if *pending {
                    let mut what = vec![];
                    if *uplink {
                        what.push(format!("the uplink {pf}"));
                    }
                    if !vfs.is_empty() {
                        what.push(format!("the representors of VFs {}", ranges(vfs)));
                    }
                    write!(
                        f,
                        "ports for {} (named when the step runs), stale ports of {pf} removed",
                        what.join(" and ")
                    )
                } else {
                    let mut parts = vec![];
                    if !add.is_empty() {
                        parts.push(format!("add ports {}", add.join(", ")));
                    }
                    if !remove.is_empty() {
                        parts.push(format!("remove stale ports {}", remove.join(", ")));
                    }
                    write!(f, "{}", parts.join("; "))
                }
            }
        }
    }
}
