//! `irq-tune`: NUMA-local IRQ affinity and XPS, plus channels, rings and the RSS hash function,
//! for configured PFs and the netdevs of their VFs.
//!
//! observe (sysfs, procfs, ethtool netlink on a real kernel) → [`plan::plan_device`] (pure, what
//! `--dry-run` prints) → apply (write only what differs). Decisions:
//! - Local CPUs: `local_cpulist` of the PCI function (else its NUMA node's `cpulist`) ∩ online
//!   CPUs; `numa_node` -1 (no locality from firmware) or no local CPU online → all online CPUs,
//!   and the plan says why.
//! - Queue IRQs: the function's `msi_irqs/` matched by name in the interrupts table: mlx5
//!   `mlx5_comp<N>@pci:<BDF>`, Intel `[<drv>-]<ifname>-TxRx-N` / `-rx-N` / `-tx-N`. Control and
//!   misc vectors (`mlx5_async…`, bare `<ifname>`) are left alone.
//! - Queue N (its rx and tx vectors alike) goes to local CPU number `(N + offset) % count`, one
//!   CPU each; the offset is 0 for a PF and the VF index for a VF, so every device's placement
//!   depends on that device alone (a udev run for one VF plans what a full run plans for it).
//! - XPS: `tx-N` → the CPU of queue N's IRQ. Managed IRQs (debugfs says `IRQD_AFFINITY_MANAGED`,
//!   or the write fails with EIO) keep the kernel's placement: a warning, not a failure.
//! - Channels, rings, RSS only through the kernel (ethtool netlink, `SIOCETHTOOL` for the hash
//!   function), so only when `Host::is_real`; clamped to the maxima the device reports.
//!
//! Layout: targets come from [`crate::select::irq`], the observation from
//! [`crate::observe::irq`]; [`plan`] is pure, [`apply`] runs a plan. This file holds the run
//! and the binary.

pub mod apply;
pub mod plan;

use std::collections::BTreeMap;
use std::fmt;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;

use self::apply::{apply_device, Tally};
use crate::cli::{self, Common, EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::config::Config;
use crate::host::Host;
use crate::kernel::Kernel;
use crate::log::Log;
use crate::observe;
use crate::observe::irq::{read_interrupts, Cpus};
use crate::select::irq::{targets, Role};
use crate::types::IfName;

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

/// Observes every target into one [`observe::HostState`], plans from it and (unless `dry_run`)
/// applies, device by device, for the interfaces in `opts`.
pub fn run(host: &Host, cfg: &Config, opts: &Options, log: &Log) -> Result<Report> {
    let start = Instant::now();
    let mut r = Report::default();
    let (targets, notes) = targets(host, cfg, &opts.ifaces)?;
    for n in notes {
        log.warn(&n);
    }
    let ours = !targets.is_empty();
    // no [tune] key for a PF: it and its VFs are left alone, unobserved
    let (idle, targets): (Vec<_>, Vec<_>) =
        targets.into_iter().partition(|t| t.settings.is_empty());
    for t in idle.iter().filter(|t| t.role == Role::Pf) {
        let n = format!(
            "{}: no [tune] key applies to it: irq-tune leaves it and its VFs alone",
            t.ifname
        );
        if opts.dry_run {
            r.planned.push(format!("# {n}"));
        } else {
            log.debug(&n);
        }
    }
    if targets.is_empty() {
        r.not_ours = !ours && !opts.ifaces.is_empty();
        r.elapsed = start.elapsed();
        return Ok(r);
    }
    let cpus = Cpus::read(host)?;
    let interrupts = read_interrupts(host)?;
    let mut eth = Kernel::new(host);
    // Every device is tried. Each has at most one failure (reading it, or its steps), and
    // failures are reported in target order.
    let (state, unread) = observe::observe_irq(host, &mut eth, &cpus, &interrupts, &targets);
    let mut failed: BTreeMap<IfName, String> = unread
        .into_iter()
        .map(|(n, e)| (n, format!("{e:#}")))
        .collect();
    let mut tally = Tally::default();
    for (dev, plan) in state.irq.iter().zip(plan::plan(&state)) {
        if opts.dry_run {
            r.planned
                .extend(plan.notes.iter().map(|n| format!("# {n}")));
            r.planned.extend(plan.steps.iter().map(|s| s.to_string()));
        } else if let Err(e) = apply_device(host, &mut eth, &cpus, dev, &plan, log, &mut tally) {
            failed.insert(dev.target.ifname.clone(), format!("{e:#}"));
        }
    }
    let errors: Vec<String> = targets
        .iter()
        .filter_map(|t| {
            failed
                .remove(&t.ifname)
                .map(|e| format!("{}: {e}", t.ifname))
        })
        .collect();
    r.executed = tally.executed;
    r.warnings = tally.warnings;
    r.writes = host.writes() + eth.writes;
    r.elapsed = start.elapsed();
    if !errors.is_empty() {
        return Err(Failed(errors).into());
    }
    Ok(r)
}

// ---------------------------------------------------------------------------------------------
// The binary

/// irq-tune's `--help` ending: it never waits and writes no marker, so no exit 3 and no
/// failed marker, unlike the other binaries. The codes are those [`main`] returns.
const AFTER_HELP: &str = concat!(
    "\
Exit status:
  0  done (also with warnings: a managed IRQ keeps the kernel's placement), or nothing to do
     (also: an interface that is not a configured PF, bond or VF of one)
  1  failed (every device is still tried; each error names the interface and the operation)
  2  usage or configuration error (file:line:col and the rule)

",
    cli::help_environment!()
);

#[derive(clap::Parser, Debug)]
#[command(
    name = "irq-tune",
    version,
    about = "NUMA-local IRQ affinity and XPS, channels, rings and RSS hash for configured PFs and their VFs",
    long_about = "NUMA-local IRQ affinity and XPS, channels, rings and RSS hash for configured PFs \
and their VFs ([tune] in the config, `tune = { ... }` in a [[pf]] overrides it).\n\n\
Only what [tune] sets is changed: with no [tune] section irq-tune changes nothing. With \
irq_affinity = \"numa-local\", queue vectors (mlx5_comp<N>@pci:<BDF>, <ifname>-TxRx-N, -rx-N, \
-tx-N) are spread one CPU each over the CPUs local to the device (local_cpulist ∩ online; all \
online CPUs when the NUMA node is unknown); with xps = true, tx-N's xps_cpus follows queue N's \
vector. Only values that differ are written. Managed IRQs keep the kernel's placement (a \
warning). Channels, rings and RSS need the running kernel (not done on a SRIOV_OFFLOAD_ROOT \
fixture tree).\n\n\
irqbalance rewrites IRQ affinity every 10 s: with irq_affinity set, stop it (systemctl disable \
--now irqbalance) or keep it off these devices' IRQs (IRQBALANCE_ARGS=--banirq=N in \
/etc/default/irqbalance); `sriov-offload check` warns while it runs.\n\n\
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

/// `irq-tune`: the whole binary but argument parsing. A run that acted on configured devices
/// is recorded for the metrics when `[metrics] textfile_dir` is configured.
pub fn main(args: Args) -> ExitCode {
    let start = Instant::now();
    let log = Log::new("irq-tune", args.common.verbose);
    let host = Host::from_env();
    let dry_run = args.common.dry_run;
    let (code, cfg, counted) = tune_main(args, &host, &log);
    if counted && !dry_run {
        crate::metrics::after_run(&host, cfg.as_ref(), "irq-tune", start.elapsed(), code, &log);
    }
    ExitCode::from(code)
}

/// The run: (exit code, the config if it loaded, whether the run counts as one).
fn tune_main(args: Args, host: &Host, log: &Log) -> (u8, Option<Config>, bool) {
    let ifaces = match cli::interfaces(&args.interfaces) {
        Ok(i) => i,
        Err(m) => {
            log.error(&m);
            return (EXIT_USAGE, None, false);
        }
    };
    let cfg = match cli::load_config(host, &args.common) {
        Ok(c) => c,
        Err(e) => {
            log.error(&e.to_string());
            return (EXIT_USAGE, None, false);
        }
    };
    let opts = Options {
        dry_run: args.common.dry_run,
        ifaces,
    };
    let res = run(host, &cfg, &opts, log);
    let counted = !matches!(&res, Ok(r) if r.not_ours);
    let code = match res {
        Ok(r) if r.not_ours => {
            log.debug("no configured PF, bond or VF of one among the interfaces: nothing to do");
            EXIT_OK
        }
        Ok(r) if opts.dry_run => {
            for l in &r.planned {
                println!("{l}");
            }
            if !r.planned.iter().any(|l| !l.starts_with('#')) {
                println!("nothing to do");
            }
            EXIT_OK
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
            EXIT_OK
        }
        Err(e) => {
            if let Some(f) = e.downcast_ref::<Failed>() {
                for l in &f.0 {
                    log.error(l);
                }
            } else {
                log.error(&format!("{e:#}"));
            }
            match cli::exit_code(&e) {
                EXIT_USAGE => EXIT_USAGE,
                _ => EXIT_FAILED,
            }
        }
    };
    (code, Some(cfg), counted)
}
