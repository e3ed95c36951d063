//! Validation: merges the raw form of each file, in order, into the model. Every error points
//! at the key that breaks a rule.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::{ConfigError, Source};
use super::ib::guid_scheme;
use super::model::{
    Bind, BondConfig, BootConfig, ChannelsSetting, Config, EswitchMode, EswitchOrder, IbConfig,
    OvsConfig, PfConfig, PfMatch, PfOvs, Representors, RingsSetting, TuneConfig, DEFAULT_TIMEOUT,
    MAX_VFS,
};
use super::model::{DevlinkConfig, DevlinkParam, EncapMode, InlineMode, ParamCmode, ParamSetting};
use super::model::{ProbeJobs, MAX_PROBE_JOBS};
use super::names::is_driver_name;
use super::raw::{RawFile, RawPfOvs, RawTune};
use crate::types::{is_unit_name, parse_duration, Clip, IfName};

/// Parses one config from text (tests, `--config -`).
pub fn parse_str(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let mut b = Builder::default();
    b.add(&Source { path, text })?;
    b.finish(&[path.to_path_buf()])
}

#[derive(Default)]
pub(super) struct Builder {
    timeout: Option<Duration>,
    probe_jobs: Option<ProbeJobs>,
    pfs: Vec<PfConfig>,
    bonds: Vec<BondConfig>,
    tune: TuneConfig,
    pf_tune: BTreeMap<PfMatch, TuneConfig>,
    boot: BootConfig,
    /// `[ovs] hw_offload` as written (the default depends on every file's PFs).
    ovs_hw_offload: Option<bool>,
    metrics_textfile_dir: Option<PathBuf>,
}

impl Builder {
    pub(super) fn add(&mut self, src: &Source) -> Result<(), ConfigError> {
        let raw: RawFile = toml::from_str(src.text).map_err(|e| {
            let at = e.span().map_or(0, |s| s.start);
            // toml puts "expected ..." on a second line: keep the error on one line
            let mut msg = e.message().trim().replace('\n', "; ");
            if msg.is_empty() {
                // toml says nothing for some bad characters (a control character in a comment)
                msg = match src.text.get(at..).and_then(|t| t.chars().next()) {
                    Some(c) => format!("character {c:?} is not allowed here"),
                    None => "syntax error".into(),
                };
            }
            src.err_at(at, msg)
        })?;
        if let Some(d) = raw.defaults {
            if let Some(t) = d.timeout {
                let v = parse_duration(t.get_ref()).map_err(|m| src.err(&t, m))?;
                if v.is_zero() {
                    return Err(src.err(&t, "timeout must be greater than 0"));
                }
                self.timeout = Some(v);
            }
            if let Some(j) = d.probe_jobs {
                self.probe_jobs = Some(probe_jobs(src, &j)?);
            }
        }
        let mut seen_here: Vec<PfMatch> = vec![];
        for rp in raw.pf {
            let start = rp.span().start;
            let rp = rp.into_inner();
            let m = rp.matcher.get_ref();
            let matcher = match (&m.name, &m.pci, &m.mac) {
                (Some(n), None, None) => PfMatch::Name(n.clone()),
                (None, Some(p), None) => PfMatch::Pci(p.clone()),
                (None, None, Some(m)) => PfMatch::Mac(*m),
                _ => {
                    return Err(src.err(
                        &rp.matcher,
                        "pf.match needs exactly one of name, pci or mac",
                    ))
                }
            };
            if seen_here.contains(&matcher) {
                return Err(src.err(
                    &rp.matcher,
                    format!("duplicate [[pf]] with match {matcher} in this file"),
                ));
            }
            seen_here.push(matcher.clone());
            let origin = {
                let e = src.err_at(start, "");
                format!("{}:{}", e.file.display(), e.line)
            };
            let idx = match self.pfs.iter().position(|p| p.matcher == matcher) {
                Some(i) => i,
                None => {
                    let Some(vfs) = &rp.vfs else {
                        return Err(src.err_at(
                            start,
                            format!("[[pf]] with match {matcher} needs `vfs` (the VF count)"),
                        ));
                    };
                    let _ = vfs;
                    self.pfs.push(PfConfig {
                        matcher: matcher.clone(),
                        vfs: 0,
                        eswitch: None,
                        eswitch_order: EswitchOrder::AfterBond,
                        bind: None,
                        reserved_vfs: BTreeSet::new(),
                        hw_tc_offload: false,
                        vf: BTreeMap::new(),
                        mtu: None,
                        ovs: None,
                        ib: None,
                        devlink: DevlinkConfig::default(),
                        origin: origin.clone(),
                    });
                    self.pfs.len() - 1
                }
            };
            let pf = &mut self.pfs[idx];
            pf.origin = origin;
            if let Some(v) = &rp.vfs {
                let n = *v.get_ref();
                if !(0..=MAX_VFS as i64).contains(&n) {
                    return Err(src.err(v, format!("vfs = {n} is out of range 0..={MAX_VFS}")));
                }
                pf.vfs = n as u16;
            }
            if let Some(e) = rp.eswitch {
                pf.eswitch = Some(e);
                // switchdev means offload: default hw-tc-offload on, as every seed does
                pf.hw_tc_offload = e == EswitchMode::Switchdev;
            }
            if let Some(o) = rp.eswitch_order {
                pf.eswitch_order = o;
            }
            if let Some(b) = &rp.bind {
                let s = b.get_ref().as_str();
                pf.bind = Some(match s {
                    "none" => Bind::None,
                    d if is_driver_name(d) => Bind::Driver(d.to_string()),
                    _ => {
                        return Err(src.err(
                            b,
                            format!(
                            "bind = {} is not a driver name (letters, digits, _ and -) or \"none\"",
                            Clip(s)
                        ),
                        ))
                    }
                });
            }
            if let Some(h) = rp.hw_tc_offload {
                pf.hw_tc_offload = h;
            }
            if let Some(r) = &rp.reserved_vfs {
                let mut set = BTreeSet::new();
                for v in r {
                    let n = *v.get_ref();
                    if !(0..MAX_VFS as i64).contains(&n) {
                        return Err(src.err(v, format!("reserved VF index {n} is out of range")));
                    }
                    set.insert(n as u16);
                }
                pf.reserved_vfs = set;
            }
            if let Some(m) = &rp.mtu {
                pf.mtu = Some(mtu_value(src, m, "mtu")?);
            }
            super::vfkeys::merge_vf_keys(src, rp.vf, &mut pf.vf)?;
            if let Some(t) = rp.tune {
                let mut over = TuneConfig::default();
                parse_tune(src, t, &mut over)?;
                self.pf_tune
                    .entry(matcher.clone())
                    .or_default()
                    .merge(&over);
            }
            if let Some(o) = rp.ovs {
                pf.ovs = Some(pf_ovs(src, o.into_inner())?);
            }
            if let Some(ib) = &rp.ib {
                pf.ib = Some(super::ib::pf_ib(src, ib, &self.bonds, &matcher)?);
            }
            if let Some(params) = &rp.devlink_params {
                for (k, v) in params {
                    let name = k.get_ref();
                    if !is_param_name(name) {
                        return Err(src.err(
                            k,
                            format!(
                                "devlink_params: {} is not a devlink parameter name (lower-case letters, digits and _)",
                                Clip(name)
                            ),
                        ));
                    }
                    pf.devlink
                        .params
                        .insert(name.clone(), devlink_param(src, name, v)?);
                }
            }
            if let Some(m) = &rp.eswitch_inline_mode {
                pf.devlink.inline_mode = Some(InlineMode::parse(m.get_ref()).ok_or_else(|| {
                    src.err(
                        m,
                        format!(
                            "eswitch_inline_mode {} is not \"none\", \"link\", \"network\" or \"transport\"",
                            Clip(m.get_ref())
                        ),
                    )
                })?);
            }
            if let Some(m) = &rp.eswitch_encap_mode {
                pf.devlink.encap_mode = Some(EncapMode::parse(m.get_ref()).ok_or_else(|| {
                    src.err(
                        m,
                        format!(
                            "eswitch_encap_mode {} is not \"none\" or \"basic\"",
                            Clip(m.get_ref())
                        ),
                    )
                })?);
            }
            // range checks once all keys of this file are in
            let vfs = pf.vfs;
            if let Some(v) = pf.reserved_vfs.iter().find(|v| **v >= vfs) {
                let at = rp
                    .reserved_vfs
                    .as_ref()
                    .and_then(|r| r.first())
                    .map_or(start, |s| s.span().start);
                return Err(src.err_at(
                    at,
                    format!("reserved VF {v} is out of range: pf {matcher} has vfs = {vfs}"),
                ));
            }
            if let Some((v, _)) = pf.vf.iter().find(|(v, _)| **v >= vfs) {
                return Err(src.err_at(
                    start,
                    format!("[pf.vf.{v}] is out of range: pf {matcher} has vfs = {vfs}"),
                ));
            }
            super::vfkeys::check_vfs(src, start, &matcher, pf)?;
            for (i, vc) in &pf.vf {
                if let Some(vlan) = vc.vlan {
                    if vlan > 4095 {
                        return Err(src.err_at(
                            start,
                            format!("VF {i}: vlan {vlan} is out of range 0..=4095"),
                        ));
                    }
                }
                if let Some(q) = vc.qos {
                    if q > 7 {
                        return Err(
                            src.err_at(start, format!("VF {i}: qos {q} is out of range 0..=7"))
                        );
                    }
                }
            }
            check_pf_ovs(src, start, pf)?;
            super::ib::check_pf_ib(src, rp.ib.as_ref().map_or(start, |i| i.span().start), pf)?;
            // inline and encap mode are the switchdev eswitch's (devlink sets them in that mode)
            for (key, set, at) in [
                (
                    "eswitch_inline_mode",
                    pf.devlink.inline_mode.is_some(),
                    rp.eswitch_inline_mode.as_ref().map(|s| s.span().start),
                ),
                (
                    "eswitch_encap_mode",
                    pf.devlink.encap_mode.is_some(),
                    rp.eswitch_encap_mode.as_ref().map(|s| s.span().start),
                ),
            ] {
                if set && pf.eswitch != Some(EswitchMode::Switchdev) {
                    return Err(src.err_at(
                        at.unwrap_or(start),
                        format!(
                            "pf {matcher}: {key} is set but eswitch is not \"switchdev\" (it is a setting of the switchdev eswitch)"
                        ),
                    ));
                }
            }
            if pf.eswitch_order != EswitchOrder::AfterBond && pf.eswitch.is_none() {
                return Err(src.err_at(
                    start,
                    format!("pf {matcher}: eswitch_order is set but eswitch is not"),
                ));
            }
        }
        let mut bonds_here: Vec<IfName> = vec![];
        for rb in raw.bond {
            let start = rb.span().start;
            let rb = rb.into_inner();
            let name = rb.name.get_ref().clone();
            if bonds_here.contains(&name) {
                return Err(src.err(&rb.name, format!("duplicate [[bond]] {name} in this file")));
            }
            bonds_here.push(name.clone());
            let origin = {
                let e = src.err_at(start, "");
                format!("{}:{}", e.file.display(), e.line)
            };
            let idx = match self.bonds.iter().position(|b| b.name == name) {
                Some(i) => i,
                None => {
                    self.bonds.push(BondConfig {
                        name: name.clone(),
                        slaves: vec![],
                        vf_lag: false,
                        ib: None,
                        origin: origin.clone(),
                    });
                    self.bonds.len() - 1
                }
            };
            let b = &mut self.bonds[idx];
            b.origin = origin;
            if let Some(s) = &rb.slaves {
                let mut slaves = vec![];
                for sl in s {
                    if slaves.contains(sl.get_ref()) {
                        return Err(src.err(
                            sl,
                            format!("bond {name}: slave {} is listed twice", sl.get_ref()),
                        ));
                    }
                    slaves.push(sl.get_ref().clone());
                }
                b.slaves = slaves;
            }
            // a slave cannot be enslaved to two bonds
            let (b, others) = {
                let (before, rest) = self.bonds.split_at_mut(idx);
                let (b, after) = rest.split_first_mut().expect("idx is in range");
                (b, before.iter().chain(after.iter()).collect::<Vec<_>>())
            };
            for (i, sl) in b.slaves.iter().enumerate() {
                if let Some(o) = others.iter().find(|o| o.slaves.contains(sl)) {
                    let at = rb
                        .slaves
                        .as_ref()
                        .and_then(|v| v.get(i))
                        .map_or(rb.name.span().start, |s| s.span().start);
                    return Err(src.err_at(
                        at,
                        format!(
                            "{sl} is a slave of two bonds: {} ({}) and {name}",
                            o.name, o.origin
                        ),
                    ));
                }
            }
            if b.slaves.is_empty() {
                return Err(src.err(&rb.name, format!("bond {name} needs `slaves`")));
            }
            if let Some(v) = rb.vf_lag {
                b.vf_lag = v;
            }
            // mlx5 VF LAG joins the two ports of one NIC; anything else never becomes active
            if b.vf_lag && b.slaves.len() != 2 {
                return Err(src.err(
                    &rb.name,
                    format!(
                        "bond {name} has vf_lag = true but {} slave(s): VF LAG needs exactly the two ports of one NIC",
                        b.slaves.len()
                    ),
                ));
            }
            if let Some(ib) = rb.ib {
                super::ib::check_bond_ib(src, &ib.device, b, &self.pfs)?;
                let dev = ib.device.get_ref();
                if !is_driver_name(dev) {
                    return Err(src.err(
                        &ib.device,
                        format!("ib.device {} is not a valid RDMA device name", Clip(dev)),
                    ));
                }
                b.ib = Some(IbConfig {
                    device: dev.clone(),
                    node_guids: ib.node_guids.map(|g| guid_scheme(src, g)).transpose()?,
                    port_guids: ib.port_guids.map(|g| guid_scheme(src, g)).transpose()?,
                });
            }
        }
        if let Some(t) = raw.tune {
            parse_tune(src, t, &mut self.tune)?;
        }
        if let Some(o) = raw.ovs {
            if let Some(h) = o.hw_offload {
                self.ovs_hw_offload = Some(h);
            }
        }
        if let Some(d) = raw.metrics.and_then(|m| m.textfile_dir) {
            let p = PathBuf::from(d.get_ref());
            if !p.is_absolute() || p.components().any(|c| c.as_os_str() == "..") {
                return Err(src.err(
                    &d,
                    "metrics.textfile_dir must be an absolute path without `..`",
                ));
            }
            self.metrics_textfile_dir = Some(p);
        }
        if let Some(bt) = raw.boot {
            if let Some(before) = bt.before {
                let mut v = vec![];
                for u in before {
                    if !is_unit_name(u.get_ref()) {
                        return Err(src.err(
                            &u,
                            format!(
                                "boot.before: {} is not a systemd unit name",
                                Clip(u.get_ref())
                            ),
                        ));
                    }
                    v.push(u.into_inner());
                }
                self.boot.before = v;
            }
            if let Some(m) = bt.legacy_marker {
                let p = PathBuf::from(m.get_ref());
                if !p.is_absolute() || p.components().any(|c| c.as_os_str() == "..") {
                    return Err(src.err(
                        &m,
                        "boot.legacy_marker must be an absolute path without `..`",
                    ));
                }
                // root creates and removes this file at every boot: anywhere else (an /etc
                // file) it would destroy whatever is there
                let under = |d: &str| p.strip_prefix(d).is_ok_and(|r| r.components().count() > 0);
                if !(under("/run") || under("/tmp")) {
                    return Err(src.err(
                        &m,
                        format!(
                            "boot.legacy_marker {} must be under /run or /tmp (e.g. /tmp/vf_done.offload): it is created and removed at every boot",
                            Clip(m.get_ref())
                        ),
                    ));
                }
                self.boot.legacy_marker = Some(p);
            }
            if let Some(u) = bt.unmanage_vfs {
                self.boot.unmanage_vfs = u;
            }
        }
        Ok(())
    }

    pub(super) fn finish(mut self, files: &[PathBuf]) -> Result<Config, ConfigError> {
        super::ib::number_auto_indexes(&mut self.pfs, files)?;
        let ovs = OvsConfig {
            hw_offload: self
                .ovs_hw_offload
                .unwrap_or_else(|| self.pfs.iter().any(|p| p.ovs.is_some())),
        };
        Ok(Config {
            timeout: self.timeout.unwrap_or(DEFAULT_TIMEOUT),
            probe_jobs: self.probe_jobs.unwrap_or_default(),
            pfs: self.pfs,
            bonds: self.bonds,
            tune: self.tune,
            pf_tune: self.pf_tune,
            boot: self.boot,
            ovs,
            metrics_textfile_dir: self.metrics_textfile_dir,
            sources: files.to_vec(),
        })
    }
}

/// `[tune]` keys (global or a PF's `tune = { ... }`) into `into`; keys not given stay as they are.
fn parse_tune(src: &Source, t: RawTune, into: &mut TuneConfig) -> Result<(), ConfigError> {
    if let Some(h) = t.rss_hfunc {
        match h.get_ref().as_str() {
            "toeplitz" | "xor" | "crc32" => into.rss_hfunc = Some(h.into_inner()),
            o => {
                return Err(src.err(
                    &h,
                    format!("rss_hfunc {} is not one of toeplitz, xor, crc32", Clip(o)),
                ))
            }
        }
    }
    if let Some(r) = t.rings {
        into.rings = Some(match r.get_ref() {
            toml::Value::String(s) if s == "max" => RingsSetting::Max,
            toml::Value::Integer(n) if (1..=1 << 20).contains(n) => RingsSetting::Count(*n as u32),
            _ => {
                return Err(src.err(
                    &r,
                    "rings must be \"max\" or a ring size between 1 and 1048576",
                ))
            }
        });
    }
    if let Some(c) = t.channels {
        into.channels = Some(match c.get_ref() {
            toml::Value::String(s) if s == "numa-local" => ChannelsSetting::NumaLocal,
            toml::Value::Integer(n) if (1..=4096).contains(n) => ChannelsSetting::Count(*n as u32),
            _ => {
                return Err(src.err(
                    &c,
                    "channels must be \"numa-local\" or a count between 1 and 4096",
                ))
            }
        });
    }
    if let Some(a) = t.irq_affinity {
        into.irq_affinity = Some(match a.get_ref().as_str() {
            "numa-local" => true,
            "none" => false,
            o => {
                return Err(src.err(
                    &a,
                    format!("irq_affinity {} is not \"numa-local\" or \"none\"", Clip(o)),
                ))
            }
        });
    }
    if let Some(x) = t.xps {
        into.xps = Some(x);
    }
    Ok(())
}

/// `[defaults] probe_jobs`: `"auto"` or a count between 1 and [`MAX_PROBE_JOBS`].
fn probe_jobs(src: &Source, j: &toml::Spanned<toml::Value>) -> Result<ProbeJobs, ConfigError> {
    match j.get_ref() {
        toml::Value::String(s) if s == "auto" => Ok(ProbeJobs::Auto),
        toml::Value::Integer(n) if (1..=i64::from(MAX_PROBE_JOBS)).contains(n) => {
            Ok(ProbeJobs::Fixed(*n as u16))
        }
        _ => Err(src.err(
            j,
            format!("probe_jobs must be \"auto\" or a number of VFs probed at once per PF between 1 and {MAX_PROBE_JOBS}"),
        )),
    }
}

/// A PF's `ovs = { ... }`. The key replaces an earlier file's `ovs` of the same PF whole.
fn pf_ovs(src: &Source, o: RawPfOvs) -> Result<PfOvs, ConfigError> {
    let representors = match o.representors {
        None => Representors::All,
        Some(r) => match r.get_ref() {
            toml::Value::Boolean(true) => Representors::All,
            toml::Value::Boolean(false) => Representors::List(BTreeSet::new()),
            toml::Value::Array(a) => {
                let mut set = BTreeSet::new();
                for v in a {
                    let i = v
                        .as_integer()
                        .filter(|i| (0..MAX_VFS as i64).contains(i))
                        .ok_or_else(|| {
                            src.err(
                                &r,
                                format!("ovs.representors: {v} is not a VF index (0..{MAX_VFS})"),
                            )
                        })?;
                    if !set.insert(i as u16) {
                        return Err(src.err(&r, format!("ovs.representors: VF {i} is listed twice")));
                    }
                }
                Representors::List(set)
            }
            _ => {
                return Err(src.err(
                    &r,
                    "ovs.representors must be true (all but reserved VFs), false or a list of VF indexes",
                ))
            }
        },
    };
    Ok(PfOvs {
        bridge: o.bridge,
        uplink: o.uplink.unwrap_or(true),
        representors,
        create_bridge: o.create_bridge.unwrap_or(false),
    })
}

/// `ovs` against the PF's other keys, once all of a file's keys are in.
fn check_pf_ovs(src: &Source, at: usize, pf: &PfConfig) -> Result<(), ConfigError> {
    let Some(o) = &pf.ovs else { return Ok(()) };
    let m = &pf.matcher;
    if let Representors::List(l) = &o.representors {
        if let Some(v) = l.iter().find(|v| **v >= pf.vfs) {
            return Err(src.err_at(
                at,
                format!(
                    "ovs.representors: VF {v} is out of range: pf {m} has vfs = {}",
                    pf.vfs
                ),
            ));
        }
        if let Some(v) = l.iter().find(|v| pf.reserved_vfs.contains(v)) {
            return Err(src.err_at(
                at,
                format!("ovs.representors: VF {v} of pf {m} is in reserved_vfs (kept for the host, not a bridge port)"),
            ));
        }
    }
    let has_reps = match &o.representors {
        Representors::All => false,
        Representors::List(l) => !l.is_empty(),
    };
    if has_reps && pf.eswitch != Some(EswitchMode::Switchdev) {
        return Err(src.err_at(
            at,
            format!("pf {m}: ovs.representors lists VFs but representors exist only with eswitch = \"switchdev\""),
        ));
    }
    let switchdev = pf.eswitch == Some(EswitchMode::Switchdev);
    if !o.uplink && (!switchdev || o.rep_vfs(pf.vfs, &pf.reserved_vfs).is_empty()) {
        return Err(src.err_at(
            at,
            format!(
                "pf {m}: ovs has uplink = false and no representors: nothing would be a port of {}",
                o.bridge
            ),
        ));
    }
    Ok(())
}

/// The longest string value the kernel takes for a devlink parameter
/// (`__DEVLINK_PARAM_MAX_STRING_VALUE` is 32 with the NUL).
const MAX_PARAM_STRING: usize = 31;

/// A devlink parameter name as drivers name them (`flow_steering_mode`, `max_macs`).
fn is_param_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
}

/// One `devlink_params` entry: a value, or `{ value = ..., cmode = "..." }`. Only the syntax is
/// checked here: whether the device has the parameter, its type and its cmodes are the
/// kernel's, checked when the PF is planned.
fn devlink_param(
    src: &Source,
    name: &str,
    v: &toml::Spanned<toml::Value>,
) -> Result<DevlinkParam, ConfigError> {
    let err = |m: String| src.err(v, format!("devlink_params.{name}: {m}"));
    let (value, cmode) = match v.get_ref() {
        toml::Value::Table(t) => {
            if let Some(k) = t.keys().find(|k| *k != "value" && *k != "cmode") {
                return Err(err(format!(
                    "unknown key {} (a parameter's table has `value` and `cmode`)",
                    Clip(k)
                )));
            }
            let value = t
                .get("value")
                .ok_or_else(|| err("the table needs `value`".into()))?;
            let cmode = match t.get("cmode") {
                None => None,
                Some(toml::Value::String(c)) => Some(ParamCmode::parse(c).ok_or_else(|| {
                    err(format!(
                        "cmode {} is not \"runtime\", \"driverinit\" or \"permanent\"",
                        Clip(c)
                    ))
                })?),
                Some(_) => {
                    return Err(err(
                        "cmode must be \"runtime\", \"driverinit\" or \"permanent\"".into(),
                    ))
                }
            };
            (value, cmode)
        }
        other => (other, None),
    };
    let value = match value {
        toml::Value::String(s) if s.len() > MAX_PARAM_STRING || s.contains('\0') => {
            return Err(err(format!(
                "{} is not a devlink string value (at most {MAX_PARAM_STRING} bytes, no NUL)",
                Clip(s)
            )))
        }
        toml::Value::String(s) => ParamSetting::Str(s.clone()),
        toml::Value::Integer(n) if *n >= 0 => ParamSetting::Int(*n as u64),
        toml::Value::Integer(n) => {
            return Err(err(format!(
                "{n} is negative: devlink parameter integers are unsigned"
            )))
        }
        toml::Value::Boolean(b) => ParamSetting::Bool(*b),
        _ => {
            return Err(err(
                "the value must be a string, a non-negative integer or a boolean, or { value = ..., cmode = \"...\" }"
                    .into(),
            ))
        }
    };
    Ok(DevlinkParam { value, cmode })
}

/// `mtu = N` of a PF: in the range Linux allows an Ethernet netdev (68 = ETH_MIN_MTU, the
/// IPv4 minimum; 65535 = IP_MAX_MTU); the driver's own maximum is checked when it is set.
fn mtu_value(src: &Source, m: &toml::Spanned<i64>, key: &str) -> Result<u32, ConfigError> {
    let n = *m.get_ref();
    if !(68..=65535).contains(&n) {
        return Err(src.err(m, format!("{key} = {n} is out of range 68..=65535")));
    }
    Ok(n as u32)
}

#[cfg(test)]
mod tests;
