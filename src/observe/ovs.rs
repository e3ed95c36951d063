//! What Open vSwitch looks like to the planners: the database (bridges, ports, interfaces,
//! `other_config`) or why it could not be read, and whether ovs-vswitchd runs. Read once per
//! observation when the config uses OVS for an observed PF or wants `hw-offload`.
//!
//! For the operator tool's `status` and `check` (issue 15, not wired yet): bridge membership is
//! [`OvsFacts::bridge_of`], missing and stale ports of a PF are `plan::ovs::ports_diff` over
//! `db` with `plan::ovs::wanted`, the hw-offload state is `db().hw_offload()` with `vswitchd`
//! (set while ovs-vswitchd already ran: a restart is due), and `db`'s error says why OVS could
//! not be read.

use crate::config::{Config, PfConfig};
use crate::host::Host;
use crate::ovs::Ovs;
use crate::ovsdb::vswitch::Snapshot;
use crate::types::IfName;

use super::PfState;

#[derive(Clone, Debug)]
pub struct OvsFacts {
    /// The database, or why it could not be read (no socket: OVS not installed or not running).
    pub db: Result<Snapshot, String>,
    /// ovs-vswitchd's pid if it runs: it reads `hw-offload` only when it starts.
    pub vswitchd: Option<u32>,
    /// The observed PF whose plan carries the host-wide `hw-offload` step (the first one), when
    /// `[ovs] hw_offload` wants it.
    pub hw_offload_on: Option<IfName>,
}

impl OvsFacts {
    pub fn db(&self) -> Option<&Snapshot> {
        self.db.as_ref().ok()
    }

    /// The bridge a netdev is a port (an interface of a port) of.
    pub fn bridge_of(&self, ifname: &str) -> Option<&str> {
        self.db()?
            .port_of_interface(ifname)
            .map(|(b, _)| b.name.as_str())
    }
}

/// `None` when no observed PF has `ovs` and `[ovs] hw_offload` is off: OVS is not ours here.
pub fn observe(host: &Host, cfg: &Config, pfs: &[(&PfConfig, PfState)]) -> Option<OvsFacts> {
    if !cfg.ovs.hw_offload && pfs.iter().all(|(pc, _)| pc.ovs.is_none()) {
        return None;
    }
    let db = Ovs::connect(host)
        .and_then(|mut o| o.read())
        .map_err(|e| format!("{e:#}"));
    Some(OvsFacts {
        db,
        // unreadable is "not known to run": the hw-offload step then says nothing of a restart
        vswitchd: host.ovs_vswitchd_pid().ok().flatten(),
        hw_offload_on: pfs
            .first()
            .filter(|_| cfg.ovs.hw_offload)
            .map(|(_, s)| s.name.clone()),
    })
}
