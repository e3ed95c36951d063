//! After enslavement (ifupdown `post-up`, sriov-offload-post.service): eswitch mode, LAG and
//! representor waits, IB GUIDs, VF binding, hw-tc-offload, VF map, readiness marker.
use sriov_offload::{cli, plan::Phase};

fn main() -> std::process::ExitCode {
    cli::flow_main("vf-post", Phase::Post, cli::parse_flow_args("vf-post"))
}
