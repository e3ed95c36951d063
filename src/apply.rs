//! Runs the flow: pick the PFs this invocation is about, lock them, observe, plan, execute the
//! steps in order (waits are event-driven), verify, publish the VF map and the markers.

mod exec;
pub mod ovs;
mod publish;

use exec::{exec, exec_wait};
use publish::verify_and_publish;

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::config::{Config, ProbeJobs};
use crate::host::Host;
use crate::hostplan::bond_ctx;
use crate::kernel::Kernel;
use crate::log::Log;
use crate::marker;
use crate::networkd::{self, PfFacts};
use crate::observe::{self, HostState};
use crate::plan::{self, Input, Phase, Refusal, Step};
use crate::select::{self, Named, Resolved, Target};
use crate::types::IfName;
use crate::wait::Waiter;

#[derive(Clone, Debug)]
pub struct Options {
    pub phase: Phase,
    pub force: bool,
    pub dry_run: bool,
    /// Interfaces named on the command line or by ifupdown's `$IFACE`; empty = all configured.
    pub ifaces: Vec<IfName>,
    /// A PF re-appeared after boot (`sriov-offload-reapply@.service`): a bond slave that
    /// nothing re-enslaved gets its own post steps unless its bond needs it (VF LAG).
    pub reapply: bool,
}

#[derive(Debug, Default)]
pub struct Report {
    /// The invocation named only interfaces the config does not mention.
    pub not_ours: bool,
    pub planned: Vec<Step>,
    pub executed: usize,
    pub writes: u32,
    pub elapsed: Duration,
    pub ready: bool,
}

/// A plan refused to reset VFs in use or asked for the impossible: exit 1, nothing written.
#[derive(Debug)]
pub struct Refused(pub Vec<Refusal>);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v: Vec<String> = self.0.iter().map(|r| r.to_string()).collect();
        write!(f, "{}", v.join("\n"))
    }
}
impl std::error::Error for Refused {}

/// The PFs this run is about. A configured PF that is absent is an error when it is
/// targeted: boot ordering should have waited for the device.
fn select<'c>(
    host: &Host,
    cfg: &'c Config,
    resolved: &[Resolved<'c>],
    opts: &Options,
) -> Result<Vec<Target<'c>>> {
    let mut out: Vec<Target> = vec![];
    let mut add = |r: &Resolved<'c>| -> Result<()> {
        let name = r.name.clone().ok_or_else(|| {
            anyhow!(
                "configured PF ({}, {}) is not on this host: no such interface",
                r.cfg.matcher,
                r.cfg.origin
            )
        })?;
        if !out.iter().any(|t| t.name == name) {
            out.push(Target { cfg: r.cfg, name });
        }
        Ok(())
    };
    if opts.ifaces.is_empty() {
        for r in resolved {
            add(r)?;
        }
        return Ok(out);
    }
    for i in &opts.ifaces {
        match select::classify(host, cfg, resolved, i)? {
            Named::Bond(b) => {
                for s in &b.slaves {
                    let r = select::slave(resolved, s).ok_or_else(|| {
                        anyhow!(
                            "bond {} ({}): slave {s} is not a configured [[pf]]",
                            b.name,
                            b.origin
                        )
                    })?;
                    add(r)?;
                }
            }
            Named::Pf(r) => {
                // ifupdown2 brings a bond's slaves up before the bond: a slave's post-up is
                // too early for the bond's post steps (LAG, mode after bond). The bond's own
                // post-up does them; until it is enslaved, the slave's post-up is not ours.
                if opts.phase == Phase::Post
                    && !opts.reapply
                    && select::awaiting_bond(host, cfg, i)?.is_some()
                {
                    continue;
                }
                add(r)?;
            }
            Named::Vf { .. } | Named::Other => {}
        }
    }
    Ok(out)
}

/// A `vf_lag` bond must be the two ports of one NIC (same PCI domain, bus and device) in a
/// mode mlx5 offloads; otherwise LAG never becomes active and the wait would only time out.
fn check_vf_lag(
    host: &Host,
    cfg: &Config,
    resolved: &[Resolved],
    targets: &[Target],
) -> Result<()> {
    for b in cfg.bonds.iter().filter(|b| b.vf_lag) {
        if !targets.iter().any(|t| b.slaves.contains(&t.name)) {
            continue;
        }
        let mut devs = vec![];
        for s in &b.slaves {
            let Some(name) = select::slave(resolved, s).and_then(|r| r.name.clone()) else {
                continue;
            };
            if let Some(d) = host.netdev(&name).device()? {
                devs.push((name, d.name().to_string()));
            }
        }
        let nic = |pci: &str| pci.rsplit_once('.').map(|(n, _)| n.to_string());
        if let [(a, pa), (c, pc)] = devs.as_slice() {
            if nic(pa) != nic(pc) {
                bail!(
                    "bond {} ({}): vf_lag needs the two ports of one NIC, but {a} is {pa} and {c} is {pc}",
                    b.name,
                    b.origin
                );
            }
        }
        if let Some(mode) = host.netdev(&b.name).bonding_mode()? {
            if !["active-backup", "balance-xor", "802.3ad"].contains(&mode.as_str()) {
                bail!(
                    "bond {} ({}): vf_lag needs bonding mode active-backup, balance-xor or 802.3ad, but it is {mode}",
                    b.name,
                    b.origin
                );
            }
        }
    }
    Ok(())
}

fn plan_all(
    cfg: &Config,
    state: &HostState,
    opts: &Options,
    force: bool,
) -> Result<Vec<Vec<Step>>> {
    let phase = opts.phase;
    let mut plans = vec![];
    let mut refusals = vec![];
    for (pc, s) in &state.pfs {
        let inp = Input {
            cfg: pc,
            state: s,
            bond: bond_ctx(cfg, &s.name),
            await_bond: !opts.reapply,
        };
        match plan::plan_pf(&inp, &state.facts, phase, force) {
            Ok(p) => plans.push(p),
            Err(r) => refusals.push(r),
        }
    }
    if !refusals.is_empty() {
        return Err(Refused(refusals).into());
    }
    Ok(plans)
}

/// Computes the plan without taking locks or writing anything (`--dry-run`, `plan`).
pub fn dry_run(host: &Host, cfg: &Config, opts: &Options) -> Result<Report> {
    let mut kernel = Kernel::new(host);
    let resolved = select::resolve(host, cfg)?;
    let targets = select(host, cfg, &resolved, opts)?;
    if targets.is_empty() {
        return Ok(Report {
            not_ours: !opts.ifaces.is_empty(),
            ..Report::default()
        });
    }
    let state = observe::observe(host, &mut kernel, cfg, &targets)?;
    link_file_conflicts(host, &state)?;
    let plans = plan_all(cfg, &state, opts, opts.force)?;
    Ok(Report {
        planned: plans.into_iter().flatten().collect(),
        ..Report::default()
    })
}

/// Applies the configuration for the selected PFs. On failure the `failed` marker is written
/// (and `ready` removed) before the error is returned.
pub fn run(host: &Host, cfg: &Config, opts: &Options, log: &Log) -> Result<Report> {
    if opts.dry_run {
        return dry_run(host, cfg, opts);
    }
    // Nothing configured (an empty config, the package installed but not set up): the suite
    // is not in use here, so it writes nothing, not even a marker.
    if cfg.pfs.is_empty() {
        return Ok(Report {
            not_ours: true,
            ..Report::default()
        });
    }
    let legacy = cfg.boot.legacy_marker.as_deref();
    let resolved = select::resolve(host, cfg);
    // an interface we do not configure: not ours, not an error, no marker touched
    if let Ok(r) = &resolved {
        if !opts.ifaces.is_empty() && select(host, cfg, r, opts).is_ok_and(|t| t.is_empty()) {
            return Ok(Report {
                not_ours: true,
                ..Report::default()
            });
        }
    }
    let res = resolved.and_then(|r| run_inner(host, cfg, opts, log, &r));
    if let Err(e) = &res {
        // A refusal writes nothing: on a host that is ready, offload still works and `failed`
        // would be a lie. Where nothing is ready yet (boot), the refusal is why, and `failed`
        // tells those waiting for offload to stop waiting.
        let refused = e.downcast_ref::<Refused>().is_some();
        if refused && matches!(marker::status(host), Ok(marker::Status::Ready(_))) {
            log.info(
                "refused: nothing was changed, and the markers say what is true (offload is ready)",
            );
        } else if let Err(me) = marker::write_failed(host, &format!("{e:#}"), legacy, log) {
            log.error(&format!("also failed to write the failed marker: {me:#}"));
        }
    }
    res
}

fn run_inner(
    host: &Host,
    cfg: &Config,
    opts: &Options,
    log: &Log,
    resolved: &[Resolved],
) -> Result<Report> {
    let start = Instant::now();
    let deadline = start + cfg.timeout;
    let targets = select(host, cfg, resolved, opts)?;
    check_vf_lag(host, cfg, resolved, &targets)?;
    let mut kernel = Kernel::new(host);
    // subscribe before anything changes, so no event between a write and the wait is lost
    let mut waiter = Waiter::new(host)?;
    marker::clear_stale(host, cfg.boot.legacy_marker.as_deref(), log)?;
    let _locks = lock_targets(host, &targets, deadline, log)?;

    let state = observe::observe(host, &mut kernel, cfg, &targets)?;
    for w in link_file_conflicts(host, &state)? {
        log.info(&w);
    }
    let plans = plan_all(cfg, &state, opts, opts.force)?;
    log_nothing_to_do(&state, &plans, log);
    if opts.reapply {
        log_unenslaved(host, cfg, opts, log)?;
    }
    withdraw_if_needed(host, cfg, &plans, log)?;
    // before any VF or representor exists: the udev rule reads it when they appear
    if host.set_vfs_unmanaged(cfg.boot.unmanage_vfs)? {
        let (did, how) = if cfg.boot.unmanage_vfs {
            ("wrote", "unmanaged for systemd-networkd and NetworkManager")
        } else {
            ("removed", "like any other netdev")
        };
        log.info(&format!(
            "{did} {} ([boot] unmanage_vfs = {}): udev marks new VF netdevs and representors {how}",
            host.vfs_unmanaged_file().display(),
            cfg.boot.unmanage_vfs,
        ));
    }
    let ex = Executor {
        host,
        state: &state,
        deadline,
        log,
        probe_jobs: cfg.probe_jobs,
    };
    let (executed, thread_writes) = ex.run(&mut kernel, &mut waiter, &stages(&plans))?;
    let ready = verify_and_publish(
        host,
        &mut kernel,
        cfg,
        opts,
        log,
        resolved,
        &targets,
        &plans,
    )?;
    Ok(Report {
        not_ours: false,
        planned: plans.into_iter().flatten().collect(),
        executed,
        writes: host.writes() + kernel.writes + thread_writes,
        elapsed: start.elapsed(),
        ready,
    })
}

/// A `.link` file that sets the VF count of a PF we configure fails the run, naming both files
/// (see `networkd`). Returns the warnings about files it could not decide on.
fn link_file_conflicts(host: &Host, state: &HostState) -> Result<Vec<String>> {
    let files: Vec<_> = host
        .network_config_files("link")?
        .iter()
        .map(networkd::parse_link)
        .collect();
    let pfs: Vec<(PfFacts, &str)> = state
        .pfs
        .iter()
        .map(|(c, s)| {
            let facts = PfFacts {
                name: s.name.as_str(),
                mac: s.netdev.mac.as_deref(),
                pci: (s.bus == "pci").then_some(s.dev_name.as_str()),
                driver: s.driver.as_deref(),
            };
            (facts, c.origin.as_str())
        })
        .collect();
    let found = networkd::check(&files, &pfs);
    if !found.conflicts.is_empty() {
        bail!("{}", found.conflicts.join("\n"));
    }
    Ok(found.warnings)
}

/// Takes the per-PF locks (by device name, so a renamed netdev is the same lock).
fn lock_targets(
    host: &Host,
    targets: &[Target],
    deadline: Instant,
    log: &Log,
) -> Result<crate::lock::Locks> {
    let devices: Vec<String> = targets
        .iter()
        .map(|t| {
            host.netdev(&t.name)
                .device()
                .ok()
                .flatten()
                .map(|d| d.name().to_string())
                .unwrap_or_else(|| t.name.to_string())
        })
        .collect();
    crate::lock::lock_all(host, &devices, deadline, |d, holder| {
        log.info(&format!(
            "{d}: another run holds the lock ({}), waiting for it",
            holder.unwrap_or("holder unknown")
        ))
    })
}

/// A PF that needs work means the host is not ready (any more): take `ready` back until the
/// run that finishes the work publishes it again.
fn withdraw_if_needed(host: &Host, cfg: &Config, plans: &[Vec<Step>], log: &Log) -> Result<()> {
    let mut why: Vec<String> = vec![];
    // waiting for the bond to take its slaves is networking's work, not ours undone: if it
    // never happens the wait fails, and that writes `failed`
    for s in plans
        .iter()
        .flatten()
        .filter(|s| !matches!(s, Step::WaitSlaves { .. }))
    {
        let w = format!("{}: needs re-applying ({s})", s.pf());
        if !why.iter().any(|x| x.starts_with(&format!("{}:", s.pf()))) {
            why.push(w);
        }
    }
    if why.is_empty() {
        return Ok(());
    }
    if marker::withdraw(host, &why, cfg.boot.legacy_marker.as_deref(), log)? {
        log.warn(&format!(
            "offload ready withdrawn until the work is done: {}",
            why.join("; ")
        ));
    }
    Ok(())
}

/// ifupdown does not re-enslave a PF that re-appeared (networkd does): say what is needed.
fn log_unenslaved(host: &Host, cfg: &Config, opts: &Options, log: &Log) -> Result<()> {
    for i in &opts.ifaces {
        let Some(b) = select::awaiting_bond(host, cfg, i)? else {
            continue;
        };
        let what = if opts.phase == Phase::Pre || !b.vf_lag {
            "its steps that do not need the bond are done"
        } else {
            "the post steps wait for it (VF LAG needs the bond)"
        };
        log.warn(&format!(
            "{i} re-appeared but is not a slave of {} again: {what}; re-enslave it with `ifup {}`, whose post-up finishes the work",
            b.name, b.name
        ));
    }
    Ok(())
}

/// A configured PF went away (udev `remove`): `ready` no longer tells the truth.
pub fn withdraw_gone(host: &Host, cfg: &Config, log: &Log) -> Result<()> {
    let gone: Vec<String> = select::resolve(host, cfg)?
        .iter()
        .filter(|r| r.name.is_none())
        .map(|r| format!("configured PF ({}) is gone", r.cfg.matcher))
        .collect();
    if !gone.is_empty() && marker::withdraw(host, &gone, cfg.boot.legacy_marker.as_deref(), log)? {
        log.warn(&format!("offload ready withdrawn: {}", gone.join("; ")));
    }
    Ok(())
}

fn log_nothing_to_do(state: &HostState, plans: &[Vec<Step>], log: &Log) {
    for (_, s) in &state.pfs {
        if plans.iter().flatten().all(|st| st.pf() != &s.name) {
            log.skipped(
                s.name.as_str(),
                &format!(
                    "{}: nothing to do ({} VFs, eswitch {}, {} representors)",
                    s.name,
                    s.numvfs,
                    s.eswitch.map_or("n/a".into(), |m| m.to_string()),
                    s.reps.len()
                ),
            );
        }
    }
}

fn is_wait(s: &Step) -> bool {
    matches!(
        s,
        Step::WaitSlaves { .. } | Step::WaitLag { .. } | Step::WaitReps { .. }
    )
}

/// Stages the steps so that PFs progress together: the bonds' enslavement first (a plan starts
/// with it when it waits for it), then everything before the other waits on every PF, then the
/// waits, then the rest — the kernel works on all PFs while we wait on one. Stages 0 and 2 are
/// waits.
fn stages(plans: &[Vec<Step>]) -> [Vec<&Step>; 4] {
    let mut stages: [Vec<&Step>; 4] = [vec![], vec![], vec![], vec![]];
    for p in plans {
        let n = p
            .iter()
            .take_while(|s| matches!(s, Step::WaitSlaves { .. }))
            .count();
        stages[0].extend(&p[..n]);
        let rest = &p[n..];
        let first_wait = rest.iter().position(is_wait);
        let last_wait = rest.iter().rposition(is_wait);
        for (i, s) in rest.iter().enumerate() {
            let stage = match (first_wait, last_wait) {
                (Some(f), _) if i < f => 1,
                (Some(_), Some(l)) if i <= l => 2,
                (Some(_), _) => 3,
                (None, _) => 1,
            };
            stages[stage].push(s);
        }
    }
    stages
}

/// Executes staged steps against the observed state.
struct Executor<'a> {
    host: &'a Host,
    state: &'a HostState<'a>,
    deadline: Instant,
    log: &'a Log,
    probe_jobs: ProbeJobs,
}

impl Executor<'_> {
    fn one(&self, kernel: &mut Kernel, waiter: Option<&mut Waiter>, s: &Step) -> Result<()> {
        let pf = self
            .state
            .pf(s.pf())
            .with_context(|| format!("internal: step for unknown PF {}", s.pf()))?;
        let t0 = Instant::now();
        match waiter {
            Some(w) => exec_wait(self.host, kernel, w, self.deadline, s, pf, self.probe_jobs)?,
            None => exec(self.host, kernel, s, pf, self.probe_jobs, self.deadline)?,
        }
        self.log.step(
            s.pf().as_str(),
            s.kind(),
            &format!("{s} ({} ms)", t0.elapsed().as_millis()),
        );
        Ok(())
    }

    /// Returns (steps executed, netlink writes made by worker threads).
    fn run(
        &self,
        kernel: &mut Kernel,
        waiter: &mut Waiter,
        stages: &[Vec<&Step>; 4],
    ) -> Result<(usize, u32)> {
        let mut executed = 0;
        let mut thread_writes = 0;
        for (i, stage) in stages.iter().enumerate() {
            if i == 0 || i == 2 {
                // the waits: the kernel works on every PF meanwhile, so one after the other
                for s in stage {
                    self.one(kernel, Some(&mut *waiter), s)?;
                    executed += 1;
                }
                continue;
            }
            let (n, w) = self.side_by_side(kernel, stage)?;
            executed += n;
            thread_writes += w;
        }
        Ok((executed, thread_writes))
    }

    /// Each PF's steps in order, PFs side by side: creating 32 VFs or probing their drivers
    /// takes the kernel hundreds of ms per PF, and PFs do not depend on each other. (The
    /// kernel runs `sriov_numvfs` writes of different PFs one after the other all the same;
    /// `probe` lists what it serialises.)
    fn side_by_side(&self, kernel: &mut Kernel, stage: &[&Step]) -> Result<(usize, u32)> {
        let mut groups: Vec<(&IfName, Vec<&Step>)> = vec![];
        for s in stage {
            match groups.iter_mut().find(|(pf, _)| *pf == s.pf()) {
                Some((_, v)) => v.push(s),
                None => groups.push((s.pf(), vec![s])),
            }
        }
        if groups.len() <= 1 {
            for s in stage {
                self.one(kernel, None, s)?;
            }
            return Ok((stage.len(), 0));
        }
        let results: Vec<(usize, u32, Result<()>)> = std::thread::scope(|sc| {
            let handles: Vec<_> = groups
                .iter()
                .map(|(_, steps)| {
                    sc.spawn(move || {
                        let mut k = Kernel::new(self.host);
                        let mut n = 0;
                        let mut res = Ok(());
                        for s in steps {
                            res = self.one(&mut k, None, s);
                            if res.is_err() {
                                break;
                            }
                            n += 1;
                        }
                        (n, k.writes, res)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| (0, 0, Err(anyhow!("internal: a PF worker panicked"))))
                })
                .collect()
        });
        let (mut executed, mut writes) = (0, 0);
        let mut errors = vec![];
        for (n, w, r) in results {
            executed += n;
            writes += w;
            if let Err(e) = r {
                errors.push(format!("{e:#}"));
            }
        }
        if !errors.is_empty() {
            bail!("{}", errors.join("\n"));
        }
        Ok((executed, writes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> IfName {
        s.parse().unwrap()
    }

    #[test]
    fn enslavement_waits_are_a_stage_of_their_own_before_everything_else() {
        let wait_slaves = |pf: &str| Step::WaitSlaves {
            bond: n("bond0"),
            pf: n(pf),
            slaves: vec![n("p0"), n("p1")],
        };
        let plans: Vec<Vec<Step>> = ["p0", "p1"]
            .iter()
            .map(|pf| {
                vec![
                    wait_slaves(pf),
                    Step::Eswitch {
                        pf: n(pf),
                        mode: crate::config::EswitchMode::Switchdev,
                        modes: Default::default(),
                    },
                    Step::WaitReps {
                        pf: n(pf),
                        vfs: vec![0],
                    },
                    Step::HwTcOffload { pf: n(pf) },
                ]
            })
            .collect();
        let kinds: Vec<Vec<String>> = stages(&plans)
            .iter()
            .map(|st| {
                st.iter()
                    .map(|s| format!("{} {}", s.pf(), s.kind()))
                    .collect()
            })
            .collect();
        assert_eq!(
            kinds,
            [
                vec!["p0 wait-slaves", "p1 wait-slaves"],
                // the mode changes still run side by side
                vec!["p0 eswitch", "p1 eswitch"],
                vec!["p0 wait-representors", "p1 wait-representors"],
                vec!["p0 hw-tc-offload", "p1 hw-tc-offload"],
            ]
        );
    }
}
