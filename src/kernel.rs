//! Kernel interfaces beyond files: devlink, rtnetlink and ethtool, opened lazily and only on
//! the running system. On a fixture tree (`SRIOV_OFFLOAD_ROOT`) there is no kernel behind the
//! files, so these answer "unknown" for reads and refuse writes, and the sysfs fallbacks apply.

use anyhow::{bail, Context, Result};

use crate::config::{EswitchMode, LinkState, VfConfig};
use crate::host::Host;
use crate::netlink::devlink::{self, Devlink, DevlinkHandle};
use crate::netlink::ethtool::Ethtool;
use crate::netlink::rtnl::{self, Rtnl, VfInfo, VfProps};
use crate::observe::EswitchSource;

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

    fn compat_mode_path(host: &Host, ifname: &str) -> std::path::PathBuf {
        host.sys(format!("class/net/{ifname}/compat/devlink/mode"))
    }

    /// The eswitch mode through devlink, else the compat sysfs file of old OFED kernels;
    /// `None` when the device has neither (a NIC without an eswitch, e.g. igb).
    pub fn eswitch_mode(
        &mut self,
        host: &Host,
        bus: &str,
        dev: &str,
        ifname: &str,
    ) -> Result<(Option<EswitchMode>, Option<EswitchSource>)> {
        if self.real {
            let h = DevlinkHandle {
                bus: bus.to_string(),
                dev: dev.to_string(),
            };
            match self.devlink().and_then(|d| d.eswitch_mode(&h)) {
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
                    return Err(e).with_context(|| format!("reading the eswitch mode of {ifname}"))
                }
            }
        }
        let p = Self::compat_mode_path(host, ifname);
        Ok(match host.read_opt(&p)?.as_deref() {
            Some("switchdev") => (Some(EswitchMode::Switchdev), Some(EswitchSource::Compat)),
            Some("legacy") => (Some(EswitchMode::Legacy), Some(EswitchSource::Compat)),
            Some(other) => bail!("{}: unknown eswitch mode {other:?}", p.display()),
            None => (None, None),
        })
    }

    pub fn set_eswitch_mode(
        &mut self,
        host: &Host,
        source: Option<&EswitchSource>,
        bus: &str,
        dev: &str,
        ifname: &str,
        mode: EswitchMode,
    ) -> Result<()> {
        match source {
            Some(EswitchSource::Compat) => {
                host.write(&Self::compat_mode_path(host, ifname), &mode.to_string())
            }
            Some(EswitchSource::Devlink) => {
                let h = DevlinkHandle {
                    bus: bus.to_string(),
                    dev: dev.to_string(),
                };
                let m = match mode {
                    EswitchMode::Legacy => devlink::EswitchMode::Legacy,
                    EswitchMode::Switchdev => devlink::EswitchMode::Switchdev,
                };
                self.writes += 1;
                self.devlink()?
                    .set_eswitch_mode(&h, m)
                    .with_context(|| format!("setting eswitch mode {mode} on {ifname} ({bus}/{dev})"))
            }
            None => bail!(
                "{ifname} ({bus}/{dev}) has no eswitch: devlink has no eswitch for it and there is no {}",
                Self::compat_mode_path(host, ifname).display()
            ),
        }
    }

    /// Representors by VF index from devlink's port list (flavour pcivf): authoritative where
    /// devlink exists. `None` on a fixture tree or a device without devlink.
    pub fn vf_representors(
        &mut self,
        bus: &str,
        dev: &str,
    ) -> Result<Option<std::collections::BTreeMap<u32, String>>> {
        if !self.real {
            return Ok(None);
        }
        let h = DevlinkHandle {
            bus: bus.to_string(),
            dev: dev.to_string(),
        };
        let ports = match self.devlink().and_then(|d| d.ports(&h)) {
            Ok(p) => p,
            Err(e) if no_devlink(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(
            ports
                .into_iter()
                .filter(|p| p.flavour == devlink::flavour::PCI_VF)
                .filter_map(|p| Some((u32::from(p.vf_number?), p.netdev_name?)))
                .collect(),
        ))
    }

    /// VF properties as the PF driver reports them; `None` when unknown (fixture tree).
    pub fn vf_info(&mut self, pf: &str) -> Result<Option<Vec<VfInfo>>> {
        if !self.real {
            return Ok(None);
        }
        Ok(Some(self.rtnl()?.vfs(pf)?))
    }

    pub fn set_vf(&mut self, pf: &str, vf: u32, c: &VfConfig) -> Result<()> {
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
        };
        self.writes += 1;
        self.rtnl()?.set_vf(pf, vf, &props)
    }

    /// Whether `feature` is on; `None` when unknown (fixture tree) or the device lacks it.
    pub fn feature(&mut self, ifname: &str, feature: &str) -> Result<Option<bool>> {
        Ok(self.feature_state(ifname, feature)?.map(|f| f.active))
    }

    /// Whether `feature` is on and whether it can be changed; `None` when unknown.
    pub fn feature_state(
        &mut self,
        ifname: &str,
        feature: &str,
    ) -> Result<Option<crate::netlink::ethtool::FeatureState>> {
        if !self.real {
            return Ok(None);
        }
        self.ethtool()?.feature(ifname, feature)
    }

    pub fn set_feature(&mut self, ifname: &str, feature: &str, on: bool) -> Result<()> {
        self.writes += 1;
        self.ethtool()?.set_feature(ifname, feature, on)
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
