//! The `auto` IB GUID scheme for VFs.
//!
//! `02:H0:H1:H2:H3:PP:KV:VV` where
//! - `02` marks a locally assigned GUID (never collides with vendor-burnt ones, which start
//!   with an OUI whose locally-administered bit is clear);
//! - `H0..H3` are the first four bytes of the 64-bit FNV-1a hash of the host name, so two hosts
//!   in a fabric differ (2^32 values) and the same host gets the same GUIDs at every boot;
//! - `PP` is the PF's position in the bond's `slaves` list (0, 1), or for a standalone PF's own
//!   `ib` 0x80 + its position among the `[[pf]]` entries with `ib` (`PfIb::auto_index`);
//! - `KV` has its top bit set for a port GUID (clear for a node GUID), low bits = VF index / 256;
//! - `VV` is VF index % 256.
//!
//! Deterministic, unique per (host, PF, VF, kind) on one host, documented in the README.

use crate::types::{Guid, GuidKind};

fn fnv1a64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

pub fn auto_guid(hostname: &str, pf_index: u8, vf: u32, kind: GuidKind) -> Guid {
    let h = fnv1a64(hostname.as_bytes()).to_be_bytes();
    let kind_bit = match kind {
        GuidKind::Node => 0u8,
        GuidKind::Port => 0x80,
    };
    Guid([
        0x02,
        h[0],
        h[1],
        h[2],
        h[3],
        pf_index,
        kind_bit | ((vf >> 8) as u8 & 0x7f),
        (vf & 0xff) as u8,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn auto_guids_are_stable_and_distinct() {
        let a = auto_guid("hv-01", 0, 1, GuidKind::Node);
        assert_eq!(a, auto_guid("hv-01", 0, 1, GuidKind::Node));
        let mut all = BTreeSet::new();
        for pf in 0..2 {
            for vf in 0..300 {
                for k in [GuidKind::Node, GuidKind::Port] {
                    assert!(all.insert(auto_guid("hv-01", pf, vf, k)));
                }
            }
        }
        assert_ne!(a, auto_guid("hv-02", 0, 1, GuidKind::Node));
        assert_eq!(a.0[0], 0x02);
    }
}
