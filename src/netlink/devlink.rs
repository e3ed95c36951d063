//! devlink (generic netlink family "devlink"): eswitch mode and ports of a device.
//! There is no Rust devlink crate; these few messages are built on neli's generic netlink types.

use std::fmt;

use anyhow::{anyhow, bail, Context, Result};
use neli::{consts::nl::NlmF, consts::socket::NlFamily, types::Buffer, types::GenlBuffer};
use nix::errno::Errno;

use super::{
    attrs::{find_nla, nla, str_of, u16_of, u32_of},
    conn::Conn,
};

/// Numbers from linux/devlink.h.
mod consts {
    pub const GENL_NAME: &str = "devlink"; // DEVLINK_GENL_NAME
    pub const GENL_VERSION: u8 = 1; // DEVLINK_GENL_VERSION

    // enum devlink_command
    pub const CMD_GET: u8 = 1;
    pub const CMD_PORT_GET: u8 = 5;
    pub const CMD_ESWITCH_GET: u8 = 29;
    pub const CMD_ESWITCH_SET: u8 = 30;

    // enum devlink_attr
    pub const ATTR_BUS_NAME: u16 = 1; // string
    pub const ATTR_DEV_NAME: u16 = 2; // string
    pub const ATTR_PORT_INDEX: u16 = 3; // u32
    pub const ATTR_PORT_NETDEV_IFINDEX: u16 = 6; // u32
    pub const ATTR_PORT_NETDEV_NAME: u16 = 7; // string
    pub const ATTR_ESWITCH_MODE: u16 = 25; // u16
    pub const ATTR_PORT_FLAVOUR: u16 = 77; // u16
    pub const ATTR_PORT_PCI_PF_NUMBER: u16 = 127; // u16
    pub const ATTR_PORT_PCI_VF_NUMBER: u16 = 128; // u16

    // enum devlink_eswitch_mode
    pub const ESWITCH_MODE_LEGACY: u16 = 0;
    pub const ESWITCH_MODE_SWITCHDEV: u16 = 1;
    /// Newer kernels: switchdev configured but not yet active.
    pub const ESWITCH_MODE_SWITCHDEV_INACTIVE: u16 = 2;
}

/// `DevlinkPort::flavour` values (enum devlink_port_flavour, linux/devlink.h).
pub mod flavour {
    pub const PHYSICAL: u16 = 0;
    pub const CPU: u16 = 1;
    pub const DSA: u16 = 2;
    pub const PCI_PF: u16 = 3;
    pub const PCI_VF: u16 = 4;
    pub const VIRTUAL: u16 = 5;
    pub const UNUSED: u16 = 6;
    pub const PCI_SF: u16 = 7;
}

/// A devlink device: bus and device name, e.g. `pci` / `0000:3b:00.0` or `netdevsim` /
/// `netdevsim1`. Take both from sysfs (the device's `subsystem` link and name); do not assume
/// `pci`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DevlinkHandle {
    pub bus: String,
    pub dev: String,
}

impl DevlinkHandle {
    pub fn new(bus: impl Into<String>, dev: impl Into<String>) -> Self {
        DevlinkHandle {
            bus: bus.into(),
            dev: dev.into(),
        }
    }

    /// Parses `bus/dev` as devlink(8) prints it.
    pub fn parse(s: &str) -> Result<Self> {
        match s.split_once('/') {
            Some((bus, dev)) if !bus.is_empty() && !dev.is_empty() && !dev.contains('/') => {
                Ok(DevlinkHandle::new(bus, dev))
            }
            _ => {
                bail!("{s:?} is not a devlink handle (expected BUS/DEVICE, e.g. pci/0000:3b:00.0)")
            }
        }
    }

    fn attrs(&self) -> Result<Vec<neli::genl::Nlattr<u16, Buffer>>> {
        Ok(vec![
            nla(consts::ATTR_BUS_NAME, self.bus.as_str())?,
            nla(consts::ATTR_DEV_NAME, self.dev.as_str())?,
        ])
    }

    fn matches(&self, a: &GenlBuffer<u16, Buffer>) -> bool {
        find_nla(a, consts::ATTR_BUS_NAME).map(str_of).as_deref() == Some(self.bus.as_str())
            && find_nla(a, consts::ATTR_DEV_NAME).map(str_of).as_deref() == Some(self.dev.as_str())
    }
}

impl fmt::Display for DevlinkHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.bus, self.dev)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EswitchMode {
    Legacy,
    Switchdev,
    /// Reported by newer kernels for a switchdev eswitch that is configured but not active.
    SwitchdevInactive,
}

impl EswitchMode {
    pub fn raw(self) -> u16 {
        match self {
            EswitchMode::Legacy => consts::ESWITCH_MODE_LEGACY,
            EswitchMode::Switchdev => consts::ESWITCH_MODE_SWITCHDEV,
            EswitchMode::SwitchdevInactive => consts::ESWITCH_MODE_SWITCHDEV_INACTIVE,
        }
    }

    pub fn from_raw(v: u16) -> Option<Self> {
        match v {
            consts::ESWITCH_MODE_LEGACY => Some(EswitchMode::Legacy),
            consts::ESWITCH_MODE_SWITCHDEV => Some(EswitchMode::Switchdev),
            consts::ESWITCH_MODE_SWITCHDEV_INACTIVE => Some(EswitchMode::SwitchdevInactive),
            _ => None,
        }
    }
}

impl fmt::Display for EswitchMode {
    /// The names devlink(8) and the mlx5 compat sysfs file use.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EswitchMode::Legacy => "legacy",
            EswitchMode::Switchdev => "switchdev",
            EswitchMode::SwitchdevInactive => "switchdev_inactive",
        })
    }
}

/// A devlink port (DEVLINK_CMD_PORT_GET).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DevlinkPort {
    pub index: u32,
    /// See [`flavour`]: PHYSICAL 0, PCI_PF 3, PCI_VF 4, PCI_SF 7.
    pub flavour: u16,
    pub pf_number: Option<u16>,
    pub vf_number: Option<u16>,
    pub netdev_ifindex: Option<u32>,
    pub netdev_name: Option<String>,
}

/// A generic netlink socket bound to the devlink family.
pub struct Devlink {
    conn: Conn,
    family: u16,
}

impl Devlink {
    /// Opens a socket and resolves the "devlink" family; fails with a clear message on kernels
    /// without devlink (then only the mlx5 `compat/devlink/mode` sysfs file is left).
    pub fn new() -> Result<Self> {
        let mut conn = Conn::open(NlFamily::Generic).context("opening generic netlink socket")?;
        let family = match conn.resolve_family(consts::GENL_NAME) {
            Ok(id) => id,
            Err(e) if super::errno(&e) == Some(Errno::ENOENT) => {
                return Err(e.context(
                    "the kernel has no devlink generic netlink family (built without \
                     CONFIG_NET_DEVLINK, or too old)",
                ))
            }
            Err(e) => return Err(e.context("resolving generic netlink family \"devlink\"")),
        };
        Ok(Devlink { conn, family })
    }

    /// All devlink devices (DEVLINK_CMD_GET dump).
    pub fn devices(&mut self) -> Result<Vec<DevlinkHandle>> {
        let replies = self
            .request(consts::CMD_GET, NlmF::DUMP, Vec::new())
            .context("listing devlink devices via DEVLINK_CMD_GET dump")?;
        replies
            .iter()
            .map(|a| {
                let bus = find_nla(a, consts::ATTR_BUS_NAME).map(str_of);
                let dev = find_nla(a, consts::ATTR_DEV_NAME).map(str_of);
                match (bus, dev) {
                    (Some(bus), Some(dev)) => Ok(DevlinkHandle { bus, dev }),
                    _ => Err(anyhow!("DEVLINK_CMD_GET reply without bus/device name")),
                }
            })
            .collect()
    }

    /// Current eswitch mode (DEVLINK_CMD_ESWITCH_GET). EOPNOTSUPP (see [`super::errno`]) means
    /// the device has no eswitch.
    pub fn eswitch_mode(&mut self, h: &DevlinkHandle) -> Result<EswitchMode> {
        let op = || format!("reading eswitch mode of {h} via DEVLINK_CMD_ESWITCH_GET");
        let replies = self
            .request(consts::CMD_ESWITCH_GET, NlmF::empty(), h.attrs()?)
            .with_context(op)?;
        let raw = replies
            .iter()
            .find_map(|a| find_nla(a, consts::ATTR_ESWITCH_MODE).and_then(u16_of))
            .ok_or_else(|| anyhow!("reply has no DEVLINK_ATTR_ESWITCH_MODE"))
            .with_context(op)?;
        EswitchMode::from_raw(raw)
            .ok_or_else(|| anyhow!("unknown eswitch mode {raw}"))
            .with_context(op)
    }

    /// Changes the eswitch mode (DEVLINK_CMD_ESWITCH_SET). Synchronous: when it returns, the
    /// driver has switched (and, for mlx5, registered representors of existing VFs).
    pub fn set_eswitch_mode(&mut self, h: &DevlinkHandle, m: EswitchMode) -> Result<()> {
        let mut attrs = h.attrs()?;
        attrs.push(nla(consts::ATTR_ESWITCH_MODE, m.raw())?);
        self.request(consts::CMD_ESWITCH_SET, NlmF::empty(), attrs)
            .with_context(|| {
                format!("setting eswitch mode of {h} to {m} via DEVLINK_CMD_ESWITCH_SET")
            })?;
        Ok(())
    }

    /// Ports of `h` (DEVLINK_CMD_PORT_GET dump, filtered here: older kernels ignore a handle in
    /// a dump request). An error if `h` is not a devlink device.
    pub fn ports(&mut self, h: &DevlinkHandle) -> Result<Vec<DevlinkPort>> {
        let op = || format!("listing devlink ports of {h} via DEVLINK_CMD_PORT_GET");
        // A dump of a device that does not exist is just empty; ask for it directly so the
        // caller gets ENODEV instead of a silent "no ports".
        self.request(consts::CMD_GET, NlmF::empty(), h.attrs()?)
            .with_context(op)?;
        let replies = self
            .request(consts::CMD_PORT_GET, NlmF::DUMP, Vec::new())
            .with_context(op)?;
        let mut ports: Vec<DevlinkPort> = replies
            .iter()
            .filter(|a| h.matches(a))
            .map(|a| port_from(a).with_context(op))
            .collect::<Result<_>>()?;
        ports.sort_by_key(|p| p.index);
        Ok(ports)
    }

    fn request(
        &mut self,
        cmd: u8,
        flags: NlmF,
        attrs: Vec<neli::genl::Nlattr<u16, Buffer>>,
    ) -> Result<Vec<GenlBuffer<u16, Buffer>>> {
        self.conn
            .genl(self.family, cmd, consts::GENL_VERSION, flags, attrs)
    }
}

fn port_from(a: &GenlBuffer<u16, Buffer>) -> Result<DevlinkPort> {
    Ok(DevlinkPort {
        index: find_nla(a, consts::ATTR_PORT_INDEX)
            .and_then(u32_of)
            .ok_or_else(|| anyhow!("port without DEVLINK_ATTR_PORT_INDEX"))?,
        flavour: find_nla(a, consts::ATTR_PORT_FLAVOUR)
            .and_then(u16_of)
            .unwrap_or(flavour::PHYSICAL),
        pf_number: find_nla(a, consts::ATTR_PORT_PCI_PF_NUMBER).and_then(u16_of),
        vf_number: find_nla(a, consts::ATTR_PORT_PCI_VF_NUMBER).and_then(u16_of),
        netdev_ifindex: find_nla(a, consts::ATTR_PORT_NETDEV_IFINDEX).and_then(u32_of),
        netdev_name: find_nla(a, consts::ATTR_PORT_NETDEV_NAME).map(str_of),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::attrs::parse_nla;
    use neli::ToBytes;
    use std::io::Cursor;

    #[test]
    fn handle_parses_and_prints_like_devlink_tool() {
        let h = DevlinkHandle::parse("pci/0000:3b:00.0").unwrap();
        assert_eq!(h, DevlinkHandle::new("pci", "0000:3b:00.0"));
        assert_eq!(h.to_string(), "pci/0000:3b:00.0");
        for bad in ["pci", "/x", "pci/", "a/b/c"] {
            let e = DevlinkHandle::parse(bad).unwrap_err().to_string();
            assert!(e.contains("BUS/DEVICE"), "{bad}: {e}");
        }
    }

    #[test]
    fn eswitch_modes_round_trip_and_unknown_is_none() {
        for m in [
            EswitchMode::Legacy,
            EswitchMode::Switchdev,
            EswitchMode::SwitchdevInactive,
        ] {
            assert_eq!(EswitchMode::from_raw(m.raw()), Some(m));
        }
        assert_eq!(EswitchMode::from_raw(7), None);
        assert_eq!(EswitchMode::Switchdev.to_string(), "switchdev");
    }

    #[test]
    fn port_reply_is_parsed_and_filtered_by_handle() {
        let attrs = vec![
            nla(consts::ATTR_BUS_NAME, "netdevsim").unwrap(),
            nla(consts::ATTR_DEV_NAME, "netdevsim1").unwrap(),
            nla(consts::ATTR_PORT_INDEX, 5u32).unwrap(),
            nla(consts::ATTR_PORT_FLAVOUR, flavour::PCI_VF).unwrap(),
            nla(consts::ATTR_PORT_PCI_PF_NUMBER, 0u16).unwrap(),
            nla(consts::ATTR_PORT_PCI_VF_NUMBER, 3u16).unwrap(),
            nla(consts::ATTR_PORT_NETDEV_IFINDEX, 42u32).unwrap(),
            nla(consts::ATTR_PORT_NETDEV_NAME, "eni1npf0vf3").unwrap(),
        ];
        let mut c = Cursor::new(Vec::new());
        for a in &attrs {
            a.to_bytes(&mut c).unwrap();
        }
        let parsed = parse_nla(&c.into_inner()).unwrap();
        assert!(DevlinkHandle::new("netdevsim", "netdevsim1").matches(&parsed));
        assert!(!DevlinkHandle::new("netdevsim", "netdevsim2").matches(&parsed));
        assert_eq!(
            port_from(&parsed).unwrap(),
            DevlinkPort {
                index: 5,
                flavour: flavour::PCI_VF,
                pf_number: Some(0),
                vf_number: Some(3),
                netdev_ifindex: Some(42),
                netdev_name: Some("eni1npf0vf3".into()),
            }
        );
    }
}
