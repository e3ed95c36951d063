//! `sriov-offload`, the operator's tool: `status`, `check`, `plan`, `metrics`. Every subcommand
//! reads the host once into one [`HostState`](crate::observe::HostState) (plus, for `check`,
//! the [host facts](crate::observe::system)) and is a reader or planner over it: nothing is
//! written, except `metrics --textfile DIR` (one file, atomically, through the host model).
//!
//! Layout: [`status`] (the plan's diff against the state), [`check`] and [`conflicts`] (rules
//! over the state and host facts), [`plan`] (the whole host's plan), [`table`] (text layout),
//! [`docs`] (man pages and completions, the hidden `generate-docs`). This module parses
//! arguments and maps results to exit codes. It sits at the top, beside [`crate::cli`].

pub mod check;
pub mod conflicts;
pub mod docs;
pub mod finding;
pub mod plan;
pub mod status;
pub mod table;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};

use crate::cli::{self, Common, EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::config::{Config, ConfigError};
use crate::host::Host;
use crate::kernel::Kernel;
use crate::observe::configured::{observe_configured, Configured};
use crate::select::{self, Named, Resolved};
use crate::types::IfName;

/// Version of the `--json` documents (`status`, `check`, `plan`): raised when a field changes
/// meaning or goes away; new fields may appear within a version.
pub const JSON_VERSION: u32 = 1;

const AFTER_HELP: &str = "\
Exit status:
  status   0 the host matches the config, 1 it differs (each difference is listed),
           2 usage or configuration error
  check    0 no error finding, 1 at least one (an invalid config is a finding), 2 usage error
  plan     0 planned (nothing to do, or the steps listed), 1 a PF cannot be planned
           (absent, unreadable, or its change would reset VFs in use), 2 usage or config error
  metrics  0 written, 1 failed, 2 usage or configuration error

Nothing is written, except the file of `metrics --textfile DIR`.

Environment:
  SRIOV_OFFLOAD_ROOT  prefix for /sys, /proc, /run and /etc (fixture trees in tests)

Config: /etc/sriov-offload/config.toml and /etc/sriov-offload/conf.d/*.toml (sorted, later wins).";

#[derive(clap::Parser, Debug)]
#[command(
    name = "sriov-offload",
    version,
    about = "The operator's view of SR-IOV offload on this host: status, check, plan, metrics",
    after_help = AFTER_HELP
)]
pub struct Args {
    /// Read this config file instead of /etc/sriov-offload/config.toml and conf.d/*.toml.
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// Desired against observed, per configured PF; exit 1 on any difference.
    ///
    /// VFs, eswitch, representors, each VF's driver, netdev, MAC and use, GUIDs, LAG,
    /// hw-tc-offload, IRQ placement, the ready marker and who holds the lock; then every
    /// difference, named.
    Status {
        /// The versioned JSON document instead of the table.
        #[arg(long)]
        json: bool,
        /// Configured PFs or bonds to show (default: every configured PF).
        interfaces: Vec<String>,
    },
    /// Prerequisites and conflicts, each with its fix; exit 1 on an error finding.
    ///
    /// IOMMU, SR-IOV in firmware, VF BAR space, drivers, eswitch support, OVS hw-offload,
    /// irqbalance, NetworkManager/networkd, .link files, seed-era scripts, the target's
    /// enablement, the config. Each finding: severity, what was seen, why it matters, the fix.
    Check {
        #[arg(long)]
        json: bool,
    },
    /// What vf-pre, vf-post and irq-tune would do now, for the whole host; changes nothing.
    Plan {
        #[arg(long)]
        json: bool,
        /// Configured PFs or bonds to plan (default: every configured PF).
        interfaces: Vec<String>,
    },
    /// Prometheus metrics (stdout, or node_exporter's textfile directory).
    ///
    /// Per PF desired/observed VFs, bound VFs, representors; the marker; the boot binaries'
    /// last run and runs/failures since boot.
    Metrics {
        /// Write DIR/sriov_offload.prom atomically (node_exporter's textfile collector)
        /// instead of printing.
        #[arg(long, value_name = "DIR")]
        textfile: Option<PathBuf>,
    },
    /// Writes man pages (DIR/man/*.1) and shell completions (DIR/completions/…) for every
    /// binary of the suite: the .deb build runs it.
    #[command(hide = true)]
    GenerateDocs { dir: PathBuf },
}

/// A usage error (exit 2): a named interface that is not a configured PF or bond.
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Usage {}

pub fn load(host: &Host, config: &Option<PathBuf>) -> Result<Config, ConfigError> {
    cli::load_config(
        host,
        &Common {
            config: config.clone(),
            dry_run: true,
            verbose: false,
        },
    )
}

/// The configured PFs the interfaces name (a PF by its netdev or configured name, a bond by
/// its slaves, a VF netdev by its PF); all of them when none is named.
pub fn pick<'c>(
    host: &Host,
    cfg: &'c Config,
    resolved: Vec<Resolved<'c>>,
    interfaces: &[String],
) -> Result<Vec<Resolved<'c>>> {
    if interfaces.is_empty() {
        return Ok(resolved);
    }
    let mut keep: Vec<usize> = vec![];
    for raw in interfaces {
        let i: IfName = raw.parse().map_err(Usage)?;
        let idx = |r: &Resolved| resolved.iter().position(|x| std::ptr::eq(x.cfg, r.cfg));
        if let Some(r) = select::slave(&resolved, &i) {
            keep.extend(idx(r));
            continue;
        }
        match select::classify(host, cfg, &resolved, &i)? {
            Named::Pf(r) | Named::Vf { pf: r, .. } => keep.extend(idx(r)),
            Named::Bond(b) => {
                for s in &b.slaves {
                    if let Some(r) = select::slave(&resolved, s) {
                        keep.extend(idx(r));
                    }
                }
            }
            Named::Other => bail!(Usage(format!(
                "{i} is not a configured PF or bond, nor a VF of one"
            ))),
        }
    }
    keep.sort_unstable();
    keep.dedup();
    Ok(resolved
        .into_iter()
        .enumerate()
        .filter(|(n, _)| keep.contains(n))
        .map(|(_, r)| r)
        .collect())
}

/// Observes the configured PFs the interfaces name, with irq-tune's view of them.
pub fn observe<'c>(host: &Host, cfg: &'c Config, interfaces: &[String]) -> Result<Configured<'c>> {
    let mut kernel = Kernel::new(host);
    let resolved = pick(host, cfg, select::resolve(host, cfg)?, interfaces)?;
    observe_configured(host, &mut kernel, cfg, &resolved, true)
}

fn print_or_json<T: serde::Serialize>(json: bool, doc: &T, text: impl FnOnce() -> String) {
    if json {
        match serde_json::to_string_pretty(doc) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("sriov-offload: encoding JSON: {e}"),
        }
    } else {
        print!("{}", text());
    }
}

fn fail(e: &anyhow::Error) -> u8 {
    eprintln!("sriov-offload: {e:#}");
    if e.chain().any(|c| c.is::<Usage>() || c.is::<ConfigError>()) {
        EXIT_USAGE
    } else {
        EXIT_FAILED
    }
}

/// The whole binary but argument parsing.
pub fn main(args: Args) -> ExitCode {
    let host = Host::from_env();
    let code = match args.cmd {
        Cmd::GenerateDocs { dir } => docs::generate(&dir).map_or_else(|e| fail(&e), |()| EXIT_OK),
        Cmd::Check { json } => {
            let report = check::run(&host, &args.config);
            print_or_json(json, &report, || report.text());
            if report.errors() > 0 {
                EXIT_FAILED
            } else {
                EXIT_OK
            }
        }
        Cmd::Status { json, interfaces } => with_config(&host, &args.config, |cfg| {
            let seen = observe(&host, cfg, &interfaces)?;
            let st = status::build(&host, cfg, &seen, interfaces.is_empty())?;
            print_or_json(json, &st, || st.text());
            Ok(if st.matches { EXIT_OK } else { EXIT_FAILED })
        }),
        Cmd::Plan { json, interfaces } => with_config(&host, &args.config, |cfg| {
            let seen = observe(&host, cfg, &interfaces)?;
            let p = plan::build(cfg, &seen);
            print_or_json(json, &p, || p.text());
            Ok(if p.complete { EXIT_OK } else { EXIT_FAILED })
        }),
        Cmd::Metrics { textfile } => with_config(&host, &args.config, |cfg| {
            let text = crate::metrics::collect(&host, cfg)?;
            match textfile {
                Some(dir) => {
                    let p = crate::metrics::write_textfile(&host, &dir, &text)?;
                    eprintln!("sriov-offload: wrote {}", p.display());
                }
                None => print!("{text}"),
            }
            Ok(EXIT_OK)
        }),
    };
    ExitCode::from(code)
}

/// Loads the config (exit 2 on an error) and runs `f` with it.
fn with_config(host: &Host, config: &Option<PathBuf>, f: impl FnOnce(&Config) -> Result<u8>) -> u8 {
    match load(host, config) {
        Ok(cfg) => f(&cfg).unwrap_or_else(|e| fail(&e)),
        Err(e) => {
            eprintln!("sriov-offload: {e}");
            EXIT_USAGE
        }
    }
}
