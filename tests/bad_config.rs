//! The bad-input corpus (tests/bad-config): every malformed or hostile config and environment
//! value makes every binary exit 2 with a message naming the file (with line:col where the
//! error has a place) and the rule broken, and write nothing to the host tree.
//!
//! A corpus entry is either `NN-name.toml` (the main config; its first line is
//! `# expect: TEXT`) or a directory `NN-name/` with `config.toml`, optional `conf.d/`, and a
//! file `expect` holding the expected text.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use common::{Fixture, Pf};

const BINS: [&str; 3] = ["vf-pre", "vf-post", "irq-tune"];

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad-config");
    let mut v: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn host() -> Fixture {
    let f = Fixture::new();
    f.add_pf(&Pf {
        numvfs: 4,
        vf_driver: Some("mlx5_core"),
        vf_up: true,
        ..Pf::new("ens1f0", "0000:3b:00.0")
    });
    f.add_pf(&Pf::new("ens1f1", "0000:3b:00.1"));
    f
}

/// Copies a file as an admin would install it: root's, 0644. fs::copy keeps the checkout's
/// mode, and a checkout made under umask 002 gives 0664, which the config loader refuses
/// (group-writable) before it gets to the error the entry is about.
fn copy_file(from: &Path, to: &Path) {
    fs::copy(from, to).unwrap();
    fs::set_permissions(to, fs::Permissions::from_mode(0o644)).unwrap();
}

/// Copies a directory entry (symlinks kept as symlinks) into the fixture's /etc/sriov-offload.
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let ft = e.file_type().unwrap();
        let dst = to.join(e.file_name());
        if e.file_name() == "expect" {
            continue;
        }
        if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(e.path()).unwrap(), &dst).unwrap();
        } else if ft.is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            copy_file(&e.path(), &dst);
        }
    }
}

/// Installs the entry and returns the expected text.
fn install(f: &Fixture, entry: &Path) -> String {
    let etc = f.path("etc/sriov-offload");
    if entry.is_dir() {
        copy_tree(entry, &etc);
        fs::read_to_string(entry.join("expect"))
            .unwrap()
            .trim()
            .to_string()
    } else {
        copy_file(entry, &etc.join("config.toml"));
        let text = fs::read_to_string(entry).unwrap();
        let first = text.lines().next().unwrap_or_default();
        first
            .strip_prefix("# expect:")
            .unwrap_or_else(|| panic!("{}: first line must be `# expect: TEXT`", entry.display()))
            .trim()
            .to_string()
    }
}

/// `config.toml:L:C: ` or `conf.d/NAME.toml:L:C: ` (or `FILE: ` for whole-file errors).
fn names_a_place(stderr: &str) -> bool {
    stderr.split(".toml:").skip(1).any(|rest| {
        let mut parts = rest.splitn(3, ':');
        let line = parts.next().unwrap_or_default();
        let col = parts.next().unwrap_or_default();
        (line.parse::<u32>().is_ok() && col.parse::<u32>().is_ok()) || rest.starts_with(' ')
    })
}

#[test]
fn every_bad_config_exits_2_names_the_place_and_writes_nothing() {
    let entries = corpus();
    assert!(
        entries.len() >= 40,
        "corpus has only {} entries",
        entries.len()
    );
    let mut failures = vec![];
    let mut tried = 0;
    for entry in &entries {
        let f = host();
        let expect = install(&f, entry);
        let before = f.snapshot();
        for bin in BINS {
            tried += 1;
            let out = Command::cargo_bin(bin)
                .unwrap()
                .env("SRIOV_OFFLOAD_ROOT", f.root())
                .env_remove("IFACE")
                .env_remove("INVOCATION_ID")
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            let name = entry.file_name().unwrap().to_string_lossy();
            if out.status.code() != Some(2) {
                failures.push(format!(
                    "{name} [{bin}]: exit {:?}, stderr: {stderr}",
                    out.status.code()
                ));
            } else if !stderr.contains(&expect) {
                failures.push(format!("{name} [{bin}]: expected {expect:?} in: {stderr}"));
            } else if !names_a_place(&stderr) {
                failures.push(format!("{name} [{bin}]: no file:line:col in: {stderr}"));
            }
            if before != f.snapshot() {
                failures.push(format!("{name} [{bin}]: wrote to the host tree"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {tried} runs wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "{} configs × {} binaries: all exit 2 with a place, 0 writes",
        entries.len(),
        BINS.len()
    );
}

#[test]
fn hostile_interface_names_from_ifupdown_or_arguments_exit_2_and_write_nothing() {
    let f = host();
    f.config("[[pf]]\nmatch = { name = \"ens1f0\" }\nvfs = 8\n");
    let before = f.snapshot();
    let long = "a".repeat(16);
    let cases: Vec<(Option<&str>, Vec<&str>, &str)> = vec![
        (Some("../../etc"), vec![], "contains '/'"),
        (Some("ens1f0 x"), vec![], "contains ' '"),
        (None, vec!["a/b"], "contains '/'"),
        (None, vec![".."], "is not allowed"),
        (None, vec![&long], "at most 15"),
    ];
    for (iface, args, expect) in cases {
        for bin in BINS {
            let mut c = Command::cargo_bin(bin).unwrap();
            c.env("SRIOV_OFFLOAD_ROOT", f.root())
                .env_remove("IFACE")
                .env_remove("INVOCATION_ID");
            if let Some(i) = iface {
                c.env("IFACE", i);
            }
            let out = c.args(&args).output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{bin} {iface:?} {args:?}: {stderr}"
            );
            assert!(
                stderr.contains(expect),
                "{bin} {iface:?} {args:?}: {stderr}"
            );
        }
    }
    assert_eq!(before, f.snapshot());
}

#[test]
fn missing_config_given_with_dash_dash_config_exits_2() {
    let f = host();
    for bin in BINS {
        let out = Command::cargo_bin(bin)
            .unwrap()
            .env("SRIOV_OFFLOAD_ROOT", f.root())
            .args(["--config", "/nonexistent/sriov.toml"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bin}: {stderr}");
        assert!(
            stderr.contains("/nonexistent/sriov.toml: cannot read"),
            "{bin}: {stderr}"
        );
    }
}

#[test]
fn empty_config_is_valid_and_means_nothing_to_do() {
    let f = host();
    f.config("# nothing configured yet\n");
    let before = f.snapshot();
    for bin in BINS {
        Command::cargo_bin(bin)
            .unwrap()
            .env("SRIOV_OFFLOAD_ROOT", f.root())
            .env_remove("IFACE")
            .env_remove("INVOCATION_ID")
            .assert()
            .success();
    }
    assert_eq!(before, f.snapshot());
}
