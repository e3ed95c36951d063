//! Before a PF is enslaved (ifupdown `pre-up`, sriov-offload-pre.service): VF count, driver
//! autoprobe, eswitch mode when configured before the bond, VF MAC/VLAN/trust.
use sriov_offload::{cli, plan::Phase};

fn main() -> std::process::ExitCode {
    cli::flow_main("vf-pre", Phase::Pre, cli::parse_flow_args("vf-pre"))
}
