//! devlink message building and parsing against bytes as the kernel lays them out.

use super::*;
use crate::netlink::attrs::parse_nla;
use neli::ToBytes;
use std::io::Cursor;

#[test]
fn handle_parses_and_prints_like_devlink_tool() {
    let h = DevlinkHandle::parse("pci/0000:3b:00.0").unwrap();
    assert_eq!(h, DevlinkHandle::new("pci", "0000:3b:00.0"));
    assert_eq!(h.to_string(), "pci/0000:3b:00.0");
    for bad in ["pci", "/x", "pci/", "a/b/c"] {
        let e = DevlinkHandle::parse(bad).unwrap_err().to_string();
        assert!(e.contains("BUS/DEVICE"), "{bad}: {e}");
    }
}

#[test]
fn eswitch_modes_round_trip_and_unknown_is_none() {
    for m in [
        EswitchMode::Legacy,
        EswitchMode::Switchdev,
        EswitchMode::SwitchdevInactive,
    ] {
        assert_eq!(EswitchMode::from_raw(m.raw()), Some(m));
    }
    assert_eq!(EswitchMode::from_raw(7), None);
    assert_eq!(EswitchMode::Switchdev.to_string(), "switchdev");
}

#[test]
fn port_reply_is_parsed_and_filtered_by_handle() {
    let attrs = vec![
        nla(consts::ATTR_BUS_NAME, "netdevsim").unwrap(),
        nla(consts::ATTR_DEV_NAME, "netdevsim1").unwrap(),
        nla(consts::ATTR_PORT_INDEX, 5u32).unwrap(),
        nla(consts::ATTR_PORT_FLAVOUR, flavour::PCI_VF).unwrap(),
        nla(consts::ATTR_PORT_PCI_PF_NUMBER, 0u16).unwrap(),
        nla(consts::ATTR_PORT_PCI_VF_NUMBER, 3u16).unwrap(),
        nla(consts::ATTR_PORT_NETDEV_IFINDEX, 42u32).unwrap(),
        nla(consts::ATTR_PORT_NETDEV_NAME, "eni1npf0vf3").unwrap(),
    ];
    let mut c = Cursor::new(Vec::new());
    for a in &attrs {
        a.to_bytes(&mut c).unwrap();
    }
    let parsed = parse_nla(&c.into_inner()).unwrap();
    assert!(DevlinkHandle::new("netdevsim", "netdevsim1").matches(&parsed));
    assert!(!DevlinkHandle::new("netdevsim", "netdevsim2").matches(&parsed));
    assert_eq!(
        port_from(&parsed).unwrap(),
        DevlinkPort {
            index: 5,
            flavour: flavour::PCI_VF,
            pf_number: Some(0),
            vf_number: Some(3),
            netdev_ifindex: Some(42),
            netdev_name: Some("eni1npf0vf3".into()),
        }
    );
}

/// An attribute as the kernel lays it out: length, type, payload, padding to 4 bytes; nests
/// without NLA_F_NESTED (devlink fills them with nla_nest_start_noflag).
fn raw(ty: u16, payload: &[u8]) -> Vec<u8> {
    let len = 4 + payload.len();
    let mut v = (len as u16).to_ne_bytes().to_vec();
    v.extend(ty.to_ne_bytes());
    v.extend(payload);
    v.resize((len + 3) & !3, 0);
    v
}

fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

/// A PARAM_GET reply of `dev` for one parameter: (cmode, DATA payload or None).
fn param_reply(
    dev: &str,
    name: &str,
    generic: bool,
    ty: u8,
    values: &[(u8, Option<Vec<u8>>)],
) -> Vec<u8> {
    let list: Vec<Vec<u8>> = values
        .iter()
        .map(|(cmode, data)| {
            let mut v = raw(consts::ATTR_PARAM_VALUE_CMODE, &[*cmode]);
            if let Some(d) = data {
                v.extend(raw(consts::ATTR_PARAM_VALUE_DATA, d));
            }
            raw(consts::ATTR_PARAM_VALUE, &v)
        })
        .collect();
    let mut param = raw(consts::ATTR_PARAM_NAME, format!("{name}\0").as_bytes());
    if generic {
        param.extend(raw(consts::ATTR_PARAM_GENERIC, &[]));
    }
    param.extend(raw(consts::ATTR_PARAM_TYPE, &[ty]));
    param.extend(raw(consts::ATTR_PARAM_VALUES_LIST, &cat(&list)));
    cat(&[
        raw(consts::ATTR_BUS_NAME, b"netdevsim\0"),
        raw(consts::ATTR_DEV_NAME, format!("{dev}\0").as_bytes()),
        raw(consts::ATTR_PARAM, &param),
    ])
}

#[test]
fn netdevsim_params_are_parsed_as_the_kernel_sends_them() {
    // max_macs: generic u32, driverinit only; test1: the driver's bool, driverinit only
    let b = param_reply(
        "netdevsim1",
        "max_macs",
        true,
        consts::PARAM_TYPE_U32,
        &[(
            consts::PARAM_CMODE_DRIVERINIT,
            Some(32u32.to_ne_bytes().to_vec()),
        )],
    );
    let a = parse_nla(&b).unwrap();
    assert!(DevlinkHandle::new("netdevsim", "netdevsim1").matches(&a));
    let p = param_from(&a).unwrap();
    assert_eq!(
        p,
        Param {
            name: "max_macs".into(),
            generic: true,
            ty: ParamType::U32,
            values: vec![(Cmode::Driverinit, ParamValue::U32(32))],
        }
    );
    assert_eq!(p.cmodes(), [Cmode::Driverinit]);
    // a true bool is DATA present (a flag, no payload), a false one DATA absent
    for (data, want) in [(Some(vec![]), true), (None, false)] {
        let b = param_reply(
            "netdevsim1",
            "test1",
            false,
            consts::PARAM_TYPE_BOOL,
            &[(consts::PARAM_CMODE_DRIVERINIT, data)],
        );
        let p = param_from(&parse_nla(&b).unwrap()).unwrap();
        assert!(!p.generic);
        assert_eq!(p.ty, ParamType::Bool);
        assert_eq!(p.value(Cmode::Driverinit), Some(&ParamValue::Bool(want)));
        assert_eq!(p.value(Cmode::Runtime), None);
    }
}

#[test]
fn string_u8_u16_and_u64_params_and_unknown_cmodes_and_types() {
    // mlx5's flow_steering_mode: a runtime string (nla_put_string: with the NUL)
    let b = param_reply(
        "netdevsim1",
        "flow_steering_mode",
        false,
        consts::PARAM_TYPE_STRING,
        &[
            (consts::PARAM_CMODE_RUNTIME, Some(b"dmfs\0".to_vec())),
            // a cmode of a newer kernel: left out
            (7, Some(b"smfs\0".to_vec())),
        ],
    );
    let p = param_from(&parse_nla(&b).unwrap()).unwrap();
    assert_eq!(
        p.values,
        [(Cmode::Runtime, ParamValue::String("dmfs".into()))]
    );
    for (ty, data, want) in [
        (consts::PARAM_TYPE_U8, vec![7u8], ParamValue::U8(7)),
        (
            consts::PARAM_TYPE_U16,
            300u16.to_ne_bytes().to_vec(),
            ParamValue::U16(300),
        ),
        (
            consts::PARAM_TYPE_U64,
            (1u64 << 40).to_ne_bytes().to_vec(),
            ParamValue::U64(1 << 40),
        ),
    ] {
        let b = param_reply(
            "netdevsim1",
            "x",
            false,
            ty,
            &[(consts::PARAM_CMODE_PERMANENT, Some(data))],
        );
        let p = param_from(&parse_nla(&b).unwrap()).unwrap();
        assert_eq!(p.values, [(Cmode::Permanent, want)]);
    }
    // a type of a newer kernel: known by number, no value read
    let b = param_reply(
        "netdevsim1",
        "x",
        false,
        42,
        &[(consts::PARAM_CMODE_RUNTIME, Some(vec![1, 2, 3, 4]))],
    );
    let p = param_from(&parse_nla(&b).unwrap()).unwrap();
    assert_eq!((p.ty, p.values.len()), (ParamType::Other(42), 0));
    assert_eq!(p.ty.to_string(), "type 42");
    // no PARAM nest at all is an error, not an empty parameter
    let b = raw(consts::ATTR_BUS_NAME, b"netdevsim\0");
    assert!(param_from(&parse_nla(&b).unwrap()).is_err());
}

#[test]
fn a_u64_value_after_a_pad_attribute_is_found() {
    // nla_put_u64_64bit puts DEVLINK_ATTR_PAD first when the payload would be misaligned
    let value = cat(&[
        raw(
            consts::ATTR_PARAM_VALUE_CMODE,
            &[consts::PARAM_CMODE_RUNTIME],
        ),
        raw(61, &[]),
        raw(consts::ATTR_PARAM_VALUE_DATA, &9u64.to_ne_bytes()),
    ]);
    let param = cat(&[
        raw(consts::ATTR_PARAM_NAME, b"big\0"),
        raw(consts::ATTR_PARAM_TYPE, &[consts::PARAM_TYPE_U64]),
        raw(
            consts::ATTR_PARAM_VALUES_LIST,
            &raw(consts::ATTR_PARAM_VALUE, &value),
        ),
    ]);
    let p = param_from(&parse_nla(&raw(consts::ATTR_PARAM, &param)).unwrap()).unwrap();
    assert_eq!(p.value(Cmode::Runtime), Some(&ParamValue::U64(9)));
}

fn bytes(attrs: &[neli::genl::Nlattr<u16, Buffer>]) -> Vec<u8> {
    let mut c = Cursor::new(Vec::new());
    for a in attrs {
        a.to_bytes(&mut c).unwrap();
    }
    c.into_inner()
}

#[test]
fn param_set_carries_name_type_cmode_and_data_of_the_type() {
    let set = |v: ParamValue| {
        parse_nla(&bytes(
            &param_set_attrs("test1", Cmode::Driverinit, &v).unwrap(),
        ))
        .unwrap()
    };
    let a = set(ParamValue::Bool(true));
    assert_eq!(
        str_of(find_nla(&a, consts::ATTR_PARAM_NAME).unwrap()),
        "test1"
    );
    assert_eq!(find_nla(&a, consts::ATTR_PARAM_TYPE), Some(&[6u8][..]));
    assert_eq!(
        find_nla(&a, consts::ATTR_PARAM_VALUE_CMODE),
        Some(&[1u8][..])
    );
    // true: the flag, present and empty
    assert_eq!(find_nla(&a, consts::ATTR_PARAM_VALUE_DATA), Some(&[][..]));
    // false: absent
    let a = set(ParamValue::Bool(false));
    assert_eq!(find_nla(&a, consts::ATTR_PARAM_VALUE_DATA), None);
    let a = set(ParamValue::U32(16));
    assert_eq!(find_nla(&a, consts::ATTR_PARAM_TYPE), Some(&[3u8][..]));
    assert_eq!(
        find_nla(&a, consts::ATTR_PARAM_VALUE_DATA),
        Some(&16u32.to_ne_bytes()[..])
    );
    // the kernel wants exactly the type's size: 1 byte for a u8
    let a = set(ParamValue::U8(5));
    assert_eq!(
        find_nla(&a, consts::ATTR_PARAM_VALUE_DATA),
        Some(&[5u8][..])
    );
    // and a NUL-terminated string
    let a = set(ParamValue::String("smfs".into()));
    assert_eq!(
        find_nla(&a, consts::ATTR_PARAM_VALUE_DATA),
        Some(&b"smfs\0"[..])
    );
    assert_eq!(find_nla(&a, consts::ATTR_PARAM_TYPE), Some(&[5u8][..]));
}

#[test]
fn eswitch_reply_with_and_without_inline_and_encap_mode() {
    let b = cat(&[
        raw(consts::ATTR_BUS_NAME, b"pci\0"),
        raw(consts::ATTR_DEV_NAME, b"0000:3b:00.0\0"),
        raw(consts::ATTR_ESWITCH_MODE, &1u16.to_ne_bytes()),
        raw(consts::ATTR_ESWITCH_INLINE_MODE, &[3]),
        raw(consts::ATTR_ESWITCH_ENCAP_MODE, &[1]),
    ]);
    assert_eq!(
        eswitch_from(&parse_nla(&b).unwrap()).unwrap(),
        Eswitch {
            mode: EswitchMode::Switchdev,
            inline: Some(InlineMode::Transport),
            encap: Some(EncapMode::Basic),
        }
    );
    // netdevsim reports the mode only
    let b = raw(consts::ATTR_ESWITCH_MODE, &0u16.to_ne_bytes());
    assert_eq!(
        eswitch_from(&parse_nla(&b).unwrap()).unwrap(),
        Eswitch {
            mode: EswitchMode::Legacy,
            inline: None,
            encap: None,
        }
    );
    for m in [
        InlineMode::None,
        InlineMode::Link,
        InlineMode::Network,
        InlineMode::Transport,
    ] {
        assert_eq!(InlineMode::from_raw(m.raw()), Some(m));
    }
    assert_eq!(InlineMode::from_raw(4), None);
    assert_eq!(
        EncapMode::from_raw(EncapMode::Basic.raw()),
        Some(EncapMode::Basic)
    );
    assert_eq!(EncapMode::from_raw(2), None);
}
