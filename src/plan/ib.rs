//! IB GUIDs and port policies of a PF's VFs: from its bond's `ib` (GUIDs only, the PF's
//! position in the bond's slaves) or from its own `ib` (a standalone InfiniBand PF, seed 004:
//! policy, node and port GUIDs, then each VF whose GUIDs changed unbound and bound again so its
//! driver picks them up). Also what a PF without a netdev cannot have.

use super::{wanted_guid, Input, Refusal, Step};
use crate::config::{Bind, GuidScheme, IbPolicy};
use crate::observe::{Facts, GuidVia};
use crate::types::GuidKind;

/// What a PF's VFs should have.
pub(super) struct Want<'a> {
    node: Option<&'a GuidScheme>,
    port: Option<&'a GuidScheme>,
    policy: Option<IbPolicy>,
    /// `PP` of the `auto` GUIDs (see `guid`).
    pf_index: usize,
}

/// The IB settings of the PF of `inp`, if any. A PF whose `ib` is in its own `[[pf]]` and in
/// its bond's (matched by PCI address or MAC, so the config could not tell) is refused.
pub(super) fn want<'a>(inp: &Input<'a>) -> Result<Option<Want<'a>>, Refusal> {
    let bond_ib = inp
        .bond
        .and_then(|(b, i)| b.ib.as_ref().map(|ib| (b, ib, i)));
    Ok(match (bond_ib, &inp.cfg.ib) {
        (Some((b, _, _)), Some(_)) => {
            return Err(Refusal {
                pf: inp.state.name.clone(),
                reason: format!(
                    "its [[pf]] ({}) has ib and it is a slave of bond {} ({}) which has ib too: set its VFs' GUIDs in one place",
                    inp.cfg.origin, b.name, b.origin
                ),
            })
        }
        (Some((_, ib, i)), None) => Some(Want {
            node: ib.node_guids.as_ref(),
            port: ib.port_guids.as_ref(),
            policy: None,
            pf_index: i,
        }),
        (None, Some(p)) => Some(Want {
            node: p.node_guids.as_ref(),
            port: p.port_guids.as_ref(),
            policy: p.policy,
            pf_index: usize::from(p.auto_index),
        }),
        (None, None) => None,
    })
}

/// Plans the policy and GUID writes for VFs `0..want`, then the rebinding of each VF whose
/// GUIDs change and that is (or, created by this run, will be) bound to a driver. Which
/// interface sets them is checked before anything is planned to be written, so no VF is
/// unbound for GUIDs that cannot be set. `unbound_after`: VFs the plan leaves unbound so far
/// (bound by the caller's `Bind` step when `bind` names a driver).
#[allow(clippy::too_many_arguments)]
pub(super) fn plan(
    inp: &Input,
    extra: &Facts,
    w: &Want,
    want: u32,
    count_change: bool,
    force: bool,
    unbound_after: &mut Vec<u32>,
    steps: &mut Vec<Step>,
) -> Result<(), Refusal> {
    let (c, s) = (inp.cfg, inp.state);
    let pf = s.name.clone();
    let refuse = |reason: String| Refusal {
        pf: pf.clone(),
        reason,
    };
    // VFs this run creates: with autoprobe on and no `bind`, the kernel binds them at once to
    // the PF's driver (mlx5 VFs probe with mlx5_core, the PF's) — before their GUIDs are set
    let autoprobed = (count_change && c.bind.is_none() && s.autoprobe != Some(false))
        .then(|| s.driver.clone())
        .flatten();
    let mut new_policy = false;
    let mut new_guids = false;
    let mut rebind: Vec<(u32, String)> = vec![];
    for vf in 0..want {
        if let Some(p) = w.policy {
            let have = if count_change {
                None
            } else {
                extra.ib.get(&pf).and_then(|f| f.policy.get(&vf))
            };
            if have != Some(&p) {
                steps.push(Step::IbPolicy {
                    pf: pf.clone(),
                    vf,
                    policy: p,
                });
                new_policy = true;
            }
        }
        let mut changed = false;
        for (kind, scheme) in [(GuidKind::Node, w.node), (GuidKind::Port, w.port)] {
            if matches!(scheme, Some(GuidScheme::Auto)) && extra.hostname.is_none() {
                return Err(refuse(
                    "auto IB GUIDs are derived from the host name, which cannot be read (kernel.hostname is empty or unreadable); set it or list the GUIDs".into(),
                ));
            }
            let hostname = extra.hostname.as_deref().unwrap_or_default();
            let Some(g) = wanted_guid(scheme, hostname, w.pf_index, vf, kind) else {
                continue;
            };
            let have = if count_change {
                None
            } else {
                extra.guids.get(&(pf.clone(), vf, kind))
            };
            if have == Some(&g) {
                continue;
            }
            if let (GuidKind::Port, Some(GuidVia::SysfsNodeOnly(why))) =
                (kind, extra.guid_via.get(&pf))
            {
                return Err(refuse(format!(
                    "{why}: remove port_guids from its ib ({})",
                    c.origin
                )));
            }
            steps.push(Step::Guid {
                pf: pf.clone(),
                vf,
                kind,
                guid: g,
            });
            changed = true;
        }
        if !changed {
            continue;
        }
        new_guids = true;
        let bound = if count_change {
            autoprobed.clone()
        } else {
            s.vfs
                .get(vf as usize)
                .and_then(|v| v.driver.clone())
                .filter(|_| !unbound_after.contains(&vf))
        };
        let Some(d) = bound else { continue };
        if let Some(vs) = s.vfs.get(vf as usize).filter(|_| !count_change) {
            if let Some(why) = s.vf_in_use(vs, None).filter(|_| !force) {
                return Err(refuse(format!(
                    "the IB GUIDs of VF {vf} differ and the VF must be rebound for them, but {why}"
                )));
            }
        }
        rebind.push((vf, d));
    }
    if new_guids {
        if let Some(GuidVia::Missing(why)) = extra.guid_via.get(&pf) {
            return Err(refuse(why.clone()));
        }
    }
    if new_policy {
        if let Some(GuidVia::Missing(why)) = extra.ib.get(&pf).and_then(|f| f.policy_via.as_ref()) {
            return Err(refuse(why.clone()));
        }
    }
    // as seed 004 does: the GUIDs written, each VF off its driver and back on
    for (vf, d) in &rebind {
        steps.push(Step::Unbind {
            pf: pf.clone(),
            vf: *vf,
            driver: d.clone(),
        });
    }
    if let Some(Bind::Driver(_)) = &c.bind {
        // bound with every other unbound VF by the caller's Bind step
        unbound_after.extend(rebind.iter().map(|(v, _)| *v));
        return Ok(());
    }
    // no `bind` (autoprobe) or "none": back to the driver each had
    steps.extend(super::vf::back_to_their_drivers(&pf, rebind));
    Ok(())
}

/// What a PF without a netdev (an InfiniBand port without IPoIB) cannot have: everything that
/// goes through its netdev. The eswitch mode goes through devlink by PCI address and works.
pub(super) fn check_no_netdev(inp: &Input) -> Result<(), Refusal> {
    let (c, s) = (inp.cfg, inp.state);
    if !s.no_netdev {
        return Ok(());
    }
    let what = if c.hw_tc_offload {
        "hw_tc_offload (an ethtool feature of the netdev; set hw_tc_offload = false)"
    } else if c.ovs.is_some() {
        "ovs (its netdev is the bridge's uplink port; remove ovs)"
    } else if c.vf.values().any(|v| !v.is_empty()) {
        "vf settings (rtnetlink sets them through the PF's netdev; remove them)"
    } else {
        return Ok(());
    };
    Err(Refusal {
        pf: s.name.clone(),
        reason: format!(
            "PF {} has no netdev (an InfiniBand port without IPoIB, known by its RDMA device {}), but its config has {what}",
            s.dev_name, s.name
        ),
    })
}
