//! Setting an InfiniBand VF's port policy: MLNX_OFED's per-PF `sriov/N/policy` when the PF
//! has it, else (upstream kernels) the VF link state through rtnetlink on the PF's IPoIB
//! netdev (see `observe::ib`). Decided when the step runs: a PF without VFs at planning time
//! gets its `sriov/N` files with the VFs this run creates.

use anyhow::{bail, Result};

use crate::config::{IbPolicy, VfConfig};
use crate::host::Host;
use crate::kernel::Kernel;
use crate::observe::{ib::link_state_of, PfState};

pub(super) fn set_policy(
    host: &Host,
    kernel: &mut Kernel,
    pf: &PfState,
    vf: u32,
    policy: IbPolicy,
) -> Result<()> {
    let dev = host.pf_device(&pf.name)?;
    if dev.has_vf_policy_file() {
        return dev.set_vf_policy(vf, policy);
    }
    if kernel.is_real() && !pf.no_netdev {
        let cfg = VfConfig {
            link_state: Some(link_state_of(policy)),
            ..VfConfig::default()
        };
        return kernel.set_vf(&pf.name, vf, &cfg);
    }
    bail!(
        "{}: cannot set the IB port policy of VF {vf}: there is no {} (MLNX_OFED's per-PF policy file) and {}",
        pf.name,
        dev.vf_policy_file(vf).display(),
        if pf.no_netdev {
            "the PF has no netdev for rtnetlink's VF link state (no IPoIB)"
        } else {
            "rtnetlink is not used on a fixture tree"
        }
    )
}
