//! Which configured PFs an invocation is about. Shared by the offload flow and irq-tune: the
//! configured PFs resolved to their netdevs on this host, and what each interface named on the
//! command line (or in `$IFACE`) refers to. Each caller keeps its own policy for what is
//! missing or not ours. irq-tune's targets (PFs and VF netdevs, with their settings) are in
//! [`irq`].

pub mod irq;

use anyhow::{Context, Result};

use crate::config::{BondConfig, Config, PfConfig, PfMatch};
use crate::host::Host;
use crate::types::IfName;

/// A configured PF and the netdev it resolved to, if it is on this host.
pub struct Resolved<'c> {
    pub cfg: &'c PfConfig,
    pub name: Option<IfName>,
}

/// A configured PF present on this host.
#[derive(Clone)]
pub struct Target<'c> {
    pub cfg: &'c PfConfig,
    pub name: IfName,
}

/// What an interface name given to a run refers to.
pub enum Named<'c, 'r> {
    /// A configured PF, by its current netdev name.
    Pf(&'r Resolved<'c>),
    /// A configured bond.
    Bond(&'c BondConfig),
    /// The netdev of VF `index` of a configured PF.
    Vf { pf: &'r Resolved<'c>, index: u32 },
    /// Nothing we configure.
    Other,
}

/// Finds the netdev a `[[pf]]` entry means; `None` if it is not on this host (yet).
pub fn resolve_pf(host: &Host, m: &PfMatch) -> Result<Option<IfName>> {
    match m {
        PfMatch::Name(n) => Ok(host.netdev(n).exists().then(|| n.clone())),
        PfMatch::Pci(p) => {
            let dev = host.pci(p);
            if let Some(n) = dev.netdevs()?.first() {
                return Ok(Some(n.name().clone()));
            }
            Ok(ib_label(&dev)?)
        }
        PfMatch::Mac(mac) => {
            let want = mac.to_string();
            for n in host.netdevs()? {
                let Some(dev) = n.device()? else { continue };
                if dev.is_vf() || !dev.has_sriov() {
                    continue;
                }
                if n.address()?.as_deref() == Some(want.as_str()) {
                    return Ok(Some(n.name().clone()));
                }
            }
            Ok(None)
        }
    }
}

/// The label of a PF matched by PCI address that has no netdev (an InfiniBand port without
/// IPoIB): its RDMA device's name (`infiniband/mlx5_0` under the PCI device). Steps, markers
/// and messages name a PF by an [`IfName`], which cannot hold the `:` of a PCI address; an RDMA
/// device name fits one, names the port as `ibstat` and the seeds do, and the host model finds
/// the PF again by it (`Host::pf_device`). `None` when the device has neither.
fn ib_label(dev: &crate::host::Device) -> Result<Option<IfName>> {
    if !dev.exists() || !dev.has_sriov() {
        return Ok(None);
    }
    Ok(dev
        .ib_devices()?
        .into_iter()
        .find_map(|n| n.parse::<IfName>().ok()))
}

/// Every configured PF with its netdev on this host, in config order.
/// One netdev matched by two `[[pf]]` entries (by name and by PCI address, say) is an error:
/// which entry's settings would win is not something to guess.
pub fn resolve<'c>(host: &Host, cfg: &'c Config) -> Result<Vec<Resolved<'c>>> {
    let out = cfg
        .pfs
        .iter()
        .map(|p| {
            Ok(Resolved {
                cfg: p,
                name: resolve_pf(host, &p.matcher)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    for (i, a) in out.iter().enumerate() {
        let Some(n) = &a.name else { continue };
        if let Some(b) = out[i + 1..].iter().find(|b| b.name.as_ref() == Some(n)) {
            anyhow::bail!(
                "{n} is matched by two [[pf]] entries: {} ({}) and {} ({}); keep one",
                a.cfg.matcher,
                a.cfg.origin,
                b.cfg.matcher,
                b.cfg.origin
            );
        }
    }
    Ok(out)
}

/// What `iface` refers to, given the resolved configured PFs.
pub fn classify<'c, 'r>(
    host: &Host,
    cfg: &'c Config,
    resolved: &'r [Resolved<'c>],
    iface: &IfName,
) -> Result<Named<'c, 'r>> {
    if let Some(r) = resolved.iter().find(|r| r.name.as_ref() == Some(iface)) {
        return Ok(Named::Pf(r));
    }
    if let Some(b) = cfg.bonds.iter().find(|b| &b.name == iface) {
        return Ok(Named::Bond(b));
    }
    let nd = host.netdev(iface);
    if !nd.exists() {
        return Ok(Named::Other);
    }
    let Some(dev) = nd.device()? else {
        return Ok(Named::Other);
    };
    let Some(pf_dev) = dev.physfn()? else {
        return Ok(Named::Other);
    };
    // the PF whose device is this VF's physfn
    for r in resolved {
        let Some(name) = &r.name else { continue };
        let Some(d) = host.netdev(name).device()? else {
            continue;
        };
        if d.name() != pf_dev.name() {
            continue;
        }
        let index = d
            .virtfns()?
            .into_iter()
            .find(|(_, v)| v.name() == dev.name())
            .map(|(i, _)| i)
            .with_context(|| format!("{iface} ({}) is not among the VFs of {name}", dev.name()))?;
        return Ok(Named::Vf { pf: r, index });
    }
    Ok(Named::Other)
}

/// The interfaces among `ifaces` that the config does not mention: neither a configured PF or
/// bond nor a VF of one. A hook runs for every interface of the host, so this is said only when
/// asked (`-v`, `--dry-run`): a typo in a hand-run command must not look like "all done".
pub fn unknown(host: &Host, cfg: &Config, ifaces: &[IfName]) -> Result<Vec<IfName>> {
    let resolved = resolve(host, cfg)?;
    let mut out = vec![];
    for i in ifaces {
        if matches!(classify(host, cfg, &resolved, i)?, Named::Other) {
            out.push(i.clone());
        }
    }
    Ok(out)
}

/// The resolved PF a bond's slave name means: by current netdev name, or by a `[[pf]]`
/// matched by that name (which may not be on this host).
pub fn slave<'c, 'r>(resolved: &'r [Resolved<'c>], slave: &IfName) -> Option<&'r Resolved<'c>> {
    resolved.iter().find(|r| {
        r.name.as_ref() == Some(slave) || matches!(&r.cfg.matcher, PfMatch::Name(m) if m == slave)
    })
}

/// The bond whose own `post-up` does the post steps of `iface`: a configured slave its bond has
/// not enslaved yet (ifupdown2 brings a bond's slaves up before the bond).
pub fn awaiting_bond<'c>(
    host: &Host,
    cfg: &'c Config,
    iface: &IfName,
) -> Result<Option<&'c BondConfig>> {
    let Some(b) = cfg.bond_of(iface.as_str()) else {
        return Ok(None);
    };
    Ok((host.netdev(iface).master()?.as_ref() != Some(&b.name)).then_some(b))
}
