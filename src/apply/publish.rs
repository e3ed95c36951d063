//! After the steps: the look that verifies them, and the VF map and ready marker when every
//! configured PF is done.

use anyhow::{bail, Result};

use super::{plan_all, Options};
use crate::config::Config;
use crate::host::Host;
use crate::kernel::Kernel;
use crate::log::Log;
use crate::marker::{self, MapEntry, PfReadiness, PfSummary};
use crate::observe::{self, HostState};
use crate::plan::{Phase, Step};
use crate::select::{Resolved, Target};
use crate::types::IfName;

/// A second look. On a real kernel it must find nothing left to do for the targets
/// (verification). After post it also decides the ready marker, which needs every configured
/// PF: one look at all of them serves both.
#[allow(clippy::too_many_arguments)]
pub(super) fn verify_and_publish(
    host: &Host,
    kernel: &mut Kernel,
    cfg: &Config,
    opts: &Options,
    log: &Log,
    resolved: &[Resolved],
    targets: &[Target],
    done: &[Vec<Step>],
) -> Result<bool> {
    let executed = done.iter().map(Vec::len).sum::<usize>();
    let all: Option<Vec<Target>> = resolved
        .iter()
        .map(|r| r.name.clone().map(|name| Target { cfg: r.cfg, name }))
        .collect();
    let look: &[Target] = match (&all, opts.phase) {
        (Some(all), Phase::Post) => all,
        _ => targets,
    };
    let verify = host.is_real() && executed > 0;
    if !verify && opts.phase != Phase::Post {
        return Ok(false);
    }
    let state = observe::observe(host, kernel, cfg, look)?;
    let plans = plan_all(cfg, &state, opts, true)?;
    let is_target = |name: &IfName| targets.iter().any(|t| &t.name == name);
    let left: Vec<String> = state
        .pfs
        .iter()
        .zip(&plans)
        .filter(|((_, st), _)| is_target(&st.name))
        .flat_map(|(_, p)| p.iter().map(|s| s.to_string()))
        .collect();
    if verify && !left.is_empty() {
        bail!(
            "after applying, the host still differs from the config: {}",
            left.join("; ")
        );
    }
    // A step this run made that the look after it wants again did not stick: something
    // (another PF's step, another program) undoes it. That is a failure, not "not ready yet".
    // On a fixture tree only steps that are plain file writes can stick at all.
    let undone: Vec<String> = plans
        .iter()
        .flatten()
        .filter(|s| is_target(s.pf()) && (host.is_real() || s.is_file_write()))
        .filter(|s| done.iter().flatten().any(|d| d == *s))
        .map(|s| s.to_string())
        .collect();
    if !undone.is_empty() {
        bail!(
            "the host does not converge: after this run applied them, these steps are needed again (something undoes them: another PF writing the same file, another program): {}",
            undone.join("; ")
        );
    }
    if opts.phase != Phase::Post {
        return Ok(false);
    }
    match &all {
        None => {
            log.info("not marking ready: a configured PF is not present yet");
            Ok(false)
        }
        Some(_) => publish(host, cfg, &state, &plans, log),
    }
}

/// When every configured PF is fully configured (`plans` all empty), publishes the VF map
/// and the ready marker.
fn publish(
    host: &Host,
    cfg: &Config,
    state: &HostState,
    plans: &[Vec<Step>],
    log: &Log,
) -> Result<bool> {
    let summaries: Vec<PfSummary> = state.pfs.iter().map(|(_, s)| summarize(s)).collect();
    for (((pc, s), p), sum) in state.pfs.iter().zip(plans).zip(&summaries) {
        let (st, sum, why) = match p.first() {
            None => (PfReadiness::Ready, Some(sum.clone()), None),
            Some(step) => (PfReadiness::Pending, None, Some(step.to_string())),
        };
        if marker::set_pf_state(host, &s.name, &pc.matcher.to_string(), st, sum, why)? {
            log.step(
                s.name.as_str(),
                "pf-state",
                &format!(
                    "{} {}: wrote {}",
                    s.name,
                    st,
                    host.run_dir().pf_file(&s.name).display()
                ),
            );
        }
    }
    if let Some((s, p)) = state.pfs.iter().zip(plans).find(|(_, p)| !p.is_empty()) {
        log.info(&format!(
            "not marking ready yet: {} still needs {} step(s), e.g. {}",
            s.1.name,
            p.len(),
            p[0]
        ));
        return Ok(false);
    }
    let mut map = vec![];
    let mut summary = vec![];
    for (pc, s) in &state.pfs {
        let info = state.facts.vf_info.get(&s.name);
        for v in &s.vfs {
            let nd = v.netdevs.first();
            let mac = info
                .and_then(|i| i.iter().find(|x| x.vf == v.index))
                .map(|x| crate::types::Mac(x.mac).to_string())
                .or_else(|| nd.and_then(|n| n.mac.clone()));
            map.push(MapEntry {
                pf: s.name.clone(),
                vf: v.index,
                pci: v.pci.clone(),
                netdev: nd.map(|n| n.name.clone()),
                representor: s.reps.get(&v.index).cloned(),
                ovs_bridge: s.reps.get(&v.index).and_then(|r| {
                    let o = state.facts.ovs.as_ref()?;
                    o.bridge_of(r.as_str()).map(String::from)
                }),
                mac,
                reserved: pc.reserved_vfs.contains(&(v.index as u16)),
            });
        }
    }
    summary.extend(summaries);
    if marker::write_map(host, &map)? {
        log.step(
            "-",
            "vf-map",
            &format!("wrote {}", marker::map_path(host).display()),
        );
    }
    if marker::write_ready(host, summary, cfg.boot.legacy_marker.as_deref(), log)? {
        log.step(
            "-",
            "ready",
            &format!(
                "offload ready: wrote {}",
                marker::ready_path(host).display()
            ),
        );
    }
    Ok(true)
}

fn summarize(s: &crate::observe::PfState) -> PfSummary {
    PfSummary {
        name: s.name.clone(),
        device: s.dev_name.clone(),
        vfs: s.numvfs,
        eswitch: s.eswitch.map(|m| m.to_string()),
        representors: s.reps.len(),
        bound: s.vfs.iter().filter(|v| v.driver.is_some()).count(),
    }
}
