//! devlink (generic netlink family "devlink"): eswitch mode (and inline/encap mode), ports,
//! parameters and reload of a device. There is no Rust devlink crate; these few messages are
//! built on neli's generic netlink types.

use std::fmt;

use anyhow::{anyhow, bail, Context, Result};
use neli::{
    attr::Attribute, consts::nl::NlmF, consts::socket::NlFamily, types::Buffer, types::GenlBuffer,
};
use nix::errno::Errno;

use super::{
    attrs::{find_nla, nla, nla_flag, parse_nla, str_of, u16_of, u32_of},
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
    pub const CMD_RELOAD: u8 = 37;
    pub const CMD_PARAM_GET: u8 = 38; // can dump
    pub const CMD_PARAM_SET: u8 = 39;

    // enum devlink_attr
    pub const ATTR_BUS_NAME: u16 = 1; // string
    pub const ATTR_DEV_NAME: u16 = 2; // string
    pub const ATTR_PORT_INDEX: u16 = 3; // u32
    pub const ATTR_PORT_NETDEV_IFINDEX: u16 = 6; // u32
    pub const ATTR_PORT_NETDEV_NAME: u16 = 7; // string
    pub const ATTR_ESWITCH_MODE: u16 = 25; // u16
    pub const ATTR_ESWITCH_INLINE_MODE: u16 = 26; // u8
    pub const ATTR_ESWITCH_ENCAP_MODE: u16 = 62; // u8
    pub const ATTR_PORT_FLAVOUR: u16 = 77; // u16
    pub const ATTR_PARAM: u16 = 80; // nested
    pub const ATTR_PARAM_NAME: u16 = 81; // string
    pub const ATTR_PARAM_GENERIC: u16 = 82; // flag
    pub const ATTR_PARAM_TYPE: u16 = 83; // u8
    pub const ATTR_PARAM_VALUES_LIST: u16 = 84; // nested
    pub const ATTR_PARAM_VALUE: u16 = 85; // nested
    pub const ATTR_PARAM_VALUE_DATA: u16 = 86; // dynamic (the parameter's type)
    pub const ATTR_PARAM_VALUE_CMODE: u16 = 87; // u8
    pub const ATTR_PORT_PCI_PF_NUMBER: u16 = 127; // u16
    pub const ATTR_PORT_PCI_VF_NUMBER: u16 = 128; // u16

    // enum devlink_eswitch_mode
    pub const ESWITCH_MODE_LEGACY: u16 = 0;
    pub const ESWITCH_MODE_SWITCHDEV: u16 = 1;
    /// Newer kernels: switchdev configured but not yet active.
    pub const ESWITCH_MODE_SWITCHDEV_INACTIVE: u16 = 2;

    // enum devlink_param_cmode
    pub const PARAM_CMODE_RUNTIME: u8 = 0;
    pub const PARAM_CMODE_DRIVERINIT: u8 = 1;
    pub const PARAM_CMODE_PERMANENT: u8 = 2;

    // enum devlink_param_type (include/net/devlink.h): the netlink attribute types NLA_U8 ...
    // NLA_FLAG (newer uapi headers spell them enum devlink_var_attr_type)
    pub const PARAM_TYPE_U8: u8 = 1;
    pub const PARAM_TYPE_U16: u8 = 2;
    pub const PARAM_TYPE_U32: u8 = 3;
    pub const PARAM_TYPE_U64: u8 = 4;
    pub const PARAM_TYPE_STRING: u8 = 5;
    pub const PARAM_TYPE_BOOL: u8 = 6;
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

/// enum devlink_eswitch_inline_mode: the headers the NIC needs inline in a send descriptor to
/// match offloaded flows (ConnectX-4 Lx needs `transport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InlineMode {
    None,
    Link,
    Network,
    Transport,
}

impl InlineMode {
    pub fn raw(self) -> u8 {
        match self {
            InlineMode::None => 0,
            InlineMode::Link => 1,
            InlineMode::Network => 2,
            InlineMode::Transport => 3,
        }
    }

    pub fn from_raw(v: u8) -> Option<Self> {
        Some(match v {
            0 => InlineMode::None,
            1 => InlineMode::Link,
            2 => InlineMode::Network,
            3 => InlineMode::Transport,
            _ => return None,
        })
    }
}

impl fmt::Display for InlineMode {
    /// The names devlink(8) uses.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InlineMode::None => "none",
            InlineMode::Link => "link",
            InlineMode::Network => "network",
            InlineMode::Transport => "transport",
        })
    }
}

/// enum devlink_eswitch_encap_mode: whether the eswitch offloads tunnel encapsulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncapMode {
    None,
    Basic,
}

impl EncapMode {
    pub fn raw(self) -> u8 {
        match self {
            EncapMode::None => 0,
            EncapMode::Basic => 1,
        }
    }

    pub fn from_raw(v: u8) -> Option<Self> {
        match v {
            0 => Some(EncapMode::None),
            1 => Some(EncapMode::Basic),
            _ => None,
        }
    }
}

impl fmt::Display for EncapMode {
    /// The names devlink(8) uses.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EncapMode::None => "none",
            EncapMode::Basic => "basic",
        })
    }
}

/// An eswitch as DEVLINK_CMD_ESWITCH_GET reports it. The kernel puts the inline and encap mode
/// in the reply only for drivers that can report them (mlx5 does; netdevsim, ice, bnxt do
/// not): `None` is "not reported", not "none".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Eswitch {
    pub mode: EswitchMode,
    pub inline: Option<InlineMode>,
    pub encap: Option<EncapMode>,
}

/// enum devlink_param_cmode: when a parameter's value takes effect. `runtime`: at once;
/// `driverinit`: at the next driver (re)initialisation (`devlink dev reload`); `permanent`: kept
/// in the device's non-volatile memory, in effect after a firmware reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cmode {
    Runtime,
    Driverinit,
    Permanent,
}

impl Cmode {
    pub fn raw(self) -> u8 {
        match self {
            Cmode::Runtime => consts::PARAM_CMODE_RUNTIME,
            Cmode::Driverinit => consts::PARAM_CMODE_DRIVERINIT,
            Cmode::Permanent => consts::PARAM_CMODE_PERMANENT,
        }
    }

    pub fn from_raw(v: u8) -> Option<Self> {
        match v {
            consts::PARAM_CMODE_RUNTIME => Some(Cmode::Runtime),
            consts::PARAM_CMODE_DRIVERINIT => Some(Cmode::Driverinit),
            consts::PARAM_CMODE_PERMANENT => Some(Cmode::Permanent),
            _ => None,
        }
    }
}

impl fmt::Display for Cmode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cmode::Runtime => "runtime",
            Cmode::Driverinit => "driverinit",
            Cmode::Permanent => "permanent",
        })
    }
}

/// A devlink parameter's type (DEVLINK_ATTR_PARAM_TYPE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    U8,
    U16,
    U32,
    U64,
    String,
    /// On the wire a flag: DEVLINK_ATTR_PARAM_VALUE_DATA present is true, absent is false.
    Bool,
    /// A type number this program does not know (a newer kernel).
    Other(u8),
}

impl ParamType {
    pub fn raw(self) -> u8 {
        match self {
            ParamType::U8 => consts::PARAM_TYPE_U8,
            ParamType::U16 => consts::PARAM_TYPE_U16,
            ParamType::U32 => consts::PARAM_TYPE_U32,
            ParamType::U64 => consts::PARAM_TYPE_U64,
            ParamType::String => consts::PARAM_TYPE_STRING,
            ParamType::Bool => consts::PARAM_TYPE_BOOL,
            ParamType::Other(v) => v,
        }
    }

    pub fn from_raw(v: u8) -> Self {
        match v {
            consts::PARAM_TYPE_U8 => ParamType::U8,
            consts::PARAM_TYPE_U16 => ParamType::U16,
            consts::PARAM_TYPE_U32 => ParamType::U32,
            consts::PARAM_TYPE_U64 => ParamType::U64,
            consts::PARAM_TYPE_STRING => ParamType::String,
            consts::PARAM_TYPE_BOOL => ParamType::Bool,
            v => ParamType::Other(v),
        }
    }

    /// The largest value of an integer type.
    pub fn max(self) -> Option<u64> {
        match self {
            ParamType::U8 => Some(u8::MAX.into()),
            ParamType::U16 => Some(u16::MAX.into()),
            ParamType::U32 => Some(u32::MAX.into()),
            ParamType::U64 => Some(u64::MAX),
            _ => None,
        }
    }
}

impl fmt::Display for ParamType {
    /// The names devlink(8) uses for the types.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamType::U8 => f.write_str("u8"),
            ParamType::U16 => f.write_str("u16"),
            ParamType::U32 => f.write_str("u32"),
            ParamType::U64 => f.write_str("u64"),
            ParamType::String => f.write_str("string"),
            ParamType::Bool => f.write_str("bool"),
            ParamType::Other(v) => write!(f, "type {v}"),
        }
    }
}

/// A devlink parameter's value, of its type. The longest string the kernel takes is 31 bytes
/// (`__DEVLINK_PARAM_MAX_STRING_VALUE` 32, with the NUL).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum ParamValue {
    U8(u8),
    U16(u16),
    U32(u32),
    U64(u64),
    String(String),
    Bool(bool),
}

impl ParamValue {
    pub fn ty(&self) -> ParamType {
        match self {
            ParamValue::U8(_) => ParamType::U8,
            ParamValue::U16(_) => ParamType::U16,
            ParamValue::U32(_) => ParamType::U32,
            ParamValue::U64(_) => ParamType::U64,
            ParamValue::String(_) => ParamType::String,
            ParamValue::Bool(_) => ParamType::Bool,
        }
    }

    /// DEVLINK_ATTR_PARAM_VALUE_DATA's payload as the kernel puts it, for `ty`; `None` for a
    /// type this program cannot read.
    fn parse(ty: ParamType, data: Option<&[u8]>) -> Option<Self> {
        Some(match ty {
            ParamType::Bool => ParamValue::Bool(data.is_some()),
            ParamType::U8 => ParamValue::U8(*data?.first()?),
            ParamType::U16 => ParamValue::U16(u16_of(data?)?),
            ParamType::U32 => ParamValue::U32(u32_of(data?)?),
            ParamType::U64 => ParamValue::U64(u64::from_ne_bytes(data?.get(..8)?.try_into().ok()?)),
            ParamType::String => ParamValue::String(str_of(data?)),
            ParamType::Other(_) => return None,
        })
    }

    /// The DEVLINK_ATTR_PARAM_VALUE_DATA attribute for a set; `None` for a false bool (absent).
    fn attr(&self) -> Result<Option<neli::genl::Nlattr<u16, Buffer>>> {
        let ty = consts::ATTR_PARAM_VALUE_DATA;
        Ok(Some(match self {
            ParamValue::U8(v) => nla(ty, *v)?,
            ParamValue::U16(v) => nla(ty, *v)?,
            ParamValue::U32(v) => nla(ty, *v)?,
            ParamValue::U64(v) => nla(ty, *v)?,
            ParamValue::String(v) => nla(ty, v.as_str())?,
            ParamValue::Bool(true) => nla_flag(ty)?,
            ParamValue::Bool(false) => return Ok(None),
        }))
    }
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::U8(v) => write!(f, "{v}"),
            ParamValue::U16(v) => write!(f, "{v}"),
            ParamValue::U32(v) => write!(f, "{v}"),
            ParamValue::U64(v) => write!(f, "{v}"),
            ParamValue::String(v) => f.write_str(v),
            ParamValue::Bool(v) => write!(f, "{v}"),
        }
    }
}

/// A devlink parameter of a device (DEVLINK_CMD_PARAM_GET): its value in each cmode the driver
/// supports. The kernel lists a cmode only when it has a value for it, so `values` is also the
/// list of cmodes a set can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    /// One of the parameters devlink defines for every driver (`max_macs`, `enable_sriov`),
    /// rather than the driver's own (`flow_steering_mode` of mlx5, `test1` of netdevsim).
    pub generic: bool,
    pub ty: ParamType,
    pub values: Vec<(Cmode, ParamValue)>,
}

impl Param {
    pub fn value(&self, cmode: Cmode) -> Option<&ParamValue> {
        self.values
            .iter()
            .find(|(m, _)| *m == cmode)
            .map(|(_, v)| v)
    }

    pub fn cmodes(&self) -> Vec<Cmode> {
        self.values.iter().map(|(m, _)| *m).collect()
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
        Ok(self.eswitch(h)?.mode)
    }

    /// The eswitch (DEVLINK_CMD_ESWITCH_GET): its mode, and its inline and encap mode when the
    /// driver reports them. EOPNOTSUPP means the device has no eswitch.
    pub fn eswitch(&mut self, h: &DevlinkHandle) -> Result<Eswitch> {
        let op = || format!("reading the eswitch of {h} via DEVLINK_CMD_ESWITCH_GET");
        let replies = self
            .request(consts::CMD_ESWITCH_GET, NlmF::empty(), h.attrs()?)
            .with_context(op)?;
        let a = replies
            .iter()
            .find(|a| find_nla(a, consts::ATTR_ESWITCH_MODE).is_some())
            .ok_or_else(|| anyhow!("reply has no DEVLINK_ATTR_ESWITCH_MODE"))
            .with_context(op)?;
        eswitch_from(a).with_context(op)
    }

    /// Changes the eswitch mode (DEVLINK_CMD_ESWITCH_SET). Synchronous: when it returns, the
    /// driver has switched (and, for mlx5, registered representors of existing VFs).
    pub fn set_eswitch_mode(&mut self, h: &DevlinkHandle, m: EswitchMode) -> Result<()> {
        self.set_eswitch(h, Some(m), None, None)
    }

    /// DEVLINK_CMD_ESWITCH_SET with what is given, in one request (as `devlink dev eswitch set
    /// ... mode switchdev inline-mode transport encap-mode basic`): the kernel applies the mode,
    /// then the inline mode, then the encap mode, and stops at the first the driver refuses.
    pub fn set_eswitch(
        &mut self,
        h: &DevlinkHandle,
        mode: Option<EswitchMode>,
        inline: Option<InlineMode>,
        encap: Option<EncapMode>,
    ) -> Result<()> {
        let mut attrs = h.attrs()?;
        let mut what = vec![];
        if let Some(m) = mode {
            attrs.push(nla(consts::ATTR_ESWITCH_MODE, m.raw())?);
            what.push(format!("mode {m}"));
        }
        if let Some(i) = inline {
            attrs.push(nla(consts::ATTR_ESWITCH_INLINE_MODE, i.raw())?);
            what.push(format!("inline-mode {i}"));
        }
        if let Some(e) = encap {
            attrs.push(nla(consts::ATTR_ESWITCH_ENCAP_MODE, e.raw())?);
            what.push(format!("encap-mode {e}"));
        }
        self.request(consts::CMD_ESWITCH_SET, NlmF::empty(), attrs)
            .with_context(|| {
                format!(
                    "setting eswitch {} of {h} via DEVLINK_CMD_ESWITCH_SET",
                    what.join(", ")
                )
            })?;
        Ok(())
    }

    /// Every parameter of `h` (DEVLINK_CMD_PARAM_GET dump, filtered here: kernels before 6.5
    /// dump every device's). Empty for a device without devlink parameters, or without a
    /// devlink instance at all.
    pub fn params(&mut self, h: &DevlinkHandle) -> Result<Vec<Param>> {
        let op = || format!("listing devlink parameters of {h} via DEVLINK_CMD_PARAM_GET");
        // newer kernels dump only the device named; older ones ignore the handle
        let replies = self
            .request(consts::CMD_PARAM_GET, NlmF::DUMP, h.attrs()?)
            .with_context(op)?;
        replies
            .iter()
            .filter(|a| h.matches(a))
            .map(|a| param_from(a).with_context(op))
            .collect()
    }

    /// Sets a parameter (DEVLINK_CMD_PARAM_SET). A `driverinit` value is only stored: it takes
    /// effect at the next [`Devlink::reload`], and PARAM_GET reports it from the set on.
    pub fn set_param(
        &mut self,
        h: &DevlinkHandle,
        name: &str,
        cmode: Cmode,
        value: &ParamValue,
    ) -> Result<()> {
        let mut attrs = h.attrs()?;
        attrs.extend(param_set_attrs(name, cmode, value)?);
        self.request(consts::CMD_PARAM_SET, NlmF::empty(), attrs)
            .with_context(|| {
                format!(
                    "setting devlink parameter {name} of {h} to {value} (cmode {cmode}) via DEVLINK_CMD_PARAM_SET"
                )
            })?;
        Ok(())
    }

    /// Reloads the driver (DEVLINK_CMD_RELOAD without DEVLINK_ATTR_RELOAD_ACTION: the kernel's
    /// default action, driver_reinit, which kernels before 5.10 know as the only one). Makes the
    /// driverinit values take effect. Synchronous: the driver has torn down and re-created its
    /// netdevs (and, on mlx5 and netdevsim, destroyed its VFs) when it returns.
    pub fn reload(&mut self, h: &DevlinkHandle) -> Result<()> {
        self.request(consts::CMD_RELOAD, NlmF::empty(), h.attrs()?)
            .with_context(|| format!("reloading {h} (driver reinit) via DEVLINK_CMD_RELOAD"))?;
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

/// Every attribute of type `ty` in `attrs`, as raw payloads (a VALUES_LIST holds one
/// PARAM_VALUE per cmode).
fn all_nla(attrs: &GenlBuffer<u16, Buffer>, ty: u16) -> impl Iterator<Item = &[u8]> {
    attrs
        .iter()
        .filter(move |a| *a.nla_type().nla_type() == ty)
        .map(|a| a.payload().as_ref())
}

fn eswitch_from(a: &GenlBuffer<u16, Buffer>) -> Result<Eswitch> {
    let raw = find_nla(a, consts::ATTR_ESWITCH_MODE)
        .and_then(u16_of)
        .ok_or_else(|| anyhow!("reply has no DEVLINK_ATTR_ESWITCH_MODE"))?;
    let u8_of = |ty| find_nla(a, ty).and_then(|b| b.first().copied());
    Ok(Eswitch {
        mode: EswitchMode::from_raw(raw).ok_or_else(|| anyhow!("unknown eswitch mode {raw}"))?,
        // a value this program does not know reads as not reported
        inline: u8_of(consts::ATTR_ESWITCH_INLINE_MODE).and_then(InlineMode::from_raw),
        encap: u8_of(consts::ATTR_ESWITCH_ENCAP_MODE).and_then(EncapMode::from_raw),
    })
}

/// One PARAM_GET reply: DEVLINK_ATTR_PARAM { NAME, GENERIC, TYPE, VALUES_LIST { VALUE { CMODE,
/// DATA } ... } }. A value of a cmode or type this program does not know is left out.
fn param_from(a: &GenlBuffer<u16, Buffer>) -> Result<Param> {
    let nest = find_nla(a, consts::ATTR_PARAM)
        .ok_or_else(|| anyhow!("reply without DEVLINK_ATTR_PARAM"))?;
    let p = parse_nla(nest)?;
    let name = find_nla(&p, consts::ATTR_PARAM_NAME)
        .map(str_of)
        .ok_or_else(|| anyhow!("parameter without DEVLINK_ATTR_PARAM_NAME"))?;
    let ty = find_nla(&p, consts::ATTR_PARAM_TYPE)
        .and_then(|b| b.first().copied())
        .map(ParamType::from_raw)
        .ok_or_else(|| anyhow!("parameter {name} without DEVLINK_ATTR_PARAM_TYPE"))?;
    let mut values = vec![];
    if let Some(list) = find_nla(&p, consts::ATTR_PARAM_VALUES_LIST) {
        let list = parse_nla(list).with_context(|| format!("parameter {name}"))?;
        for v in all_nla(&list, consts::ATTR_PARAM_VALUE) {
            let v = parse_nla(v).with_context(|| format!("parameter {name}"))?;
            let cmode = find_nla(&v, consts::ATTR_PARAM_VALUE_CMODE)
                .and_then(|b| b.first().copied())
                .and_then(Cmode::from_raw);
            let data = find_nla(&v, consts::ATTR_PARAM_VALUE_DATA);
            if let (Some(cmode), Some(value)) = (cmode, ParamValue::parse(ty, data)) {
                values.push((cmode, value));
            }
        }
    }
    Ok(Param {
        generic: find_nla(&p, consts::ATTR_PARAM_GENERIC).is_some(),
        name,
        ty,
        values,
    })
}

/// PARAM_SET's attributes after the handle.
fn param_set_attrs(
    name: &str,
    cmode: Cmode,
    value: &ParamValue,
) -> Result<Vec<neli::genl::Nlattr<u16, Buffer>>> {
    let mut attrs = vec![
        nla(consts::ATTR_PARAM_NAME, name)?,
        nla(consts::ATTR_PARAM_TYPE, value.ty().raw())?,
        nla(consts::ATTR_PARAM_VALUE_CMODE, cmode.raw())?,
    ];
    attrs.extend(value.attr()?);
    Ok(attrs)
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
mod tests;
