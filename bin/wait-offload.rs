//! Blocks until this boot's offload is ready (exit 0), failed (1) or the timeout passes (3).
use std::process::ExitCode;

use clap::Parser;
use sriov_offload::{cli, host::Host, marker};

fn main() -> ExitCode {
    let args = cli::WaitArgs::parse();
    let host = Host::from_env();
    match marker::wait(&host, args.timeout) {
        Ok(marker::Status::Ready(m)) => {
            if args.verbose {
                eprintln!("wait-offload: ready ({} PF(s))", m.pfs.len());
            }
            ExitCode::from(cli::EXIT_OK)
        }
        Ok(marker::Status::Failed(m)) => {
            eprintln!(
                "wait-offload: offload failed: {}",
                m.error.unwrap_or_default()
            );
            ExitCode::from(cli::EXIT_FAILED)
        }
        Ok(marker::Status::Pending) => {
            eprintln!(
                "wait-offload: timed out after {:?}: {} did not appear",
                args.timeout,
                marker::ready_path(&host).display()
            );
            ExitCode::from(cli::EXIT_TIMEOUT)
        }
        Err(e) => {
            eprintln!("wait-offload: {e:#}");
            ExitCode::from(cli::EXIT_FAILED)
        }
    }
}
