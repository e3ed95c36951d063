//! Runs the flow: pick the PFs this invocation is about, lock them, observe, plan, execute the
//! steps in order (waits are event-driven), verify, publish the VF map and the markers.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::config::{BondConfig, Config, PfConfig};
use crate::host::{errno_of, Host};
use crate::kernel::Kernel;
use crate::log::Log;
use crate::marker::{self, MapEntry, PfSummary};
use crate::observe::{self, GuidKind, PfState};
use crate::plan::{self, Extra, Input, Phase, Refusal, Step};

#[derive(Clone, Debug)]
pub struct Options {
    pub phase: Phase,
    pub force: bool,
    pub dry_run: bool,
    /// Interfaces named on the command line or by ifupdown's `$IFACE`; empty = all configured.
    pub ifaces: Vec<String>,
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

struct Target<'c> {
    cfg: &'c PfConfig,
    name: String,
}

/// Resolves every configured PF to its netdev name. A configured PF that is absent is an
/// error when it is targeted: boot ordering should have waited for the device.
fn resolve<'c>(host: &Host, cfg: &'c Config) -> Result<Vec<(&'c PfConfig, Option<String>)>> {
    cfg.pfs
        .iter()
        .map(|p| Ok((p, observe::resolve_pf(host, &p.matcher)?)))
        .collect()
}

fn select<'c>(
    host: &Host,
    cfg: &'c Config,
    resolved: &[(&'c PfConfig, Option<String>)],
    opts: &Options,
) -> Result<Vec<Target<'c>>> {
    let ifaces = &opts.ifaces;
    let missing = |p: &PfConfig| {
        anyhow!(
            "configured PF ({}, {}) is not on this host: no such interface",
            p.matcher,
            p.origin
        )
    };
    let mut out: Vec<Target> = vec![];
    let mut add = |p: &'c PfConfig, n: &Option<String>| -> Result<()> {
        let name = n.clone().ok_or_else(|| missing(p))?;
        if !out.iter().any(|t| t.name == name) {
            out.push(Target { cfg: p, name });
        }
        Ok(())
    };
    if ifaces.is_empty() {
        for (p, n) in resolved {
            add(p, n)?;
        }
        return Ok(out);
    }
    for i in ifaces {
        if let Some(b) = cfg.bonds.iter().find(|b| b.name.as_str() == i) {
            for s in &b.slaves {
                let (p, n) = resolved
                    .iter()
                    .find(|(p, n)| {
                        n.as_deref() == Some(s.as_str())
                            || matches!(&p.matcher, crate::config::PfMatch::Name(m) if m == s)
                    })
                    .ok_or_else(|| {
                        anyhow!(
                            "bond {} ({}): slave {s} is not a configured [[pf]]",
                            b.name,
                            b.origin
                        )
                    })?;
                add(p, n)?;
            }
        } else if let Some((p, n)) = resolved.iter().find(|(_, n)| n.as_deref() == Some(i)) {
            // ifupdown2 brings a bond's slaves up before the bond: a slave's post-up is too
            // early for the bond's post steps (LAG, mode after bond). The bond's own post-up
            // does them; until it is enslaved, the slave's post-up is not ours.
            if opts.phase == Phase::Post {
                if let Some(b) = cfg.bond_of(i) {
                    let master = host.link_name(&host.sys(format!("class/net/{i}/master")))?;
                    if master.as_deref() != Some(b.name.as_str()) {
                        continue;
                    }
                }
            }
            add(p, n)?;
        }
    }
    Ok(out)
}

fn bond_ctx<'c>(cfg: &'c Config, pf: &str) -> Option<(&'c BondConfig, usize)> {
    let b = cfg.bond_of(pf)?;
    let idx = b.slaves.iter().position(|s| s.as_str() == pf)?;
    Some((b, idx))
}

fn gather_extra(
    host: &Host,
    kernel: &mut Kernel,
    cfg: &Config,
    states: &[(&PfConfig, PfState)],
) -> Result<Extra> {
    let mut x = Extra {
        hostname: host.hostname().unwrap_or_default(),
        ..Extra::default()
    };
    for (pc, s) in states {
        if !pc.vf.is_empty() {
            if let Some(info) = kernel.vf_info(&s.name)? {
                x.vf_info.insert(s.name.clone(), info);
            }
        }
        if pc.hw_tc_offload && host.is_real() {
            // a PF without the feature reads as "off": enabling it then fails, naming it
            let on = kernel.feature(&s.name, "hw-tc-offload")?.unwrap_or(false);
            x.hw_tc.insert(s.name.clone(), on);
            for rep in s.reps.values() {
                if let Some(f) = kernel.feature_state(rep, "hw-tc-offload")? {
                    if f.supported() {
                        x.hw_tc.insert(rep.clone(), f.active);
                    }
                }
            }
        }
        if let Some((b, _)) = bond_ctx(cfg, &s.name) {
            if b.vf_lag {
                let st = observe::lag_state(host, &s.dev_name)?;
                x.lag_active
                    .insert(s.name.clone(), st.as_deref() == Some("active"));
            }
            if let Some(ib) = &b.ib {
                for vf in 0..s.numvfs {
                    for kind in [GuidKind::Node, GuidKind::Port] {
                        if let Some(g) = observe::ib_guid(host, &ib.device, vf, kind)? {
                            x.guids.insert((ib.device.clone(), vf, kind), g);
                        }
                    }
                }
            }
        }
    }
    Ok(x)
}

fn observe_all<'c>(
    host: &Host,
    kernel: &mut Kernel,
    targets: &[Target<'c>],
) -> Result<Vec<(&'c PfConfig, PfState)>> {
    targets
        .iter()
        .map(|t| Ok((t.cfg, observe::observe_pf(host, kernel, &t.name)?)))
        .collect()
}

fn plan_all(
    cfg: &Config,
    states: &[(&PfConfig, PfState)],
    extra: &Extra,
    phase: Phase,
    force: bool,
) -> Result<Vec<Vec<Step>>> {
    let mut plans = vec![];
    let mut refusals = vec![];
    for (pc, s) in states {
        let inp = Input {
            cfg: pc,
            state: s,
            bond: bond_ctx(cfg, &s.name),
        };
        match plan::plan_pf(&inp, extra, phase, force) {
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
    let resolved = resolve(host, cfg)?;
    let targets = select(host, cfg, &resolved, opts)?;
    if targets.is_empty() {
        return Ok(Report {
            not_ours: !opts.ifaces.is_empty(),
            ..Report::default()
        });
    }
    let states = observe_all(host, &mut kernel, &targets)?;
    let extra = gather_extra(host, &mut kernel, cfg, &states)?;
    let plans = plan_all(cfg, &states, &extra, opts.phase, opts.force)?;
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
    let resolved = resolve(host, cfg);
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
        if let Err(me) = marker::write_failed(host, &format!("{e:#}"), legacy) {
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
    resolved: &[(&PfConfig, Option<String>)],
) -> Result<Report> {
    let start = Instant::now();
    let deadline = start + cfg.timeout;
    let targets = select(host, cfg, resolved, opts)?;
    let mut kernel = Kernel::new(host);
    // subscribe before anything changes, so no event between a write and the wait is lost
    let mut waiter = crate::wait::Waiter::new(host)?;
    marker::clear_stale(host, cfg.boot.legacy_marker.as_deref())?;

    let devices: Vec<String> = targets
        .iter()
        .map(|t| {
            std::fs::canonicalize(host.sys(format!("class/net/{}/device", t.name)))
                .ok()
                .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
                .unwrap_or_else(|| t.name.clone())
        })
        .collect();
    let _locks = crate::lock::lock_all(host, &devices, |d| {
        log.info(&format!("{d}: another run holds the lock, waiting for it"))
    })?;

    let states = observe_all(host, &mut kernel, &targets)?;
    let extra = gather_extra(host, &mut kernel, cfg, &states)?;
    let plans = plan_all(cfg, &states, &extra, opts.phase, opts.force)?;
    let by_name: BTreeMap<String, &PfState> =
        states.iter().map(|(_, s)| (s.name.clone(), s)).collect();
    for (_, s) in &states {
        if plans.iter().flatten().all(|st| st.pf() != s.name) {
            log.skipped(
                &s.name,
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

    // Stage the steps so that PFs progress together: everything before the waits on every PF,
    // then the waits, then the rest — the kernel works on all PFs while we wait on one.
    let mut stages: [Vec<&Step>; 3] = [vec![], vec![], vec![]];
    for p in &plans {
        let first_wait = p
            .iter()
            .position(|s| matches!(s, Step::WaitLag { .. } | Step::WaitReps { .. }));
        let last_wait = p
            .iter()
            .rposition(|s| matches!(s, Step::WaitLag { .. } | Step::WaitReps { .. }));
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
    let find_pf = |s: &Step| -> Result<&PfState> {
        by_name
            .get(s.pf())
            .copied()
            .with_context(|| format!("internal: step for unknown PF {}", s.pf()))
    };
    let run_one = |kernel: &mut Kernel, waiter: Option<&mut crate::wait::Waiter>, s: &Step| {
        let pf = find_pf(s)?;
        let t0 = Instant::now();
        match waiter {
            Some(w) => exec_wait(host, kernel, w, deadline, s, pf)?,
            None => exec(host, kernel, s, pf)?,
        }
        log.step(
            s.pf(),
            s.kind(),
            &format!("{s} ({} ms)", t0.elapsed().as_millis()),
        );
        anyhow::Ok(())
    };
    let mut executed = 0;
    let mut thread_writes = 0;
    for (i, stage) in stages.iter().enumerate() {
        if i == 1 {
            // the waits: the kernel works on every PF meanwhile, so one after the other
            for s in stage {
                run_one(&mut kernel, Some(&mut waiter), s)?;
                executed += 1;
            }
            continue;
        }
        // Each PF's steps in order, PFs side by side: creating 32 VFs or probing their
        // drivers takes the kernel hundreds of ms per PF, and PFs do not depend on each other.
        let mut groups: Vec<(&str, Vec<&Step>)> = vec![];
        for s in stage {
            match groups.iter_mut().find(|(pf, _)| *pf == s.pf()) {
                Some((_, v)) => v.push(s),
                None => groups.push((s.pf(), vec![s])),
            }
        }
        if groups.len() <= 1 {
            for s in stage {
                run_one(&mut kernel, None, s)?;
                executed += 1;
            }
            continue;
        }
        let results: Vec<(usize, u32, Result<()>)> = std::thread::scope(|sc| {
            let handles: Vec<_> = groups
                .iter()
                .map(|(_, steps)| {
                    let run_one = &run_one;
                    sc.spawn(move || {
                        let mut k = Kernel::new(host);
                        let mut n = 0;
                        let mut res = Ok(());
                        for s in steps {
                            res = run_one(&mut k, None, s);
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
        let mut errors = vec![];
        for (n, w, r) in results {
            executed += n;
            thread_writes += w;
            if let Err(e) = r {
                errors.push(format!("{e:#}"));
            }
        }
        if !errors.is_empty() {
            bail!("{}", errors.join("\n"));
        }
    }

    // A second look. On a real kernel it must find nothing left to do for the targets
    // (verification). After post it also decides the ready marker, which needs every
    // configured PF: one look at all of them serves both.
    let all: Option<Vec<Target>> = resolved
        .iter()
        .map(|(p, n)| n.clone().map(|name| Target { cfg: p, name }))
        .collect();
    let look: &[Target] = match (&all, opts.phase) {
        (Some(all), Phase::Post) => all,
        _ => &targets,
    };
    let verify = host.is_real() && executed > 0;
    let mut ready = false;
    if verify || opts.phase == Phase::Post {
        let states2 = observe_all(host, &mut kernel, look)?;
        let extra2 = gather_extra(host, &mut kernel, cfg, &states2)?;
        let plans2 = plan_all(cfg, &states2, &extra2, opts.phase, true)?;
        let is_target = |name: &str| targets.iter().any(|t| t.name == name);
        let left: Vec<String> = states2
            .iter()
            .zip(&plans2)
            .filter(|((_, st), _)| is_target(&st.name))
            .flat_map(|(_, p)| p.iter().map(|s| s.to_string()))
            .collect();
        if verify && !left.is_empty() {
            bail!(
                "after applying, the host still differs from the config: {}",
                left.join("; ")
            );
        }
        if opts.phase == Phase::Post {
            ready = match &all {
                None => {
                    log.info("not marking ready: a configured PF is not present yet");
                    false
                }
                Some(_) => publish(host, cfg, &states2, &extra2, &plans2, log)?,
            };
        }
    }
    Ok(Report {
        not_ours: false,
        planned: plans.into_iter().flatten().collect(),
        executed,
        writes: host.writes() + kernel.writes + thread_writes,
        elapsed: start.elapsed(),
        ready,
    })
}

/// When every configured PF is fully configured (`plans` all empty), publishes the VF map
/// and the ready marker.
fn publish(
    host: &Host,
    cfg: &Config,
    states: &[(&PfConfig, PfState)],
    extra: &Extra,
    plans: &[Vec<Step>],
    log: &Log,
) -> Result<bool> {
    if let Some((s, p)) = states.iter().zip(plans).find(|(_, p)| !p.is_empty()) {
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
    for (pc, s) in states {
        let info = extra.vf_info.get(&s.name);
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
    if marker::write_ready(host, summary, cfg.boot.legacy_marker.as_deref())? {
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

fn vf_pci(host: &Host, pf: &PfState, vf: u32) -> Result<String> {
    host.link_name(&pf.device.join(format!("virtfn{vf}")))?
        .with_context(|| {
            format!(
                "{}: VF {vf} does not exist ({} is missing)",
                pf.name,
                pf.device.join(format!("virtfn{vf}")).display()
            )
        })
}

fn exec(host: &Host, kernel: &mut Kernel, step: &Step, pf: &PfState) -> Result<()> {
    match step {
        Step::Autoprobe { on, .. } => host.write(
            &pf.device.join("sriov_drivers_autoprobe"),
            if *on { "1" } else { "0" },
        ),
        Step::NumVfs { count, .. } => {
            let r = host.write(&pf.device.join("sriov_numvfs"), &count.to_string());
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
            let pci = vf_pci(host, pf, *vf)?;
            host.write(&host.sys(format!("bus/pci/drivers/{driver}/unbind")), &pci)
                .with_context(|| format!("{}: unbinding VF {vf} ({pci}) from {driver}", pf.name))
        }
        Step::Eswitch { mode, .. } => kernel.set_eswitch_mode(
            host,
            pf.eswitch_source.as_ref(),
            &pf.bus,
            &pf.dev_name,
            &pf.name,
            *mode,
        ),
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
        } => host.write(
            &observe::ib_guid_path(host, device, *vf, *kind),
            &guid.to_string(),
        ),
        Step::Bind { vfs, driver, .. } => {
            let drv = host.sys(format!("bus/pci/drivers/{driver}"));
            if !host.exists(&drv) {
                bail!(
                    "{}: cannot bind VFs to {driver}: the driver is not loaded ({} is missing)",
                    pf.name,
                    drv.display()
                );
            }
            for vf in vfs {
                bind_vf(host, pf, *vf, driver)?;
            }
            Ok(())
        }
        Step::HwTcOffload { .. } => {
            let on = |k: &mut Kernel, ifname: &str| {
                k.set_feature(ifname, "hw-tc-offload", true)
                    .with_context(|| format!("{ifname}: enabling hw-tc-offload"))
            };
            if kernel.feature(&pf.name, "hw-tc-offload")? != Some(true) {
                on(kernel, &pf.name)?;
            }
            // representors as they are now: this run may have created them
            for rep in current_reps(host, kernel, pf)?.values() {
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

/// Binds one VF with autoprobe off: `driver_override` makes the kernel allow the probe, the
/// probe is synchronous, then the override is cleared so later rebinds (libvirt, driverctl)
/// behave as usual.
fn bind_vf(host: &Host, pf: &PfState, vf: u32, driver: &str) -> Result<()> {
    let pci = vf_pci(host, pf, vf)?;
    let dev = host.sys(format!("bus/pci/devices/{pci}"));
    let ctx = || format!("{}: binding VF {vf} ({pci}) to {driver}", pf.name);
    host.write(&dev.join("driver_override"), driver)
        .with_context(ctx)?;
    let probe = host.write(&host.sys("bus/pci/drivers_probe"), &pci);
    let clear = host.write(&dev.join("driver_override"), "\n");
    probe.with_context(ctx)?;
    clear.with_context(ctx)?;
    if host.is_real() {
        let now = host.link_name(&dev.join("driver"))?;
        if now.as_deref() != Some(driver) {
            bail!(
                "{}: VF {vf} ({pci}) did not bind to {driver} (driver now: {}); the kernel log says why",
                pf.name,
                now.as_deref().unwrap_or("none")
            );
        }
    }
    Ok(())
}

fn exec_wait(
    host: &Host,
    kernel: &mut Kernel,
    waiter: &mut crate::wait::Waiter,
    deadline: Instant,
    step: &Step,
    pf: &PfState,
) -> Result<()> {
    match step {
        Step::WaitLag { bond, .. } => {
            let path = observe::lag_state_path(host, &pf.dev_name);
            waiter.until(
                &format!("VF LAG of {bond} on {}", pf.name),
                deadline,
                || {
                    let st = observe::lag_state(host, &pf.dev_name)?;
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
                let reps = current_reps(host, kernel, pf)?;
                let missing: Vec<String> = vfs
                    .iter()
                    .filter(|v| !reps.contains_key(v))
                    .map(|v| format!("representor of VF {v}"))
                    .collect();
                Ok((!missing.is_empty()).then_some(missing))
            })
        }
        _ => exec(host, kernel, step, pf),
    }
}

/// A PF's representors as they are now: devlink's port list, or (no devlink) sysfs with the
/// PF's switch id re-read, since it can appear only with switchdev.
fn current_reps(host: &Host, kernel: &mut Kernel, pf: &PfState) -> Result<BTreeMap<u32, String>> {
    if let Some(r) = kernel.vf_representors(&pf.bus, &pf.dev_name)? {
        return Ok(r);
    }
    let mut p = pf.clone();
    p.netdev = observe::netdev(host, &pf.name)?;
    observe::representors(host, &p)
}
