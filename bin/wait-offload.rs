//! Blocks until this boot's offload is ready (exit 0), failed (1) or the timeout passes (3).
use std::process::ExitCode;

use clap::Parser;
use sriov_offload::{cli, host::Host, marker};

fn main() -> ExitCode {
    let args = cli::WaitArgs::parse();
    let host = Host::from_env();
    let res = if args.pfs.is_empty() {
        marker::wait(&host, args.timeout)
    } else {
        marker::wait_pfs(&host, &args.pfs, args.timeout)
    };
    match res {
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
        Ok(marker::Status::Pending) if !args.pfs.is_empty() => {
            let files: Vec<String> = args
                .pfs
                .iter()
                .map(|p| host.run_dir().pf_file(p).display().to_string())
                .collect();
            eprintln!(
                "wait-offload: timed out after {:?}: {} did not say ready",
                args.timeout,
                files.join(", ")
            );
            ExitCode::from(cli::EXIT_TIMEOUT)
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
