//! `(config, state) → steps`: pure. What `--dry-run` prints, what the tests check, and an empty
//! plan is what "already configured" means.

pub mod devlink;
mod ib;
pub mod ovs;
pub mod vf;

use std::fmt;

use serde::Serialize;

use crate::config::{
    Bind, BondConfig, EswitchMode, EswitchOrder, GuidScheme, IbPolicy, ParamCmode, PfConfig,
    VfConfig,
};
use crate::guid::auto_guid;
use crate::kernel::EswitchModes;
use crate::netlink::devlink::ParamValue;
use crate::netlink::rtnl::VfInfo;
use crate::observe::{Facts, PfState};
use crate::ovsdb::vswitch::PortSpec;
use crate::types::{BridgeName, Guid, GuidKind, IfName};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Phase {
    /// Before the bond enslaves the PF (ifupdown `pre-up`, `sriov-offload-pre.service`).
    Pre,
    /// After enslavement (`post-up`, `sriov-offload-post.service`): everything.
    Post,
}

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

/// Why a plan could not be made without breaking something; nothing has been written.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub pf: IfName,
    pub reason: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pf, self.reason)
    }
}

pub struct Input<'a> {
    pub cfg: &'a PfConfig,
    pub state: &'a PfState,
    pub bond: Option<(&'a BondConfig, usize)>,
    /// Post waits for the bond to enslave this PF. Off for a PF that re-appeared after boot
    /// on a host where nothing re-enslaves it (ifupdown): then only VF LAG makes post wait.
    pub await_bond: bool,
}

fn vf_props_differ(want: &VfConfig, have: Option<&VfInfo>) -> bool {
    let Some(h) = have else { return true };
    want.mac.is_some_and(|m| m.0 != h.mac)
        || want.vlan.is_some_and(|v| v != h.vlan)
        || want.qos.is_some_and(|q| u32::from(q) != h.qos)
        || want.trust.is_some_and(|t| Some(t) != h.trust)
        || want.spoofchk.is_some_and(|s| Some(s) != h.spoofchk)
        || want.max_tx_rate.is_some_and(|r| Some(r) != h.max_tx_rate)
        || want.min_tx_rate.is_some_and(|r| Some(r) != h.min_tx_rate)
        // link state is not reliably reported by every driver: set it when asked
        || want.link_state.is_some()
}

/// The GUID a VF of a bond's IB device should have, if configured.
pub fn wanted_guid(
    scheme: Option<&GuidScheme>,
    hostname: &str,
    pf_index: usize,
    vf: u32,
    kind: GuidKind,
) -> Option<Guid> {
    match scheme? {
        GuidScheme::Auto => Some(auto_guid(hostname, pf_index as u8, vf, kind)),
        GuidScheme::Explicit(m) => m.get(&(vf as u16)).copied(),
    }
}

/// The inline and encap mode a change to `mode` carries: the configured ones, to switchdev.
fn carried(c: &PfConfig, mode: EswitchMode) -> EswitchModes {
    match mode {
        EswitchMode::Switchdev => EswitchModes {
            inline: c.devlink.inline_mode,
            encap: c.devlink.encap_mode,
        },
        EswitchMode::Legacy => EswitchModes::default(),
    }
}

/// The configured inline and encap mode that differ from a switchdev eswitch's (the step for
/// them when the mode is switchdev already). One that the driver does not report (`None` in
/// the facts: netdevsim, ice, bnxt report neither) is not planned here: it is set with the
/// change to switchdev, once, and never again. Planning it on every run would write it on
/// every run (and unbind nothing, but still withdraw `ready`), and the look after a run, still
/// unable to read it, would call the host non-converging forever. No driver is known that sets
/// one without reporting it: devlink asks the driver for both, and drivers have the get and
/// set callbacks together (mlx5) or no set callback at all, so with one of those the set with
/// the mode change fails naming it, once.
fn modes_differ(c: &PfConfig, s: &PfState, extra: &Facts) -> Option<EswitchModes> {
    if s.eswitch != Some(EswitchMode::Switchdev) || c.eswitch != Some(EswitchMode::Switchdev) {
        return None;
    }
    let have = extra
        .eswitch_modes
        .get(&s.name)
        .copied()
        .unwrap_or_default();
    let m = EswitchModes {
        inline: c
            .devlink
            .inline_mode
            .filter(|w| have.inline.is_some_and(|h| h != *w)),
        encap: c
            .devlink
            .encap_mode
            .filter(|w| have.encap.is_some_and(|h| h != *w)),
    };
    (m != EswitchModes::default()).then_some(m)
}

/// Plans one PF. `force` allows resetting VFs that are in use.
pub fn plan_pf(
    inp: &Input,
    extra: &Facts,
    phase: Phase,
    force: bool,
) -> Result<Vec<Step>, Refusal> {
    // devlink first: a parameter that cannot be set refuses the PF before anything else, and
    // its steps may remove the VFs: the rest of the plan then starts from the PF without them
    let dl = devlink::plan(inp, extra, force)?;
    let after = Input {
        cfg: inp.cfg,
        state: dl.after.as_ref().unwrap_or(inp.state),
        bond: inp.bond,
        await_bond: inp.await_bond,
    };
    let mut steps = plan_rest(&after, extra, phase, force)?;
    // after the wait for the bond's slaves, which is first in post (see Step::WaitSlaves)
    let at = steps
        .iter()
        .take_while(|s| matches!(s, Step::WaitSlaves { .. }))
        .count();
    steps.splice(at..at, dl.steps);
    Ok(ovs::plan_pf(&after, extra, phase, steps))
}

/// [`plan_pf`] after the devlink steps, without the OVS ones.
fn plan_rest(inp: &Input, extra: &Facts, phase: Phase, force: bool) -> Result<Vec<Step>, Refusal> {
    let (c, s) = (inp.cfg, inp.state);
    let pf = s.name.clone();
    let refuse = |reason: String| Refusal {
        pf: pf.clone(),
        reason,
    };
    ib::check_no_netdev(inp)?;
    let want = u32::from(c.vfs);
    let mut steps = vec![];
    if let Some(total) = s.totalvfs {
        if want > total {
            return Err(refuse(format!(
                "config asks for {want} VFs but the device allows {total} (sriov_totalvfs); raise NUM_OF_VFS in firmware"
            )));
        }
    }
    let in_use: Vec<String> = s
        .vfs
        .iter()
        .filter_map(|v| s.vf_in_use(v, vf::wanted_driver(c, v.index)))
        .collect();
    let guard = |what: &str| -> Result<(), Refusal> {
        if in_use.is_empty() || force {
            Ok(())
        } else {
            Err(refuse(format!(
                "{what} would reset VFs in use ({}); stop their users or pass --force",
                in_use.join("; ")
            )))
        }
    };
    let mode_change = c.eswitch.filter(|m| s.eswitch != Some(*m));
    if mode_change.is_some() && s.eswitch.is_none() {
        return Err(refuse(format!(
            "eswitch = {} is configured but {} has no eswitch (no devlink eswitch, no compat/devlink/mode)",
            c.eswitch.map(|m| m.to_string()).unwrap_or_default(),
            s.name
        )));
    }
    if phase == Phase::Post {
        if let Some((b, _)) = inp.bond.filter(|(b, _)| inp.await_bond || b.vf_lag) {
            if s.netdev.master.as_ref() != Some(&b.name) {
                steps.push(Step::WaitSlaves {
                    bond: b.name.clone(),
                    pf: pf.clone(),
                    slaves: b.slaves.clone(),
                });
            }
        }
    }
    // before VFs exist: an mlx5 VF's maximum MTU follows its PF's
    steps.extend(vf::pf_mtu(inp, extra));
    let count_change = s.numvfs != want;
    let order_now = |order: EswitchOrder| -> bool {
        match order {
            EswitchOrder::BeforeVfs | EswitchOrder::BeforeBond => true,
            EswitchOrder::AfterBond => phase == Phase::Post,
        }
    };
    let mode_now = |order: EswitchOrder| -> bool { mode_change.is_some() && order_now(order) };
    // inline/encap mode of an eswitch in switchdev already, where a mode change would be made;
    // VFs bound before take it at their next probe
    let modes_step = modes_differ(c, s, extra)
        .filter(|_| mode_change.is_none() && order_now(c.eswitch_order))
        .map(|modes| Step::EswitchModes {
            pf: pf.clone(),
            modes,
        });
    // VFs that will exist after this plan, and which are bound now.
    let mut unbound_after: Vec<u32> = vec![];
    // VFs this plan unbinds that no `bind` names a driver for (autoprobed, or bound by their
    // consumer with bind = "none"), with the driver to bind them back to
    let mut restore: Vec<(u32, String)> = vec![];
    if count_change {
        guard(&format!(
            "changing sriov_numvfs from {} to {want}",
            s.numvfs
        ))?;
        if c.bind.is_some() && s.autoprobe != Some(false) && want > 0 {
            steps.push(Step::Autoprobe {
                pf: pf.clone(),
                on: false,
            });
        }
        if s.numvfs != 0 {
            steps.push(Step::NumVfs {
                pf: pf.clone(),
                count: 0,
            });
        }
        // with no VFs, before the new ones are created
        steps.extend(modes_step);
        if c.eswitch_order == EswitchOrder::BeforeVfs && mode_now(c.eswitch_order) {
            let mode = c.eswitch.expect("mode_change implies eswitch");
            steps.push(Step::Eswitch {
                pf: pf.clone(),
                mode,
                modes: carried(c, mode),
            });
        }
        if want > 0 {
            steps.push(Step::NumVfs {
                pf: pf.clone(),
                count: want,
            });
        }
        if c.bind.is_some() {
            unbound_after = (0..want).collect();
        }
        if c.eswitch_order != EswitchOrder::BeforeVfs && mode_now(c.eswitch_order) {
            let mode = c.eswitch.expect("mode_change implies eswitch");
            steps.push(Step::Eswitch {
                pf: pf.clone(),
                mode,
                modes: carried(c, mode),
            });
        }
    } else {
        unbound_after = s
            .vfs
            .iter()
            .filter(|v| v.driver.is_none())
            .map(|v| v.index)
            .collect();
        if mode_now(c.eswitch_order) {
            let mode = c.eswitch.expect("mode_change implies eswitch");
            guard(&format!("changing the eswitch mode to {mode}"))?;
            if c.eswitch_order == EswitchOrder::BeforeVfs && s.numvfs > 0 {
                // the NIC wants the mode set with no VFs: go through 0
                if c.bind.is_some() && s.autoprobe != Some(false) {
                    steps.push(Step::Autoprobe {
                        pf: pf.clone(),
                        on: false,
                    });
                }
                steps.push(Step::NumVfs {
                    pf: pf.clone(),
                    count: 0,
                });
                steps.push(Step::Eswitch {
                    pf: pf.clone(),
                    mode,
                    modes: carried(c, mode),
                });
                steps.push(Step::NumVfs {
                    pf: pf.clone(),
                    count: want,
                });
                unbound_after = if c.bind.is_some() {
                    (0..want).collect()
                } else {
                    vec![]
                };
            } else {
                // as the seed does: VFs off their driver while the eswitch changes mode
                for v in s.vfs.iter().filter(|v| v.driver.is_some()) {
                    let driver = v.driver.clone().unwrap_or_default();
                    steps.push(Step::Unbind {
                        pf: pf.clone(),
                        vf: v.index,
                        driver: driver.clone(),
                    });
                    unbound_after.push(v.index);
                    // no driver of ours to bind it to: back to the one it had
                    if vf::wanted_driver(c, v.index).is_none() {
                        restore.push((v.index, driver));
                    }
                }
                unbound_after.sort_unstable();
                steps.push(Step::Eswitch {
                    pf: pf.clone(),
                    mode,
                    modes: carried(c, mode),
                });
            }
        } else {
            steps.extend(modes_step);
        }
    }

    // VF properties through the PF (work whether or not a VF driver is bound).
    let info = extra.vf_info.get(&pf);
    for (vf, vc) in &c.vf {
        let vf = u32::from(*vf);
        let vc = &vc.pf_props();
        if vc.is_empty() {
            continue;
        }
        let have = if count_change {
            None
        } else {
            info.and_then(|i| i.iter().find(|x| x.vf == vf))
        };
        if vf_props_differ(vc, have) {
            steps.push(Step::VfProps {
                pf: pf.clone(),
                vf,
                cfg: vc.clone(),
            });
        }
    }

    if phase == Phase::Pre {
        return Ok(steps);
    }

    // --- post: LAG, representors, GUIDs, binding, offload ---
    if let Some((b, _)) = inp.bond {
        if b.vf_lag && extra.lag_active.get(&pf) != Some(&true) {
            steps.push(Step::WaitLag {
                bond: b.name.clone(),
                pf: pf.clone(),
            });
        }
    }
    let switchdev = c.eswitch == Some(EswitchMode::Switchdev);
    if switchdev && want > 0 {
        let missing: Vec<u32> = (0..want)
            .filter(|v| count_change || mode_change.is_some() || !s.reps.contains_key(v))
            .collect();
        if !missing.is_empty() {
            steps.push(Step::WaitReps {
                pf: pf.clone(),
                vfs: missing,
            });
        }
    }
    // VFs on another driver than configured: idle ones are rebound, in-use ones refused
    if !count_change {
        vf::rebinds(inp, force, &mut unbound_after, &mut steps)?;
    }
    // IB policies and GUIDs (a bond's or the PF's own), each changed VF rebound after them
    if let Some(w) = ib::want(inp)? {
        ib::plan(
            inp,
            extra,
            &w,
            want,
            count_change,
            force,
            &mut unbound_after,
            &mut steps,
        )?;
    }
    unbound_after.sort_unstable();
    unbound_after.dedup();
    match &c.bind {
        Some(Bind::Driver(_)) => {
            // per driver: a VF's own bind over the PF's
            steps.extend(vf::binds(c, &pf, &unbound_after));
            // later probes (rescan, libvirt giving a VF back) take the normal path again
            let autoprobe_off = s.autoprobe == Some(false)
                || steps
                    .iter()
                    .any(|st| matches!(st, Step::Autoprobe { on: false, .. }));
            if autoprobe_off && want > 0 {
                steps.push(Step::Autoprobe {
                    pf: pf.clone(),
                    on: true,
                });
            }
        }
        // With bind = "none" the VF's consumer (vfio, libvirt) binds it, which is also when
        // a new GUID takes effect; without `bind` the kernel's autoprobe did it already. VFs
        // with their own driver are bound to it.
        Some(Bind::None) => steps.extend(vf::binds(c, &pf, &unbound_after)),
        None => {}
    }
    steps.extend(vf::back_to_their_drivers(&pf, restore));
    steps.extend(vf::vf_mtus(inp, extra, count_change, &unbound_after));
    if switchdev && c.hw_tc_offload {
        let off = |n: &IfName| extra.hw_tc.get(n) == Some(&false);
        // new representors (this run creates them) are checked when the step runs
        let new_reps = steps.iter().any(|s| matches!(s, Step::WaitReps { .. }))
            && extra.hw_tc.contains_key(&pf);
        if off(&pf) || new_reps || s.reps.values().any(off) {
            steps.push(Step::HwTcOffload { pf: pf.clone() });
        }
    }
    Ok(steps)
}

#[cfg(test)]
mod ib_tests;
#[cfg(test)]
mod tests;
