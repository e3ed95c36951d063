//! The raw (per-file) TOML form, as serde reads it: everything optional so drop-ins can
//! override single keys, spans kept for error messages.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::model::{EswitchMode, EswitchOrder, VfConfig};
use crate::types::{BridgeName, IfName, Mac, PciAddr};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    pub(super) defaults: Option<RawDefaults>,
    #[serde(default)]
    pub(super) pf: Vec<Spanned<RawPf>>,
    #[serde(default)]
    pub(super) bond: Vec<Spanned<RawBond>>,
    pub(super) tune: Option<RawTune>,
    pub(super) boot: Option<RawBoot>,
    pub(super) ovs: Option<RawOvs>,
    pub(super) metrics: Option<RawMetrics>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDefaults {
    pub(super) timeout: Option<Spanned<String>>,
    /// `"auto"` or a number; interpreted by hand (see [`RawGuids`]).
    pub(super) probe_jobs: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMatch {
    pub(super) name: Option<IfName>,
    pub(super) pci: Option<PciAddr>,
    pub(super) mac: Option<Mac>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPf {
    #[serde(rename = "match")]
    pub(super) matcher: Spanned<RawMatch>,
    pub(super) vfs: Option<Spanned<i64>>,
    pub(super) eswitch: Option<EswitchMode>,
    pub(super) eswitch_order: Option<EswitchOrder>,
    pub(super) bind: Option<Spanned<String>>,
    pub(super) reserved_vfs: Option<Vec<Spanned<i64>>>,
    pub(super) hw_tc_offload: Option<bool>,
    #[serde(default)]
    pub(super) vf: BTreeMap<Spanned<String>, VfConfig>,
    pub(super) mtu: Option<Spanned<i64>>,
    pub(super) tune: Option<RawTune>,
    pub(super) ovs: Option<Spanned<RawPfOvs>>,
    pub(super) ib: Option<Spanned<RawPfIb>>,
    /// `{ name = value | { value = ..., cmode = "..." } }`; interpreted by hand (spans).
    pub(super) devlink_params: Option<BTreeMap<Spanned<String>, Spanned<toml::Value>>>,
    pub(super) eswitch_inline_mode: Option<Spanned<String>>,
    pub(super) eswitch_encap_mode: Option<Spanned<String>>,
}

/// A PF's `ib = { ... }` (standalone InfiniBand PF).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPfIb {
    pub(super) device: Option<Spanned<String>>,
    pub(super) node_guids: Option<RawGuids>,
    pub(super) port_guids: Option<RawGuids>,
    pub(super) policy: Option<Spanned<String>>,
}

/// A PF's `ovs = { ... }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPfOvs {
    pub(super) bridge: BridgeName,
    pub(super) uplink: Option<bool>,
    /// `true`, `false` or a list of VF indexes; interpreted by hand (spans, see RawGuids).
    pub(super) representors: Option<Spanned<toml::Value>>,
    pub(super) create_bridge: Option<bool>,
}

/// `[ovs]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOvs {
    pub(super) hw_offload: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBond {
    pub(super) name: Spanned<IfName>,
    pub(super) slaves: Option<Vec<Spanned<IfName>>>,
    pub(super) vf_lag: Option<bool>,
    pub(super) ib: Option<RawIb>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIb {
    pub(super) device: Spanned<String>,
    pub(super) node_guids: Option<RawGuids>,
    pub(super) port_guids: Option<RawGuids>,
}

/// `"auto"` or a table `{ VF index = "GUID" }`; interpreted by hand (serde's untagged enums
/// lose the spans we report errors with).
pub(super) type RawGuids = Spanned<toml::Value>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTune {
    pub(super) rss_hfunc: Option<Spanned<String>>,
    pub(super) rings: Option<Spanned<toml::Value>>,
    pub(super) channels: Option<Spanned<toml::Value>>,
    pub(super) irq_affinity: Option<Spanned<String>>,
    pub(super) xps: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBoot {
    pub(super) before: Option<Vec<Spanned<String>>>,
    pub(super) legacy_marker: Option<Spanned<String>>,
    pub(super) unmanage_vfs: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    pub(super) textfile_dir: Option<Spanned<String>>,
}
