//! Fuzzes the config parser: `config::parse_str` on arbitrary bytes (as UTF-8 when valid,
//! lossily converted otherwise) never panics, accepts only configs that satisfy the validated
//! rules, and rejects everything else with a one-line `PATH:LINE:COL: message` error whose
//! place lies inside the input.
#![no_main]

use std::collections::BTreeSet;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sriov_offload::config::{parse_str, Bind, Config, ConfigError, PfMatch, MAX_VFS};
use sriov_offload::types::IfName;

const PATH: &str = "fuzz.toml";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match parse_str(Path::new(PATH), &text) {
        Ok(c) => check_config(&c),
        Err(e) => check_error(&text, &e),
    }
});

/// What the kernel accepts as an interface name, and what is safe to join onto a sysfs path.
fn check_ifname(what: &str, n: &IfName) {
    let s = n.as_str();
    assert!(
        !s.is_empty() && s.len() <= 15,
        "{what}: {s:?} has {} bytes",
        s.len()
    );
    assert!(s != "." && s != "..", "{what}: {s:?}");
    assert!(
        !s.chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control()),
        "{what}: {s:?} has a forbidden character"
    );
    assert_eq!(
        s.parse::<IfName>().as_ref(),
        Ok(n),
        "{what}: does not round-trip"
    );
}

fn check_config(c: &Config) {
    assert!(!c.timeout.is_zero(), "timeout 0 accepted");
    let mut matchers = BTreeSet::new();
    for pf in &c.pfs {
        let m = &pf.matcher;
        assert!(matchers.insert(m.clone()), "pf {m} twice");
        match m {
            PfMatch::Name(n) => check_ifname("pf.match.name", n),
            PfMatch::Pci(p) => assert_eq!(p.as_str().len(), 12, "pci {p}"),
            PfMatch::Mac(mac) => assert_eq!(mac.0[0] & 1, 0, "multicast MAC {mac}"),
        }
        assert!(pf.vfs <= MAX_VFS, "pf {m}: vfs = {}", pf.vfs);
        for r in &pf.reserved_vfs {
            assert!(*r < pf.vfs, "pf {m}: reserved VF {r} >= vfs = {}", pf.vfs);
        }
        for (i, vf) in &pf.vf {
            assert!(*i < pf.vfs, "pf {m}: [pf.vf.{i}] >= vfs = {}", pf.vfs);
            assert!(
                vf.vlan.is_none_or(|v| v <= 4095),
                "pf {m} VF {i}: vlan {:?}",
                vf.vlan
            );
            assert!(
                vf.qos.is_none_or(|q| q <= 7),
                "pf {m} VF {i}: qos {:?}",
                vf.qos
            );
            if let Some(mac) = vf.mac {
                assert_eq!(mac.0[0] & 1, 0, "pf {m} VF {i}: multicast MAC {mac}");
            }
        }
        if let Some(Bind::Driver(d)) = &pf.bind {
            assert!(
                !d.is_empty()
                    && d.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
                "pf {m}: bind {d:?}"
            );
        }
    }
    let mut names = BTreeSet::new();
    let mut slave_of = std::collections::BTreeMap::new();
    for b in &c.bonds {
        check_ifname("bond.name", &b.name);
        assert!(names.insert(b.name.clone()), "bond {} twice", b.name);
        assert!(!b.slaves.is_empty(), "bond {} without slaves", b.name);
        let mut here = BTreeSet::new();
        for s in &b.slaves {
            check_ifname("bond.slaves", s);
            assert!(here.insert(s.clone()), "bond {}: slave {s} twice", b.name);
            if let Some(other) = slave_of.insert(s.clone(), b.name.clone()) {
                panic!("{s} is a slave of two bonds: {other} and {}", b.name);
            }
        }
        if let Some(ib) = &b.ib {
            assert!(
                !ib.device.is_empty() && !ib.device.contains('/') && ib.device != "..",
                "ib.device {:?}",
                ib.device
            );
        }
        assert_eq!(
            c.bond_of(b.slaves[0].as_str()).map(|o| &o.name),
            Some(&b.name)
        );
    }
    if let Some(m) = &c.boot.legacy_marker {
        assert!(m.is_absolute(), "legacy_marker {m:?} is relative");
        assert!(
            !m.components().any(|c| c.as_os_str() == ".."),
            "legacy_marker {m:?} has .."
        );
    }
    for u in &c.boot.before {
        assert!(!u.contains(['/', ' ', '\n']), "boot.before {u:?}");
    }
}

fn check_error(text: &str, e: &ConfigError) {
    let shown = e.to_string();
    assert!(!shown.contains('\n'), "error is not one line: {shown:?}");
    assert!(
        !e.message.trim().is_empty(),
        "error without a message: {shown:?}"
    );
    let rest = shown
        .strip_prefix(PATH)
        .and_then(|r| r.strip_prefix(':'))
        .unwrap_or_else(|| panic!("error does not start with `{PATH}:`: {shown:?}"));
    let mut parts = rest.splitn(3, ':');
    let line: usize = parts
        .next()
        .and_then(|l| l.parse().ok())
        .unwrap_or_else(|| panic!("no line in {shown:?}"));
    let col: usize = parts
        .next()
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no column in {shown:?}"));
    assert!(
        parts.next().is_some_and(|m| m.starts_with(' ')),
        "no `: message` after line:col in {shown:?}"
    );
    assert_eq!((line, col), (e.line, e.col), "{shown:?}");
    let lines: Vec<&str> = text.split('\n').collect();
    assert!(
        line >= 1 && line <= text.lines().count() + 1,
        "line {line} is outside the input ({} lines): {shown:?}",
        text.lines().count()
    );
    // columns count bytes from 1; one past the end of the line is the end of input / newline
    let len = lines.get(line - 1).map_or(0, |l| l.len());
    assert!(
        col >= 1 && col <= len + 1,
        "column {col} is outside line {line} ({len} bytes): {shown:?}"
    );
}
