//! A PF's `vf = { ... }` table: keys that are one VF index (`3`) or a range (`"2-5"`), and
//! the rules over the per-VF keys once a file's keys are in (rates, MTU, bind).

use std::collections::BTreeMap;

use toml::Spanned;

use super::error::{ConfigError, Source};
use super::model::{Bind, PfConfig, PfMatch, VfConfig};
use super::names::parse_index;
use crate::types::Clip;

/// The VF indexes a key names: `3` or `"2-5"` (both ends included, low end first).
pub(super) fn parse_vf_key(s: &str) -> Option<(u16, u16)> {
    if let Some((a, b)) = s.split_once('-') {
        let (lo, hi) = (parse_index(a.trim())?, parse_index(b.trim())?);
        return (lo <= hi).then_some((lo, hi));
    }
    parse_index(s).map(|i| (i, i))
}

/// Merges one file's `vf` table into the PF's. A VF named by two keys of one file (an index
/// and a range) may get different keys from each, but not the same key twice: which one
/// would win is not obvious from the file.
pub(super) fn merge_vf_keys(
    src: &Source,
    table: BTreeMap<Spanned<String>, VfConfig>,
    into: &mut BTreeMap<u16, VfConfig>,
) -> Result<(), ConfigError> {
    let mut here: BTreeMap<u16, (String, VfConfig)> = BTreeMap::new();
    for (k, v) in table {
        let key = k.get_ref();
        let (lo, hi) = parse_vf_key(key).ok_or_else(|| {
            src.err(
                &k,
                format!(
                    "VF index {} is not a number or a range of VF indexes such as \"2-5\" (low end first)",
                    Clip(key)
                ),
            )
        })?;
        for idx in lo..=hi {
            let (first, cfg) = here
                .entry(idx)
                .or_insert_with(|| (key.clone(), VfConfig::default()));
            let twice = cfg.overlap(&v);
            if !twice.is_empty() {
                return Err(src.err(
                    &k,
                    format!(
                        "VF {idx} gets {} from both vf.{} and vf.{} in this file: set each key of a VF once",
                        twice.join(", "),
                        Clip(first),
                        Clip(key)
                    ),
                ));
            }
            cfg.merge(v.clone());
        }
    }
    for (idx, (_, cfg)) in here {
        into.entry(idx).or_default().merge(cfg);
    }
    Ok(())
}

/// The rules over a PF's per-VF keys, once a file's keys are merged in.
pub(super) fn check_vfs(
    src: &Source,
    at: usize,
    matcher: &PfMatch,
    pf: &PfConfig,
) -> Result<(), ConfigError> {
    for (i, vc) in &pf.vf {
        if let (Some(min), Some(max)) = (vc.min_tx_rate, vc.max_tx_rate) {
            if max != 0 && min > max {
                return Err(src.err_at(
                    at,
                    format!(
                        "VF {i}: min_tx_rate {min} is above max_tx_rate {max} (Mbit/s; max_tx_rate = 0 means no limit)"
                    ),
                ));
            }
        }
        if let Some(m) = vc.mtu {
            if !(68..=65535).contains(&m) {
                return Err(src.err_at(at, format!("VF {i}: mtu {m} is out of range 68..=65535")));
            }
        }
        if vc.bind.is_some() && pf.bind.is_none() {
            return Err(src.err_at(
                at,
                format!(
                    "pf {matcher}: VF {i} has its own bind but the PF has none: set the PF's bind (the driver of the other VFs, or \"none\") so that every VF is bound as configured"
                ),
            ));
        }
    }
    Ok(())
}

/// The driver VF `vf` of `pf` is bound to: its own `bind`, else the PF's.
pub fn vf_bind(pf: &PfConfig, vf: u16) -> Option<&Bind> {
    pf.vf
        .get(&vf)
        .and_then(|c| c.bind.as_ref())
        .or(pf.bind.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_str, Config};
    use std::path::Path;

    fn parse(t: &str) -> Result<Config, ConfigError> {
        parse_str(Path::new("t.toml"), t)
    }

    const BASE: &str = "[[pf]]\nmatch = { name = \"p0\" }\nvfs = 8\nbind = \"igbvf\"\n";

    #[test]
    fn keys_are_indexes_or_ranges() {
        assert_eq!(parse_vf_key("3"), Some((3, 3)));
        assert_eq!(parse_vf_key("2-5"), Some((2, 5)));
        assert_eq!(parse_vf_key("5-2"), None);
        assert_eq!(parse_vf_key("+1"), None);
        assert_eq!(parse_vf_key("1-"), None);
        assert_eq!(parse_vf_key("a-b"), None);
    }

    #[test]
    fn a_range_configures_each_vf_and_an_index_adds_other_keys() {
        let c = parse(&format!(
            "{BASE}vf = {{ \"2-4\" = {{ bind = \"vfio-pci\", max_tx_rate = 1000 }}, 3 = {{ mtu = 9000 }}, 0 = {{ bind = \"none\" }} }}\n"
        ))
        .unwrap();
        let pf = &c.pfs[0];
        for i in 2..=4 {
            assert_eq!(pf.vf[&i].bind, Some(Bind::Driver("vfio-pci".into())));
            assert_eq!(pf.vf[&i].max_tx_rate, Some(1000));
        }
        assert_eq!(pf.vf[&3].mtu, Some(9000));
        assert_eq!(vf_bind(pf, 0), Some(&Bind::None));
        assert_eq!(vf_bind(pf, 1), Some(&Bind::Driver("igbvf".into())));
        assert_eq!(vf_bind(pf, 4), Some(&Bind::Driver("vfio-pci".into())));
    }

    #[test]
    fn one_key_of_a_vf_set_twice_in_a_file_is_an_error() {
        let e = parse(&format!(
            "{BASE}vf = {{ \"0-3\" = {{ mtu = 1500 }}, 2 = {{ mtu = 9000 }} }}\n"
        ))
        .unwrap_err();
        assert!(
            e.message
                .contains("VF 2 gets mtu from both vf.\"0-3\" and vf.\"2\" in this file"),
            "{e}"
        );
    }

    #[test]
    fn a_later_file_overrides_a_range_vf_by_vf() {
        let mut b = super::super::build::Builder::default();
        let p = Path::new("a.toml");
        b.add(&Source {
            path: p,
            text: &format!("{BASE}vf = {{ \"0-7\" = {{ bind = \"vfio-pci\" }} }}\n"),
        })
        .unwrap();
        b.add(&Source {
            path: p,
            text: "[[pf]]\nmatch = { name = \"p0\" }\nvf = { 1 = { bind = \"igbvf\" } }\n",
        })
        .unwrap();
        let c = b.finish(&[]).unwrap();
        assert_eq!(vf_bind(&c.pfs[0], 1), Some(&Bind::Driver("igbvf".into())));
        assert_eq!(
            vf_bind(&c.pfs[0], 2),
            Some(&Bind::Driver("vfio-pci".into()))
        );
    }

    #[test]
    fn rules_over_rates_mtu_and_bind() {
        for (vf, want) in [
            (
                "1 = { min_tx_rate = 2000, max_tx_rate = 1000 }",
                "VF 1: min_tx_rate 2000 is above max_tx_rate 1000",
            ),
            (
                "1 = { mtu = 67 }",
                "VF 1: mtu 67 is out of range 68..=65535",
            ),
            ("1 = { mtu = 65536 }", "VF 1: mtu 65536 is out of range"),
            (
                "1 = { bind = \"a b\" }",
                "bind = \"a b\" is not a driver name",
            ),
            (
                "1 = { max_tx_rate = -1 }",
                "invalid value: integer `-1`, expected u32",
            ),
        ] {
            let e = parse(&format!("{BASE}vf = {{ {vf} }}\n")).unwrap_err();
            assert!(e.message.contains(want), "{vf}: {e}");
        }
        // max 0 is "no limit": any minimum is fine
        assert!(parse(&format!(
            "{BASE}vf = {{ 1 = {{ min_tx_rate = 2000, max_tx_rate = 0 }} }}\n"
        ))
        .is_ok());
        let e = parse(
            "[[pf]]\nmatch = { name = \"p0\" }\nvfs = 8\nvf = { 1 = { bind = \"vfio-pci\" } }\n",
        )
        .unwrap_err();
        assert!(
            e.message
                .contains("VF 1 has its own bind but the PF has none"),
            "{e}"
        );
        let e = parse(&format!("{BASE}mtu = 40\n")).unwrap_err();
        assert!(
            e.message.contains("mtu = 40 is out of range 68..=65535"),
            "{e}"
        );
        assert_eq!(
            parse(&format!("{BASE}mtu = 9000\n")).unwrap().pfs[0].mtu,
            Some(9000)
        );
    }
}
