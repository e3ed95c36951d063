//! Small helpers to build and read netlink attributes with raw `u16` types on top of neli's
//! `Rtattr` (rtnetlink) and `Nlattr` (generic netlink). neli's own enums do not know the devlink,
//! ethtool or IFLA_VF_* numbers, and its string parser assumes a trailing NUL, so payloads are
//! read here from plain byte slices.

use anyhow::{Context, Result};
use neli::{
    attr::Attribute,
    consts::rtnl::RtaType,
    genl::{AttrTypeBuilder, Nlattr, NlattrBuilder},
    rtnl::{Rtattr, RtattrBuilder},
    types::{Buffer, GenlBuffer, RtBuffer},
    FromBytesWithInput, Size, ToBytes,
};
use std::io::Cursor;

/// A generic-netlink attribute with payload `p` (integers in host order, `&str` NUL-terminated).
pub(crate) fn nla<P: Size + ToBytes>(ty: u16, p: P) -> Result<Nlattr<u16, Buffer>> {
    Ok(NlattrBuilder::default()
        .nla_type(AttrTypeBuilder::default().nla_type(ty).build()?)
        .nla_payload(p)
        .build()?)
}

/// A generic-netlink flag attribute (no payload).
pub(crate) fn nla_flag(ty: u16) -> Result<Nlattr<u16, Buffer>> {
    nla(ty, Buffer::new())
}

/// A nested generic-netlink attribute (NLA_F_NESTED set, as strict kernel policies require).
pub(crate) fn nla_nest(ty: u16, children: &[Nlattr<u16, Buffer>]) -> Result<Nlattr<u16, Buffer>> {
    let mut outer = NlattrBuilder::default()
        .nla_type(
            AttrTypeBuilder::default()
                .nla_type(ty)
                .nla_nested(true)
                .build()?,
        )
        .nla_payload(Buffer::new())
        .build()?;
    for c in children {
        outer = outer.nest(c)?;
    }
    Ok(outer)
}

/// An rtnetlink attribute with payload `p`; `T` is neli's typed enum (e.g. `Ifla`) or raw `u16`.
pub(crate) fn rta<T, P>(ty: T, p: P) -> Result<Rtattr<T, Buffer>>
where
    T: RtaType,
    P: Size + ToBytes,
{
    Ok(RtattrBuilder::default()
        .rta_type(ty)
        .rta_payload(p)
        .build()?)
}

/// A nested rtnetlink attribute. rtnetlink parses these with the "deprecated" (non-strict)
/// parser, so like iproute2 we do not set NLA_F_NESTED.
pub(crate) fn rta_nest<T: RtaType>(
    ty: T,
    children: &[Rtattr<u16, Buffer>],
) -> Result<Rtattr<T, Buffer>> {
    let mut outer = rta(ty, Buffer::new())?;
    for c in children {
        outer = outer.nest(c)?;
    }
    Ok(outer)
}

/// Parses a buffer of generic-netlink attributes (e.g. a nested attribute's payload).
pub(crate) fn parse_nla(payload: &[u8]) -> Result<GenlBuffer<u16, Buffer>> {
    GenlBuffer::from_bytes_with_input(&mut Cursor::new(payload), payload.len())
        .context("malformed nested generic netlink attributes")
}

/// Parses a buffer of rtnetlink attributes (e.g. a nested attribute's payload).
pub(crate) fn parse_rta(payload: &[u8]) -> Result<RtBuffer<u16, Buffer>> {
    RtBuffer::from_bytes_with_input(&mut Cursor::new(payload), payload.len())
        .context("malformed nested rtnetlink attributes")
}

/// First generic-netlink attribute of type `ty`, as its raw payload.
pub(crate) fn find_nla(attrs: &GenlBuffer<u16, Buffer>, ty: u16) -> Option<&[u8]> {
    attrs
        .iter()
        .find(|a| *a.nla_type().nla_type() == ty)
        .map(|a| a.payload().as_ref())
}

/// First rtnetlink attribute of type `ty` (nested/byte-order flag bits ignored), as its raw
/// payload.
pub(crate) fn find_rta<T: RtaType>(
    attrs: &RtBuffer<T, Buffer>,
    ty: impl Into<u16>,
) -> Option<&[u8]> {
    let ty = ty.into();
    attrs
        .iter()
        .find(|a| {
            let raw: u16 = (*a.rta_type()).into();
            raw & NLA_TYPE_MASK == ty
        })
        .map(|a| a.payload().as_ref())
}

/// Bits of `nla_type` that carry the type (the top two are NLA_F_NESTED / NLA_F_NET_BYTEORDER,
/// linux/netlink.h).
pub(crate) const NLA_TYPE_MASK: u16 = !(3 << 14);

pub(crate) fn u16_of(b: &[u8]) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(..2)?.try_into().ok()?))
}

pub(crate) fn u32_of(b: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(..4)?.try_into().ok()?))
}

/// A C string attribute: up to the first NUL (or the whole payload if there is none).
pub(crate) fn str_of(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes<T: ToBytes>(t: &T) -> Vec<u8> {
        let mut c = Cursor::new(Vec::new());
        t.to_bytes(&mut c).unwrap();
        c.into_inner()
    }

    #[test]
    fn nested_generic_attribute_sets_nested_flag_and_pads_children() {
        let a = nla_nest(3, &[nla(2, "ab").unwrap(), nla(1, 7u32).unwrap()]).unwrap();
        let b = bytes(&a);
        // outer header: len = 4 + (4+3 padded to 8) + (4+4) = 20, type 3 | NLA_F_NESTED
        assert_eq!(u16_of(&b[0..]).unwrap(), 20);
        assert_eq!(u16_of(&b[2..]).unwrap(), 3 | 1 << 15);
        // first child: len 7 ("ab\0"), type 2, then one byte of padding
        assert_eq!(u16_of(&b[4..]).unwrap(), 7);
        assert_eq!(&b[8..11], b"ab\0");
        assert_eq!(u16_of(&b[12..]).unwrap(), 8);
        assert_eq!(u32_of(&b[16..]).unwrap(), 7);
        let parsed = parse_nla(&b[4..]).unwrap();
        assert_eq!(str_of(find_nla(&parsed, 2).unwrap()), "ab");
        assert_eq!(u32_of(find_nla(&parsed, 1).unwrap()), Some(7));
    }

    #[test]
    fn nested_rtnetlink_attribute_has_no_nested_flag() {
        let a = rta_nest(22u16, &[rta(1u16, 5u32).unwrap()]).unwrap();
        let b = bytes(&a);
        assert_eq!(u16_of(&b[0..]).unwrap(), 12);
        assert_eq!(u16_of(&b[2..]).unwrap(), 22);
        let inner = parse_rta(&b[4..]).unwrap();
        assert_eq!(u32_of(find_rta(&inner, 1u16).unwrap()), Some(5));
    }

    #[test]
    fn strings_stop_at_nul_and_tolerate_missing_nul() {
        assert_eq!(str_of(b"veth\0\0"), "veth");
        assert_eq!(str_of(b"veth"), "veth");
        assert_eq!(str_of(b""), "");
    }

    #[test]
    fn short_payloads_read_as_none() {
        assert_eq!(u32_of(&[1, 2]), None);
        assert_eq!(u16_of(&[1]), None);
    }
}
