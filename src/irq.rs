//! `irq-tune`: NUMA-local IRQ affinity and XPS, plus channels, rings and the RSS hash function,
//! for configured PFs and the netdevs of their VFs.
//!
//! observe (sysfs, procfs, ethtool netlink on a real kernel) → [`plan_device`] (pure, what
//! `--dry-run` prints) → apply (write only what differs). Decisions:
//! - Local CPUs: `local_cpulist` of the PCI function (else its NUMA node's `cpulist`) ∩ online
//!   CPUs; `numa_node` -1 (no locality from firmware) or no local CPU online → all online CPUs,
//!   and the plan says why.
//! - Queue IRQs: the function's `msi_irqs/` matched by name in /proc/interrupts: mlx5
//!   `mlx5_comp<N>@pci:<BDF>`, Intel `[<drv>-]<ifname>-TxRx-N` / `-rx-N` / `-tx-N`. Control and
//!   misc vectors (`mlx5_async…`, bare `<ifname>`) are left alone.
//! - Queue N (its rx and tx vectors alike) goes to local CPU number `(N + offset) % count`, one
//!   CPU each; the offset is 0 for a PF and the VF index for a VF, so every device's placement
//!   depends on that device alone (a udev run for one VF plans what a full run plans for it).
//! - XPS: `tx-N` → the CPU of queue N's IRQ. Managed IRQs (debugfs says `IRQD_AFFINITY_MANAGED`,
//!   or the write fails with EIO) keep the kernel's placement: a warning, not a failure.
//! - Channels, rings, RSS only through the kernel (ethtool netlink, `SIOCETHTOOL` for the hash
//!   function), so only when `Host::is_real`; clamped to the maxima the device reports.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::cli::{self, Common, AFTER_HELP, EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::config::{ChannelsSetting, Config, RingsSetting};
use crate::cpuset::{format_cpulist, format_cpumask, show, CpuSet};
use crate::host::{errno_of, Host};
use crate::kernel::Kernel;
use crate::log::Log;
use crate::netlink::{Channels, ChannelsSet, Hfunc};
use crate::observe::irq::{observe_device, observe_kernel, read_interrupts, Cpus, Device};
pub use crate::select::irq::{targets, Role, Settings, Target};
use crate::types::IfName;

const EIO: i32 = 5;

// ---------------------------------------------------------------------------------------------
// Plan

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Channels {
        ifname: IfName,
        /// (from, to) per kind changed.
        combined: Option<(u32, u32)>,
        rx: Option<(u32, u32)>,
        tx: Option<(u32, u32)>,
    },
    Rings {
        ifname: IfName,
        rx: Option<(u32, u32)>,
        tx: Option<(u32, u32)>,
    },
    Hfunc {
        ifname: IfName,
        from: Option<Hfunc>,
        to: Hfunc,
    },
    Affinity {
        ifname: IfName,
        irq: u32,
        name: String,
        from: CpuSet,
        to: CpuSet,
    },
    Xps {
        ifname: IfName,
        queue: u32,
        from: CpuSet,
        to: CpuSet,
        /// What is written to `xps_cpus`.
        mask: String,
    },
}

impl Step {
    pub fn ifname(&self) -> &IfName {
        match self {
            Step::Channels { ifname, .. }
            | Step::Rings { ifname, .. }
            | Step::Hfunc { ifname, .. }
            | Step::Affinity { ifname, .. }
            | Step::Xps { ifname, .. } => ifname,
        }
    }

    /// Short name for the journal's `SRIOV_STEP=` field.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Channels { .. } => "channels",
            Step::Rings { .. } => "rings",
            Step::Hfunc { .. } => "rss-hfunc",
            Step::Affinity { .. } => "irq-affinity",
            Step::Xps { .. } => "xps",
        }
    }
}

fn from_to(name: &str, v: Option<(u32, u32)>) -> Option<String> {
    v.map(|(a, b)| format!("{name} {a} -> {b}"))
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Channels {
                ifname,
                combined,
                rx,
                tx,
            } => {
                let parts: Vec<String> = [
                    from_to("combined", *combined),
                    from_to("rx", *rx),
                    from_to("tx", *tx),
                ]
                .into_iter()
                .flatten()
                .collect();
                write!(f, "{ifname}: channels {}", parts.join(", "))
            }
            Step::Rings { ifname, rx, tx } => {
                let parts: Vec<String> = [from_to("rx", *rx), from_to("tx", *tx)]
                    .into_iter()
                    .flatten()
                    .collect();
                write!(f, "{ifname}: rings {}", parts.join(", "))
            }
            Step::Hfunc { ifname, from, to } => {
                let from = from.map_or("none".to_string(), |h| h.to_string());
                write!(f, "{ifname}: rss hfunc {from} -> {to}")
            }
            Step::Affinity {
                ifname,
                irq,
                name,
                from,
                to,
            } => write!(
                f,
                "{ifname}: irq {irq} {name} affinity {} -> {}",
                show(from),
                show(to)
            ),
            Step::Xps {
                ifname,
                queue,
                from,
                to,
                mask,
            } => write!(
                f,
                "{ifname}: tx-{queue} xps_cpus {} -> {} ({mask})",
                show(from),
                show(to)
            ),
        }
    }
}

/// What to do for one device: comment lines (decisions, things left alone and why) and steps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevicePlan {
    pub notes: Vec<String>,
    pub steps: Vec<Step>,
}

/// Channels, rings and RSS (needs the kernel's answers: nothing is planned without them).
pub fn plan_kernel(dev: &Device, s: &Settings) -> DevicePlan {
    let mut p = DevicePlan {
        notes: vec![],
        steps: vec![],
    };
    let ifname = &dev.target.ifname;
    let Some(k) = &dev.kernel else {
        if s.wants_kernel() {
            p.notes.push(format!(
                "{ifname}: channels, rings and RSS not planned: no kernel behind a fixture tree"
            ));
        }
        return p;
    };
    if let (Some(want), Some(state)) = (s.channels, &k.channels) {
        match state {
            Err(why) => p
                .notes
                .push(format!("{ifname}: channels left alone: {why}")),
            Ok(c) => plan_channels(&mut p, ifname, want, dev.local.cpus.len() as u32, c),
        }
    }
    if let (Some(want), Some(state)) = (s.rings, &k.rings) {
        match state {
            Err(why) => p.notes.push(format!("{ifname}: rings left alone: {why}")),
            Ok(r) => {
                let target = |cur: u32, max: u32, what: &str, notes: &mut Vec<String>| {
                    if max == 0 {
                        return None;
                    }
                    let to = match want {
                        RingsSetting::Max => max,
                        RingsSetting::Count(n) if n > max => {
                            notes.push(format!(
                                "{ifname}: {what} ring {n} clamped to the device maximum {max}"
                            ));
                            max
                        }
                        RingsSetting::Count(n) => n,
                    };
                    (to != cur).then_some((cur, to))
                };
                let rx = target(r.rx, r.rx_max, "rx", &mut p.notes);
                let tx = target(r.tx, r.tx_max, "tx", &mut p.notes);
                if rx.is_some() || tx.is_some() {
                    p.steps.push(Step::Rings {
                        ifname: ifname.clone(),
                        rx,
                        tx,
                    });
                }
            }
        }
    }
    if let (Some(want), Some(state)) = (s.hfunc, &k.hfunc) {
        match state {
            Err(why) => p
                .notes
                .push(format!("{ifname}: RSS hash left alone: {why}")),
            Ok(cur) if *cur == Some(want) => {}
            Ok(cur) => p.steps.push(Step::Hfunc {
                ifname: ifname.clone(),
                from: *cur,
                to: want,
            }),
        }
    }
    p
}

fn plan_channels(
    p: &mut DevicePlan,
    ifname: &IfName,
    want: ChannelsSetting,
    local: u32,
    c: &Channels,
) {
    let (n, why) = match want {
        ChannelsSetting::NumaLocal => (local, "local CPUs"),
        ChannelsSetting::Count(n) => (n, "configured"),
    };
    let mut clamp = |max: u32, what: &str| {
        if n > max {
            p.notes.push(format!(
                "{ifname}: {n} {what} channels ({why}) clamped to the device maximum {max}"
            ));
            max
        } else {
            n
        }
    };
    let step = if c.combined_max > 0 {
        let to = clamp(c.combined_max, "combined");
        (to != c.combined).then(|| Step::Channels {
            ifname: ifname.clone(),
            combined: Some((c.combined, to)),
            rx: None,
            tx: None,
        })
    } else if c.rx_max > 0 && c.tx_max > 0 {
        let rx = clamp(c.rx_max, "rx");
        let tx = clamp(c.tx_max, "tx");
        (rx != c.rx || tx != c.tx).then(|| Step::Channels {
            ifname: ifname.clone(),
            combined: None,
            rx: (rx != c.rx).then_some((c.rx, rx)),
            tx: (tx != c.tx).then_some((c.tx, tx)),
        })
    } else {
        p.notes.push(format!(
            "{ifname}: channels left alone: the device reports no channel maxima"
        ));
        None
    };
    p.steps.extend(step);
}

/// IRQ affinity and XPS from the observed vectors. Pure.
pub fn plan_irqs(dev: &Device, s: &Settings) -> DevicePlan {
    let t = &dev.target;
    let ifname = &t.ifname;
    let mut p = DevicePlan {
        notes: vec![],
        steps: vec![],
    };
    let role = match &t.role {
        Role::Pf => format!("PF {}", t.pci),
        Role::Vf { pf, index } => format!("VF {index} of {pf}, {}", t.pci),
    };
    let queues: BTreeSet<u32> = dev.irqs.iter().map(|i| i.queue).collect();
    p.notes.push(format!(
        "{ifname} ({role}): local CPUs {} ({}); {} queue vector(s) for {} queue(s), {} other vector(s) left alone",
        show(&dev.local.cpus),
        dev.local.source,
        dev.irqs.len(),
        queues.len(),
        dev.other.len()
    ));
    if let Some(why) = &dev.local.fallback {
        p.notes
            .push(format!("{ifname}: using all online CPUs: {why}"));
    }
    if dev.irqs.is_empty() {
        p.notes.push(format!(
            "{ifname}: no queue vectors in /proc/interrupts (drivers such as igb request them when the link is set up)"
        ));
        return p;
    }
    if !s.affinity && !s.xps {
        return p;
    }
    let local: Vec<u32> = dev.local.cpus.iter().copied().collect();
    let offset = match t.role {
        Role::Pf => 0,
        Role::Vf { index, .. } => index,
    };
    // the CPU(s) each queue's vectors end up on, for XPS
    let mut placed: BTreeMap<u32, CpuSet> = BTreeMap::new();
    for i in &dev.irqs {
        let cur = i.affinity.clone();
        let target = if !s.affinity || i.managed {
            if s.affinity {
                p.notes.push(format!(
                    "{ifname}: irq {} {} is managed by the kernel: affinity left at {}",
                    i.irq,
                    i.name,
                    cur.as_ref().map_or("unknown".into(), show)
                ));
            }
            cur.clone().unwrap_or_default()
        } else {
            let cpu = local[((i.queue + offset) as usize) % local.len()];
            let to = CpuSet::from([cpu]);
            match &cur {
                None => p.notes.push(format!(
                    "{ifname}: irq {} {} has no smp_affinity_list: left alone",
                    i.irq, i.name
                )),
                Some(c) if *c == to => {}
                Some(c) => p.steps.push(Step::Affinity {
                    ifname: ifname.clone(),
                    irq: i.irq,
                    name: i.name.clone(),
                    from: c.clone(),
                    to: to.clone(),
                }),
            }
            to
        };
        if i.kind.has_tx() && !target.is_empty() {
            placed.entry(i.queue).or_default().extend(target);
        }
    }
    if s.xps {
        for (q, to) in placed {
            let Some(cur) = dev.xps.get(&q) else {
                continue;
            };
            if *cur != to {
                p.steps.push(Step::Xps {
                    ifname: ifname.clone(),
                    queue: q,
                    from: cur.clone(),
                    mask: format_cpumask(&to, dev.nbits),
                    to,
                });
            }
        }
    }
    p
}

/// The whole plan for a device: kernel settings first (a channel change may re-create the
/// vectors), then IRQs and XPS.
pub fn plan_device(dev: &Device) -> DevicePlan {
    let s = &dev.target.settings;
    let mut p = plan_irqs(dev, s);
    let k = plan_kernel(dev, s);
    p.notes.extend(k.notes);
    let mut steps = k.steps;
    steps.extend(p.steps);
    p.steps = steps;
    p
}

// ---------------------------------------------------------------------------------------------
// Apply

/// How a step ended that did not fail the run.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Not done, and that is fine (managed IRQ): the message says why.
    Warned(String),
}

/// Runs a file step (affinity, XPS).
pub fn apply_file_step(host: &Host, step: &Step) -> Result<Outcome> {
    match step {
        Step::Affinity { irq, name, to, .. } => affinity_outcome(
            *irq,
            name,
            host.irq(*irq).set_affinity_list(&format_cpulist(to)),
        ),
        Step::Xps {
            ifname,
            queue,
            mask,
            ..
        } => host
            .netdev(ifname)
            .set_xps_cpus(*queue, mask)
            .map(|()| Outcome::Done),
        _ => bail!("{step}: not a file step"),
    }
}

/// EIO on an affinity write is the kernel keeping a managed IRQ: a warning, not a failure.
fn affinity_outcome(irq: u32, name: &str, r: Result<()>) -> Result<Outcome> {
    match r {
        Ok(()) => Ok(Outcome::Done),
        Err(e) if errno_of(&e) == Some(EIO) => Ok(Outcome::Warned(format!(
            "irq {irq} {name}: the kernel refused a new affinity (EIO: a managed IRQ, the kernel places it): {e:#}"
        ))),
        Err(e) => Err(e),
    }
}

fn apply_kernel_step(eth: &mut Kernel, step: &Step) -> Result<()> {
    match step {
        Step::Channels {
            ifname,
            combined,
            rx,
            tx,
        } => eth.set_channels(
            ifname,
            &ChannelsSet {
                combined: combined.map(|c| c.1),
                rx: rx.map(|c| c.1),
                tx: tx.map(|c| c.1),
                other: None,
            },
        ),
        Step::Rings { ifname, rx, tx } => eth.set_rings(ifname, rx.map(|r| r.1), tx.map(|t| t.1)),
        Step::Hfunc { ifname, to, .. } => eth.set_rss_hfunc(ifname, *to),
        _ => bail!("{step}: not a kernel step"),
    }
}

pub struct Options {
    pub dry_run: bool,
    pub ifaces: Vec<IfName>,
}

#[derive(Debug, Default)]
pub struct Report {
    /// No configured PF, bond or VF of one among the interfaces given.
    pub not_ours: bool,
    /// `--dry-run`: the plan, comment lines starting with `# `.
    pub planned: Vec<String>,
    pub executed: u32,
    pub writes: u32,
    pub warnings: u32,
    pub elapsed: Duration,
}

/// Failures of a run, all of them (every device is tried).
#[derive(Debug)]
pub struct Failed(pub Vec<String>);

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for Failed {}

/// Observes, plans and (unless `dry_run`) applies for the interfaces in `opts`.
pub fn run(host: &Host, cfg: &Config, opts: &Options, log: &Log) -> Result<Report> {
    let start = Instant::now();
    let mut r = Report::default();
    let (targets, notes) = targets(host, cfg, &opts.ifaces)?;
    for n in notes {
        log.warn(&n);
    }
    if targets.is_empty() {
        r.not_ours = !opts.ifaces.is_empty();
        r.elapsed = start.elapsed();
        return Ok(r);
    }
    let cpus = Cpus::read(host)?;
    let mut interrupts = read_interrupts(host)?;
    let mut eth = Kernel::new(host);
    let mut errors = vec![];
    for t in &targets {
        let res = (|| -> Result<()> {
            let mut dev = observe_device(host, &cpus, &interrupts, t)?;
            if eth.is_real() && t.settings.wants_kernel() {
                dev.kernel = Some(observe_kernel(&mut eth, &t.ifname, &t.settings)?);
            }
            let plan = plan_device(&dev);
            if opts.dry_run {
                r.planned
                    .extend(plan.notes.iter().map(|n| format!("# {n}")));
                r.planned.extend(plan.steps.iter().map(|s| s.to_string()));
                return Ok(());
            }
            for n in &plan.notes {
                if dev.local.fallback.is_some() && n.contains("using all online CPUs") {
                    log.info(n);
                } else {
                    log.debug(n);
                }
            }
            // kernel steps first; a channel change makes drivers request new vectors
            let mut irq_steps = vec![];
            let mut rediscover = false;
            let mut failed = vec![];
            for s in &plan.steps {
                if matches!(s, Step::Affinity { .. } | Step::Xps { .. }) {
                    irq_steps.push(s.clone());
                    continue;
                }
                match apply_kernel_step(&mut eth, s) {
                    Ok(()) => {
                        r.executed += 1;
                        rediscover |= matches!(s, Step::Channels { .. });
                        log.step(t.pf().as_str(), s.kind(), &s.to_string());
                    }
                    Err(e) => failed.push(format!("{s}: {e:#}")),
                }
            }
            if rediscover {
                interrupts = read_interrupts(host)?;
                let mut again = observe_device(host, &cpus, &interrupts, t)?;
                again.kernel = None;
                irq_steps = plan_irqs(&again, &t.settings).steps;
            }
            for s in &irq_steps {
                match apply_file_step(host, s) {
                    Ok(Outcome::Done) => {
                        r.executed += 1;
                        log.step(t.pf().as_str(), s.kind(), &s.to_string());
                    }
                    Ok(Outcome::Warned(w)) => {
                        r.warnings += 1;
                        log.warn(&format!("{}: {w}", t.ifname));
                    }
                    Err(e) => failed.push(format!("{s}: {e:#}")),
                }
            }
            if !failed.is_empty() {
                bail!(failed.join("\n"));
            }
            Ok(())
        })();
        if let Err(e) = res {
            errors.push(format!("{}: {e:#}", t.ifname));
        }
    }
    r.writes = host.writes() + eth.writes;
    r.elapsed = start.elapsed();
    if !errors.is_empty() {
        return Err(Failed(errors).into());
    }
    Ok(r)
}

// ---------------------------------------------------------------------------------------------
// The binary

#[derive(clap::Parser, Debug)]
#[command(
    name = "irq-tune",
    version,
    about = "NUMA-local IRQ affinity and XPS, channels, rings and RSS hash for configured PFs and their VFs",
    long_about = "NUMA-local IRQ affinity and XPS, channels, rings and RSS hash for configured PFs \
and their VFs ([tune] in the config, `tune = { ... }` in a [[pf]] overrides it).\n\n\
Queue vectors (mlx5_comp<N>@pci:<BDF>, <ifname>-TxRx-N, -rx-N, -tx-N) are spread one CPU each \
over the CPUs local to the device (local_cpulist ∩ online; all online CPUs when the NUMA node is \
unknown); tx-N's xps_cpus follows queue N's vector. Only values that differ are written. \
Managed IRQs keep the kernel's placement (a warning). Channels, rings and RSS need the running \
kernel (not done on a SRIOV_OFFLOAD_ROOT fixture tree).\n\n\
Never waits: safe as a udev RUN program for a new VF netdev.",
    after_help = AFTER_HELP
)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
    /// A configured PF (with its VFs), a configured bond (its PFs) or a VF netdev of a
    /// configured PF (that VF alone); default `$IFACE`, else every configured PF and its VFs.
    pub interfaces: Vec<String>,
}

/// `irq-tune`: the whole binary but argument parsing.
pub fn main(args: Args) -> ExitCode {
    let log = Log::new("irq-tune", args.common.verbose);
    let host = Host::from_env();
    let ifaces = match cli::interfaces(&args.interfaces) {
        Ok(i) => i,
        Err(m) => {
            log.error(&m);
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let cfg = match cli::load_config(&host, &args.common) {
        Ok(c) => c,
        Err(e) => {
            log.error(&e.to_string());
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let opts = Options {
        dry_run: args.common.dry_run,
        ifaces,
    };
    match run(&host, &cfg, &opts, &log) {
        Ok(r) if r.not_ours => {
            log.debug("no configured PF, bond or VF of one among the interfaces: nothing to do");
            ExitCode::from(EXIT_OK)
        }
        Ok(r) if opts.dry_run => {
            for l in &r.planned {
                println!("{l}");
            }
            if !r.planned.iter().any(|l| !l.starts_with('#')) {
                println!("nothing to do");
            }
            ExitCode::from(EXIT_OK)
        }
        Ok(r) => {
            let msg = format!(
                "{} step(s), {} write(s), {} warning(s), {} ms",
                r.executed,
                r.writes,
                r.warnings,
                r.elapsed.as_millis()
            );
            if r.executed > 0 || r.warnings > 0 {
                log.info(&msg);
            } else {
                log.debug(&msg);
            }
            ExitCode::from(EXIT_OK)
        }
        Err(e) => {
            if let Some(f) = e.downcast_ref::<Failed>() {
                for l in &f.0 {
                    log.error(l);
                }
            } else {
                log.error(&format!("{e:#}"));
            }
            ExitCode::from(match cli::exit_code(&e) {
                EXIT_USAGE => EXIT_USAGE,
                _ => EXIT_FAILED,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use anyhow::Context;

    use super::*;
    use crate::config::TuneConfig;
    use crate::cpuset::parse_cpulist;
    use crate::netlink::Rings;
    use crate::observe::irq::{Irq, KernelState, LocalCpus, QueueKind};

    fn set(l: &str) -> CpuSet {
        parse_cpulist(l).unwrap()
    }

    fn dev(role: Role, local: &str, irqs: Vec<(u32, QueueKind, u32, &str)>) -> Device {
        Device {
            target: Target {
                ifname: "eth1".parse().unwrap(),
                pci: "0000:01:00.0".into(),
                role,
                settings: Settings::from_config(&TuneConfig::default()).unwrap(),
            },
            local: LocalCpus {
                cpus: set(local),
                source: "test".into(),
                fallback: None,
            },
            nbits: 8,
            irqs: irqs
                .into_iter()
                .map(|(irq, kind, queue, aff)| Irq {
                    irq,
                    name: format!("v{irq}"),
                    kind,
                    queue,
                    affinity: Some(set(aff)),
                    managed: false,
                })
                .collect(),
            other: vec![],
            xps: (0..4).map(|q| (q, CpuSet::new())).collect(),
            kernel: None,
        }
    }

    #[test]
    fn queues_round_robin_over_local_cpus_and_xps_follows() {
        use QueueKind::*;
        let d = dev(
            Role::Pf,
            "4-5",
            vec![
                (10, Rx, 0, "0-7"),
                (11, Rx, 1, "0-7"),
                (12, Tx, 0, "4"),
                (13, Tx, 1, "0-7"),
                (14, Tx, 2, "0-7"),
            ],
        );
        let p = plan_irqs(&d, &d.target.settings);
        let lines: Vec<String> = p.steps.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            lines,
            [
                "eth1: irq 10 v10 affinity 0-7 -> 4",
                "eth1: irq 11 v11 affinity 0-7 -> 5",
                "eth1: irq 13 v13 affinity 0-7 -> 5",
                "eth1: irq 14 v14 affinity 0-7 -> 4",
                "eth1: tx-0 xps_cpus none -> 4 (10)",
                "eth1: tx-1 xps_cpus none -> 5 (20)",
                "eth1: tx-2 xps_cpus none -> 4 (10)",
            ]
        );
    }

    #[test]
    fn a_vf_starts_at_its_index_so_vfs_spread() {
        let d = dev(
            Role::Vf {
                pf: "p".parse().unwrap(),
                index: 3,
            },
            "0-1",
            vec![(20, QueueKind::Comp, 0, "0-7")],
        );
        let p = plan_irqs(&d, &d.target.settings);
        assert_eq!(p.steps[0].to_string(), "eth1: irq 20 v20 affinity 0-7 -> 1");
    }

    #[test]
    fn managed_irqs_are_left_alone_and_xps_uses_their_placement() {
        let mut d = dev(Role::Pf, "0-3", vec![(30, QueueKind::TxRx, 0, "2")]);
        d.irqs[0].managed = true;
        let p = plan_irqs(&d, &d.target.settings);
        assert_eq!(p.steps.len(), 1, "{:?}", p.steps);
        assert_eq!(p.steps[0].to_string(), "eth1: tx-0 xps_cpus none -> 2 (04)");
        assert!(p.notes.iter().any(|n| n.contains("managed by the kernel")));
    }

    #[test]
    fn eio_on_an_affinity_write_is_a_warning() {
        let eio: Result<()> = Err(std::io::Error::from_raw_os_error(EIO))
            .context("writing \"2\" to /proc/irq/77/smp_affinity_list");
        match affinity_outcome(77, "eth1-TxRx-0", eio).unwrap() {
            Outcome::Warned(w) => assert!(w.contains("irq 77") && w.contains("managed"), "{w}"),
            o => panic!("{o:?}"),
        }
        let ebusy: Result<()> = Err(std::io::Error::from_raw_os_error(16).into());
        assert!(affinity_outcome(77, "eth1-TxRx-0", ebusy).is_err());
        assert_eq!(affinity_outcome(77, "x", Ok(())).unwrap(), Outcome::Done);
    }

    #[test]
    fn channels_and_rings_are_clamped_to_the_device_maxima() {
        let mut d = dev(Role::Pf, "0-7", vec![]);
        d.kernel = Some(KernelState {
            channels: Some(Ok(Channels {
                combined: 2,
                combined_max: 4,
                ..Default::default()
            })),
            rings: Some(Ok(Rings {
                rx: 256,
                tx: 4096,
                rx_max: 4096,
                tx_max: 4096,
            })),
            hfunc: Some(Ok(Some(Hfunc::Xor))),
        });
        let s = Settings {
            affinity: true,
            xps: true,
            rings: Some(RingsSetting::Count(8192)),
            channels: Some(ChannelsSetting::NumaLocal),
            hfunc: Some(Hfunc::Toeplitz),
        };
        let p = plan_kernel(&d, &s);
        let lines: Vec<String> = p.steps.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            lines,
            [
                "eth1: channels combined 2 -> 4",
                "eth1: rings rx 256 -> 4096",
                "eth1: rss hfunc xor -> toeplitz",
            ]
        );
        assert!(
            p.notes
                .iter()
                .any(|n| n
                    .contains("8 combined channels (local CPUs) clamped to the device maximum 4")),
            "{:?}",
            p.notes
        );
        // already right: nothing
        d.kernel = Some(KernelState {
            channels: Some(Ok(Channels {
                combined: 4,
                combined_max: 4,
                ..Default::default()
            })),
            rings: Some(Ok(Rings {
                rx: 4096,
                tx: 4096,
                rx_max: 4096,
                tx_max: 4096,
            })),
            hfunc: Some(Err("not supported by the driver".into())),
        });
        assert!(plan_kernel(&d, &s).steps.is_empty());
    }
}
