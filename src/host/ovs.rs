//! Open vSwitch's runtime files, as Debian's openvswitch-switch lays them out: the OVSDB
//! server's socket and ovs-vswitchd's pid file (both under /run/openvswitch). The OVSDB
//! protocol itself is in `ovsdb`, reached through the `ovs` facade.

use std::path::PathBuf;

use anyhow::Result;

use super::Host;

/// `ovs-vswitchd`, whose presence means OVS is installed.
const VSWITCHD: &str = "/usr/sbin/ovs-vswitchd";

impl Host {
    /// Open vSwitch is installed (its daemon's binary exists under the root).
    pub fn ovs_installed(&self) -> bool {
        self.installed(VSWITCHD)
    }

    /// The OVSDB server's unix socket (`ovsdb-server --remote=punix:…`).
    pub fn ovsdb_socket(&self) -> PathBuf {
        self.run("openvswitch/db.sock")
    }

    /// The pid of the running ovs-vswitchd: its pid file names a live process whose command
    /// is `ovs-vswitchd`. `None` when it is not running (a stale pid file is not running).
    pub fn ovs_vswitchd_pid(&self) -> Result<Option<u32>> {
        let Some(pid) = self.read_u32_opt(&self.run("openvswitch/ovs-vswitchd.pid"))? else {
            return Ok(None);
        };
        let comm = self.read_opt(&self.proc(format!("{pid}/comm")))?;
        Ok((comm.as_deref() == Some("ovs-vswitchd")).then_some(pid))
    }

    /// Counts a committed OVSDB transaction among this host's writes (the run's summary).
    pub fn count_ovsdb_transaction(&self) {
        self.count_write();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vswitchd_runs_when_its_pid_file_names_a_live_ovs_vswitchd() {
        let d = tempfile::tempdir().unwrap();
        let h = Host::new(d.path().to_path_buf());
        assert_eq!(h.ovs_vswitchd_pid().unwrap(), None);
        let w = |rel: &str, s: &str| {
            let p = d.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, s).unwrap();
        };
        w("run/openvswitch/ovs-vswitchd.pid", "412\n");
        assert_eq!(h.ovs_vswitchd_pid().unwrap(), None, "no such process");
        w("proc/412/comm", "bash\n");
        assert_eq!(h.ovs_vswitchd_pid().unwrap(), None, "pid reused");
        w("proc/412/comm", "ovs-vswitchd\n");
        assert_eq!(h.ovs_vswitchd_pid().unwrap(), Some(412));
        assert!(h.ovsdb_socket().ends_with("run/openvswitch/db.sock"));
    }
}
