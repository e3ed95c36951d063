//! The facade over Open vSwitch's database (next to `kernel`, the one over netlink): connects to
//! the OVSDB server's socket under the host's root, reads a [`Snapshot`], and commits the write
//! transactions `ovsdb::vswitch` builds, each counted among the run's writes. Connected per
//! use: a step's one transaction is one short session, and a thread of the executor needs no
//! shared connection.

use std::os::unix::net::UnixStream;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::host::Host;
use crate::ovsdb::vswitch::{self, Snapshot};
use crate::ovsdb::Client;

/// How long one request may take: the server answers local requests in milliseconds; a hung
/// server must not hang the boot (vf-post, ovs-vswitchd's ExecStartPre).
pub const TIMEOUT: Duration = Duration::from_secs(10);

pub struct Ovs<'h> {
    host: &'h Host,
    client: Client<UnixStream>,
}

impl<'h> Ovs<'h> {
    /// Connects to `/run/openvswitch/db.sock` (under the host's root).
    pub fn connect(host: &'h Host) -> Result<Ovs<'h>> {
        let path = host.ovsdb_socket();
        let s = UnixStream::connect(&path).map_err(|e| {
            let hint = match e.kind() {
                std::io::ErrorKind::NotFound => {
                    "no such socket: Open vSwitch is not installed (openvswitch-switch) or ovsdb-server is not running"
                }
                std::io::ErrorKind::ConnectionRefused => "ovsdb-server is not running (stale socket)",
                _ => "is ovsdb-server running?",
            };
            anyhow::Error::new(e).context(format!(
                "cannot connect to the OVSDB server at {} ({hint})",
                path.display()
            ))
        })?;
        s.set_read_timeout(Some(TIMEOUT))
            .and_then(|()| s.set_write_timeout(Some(TIMEOUT)))
            .with_context(|| format!("setting timeouts on {}", path.display()))?;
        Ok(Ovs {
            host,
            client: Client::new(s, path.display().to_string()),
        })
    }

    /// The database as it is now (a read: commits nothing).
    pub fn read(&mut self) -> Result<Snapshot> {
        vswitch::read(&mut self.client)
    }

    /// Commits one write transaction, counted as one of the run's writes.
    pub fn commit(&mut self, ops: &[Value]) -> Result<()> {
        self.host.count_ovsdb_transaction();
        self.client.transact(vswitch::DB, ops).map(|_| ())
    }
}
