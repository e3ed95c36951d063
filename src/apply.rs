//! Runs the flow: pick the PFs this invocation is about, lock them, observe, plan, execute the
//! steps in order (waits are event-driven), verify, publish the VF map and the markers.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::config::{BondConfig, Config, ProbeJobs};
use crate::host::{errno_of, Host};
use crate::kernel::Kernel;
use crate::log::Log;
use crate::marker::{self, MapEntry, PfSummary};
use crate::observe::{self, HostState, PfState};
use crate::plan::{self, Input, Phase, Refusal, Step};
use crate::probe;
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
                if opts.phase == Phase::Post {
                    if let Some(b) = cfg.bond_of(i.as_str()) {
                        let enslaved = host.netdev(i).master()?.as_ref() == Some(&b.name);
                        if !enslaved && (!opts.reapply || b.vf_lag) {
                            continue;
                        }
                    }
                }
                add(r)?;
            }
            Named::Vf { .. } | Named::Other => {}
        }
    }
    Ok(out)
}

fn bond_ctx<'c>(cfg: &'c Config, pf: &IfName) -> Option<(&'c BondConfig, usize)> {
    let b = cfg.bond_of(pf.as_str())?;
    let idx = b.slaves.iter().position(|s| s == pf)?;
    Some((b, idx))
}

fn plan_all(cfg: &Config, state: &HostState, phase: Phase, force: bool) -> Result<Vec<Vec<Step>>> {
    let mut plans = vec![];
    let mut refusals = vec![];
    for (pc, s) in &state.pfs {
        let inp = Input {
            cfg: pc,
            state: s,
            bond: bond_ctx(cfg, &s.name),
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
    let plans = plan_all(cfg, &state, opts.phase, opts.force)?;
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
    let mut kernel = Kernel::new(host);
    // subscribe before anything changes, so no event between a write and the wait is lost
    let mut waiter = Waiter::new(host)?;
    marker::clear_stale(host, cfg.boot.legacy_marker.as_deref(), log)?;
    let _locks = lock_targets(host, &targets, deadline, log)?;

    let state = observe::observe(host, &mut kernel, cfg, &targets)?;
    let plans = plan_all(cfg, &state, opts.phase, opts.force)?;
    log_nothing_to_do(&state, &plans, log);
    if opts.reapply {
        log_unenslaved(host, cfg, opts, log)?;
    }
    withdraw_if_needed(host, cfg, &plans, log)?;
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
    for s in plans.iter().flatten() {
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
        let Some(b) = cfg.bond_of(i.as_str()) else {
            continue;
        };
        if host.netdev(i).master()?.as_ref() == Some(&b.name) {
            continue;
        }
        let what = if opts.phase == Phase::Pre || !b.vf_lag {
            "its steps that do not need the bond are done"
        } else {
            "the post steps wait for it (VF LAG needs the bond)"
        };
        log.warn(&format!(
            "{i} re-appeared but is not a slave of {} again: {what}; re-enslave it with `ifup {}` (ifupdown2: `ifreload -a`), whose post-up finishes the work",
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
    matches!(s, Step::WaitLag { .. } | Step::WaitReps { .. })
}

/// Stages the steps so that PFs progress together: everything before the waits on every PF,
/// then the waits, then the rest — the kernel works on all PFs while we wait on one.
fn stages(plans: &[Vec<Step>]) -> [Vec<&Step>; 3] {
    let mut stages: [Vec<&Step>; 3] = [vec![], vec![], vec![]];
    for p in plans {
        let first_wait = p.iter().position(is_wait);
        let last_wait = p.iter().rposition(is_wait);
        for (i, s) in p.iter().enumerate() {
            let stage = match (first_wait, last_wait) {
                (Some(f), _) if i < f => 0,
                (Some(_), Some(l)) if i <= l => 1,
                (Some(_), _) => 2,
                (None, _) => 0,
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
            None => exec(self.host, kernel, s, pf, self.probe_jobs)?,
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
        stages: &[Vec<&Step>; 3],
    ) -> Result<(usize, u32)> {
        let mut executed = 0;
        let mut thread_writes = 0;
        for (i, stage) in stages.iter().enumerate() {
            if i == 1 {
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

/// A second look. On a real kernel it must find nothing left to do for the targets
/// (verification). After post it also decides the ready marker, which needs every configured
/// PF: one look at all of them serves both.
#[allow(clippy::too_many_arguments)]
fn verify_and_publish(
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
    let plans = plan_all(cfg, &state, opts.phase, true)?;
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
                mac,
                reserved: pc.reserved_vfs.contains(&(v.index as u16)),
            });
        }
        summary.push(PfSummary {
            name: s.name.clone(),
            device: s.dev_name.clone(),
            vfs: s.numvfs,
            eswitch: s.eswitch.map(|m| m.to_string()),
            representors: s.reps.len(),
            bound: s.vfs.iter().filter(|v| v.driver.is_some()).count(),
        });
    }
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

fn exec(
    host: &Host,
    kernel: &mut Kernel,
    step: &Step,
    pf: &PfState,
    probe_jobs: ProbeJobs,
) -> Result<()> {
    let nd = host.netdev(&pf.name);
    match step {
        Step::Autoprobe { on, .. } => nd.physical_device()?.set_autoprobe(*on),
        Step::NumVfs { count, .. } => {
            let r = nd.physical_device()?.set_numvfs(*count);
            if let Err(e) = &r {
                if errno_of(e) == Some(nix::errno::Errno::EBUSY as i32) {
                    return r.context(format!(
                        "{}: the kernel refused to change the VF count (EBUSY): VFs still exist or a VF driver holds them",
                        pf.name
                    ));
                }
            }
            r.with_context(|| format!("{}: setting {count} VFs", pf.name))
        }
        Step::Unbind { vf, driver, .. } => {
            let dev = nd.physical_device()?.vf(*vf)?;
            host.pci_driver(driver)
                .unbind(&dev)
                .with_context(|| format!("{}: VF {vf}", pf.name))
        }
        Step::Eswitch { mode, .. } => {
            kernel.set_eswitch_mode(pf.eswitch_source.as_ref(), &pf.devlink(), &nd, *mode)
        }
        Step::VfProps { vf, cfg, .. } => kernel.set_vf(&pf.name, *vf, cfg),
        Step::WaitLag { .. } | Step::WaitReps { .. } => {
            bail!("internal: a wait step outside the wait stage: {step}")
        }
        Step::Guid {
            device,
            vf,
            kind,
            guid,
            ..
        } => host.ib_device(device).set_guid(*vf, *kind, *guid),
        Step::Bind { vfs, driver, .. } => {
            host.pci_driver(driver)
                .require_loaded()
                .with_context(|| format!("{}: cannot bind VFs to {driver}", pf.name))?;
            // each VF's override + probe is a job of the PF's pool; `probe` says what the
            // kernel serialises
            let dev = nd.physical_device()?;
            let jobs = probe::jobs(host, &dev, probe_jobs);
            probe::bind_vfs(&dev, vfs, driver, jobs.n)
                .with_context(|| format!("{} ({})", pf.name, jobs.why))
        }
        Step::HwTcOffload { .. } => {
            let on = |k: &mut Kernel, ifname: &IfName| {
                k.set_feature(ifname, "hw-tc-offload", true)
                    .with_context(|| format!("{ifname}: enabling hw-tc-offload"))
            };
            if kernel.feature(&pf.name, "hw-tc-offload")? != Some(true) {
                on(kernel, &pf.name)?;
            }
            // representors as they are now: this run may have created them
            for rep in observe::current_reps(host, kernel, pf)?.values() {
                if let Some(f) = kernel.feature_state(rep, "hw-tc-offload")? {
                    if f.changeable && !f.active {
                        on(kernel, rep)?;
                    }
                }
            }
            Ok(())
        }
    }
}

fn exec_wait(
    host: &Host,
    kernel: &mut Kernel,
    waiter: &mut Waiter,
    deadline: Instant,
    step: &Step,
    pf: &PfState,
    probe_jobs: ProbeJobs,
) -> Result<()> {
    match step {
        Step::WaitLag { bond, .. } => {
            let path = host.mlx5_lag_state_file(&pf.dev_name);
            waiter.until(
                &format!("VF LAG of {bond} on {}", pf.name),
                deadline,
                || {
                    let st = host.mlx5_lag_state(&pf.dev_name)?;
                    Ok((st.as_deref() != Some("active")).then(|| {
                        vec![format!(
                            "{} reads {}",
                            path.display(),
                            st.map_or(
                                "nothing (file absent: debugfs not mounted or not an mlx5 PF)"
                                    .into(),
                                |s| format!("{s:?}")
                            )
                        )]
                    }))
                },
            )
        }
        Step::WaitReps { vfs, .. } => {
            waiter.until(&format!("representors of {}", pf.name), deadline, || {
                let reps = observe::current_reps(host, kernel, pf)?;
                let missing: Vec<String> = vfs
                    .iter()
                    .filter(|v| !reps.contains_key(v))
                    .map(|v| format!("representor of VF {v}"))
                    .collect();
                Ok((!missing.is_empty()).then_some(missing))
            })
        }
        _ => exec(host, kernel, step, pf, probe_jobs),
    }
}
