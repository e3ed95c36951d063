//! Executes the OVS steps (plan/ovs.rs), each in one short OVSDB session: read the database,
//! decide from what it says now, commit at most one transaction. A step whose change is already
//! there commits nothing. Also ovs-vswitchd's `ExecStartPre=` (bin/sriov-offload-ovs.rs).

use anyhow::{bail, Context, Result};

use crate::config::Config;
use crate::host::Host;
use crate::kernel::Kernel;
use crate::log::Log;
use crate::observe::{self, PfState};
use crate::ovs::Ovs;
use crate::ovsdb::vswitch::{self, Snapshot};
use crate::plan::ovs::{new_port, owner, ports_diff, wanted};
use crate::plan::Step;

pub fn exec(host: &Host, kernel: &mut Kernel, step: &Step, pf: &PfState) -> Result<()> {
    let mut ovs = Ovs::connect(host).with_context(|| format!("{}: {}", pf.name, what(step)))?;
    let db = ovs.read()?;
    match step {
        Step::OvsHwOffload { .. } => set_hw_offload(&mut ovs, &db).map(|_| ()),
        Step::OvsAddBridge { bridge, .. } => {
            if db.bridge(bridge.as_str()).is_some() {
                return Ok(());
            }
            // two PFs of one bridge run side by side and may both find it missing: the
            // bridge name is an OVSDB index, so the second commit fails, and finding the
            // bridge made by the other is success
            let r = ovs.commit(&vswitch::add_bridge_ops(&db.root, bridge.as_str()));
            if r.is_err()
                && ovs
                    .read()
                    .is_ok_and(|d| d.bridge(bridge.as_str()).is_some())
            {
                return Ok(());
            }
            r.with_context(|| format!("{}: creating OVS bridge {bridge}", pf.name))
        }
        Step::OvsDetach { bridge, port, .. } => {
            let Some(b) = db.bridge(bridge) else {
                return Ok(());
            };
            let p: Vec<_> = b
                .ports
                .iter()
                .filter(|p| p.spec.name == port.name)
                .collect();
            if p.is_empty() {
                return Ok(());
            }
            ovs.commit(&vswitch::del_ports_ops(&b.uuid, bridge, &p))
                .with_context(|| format!("{}: detaching port {} from {bridge}", pf.name, port.name))
        }
        Step::OvsReattach { bridge, port, .. } => {
            if db
                .bridges
                .iter()
                .any(|b| b.ports.iter().any(|p| p.spec.name == port.name))
            {
                return Ok(());
            }
            let Some(b) = db.bridge(bridge) else {
                bail!(
                    "{}: cannot re-attach {} to OVS bridge {bridge}: the bridge is gone",
                    pf.name,
                    port.name
                );
            };
            ovs.commit(&vswitch::add_ports_ops(
                &b.uuid,
                bridge,
                std::slice::from_ref(port),
            ))
            .with_context(|| format!("{}: re-attaching port {} to {bridge}", pf.name, port.name))
        }
        Step::OvsPorts {
            bridge,
            uplink,
            vfs,
            ..
        } => {
            let reps = observe::current_reps(host, kernel, pf)?;
            let Some(want) = wanted(*uplink, &pf.name, vfs, &reps) else {
                let missing: Vec<String> = vfs
                    .iter()
                    .filter(|v| !reps.contains_key(v))
                    .map(|v| v.to_string())
                    .collect();
                bail!(
                    "{}: cannot add representors to OVS bridge {bridge}: VFs {} have none",
                    pf.name,
                    missing.join(", ")
                );
            };
            let Some(b) = db.bridge(bridge.as_str()) else {
                bail!(
                    "{}: OVS bridge {bridge} does not exist: create it (an ifupdown2 `ovs_type OVSBridge` stanza, `ovs-vsctl add-br {bridge}`) or set create_bridge = true in the PF's ovs = {{ ... }}",
                    pf.name
                );
            };
            let own = owner(pf);
            let d = ports_diff(&db, bridge.as_str(), &own, &want);
            if let Some((n, other)) = d.elsewhere.first() {
                bail!(
                    "{}: {n} belongs in OVS bridge {bridge} but is a port of {other}: remove it there (ovs-vsctl del-port {other} {n})",
                    pf.name
                );
            }
            if d.add.is_empty() && d.remove.is_empty() {
                return Ok(());
            }
            let mut ops = vec![];
            if !d.remove.is_empty() {
                ops.extend(vswitch::del_ports_ops(&b.uuid, bridge.as_str(), &d.remove));
            }
            if !d.add.is_empty() {
                let add: Vec<_> = d.add.iter().map(|(n, vf)| new_port(n, *vf, &own)).collect();
                ops.extend(vswitch::add_ports_ops(&b.uuid, bridge.as_str(), &add));
            }
            ovs.commit(&ops)
                .with_context(|| format!("{}: OVS bridge {bridge}: {step}", pf.name))
        }
        _ => bail!("internal: not an OVS step: {step}"),
    }
}

fn what(step: &Step) -> &'static str {
    match step {
        Step::OvsHwOffload { .. } => "setting other_config:hw-offload",
        Step::OvsAddBridge { .. } => "creating the OVS bridge",
        Step::OvsDetach { .. } => "detaching the PF from its OVS bridge",
        Step::OvsReattach { .. } => "re-attaching the PF to its OVS bridge",
        _ => "updating OVS bridge ports",
    }
}

/// Sets `other_config:hw-offload=true` unless it is; returns whether it committed.
fn set_hw_offload(ovs: &mut Ovs, db: &Snapshot) -> Result<bool> {
    if db.hw_offload() == Some("true") {
        return Ok(false);
    }
    ovs.commit(&vswitch::set_other_config_ops(
        &db.root,
        vswitch::HW_OFFLOAD,
        "true",
    ))
    .context("setting Open_vSwitch other_config:hw-offload=true")?;
    Ok(true)
}

/// ovs-vswitchd's `ExecStartPre=`: ovsdb-server is up (ovs-vswitchd is ordered after it),
/// ovs-vswitchd is not yet, so `hw-offload` set now is what it reads when it starts. Waits for
/// no device: one read, at most one transaction.
pub fn vswitchd_pre(host: &Host, cfg: &Config, log: &Log) -> Result<()> {
    if !cfg.ovs.hw_offload {
        log.debug("[ovs] hw_offload is off (no PF has ovs, or hw_offload = false): nothing to do");
        return Ok(());
    }
    let mut ovs = Ovs::connect(host)?;
    let db = ovs.read()?;
    let was = db.hw_offload().map(String::from);
    if set_hw_offload(&mut ovs, &db)? {
        log.step(
            "-",
            "ovs-hw-offload",
            &format!(
                "set Open_vSwitch other_config:hw-offload=true (was {}) before ovs-vswitchd starts",
                was.map_or("unset".into(), |w| format!("{w:?}"))
            ),
        );
    } else {
        log.skipped("-", "other_config:hw-offload is already true");
    }
    Ok(())
}
