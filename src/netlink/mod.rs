//! Thin typed wrappers over the three netlink families we use: rtnetlink (links, VFs, link
//! events), generic netlink `devlink` (eswitch mode, ports) and generic netlink `ethtool`
//! (features, rings, channels), plus the one `SIOCETHTOOL` ioctl that has no netlink form on
//! older kernels (RSS hash function).
//!
//! Each family module keeps its raw attribute and command numbers in one `consts` block that
//! names the kernel header they come from. Messages are built and parsed with `neli`'s types;
//! the socket loop (sequence numbers, multi-part dumps, ACKs, extended-ACK messages) lives in
//! [`conn`].
//!
//! Errors are `anyhow` errors whose context names the interface (or devlink handle) and the
//! operation. When the kernel refused a request the root cause is a [`KernelError`], so a caller
//! that must branch (e.g. "not supported" vs. anything else) can use [`errno`].

mod attrs;
mod conn;
pub mod devlink;
pub mod ethtool;
pub mod rtnl;

pub use conn::KernelError;
pub use devlink::{Devlink, DevlinkHandle, DevlinkPort, EswitchMode};
pub use ethtool::{
    rss_hfunc, set_rss_hfunc, Channels, ChannelsSet, Ethtool, FeatureState, Hfunc, Rings,
};
pub use rtnl::{Link, LinkState, LinkWatcher, Rtnl, VfInfo, VfProps};

use nix::errno::Errno;

/// The errno behind an error returned by this module, if the kernel (a netlink error reply or a
/// failed system call) produced one. Walks the whole context chain.
///
/// ```ignore
/// match devlink.eswitch_mode(&h) {
///     Err(e) if netlink::errno(&e) == Some(Errno::EOPNOTSUPP) => { /* no eswitch */ }
///     ..
/// }
/// ```
pub fn errno(err: &anyhow::Error) -> Option<Errno> {
    err.chain().find_map(|cause| {
        if let Some(k) = cause.downcast_ref::<KernelError>() {
            Some(k.errno)
        } else if let Some(e) = cause.downcast_ref::<Errno>() {
            Some(*e)
        } else {
            cause
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.raw_os_error())
                .map(Errno::from_raw)
        }
    })
}

/// Largest interface name the kernel accepts (IFNAMSIZ - 1).
pub(crate) const IFNAME_MAX: usize = 15;

/// Rejects names the kernel would refuse anyway, with a message naming the operation; the
/// kernel's own answer (EINVAL / ENODEV) would not say why.
pub(crate) fn check_ifname(name: &str, op: &str) -> anyhow::Result<()> {
    if name.is_empty() || name.len() > IFNAME_MAX || name.contains(['/', '\0']) {
        anyhow::bail!(
            "{op}: {name:?} is not a valid interface name (1-{IFNAME_MAX} bytes, no '/' or NUL)"
        );
    }
    Ok(())
}
