//! Network interfaces: `/sys/class/net/<IfName>`.

use std::path::PathBuf;

use anyhow::{Context, Result};

use super::{Device, Host};
use crate::types::IfName;

/// IFF_UP in `flags`.
const IFF_UP: u32 = 1;

/// One netdev by name. Cheap to make; nothing is read until asked.
#[derive(Clone)]
pub struct Netdev<'h> {
    host: &'h Host,
    name: IfName,
    base: PathBuf,
}

impl Host {
    pub fn netdev(&self, name: &IfName) -> Netdev<'_> {
        Netdev {
            host: self,
            name: name.clone(),
            base: self.sys(format!("class/net/{name}")),
        }
    }

    /// Every netdev (directories of `class/net`; it also holds files such as
    /// `bonding_masters`). Names the kernel could not have made are skipped.
    pub fn netdevs(&self) -> Result<Vec<Netdev<'_>>> {
        let dir = self.sys("class/net");
        Ok(self
            .list(&dir)?
            .into_iter()
            .filter(|n| dir.join(n).is_dir())
            .filter_map(|n| n.parse::<IfName>().ok())
            .map(|n| self.netdev(&n))
            .collect())
    }
}

/// The path systemd names a netdev's device unit after (it escapes it into the unit name): the
/// `SYSTEMD_ALIAS` udev gives the netdev, `/sys/subsystem/net/devices/` and then `alias`.
/// systemd's own 99-systemd.rules sets the interface name; udev-rules/80-sriov-offload.rules
/// adds `by-pci/BDF` and `by-mac/MAC` for SR-IOV capable PFs. A name for systemd, not a file.
pub fn device_unit_path(alias: &str) -> String {
    format!("/sys/subsystem/net/devices/{alias}")
}

impl<'h> Netdev<'h> {
    pub fn name(&self) -> &IfName {
        &self.name
    }

    pub fn exists(&self) -> bool {
        self.host.exists(&self.base)
    }

    pub fn flags(&self) -> Result<u32> {
        let p = self.base.join("flags");
        let s = self
            .host
            .read(&p)
            .with_context(|| format!("interface {}", self.name))?;
        u32::from_str_radix(s.trim_start_matches("0x"), 16)
            .with_context(|| format!("{}: {s:?} is not hex", p.display()))
    }

    pub fn is_up(&self) -> Result<bool> {
        Ok(self.flags()? & IFF_UP != 0)
    }

    /// The bond, bridge or OVS datapath this netdev is enslaved to.
    pub fn master(&self) -> Result<Option<IfName>> {
        let p = self.base.join("master");
        self.host
            .link_name(&p)?
            .map(|n| {
                n.parse()
                    .map_err(|m: String| anyhow::anyhow!("{}: {m}", p.display()))
            })
            .transpose()
    }

    pub fn phys_switch_id(&self) -> Result<Option<String>> {
        self.host.read_attr(&self.base.join("phys_switch_id"))
    }

    pub fn phys_port_name(&self) -> Result<Option<String>> {
        self.host.read_attr(&self.base.join("phys_port_name"))
    }

    /// `mtu`; `None` when the file is missing.
    pub fn mtu(&self) -> Result<Option<u32>> {
        let p = self.base.join("mtu");
        self.host
            .read_opt(&p)?
            .map(|s| {
                s.trim()
                    .parse()
                    .with_context(|| format!("{}: {s:?} is not an MTU", p.display()))
            })
            .transpose()
    }

    /// Writes `mtu` (the kernel's `dev_set_mtu`, as RTM_SETLINK with IFLA_MTU does).
    pub fn set_mtu(&self, mtu: u32) -> Result<()> {
        self.host
            .write(&self.base.join("mtu"), &mtu.to_string())
            .with_context(|| format!("setting the MTU of {} to {mtu}", self.name))
    }

    pub fn address(&self) -> Result<Option<String>> {
        self.host.read_attr(&self.base.join("address"))
    }

    /// The device behind the netdev (a PCI function, a netdevsim device); `None` for
    /// virtual interfaces (bonds, veth).
    pub fn device(&self) -> Result<Option<Device<'h>>> {
        let link = self.base.join("device");
        if !self.host.exists(&link) {
            return Ok(None);
        }
        let dir = self
            .host
            .resolve(&link)
            .with_context(|| format!("{} has no device ({})", self.name, link.display()))?;
        Device::at(self.host, dir).map(Some)
    }

    /// Like [`device`](Self::device), but a netdev without one is an error naming the link.
    pub fn physical_device(&self) -> Result<Device<'h>> {
        self.device()?.with_context(|| {
            format!(
                "{} has no device ({} is missing): not a physical function",
                self.name,
                self.base.join("device").display()
            )
        })
    }

    /// The bonding mode of a bond (`bonding/mode` reads `active-backup 1`): its name; `None`
    /// for anything that is not a bond.
    pub fn bonding_mode(&self) -> Result<Option<String>> {
        Ok(self
            .host
            .read_opt(&self.base.join("bonding/mode"))?
            .and_then(|s| s.split_whitespace().next().map(str::to_string)))
    }

    fn compat_mode_path(&self) -> PathBuf {
        self.base.join("compat/devlink/mode")
    }

    /// The eswitch mode from `compat/devlink/mode` of old MLNX_OFED kernels, `None` when
    /// the file does not exist.
    pub fn compat_eswitch_mode(&self) -> Result<Option<String>> {
        self.host.read_opt(&self.compat_mode_path())
    }

    pub fn set_compat_eswitch_mode(&self, mode: &str) -> Result<()> {
        self.host.write(&self.compat_mode_path(), mode)
    }

    /// A description of the compat file for messages ("there is no …").
    pub fn compat_eswitch_file(&self) -> PathBuf {
        self.compat_mode_path()
    }

    /// `compat/devlink/inline` or `compat/devlink/encap` next to `mode` (MLNX_OFED only: its
    /// stand-in for devlink's eswitch inline-mode and encap-mode on kernels without devlink;
    /// upstream kernels have no `compat` directory). `None` when the file does not exist.
    pub fn compat_eswitch_attr(&self, name: &str) -> Result<Option<String>> {
        self.host
            .read_opt(&self.base.join("compat/devlink").join(name))
    }

    pub fn set_compat_eswitch_attr(&self, name: &str, value: &str) -> Result<()> {
        self.host
            .write(&self.base.join("compat/devlink").join(name), value)
    }

    fn xps_path(&self, queue: u32) -> PathBuf {
        self.base.join(format!("queues/tx-{queue}/xps_cpus"))
    }

    /// `queues/tx-N/xps_cpus` as the kernel prints it (a hex mask); `None` when the queue
    /// has no such file (no such queue, a single-queue device, no CONFIG_XPS).
    pub fn xps_cpus(&self, queue: u32) -> Result<Option<String>> {
        match self.host.read_opt(&self.xps_path(queue)) {
            Ok(v) => Ok(v),
            Err(e) if super::errno_of(&e) == Some(nix::errno::Errno::ENOENT as i32) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn set_xps_cpus(&self, queue: u32, mask: &str) -> Result<()> {
        self.host.write(&self.xps_path(queue), mask)
    }

    /// For errors that must name the file.
    pub fn xps_file(&self, queue: u32) -> PathBuf {
        self.xps_path(queue)
    }
}

/// A netdev as seen at one moment.
#[derive(Clone, Debug, serde::Serialize, PartialEq, Eq)]
pub struct NetdevState {
    pub name: IfName,
    pub up: bool,
    pub master: Option<IfName>,
    pub switch_id: Option<String>,
    pub port_name: Option<String>,
    pub mac: Option<String>,
}

impl NetdevState {
    /// A netdev someone relies on: administratively up, or enslaved to a bond/bridge/OVS.
    pub fn in_use(&self) -> bool {
        self.up || self.master.is_some()
    }
}

impl Netdev<'_> {
    /// Reads everything [`NetdevState`] holds.
    pub fn state(&self) -> Result<NetdevState> {
        Ok(NetdevState {
            name: self.name.clone(),
            up: self.is_up()?,
            master: self.master()?,
            switch_id: self.phys_switch_id()?,
            port_name: self.phys_port_name()?,
            mac: self.address()?,
        })
    }
}
