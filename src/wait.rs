//! Event-driven waits with deadlines. Subscribe first (before triggering the change), then
//! check, then sleep in poll(2) until the kernel announces something: a link message
//! (RTNLGRP_LINK: new VF netdevs, representors, enslavement, renames) or a uevent (devices
//! added, drivers bound, RDMA devices such as `mlx5_bond_0` appearing; udevd's "processed").
//! No polling interval exists.

use std::fmt;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{
    bind, recv, setsockopt, socket, sockopt, AddressFamily, MsgFlags, NetlinkAddr, SockFlag,
    SockProtocol, SockType,
};

use crate::host::Host;
use crate::netlink::rtnl::LinkWatcher;

/// A wait ran out of time; names what never appeared. Maps to exit code 3.
#[derive(Debug)]
pub struct Timeout {
    pub what: String,
    pub after: Duration,
    pub missing: Vec<String>,
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "timed out after {:.1}s waiting for {}; missing: {}",
            self.after.as_secs_f64(),
            self.what,
            self.missing.join(", ")
        )
    }
}

impl std::error::Error for Timeout {}

/// A wait on a fixture tree (`SRIOV_OFFLOAD_ROOT`): no kernel is behind it to announce
/// anything, so what is missing at the first look never appears. Nothing was waited for;
/// exit code 3, like a timeout, since the message lists what never appeared.
#[derive(Debug)]
pub struct NoEvents {
    pub what: String,
    pub missing: Vec<String>,
}

impl fmt::Display for NoEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is not there, and on a fixture tree (SRIOV_OFFLOAD_ROOT) no kernel event can bring it: not waited for; missing: {}",
            self.what,
            self.missing.join(", ")
        )
    }
}

impl std::error::Error for NoEvents {}

// kernel uevents, and udevd's own announcement that it has processed a device (its rules ran,
// a netdev was renamed, its database record written)
const UEVENT_KERNEL_GROUP: u32 = 1;
const UEVENT_UDEV_GROUP: u32 = 2;

fn subscribe(proto: SockProtocol, groups: u32, name: &str) -> Result<OwnedFd> {
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        proto,
    )
    .with_context(|| format!("opening {name} netlink socket"))?;
    // bursts (64 representors at once) must not overflow before we drain
    let _ = setsockopt(&fd, sockopt::RcvBuf, &(1 << 20));
    bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &NetlinkAddr::new(0, groups),
    )
    .with_context(|| format!("subscribing to {name} events"))?;
    Ok(fd)
}

pub struct Waiter {
    links: Option<LinkWatcher>,
    uevents: Option<OwnedFd>,
    pub events: u32,
}

impl Waiter {
    /// Subscribes to link and device events on the running system; on a fixture tree there
    /// are no events and a wait that is not already satisfied fails at once ([`NoEvents`]).
    pub fn new(host: &Host) -> Result<Waiter> {
        if !host.is_real() {
            return Ok(Waiter {
                links: None,
                uevents: None,
                events: 0,
            });
        }
        Ok(Waiter {
            links: Some(LinkWatcher::new()?),
            uevents: Some(subscribe(
                SockProtocol::NetlinkKObjectUEvent,
                UEVENT_KERNEL_GROUP | UEVENT_UDEV_GROUP,
                "kobject-uevent",
            )?),
            events: 0,
        })
    }

    /// Blocks until some event arrives or `timeout` passes; drains everything queued so a
    /// burst costs one re-check. Returns false on timeout.
    fn wait_any(&mut self, timeout: Duration) -> Result<bool> {
        let (Some(links), Some(uevents)) = (self.links.as_mut(), self.uevents.as_ref()) else {
            return Ok(false);
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        let mut fds = [
            PollFd::new(links.as_fd(), PollFlags::POLLIN),
            PollFd::new(uevents.as_fd(), PollFlags::POLLIN),
        ];
        let n = match poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => return Ok(true),
            Err(e) => return Err(e).context("waiting for netlink events"),
        };
        if n == 0 {
            return Ok(false);
        }
        self.events += 1;
        links.drain()?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match recv(
                std::os::fd::AsRawFd::as_raw_fd(uevents),
                &mut buf,
                MsgFlags::MSG_DONTWAIT,
            ) {
                // overrun: we lost messages, which only means "re-check", as any event does
                Ok(_) | Err(nix::errno::Errno::ENOBUFS) => {}
                Err(nix::errno::Errno::EAGAIN) => break,
                Err(e) => return Err(e).context("reading uevents"),
            }
        }
        Ok(true)
    }

    /// Re-runs `check` at start and after every burst of events until it returns `Ok(None)`
    /// (done) or the deadline passes; `Some(missing)` lists what is not there yet.
    pub fn until(
        &mut self,
        what: &str,
        deadline: Instant,
        mut check: impl FnMut() -> Result<Option<Vec<String>>>,
    ) -> Result<()> {
        let start = Instant::now();
        loop {
            let Some(missing) = check()? else {
                return Ok(());
            };
            let now = Instant::now();
            if self.links.is_none() {
                return Err(NoEvents {
                    what: what.to_string(),
                    missing,
                }
                .into());
            }
            if now >= deadline {
                return Err(Timeout {
                    what: what.to_string(),
                    after: now - start,
                    missing,
                }
                .into());
            }
            self.wait_any(deadline - now)?;
        }
    }
}
