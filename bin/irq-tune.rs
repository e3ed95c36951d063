//! NUMA-local IRQ affinity, XPS, channels, rings and RSS hash for configured PFs and their VFs
//! (sriov-offload-irq.service, ifupdown `post-up`, udev `RUN` for a new VF netdev).
use clap::Parser;
use sriov_offload::irq;

fn main() -> std::process::ExitCode {
    irq::main(irq::Args::parse())
}
