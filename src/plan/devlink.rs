//! The devlink part of a PF's plan, ahead of everything else (in vf-pre, before `sriov_numvfs`
//! and the eswitch mode): the configured devlink parameters whose value differs, and the one
//! driver reload that makes driverinit values take effect.
//!
//! Everything configured is checked first, against what the kernel reports
//! (DEVLINK_CMD_PARAM_GET): a name the device does not have, a value of the wrong type for the
//! parameter, a cmode it does not support. Any of these refuses the PF before anything is
//! written, `--force` or not (they cannot be done).
//!
//! Order: the driverinit values, then one reload if any of them changed, then the runtime
//! values (a driver reinit may re-initialise what was set at runtime before it), then the
//! permanent ones (stored in the NIC; they need a firmware reset, which this never does).
//!
//! Some need a PF without VFs: a reload destroys them (mlx5 and netdevsim both), and mlx5 takes
//! `flow_steering_mode` only in legacy mode with no VFs. At boot the PF has none, and the steps
//! come first. When it has VFs, the steps are made where the run removes them anyway (a VF count
//! change goes through 0) and otherwise refused unless `--force`: then the VFs are removed (and
//! the eswitch put in legacy, for `flow_steering_mode`) before the parameters, and the rest of
//! the plan, starting from that PF, re-creates them as configured. A reload also re-creates the
//! PF's netdev, outside any bond: for a PF enslaved to one it is refused, `--force` or not.
//!
//! A driverinit value that was set without the reload that applies it (a run killed between
//! the two) reads as set: devlink reports the value the next reload applies, not the one in
//! effect, and nothing tells the two apart.

use crate::config::{EswitchMode, EswitchOrder, ParamCmode, ParamSetting};
use crate::kernel::EswitchModes;
use crate::netlink::devlink::{ParamType, ParamValue};
use crate::observe::{Facts, ParamState, ParamsSeen, PfState};
use crate::plan::{Input, Refusal, Step};

/// Parameters the kernel takes only with the eswitch in legacy mode and no VFs.
const LEGACY_NO_VFS: &[&str] = &["flow_steering_mode"];

/// What the devlink part adds to a PF's plan.
#[derive(Default)]
pub(super) struct Planned {
    /// First in the plan (after a wait for the bond's slaves).
    pub steps: Vec<Step>,
    /// The PF as the steps leave it, when they change more than parameters (VFs removed, the
    /// eswitch back in legacy): the rest of the plan starts from it.
    pub after: Option<PfState>,
}

/// One parameter to set.
struct Change<'a> {
    name: &'a str,
    cmode: ParamCmode,
    value: ParamValue,
    have: Option<&'a ParamValue>,
}

impl Change<'_> {
    fn step(&self, pf: &PfState) -> Step {
        Step::DevlinkParam {
            pf: pf.name.clone(),
            name: self.name.to_string(),
            cmode: self.cmode,
            value: self.value.clone(),
        }
    }

    /// `max_macs (driverinit) is 32, want 16`
    fn describe(&self) -> String {
        format!(
            "{} ({}) is {}, want {}",
            self.name,
            self.cmode,
            self.have.map_or("unset".to_string(), value_text),
            value_text(&self.value)
        )
    }
}

fn value_text(v: &ParamValue) -> String {
    match v {
        ParamValue::String(s) => format!("{s:?}"),
        v => v.to_string(),
    }
}

/// `u32 (0..=4294967295)`, `string`, `bool (true or false)`.
fn type_text(ty: ParamType) -> String {
    match ty {
        ParamType::Bool => "bool (true or false)".into(),
        ParamType::String => "string".into(),
        t => match t.max() {
            Some(max) => format!("{t} (0..={max})"),
            None => t.to_string(),
        },
    }
}

/// `u32, generic; cmodes driverinit`
fn param_text(p: &ParamState) -> String {
    format!(
        "{}{}; cmode {}",
        p.ty,
        if p.generic { ", generic" } else { "" },
        cmodes_text(p)
    )
}

fn cmodes_text(p: &ParamState) -> String {
    if p.values.is_empty() {
        return "none reported".into();
    }
    p.values
        .keys()
        .map(|m| m.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The config's value as a value of type `ty`, or why it is not one.
fn typed(ty: ParamType, want: &ParamSetting) -> Result<ParamValue, String> {
    let wrong = || {
        format!(
            "is a {}, but the config gives {want} ({})",
            type_text(ty),
            want.kind()
        )
    };
    match (ty, want) {
        (ParamType::Other(n), _) => Err(format!(
            "has a type this version of sriov-offload cannot set (devlink type {n})"
        )),
        (ParamType::String, ParamSetting::Str(s)) => Ok(ParamValue::String(s.clone())),
        (ParamType::Bool, ParamSetting::Bool(b)) => Ok(ParamValue::Bool(*b)),
        (
            ParamType::U8 | ParamType::U16 | ParamType::U32 | ParamType::U64,
            ParamSetting::Int(n),
        ) => {
            if *n > ty.max().unwrap_or(u64::MAX) {
                return Err(format!(
                    "is a {}, and the config's {n} is out of its range",
                    type_text(ty)
                ));
            }
            Ok(match ty {
                ParamType::U8 => ParamValue::U8(*n as u8),
                ParamType::U16 => ParamValue::U16(*n as u16),
                ParamType::U32 => ParamValue::U32(*n as u32),
                _ => ParamValue::U64(*n),
            })
        }
        _ => Err(wrong()),
    }
}

/// The cmode a configured parameter is set in: the configured one if `p` supports it, else
/// (none configured) runtime if `p` has it, else driverinit; never permanent unless written.
pub fn cmode_for(p: &ParamState, configured: Option<ParamCmode>) -> Option<ParamCmode> {
    let has = |m| p.values.contains_key(&m);
    match configured {
        Some(m) => has(m).then_some(m),
        None => [ParamCmode::Runtime, ParamCmode::Driverinit]
            .into_iter()
            .find(|m| has(*m)),
    }
}

/// Plans the PF's devlink parameters (see the module documentation). `force` allows removing
/// VFs (in use or not) to set them.
pub(super) fn plan(inp: &Input, extra: &Facts, force: bool) -> Result<Planned, Refusal> {
    let (c, s) = (inp.cfg, inp.state);
    let refuse = |reason: String| Refusal {
        pf: s.name.clone(),
        reason,
    };
    if c.devlink.params.is_empty() {
        return Ok(Planned::default());
    }
    let h = s.devlink();
    let seen = match extra.devlink_params.get(&s.name) {
        Some(ParamsSeen::Read(p)) => p,
        Some(ParamsSeen::Unreadable(why)) => {
            return Err(refuse(format!(
                "devlink_params cannot be checked or set: {why}"
            )))
        }
        None => {
            return Err(refuse(format!(
                "internal: the devlink parameters of {h} were not read"
            )))
        }
    };
    let mut errors = vec![];
    let mut changes = vec![];
    for (name, want) in &c.devlink.params {
        let Some(p) = seen.get(name) else {
            let has = if seen.is_empty() {
                "it reports no devlink parameters at all (no devlink instance, or a driver without any)"
                    .to_string()
            } else {
                let all: Vec<String> = seen
                    .iter()
                    .map(|(n, p)| format!("{n} ({})", param_text(p)))
                    .collect();
                format!("it has {}", all.join(", "))
            };
            errors.push(format!("{h} has no devlink param {name:?}: {has}"));
            continue;
        };
        let cmode = match (cmode_for(p, want.cmode), want.cmode) {
            (Some(m), _) => m,
            (None, Some(m)) => {
                errors.push(format!(
                    "devlink param {name} of {h} ({}) cannot be set in cmode {m}",
                    param_text(p)
                ));
                continue;
            }
            (None, None) if p.values.contains_key(&ParamCmode::Permanent) => {
                errors.push(format!(
                    "devlink param {name} of {h} ({}) has only cmode permanent (the NIC's non-volatile memory), which is never chosen unless written: {name} = {{ value = {}, cmode = \"permanent\" }}",
                    param_text(p),
                    want.value
                ));
                continue;
            }
            (None, None) => {
                errors.push(format!(
                    "devlink param {name} of {h} ({}) has no value in any cmode to compare with",
                    param_text(p)
                ));
                continue;
            }
        };
        match typed(p.ty, &want.value) {
            Err(why) => errors.push(format!(
                "devlink param {name} of {h} {why} (cmode {})",
                cmodes_text(p)
            )),
            Ok(value) => {
                let have = p.values.get(&cmode);
                if have != Some(&value) {
                    changes.push(Change {
                        name,
                        cmode,
                        value,
                        have,
                    });
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(refuse(errors.join("; ")));
    }
    if changes.is_empty() {
        return Ok(Planned::default());
    }

    let reload = changes.iter().any(|ch| ch.cmode == ParamCmode::Driverinit);
    if let Some(m) = s.netdev.master.as_ref().filter(|_| reload) {
        // the reload re-creates the netdev, outside the bond, and nothing here re-enslaves it
        // (at boot vf-pre runs before the bond takes its slaves, so this is a running host)
        let what: Vec<String> = changes
            .iter()
            .filter(|ch| ch.cmode == ParamCmode::Driverinit)
            .map(|ch| ch.describe())
            .collect();
        return Err(refuse(format!(
            "devlink param {}: a driverinit value takes effect only with a driver reload, which re-creates {} outside {m}, its master; not done, --force or not: take it out of {m} first (ifdown {m}), or let the next boot set it before the bond exists",
            what.join(", "),
            s.name
        )));
    }
    let legacy_only: Vec<&Change> = changes
        .iter()
        .filter(|ch| LEGACY_NO_VFS.contains(&ch.name))
        .collect();
    let leave_switchdev = !legacy_only.is_empty() && s.eswitch == Some(EswitchMode::Switchdev);
    let remove_vfs = (reload || !legacy_only.is_empty()) && s.numvfs > 0;
    let mut steps = vec![];
    let mut after: Option<PfState> = None;
    if remove_vfs || leave_switchdev {
        let want = u32::from(c.vfs);
        let mode_change = c.eswitch.is_some_and(|m| s.eswitch != Some(m));
        // the rest of the plan removes the VFs anyway: a count change, or a mode change that
        // must be made without VFs, goes through 0
        let through_zero = s.numvfs > 0
            && (s.numvfs != want || (c.eswitch_order == EswitchOrder::BeforeVfs && mode_change));
        let needing: Vec<&Change> = changes
            .iter()
            .filter(|ch| ch.cmode == ParamCmode::Driverinit || LEGACY_NO_VFS.contains(&ch.name))
            .collect();
        let what = needing
            .iter()
            .map(|ch| ch.describe())
            .collect::<Vec<_>>()
            .join(", ");
        // the VFs go anyway and the eswitch can stay: no more is destroyed than the run would
        let implied = through_zero && !leave_switchdev;
        if !force && !implied {
            let mut why = vec![];
            if reload {
                why.push("a driverinit value takes effect only with a driver reload (devlink dev reload), which destroys the PF's VFs".to_string());
            }
            if !legacy_only.is_empty() {
                why.push(format!(
                    "the kernel takes {} only in legacy mode with no VFs",
                    legacy_only
                        .iter()
                        .map(|ch| ch.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            let now = match (s.numvfs, leave_switchdev) {
                (0, _) => "its eswitch is in switchdev mode".to_string(),
                (n, false) => format!("it has {n} VFs"),
                (n, true) => format!("it has {n} VFs in switchdev mode"),
            };
            return Err(refuse(format!(
                "devlink param {what}: {}, and {now}. Not changed without --force, which {}sets {} and re-creates the VFs as configured; or let the next boot set {} before its VFs exist",
                why.join("; "),
                match (s.numvfs > 0, leave_switchdev) {
                    (true, true) => "removes the VFs, puts the eswitch in legacy mode, ",
                    (true, false) => "removes the VFs, ",
                    (false, _) => "puts the eswitch in legacy mode, ",
                },
                if reload { "the parameters, reloads the driver" } else { "the parameters" },
                if needing.len() == 1 { "it" } else { "them" },
            )));
        }
        let keep_driver = match &c.bind {
            Some(crate::config::Bind::Driver(d)) => Some(d.as_str()),
            _ => None,
        };
        let in_use: Vec<String> = s
            .vfs
            .iter()
            .filter_map(|v| s.vf_in_use(v, keep_driver))
            .collect();
        if !in_use.is_empty() && !force {
            return Err(refuse(format!(
                "setting devlink param {what} would reset VFs in use ({}); stop their users or pass --force",
                in_use.join("; ")
            )));
        }
        if s.numvfs > 0 {
            steps.push(Step::NumVfs {
                pf: s.name.clone(),
                count: 0,
            });
        }
        if leave_switchdev {
            steps.push(Step::Eswitch {
                pf: s.name.clone(),
                mode: EswitchMode::Legacy,
                modes: EswitchModes::default(),
            });
        }
        let mut a = s.clone();
        a.numvfs = 0;
        a.vfs.clear();
        a.reps.clear();
        if leave_switchdev {
            a.eswitch = Some(EswitchMode::Legacy);
        }
        after = Some(a);
    }
    if reload && s.eswitch == Some(EswitchMode::Switchdev) {
        // a reload may bring the eswitch back in legacy (netdevsim's does when it has VFs):
        // the rest of the plan sets the mode again, which changes nothing if it stayed
        let a = after.get_or_insert_with(|| s.clone());
        a.eswitch = Some(EswitchMode::Legacy);
        a.reps.clear();
    }
    for cmode in [
        ParamCmode::Driverinit,
        ParamCmode::Runtime,
        ParamCmode::Permanent,
    ] {
        steps.extend(
            changes
                .iter()
                .filter(|ch| ch.cmode == cmode)
                .map(|ch| ch.step(s)),
        );
        if cmode == ParamCmode::Driverinit && reload {
            steps.push(Step::DevlinkReload { pf: s.name.clone() });
        }
    }
    Ok(Planned { steps, after })
}

#[cfg(test)]
mod tests;
