//! What irq-tune tunes, with which settings: the configured PFs on this host and the netdevs
//! of their VFs, each with its effective `[tune]`.

use std::collections::BTreeSet;

use anyhow::{Context, Result};

use super::{classify, resolve, Named};
use crate::config::{ChannelsSetting, Config, RingsSetting, TuneConfig};
use crate::host::{Device as PciDevice, Host};
use crate::netlink::Hfunc;
use crate::types::IfName;

/// The effective `[tune]` for one device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub affinity: bool,
    pub xps: bool,
    pub rings: Option<RingsSetting>,
    pub channels: Option<ChannelsSetting>,
    pub hfunc: Option<Hfunc>,
}

impl Settings {
    /// Every key left unset leaves its setting alone: with no `[tune]` section irq-tune
    /// changes nothing (irqbalance or the driver keep placing IRQs). `irq_affinity =
    /// "numa-local"` and `xps = true` turn placement on.
    pub fn from_config(t: &TuneConfig) -> Result<Settings> {
        Ok(Settings {
            affinity: t.irq_affinity.unwrap_or(false),
            xps: t.xps.unwrap_or(false),
            rings: t.rings,
            channels: t.channels,
            hfunc: t.rss_hfunc.as_deref().map(str::parse).transpose()?,
        })
    }

    /// Nothing is configured: the device is left alone.
    pub fn is_empty(&self) -> bool {
        !self.affinity && !self.xps && !self.wants_kernel()
    }

    /// Channels, rings or RSS are configured: they need the kernel (ethtool).
    pub fn wants_kernel(&self) -> bool {
        self.rings.is_some() || self.channels.is_some() || self.hfunc.is_some()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    Pf,
    Vf { pf: IfName, index: u32 },
}

/// A netdev to tune.
#[derive(Clone, Debug)]
pub struct Target {
    pub ifname: IfName,
    pub pci: String,
    pub role: Role,
    pub settings: Settings,
}

impl Target {
    /// The PF this device belongs to (for log fields).
    pub fn pf(&self) -> &IfName {
        match &self.role {
            Role::Pf => &self.ifname,
            Role::Vf { pf, .. } => pf,
        }
    }
}

/// The netdevs to tune: with no interfaces, every configured PF on this host and its VFs'
/// netdevs. An interface may be a configured PF (with its VFs), a configured bond (its
/// configured slaves), or the netdev of a VF of a configured PF (that VF alone, the udev
/// path). Interfaces that are none of these are not ours.
pub fn targets(host: &Host, cfg: &Config, ifaces: &[IfName]) -> Result<(Vec<Target>, Vec<String>)> {
    let mut notes = vec![];
    let resolved = resolve(host, cfg)?;
    // configured PFs present on this host, with their device and settings
    let mut pfs = vec![];
    for r in &resolved {
        let Some(name) = &r.name else {
            notes.push(format!(
                "configured pf {} is not on this host",
                r.cfg.matcher
            ));
            continue;
        };
        let Some(dev) = host.netdev(name).device()? else {
            if host.is_ib_only_pf(name) {
                // RSS, rings and channels are ethtool settings of a netdev
                notes.push(format!(
                    "{name} is a PF without a netdev (InfiniBand without IPoIB): nothing to tune"
                ));
                continue;
            }
            notes.push(format!("{name} has no device: not tuned"));
            continue;
        };
        let settings = Settings::from_config(&cfg.tune_for(&r.cfg.matcher))
            .with_context(|| format!("pf {}", r.cfg.matcher))?;
        pfs.push((name.clone(), dev, settings));
    }
    let mut out: Vec<Target> = vec![];
    let with_vfs = |out: &mut Vec<Target>, (name, dev, s): &(IfName, PciDevice, Settings)| {
        out.push(Target {
            ifname: name.clone(),
            pci: dev.name().to_string(),
            role: Role::Pf,
            settings: s.clone(),
        });
        for (index, vf) in dev.virtfns()? {
            for n in vf.netdevs()? {
                out.push(Target {
                    ifname: n.name().clone(),
                    pci: vf.name().to_string(),
                    role: Role::Vf {
                        pf: name.clone(),
                        index,
                    },
                    settings: s.clone(),
                });
            }
        }
        anyhow::Ok(())
    };
    let find = |n: &IfName| pfs.iter().find(|p| &p.0 == n);
    if ifaces.is_empty() {
        for pf in &pfs {
            with_vfs(&mut out, pf)?;
        }
        return Ok((out, notes));
    }
    for i in ifaces {
        match classify(host, cfg, &resolved, i)? {
            Named::Pf(r) => {
                if let Some(pf) = r.name.as_ref().and_then(find) {
                    with_vfs(&mut out, pf)?;
                }
            }
            Named::Bond(b) => {
                for pf in pfs.iter().filter(|p| b.slaves.contains(&p.0)) {
                    with_vfs(&mut out, pf)?;
                }
            }
            Named::Vf { pf: r, index } => {
                let Some(pf) = r.name.as_ref().and_then(find) else {
                    continue;
                };
                let Some(vdev) = host.netdev(i).device()? else {
                    continue;
                };
                out.push(Target {
                    ifname: i.clone(),
                    pci: vdev.name().to_string(),
                    role: Role::Vf {
                        pf: pf.0.clone(),
                        index,
                    },
                    settings: pf.2.clone(),
                });
            }
            Named::Other => {}
        }
    }
    let mut seen = BTreeSet::new();
    out.retain(|t| seen.insert(t.ifname.clone()));
    Ok((out, notes))
}
