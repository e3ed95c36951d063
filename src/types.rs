//! Validated newtypes: parsed once at the edge (config, CLI, environment), trusted after.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! string_newtype {
    ($name:ident, $parse:ident) => {
        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                $parse(&s).map(|()| $name(s))
            }
        }
        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                Self::try_from(s.to_string())
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

/// A network interface name as the kernel accepts it (`dev_valid_name`): 1..=15 bytes,
/// no `/`, `:` or whitespace, not `.` or `..`. Safe to join onto a sysfs path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct IfName(String);

fn parse_ifname(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("interface name is empty".into());
    }
    if s.len() > 15 {
        return Err(format!(
            "interface name {} is {} bytes long; the kernel allows at most 15",
            Clip(s),
            s.len()
        ));
    }
    if s == "." || s == ".." {
        return Err(format!("interface name {} is not allowed", Clip(s)));
    }
    if let Some(c) = s
        .chars()
        .find(|c| *c == '/' || *c == ':' || c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "interface name {} contains {c:?}, which the kernel does not allow",
            Clip(s)
        ));
    }
    Ok(())
}
string_newtype!(IfName, parse_ifname);

impl From<IfName> for String {
    fn from(n: IfName) -> String {
        n.0
    }
}

/// A PCI address in the canonical sysfs form `DDDD:BB:DD.F` (lower-case hex).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct PciAddr(String);

fn parse_pci(s: &str) -> Result<(), String> {
    let bad = || {
        format!(
            "PCI address {} is not of the form DDDD:BB:DD.F (e.g. 0000:3b:00.0)",
            Clip(s)
        )
    };
    let b = s.as_bytes();
    if b.len() != 12 || b[4] != b':' || b[7] != b':' || b[10] != b'.' {
        return Err(bad());
    }
    let hex = |r: std::ops::Range<usize>| {
        b[r].iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
    };
    if !(hex(0..4) && hex(5..7) && hex(8..10) && (b'0'..=b'7').contains(&b[11])) {
        return Err(bad());
    }
    // device number is 5 bits
    let dev = u8::from_str_radix(&s[8..10], 16).map_err(|_| bad())?;
    if dev > 0x1f {
        return Err(bad());
    }
    Ok(())
}
string_newtype!(PciAddr, parse_pci);

impl From<PciAddr> for String {
    fn from(n: PciAddr) -> String {
        n.0
    }
}

/// A unicast Ethernet MAC address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct Mac(pub [u8; 6]);

impl TryFrom<String> for Mac {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let bytes = parse_hex_bytes::<6>(&s).ok_or_else(|| {
            format!(
                "MAC address {} is not of the form 02:00:00:00:00:01",
                Clip(&s)
            )
        })?;
        if bytes[0] & 1 == 1 {
            return Err(format!(
                "MAC address {} is a multicast address; a VF needs a unicast one",
                Clip(&s)
            ));
        }
        Ok(Mac(bytes))
    }
}

impl FromStr for Mac {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::try_from(s.to_string())
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex_bytes(f, &self.0)
    }
}

impl From<Mac> for String {
    fn from(m: Mac) -> String {
        m.to_string()
    }
}

/// An InfiniBand GUID: 8 bytes, written `00:11:22:33:44:55:66:77` as mlx5's sysfs expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct Guid(pub [u8; 8]);

impl TryFrom<String> for Guid {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        parse_hex_bytes::<8>(&s).map(Guid).ok_or_else(|| {
            format!(
                "GUID {} is not 8 hex bytes like 00:11:22:33:44:55:66:77",
                Clip(&s)
            )
        })
    }
}

impl FromStr for Guid {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::try_from(s.to_string())
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex_bytes(f, &self.0)
    }
}

impl From<Guid> for String {
    fn from(g: Guid) -> String {
        g.to_string()
    }
}

/// Which of a VF's two InfiniBand GUIDs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum GuidKind {
    Node,
    Port,
}

impl GuidKind {
    /// The sysfs file name (`sriov/N/node`, `sriov/N/port`), also used in messages.
    pub fn file(self) -> &'static str {
        match self {
            GuidKind::Node => "node",
            GuidKind::Port => "port",
        }
    }
}

/// A value quoted in a message, cut after 200 bytes with its length said: an error must not
/// echo a 1 MB value into the journal.
pub struct Clip<'a>(pub &'a str);

impl fmt::Display for Clip<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX: usize = 200;
        let s = self.0;
        if s.len() <= MAX {
            return write!(f, "{s:?}");
        }
        let mut end = MAX;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        write!(f, "{:?}… ({} bytes)", &s[..end], s.len())
    }
}

fn parse_hex_bytes<const N: usize>(s: &str) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    let mut parts = s.split(':');
    for b in out.iter_mut() {
        let p = parts.next()?;
        // from_str_radix alone would take "+f"
        if p.len() != 2 || !p.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

fn write_hex_bytes(f: &mut fmt::Formatter<'_>, b: &[u8]) -> fmt::Result {
    for (i, x) in b.iter().enumerate() {
        if i > 0 {
            f.write_str(":")?;
        }
        write!(f, "{x:02x}")?;
    }
    Ok(())
}

/// A unit name safe to use as a drop-in directory name (checked by the config loader and
/// again by the generator).
pub fn is_unit_name(s: &str) -> bool {
    const SUFFIXES: [&str; 6] = [
        ".service", ".target", ".socket", ".mount", ".path", ".timer",
    ];
    SUFFIXES
        .iter()
        .any(|suf| s.len() > suf.len() && s.ends_with(suf))
        && s.len() <= 255
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || ":-_.\\@".contains(c))
}

/// Parses durations like `120s`, `2m`, `500ms`, `1h`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| {
        format!(
            "duration {} must be a number followed by ms, s, m or h",
            Clip(s)
        )
    })?;
    let ms = match unit {
        "ms" => Some(n),
        "s" | "" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        _ => {
            return Err(format!(
                "duration {}: unknown unit {} (use ms, s, m or h)",
                Clip(s),
                Clip(unit)
            ))
        }
    }
    .filter(|ms| *ms <= 24 * 3_600_000)
    .ok_or_else(|| format!("duration {} is longer than a day", Clip(s)))?;
    Ok(std::time::Duration::from_millis(ms))
}

/// An Open vSwitch bridge name. OVS itself takes any string, but with the kernel datapath
/// (the one switchdev offload uses) each bridge gets an internal port, a netdev of the same
/// name: so the kernel's interface name rules ([`IfName`]) apply. `ovs-system` is the kernel
/// datapath's own netdev and `ovs-netdev` the userspace datapath's: neither can be a bridge.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct BridgeName(String);

fn parse_bridge(s: &str) -> Result<(), String> {
    parse_ifname(s).map_err(|e| format!("bridge name: {e}"))?;
    if s == "ovs-system" || s == "ovs-netdev" {
        return Err(format!(
            "bridge name {} is reserved by Open vSwitch (its datapath's own device)",
            Clip(s)
        ));
    }
    Ok(())
}
string_newtype!(BridgeName, parse_bridge);

impl From<BridgeName> for String {
    fn from(n: BridgeName) -> String {
        n.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifname_rules() {
        assert!("ens1f0".parse::<IfName>().is_ok());
        assert!("a234567890abcde".parse::<IfName>().is_ok());
        for bad in ["", ".", "..", "a/b", "a b", "a:1", "a234567890abcdef"] {
            assert!(bad.parse::<IfName>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn pci_rules() {
        assert!("0000:3b:00.0".parse::<PciAddr>().is_ok());
        for bad in [
            "0000:3b:00",
            "0000:3B:00.0",
            "0000:3b:20.0",
            "0000:3b:00.8",
            "x",
        ] {
            assert!(bad.parse::<PciAddr>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn mac_and_guid_round_trip() {
        let m: Mac = "02:aa:bb:cc:dd:0f".parse().unwrap();
        assert_eq!(m.to_string(), "02:aa:bb:cc:dd:0f");
        assert!("01:00:5e:00:00:01".parse::<Mac>().is_err());
        assert!("02:aa:bb:cc:dd".parse::<Mac>().is_err());
        assert!("+2:aa:bb:cc:dd:0f".parse::<Mac>().is_err());
        assert!("00:11:22:33:44:55:66:+7".parse::<Guid>().is_err());
        let g: Guid = "00:11:22:33:44:55:66:77".parse().unwrap();
        assert_eq!(g.0[7], 0x77);
        assert!("00:11:22:33:44:55:66".parse::<Guid>().is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("120s").unwrap().as_secs(), 120);
        assert_eq!(parse_duration("2m").unwrap().as_secs(), 120);
        assert_eq!(parse_duration("250ms").unwrap().as_millis(), 250);
        assert!(parse_duration("5d").is_err());
        assert!(parse_duration("99999999999h").is_err());
    }
}

#[cfg(test)]
mod bridge_name_tests {
    use super::*;

    #[test]
    fn bridge_names_follow_the_kernel_datapath_rules() {
        for good in ["vmbr2", "br-offload", "br_int.1", "a234567890abcde"] {
            assert!(good.parse::<BridgeName>().is_ok(), "{good:?} refused");
        }
        for (bad, why) in [
            ("", "is empty"),
            ("a234567890abcdef", "at most 15"),
            ("br/0", "contains '/'"),
            ("br 0", "contains ' '"),
            ("..", "not allowed"),
            ("ovs-system", "reserved"),
        ] {
            let e = bad.parse::<BridgeName>().unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
    }
}
