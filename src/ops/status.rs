//! `sriov-offload status`: per configured PF what the config wants against what the host has,
//! and the differences, each one named. A difference is a step of the plan (vf-post's, as if
//! nothing were in use, and irq-tune's) said in terms of the state; a refusal to change VFs in
//! use is one too. The JSON document is the same data (see [`Status`]).

use serde::Serialize;

use super::table::ranges;
use super::JSON_VERSION;
use crate::config::{vf_bind, Bind, Config, EswitchMode};
use crate::host::Host;
use crate::hostplan::{bond_ctx, plan_pfs, PfPlan};
use crate::irq::plan::{plan as plan_tune, DevicePlan, Step as TuneStep};
use crate::marker::{self, Status as Marker};
use crate::netlink::devlink::ParamValue;
use crate::observe::configured::Configured;
use crate::observe::ParamsSeen;
use crate::plan::devlink::cmode_for;
use crate::plan::Step;
use crate::types::{GuidKind, Mac};

mod text;

#[derive(Serialize, Debug)]
pub struct Want<T> {
    pub want: T,
    pub have: T,
}

#[derive(Serialize, Debug)]
pub struct MarkerView {
    /// `ready`, `failed` or `pending` (none for this boot).
    pub state: &'static str,
    pub boot_id: Option<String>,
    /// Seconds since the epoch.
    pub time: Option<u64>,
    pub error: Option<String>,
    pub pfs: Option<usize>,
}

#[derive(Serialize, Debug)]
pub struct VfView {
    pub index: u32,
    pub pci: Option<String>,
    pub driver: Option<String>,
    pub netdev: Option<String>,
    pub mac: Option<String>,
    pub representor: Option<String>,
    pub reserved: bool,
    /// Why the VF must not be reset (`VF 0 netdev ens1f0v0 is up`), if it must not.
    pub in_use: Option<String>,
    pub node_guid: Option<String>,
    pub port_guid: Option<String>,
}

/// A configured devlink parameter against the device's.
#[derive(Serialize, Debug)]
pub struct ParamView {
    pub name: String,
    /// The cmode it is set in: the configured one, else the parameter's runtime or driverinit;
    /// `None` when the device has no such parameter (or it cannot be read).
    pub cmode: Option<String>,
    pub want: String,
    /// The device's value in that cmode; `None` when unknown.
    pub have: Option<String>,
}

#[derive(Serialize, Debug)]
pub struct BondView {
    pub name: String,
    pub vf_lag: bool,
    /// The mlx5 LAG state reads `active`; `None` when not configured (`vf_lag = false`).
    pub lag_active: Option<bool>,
    pub ib_device: Option<String>,
}

#[derive(Serialize, Debug)]
pub struct IrqView {
    /// Netdevs irq-tune looks at: the PF and its VF netdevs.
    pub devices: usize,
    pub queue_irqs: usize,
    /// Queue IRQs whose affinity is within the device's local CPUs.
    pub on_local_cpus: usize,
    pub managed: usize,
    /// The PF's local CPUs and where they come from.
    pub local_cpus: String,
    /// irq-tune steps pending (`[tune]` configured and not applied).
    pub tune_steps: usize,
}

#[derive(Serialize, Debug)]
pub struct PfView {
    /// The PF's netdev; `None` when the config's match finds none.
    pub name: Option<String>,
    #[serde(rename = "match")]
    pub matcher: String,
    pub origin: String,
    pub present: bool,
    pub device: Option<String>,
    pub driver: Option<String>,
    pub vfs: Want<u32>,
    pub totalvfs: Option<u32>,
    pub eswitch: Want<Option<String>>,
    /// `devlink` or `compat` (the sysfs file of old MLNX_OFED kernels).
    pub eswitch_source: Option<String>,
    pub autoprobe: Option<bool>,
    pub representors: Want<usize>,
    pub bind: Option<String>,
    pub bound: usize,
    /// `have` is `None` where unknown (no ethtool on a fixture tree).
    pub hw_tc_offload: Want<Option<bool>>,
    pub bond: Option<BondView>,
    /// Who holds this PF's lock (`pid 1234 (vf-post)`): a run in progress.
    pub lock_holder: Option<String>,
    /// This boot's `pf/<name>` state file: `ready`, `pending` or `gone`, with why when not ready.
    pub pf_state: Option<PfStateView>,
    pub irq: Option<IrqView>,
    /// The configured devlink parameters (absent when none are).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub devlink_params: Vec<ParamView>,
    /// The configured eswitch inline mode (absent when not configured); `have` is `None`
    /// where the driver does not report it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eswitch_inline_mode: Option<Want<Option<String>>>,
    /// Likewise the encap mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eswitch_encap_mode: Option<Want<Option<String>>>,
    pub vf_list: Vec<VfView>,
    pub matches: bool,
}

#[derive(Serialize, Debug)]
pub struct PfStateView {
    pub state: String,
    /// Seconds since the epoch.
    pub time: u64,
    pub why: Option<String>,
}

#[derive(Serialize, Debug)]
pub struct Difference {
    /// The PF's netdev (or its match when absent); `None` for the host as a whole.
    pub pf: Option<String>,
    /// `absent`, `vfs`, `eswitch`, `autoprobe`, `vf-props`, `lag`, `representors`, `guid`,
    /// `bind`, `hw-tc-offload`, `devlink-param`, `refused`, `impossible`, `tune`, `marker`.
    pub kind: &'static str,
    pub message: String,
}

/// `sriov-offload status --json`, version [`JSON_VERSION`].
#[derive(Serialize, Debug)]
pub struct Status {
    pub version: u32,
    pub host: String,
    pub config: Vec<String>,
    /// No differences: exit 0.
    pub matches: bool,
    pub marker: MarkerView,
    pub pfs: Vec<PfView>,
    pub differences: Vec<Difference>,
}

fn marker_view(m: &Marker) -> MarkerView {
    let (state, m) = match m {
        Marker::Ready(m) => ("ready", m),
        Marker::Failed(m) => ("failed", m),
        Marker::Pending => {
            return MarkerView {
                state: "pending",
                boot_id: None,
                time: None,
                error: None,
                pfs: None,
            }
        }
    };
    MarkerView {
        state,
        boot_id: Some(m.boot_id.clone()),
        time: Some(m.time),
        error: m.error.clone(),
        pfs: Some(m.pfs.len()),
    }
}

/// The differences one PF's plan names.
fn pf_differences(p: &PfPlan, out: &mut Vec<Difference>) {
    let s = p.state;
    let pf = Some(s.name.to_string());
    let mut add = |kind, message: String| {
        out.push(Difference {
            pf: pf.clone(),
            kind,
            message,
        })
    };
    let steps = match &p.forced {
        Err(r) => {
            add("impossible", r.reason.clone());
            return;
        }
        Ok(steps) => steps,
    };
    if let Err(r) = &p.post {
        add(
            "refused",
            format!("vf-pre and vf-post leave it as it is: {}", r.reason),
        );
    }
    let count_change = steps.iter().any(|st| matches!(st, Step::NumVfs { .. }));
    if count_change && s.numvfs != u32::from(p.cfg.vfs) {
        add(
            "vfs",
            format!("{} VFs, want {} (sriov_numvfs)", s.numvfs, p.cfg.vfs),
        );
    }
    for st in steps {
        match st {
            Step::Autoprobe { on: true, .. } if !count_change => add(
                "autoprobe",
                "sriov_drivers_autoprobe is 0 (a run stopped before its end), want 1".into(),
            ),
            Step::Autoprobe { .. } | Step::Unbind { .. } | Step::NumVfs { .. } => {}
            Step::Eswitch { mode, .. } => add(
                "eswitch",
                format!(
                    "eswitch {}, want {mode}",
                    s.eswitch.map_or("none".into(), |m| m.to_string())
                ),
            ),
            Step::EswitchModes { .. } => add(
                "eswitch",
                format!("the eswitch's inline/encap mode differs from the config ({st})"),
            ),
            Step::DevlinkParam {
                name, cmode, value, ..
            } => add(
                "devlink-param",
                format!("devlink param {name} ({cmode}) is not {value}"),
            ),
            // the consequence of a driverinit parameter, reported as that
            Step::DevlinkReload { .. } => {}
            Step::VfProps { vf, .. } => add(
                "vf-props",
                format!(
                    "VF {vf}: MAC/VLAN/trust/spoofchk/link-state/tx rates differ from the config ({st})"
                ),
            ),
            Step::WaitLag { bond, .. } => add("lag", format!("VF LAG of {bond} is not active")),
            Step::WaitSlaves { bond, .. } => {
                add("bond", format!("{} is not a slave of {bond}", s.name))
            }
            // OVS: the step's own words say what differs
            Step::OvsHwOffload { .. } | Step::OvsAddBridge { .. } | Step::OvsPorts { .. } => {
                add("ovs", st.to_string())
            }
            // a detach/re-attach only brackets a mode change, reported as the eswitch
            Step::OvsDetach { .. } | Step::OvsReattach { .. } => {}
            // what a count change brings about (new VFs need representors, GUIDs, binding)
            // is that change's consequence, not a difference of its own
            Step::WaitReps { .. }
            | Step::Guid { .. }
            | Step::IbPolicy { .. }
            | Step::Bind { .. }
                if count_change => {}
            Step::WaitReps { vfs, .. } => add(
                "representors",
                format!("no representor for VF(s) {}", ranges(vfs)),
            ),
            Step::Guid { vf, kind, guid, .. } => add(
                "guid",
                format!("VF {vf} {} GUID is not {guid}", kind.file()),
            ),
            Step::IbPolicy { vf, policy, .. } => add(
                "ib-policy",
                format!("VF {vf} IB port policy is not {policy}"),
            ),
            // the rebinding of VFs whose GUIDs change is part of that difference
            Step::Bind { vfs, .. }
                if vfs.iter().all(|v| {
                    steps
                        .iter()
                        .any(|u| matches!(u, Step::Guid { vf, .. } if vf == v))
                }) => {}
            Step::Bind { vfs, driver, .. } => add(
                "bind",
                format!("VF(s) {} not bound to {driver}", ranges(vfs)),
            ),
            Step::Mtu { mtu, now, .. } => add(
                "mtu",
                format!(
                    "MTU {}, want {mtu}",
                    now.map_or("unknown".into(), |n| n.to_string())
                ),
            ),
            Step::VfMtu { .. } if count_change => {}
            Step::VfMtu { .. } => add("vf-mtu", st.to_string()),
            Step::HwTcOffload { .. } => add(
                "hw-tc-offload",
                "hw-tc-offload is off on the PF or a representor".into(),
            ),
        }
    }
}

/// irq-tune's pending steps on one device, as one difference.
fn tune_difference(d: &DevicePlan) -> Option<String> {
    let first = d.steps.first()?;
    let (mut aff, mut xps, mut other) = (0, 0, 0);
    for s in &d.steps {
        match s {
            TuneStep::Affinity { .. } => aff += 1,
            TuneStep::Xps { .. } => xps += 1,
            _ => other += 1,
        }
    }
    Some(format!(
        "{}: {aff} IRQ affinity, {xps} XPS and {other} channel/ring/RSS change(s) pending for irq-tune, e.g. {first}",
        first.ifname()
    ))
}

pub fn build(
    host: &Host,
    cfg: &Config,
    seen: &Configured,
    whole_host: bool,
) -> anyhow::Result<Status> {
    let state = &seen.state;
    let plans = plan_pfs(cfg, state);
    let tune = plan_tune(state);
    let marker = marker::status(host)?;
    let pf_states = marker::pf_states(host)?;
    let pf_state = |name: &str, matcher: &str| {
        pf_states
            .iter()
            .find(|(n, m)| n.as_str() == name || m.matcher == matcher)
            .map(|(_, m)| PfStateView {
                state: m.state.to_string(),
                time: m.time,
                why: m.why.clone(),
            })
    };
    let mut differences = vec![];
    let mut pfs = vec![];
    for p in &plans {
        let s = p.state;
        let before = differences.len();
        pf_differences(p, &mut differences);
        let mut irq = IrqView {
            devices: 0,
            queue_irqs: 0,
            on_local_cpus: 0,
            managed: 0,
            local_cpus: String::new(),
            tune_steps: 0,
        };
        for (d, dp) in state
            .irq
            .iter()
            .zip(&tune)
            .filter(|(d, _)| d.target.pf() == &s.name)
        {
            irq.devices += 1;
            irq.queue_irqs += d.irqs.len();
            irq.managed += d.irqs.iter().filter(|i| i.managed).count();
            irq.on_local_cpus += d
                .irqs
                .iter()
                .filter(|i| {
                    i.affinity
                        .as_ref()
                        .is_some_and(|a| !a.is_empty() && a.is_subset(&d.local.cpus))
                })
                .count();
            if d.target.ifname == s.name {
                irq.local_cpus = format!(
                    "{} ({})",
                    crate::cpuset::show(&d.local.cpus),
                    d.local.source
                );
            }
            irq.tune_steps += dp.steps.len();
            if let Some(m) = tune_difference(dp) {
                differences.push(Difference {
                    pf: Some(s.name.to_string()),
                    kind: "tune",
                    message: m,
                });
            }
        }
        let bond = bond_ctx(cfg, &s.name).map(|(b, _)| BondView {
            name: b.name.to_string(),
            vf_lag: b.vf_lag,
            lag_active: b.vf_lag.then(|| {
                state
                    .facts
                    .lag_active
                    .get(&s.name)
                    .copied()
                    .unwrap_or(false)
            }),
            ib_device: b.ib.as_ref().map(|i| i.device.clone()),
        });
        let ib = bond.as_ref().and_then(|b| b.ib_device.clone());
        // a standalone IB PF's own `ib` (it is in no bond)
        let own_ib = p.cfg.ib.is_some();
        // the driver this suite binds the VF to: its own `bind`, else the PF's
        let keep = |vf: u32| match u16::try_from(vf).ok().and_then(|i| vf_bind(p.cfg, i)) {
            Some(Bind::Driver(d)) => Some(d.as_str()),
            _ => None,
        };
        let info = state.facts.vf_info.get(&s.name);
        // each VF's GUIDs are its own PF's (ib names the bond's RDMA device, for display)
        let guid = |vf: u32, kind| {
            (ib.is_some() || own_ib)
                .then(|| state.facts.guids.get(&(s.name.clone(), vf, kind)))
                .flatten()
                .map(|g| g.to_string())
        };
        let vf_list = s
            .vfs
            .iter()
            .map(|v| VfView {
                index: v.index,
                pci: v.pci.as_ref().map(|p| p.to_string()),
                driver: v.driver.clone(),
                netdev: v.netdevs.first().map(|n| n.name.to_string()),
                mac: info
                    .and_then(|i| i.iter().find(|x| x.vf == v.index))
                    .map(|x| Mac(x.mac).to_string())
                    .or_else(|| v.netdevs.first().and_then(|n| n.mac.clone())),
                representor: s.reps.get(&v.index).map(|r| r.to_string()),
                reserved: p.cfg.reserved_vfs.contains(&(v.index as u16)),
                in_use: s.vf_in_use(v, keep(v.index)),
                node_guid: guid(v.index, GuidKind::Node),
                port_guid: guid(v.index, GuidKind::Port),
            })
            .collect();
        let seen_params = match state.facts.devlink_params.get(&s.name) {
            Some(ParamsSeen::Read(m)) => Some(m),
            _ => None,
        };
        let devlink_params =
            p.cfg
                .devlink
                .params
                .iter()
                .map(|(name, w)| {
                    let param = seen_params.and_then(|m| m.get(name));
                    let cmode = param.and_then(|ps| cmode_for(ps, w.cmode));
                    ParamView {
                        name: name.clone(),
                        cmode: cmode.or(w.cmode).map(|m| m.to_string()),
                        want: w.value.to_string(),
                        have: param.zip(cmode).and_then(|(ps, m)| ps.values.get(&m)).map(
                            |v| match v {
                                ParamValue::String(s) => format!("{s:?}"),
                                v => v.to_string(),
                            },
                        ),
                    }
                })
                .collect();
        let modes = state.facts.eswitch_modes.get(&s.name);
        let eswitch_inline_mode = p.cfg.devlink.inline_mode.map(|w| Want {
            want: Some(w.to_string()),
            have: modes.and_then(|m| m.inline).map(|m| m.to_string()),
        });
        let eswitch_encap_mode = p.cfg.devlink.encap_mode.map(|w| Want {
            want: Some(w.to_string()),
            have: modes.and_then(|m| m.encap).map(|m| m.to_string()),
        });
        let want = u32::from(p.cfg.vfs);
        let switchdev = p.cfg.eswitch == Some(EswitchMode::Switchdev);
        let hw_tc = switchdev && p.cfg.hw_tc_offload;
        pfs.push(PfView {
            name: Some(s.name.to_string()),
            matcher: p.cfg.matcher.to_string(),
            origin: p.cfg.origin.clone(),
            present: true,
            device: Some(s.dev_name.clone()),
            driver: s.driver.clone(),
            vfs: Want {
                want,
                have: s.numvfs,
            },
            totalvfs: s.totalvfs,
            eswitch: Want {
                want: p.cfg.eswitch.map(|m| m.to_string()),
                have: s.eswitch.map(|m| m.to_string()),
            },
            eswitch_source: s.eswitch_source.as_ref().map(|e| {
                match e {
                    crate::kernel::EswitchSource::Devlink => "devlink",
                    crate::kernel::EswitchSource::Compat => "compat",
                }
                .to_string()
            }),
            autoprobe: s.autoprobe,
            representors: Want {
                want: if switchdev { want as usize } else { 0 },
                have: s.reps.len(),
            },
            bind: p.cfg.bind.as_ref().map(|b| match b {
                Bind::None => "none".to_string(),
                Bind::Driver(d) => d.clone(),
            }),
            bound: s.vfs.iter().filter(|v| v.driver.is_some()).count(),
            hw_tc_offload: Want {
                want: Some(hw_tc),
                have: state.facts.hw_tc.get(&s.name).copied(),
            },
            bond,
            lock_holder: host.lock_holder_of(&s.dev_name),
            pf_state: pf_state(s.name.as_str(), &p.cfg.matcher.to_string()),
            irq: (seen.irq_error.is_none() && irq.devices > 0).then_some(irq),
            devlink_params,
            eswitch_inline_mode,
            eswitch_encap_mode,
            vf_list,
            matches: differences.len() == before,
        });
    }
    for u in &seen.unobserved {
        let pf = u
            .name
            .as_ref()
            .map_or_else(|| u.cfg.matcher.to_string(), |n| n.to_string());
        differences.push(Difference {
            pf: Some(pf.clone()),
            kind: "absent",
            message: u.why.clone(),
        });
        pfs.push(PfView {
            name: u.name.as_ref().map(|n| n.to_string()),
            matcher: u.cfg.matcher.to_string(),
            origin: u.cfg.origin.clone(),
            present: false,
            device: None,
            driver: None,
            vfs: Want {
                want: u32::from(u.cfg.vfs),
                have: 0,
            },
            totalvfs: None,
            eswitch: Want {
                want: u.cfg.eswitch.map(|m| m.to_string()),
                have: None,
            },
            eswitch_source: None,
            autoprobe: None,
            representors: Want { want: 0, have: 0 },
            bind: None,
            bound: 0,
            hw_tc_offload: Want {
                want: None,
                have: None,
            },
            bond: None,
            lock_holder: None,
            pf_state: pf_state(
                u.name.as_ref().map_or("", |n| n.as_str()),
                &u.cfg.matcher.to_string(),
            ),
            irq: None,
            devlink_params: vec![],
            eswitch_inline_mode: None,
            eswitch_encap_mode: None,
            vf_list: vec![],
            matches: false,
        });
    }
    // the marker speaks for the whole host: only when the whole host is shown
    if whole_host && !cfg.pfs.is_empty() {
        match &marker {
            Marker::Failed(m) => differences.push(Difference {
                pf: None,
                kind: "marker",
                message: format!(
                    "this boot's offload failed: {}",
                    m.error.as_deref().unwrap_or("(no error recorded)")
                ),
            }),
            Marker::Pending => differences.push(Difference {
                pf: None,
                kind: "marker",
                message: format!(
                    "no ready marker for this boot ({}): vf-post has not completed",
                    host.shown(&marker::ready_path(host)).display()
                ),
            }),
            Marker::Ready(_) => {}
        }
    }
    let mv = marker_view(&marker);
    Ok(Status {
        version: JSON_VERSION,
        host: state.facts.hostname.clone().unwrap_or_default(),
        config: cfg
            .sources
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        matches: differences.is_empty(),
        marker: mv,
        pfs,
        differences,
    })
}
