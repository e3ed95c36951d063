//! The one facade over netlink: devlink, rtnetlink and ethtool (and the `SIOCETHTOOL` ioctl),
//! opened lazily and only on the running system. On a fixture tree (`SRIOV_OFFLOAD_ROOT`)
//! there is no kernel behind the files, so these answer "unknown" for reads and refuse writes,
//! and the sysfs fallbacks of the host model apply.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::config::{EncapMode, EswitchMode, InlineMode, LinkState, ParamCmode, VfConfig};
use crate::host::{Host, Netdev};
use crate::netlink::devlink::{self, Devlink, DevlinkHandle};
use crate::netlink::ethtool::{Channels, ChannelsSet, Ethtool, FeatureState, Hfunc, Rings};
use crate::netlink::rtnl::{self, Rtnl, VfInfo, VfProps};
use crate::types::{Guid, GuidKind, IfName};

/// Where a PF's eswitch mode is read and set.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub enum EswitchSource {
    Devlink,
    /// `compat/devlink/mode` of old MLNX_OFED kernels.
    Compat,
}

/// A switchdev eswitch's inline and encap mode, each `None` where it cannot be read: devlink
/// reports them only for drivers that have them (mlx5; not netdevsim, ice, bnxt), and the
/// compat directory of old MLNX_OFED kernels has them as files.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct EswitchModes {
    pub inline: Option<InlineMode>,
    pub encap: Option<EncapMode>,
}

fn inline_to_devlink(m: InlineMode) -> devlink::InlineMode {
    match m {
        InlineMode::None => devlink::InlineMode::None,
        InlineMode::Link => devlink::InlineMode::Link,
        InlineMode::Network => devlink::InlineMode::Network,
        InlineMode::Transport => devlink::InlineMode::Transport,
    }
}

fn inline_from_devlink(m: devlink::InlineMode) -> InlineMode {
    match m {
        devlink::InlineMode::None => InlineMode::None,
        devlink::InlineMode::Link => InlineMode::Link,
        devlink::InlineMode::Network => InlineMode::Network,
        devlink::InlineMode::Transport => InlineMode::Transport,
    }
}

fn encap_to_devlink(m: EncapMode) -> devlink::EncapMode {
    match m {
        EncapMode::None => devlink::EncapMode::None,
        EncapMode::Basic => devlink::EncapMode::Basic,
    }
}

fn encap_from_devlink(m: devlink::EncapMode) -> EncapMode {
    match m {
        devlink::EncapMode::None => EncapMode::None,
        devlink::EncapMode::Basic => EncapMode::Basic,
    }
}

pub fn cmode_to_devlink(m: ParamCmode) -> devlink::Cmode {
    match m {
        ParamCmode::Runtime => devlink::Cmode::Runtime,
        ParamCmode::Driverinit => devlink::Cmode::Driverinit,
        ParamCmode::Permanent => devlink::Cmode::Permanent,
    }
}

pub fn cmode_from_devlink(m: devlink::Cmode) -> ParamCmode {
    match m {
        devlink::Cmode::Runtime => ParamCmode::Runtime,
        devlink::Cmode::Driverinit => ParamCmode::Driverinit,
        devlink::Cmode::Permanent => ParamCmode::Permanent,
    }
}

pub struct Kernel {
    real: bool,
    devlink: Option<Devlink>,
    rtnl: Option<Rtnl>,
    ethtool: Option<Ethtool>,
    /// Netlink writes made (for the write counts the benchmark reports).
    pub writes: u32,
}

impl Kernel {
    pub fn new(host: &Host) -> Kernel {
        Kernel {
            real: host.is_real(),
            devlink: None,
            rtnl: None,
            ethtool: None,
            writes: 0,
        }
    }

    /// True when there is a kernel behind the host model (not a fixture tree).
    pub fn is_real(&self) -> bool {
        self.real
    }

    fn devlink(&mut self) -> Result<&mut Devlink> {
        if self.devlink.is_none() {
            self.devlink = Some(Devlink::new()?);
        }
        Ok(self.devlink.as_mut().expect("set just above"))
    }

    fn rtnl(&mut self) -> Result<&mut Rtnl> {
        if !self.real {
            bail!("rtnetlink is not used on a fixture tree (SRIOV_OFFLOAD_ROOT is set)");
        }
        if self.rtnl.is_none() {
            self.rtnl = Some(Rtnl::new()?);
        }
        Ok(self.rtnl.as_mut().expect("set just above"))
    }

    fn ethtool(&mut self) -> Result<&mut Ethtool> {
        if !self.real {
            bail!("ethtool netlink is not used on a fixture tree (SRIOV_OFFLOAD_ROOT is set)");
        }
        if self.ethtool.is_none() {
            self.ethtool = Some(Ethtool::new()?);
        }
        Ok(self.ethtool.as_mut().expect("set just above"))
    }

    /// The eswitch mode through devlink, else the compat sysfs file of old OFED kernels;
    /// `None` when the device has neither (a NIC without an eswitch, e.g. igb).
    pub fn eswitch_mode(
        &mut self,
        h: &DevlinkHandle,
        pf: &Netdev,
    ) -> Result<(Option<EswitchMode>, Option<EswitchSource>)> {
        if self.real {
            match self.devlink().and_then(|d| d.eswitch_mode(h)) {
                Ok(m) => {
                    let mode = match m {
                        devlink::EswitchMode::Legacy => EswitchMode::Legacy,
                        _ => EswitchMode::Switchdev,
                    };
                    return Ok((Some(mode), Some(EswitchSource::Devlink)));
                }
                // no devlink instance, or one without an eswitch (igb, a kernel without
                // devlink): not a failure, try the compat file
                Err(e) if no_devlink(&e) => {}
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("reading the eswitch mode of {}", pf.name()))
                }
            }
        }
        Ok(match pf.compat_eswitch_mode()?.as_deref() {
            Some("switchdev") => (Some(EswitchMode::Switchdev), Some(EswitchSource::Compat)),
            Some("legacy") => (Some(EswitchMode::Legacy), Some(EswitchSource::Compat)),
            Some(other) => bail!(
                "{}: unknown eswitch mode {other:?}",
                pf.compat_eswitch_file().display()
            ),
            None => (None, None),
        })
    }

    /// Sets what is given of the eswitch mode and its inline and encap mode, in that order: one
    /// DEVLINK_CMD_ESWITCH_SET, or the compat files one after the other.
    pub fn set_eswitch(
        &mut self,
        source: Option<&EswitchSource>,
        h: &DevlinkHandle,
        pf: &Netdev,
        mode: Option<EswitchMode>,
        modes: EswitchModes,
    ) -> Result<()> {
        let ifname = pf.name();
        let (bus, dev) = (&h.bus, &h.dev);
        let mut what = vec![];
        if let Some(m) = mode {
            what.push(format!("mode {m}"));
        }
        if let Some(i) = modes.inline {
            what.push(format!("inline-mode {i}"));
        }
        if let Some(e) = modes.encap {
            what.push(format!("encap-mode {e}"));
        }
        let what = what.join(" ");
        match source {
            Some(EswitchSource::Compat) => {
                if let Some(m) = mode {
                    pf.set_compat_eswitch_mode(&m.to_string())?;
                }
                if let Some(i) = modes.inline {
                    pf.set_compat_eswitch_attr("inline", &i.to_string())?;
                }
                if let Some(e) = modes.encap {
                    pf.set_compat_eswitch_attr("encap", &e.to_string())?;
                }
                Ok(())
            }
            Some(EswitchSource::Devlink) => {
                let m = mode.map(|m| match m {
                    EswitchMode::Legacy => devlink::EswitchMode::Legacy,
                    EswitchMode::Switchdev => devlink::EswitchMode::Switchdev,
                });
                self.writes += 1;
                self.devlink()?
                    .set_eswitch(
                        h,
                        m,
                        modes.inline.map(inline_to_devlink),
                        modes.encap.map(encap_to_devlink),
                    )
                    .with_context(|| format!("setting eswitch {what} on {ifname} ({bus}/{dev})"))
            }
            None => bail!(
                "{ifname} ({bus}/{dev}) has no eswitch: devlink has no eswitch for it and there is no {}",
                pf.compat_eswitch_file().display()
            ),
        }
    }

    /// The eswitch's inline and encap mode where `source` has them (each `None` where not).
    pub fn eswitch_modes(
        &mut self,
        source: Option<&EswitchSource>,
        h: &DevlinkHandle,
        pf: &Netdev,
    ) -> Result<EswitchModes> {
        match source {
            Some(EswitchSource::Devlink) if self.real => {
                let e = self
                    .devlink()
                    .and_then(|d| d.eswitch(h))
                    .with_context(|| format!("reading the eswitch of {}", pf.name()))?;
                Ok(EswitchModes {
                    inline: e.inline.map(inline_from_devlink),
                    encap: e.encap.map(encap_from_devlink),
                })
            }
            Some(EswitchSource::Compat) => {
                let read = |name: &str| -> Result<Option<String>> { pf.compat_eswitch_attr(name) };
                let bad = |name: &str, v: &str| {
                    anyhow::anyhow!("{}/compat/devlink/{name}: unknown value {v:?}", pf.name())
                };
                let inline = match read("inline")? {
                    Some(v) => Some(InlineMode::parse(&v).ok_or_else(|| bad("inline", &v))?),
                    None => None,
                };
                let encap = match read("encap")? {
                    Some(v) => Some(EncapMode::parse(&v).ok_or_else(|| bad("encap", &v))?),
                    None => None,
                };
                Ok(EswitchModes { inline, encap })
            }
            _ => Ok(EswitchModes::default()),
        }
    }

    /// The devlink parameters of `h` (DEVLINK_CMD_PARAM_GET); `None` on a fixture tree, where
    /// no kernel can be asked. A device without a devlink instance (igb) has none.
    pub fn devlink_params(&mut self, h: &DevlinkHandle) -> Result<Option<Vec<devlink::Param>>> {
        if !self.real {
            return Ok(None);
        }
        match self.devlink().and_then(|d| d.params(h)) {
            Ok(p) => Ok(Some(p)),
            Err(e) if no_devlink(&e) => Ok(Some(vec![])),
            Err(e) => Err(e),
        }
    }

    pub fn set_devlink_param(
        &mut self,
        h: &DevlinkHandle,
        name: &str,
        cmode: ParamCmode,
        value: &devlink::ParamValue,
    ) -> Result<()> {
        if !self.real {
            bail!("devlink netlink is not used on a fixture tree (SRIOV_OFFLOAD_ROOT is set)");
        }
        self.writes += 1;
        self.devlink()?
            .set_param(h, name, cmode_to_devlink(cmode), value)
    }

    /// `devlink dev reload` (driver reinit): applies the driverinit values.
    pub fn devlink_reload(&mut self, h: &DevlinkHandle) -> Result<()> {
        if !self.real {
            bail!("devlink netlink is not used on a fixture tree (SRIOV_OFFLOAD_ROOT is set)");
        }
        self.writes += 1;
        self.devlink()?.reload(h)
    }

    /// Representors by VF index from devlink's port list (flavour pcivf): authoritative where
    /// devlink exists. `None` on a fixture tree or a device without devlink.
    pub fn vf_representors(&mut self, h: &DevlinkHandle) -> Result<Option<BTreeMap<u32, IfName>>> {
        if !self.real {
            return Ok(None);
        }
        let ports = match self.devlink().and_then(|d| d.ports(h)) {
            Ok(p) => p,
            Err(e) if no_devlink(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(
            ports
                .into_iter()
                .filter(|p| p.flavour == devlink::flavour::PCI_VF)
                .filter_map(|p| Some((u32::from(p.vf_number?), p.netdev_name?.parse().ok()?)))
                .collect(),
        ))
    }

    /// VF properties as the PF driver reports them; `None` when unknown (fixture tree).
    pub fn vf_info(&mut self, pf: &IfName) -> Result<Option<Vec<VfInfo>>> {
        if !self.real {
            return Ok(None);
        }
        Ok(Some(self.rtnl()?.vfs(pf.as_str())?))
    }

    pub fn set_vf(&mut self, pf: &IfName, vf: u32, c: &VfConfig) -> Result<()> {
        let props = VfProps {
            mac: c.mac.map(|m| m.0),
            vlan: c.vlan,
            qos: c.qos.map(u32::from),
            spoofchk: c.spoofchk,
            trust: c.trust,
            link_state: c.link_state.map(|l| match l {
                LinkState::Auto => rtnl::LinkState::Auto,
                LinkState::Enable => rtnl::LinkState::Enable,
                LinkState::Disable => rtnl::LinkState::Disable,
            }),
            min_tx_rate: c.min_tx_rate,
            max_tx_rate: c.max_tx_rate,
        };
        self.writes += 1;
        self.rtnl()?.set_vf(pf.as_str(), vf, &props)
    }

    /// Sets the MTU of a netdev: rtnetlink on the running system; on a fixture tree the
    /// netdev's sysfs `mtu`, which the kernel also accepts (the same `dev_set_mtu`), so that
    /// fixture flows converge.
    pub fn set_mtu(&mut self, nd: &Netdev, mtu: u32) -> Result<()> {
        if !self.real {
            return nd.set_mtu(mtu);
        }
        self.writes += 1;
        self.rtnl()?.set_mtu(nd.name().as_str(), mtu)
    }

    /// Sets a VF's InfiniBand GUID through rtnetlink (upstream kernels; the VF must be
    /// rebound for it to take effect).
    pub fn set_vf_guid(&mut self, pf: &IfName, vf: u32, kind: GuidKind, guid: Guid) -> Result<()> {
        let g = Some(u64::from_be_bytes(guid.0));
        let (node, port) = match kind {
            GuidKind::Node => (g, None),
            GuidKind::Port => (None, g),
        };
        self.writes += 1;
        self.rtnl()?.set_vf_ib_guids(pf.as_str(), vf, node, port)
    }

    /// Whether `feature` is on; `None` when unknown (fixture tree) or the device lacks it.
    pub fn feature(&mut self, ifname: &IfName, feature: &str) -> Result<Option<bool>> {
        Ok(self.feature_state(ifname, feature)?.map(|f| f.active))
    }

    /// Whether `feature` is on and whether it can be changed; `None` when unknown.
    pub fn feature_state(
        &mut self,
        ifname: &IfName,
        feature: &str,
    ) -> Result<Option<FeatureState>> {
        if !self.real {
            return Ok(None);
        }
        self.ethtool()?.feature(ifname.as_str(), feature)
    }

    pub fn set_feature(&mut self, ifname: &IfName, feature: &str, on: bool) -> Result<()> {
        self.writes += 1;
        self.ethtool()?.set_feature(ifname.as_str(), feature, on)
    }

    pub fn channels(&mut self, ifname: &IfName) -> Result<Channels> {
        self.ethtool()?.channels(ifname.as_str())
    }

    pub fn set_channels(&mut self, ifname: &IfName, c: &ChannelsSet) -> Result<()> {
        self.writes += 1;
        self.ethtool()?.set_channels(ifname.as_str(), c)
    }

    pub fn rings(&mut self, ifname: &IfName) -> Result<Rings> {
        self.ethtool()?.rings(ifname.as_str())
    }

    pub fn set_rings(&mut self, ifname: &IfName, rx: Option<u32>, tx: Option<u32>) -> Result<()> {
        self.writes += 1;
        self.ethtool()?.set_rings(ifname.as_str(), rx, tx)
    }

    /// The RSS hash function (`SIOCETHTOOL`: no netlink *set* on older kernels).
    pub fn rss_hfunc(&mut self, ifname: &IfName) -> Result<Option<Hfunc>> {
        if !self.real {
            bail!("SIOCETHTOOL is not used on a fixture tree (SRIOV_OFFLOAD_ROOT is set)");
        }
        crate::netlink::rss_hfunc(ifname.as_str())
    }

    pub fn set_rss_hfunc(&mut self, ifname: &IfName, h: Hfunc) -> Result<()> {
        if !self.real {
            bail!("SIOCETHTOOL is not used on a fixture tree (SRIOV_OFFLOAD_ROOT is set)");
        }
        self.writes += 1;
        crate::netlink::set_rss_hfunc(ifname.as_str(), h)
    }
}

/// "There is no devlink here" as opposed to a failure: no family (kernel without devlink),
/// no instance for the device (ENODEV), or an instance without an eswitch (EOPNOTSUPP).
fn no_devlink(e: &anyhow::Error) -> bool {
    use nix::errno::Errno;
    match crate::netlink::errno(e) {
        Some(Errno::ENODEV | Errno::EOPNOTSUPP | Errno::ENOENT | Errno::EINVAL) => true,
        Some(_) => false,
        // Devlink::new() failing to resolve the family carries no errno
        None => true,
    }
}
