//! ethtool: features, rings and channels over generic netlink (family "ethtool"), and the RSS
//! hash function over the `SIOCETHTOOL` ioctl (no netlink "set" for it on older kernels).

use std::{collections::HashSet, fmt, os::fd::AsRawFd, str::FromStr};

use anyhow::{anyhow, bail, Context, Result};
use neli::{
    consts::{nl::NlmF, socket::NlFamily},
    genl::Nlattr,
    types::{Buffer, GenlBuffer},
};
use nix::{
    errno::Errno,
    libc,
    sys::socket::{socket, AddressFamily, SockFlag, SockType},
};

use super::{
    attrs::{find_nla, nla, nla_flag, nla_nest, parse_nla, str_of, u32_of},
    check_ifname,
    conn::{Conn, KernelError},
};

/// Numbers from linux/ethtool_netlink.h (and linux/ethtool.h where noted).
mod consts {
    pub const GENL_NAME: &str = "ethtool"; // ETHTOOL_GENL_NAME
    pub const GENL_VERSION: u8 = 1; // ETHTOOL_GENL_VERSION

    // ETHTOOL_MSG_* (user -> kernel)
    pub const MSG_STRSET_GET: u8 = 1;
    pub const MSG_FEATURES_GET: u8 = 11;
    pub const MSG_FEATURES_SET: u8 = 12;
    pub const MSG_RINGS_GET: u8 = 15;
    pub const MSG_RINGS_SET: u8 = 16;
    pub const MSG_CHANNELS_GET: u8 = 17;
    pub const MSG_CHANNELS_SET: u8 = 18;

    // ETHTOOL_A_HEADER_*: every request nests one under attribute 1 (…_HEADER)
    pub const A_HEADER_DEV_NAME: u16 = 2; // string

    // ETHTOOL_A_BITSET_* (verbose form: a list of named bits)
    pub const A_BITSET_NOMASK: u16 = 1; // flag: the list holds the set bits only
    pub const A_BITSET_BITS: u16 = 3; // nest of A_BITSET_BITS_BIT
    pub const A_BITSET_BITS_BIT: u16 = 1; // nest
    pub const A_BITSET_BIT_NAME: u16 = 2; // string
    pub const A_BITSET_BIT_VALUE: u16 = 3; // flag

    // ETHTOOL_A_STRSET_* / STRINGSETS / STRINGSET / STRINGS / STRING
    pub const A_STRSET_HEADER: u16 = 1;
    pub const A_STRSET_STRINGSETS: u16 = 2;
    pub const A_STRINGSETS_STRINGSET: u16 = 1;
    pub const A_STRINGSET_ID: u16 = 1; // u32
    pub const A_STRINGSET_STRINGS: u16 = 3;
    pub const A_STRINGS_STRING: u16 = 1;
    pub const A_STRING_VALUE: u16 = 2; // string
    pub const ETH_SS_FEATURES: u32 = 4; // enum ethtool_stringset, linux/ethtool.h

    // ETHTOOL_A_FEATURES_*
    pub const A_FEATURES_HEADER: u16 = 1;
    pub const A_FEATURES_HW: u16 = 2; // changeable by the user
    pub const A_FEATURES_WANTED: u16 = 3;
    pub const A_FEATURES_ACTIVE: u16 = 4;
    pub const A_FEATURES_NOCHANGE: u16 = 5; // never changeable

    // ETHTOOL_A_RINGS_* (u32)
    pub const A_RINGS_HEADER: u16 = 1;
    pub const A_RINGS_RX_MAX: u16 = 2;
    pub const A_RINGS_TX_MAX: u16 = 5;
    pub const A_RINGS_RX: u16 = 6;
    pub const A_RINGS_TX: u16 = 9;

    // ETHTOOL_A_CHANNELS_* (u32)
    pub const A_CHANNELS_HEADER: u16 = 1;
    pub const A_CHANNELS_RX_MAX: u16 = 2;
    pub const A_CHANNELS_TX_MAX: u16 = 3;
    pub const A_CHANNELS_OTHER_MAX: u16 = 4;
    pub const A_CHANNELS_COMBINED_MAX: u16 = 5;
    pub const A_CHANNELS_RX_COUNT: u16 = 6;
    pub const A_CHANNELS_TX_COUNT: u16 = 7;
    pub const A_CHANNELS_OTHER_COUNT: u16 = 8;
    pub const A_CHANNELS_COMBINED_COUNT: u16 = 9;

    // linux/ethtool.h: SIOCETHTOOL sub-commands and struct ethtool_rxfh
    pub const ETHTOOL_GRSSH: u32 = 0x46;
    pub const ETHTOOL_SRSSH: u32 = 0x47;
    pub const ETH_RXFH_INDIR_NO_CHANGE: u32 = 0xffff_ffff;
    // ETH_RSS_HASH_* (include/linux/ethtool.h in the kernel tree): bit per function
    pub const ETH_RSS_HASH_TOP: u8 = 1 << 0;
    pub const ETH_RSS_HASH_XOR: u8 = 1 << 1;
    pub const ETH_RSS_HASH_CRC32: u8 = 1 << 2;
}

/// One offload feature of a device ("hw-tc-offload", "rx-gro", …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureState {
    pub active: bool,
    /// The user may change it (in the device's hw_features and not in the never-change set);
    /// `ethtool -k` prints "[fixed]" when false.
    pub changeable: bool,
}

impl FeatureState {
    /// The device can have this feature on: it is on already or can be turned on.
    pub fn supported(&self) -> bool {
        self.active || self.changeable
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rings {
    pub rx: u32,
    pub tx: u32,
    pub rx_max: u32,
    pub tx_max: u32,
}

/// Channel counts and maxima; a kind the device does not have reads as 0 / 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Channels {
    pub rx: u32,
    pub tx: u32,
    pub other: u32,
    pub combined: u32,
    pub rx_max: u32,
    pub tx_max: u32,
    pub other_max: u32,
    pub combined_max: u32,
}

/// Channel counts to set; only `Some` fields are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChannelsSet {
    pub rx: Option<u32>,
    pub tx: Option<u32>,
    pub other: Option<u32>,
    pub combined: Option<u32>,
}

/// A generic netlink socket bound to the ethtool family.
pub struct Ethtool {
    conn: Conn,
    family: u16,
    /// Names of all features the kernel knows (ETH_SS_FEATURES), fetched on first use.
    feature_names: Option<HashSet<String>>,
}

impl Ethtool {
    pub fn new() -> Result<Self> {
        let mut conn = Conn::open(NlFamily::Generic).context("opening generic netlink socket")?;
        let family = match conn.resolve_family(consts::GENL_NAME) {
            Ok(id) => id,
            Err(e) if super::errno(&e) == Some(Errno::ENOENT) => {
                return Err(e.context(
                    "the kernel has no ethtool generic netlink family (needs Linux >= 5.6 \
                     with CONFIG_ETHTOOL_NETLINK)",
                ))
            }
            Err(e) => return Err(e.context("resolving generic netlink family \"ethtool\"")),
        };
        Ok(Ethtool {
            conn,
            family,
            feature_names: None,
        })
    }

    /// State of `feature` on `ifname`. None if the kernel knows no feature by that name.
    /// A feature the device lacks reads as `active: false, changeable: false` ("off [fixed]").
    pub fn feature(&mut self, ifname: &str, feature: &str) -> Result<Option<FeatureState>> {
        let op = || format!("reading feature {feature} of {ifname} via ETHTOOL_MSG_FEATURES_GET");
        check_ifname(ifname, &op())?;
        if !self
            .feature_names(ifname)
            .with_context(op)?
            .contains(feature)
        {
            return Ok(None);
        }
        let a = self
            .get_one(
                consts::MSG_FEATURES_GET,
                consts::A_FEATURES_HEADER,
                ifname,
                vec![],
            )
            .with_context(op)?;
        let set = |ty| -> Result<bool> {
            match find_nla(&a, ty) {
                Some(b) => Ok(bitset_names(b)?.contains(feature)),
                None => Ok(false),
            }
        };
        let active = set(consts::A_FEATURES_ACTIVE).with_context(op)?;
        let hw = set(consts::A_FEATURES_HW).with_context(op)?;
        let nochange = set(consts::A_FEATURES_NOCHANGE).with_context(op)?;
        Ok(Some(FeatureState {
            active,
            changeable: hw && !nochange,
        }))
    }

    /// Turns `feature` on or off on `ifname` (ETHTOOL_MSG_FEATURES_SET), then re-reads it: an
    /// error names the feature if the kernel did not apply the change. A no-op if it is already
    /// as asked.
    pub fn set_feature(&mut self, ifname: &str, feature: &str, on: bool) -> Result<()> {
        let state = if on { "on" } else { "off" };
        let op = || format!("turning {feature} {state} for {ifname} via ETHTOOL_MSG_FEATURES_SET");
        let cur = self
            .feature(ifname, feature)?
            .ok_or_else(|| anyhow!("the kernel knows no feature named {feature:?}"))
            .with_context(op)?;
        if cur.active == on {
            return Ok(());
        }
        if !cur.changeable {
            return Err(anyhow!(
                "{feature} is fixed {} on {ifname} (the driver does not let it change)",
                if cur.active { "on" } else { "off" }
            ))
            .with_context(op);
        }
        let mut bit = vec![nla(consts::A_BITSET_BIT_NAME, feature)?];
        if on {
            bit.push(nla_flag(consts::A_BITSET_BIT_VALUE)?);
        }
        // No NOMASK flag: only the listed bit is changed, the others keep their value.
        let wanted = nla_nest(
            consts::A_FEATURES_WANTED,
            &[nla_nest(
                consts::A_BITSET_BITS,
                &[nla_nest(consts::A_BITSET_BITS_BIT, &bit)?],
            )?],
        )?;
        self.request(
            consts::MSG_FEATURES_SET,
            consts::A_FEATURES_HEADER,
            ifname,
            vec![wanted],
        )
        .with_context(op)?;
        let after = self.feature(ifname, feature).with_context(op)?;
        if after.map(|s| s.active) != Some(on) {
            return Err(anyhow!(
                "the kernel accepted the request but {feature} is still {} (the driver refused \
                 it or a dependent feature keeps it {0})",
                if on { "off" } else { "on" }
            ))
            .with_context(op);
        }
        Ok(())
    }

    pub fn rings(&mut self, ifname: &str) -> Result<Rings> {
        let op = || format!("reading ring sizes of {ifname} via ETHTOOL_MSG_RINGS_GET");
        check_ifname(ifname, &op())?;
        let a = self
            .get_one(
                consts::MSG_RINGS_GET,
                consts::A_RINGS_HEADER,
                ifname,
                vec![],
            )
            .with_context(op)?;
        let g = |ty| find_nla(&a, ty).and_then(u32_of).unwrap_or(0);
        Ok(Rings {
            rx: g(consts::A_RINGS_RX),
            tx: g(consts::A_RINGS_TX),
            rx_max: g(consts::A_RINGS_RX_MAX),
            tx_max: g(consts::A_RINGS_TX_MAX),
        })
    }

    /// Sets RX and/or TX ring sizes. The kernel rejects sizes above the maxima from
    /// [`rings`](Ethtool::rings): clamp first.
    pub fn set_rings(&mut self, ifname: &str, rx: Option<u32>, tx: Option<u32>) -> Result<()> {
        let what = [rx.map(|v| format!("rx {v}")), tx.map(|v| format!("tx {v}"))]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let op = || format!("setting rings {what} on {ifname} via ETHTOOL_MSG_RINGS_SET");
        check_ifname(ifname, &op())?;
        let mut attrs = Vec::new();
        if let Some(v) = rx {
            attrs.push(nla(consts::A_RINGS_RX, v)?);
        }
        if let Some(v) = tx {
            attrs.push(nla(consts::A_RINGS_TX, v)?);
        }
        if attrs.is_empty() {
            return Ok(());
        }
        self.request(consts::MSG_RINGS_SET, consts::A_RINGS_HEADER, ifname, attrs)
            .with_context(op)?;
        Ok(())
    }

    pub fn channels(&mut self, ifname: &str) -> Result<Channels> {
        let op = || format!("reading channels of {ifname} via ETHTOOL_MSG_CHANNELS_GET");
        check_ifname(ifname, &op())?;
        let a = self
            .get_one(
                consts::MSG_CHANNELS_GET,
                consts::A_CHANNELS_HEADER,
                ifname,
                vec![],
            )
            .with_context(op)?;
        let g = |ty| find_nla(&a, ty).and_then(u32_of).unwrap_or(0);
        Ok(Channels {
            rx: g(consts::A_CHANNELS_RX_COUNT),
            tx: g(consts::A_CHANNELS_TX_COUNT),
            other: g(consts::A_CHANNELS_OTHER_COUNT),
            combined: g(consts::A_CHANNELS_COMBINED_COUNT),
            rx_max: g(consts::A_CHANNELS_RX_MAX),
            tx_max: g(consts::A_CHANNELS_TX_MAX),
            other_max: g(consts::A_CHANNELS_OTHER_MAX),
            combined_max: g(consts::A_CHANNELS_COMBINED_MAX),
        })
    }

    /// Sets the `Some` channel counts. The kernel rejects counts above the maxima from
    /// [`channels`](Ethtool::channels), and a total of zero RX or TX channels.
    pub fn set_channels(&mut self, ifname: &str, c: &ChannelsSet) -> Result<()> {
        let fields = [
            ("rx", consts::A_CHANNELS_RX_COUNT, c.rx),
            ("tx", consts::A_CHANNELS_TX_COUNT, c.tx),
            ("other", consts::A_CHANNELS_OTHER_COUNT, c.other),
            ("combined", consts::A_CHANNELS_COMBINED_COUNT, c.combined),
        ];
        let what = fields
            .iter()
            .filter_map(|(n, _, v)| v.map(|v| format!("{n} {v}")))
            .collect::<Vec<_>>()
            .join(" ");
        let op = || format!("setting channels {what} on {ifname} via ETHTOOL_MSG_CHANNELS_SET");
        check_ifname(ifname, &op())?;
        let mut attrs = Vec::new();
        for (_, ty, v) in fields {
            if let Some(v) = v {
                attrs.push(nla(ty, v)?);
            }
        }
        if attrs.is_empty() {
            return Ok(());
        }
        self.request(
            consts::MSG_CHANNELS_SET,
            consts::A_CHANNELS_HEADER,
            ifname,
            attrs,
        )
        .with_context(op)?;
        Ok(())
    }

    fn feature_names(&mut self, ifname: &str) -> Result<&HashSet<String>> {
        if self.feature_names.is_none() {
            let sets = nla_nest(
                consts::A_STRSET_STRINGSETS,
                &[nla_nest(
                    consts::A_STRINGSETS_STRINGSET,
                    &[nla(consts::A_STRINGSET_ID, consts::ETH_SS_FEATURES)?],
                )?],
            )?;
            let a = self
                .get_one(
                    consts::MSG_STRSET_GET,
                    consts::A_STRSET_HEADER,
                    ifname,
                    vec![sets],
                )
                .context("reading feature names via ETHTOOL_MSG_STRSET_GET")?;
            self.feature_names = Some(strset_names(&a)?);
        }
        // Just filled above; a None here would be a bug in this function.
        self.feature_names
            .as_ref()
            .ok_or_else(|| anyhow!("feature name cache not filled"))
    }

    /// A request whose single reply's attributes are returned.
    fn get_one(
        &mut self,
        cmd: u8,
        header: u16,
        ifname: &str,
        attrs: Vec<Nlattr<u16, Buffer>>,
    ) -> Result<GenlBuffer<u16, Buffer>> {
        self.request(cmd, header, ifname, attrs)?
            .into_iter()
            .next()
            .ok_or_else(|| anyhow!("the kernel sent no reply"))
    }

    fn request(
        &mut self,
        cmd: u8,
        header: u16,
        ifname: &str,
        mut attrs: Vec<Nlattr<u16, Buffer>>,
    ) -> Result<Vec<GenlBuffer<u16, Buffer>>> {
        let hdr = nla_nest(header, &[nla(consts::A_HEADER_DEV_NAME, ifname)?])?;
        attrs.insert(0, hdr);
        let r = self
            .conn
            .genl(self.family, cmd, consts::GENL_VERSION, NlmF::empty(), attrs);
        match r {
            Err(e) if super::errno(&e) == Some(Errno::ENODEV) => {
                Err(e.context("no such interface"))
            }
            other => other,
        }
    }
}

/// Names of the bits set in a verbose ethtool bitset.
fn bitset_names(bitset: &[u8]) -> Result<HashSet<String>> {
    let a = parse_nla(bitset)?;
    let nomask = find_nla(&a, consts::A_BITSET_NOMASK).is_some();
    let mut out = HashSet::new();
    let Some(bits) = find_nla(&a, consts::A_BITSET_BITS) else {
        // Compact form (VALUE/MASK arrays) is only sent when asked for; we never ask.
        return Ok(out);
    };
    for bit in parse_nla(bits)?.iter() {
        if *bit.nla_type().nla_type() != consts::A_BITSET_BITS_BIT {
            continue;
        }
        let b = parse_nla(bit.nla_payload().as_ref())?;
        let set = nomask || find_nla(&b, consts::A_BITSET_BIT_VALUE).is_some();
        if let (true, Some(name)) = (set, find_nla(&b, consts::A_BITSET_BIT_NAME)) {
            out.insert(str_of(name));
        }
    }
    Ok(out)
}

/// All strings of the (single) string set in an ETHTOOL_MSG_STRSET_GET reply.
fn strset_names(a: &GenlBuffer<u16, Buffer>) -> Result<HashSet<String>> {
    let mut out = HashSet::new();
    let sets = find_nla(a, consts::A_STRSET_STRINGSETS)
        .ok_or_else(|| anyhow!("STRSET reply without ETHTOOL_A_STRSET_STRINGSETS"))?;
    for set in parse_nla(sets)?.iter() {
        let s = parse_nla(set.nla_payload().as_ref())?;
        let Some(strings) = find_nla(&s, consts::A_STRINGSET_STRINGS) else {
            continue;
        };
        for st in parse_nla(strings)?.iter() {
            if *st.nla_type().nla_type() != consts::A_STRINGS_STRING {
                continue;
            }
            if let Some(v) = find_nla(
                &parse_nla(st.nla_payload().as_ref())?,
                consts::A_STRING_VALUE,
            ) {
                out.insert(str_of(v));
            }
        }
    }
    if out.is_empty() {
        bail!("the kernel reported no feature names");
    }
    Ok(out)
}

/// RSS hash function (ETH_RSS_HASH_* bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hfunc {
    Toeplitz,
    Xor,
    Crc32,
    /// A bit this code has no name for (newer kernels).
    Other(u8),
}

impl Hfunc {
    pub fn bits(self) -> u8 {
        match self {
            Hfunc::Toeplitz => consts::ETH_RSS_HASH_TOP,
            Hfunc::Xor => consts::ETH_RSS_HASH_XOR,
            Hfunc::Crc32 => consts::ETH_RSS_HASH_CRC32,
            Hfunc::Other(b) => b,
        }
    }

    /// None for 0 (the driver reports no function).
    pub fn from_bits(b: u8) -> Option<Self> {
        match b {
            0 => None,
            consts::ETH_RSS_HASH_TOP => Some(Hfunc::Toeplitz),
            consts::ETH_RSS_HASH_XOR => Some(Hfunc::Xor),
            consts::ETH_RSS_HASH_CRC32 => Some(Hfunc::Crc32),
            other => Some(Hfunc::Other(other)),
        }
    }
}

impl fmt::Display for Hfunc {
    /// The names `ethtool -x` prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hfunc::Toeplitz => f.write_str("toeplitz"),
            Hfunc::Xor => f.write_str("xor"),
            Hfunc::Crc32 => f.write_str("crc32"),
            Hfunc::Other(b) => write!(f, "hfunc bits {b:#x}"),
        }
    }
}

impl FromStr for Hfunc {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "toeplitz" => Ok(Hfunc::Toeplitz),
            "xor" => Ok(Hfunc::Xor),
            "crc32" => Ok(Hfunc::Crc32),
            _ => bail!("unknown RSS hash function {s:?} (expected toeplitz, xor or crc32)"),
        }
    }
}

/// `struct ethtool_rxfh` without its flexible array (linux/ethtool.h). `rsvd8[0]` became
/// `input_xfrm` in 6.8. We leave it 0, as ethtool(8) before 6.8 does: older kernels require 0
/// there (EINVAL otherwise), and RXH_XFRM_NO_CHANGE (0xff) fails with EOPNOTSUPP on 6.8-6.10
/// kernels without the fix for it. The cost: on a NIC with symmetric-xor input transform
/// configured, setting the hash function turns that transform off.
#[repr(C)]
#[derive(Default)]
struct EthtoolRxfh {
    cmd: u32,
    rss_context: u32,
    indir_size: u32,
    key_size: u32,
    hfunc: u8,
    rsvd8: [u8; 3],
    rsvd32: u32,
}

nix::ioctl_readwrite_bad!(siocethtool, libc::SIOCETHTOOL, libc::ifreq);

fn rxfh_ioctl(ifname: &str, rxfh: &mut EthtoolRxfh) -> Result<()> {
    check_ifname(ifname, "SIOCETHTOOL")?;
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .context("opening a socket for SIOCETHTOOL")?;
    // SAFETY: ifreq is plain data; all-zero is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    // check_ifname bounded the name to 15 bytes, so the copy leaves the final NUL in place.
    for (dst, src) in ifr.ifr_name.iter_mut().zip(ifname.bytes()) {
        *dst = src as libc::c_char;
    }
    ifr.ifr_ifru.ifru_data = (rxfh as *mut EthtoolRxfh).cast();
    // SAFETY: ifr points at a valid ifreq whose data pointer refers to a live ethtool_rxfh of
    // the size the kernel reads/writes for indir_size = key_size = 0 (or NO_CHANGE).
    unsafe { siocethtool(sock.as_raw_fd(), &mut ifr) }.map_err(|errno| KernelError {
        errno,
        message: None,
    })?;
    Ok(())
}

/// The RSS hash function of `ifname` (SIOCETHTOOL ETHTOOL_GRSSH); None if the driver reports
/// none. EOPNOTSUPP for devices without RSS.
pub fn rss_hfunc(ifname: &str) -> Result<Option<Hfunc>> {
    let mut rxfh = EthtoolRxfh {
        cmd: consts::ETHTOOL_GRSSH,
        ..Default::default()
    };
    rxfh_ioctl(ifname, &mut rxfh).with_context(|| {
        format!("reading RSS hash function of {ifname} via SIOCETHTOOL ETHTOOL_GRSSH")
    })?;
    Ok(Hfunc::from_bits(rxfh.hfunc))
}

/// Sets the RSS hash function of `ifname` (SIOCETHTOOL ETHTOOL_SRSSH), leaving the indirection
/// table and key alone.
pub fn set_rss_hfunc(ifname: &str, h: Hfunc) -> Result<()> {
    let mut rxfh = EthtoolRxfh {
        cmd: consts::ETHTOOL_SRSSH,
        indir_size: consts::ETH_RXFH_INDIR_NO_CHANGE,
        hfunc: h.bits(),
        ..Default::default()
    };
    rxfh_ioctl(ifname, &mut rxfh).with_context(|| {
        format!("setting RSS hash function of {ifname} to {h} via SIOCETHTOOL ETHTOOL_SRSSH")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use neli::ToBytes;
    use std::io::Cursor;

    fn bytes(a: &Nlattr<u16, Buffer>) -> Vec<u8> {
        let mut c = Cursor::new(Vec::new());
        a.to_bytes(&mut c).unwrap();
        c.into_inner()
    }

    fn bit(name: &str, value: bool) -> Nlattr<u16, Buffer> {
        let mut b = vec![nla(consts::A_BITSET_BIT_NAME, name).unwrap()];
        if value {
            b.push(nla_flag(consts::A_BITSET_BIT_VALUE).unwrap());
        }
        nla_nest(consts::A_BITSET_BITS_BIT, &b).unwrap()
    }

    #[test]
    fn rxfh_struct_matches_the_kernel_layout() {
        assert_eq!(std::mem::size_of::<EthtoolRxfh>(), 24);
    }

    #[test]
    fn nomask_bitset_lists_set_bits_and_masked_bitset_uses_value_flags() {
        let nomask = nla_nest(
            4,
            &[
                nla_flag(consts::A_BITSET_NOMASK).unwrap(),
                nla_nest(consts::A_BITSET_BITS, &[bit("rx-gro", false)]).unwrap(),
            ],
        )
        .unwrap();
        let b = bytes(&nomask);
        assert_eq!(
            bitset_names(&b[4..]).unwrap(),
            HashSet::from(["rx-gro".to_string()])
        );

        let masked = nla_nest(
            4,
            &[nla_nest(
                consts::A_BITSET_BITS,
                &[bit("rx-gro", true), bit("hw-tc-offload", false)],
            )
            .unwrap()],
        )
        .unwrap();
        let b = bytes(&masked);
        assert_eq!(
            bitset_names(&b[4..]).unwrap(),
            HashSet::from(["rx-gro".to_string()])
        );
    }

    #[test]
    fn hfunc_names_and_bits_round_trip() {
        for h in [Hfunc::Toeplitz, Hfunc::Xor, Hfunc::Crc32] {
            assert_eq!(Hfunc::from_bits(h.bits()), Some(h));
            assert_eq!(h.to_string().parse::<Hfunc>().unwrap(), h);
        }
        assert_eq!(Hfunc::from_bits(0), None);
        assert_eq!(Hfunc::from_bits(1 << 5), Some(Hfunc::Other(32)));
        let e = "sha1".parse::<Hfunc>().unwrap_err().to_string();
        assert!(e.contains("toeplitz"), "{e}");
    }
}
