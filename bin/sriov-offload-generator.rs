//! systemd generator (installed in /usr/lib/systemd/system-generators): renders the config into
//! drop-ins for sriov-offload-pre.service and the `[boot] before` consumers. Never fails the boot:
//! config errors go to /dev/kmsg and the exit status is 0.
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use sriov_offload::{cli, generate, host::Host};

#[derive(Parser)]
#[command(
    version,
    about = "systemd generator for sriov-offload (see systemd.generator(7))",
    after_help = "Writes into NORMAL_DIR: sriov-offload-pre.service.d/50-devices.conf (the configured PFs' device units), UNIT.d/50-sriov-offload.conf (Requires= + After= sriov-offload.target) for each unit of [boot] before, and 50-timeout.conf for pre/post when [defaults] timeout needs it.\n\nExit status: 0 (also on a config error, which is written to /dev/kmsg), 1 output not writable, 2 usage.\n\nEnvironment:\n  SRIOV_OFFLOAD_ROOT  prefix for /etc and /dev/kmsg (tests)"
)]
struct Args {
    /// Generator output directory for normal-priority units.
    normal_dir: PathBuf,
    /// Early and late directories (passed by systemd, unused).
    #[arg(num_args = 0..=2)]
    _other_dirs: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                cli::EXIT_USAGE
            } else {
                cli::EXIT_OK
            });
        }
    };
    let host = Host::from_env();
    let mut kmsg = generate::Kmsg::open(&host);
    match generate::run(&host, &args.normal_dir, &mut kmsg) {
        Ok(_) => ExitCode::from(cli::EXIT_OK),
        Err(e) => {
            kmsg.error(&format!("{e:#}"));
            ExitCode::from(cli::EXIT_FAILED)
        }
    }
}
