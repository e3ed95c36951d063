//! `(config, state) → steps`: pure. What `--dry-run` prints, what the tests check, and an empty
//! plan is what "already configured" means.

pub mod devlink;
mod ib;
pub mod ovs;
mod step;
pub mod vf;

pub use step::{ranges, Step};

use std::fmt;

use serde::Serialize;

use crate::config::{Bind, BondConfig, EswitchMode, EswitchOrder, GuidScheme, PfConfig, VfConfig};
use crate::guid::auto_guid;
use crate::kernel::EswitchModes;
use crate::netlink::rtnl::VfInfo;
use crate::observe::{Facts, PfState};
use crate::types::{Guid, GuidKind, IfName};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Phase {
    /// Before the bond enslaves the PF (ifupdown `pre-up`, `sriov-offload-pre.service`).
    Pre,
    /// After enslavement (`post-up`, `sriov-offload-post.service`): everything.
    Post,
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
