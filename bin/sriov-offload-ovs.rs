//! ovs-vswitchd's `ExecStartPre=` (the generator's ovs-vswitchd.service.d/50-sriov-offload.conf):
//! puts `other_config:hw-offload=true` into OVSDB before ovs-vswitchd starts, which is the only
//! time it reads it. ovsdb-server is running then; nothing here waits for a device.
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use sriov_offload::{apply, cli, config, host::Host, log::Log};

#[derive(Parser)]
#[command(
    version,
    about = "Sets Open_vSwitch other_config:hw-offload=true from [ovs] hw_offload, before ovs-vswitchd starts",
    after_help = concat!(
        "Exit status:\n  0  set, already set, or [ovs] hw_offload is off\n  1  failed (e.g. no OVSDB server at /run/openvswitch/db.sock)\n  2  usage or configuration error\n\n",
        "The generated drop-in runs it as ExecStartPre=-…: a failure is logged and does not keep ovs-vswitchd from starting.\n\n",
        "Environment:\n  SRIOV_OFFLOAD_ROOT  prefix for /run, /proc and /etc (fixture trees in tests)"
    )
)]
struct Args {
    /// Read this config file instead of /etc/sriov-offload/config.toml and conf.d/*.toml.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Say more.
    #[arg(short, long)]
    verbose: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let log = Log::new("sriov-offload-ovs", args.verbose);
    let host = Host::from_env();
    let files = match &args.config {
        Some(f) => Ok(vec![f.clone()]),
        None => config::default_files(&host.etc("sriov-offload")),
    };
    let cfg = match files.and_then(|f| config::load(&f)) {
        Ok(c) => c,
        Err(e) => {
            log.error(&e.to_string());
            return ExitCode::from(cli::EXIT_USAGE);
        }
    };
    match apply::ovs::vswitchd_pre(&host, &cfg, &log) {
        Ok(()) => ExitCode::from(cli::EXIT_OK),
        Err(e) => {
            log.error(&format!("{e:#}"));
            ExitCode::from(cli::EXIT_FAILED)
        }
    }
}
