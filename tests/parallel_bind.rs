//! Parallel VF binding (`[defaults] probe_jobs`) against fixture trees: every VF gets its
//! `driver_override` + `drivers_probe` + clear whatever happens to the others, and the VFs that
//! fail are named in VF order with their errors. What runs at once on a real kernel is proven
//! on the VM test bed (tests/vm/scenarios/parallel-probe.sh).

mod common;

use std::fs;

use assert_cmd::Command;
use common::{Fixture, Pf};

fn cmd(bin: &str, f: &Fixture) -> Command {
    let mut c = Command::cargo_bin(bin).unwrap();
    c.env("SRIOV_OFFLOAD_ROOT", f.root())
        .env_remove("IFACE")
        .env_remove("INVOCATION_ID");
    c
}

/// A PF after vf-pre: 16 VFs, unbound, autoprobe off.
fn host(jobs: &str) -> Fixture {
    let f = Fixture::new();
    f.add_pf(&Pf {
        numvfs: 16,
        autoprobe: false,
        ..Pf::new("ens1f0", "0000:3b:00.0")
    });
    f.config(&format!(
        "[defaults]\nprobe_jobs = {jobs}\n[[pf]]\nmatch = {{ name = \"ens1f0\" }}\nvfs = 16\nbind = \"mlx5_core\"\n"
    ));
    f
}

/// The PCI address of VF `i` of the fixture's first PF (functions from .2 up).
fn vf_pci(i: u32) -> String {
    let n = 2 + i;
    format!("0000:3b:{:02x}.{}", n / 8, n % 8)
}

fn override_of(f: &Fixture, i: u32) -> String {
    f.read(&format!(
        "sys/bus/pci/devices/{}/driver_override",
        vf_pci(i)
    ))
}

#[test]
fn every_vf_is_overridden_probed_and_cleared_with_the_pool() {
    for jobs in ["1", "4", "16", "\"auto\""] {
        let f = host(jobs);
        cmd("vf-post", &f).assert().success();
        for i in 0..16 {
            // the override is cleared after the probe (a fixture has no kernel to bind)
            assert_eq!(override_of(&f, i), "\n", "probe_jobs = {jobs}: VF {i}");
        }
        assert_eq!(
            f.read("sys/bus/pci/devices/0000:3b:00.0/sriov_drivers_autoprobe"),
            "1",
            "probe_jobs = {jobs}"
        );
    }
}

#[test]
fn failing_vfs_are_named_in_vf_order_and_the_others_still_bind() {
    let f = host("4");
    // VFs 5 and 11 cannot be overridden: their attribute reads, but refuses writes even to
    // root (a read-only sysctl answers EACCES at open)
    for i in [11, 5] {
        let p = f.path(&format!(
            "sys/bus/pci/devices/{}/driver_override",
            vf_pci(i)
        ));
        fs::remove_file(&p).unwrap();
        std::os::unix::fs::symlink("/proc/sys/kernel/osrelease", &p).unwrap();
    }
    let out = cmd("vf-post", &f).assert().code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    let head = "ens1f0 (probe_jobs = 4): 2 of 16 VFs did not bind to mlx5_core (the other 14 did; 4 at a time): ";
    assert!(stderr.contains(head), "{stderr}");
    let five = stderr.find(&format!("VF 5: binding {} to mlx5_core", vf_pci(5)));
    let eleven = stderr.find(&format!("VF 11: binding {} to mlx5_core", vf_pci(11)));
    assert!(
        five.is_some() && eleven.is_some() && five < eleven,
        "both named, in VF order: {stderr}"
    );
    assert!(stderr.contains("Permission denied"), "{stderr}");
    for i in (0..16).filter(|i| ![5, 11].contains(i)) {
        assert_eq!(override_of(&f, i), "\n", "VF {i} was bound all the same");
    }
    let failed = f.read("run/sriov-offload/failed");
    assert!(
        failed.contains("VF 5: binding") && failed.contains("VF 11: binding"),
        "{failed}"
    );
    assert!(!f.path("run/sriov-offload/ready").exists());
}
