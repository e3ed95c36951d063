//! The operator's tool: `sriov-offload status | check | plan | metrics` (see `--help`).
use clap::Parser;
use sriov_offload::ops;

fn main() -> std::process::ExitCode {
    ops::main(ops::Args::parse())
}
