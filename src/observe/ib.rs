//! InfiniBand VF port policies of a PF with `ib.policy` (seed 004 writes `Follow`), and the
//! stand-in netdev state of a PF without a netdev.
//!
//! Where the policy is read and set:
//! - MLNX_OFED: `/sys/bus/pci/devices/<PF>/sriov/<N>/policy` (mlx5_core's `sriov_sysfs.c`;
//!   values `Follow`, `Up`, `Down`). Upstream kernels have no such file.
//! - upstream: the VF link state, rtnetlink `IFLA_VF_LINK_STATE` auto / enable / disable on the
//!   PF's IPoIB netdev (ipoib's `ndo_set_vf_link_state` → `ib_set_vf_link_state`, which the IB
//!   core documents as the VF's link policy; since 4.6, "IB/core: Add interfaces to control VF
//!   attributes"). A PF without a netdev has no link to ask: only the MLNX_OFED file works.

use std::collections::BTreeMap;

use anyhow::{bail, Result};

use super::{GuidVia, PfState};
use crate::config::IbPolicy;
use crate::host::net::NetdevState;
use crate::host::Host;
use crate::netlink::rtnl::{LinkState, VfInfo};
use crate::types::IfName;

/// A PF's VF port policies as they are now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IbFacts {
    /// How they are set: [`GuidVia::Sysfs`] (the file), [`GuidVia::Netlink`] (link state) or
    /// why neither can be used.
    pub policy_via: Option<GuidVia>,
    /// VF index → policy, where it could be read.
    pub policy: BTreeMap<u32, IbPolicy>,
}

pub fn policy_of(l: LinkState) -> IbPolicy {
    match l {
        LinkState::Auto => IbPolicy::Follow,
        LinkState::Enable => IbPolicy::Up,
        LinkState::Disable => IbPolicy::Down,
    }
}

/// The VF link state that is `p` on an upstream kernel.
pub fn link_state_of(p: IbPolicy) -> crate::config::LinkState {
    match p {
        IbPolicy::Follow => crate::config::LinkState::Auto,
        IbPolicy::Up => crate::config::LinkState::Enable,
        IbPolicy::Down => crate::config::LinkState::Disable,
    }
}

/// Reads the policies of `s`'s VFs; `info` is what rtnetlink reports for its netdev.
pub fn observe(host: &Host, s: &PfState, info: Option<&Vec<VfInfo>>) -> Result<IbFacts> {
    let dev = host.pf_device(&s.name)?;
    let mut f = IbFacts::default();
    if s.numvfs == 0 && (!s.no_netdev || dev.has_vf_sysfs_dir()) {
        // decided when the step runs, once the VFs (and their sriov/N) exist
        f.policy_via = Some(GuidVia::NoVfsYet);
        return Ok(f);
    }
    if s.numvfs == 0 {
        f.policy_via = Some(GuidVia::Missing(format!(
            "cannot set the IB port policy of its VFs: there is no {} (MLNX_OFED's per-PF policy files) and it has no netdev for rtnetlink's VF link state (no IPoIB)",
            dev.vf_sysfs_dir().display()
        )));
        return Ok(f);
    }
    if dev.has_vf_policy_file() {
        f.policy_via = Some(GuidVia::Sysfs);
        for vf in 0..s.numvfs {
            if let Some(p) = dev.vf_policy(vf)? {
                f.policy.insert(vf, p);
            }
        }
        return Ok(f);
    }
    let reported: Vec<(u32, IbPolicy)> = info
        .into_iter()
        .flatten()
        .filter_map(|i| Some((i.vf, policy_of(LinkState::from_raw(i.link_state?)?))))
        .collect();
    if !s.no_netdev && !reported.is_empty() {
        f.policy_via = Some(GuidVia::Netlink);
        f.policy.extend(reported);
        return Ok(f);
    }
    let why = if s.no_netdev {
        "it has no netdev for rtnetlink's VF link state (no IPoIB)"
    } else if host.is_real() {
        "the driver reports no VF link state through rtnetlink"
    } else {
        "rtnetlink is not used on a fixture tree"
    };
    f.policy_via = Some(GuidVia::Missing(format!(
        "cannot set the IB port policy of its VFs: there is no {} (MLNX_OFED's per-PF policy file) and {why}",
        dev.vf_policy_file(0).display()
    )));
    Ok(f)
}

/// The netdev state of a PF without a netdev, so that everything reading a PF's netdev sees
/// one nobody uses: down, enslaved to nothing, on no switch, without a MAC.
pub fn no_netdev(label: &IfName) -> NetdevState {
    NetdevState {
        name: label.clone(),
        up: false,
        master: None,
        switch_id: None,
        port_name: None,
        mac: None,
    }
}

/// `ib.device` names the PF's RDMA device (it is optional: a check that `match` found the PF
/// meant, and a name for messages).
pub fn check_device(host: &Host, s: &PfState, device: &str, origin: &str) -> Result<()> {
    let dev = host.pf_device(&s.name)?;
    let have = dev.ib_devices()?;
    if have.iter().any(|d| d == device) {
        return Ok(());
    }
    let dir = dev.dir().join("infiniband");
    if have.is_empty() {
        bail!(
            "{}: ib.device = {device} ({origin}), but {} has no RDMA device ({} is missing or empty): not an InfiniBand PF, or mlx5_ib is not loaded",
            s.name,
            s.dev_name,
            dir.display()
        );
    }
    bail!(
        "{}: ib.device = {device} ({origin}), but the RDMA device of {} is {} ({}): fix match or ib.device",
        s.name,
        s.dev_name,
        have.join(", "),
        dir.display()
    )
}
