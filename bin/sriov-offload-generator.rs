//! systemd generator (installed in /usr/lib/systemd/system-generators): renders the config into
//! drop-ins for sriov-offload-pre.service and the `[boot] before` consumers. Never fails the boot:
//! config errors go to /dev/kmsg and the exit status is 0.
use std::process::ExitCode;

use clap::Parser;
use sriov_offload::{cli, generate, host::Host};

fn main() -> ExitCode {
    let args = match cli::GeneratorArgs::try_parse() {
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
