//! The OVS part of a PF's plan, over the steps `plan_pf` made for it:
//!
//! - around an eswitch mode change of a PF that is a port of an OVS bridge: detach the port
//!   before, re-attach it as it was right after (ovs-vswitchd holds the netdev in its datapath
//!   and its tc rules on it while the driver changes the netdev under it);
//! - after: `other_config:hw-offload=true` (host-wide, carried by one PF's plan), the bridge
//!   when `create_bridge` asks for it, and the bridge's ports for this PF: the uplink and the
//!   configured VFs' representors added, ports added for this PF that name none of them removed.
//!
//! When this run creates or re-creates the representors (a VF count or mode change, or they are
//! missing), their names are known only once they exist: the ports step then resolves them
//! when it runs. Otherwise the step lists what it will add and remove, and is planned only when
//! that is not nothing, so an empty plan still means "configured".

use std::collections::BTreeMap;

use crate::config::EswitchMode;
use crate::observe::{Facts, PfState};
use crate::ovsdb::vswitch::{self, Port, Snapshot};
use crate::plan::{Input, Phase, Step};
use crate::types::IfName;

/// `external_ids:sriov-offload-pf` of the ports added for `pf`: its device, stable across
/// reboots and netdev renames.
pub fn owner(pf: &PfState) -> String {
    format!("{}/{}", pf.bus, pf.dev_name)
}

/// What the bridge lacks and has too much of, for one PF.
#[derive(Debug, Default, PartialEq)]
pub struct PortsDiff<'a> {
    /// Wanted netdevs that are no port of any bridge: (name, VF index; `None` = the uplink).
    pub add: Vec<(IfName, Option<u32>)>,
    /// Ports of the bridge added for this PF whose interface is none of the wanted netdevs.
    pub remove: Vec<&'a Port>,
    /// Wanted netdevs that are ports of another bridge: (name, that bridge).
    pub elsewhere: Vec<(IfName, String)>,
}

/// `want`: the netdevs that belong in `bridge` for the PF whose ports carry `owner`.
pub fn ports_diff<'a>(
    db: &'a Snapshot,
    bridge: &str,
    owner: &str,
    want: &[(IfName, Option<u32>)],
) -> PortsDiff<'a> {
    let mut d = PortsDiff::default();
    for (name, vf) in want {
        match db.port_of_interface(name.as_str()) {
            None => d.add.push((name.clone(), *vf)),
            Some((b, _)) if b.name != bridge => d.elsewhere.push((name.clone(), b.name.clone())),
            Some(_) => {}
        }
    }
    if let Some(b) = db.bridge(bridge) {
        d.remove = b
            .ports
            .iter()
            .filter(|p| p.spec.owner() == Some(owner))
            .filter(|p| {
                !p.spec
                    .interfaces
                    .iter()
                    .any(|i| want.iter().any(|(n, _)| n.as_str() == i.name))
            })
            .collect();
    }
    d
}

/// The netdevs a PF's `ovs` wants in its bridge, given its representors: `None` when one of
/// them does not exist (yet).
pub fn wanted(
    uplink: bool,
    pf: &IfName,
    vfs: &[u32],
    reps: &BTreeMap<u32, IfName>,
) -> Option<Vec<(IfName, Option<u32>)>> {
    let mut v: Vec<(IfName, Option<u32>)> = vec![];
    if uplink {
        v.push((pf.clone(), None));
    }
    for vf in vfs {
        v.push((reps.get(vf)?.clone(), Some(*vf)));
    }
    Some(v)
}

/// Adds the OVS steps to `steps`, the PF's plan without them.
pub fn plan_pf(inp: &Input, extra: &Facts, phase: Phase, mut steps: Vec<Step>) -> Vec<Step> {
    let Some(of) = &extra.ovs else { return steps };
    let (c, s) = (inp.cfg, inp.state);
    let pf = s.name.clone();
    let db = of.db();
    // every mode change (a devlink parameter change with --force goes through legacy and back)
    let changes: Vec<usize> = steps
        .iter()
        .enumerate()
        .filter(|(_, st)| matches!(st, Step::Eswitch { .. }))
        .map(|(i, _)| i)
        .collect();
    for i in changes.into_iter().rev() {
        // unknown (no database): ovs-vswitchd cannot be holding the PF for a bridge it cannot read
        if let Some((b, p)) = db.and_then(|d| d.port_of_interface(pf.as_str())) {
            let (bridge, port) = (b.name.clone(), p.spec.clone());
            steps.insert(
                i + 1,
                Step::OvsReattach {
                    pf: pf.clone(),
                    bridge: bridge.clone(),
                    port: port.clone(),
                },
            );
            steps.insert(
                i,
                Step::OvsDetach {
                    pf: pf.clone(),
                    bridge,
                    port,
                },
            );
        }
    }
    if phase != Phase::Post {
        return steps;
    }
    if of.hw_offload_on.as_ref() == Some(&pf) && db.is_none_or(|d| d.hw_offload() != Some("true")) {
        steps.push(Step::OvsHwOffload {
            pf: pf.clone(),
            vswitchd: of.vswitchd,
        });
    }
    let Some(o) = &c.ovs else { return steps };
    let bridge = db.and_then(|d| d.bridge(o.bridge.as_str()));
    if o.create_bridge && bridge.is_none() {
        steps.push(Step::OvsAddBridge {
            pf: pf.clone(),
            bridge: o.bridge.clone(),
        });
    }
    let vfs = if c.eswitch == Some(EswitchMode::Switchdev) {
        o.rep_vfs(c.vfs, &c.reserved_vfs)
    } else {
        vec![]
    };
    let changes_reps = steps.iter().any(|st| {
        matches!(
            st,
            Step::NumVfs { .. }
                | Step::Eswitch { .. }
                | Step::WaitReps { .. }
                | Step::DevlinkReload { .. }
        )
    });
    let want = wanted(o.uplink, &pf, &vfs, &s.reps).filter(|_| !changes_reps);
    let ports = |add: Vec<String>, remove: Vec<String>, pending: bool| Step::OvsPorts {
        pf: pf.clone(),
        bridge: o.bridge.clone(),
        uplink: o.uplink,
        vfs: vfs.clone(),
        add,
        remove,
        pending,
    };
    match (db, bridge, want) {
        (Some(db), Some(_), Some(want)) => {
            let d = ports_diff(db, o.bridge.as_str(), &owner(s), &want);
            if !d.add.is_empty() || !d.remove.is_empty() || !d.elsewhere.is_empty() {
                steps.push(ports(
                    d.add
                        .iter()
                        .map(|(n, _)| n.to_string())
                        .chain(d.elsewhere.iter().map(|(n, _)| n.to_string()))
                        .collect(),
                    d.remove.iter().map(|p| p.spec.name.clone()).collect(),
                    false,
                ));
            }
        }
        // the representors change in this run, the bridge is yet to be made, or the database
        // could not be read (the step then fails, saying why)
        _ => steps.push(ports(vec![], vec![], true)),
    }
    steps
}

/// `PortSpec` for a netdev we add: marked with its PF (and VF).
pub fn new_port(name: &IfName, vf: Option<u32>, owner: &str) -> vswitch::PortSpec {
    let mut ids = BTreeMap::from([(vswitch::OWNER_KEY.to_string(), owner.to_string())]);
    if let Some(v) = vf {
        ids.insert(vswitch::VF_KEY.to_string(), v.to_string());
    }
    vswitch::PortSpec::system(name.as_str(), ids)
}
