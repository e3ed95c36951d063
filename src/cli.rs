//! The command-line contract shared by every binary: `--config`, `--dry-run`, `-v`, interfaces
//! as arguments or `$IFACE`, `SRIOV_OFFLOAD_ROOT`, and the exit codes.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use crate::apply::{self, Options, Refused};
use crate::config::{self, Config, ConfigError};
use crate::host::Host;
use crate::log::Log;
use crate::plan::Phase;
use crate::types::IfName;
use crate::wait::{NoEvents, Timeout};

pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_TIMEOUT: u8 = 3;

/// The Environment and Config paragraphs that end every binary's `--help`, after its exit
/// codes. A macro, so that `concat!` can join it to each binary's own exit codes.
macro_rules! help_environment {
    () => {
        "\
Environment:
  IFACE               interface from ifupdown, used when no interface is given
  SRIOV_OFFLOAD_ROOT  prefix for /sys, /proc, /run and /etc (fixture trees in tests)

Config: /etc/sriov-offload/config.toml and /etc/sriov-offload/conf.d/*.toml (sorted, later wins)."
    };
}
pub(crate) use help_environment;

/// Appended to the `--help` of every binary but irq-tune, which has its own exit codes.
pub const AFTER_HELP: &str = concat!(
    "\
Exit status:
  0  done, or nothing to do (also: an interface the config does not mention)
  1  failed (the error names the interface, file and operation; /run/sriov-offload/failed is written)
     or refused (VFs in use: nothing is written, markers included, when offload is ready)
  2  usage or configuration error (file:line:col and the rule)
  3  timed out waiting (the message lists what never appeared)

",
    help_environment!()
);

#[derive(clap::Args, Debug, Clone)]
pub struct Common {
    /// Read this config file instead of /etc/sriov-offload/config.toml and conf.d/*.toml.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Say more (steps skipped and why, timings).
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(clap::Parser, Debug)]
#[command(version, after_help = AFTER_HELP)]
pub struct FlowArgs {
    #[command(flatten)]
    pub common: Common,
    /// Reset VFs even when they are in use (a guest will lose its network).
    #[arg(long)]
    pub force: bool,
    /// The PF re-appeared after boot (sriov-offload-reapply@.service): a bond slave that
    /// nothing re-enslaved still gets the steps that do not need its bond.
    #[arg(long)]
    pub reapply: bool,
    /// A PF netdev went away (udev `remove`): withdraw `ready` if a configured PF is now
    /// missing. Writes nothing else and never waits.
    #[arg(long, hide = true, conflicts_with_all = ["force", "reapply", "dry_run"])]
    pub withdraw_gone: bool,
    /// PFs or bonds to act on; default `$IFACE`, else every configured PF.
    pub interfaces: Vec<String>,
}

/// What `--help` and the man page say about each of the two flow binaries.
pub const VF_PRE_ABOUT: &str = "Before a PF is enslaved (ifupdown pre-up, sriov-offload-pre.service): VF count, driver autoprobe, eswitch mode when configured before the bond, VF MAC/VLAN/trust";
pub const VF_POST_ABOUT: &str = "After enslavement (ifupdown post-up, sriov-offload-post.service): eswitch mode, LAG and representor waits, IB GUIDs, VF binding, hw-tc-offload, VF map, readiness marker";

/// `vf-pre`'s or `vf-post`'s command line (one [`FlowArgs`], named and described per tool).
pub fn flow_command(tool: &'static str) -> clap::Command {
    use clap::CommandFactory;
    FlowArgs::command()
        .name(tool)
        .bin_name(tool)
        .about(if tool == "vf-pre" {
            VF_PRE_ABOUT
        } else {
            VF_POST_ABOUT
        })
}

/// Parses `vf-pre`'s or `vf-post`'s arguments (exits on `--help` or a usage error).
pub fn parse_flow_args(tool: &'static str) -> FlowArgs {
    use clap::FromArgMatches;
    FlowArgs::from_arg_matches(&flow_command(tool).get_matches()).unwrap_or_else(|e| e.exit())
}

/// `wait-offload`'s command line.
#[derive(clap::Parser, Debug)]
#[command(
    name = "wait-offload",
    version,
    about = "Blocks until this boot's SR-IOV offload is ready (exit 0), failed (1) or the timeout passes (3)",
    after_help = "Exit status: 0 ready, 1 failed (the error is printed), 2 usage error, 3 timed out.\n\nWaits on inotify for /run/sriov-offload/ready or failed of this boot (boot_id); markers of an earlier boot are ignored. With --pf, waits for those PFs' own state files (/run/sriov-offload/pf/NAME) to say ready instead: a consumer of one PF's VFs need not wait while another PF is re-applied."
)]
pub struct WaitArgs {
    /// Wait only for this PF (its netdev name; repeatable) to be ready.
    #[arg(long = "pf", value_name = "NAME")]
    pub pfs: Vec<IfName>,
    /// How long to wait, e.g. 90s, 10m.
    #[arg(long, default_value = "600s", value_parser = crate::types::parse_duration)]
    pub timeout: std::time::Duration,
    /// Print the marker's content when done.
    #[arg(short, long)]
    pub verbose: bool,
}

/// `sriov-offload-generator`'s command line (systemd passes three directories).
#[derive(clap::Parser, Debug)]
#[command(
    name = "sriov-offload-generator",
    version,
    about = "systemd generator for sriov-offload (see systemd.generator(7))",
    after_help = "Writes into NORMAL_DIR: sriov-offload-pre.service.d/50-devices.conf (the configured PFs' device units), UNIT.d/50-sriov-offload.conf (Requires= + After= sriov-offload.target) for each unit of [boot] before, and 50-timeout.conf for pre/post when [defaults] timeout needs it.\n\nExit status: 0 (also on a config error, which is written to /dev/kmsg), 1 output not writable, 2 usage.\n\nEnvironment:\n  SRIOV_OFFLOAD_ROOT  prefix for /etc and /dev/kmsg (tests)"
)]
pub struct GeneratorArgs {
    /// Generator output directory for normal-priority units.
    pub normal_dir: PathBuf,
    /// Early and late directories (passed by systemd, unused).
    #[arg(num_args = 0..=2)]
    pub other_dirs: Vec<PathBuf>,
}

pub fn load_config(host: &Host, common: &Common) -> Result<Config, ConfigError> {
    let files = match &common.config {
        Some(f) => vec![f.clone()],
        None => config::default_files(&host.etc("sriov-offload"))?,
    };
    config::load(&files)
}

/// Interfaces from the arguments, else ifupdown's `$IFACE`. Validated here, at the edge.
pub fn interfaces(args: &[String]) -> Result<Vec<IfName>, String> {
    let from_env;
    let list: &[String] = if args.is_empty() {
        // an IFACE we cannot read is an error, never "every PF" (with --force from a hook
        // that would reset them all)
        from_env = match std::env::var("IFACE") {
            Ok(s) if s.is_empty() || s == "--all" => vec![],
            Ok(s) => vec![s],
            Err(std::env::VarError::NotPresent) => vec![],
            Err(std::env::VarError::NotUnicode(raw)) => {
                return Err(format!(
                    "IFACE {} is not valid UTF-8, so it is no interface name",
                    crate::types::Clip(&raw.to_string_lossy())
                ))
            }
        };
        &from_env
    } else {
        args
    };
    list.iter().map(|s| s.parse::<IfName>()).collect()
}

/// Exit code for an error: typed errors decide, everything else is a failure.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    if let Some(f) = e.downcast_ref::<apply::PfFailures>() {
        return if f.0.iter().all(|e| exit_code(e) == EXIT_TIMEOUT) {
            EXIT_TIMEOUT
        } else {
            EXIT_FAILED
        };
    }
    if e.chain().any(|c| c.is::<ConfigError>()) {
        EXIT_USAGE
    } else if e.chain().any(|c| c.is::<Timeout>() || c.is::<NoEvents>()) {
        EXIT_TIMEOUT
    } else {
        EXIT_FAILED
    }
}

/// `vf-pre` and `vf-post`: the whole binary but argument parsing. A run that acted on
/// configured PFs (not a dry run, not an interface we do not configure) is recorded for the
/// metrics when `[metrics] textfile_dir` is configured.
pub fn flow_main(tool: &'static str, phase: Phase, args: FlowArgs) -> ExitCode {
    let start = std::time::Instant::now();
    let log = Log::new(tool, args.common.verbose);
    let host = Host::from_env();
    let dry_run = args.common.dry_run;
    let (code, cfg, counted) = flow(phase, args, &host, &log);
    if counted && !dry_run {
        crate::metrics::after_run(&host, cfg.as_ref(), tool, start.elapsed(), code, &log);
    }
    ExitCode::from(code)
}

/// The run: (exit code, the config if it loaded, whether the run counts as one).
fn flow(phase: Phase, args: FlowArgs, host: &Host, log: &Log) -> (u8, Option<Config>, bool) {
    let ifaces = match interfaces(&args.interfaces) {
        Ok(i) => i,
        Err(m) => {
            log.error(&m);
            return (EXIT_USAGE, None, false);
        }
    };
    let cfg = match load_config(host, &args.common) {
        Ok(c) => c,
        Err(e) => {
            log.error(&e.to_string());
            // Run by systemd at boot, a broken config must also stop consumers waiting on
            // the marker (wait-offload exits 1 instead of timing out). From a shell, a hook or
            // a test it writes nothing: the exit code and message are the whole answer.
            if std::env::var_os("INVOCATION_ID").is_some() && !args.common.dry_run {
                if let Err(me) = crate::marker::write_failed(host, &e.to_string(), None, log) {
                    log.error(&format!("also failed to write the failed marker: {me:#}"));
                }
            }
            return (EXIT_USAGE, None, false);
        }
    };
    if args.withdraw_gone {
        // a udev RUN of its own, not a run of the flow: not counted in the run record
        return match apply::withdraw_gone(host, &cfg, log) {
            Ok(()) => (EXIT_OK, Some(cfg), false),
            Err(e) => {
                log.error(&format!("{e:#}"));
                (EXIT_FAILED, Some(cfg), false)
            }
        };
    }
    let opts = Options {
        phase,
        force: args.force,
        dry_run: args.common.dry_run,
        ifaces,
        reapply: args.reapply,
    };
    let res = apply::run(host, &cfg, &opts, log);
    let counted = !matches!(&res, Ok(r) if r.not_ours);
    let code = match res {
        Ok(r) if r.not_ours => {
            let awaiting: Vec<String> = opts
                .ifaces
                .iter()
                .filter(|_| phase == Phase::Post)
                .filter_map(|i| {
                    let b = crate::select::awaiting_bond(host, &cfg, i).ok()??;
                    Some(format!(
                        "{i}: not enslaved to {0} yet: the post-up of {0} does the post steps",
                        b.name
                    ))
                })
                .collect();
            for m in &awaiting {
                log.info(m);
            }
            let unknown = crate::select::unknown(host, &cfg, &opts.ifaces).unwrap_or_default();
            for i in &unknown {
                let m = format!(
                    "{i}: not a configured PF or bond, nor a VF of one ({}): nothing to do",
                    cfg.source_list()
                );
                if opts.dry_run {
                    println!("{m}");
                } else {
                    log.debug(&m);
                }
            }
            if awaiting.is_empty() && unknown.is_empty() {
                log.debug("no configured PF or bond among the interfaces: nothing to do");
            }
            EXIT_OK
        }
        Ok(r) if opts.dry_run => {
            if r.planned.is_empty() {
                println!("nothing to do");
            }
            for s in &r.planned {
                println!("{s}");
            }
            EXIT_OK
        }
        Ok(r) => {
            let msg = format!(
                "{} step(s), {} write(s), {} ms{}",
                r.executed,
                r.writes,
                r.elapsed.as_millis(),
                if r.ready { ", offload ready" } else { "" }
            );
            if r.executed > 0 {
                log.info(&msg);
            } else {
                log.debug(&msg);
            }
            EXIT_OK
        }
        Err(e) => {
            if let Some(r) = e.downcast_ref::<Refused>() {
                for line in r.to_string().lines() {
                    log.error(line);
                }
            } else {
                log.error(&format!("{e:#}"));
            }
            exit_code(&e)
        }
    };
    (code, Some(cfg), counted)
}
