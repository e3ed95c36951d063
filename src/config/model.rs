//! The validated configuration model: what the rest of the crate reads.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::types::{BridgeName, Guid, IfName, Mac, PciAddr};

/// Largest VF count we accept in a config; the device's `sriov_totalvfs` is checked at apply time.
pub const MAX_VFS: u16 = 2048;

/// Largest `probe_jobs` we accept: one thread per job, and no host probes more VFs per PF.
pub const MAX_PROBE_JOBS: u16 = 256;

/// How many VFs of one PF are bound (probed by their driver) at the same time; PFs run side
/// by side, each with its own pool (see `probe`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProbeJobs {
    /// The PF's NUMA-local online CPUs, at least 4 and at most 16.
    #[default]
    Auto,
    /// Exactly this many (1 = one VF after the other), between 1 and [`MAX_PROBE_JOBS`].
    Fixed(u16),
}

impl fmt::Display for ProbeJobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeJobs::Auto => f.write_str("auto"),
            ProbeJobs::Fixed(n) => write!(f, "{n}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PfMatch {
    Name(IfName),
    Pci(PciAddr),
    Mac(Mac),
}

impl fmt::Display for PfMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PfMatch::Name(n) => write!(f, "name {n}"),
            PfMatch::Pci(p) => write!(f, "pci {p}"),
            PfMatch::Mac(m) => write!(f, "mac {m}"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(try_from = "String", rename_all = "lowercase")]
pub enum EswitchMode {
    Legacy,
    Switchdev,
}

impl fmt::Display for EswitchMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EswitchMode::Legacy => "legacy",
            EswitchMode::Switchdev => "switchdev",
        })
    }
}

/// When the eswitch mode is changed relative to VF creation and bond enslavement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum EswitchOrder {
    /// vf-pre, before `sriov_numvfs` is written (NICs that refuse switchdev while VFs exist).
    BeforeVfs,
    /// vf-pre, after the VFs are created (BlueField/ConnectX LAG: mode before the bond).
    BeforeBond,
    /// vf-post, after the bond has enslaved the PF (seed 000's bond.offload.post).
    AfterBond,
}

impl TryFrom<String> for EswitchMode {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "legacy" => Ok(EswitchMode::Legacy),
            "switchdev" => Ok(EswitchMode::Switchdev),
            _ => Err(format!(
                "eswitch {} is not \"legacy\" or \"switchdev\"",
                crate::types::Clip(&s)
            )),
        }
    }
}

impl TryFrom<String> for EswitchOrder {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "before-vfs" => Ok(EswitchOrder::BeforeVfs),
            "before-bond" => Ok(EswitchOrder::BeforeBond),
            "after-bond" => Ok(EswitchOrder::AfterBond),
            _ => Err(format!(
                "eswitch_order {} is not \"before-vfs\", \"before-bond\" or \"after-bond\"",
                crate::types::Clip(&s)
            )),
        }
    }
}

impl TryFrom<String> for LinkState {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "auto" => Ok(LinkState::Auto),
            "enable" => Ok(LinkState::Enable),
            "disable" => Ok(LinkState::Disable),
            _ => Err(format!(
                "link_state {} is not \"auto\", \"enable\" or \"disable\"",
                crate::types::Clip(&s)
            )),
        }
    }
}

/// When a devlink parameter's value takes effect (enum devlink_param_cmode): `runtime` at once,
/// `driverinit` at the next driver reload (`devlink dev reload`), `permanent` stored in the
/// NIC's non-volatile memory, in effect after a firmware reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamCmode {
    Runtime,
    Driverinit,
    Permanent,
}

impl ParamCmode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "runtime" => Some(ParamCmode::Runtime),
            "driverinit" => Some(ParamCmode::Driverinit),
            "permanent" => Some(ParamCmode::Permanent),
            _ => None,
        }
    }
}

impl fmt::Display for ParamCmode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParamCmode::Runtime => "runtime",
            ParamCmode::Driverinit => "driverinit",
            ParamCmode::Permanent => "permanent",
        })
    }
}

/// A devlink parameter's value as the config writes it. Its type (u8, u16, u32, u64, string,
/// bool) is the parameter's, which only the kernel knows: checked when the PF is planned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParamSetting {
    /// A TOML integer (never negative: every devlink integer type is unsigned).
    Int(u64),
    Str(String),
    Bool(bool),
}

impl ParamSetting {
    /// "an integer", "a string", "a boolean": what the config gave, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            ParamSetting::Int(_) => "an integer",
            ParamSetting::Str(_) => "a string",
            ParamSetting::Bool(_) => "a boolean",
        }
    }
}

impl fmt::Display for ParamSetting {
    /// As TOML writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamSetting::Int(n) => write!(f, "{n}"),
            ParamSetting::Str(s) => write!(f, "{s:?}"),
            ParamSetting::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// One entry of `devlink_params`: `name = value` or `name = { value = ..., cmode = "..." }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevlinkParam {
    pub value: ParamSetting,
    /// `None`: `runtime` if the parameter has it, else `driverinit` (never `permanent`
    /// unless written).
    pub cmode: Option<ParamCmode>,
}

/// `eswitch_inline_mode` (enum devlink_eswitch_inline_mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InlineMode {
    None,
    Link,
    Network,
    Transport,
}

impl InlineMode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(InlineMode::None),
            "link" => Some(InlineMode::Link),
            "network" => Some(InlineMode::Network),
            "transport" => Some(InlineMode::Transport),
            _ => None,
        }
    }
}

impl fmt::Display for InlineMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InlineMode::None => "none",
            InlineMode::Link => "link",
            InlineMode::Network => "network",
            InlineMode::Transport => "transport",
        })
    }
}

/// `eswitch_encap_mode` (enum devlink_eswitch_encap_mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EncapMode {
    None,
    Basic,
}

impl EncapMode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(EncapMode::None),
            "basic" => Some(EncapMode::Basic),
            _ => None,
        }
    }
}

impl fmt::Display for EncapMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EncapMode::None => "none",
            EncapMode::Basic => "basic",
        })
    }
}

/// A PF's devlink settings besides the eswitch mode: `devlink_params`, `eswitch_inline_mode`,
/// `eswitch_encap_mode`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DevlinkConfig {
    /// Parameter name (`[a-z0-9_]+`) → value; a later file overrides one parameter at a time.
    pub params: BTreeMap<String, DevlinkParam>,
    /// Only with `eswitch = "switchdev"`.
    pub inline_mode: Option<InlineMode>,
    /// Only with `eswitch = "switchdev"`.
    pub encap_mode: Option<EncapMode>,
}

/// What VFs are bound to once the PF is configured.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum Bind {
    /// Leave VFs on no driver (vfio / libvirt managed devices bind them later).
    None,
    Driver(String),
}

impl fmt::Display for Bind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bind::None => f.write_str("none"),
            Bind::Driver(d) => f.write_str(d),
        }
    }
}

/// `bind = "..."` of one VF (`vf = { N = { bind = "vfio-pci" } }`), as the PF-level key.
impl TryFrom<String> for Bind {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "none" => Ok(Bind::None),
            d if super::names::is_driver_name(d) => Ok(Bind::Driver(s)),
            _ => Err(format!(
                "bind = {} is not a driver name (letters, digits, _ and -) or \"none\"",
                crate::types::Clip(&s)
            )),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum LinkState {
    Auto,
    Enable,
    Disable,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VfConfig {
    pub mac: Option<Mac>,
    pub vlan: Option<u16>,
    pub qos: Option<u8>,
    pub trust: Option<bool>,
    pub spoofchk: Option<bool>,
    pub link_state: Option<LinkState>,
    /// Mbit/s, as `ip link set PF vf N max_tx_rate`; 0 = no limit.
    pub max_tx_rate: Option<u32>,
    /// Mbit/s, a guaranteed minimum; 0 = none. Not every driver has it (igb has not).
    pub min_tx_rate: Option<u32>,
    /// The MTU of the VF's own netdev (set after it is bound; a VF without a netdev here is
    /// skipped with a note).
    pub mtu: Option<u32>,
    /// Overrides the PF's `bind` for this VF.
    pub bind: Option<Bind>,
}

impl VfConfig {
    pub(super) fn merge(&mut self, o: VfConfig) {
        macro_rules! take {
            ($($f:ident),*) => { $( if o.$f.is_some() { self.$f = o.$f; } )* };
        }
        take!(
            mac,
            vlan,
            qos,
            trust,
            spoofchk,
            link_state,
            max_tx_rate,
            min_tx_rate,
            mtu,
            bind
        );
    }
    pub fn is_empty(&self) -> bool {
        *self == VfConfig::default()
    }

    /// The keys set in both (one VF configured twice in one file, by an index and a range).
    pub(super) fn overlap(&self, o: &VfConfig) -> Vec<&'static str> {
        let mut v = vec![];
        macro_rules! both {
            ($($f:ident),*) => { $( if self.$f.is_some() && o.$f.is_some() { v.push(stringify!($f)); } )* };
        }
        both!(
            mac,
            vlan,
            qos,
            trust,
            spoofchk,
            link_state,
            max_tx_rate,
            min_tx_rate,
            mtu,
            bind
        );
        v
    }

    /// Only the properties set through the PF (rtnetlink IFLA_VF_INFO): what a
    /// `Step::VfProps` carries. `mtu` (the VF's own netdev) and `bind` are planned apart.
    pub fn pf_props(&self) -> VfConfig {
        VfConfig {
            mtu: None,
            bind: None,
            ..self.clone()
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct PfConfig {
    pub matcher: PfMatch,
    pub vfs: u16,
    pub eswitch: Option<EswitchMode>,
    pub eswitch_order: EswitchOrder,
    pub bind: Option<Bind>,
    pub reserved_vfs: BTreeSet<u16>,
    pub hw_tc_offload: bool,
    pub vf: BTreeMap<u16, VfConfig>,
    /// `mtu`: of the PF's netdev, set in vf-pre before its VFs are created.
    pub mtu: Option<u32>,
    /// `ovs = { ... }`: the OVS bridge the PF and its representors are ports of.
    pub ovs: Option<PfOvs>,
    /// `ib = { ... }`: IB GUIDs and port policy of a standalone InfiniBand PF's VFs (no bond).
    pub ib: Option<PfIb>,
    /// `devlink_params`, `eswitch_inline_mode`, `eswitch_encap_mode`.
    pub devlink: DevlinkConfig,
    /// Where this PF was (last) configured, for messages.
    pub origin: String,
}

/// Which VF representors of a PF are ports of its OVS bridge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Representors {
    /// `true`: every VF's but the reserved ones'.
    All,
    /// A list of VF indexes; `false` is the empty list.
    List(BTreeSet<u16>),
}

/// A PF's `ovs = { bridge = "...", uplink = true, representors = true, create_bridge = false }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PfOvs {
    pub bridge: BridgeName,
    /// The PF's own netdev (the uplink representor in switchdev) is a port of the bridge.
    pub uplink: bool,
    pub representors: Representors,
    /// Create the bridge when OVSDB has none of that name (default: it must exist, e.g. made
    /// by an ifupdown2 `ovs_type OVSBridge` stanza).
    pub create_bridge: bool,
}

impl PfOvs {
    /// The VFs whose representors belong in the bridge, for a PF with `vfs` VFs.
    pub fn rep_vfs(&self, vfs: u16, reserved: &BTreeSet<u16>) -> Vec<u32> {
        match &self.representors {
            Representors::All => (0..vfs)
                .filter(|v| !reserved.contains(v))
                .map(u32::from)
                .collect(),
            Representors::List(l) => l
                .iter()
                .filter(|v| **v < vfs)
                .map(|v| u32::from(*v))
                .collect(),
        }
    }
}

/// `[ovs]`: settings of the host's Open vSwitch.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct OvsConfig {
    /// `other_config:hw-offload=true` is wanted in OVSDB before ovs-vswitchd starts
    /// (`[ovs] hw_offload`; default: true when any PF has `ovs`). False: left as it is.
    pub hw_offload: bool,
}

/// How IB GUIDs of a bond's VFs are chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GuidScheme {
    /// Derived from host name, PF index and VF index (see `guid::auto_guid`).
    Auto,
    Explicit(BTreeMap<u16, Guid>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IbConfig {
    pub device: String,
    pub node_guids: Option<GuidScheme>,
    pub port_guids: Option<GuidScheme>,
}

/// The port state policy of an InfiniBand VF (`policy = "follow" | "up" | "down"`): whether its
/// port follows the PF's physical port state, or is forced up or down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum IbPolicy {
    Follow,
    Up,
    Down,
}

impl IbPolicy {
    /// How MLNX_OFED's `sriov/N/policy` file spells it (read and written).
    pub fn sysfs(self) -> &'static str {
        match self {
            IbPolicy::Follow => "Follow",
            IbPolicy::Up => "Up",
            IbPolicy::Down => "Down",
        }
    }

    /// The value of that file, as the driver prints it.
    pub fn from_sysfs(s: &str) -> Option<IbPolicy> {
        match s.trim() {
            "Follow" => Some(IbPolicy::Follow),
            "Up" => Some(IbPolicy::Up),
            "Down" => Some(IbPolicy::Down),
            _ => None,
        }
    }
}

impl fmt::Display for IbPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sysfs())
    }
}

/// A standalone InfiniBand PF's `ib = { node_guids, port_guids, policy, device }`. Each VF's
/// settings go to this PF's own per-PF files or rtnetlink (see `observe::GuidVia`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PfIb {
    /// The RDMA device name (`mlx5_0`), optional: the PF is what `match` says, and a run
    /// fails when the PF's RDMA device has another name (a `match` that found the wrong PF).
    pub device: Option<String>,
    pub node_guids: Option<GuidScheme>,
    pub port_guids: Option<GuidScheme>,
    pub policy: Option<IbPolicy>,
    /// The `PP` byte of this PF's `auto` GUIDs (see `guid`): 0x80 + its position among the
    /// `[[pf]]` entries with `ib`, so it never equals a bond slave's position (0, 1, ...).
    pub auto_index: u8,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BondConfig {
    pub name: IfName,
    pub slaves: Vec<IfName>,
    pub vf_lag: bool,
    pub ib: Option<IbConfig>,
    pub origin: String,
}

/// `[tune]`, globally or as a per-PF override (`tune = { ... }` in `[[pf]]`). `None`: not set
/// here (a per-PF value overrides the global one key by key, see [`Config::tune_for`]).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TuneConfig {
    pub rss_hfunc: Option<String>,
    pub rings: Option<RingsSetting>,
    pub channels: Option<ChannelsSetting>,
    pub irq_affinity: Option<bool>,
    pub xps: Option<bool>,
}

impl TuneConfig {
    /// Overlays the keys set in `o`.
    pub fn merge(&mut self, o: &TuneConfig) {
        macro_rules! take {
            ($($f:ident),*) => { $( if o.$f.is_some() { self.$f = o.$f.clone(); } )* };
        }
        take!(rss_hfunc, rings, channels, irq_affinity, xps);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingsSetting {
    Max,
    Count(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelsSetting {
    NumaLocal,
    Count(u32),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootConfig {
    pub before: Vec<String>,
    pub legacy_marker: Option<PathBuf>,
    /// Keep systemd-networkd and NetworkManager off VF netdevs and representors (the udev rule
    /// `81-sriov-offload-unmanaged.rules`, switched by `/run/sriov-offload/vfs-unmanaged`).
    pub unmanage_vfs: bool,
}

impl Default for BootConfig {
    fn default() -> Self {
        BootConfig {
            before: vec![],
            legacy_marker: None,
            unmanage_vfs: true,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub timeout: Duration,
    /// `[defaults] probe_jobs`: parallel VF probes per PF.
    pub probe_jobs: ProbeJobs,
    pub pfs: Vec<PfConfig>,
    pub bonds: Vec<BondConfig>,
    pub tune: TuneConfig,
    /// Per-PF `tune = { ... }` overrides of `[tune]`, by the PF's match.
    pub pf_tune: BTreeMap<PfMatch, TuneConfig>,
    pub boot: BootConfig,
    pub ovs: OvsConfig,
    /// `[metrics] textfile_dir`: where the boot binaries refresh `sriov_offload.prom` after
    /// each run (node_exporter's textfile collector directory).
    pub metrics_textfile_dir: Option<PathBuf>,
    /// Files read, in order.
    pub sources: Vec<PathBuf>,
}

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

impl Default for Config {
    fn default() -> Self {
        Config {
            timeout: DEFAULT_TIMEOUT,
            probe_jobs: ProbeJobs::Auto,
            pfs: vec![],
            bonds: vec![],
            tune: TuneConfig::default(),
            pf_tune: BTreeMap::new(),
            boot: BootConfig::default(),
            ovs: OvsConfig::default(),
            metrics_textfile_dir: None,
            sources: vec![],
        }
    }
}

impl Config {
    /// The bond a PF (by interface name) is a configured slave of.
    pub fn bond_of(&self, pf: &str) -> Option<&BondConfig> {
        self.bonds
            .iter()
            .find(|b| b.slaves.iter().any(|s| s.as_str() == pf))
    }

    /// The tuning for a PF (and its VFs): `[tune]` with the PF's own `tune = { ... }` over it.
    pub fn tune_for(&self, pf: &PfMatch) -> TuneConfig {
        let mut t = self.tune.clone();
        if let Some(o) = self.pf_tune.get(pf) {
            t.merge(o);
        }
        t
    }
}
