//! rtnetlink (NETLINK_ROUTE): links, SR-IOV VF properties on a PF, and link events.

use std::{
    io::{self, Cursor},
    os::fd::{AsRawFd, BorrowedFd},
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context, Result};
use neli::{
    consts::{
        nl::NlmF,
        rtnl::{Iff, Ifla, IflaInfo, RtAddrFamily, Rtm},
        socket::{Msg, NlFamily},
    },
    rtnl::{Ifinfomsg, IfinfomsgBuilder, Rtattr},
    socket::NlSocket,
    types::{Buffer, RtBuffer},
    utils::Groups,
    FromBytesWithInput,
};
use nix::{
    errno::Errno,
    poll::{poll, PollFd, PollFlags, PollTimeout},
};

use super::{
    attrs::{find_rta, parse_rta, rta, rta_nest, str_of, u32_of, NLA_TYPE_MASK},
    check_ifname,
    conn::Conn,
};

/// Numbers neli's `Ifla`/`IflaInfo` enums do not name. Top-level IFLA_* attributes use neli's
/// `Ifla` (IFLA_VFINFO_LIST = 22, IFLA_NUM_VF = 21, IFLA_EXT_MASK = 29,
/// IFLA_PHYS_SWITCH_ID = 36, IFLA_PHYS_PORT_NAME = 38 in linux/if_link.h).
mod consts {
    // linux/rtnetlink.h
    pub const RTEXT_FILTER_VF: u32 = 1 << 0;
    pub const RTEXT_FILTER_SKIP_STATS: u32 = 1 << 3;
    pub const RTNLGRP_LINK: u32 = 1;

    // linux/if_link.h: IFLA_VFINFO_LIST nests IFLA_VF_INFO, which nests IFLA_VF_*
    pub const IFLA_VF_INFO: u16 = 1;
    pub const IFLA_VF_MAC: u16 = 1; // struct ifla_vf_mac { u32 vf; u8 mac[32]; }
    pub const IFLA_VF_VLAN: u16 = 2; // struct ifla_vf_vlan { u32 vf; u32 vlan; u32 qos; }
    pub const IFLA_VF_SPOOFCHK: u16 = 4; // struct ifla_vf_spoofchk { u32 vf; u32 setting; }
    pub const IFLA_VF_LINK_STATE: u16 = 5; // struct ifla_vf_link_state { u32 vf; u32 link_state; }
    pub const IFLA_VF_RATE: u16 = 6; // struct ifla_vf_rate { u32 vf; u32 min_tx_rate; u32 max_tx_rate; }
    pub const IFLA_VF_TRUST: u16 = 9; // struct ifla_vf_trust { u32 vf; u32 setting; }
    pub const IFLA_VF_IB_NODE_GUID: u16 = 10; // struct ifla_vf_guid { u32 vf; u64 guid; } (16 bytes)
    pub const IFLA_VF_IB_PORT_GUID: u16 = 11;
    /// `sizeof(((struct ifla_vf_mac *)0)->mac)`: MAX_ADDR_LEN
    pub const VF_MAC_LEN: usize = 32;
    /// rtnl_fill_vfinfo() reports spoofchk/trust as this when the driver does not say.
    pub const VF_SETTING_UNKNOWN: u32 = u32::MAX;

    // linux/if_link.h: IFLA_VF_LINK_STATE_*
    pub const IFLA_VF_LINK_STATE_AUTO: u32 = 0;
    pub const IFLA_VF_LINK_STATE_ENABLE: u32 = 1;
    pub const IFLA_VF_LINK_STATE_DISABLE: u32 = 2;
}

/// A network interface as RTM_GETLINK reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// Administratively up (IFF_UP).
    pub up: bool,
    /// Operationally up (IFF_RUNNING: operstate UP, or UNKNOWN for drivers that do not report
    /// one, e.g. dummy). A veth whose peer is down is `up` but not `oper_up`.
    pub oper_up: bool,
    /// ifindex of the master (bridge, bond, OVS) this link is enslaved to.
    pub master: Option<u32>,
    pub mac: Option<[u8; 6]>,
    /// IFLA_LINKINFO/IFLA_INFO_KIND: "veth", "bridge", "bond"…; None for plain hardware NICs.
    pub kind: Option<String>,
    /// Shared by a switchdev PF, its uplink and its representors.
    pub phys_switch_id: Option<Vec<u8>>,
    /// "pf0vf3", "p0", "pf0", … on representors and switchdev uplinks.
    pub phys_port_name: Option<String>,
    /// Number of VFs of the device behind this netdev; present only for netdevs with a parent
    /// device (PCI, netdevsim), absent for virtual ones.
    pub num_vf: Option<u32>,
}

/// One VF of a PF as the PF driver reports it (RTM_GETLINK, IFLA_VFINFO_LIST).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VfInfo {
    pub vf: u32,
    pub mac: [u8; 6],
    pub vlan: u16,
    pub qos: u32,
    /// None when the driver does not report it.
    pub spoofchk: Option<bool>,
    /// None when the driver does not report it.
    pub trust: Option<bool>,
    /// IFLA_VF_LINK_STATE_*: 0 auto, 1 enable, 2 disable (see [`LinkState::from_raw`]).
    pub link_state: Option<u32>,
    /// InfiniBand node and port GUID (IFLA_VF_IB_NODE_GUID / _PORT_GUID, big-endian bytes as
    /// `ip link` prints them); `None` when the driver reports none (not an IB-capable PF).
    pub node_guid: Option<[u8; 8]>,
    pub port_guid: Option<[u8; 8]>,
    /// IFLA_VF_RATE, Mbit/s (0: no limit / no minimum); `None` when the kernel sends none.
    pub min_tx_rate: Option<u32>,
    pub max_tx_rate: Option<u32>,
}

/// VF link state as the PF enforces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Follow the uplink.
    Auto,
    /// Always up.
    Enable,
    /// Always down.
    Disable,
}

impl LinkState {
    pub fn raw(self) -> u32 {
        match self {
            LinkState::Auto => consts::IFLA_VF_LINK_STATE_AUTO,
            LinkState::Enable => consts::IFLA_VF_LINK_STATE_ENABLE,
            LinkState::Disable => consts::IFLA_VF_LINK_STATE_DISABLE,
        }
    }

    pub fn from_raw(v: u32) -> Option<Self> {
        match v {
            consts::IFLA_VF_LINK_STATE_AUTO => Some(LinkState::Auto),
            consts::IFLA_VF_LINK_STATE_ENABLE => Some(LinkState::Enable),
            consts::IFLA_VF_LINK_STATE_DISABLE => Some(LinkState::Disable),
            _ => None,
        }
    }
}

/// VF properties to change; only the `Some` fields are sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VfProps {
    pub mac: Option<[u8; 6]>,
    /// 0 disables VLAN insertion/filtering.
    pub vlan: Option<u16>,
    /// 802.1p priority for `vlan`. If only one of vlan/qos is given, the other keeps its
    /// current value (they travel in one attribute).
    pub qos: Option<u32>,
    pub spoofchk: Option<bool>,
    pub trust: Option<bool>,
    pub link_state: Option<LinkState>,
    /// Mbit/s. Both travel in one attribute: if only one is given, the other keeps its
    /// current value.
    pub min_tx_rate: Option<u32>,
    pub max_tx_rate: Option<u32>,
}

impl VfProps {
    pub fn is_empty(&self) -> bool {
        *self == VfProps::default()
    }
}

/// A NETLINK_ROUTE request socket.
pub struct Rtnl {
    conn: Conn,
}

impl Rtnl {
    pub fn new() -> Result<Self> {
        let conn = Conn::open(NlFamily::Route).context("opening NETLINK_ROUTE socket")?;
        Ok(Rtnl { conn })
    }

    /// All links in this network namespace (RTM_GETLINK dump).
    pub fn links(&mut self) -> Result<Vec<Link>> {
        let replies = self
            .conn
            .request(Rtm::Getlink, NlmF::DUMP, getlink_msg(None)?)
            .context("listing links via RTM_GETLINK dump")?;
        replies
            .iter()
            .map(|b| parse_ifinfomsg(b).and_then(|m| link_from(&m)))
            .collect::<Result<_>>()
            .context("parsing RTM_GETLINK dump")
    }

    /// The link called `name`, or None if there is none.
    pub fn link(&mut self, name: &str) -> Result<Option<Link>> {
        let op = || format!("reading link {name} via RTM_GETLINK");
        match self.getlink(name).with_context(op)? {
            None => Ok(None),
            Some(m) => link_from(&m).with_context(op).map(Some),
        }
    }

    /// The link with ifindex `index` (e.g. a [`Link::master`] or a devlink port's netdev), or
    /// None if there is none.
    pub fn link_by_index(&mut self, index: u32) -> Result<Option<Link>> {
        let op = || format!("reading link #{index} via RTM_GETLINK");
        let ifi_index = i32::try_from(index)
            .map_err(|_| anyhow!("ifindex out of range"))
            .with_context(op)?;
        let msg = IfinfomsgBuilder::default()
            .ifi_family(RtAddrFamily::Unspecified)
            .ifi_index(ifi_index)
            .rtattrs(getlink_msg(None)?.rtattrs().clone())
            .build()?;
        match self.conn.request(Rtm::Getlink, NlmF::empty(), msg) {
            Ok(replies) => match replies.as_slice() {
                [one] => link_from(&parse_ifinfomsg(one)?).with_context(op).map(Some),
                other => Err(anyhow!("expected one reply, got {}", other.len())).with_context(op),
            },
            Err(e) if super::errno(&e) == Some(Errno::ENODEV) => Ok(None),
            Err(e) => Err(e).with_context(op),
        }
    }

    /// One VF as its PF's driver reports it now: a setter that must send a pair of values
    /// (VLAN with QoS, both tx rates) keeps the half that is not configured.
    fn current_vf(&mut self, pf: &str, vf: u32, what: &str) -> Result<VfInfo> {
        self.vfs(pf)?
            .into_iter()
            .find(|i| i.vf == vf)
            .ok_or_else(|| anyhow!("{pf} reports no VF {vf}"))
            .with_context(|| {
                format!(
                    "reading the current {what} of VF {vf} on {pf}, to keep what is not configured"
                )
            })
    }

    /// The VFs of PF `pf` as its driver reports them; empty for a device without VFs (or
    /// without SR-IOV at all).
    pub fn vfs(&mut self, pf: &str) -> Result<Vec<VfInfo>> {
        let op = || format!("reading VFs of {pf} via RTM_GETLINK (IFLA_VFINFO_LIST)");
        let msg = self
            .getlink(pf)
            .with_context(op)?
            .ok_or_else(|| anyhow!("no such interface"))
            .with_context(op)?;
        vfs_from(msg.rtattrs()).with_context(op)
    }

    /// Sets the `Some` fields of `props` on VF `vf` of `pf` (RTM_SETLINK on the PF with
    /// IFLA_VFINFO_LIST). Each property is its own request so an error names the one the
    /// driver refused; properties before it stay applied.
    ///
    /// The `struct ifla_vf_*` payloads are packed here by byte offset rather than through
    /// netlink-packet-route's VF types: that crate brings its own socket and message stack
    /// (netlink-sys, netlink-packet-core) beside neli, which devlink and ethtool need anyway
    /// (no rust-netlink crate covers those families as we use them); two netlink stacks for
    /// six fixed-layout structs is the worse trade. The layouts follow `<linux/if_link.h>`;
    /// the parsing tests below and the test bed's flow-standalone scenario (VF properties set
    /// on igb and read back from the kernel) check them.
    pub fn set_vf(&mut self, pf: &str, vf: u32, props: &VfProps) -> Result<()> {
        check_ifname(pf, "setting VF properties")?;
        let mut attrs: Vec<(&str, Rtattr<u16, Buffer>)> = Vec::new();
        if let Some(mac) = props.mac {
            let mut b = vf.to_ne_bytes().to_vec();
            let mut m = [0u8; consts::VF_MAC_LEN];
            m[..6].copy_from_slice(&mac);
            b.extend_from_slice(&m);
            attrs.push(("MAC", rta(consts::IFLA_VF_MAC, Buffer::from(b))?));
        }
        if props.vlan.is_some() || props.qos.is_some() {
            let (vlan, qos) = match (props.vlan, props.qos) {
                (Some(v), Some(q)) => (v, q),
                _ => {
                    let cur = self.current_vf(pf, vf, "VLAN")?;
                    (props.vlan.unwrap_or(cur.vlan), props.qos.unwrap_or(cur.qos))
                }
            };
            let b = words(&[vf, u32::from(vlan), qos]);
            attrs.push(("VLAN/QoS", rta(consts::IFLA_VF_VLAN, Buffer::from(b))?));
        }
        if let Some(on) = props.spoofchk {
            let b = words(&[vf, u32::from(on)]);
            attrs.push(("spoofchk", rta(consts::IFLA_VF_SPOOFCHK, Buffer::from(b))?));
        }
        if let Some(on) = props.trust {
            let b = words(&[vf, u32::from(on)]);
            attrs.push(("trust", rta(consts::IFLA_VF_TRUST, Buffer::from(b))?));
        }
        if let Some(ls) = props.link_state {
            let b = words(&[vf, ls.raw()]);
            attrs.push((
                "link state",
                rta(consts::IFLA_VF_LINK_STATE, Buffer::from(b))?,
            ));
        }
        for (what, attr) in attrs {
            self.set_vf_attr(pf, attr)
                .with_context(|| format!("setting VF {vf} {what} on {pf} via RTM_SETLINK"))?;
        }
        if props.min_tx_rate.is_some() || props.max_tx_rate.is_some() {
            let (min, max) = match (props.min_tx_rate, props.max_tx_rate) {
                (Some(a), Some(b)) => (a, b),
                _ => {
                    let cur = self.current_vf(pf, vf, "tx rates")?;
                    (
                        props.min_tx_rate.or(cur.min_tx_rate).unwrap_or(0),
                        props.max_tx_rate.or(cur.max_tx_rate).unwrap_or(0),
                    )
                }
            };
            let attr = rta(consts::IFLA_VF_RATE, Buffer::from(words(&[vf, min, max])))?;
            self.set_vf_attr(pf, attr).map_err(|e| {
                let refused = matches!(
                    super::errno(&e),
                    Some(Errno::EINVAL | Errno::EOPNOTSUPP)
                );
                let why = if refused && min > 0 {
                    format!(
                        "the driver of {pf} refuses min_tx_rate {min} (igb and others limit max_tx_rate only; a device without SR-IOV refuses any rate): remove min_tx_rate of VF {vf} from the config"
                    )
                } else if refused {
                    format!("the driver of {pf} refuses it (no rate limiting, or a rate above the link speed, or the link down?)")
                } else {
                    "the kernel refused it".into()
                };
                e.context(format!(
                    "setting VF {vf} tx rate (min_tx_rate {min}, max_tx_rate {max} Mbit/s) on {pf} via RTM_SETLINK: {why}"
                ))
            })?;
        }
        Ok(())
    }

    /// Sets the MTU of `name` (RTM_SETLINK with IFLA_MTU).
    pub fn set_mtu(&mut self, name: &str, mtu: u32) -> Result<()> {
        let op = || format!("setting the MTU of {name} to {mtu} via RTM_SETLINK");
        check_ifname(name, &op())?;
        let msg = IfinfomsgBuilder::default()
            .ifi_family(RtAddrFamily::Unspecified)
            .rtattrs(
                [rta(Ifla::Ifname, name)?, rta(Ifla::Mtu, mtu)?]
                    .into_iter()
                    .collect::<RtBuffer<_, _>>(),
            )
            .build()?;
        self.conn
            .request(Rtm::Setlink, NlmF::empty(), msg)
            .map_err(|e| {
                if super::errno(&e) == Some(Errno::EINVAL) {
                    e.context("the driver does not allow this MTU (outside its min_mtu..max_mtu; a VF's maximum may follow its PF's MTU)")
                } else {
                    no_such_interface(e)
                }
            })
            .with_context(op)?;
        Ok(())
    }

    /// Sets the InfiniBand node and/or port GUID of VF `vf` of `pf` (IFLA_VF_IB_NODE_GUID /
    /// IFLA_VF_IB_PORT_GUID). The VF must be re-bound to its driver for a new GUID to apply.
    pub fn set_vf_ib_guids(
        &mut self,
        pf: &str,
        vf: u32,
        node: Option<u64>,
        port: Option<u64>,
    ) -> Result<()> {
        check_ifname(pf, "setting VF GUIDs")?;
        for (what, ty, guid) in [
            ("node GUID", consts::IFLA_VF_IB_NODE_GUID, node),
            ("port GUID", consts::IFLA_VF_IB_PORT_GUID, port),
        ] {
            let Some(guid) = guid else { continue };
            // struct ifla_vf_guid { __u32 vf; __u64 guid; }: 4 bytes of padding after vf.
            let mut b = vf.to_ne_bytes().to_vec();
            b.extend_from_slice(&[0; 4]);
            b.extend_from_slice(&guid.to_ne_bytes());
            self.set_vf_attr(pf, rta(ty, Buffer::from(b))?)
                .with_context(|| format!("setting VF {vf} {what} on {pf} via RTM_SETLINK"))?;
        }
        Ok(())
    }

    /// Sets `name` administratively up or down.
    pub fn set_up(&mut self, name: &str, up: bool) -> Result<()> {
        let op = || {
            format!(
                "setting {name} {} via RTM_SETLINK",
                if up { "up" } else { "down" }
            )
        };
        check_ifname(name, &op())?;
        let b = IfinfomsgBuilder::default().ifi_family(RtAddrFamily::Unspecified);
        let b = if up { b.up() } else { b.down() };
        let msg = b
            .rtattrs(std::iter::once(rta(Ifla::Ifname, name)?).collect::<RtBuffer<_, _>>())
            .build()?;
        self.conn
            .request(Rtm::Setlink, NlmF::empty(), msg)
            .map_err(no_such_interface)
            .with_context(op)?;
        Ok(())
    }

    fn set_vf_attr(&mut self, pf: &str, attr: Rtattr<u16, Buffer>) -> Result<()> {
        let list = rta_nest(
            Ifla::VfinfoList,
            &[rta_nest(consts::IFLA_VF_INFO, &[attr])?],
        )?;
        let msg = IfinfomsgBuilder::default()
            .ifi_family(RtAddrFamily::Unspecified)
            .rtattrs(
                [rta(Ifla::Ifname, pf)?, list]
                    .into_iter()
                    .collect::<RtBuffer<_, _>>(),
            )
            .build()?;
        self.conn
            .request(Rtm::Setlink, NlmF::empty(), msg)
            .map_err(no_such_interface)?;
        Ok(())
    }

    /// RTM_GETLINK for one name, with VF info; None on ENODEV.
    fn getlink(&mut self, name: &str) -> Result<Option<Ifinfomsg>> {
        check_ifname(name, "RTM_GETLINK")?;
        match self
            .conn
            .request(Rtm::Getlink, NlmF::empty(), getlink_msg(Some(name))?)
        {
            Ok(replies) => match replies.as_slice() {
                [one] => parse_ifinfomsg(one).map(Some),
                other => bail!("expected one RTM_NEWLINK reply, got {}", other.len()),
            },
            Err(e) if super::errno(&e) == Some(Errno::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// ENODEV from a SETLINK by name means the interface does not exist; say so in words.
fn no_such_interface(e: anyhow::Error) -> anyhow::Error {
    if super::errno(&e) == Some(Errno::ENODEV) {
        e.context("no such interface")
    } else {
        e
    }
}

fn words(ws: &[u32]) -> Vec<u8> {
    ws.iter().flat_map(|w| w.to_ne_bytes()).collect()
}

fn getlink_msg(name: Option<&str>) -> Result<Ifinfomsg> {
    let mut attrs = RtBuffer::new();
    if let Some(n) = name {
        attrs.push(rta(Ifla::Ifname, n)?);
    }
    // VF info (and IFLA_NUM_VF) only comes with RTEXT_FILTER_VF; skip per-VF stats, which are
    // large and which we never read.
    attrs.push(rta(
        Ifla::ExtMask,
        consts::RTEXT_FILTER_VF | consts::RTEXT_FILTER_SKIP_STATS,
    )?);
    Ok(IfinfomsgBuilder::default()
        .ifi_family(RtAddrFamily::Unspecified)
        .rtattrs(attrs)
        .build()?)
}

fn parse_ifinfomsg(b: &Buffer) -> Result<Ifinfomsg> {
    Ifinfomsg::from_bytes_with_input(&mut Cursor::new(b.as_ref()), b.len())
        .context("malformed RTM_NEWLINK message")
}

fn link_from(m: &Ifinfomsg) -> Result<Link> {
    let a = m.rtattrs();
    let name = find_rta(a, Ifla::Ifname)
        .map(str_of)
        .ok_or_else(|| anyhow!("link {} has no IFLA_IFNAME", m.ifi_index()))?;
    let kind = match find_rta(a, Ifla::Linkinfo) {
        Some(info) => find_rta(&parse_rta(info)?, IflaInfo::Kind).map(str_of),
        None => None,
    };
    let mac = find_rta(a, Ifla::Address).and_then(|b| <[u8; 6]>::try_from(b).ok());
    Ok(Link {
        index: u32::try_from(*m.ifi_index())
            .with_context(|| format!("{name} has a negative ifindex"))?,
        up: m.ifi_flags().contains(Iff::UP),
        oper_up: m.ifi_flags().contains(Iff::RUNNING),
        master: find_rta(a, Ifla::Master)
            .and_then(u32_of)
            .filter(|&i| i != 0),
        mac,
        kind,
        phys_switch_id: find_rta(a, Ifla::PhysSwitchId).map(<[u8]>::to_vec),
        phys_port_name: find_rta(a, Ifla::PhysPortName).map(str_of),
        num_vf: find_rta(a, Ifla::NumVf).and_then(u32_of),
        name,
    })
}

fn vfs_from(a: &RtBuffer<Ifla, Buffer>) -> Result<Vec<VfInfo>> {
    let Some(list) = find_rta(a, Ifla::VfinfoList) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for entry in parse_rta(list)?.iter() {
        if *entry.rta_type() & NLA_TYPE_MASK != consts::IFLA_VF_INFO {
            continue;
        }
        out.push(vf_from(&parse_rta(entry.rta_payload().as_ref())?)?);
    }
    out.sort_by_key(|v| v.vf);
    Ok(out)
}

fn vf_from(a: &RtBuffer<u16, Buffer>) -> Result<VfInfo> {
    let mac_attr = find_rta(a, consts::IFLA_VF_MAC)
        .filter(|b| b.len() >= 4 + 6)
        .ok_or_else(|| anyhow!("IFLA_VF_INFO without a valid IFLA_VF_MAC"))?;
    let field = |ty: u16, idx: usize| {
        find_rta(a, ty).and_then(|b| u32_of(b.get(idx * 4..).unwrap_or_default()))
    };
    let setting = |ty| field(ty, 1).filter(|&v| v != consts::VF_SETTING_UNKNOWN);
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&mac_attr[4..10]);
    Ok(VfInfo {
        vf: u32_of(mac_attr).unwrap_or_default(),
        mac,
        // VLAN ids are 12 bits; the kernel never reports more.
        vlan: field(consts::IFLA_VF_VLAN, 1).unwrap_or(0) as u16,
        qos: field(consts::IFLA_VF_VLAN, 2).unwrap_or(0),
        spoofchk: setting(consts::IFLA_VF_SPOOFCHK).map(|v| v != 0),
        trust: setting(consts::IFLA_VF_TRUST).map(|v| v != 0),
        link_state: field(consts::IFLA_VF_LINK_STATE, 1),
        node_guid: guid_of(a, consts::IFLA_VF_IB_NODE_GUID),
        port_guid: guid_of(a, consts::IFLA_VF_IB_PORT_GUID),
        min_tx_rate: field(consts::IFLA_VF_RATE, 1),
        max_tx_rate: field(consts::IFLA_VF_RATE, 2),
    })
}

/// `struct ifla_vf_guid { __u32 vf; __u64 guid; }` (4 bytes of padding after `vf`); the u64
/// in host order holds the GUID as `ip link` writes it, most significant byte first.
fn guid_of(a: &RtBuffer<u16, Buffer>, ty: u16) -> Option<[u8; 8]> {
    let b = find_rta(a, ty)?;
    let raw: [u8; 8] = b.get(8..16)?.try_into().ok()?;
    Some(u64::from_ne_bytes(raw).to_be_bytes())
}

/// Wakes on rtnetlink link messages (RTM_NEWLINK/RTM_DELLINK multicast, RTNLGRP_LINK).
///
/// Subscribed at construction: create it *before* triggering a change, then check the state,
/// then [`wait`](LinkWatcher::wait); an event between the check and the wait is not lost.
pub struct LinkWatcher {
    sock: NlSocket,
    buf: Vec<u8>,
}

impl LinkWatcher {
    pub fn new() -> Result<Self> {
        let sock = NlSocket::connect(
            NlFamily::Route,
            None,
            Groups::new_groups(&[consts::RTNLGRP_LINK]),
        )
        .context("subscribing to rtnetlink link events (RTNLGRP_LINK)")?;
        sock.nonblock()
            .context("making the link event socket non-blocking")?;
        // Creating 64 VFs and their representors is a burst of hundreds of messages; a larger
        // buffer makes an overrun less likely (an overrun still counts as an event).
        let _ = sock.set_recv_buffer_size(1 << 20);
        Ok(LinkWatcher {
            sock,
            buf: vec![0; 64 * 1024],
        })
    }

    /// Waits up to `timeout` for at least one link message; then drains everything already
    /// queued (coalescing a burst into one wake-up) and returns true. Returns false on timeout.
    /// A receive-buffer overrun (ENOBUFS: events were lost) counts as an event: the caller
    /// re-reads the state anyway.
    pub fn wait(&mut self, timeout: Duration) -> Result<bool> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            // Round up so we never return "timed out" before the deadline.
            let ms = left.as_micros().div_ceil(1000);
            let t = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
            // SAFETY of borrow_raw: the fd belongs to self.sock, which outlives this call.
            let fd = unsafe { BorrowedFd::borrow_raw(self.sock.as_raw_fd()) };
            let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
            match poll(&mut fds, t) {
                Ok(0) => return Ok(false),
                Ok(_) => return self.drain().map(|()| true),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e).context("waiting for link events (poll)"),
            }
        }
    }

    /// The socket, for callers that wait on it together with other event sources (poll it
    /// for POLLIN, then call [`drain`](LinkWatcher::drain)).
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY of borrow_raw: the fd belongs to self.sock and the borrow is tied to self.
        unsafe { BorrowedFd::borrow_raw(self.sock.as_raw_fd()) }
    }

    /// Reads and discards every queued message (an overrun counts as read).
    pub fn drain(&mut self) -> Result<()> {
        loop {
            match self.sock.recv(&mut self.buf[..], Msg::DONTWAIT) {
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Overrun: messages were dropped, the socket stays usable.
                Err(e) if e.raw_os_error() == Some(Errno::ENOBUFS as i32) => continue,
                Err(e) => return Err(e).context("reading link events"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::attrs::rta_nest;
    use neli::ToBytes;

    fn vfinfo_list(vfs: &[Vec<Rtattr<u16, Buffer>>]) -> RtBuffer<Ifla, Buffer> {
        let infos: Vec<_> = vfs
            .iter()
            .map(|a| rta_nest(consts::IFLA_VF_INFO, a).unwrap())
            .collect();
        // Round-trip through bytes, as the kernel would send it.
        let list = rta_nest(Ifla::VfinfoList, &infos).unwrap();
        let mut c = Cursor::new(Vec::new());
        list.to_bytes(&mut c).unwrap();
        let bytes = c.into_inner();
        RtBuffer::from_bytes_with_input(&mut Cursor::new(&bytes[..]), bytes.len()).unwrap()
    }

    fn mac_attr(vf: u32, mac: [u8; 6]) -> Rtattr<u16, Buffer> {
        let mut b = vf.to_ne_bytes().to_vec();
        b.extend_from_slice(&mac);
        b.extend_from_slice(&[0; 26]);
        rta(consts::IFLA_VF_MAC, Buffer::from(b)).unwrap()
    }

    #[test]
    fn vf_list_is_parsed_sorted_with_unknown_settings_as_none() {
        let m1 = [2, 0, 0, 0, 0, 1];
        let list = vfinfo_list(&[
            vec![
                mac_attr(1, m1),
                rta(consts::IFLA_VF_VLAN, Buffer::from(words(&[1, 100, 3]))).unwrap(),
                rta(consts::IFLA_VF_SPOOFCHK, Buffer::from(words(&[1, 0]))).unwrap(),
                rta(consts::IFLA_VF_TRUST, Buffer::from(words(&[1, 1]))).unwrap(),
                rta(consts::IFLA_VF_LINK_STATE, Buffer::from(words(&[1, 2]))).unwrap(),
                rta(consts::IFLA_VF_RATE, Buffer::from(words(&[1, 100, 1000]))).unwrap(),
                // struct ifla_vf_guid { u32 vf; u64 guid; } as mlx5 fills it, host order
                rta(
                    consts::IFLA_VF_IB_NODE_GUID,
                    Buffer::from({
                        let mut b = 1u32.to_ne_bytes().to_vec();
                        b.extend_from_slice(&[0; 4]);
                        b.extend_from_slice(&0x0011_2233_4455_6677u64.to_ne_bytes());
                        b
                    }),
                )
                .unwrap(),
            ],
            vec![
                mac_attr(0, [0; 6]),
                rta(
                    consts::IFLA_VF_SPOOFCHK,
                    Buffer::from(words(&[0, u32::MAX])),
                )
                .unwrap(),
            ],
        ]);
        let vfs = vfs_from(&list).unwrap();
        assert_eq!(
            vfs,
            vec![
                VfInfo {
                    vf: 0,
                    ..Default::default()
                },
                VfInfo {
                    vf: 1,
                    mac: m1,
                    vlan: 100,
                    qos: 3,
                    spoofchk: Some(false),
                    trust: Some(true),
                    link_state: Some(2),
                    node_guid: Some([0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77]),
                    port_guid: None,
                    min_tx_rate: Some(100),
                    max_tx_rate: Some(1000),
                },
            ]
        );
        assert_eq!(LinkState::from_raw(2), Some(LinkState::Disable));
    }

    #[test]
    fn vf_entry_without_mac_is_an_error() {
        let list = vfinfo_list(&[vec![rta(
            consts::IFLA_VF_TRUST,
            Buffer::from(words(&[0, 1])),
        )
        .unwrap()]]);
        let err = vfs_from(&list).unwrap_err();
        assert!(format!("{err:#}").contains("IFLA_VF_MAC"), "{err:#}");
    }

    #[test]
    fn link_without_vf_list_has_no_vfs() {
        assert!(vfs_from(&RtBuffer::new()).unwrap().is_empty());
    }

    #[test]
    fn empty_props_are_empty() {
        assert!(VfProps::default().is_empty());
        assert!(!VfProps {
            trust: Some(true),
            ..Default::default()
        }
        .is_empty());
    }
}
