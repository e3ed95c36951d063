//! A standalone InfiniBand PF's `ib = { ... }` (seed 004: per-VF node and port GUIDs and the
//! port policy of a PF that is in no bond), and the rule that a PF's VF GUIDs are configured
//! in one place: its own `ib`, or its bond's.

use std::collections::BTreeMap;
use std::path::PathBuf;

use toml::Spanned;

use super::error::{file_error, ConfigError, Source};
use super::model::{BondConfig, GuidScheme, IbPolicy, PfConfig, PfIb, PfMatch, MAX_VFS};
use super::names::{is_driver_name, parse_index};
use super::raw::{RawGuids, RawPfIb};
use crate::types::{Clip, Guid};

/// `[[pf]]` entries with `ib` get `auto` GUID indexes 0x80.. (see [`PfIb::auto_index`]).
const MAX_IB_PFS: usize = 128;

pub(super) fn pf_ib(
    src: &Source,
    raw: &Spanned<RawPfIb>,
    bonds: &[BondConfig],
    matcher: &PfMatch,
) -> Result<PfIb, ConfigError> {
    let r = raw.get_ref();
    let device = match &r.device {
        Some(d) if !is_driver_name(d.get_ref()) => {
            return Err(src.err(
                d,
                format!(
                    "ib.device {} is not a valid RDMA device name",
                    Clip(d.get_ref())
                ),
            ))
        }
        d => d.as_ref().map(|d| d.get_ref().clone()),
    };
    let policy = match &r.policy {
        None => None,
        Some(p) => Some(match p.get_ref().as_str() {
            "follow" => IbPolicy::Follow,
            "up" => IbPolicy::Up,
            "down" => IbPolicy::Down,
            o => {
                return Err(src.err(
                    p,
                    format!(
                        "ib.policy {} is not \"follow\", \"up\" or \"down\"",
                        Clip(o)
                    ),
                ))
            }
        }),
    };
    let node_guids = r
        .node_guids
        .clone()
        .map(|g| guid_scheme(src, g))
        .transpose()?;
    let port_guids = r
        .port_guids
        .clone()
        .map(|g| guid_scheme(src, g))
        .transpose()?;
    if node_guids.is_none() && port_guids.is_none() && policy.is_none() {
        return Err(src.err(
            raw,
            format!("pf {matcher}: ib needs node_guids, port_guids or policy"),
        ));
    }
    if let PfMatch::Name(n) = matcher {
        if let Some(b) = bonds
            .iter()
            .find(|b| b.ib.is_some() && b.slaves.contains(n))
        {
            return Err(src.err(raw, one_place(n.as_str(), b)));
        }
    }
    Ok(PfIb {
        device,
        node_guids,
        port_guids,
        policy,
        auto_index: 0,
    })
}

fn one_place(pf: &str, b: &BondConfig) -> String {
    format!(
        "{pf} has its own ib and is a slave of bond {} ({}) which has ib too: set its VFs' GUIDs in one place",
        b.name, b.origin
    )
}

/// A bond's `ib` against the `[[pf]]` entries of its slaves that have their own.
pub(super) fn check_bond_ib(
    src: &Source,
    at: &Spanned<String>,
    b: &BondConfig,
    pfs: &[PfConfig],
) -> Result<(), ConfigError> {
    for s in &b.slaves {
        let own = pfs
            .iter()
            .find(|p| p.ib.is_some() && matches!(&p.matcher, PfMatch::Name(n) if n == s));
        if let Some(p) = own {
            return Err(src.err(
                at,
                format!(
                    "bond {} has ib but its slave {s} has its own ib ({}): set its VFs' GUIDs in one place",
                    b.name, p.origin
                ),
            ));
        }
    }
    Ok(())
}

/// `ib` against the PF's VF count, once all of a file's keys are in.
pub(super) fn check_pf_ib(src: &Source, at: usize, pf: &PfConfig) -> Result<(), ConfigError> {
    let Some(ib) = &pf.ib else { return Ok(()) };
    for (key, scheme) in [
        ("node_guids", &ib.node_guids),
        ("port_guids", &ib.port_guids),
    ] {
        if let Some(GuidScheme::Explicit(m)) = scheme {
            if let Some(v) = m.keys().find(|v| **v >= pf.vfs) {
                return Err(src.err_at(
                    at,
                    format!(
                        "ib.{key}: VF {v} is out of range: pf {} has vfs = {}",
                        pf.matcher, pf.vfs
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Numbers the `[[pf]]` entries with `ib` for their `auto` GUIDs, in config order.
pub(super) fn number_auto_indexes(
    pfs: &mut [PfConfig],
    files: &[PathBuf],
) -> Result<(), ConfigError> {
    for (n, ib) in pfs.iter_mut().filter_map(|p| p.ib.as_mut()).enumerate() {
        if n >= MAX_IB_PFS {
            let file = files.first().cloned().unwrap_or_default();
            return Err(file_error(
                &file,
                format!("more than {MAX_IB_PFS} [[pf]] entries have ib: auto GUIDs cannot tell them apart"),
            ));
        }
        ib.auto_index = 0x80 | n as u8;
    }
    Ok(())
}

/// A bond's or a PF's `node_guids` / `port_guids`: `"auto"` or a table of VF index = GUID.
pub(super) fn guid_scheme(src: &Source, g: RawGuids) -> Result<GuidScheme, ConfigError> {
    let bad = || {
        src.err(
            &g,
            "GUIDs must be \"auto\" or a table of VF index = \"00:11:22:33:44:55:66:77\"",
        )
    };
    match g.get_ref() {
        toml::Value::String(s) if s == "auto" => Ok(GuidScheme::Auto),
        toml::Value::Table(t) => {
            let mut out = BTreeMap::new();
            for (k, v) in t {
                let i: u16 = parse_index(k).filter(|i| *i < MAX_VFS).ok_or_else(|| {
                    src.err(&g, format!("GUID table: VF index {} is not valid", Clip(k)))
                })?;
                let guid: Guid = v
                    .as_str()
                    .ok_or_else(bad)?
                    .parse()
                    .map_err(|m: String| src.err(&g, format!("GUID table, VF {i}: {m}")))?;
                out.insert(i, guid);
            }
            Ok(GuidScheme::Explicit(out))
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::build::parse_str;
    use super::*;

    #[test]
    fn standalone_ib_parses_and_auto_indexes_follow_the_ib_pfs() {
        let c = parse_str(
            Path::new("t.toml"),
            r#"
[[pf]]
match = { pci = "0000:af:00.0" }
vfs = 2
ib = { device = "mlx5_0", policy = "follow", node_guids = { 0 = "11:11:11:11:11:11:09:00" }, port_guids = "auto" }
[[pf]]
match = { name = "ens1f0" }
vfs = 2
[[pf]]
match = { pci = "0000:d8:00.0" }
vfs = 1
ib = { policy = "down" }
"#,
        )
        .unwrap();
        let ib = c.pfs[0].ib.as_ref().unwrap();
        assert_eq!(ib.device.as_deref(), Some("mlx5_0"));
        assert_eq!(ib.policy, Some(IbPolicy::Follow));
        assert_eq!(ib.port_guids, Some(GuidScheme::Auto));
        assert!(matches!(&ib.node_guids, Some(GuidScheme::Explicit(m)) if m.len() == 1));
        assert_eq!(ib.auto_index, 0x80);
        assert!(c.pfs[1].ib.is_none());
        assert_eq!(c.pfs[2].ib.as_ref().unwrap().auto_index, 0x81);
    }
}
